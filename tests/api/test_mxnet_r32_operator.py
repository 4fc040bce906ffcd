"""Operator behaviours MXNet 1.9.1's test_operator.py relies on (round 32): the internal
`_backward_gather_nd` operator that test_scatter_gather_nd calls directly."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "float32", "float64"])
def test_backward_gather_nd_sums_repeated_positions(dtype):
    """MXNet's documented example: positions named twice add up; int64 sums stay exact."""
    data = nd.array([2, 3, 0], dtype=dtype)
    idx = nd.array([[1, 1, 0], [1, 1, 0]], dtype="int32")
    out = nd._internal._backward_gather_nd(data, idx, shape=(2, 2))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.asnumpy(), [[0, 0], [0, 5]])
    if dtype == "int64":
        big = np.array([2123162361283621, -31231236374787, -112372937128970,
                        -1378278798172378], dtype=np.int64)
        got = nd._internal._backward_gather_nd(nd.array(big, dtype=dtype),
                                               nd.array([[0, 0, 0, 0]], dtype="int32"),
                                               shape=(1,))
        assert got.asscalar() == big.sum()


def test_backward_gather_nd_is_gather_nd_gradient():
    """Its result equals the gradient gather_nd gives its data for the same head gradient."""
    x = nd.arange(360).reshape((3, 4, 5, 6))
    idx = nd.array([[1, 1, 2], [3, 3, 0], [3, 2, 1], [5, 2, 4]], dtype="int32")
    x.attach_grad()
    with mx.autograd.record():
        y = nd.gather_nd(x, idx)
    y.backward(y)
    want = np.zeros((3, 4, 5, 6), dtype=np.float32)
    np.add.at(want, tuple(idx.asnumpy().astype(int)), y.asnumpy())
    got = nd._internal._backward_gather_nd(y, idx, shape=x.shape)
    np.testing.assert_array_equal(got.asnumpy(), want)
    np.testing.assert_array_equal(x.grad.asnumpy(), want)
