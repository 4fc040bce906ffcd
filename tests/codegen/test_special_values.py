"""Compiled elementwise ops on special values (signed zeros, NaN, infinities, subnormals, the
float32 extremes) against eager: the same NaNs and infinities, the same sign of every zero,
values within a few ulp (transcendentals).

maximum / minimum and the ops lowered through them (relu, clip, a scalar bound): MXNet's
kernels (mshadow_op.h at 1.9.1) compute `isnan(a) ? a : (a > b ? a : b)`, so a tie gives the
second operand: relu(-0) and maximum(-0, +0) are +0, as numpy's eager result (compiled code
kept the first operand before, giving -0). mod: a zero remainder has the divisor's sign, as
numpy's (compiled gave the dividend's)."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

A = np.array([[-0.0, 0.0, -0.0, 1.0], [0.0, -0.0, np.nan, -0.0]], np.float32)
B = np.array([[0.0, -0.0, -0.0, 1.0], [-0.0, 0.0, 1.0, np.nan]], np.float32)

CASES = {
    "relu": lambda a, b: nd.relu(a),
    "maximum": nd.maximum,
    "minimum": nd.minimum,
    "maximum_scalar": lambda a, b: nd.maximum(a, 0.0),
    "minimum_scalar": lambda a, b: nd.minimum(a, 0.0),
    "clip_low": lambda a, b: nd.clip(a, 0, 1),
    "clip_high": lambda a, b: nd.clip(a, -1, 0),
    "max_axis": lambda a, b: nd.max(a, axis=1),
    "min_axis": lambda a, b: nd.min(a, axis=1),
    "max_pool": lambda a, b: nd.Pooling(a.reshape((1, 1, 2, 4)), kernel=(2, 2),
                                        pool_type="max"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_ties_and_nans_match_eager_bit_for_bit(name, dtype):
    f = CASES[name]
    a, b = nd.array(A.astype(dtype), dtype=dtype), nd.array(B.astype(dtype), dtype=dtype)
    eager = f(a, b).asnumpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = mx.jit(f)(a, b).asnumpy()
    assert np.array_equal(eager, compiled, equal_nan=True)
    assert np.array_equal(np.signbit(eager), np.signbit(compiled)), (eager, compiled)


def test_relu_of_negative_zero_is_positive_zero_as_mxnet():
    out = mx.jit(nd.relu)(nd.array(np.array([-0.0, 0.0], np.float32))).asnumpy()
    assert not np.signbit(out).any()


SPECIAL = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5, -0.5, 1e-45, -1e-45,
                    3.4e38, -3.4e38, 2.5, -2.5, 1e-30, 88.8, -88.8, 100.0, -100.0], np.float32)
UNARY = ["abs", "sign", "relu", "sigmoid", "tanh", "exp", "expm1", "log", "log1p", "log2",
         "log10", "sqrt", "rsqrt", "cbrt", "square", "reciprocal", "floor", "ceil", "round",
         "rint", "trunc", "fix", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh",
         "cosh", "arcsinh", "arccosh", "arctanh", "erf", "erfinv", "gamma", "gammaln",
         "softsign", "negative", "degrees", "radians", "logical_not"]
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "mod": lambda a, b: a % b, "pow": lambda a, b: a ** b,
          "maximum": nd.maximum, "minimum": nd.minimum, "hypot": nd.hypot,
          "arctan2": nd.arctan2, "eq": lambda a, b: a == b, "lt": lambda a, b: a < b,
          "ge": lambda a, b: a >= b, "logical_xor": nd.logical_xor}


def _agree(f, *args):
    eager = f(*args).asnumpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = mx.jit(f)(*args).asnumpy()
    same = (eager == compiled) | (np.isnan(eager) & np.isnan(compiled))
    close = np.isclose(eager, compiled, rtol=2e-6, atol=0, equal_nan=True)
    assert (same | close).all(), (eager[~(same | close)], compiled[~(same | close)])
    zeros = (eager == 0) & (compiled == 0)
    assert (np.signbit(eager[zeros]) == np.signbit(compiled[zeros])).all()
    assert (np.isinf(eager) == np.isinf(compiled)).all()


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_on_special_values(name):
    _agree(getattr(nd, name), nd.array(SPECIAL))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_on_every_pair_of_special_values(name):
    a = nd.array(np.repeat(SPECIAL, len(SPECIAL)))
    b = nd.array(np.tile(SPECIAL, len(SPECIAL)))
    _agree(BINARY[name], a, b)
