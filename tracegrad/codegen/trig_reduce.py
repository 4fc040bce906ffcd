"""Payne-Hanek argument reduction for sin/cos of large arguments, branch-free in LLVM IR.

Cody-Waite (x - n*pi/2 with pi/2 in three parts) is exact only while n*part is, |x| < ~1e6.
Beyond that, x = M * 2^E (M the 53-bit integer significand) is multiplied by the bits of 2/pi
held as 24-bit integer chunks C_k (2/pi = sum C_k 2^(-24(k+1))): only the chunks from
k0 = floor((E - 2) / 24) on matter (earlier ones contribute multiples of 4, a whole number of
turns). M is split into halves of 26 and 27 bits so that every product M_half * C_k is exact
in a double; each product, scaled by its power of two, is reduced modulo 4 exactly and the
terms are added in double-double (TwoSum). The integer part nearest the sum is the quadrant,
the rest (hi + lo) times pi/2 is r. Relative error of r is about 2^-52 except for arguments
within ~2^-40 (relative) of a multiple of pi/2, where the finite number of chunks shows.

The chunk table is computed here from an integer Machin formula (no external constants) and
emitted as a private global; its loads are per-lane gathers, so the loop still vectorises.
"""
import functools

from llvmlite import ir

F64, I64, I32 = ir.DoubleType(), ir.IntType(64), ir.IntType(32)
TERMS = 8                     # chunks used after k0: 8 * 24 = 192 bits of 2/pi
TERMS_F32 = 4
TABLE = "tg_two_over_pi"
LIMIT = 2.0 ** 19             # below this |x| Cody-Waite is exact (n < 2^20)


@functools.lru_cache(maxsize=None)
def chunks(count=48 + TERMS):
    """The first `count` 24-bit chunks of 2/pi, from pi computed with Python integers."""
    bits = 24 * count + 64
    scale = 1 << (bits + 32)

    def arctan_inv(m):            # atan(1/m) * scale
        total, term, k, m2 = 0, scale // m, 1, m * m
        while term:
            total += term // k if (k // 2) % 2 == 0 else -(term // k)
            term //= m2
            k += 2
        return total
    pi = 16 * arctan_inv(5) - 4 * arctan_inv(239)          # pi * scale
    two_over_pi = (2 * scale * (1 << bits)) // pi          # (2/pi) * 2^bits
    return [(two_over_pi >> (bits - 24 * (k + 1))) & 0xFFFFFF for k in range(count)]


def _table(module):
    if TABLE in module.globals:
        return module.globals[TABLE]
    values = chunks()
    ty = ir.ArrayType(F64, len(values))
    g = ir.GlobalVariable(module, ty, TABLE)
    g.linkage, g.global_constant = "private", True
    g.initializer = ir.Constant(ty, [float(v) for v in values])
    return g


def _pow2(b, e):
    """2.0**e for an i64 e clamped into the normal range."""
    e = b.select(b.icmp_signed("<", e, ir.Constant(I64, -1022)), ir.Constant(I64, -1022), e)
    e = b.select(b.icmp_signed(">", e, ir.Constant(I64, 1023)), ir.Constant(I64, 1023), e)
    return b.bitcast(b.shl(b.add(e, ir.Constant(I64, 1023)), ir.Constant(I64, 52)), F64)


def _two_sum(b, a, c):
    s = b.fadd(a, c)
    bb = b.fsub(s, a)
    err = b.fadd(b.fsub(a, b.fsub(s, bb)), b.fsub(c, bb))
    return s, err


def reduce_large(math, x, single=False):
    """(r, q): x = q * pi/2 + r with q an i64 quadrant (mod 4 matters), for finite
    f64 x with |x| >= LIMIT (other lanes get meaningless values: callers select). `single`:
    x came from an f32 (24-bit significand): one exact product per chunk and TERMS_F32 chunks
    (about 70 bits past the quadrant, enough for any f32) instead of two and TERMS."""
    b = math.b
    c = lambda v: ir.Constant(F64, v)  # noqa: E731
    bits = b.bitcast(math.call("llvm.fabs", x), I64)
    biased = b.lshr(bits, ir.Constant(I64, 52))
    mant = b.or_(b.and_(bits, ir.Constant(I64, (1 << 52) - 1)), ir.Constant(I64, 1 << 52))
    e = b.sub(biased, ir.Constant(I64, 1075))                     # x = mant * 2^e
    if single:       # an f32's 24-bit significand: drop the 29 zero bits so no chunk is wasted
        mant = b.lshr(mant, ir.Constant(I64, 29))
        e = b.add(e, ir.Constant(I64, 29))
    k0 = b.sdiv(b.sub(e, ir.Constant(I64, 2)), ir.Constant(I64, 24))
    k0 = b.select(b.icmp_signed("<", k0, ir.Constant(I64, 0)), ir.Constant(I64, 0), k0)
    if single:
        halves = ((b.uitofp(mant, F64), 0),)     # 24 significant bits: M * C exact
    else:
        halves = ((b.uitofp(b.lshr(mant, ir.Constant(I64, 27)), F64), 27),     # <= 26 bits
                  (b.uitofp(b.and_(mant, ir.Constant(I64, (1 << 27) - 1)), F64), 0))
    table = _table(b.module)
    hi = lo = None
    for j in range(TERMS_F32 if single else TERMS):
        k = b.add(k0, ir.Constant(I64, j))
        chunk = b.load(b.gep(table, [ir.Constant(I64, 0), k], inbounds=True), typ=F64)
        shift = b.sub(e, b.mul(b.add(k, ir.Constant(I64, 1)), ir.Constant(I64, 24)))
        for part, extra in halves:
            t = b.fmul(b.fmul(part, chunk), _pow2(b, b.add(shift, ir.Constant(I64, extra))))
            t = b.fsub(t, b.fmul(c(4.0), math.call("llvm.floor", b.fmul(t, c(0.25)))))
            if hi is None:
                hi, lo = t, c(0.0)
            else:
                hi, err = _two_sum(b, hi, t)
                lo = b.fadd(lo, err)
    n = math.call("llvm.rint", hi)
    f = b.fsub(hi, n)                                   # exact
    f2 = b.fadd(f, lo)
    lo2 = b.fsub(lo, b.fsub(f2, f))
    pio2 = 1.5707963267948966
    pio2_lo = 6.123233995736766e-17
    r = b.fadd(b.fmul(f2, c(pio2)), b.fadd(b.fmul(lo2, c(pio2)), b.fmul(f2, c(pio2_lo))))
    q = b.fptosi(n, I64)
    negative = b.fcmp_ordered("<", x, c(0.0))          # reduced |x|: x = -(q + f) pi/2
    return b.select(negative, b.fneg(r), r), b.select(negative, b.neg(q), q)
