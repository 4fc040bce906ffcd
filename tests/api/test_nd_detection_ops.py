"""nd.ROIPooling and nd.contrib.MultiBoxPrior (MXNet 1.9.1 semantics): values against numpy
references that follow MXNet's CPU kernels loop by loop, compiled (mx.jit) against eager,
gradients (ROIPooling: to each bin's maximum, none to the boxes) against finite
differences, and bad input raising errors that name the op and the shapes."""
import math
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError
from tracegrad.tracing.trace import trace

from arrays import keep_dtype as array

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402

RNG = np.random.default_rng(8)


def _c_round(v):
    return math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)


def _roi_pool_ref(data, rois, ph_n, pw_n, scale):
    n, c, h, w = data.shape
    out = np.zeros((len(rois), c, ph_n, pw_n), data.dtype)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        sw, sh, ew, eh = (_c_round(v * scale) for v in roi[1:])
        bh = max(eh - sh + 1, 1) / ph_n
        bw = max(ew - sw + 1, 1) / pw_n
        for i in range(ph_n):
            for j in range(pw_n):
                hs = min(max(math.floor(i * bh) + sh, 0), h)
                he = min(max(math.ceil((i + 1) * bh) + sh, 0), h)
                ws = min(max(math.floor(j * bw) + sw, 0), w)
                we = min(max(math.ceil((j + 1) * bw) + sw, 0), w)
                if he <= hs or we <= ws or not 0 <= b < n:
                    continue
                out[k, :, i, j] = data[b, :, hs:he, ws:we].max(axis=(1, 2))
    return out


ROIS = np.array([[0, 0, 0, 7, 7], [1, 2.4, 1.5, 9.6, 5.2], [0, 3, 3, 3, 3],
                 [1, -4, -2, 2, 30], [2, 1, 1, 4, 4], [0, 9, 9, 12, 12]])


def test_roi_pooling_values():
    data = RNG.standard_normal((2, 3, 10, 11))
    for size, scale in (((2, 2), 1.0), ((3, 2), 0.5), (4, 0.8)):
        out = nd.ROIPooling(array(data), array(ROIS), pooled_size=size, spatial_scale=scale)
        p = (size, size) if isinstance(size, int) else size
        np.testing.assert_array_equal(out.asnumpy(), _roi_pool_ref(data, ROIS, *p, scale))
    compiled = mx.jit(lambda d, r: nd.ROIPooling(d, r, pooled_size=(2, 3), spatial_scale=0.9))
    for _ in range(2):
        got = compiled(array(data.astype(np.float32)), array(ROIS.astype(np.float32)))
    np.testing.assert_array_equal(got.asnumpy(), _roi_pool_ref(
        data.astype(np.float32), ROIS.astype(np.float32), 2, 3, np.float32(0.9)))


def test_roi_pooling_gradients():
    data = RNG.standard_normal((2, 2, 6, 7))
    rois = np.array([[0, 0, 0, 4, 5], [1, 1, 2, 6, 5]])
    tr = trace(lambda d: nd.ROIPooling(d, array(rois), pooled_size=(2, 2), spatial_scale=1.0),
               [array(data)])
    check_grads(tr.function, [data] + [v.data for v in tr.captured], order=2)
    d, r = array(data.astype(np.float32)), array(rois.astype(np.float32))
    d.attach_grad()
    r.attach_grad()
    with autograd.record():
        y = nd.ROIPooling(d, r, pooled_size=(2, 2), spatial_scale=1.0).sum()
    y.backward()
    # each bin's maximum gets 1 (neighbouring bins may share rows); the boxes get nothing
    want = np.zeros_like(data)
    for roi in rois:     # (bins as in _roi_pool_ref; these boxes lie inside the map)
        b, sw, sh, ew, eh = (int(v) for v in roi)
        bh, bw = (eh - sh + 1) / 2, (ew - sw + 1) / 2
        for i in range(2):
            hs, he = math.floor(i * bh) + sh, math.ceil((i + 1) * bh) + sh
            for j in range(2):
                ws, we = math.floor(j * bw) + sw, math.ceil((j + 1) * bw) + sw
                for ch in range(2):
                    win = data[b, ch, hs:he, ws:we].astype(np.float32)
                    y0, x0 = np.unravel_index(win.argmax(), win.shape)
                    want[b, ch, hs + y0, ws + x0] += 1
    np.testing.assert_array_equal(d.grad.asnumpy(), want)
    np.testing.assert_array_equal(r.grad.asnumpy(), np.zeros_like(rois))
    with pytest.raises(MXNetError, match=r"ROIPooling: .*data \(2, 2, 6, 7\) and rois \(2, 4\)"):
        nd.ROIPooling(d, nd.zeros((2, 4)), pooled_size=(2, 2), spatial_scale=1.0)


def _prior_ref(h, w, sizes, ratios, steps=(-1, -1), offsets=(0.5, 0.5), clip=False):
    f = np.float32
    sy, sx = (f(1) / f(h), f(1) / f(w)) if steps[0] <= 0 else (f(steps[0]), f(steps[1]))
    out = []
    for r in range(h):
        cy = (r + f(offsets[0])) * sy
        for c in range(w):
            cx = (c + f(offsets[1])) * sx
            q = np.sqrt(f(ratios[0]))
            shapes = [(f(s), q) for s in sizes] + [(f(sizes[0]), np.sqrt(f(t)))
                                                   for t in ratios[1:]]
            for s, q in shapes:
                bw, bh = s * f(h) / f(w) * q / f(2), s / q / f(2)
                out.append([cx - bw, cy - bh, cx + bw, cy + bh])
    out = np.array(out, f).reshape(1, -1, 4)
    return np.clip(out, 0, 1) if clip else out


def test_multibox_prior():
    x = nd.zeros((2, 5, 3, 4))
    for kw in (dict(sizes=(0.5, 0.25), ratios=(1, 2, 0.5)),
               dict(sizes=(0.9,), ratios=(1.5,), clip=True),
               dict(sizes=(0.3, 0.6), ratios=(1, 3), steps=(0.2, 0.25), offsets=(0.3, 0.7))):
        out = nd.contrib.MultiBoxPrior(x, **kw)
        ref = _prior_ref(3, 4, **kw)
        assert out.shape == ref.shape and out.dtype == np.float32
        np.testing.assert_allclose(out.asnumpy(), ref, rtol=1e-7, atol=1e-7)
    compiled = mx.jit(lambda d: nd.contrib.MultiBoxPrior(d, sizes=(0.5,), ratios=(1, 2)) * 2)
    for _ in range(2):
        got = compiled(x)
    np.testing.assert_allclose(got.asnumpy(), 2 * _prior_ref(3, 4, (0.5,), (1, 2)), rtol=1e-7)
    with pytest.raises(MXNetError, match=r"MultiBoxPrior: data should be 4D.*\(3, 4\)"):
        nd.contrib.MultiBoxPrior(nd.zeros((3, 4)))
    with pytest.raises(MXNetError, match="MultiBoxPrior: sizes and ratios must be positive"):
        nd.contrib.MultiBoxPrior(x, sizes=(-1.0,))


def _roi_align_ref(data, rois, ph_n, pw_n, scale, ratio=-1, ps=False, aligned=False):
    """MXNet's ROIAlignForward with pre_calc_for_bilinear_interpolate, loop by loop."""
    n, c, h, w = data.shape
    co = c // (ph_n * pw_n) if ps else c
    out = np.zeros((len(rois), co, ph_n, pw_n))
    for k, roi in enumerate(rois):
        b = int(roi[0]) if len(roi) == 5 else 0
        if b < 0:
            continue
        off = 0.5 if aligned else 0.0
        x1, y1, x2, y2 = (v * scale - off for v in roi[-4:])
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph_n, rw / pw_n
        gh = ratio if ratio > 0 else math.ceil(rh / ph_n)
        gw = ratio if ratio > 0 else math.ceil(rw / pw_n)
        for ch in range(co):
            for i in range(ph_n):
                for j in range(pw_n):
                    src = ch * ph_n * pw_n + i * pw_n + j if ps else ch
                    total = 0.0
                    for iy in range(gh):
                        y = y1 + i * bh + (iy + .5) * bh / gh
                        for ix in range(gw):
                            x = x1 + j * bw + (ix + .5) * bw / gw
                            if y < -1.0 or y > h or x < -1.0 or x > w:
                                continue
                            y, x = max(y, 0.0), max(x, 0.0)
                            yl, xl = int(y), int(x)
                            if yl >= h - 1:
                                yl = yh = h - 1
                                y = float(yl)
                            else:
                                yh = yl + 1
                            if xl >= w - 1:
                                xl = xh = w - 1
                                x = float(xl)
                            else:
                                xh = xl + 1
                            ly, lx = y - yl, x - xl
                            img = data[b, src]
                            total += ((1 - ly) * (1 - lx) * img[yl, xl] + (1 - ly) * lx
                                      * img[yl, xh] + ly * (1 - lx) * img[yh, xl]
                                      + ly * lx * img[yh, xh])
                    out[k, ch, i, j] = total / (gh * gw)
    return out


def test_roi_align_values():
    data = RNG.standard_normal((2, 8, 9, 10))
    rois = np.array([[0, 0.5, 1.2, 6.3, 7.9], [1, 3, 2, 9.5, 8.7], [0, 4, 4, 4.2, 4.1],
                     [1, -3, -2, 12, 11], [-1, 1, 1, 3, 3], [1, 8.6, 7.7, 30, 20]])
    for kw in (dict(), dict(sample_ratio=2), dict(aligned=True), dict(position_sensitive=True),
               dict(sample_ratio=3, aligned=True, position_sensitive=True)):
        got = nd.contrib.ROIAlign(array(data), array(rois), pooled_size=(2, 2),
                                  spatial_scale=0.8, **kw)
        ref = _roi_align_ref(data, rois, 2, 2, 0.8, kw.get("sample_ratio", -1),
                             kw.get("position_sensitive", False), kw.get("aligned", False))
        np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-12, atol=1e-12)
    four = nd.contrib.ROIAlign(array(data), array(rois[:3, 1:]), pooled_size=(3, 2),
                               spatial_scale=1.0)      # 4 columns: batch 0
    np.testing.assert_allclose(four.asnumpy(), _roi_align_ref(
        data, np.concatenate([np.zeros((3, 1)), rois[:3, 1:]], 1), 3, 2, 1.0), rtol=1e-12)


def test_roi_align_compiled_and_gradients():
    data = RNG.standard_normal((2, 3, 7, 8))
    rois = np.array([[0, 0.5, 1.2, 6.3, 5.9], [1, 2.1, 0.4, 7.5, 6.7]])
    compiled = mx.jit(lambda d, r: nd.contrib.ROIAlign(d, r, pooled_size=(2, 3),
                                                       spatial_scale=0.9))
    for _ in range(2):
        got = compiled(array(data.astype(np.float32)), array(rois.astype(np.float32)))
    np.testing.assert_allclose(got.asnumpy(), _roi_align_ref(data, rois, 2, 3, 0.9),
                               rtol=1e-5, atol=1e-5)
    # (the gradient with respect to the data; MXNet gives the rois none, asserted below)
    rois64 = array(rois, dtype="float64")
    mx.gradcheck(lambda d: nd.contrib.ROIAlign(d, rois64, pooled_size=(2, 2), spatial_scale=1.0,
                                               sample_ratio=2), [data], order=2)
    d, r = array(data), array(rois)
    d.attach_grad()
    r.attach_grad()
    with autograd.record():
        y = nd.contrib.ROIAlign(d, r, pooled_size=(2, 2), spatial_scale=1.0).sum()
    y.backward()
    np.testing.assert_array_equal(r.grad.asnumpy(), np.zeros_like(rois))
    with pytest.raises(MXNetError, match=r"ROIAlign: position_sensitive needs channels \(3\)"):
        nd.contrib.ROIAlign(d, r, pooled_size=(2, 2), spatial_scale=1.0,
                            position_sensitive=True)
    with pytest.raises(MXNetError, match=r"ROIAlign: .*rois \(2, 3\)"):
        nd.contrib.ROIAlign(d, nd.zeros((2, 3)), pooled_size=(2, 2), spatial_scale=1.0)


def _nms_ref(data, thresh, valid_thresh=0, topk=-1, cs=2, si=1, ii=-1, bg=-1, force=False,
             in_fmt="corner", out_fmt="corner"):
    """MXNet's BoxNMSForward per batch: filter, stable sort by score, greedy suppression."""
    shape = data.shape
    x = data.reshape(-1, shape[-2], shape[-1])
    out = -np.ones_like(x)
    n = x.shape[1]
    topk = n if topk < 0 else min(n, topk)
    for b, boxes in enumerate(x):
        ok = [i for i in range(n) if boxes[i, si] > valid_thresh
              and (ii < 0 or boxes[i, ii] != bg)]
        order = sorted(ok, key=lambda i: -boxes[i, si])[:topk]
        alive = [True] * len(order)

        def edges(box):
            if in_fmt == "corner":
                return box
            return [box[0] - box[2] / 2, box[1] - box[3] / 2, box[0] + box[2] / 2,
                    box[1] + box[3] / 2]

        def area(box):
            w, h = (box[2] - box[0], box[3] - box[1]) if in_fmt == "corner" else box[2:4]
            return 0.0 if w < 0 or h < 0 else w * h
        for r in range(len(order)):
            if not alive[r]:
                continue
            a = boxes[order[r]]
            for p in range(r + 1, len(order)):
                q = boxes[order[p]]
                if not alive[p] or (not force and ii >= 0 and int(a[ii]) != int(q[ii])):
                    continue
                ea, eq = edges(a[cs:cs + 4]), edges(q[cs:cs + 4])
                iw = max(min(ea[2], eq[2]) - max(ea[0], eq[0]), 0)
                ih = max(min(ea[3], eq[3]) - max(ea[1], eq[1]), 0)
                inter = iw * ih
                with np.errstate(invalid="ignore", divide="ignore"):
                    iou = inter / (area(a[cs:cs + 4]) + area(q[cs:cs + 4]) - inter)
                if iou > thresh:
                    alive[p] = False
        kept = [order[r] for r in range(len(order)) if alive[r]]
        out[b, :len(kept)] = boxes[kept]
        for row in out[b, :len(kept)]:
            c = row[cs:cs + 4].copy()
            if in_fmt != out_fmt and c[0] >= 0:
                row[cs:cs + 4] = ([(c[0] + c[2]) / 2, (c[1] + c[3]) / 2, c[2] - c[0],
                                   c[3] - c[1]] if out_fmt == "center" else
                                  [c[0] - c[2] / 2, c[1] - c[3] / 2, c[0] + c[2] / 2,
                                   c[1] + c[3] / 2])
    return out.reshape(shape)


def _random_boxes(shape):
    ids = RNG.integers(0, 3, shape[:-1] + (1,)).astype(np.float64)
    scores = RNG.random(shape[:-1] + (1,))
    xy = RNG.random(shape[:-1] + (2,)) * 8
    wh = RNG.random(shape[:-1] + (2,)) * 4 + 0.5
    return np.concatenate([ids, scores, xy, xy + wh], axis=-1)


def test_box_nms_documented_example():
    x = nd.array([[0, 0.5, 0.1, 0.1, 0.2, 0.2], [1, 0.4, 0.1, 0.1, 0.2, 0.2],
                  [0, 0.3, 0.1, 0.1, 0.14, 0.14], [2, 0.6, 0.5, 0.5, 0.7, 0.8]])
    out = nd.contrib.box_nms(x, overlap_thresh=0.1, coord_start=2, score_index=1, id_index=0,
                             force_suppress=True, in_format="corner", out_format="center")
    np.testing.assert_allclose(out.asnumpy(), [[2, 0.6, 0.6, 0.65, 0.2, 0.3],
                                               [0, 0.5, 0.15, 0.15, 0.1, 0.1],
                                               [-1] * 6, [-1] * 6], rtol=1e-6)
    out = nd.contrib.box_non_maximum_suppression(x, overlap_thresh=0.1, id_index=0)
    np.testing.assert_allclose(out.asnumpy(), [[2, 0.6, 0.5, 0.5, 0.7, 0.8],
                                               [0, 0.5, 0.1, 0.1, 0.2, 0.2],
                                               [1, 0.4, 0.1, 0.1, 0.2, 0.2], [-1] * 6])


def test_box_nms_against_reference():
    data = _random_boxes((2, 3, 30, 6))
    for kw in (dict(thresh=0.3), dict(thresh=0.2, valid_thresh=0.3, topk=12),
               dict(thresh=0.25, ii=0, bg=1), dict(thresh=0.25, ii=0, force=True),
               dict(thresh=0.1, in_fmt="center", out_fmt="corner"),
               dict(thresh=0.4, out_fmt="center")):
        got = nd.contrib.box_nms(
            array(data), overlap_thresh=kw["thresh"], valid_thresh=kw.get("valid_thresh", 0),
            topk=kw.get("topk", -1), id_index=kw.get("ii", -1),
            background_id=kw.get("bg", -1), force_suppress=kw.get("force", False),
            in_format=kw.get("in_fmt", "corner"), out_format=kw.get("out_fmt", "corner"))
        thresh = kw.pop("thresh")
        np.testing.assert_allclose(got.asnumpy(), _nms_ref(data, thresh, **kw), rtol=1e-12)


def test_box_nms_compiled_and_gradient():
    data = _random_boxes((2, 20, 6))
    compiled = mx.jit(lambda d: nd.contrib.box_nms(d, overlap_thresh=0.3, id_index=0))
    for boxes in (data, data, _random_boxes((2, 20, 6)), data):
        got = compiled(array(boxes.astype(np.float32)))
        np.testing.assert_allclose(got.asnumpy(), _nms_ref(
            boxes.astype(np.float32), 0.3, ii=0), rtol=1e-6)
    # the output rows are input rows: their gradient goes back to the kept boxes
    tr = trace(lambda d: nd.contrib.box_nms(d, overlap_thresh=0.3) * 2, [array(data)])
    check_grads(tr.function, [data] + [v.data for v in tr.captured], order=1)
    with pytest.raises(MXNetError, match=r"box_nms: score_index 7, .* \(2, 20, 6\)"):
        nd.contrib.box_nms(array(data), score_index=7)
