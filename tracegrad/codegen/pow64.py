"""f64 pow(x, y) as inline, branch-free LLVM IR (so a loop with a non-constant exponent vectorises).

exp(y log x) in plain f64 loses |y log x| * 2^-53 of relative accuracy (up to ~2^-43 near the
overflow limit), so both halves carry extra precision as double-double (hi + lo) values, with
llvm.fma giving exact products (a*b = p + fma(a, b, -p); one vector instruction with FMA3, a
correct but slow libm fma call on a CPU without it):
- log|x| = k ln2 + log m, m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = f / (2 + f),
  f = m - 1 (exact): s is formed in double-double, the series 2s(1 + z/3 + z^2/5 + ...) with
  z = s^2 keeps its three leading terms in double-double (relative error ~2^-68);
- z = y * log|x| as double-double, then exp(z): n = rint(z / ln2), r = z - n ln2 (|r| <= ln2/2,
  a three-part ln2), e^r = 1 + r + r^2/2 + r^3 P(r) summed so that the 1 + r + r^2/2 part is
  exact, rounded once; 2^n applied in two steps, and a subnormal result rounded once on the
  subnormal grid (no double rounding).
Then every C99 Annex F / numpy special case by select: x or y NaN, y = +-0, x = 1, x = -1 with
y = +-inf, +-0 and +-inf bases, odd integer y keeping the base's sign, a finite negative base
with a non-integer y (NaN), overflow to inf and underflow to 0.
Measured against mpmath (scripts/fuzz_pow64.py) and numpy.power: docs/kernels.md.
"""
import math
from fractions import Fraction

from llvmlite import ir

F64, I64 = ir.DoubleType(), ir.IntType(64)
# ln 2 to 110 digits; split into a 32-bit head (k * head is exact for |k| < 2^21) and two tails
_LN2_DIGITS = Fraction("0.6931471805599453094172321214581765680755001343602552541206800094933936"
                       "2196969471560586332699641868754200148102057068573368552023575813055703")
LN2_HI = 6.93147180369123816490e-01
LN2_MID = float(_LN2_DIGITS - Fraction(LN2_HI))
LN2_LO = float(_LN2_DIGITS - Fraction(LN2_HI) - Fraction(LN2_MID))
EXP_TAIL = [1 / math.factorial(k) for k in range(3, 17)]     # r^3 (1/3! + r/4! + ... r^13/16!)
LOG_TAIL_TERMS = 12                                          # 1/7 + z/9 + ... z^11/29


def _dd(q):
    """A rational as hi + lo double constants."""
    hi = float(q)
    return ir.Constant(F64, hi), ir.Constant(F64, float(q - Fraction(hi)))


class _DD:
    """Double-double helpers on one IRBuilder (f64 scalars or vectors)."""

    def __init__(self, m):
        self.m, self.b = m, m.b

    def c(self, v):
        return ir.Constant(F64, v)

    def fma(self, a, b, c):
        return self.m.call("llvm.fma", a, b, c)

    def two_prod(self, a, b):
        p = self.b.fmul(a, b)
        return p, self.fma(a, b, self.b.fneg(p))

    def two_sum(self, a, b):
        b_ = self.b
        s = b_.fadd(a, b)
        bb = b_.fsub(s, a)
        return s, b_.fadd(b_.fsub(a, b_.fsub(s, bb)), b_.fsub(b, bb))

    def fast_two_sum(self, a, b):
        """|a| >= |b| (or a == 0)."""
        s = self.b.fadd(a, b)
        return s, self.b.fsub(b, self.b.fsub(s, a))

    def mul(self, x, y):
        """(xh + xl)(yh + yl) to ~2^-104."""
        b = self.b
        ph, pl = self.two_prod(x[0], y[0])
        pl = b.fadd(pl, b.fadd(b.fmul(x[0], y[1]), b.fmul(x[1], y[0])))
        return self.fast_two_sum(ph, pl)

    def add(self, x, y):
        b = self.b
        sh, sl = self.two_sum(x[0], y[0])
        return self.fast_two_sum(sh, b.fadd(sl, b.fadd(x[1], y[1])))


def log_dd(m, ax):
    """log(ax) as (hi, lo) for finite ax > 0; 0 / inf give -inf / inf in hi (lo = 0)."""
    b, d = m.b, _DD(m)
    c = d.c
    tiny = b.fcmp_ordered("<", ax, c(2.0 ** -1022))
    xs = b.select(tiny, b.fmul(ax, c(2.0 ** 54)), ax)
    bits = b.bitcast(xs, I64)
    k = b.sub(b.lshr(bits, ir.Constant(I64, 52)), ir.Constant(I64, 1023))
    k = b.sub(k, b.select(tiny, ir.Constant(I64, 54), ir.Constant(I64, 0)))
    mant = b.bitcast(b.or_(b.and_(bits, ir.Constant(I64, (1 << 52) - 1)),
                           ir.Constant(I64, 1023 << 52)), F64)
    big = b.fcmp_ordered(">", mant, c(math.sqrt(2.0)))
    mant = b.select(big, b.fmul(mant, c(0.5)), mant)
    k = b.add(k, b.zext(big, I64))
    f = b.fsub(mant, c(1.0))                                     # exact
    dh, dl = d.fast_two_sum(c(2.0), f)                           # 2 + f, exact as dd
    inv = b.fdiv(c(1.0), dh)                                     # one division: sh need
    sh = b.fmul(f, inv)                                          # not be correctly rounded,
    res = b.fsub(d.fma(b.fneg(sh), dh, f), b.fmul(sh, dl))       # the residual corrects it
    s = d.fast_two_sum(sh, b.fmul(res, inv))                     # f / (2 + f)
    z = d.mul(s, s)
    tail = m.estrin(z[0], [1.0 / (2 * j + 7) for j in range(LOG_TAIL_TERMS)])
    v = d.add(d.mul(z, (tail, c(0.0))), _dd(Fraction(1, 5)))     # 1/5 + z/7 + ...
    v = d.add(d.mul(z, v), _dd(Fraction(1, 3)))                  # 1/3 + z/5 + ...
    two_s = (b.fmul(s[0], c(2.0)), b.fmul(s[1], c(2.0)))
    logm = d.add(two_s, d.mul(two_s, d.mul(z, v)))               # 2s (1 + z v)
    kf = b.sitofp(k, F64)
    kh = b.fmul(kf, c(LN2_HI))                                   # exact
    kl = b.fadd(b.fmul(kf, c(LN2_MID)), b.fmul(kf, c(LN2_LO)))
    th, te = d.two_sum(kh, logm[0])
    hi, lo = d.fast_two_sum(th, b.fadd(te, b.fadd(kl, logm[1])))
    zero = b.fcmp_ordered("==", ax, c(0.0))
    inf = b.fcmp_ordered("==", ax, c(math.inf))
    hi = b.select(zero, c(-math.inf), b.select(inf, c(math.inf), hi))
    lo = b.select(b.or_(zero, inf), c(0.0), lo)
    return hi, lo


def exp_dd(m, zh, zl):
    """exp(zh + zl), rounded once (~0.5 ulp, subnormals too); +inf above ~709.78, 0 below
    ~-745.1, NaN kept."""
    b, d = m.b, _DD(m)
    c = d.c
    zc = m.call("llvm.minnum", m.call("llvm.maxnum", zh, c(-746.0)), c(710.0))
    zl = b.select(b.fcmp_ordered("==", zc, zh), zl, c(0.0))     # outside: the clamp decides
    n = m.call("llvm.rint", b.fmul(zc, c(1 / math.log(2))))
    t = b.fsub(zc, b.fmul(n, c(LN2_HI)))                         # exact (Sterbenz)
    a, ae = d.two_prod(n, c(LN2_MID))
    rh, e = d.two_sum(t, b.fneg(a))
    rl = b.fadd(b.fsub(e, ae), b.fsub(zl, b.fmul(n, c(LN2_LO))))
    s1, e1 = d.fast_two_sum(c(1.0), rh)
    q, qe = d.two_prod(rh, rh)
    s2, e2 = d.fast_two_sum(s1, b.fmul(q, c(0.5)))
    cubic = b.fmul(b.fmul(q, rh), m.estrin(rh, EXP_TAIL))
    low = b.fadd(b.fadd(e1, e2), b.fadd(b.fmul(qe, c(0.5)), b.fmul(rl, b.fadd(s2, cubic))))
    tail = b.fadd(cubic, low)
    p = b.fadd(s2, tail)
    ni = b.fptosi(n, I64)
    n1 = b.ashr(ni, ir.Constant(I64, 1))
    for part in (n1, b.sub(ni, n1)):
        p = b.fmul(p, _pow2(b, part))
    # subnormal results: scaling the rounded p would round twice. Instead scale s2 + tail by
    # 2^(n + 1022) (exact: the result is then below 1) and round once on 1 + that, whose ulp
    # (2^-52) is the subnormal spacing 2^-1074 scaled by 2^1022; then undo the 1 and the scale.
    ks = b.add(ni, ir.Constant(I64, 1022))
    ks = b.select(b.icmp_signed("<", ks, ir.Constant(I64, 0)), ks, ir.Constant(I64, 0))
    sc = _pow2(b, ks)
    h, e = d.fast_two_sum(c(1.0), b.fmul(s2, sc))
    w = b.fsub(b.fadd(h, b.fadd(e, b.fmul(tail, sc))), c(1.0))
    sub = b.fmul(w, c(2.0 ** -1022))
    p = b.select(b.fcmp_ordered("<", p, c(2.0 ** -1022)), sub, p)
    return b.select(m._isnan(zh), zh, p)


def _pow2(b, k):
    """2^k as a double for a normal exponent k (an i64)."""
    bits = b.shl(b.add(k, ir.Constant(I64, 1023)), ir.Constant(I64, 52))
    return b.bitcast(bits, F64)


def emit_pow64(m, x, y):
    """pow(x, y) for f64 x, y with numpy's (C99) results on every special value."""
    b, d = m.b, _DD(m)
    c = d.c
    ax = m.call("llvm.fabs", x)
    lh, ll = log_dd(m, ax)
    zh = b.fmul(y, lh)
    zl = b.fadd(d.fma(y, lh, b.fneg(zh)), b.fmul(y, ll))
    r = exp_dd(m, zh, zl)
    is_int = b.fcmp_ordered("==", m.call("llvm.floor", y), y)   # true for +-inf too
    half = b.fmul(y, c(0.5))
    odd = b.and_(is_int, b.fcmp_ordered("!=", m.call("llvm.floor", half), half))
    sign_neg = b.icmp_signed("<", b.bitcast(x, I64), ir.Constant(I64, 0))
    r = b.select(b.and_(sign_neg, odd), b.fneg(r), r)
    finite_neg = b.and_(b.fcmp_ordered("<", x, c(0.0)), b.fcmp_ordered(">", x, c(-math.inf)))
    y_finite = b.fcmp_ordered("<", m.call("llvm.fabs", y), c(math.inf))
    either_nan = b.or_(m._isnan(x), m._isnan(y))
    bad = b.or_(either_nan, b.and_(finite_neg, b.and_(y_finite, b.not_(is_int))))
    r = b.select(bad, c(math.nan), r)
    y_inf = b.fcmp_ordered("==", m.call("llvm.fabs", y), c(math.inf))
    unit = b.or_(b.fcmp_ordered("==", y, c(0.0)), b.fcmp_ordered("==", x, c(1.0)))
    unit = b.or_(unit, b.and_(b.fcmp_ordered("==", x, c(-1.0)), y_inf))
    return b.select(unit, c(1.0), r)
