"""`mx.np._internal`: the internal numpy ops MXNet 1.9.1's tests call by name (as F.np._internal
in a HybridBlock); composites of the public functions."""
import numpy as onp

from ..base import MXNetError
from .ndarray import dtype_of, ndarray

__all__ = ["boolean_mask_assign_scalar", "boolean_mask_assign_tensor"]


def _assign(fname, data, mask, value, start_axis, out):
    if not isinstance(data, ndarray) or not isinstance(mask, ndarray):
        raise MXNetError(f"{fname}: data and mask must be mx.np arrays, got "
                         f"{type(data).__name__} and {type(mask).__name__}")
    if dtype_of(mask) != onp.bool_:
        raise MXNetError(f"{fname}: mask must be a bool array, got {dtype_of(mask).name}")
    start_axis = int(start_axis)
    if start_axis < 0 or start_axis + mask.ndim > data.ndim or \
            data.shape[start_axis:start_axis + mask.ndim] != mask.shape:
        raise MXNetError(f"{fname}: mask of shape {mask.shape} does not match data of shape "
                         f"{data.shape} at start_axis={start_axis}")
    res = data if out is data else data.copy()
    res[(slice(None),) * start_axis + (mask,)] = value
    if out is not None and out is not res:
        out[:] = res
        return out
    return res


def boolean_mask_assign_scalar(data, mask, value, start_axis=0, out=None):
    """data with the positions mask selects (mask's axes starting at start_axis) set to the
    number value; out=data writes in place (MXNet's _npi_boolean_mask_assign_scalar)."""
    return _assign("boolean_mask_assign_scalar", data, mask, float(value), start_axis, out)


def boolean_mask_assign_tensor(data, mask, value, start_axis=0, out=None):
    """data with the positions mask selects set from value (one row per selected position, or
    broadcast to them); out=data writes in place (_npi_boolean_mask_assign_tensor)."""
    return _assign("boolean_mask_assign_tensor", data, mask, value, start_axis, out)
