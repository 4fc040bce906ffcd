"""MXNet's `_square_sum` (mx.nd._internal._square_sum / mx.sym._internal._square_sum): the
sum of squares of a row_sparse array over axis 0 or 1, fused so a factorization machine's
`sum(v * v, axis=1)` of a row_sparse weight needs no dense square.

MXNet implements it for row_sparse input only: its storage inference dispatches nothing
else, so in a graph a dense input or an axis other than 0 / 1 is "Operator not implemented"
when bound (square_sum_stypes). Per row with keepdims (axis=1, keepdims=True) the result is
row_sparse over the input's rows; the other forms are dense. Values are computed densely
(sparse.py), so the nd form also takes a dense array (mxnet_compat.md).
"""
from . import nd
from .base import MXNetError


def _first_axis(axis):
    if axis is None or axis == ():
        return None
    if isinstance(axis, (tuple, list)):
        return int(axis[0])
    return int(axis)


def _out_stype(in_stype, axis, keepdims):
    """MXNet's SquareSumForwardInferStorageType: the result's storage type, or an error."""
    first = _first_axis(axis)
    if in_stype == "row_sparse" and first == 1 and keepdims:
        return "row_sparse"
    if in_stype == "row_sparse" and first in (0, 1):
        return "default"
    raise MXNetError(f"Operator not implemented: _square_sum with axis={axis!r}, "
                     f"keepdims={keepdims} on an input of storage type {in_stype!r} (MXNet "
                     f"implements it for a row_sparse input over axis 0 or 1)")


def square_sum_stypes(attrs, in_stypes):
    return [_out_stype(in_stypes[0], attrs.get("axis"), attrs.get("keepdims", False))]


def square_sum(data, axis=None, keepdims=False, exclude=False):
    """sum(data ** 2, axis, keepdims, exclude); a 2-d RowSparseNDArray gives MXNet's
    storage type (row_sparse per row with keepdims, else dense)."""
    from .sparse import RowSparseNDArray, _dense, _relabel
    if isinstance(data, RowSparseNDArray) and data.ndim != 2:
        raise MXNetError(f"_square_sum: expects a 2-d row_sparse array, got shape "
                         f"{tuple(data.shape)}")
    out = nd.sum(nd.square(_dense(data)), axis=axis, keepdims=keepdims, exclude=exclude)
    if isinstance(data, RowSparseNDArray) and \
            _out_stype("row_sparse", axis, keepdims) == "row_sparse":
        return _relabel(out, RowSparseNDArray, data._stored)
    return out
