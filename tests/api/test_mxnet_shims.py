"""Small MXNet 1.x names real programs reach for: mx.base's type tuples, mx.util's mode
queries, mx.engine's bulk size, mx.nd.ndarray.NDArray, nd.contrib.div_sqrt_dim."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def test_type_tuples_and_mode_queries():
    assert isinstance(3, mx.base.numeric_types) and isinstance(np.float32(1), mx.base.numeric_types)
    assert isinstance(np.int64(2), mx.base.integer_types)
    assert not isinstance(2.0, mx.base.integer_types)
    assert isinstance("x", mx.base.string_types)
    assert mx.util.is_np_array() is False and mx.util.is_np_shape() is False
    assert mx.nd.ndarray.NDArray is mx.nd.NDArray


def test_bulk_size_is_kept_and_restored():
    prev = mx.engine.set_bulk_size(30)
    assert mx.engine.set_bulk_size(prev) == 30
    with mx.engine.bulk(5):
        assert mx.engine.set_bulk_size(5) == 5
    assert mx.engine.set_bulk_size(prev) == prev
    with pytest.raises(ValueError, match="non-negative integer"):
        mx.engine.set_bulk_size(-1)


def test_div_sqrt_dim_eager_compiled_and_in_gradient():
    x = nd.array(np.random.RandomState(0).randn(2, 3, 16))
    np.testing.assert_allclose(nd.contrib.div_sqrt_dim(x).asnumpy(), x.asnumpy() / 4.0,
                               rtol=1e-6)
    np.testing.assert_allclose(mx.jit(nd.contrib.div_sqrt_dim)(x).asnumpy(),
                               x.asnumpy() / 4.0, rtol=1e-6)
    x.attach_grad()
    with mx.autograd.record():
        y = nd.sum(nd.contrib.div_sqrt_dim(x))
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 0.25, rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="div_sqrt_dim: data must have at least one axis"):
        nd.contrib.div_sqrt_dim(nd.array(3.0))
