"""`nd.contrib.MultiBoxTarget` and `nd.contrib.MultiBoxDetection`: SSD's training targets and
detection post-processing, with MXNet 1.9.1's CPU kernels' semantics, as composites.

MultiBoxTarget, per batch item: the ground truths are the label rows before the first one
whose class is -1 (that row must be all -1, as MXNet checks). First each ground truth gets
its best anchor, greedily (the largest IoU left over all free anchor / ground-truth pairs,
above 1e-6, ties to the lowest anchor then ground truth); then, with overlap_threshold > 0,
every other anchor whose best IoU exceeds it is matched to that ground truth. Matched anchors
get class label + 1, a mask of 1 and the box encoded against the anchor (centre offsets over
the anchor size and log size ratios, each over its variance, in float32). Negatives (class 0)
are all other anchors, or with negative_mining_ratio > 0 only the int(positives * ratio)
anchors of lowest background probability (softmax of cls_pred over classes) among those whose
best IoU is under negative_mining_thresh (stable order); the rest get ignore_label. An item
with no ground truth is all ignore_label. minimum_negative_samples is accepted and, as in
MXNet's CPU kernel, unused.

MultiBoxDetection, per batch item: each anchor's class is the best of classes 1.. (0 is the
background; background_id is accepted and, as in MXNet's kernel, unused) and is kept when its
probability reaches `threshold`; its box is the anchor decoded by loc_pred (clipped to [0, 1]
with clip). Kept rows [class - 1, score, box] come first in anchor order, the rest of the
output is -1. With 0 < nms_threshold <= 1 they are sorted by score (stable), the first
nms_topk (all when -1) take part in greedy NMS (a box suppresses each later one of the same
class, any class with force_suppress, whose IoU reaches nms_threshold: its class becomes -1);
kept rows past nms_topk keep their unsorted position with class -1, as MXNet's kernel leaves
them.

Both are written with registry primitives (argsort, argmax, take_along_axis, where), so they
record, run under jit / hybridize and compile. The greedy matching is min(anchors, labels)
fixed rounds; greedy NMS is solved as a fixed point (as box_nms) on a matrix whose side is
the power of two above the most boxes kept (its exponent read as a guard, so eager calls pay
for the boxes kept), each round's "changed?" also a guard. MXNet's checks that depend on
values (a padding row that is not all -1; too few negative candidates for the mining ratio)
read one flag, also a guard. MXNet registers only
float32 for these ops (its default type inference) and gives no gradient: inputs pass through
stop_gradient, so backward gives zeros (to cls_pred too when the forward does not read it, as
MXNet's backward writes them; MXNet leaves anchor's and label's gradients of MultiBoxTarget
unwritten, here they are zeros).
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["MultiBoxTarget", "MultiBoxDetection"]

_INF = float("inf")


def _f32(v):
    """A parameter as MXNet stores it (a C float), as a Python float."""
    return float(np.float32(v))


def _variances(op, variances):
    try:
        vs = [_f32(v) for v in variances]
    except (TypeError, ValueError):
        vs = None
    if vs is None or len(vs) != 4:
        raise MXNetError(f"{op}: variances must be 4 numbers, got {variances!r}")
    return vs


def _check_float32(op, named):
    for name, x in named:
        if not isinstance(x, NDArray):
            raise MXNetError(f"{op}: {name} must be an NDArray, got {type(x).__name__}")
    bad = [(name, np.dtype(x.dtype).name) for name, x in named
           if np.dtype(x.dtype) != np.float32]
    if bad:
        raise MXNetError(f"{op}: MXNet 1.9.1 registers this op for float32 only; got "
                         + ", ".join(f"{n} {d}" for n, d in bad))


def _cols(x, first, count):
    """`count` columns of the last axis of x (..., K) from `first`, each (...)."""
    shape = tuple(x.shape)
    lead = shape[:-1]
    out = []
    for i in range(first, first + count):
        part = F.slice(x, begin=(0,) * len(lead) + (i,), end=lead + (i + 1,),
                       step=(1,) * len(shape))
        out.append(F.reshape(part, shape=lead))
    return out


def _depending_on(out, x):
    """out, unchanged, recorded as depending on x through stop_gradient: MXNet's backward of
    these ops writes zeros to the gradient of an input the forward need not read."""
    if x.size == 0:
        return out
    first = F.slice(F.stop_gradient(x), begin=(0,) * x.ndim, end=(1,) * x.ndim,
                    step=(1,) * x.ndim)
    always = F.constant(value=True, shape=(), dtype="bool")
    return F.where(always, out, F.reshape(first, shape=()))


def _any(mask):
    return F.gt(F.max(F.cast(mask, dtype="i32"), axes=tuple(range(mask.ndim))), 0)


# ---------------------------------------------------------------------------- MultiBoxTarget

def _target_shapes(anchor, label, cls_pred, mining):
    shapes = (f"anchor {tuple(anchor.shape)}, label {tuple(label.shape)}, cls_pred "
              f"{tuple(cls_pred.shape)}")
    if anchor.ndim != 3 or anchor.shape[0] != 1 or anchor.shape[1] < 1 or \
            anchor.shape[2] != 4:
        raise MXNetError(f"MultiBoxTarget: anchor must be (1, num_anchors > 0, 4) boxes "
                         f"[xmin, ymin, xmax, ymax] shared by the batch ({shapes})")
    if label.ndim != 3 or label.shape[1] < 1 or label.shape[2] < 5:
        raise MXNetError(f"MultiBoxTarget: label must be (batch, num_labels > 0, width >= 5) "
                         f"rows [class, xmin, ymin, xmax, ymax, ...] ({shapes})")
    if cls_pred.ndim != 3 or cls_pred.shape[2] != anchor.shape[1]:
        raise MXNetError(f"MultiBoxTarget: cls_pred must be (batch, num_classes, num_anchors) "
                         f"with num_anchors = anchor.shape[1] ({shapes})")
    if mining and (cls_pred.shape[0] < label.shape[0] or cls_pred.shape[1] < 1):
        raise MXNetError(f"MultiBoxTarget: negative mining reads cls_pred for every batch item "
                         f"of label and at least one class ({shapes})")


def _overlaps(anchors, boxes):
    """IoU (B, N, M) of anchors (N, 4) with the label boxes (B, M, 4), as MXNet's expression:
    0 where the union is 0."""
    n, (b, m) = anchors.shape[0], boxes.shape[:2]
    al, at, ar, ab = (F.reshape(c, shape=(1, n, 1)) for c in _cols(anchors, 0, 4))
    gl, gt, gr, gb = (F.reshape(c, shape=(b, 1, m)) for c in _cols(boxes, 0, 4))
    iw = F.maximum(F.sub(F.minimum(ar, gr), F.maximum(al, gl)), 0.0)
    ih = F.maximum(F.sub(F.minimum(ab, gb), F.maximum(at, gt)), 0.0)
    inter = F.mul(iw, ih)
    union = F.sub(F.add(F.mul(F.sub(ar, al), F.sub(ab, at)), F.mul(F.sub(gr, gl),
                                                                   F.sub(gb, gt))), inter)
    empty = F.eq(union, 0.0)
    return F.where(empty, 0.0, F.div(inter, F.where(empty, 1.0, union)))


def _greedy_best_pairs(iou, usable):
    """MXNet's first stage: while a ground truth is free, match the free (anchor, ground
    truth) pair of largest IoU above 1e-6 (ties: lowest anchor, then ground truth). Returns
    (matched anchors (B, N) bool, their ground truth (B, N) i64)."""
    b, n, m = iou.shape
    score = F.where(usable, iou, -_INF)                                   # (B, N, M)
    matched = F.constant(value=False, shape=(b, n), dtype="bool")
    gt_of = F.constant(value=0, shape=(b, n), dtype="i64")
    anchor_ids = F.iota(shape=(b, n), axis=1)
    gt_ids = F.iota(shape=(b, m), axis=1)
    for _ in range(min(n, m)):      # each round matches one ground truth or none
        flat = F.reshape(score, shape=(b, n * m))
        best = F.argmax(flat, axis=1)                                     # first: row-major
        found = F.reshape(F.gt(F.max(flat, axes=(1,)), _f32(1e-6)), shape=(b, 1))
        j = F.reshape(F.div(best, m), shape=(b, 1))
        k = F.reshape(F.mod(best, m), shape=(b, 1))
        hit_anchor = F.where(found, F.eq(anchor_ids, j), False)           # (B, N)
        hit_gt = F.where(found, F.eq(gt_ids, k), False)                   # (B, M)
        matched = F.where(hit_anchor, True, matched)
        gt_of = F.where(hit_anchor, k, gt_of)
        taken = F.where(F.reshape(hit_anchor, shape=(b, n, 1)), True,
                        F.reshape(hit_gt, shape=(b, 1, m)))
        score = F.where(taken, -_INF, score)
    return matched, gt_of


def _background_prob(cls_pred, b):
    """softmax(cls_pred)[:, 0] (B, N), summed class by class in float32 as MXNet's loop."""
    c, n = cls_pred.shape[1], cls_pred.shape[2]
    x = F.slice(cls_pred, begin=(0, 0, 0), end=(b, c, n), step=(1, 1, 1))
    rows = [F.reshape(F.slice(x, begin=(0, k, 0), end=(b, k + 1, n), step=(1, 1, 1)),
                      shape=(b, n)) for k in range(c)]
    top = F.max(x, axes=(1,))
    total = F.exp(F.sub(rows[0], top))
    first = total
    for r in rows[1:]:
        total = F.add(total, F.exp(F.sub(r, top)))
    return F.div(first, total)


def _hard_negatives(candidate, wanted, prob):
    """The `wanted` (B, 1) candidates of lowest background probability (stable: ties to the
    lower anchor)."""
    order = F.argsort(F.where(candidate, prob, _INF), axis=1, is_ascend=True)
    rank = F.argsort(order, axis=1, is_ascend=True)          # the inverse permutation
    return F.where(candidate, F.lt(rank, wanted), False)


def _encode(anchors, boxes, v):
    """MXNet's AssignLocTargets for every anchor (1, N) against its boxes (B, N) columns."""
    al, at, ar, ab = anchors
    gl, gt, gr, gb = boxes
    aw, ah = F.sub(ar, al), F.sub(ab, at)
    ax, ay = F.mul(F.add(al, ar), 0.5), F.mul(F.add(at, ab), 0.5)
    gw, gh = F.sub(gr, gl), F.sub(gb, gt)
    gx, gy = F.mul(F.add(gl, gr), 0.5), F.mul(F.add(gt, gb), 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (F.div(F.div(F.sub(gx, ax), aw), v[0]), F.div(F.div(F.sub(gy, ay), ah), v[1]),
                F.div(F.log(F.div(gw, aw)), v[2]), F.div(F.log(F.div(gh, ah)), v[3]))


def MultiBoxTarget(anchor, label, cls_pred, overlap_threshold=0.5, ignore_label=-1.0,
                   negative_mining_ratio=-1.0, negative_mining_thresh=0.5,
                   minimum_negative_samples=0, variances=(0.1, 0.1, 0.2, 0.2), **kwargs):
    """SSD training targets [loc_target (B, 4N), loc_mask (B, 4N), cls_target (B, N)] of the
    anchors (1, N, 4) for the labels (B, M, >=5): see the module docstring."""
    if kwargs:
        return _redo(MultiBoxTarget, locals())
    _check_float32("MultiBoxTarget", (("anchor", anchor), ("label", label),
                                      ("cls_pred", cls_pred)))
    v = _variances("MultiBoxTarget", variances)
    ratio = _f32(negative_mining_ratio)
    mining = ratio > 0
    _target_shapes(anchor, label, cls_pred, mining)
    if mining and not _f32(negative_mining_thresh) > 0:
        raise MXNetError(f"MultiBoxTarget: negative_mining_thresh must be > 0 with negative "
                         f"mining, got {negative_mining_thresh}")
    n = anchor.shape[1]
    b, m, width = label.shape
    anchors = F.reshape(F.stop_gradient(anchor), shape=(n, 4))
    lab = F.stop_gradient(label)
    cls = _cols(lab, 0, 1)[0]                                             # (B, M)
    boxes = F.slice(lab, begin=(0, 0, 1), end=(b, m, 5), step=(1, 1, 1))  # (B, M, 4)

    # the ground truths: the rows before the first class -1 (that row must be all -1)
    pad = F.eq(cls, -1.0)
    pads_so_far = F.cumsum(F.cast(pad, dtype="i32"), axis=1)
    is_gt = F.eq(pads_so_far, 0)                                          # (B, M)
    first_pad = F.where(pad, F.eq(pads_so_far, 1), False)
    not_pad = F.logical_not(F.eq(boxes, -1.0))
    unpadded = F.gt(F.max(F.cast(not_pad, dtype="i32"), axes=(2,)), 0)
    trouble = F.where(first_pad, unpadded, False)
    has_gt = F.reshape(_cols(is_gt, 0, 1)[0], shape=(b, 1))

    iou = _overlaps(anchors, boxes)                                       # (B, N, M)
    usable = F.broadcast_to(F.reshape(is_gt, shape=(b, 1, m)), shape=(b, n, m))
    positive, gt_of = _greedy_best_pairs(iou, usable)
    scored = F.where(usable, iou, -_INF)
    best_iou = F.max(scored, axes=(2,))                                   # (B, N)
    if _f32(overlap_threshold) > 0:
        gt_of = F.where(positive, gt_of, F.argmax(scored, axis=2))
        positive = F.where(positive, True, F.gt(best_iou, _f32(overlap_threshold)))
    positive = F.where(has_gt, positive, False)

    if mining:
        count = F.sum(F.cast(positive, dtype="f32"), axes=(1,), keepdims=True)   # (B, 1)
        wanted = F.minimum(F.floor(F.mul(count, ratio)), F.sub(float(n), count))
        candidate = F.where(positive, False, F.lt(best_iou, _f32(negative_mining_thresh)))
        available = F.sum(F.cast(candidate, dtype="f32"), axes=(1,), keepdims=True)
        short = F.where(has_gt, F.where(F.gt(wanted, 0.0), F.lt(available, wanted), False),
                        False)
        negative = _hard_negatives(candidate, F.cast(wanted, dtype="i64"),
                                   _background_prob(F.stop_gradient(cls_pred), b))
    else:
        short = None
        negative = F.logical_not(positive)
    negative = F.where(has_gt, negative, False)
    _raise_on_bad_values(trouble, short, label)

    picked = [F.take_along_axis(col, gt_of, axis=1) for col in [cls] + _cols(boxes, 0, 4)]
    cls_target = F.where(positive, F.add(picked[0], 1.0),
                         F.where(negative, 0.0, _f32(ignore_label)))
    corners = [F.reshape(c, shape=(1, n)) for c in _cols(anchors, 0, 4)]
    offsets = _encode(corners, picked[1:], v)
    offsets = [F.where(positive, t, 0.0) for t in offsets]
    loc_target = F.reshape(F.concat(*[F.reshape(t, shape=(b, n, 1)) for t in offsets],
                                    axis=2), shape=(b, 4 * n))
    mask = F.cast(F.reshape(positive, shape=(b, n, 1)), dtype="f32")
    loc_mask = F.reshape(F.broadcast_to(mask, shape=(b, n, 4)), shape=(b, 4 * n))
    outs = [loc_target, loc_mask, cls_target]
    return outs if mining else [_depending_on(o, cls_pred) for o in outs]


def _raise_on_bad_values(trouble, short, label):
    """MXNet's value checks, read as one flag (a guard under jit / hybridize)."""
    code = F.cast(_any(trouble), dtype="i32")
    if short is not None:
        code = F.add(code, F.mul(F.cast(_any(short), dtype="i32"), 2))
    code = int(code.asscalar())
    if code & 1:
        raise MXNetError(f"MultiBoxTarget: a label row of class -1 (padding, which ends the "
                         f"ground truths) must be all -1 in [class, xmin, ymin, xmax, ymax]; "
                         f"label {tuple(label.shape)}")
    if code & 2:
        raise MXNetError("MultiBoxTarget: negative mining found fewer anchors with best IoU "
                         "under negative_mining_thresh than negative_mining_ratio asks for")


# ------------------------------------------------------------------------- MultiBoxDetection

def _decode(anchors, loc, v, clip):
    """MXNet's TransformLocations: boxes (B, N) x 4 from anchors (1, N) x 4 and loc x 4."""
    al, at, ar, ab = anchors
    px, py, pw, ph = loc
    aw, ah = F.sub(ar, al), F.sub(ab, at)
    ax, ay = F.div(F.add(al, ar), 2.0), F.div(F.add(at, ab), 2.0)
    ox = F.add(F.mul(F.mul(px, v[0]), aw), ax)
    oy = F.add(F.mul(F.mul(py, v[1]), ah), ay)
    ow = F.div(F.mul(F.exp(F.mul(pw, v[2])), aw), 2.0)
    oh = F.div(F.mul(F.exp(F.mul(ph, v[3])), ah), 2.0)
    out = [F.sub(ox, ow), F.sub(oy, oh), F.add(ox, ow), F.add(oy, oh)]
    if clip:
        out = [F.maximum(F.minimum(c, 1.0), 0.0) for c in out]
    return out


def _suppressions(head, count, nms_threshold, force):
    """(B, K, K) float 0/1: row p suppresses column q (p before q, both among the first
    `count` (B, 1), same class unless `force`, IoU >= nms_threshold, IoU 0 where the union is
    <= 0), and the candidates (B, K) bool."""
    b, k = head.shape[:2]
    cls, _, x0, y0, x1, y1 = _cols(head, 0, 6)
    row = (lambda t: F.reshape(t, shape=(b, k, 1)))
    col = (lambda t: F.reshape(t, shape=(b, 1, k)))
    w = F.maximum(F.sub(F.minimum(row(x1), col(x1)), F.maximum(row(x0), col(x0))), 0.0)
    h = F.maximum(F.sub(F.minimum(row(y1), col(y1)), F.maximum(row(y0), col(y0))), 0.0)
    inter = F.mul(w, h)
    area = F.mul(F.sub(x1, x0), F.sub(y1, y0))
    union = F.sub(F.add(row(area), col(area)), inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        # (nms_threshold > 0: a union <= 0, IoU 0 for MXNet, never suppresses)
        over = F.where(F.gt(union, 0.0), F.ge(F.div(inter, union), nms_threshold), False)
    # p < q < count, as one comparison of small iotas
    slots = F.iota(shape=(b, k), axis=1)
    inside = F.lt(slots, count)                                           # (B, K)
    later = F.where(inside, slots, -1)
    over = F.where(F.lt(F.iota(shape=(1, k, 1), axis=1), col(later)), over, False)
    if not force:
        over = F.where(F.eq(row(cls), col(cls)), over, False)
    return F.cast(over, dtype="f32"), inside


def _greedy_keep(over, cand):
    """The greedy NMS survivors among `cand` (B, K): the fixed point of 'a candidate no earlier
    survivor suppresses', from all candidates (one round per link of a suppression chain;
    each round's 'changed?' is a guard under jit / hybridize)."""
    b, k = cand.shape
    keep = cand
    for _ in range(k + 1):
        hits = F.matmul(F.reshape(F.cast(keep, dtype="f32"), shape=(b, 1, k)), over)
        new = F.where(cand, F.le(F.reshape(hits, shape=(b, k)), 0.0), False)
        changed = F.max(F.cast(F.ne(new, keep), dtype="i32"), axes=(0, 1))
        keep = new
        if not int(changed.asscalar()):
            break
    return keep


def _matrix_side(count, n):
    """The NMS matrix's side: the power of two >= the largest count (B, 1), at most n. Its
    exponent is read as a guard, so eager calls pay for the boxes kept and jit / hybridize
    compile one variant per size class."""
    levels = (n - 1).bit_length()
    if levels == 0:
        return 1
    from .nd import array
    powers = array(2 ** np.arange(levels), dtype="int64")
    exponent = F.sum(F.cast(F.gt(count, powers), dtype="i64"), axes=(0, 1))
    return min(n, 1 << int(exponent.asscalar()))


def _rows_at(rows, order):
    """rows (B, N, 6) gathered along N by order (B, N)."""
    b, n, w = rows.shape
    idx = F.broadcast_to(F.reshape(order, shape=(b, n, 1)), shape=(b, n, w))
    return F.take_along_axis(rows, idx, axis=1)


def _with_class(rows, cls):
    b, n, w = rows.shape
    rest = F.slice(rows, begin=(0, 0, 1), end=(b, n, w), step=(1, 1, 1))
    return F.concat(F.reshape(cls, shape=(b, n, 1)), rest, axis=2)


def MultiBoxDetection(cls_prob, loc_pred, anchor, clip=True, threshold=0.01, background_id=0,
                      nms_threshold=0.5, force_suppress=False, variances=(0.1, 0.1, 0.2, 0.2),
                      nms_topk=-1, **kwargs):
    """Detections (B, N, 6) rows [class_id, score, xmin, ymin, xmax, ymax] from class
    probabilities (B, C, N), box offsets (B, 4N) and anchors (1, N, 4): see the module
    docstring."""
    if kwargs:
        return _redo(MultiBoxDetection, locals())
    _check_float32("MultiBoxDetection", (("cls_prob", cls_prob), ("loc_pred", loc_pred),
                                         ("anchor", anchor)))
    v = _variances("MultiBoxDetection", variances)
    shapes = (f"cls_prob {tuple(cls_prob.shape)}, loc_pred {tuple(loc_pred.shape)}, anchor "
              f"{tuple(anchor.shape)}")
    if cls_prob.ndim != 3 or loc_pred.ndim != 2 or anchor.ndim != 3:
        raise MXNetError(f"MultiBoxDetection: expects cls_prob (batch, num_classes, "
                         f"num_anchors), loc_pred (batch, num_anchors * 4) and anchor (1, "
                         f"num_anchors, 4) ({shapes})")
    b, c, n = cls_prob.shape
    if anchor.shape[1] != n or anchor.shape[2] != 4 or n < 1 or loc_pred.shape[1] != 4 * n:
        raise MXNetError(f"MultiBoxDetection: the number of anchors differs between cls_prob, "
                         f"loc_pred and anchor, or is 0 ({shapes})")
    if loc_pred.shape[0] < b:
        raise MXNetError(f"MultiBoxDetection: loc_pred needs a row for every batch item of "
                         f"cls_prob ({shapes})")
    probs = F.stop_gradient(cls_prob)
    loc = F.reshape(F.slice(F.stop_gradient(loc_pred), begin=(0, 0), end=(b, 4 * n),
                            step=(1, 1)), shape=(b, n, 4))
    # (MXNet reads the first num_anchors boxes of anchor, whatever its first axis)
    total = int(np.prod(anchor.shape)) // 4
    anchors = F.reshape(F.slice(F.reshape(F.stop_gradient(anchor), shape=(total, 4)),
                                begin=(0, 0), end=(n, 4), step=(1, 1)), shape=(1, n, 4))
    if c > 1:
        foreground = F.slice(probs, begin=(0, 1, 0), end=(b, c, n), step=(1, 1, 1))
        score = F.max(foreground, axes=(1,))                              # (B, N)
        cls_id = F.cast(F.argmax(foreground, axis=1), dtype="f32")        # class - 1
        valid = F.where(F.gt(score, -1.0), F.ge(score, _f32(threshold)), False)
    else:                                    # no class but the background: nothing detected
        score = F.constant(value=-1.0, shape=(b, n), dtype="f32")
        cls_id = score = _depending_on(score, cls_prob)
        valid = F.constant(value=False, shape=(b, n), dtype="bool")
    boxes = _decode(_cols(anchors, 0, 4), _cols(loc, 0, 4), v, clip)
    rows = F.concat(*[F.reshape(t, shape=(b, n, 1)) for t in [cls_id, score] + boxes], axis=2)

    slot = F.iota(shape=(b, n), axis=1)
    count = F.sum(F.cast(valid, dtype="i64"), axes=(1,), keepdims=True)   # (B, 1)
    in_order = _rows_at(rows, F.argsort(F.cast(F.logical_not(valid), dtype="i32"), axis=1))
    nms_threshold = _f32(nms_threshold)
    if not 0 < nms_threshold <= 1:
        return F.where(F.reshape(F.lt(slot, count), shape=(b, n, 1)), in_order, -1.0)

    by_score = _rows_at(rows, F.argsort(F.where(valid, score, -_INF), axis=1, is_ascend=False))
    topk = int(nms_topk)
    nkeep = count if topk <= 0 else F.minimum(count, topk)
    k = _matrix_side(F.max(nkeep, axes=(0,), keepdims=True), n)
    head = F.slice(by_score, begin=(0, 0, 0), end=(b, k, 6), step=(1, 1, 1))
    over, cand = _suppressions(head, nkeep, nms_threshold, bool(force_suppress))
    keep = _greedy_keep(over, cand)
    head_cls = F.where(keep, _cols(head, 0, 1)[0], -1.0)                  # (B, K)
    if k < n:
        tail = F.constant(value=-1.0, shape=(b, n - k), dtype="f32")
        head_cls = F.concat(head_cls, tail, axis=1)
    ranked = _with_class(by_score, head_cls)
    dropped = _with_class(in_order, F.constant(value=-1.0, shape=(b, n), dtype="f32"))
    out = F.where(F.reshape(F.lt(slot, nkeep), shape=(b, n, 1)), ranked,
                  F.where(F.reshape(F.lt(slot, count), shape=(b, n, 1)), dropped, -1.0))
    return out
