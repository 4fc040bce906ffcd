"""The dense values and the listed entries of MXNet's sparse layouts, built from their index
arrays with every index checked first: a user's csr_matrix / row_sparse_array arguments and
an MXNet file's sparse records (mxnet_format.py) go through the same checks. ValueError says
what is wrong; the caller says where."""
import numpy as np


def csr(shape, values, indptr, indices, ascending=False):
    """(dense, stored) of a csr layout: row i's values at the columns
    indices[indptr[i]:indptr[i + 1]] (with `ascending`, in ascending order within a row)."""
    if len(shape) != 2:
        raise ValueError(f"a csr array is 2-d, got shape {tuple(shape)}")
    n = len(indices)
    if values.ndim != 1 or indices.ndim != 1 or len(values) != n or \
            indptr.shape != (shape[0] + 1,):
        raise ValueError(f"{len(values)} values, {n} indices and an indptr of shape "
                         f"{indptr.shape} do not describe {shape[0]} rows")
    if indptr[0] != 0 or indptr[-1] != n or np.any(np.diff(indptr) < 0):
        raise ValueError(f"indptr must start at 0, not decrease and end at {n}, got "
                         f"{indptr.tolist()[:16]}")
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    if n and (indices.min() < 0 or indices.max() >= shape[1]):
        raise ValueError(f"column indices must lie in [0, {shape[1]})")
    if ascending and np.any((np.diff(indices) <= 0) & (np.diff(rows) == 0)):
        raise ValueError("column indices must be ascending within a row")
    return coordinates(shape, values, rows, indices, sum_duplicates=False)


def coordinates(shape, values, rows, cols, sum_duplicates):
    """(dense, stored) of a 2-d array holding values[k] at (rows[k], cols[k]): repeated
    coordinates summed (scipy's coo rule) or the last one kept."""
    if len(shape) != 2:
        raise ValueError(f"a csr array is 2-d, got shape {tuple(shape)}")
    if len(rows) and (rows.min() < 0 or rows.max() >= shape[0] or cols.min() < 0 or
                      cols.max() >= shape[1]):
        raise ValueError(f"an entry lies outside the shape {tuple(shape)}")
    dense = np.zeros(shape, values.dtype)
    if sum_duplicates:
        np.add.at(dense, (rows, cols), values)
    else:
        dense[rows, cols] = values
    stored = np.zeros(shape, bool)
    stored[rows, cols] = True
    return dense, stored


def row_sparse(shape, values, indices, ascending=False):
    """(dense, stored rows) of a row_sparse layout: values[k] is row indices[k] (unique; with
    `ascending`, in ascending order)."""
    if values.ndim < 1 or indices.ndim != 1 or values.shape[0] != len(indices) or \
            tuple(values.shape[1:]) != tuple(shape[1:]):
        raise ValueError(f"values of shape {values.shape} must hold one row per index "
                         f"({len(indices)}), each of shape {tuple(shape[1:])}")
    if len(indices) and (indices.min() < 0 or indices.max() >= shape[0]):
        raise ValueError(f"row indices must lie in [0, {shape[0]})")
    if ascending and np.any(np.diff(indices) <= 0):
        raise ValueError("row indices must be ascending")
    if len(np.unique(indices)) != len(indices):
        raise ValueError(f"row indices must not repeat, got {indices.tolist()[:16]}")
    dense = np.zeros(shape, values.dtype)
    dense[indices] = values
    stored = np.zeros(shape[0], bool)
    stored[indices] = True
    return dense, stored
