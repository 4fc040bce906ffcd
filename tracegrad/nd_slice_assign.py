"""MXNet's internal region writes `_slice_assign` (alias `_crop_assign`) and
`_slice_assign_scalar` (alias `_crop_assign_scalar`): a copy of the input with the region
begin:end:step replaced by an array of exactly the region's shape, or by one number. MXNet
1.x code calls them through `nd._internal` with `out=` the input itself for an in-place write
(what `x.slice_assign(...)` does); here the result is a new array that `out=` copies back.

Built on array._scatter (concat + take), so it records, traces and differentiates: the
input's gradient is zero inside the region, the value's is the head gradient's region."""
import builtins

import numpy as np

from .array import NDArray, _scatter
from .base import MXNetError


def _region(op, shape, begin, end, step):
    """The index key of begin:end:step over the leading axes of `shape` (None entries: the
    whole axis in that direction), checked, and the shape it selects."""
    begin, end = tuple(begin), tuple(end)
    step = tuple(step or ())
    if len(begin) != len(end) or (step and len(step) != len(begin)):
        raise MXNetError(f"{op}: begin {begin}, end {end} and step {step} must have the same "
                         f"length")
    if len(begin) > len(shape):
        raise MXNetError(f"{op}: {len(begin)} axes given for data of shape {tuple(shape)}")
    step = step or (None,) * len(begin)
    if any(s == 0 for s in step):
        raise MXNetError(f"{op}: slice step cannot be zero, got step {step}")
    key = tuple(builtins.slice(b, e, s) for b, e, s in zip(begin, end, step))
    picked = tuple(len(range(*k.indices(n))) for k, n in zip(key, shape))
    return key, picked + tuple(shape[len(key):])


def slice_assign(lhs, rhs, begin, end, step=()):
    """lhs with lhs[begin:end:step] = rhs; rhs must have the region's shape and lhs's dtype
    (MXNet's shape and type checks: no broadcasting, no cast)."""
    key, region = _region("_slice_assign", lhs.shape, begin, end, step)
    if not isinstance(rhs, NDArray):
        raise MXNetError(f"_slice_assign: rhs must be an NDArray, got {type(rhs).__name__} "
                         f"(use _slice_assign_scalar for a number)")
    if tuple(rhs.shape) != region:
        raise MXNetError(f"_slice_assign: rhs of shape {tuple(rhs.shape)} does not match the "
                         f"region of shape {region} selected by begin {tuple(begin)}, end "
                         f"{tuple(end)}, step {tuple(step or ())} from lhs of shape "
                         f"{tuple(lhs.shape)}")
    if np.dtype(rhs.dtype) != np.dtype(lhs.dtype):
        raise MXNetError(f"_slice_assign: rhs dtype {np.dtype(rhs.dtype)} differs from lhs "
                         f"dtype {np.dtype(lhs.dtype)}")
    return _scatter(lhs, key, rhs)


def slice_assign_scalar(data, scalar=0.0, begin=None, end=None, step=()):
    """data with data[begin:end:step] = scalar (cast to data's dtype)."""
    if begin is None or end is None:
        raise MXNetError("_slice_assign_scalar: begin and end are required (MXNet's "
                         "parameters have no default)")
    key, _ = _region("_slice_assign_scalar", data.shape, begin, end, step)
    return _scatter(data, key, float(scalar))
