"""Inline float math in LLVM IR: exp, log, log1p, expm1, tanh, sin, cos, pow, erf (+ int helpers).

Why inline: a call to libm per element stops the loop vectoriser, so a fused loop with one exp
in it would run scalar. These are branch-free range reductions + polynomials built from plain
fadd/fmul and intrinsics that map to single vector instructions (rint, floor, fabs, maxnum,
sqrt), so LLVM vectorises them like any arithmetic. sin/cos reduce by pi/2 in four parts below
2^19 and by Payne-Hanek above (codegen/trig_reduce.py), so they are accurate over the whole
range. NaN/inf/zero behave like numpy. No fast-math flags anywhere (codegen/fastmath.py keeps
them out of this file).

Precision: f64 results are a few ulp off (Taylor polynomials of sufficient degree on a reduced
interval, Cody-Waite reductions). f32 operands are computed in f64 and rounded once (`single`):
the f64 result is then within ~2^-35 relative of the true value, far below half an f32 ulp
(2^-24), so the f32 result is the correctly rounded one but for rare near-ties, never more
than 1 ulp off. `single` polynomials stop at that truncation error (near-minimax fits: degree
8 for exp where f64 has Taylor's 13), which is what keeps f64-for-f32 affordable. A caller
computing in f64 a value that will be rounded to f32 (a ROUNDED_ONCE rule run on widened
operands: ScalarEmitter.rounds_to) passes single=True on f64 operands too.
"""
import functools
import math

from llvmlite import ir

from . import linked, trig_reduce

F64, F32 = ir.DoubleType(), ir.FloatType()
I32, I64 = ir.IntType(32), ir.IntType(64)
_BITS, _MANTISSA, _BIAS = I64, 52, 1023           # the f64 layout every function computes in
# f64 series sizes (Taylor): exp degree 13 on |r| <= ln2/2 (truncation 2^-56); log 11 terms
# of 2 atanh(s), |s| <= 0.1716 (2^-60). Results rounded to f32 use `_single_series` instead.
_EXP_DEGREE = 13
_LOG_TERMS = 11
_TANH_CLAMP = {False: 19.5, True: 9.5}   # tanh rounds to 1 beyond ~19.06 (f64) / ~9.01 (f32)
_EXP_CLAMP = (-746.0, 710.0)
# single: 2**n in one scaling (n in [-1010, 1023]); beyond, exp is 0 / inf once rounded to f32
_EXP_CLAMP_SINGLE = (-700.0, 709.0)
_LN2 = (6.93147180369123816490e-01, 1.90821492927058770002e-10)
# pi/2 in four parts: three of 33 bits (n * part exact for |n| < 2^20) and the remainder
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21,
         8.47842766036889956997e-32)


def _series_reference(name, v):
    """The functions `_single_series` fits, accurate in f64 (series near their removable
    singularity at 0)."""
    import numpy as np
    v = np.asarray(v, dtype=np.float64)
    small = np.abs(v) < 1e-2
    w = np.where(small, 0.5, v)            # keeps the unused branch finite
    if name == "exp":
        return np.exp(v)
    if name == "expm1":                    # expm1(x) / x
        series = sum(v ** k / math.factorial(k + 1) for k in range(12))
        return np.where(small, series, np.expm1(w) / w)
    if name == "tanh":                     # (expm1(r) - r) / r^2
        series = sum(v ** k / math.factorial(k + 2) for k in range(12))
        return np.where(small, series, (np.expm1(w) - w) / (w * w))
    if name == "log":                      # atanh(s) / s against z = s^2
        series = sum(v ** k / (2 * k + 1) for k in range(8))
        root = np.sqrt(np.abs(w))
        return np.where(small, series, np.arctanh(root) / root)
    raise KeyError(name)


# single-target series: (interval, degree) and the relative truncation error of the fit
_LN2_HALF = math.log(2.0) / 2
_SINGLE_SERIES = {
    "exp": ((-_LN2_HALF, _LN2_HALF), 8),       # e^r                       2^-39.8
    "expm1": ((-_LN2_HALF, _LN2_HALF), 7),     # expm1(x)/x, x*Q near 0    2^-37.5
    "tanh": ((-_LN2_HALF, _LN2_HALF), 6),      # (expm1(r)-r)/r^2          2^-36.5
    "log": ((0.0, (3 - 2 * math.sqrt(2)) ** 2), 4),   # atanh(s)/s in s^2  2^-37.8
}


@functools.lru_cache(maxsize=None)
def _single_series(name):
    """Power-basis coefficients of the Chebyshev interpolant (near-minimax) of
    `_series_reference(name)` on its interval, of the degree `_SINGLE_SERIES` gives: fewer
    terms than Taylor's for the ~2^-35 relative accuracy an f32 result needs (exp: degree 8
    against Taylor's 9 for 2^-36, 13 for f64)."""
    from numpy.polynomial import Chebyshev, Polynomial
    (lo, hi), degree = _SINGLE_SERIES[name]
    fit = Chebyshev.interpolate(lambda v: _series_reference(name, v), degree, domain=[lo, hi])
    power = fit.convert(kind=Polynomial, domain=[lo, hi], window=[lo, hi])
    return [float(c) for c in power.coef]


def _narrow_in_f64(method):
    """Wrap a MathLib method `f(self, x, single)` written for f64: an f32 operand is widened,
    computed with single=True and rounded once; an f64 one computes with `single` as given."""
    def run(self, x, single=False, **kwargs):
        if x.type == F64:
            return method(self, x, single, **kwargs)
        wide = method(self, self.b.fpext(x, F64), True, **kwargs)
        return self.b.fptrunc(wide, x.type)
    run.__name__, run.__doc__ = method.__name__, method.__doc__
    return run


class MathLib:
    """Math on LLVM scalars for one IRBuilder; intrinsics are declared once per module."""

    def __init__(self, builder: ir.IRBuilder):
        self.b = builder

    # ------------------------------------------------------------ helpers
    def intrinsic(self, name, ret, argtypes, suffix=None):
        suffix = suffix if suffix is not None else [ret]
        full = ".".join([name] + [t.intrinsic_name for t in suffix])
        module = self.b.module
        if full in module.globals:
            return module.globals[full]
        return module.declare_intrinsic(full, fnty=ir.FunctionType(ret, argtypes))

    def call(self, name, *args):
        """A same-type intrinsic such as llvm.fabs / llvm.rint / llvm.maxnum."""
        ty = args[0].type
        if name == "llvm.fptosi.sat":
            raise ValueError("use intrinsic() for conversions")
        return self.b.call(self.intrinsic(name, ty, [ty] * len(args)), list(args))

    def c(self, ty, value):
        return ir.Constant(ty, value)

    def poly(self, x, coeffs, fused=False):
        """Horner: coeffs[0] + x*(coeffs[1] + x*(...)). `fused`: each step one llvm.fmuladd
        (an FMA where the target has one, else the same multiply and add), for f64 results
        that will be rounded to f32 anyway; f64 results keep their exact rounding steps."""
        b, acc = self.b, self.c(x.type, coeffs[-1])
        fma = self.intrinsic("llvm.fmuladd", x.type, [x.type] * 3) if fused else None
        for k in reversed(coeffs[:-1]):
            acc = (b.call(fma, [acc, x, self.c(x.type, k)]) if fused
                   else b.fadd(b.fmul(acc, x), self.c(x.type, k)))
        return acc

    def estrin(self, x, coeffs):
        """coeffs[0] + coeffs[1]*x + ... by Estrin's scheme: a dependency chain log2(degree)
        deep instead of Horner's degree (loops around sin/cos are latency bound)."""
        b, terms, power = self.b, [self.c(x.type, v) for v in coeffs], x
        while len(terms) > 1:
            nxt = [b.fadd(terms[i], b.fmul(terms[i + 1], power))
                   for i in range(0, len(terms) - 1, 2)]
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms = nxt
            if len(terms) > 1:
                power = b.fmul(power, power)
        return terms[0]

    def _isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    # ------------------------------------------------------------ exp family
    def _scale(self, n):
        """2**n for an f64 integer n in [-1022, 1023], its bits built directly (through i32:
        AVX2 converts f64 vectors to i32 in one instruction, to i64 per lane)."""
        b = self.b
        biased = b.sext(b.add(b.fptosi(n, I32), self.c(I32, _BIAS)), _BITS)
        return b.bitcast(b.shl(biased, self.c(_BITS, _MANTISSA)), F64)

    def _reduce_ln2(self, x):
        """(n, r): x = n ln2 + r, |r| <= ln2/2, n an integer in f64 (Cody-Waite, two parts)."""
        b = self.b
        n = self.call("llvm.rint", b.fmul(x, self.c(F64, 1 / math.log(2))))
        ln2_hi, ln2_lo = _LN2
        r = b.fsub(b.fsub(x, b.fmul(n, self.c(F64, ln2_hi))), b.fmul(n, self.c(F64, ln2_lo)))
        return n, r

    @_narrow_in_f64
    def exp(self, x, single=False):
        """2**n * P(r), x = n ln2 + r, |r| <= ln2/2; scaled in two steps for f64 subnormals
        (single: one step, as no f32 result needs them)."""
        b = self.b
        lo, hi = _EXP_CLAMP_SINGLE if single else _EXP_CLAMP
        xc = self.call("llvm.minnum", self.call("llvm.maxnum", x, self.c(F64, lo)),
                       self.c(F64, hi))
        n, r = self._reduce_ln2(xc)
        if single:
            p = self.poly(r, _single_series("exp"), fused=True)
            return b.select(self._isnan(x), x, b.fmul(p, self._scale(n)))
        p = self.poly(r, [1 / math.factorial(k) for k in range(_EXP_DEGREE + 1)])
        half = b.fmul(n, self.c(F64, 0.5))      # n = n1 + n2, each within the exponent range
        n1 = self.call("llvm.floor", half)
        for part in (n1, b.fsub(n, n1)):
            p = b.fmul(p, self._scale(part))
        return b.select(self._isnan(x), x, p)

    @_narrow_in_f64
    def expm1(self, x, single=False):
        """x*Q(x) near zero (no cancellation), exp(x) - 1 elsewhere."""
        b = self.b
        coeffs = (_single_series("expm1") if single
                  else [1 / math.factorial(k + 1) for k in range(_EXP_DEGREE)])
        q = self.poly(x, coeffs, fused=single)
        small = b.fcmp_ordered("<", self.call("llvm.fabs", x), self.c(F64, 0.34657359))
        return b.select(small, b.fmul(x, q), b.fsub(self.exp(x, single), self.c(F64, 1.0)))

    @_narrow_in_f64
    def tanh(self, x, single=False):
        """tanh|x| = t / (t + 2), t = expm1(2|x|) in one branch-free path: 2|x| = n ln2 + r,
        t = 2**n expm1(r) + (2**n - 1) (expm1(r) a polynomial, 2**n - 1 exact), so there is
        one reduction and one polynomial (no exp + expm1 + select). |x| is clamped where tanh
        rounds to 1 (9.5 for an f32 result, 19.5 for f64) so 2**n stays finite; NaN passes
        through."""
        b = self.b
        ax = self.call("llvm.minnum", self.call("llvm.fabs", x), self.c(F64, _TANH_CLAMP[single]))
        n, r = self._reduce_ln2(b.fadd(ax, ax))
        coeffs = (_single_series("tanh") if single
                  else [1 / math.factorial(k + 2) for k in range(_EXP_DEGREE - 1)])
        q = self.poly(r, coeffs, fused=single)
        em1 = b.fadd(r, b.fmul(b.fmul(r, r), q))                 # r + r^2/2 + ...: r exact
        scale = self._scale(n)
        t = b.fadd(b.fmul(scale, em1), b.fsub(scale, self.c(F64, 1.0)))
        res = b.fdiv(t, b.fadd(t, self.c(F64, 2.0)))
        return b.select(self._isnan(x), x, self.call("llvm.copysign", res, x))

    # ------------------------------------------------------------ log family
    @_narrow_in_f64
    def log(self, x, single=False):
        """x = 2**e * m, m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(f / (2 + f)), f = m - 1."""
        b = self.b
        tiny = b.fcmp_ordered("<", x, self.c(F64, 2.0 ** (1 - _BIAS)))
        xs = b.select(tiny, b.fmul(x, self.c(F64, 2.0 ** 54)), x)
        bits = b.bitcast(xs, _BITS)
        e = b.sub(b.lshr(bits, self.c(_BITS, _MANTISSA)), self.c(_BITS, _BIAS))
        e = b.sub(e, b.select(tiny, self.c(_BITS, 54), self.c(_BITS, 0)))
        mant = b.or_(b.and_(bits, self.c(_BITS, (1 << _MANTISSA) - 1)),
                     self.c(_BITS, _BIAS << _MANTISSA))
        m = b.bitcast(mant, F64)
        big = b.fcmp_ordered(">", m, self.c(F64, math.sqrt(2.0)))
        m = b.select(big, b.fmul(m, self.c(F64, 0.5)), m)
        e = b.add(e, b.zext(big, _BITS))
        f = b.fsub(m, self.c(F64, 1.0))
        s = b.fdiv(f, b.fadd(f, self.c(F64, 2.0)))
        atanh = (_single_series("log") if single
                 else [1.0 / (2 * k + 1) for k in range(_LOG_TERMS)])   # atanh(s)/s in s^2
        logm = b.fmul(b.fadd(s, s), self.poly(b.fmul(s, s), atanh, fused=single))
        ef = b.sitofp(e, F64)
        ln2_hi, ln2_lo = _LN2
        res = b.fadd(b.fmul(ef, self.c(F64, ln2_hi)),
                     b.fadd(logm, b.fmul(ef, self.c(F64, ln2_lo))))
        return self._log_specials(x, res)

    def _log_specials(self, x, res):
        b, ty = self.b, x.type
        res = b.select(b.fcmp_ordered("==", x, self.c(ty, math.inf)), x, res)
        res = b.select(b.fcmp_ordered("==", x, self.c(ty, 0.0)), self.c(ty, -math.inf), res)
        bad = b.fcmp_unordered("<", x, self.c(ty, 0.0))   # negative or NaN
        return b.select(bad, self.c(ty, math.nan), res)

    @_narrow_in_f64
    def log1p(self, x, single=False):
        """log(u) - ((u - 1) - x) / u with u = 1 + x: the correction recovers x's lost bits.
        single: no correction; 1 + x loses at most 2^-53 of x, relative 2^-41 where
        |x| >= 2^-12, and below that x (1 - x/2 + x^2/3 - x^3/4 + x^4/5) (truncation 2^-50)."""
        b = self.b
        u = b.fadd(x, self.c(F64, 1.0))
        lu = self.log(u, single)
        if single:
            near = b.fmul(x, self.poly(x, [(-1.0) ** k / (k + 1) for k in range(5)], fused=True))
            tiny = b.fcmp_ordered("<", self.call("llvm.fabs", x), self.c(F64, 2.0 ** -12))
            return b.select(tiny, near, lu)
        corr = b.fdiv(b.fsub(b.fsub(u, self.c(F64, 1.0)), x), u)
        finite = b.and_(b.fcmp_ordered("<", self.call("llvm.fabs", u), self.c(F64, math.inf)),
                        b.fcmp_ordered("!=", u, self.c(F64, 0.0)))
        res = b.select(finite, b.fsub(lu, corr), lu)
        return b.select(b.fcmp_ordered("==", u, self.c(F64, 1.0)), x, res)

    # ------------------------------------------------------------ trig
    @_narrow_in_f64
    def sin(self, x, single=False, bounded=False):
        return self._trig(x, 0, single, bounded)

    @_narrow_in_f64
    def cos(self, x, single=False, bounded=False):
        return self._trig(x, 1, single, bounded)

    def _trig(self, x, shift, single, bounded=False):
        """Quadrant q = rint(x * 2/pi); sin/cos polynomial on r in [-pi/4, pi/4].

        |x| < LIMIT (the common case) reduces by pi/2 in four parts right here. Larger |x|
        (and inf) is a call of the module's accurate large-argument function
        (`_large_trig`), whose result the select takes only for those lanes. That function
        has vector variants (VFABI) the loop vectoriser calls instead; they test whether any
        lane is large and return at once when none is, so the Payne-Hanek reduction costs
        nothing for vectors of ordinary arguments.

        `bounded`: the caller knows |x| < LIMIT (a Box-Muller angle in [0, 2 pi)), so the
        large-argument call and its select are left out (the values are the same)."""
        b, xd = self.b, x
        n = self.call("llvm.rint", b.fmul(xd, self.c(F64, 2 / math.pi)))
        r = xd
        for part in _PIO2:
            r = b.fsub(r, b.fmul(n, self.c(F64, part)))
        nc = self.call("llvm.minnum", self.call("llvm.maxnum", n, self.c(F64, -2.0 ** 30)),
                       self.c(F64, 2.0 ** 30))
        # i32, not i64: AVX2 converts f64 vectors to i32 in one instruction, to i64 per lane
        q = b.add(b.fptosi(nc, I32), self.c(I32, shift))
        val = self._trig_poly(r, q, single=single)
        if not bounded:
            big = b.fcmp_ordered(">=", self.call("llvm.fabs", xd),
                                 self.c(F64, trig_reduce.LIMIT))
            large = b.call(_large_trig(b.module, shift, single), [xd])
            val = b.select(big, large, val)
        val = b.select(self._isnan(xd), xd, val)                      # nan -> nan
        if shift == 0:                                                # sin(-0.0) = -0.0
            val = b.select(b.fcmp_ordered("==", xd, self.c(F64, 0.0)), xd, val)
        return val

    def _trig_poly(self, r, q, single=False):
        """sin (q even) or cos (q odd) of r (f64, |r| <= pi/4), negated when bit 1 of q is
        set. `single`: the result is rounded to f32, so Taylor terms through r^11 (sin) and
        r^12 (cos) suffice (truncation < 2e-9 relative, 0.04 f32 ulp) instead of r^17/r^16;
        both polynomials by Estrin (the dependency chain is what a vector loop waits on)."""
        b = self.b
        r2 = b.fmul(r, r)
        terms = 5 if single else 8
        sin_c = [(-1) ** (k + 1) / math.factorial(2 * k + 3) for k in range(terms)]
        cos_c = [(-1) ** (k + 1) / math.factorial(2 * k + 2) for k in range(terms)]
        sinp = b.fadd(r, b.fmul(b.fmul(r, r2), self.estrin(r2, sin_c)))
        cosp = b.fadd(self.c(F64, 1.0), b.fmul(r2, self.estrin(r2, cos_c)))
        odd = b.trunc(q, ir.IntType(1))
        val = b.select(odd, cosp, sinp)
        neg = b.icmp_unsigned("!=", b.and_(q, self.c(q.type, 2)), self.c(q.type, 0))
        return b.select(neg, b.fneg(val), val)

    def sqrt(self, x):
        return self.call("llvm.sqrt", x)

    @_narrow_in_f64
    def erf(self, x, single=False):
        """codegen/erf.py."""
        from .erf import emit_erf
        return emit_erf(self, x, single)

    # ------------------------------------------------------------ pow and integer helpers
    def pow(self, x, y):
        """Common constant exponents inline (x*x, sqrt, 1/x); any f32 exponent inline (through
        f64 exp/log, so the loop vectorises); any f64 exponent inline in double-double
        (codegen/pow64.py)."""
        b, ty = self.b, x.type
        if isinstance(y, ir.Constant):
            k = float(y.constant)
            if k == 2.0:
                return b.fmul(x, x)
            if k == 1.0:
                return x
            if k == 0.5:
                return self.sqrt(x)
            if k == -1.0:
                return b.fdiv(self.c(ty, 1.0), x)
        if ty == F32:
            return self._pow_f32(x, y)
        from .pow64 import emit_pow64
        return emit_pow64(self, x, y)

    def _pow_f32(self, x, y):
        """exp(y log|x|) in f64 with the inline exp/log (relative error ~2^-45, far below an f32
        ulp), then C99/numpy special cases: the sign for odd integer y, NaN for a finite
        negative base and non-integer y, pow(x, 0) = pow(1, y) = pow(-1, +-inf) = 1."""
        b = self.b
        xd, yd = b.fpext(x, F64), b.fpext(y, F64)
        c = lambda v: self.c(F64, v)  # noqa: E731
        ax = self.call("llvm.fabs", xd)
        r = self.exp(b.fmul(yd, self.log(ax)))
        is_int = b.fcmp_ordered("==", self.call("llvm.floor", yd), yd)
        half = b.fmul(yd, c(0.5))
        odd = b.and_(is_int, b.fcmp_ordered("!=", self.call("llvm.floor", half), half))
        sign_neg = b.icmp_signed("<", b.bitcast(xd, I64), self.c(I64, 0))
        r = b.select(b.and_(sign_neg, odd), b.fneg(r), r)
        finite_neg = b.and_(b.fcmp_ordered("<", xd, c(0.0)),
                            b.fcmp_ordered(">", xd, c(-math.inf)))
        y_finite = b.fcmp_ordered("<", self.call("llvm.fabs", yd), c(math.inf))
        bad = b.and_(finite_neg, b.and_(y_finite, b.not_(is_int)))
        r = b.select(bad, c(math.nan), r)
        unit = b.or_(b.fcmp_ordered("==", yd, c(0.0)), b.fcmp_ordered("==", xd, c(1.0)))
        unit = b.or_(unit, b.and_(b.fcmp_ordered("==", xd, c(-1.0)), b.not_(y_finite)))
        unit = b.and_(unit, b.not_(b.and_(b.fcmp_unordered("uno", yd, yd),
                                          b.fcmp_ordered("==", xd, c(-1.0)))))
        r = b.select(unit, c(1.0), r)
        return b.fptrunc(r, F32)

    def floor_div(self, x, y):
        """numpy floor_divide on ints: x // 0 == 0 and MIN // -1 wraps, never LLVM UB."""
        b, ty = self.b, x.type
        zero, one, minus = self.c(ty, 0), self.c(ty, 1), self.c(ty, -1)
        special = b.or_(b.icmp_signed("==", y, zero), b.icmp_signed("==", y, minus))
        safe = b.select(special, one, y)
        q = b.sdiv(x, safe)
        rem = b.srem(x, safe)
        signs = b.xor(b.icmp_signed("<", x, zero), b.icmp_signed("<", safe, zero))
        fix = b.and_(b.icmp_signed("!=", rem, zero), signs)
        q = b.sub(q, b.zext(fix, ty))
        q = b.select(b.icmp_signed("==", y, minus), b.neg(x), q)
        return b.select(b.icmp_signed("==", y, zero), zero, q)

    def floor_mod(self, x, y):
        """numpy mod on ints: the divisor's sign, x % 0 == 0 and MIN % -1 == 0, never LLVM UB."""
        b, ty = self.b, x.type
        zero, one, minus = self.c(ty, 0), self.c(ty, 1), self.c(ty, -1)
        special = b.or_(b.icmp_signed("==", y, zero), b.icmp_signed("==", y, minus))
        safe = b.select(special, one, y)
        rem = b.srem(x, safe)
        signs = b.xor(b.icmp_signed("<", rem, zero), b.icmp_signed("<", safe, zero))
        fix = b.and_(b.icmp_signed("!=", rem, zero), signs)
        rem = b.select(fix, b.add(rem, safe), rem)
        return b.select(special, zero, rem)

    def int_pow(self, x, y):
        """Square-and-multiply over the exponent's bits (negative exponents give 0, x=±1 aside)."""
        b, ty = self.b, x.type
        result, base = self.c(ty, 1), x
        for bit in range(ty.width - 1):
            on = b.icmp_unsigned("!=", b.and_(b.lshr(y, self.c(ty, bit)), self.c(ty, 1)),
                                 self.c(ty, 0))
            result = b.select(on, b.mul(result, base), result)
            base = b.mul(base, base)
        return b.select(b.icmp_signed("<", y, self.c(ty, 0)), self.c(ty, 0), result)


# ---------------------------------------------------------------- large-argument sin / cos
VECTOR_WIDTHS = (2, 4, 8)
FUNCTION_ATTRIBUTES = "tg_function_attributes"    # module attribute: {function name: text}
KEPT = "tg_kept_declarations"                     # module attribute: [function]


def _large_trig(module, shift, single):
    """`double tg_trig_large_<shift><f|d>(double x)`, declared in `module`: sin (shift 0) or
    cos (1) of x for |x| >= trig_reduce.LIMIT by Payne-Hanek (NaN for inf; 0.0 for smaller
    |x|, which callers never select), and its vector variants `..._v<w>`, named in the
    "vector-function-abi-variant" attribute so the loop vectoriser may call one. They read
    only a constant table (memory(read)). The definitions live in one module of their own
    (large_trig_module(), compiled and linked once per process by codegen/linked.py):
    defined in every module, their inlined per-lane reductions made LLVM spend most of the
    compile time of any graph with a sin or cos (0.3-0.9 s of CPU each) on code that is the
    same every time."""
    name = f"tg_trig_large_{shift}{'f' if single else 'd'}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(F64, [F64]), name)
    variants = []
    for w in VECTOR_WIDTHS:
        vec = ir.VectorType(F64, w)
        _keep(module, ir.Function(module, ir.FunctionType(vec, [vec]), f"{name}_v{w}"))
        variants.append(f"_ZGV_LLVM_N{w}v_{name}({name}_v{w})")
    _attributes(module)[name] = (f'nounwind memory(read) '
                                 f'"vector-function-abi-variant"="{",".join(variants)}"')
    return fn


LARGE_TRIG = {f"tg_trig_large_{shift}{'f' if single else 'd'}": (shift, single)
              for shift in (0, 1) for single in (True, False)}


def _keep(module, fn):
    """List `fn` in @llvm.compiler.used (with_function_attributes writes it): an unused
    declaration is deleted early in the pipeline, before the loop vectoriser would look its
    vector variants up by name."""
    kept = getattr(module, KEPT, None)
    if kept is None:
        kept = []
        setattr(module, KEPT, kept)
    kept.append(fn)


def large_trig_symbols(name) -> list:
    """The names large_trig_module(name) defines: the function and its vector variants."""
    return [name] + [f"{name}_v{w}" for w in VECTOR_WIDTHS]


def large_trig_module(name) -> str:
    """LLVM IR text defining the large-argument function `name` (a key of LARGE_TRIG) and
    its vector variants."""
    module = ir.Module(name=name)
    _define_large_trig(module, *LARGE_TRIG[name])
    return with_function_attributes(module, str(module))


for _name in LARGE_TRIG:
    linked.provide(_name, large_trig_symbols(_name), functools.partial(large_trig_module, _name))


def _attributes(module) -> dict:
    attrs = getattr(module, FUNCTION_ATTRIBUTES, None)
    if attrs is None:
        attrs = {}
        setattr(module, FUNCTION_ATTRIBUTES, attrs)
    return attrs


def _define_large_trig(module, shift, single):
    """The definitions _large_trig() declares. The variants call the same code as `..._lane`,
    which has no vector-variant attribute (else the SLP vectoriser would turn their per-lane
    calls back into a call of a variant: recursion)."""
    name = f"tg_trig_large_{shift}{'f' if single else 'd'}"
    lane = _large_trig_body(module, name + "_lane", shift, single, early_out=False)
    fn = _large_trig_body(module, name, shift, single)
    variants = [f"_ZGV_LLVM_N{w}v_{name}({_vector_variant(module, lane, name, w)})"
                for w in VECTOR_WIDTHS]
    attrs = _attributes(module)
    attrs[lane.name] = "alwaysinline nounwind memory(read)"   # SLP may vectorise the lanes
    attrs[name] = (f'noinline nounwind memory(read) '
                   f'"vector-function-abi-variant"="{",".join(variants)}"')
    return fn


def _large_trig_body(module, name, shift, single, early_out=True):
    """The large-argument sin/cos of one f64. early_out: return 0.0 at once for |x| < LIMIT
    (the scalar function a scalar loop calls per element); without it the body is straight
    line code, so that the variants' per-lane copies can be SLP-vectorised."""
    fn = ir.Function(module, ir.FunctionType(F64, [F64]), name)
    x = fn.args[0]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    m = MathLib(b)
    if early_out:
        compute, skip = fn.append_basic_block("large"), fn.append_basic_block("small")
        big = b.fcmp_unordered(">=", m.call("llvm.fabs", x), m.c(F64, trig_reduce.LIMIT))
        b.cbranch(big, compute, skip)
        b.position_at_end(skip)
        b.ret(m.c(F64, 0.0))
        b.position_at_end(compute)
    r, q = trig_reduce.reduce_large(m, x, single=single)
    val = m._trig_poly(r, b.add(q, m.c(I64, shift)), single=single)
    inf = b.fcmp_ordered("==", m.call("llvm.fabs", x), m.c(F64, math.inf))
    b.ret(b.select(inf, m.c(F64, math.nan), val))
    return fn


def _vector_variant(module, scalar, base, w):
    """The w-lane variant: returns zeros at once when no lane has |x| >= LIMIT (the test
    is one compare and a mask move); else calls `scalar` lane by lane."""
    name = f"{base}_v{w}"
    vec = ir.VectorType(F64, w)
    fn = ir.Function(module, ir.FunctionType(vec, [vec]), name)
    x = fn.args[0]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    limit = ir.Constant(vec, [trig_reduce.LIMIT] * w)
    big = b.or_(b.fcmp_unordered(">=", x, limit), b.fcmp_unordered("<=", x, b.fneg(limit)))
    any_big = b.icmp_unsigned("!=", b.bitcast(big, ir.IntType(w)), ir.Constant(ir.IntType(w), 0))
    lanes, none = fn.append_basic_block("lanes"), fn.append_basic_block("none")
    b.cbranch(any_big, lanes, none)
    b.position_at_end(none)
    b.ret(ir.Constant(vec, None))
    b.position_at_end(lanes)
    out = ir.Constant(vec, None)
    for k in range(w):
        lane = b.call(scalar, [b.extract_element(x, ir.Constant(I32, k))])
        out = b.insert_element(out, lane, ir.Constant(I32, k))
    b.ret(out)
    return name


def with_function_attributes(module, text: str) -> str:
    """`text` (str(module)) with the attributes llvmlite cannot express (string attributes,
    memory(read)) added to the definitions that asked for them, and @llvm.compiler.used
    listing the declarations _keep() kept."""
    for name, attrs in getattr(module, FUNCTION_ATTRIBUTES, {}).items():
        heads = [f'{kind} double @"{name}"(double %".1")' for kind in ("define", "declare")]
        found = [h for h in heads if text.count(h) == 1]
        if len(found) != 1:
            raise RuntimeError(f"codegen: definition of {name} not found in the module text")
        text = text.replace(found[0], f"{found[0]} {attrs}")
    kept = getattr(module, KEPT, [])
    if kept:
        ptr = ir.IntType(8).as_pointer()
        used = ir.Constant(ir.ArrayType(ptr, len(kept)), [fn.bitcast(ptr) for fn in kept])
        text += f'\n@"llvm.compiler.used" = appending global {used}, section "llvm.metadata"\n'
    return text
