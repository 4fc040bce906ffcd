"""take of a csr along axis 0 in mode 'clip' / 'wrap' is csr (MXNet 1.9.1's
TakeOpForwardStorageType); nd.contrib.getnnz counts a csr's stored entries; FullyConnected
takes a (num_hidden, 1) bias as MXNet's shape inference does (sparse.FullyConnected too)."""
import numpy as np
import pytest

from tracegrad import autograd, nd
from tracegrad.base import MXNetError

V = np.array([[0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 0, 0]], np.float32)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_take_of_csr_rows_is_csr(mode):
    idx = np.array([2, 0, -1, 5, 1])
    out = nd.take(nd.array(V).tostype("csr"), nd.array(idx), mode=mode)
    want = np.take(V, idx, axis=0, mode=mode)
    assert out.stype == "csr"
    np.testing.assert_array_equal(out.asnumpy(), want)
    assert out.indptr.asnumpy().tolist() == [0] + np.cumsum((want != 0).sum(1)).tolist()


def test_take_that_is_not_a_csr_row_gather_is_dense():
    x = nd.array(V).tostype("csr")
    for out in (nd.take(x, nd.array([1, 0]), mode="raise"), nd.take(x, nd.array([1]), axis=1),
                nd.take(x, nd.array([[1, 0]])), nd.take(nd.array(V), nd.array([1]))):
        assert out.stype == "default"
    np.testing.assert_array_equal(nd.take(x, nd.array([1]), axis=1).asnumpy(), V[:, [1]])


def test_getnnz_counts_stored_entries():
    # an explicit zero stored at (0, 1) counts, as in MXNet
    x = nd.sparse.csr_matrix(([1.0, 0.0, 2.0], [0, 1, 3], [0, 2, 2, 3]), shape=(3, 4))
    total = nd.contrib.getnnz(x)
    assert total.dtype == np.int64 and total.asnumpy().tolist() == [3]
    rows = nd.contrib.getnnz(x, axis=1)
    assert rows.dtype == np.int64 and rows.asnumpy().tolist() == [2, 0, 1]
    y = nd.array(V).tostype("csr")
    assert nd.contrib.getnnz(y, axis=1).asnumpy().tolist() == (V != 0).sum(1).tolist()
    with pytest.raises(MXNetError, match="axis=0"):
        nd.contrib.getnnz(x, axis=0)
    with pytest.raises(MXNetError, match="CSRNDArray"):
        nd.contrib.getnnz(nd.array(V))


def test_fully_connected_takes_a_column_bias():
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(5, 3), (4, 3), (4,)])
    want = x @ w.T + b
    got = nd.FullyConnected(nd.array(x), nd.array(w), nd.array(b[:, None]), num_hidden=4)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)
    rsp = nd.array(b[:, None]).tostype("row_sparse")
    got = nd.sparse.FullyConnected(nd.array(x).tostype("csr"), nd.array(w).tostype(
        "row_sparse"), num_hidden=4, bias=rsp)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)
    bias = nd.array(b[:, None])
    bias.attach_grad()
    with autograd.record():
        y = nd.FullyConnected(nd.array(x), nd.array(w), bias, num_hidden=4)
    y.backward()
    np.testing.assert_allclose(bias.grad.asnumpy(), np.full((4, 1), 5.0), rtol=1e-6)
    with pytest.raises(MXNetError, match="bias"):
        nd.FullyConnected(nd.array(x), nd.array(w), nd.ones((4, 2)), num_hidden=4)
