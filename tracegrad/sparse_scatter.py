"""MXNet's "scatter" operators (elemwise_scatter_op.cc), reached as mx.nd._internal / mx.sym
._internal._scatter_*: on a sparse left operand they compute its stored entries only and
keep its storage type, the missing entries staying 0; on dense operands they are the plain
operator.

- _scatter_elemwise_div(lhs, rhs): row_sparse lhs -> row_sparse with lhs's rows (lhs / rhs
  there, whatever rhs stores); other storage types: elemwise_div, dense.
- _scatter_plus_scalar / _scatter_minus_scalar(data, scalar): csr / row_sparse keep their
  type, the scalar added to (subtracted from) the stored entries only.

Gradients are MXNet's: _backward_div for the division (sparse_kernels' stored-entry
product), the head gradient itself (_copy) for the scalar ops.
"""
import numpy as np

from . import nd
from .array import NDArray
from .base import MXNetError


def _check(op, lhs, rhs):
    if not (isinstance(lhs, NDArray) and isinstance(rhs, NDArray)):
        raise MXNetError(f"{op}: expects two NDArrays, got {type(lhs).__name__} and "
                         f"{type(rhs).__name__}")
    if tuple(lhs.shape) != tuple(rhs.shape):
        raise MXNetError(f"{op}: operands of shapes {tuple(lhs.shape)} and "
                         f"{tuple(rhs.shape)} differ")


def scatter_elemwise_div(lhs, rhs):
    """lhs / rhs; a row_sparse lhs: at its stored rows only, a row_sparse result."""
    from .sparse import _dense
    from .sparse_kernels import _stored_entries
    _check("_scatter_elemwise_div", lhs, rhs)
    if getattr(lhs, "stype", "default") == "row_sparse":
        return _stored_entries(nd.divide, lhs, _dense(rhs), True)
    return nd.elemwise_div(_dense(lhs), _dense(rhs))


def _scalar_op(name, sign):
    def op(data, scalar=0.0):
        from .sparse import _CLASS, _dense, _relabel
        from .sparse_kernels import _keep, _listing
        if not isinstance(data, NDArray):
            raise MXNetError(f"{name}: expects an NDArray, got {type(data).__name__}")
        x = _dense(data)
        step = float(np.float64(scalar)) * sign
        if data.stype == "default":
            return x + step
        keep = _keep(data)
        if tuple(keep.shape) != tuple(x.shape):
            keep = nd.broadcast_to(keep, tuple(x.shape))
        out = x + nd.where(keep, nd.ones_like(x) * step, nd.zeros_like(x))
        return _relabel(out, _CLASS[data.stype], _listing(data))
    op.__name__ = name
    op.__doc__ = (f"data {'+' if sign > 0 else '-'} scalar; csr / row_sparse data: at its "
                  f"stored entries only, its storage type kept.")
    return op


scatter_plus_scalar = _scalar_op("_scatter_plus_scalar", 1.0)
scatter_minus_scalar = _scalar_op("_scatter_minus_scalar", -1.0)
