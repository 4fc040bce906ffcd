"""`nd.contrib.PSROIPooling` (MXNet 1.9.1's src/operator/contrib/psroi_pooling.cc, R-FCN's
position-sensitive ROI pooling): bin (ph, pw) of box r averages, over the bin's pixels, the
channel group (gh, gw) of its output channel, where the group_size x group_size groups tile
the pooled_size x pooled_size bins. Bins as MXNet's CPU kernel places them (box corners
rounded, then scaled; bins floor / ceil'ed in the data's dtype and clipped to the map; an empty
bin gives 0). A composite: each bin's pixels are 0/1 row and column masks, the sums two
batched products, so it compiles and differentiates (the boxes get no gradient, as in MXNet).
Imported into `nd.contrib`.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .nd_roi import _round, roi_columns
from .op_kwargs import redo as _redo

__all__ = ["PSROIPooling"]


def _masks(start, end, n, pooled, size, dtype):
    """(R, pooled, size) 0/1 masks of each bin's pixels along one axis, and the (R, pooled)
    pixel counts. start / end: (R,) scaled box edges."""
    extent = F.maximum(F.sub(end, start), 0.1)                       # (too small: 0.1)
    step = F.reshape(F.div(extent, float(pooled)), shape=(n, 1))
    k = F.cast(F.iota(shape=(1, pooled), axis=1), dtype=dtype)
    origin = F.reshape(start, shape=(n, 1))
    lo = F.floor(F.add(F.mul(k, step), origin))
    hi = F.neg(F.floor(F.neg(F.add(F.mul(F.add(k, 1.0), step), origin))))
    clip = (lambda v: F.minimum(F.maximum(v, 0.0), float(size)))
    lo, hi = clip(lo), clip(hi)                                      # (R, pooled)
    ramp = F.cast(F.iota(shape=(1, 1, size), axis=2), dtype=dtype)
    inside = F.where(F.ge(ramp, F.expand_dims(lo, axis=2)),
                     F.lt(ramp, F.expand_dims(hi, axis=2)), False)
    return F.cast(inside, dtype=dtype), F.maximum(F.sub(hi, lo), 0.0)


def check_roi_inputs(op, data, rois):
    """MXNet's checks of a position-sensitive ROI pooling's data (N, C, H, W) and rois
    (R, 5), with `op`'s name in the message."""
    if not isinstance(data, NDArray) or not isinstance(rois, NDArray):
        raise MXNetError(f"{op}: data and rois must be NDArrays")
    if data.ndim != 4:
        raise MXNetError(f"{op}: data should be a 4D tensor, got shape {data.shape}")
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise MXNetError(f"{op}: bbox should be a 2D tensor of shape [batch, 5], got "
                         f"{rois.shape}")
    if data.dtype != rois.dtype or np.dtype(data.dtype).kind != "f":
        raise MXNetError(f"{op}: data and rois must share one floating point dtype, got "
                         f"{data.dtype} and {rois.dtype}")


def PSROIPooling(data, rois, spatial_scale=None, output_dim=None, pooled_size=None,
                 group_size=0, **kwargs):
    """out[r, k, ph, pw] (R, output_dim, pooled_size, pooled_size): the mean of
    data[batch(r), (k * g + gh) * g + gw] over bin (ph, pw) of box r, with g = group_size
    (pooled_size when 0), gh = ph * g // pooled_size, gw likewise; rois rows are
    (batch index, x1, y1, x2, y2) in input pixels, scaled by spatial_scale."""
    if kwargs:
        return _redo(PSROIPooling, locals())
    if spatial_scale is None or output_dim is None or pooled_size is None:
        raise MXNetError("PSROIPooling: spatial_scale, output_dim and pooled_size are "
                         "required")
    check_roi_inputs("PSROIPooling", data, rois)
    od, p = int(output_dim), int(pooled_size)
    g = int(group_size) or p
    if od < 1 or p < 1 or g < 1:
        raise MXNetError(f"PSROIPooling: output_dim, pooled_size and group_size must be "
                         f"positive, got {output_dim}, {pooled_size}, {group_size}")
    n, c, h, w = data.shape
    if c < od * g * g:
        raise MXNetError(f"PSROIPooling: data of shape {data.shape} has {c} channels, "
                         f"output_dim * group_size^2 = {od * g * g} are read")
    r = rois.shape[0]
    dtype = data.type.dtype
    col = roi_columns(rois)

    def edge(i, plus):
        v = _round(col(i))
        return F.mul(F.add(v, 1.0) if plus else v, float(spatial_scale))
    col_masks, col_counts = _masks(edge(1, False), edge(3, True), r, p, w, dtype)
    row_masks, row_counts = _masks(edge(2, False), edge(4, True), r, p, h, dtype)
    index = F.cast(col(0), dtype="i64")                              # (C's truncation)
    valid = F.where(F.ge(index, 0), F.lt(index, n), False)           # (R,)
    x = F.take(data, F.maximum(F.minimum(index, n - 1), 0), axis=0)  # (R, C, H, W)
    if c != od * g * g:
        x = F.slice(x, begin=(0, 0, 0, 0), end=(r, od * g * g, h, w), step=(1, 1, 1, 1))
    # sums over each bin's columns, then rows: (R, C*H, W) @ (R, W, P) -> (R, C, H, P) ...
    s = F.matmul(F.reshape(x, shape=(r, od * g * g * h, w)), col_masks, transpose_b=True)
    s = F.transpose(F.reshape(s, shape=(r, od * g * g, h, p)), perm=(0, 1, 3, 2))
    s = F.matmul(F.reshape(s, shape=(r, od * g * g * p, h)), row_masks, transpose_b=True)
    s = F.reshape(s, shape=(r, od, g * g * p * p))    # [gh, gw, pw, ph] per output channel
    groups = [min(max(int(np.floor(b * g / p)), 0), g - 1) for b in range(p)]
    picks = np.array([((groups[ph] * g + groups[pw]) * p + pw) * p + ph
                      for ph in range(p) for pw in range(p)], np.int64)
    out = F.reshape(F.take(s, picks, axis=2), shape=(r, od, p, p))
    area = F.mul(F.reshape(row_counts, shape=(r, 1, p, 1)),
                 F.reshape(col_counts, shape=(r, 1, 1, p)))          # (R, 1, P, P)
    keep = F.where(F.reshape(valid, shape=(r, 1, 1, 1)), F.gt(area, 0.0), False)
    return F.where(keep, F.div(out, F.maximum(area, 1.0)), 0.0)
