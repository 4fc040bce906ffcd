"""MXNet 1.9.1 makes a csr / row_sparse array from index arrays without checking their
values; `check_format()` reports the fault (MXNetError), and `data` / `indices` / `indptr`
are the arrays as given. Entries that land in the shape give the values (the last one
written wins); entries that cannot be placed leave the array without values."""
import numpy as np
import pytest

from tracegrad import nd
from tracegrad.base import MXNetError

DATA = [7.0, 8.0, 9.0]


@pytest.mark.parametrize("indices, indptr, fault", [
    ([0, 2, 1], [0, 5, 2, 3], "IndPtr"),          # indptr decreases
    ([1, 2, 1], [0, 2, 2, 4], "IndPtr"),          # ends past the data
    ([0, 2, 1], [0, -2, 2, 3], "IndPtr"),         # negative
    ([0, 4, 1], [0, 2, 2, 3], "Indices"),         # column 4 of 4 columns
])
def test_csr_with_unplaceable_entries_is_made_and_check_format_raises(indices, indptr, fault):
    a = nd.sparse.csr_matrix((DATA, indices, indptr), shape=(3, 4))
    assert a.stype == "csr" and a.shape == (3, 4)
    assert a.indptr.asnumpy().tolist() == indptr
    assert a.indices.asnumpy().tolist() == indices
    with pytest.raises(MXNetError, match=fault):
        a.check_format()
    for read in (a.asnumpy, a.copy, lambda: nd.abs(a), lambda: a * 2, lambda: a.tostype(
            "default")):
        with pytest.raises(MXNetError, match="no values"):
            read()


def test_csr_with_unsorted_columns_has_values_but_fails_check_format():
    a = nd.sparse.csr_matrix((DATA, [2, 1, 1], [0, 2, 2, 3]), shape=(3, 4))
    want = np.zeros((3, 4), np.float32)
    want[0, 2], want[0, 1], want[2, 1] = 7, 8, 9
    np.testing.assert_array_equal(a.asnumpy(), want)
    assert a.indices.asnumpy().tolist() == [2, 1, 1]        # as given, not re-sorted
    np.testing.assert_array_equal(a.data.asnumpy(), DATA)
    with pytest.raises(MXNetError, match="ascending order per row"):
        a.check_format()
    a.check_format(full_check=False)                        # (shapes only: fine)
    a[:] = nd.array(want)                                   # rewritten: a valid array
    a.check_format()
    assert a.indices.asnumpy().tolist() == [1, 2, 1]


@pytest.mark.parametrize("indices, placeable", [([1, 4], False), ([1, -2], False),
                                                ([1, 0], True)])
def test_row_sparse_index_faults(indices, placeable):
    rows = [[1.0, 2.0], [3.0, 4.0]]
    a = nd.sparse.row_sparse_array((rows, indices), shape=(3, 2))
    assert a.indices.asnumpy().tolist() == indices
    with pytest.raises(MXNetError, match="ascending order"):
        a.check_format()
    if placeable:
        want = np.zeros((3, 2), np.float32)
        want[indices] = rows
        np.testing.assert_array_equal(a.asnumpy(), want)
    else:
        with pytest.raises(MXNetError, match="no values"):
            a.asnumpy()


def test_valid_arrays_pass_check_format():
    nd.sparse.csr_matrix((DATA, [0, 2, 1], [0, 2, 2, 3]), shape=(3, 4)).check_format()
    nd.sparse.row_sparse_array(([[1.0, 2.0]], [2]), shape=(3, 2)).check_format()
    nd.sparse.zeros("csr", (2, 3)).check_format()
    nd.array(np.eye(3)).tostype("row_sparse").check_format()


def test_tostype_csr_of_a_non_2d_array_is_a_value_error():
    for shape in [(3,), (1, 1, 3)]:
        with pytest.raises(ValueError, match="2-d"):
            nd.ones(shape).tostype("csr")
