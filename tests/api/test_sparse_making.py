"""Making sparse arrays as MXNet 1.9.1's mx.nd.sparse does: ctx= places them, a shape=
that differs from the source's is a ValueError, a shape cannot be inferred from no indices,
mx.nd.array of a sparse array or scipy csr matrix is sparse, `_num_aux` counts the index
arrays, retain refuses dense data."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError

ONES = np.ones((3, 4))


@pytest.mark.parametrize("make", [nd.sparse.csr_matrix, nd.sparse.row_sparse_array])
def test_ctx_places_the_array(make):
    ctx = mx.cpu(1)
    for src in (ONES, nd.array(ONES), (3, 4)):
        a = make(src, ctx=ctx, dtype=np.int32)
        assert a.context == ctx and a.dtype == np.int32
        assert make(src).context == mx.current_context()
    b = make(ONES).as_in_context(ctx)
    assert b.context == ctx and b.stype == make(ONES).stype
    np.testing.assert_array_equal(b.asnumpy(), ONES)
    assert nd.sparse.zeros("csr", (2, 2), ctx=ctx).context == ctx


@pytest.mark.parametrize("make", [nd.sparse.csr_matrix, nd.sparse.row_sparse_array])
def test_a_shape_that_differs_from_the_source_is_a_value_error(make):
    with pytest.raises(ValueError, match="shape"):
        make(nd.ones((2, 2)), shape=(3, 2))
    with pytest.raises(ValueError, match="shape"):
        make((2, 2), shape=(3, 2))
    with pytest.raises(ValueError, match="shape"):
        make((np.int64(2), np.int32(2)), shape=(np.int32(3), 2))
    assert make((2, 2), shape=(2, 2)).shape == (2, 2)


def test_no_indices_to_infer_a_shape_from_is_a_value_error():
    with pytest.raises(ValueError, match="infer"):
        nd.sparse.csr_matrix((np.zeros(0), np.zeros(0), [0, 0, 0]))
    with pytest.raises(ValueError, match="infer"):
        nd.sparse.row_sparse_array((np.zeros((0, 3)), np.zeros(0)))
    a = nd.sparse.row_sparse_array(([[1.0, 2.0], [3.0, 4.0]], [0, 2]))
    assert a.shape == (3, 2)


def test_unknown_storage_type_is_a_value_error():
    with pytest.raises(ValueError, match="unknown storage type"):
        nd.sparse.zeros("coo", (2, 2))


def test_nd_array_of_sparse_sources_is_sparse():
    import scipy.sparse as spsp
    # duplicates and unsorted columns: summed and sorted, as MXNet's sparse.array does
    m = spsp.csr_matrix((np.array([1.0, 2, 3]), np.array([2, 0, 2]), np.array([0, 3, 3])),
                        shape=(2, 3))
    a = nd.array(m)
    assert a.stype == "csr" and a.dtype == np.float64
    assert a.indices.asnumpy().tolist() == [0, 2] and a.data.asnumpy().tolist() == [2, 4]
    assert a.indptr.asnumpy().tolist() == [0, 2, 2]
    r = nd.array(nd.array(ONES).tostype("row_sparse"), dtype=np.float16)
    assert r.stype == "row_sparse" and r.dtype == np.float16
    np.testing.assert_array_equal(r.asnumpy(), ONES)
    with pytest.raises(ValueError, match="mx.nd.array"):
        nd.sparse.array(ONES)


def test_num_aux():
    assert nd.sparse.zeros("csr", (2, 2))._num_aux == 2
    assert nd.sparse.zeros("row_sparse", (2, 2))._num_aux == 1


def test_retain_refuses_dense_data_and_unknown_keywords():
    with pytest.raises(MXNetError, match="RowSparseNDArray"):
        nd.sparse.retain(nd.ones((2, 2)), invalid_arg=1)
    a = nd.array([[1.0, 2], [3, 4], [5, 6]]).tostype("row_sparse")
    with pytest.raises(TypeError, match="invalid_arg"):
        nd.sparse.retain(a, nd.array([0]), invalid_arg=1)
    np.testing.assert_array_equal(nd.sparse.retain(a, indices=nd.array([2])).asnumpy(),
                                  [[0, 0], [0, 0], [5, 6]])
