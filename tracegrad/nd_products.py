"""`nd.khatri_rao` (MXNet 1.9.1): the column-wise Kronecker product of matrices, written as
broadcast products and reshapes, so it traces, compiles and differentiates (MXNet registers
no gradient for it). Imported into `nd`.
"""
from .array import F
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["khatri_rao"]


def khatri_rao(*args, **kwargs):
    """For matrices A_1 (M_1 x N), ..., A_n (M_n x N): the (M_1 ... M_n) x N matrix whose
    column k is the Kronecker product of the columns k, row (i_1, ..., i_n) in row-major
    order holding A_1[i_1, k] * ... * A_n[i_n, k]."""
    if kwargs:
        return _redo(khatri_rao, locals())
    if not args:
        raise MXNetError("khatri_rao: needs at least one input matrix")
    shapes = [tuple(a.shape) for a in args]
    if any(len(s) != 2 for s in shapes) or len({s[1] for s in shapes}) != 1:
        raise MXNetError(f"khatri_rao: inputs must be matrices with the same number of "
                         f"columns, got shapes {shapes}")
    out = args[0]
    for a in args[1:]:
        rows, n = out.shape[0], out.shape[1]
        prod = F.mul(F.reshape(out, shape=(rows, 1, n)), F.reshape(a, shape=(1, a.shape[0], n)))
        out = F.reshape(prod, shape=(rows * a.shape[0], n))
    if len(args) == 1:
        out = F.cast(out, dtype=out.type.dtype)   # a new array
    return out
