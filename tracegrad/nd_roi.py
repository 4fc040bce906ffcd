"""`nd.ROIPooling` (MXNet 1.9.1): max pooling of NCHW features over each region of interest,
split into pooled_size bins, as MXNet's CPU kernel places them (rounded box corners, bins
floor/ceil'ed and clipped to the map, empty bins and bad batch indices give 0). A composite:
the bins are masks over rows and columns (one masked max per bin column, then per bin row),
so it compiles and differentiates (the gradient reaches the maximum of each bin; the boxes
get none, as in MXNet). Imported into `nd`.
"""
import numpy as np

from .array import F
from .base import MXNetError

__all__ = ["ROIPooling"]


def _round(x):
    """C's round (halves away from zero) of a float array: nd.round."""
    from .nd import round as round_half_away
    return round_half_away(x)


def _bins(start, end, n, pooled, limit):
    """(R, pooled) clipped starts and ends of the bins along one axis."""
    size = F.maximum(F.add(F.sub(end, start), 1.0), 1.0)            # (R,)
    step = F.div(size, float(pooled))
    k = F.cast(F.iota(shape=(1, pooled), axis=1), dtype=start.type.dtype)
    lo = F.add(F.floor(F.mul(k, F.reshape(step, shape=(n, 1)))), F.reshape(start, shape=(n, 1)))
    hi = F.add(F.neg(F.floor(F.neg(F.mul(F.add(k, 1.0), F.reshape(step, shape=(n, 1)))))),
               F.reshape(start, shape=(n, 1)))
    clip = (lambda v: F.minimum(F.maximum(v, 0.0), float(limit)))
    return clip(lo), clip(hi)


def ROIPooling(data, rois, pooled_size=None, spatial_scale=None, **kwargs):
    """out[r, c, ph, pw] = max of data[batch(r), c] over bin (ph, pw) of box r, where
    rois[r] = (batch index, x1, y1, x2, y2) in input pixels scaled by spatial_scale."""
    if pooled_size is None or spatial_scale is None:
        raise MXNetError("ROIPooling: pooled_size and spatial_scale are required")
    ph_n, pw_n = ((int(pooled_size),) * 2 if isinstance(pooled_size, (int, np.integer))
                  else tuple(int(v) for v in pooled_size))
    if data.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 5:
        raise MXNetError(f"ROIPooling: data must be (N, C, H, W) and rois (R, 5), got data "
                         f"{data.shape} and rois {rois.shape}")
    if ph_n < 1 or pw_n < 1:
        raise MXNetError(f"ROIPooling: pooled_size must be positive, got {pooled_size}")
    n, c, h, w = data.shape
    r = rois.shape[0]
    dtype = data.type.dtype
    boxes = F.stop_gradient(F.cast(rois, dtype=dtype))

    def col(i):
        return F.reshape(F.slice(boxes, begin=(0, i), end=(r, i + 1), step=(1, 1)), shape=(r,))
    scaled = [_round(F.mul(col(i), float(spatial_scale))) for i in (1, 2, 3, 4)]
    ws, we = _bins(scaled[0], scaled[2], r, pw_n, w)                 # (R, PW)
    hs, he = _bins(scaled[1], scaled[3], r, ph_n, h)                 # (R, PH)
    index = F.cast(col(0), dtype="i64")
    valid = F.where(F.ge(index, 0), F.lt(index, n), False)           # (R,)
    x = F.take(data, F.maximum(F.minimum(index, n - 1), 0), axis=0)  # (R, C, H, W)
    cols = F.cast(F.iota(shape=(1, w), axis=1), dtype=dtype)
    rows = F.cast(F.iota(shape=(1, h), axis=1), dtype=dtype)
    low = float("-inf")

    def window(starts, ends, j, ramp):
        s = F.slice(starts, begin=(0, j), end=(r, j + 1), step=(1, 1))
        e = F.slice(ends, begin=(0, j), end=(r, j + 1), step=(1, 1))
        return F.where(F.ge(ramp, s), F.lt(ramp, e), False)          # (R, H or W)
    per_col = []
    for j in range(pw_n):
        inside = F.reshape(window(ws, we, j, cols), shape=(r, 1, 1, w))
        per_col.append(F.max(F.where(inside, x, low), axes=(3,), keepdims=True))
    a = F.concat(*per_col, axis=3)                                   # (R, C, H, PW)
    per_row = []
    for i in range(ph_n):
        inside = F.reshape(window(hs, he, i, rows), shape=(r, 1, h, 1))
        per_row.append(F.max(F.where(inside, a, low), axes=(2,), keepdims=True))
    out = F.concat(*per_row, axis=2)                                 # (R, C, PH, PW)
    no_rows = F.le(F.reshape(he, shape=(r, ph_n, 1)), F.reshape(hs, shape=(r, ph_n, 1)))
    no_cols = F.le(F.reshape(we, shape=(r, 1, pw_n)), F.reshape(ws, shape=(r, 1, pw_n)))
    empty = F.where(no_rows, True, no_cols)
    zero = F.where(F.reshape(valid, shape=(r, 1, 1)), empty, True)  # (R, PH, PW)
    return F.where(F.reshape(zero, shape=(r, 1, ph_n, pw_n)), 0.0, out)
