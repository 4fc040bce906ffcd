"""`nd.contrib.Proposal` and `nd.contrib.MultiProposal`: Faster R-CNN's region proposals from
the RPN's scores and box deltas, as MXNet 1.9.1's CPU kernels compute them
(src/operator/contrib/proposal.cc and multi_proposal.cc). MultiProposal is Proposal for each
image of the batch; Proposal takes one image. Both share `_one_image` below.

Per image: anchors of every ratio x scale (MXNet's GenerateAnchors on a feature_stride
square) are shifted to every feature position (rows ordered (y, x, anchor)); each gets the
foreground score cls_prob[b, A + a, y, x] and its box moved by the deltas (centre offsets and
log sizes, or with iou_loss corner offsets) and clipped to the image; positions past
im_info's real size (padding) and boxes under rpn_min_size * scale (which are widened by
min_size / 2 on each side) get score -1. The boxes are sorted by score (stable, descending),
the first rpn_pre_nms_top_n (all when <= 0) go through greedy NMS (IoU with MXNet's +1 pixel
areas above `threshold` suppresses) until rpn_post_nms_top_n are kept; the output has exactly
rpn_post_nms_top_n rows [batch index, x1, y1, x2, y2] per image, repeating the kept boxes in
order when fewer were kept, and with output_score the scores (rows, 1) too.

Float32 only, as MXNet registers them. Data-dependent greedy selection, so the kernel is
one primitive (ContribMultiProposal) computed in numpy: it records, and under jit /
hybridize compiled code calls back into Python for it; as in MXNet the gradient of every
input is zero.
"""
import numpy as np

from .array import NDArray, apply
from .base import MXNetError
from .ir.ops import OpDef, fail
from .ir.types import TensorType
from .op_kwargs import redo as _redo

__all__ = ["Proposal", "MultiProposal"]


def _anchors(stride, ratios, scales):
    """(A, 4) float32 base anchors, ratio-major (MXNet's GenerateAnchors / _Transform)."""
    out = []
    half = np.float32(0.5)
    w = h = np.float32(stride)    # (the base box is [0, 0, stride - 1, stride - 1])
    x_ctr = y_ctr = half * (w - np.float32(1))
    for ratio in ratios:
        for scale in scales:
            size_ratios = np.floor(w * h / np.float32(ratio))
            new_w = np.floor(np.sqrt(size_ratios) + half) * np.float32(scale)
            new_h = np.floor(new_w / np.float32(scale) * np.float32(ratio) + half) \
                * np.float32(scale)
            one = np.float32(1)
            out.append([x_ctr - half * (new_w - one), y_ctr - half * (new_h - one),
                        x_ctr + half * (new_w - one), y_ctr + half * (new_h - one)])
    return np.asarray(out, dtype=np.float32)


def _shifted(anchors, height, width, stride):
    """(H * W * A, 4) anchors at every feature position, rows ordered (y, x, anchor)."""
    ys = (np.arange(height, dtype=np.float32) * np.float32(stride))[:, None, None]
    xs = (np.arange(width, dtype=np.float32) * np.float32(stride))[None, :, None]
    out = np.empty((height, width, len(anchors), 4), dtype=np.float32)
    out[..., 0] = anchors[:, 0] + xs
    out[..., 1] = anchors[:, 1] + ys
    out[..., 2] = anchors[:, 2] + xs
    out[..., 3] = anchors[:, 3] + ys
    return out.reshape(-1, 4)


def _moved(boxes, deltas, iou_loss):
    """Boxes (N, 4) moved by deltas (N, 4), in MXNet's float / double mix."""
    f32 = np.float32
    if iou_loss:
        return boxes + deltas
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    dx, dy, dw, dh = (deltas[:, i] for i in range(4))
    width = (x2 - x1).astype(np.float64) + 1.0
    height = (y2 - y1).astype(np.float64) + 1.0
    ctr_x = (x1 + 0.5 * (width - 1.0)).astype(f32)
    ctr_y = (y1 + 0.5 * (height - 1.0)).astype(f32)
    width, height = width.astype(f32), height.astype(f32)
    pred_x = dx * width + ctr_x
    pred_y = dy * height + ctr_y
    half_w = 0.5 * ((np.exp(dw) * width).astype(np.float64) - 1.0)
    half_h = 0.5 * ((np.exp(dh) * height).astype(np.float64) - 1.0)
    return np.stack([pred_x - half_w, pred_y - half_h, pred_x + half_w, pred_y + half_h],
                    axis=1).astype(f32)


def _greedy_nms(dets, threshold, limit):
    """Indices of dets (sorted by score) kept by greedy NMS, at most `limit`."""
    x1, y1, x2, y2 = (dets[:, i] for i in range(4))
    area = (x2 - x1 + np.float32(1)) * (y2 - y1 + np.float32(1))
    n = len(dets)
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    thresh = np.float32(threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(n):
            if len(keep) >= limit:
                break
            if suppressed[i]:
                continue
            keep.append(i)
            w = np.maximum(np.float32(0), np.minimum(x2[i], x2[i + 1:])
                           - np.maximum(x1[i], x1[i + 1:]) + np.float32(1))
            h = np.maximum(np.float32(0), np.minimum(y2[i], y2[i + 1:])
                           - np.maximum(y1[i], y1[i + 1:]) + np.float32(1))
            inter = w * h
            suppressed[i + 1:] |= inter / (area[i] + area[i + 1:] - inter) > thresh
    return np.asarray(keep, dtype=np.int64)


def _one_image(fg, deltas, info, p):
    """(rows (post, 4), scores (post,)) of one image: fg (A, H, W) foreground scores, deltas
    (4A, H, W), info (3,) = (height, width, scale)."""
    f32 = np.float32
    a, height, width = fg.shape
    stride = p["feature_stride"]
    boxes = _shifted(_anchors(stride, p["ratios"], p["scales"]), height, width, stride)
    scores = fg.transpose(1, 2, 0).reshape(-1).copy()
    d = deltas.reshape(a, 4, height, width).transpose(2, 3, 0, 1).reshape(-1, 4)
    boxes = _moved(boxes, d, p["iou_loss"])
    im_h, im_w, im_scale = (f32(v) for v in info)
    boxes[:, 0::2] = np.maximum(np.minimum(boxes[:, 0::2], im_w - f32(1)), f32(0))
    boxes[:, 1::2] = np.maximum(np.minimum(boxes[:, 1::2], im_h - f32(1)), f32(0))
    real_h, real_w = int(im_h / f32(stride)), int(im_w / f32(stride))
    if real_h > height or real_w > width:
        raise MXNetError(f"{p['op']}: im_info gives an image of {im_h:g} x {im_w:g}, "
                         f"{real_h} x {real_w} feature positions at feature_stride {stride}, "
                         f"more than the {height} x {width} of cls_prob")
    ys, xs = np.divmod(np.arange(height * width), width)
    padded = np.repeat((ys >= real_h) | (xs >= real_w), a)
    scores[padded] = -1
    min_size = f32(p["rpn_min_size"]) * im_scale
    small = ((boxes[:, 2] - boxes[:, 0] + f32(1) < min_size)
             | (boxes[:, 3] - boxes[:, 1] + f32(1) < min_size))
    boxes[small, :2] -= min_size / f32(2)
    boxes[small, 2:] += min_size / f32(2)
    scores[small] = -1
    count = len(scores)
    pre = p["rpn_pre_nms_top_n"]
    pre = min(pre if pre > 0 else count, count)
    order = np.argsort(-scores, kind="stable")[:pre]
    dets = boxes[order]
    keep = _greedy_nms(dets, p["threshold"], min(p["rpn_post_nms_top_n"], pre))
    post = p["rpn_post_nms_top_n"]
    if post == 0:
        return np.zeros((0, 4), f32), np.zeros(0, f32)
    pick = order[keep[np.arange(post) % len(keep)]]
    return boxes[pick], scores[pick]


def _kernel(probs, deltas, info, p):
    """(rois (N * post, 5), scores (N * post, 1)) of a batch, image by image."""
    a = probs.shape[1] // 2
    post = p["rpn_post_nms_top_n"]
    n = probs.shape[0]
    rois = np.zeros((n * post, 5), np.float32)
    score = np.zeros((n * post, 1), np.float32)
    for b in range(n):
        rows, s = _one_image(probs[b, a:], deltas[b], info[b], p)
        rois[b * post:(b + 1) * post, 0] = b
        rois[b * post:(b + 1) * post, 1:] = rows
        score[b * post:(b + 1) * post, 0] = s
    return rois, score


_ATTRS = {"pre_nms": "rpn_pre_nms_top_n", "post_nms": "rpn_post_nms_top_n",
          "nms_threshold": "threshold", "min_size": "rpn_min_size", "anchor_scales": "scales",
          "anchor_ratios": "ratios", "feature_stride": "feature_stride",
          "iou_loss": "iou_loss", "op": "op"}


class ContribMultiProposal(OpDef):
    """The (Multi)Proposal kernel as one primitive: (rois, scores) of cls_prob (N, 2A, H, W),
    bbox_pred (N, 4A, H, W) and im_info (N, 3), float32. Its greedy selection runs in numpy
    (compiled code calls back into Python for it); as MXNet's backward, every input's
    gradient is zero."""
    name = "contrib_multi_proposal"
    nresults = 2
    defaults = {"pre_nms": 6000, "post_nms": 300, "nms_threshold": 0.7, "min_size": 16,
                "anchor_scales": (4.0, 8.0, 16.0, 32.0), "anchor_ratios": (0.5, 1.0, 2.0),
                "feature_stride": 16, "iou_loss": False, "op": "MultiProposal"}

    def infer(cls_prob, bbox_pred, im_info, **attrs):
        # (the nd functions check their arguments with MXNet's words first: _checked; these
        # hold for any graph, a loaded one too)
        name = "contrib_multi_proposal"
        if any(x.dtype != "f32" for x in (cls_prob, bbox_pred, im_info)):
            fail(name, f"operands must be f32, got {cls_prob}, {bbox_pred}, {im_info}")
        a = len(attrs.get("anchor_scales", (0,) * 4)) * len(attrs.get("anchor_ratios", (0,) * 3))
        if cls_prob.ndim != 4 or cls_prob.shape[1] != 2 * a or bbox_pred.shape != (
                cls_prob.shape[0], 4 * a) + cls_prob.shape[2:] or im_info.shape != (
                cls_prob.shape[0], 3):
            fail(name, f"expected cls_prob (N, 2A, H, W), bbox_pred (N, 4A, H, W) and im_info "
                       f"(N, 3) with A = {a} anchors, got {cls_prob}, {bbox_pred}, {im_info}")
        post = attrs.get("post_nms", 300)
        if type(post) is not int or post < 0:
            fail(name, f"post_nms must be a count, got {post!r}")
        rows = cls_prob.shape[0] * post
        return TensorType("f32", (rows, 5)), TensorType("f32", (rows, 1))

    def impl(cls_prob, bbox_pred, im_info, **attrs):
        p = {_ATTRS[k]: v for k, v in {**ContribMultiProposal.defaults, **attrs}.items()}
        return _kernel(np.asarray(cls_prob, np.float32), np.asarray(bbox_pred, np.float32),
                       np.asarray(im_info, np.float32), p)

    def vjp(b, g, out, cls_prob, bbox_pred, im_info, **attrs):
        return tuple(b.constant(value=0.0, shape=x.type.shape, dtype=x.type.dtype)
                     for x in (cls_prob, bbox_pred, im_info))


def _checked(op, cls_prob, bbox_pred, im_info, params):
    """MXNet's shape and type checks, naming the op and the shapes."""
    named = (("cls_prob", cls_prob), ("bbox_pred", bbox_pred), ("im_info", im_info))
    for name, x in named:
        if not isinstance(x, NDArray):
            raise MXNetError(f"{op}: {name} must be an NDArray, got {type(x).__name__}")
    shapes = ", ".join(f"{n} {tuple(x.shape)}" for n, x in named)
    bad = [f"{n} {np.dtype(x.dtype).name}" for n, x in named if np.dtype(x.dtype) != np.float32]
    if bad:
        raise MXNetError(f"{op}: MXNet 1.9.1 registers this op for float32 only; got "
                         f"{', '.join(bad)}")
    if cls_prob.ndim != 4 or cls_prob.shape[1] % 2 or 0 in cls_prob.shape:
        raise MXNetError(f"{op}: cls_prob must be (batch, 2 * num_anchors, height, width) "
                         f"with no empty axis ({shapes})")
    n, c, h, w = cls_prob.shape
    if tuple(bbox_pred.shape) != (n, 2 * c, h, w) or tuple(im_info.shape) != (n, 3):
        raise MXNetError(f"{op}: expects bbox_pred {(n, 2 * c, h, w)} and im_info {(n, 3)} "
                         f"for cls_prob {tuple(cls_prob.shape)} ({shapes})")
    anchors = len(params["ratios"]) * len(params["scales"])
    if c // 2 != anchors:
        raise MXNetError(f"{op}: cls_prob has {c // 2} anchors per position (channels / 2), "
                         f"but len(ratios) x len(scales) = {anchors} ({shapes})")
    if op == "Proposal" and n != 1:
        raise MXNetError(f"Proposal: takes one image (batch 1), got cls_prob {(n, c, h, w)}; "
                         f"use MultiProposal for a batch")


def _params(op, rpn_pre_nms_top_n, rpn_post_nms_top_n, threshold, rpn_min_size, scales,
            ratios, feature_stride, iou_loss):
    def floats(name, v):
        v = (v,) if isinstance(v, (int, float)) else v
        try:
            out = tuple(float(np.float32(x)) for x in v)
        except (TypeError, ValueError):
            out = ()
        if not out:
            raise MXNetError(f"{op}: {name} must be a non-empty tuple of numbers, got {v!r}")
        return out
    ints = dict(rpn_pre_nms_top_n=rpn_pre_nms_top_n, rpn_post_nms_top_n=rpn_post_nms_top_n,
                rpn_min_size=rpn_min_size, feature_stride=feature_stride)
    for name, v in ints.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise MXNetError(f"{op}: {name} must be an integer, got {v!r}")
    if rpn_post_nms_top_n < 0 or feature_stride < 1:
        raise MXNetError(f"{op}: rpn_post_nms_top_n must be >= 0 and feature_stride >= 1, "
                         f"got {rpn_post_nms_top_n} and {feature_stride}")
    return dict(op=op, rpn_pre_nms_top_n=int(rpn_pre_nms_top_n),
                rpn_post_nms_top_n=int(rpn_post_nms_top_n),
                threshold=float(np.float32(threshold)), rpn_min_size=int(rpn_min_size),
                scales=floats("scales", scales), ratios=floats("ratios", ratios),
                feature_stride=int(feature_stride), iou_loss=bool(iou_loss))


def _run(op, cls_prob, bbox_pred, im_info, output_score, params):
    _checked(op, cls_prob, bbox_pred, im_info, params)
    attrs = {k: params[v] for k, v in _ATTRS.items()}
    rois, score = apply(ContribMultiProposal, (cls_prob, bbox_pred, im_info), attrs)
    return [rois, score] if output_score else rois


def MultiProposal(cls_prob, bbox_pred, im_info, rpn_pre_nms_top_n=6000,
                  rpn_post_nms_top_n=300, threshold=0.7, rpn_min_size=16,
                  scales=(4.0, 8.0, 16.0, 32.0), ratios=(0.5, 1.0, 2.0), feature_stride=16,
                  output_score=False, iou_loss=False, **kwargs):
    """rois (batch * rpn_post_nms_top_n, 5) rows [image, x1, y1, x2, y2] from cls_prob
    (batch, 2A, H, W), bbox_pred (batch, 4A, H, W) and im_info (batch, 3); with output_score
    [rois, scores (rows, 1)]. See the module docstring."""
    if kwargs:
        return _redo(MultiProposal, locals())
    params = _params("MultiProposal", rpn_pre_nms_top_n, rpn_post_nms_top_n, threshold,
                     rpn_min_size, scales, ratios, feature_stride, iou_loss)
    return _run("MultiProposal", cls_prob, bbox_pred, im_info, output_score, params)


def Proposal(cls_prob, bbox_pred, im_info, rpn_pre_nms_top_n=6000, rpn_post_nms_top_n=300,
             threshold=0.7, rpn_min_size=16, scales=(4.0, 8.0, 16.0, 32.0),
             ratios=(0.5, 1.0, 2.0), feature_stride=16, output_score=False, iou_loss=False,
             **kwargs):
    """MultiProposal of one image (cls_prob's batch must be 1, as MXNet's kernel asks)."""
    if kwargs:
        return _redo(Proposal, locals())
    params = _params("Proposal", rpn_pre_nms_top_n, rpn_post_nms_top_n, threshold,
                     rpn_min_size, scales, ratios, feature_stride, iou_loss)
    return _run("Proposal", cls_prob, bbox_pred, im_info, output_score, params)
