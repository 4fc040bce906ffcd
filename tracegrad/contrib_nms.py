"""`nd.contrib.box_nms` (alias `box_non_maximum_suppression`), MXNet 1.9.1's greedy
non-maximum suppression, as a composite.

Per batch, boxes whose score exceeds valid_thresh (and whose class is not background_id) are
sorted by score (stable, descending); the first topk take part. Going down that order, each
box still kept suppresses every later one of the same class (any class with force_suppress)
whose IoU with it exceeds overlap_thresh. The kept rows come first in score order, the rest
of the output is -1; out_format converts kept boxes (those whose first coordinate is not
negative, as MXNet's kernel) between corner and center encodings.

Greedy suppression is solved as a fixed point: keep = candidates and not suppressed by any
earlier kept box, iterated from "all candidates" until it no longer changes (the system is
triangular, so the fixed point is the greedy answer; chains of suppression take one round
each). Each round's "changed?" is a concrete value, so under jit / hybridize it is a guard:
every round count seen gets a compiled variant. The output gathers input rows (take), so the
gradient flows back to the kept boxes' rows.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["box_nms", "box_non_maximum_suppression"]


def _column(x, i, b, n):
    return F.reshape(F.slice(x, begin=(0, 0, i), end=(b, n, i + 1), step=(1, 1, 1)),
                     shape=(b, n))


def _extent(lo, hi, center):
    """(low, high) edges along one axis from the pair of coordinates of the encoding."""
    if not center:
        return lo, hi
    half = F.div(hi, 2.0)
    return F.sub(lo, half), F.add(lo, half)


def _iou(sb, coord_start, b, n, center):
    """(B, N, N) IoU of the sorted boxes, MXNet's formula (areas of inverted boxes are 0)."""
    c = [_column(sb, coord_start + k, b, n) for k in range(4)]
    x_lo, x_hi = _extent(c[0], c[2], center)
    y_lo, y_hi = _extent(c[1], c[3], center)

    def overlap(lo, hi):
        left = F.maximum(F.reshape(lo, shape=(b, n, 1)), F.reshape(lo, shape=(b, 1, n)))
        right = F.minimum(F.reshape(hi, shape=(b, n, 1)), F.reshape(hi, shape=(b, 1, n)))
        return F.maximum(F.sub(right, left), 0.0)
    inter = F.mul(overlap(x_lo, x_hi), overlap(y_lo, y_hi))
    width, height = (c[2], c[3]) if center else (F.sub(c[2], c[0]), F.sub(c[3], c[1]))
    area = F.where(F.where(F.ge(width, 0.0), F.ge(height, 0.0), False),
                   F.mul(width, height), 0.0)
    union = F.sub(F.add(F.reshape(area, shape=(b, n, 1)), F.reshape(area, shape=(b, 1, n))),
                  inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        return F.div(inter, union)


def _convert(out, coord_start, b, n, to_center):
    c = [_column(out, coord_start + k, b, n) for k in range(4)]
    if to_center:
        new = [F.div(F.add(c[0], c[2]), 2.0), F.div(F.add(c[1], c[3]), 2.0),
               F.sub(c[2], c[0]), F.sub(c[3], c[1])]
    else:
        hw, hh = F.div(c[2], 2.0), F.div(c[3], 2.0)
        new = [F.sub(c[0], hw), F.sub(c[1], hh), F.add(c[0], hw), F.add(c[1], hh)]
    apply = F.ge(c[0], 0.0)
    new = [F.where(apply, v, old) for v, old in zip(new, c)]
    k = out.shape[2]
    parts = []
    if coord_start:
        parts.append(F.slice(out, begin=(0, 0, 0), end=(b, n, coord_start), step=(1, 1, 1)))
    parts.extend(F.reshape(v, shape=(b, n, 1)) for v in new)
    if coord_start + 4 < k:
        parts.append(F.slice(out, begin=(0, 0, coord_start + 4), end=(b, n, k),
                             step=(1, 1, 1)))
    return F.concat(*parts, axis=2)


def box_nms(data, overlap_thresh=0.5, valid_thresh=0.0, topk=-1, coord_start=2, score_index=1,
            id_index=-1, background_id=-1, force_suppress=False, in_format="corner",
            out_format="corner", **kwargs):
    """Non-maximum suppression of the boxes in data (..., N, K): see the module docstring."""
    if kwargs:
        return _redo(box_nms, locals())
    if not isinstance(data, NDArray) or data.ndim < 2:
        raise MXNetError(f"box_nms: data must be an NDArray of at least 2 dims (..., N, K), "
                         f"got {getattr(data, 'shape', type(data).__name__)}")
    for fmt in (in_format, out_format):
        if fmt not in ("corner", "center"):
            raise MXNetError(f"box_nms: formats must be 'corner' or 'center', got {fmt!r}")
    shape = data.shape
    n, k = shape[-2], shape[-1]
    b = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
    if not (0 <= score_index < k and 0 <= coord_start <= k - 4 and id_index < k):
        raise MXNetError(f"box_nms: score_index {score_index}, coord_start {coord_start} and "
                         f"id_index {id_index} must address the last axis of shape {shape}")
    topk = n if topk < 0 else min(n, int(topk))
    if topk < 1 or n == 0:
        return F.cast(data, dtype=data.type.dtype)    # MXNet: the input as it is
    x = F.reshape(data, shape=(b, n, k))
    flat = F.stop_gradient(x)
    scores = _column(flat, score_index, b, n)
    valid = F.gt(scores, float(valid_thresh))
    if id_index >= 0:
        valid = F.where(valid, F.ne(_column(flat, id_index, b, n), float(background_id)),
                        False)
    # stable descending by score, invalid boxes last
    order = F.argsort(F.where(valid, scores, float("-inf")), axis=1, is_ascend=False)
    rows = F.add(order, F.mul(F.iota(shape=(b, n), axis=0), n))           # into (B*N, K)
    sb = F.reshape(F.take(F.reshape(x, shape=(b * n, k)), F.reshape(rows, shape=(b * n,)),
                          axis=0), shape=(b, n, k))
    sorted_valid = F.take_along_axis(valid, order, axis=1)
    cand = F.where(sorted_valid, F.lt(F.iota(shape=(b, n), axis=1), topk), False)
    sbox = F.stop_gradient(sb)
    over = F.gt(_iou(sbox, coord_start, b, n, in_format == "center"), float(overlap_thresh))
    later = F.lt(F.iota(shape=(1, n, n), axis=1), F.iota(shape=(1, n, n), axis=2))
    over = F.where(over, later, False)
    if id_index >= 0 and not force_suppress:
        cls = F.cast(_column(sbox, id_index, b, n), dtype="i64")
        over = F.where(over, F.eq(F.reshape(cls, shape=(b, n, 1)),
                                  F.reshape(cls, shape=(b, 1, n))), False)
    over = F.where(over, F.reshape(cand, shape=(b, n, 1)), False)
    keep = cand
    for _ in range(n + 1):
        hit = F.where(F.reshape(keep, shape=(b, n, 1)), over, False)
        suppressed = F.gt(F.max(F.cast(hit, dtype="i32"), axes=(1,)), 0)
        new = F.where(cand, F.logical_not(suppressed), False)
        changed = F.max(F.cast(F.ne(new, keep), dtype="i32"), axes=(0, 1))
        keep = new
        if not int(changed.asscalar()):   # a guard under jit / hybridize
            break
    # compact: output slot p holds the (p+1)-th kept box
    rank = F.cumsum(F.cast(keep, dtype="i64"), axis=1)                       # (B, N)
    slot = F.iota(shape=(b, n, 1), axis=1)
    match = F.where(F.reshape(keep, shape=(b, 1, n)),
                    F.eq(F.reshape(rank, shape=(b, 1, n)), F.add(slot, 1)), False)
    src = F.argmax(F.cast(match, dtype="i32"), axis=2)                        # (B, N)
    count = F.slice(rank, begin=(0, n - 1), end=(b, n), step=(1, 1))          # (B, 1)
    filled = F.lt(F.iota(shape=(b, n), axis=1), count)
    src_rows = F.add(src, F.mul(F.iota(shape=(b, n), axis=0), n))
    picked = F.reshape(F.take(F.reshape(sb, shape=(b * n, k)),
                              F.reshape(src_rows, shape=(b * n,)), axis=0), shape=(b, n, k))
    out = F.where(F.reshape(filled, shape=(b, n, 1)), picked, -1.0)
    if in_format != out_format:
        out = _convert(out, coord_start, b, n, out_format == "center")
    return F.reshape(out, shape=shape)


box_non_maximum_suppression = box_nms
