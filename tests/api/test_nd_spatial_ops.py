"""nd.LRN, nd.Crop (legacy), nd.contrib.BilinearResize2D, nd.GridGenerator, nd.BilinearSampler
and nd.SpatialTransformer (MXNet 1.9.1 semantics): values against float64 numpy references
that follow MXNet's CPU kernels element by element, compiled (mx.jit, hybridize) against
eager, gradients against finite differences (tests/grad/check.py), and bad input raising
errors that name the op and the shapes."""

import numpy as np
import pytest

from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

from arrays import keep_dtype as array
from compiled_checks import compiled_values, grads_ok, jit_grads_match


RNG = np.random.default_rng(3)


def jit_close(fn, *inputs, rtol=1e-6):
    """mx.jit(fn) (tracing call, then native) against eager fn; then the gradients of
    sum(fn(...)²) through both."""
    want = fn(*[array(x) for x in inputs]).asnumpy()
    got = compiled_values(fn, *inputs).asnumpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    jit_grads_match(fn, *inputs, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ LRN
def _lrn_ref(x, alpha, beta, knorm, nsize):
    out = np.empty_like(x)
    c = x.shape[1]
    for i in range(c):
        lo, hi = max(0, i - nsize // 2), min(c - 1, i + nsize // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, i] = x[:, i] / (knorm + alpha / nsize * s) ** beta
    return out


def test_lrn():
    x = RNG.standard_normal((2, 6, 3, 2)) * 3
    for kw in (dict(nsize=3), dict(nsize=5, alpha=0.01, beta=0.5, knorm=1.0), dict(nsize=1)):
        ref = _lrn_ref(x, kw.get("alpha", 1e-4), kw.get("beta", 0.75), kw.get("knorm", 2.0),
                       kw["nsize"])
        np.testing.assert_allclose(nd.LRN(array(x), **kw).asnumpy(), ref, rtol=1e-13)
    grads_ok(lambda a: nd.LRN(a, nsize=3, alpha=0.1), x)
    jit_close(lambda a: nd.LRN(a, nsize=5, alpha=0.05), x.astype(np.float32))
    with pytest.raises(MXNetError, match="LRN: only supports odd values for nsize, got 4"):
        nd.LRN(array(x), nsize=4)
    with pytest.raises(MXNetError, match=r"LRN: data must be 4-d.*\(6, 3\)"):
        nd.LRN(nd.zeros((6, 3)), nsize=3)


# ------------------------------------------------------------------ Crop
def test_crop():
    x = RNG.standard_normal((2, 3, 7, 6))
    np.testing.assert_array_equal(nd.Crop(array(x), h_w=(3, 4), offset=(2, 1)).asnumpy(),
                                  x[:, :, 2:5, 1:5])
    np.testing.assert_array_equal(nd.Crop(array(x), h_w=(3, 4), center_crop=True).asnumpy(),
                                  x[:, :, 2:5, 1:5])
    like = nd.zeros((1, 1, 4, 2))
    np.testing.assert_array_equal(nd.Crop(array(x), like, num_args=2).asnumpy(),
                                  x[:, :, :4, :2])
    a, b = array(x), array(np.ones((1, 1, 4, 2)))
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = (nd.Crop(a, b, num_args=2, offset=(1, 3)) * 2).sum()
    y.backward()
    want = np.zeros_like(x)
    want[:, :, 1:5, 3:5] = 2
    np.testing.assert_array_equal(a.grad.asnumpy(), want)
    np.testing.assert_array_equal(b.grad.asnumpy(), np.zeros((1, 1, 4, 2)))  # crop_like: none
    jit_close(lambda d: nd.Crop(d, h_w=(2, 2), center_crop=True), x.astype(np.float32))
    with pytest.raises(MXNetError, match=r"Crop: offset \(5, 0\) .*\(2, 3, 7, 6\)"):
        nd.Crop(array(x), h_w=(3, 4), offset=(5, 0))
    with pytest.raises(MXNetError, match=r"Crop: h_w \(8, 1\)"):
        nd.Crop(array(x), h_w=(8, 1))


# ------------------------------------------------------------------ BilinearResize2D
def _resize_ref(x, oh, ow, align_corners):
    """MXNet's SpatialUpSamplingBilinearUpdateOutput, pixel by pixel."""
    f32 = np.float32
    n, c, h, w = x.shape
    if (oh, ow) == (h, w):
        return x.copy()

    def scale(i, o):
        if o <= 1:
            return f32(0)
        return f32(i - 1) / f32(o - 1) if align_corners else f32(i) / f32(o)

    def source(s, j):
        if align_corners:
            return f32(s * f32(j))
        return max(f32(np.float64(s) * (j + 0.5) - 0.5), f32(0))
    rh, rw = scale(h, oh), scale(w, ow)
    out = np.zeros((n, c, oh, ow), x.dtype)
    for h2 in range(oh):
        h1r = source(rh, h2)
        h1 = int(h1r)
        h1p = 1 if h1 < h - 1 else 0
        l1 = x.dtype.type(h1r - h1)
        for w2 in range(ow):
            w1r = source(rw, w2)
            w1 = int(w1r)
            w1p = 1 if w1 < w - 1 else 0
            m1 = x.dtype.type(w1r - w1)
            top, bottom = x[:, :, h1], x[:, :, h1 + h1p]
            out[:, :, h2, w2] = (1 - l1) * ((1 - m1) * top[..., w1] + m1 * top[..., w1 + w1p]) \
                + l1 * ((1 - m1) * bottom[..., w1] + m1 * bottom[..., w1 + w1p])
    return out


def test_bilinear_resize_2d():
    x = RNG.standard_normal((2, 3, 5, 4))
    for kw, (oh, ow) in ((dict(height=9, width=7), (9, 7)),
                         (dict(height=3, width=2, align_corners=False), (3, 2)),
                         (dict(height=8, width=11, align_corners=False), (8, 11)),
                         (dict(scale_height=2.0, scale_width=1.5), (10, 6)),
                         (dict(mode="odd_scale", scale_height=2, scale_width=0.5), (9, 2)),
                         (dict(mode="to_even_up"), (6, 4)), (dict(mode="to_odd_down"), (5, 3)),
                         (dict(height=1, width=1), (1, 1))):
        out = nd.contrib.BilinearResize2D(array(x), **kw)
        assert out.shape == (2, 3, oh, ow)
        np.testing.assert_allclose(out.asnumpy(), _resize_ref(
            x, oh, ow, kw.get("align_corners", True)), rtol=1e-13, atol=1e-14)
    like = nd.zeros((1, 1, 2, 8))
    assert nd.contrib.BilinearResize2D(array(x), like, mode="like").shape == (2, 3, 2, 8)
    grads_ok(lambda a: nd.contrib.BilinearResize2D(a, height=7, width=3), x)
    jit_close(lambda a: nd.contrib.BilinearResize2D(a, height=6, width=9,
                                                     align_corners=False),
              x.astype(np.float32))
    with pytest.raises(MXNetError, match="BilinearResize2D: mode must be one of"):
        nd.contrib.BilinearResize2D(array(x), mode="nearest")
    with pytest.raises(MXNetError, match=r"BilinearResize2D: data must be 4-d.*\(5, 4\)"):
        nd.contrib.BilinearResize2D(nd.zeros((5, 4)), height=2, width=2)


# ------------------------------------------------------------------ grids and sampling
def _sample_ref(data, grid):
    """MXNet's BilinearSamplerForward, element by element."""
    n, c, h, w = data.shape
    oh, ow = grid.shape[2:]
    out = np.zeros((n, c, oh, ow), data.dtype)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                y = (grid[b, 1, i, j] + 1) * (h - 1) / 2
                x = (grid[b, 0, i, j] + 1) * (w - 1) / 2
                y0, x0 = int(np.floor(y)), int(np.floor(x))
                wy, wx = 1 - (y - y0), 1 - (x - x0)

                def at(yy, xx):
                    if 0 <= yy < h and 0 <= xx < w:
                        return data[b, :, yy, xx]
                    return np.zeros(c, data.dtype)
                out[b, :, i, j] = (at(y0, x0) * wy * wx + at(y0, x0 + 1) * wy * (1 - wx)
                                   + at(y0 + 1, x0) * (1 - wy) * wx
                                   + at(y0 + 1, x0 + 1) * (1 - wy) * (1 - wx))
    return out


def _affine_ref(loc, h, w):
    xs, ys = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    dst = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)])
    return (loc.reshape(-1, 2, 3) @ dst).reshape(-1, 2, h, w)


def test_grid_generator():
    loc = np.array([[1.0, 0, 0, 0, 1, 0], [0.5, -0.3, 0.2, 0.1, 0.8, -0.4]])
    grid = nd.GridGenerator(array(loc), transform_type="affine", target_shape=(4, 5))
    assert grid.shape == (2, 2, 4, 5)
    np.testing.assert_allclose(grid.asnumpy(), _affine_ref(loc, 4, 5), rtol=1e-14,
                               atol=1e-15)
    flow = RNG.standard_normal((2, 2, 3, 4))
    warp = nd.GridGenerator(array(flow), transform_type="warp").asnumpy()
    xs, ys = np.meshgrid(np.arange(4.0), np.arange(3.0))
    np.testing.assert_allclose(warp[:, 0], (flow[:, 0] + xs) / 1.5 - 1, rtol=1e-14)
    np.testing.assert_allclose(warp[:, 1], (flow[:, 1] + ys) / 1.0 - 1, rtol=1e-14)
    grads_ok(lambda a: nd.GridGenerator(a, transform_type="affine", target_shape=(3, 3)), loc)
    grads_ok(lambda a: nd.GridGenerator(a, transform_type="warp"), flow)
    with pytest.raises(MXNetError, match=r"GridGenerator: affine data must be \(batch, 6\).*"
                                         r"\(2, 4\)"):
        nd.GridGenerator(nd.zeros((2, 4)), transform_type="affine", target_shape=(3, 3))


def test_bilinear_sampler_values_and_gradients():
    data = RNG.standard_normal((2, 3, 4, 5))
    grid = RNG.uniform(-1.3, 1.3, (2, 2, 3, 6))      # some points fall outside
    grid[0, :, 0, 0] = [1.0, -1.0]                   # exactly on the border
    out = nd.BilinearSampler(array(data), array(grid))
    np.testing.assert_allclose(out.asnumpy(), _sample_ref(data, grid), rtol=1e-13,
                               atol=1e-14)
    # the identity grid reproduces the data
    ident = nd.GridGenerator(array(np.tile([1.0, 0, 0, 0, 1, 0], (2, 1))),
                             transform_type="affine", target_shape=(4, 5))
    np.testing.assert_allclose(nd.BilinearSampler(array(data), ident).asnumpy(), data,
                               rtol=1e-12, atol=1e-12)
    # gradients in data and grid (grid points away from the pixel lines, where the
    # sampler is smooth)
    g = RNG.uniform(-0.9, 0.9, (2, 2, 2, 3))
    grads_ok(lambda d, q: nd.BilinearSampler(d, q), data, g, order=1)
    jit_close(lambda d, q: nd.BilinearSampler(d, q), data.astype(np.float32),
              grid.astype(np.float32), rtol=1e-5)
    with pytest.raises(MXNetError, match=r"BilinearSampler: .*\(2, 3, 4, 5\).*\(2, 3, 3, 6\)"):
        nd.BilinearSampler(array(data), array(np.zeros((2, 3, 3, 6))))


def test_spatial_transformer_and_hybridize():
    data = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    loc = np.array([[0.9, 0.1, -0.1, -0.2, 1.1, 0.05], [1.0, 0.0, 0.3, 0.0, 0.7, 0.0]],
                   np.float32)
    out = nd.SpatialTransformer(array(data), array(loc), target_shape=(4, 4))
    ref = _sample_ref(data.astype(np.float64), _affine_ref(loc.astype(np.float64), 4, 4))
    np.testing.assert_allclose(out.asnumpy(), ref, rtol=1e-5, atol=1e-5)

    class STN(gluon.HybridBlock):
        def hybrid_forward(self, F, x, theta):
            grid = F.GridGenerator(theta, transform_type="affine", target_shape=(4, 4))
            return F.BilinearSampler(x, grid) + F.SpatialTransformer(
                x, theta, target_shape=(4, 4), transform_type="affine",
                sampler_type="bilinear")

    net = STN()
    eager = net(nd.array(data), nd.array(loc)).asnumpy()
    net.hybridize()
    for _ in range(2):
        got = net(nd.array(data), nd.array(loc)).asnumpy()
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(eager, 2 * ref, rtol=1e-5, atol=1e-5)
    theta = np.array([[0.83, 0.11, -0.07, -0.19, 0.97, 0.041],   # no grid point on a
                      [0.91, 0.03, 0.27, 0.02, 0.66, -0.037]])   # pixel line (a kink)
    grads_ok(lambda d, t: nd.SpatialTransformer(d, t, target_shape=(3, 3)),
             data[:, :1, :3, :3].astype(np.float64), theta, order=1)
    with pytest.raises(MXNetError, match=r"SpatialTransformer: .*loc \(2, 5\)"):
        nd.SpatialTransformer(array(data), nd.zeros((2, 5)), target_shape=(4, 4))
