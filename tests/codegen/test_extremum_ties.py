"""maximum / minimum and the ops lowered through them (relu, clip, a scalar bound) on ties of
+0 and -0 and on NaN, compiled against eager, bit for bit (the sign of a zero included).

MXNet's kernels (mshadow_op.h at 1.9.1) compute `isnan(a) ? a : (a > b ? a : b)`: a tie
gives the second operand, so relu(-0) is +0 and maximum(-0, +0) is +0, as numpy's eager
result. Compiled code kept the first operand on a tie before, giving -0."""
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
