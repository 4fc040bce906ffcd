"""Unary elementwise primitives: neg, transcendentals, relu/abs/sign/floor, stop_gradient,
logical_not. All have the ELEMENTWISE trait and a `scalar` rule (see elementwise.py).
"""
import math

import numpy as np

from ..types import FLOATS
from . import ELEMENTWISE, INT_GRAD, NONDIFF, NUMERIC, FloatUnary, UnaryElementwise


class Neg(UnaryElementwise):
    """-x (numpy has no negative for bool)."""
    name = "neg"
    traits = frozenset({ELEMENTWISE, INT_GRAD})
    dtypes = NUMERIC

    def impl(x):
        return np.negative(x)

    def vjp(b, g, out, x):
        return (b.neg(g),)

    def scalar(e, x):
        return e.neg(x)


def correctly_rounded(fn, x):
    """fn(x) for a float32/float16 array computed in float64 and rounded once: numpy's float32
    SIMD exp is 1 ulp off for ~40% of inputs (exp(1) = 2.71828198), where MXNet's expf gives
    the correctly rounded value (2.71828175, which MXNet's own tests assert to 1e-7)."""
    dtype = getattr(x, "dtype", None)       # (an array or a numpy scalar)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        return np.asarray(fn(np.asarray(x, np.float64))).astype(dtype)
    return fn(x)


class Exp(FloatUnary):
    """e**x, correctly rounded in float32 as MXNet's expf. vjp uses the output."""
    name = "exp"

    def impl(x):
        return correctly_rounded(np.exp, x)

    def vjp(b, g, out, x):
        return (b.mul(g, out),)

    def scalar(e, x):
        return e.exp(x)


class Log(FloatUnary):
    """Natural logarithm."""
    name = "log"

    def impl(x):
        return np.log(x)

    def vjp(b, g, out, x):
        return (b.div(g, x),)

    def scalar(e, x):
        return e.log(x)


class Tanh(FloatUnary):
    """Hyperbolic tangent. vjp uses the output: d tanh = 1 - tanh²."""
    name = "tanh"

    def impl(x):
        return np.tanh(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.sub(1.0, b.mul(out, out))),)

    def scalar(e, x):
        return e.tanh(x)


def _sigmoid(x):
    """1 / (1 + t) for x >= 0, t / (1 + t) below, t = e**-|x| (never overflows). An array's
    temporaries are reused in place (a third faster on an LSTM's gates; the same values)."""
    t = np.abs(x)
    if type(t) is not np.ndarray:       # (a scalar, or a 0-d array's scalar)
        t = np.exp(-t)
        return np.where(x >= 0, 1.0, t) / (1.0 + t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    num = np.where(x >= 0, 1.0, t)
    np.add(t, 1.0, out=t)
    np.divide(num, t, out=num)
    return num


class Sigmoid(FloatUnary):
    """1 / (1 + e**-x). vjp uses the output: out * (1 - out)."""
    name = "sigmoid"

    def impl(x):
        return correctly_rounded(_sigmoid, x)   # (in float32 arithmetic: 3 ulp off)

    def vjp(b, g, out, x):
        return (b.mul(g, b.mul(out, b.sub(1.0, out))),)

    def scalar(e, x):
        # e**-|x| never overflows: 1/(1+t) for x >= 0, t/(1+t) below (keeps the subnormal tail)
        one = e.const(1.0, like=x)
        t = e.exp(e.neg(e.abs(x)))
        return e.div(e.select(e.ge(x, e.const(0.0, like=x)), one, t), e.add(one, t))


class Relu(UnaryElementwise):
    """max(x, 0); NaN stays NaN. vjp: g where x > 0, else the output, which is 0 there or
    NaN at a NaN input: MXNet's relu_grad passes NaN through (its tests check it)."""
    name = "relu"
    traits = frozenset({ELEMENTWISE, INT_GRAD})

    def impl(x):
        return np.maximum(x, x.dtype.type(0))

    def vjp(b, g, out, x):
        return (b.where(b.gt(x, 0), g, out),)

    def scalar(e, x):
        return e.maximum(x, e.const(0, like=x))


class Sqrt(FloatUnary):
    """Square root. vjp uses the output: g / (2 sqrt(x)). IEEE sqrt is correctly rounded in
    every precision, so it computes in its own (no ROUNDED_ONCE)."""
    name = "sqrt"
    traits = frozenset({ELEMENTWISE})

    def impl(x):
        return np.sqrt(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.mul(out, 2.0)),)

    def scalar(e, x):
        return e.sqrt(x)


# 1/ln 2 and 1/ln 10 as a float64 and the (exactly representable) rest: log(x) * (hi + lo)
# keeps the constant's own rounding out of float64 log2/log10
_INV_LN2 = (1.4426950408889634, 2.0355273740931033e-17)
_INV_LN10 = (0.4342944819032518, 1.098319650216765e-17)


def _times_constant(e, v, parts):
    hi, lo = parts
    return e.add(e.mul(v, e.const(hi, like=v)), e.mul(v, e.const(lo, like=v)))


class Log2(FloatUnary):
    """log2 x as one op: log(x) * (1/ln 2) as two ops rounds twice (3 ulp off in float32)."""
    name = "log2"

    def impl(x):
        return np.log2(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.mul(x, math.log(2.0))),)

    def scalar(e, x):
        return _times_constant(e, e.log(x), _INV_LN2)


class Log10(FloatUnary):
    """log10 x as one op (two ops were 4 ulp off in float32)."""
    name = "log10"

    def impl(x):
        return np.log10(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.mul(x, math.log(10.0))),)

    def scalar(e, x):
        return _times_constant(e, e.log(x), _INV_LN10)


def _cbrt(e, x):
    """Real cube root: c = exp(log|x| / 3), then one Newton step c' = c - (c - a/c^2) / 3,
    which squares c's relative error (the small correction keeps its own roundings small;
    exact cubes come out exact, as pow(x, 1/3) does not); x's sign; 0, inf and NaN pass."""
    a = e.abs(x)
    c = e.exp(e.div(e.log(a), e.const(3.0, like=x)))
    c = e.sub(c, e.div(e.sub(c, e.div(a, e.mul(c, c))), e.const(3.0, like=x)))
    c = e.select(e.lt(x, e.const(0.0, like=x)), e.neg(c), c)
    through = e.logical_not(e.lt(e.abs(e.sub(a, a)), e.const(1.0, like=x)))   # inf or NaN
    return e.select(e.eq(x, e.const(0.0, like=x)), x, e.select(through, x, c))


class Cbrt(FloatUnary):
    """Cube root (real, sign kept). vjp uses the output: g / (3 out^2)."""
    name = "cbrt"

    def impl(x):
        return np.cbrt(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.mul(b.mul(out, out), 3.0)),)

    def scalar(e, x):
        return _cbrt(e, x)


class Rcbrt(FloatUnary):
    """1 / cbrt(x), rounded once in float32. vjp uses the output: -g out^4 / 3."""
    name = "rcbrt"

    def impl(x):
        return correctly_rounded(lambda v: 1.0 / np.cbrt(v), x)

    def vjp(b, g, out, x):
        o2 = b.mul(out, out)
        return (b.mul(g, b.mul(b.mul(o2, o2), -1.0 / 3.0)),)

    def scalar(e, x):
        return e.div(e.const(1.0, like=x), _cbrt(e, x))


class Rsqrt(FloatUnary):
    """1 / sqrt(x), rounded once in float32. vjp uses the output: -g out^3 / 2."""
    name = "rsqrt"

    def impl(x):
        return correctly_rounded(lambda v: 1.0 / np.sqrt(v), x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.mul(b.mul(b.mul(out, out), out), -0.5)),)

    def scalar(e, x):
        return e.div(e.const(1.0, like=x), e.sqrt(x))


class Abs(UnaryElementwise):
    """|x|; the gradient at 0 is 0 (sign)."""
    name = "abs"
    traits = frozenset({ELEMENTWISE, INT_GRAD})

    def impl(x):
        return np.abs(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.sign(x)),)

    def scalar(e, x):
        return e.abs(x)


class Sign(UnaryElementwise):
    """-1, 0 or 1; its derivative is zero almost everywhere, so vjp returns no cotangent."""
    name = "sign"
    traits = frozenset({ELEMENTWISE, INT_GRAD})
    dtypes = NUMERIC

    def impl(x):
        return np.sign(x)

    def vjp(b, g, out, x):
        return (None,)

    def scalar(e, x):
        zero = e.const(0, like=x)
        pos = e.cast(e.gt(x, zero), x.dtype)
        neg = e.cast(e.lt(x, zero), x.dtype)
        return e.select(e.ne(x, x), x, e.sub(pos, neg))  # nan stays nan, as in numpy


class Sin(FloatUnary):
    """Sine."""
    name = "sin"

    def impl(x):
        return np.sin(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.cos(x)),)

    def scalar(e, x):
        return e.sin(x)


class Cos(FloatUnary):
    """Cosine."""
    name = "cos"

    def impl(x):
        return np.cos(x)

    def vjp(b, g, out, x):
        return (b.neg(b.mul(g, b.sin(x))),)

    def scalar(e, x):
        return e.cos(x)


class Log1p(FloatUnary):
    """log(1 + x), accurate for tiny x (log_softmax / softplus tails)."""
    name = "log1p"

    def impl(x):
        return np.log1p(x)

    def vjp(b, g, out, x):
        return (b.div(g, b.add(x, 1.0)),)

    def scalar(e, x):
        return e.log1p(x)


class Expm1(FloatUnary):
    """e**x - 1, accurate for tiny x. vjp uses the output: d expm1 = out + 1."""
    name = "expm1"

    def impl(x):
        return np.expm1(x)

    def vjp(b, g, out, x):
        return (b.mul(g, b.add(out, 1.0)),)

    def scalar(e, x):
        return e.expm1(x)


class Floor(UnaryElementwise):
    """Largest integer <= x, in x's dtype: an int or bool array comes back unchanged (MXNet's floor on
    ints; numpy before 2.1 would give float64). Piecewise constant: the gradient is zero."""
    name = "floor"
    traits = frozenset({ELEMENTWISE, INT_GRAD})
    dtypes = NUMERIC + ("bool",)

    def impl(x):
        return np.floor(x) if x.dtype.kind == "f" else x.copy()

    def vjp(b, g, out, x):
        return (None,)

    def scalar(e, x):
        return e.floor(x) if x.dtype in FLOATS else x


class StopGradient(UnaryElementwise):
    """Identity whose vjp is None: MXNet's BlockGrad / stop_gradient. Deliberately not NONDIFF,
    so it records like any op; autodiff just receives no cotangent through it."""
    name = "stop_gradient"
    traits = frozenset({ELEMENTWISE, INT_GRAD})

    def impl(x):
        return x

    def vjp(b, g, out, x):
        return (None,)

    def scalar(e, x):
        return x


class LogicalNot(UnaryElementwise):
    """True where x is false (zero); a bool result, so no gradient."""
    name = "logical_not"
    traits = frozenset({ELEMENTWISE, NONDIFF})

    def infer(x):
        return x.with_dtype("bool")

    def impl(x):
        return np.logical_not(x)

    def scalar(e, x):
        return e.logical_not(x) if x.dtype == "bool" else e.eq(x, e.const(0, like=x))
