"""MXNet 1.9.1's legacy NDArray functions fill_element_0index and onehot_encode (what
example/profiler/profiler_ndarray.py checks), against numpy statements of their kernels."""
import numpy as np
import pytest

import tracegrad as mx


def test_fill_element_0index_sets_one_element_per_row_in_a_copy():
    rs = np.random.RandomState(0)
    lhs = rs.randn(5, 4).astype(np.float32)
    val = rs.randn(5).astype(np.float32)
    idx = np.array([3, 0, 2.7, 7, -1])               # 2.7 truncates to 2; 7 and -1: no column
    got = mx.nd.fill_element_0index(mx.nd.array(lhs), mx.nd.array(val), mx.nd.array(idx))
    want = lhs.copy()
    for i, j in enumerate(idx.astype(np.int64)):
        if 0 <= j < 4:
            want[i, j] = val[i]
    np.testing.assert_array_equal(got.asnumpy(), want)
    out = mx.nd.zeros((5, 4))
    assert mx.nd.fill_element_0index(mx.nd.array(lhs), mx.nd.array(val), mx.nd.array(idx),
                                     out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), want)
    with pytest.raises(mx.MXNetError, match="fill_element_0index"):
        mx.nd.fill_element_0index(mx.nd.array(lhs), mx.nd.array(val[:3]), mx.nd.array(idx))


def test_onehot_encode_writes_the_rows_into_out():
    out = mx.nd.array(np.arange(15).reshape(5, 3))
    idx = np.array([2, 0, 1, 5, 1.5])                # 5 and 1.5 are no column: zero rows
    assert mx.nd.onehot_encode(mx.nd.array(idx), out) is out
    want = (np.arange(3)[None, :] == idx[:, None]).astype(np.float32)
    np.testing.assert_array_equal(out.asnumpy(), want)
    with pytest.raises(mx.MXNetError, match="onehot_encode"):
        mx.nd.onehot_encode(mx.nd.array([1, 2]), out)
