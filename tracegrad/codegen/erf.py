"""erf as inline, branch-free LLVM IR (computed in f64; f32 rounds the f64 result).

Three pieces on |x|, all evaluated and selected (so loops vectorise), then the sign of x:
- |x| <= 1: the Maclaurin series x * sum (-1)^n 2/sqrt(pi) x^2n / (n! (2n+1)), 22 terms;
- 1 < |x| <= 2: the Taylor series about 3/2, coefficients from the Hermite recurrence
  (erf^(n)(a) = 2/sqrt(pi) (-1)^(n-1) H_(n-1)(a) e^(-a^2)) in exact rational arithmetic;
- 2 < |x| < 6: 1 - e^(-x^2) h(1/x), h(t) = erfc(1/t) e^(1/t^2) a Chebyshev interpolant
  (degree 22, evaluated by Clenshaw) of Python's math.erfc;
- |x| >= 6: 1 (erf(6) rounds to 1 in f64). NaN stays NaN, -0.0 stays -0.0.
Measured against math.erf: <= 2 ulp (f64), <= 0.5 ulp (f32); tests/codegen/test_math_accuracy.py.
`single` (the f64 result is rounded to f32): each series is cut where its dropped terms sum
below 2^-37 (SINGLE_TOLERANCE), e.g. 13 Maclaurin terms instead of 22.
"""
import functools
import math
from fractions import Fraction

from llvmlite import ir

F64 = ir.DoubleType()
MACLAURIN_TERMS = 22
TAYLOR_CENTER, TAYLOR_TERMS = Fraction(3, 2), 30
TAIL = (2.0, 6.0, 22)          # h fitted for x in [2, 6], degree
SINGLE_TOLERANCE = 2.0 ** -37


def needed(coeffs, radius, single):
    """coeffs of a series in a variable of magnitude <= radius (Chebyshev: radius 1), cut for
    `single` where the dropped terms' magnitudes sum below SINGLE_TOLERANCE."""
    n, dropped = len(coeffs), 0.0
    while single and n > 1:
        term = abs(coeffs[n - 1]) * radius ** (n - 1)
        if dropped + term >= SINGLE_TOLERANCE:
            break
        dropped, n = dropped + term, n - 1
    return coeffs[:n]


@functools.lru_cache(maxsize=None)
def maclaurin():
    return [(-1) ** n * 2 / math.sqrt(math.pi) / (math.factorial(n) * (2 * n + 1))
            for n in range(MACLAURIN_TERMS)]


@functools.lru_cache(maxsize=None)
def taylor():
    """c_n with erf(a + d) = sum c_n d^n, a = 3/2."""
    a = TAYLOR_CENTER
    hermite = [Fraction(1), 2 * a]                       # H_0, H_1 (physicists')
    for k in range(1, TAYLOR_TERMS):
        hermite.append(2 * a * hermite[k] - 2 * k * hermite[k - 1])
    scale = 2 / math.sqrt(math.pi) * math.exp(-float(a * a))
    coeffs = [math.erf(float(a))]
    for n in range(1, TAYLOR_TERMS):
        exact = Fraction((-1) ** (n - 1)) * hermite[n - 1] / math.factorial(n)
        coeffs.append(float(exact) * scale)
    return coeffs


@functools.lru_cache(maxsize=None)
def tail():
    import numpy as np
    from numpy.polynomial import chebyshev
    lo, hi, degree = TAIL

    def h(t):
        return np.array([math.erfc(1 / v) * math.exp((1 / v) * (1 / v)) for v in np.atleast_1d(t)])
    fit = chebyshev.Chebyshev.interpolate(h, degree, domain=[1 / hi, 1 / lo])
    return [float(c) for c in fit.coef]


def emit_erf(math_lib, x, single=False):
    """erf of an f64 LLVM value (math_lib: a MathLib on the current builder); `single`: the
    result will be rounded to f32."""
    b = math_lib.b
    c = lambda v: ir.Constant(F64, v)  # noqa: E731
    ax = math_lib.call("llvm.fabs", x)
    s = b.fmul(ax, ax)
    small = b.fmul(ax, math_lib.poly(s, needed(maclaurin(), 1.0, single)))
    mid = math_lib.poly(b.fsub(ax, c(float(TAYLOR_CENTER))), needed(taylor(), 0.5, single))
    lo, hi, _ = TAIL
    t = b.fdiv(c(1.0), ax)
    u = b.fmul(b.fsub(b.fmul(c(2.0), t), c(1 / hi + 1 / lo)), c(1 / (1 / lo - 1 / hi)))
    coeffs = needed(tail(), 1.0, single)
    b1, b2 = c(0.0), c(0.0)
    for k in reversed(coeffs[1:]):
        b1, b2 = b.fadd(b.fsub(b.fmul(b.fmul(c(2.0), u), b1), b2), c(k)), b1
    h = b.fadd(b.fsub(b.fmul(u, b1), b2), c(coeffs[0]))
    big = b.fsub(c(1.0), b.fmul(math_lib.exp(b.fneg(s), single), h))
    r = b.select(b.fcmp_ordered("<=", ax, c(1.0)), small,
                 b.select(b.fcmp_ordered("<=", ax, c(2.0)), mid,
                          b.select(b.fcmp_ordered("<", ax, c(hi)), big, c(1.0))))
    r = math_lib.call("llvm.copysign", r, x)
    return b.select(b.fcmp_unordered("uno", x, x), x, r)
