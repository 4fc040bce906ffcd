"""Sparse arrays made from index arrays that break MXNet's format, and `check_format`.

MXNet's csr_matrix((data, indices, indptr)) and row_sparse_array((data, indices)) copy the
index arrays in without looking at their values; `x.check_format()` is where a decreasing
indptr, an out-of-range or unsorted column (row) index is reported (CheckFormatCSRImpl /
CheckFormatRSPImpl, an MXNetError). So these are made here too: the array keeps the index
arrays as given (`Raw`: its `data`, `indices`, `indptr` are those, as MXNet's are) and the
message check_format raises. Its values are the entries' where each lands in the shape (an
unsorted row, a repeated index: the last one written, as MXNet's cast to dense does); where
they do not (an indptr that points outside the data, an index outside the shape) MXNet reads
outside its buffers, so reading this array's values raises that message instead.
"""
import numpy as np

CSR_INDPTR = ("IndPtr of csr NDArray should be non-negative, in non-decreasing order, start "
              "with 0, and end with value equal with size of indices.")
CSR_INDICES = ("Indices of csr NDArray should be non-negative, in ascending order per row "
               "and less than the number of columns.")
RSP_INDICES = ("Indices of row_sparse NDArray should be non-negative, less than the size of "
               "first dimension and in ascending order")


class Raw:
    """The index arrays a sparse array was made with, MXNet's fault in them, and whether its
    entries could be placed (`dense`: their values then, else None)."""
    __slots__ = ("data", "aux", "fault", "dense")

    def __init__(self, data, aux, fault, dense):
        self.data, self.aux, self.fault, self.dense = data, aux, fault, dense


def csr(shape, values, indptr, indices):
    """Raw of a csr definition MXNet's full check refuses, or None (a valid one)."""
    n = len(indices)
    if indptr[0] != 0 or indptr[-1] != n or np.any(indptr < 0) or np.any(np.diff(indptr) < 0):
        return Raw(values, (indptr, indices), CSR_INDPTR, None)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    inside = n == 0 or (indices.min() >= 0 and indices.max() < shape[1])
    if inside and not np.any((np.diff(indices) <= 0) & (np.diff(rows) == 0)):
        return None
    dense = None
    if inside:
        dense = np.zeros(shape, values.dtype)
        for r, c, v in zip(rows, indices, values):      # (in order: the last one stays)
            dense[r, c] = v
    return Raw(values, (indptr, indices), CSR_INDICES, dense)


def row_sparse(shape, values, indices):
    """Raw of a row_sparse definition MXNet's full check refuses, or None."""
    inside = len(indices) == 0 or (indices.min() >= 0 and indices.max() < shape[0])
    if inside and not np.any(np.diff(indices) <= 0):
        return None
    dense = None
    if inside:
        dense = np.zeros(shape, values.dtype)
        for r, v in zip(indices, values):
            dense[r] = v
    return Raw(values, (indices,), RSP_INDICES, dense)
