"""`nd.ROIPooling` (MXNet 1.9.1): max pooling of NCHW features over each region of interest,
split into pooled_size bins, as MXNet's CPU kernel places them (rounded box corners, bins
floor/ceil'ed and clipped to the map, empty bins and bad batch indices give 0). A composite:
the bins are masks over rows and columns (one masked max per bin column, then per bin row),
so it compiles and differentiates (the gradient reaches the first maximum of each bin in
row-major order, MXNet's argmax; the boxes get none, as in MXNet). Imported into `nd`.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .ir.convolution import first_max
from .op_kwargs import redo as _redo

__all__ = ["ROIPooling"]


def checked_roi_args(op, data, rois, pooled_size, spatial_scale, row, fields):
    """(bins down, bins across) of pooled_size (an int or a pair), after the checks a region
    pooling op shares: both sizes given, data (N, C, H, W) and rois (R, `row`), positive
    bins. `fields`: how a rois row reads, for the message."""
    if pooled_size is None or spatial_scale is None:
        raise MXNetError(f"{op}: pooled_size and spatial_scale are required")
    if not isinstance(data, NDArray) or not isinstance(rois, NDArray):
        raise MXNetError(f"{op}: data and rois must be NDArrays")
    ph_n, pw_n = ((int(pooled_size),) * 2 if isinstance(pooled_size, (int, np.integer))
                  else tuple(int(v) for v in pooled_size))
    if data.ndim != 4 or rois.ndim != 2 or rois.shape[1] != row:
        raise MXNetError(f"{op}: data must be (N, C, H, W) and rois (R, {row}){fields}, got "
                         f"data {data.shape} and rois {rois.shape}")
    if ph_n < 1 or pw_n < 1:
        raise MXNetError(f"{op}: pooled_size must be positive, got {pooled_size}")
    return ph_n, pw_n


def roi_columns(rois, dtype=None):
    """col(i): column i of the (R, k) boxes as an (R,) array, cast to `dtype` when given, with
    no gradient back to the boxes (MXNet's region ops give rois none)."""
    boxes = F.stop_gradient(rois if dtype is None else F.cast(rois, dtype=dtype))
    r = rois.shape[0]

    def col(i):
        return F.reshape(F.slice(boxes, begin=(0, i), end=(r, i + 1), step=(1, 1)), shape=(r,))
    return col


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
    if kwargs:
        return _redo(ROIPooling, locals())
    ph_n, pw_n = checked_roi_args("ROIPooling", data, rois, pooled_size, spatial_scale, 5, "")
    n, c, h, w = data.shape
    r = rois.shape[0]
    dtype = data.type.dtype
    col = roi_columns(rois, dtype)
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
        per_col.append(first_max(F, F.where(inside, x, low), (3,), keepdims=True))
    a = F.concat(*per_col, axis=3)                                   # (R, C, H, PW)
    per_row = []
    for i in range(ph_n):
        inside = F.reshape(window(hs, he, i, rows), shape=(r, 1, h, 1))
        per_row.append(first_max(F, F.where(inside, a, low), (2,), keepdims=True))
    out = F.concat(*per_row, axis=2)                                 # (R, C, PH, PW)
    no_rows = F.le(F.reshape(he, shape=(r, ph_n, 1)), F.reshape(hs, shape=(r, ph_n, 1)))
    no_cols = F.le(F.reshape(we, shape=(r, 1, pw_n)), F.reshape(ws, shape=(r, 1, pw_n)))
    empty = F.where(no_rows, True, no_cols)
    zero = F.where(F.reshape(valid, shape=(r, 1, 1)), empty, True)  # (R, PH, PW)
    return F.where(F.reshape(zero, shape=(r, 1, ph_n, pw_n)), 0.0, out)


def _axis_weights(start, bin_size, grid, grid_max, pooled, r, size, dtype):
    """(R, pooled, size): for each bin along one axis, the sum over its `grid` sample points
    (iy + 0.5) * bin / grid of MXNet's bilinear weights onto the `size` pixels (points
    beyond [-1, size] weigh nothing; points past the last pixel clamp to it)."""
    k = F.cast(F.iota(shape=(1, pooled, 1), axis=1), dtype=dtype)
    i = F.cast(F.iota(shape=(1, 1, grid_max), axis=2), dtype=dtype)
    g = F.reshape(grid, shape=(r, 1, 1))
    step = F.reshape(bin_size, shape=(r, 1, 1))
    pos = F.add(F.add(F.reshape(start, shape=(r, 1, 1)), F.mul(k, step)),
                F.div(F.mul(F.add(i, 0.5), step), g))                  # (R, pooled, G)
    used = F.lt(i, g)                                                   # sample iy < grid
    inside = F.where(F.ge(pos, -1.0), F.le(pos, float(size)), False)
    p = F.maximum(pos, 0.0)
    low = F.floor(p)
    last = F.ge(low, float(size - 1))
    low = F.where(last, float(size - 1), low)
    frac = F.where(last, 0.0, F.sub(p, low))
    high = F.where(last, low, F.add(low, 1.0))
    keep = F.cast(F.where(used, inside, False), dtype=dtype)
    w_low = F.mul(F.sub(1.0, frac), keep)
    w_high = F.mul(frac, keep)
    hot = (lambda v: F.one_hot(F.cast(v, dtype="i64"), depth=size, dtype=dtype))
    weights = F.add(F.mul(F.expand_dims(w_low, axis=3), hot(low)),
                    F.mul(F.expand_dims(w_high, axis=3), hot(high)))   # (R, pooled, G, size)
    return F.sum(weights, axes=(2,))


def ROIAlign(data, rois, pooled_size=None, spatial_scale=None, sample_ratio=-1,
             position_sensitive=False, aligned=False, **kwargs):
    """MXNet's contrib.ROIAlign: the average, over a grid of sample points in each of the
    pooled_size bins of box r (rois rows (batch index, x1, y1, x2, y2) or (x1, y1, x2, y2)
    for batch 0, scaled by spatial_scale; aligned shifts them by half a pixel), of data
    interpolated bilinearly. sample_ratio <= 0 takes ceil(box size / pooled size) points per
    bin and box: under jit / hybridize the largest such count is a guard. A box with a
    negative batch index gives zeros. Gradients reach data (the boxes get none)."""
    if kwargs:
        return _redo(ROIAlign, locals())
    if pooled_size is None or spatial_scale is None:
        raise MXNetError("ROIAlign: pooled_size and spatial_scale are required")
    ph_n, pw_n = ((int(pooled_size),) * 2 if isinstance(pooled_size, (int, np.integer))
                  else tuple(int(v) for v in pooled_size))
    if data.ndim != 4 or rois.ndim != 2 or rois.shape[1] not in (4, 5):
        raise MXNetError(f"ROIAlign: data must be (N, C, H, W) and rois (R, 5) or (R, 4), got "
                         f"data {data.shape} and rois {rois.shape}")
    n, c, h, w = data.shape
    if position_sensitive and c % (ph_n * pw_n):
        raise MXNetError(f"ROIAlign: position_sensitive needs channels ({c}) divisible by "
                         f"pooled height x width ({ph_n * pw_n})")
    r, cols = rois.shape
    dtype = data.type.dtype
    col = roi_columns(rois, dtype)
    first = cols - 4
    offset = 0.5 if aligned else 0.0
    sw, sh, ew, eh = (F.sub(F.mul(col(first + i), float(spatial_scale)), offset)
                      for i in range(4))
    rw, rh = F.sub(ew, sw), F.sub(eh, sh)
    if not aligned:     # malformed boxes become 1 x 1
        rw, rh = F.maximum(rw, 1.0), F.maximum(rh, 1.0)
    bw, bh = F.div(rw, float(pw_n)), F.div(rh, float(ph_n))
    if sample_ratio > 0:
        gw = gh = F.constant(value=float(sample_ratio), shape=(r,), dtype=dtype)
        gw_max = gh_max = int(sample_ratio)
    else:
        gw = F.maximum(F.neg(F.floor(F.neg(F.div(rw, float(pw_n))))), 1.0)   # ceil
        gh = F.maximum(F.neg(F.floor(F.neg(F.div(rh, float(ph_n))))), 1.0)
        # the largest count fixes the sample grid's shape: a concrete value (a guard)
        gw_max = max(int(F.max(gw, axes=(0,)).asscalar()), 1) if r else 1
        gh_max = max(int(F.max(gh, axes=(0,)).asscalar()), 1) if r else 1
    ax = _axis_weights(sw, bw, gw, gw_max, pw_n, r, w, dtype)          # (R, PW, W)
    ay = _axis_weights(sh, bh, gh, gh_max, ph_n, r, h, dtype)          # (R, PH, H)
    if first:
        index = F.cast(col(0), dtype="i64")
        valid = F.ge(index, 0)
        x = F.take(data, F.maximum(F.minimum(index, n - 1), 0), axis=0)
    else:
        valid = None
        x = F.broadcast_to(F.slice(data, begin=(0, 0, 0, 0), end=(1, c, h, w),
                                   step=(1, 1, 1, 1)), shape=(r, c, h, w))
    t = F.matmul(F.reshape(x, shape=(r, c * h, w)), ax, transpose_b=True)   # (R, C*H, PW)
    t = F.transpose(F.reshape(t, shape=(r, c, h, pw_n)), perm=(0, 2, 1, 3))  # (R, H, C, PW)
    out = F.matmul(ay, F.reshape(t, shape=(r, h, c * pw_n)))                # (R, PH, C*PW)
    out = F.transpose(F.reshape(out, shape=(r, ph_n, c, pw_n)), perm=(0, 2, 1, 3))
    out = F.div(out, F.reshape(F.mul(gh, gw), shape=(r, 1, 1, 1)))
    if position_sensitive:   # output channel k, bin (i, j) reads input channel (k, i, j)
        co = c // (ph_n * pw_n)
        full = F.reshape(out, shape=(r, co, ph_n * pw_n, ph_n * pw_n))
        eye = F.eq(F.iota(shape=(ph_n * pw_n, ph_n * pw_n), axis=0),
                   F.iota(shape=(ph_n * pw_n, ph_n * pw_n), axis=1))
        out = F.sum(F.where(eye, full, 0.0), axes=(2,))
        out = F.reshape(out, shape=(r, co, ph_n, pw_n))
    if valid is not None:
        out = F.where(F.reshape(valid, shape=(r, 1, 1, 1)), out, 0.0)
    return out
