"""The trigonometric and hyperbolic family beyond sin/cos/tanh: tan, arcsin, arccos, arctan,
sinh, cosh, arcsinh, arccosh, arctanh (MXNet's unary math ops).

Scalar rules are built from the ScalarEmitter's exp/log/log1p/expm1/sqrt/sin/cos, so they
vectorise like any arithmetic; f32 operands run them in f64, rounded once (ROUNDED_ONCE).
arctan, which has no emitter primitive, is two argument halvings (atan t = 2 atan(t / (1 +
sqrt(1 + t^2)))) down to |t| <= tan(pi/16) and then its alternating Taylor series; arcsin and
arccos are arctan of a ratio. Inverse hyperbolics use the log1p forms that stay accurate near
0 and switch to log|x| + log 2 where x^2 would overflow.
"""
import math

import numpy as np

from . import FloatUnary, single_target

# |t| <= 0.199: the 12th term is below 1e-17; for an f32 result 7 (truncation < 2^-36)
_ATAN_TERMS = {False: 12, True: 7}
_BIG = 2.0 ** 28          # beyond this, asinh/acosh x == log(2x) to double precision


def _sign_like(e, x, r):
    """r (>= 0) with the sign of x, for the odd functions here: x itself at ±0, so -0.0 maps
    to -0.0 as numpy's do (lt alone gave +0.0)."""
    zero = e.const(0, like=x)
    return e.select(e.lt(x, zero), e.neg(r), e.select(e.eq(x, zero), x, r))


def _atan(e, x):
    """arctan on any float: reduce |x| > 1 by atan(1/x) = pi/2 - atan(x), halve twice, sum."""
    one = e.const(1.0, like=x)
    a = e.abs(x)
    inverted = e.gt(a, one)
    t = e.select(inverted, e.div(one, a), a)
    for _ in range(2):
        t = e.div(t, e.add(one, e.sqrt(e.add(one, e.mul(t, t)))))
    t2 = e.mul(t, t)
    terms = _ATAN_TERMS[single_target(e)]
    acc = e.const((-1.0) ** (terms - 1) / (2 * terms - 1), like=x)
    for k in range(terms - 2, -1, -1):
        acc = e.add(e.mul(acc, t2), e.const((-1.0) ** k / (2 * k + 1), like=x))
    r = e.mul(e.mul(t, acc), e.const(4.0, like=x))
    r = e.select(inverted, e.sub(e.const(math.pi / 2, like=x), r), r)
    return _sign_like(e, x, r)


class Tan(FloatUnary):
    """tan x. vjp uses the output: 1 + tan²."""
    name = "tan"

    def impl(x):
        return np.tan(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.add(b.mul(out, out), 1.0)),)

    def scalar(e, x):
        return e.div(e.sin(x), e.cos(x))


class Arcsin(FloatUnary):
    """arcsin x on [-1, 1] (nan outside)."""
    name = "arcsin"

    def impl(x):
        return np.arcsin(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.sqrt(b.sub(1.0, b.mul(x, x)))),)

    def scalar(e, x):
        one = e.const(1.0, like=x)
        return _atan(e, e.div(x, e.sqrt(e.mul(e.sub(one, x), e.add(one, x)))))


class Arccos(FloatUnary):
    """arccos x on [-1, 1] (nan outside) = 2 atan(sqrt((1 - x) / (1 + x)))."""
    name = "arccos"

    def impl(x):
        return np.arccos(x)

    def vjp(b, g, out, x):
        return (b.neg(b.div(g, b.sqrt(b.sub(1.0, b.mul(x, x))))),)

    def scalar(e, x):
        one = e.const(1.0, like=x)
        r = _atan(e, e.sqrt(e.div(e.sub(one, x), e.add(one, x))))
        return e.mul(r, e.const(2.0, like=x))


class Arctan(FloatUnary):
    """arctan x."""
    name = "arctan"

    def impl(x):
        return np.arctan(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.add(b.mul(x, x), 1.0)),)

    def scalar(e, x):
        return _atan(e, x)


class Sinh(FloatUnary):
    """sinh x = (t + t / (t + 1)) / 2 with t = expm1|x| for |x| <= 1 (accurate near 0), else
    (u - 1/u) / 2 with u = exp|x|."""
    name = "sinh"

    def impl(x):
        return np.sinh(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.cosh(x)),)

    def scalar(e, x):
        one, half = e.const(1.0, like=x), e.const(0.5, like=x)
        a = e.abs(x)
        t = e.expm1(a)
        near = e.mul(e.add(t, e.div(t, e.add(t, one))), half)
        u = e.exp(a)
        far = e.mul(e.sub(u, e.div(one, u)), half)  # no cancellation once u >= e; inf at inf
        return _sign_like(e, x, e.select(e.gt(a, one), far, near))


class Cosh(FloatUnary):
    """cosh x = (u + 1/u) / 2 with u = exp|x|."""
    name = "cosh"

    def impl(x):
        return np.cosh(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.sinh(x)),)

    def scalar(e, x):
        u = e.exp(e.abs(x))
        return e.mul(e.add(u, e.div(e.const(1.0, like=x), u)), e.const(0.5, like=x))


class Arcsinh(FloatUnary):
    """asinh x = sign(x) log1p(a + a² / (1 + sqrt(1 + a²))), a = |x|."""
    name = "arcsinh"

    def impl(x):
        return np.arcsinh(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.sqrt(b.add(b.mul(x, x), 1.0))),)

    def scalar(e, x):
        one = e.const(1.0, like=x)
        a = e.abs(x)
        a2 = e.mul(a, a)
        near = e.log1p(e.add(a, e.div(a2, e.add(one, e.sqrt(e.add(one, a2))))))
        far = e.add(e.log(a), e.const(math.log(2.0), like=x))
        return _sign_like(e, x, e.select(e.gt(a, e.const(_BIG, like=x)), far, near))


class Arccosh(FloatUnary):
    """acosh x = log1p(t + sqrt(2t + t²)), t = x - 1, for x >= 1 (nan below)."""
    name = "arccosh"

    def impl(x):
        return np.arccosh(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.sqrt(b.sub(b.mul(x, x), 1.0))),)

    def scalar(e, x):
        t = e.sub(x, e.const(1.0, like=x))
        near = e.log1p(e.add(t, e.sqrt(e.add(e.mul(t, e.const(2.0, like=x)), e.mul(t, t)))))
        far = e.add(e.log(x), e.const(math.log(2.0), like=x))
        r = e.select(e.gt(x, e.const(_BIG, like=x)), far, near)
        return e.select(e.lt(x, e.const(1.0, like=x)), e.const(math.nan, like=x), r)


class Arctanh(FloatUnary):
    """atanh x = sign(x) log1p(2a / (1 - a)) / 2, a = |x|, on (-1, 1); ±inf at ±1, nan beyond."""
    name = "arctanh"

    def impl(x):
        return np.arctanh(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.sub(1.0, b.mul(x, x))),)

    def scalar(e, x):
        one, a = e.const(1.0, like=x), e.abs(x)  # on |x|: log1p of a value near -1 is not
        r = e.log1p(e.div(e.mul(a, e.const(2.0, like=x)), e.sub(one, a)))  # well conditioned
        return _sign_like(e, x, e.mul(r, e.const(0.5, like=x)))
