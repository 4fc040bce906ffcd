"""`mx.np.linalg`: norm as composites of registered ops; the rest over tracegrad.linalg."""
import numpy as onp

from ..array import F
from ..base import MXNetError
from .functions import _arr, _axes, _float, sqrt, sum
from .ndarray import as_np

__all__ = ["norm", "inv", "det", "slogdet"]


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (ord None/2, 1, inf, -inf, 0 or any p) over one axis, the Frobenius norm
    over two (ord None or 'fro'); axis None with ord None: the 2-norm of all elements."""
    x = _float(_arr("linalg.norm", x))
    if axis is None and ord is not None and x.ndim > 2:
        raise MXNetError(f"linalg.norm: improper number of dimensions to norm ({x.ndim}) for "
                         f"ord={ord!r}")
    axes = _axes("linalg.norm", axis, x.ndim)
    if ord is None or ord == "fro" and len(axes) == 2:
        return sqrt(sum(as_np(F.mul(x, x)), axis=axes, keepdims=keepdims))
    if len(axes) != 1:
        if axis is None and x.ndim == 1:
            axes = (0,)
        else:
            raise MXNetError(f"linalg.norm: ord={ord!r} over axes {axes}: only vector norms "
                             f"and the Frobenius norm are supported")
    a = F.abs(x)
    kd = bool(keepdims)
    if ord == onp.inf:
        return as_np(F.max(a, axes=axes, keepdims=kd))
    if ord == -onp.inf:
        return as_np(F.min(a, axes=axes, keepdims=kd))
    if ord == 0:
        return as_np(F.sum(F.cast(F.ne(x, 0), dtype=x.type.dtype), axes=axes, keepdims=kd))
    if ord == 1:
        return as_np(F.sum(a, axes=axes, keepdims=kd))
    if ord == 2:
        return sqrt(sum(as_np(F.mul(x, x)), axis=axes, keepdims=kd))
    if isinstance(ord, str):
        raise MXNetError(f"linalg.norm: invalid norm order {ord!r} for vectors")
    p = float(ord)
    return as_np(F.pow(F.sum(F.pow(a, p), axes=axes, keepdims=kd), 1.0 / p))


def inv(a):
    from .. import nd
    return as_np(nd.linalg.inverse(_float(_arr("linalg.inv", a))))


def det(a):
    from .. import nd
    return as_np(nd.linalg.det(_float(_arr("linalg.det", a))))


def slogdet(a):
    from .. import nd
    sign, logabs = nd.linalg.slogdet(_float(_arr("linalg.slogdet", a)))
    return as_np(sign), as_np(logabs)
