"""More of `mx.nd`'s neural-network operators under MXNet 1.9.1 names: softmin. Each is a
composite of registry primitives, so it records, compiles and differentiates to any order.
Imported into `nd`.
"""
import numpy as np

from .array import F
from .base import MXNetError
from .ir import composites as C
from .ir.types import dtype_name

__all__ = ["softmin"]


def softmin(data, axis=-1, temperature=None, dtype=None, use_length=False, **kwargs):
    """softmax(-data / temperature) along `axis` (MXNet's softmin); `dtype` ('float32' or
    'float64') is the result's dtype (computed in it)."""
    from .nd import _as_float
    if use_length:
        raise MXNetError("softmin: use_length=True is not supported (no length input)")
    if not -data.ndim <= int(axis) < data.ndim:
        raise MXNetError(f"softmin: axis {axis} is out of range for input of shape "
                         f"{data.shape}")
    x = _as_float(data)
    if dtype is not None:
        x = F.cast(x, dtype=dtype_name(np.dtype(dtype)))
    return C.softmax(F, F.neg(x), axis=int(axis), temperature=temperature)
