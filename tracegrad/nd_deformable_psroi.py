"""`nd.contrib.DeformablePSROIPooling` (MXNet 1.9.1's src/operator/contrib/
deformable_psroi_pooling.cc, Deformable R-FCN): PSROIPooling whose bins move by learned offsets
and average sample_per_part^2 bilinear samples instead of whole pixels.

Bin (ph, pw) of box r, output channel k, reads channel (k * g + gh) * g + gw (g = group_size,
gh = floor(ph * g / pooled_size)) at the points

    (hstart + ih * bin_h / s,  wstart + iw * bin_w / s),  ih, iw < s = sample_per_part,

hstart = ph * bin_h + roi_start_h + trans_y * roi_height (wstart likewise with trans_x), where
(trans_x, trans_y) = trans[r, 2 * cls + (0, 1), part_h, part_w] * trans_std, cls = k //
(output_dim / num_classes), part_h = floor(ph / pooled_size * part_size). A point outside
[-0.5, size - 0.5] is skipped, the others clamped to the map and interpolated; the bin is the
mean of its points (0 when none). Box corners are rounded, scaled and moved by -0.5 as MXNet's
CPU kernel does. Written as gathers (take) of the four neighbours, so it records, compiles and
differentiates with respect to the data and the offsets (the boxes get no gradient, as in
MXNet). Imported into `nd.contrib`.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .nd_psroi import check_roi_inputs
from .nd_roi import _round, roi_columns
from .op_kwargs import redo as _redo

__all__ = ["DeformablePSROIPooling"]


def _tables(od, p, g, part, ncls):
    """Per (k, ph, pw), flattened: the data channel, and trans's x entry (y is part^2 on)."""
    each = od // ncls
    chan, tx = [], []
    for k in range(od):
        for ph in range(p):
            for pw in range(p):
                gh = min(max(int(np.floor(ph * g / p)), 0), g - 1)
                gw = min(max(int(np.floor(pw * g / p)), 0), g - 1)
                part_h = int(np.floor(np.float32(ph) / p * part))
                part_w = int(np.floor(np.float32(pw) / p * part))
                chan.append((k * g + gh) * g + gw)
                tx.append(((k // each) * 2 * part + part_h) * part + part_w)
    return np.array(chan, np.int64), np.array(tx, np.int64)


def _check(data, rois, trans, od, p, g, part, no_trans):
    check_roi_inputs("DeformablePSROIPooling", data, rois)
    if min(od, p, g, part) < 1:
        raise MXNetError(f"DeformablePSROIPooling: output_dim, pooled_size, group_size and "
                         f"part_size must be positive, got {od}, {p}, {g}, {part}")
    if data.shape[1] < od * g * g:
        raise MXNetError(f"DeformablePSROIPooling: data of shape {data.shape} has "
                         f"{data.shape[1]} channels, output_dim * group_size^2 = {od * g * g} "
                         f"are read")
    if no_trans:
        return 1
    if not isinstance(trans, NDArray):
        raise MXNetError("DeformablePSROIPooling: no_trans=False needs trans, (num_rois, "
                         "2 * num_classes, part_size, part_size)")
    r = rois.shape[0]
    if (trans.ndim != 4 or trans.shape[0] != r or trans.shape[1] % 2 or trans.shape[1] < 2
            or trans.shape[2:] != (part, part) or od % (trans.shape[1] // 2)):
        raise MXNetError(f"DeformablePSROIPooling: trans should have shape ({r}, 2 * "
                         f"num_classes, {part}, {part}) with num_classes dividing output_dim "
                         f"{od}, got {trans.shape}")
    if trans.dtype != data.dtype:
        raise MXNetError(f"DeformablePSROIPooling: trans must have data's dtype {data.dtype}, "
                         f"got {trans.dtype}")
    return trans.shape[1] // 2


def DeformablePSROIPooling(data=None, rois=None, trans=None, spatial_scale=None,
                           output_dim=None, group_size=None, pooled_size=None, part_size=0,
                           sample_per_part=1, trans_std=0.0, no_trans=False, **kwargs):
    """(R, output_dim, pooled_size, pooled_size): each bin the mean of its bilinear samples
    (module docstring); rois rows are (batch index, x1, y1, x2, y2) in input pixels."""
    if kwargs:
        return _redo(DeformablePSROIPooling, locals())
    if None in (spatial_scale, output_dim, group_size, pooled_size):
        raise MXNetError("DeformablePSROIPooling: spatial_scale, output_dim, group_size and "
                         "pooled_size are required")
    od, p, g = int(output_dim), int(pooled_size), int(group_size)
    part, s = int(part_size) or p, int(sample_per_part)
    if s < 1:
        raise MXNetError(f"DeformablePSROIPooling: sample_per_part must be positive, got "
                         f"{sample_per_part}")
    no_trans = bool(no_trans)
    ncls = _check(data, rois, trans, od, p, g, part, no_trans)
    n, c, h, w = data.shape
    r, k = rois.shape[0], od * p * p
    col = roi_columns(rois)
    scale = float(spatial_scale)

    def edge(i, plus):
        v = _round(col(i))
        return F.reshape(F.sub(F.mul(F.add(v, 1.0) if plus else v, scale), 0.5), shape=(r, 1))
    start_w, start_h = edge(1, False), edge(2, False)                        # (R, 1)
    roi_w = F.maximum(F.sub(edge(3, True), start_w), 0.1)
    roi_h = F.maximum(F.sub(edge(4, True), start_h), 0.1)
    bin_w, bin_h = F.div(roi_w, float(p)), F.div(roi_h, float(p))
    chan, tx = _tables(od, p, g, part, ncls)
    pw_of = np.tile(np.arange(p, dtype=np.float64), od * p).reshape(1, k)
    ph_of = np.tile(np.repeat(np.arange(p, dtype=np.float64), p), od).reshape(1, k)
    dtype, real = data.type.dtype, np.dtype(data.dtype)
    wstart = F.add(F.mul(pw_of.astype(real), bin_w), start_w)                 # (R, K)
    hstart = F.add(F.mul(ph_of.astype(real), bin_h), start_h)
    if not no_trans:
        flat = F.reshape(trans, shape=(r, 2 * ncls * part * part))
        move_x = F.mul(F.take(flat, tx, axis=1), float(trans_std))
        move_y = F.mul(F.take(flat, tx + part * part, axis=1), float(trans_std))
        wstart = F.add(wstart, F.mul(move_x, roi_w))
        hstart = F.add(hstart, F.mul(move_y, roi_h))
    steps = np.arange(s, dtype=np.float64)
    iw = np.tile(steps, s).reshape(1, 1, s * s).astype(real)
    ih = np.repeat(steps, s).reshape(1, 1, s * s).astype(real)

    def points(start, size, i):                                             # (R, K, S*S)
        sub = F.reshape(F.div(size, float(s)), shape=(r, 1, 1))
        return F.add(F.expand_dims(start, axis=2), F.mul(i, sub))
    x, y = points(wstart, bin_w, iw), points(hstart, bin_h, ih)
    inside = F.where(F.where(F.ge(x, -0.5), F.le(x, w - 0.5), False),
                     F.where(F.ge(y, -0.5), F.le(y, h - 0.5), False), False)
    x = F.minimum(F.maximum(x, 0.0), float(w - 1))
    y = F.minimum(F.maximum(y, 0.0), float(h - 1))
    index = F.cast(col(0), dtype="i64")                                     # (C's truncation)
    valid = F.where(F.ge(index, 0), F.lt(index, n), False)                  # (R,)
    batch = F.maximum(F.minimum(index, n - 1), 0)
    base = F.add(F.mul(F.reshape(batch, shape=(r, 1, 1)), c * h * w),
                 chan.reshape(1, k, 1) * (h * w))                          # (R, K, 1)
    x0, y0 = F.floor(x), F.floor(y)
    dx, dy = F.sub(x, x0), F.sub(y, y0)
    x0i, y0i = F.cast(x0, dtype="i64"), F.cast(y0, dtype="i64")
    x1i = F.cast(F.neg(F.floor(F.neg(x))), dtype="i64")                     # ceil, as MXNet
    y1i = F.cast(F.neg(F.floor(F.neg(y))), dtype="i64")
    pixels = F.reshape(data, shape=(n * c * h * w,))
    count = r * k * s * s

    def at(yi, xi):
        flat = F.add(base, F.add(F.mul(yi, w), xi))
        return F.reshape(F.take(pixels, F.reshape(flat, shape=(count,)), axis=0),
                         shape=(r, k, s * s))
    ux, uy = F.sub(1.0, dx), F.sub(1.0, dy)
    value = F.add(F.add(F.mul(F.mul(ux, uy), at(y0i, x0i)), F.mul(F.mul(ux, dy), at(y1i, x0i))),
                  F.add(F.mul(F.mul(dx, uy), at(y0i, x1i)), F.mul(F.mul(dx, dy), at(y1i, x1i))))
    total = F.sum(F.where(inside, value, 0.0), axes=(2,))                    # (R, K)
    hits = F.sum(F.cast(inside, dtype=dtype), axes=(2,))
    keep = F.where(F.reshape(valid, shape=(r, 1)), F.gt(hits, 0.0), False)
    out = F.where(keep, F.div(total, F.maximum(hits, 1.0)), 0.0)
    return F.reshape(out, shape=(r, od, p, p))
