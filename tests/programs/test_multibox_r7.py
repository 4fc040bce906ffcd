"""nd.contrib.MultiBoxTarget / MultiBoxDetection (SSD's targets and post-processing, d2l.ai's
object-detection chapters) against straightforward float32 loops written from MXNet 1.9.1's
CPU kernels (multibox_target.cc, multibox_detection.cc): random anchors and labels with
padding rows, ties, items without ground truth, ignore_label, negative mining on and off;
detections with clip, force_suppress, nms_topk, background_id; MXNet's own unit-test case;
their npx and mx.sym forms, errors, zero gradients, jit / hybridize, and a tiny SSD trained
for three steps whose targets are checked against the loops at every step."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

f32 = np.float32


# ------------------------------------------------------------------ references (MXNet's loops)

def _iou_ref(a, g):
    """MXNet's overlap expression in float32 (0 where the union is 0)."""
    iw = max(f32(0), f32(min(a[2], g[2]) - max(a[0], g[0])))
    ih = max(f32(0), f32(min(a[3], g[3]) - max(a[1], g[1])))
    inter = f32(iw * ih)
    union = f32(f32(f32((a[2] - a[0]) * (a[3] - a[1])) + f32((g[2] - g[0]) * (g[3] - g[1])))
                - inter)
    return f32(0) if union == 0 else f32(inter / union)


def _bg_prob(pred, j):
    top = pred[0, j]
    for k in range(1, pred.shape[0]):
        top = max(top, pred[k, j])
    total = f32(0)
    for k in range(pred.shape[0]):
        total = f32(total + np.exp(f32(pred[k, j] - top)))
    return f32(np.exp(f32(pred[0, j] - top)) / total)


def target_ref(anchors, labels, cls_preds, overlap_threshold=0.5, ignore_label=-1.0,
               negative_mining_ratio=-1.0, negative_mining_thresh=0.5,
               variances=(0.1, 0.1, 0.2, 0.2)):
    """MultiBoxTarget per batch item, as multibox_target.cc's loops; None where MXNet's
    checks fail."""
    anchors = anchors.reshape(-1, 4).astype(f32)
    labels, cls_preds = labels.astype(f32), cls_preds.astype(f32)
    n, batch = len(anchors), labels.shape[0]
    v = [f32(x) for x in variances]
    loc = np.zeros((batch, n * 4), f32)
    mask = np.zeros((batch, n * 4), f32)
    cls = np.full((batch, n), f32(ignore_label), f32)
    for b in range(batch):
        lab = labels[b]
        ngt = 0
        for row in lab:
            if row[0] == -1:
                if any(row[1:5] != -1):
                    return None
                break
            ngt += 1
        if ngt == 0:
            continue
        iou = np.array([[_iou_ref(anchors[j], lab[k, 1:5]) for k in range(ngt)]
                        for j in range(n)], f32)
        flag, best, gt_done, npos = [-1] * n, [(f32(-1), -1)] * n, [False] * ngt, 0
        while not all(gt_done):
            pick, top = None, f32(1e-6)
            for j in range(n):
                if flag[j] == 1:
                    continue
                for k in range(ngt):
                    if not gt_done[k] and iou[j, k] > top:
                        pick, top = (j, k), iou[j, k]
            if pick is None:
                break
            best[pick[0]] = (top, pick[1])
            flag[pick[0]], gt_done[pick[1]] = 1, True
            npos += 1

        def best_gt(j):
            k_best, top = -1, f32(-1)
            for k in range(ngt):
                if iou[j, k] > top:
                    k_best, top = k, iou[j, k]
            return top, k_best
        if overlap_threshold > 0:
            for j in range(n):
                if flag[j] != 1:
                    best[j] = best_gt(j)
                    if best[j][0] > f32(overlap_threshold):
                        flag[j] = 1
                        npos += 1
        if negative_mining_ratio > 0:
            nneg = min(int(f32(npos) * f32(negative_mining_ratio)), n - npos)
            if nneg > 0:
                pool = []
                for j in range(n):
                    if flag[j] == 1:
                        continue
                    if best[j][0] < 0:
                        best[j] = best_gt(j)
                    if best[j][0] < f32(negative_mining_thresh):
                        pool.append((-_bg_prob(cls_preds[b], j), j))
                if len(pool) < nneg:
                    return None
                pool.sort(key=lambda t: t[0], reverse=True)     # stable
                for _, j in pool[:nneg]:
                    flag[j] = 0
        else:
            flag = [1 if f == 1 else 0 for f in flag]
        for j in range(n):
            if flag[j] == 1:
                g = lab[best[j][1]]
                cls[b, j] = f32(g[0] + 1)
                mask[b, 4 * j:4 * j + 4] = 1
                al, at, ar, ab = anchors[j]
                aw, ah = f32(ar - al), f32(ab - at)
                ax, ay = f32((al + ar) * f32(0.5)), f32((at + ab) * f32(0.5))
                gw, gh = f32(g[3] - g[1]), f32(g[4] - g[2])
                gx, gy = f32((g[1] + g[3]) * f32(0.5)), f32((g[2] + g[4]) * f32(0.5))
                loc[b, 4 * j:4 * j + 4] = [f32(f32((gx - ax) / aw) / v[0]),
                                           f32(f32((gy - ay) / ah) / v[1]),
                                           f32(np.log(f32(gw / aw)) / v[2]),
                                           f32(np.log(f32(gh / ah)) / v[3])]
            elif flag[j] == 0:
                cls[b, j] = 0
    return loc, mask, cls


def _overlap_det(a, b):
    w = max(f32(0), f32(min(a[2], b[2]) - max(a[0], b[0])))
    h = max(f32(0), f32(min(a[3], b[3]) - max(a[1], b[1])))
    i = f32(w * h)
    u = f32(f32(f32((a[2] - a[0]) * (a[3] - a[1])) + f32((b[2] - b[0]) * (b[3] - b[1]))) - i)
    return f32(0) if u <= 0 else f32(i / u)


def detection_ref(cls_prob, loc_pred, anchors, clip=True, threshold=0.01, nms_threshold=0.5,
                  force_suppress=False, variances=(0.1, 0.1, 0.2, 0.2), nms_topk=-1):
    """MultiBoxDetection as multibox_detection.cc's loops (background_id plays no part)."""
    batch, c, n = cls_prob.shape
    anchors = anchors.reshape(-1, 4)[:n].astype(f32)
    v = [f32(x) for x in variances]
    out = np.full((batch, n, 6), -1, f32)
    for b in range(batch):
        rows = []
        for i in range(n):
            score, cid = f32(-1), 0
            for j in range(1, c):
                if cls_prob[b, j, i] > score:
                    score, cid = f32(cls_prob[b, j, i]), j
            if cid > 0 and score < f32(threshold):
                cid = 0
            if cid == 0:
                continue
            al, at, ar, ab = anchors[i]
            px, py, pw, ph = loc_pred[b, 4 * i:4 * i + 4].astype(f32)
            aw, ah = f32(ar - al), f32(ab - at)
            ax, ay = f32(f32(al + ar) / f32(2)), f32(f32(at + ab) / f32(2))
            ox = f32(f32(f32(px * v[0]) * aw) + ax)
            oy = f32(f32(f32(py * v[1]) * ah) + ay)
            ow = f32(f32(np.exp(f32(pw * v[2])) * aw) / f32(2))
            oh = f32(f32(np.exp(f32(ph * v[3])) * ah) / f32(2))
            box = [f32(ox - ow), f32(oy - oh), f32(ox + ow), f32(oy + oh)]
            if clip:
                box = [max(f32(0), min(f32(1), x)) for x in box]
            rows.append([f32(cid - 1), score] + box)
        valid = len(rows)
        for p, r in enumerate(rows):
            out[b, p] = r
        if valid < 1 or nms_threshold <= 0 or nms_threshold > 1:
            continue
        order = sorted(range(valid), key=lambda p: rows[p][1], reverse=True)   # stable
        nkeep = valid if not 0 < nms_topk < valid else nms_topk
        out[b, nkeep:valid, 0] = -1
        for p in range(nkeep):
            out[b, p] = rows[order[p]]
        for p in range(nkeep):
            if out[b, p, 0] < 0:
                continue
            for q in range(p + 1, nkeep):
                if out[b, q, 0] < 0:
                    continue
                if force_suppress or out[b, p, 0] == out[b, q, 0]:
                    if _overlap_det(out[b, p, 2:], out[b, q, 2:]) >= f32(nms_threshold):
                        out[b, q, 0] = -1
    return out


# ---------------------------------------------------------------------------- random inputs

def _boxes(rs, shape, size=0.6):
    xy = rs.rand(*shape, 2) * (1 - size / 2)
    wh = rs.rand(*shape, 2) * size + 0.02
    return np.concatenate([xy, xy + wh], -1)


def _target_case(seed, n=24, m=4, batch=3, classes=3):
    rs = np.random.RandomState(seed)
    anchors = _boxes(rs, (n,))
    anchors[5] = anchors[2]                     # identical anchors: ties broken by index
    labels = np.full((batch, m, 6), -1.0)
    counts = [m, 2, 0] + [1] * (batch - 3)      # full, padded, no ground truth
    for b, k in enumerate(counts):
        labels[b, :k, 0] = rs.randint(0, classes, k)
        labels[b, :k, 1:5] = _boxes(rs, (k,), 0.5)
        labels[b, :k, 5] = rs.randint(0, 2, k)  # an extra column (a 'difficult' flag)
    labels[0, 3, 1:5] = anchors[7]              # an exact match
    cls_preds = np.round(rs.randn(batch, classes + 1, n), 1)   # rounded: ties in mining
    return (anchors[None].astype(f32), labels.astype(f32), cls_preds.astype(f32))


def _nd(*arrays):
    return [nd.array(a, dtype="float32") for a in arrays]


def _assert_targets(got, want):
    loc, mask, cls = (x.asnumpy() for x in got)
    np.testing.assert_array_equal(cls, want[2])
    np.testing.assert_array_equal(mask, want[1])
    np.testing.assert_allclose(loc, want[0], rtol=2e-6, atol=2e-6)


# ------------------------------------------------------------------------------ MultiBoxTarget

def test_mxnets_own_multibox_target_case():
    """tests/python/unittest/test_contrib_operator.py::test_multibox_target_op."""
    anchors = nd.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]).reshape((1, -1, 4))
    cls_pred = nd.array(list(range(10))).reshape((1, -1, 2))
    label = nd.array([1, 0.1, 0.1, 0.5, 0.6]).reshape((1, -1, 5))
    loc, mask, cls = nd.contrib.MultiBoxTarget(anchors, label, cls_pred, overlap_threshold=0.5,
                                               negative_mining_ratio=3,
                                               negative_mining_thresh=0.4)
    np.testing.assert_allclose(loc.asnumpy(), [[5.0, 2.5000005, 3.4657357, 4.581454, 0, 0, 0,
                                                0]], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(mask.asnumpy(), [[1, 1, 1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(cls.asnumpy(), [[2, 0]])
    assert loc.dtype == mask.dtype == cls.dtype == np.float32


@pytest.mark.parametrize("kw", [
    {},
    dict(overlap_threshold=0.3, ignore_label=-2.0),
    dict(overlap_threshold=0.0),                            # threshold stage skipped
    dict(negative_mining_ratio=2.0, negative_mining_thresh=0.3),
    dict(negative_mining_ratio=1.5, negative_mining_thresh=0.5, overlap_threshold=0.2,
         ignore_label=7.0, variances=(0.2, 0.3, 0.5, 0.4), minimum_negative_samples=4),
    dict(negative_mining_ratio=3.0, negative_mining_thresh=0.6, overlap_threshold=-1.0),
])
def test_multibox_target_matches_mxnets_loops(kw):
    for seed in range(4):
        anchors, labels, preds = _target_case(seed)
        want = target_ref(anchors, labels, preds, **{k: v for k, v in kw.items()
                                                     if k != "minimum_negative_samples"})
        got = nd.contrib.MultiBoxTarget(*_nd(anchors, labels, preds), **kw)
        _assert_targets(got, want)
        cls = want[2]
        assert (cls[2] == kw.get("ignore_label", -1.0)).all()   # no ground truth: ignored
        assert (cls[:2] > 0).any()


def test_negative_mining_picks_the_lowest_background_probabilities():
    # one ground truth matched by anchor 0; anchors 1..5 are candidates, ratio 2 -> 2 of them
    anchors = np.array([[[0, 0, .5, .5], [.6, .6, .7, .7], [.6, .6, .8, .8],
                         [.7, .7, .9, .9], [.1, .6, .2, .9], [.8, .1, .9, .2]]], f32)
    label = np.array([[[2, 0, 0, .5, .5]]], f32)
    preds = np.zeros((1, 3, 6), f32)
    preds[0, 1] = [0, 1, 3, 3, 0, 2]          # anchors 2, 3 tie (lowest background prob)
    loc, mask, cls = nd.contrib.MultiBoxTarget(*_nd(anchors, label, preds),
                                               negative_mining_ratio=2)
    np.testing.assert_array_equal(cls.asnumpy(), [[3, -1, 0, 0, -1, -1]])
    np.testing.assert_array_equal(loc.asnumpy()[0, :4], [0, 0, 0, 0])
    _assert_targets((loc, mask, cls), target_ref(anchors, label, preds,
                                                 negative_mining_ratio=2))


def test_value_checks_raise_as_mxnet():
    anchors, labels, preds = _target_case(0)
    bad = labels.copy()
    bad[1, 2, 3] = 0.5                          # a padding row that is not all -1
    assert target_ref(anchors, bad, preds) is None
    with pytest.raises(MXNetError, match="MultiBoxTarget: a label row of class -1"):
        nd.contrib.MultiBoxTarget(*_nd(anchors, bad, preds))
    after = labels.copy()
    after[1, 3, 1:5] = 0.5                      # rows after the first padding: not read
    _assert_targets(nd.contrib.MultiBoxTarget(*_nd(anchors, after, preds)),
                    target_ref(anchors, after, preds))
    # anchors 1, 2 overlap the ground truth by IoU 0.81, 0.72: neither positive (<= 0.9) nor
    # negative candidates (>= 0.5), so mining finds none of the two it wants
    a = np.array([[[0, 0, 1, 1], [0, 0, .9, .9], [0, 0, .8, .9]]], f32)
    lab = np.array([[[0, 0, 0, 1, 1]]], f32)
    p = np.zeros((1, 2, 3), f32)
    kw = dict(overlap_threshold=0.9, negative_mining_ratio=3)
    assert target_ref(a, lab, p, **kw) is None
    with pytest.raises(MXNetError, match="negative mining found fewer anchors"):
        nd.contrib.MultiBoxTarget(*_nd(a, lab, p), **kw)
    with pytest.raises(MXNetError, match="negative_mining_thresh must be > 0"):
        nd.contrib.MultiBoxTarget(*_nd(a, lab, p), negative_mining_ratio=3,
                                  negative_mining_thresh=0)


def test_bad_shapes_and_dtypes_name_the_op_and_shapes():
    a, lab, p = _nd(np.zeros((1, 3, 4)), np.zeros((2, 1, 5)), np.zeros((2, 2, 3)))
    with pytest.raises(MXNetError, match=r"MultiBoxTarget: anchor must be .*\(3, 4\)"):
        nd.contrib.MultiBoxTarget(nd.zeros((3, 4)), lab, p)
    with pytest.raises(MXNetError, match=r"MultiBoxTarget: anchor must be .*\(2, 3, 4\)"):
        nd.contrib.MultiBoxTarget(nd.zeros((2, 3, 4)), lab, p)
    with pytest.raises(MXNetError, match=r"MultiBoxTarget: label must be .*\(2, 1, 4\)"):
        nd.contrib.MultiBoxTarget(a, nd.zeros((2, 1, 4)), p)
    with pytest.raises(MXNetError, match=r"MultiBoxTarget: cls_pred must be .*cls_pred "
                                         r"\(2, 2, 5\)"):
        nd.contrib.MultiBoxTarget(a, lab, nd.zeros((2, 2, 5)))
    with pytest.raises(MXNetError, match=r"MultiBoxTarget: negative mining reads cls_pred"):
        nd.contrib.MultiBoxTarget(a, lab, nd.zeros((1, 2, 3)), negative_mining_ratio=3)
    with pytest.raises(MXNetError, match=r"float32 only; got anchor float64"):
        nd.contrib.MultiBoxTarget(nd.zeros((1, 3, 4), dtype="float64"), lab, p)
    with pytest.raises(MXNetError, match="MultiBoxTarget: variances must be 4 numbers"):
        nd.contrib.MultiBoxTarget(a, lab, p, variances=(0.1, 0.2))
    c, loc = _nd(np.zeros((2, 3, 5)), np.zeros((2, 20)))
    with pytest.raises(MXNetError, match=r"MultiBoxDetection: expects .*cls_prob \(2, 15\)"):
        nd.contrib.MultiBoxDetection(nd.zeros((2, 15)), loc, nd.zeros((1, 5, 4)))
    with pytest.raises(MXNetError, match=r"MultiBoxDetection: the number of anchors differs"
                                         r".*anchor \(1, 4, 4\)"):
        nd.contrib.MultiBoxDetection(c, loc, nd.zeros((1, 4, 4)))
    with pytest.raises(MXNetError, match=r"number of anchors differs.*loc_pred \(2, 16\)"):
        nd.contrib.MultiBoxDetection(c, nd.zeros((2, 16)), nd.zeros((1, 5, 4)))
    with pytest.raises(MXNetError, match=r"loc_pred needs a row for every batch item"):
        nd.contrib.MultiBoxDetection(c, nd.zeros((1, 20)), nd.zeros((1, 5, 4)))
    with pytest.raises(MXNetError, match=r"MultiBoxDetection: .*float32 only; got cls_prob "
                                         r"float16"):
        nd.contrib.MultiBoxDetection(nd.zeros((2, 3, 5), dtype="float16"), loc,
                                     nd.zeros((1, 5, 4)))


def test_no_gradient_reaches_the_inputs():
    anchors, labels, preds = _target_case(1)
    a, lab, p = _nd(anchors, labels, preds)
    for x in (a, lab, p):
        x.attach_grad()
    with autograd.record():
        loc, mask, cls = nd.contrib.MultiBoxTarget(a, lab, p, negative_mining_ratio=3)
        det = nd.contrib.MultiBoxDetection(nd.softmax(p, axis=1), loc + p[:, 0, :1], a)
        head = (loc * 2).sum() + mask.sum() + cls.sum() + det.sum() + (p * p).sum()
    head.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), 0)
    np.testing.assert_array_equal(lab.grad.asnumpy(), 0)
    np.testing.assert_allclose(p.grad.asnumpy(), 2 * preds, rtol=1e-6)   # only p * p
    with autograd.record():
        out = nd.contrib.MultiBoxTarget(a, lab, p)[2]
    out.backward()                                   # MXNet: zero gradients, no error
    np.testing.assert_array_equal(p.grad.asnumpy(), 0)


# --------------------------------------------------------------------------- MultiBoxDetection

def test_a_hand_checked_detection_case():
    """Four anchors, zero offsets: classes 0 / 1 best at 0.9 (a tie kept in anchor order), the
    two class-0 boxes overlapping the first by IoU >= 0.5 suppressed."""
    anchors = np.array([[[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                         [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]]], f32)
    probs = np.array([[[0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]]], f32)
    out = nd.contrib.MultiBoxDetection(*_nd(probs, np.zeros((1, 16)), anchors),
                                       nms_threshold=0.5).asnumpy()
    np.testing.assert_array_equal(out[0, :, :2], np.array([[0, 0.9], [1, 0.9], [-1, 0.8],
                                                           [-1, 0.7]], f32))
    np.testing.assert_allclose(out[0, :, 2:], anchors[0, [0, 3, 1, 2]], atol=1e-6)


@pytest.mark.parametrize("kw", [
    {},
    dict(clip=False, threshold=0.2),
    dict(force_suppress=True, nms_threshold=0.3),
    dict(nms_topk=5),
    dict(nms_topk=5, force_suppress=True, clip=False),
    dict(nms_topk=100, nms_threshold=0.45, variances=(0.2, 0.1, 0.3, 0.25)),
    dict(nms_threshold=0.0),                     # no NMS: kept rows unsorted
    dict(nms_threshold=1.5, nms_topk=3),
    dict(threshold=0.5, nms_threshold=1.0),
])
def test_multibox_detection_matches_mxnets_loops(kw):
    rs = np.random.RandomState(len(str(kw)))
    batch, c, n = 3, 4, 30
    anchors = _boxes(rs, (n,), 0.4)[None]
    anchors[0, 9] = anchors[0, 4]
    probs = np.round(rs.rand(batch, c, n), 1)
    probs = np.round(probs / probs.sum(1, keepdims=True), 2)          # rounded: score ties
    probs[2] = 0.005                    # below the threshold: one box kept in item 2
    probs[2, 2, 3] = 0.9
    loc = rs.randn(batch, 4 * n) * 2
    args = [x.astype(f32) for x in (probs, loc, anchors)]
    want = detection_ref(*args, **kw)
    for background_id in (0, 2):                         # unused, as in MXNet's kernel
        got = nd.contrib.MultiBoxDetection(*_nd(*args), background_id=background_id,
                                           **kw).asnumpy()
        np.testing.assert_array_equal(got[..., :2], want[..., :2])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert (want[..., 0] >= 0).sum() > 3 and (want[..., 0] == -1).any()


def test_detection_with_one_class_and_the_first_anchors_of_a_larger_anchor_array():
    probs = np.ones((2, 1, 3), f32)
    out = nd.contrib.MultiBoxDetection(*_nd(probs, np.zeros((2, 12)),
                                            np.zeros((1, 3, 4)))).asnumpy()
    np.testing.assert_array_equal(out, -np.ones((2, 3, 6)))
    rs = np.random.RandomState(2)
    anchors = _boxes(rs, (2, 5), 0.4).astype(f32)         # MXNet reads the first 5 boxes
    probs = rs.rand(1, 3, 5).astype(f32)
    loc = rs.randn(1, 20).astype(f32)
    got = nd.contrib.MultiBoxDetection(*_nd(probs, loc, anchors)).asnumpy()
    np.testing.assert_allclose(got, detection_ref(probs, loc, anchors[:1]), atol=1e-6)


# ------------------------------------------------------------------ npx, mx.sym, jit, hybridize

def test_npx_names_and_symbols_agree_with_nd():
    from tracegrad import np as mnp, npx
    anchors, labels, preds = _target_case(3)
    want = nd.contrib.MultiBoxTarget(*_nd(anchors, labels, preds), negative_mining_ratio=2)
    got = npx.multibox_target(mnp.array(anchors), mnp.array(labels), mnp.array(preds),
                              negative_mining_ratio=2)
    assert all(isinstance(g, mnp.ndarray) for g in got)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.asnumpy(), w.asnumpy())
    probs = nd.softmax(nd.array(preds), axis=1)
    loc = nd.array(np.random.RandomState(0).randn(3, 96), dtype="float32")
    det = npx.multibox_detection(mnp.array(probs.asnumpy()), mnp.array(loc.asnumpy()),
                                 mnp.array(anchors), nms_topk=10)
    assert isinstance(det, mnp.ndarray)
    np.testing.assert_array_equal(det.asnumpy(), nd.contrib.MultiBoxDetection(
        probs, loc, nd.array(anchors), nms_topk=10).asnumpy())

    sa, sl, sp = mx.sym.var("anchor"), mx.sym.var("label"), mx.sym.var("cls_pred")
    target = mx.sym.contrib.MultiBoxTarget(sa, sl, sp, negative_mining_ratio=2,
                                           variances=(0.1, 0.1, 0.2, 0.2), name="mbt")
    assert target.list_outputs() == ["mbt_loc_target", "mbt_loc_mask", "mbt_cls_target"]
    target = mx.sym.load_json(target.tojson())                  # attributes as strings
    assert target.infer_shape(anchor=(1, 24, 4), label=(3, 4, 6), cls_pred=(3, 4, 24))[1] \
        == [(3, 96), (3, 96), (3, 24)]
    ex = target.bind(mx.cpu(), dict(zip(("anchor", "label", "cls_pred"),
                                        _nd(anchors, labels, preds))))
    for g, w in zip(ex.forward(), want):
        np.testing.assert_array_equal(g.asnumpy(), w.asnumpy())
    det_sym = mx.sym.contrib.MultiBoxDetection(mx.sym.var("p"), mx.sym.var("l"), sa,
                                               nms_topk=10)
    ex = mx.sym.load_json(det_sym.tojson()).bind(mx.cpu(), {"p": probs, "l": loc,
                                                            "anchor": nd.array(anchors)})
    np.testing.assert_array_equal(ex.forward()[0].asnumpy(), det.asnumpy())


def test_jit_and_hybridized_blocks_match_the_loops_on_new_inputs():
    class Targets(gluon.HybridBlock):
        def hybrid_forward(self, F, anchor, label, pred):
            loc, mask, cls = F.contrib.MultiBoxTarget(anchor, label, pred,
                                                      negative_mining_ratio=3)
            dets = F.contrib.MultiBoxDetection(F.softmax(pred, axis=1), loc, anchor,
                                               nms_topk=12)
            return loc, mask, cls, dets
    net = Targets()
    net.hybridize()
    for seed in (4, 5, 6):
        anchors, labels, preds = _target_case(seed)
        loc, mask, cls, dets = net(*_nd(anchors, labels, preds))
        want = target_ref(anchors, labels, preds, negative_mining_ratio=3)
        _assert_targets((loc, mask, cls), want)
        probs = nd.softmax(nd.array(preds), axis=1).asnumpy()
        want_det = detection_ref(probs, want[0], anchors, nms_topk=12)
        np.testing.assert_array_equal(dets.asnumpy()[..., :2], want_det[..., :2])
        np.testing.assert_allclose(dets.asnumpy(), want_det, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------- a tiny SSD, trained

class TinySSD(gluon.HybridBlock):
    """d2l's SSD in miniature: one feature map, MultiBoxPrior anchors, class and box heads."""

    def __init__(self, num_classes=2, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.body = gluon.nn.Conv2D(8, 3, strides=2, padding=1, activation="relu")
        self.cls = gluon.nn.Conv2D(3 * (num_classes + 1), 3, padding=1)
        self.box = gluon.nn.Conv2D(3 * 4, 3, padding=1)

    def hybrid_forward(self, F, x):
        y = self.body(x)
        anchors = F.contrib.MultiBoxPrior(y, sizes=(0.3, 0.6), ratios=(1, 2))
        cls = F.reshape(F.transpose(self.cls(y), axes=(0, 2, 3, 1)),
                        shape=(0, -1, self.num_classes + 1))
        box = F.flatten(F.transpose(self.box(y), axes=(0, 2, 3, 1)))
        return anchors, cls, box


def _train_ssd(hybridize, images, labels):
    mx.random.seed(11)
    net = TinySSD()
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.2})
    cls_loss = gluon.loss.SoftmaxCrossEntropyLoss()
    box_loss = gluon.loss.L1Loss()
    losses = []
    for _ in range(3):
        with autograd.record():
            anchors, cls_preds, bbox_preds = net(images)
            bbox_labels, bbox_masks, cls_labels = nd.contrib.MultiBoxTarget(
                anchors, labels, cls_preds.transpose((0, 2, 1)), negative_mining_ratio=3)
            want = target_ref(anchors.asnumpy(), labels.asnumpy(),
                              cls_preds.transpose((0, 2, 1)).asnumpy(),
                              negative_mining_ratio=3)
            _assert_targets((bbox_labels, bbox_masks, cls_labels), want)
            keep = cls_labels >= 0               # mined negatives and positives count
            c = cls_loss(cls_preds, nd.maximum(cls_labels, 0), nd.expand_dims(keep, -1))
            b = box_loss(bbox_preds * bbox_masks, bbox_labels * bbox_masks)
            loss = c + b
        loss.backward()
        trainer.step(images.shape[0])
        losses.append(float(loss.mean().asscalar()))
    return losses, net.cls.weight.data().asnumpy()


def test_a_tiny_ssd_trains_with_checked_targets_hybridized_or_not():
    rs = np.random.RandomState(8)
    images = nd.array(rs.rand(2, 3, 16, 16), dtype="float32")
    labels = nd.array([[[0, 0.1, 0.1, 0.5, 0.6], [1, 0.5, 0.4, 0.9, 0.95]],
                       [[1, 0.2, 0.3, 0.7, 0.8], [-1, -1, -1, -1, -1]]], dtype="float32")
    eager, w_eager = _train_ssd(False, images, labels)
    hybrid, w_hybrid = _train_ssd(True, images, labels)
    assert all(np.isfinite(eager)) and eager[-1] < eager[0]
    np.testing.assert_allclose(hybrid, eager, rtol=1e-4)
    np.testing.assert_allclose(w_hybrid, w_eager, rtol=1e-4, atol=1e-5)


def test_d2l_np_style_ssd_step_and_prediction():
    """d2l's SSD chapter with mx.np / npx (set_np): anchors, targets, a loss step, and
    predict()'s multibox_detection on softmax probabilities, each against the loops."""
    from tracegrad import np as mnp, npx
    npx.set_np()
    try:
        mx.random.seed(2)
        body = gluon.nn.Conv2D(8, 3, strides=2, padding=1, activation="relu")
        cls_head = gluon.nn.Conv2D(3 * 2, 3, padding=1)
        box_head = gluon.nn.Conv2D(3 * 4, 3, padding=1)
        blocks = [body, cls_head, box_head]
        for blk in blocks:
            blk.initialize()
        params = {}
        for blk in blocks:
            params.update(blk.collect_params())
        trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
        X = mnp.array(np.random.RandomState(1).rand(2, 3, 16, 16), dtype="float32")
        Y = mnp.array([[[0, 0.1, 0.2, 0.6, 0.7]], [[0, 0.4, 0.3, 0.9, 0.8]]], dtype="float32")
        cls_loss = gluon.loss.SoftmaxCrossEntropyLoss()
        with autograd.record():
            feat = body(X)
            anchors = npx.multibox_prior(feat, sizes=[0.3, 0.5], ratios=[1, 2])
            cls_preds = cls_head(feat).transpose(0, 2, 3, 1).reshape(2, -1, 2)
            bbox_preds = box_head(feat).transpose(0, 2, 3, 1).reshape(2, -1)
            bbox_labels, bbox_masks, cls_labels = npx.multibox_target(
                anchors, Y, cls_preds.transpose(0, 2, 1))
            loss = cls_loss(cls_preds, cls_labels) + (
                mnp.abs((bbox_preds - bbox_labels) * bbox_masks)).mean(axis=1)
        loss.backward()
        trainer.step(2)
        assert all(isinstance(t, mnp.ndarray) for t in (bbox_labels, bbox_masks, cls_labels))
        _assert_targets((bbox_labels, bbox_masks, cls_labels),
                        target_ref(anchors.asnumpy(), Y.asnumpy(),
                                   cls_preds.transpose(0, 2, 1).asnumpy()))
        assert (cls_labels.asnumpy() == 1).sum() >= 2 and np.isfinite(loss.asnumpy()).all()
        assert np.abs(box_head.weight.grad().asnumpy()).sum() > 0
        cls_probs = npx.softmax(cls_preds).transpose(0, 2, 1)
        output = npx.multibox_detection(cls_probs, bbox_preds, anchors)
        want = detection_ref(cls_probs.asnumpy(), bbox_preds.asnumpy(), anchors.asnumpy())
        np.testing.assert_array_equal(output.asnumpy()[..., :2], want[..., :2])
        np.testing.assert_allclose(output.asnumpy(), want, rtol=1e-5, atol=1e-6)
        idx = [i for i, row in enumerate(output[0]) if row[0] != -1]
        assert 0 < len(idx) < output.shape[1]
    finally:
        npx.reset_np()
