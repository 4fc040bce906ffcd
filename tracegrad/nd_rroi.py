"""`nd.contrib.RROIAlign` (MXNet 1.9.1's src/operator/contrib/rroi_align.cc): ROIAlign over
rotated boxes. rois rows are (batch index, centre x, centre y, width, height, angle in
degrees), scaled by spatial_scale (width / height at least 1); each of the pooled bins of a box
averages data interpolated bilinearly at a grid of sample points (sampling_ratio per axis, or
ceil(box size / pooled size) when <= 0), rotated about the box centre. Points beyond
[-1, size] weigh nothing; points past the last pixel clamp to it, as MXNet's kernel.
A composite (sample positions, then four gathers), so it compiles; MXNet has no backward for
it, here the gradient reaches data (the boxes get none). Imported into `nd.contrib`.
"""
import math

import numpy as np

from .array import F
from .base import MXNetError
from .nd_roi import checked_roi_args, roi_columns
from .op_kwargs import redo as _redo

__all__ = ["RROIAlign"]


def _corner(x, flat_index, weight, r, c, p):
    """weight * x[r, :, flat_index] for (R, P) indices: (R, C, P)."""
    idx = F.broadcast_to(F.reshape(flat_index, shape=(r, 1, p)), shape=(r, c, p))
    return F.mul(F.take_along_axis(x, idx, axis=2), F.reshape(weight, shape=(r, 1, p)))


def RROIAlign(data, rois, pooled_size=None, spatial_scale=None, sampling_ratio=-1, **kwargs):
    """out (R, C, pooled_h, pooled_w): the mean over each bin's rotated sample grid of data
    interpolated bilinearly at the points."""
    if kwargs:
        return _redo(RROIAlign, locals())
    ph_n, pw_n = checked_roi_args("RROIAlign", data, rois, pooled_size, spatial_scale, 6,
                                  " (batch index, x, y, w, h, theta)")
    if np.dtype(data.dtype).kind != "f":
        raise MXNetError(f"RROIAlign: data must be floating point, got {data.dtype}")
    n, c, h, w = data.shape
    r = rois.shape[0]
    dtype = data.type.dtype
    col = roi_columns(rois, dtype)
    scale = float(spatial_scale)
    cx, cy = F.mul(col(1), scale), F.mul(col(2), scale)
    rw = F.maximum(F.mul(col(3), scale), 1.0)
    rh = F.maximum(F.mul(col(4), scale), 1.0)
    theta = F.mul(col(5), math.pi / 180.0)
    bw, bh = F.div(rw, float(pw_n)), F.div(rh, float(ph_n))
    if sampling_ratio > 0:
        gw = gh = F.constant(value=float(sampling_ratio), shape=(r,), dtype=dtype)
        gw_max = gh_max = int(sampling_ratio)
    else:
        gw, gh = F.neg(F.floor(F.neg(bw))), F.neg(F.floor(F.neg(bh)))   # ceil
        # the largest count fixes the sample grid's shape: a concrete value (a guard)
        gw_max = max(int(F.max(gw, axes=(0,)).asscalar()), 1) if r else 1
        gh_max = max(int(F.max(gh, axes=(0,)).asscalar()), 1) if r else 1

    def grid(axis_len, count, count_max, bin_size, start):
        """(R, pooled, G) positions along one axis before rotation, and which are used."""
        k = F.cast(F.iota(shape=(1, axis_len, 1), axis=1), dtype=dtype)
        i = F.cast(F.iota(shape=(1, 1, count_max), axis=2), dtype=dtype)
        g = F.reshape(count, shape=(r, 1, 1))
        step = F.reshape(bin_size, shape=(r, 1, 1))
        pos = F.add(F.add(F.reshape(start, shape=(r, 1, 1)), F.mul(k, step)),
                    F.div(F.mul(F.add(i, 0.5), step), g))
        return pos, F.lt(i, g)
    yy, used_y = grid(ph_n, gh, gh_max, bh, F.div(rh, -2.0))           # (R, PH, GH)
    xx, used_x = grid(pw_n, gw, gw_max, bw, F.div(rw, -2.0))           # (R, PW, GW)
    shape5 = (r, ph_n, pw_n, gh_max, gw_max)
    yy = F.broadcast_to(F.reshape(yy, shape=(r, ph_n, 1, gh_max, 1)), shape=shape5)
    xx = F.broadcast_to(F.reshape(xx, shape=(r, 1, pw_n, 1, gw_max)), shape=shape5)
    used = F.where(F.reshape(used_y, shape=(r, 1, 1, gh_max, 1)),
                   F.reshape(used_x, shape=(r, 1, 1, 1, gw_max)), False)
    cos_t = F.reshape(F.cos(theta), shape=(r, 1, 1, 1, 1))
    sin_t = F.reshape(F.sin(theta), shape=(r, 1, 1, 1, 1))
    x = F.add(F.add(F.mul(xx, cos_t), F.mul(yy, sin_t)), F.reshape(cx, shape=(r, 1, 1, 1, 1)))
    y = F.add(F.sub(F.mul(yy, cos_t), F.mul(xx, sin_t)), F.reshape(cy, shape=(r, 1, 1, 1, 1)))
    inside = F.where(F.where(F.ge(y, -1.0), F.le(y, float(h)), False),
                     F.where(F.ge(x, -1.0), F.le(x, float(w)), False), False)
    keep = F.cast(F.where(used, inside, False), dtype=dtype)

    def axis_parts(v, size):
        v = F.maximum(v, 0.0)
        low = F.floor(v)
        last = F.ge(low, float(size - 1))
        low = F.where(last, float(size - 1), low)
        frac = F.where(last, 0.0, F.sub(v, low))
        high = F.where(last, low, F.add(low, 1.0))
        return low, high, frac
    y_lo, y_hi, ly = axis_parts(y, h)
    x_lo, x_hi, lx = axis_parts(x, w)
    hy, hx = F.sub(1.0, ly), F.sub(1.0, lx)
    p = ph_n * pw_n * gh_max * gw_max
    flat = (lambda a, b: F.reshape(F.cast(F.add(F.mul(a, float(w)), b), dtype="i64"),
                                   shape=(r, p)))
    weight = (lambda a, b: F.reshape(F.mul(F.mul(a, b), keep), shape=(r, p)))
    index = F.cast(col(0), dtype="i64")
    valid = F.where(F.ge(index, 0), F.lt(index, n), False)
    src = F.reshape(F.take(data, F.maximum(F.minimum(index, n - 1), 0), axis=0),
                    shape=(r, c, h * w))
    total = _corner(src, flat(y_lo, x_lo), weight(hy, hx), r, c, p)
    for a, b, wa, wb in ((y_lo, x_hi, hy, lx), (y_hi, x_lo, ly, hx), (y_hi, x_hi, ly, lx)):
        total = F.add(total, _corner(src, flat(a, b), weight(wa, wb), r, c, p))
    sums = F.sum(F.reshape(total, shape=(r, c, ph_n, pw_n, gh_max * gw_max)), axes=(4,))
    out = F.div(sums, F.reshape(F.mul(gh, gw), shape=(r, 1, 1, 1)))
    return F.where(F.reshape(valid, shape=(r, 1, 1, 1)), out, 0.0)
