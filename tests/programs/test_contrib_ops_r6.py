"""nd.contrib operators MXNet 1.x programs call (gluon-nlp's BERT / Transformer attention
cells, detection code, quantization-aware training), against float64 numpy statements of
MXNet 1.9.1's kernels: the interleaved_matmul_* attention products (forward, gradient,
hybridized), box_iou in corner and center format, AdaptiveAvgPooling2D bins,
gradientmultiplier, the straight-through round_ste / sign_ste, bipartite_matching
(test_contrib_operator.py's cases and a greedy loop), box_encode / box_decode and the npx
names of detection ops."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

RS = np.random.RandomState(5)


def _qkv(x, heads, parts):
    seq, batch, width = x.shape
    return x.reshape(seq, batch, heads, parts, width // (heads * parts))


def test_self_attention_kernels_match_numpy_with_gradients_and_hybridized():
    seq, batch, heads, d = 5, 2, 3, 4
    x = RS.randn(seq, batch, heads * 3 * d)
    qkv = _qkv(x, heads, 3)
    q, k, v = qkv[:, :, :, 0], qkv[:, :, :, 1], qkv[:, :, :, 2]        # (seq, batch, heads, d)
    scores = np.einsum("ibhd,jbhd->bhij", q / np.sqrt(d), k).reshape(batch * heads, seq, seq)
    att = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    out = np.einsum("bhij,jbhd->ibhd", att.reshape(batch, heads, seq, seq), v)
    out = out.reshape(seq, batch, heads * d)

    class SelfAttention(gluon.HybridBlock):
        def hybrid_forward(self, F, qkv_proj):
            s = F.contrib.interleaved_matmul_selfatt_qk(qkv_proj, heads=heads)
            return F.contrib.interleaved_matmul_selfatt_valatt(qkv_proj, F.softmax(s),
                                                               heads=heads)
    net = SelfAttention()
    xs = nd.array(x)
    np.testing.assert_allclose(nd.contrib.interleaved_matmul_selfatt_qk(xs, heads=heads)
                               .asnumpy(), scores, rtol=1e-5, atol=1e-6)
    xs.attach_grad()
    weights = RS.randn(seq, batch, heads * d)
    with autograd.record():
        y = net(xs)
        (y * nd.array(weights)).sum().backward()
    np.testing.assert_allclose(y.asnumpy(), out, rtol=1e-5, atol=1e-6)
    grad = xs.grad.asnumpy()
    eps = 1e-3                          # central differences of the float64 statement

    def f(xv):
        qkv_ = _qkv(xv, heads, 3)
        s = np.einsum("ibhd,jbhd->bhij", qkv_[:, :, :, 0] / np.sqrt(d), qkv_[:, :, :, 1])
        a = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
        o = np.einsum("bhij,jbhd->ibhd", a, qkv_[:, :, :, 2]).reshape(seq, batch, -1)
        return (o * weights).sum()
    for idx in [(0, 0, 0), (2, 1, 5), (4, 0, 17), (3, 1, 35)]:
        e = np.zeros_like(x)
        e[idx] = eps
        np.testing.assert_allclose(grad[idx], (f(x + e) - f(x - e)) / (2 * eps), rtol=1e-3,
                                   atol=1e-4)
    net.hybridize()
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), out, rtol=1e-5, atol=1e-6)


def test_encoder_decoder_attention_kernels_match_numpy():
    q_len, k_len, batch, heads, d = 3, 5, 2, 2, 4
    queries, kv = RS.randn(q_len, batch, heads * d), RS.randn(k_len, batch, heads * 2 * d)
    q = queries.reshape(q_len, batch, heads, d)
    kv5 = _qkv(kv, heads, 2)
    scores = np.einsum("ibhd,jbhd->bhij", q / np.sqrt(d), kv5[:, :, :, 0])
    scores = scores.reshape(batch * heads, q_len, k_len)
    got = nd.contrib.interleaved_matmul_encdec_qk(nd.array(queries), nd.array(kv), heads=heads)
    np.testing.assert_allclose(got.asnumpy(), scores, rtol=1e-5, atol=1e-6)
    att = RS.rand(batch * heads, q_len, k_len)
    out = np.einsum("bhij,jbhd->ibhd", att.reshape(batch, heads, q_len, k_len),
                    kv5[:, :, :, 1]).reshape(q_len, batch, heads * d)
    got = nd.contrib.interleaved_matmul_encdec_valatt(nd.array(kv), nd.array(att), heads=heads)
    np.testing.assert_allclose(got.asnumpy(), out, rtol=1e-5, atol=1e-6)
    with pytest.raises(mx.MXNetError, match="must split into 3 heads"):
        nd.contrib.interleaved_matmul_selfatt_qk(nd.ones((2, 1, 8)), heads=3)


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if inter <= 0:
        return 0.0
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


def test_box_iou_corner_and_center_formats():
    lhs = np.array([[0, 0, 2, 2], [1, 1, 3, 4], [5, 5, 6, 6]], np.float64)
    rhs = np.array([[[1, 1, 2, 2], [0, 0, 3, 3]]], np.float64)       # (1, 2, 4)
    got = nd.contrib.box_iou(nd.array(lhs), nd.array(rhs))
    assert got.shape == (3, 1, 2)
    want = np.array([[[_iou(a, b) for b in rhs[0]]] for a in lhs])
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6)
    to_center = lambda r: np.stack([(r[..., 0] + r[..., 2]) / 2, (r[..., 1] + r[..., 3]) / 2,
                                    r[..., 2] - r[..., 0], r[..., 3] - r[..., 1]], -1)
    got = nd.contrib.box_iou(nd.array(to_center(lhs)), nd.array(to_center(rhs)),
                             format="center")
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="format"):
        nd.contrib.box_iou(nd.array(lhs), nd.array(lhs), format="xywh")


def test_adaptive_average_pooling_bins_eager_and_hybridized():
    x = RS.randn(2, 3, 5, 7)

    def ref(out_h, out_w):
        y = np.zeros((2, 3, out_h, out_w))
        for i in range(out_h):
            for j in range(out_w):
                r0, r1 = (i * 5) // out_h, -(-((i + 1) * 5) // out_h)
                c0, c1 = (j * 7) // out_w, -(-((j + 1) * 7) // out_w)
                y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean((2, 3))
        return y
    np.testing.assert_allclose(nd.contrib.AdaptiveAvgPooling2D(nd.array(x), output_size=(2, 3))
                               .asnumpy(), ref(2, 3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nd.contrib.AdaptiveAvgPooling2D(nd.array(x), output_size=4)
                               .asnumpy(), ref(4, 4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nd.contrib.AdaptiveAvgPooling2D(nd.array(x)).asnumpy(),
                               x.mean((2, 3), keepdims=True), rtol=1e-5, atol=1e-6)

    class Pool(gluon.HybridBlock):
        def hybrid_forward(self, F, t):
            return F.contrib.AdaptiveAvgPooling2D(t, output_size=(3, 2))
    net = Pool()
    net.hybridize()
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), ref(3, 2), rtol=1e-5, atol=1e-6)


def test_gradient_multiplier_and_straight_through_estimators():
    v = np.array([0.4, 1.6, -2.5, -0.3], np.float32)
    x = nd.array(v)
    x.attach_grad()
    with autograd.record():
        r = nd.contrib.round_ste(x)
        s = nd.contrib.sign_ste(x)
        g = nd.contrib.gradientmultiplier(x, scalar=-0.5)
        (r * 3 + s * 2 + g).sum().backward()
    np.testing.assert_array_equal(r.asnumpy(), [0, 2, -3, 0])        # halves away from 0
    np.testing.assert_array_equal(s.asnumpy(), [1, 1, -1, -1])
    np.testing.assert_array_equal(g.asnumpy(), v)
    np.testing.assert_allclose(x.grad.asnumpy(), np.full(4, 3 + 2 - 0.5))


def test_box_iou_of_many_dimensional_box_sets_as_mxnets_unittest():
    def numpy_iou(a, b):
        shape = a.shape[:-1] + b.shape[:-1]
        a, b = a.reshape(-1, 1, 4), b.reshape(1, -1, 4)
        w = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
        h = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
        inter = w * h
        area = lambda r: (np.maximum(0, r[..., 2] - r[..., 0]) *
                          np.maximum(0, r[..., 3] - r[..., 1]))
        union = area(a) + area(b) - inter
        union[inter <= 0] = 1e-12
        return (inter / union).reshape(shape)
    rs = np.random.RandomState(11)
    for dims_a, dims_b in [([2], [1, 2, 2]), ([2, 1, 2], [2]), ([1, 2, 1, 2, 2], [2, 2])]:
        xy_a, wh_a = rs.rand(*dims_a, 2) * 50, rs.rand(*dims_a, 2) * 40 + 5
        xy_b, wh_b = rs.rand(*dims_b, 2) * 50, rs.rand(*dims_b, 2) * 40 + 5
        ltrb_a = np.concatenate([xy_a - wh_a / 2, xy_a + wh_a / 2], -1)
        ltrb_b = np.concatenate([xy_b - wh_b / 2, xy_b + wh_b / 2], -1)
        want = numpy_iou(ltrb_a, ltrb_b)
        np.testing.assert_allclose(nd.contrib.box_iou(nd.array(ltrb_a), nd.array(ltrb_b))
                                   .asnumpy(), want, rtol=1e-5, atol=1e-5)
        center = nd.contrib.box_iou(nd.array(np.concatenate([xy_a, wh_a], -1)),
                                    nd.array(np.concatenate([xy_b, wh_b], -1)), format="center")
        np.testing.assert_allclose(center.asnumpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_bipartite_matching_as_mxnets_unittest(dtype):
    scores = nd.array([[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]], dtype=dtype)
    rows, cols = nd.contrib.bipartite_matching(scores, threshold=1e-12)
    assert rows.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(rows.asnumpy(), [1, -1, 0])
    np.testing.assert_array_equal(cols.asnumpy(), [2, 0])
    rows, cols = nd.contrib.bipartite_matching(scores, threshold=100, is_ascend=True)
    np.testing.assert_array_equal(rows.asnumpy(), [-1, 0, 1])
    np.testing.assert_array_equal(cols.asnumpy(), [1, 2])


def test_bipartite_matching_threshold_topk_and_batches_against_a_greedy_loop():
    def greedy(s, thresh, topk):
        rows, cols = -np.ones(s.shape[0]), -np.ones(s.shape[1])
        order = sorted(range(s.size), key=lambda f: -s.flat[f])      # stable: ties by index
        made = 0
        for f in order:
            i, j = divmod(f, s.shape[1])
            if s.flat[f] < thresh or (topk >= 0 and made == topk):
                break
            if rows[i] < 0 and cols[j] < 0:
                rows[i], cols[j] = j, i
                made += 1
        return rows, cols
    rs = np.random.RandomState(3)
    data = np.round(rs.rand(2, 3, 4, 5), 1)                         # ties included
    for thresh, topk in [(0.3, -1), (0.0, 2), (0.95, -1)]:
        rows, cols = nd.contrib.bipartite_matching(nd.array(data, dtype="float64"),
                                                   threshold=thresh, topk=topk)
        assert rows.shape == (2, 3, 4) and cols.shape == (2, 3, 5)
        for idx in np.ndindex(2, 3):
            want_r, want_c = greedy(data[idx], thresh, topk)
            np.testing.assert_array_equal(rows.asnumpy()[idx], want_r)
            np.testing.assert_array_equal(cols.asnumpy()[idx], want_c)


def test_npx_detection_aliases_return_np_arrays():
    from tracegrad import np as mnp, npx
    anchors = npx.multibox_prior(mnp.zeros((1, 3, 4, 4)), sizes=[0.5, 0.25], ratios=[1, 2])
    assert isinstance(anchors, mnp.ndarray) and anchors.shape == (1, 4 * 4 * 3, 4)
    np.testing.assert_allclose(
        anchors.asnumpy(), nd.contrib.MultiBoxPrior(nd.zeros((1, 3, 4, 4)), sizes=[0.5, 0.25],
                                                    ratios=[1, 2]).asnumpy())
    iou = npx.box_iou(mnp.array([[0, 0, 1, 1.0]]), mnp.array([[0, 0, 1, 0.5]]))
    assert isinstance(iou, mnp.ndarray) and float(iou[0, 0]) == pytest.approx(0.5)
    rows, cols = npx.bipartite_matching(mnp.array([[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]]),
                                        threshold=1e-12)
    assert isinstance(rows, mnp.ndarray) and rows.asnumpy().tolist() == [1, -1, 0]


def test_the_new_contrib_ops_build_symbols_with_shapes_and_outputs():
    x = mx.sym.var("x")
    scores = mx.sym.contrib.interleaved_matmul_selfatt_qk(x, heads=2)
    out = mx.sym.contrib.interleaved_matmul_selfatt_valatt(x, mx.sym.softmax(scores), heads=2)
    assert scores.infer_shape(x=(5, 2, 24))[1] == [(4, 5, 5)]
    assert out.infer_shape(x=(5, 2, 24))[1] == [(5, 2, 8)]
    enc = mx.sym.contrib.interleaved_matmul_encdec_qk(mx.sym.var("q"), mx.sym.var("kv"),
                                                      heads=2)
    assert enc.infer_shape(q=(3, 2, 8), kv=(5, 2, 16))[1] == [(4, 3, 5)]
    iou = mx.sym.contrib.box_iou(mx.sym.var("a"), mx.sym.var("b"))
    assert iou.infer_shape(a=(3, 4), b=(2, 2, 4))[1] == [(3, 2, 2)]
    match = mx.sym.contrib.bipartite_matching(mx.sym.var("s"), threshold=0.1)
    assert len(match.list_outputs()) == 2
    ex = match.bind(mx.cpu(), {"s": nd.array([[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]])})
    rows, cols = ex.forward()
    assert rows.asnumpy().tolist() == [1, -1, 0] and cols.asnumpy().tolist() == [2, 0]


def _encode_ref(samples, matches, anchors, refs, means, stds):
    out, mask = np.zeros(anchors.shape), np.zeros(anchors.shape)
    for b, n in np.ndindex(*samples.shape):
        if samples[b, n] <= 0.5:
            continue
        a, r = anchors[b, n], refs[b, int(matches[b, n])]
        aw, ah, rw, rh = a[2] - a[0], a[3] - a[1], r[2] - r[0], r[3] - r[1]
        t = [((r[0] + rw / 2) - (a[0] + aw / 2)) / aw, ((r[1] + rh / 2) - (a[1] + ah / 2)) / ah,
             np.log(rw / aw), np.log(rh / ah)]
        out[b, n] = (np.array(t) - means) / stds
        mask[b, n] = 1
    return out, mask


def test_box_encode_and_decode_as_mxnets_kernels_and_round_trip():
    rs = np.random.RandomState(9)
    xy = rs.rand(2, 5, 2) * 10
    anchors = np.concatenate([xy, xy + rs.rand(2, 5, 2) * 5 + 1], -1)
    xy = rs.rand(2, 3, 2) * 10
    refs = np.concatenate([xy, xy + rs.rand(2, 3, 2) * 5 + 1], -1)
    samples = np.array([[1, -1, 0, 1, 1], [0, 1, -1, 1, 0]], np.float64)
    matches = np.array([[0, 2, 1, 1, 2], [1, 0, -1, 2, 0]], np.float64)   # -1: unmatched
    means, stds = np.array([0.0, 0.1, 0.0, -0.1]), np.array([0.1, 0.1, 0.2, 0.2])
    targets, masks = nd.contrib.box_encode(*(nd.array(v, dtype="float64") for v in
                                             (samples, matches, anchors, refs, means, stds)))
    want_t, want_m = _encode_ref(samples, matches, anchors, refs, means, stds)
    np.testing.assert_allclose(targets.asnumpy(), want_t, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(masks.asnumpy(), want_m)
    # decoding the zero-mean targets of batch 0 with the same stds gives the matched refs
    zero_mean, _ = nd.contrib.box_encode(*(nd.array(v, dtype="float64") for v in
                                           (samples, matches, anchors, refs, np.zeros(4),
                                            stds)))
    boxes = nd.contrib.box_decode(zero_mean[:1], nd.array(anchors[:1], dtype="float64"),
                                  *stds, format="corner").asnumpy()
    for n in np.flatnonzero(samples[0] > 0.5):
        np.testing.assert_allclose(boxes[0, n], refs[0, int(matches[0, n])], rtol=1e-10)
    # center-format anchors, clipping of the size exponent
    deltas = rs.randn(2, 5, 4) * 3
    a = anchors[:1]
    center = np.concatenate([(a[..., :2] + a[..., 2:]) / 2, a[..., 2:] - a[..., :2]], -1)
    got = nd.contrib.box_decode(nd.array(deltas, dtype="float64"),
                                nd.array(center, dtype="float64"), 0.1, 0.1, 0.2, 0.2,
                                clip=0.5).asnumpy()
    ox = deltas[..., 0] * 0.1 * center[..., 2] + center[..., 0]
    oy = deltas[..., 1] * 0.1 * center[..., 3] + center[..., 1]
    ow = np.exp(np.minimum(deltas[..., 2] * 0.2, 0.5)) * center[..., 2] / 2
    oh = np.exp(np.minimum(deltas[..., 3] * 0.2, 0.5)) * center[..., 3] / 2
    np.testing.assert_allclose(got, np.stack([ox - ow, oy - oh, ox + ow, oy + oh], -1),
                               rtol=1e-10)
    sym = mx.sym.contrib.box_encode(*(mx.sym.var(k) for k in "smarMS"))
    assert len(sym.list_outputs()) == 2
