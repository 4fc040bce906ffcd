"""nd.contrib.DeformableConvolution / ModulatedDeformableConvolution and gluon.contrib.cnn's
layers: against a float64 loop over every tap and output position (MXNet's deformable_im2col
arithmetic), by finite differences with respect to the data, the offsets and the mask, as a
plain convolution when the offsets are zero, and hybridized against eager."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _bilinear(img, y, x):
    h, w = img.shape
    if not (y > -1 and x > -1 and y < h and x < w):
        return 0.0
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    ly, lx = y - y0, x - x0

    def at(a, b):
        return img[a, b] if 0 <= a < h and 0 <= b < w else 0.0
    return ((1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1)
            + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1))


def _reference(data, offset, mask, weight, bias, kernel, stride, dilate, pad, ng, gd):
    n, c, h, w = data.shape
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = kernel, stride, dilate, pad
    ho, wo = offset.shape[2:]
    k, cg = kh * kw, c // gd
    cols = np.zeros((n, c, k, ho, wo))
    for b, ch, i, j, yo, xo in np.ndindex(n, c, kh, kw, ho, wo):
        g, t = ch // cg, i * kw + j
        v = _bilinear(data[b, ch], yo * sh - ph + i * dh + offset[b, 2 * (g * k + t), yo, xo],
                      xo * sw - pw + j * dw + offset[b, 2 * (g * k + t) + 1, yo, xo])
        cols[b, ch, t, yo, xo] = v * (mask[b, g * k + t, yo, xo] if mask is not None else 1)
    nf = weight.shape[0]
    out = np.zeros((n, nf, ho, wo))
    for b, grp in np.ndindex(n, ng):
        fs, cs = slice(grp * nf // ng, (grp + 1) * nf // ng), slice(grp * c // ng,
                                                                   (grp + 1) * c // ng)
        out[b, fs] = (weight[fs].reshape(nf // ng, -1) @ cols[b, cs].reshape(-1, ho * wo)
                      ).reshape(-1, ho, wo)
    return out + bias[None, :, None, None]


CASES = [((3, 3), (1, 1), (1, 1), (1, 1), 1, 1, False),
         ((3, 2), (2, 1), (1, 2), (0, 1), 2, 2, True),
         ((1, 1), (1, 1), (1, 1), (0, 0), 1, 4, False),
         ((2, 2), (1, 2), (2, 1), (1, 0), 2, 1, True)]


def _case(rs, kernel, stride, dilate, pad, ng, gd, modulated):
    n, c, h, w, nf = 2, 4, 5, 6, 6
    ho = (h + 2 * pad[0] - dilate[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w + 2 * pad[1] - dilate[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    taps = gd * kernel[0] * kernel[1]
    return dict(data=rs.randn(n, c, h, w), offset=rs.randn(n, 2 * taps, ho, wo) * 1.5,
                mask=rs.rand(n, taps, ho, wo) if modulated else None,
                weight=rs.randn(nf, c // ng, *kernel), bias=rs.randn(nf))


def _run(v, kernel, stride, dilate, pad, ng, gd):
    a = {k: nd.array(x, dtype="float64") for k, x in v.items() if x is not None}
    kw = dict(kernel=kernel, stride=stride, dilate=dilate, pad=pad,
              num_filter=v["weight"].shape[0], num_group=ng, num_deformable_group=gd)
    if v["mask"] is not None:
        return nd.contrib.ModulatedDeformableConvolution(a["data"], a["offset"], a["mask"],
                                                         a["weight"], a["bias"], **kw)
    return nd.contrib.DeformableConvolution(a["data"], a["offset"], a["weight"], a["bias"],
                                            **kw)


@pytest.mark.parametrize("kernel, stride, dilate, pad, ng, gd, modulated", CASES)
def test_values_match_a_float64_loop(kernel, stride, dilate, pad, ng, gd, modulated):
    v = _case(np.random.RandomState(0), kernel, stride, dilate, pad, ng, gd, modulated)
    got = _run(v, kernel, stride, dilate, pad, ng, gd).asnumpy()
    want = _reference(*[v[k] for k in ("data", "offset", "mask", "weight", "bias")],
                      kernel, stride, dilate, pad, ng, gd)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride, dilate, pad, ng, gd, modulated", CASES[1:3])
def test_gradients_match_finite_differences(kernel, stride, dilate, pad, ng, gd, modulated):
    rs = np.random.RandomState(1)
    v = _case(rs, kernel, stride, dilate, pad, ng, gd, modulated)
    arrays = {k: nd.array(x, dtype="float64") for k, x in v.items() if x is not None}
    for a in arrays.values():
        a.attach_grad()
    kw = dict(kernel=kernel, stride=stride, dilate=dilate, pad=pad,
              num_filter=v["weight"].shape[0], num_group=ng, num_deformable_group=gd)
    head = rs.randn(*_run(v, kernel, stride, dilate, pad, ng, gd).shape)
    with autograd.record():
        if modulated:
            out = nd.contrib.ModulatedDeformableConvolution(
                arrays["data"], arrays["offset"], arrays["mask"], arrays["weight"],
                arrays["bias"], **kw)
        else:
            out = nd.contrib.DeformableConvolution(arrays["data"], arrays["offset"],
                                                   arrays["weight"], arrays["bias"], **kw)
        (out * nd.array(head, dtype="float64")).sum().backward()
    eps = 1e-6
    for name in [k for k in ("data", "offset", "mask", "weight") if v[k] is not None]:
        flat = v[name].reshape(-1)
        for idx in rs.choice(flat.size, 8, replace=False):
            hi, lo = dict(v), dict(v)
            hi[name], lo[name] = v[name].copy(), v[name].copy()
            hi[name].reshape(-1)[idx] += eps
            lo[name].reshape(-1)[idx] -= eps
            f = [(_run(x, kernel, stride, dilate, pad, ng, gd).asnumpy() * head).sum()
                 for x in (hi, lo)]
            numeric = (f[0] - f[1]) / (2 * eps)
            got = arrays[name].grad.asnumpy().reshape(-1)[idx]
            assert abs(got - numeric) < 1e-5 * max(1.0, abs(numeric)), (name, idx, got,
                                                                         numeric)


def test_zero_offsets_are_a_plain_convolution():
    rs = np.random.RandomState(2)
    x, wt, b = rs.randn(2, 4, 7, 6), rs.randn(8, 2, 3, 3), rs.randn(8)
    kw = dict(kernel=(3, 3), stride=(2, 1), pad=(1, 1), num_filter=8, num_group=2)
    got = nd.contrib.DeformableConvolution(nd.array(x), nd.zeros((2, 18, 4, 6)), nd.array(wt),
                                           nd.array(b), **kw)
    want = nd.Convolution(nd.array(x), nd.array(wt), nd.array(b), **kw)
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)


def test_bad_shapes_are_refused_naming_the_operand():
    x = nd.ones((1, 4, 5, 5))
    with pytest.raises(mx.MXNetError, match=r"offset must have shape \(1, 18, 5, 5\)"):
        nd.contrib.DeformableConvolution(x, nd.ones((1, 9, 5, 5)), nd.ones((2, 4, 3, 3)),
                                         nd.ones((2,)), kernel=(3, 3), pad=(1, 1),
                                         num_filter=2)
    with pytest.raises(mx.MXNetError, match="num_deformable_group 3"):
        nd.contrib.DeformableConvolution(x, nd.ones((1, 54, 5, 5)), nd.ones((2, 4, 3, 3)),
                                         nd.ones((2,)), kernel=(3, 3), pad=(1, 1),
                                         num_filter=2, num_deformable_group=3)


@pytest.mark.parametrize("cls", ["DeformableConvolution", "ModulatedDeformableConvolution"])
def test_gluon_layers_train_and_hybridize_as_eager(cls):
    rs = np.random.RandomState(3)
    x = nd.array(rs.randn(2, 4, 6, 6))
    results = []
    for hybridize in (False, True):
        mx.random.seed(0)
        net = getattr(gluon.contrib.cnn, cls)(6, kernel_size=3, padding=1, groups=2,
                                              in_channels=4, num_deformable_group=2,
                                              activation="relu")
        net.initialize(mx.init.Xavier())
        # (offsets start at zero: move them so the sampling is fractional)
        net.offset_weight.set_data(nd.array(rs.randn(*net.offset_weight.shape) * 0.1))
        if hybridize:
            net.hybridize()
        x.attach_grad()
        with autograd.record():
            y = net(x)
            (y * y).sum().backward()
        results.append([y.asnumpy(), x.grad.asnumpy().copy(),
                        net.offset_weight.grad().asnumpy().copy()])
        rs = np.random.RandomState(3)
        x = nd.array(rs.randn(2, 4, 6, 6))
    names = sorted(net.collect_params())
    assert any(n.endswith("offset_weight") for n in names)
    assert any(n.endswith("deformable_conv_weight") for n in names)
    assert net.deformable_conv_weight.shape == (6, 2, 3, 3)
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_gluon_layer_takes_its_input_channels_from_the_first_input():
    net = gluon.contrib.cnn.ModulatedDeformableConvolution(4, kernel_size=(3, 2), strides=2)
    net.initialize()
    # zero offsets at first (MXNet's initializers) and mask 2 * sigmoid(0) = 1: a convolution
    x = nd.array(np.random.RandomState(4).randn(1, 3, 7, 6))
    y = net(x)
    assert net.offset_weight.shape == (18, 3, 3, 2) and y.shape == (1, 4, 3, 3)
    want = nd.Convolution(x, net.deformable_conv_weight.data(), net.deformable_conv_bias.data(),
                          kernel=(3, 2), stride=(2, 2), num_filter=4)
    np.testing.assert_allclose(y.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)
