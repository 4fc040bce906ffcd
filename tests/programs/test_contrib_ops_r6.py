"""nd.contrib operators MXNet 1.x programs call (gluon-nlp's BERT / Transformer attention
cells, detection code, quantization-aware training), against float64 numpy statements of
MXNet 1.9.1's kernels: the interleaved_matmul_* attention products (forward, gradient,
hybridized), box_iou in corner and center format, AdaptiveAvgPooling2D bins,
gradientmultiplier and the straight-through round_ste / sign_ste."""
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
