"""Operator argument combinations MXNet 1.9.1's test_operator.py / test_ndarray.py check and
programs rely on, each against a float64 numpy statement: pick / topk / sort modes, one_hot,
where, the Sequence* ops, softmax with length and temperature, Layer/Instance/GroupNorm, Pooling
(count_include_pad, 'full' convention, lp), Deconvolution adj / target_shape / groups,
UpSampling (several inputs, bilinear), L2Normalization modes, Crop, stepped slices, reverse of
several axes, MXNet's round-half-down rint and Python-style mod; eager and hybridized."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

RS = np.random.RandomState(0)
A = RS.randn(3, 4).astype(np.float32)


def _hybrid(fn, *arrays):
    """fn(F, *arrays) run eagerly and inside a hybridized block: both results, as numpy."""
    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, *xs):
            return fn(F, *xs)
    net = Net()
    eager = net(*[nd.array(a) for a in arrays]).asnumpy()
    net.hybridize()
    return eager, net(*[nd.array(a) for a in arrays]).asnumpy()


def test_pick_modes_and_topk_return_types():
    x = nd.array(A)
    rows = np.arange(3)
    np.testing.assert_allclose(nd.pick(x, nd.array([0, 3, 1]), axis=1).asnumpy(),
                               A[rows, [0, 3, 1]])
    assert nd.pick(x, nd.array([0, 3, 1]), axis=1, keepdims=True).shape == (3, 1)
    np.testing.assert_allclose(nd.pick(x, nd.array([5, -1, 1]), axis=1, mode="wrap").asnumpy(),
                               A[rows, [1, 3, 1]])
    np.testing.assert_allclose(nd.pick(x, nd.array([5, -1, 1]), axis=1).asnumpy(),
                               A[rows, [3, 0, 1]])                       # clip (default)
    np.testing.assert_allclose(nd.topk(x, k=2, ret_typ="value").asnumpy(),
                               -np.sort(-A, axis=1)[:, :2])
    idx = nd.topk(x, k=2)
    assert idx.dtype == np.float32
    np.testing.assert_allclose(idx.asnumpy(), np.argsort(-A, axis=1)[:, :2])
    value, index = nd.topk(x, k=2, ret_typ="both", is_ascend=True, dtype="int32")
    assert index.dtype == np.int32
    np.testing.assert_allclose(value.asnumpy(), np.sort(A, axis=1)[:, :2])
    mask = nd.topk(x, k=2, axis=0, ret_typ="mask").asnumpy()
    np.testing.assert_array_equal(mask, (A >= np.sort(A, axis=0)[1]).astype(np.float32))
    np.testing.assert_allclose(nd.topk(x, axis=None, k=3, ret_typ="value").asnumpy(),
                               -np.sort(-A.ravel())[:3])
    eager, hybrid = _hybrid(lambda F, a: F.topk(a, k=2, axis=0, ret_typ="value"), A)
    np.testing.assert_allclose(eager, -np.sort(-A, axis=0)[:2])
    np.testing.assert_allclose(hybrid, eager)


def test_sort_argsort_one_hot_and_where():
    x = nd.array(A)
    np.testing.assert_allclose(nd.sort(x, axis=0, is_ascend=False).asnumpy(),
                               -np.sort(-A, axis=0))
    np.testing.assert_allclose(nd.sort(x, axis=None).asnumpy(), np.sort(A.ravel()))
    assert nd.argsort(x, dtype="int64").dtype == np.int64
    np.testing.assert_allclose(nd.argsort(x, axis=None).asnumpy(), np.argsort(A.ravel()))
    hot = nd.one_hot(nd.array([1, 0, 2, 5]), 3, on_value=2, off_value=-1).asnumpy()
    want = np.full((4, 3), -1.0)
    want[[0, 1, 2], [1, 0, 2]] = 2                          # 5 is out of range: all off
    np.testing.assert_allclose(hot, want)
    assert nd.one_hot(nd.array([[1, 2]]), 3, dtype="int32").dtype == np.int32
    xx = nd.array(A)
    xx.attach_grad()
    cond = nd.array([1, 0, 1])                              # a row condition
    with autograd.record():
        y = nd.where(cond, xx, xx * 3)
    y.backward()
    np.testing.assert_allclose(y.asnumpy(), A * np.array([1, 3, 1])[:, None])
    np.testing.assert_allclose(xx.grad.asnumpy(), np.repeat([[1], [3], [1]], 4, axis=1))


def test_sequence_ops_with_lengths_on_both_axes():
    d = RS.randn(4, 2, 3)
    length = nd.array([2, 3])
    out = nd.SequenceMask(nd.array(d), sequence_length=length, use_sequence_length=True,
                          value=-1).asnumpy()
    want = d.copy()
    want[2:, 0], want[3:, 1] = -1, -1
    np.testing.assert_allclose(out, want, rtol=1e-6)
    out = nd.SequenceMask(nd.array(d.transpose(1, 0, 2)), sequence_length=length,
                          use_sequence_length=True, axis=1).asnumpy()
    want = d.transpose(1, 0, 2).copy()
    want[0, 2:], want[1, 3:] = 0, 0
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(nd.SequenceLast(nd.array(d), sequence_length=length,
                                               use_sequence_length=True).asnumpy(),
                               np.stack([d[1, 0], d[2, 1]]), rtol=1e-6)
    want = d.copy()
    want[:2, 0], want[:3, 1] = d[1::-1, 0], d[2::-1, 1]
    np.testing.assert_allclose(nd.SequenceReverse(nd.array(d), sequence_length=length,
                                                  use_sequence_length=True).asnumpy(),
                               want, rtol=1e-6)


def test_softmax_length_temperature_and_its_gradient():
    d = RS.randn(2, 5)
    want = np.zeros_like(d)
    for i, n in enumerate([2, 4]):
        e = np.exp(d[i, :n] - d[i, :n].max())
        want[i, :n] = e / e.sum()
    eager, hybrid = _hybrid(lambda F, a, n: F.softmax(a, length=n, use_length=True), d,
                            np.array([2, 4]))
    np.testing.assert_allclose(eager, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hybrid, want, rtol=1e-5, atol=1e-7)
    e = np.exp(d / 2)
    np.testing.assert_allclose(nd.softmax(nd.array(d), temperature=2.0).asnumpy(),
                               e / e.sum(1, keepdims=True), rtol=1e-5)
    z = d / 2
    np.testing.assert_allclose(nd.log_softmax(nd.array(d), temperature=2.0, axis=0).asnumpy(),
                               z - np.log(np.exp(z).sum(0, keepdims=True)), rtol=1e-5)
    assert nd.softmax(nd.array(d), dtype="float64").dtype == np.float64
    x = nd.array(d)
    x.attach_grad()
    weights = np.arange(10.0).reshape(2, 5)
    with autograd.record():
        loss = (nd.softmax(x, length=nd.array([2, 4]), use_length=True) *
                nd.array(weights)).sum()
    loss.backward()
    g = np.zeros_like(d)
    for i, n in enumerate([2, 4]):
        p = want[i, :n]
        g[i, :n] = p * (weights[i, :n] - (p * weights[i, :n]).sum())
    np.testing.assert_allclose(x.grad.asnumpy(), g, rtol=1e-4, atol=1e-6)


def test_layer_instance_and_group_norm():
    d = RS.randn(2, 4, 3, 2)
    g4, b4 = RS.rand(2), RS.rand(2)
    m = d.mean(-1, keepdims=True)
    v = d.var(-1, keepdims=True)
    eager, hybrid = _hybrid(lambda F, x, g, b: F.LayerNorm(x, g, b, eps=1e-5), d, g4, b4)
    np.testing.assert_allclose(eager, (d - m) / np.sqrt(v + 1e-5) * g4 + b4, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(hybrid, eager, rtol=1e-5, atol=1e-6)
    out, mean, std = nd.LayerNorm(nd.array(d), nd.array(g4), nd.array(b4),
                                  output_mean_var=True)
    assert mean.shape == (2, 4, 3, 1)
    np.testing.assert_allclose(std.asnumpy(), np.sqrt(v + 1e-5), rtol=1e-5)
    gc, bc = RS.rand(4), RS.rand(4)
    flat = d.reshape(2, 4, -1)
    m, v = flat.mean(-1)[..., None, None], flat.var(-1)[..., None, None]
    np.testing.assert_allclose(
        nd.InstanceNorm(nd.array(d), nd.array(gc), nd.array(bc), eps=1e-3).asnumpy(),
        (d - m) / np.sqrt(v + 1e-3) * gc[:, None, None] + bc[:, None, None], rtol=1e-4,
        atol=1e-5)
    groups = d.reshape(2, 2, -1)                # MXNet 1.9.1: gamma/beta per group
    m, v = groups.mean(-1, keepdims=True), groups.var(-1, keepdims=True)
    want = ((groups - m) / np.sqrt(v + 1e-5)).reshape(2, 2, 2, 3, 2) * \
        g4[None, :, None, None, None] + b4[None, :, None, None, None]
    np.testing.assert_allclose(nd.GroupNorm(nd.array(d), nd.array(g4), nd.array(b4),
                                            num_groups=2).asnumpy(),
                               want.reshape(d.shape), rtol=1e-4, atol=1e-5)


def _pool(x, k, s, p, kind, count_include_pad=True, full=False):
    n, c, h, w = x.shape
    size = (lambda L: -(-(L + 2 * p - k) // s) + 1) if full else \
        (lambda L: (L + 2 * p - k) // s + 1)
    oh, ow = size(h), size(w)
    padded = np.pad(x, ((0, 0), (0, 0), (p, p + k), (p, p + k)), constant_values=np.nan)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = padded[:, :, i * s:i * s + k, j * s:j * s + k]
            if kind == "max":
                out[:, :, i, j] = np.nanmax(win, axis=(2, 3))
            elif count_include_pad:      # the window cut at the padded border
                area = (min(i * s + k, h + 2 * p) - i * s) * (min(j * s + k, w + 2 * p) - j * s)
                out[:, :, i, j] = np.nansum(win, axis=(2, 3)) / area
            else:
                out[:, :, i, j] = np.nanmean(win, axis=(2, 3))
    return out


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("convention", ["valid", "full"])
def test_pooling_padding_count_and_convention(kind, count_include_pad, convention):
    d = RS.randn(1, 2, 5, 6)
    got = nd.Pooling(nd.array(d), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type=kind,
                     count_include_pad=count_include_pad, pooling_convention=convention)
    want = _pool(d, 3, 2, 1, kind, count_include_pad, convention == "full")
    assert got.shape == want.shape
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_lp_and_global_pooling_and_gluon_ceil_mode():
    d = RS.randn(1, 1, 5, 5)
    got = nd.Pooling(nd.array(d), kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=2)
    want = np.sqrt((d[:, :, :4, :4] ** 2).reshape(1, 1, 2, 2, 2, 2).sum((3, 5)))
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5)
    np.testing.assert_allclose(nd.Pooling(nd.array(d), global_pool=True, pool_type="avg",
                                          kernel=(1, 1)).asnumpy(),
                               d.mean((2, 3), keepdims=True), rtol=1e-5)
    layer = gluon.nn.AvgPool2D(3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(layer(nd.array(d)).asnumpy(),
                               _pool(d, 3, 2, 1, "avg", False, True), rtol=1e-5)
    x = RS.randn(2, 6, 3)
    np.testing.assert_allclose(gluon.nn.MaxPool1D(2, 2, layout="NWC")(nd.array(x)).asnumpy(),
                               x.reshape(2, 3, 2, 3).max(2), rtol=1e-6)


def _deconv(x, w, stride, pad, adj=0):
    n, _, h, wd = x.shape
    _, co, kh, kw = w.shape
    full = np.zeros((n, co, (h - 1) * stride + kh + adj, (wd - 1) * stride + kw + adj))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    oh, ow = (h - 1) * stride - 2 * pad + kh + adj, (wd - 1) * stride - 2 * pad + kw + adj
    return full[:, :, pad:pad + oh, pad:pad + ow]


def test_deconvolution_adj_target_shape_groups_and_conv2d_transpose():
    x, w = RS.randn(2, 3, 4, 4), RS.randn(3, 2, 3, 3)
    kw = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=2, no_bias=True)
    np.testing.assert_allclose(nd.Deconvolution(nd.array(x), nd.array(w), **kw).asnumpy(),
                               _deconv(x, w, 2, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        nd.Deconvolution(nd.array(x), nd.array(w), adj=(1, 1), **kw).asnumpy(),
        _deconv(x, w, 2, 1, 1), rtol=1e-4, atol=1e-5)
    out = nd.Deconvolution(nd.array(x), nd.array(w), target_shape=(8, 8), **kw)
    np.testing.assert_allclose(out.asnumpy(), _deconv(x, w, 2, 1, 1), rtol=1e-4, atol=1e-5)
    net = gluon.nn.Conv2DTranspose(2, 3, strides=2, padding=1, output_padding=1, in_channels=3)
    net.initialize()
    want = _deconv(x, net.weight.data().asnumpy().astype(np.float64), 2, 1, 1) + \
        net.bias.data().asnumpy()[None, :, None, None]
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), want, rtol=1e-4, atol=1e-5)
    net.hybridize()
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), want, rtol=1e-4, atol=1e-5)
    x2, w2 = RS.randn(1, 4, 3, 3), RS.randn(4, 1, 2, 2)
    got = nd.Deconvolution(nd.array(x2), nd.array(w2), kernel=(2, 2), num_filter=2,
                           num_group=2, no_bias=True).asnumpy()
    want = np.concatenate([_deconv(x2[:, :2], w2[:2], 1, 0), _deconv(x2[:, 2:], w2[2:], 1, 0)],
                          axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_upsampling_nearest_several_inputs_and_bilinear():
    x, y = RS.randn(1, 2, 2, 3), RS.randn(1, 3, 4, 6)
    near = x.repeat(2, 2).repeat(2, 3)
    np.testing.assert_allclose(nd.UpSampling(nd.array(x), scale=2).asnumpy(), near, rtol=1e-6)
    # every input is brought to the first one's size times scale (y is already that size)
    eager, hybrid = _hybrid(lambda F, a, b: F.UpSampling(a, b, scale=2, num_args=2), x, y)
    np.testing.assert_allclose(eager, np.concatenate([near, y], axis=1), rtol=1e-6)
    np.testing.assert_allclose(hybrid, eager)
    z = RS.randn(1, 2, 1, 1)
    got = nd.UpSampling(nd.array(x), nd.array(z), scale=2, num_args=2, multi_input_mode="sum")
    np.testing.assert_allclose(got.asnumpy(), near + z, rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="does not divide"):
        nd.UpSampling(nd.array(x), nd.ones((1, 1, 3, 3)), scale=2, num_args=2)
    sym = mx.sym.UpSampling(mx.sym.var("a"), mx.sym.var("b"), scale=2, num_args=2)
    assert sym.infer_shape(a=(1, 2, 2, 3), b=(1, 3, 4, 6))[1] == [(1, 5, 4, 6)]
    # bilinear is a depthwise deconvolution with kernel 2s - s % 2, stride s, pad ceil((s-1)/2)
    weight = nd.zeros((2, 1, 4, 4))
    mx.init.Bilinear()(mx.init.InitDesc("up_weight"), weight)
    got = nd.UpSampling(nd.array(x), weight, scale=2, sample_type="bilinear", num_filter=2)
    wn = weight.asnumpy().astype(np.float64)
    want = np.concatenate([_deconv(x[:, c:c + 1], wn[c:c + 1], 2, 1) for c in range(2)], 1)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)
    # away from the border a bilinear upsampling of a ramp is the ramp read at the output
    # pixels' centres, (j + 0.5) / 2 - 0.5
    ramp = nd.array(np.arange(6.0).reshape(1, 1, 1, 6).repeat(4, axis=2).repeat(2, axis=1))
    up = nd.UpSampling(ramp, weight, scale=2, sample_type="bilinear", num_filter=2).asnumpy()
    np.testing.assert_allclose(up[0, 0, 3, 1:11], np.arange(1, 11) / 2 - 0.25, rtol=1e-6)


def test_l2_normalization_modes_smooth_l1_and_crop():
    x = RS.randn(2, 3, 4)
    for mode, axes in [("instance", (1, 2)), ("channel", (1,)), ("spatial", (2,))]:
        got = nd.L2Normalization(nd.array(x), mode=mode).asnumpy()
        np.testing.assert_allclose(got, x / np.sqrt((x ** 2).sum(axes, keepdims=True) + 1e-10),
                                   rtol=1e-5, err_msg=mode)
    v = np.array([-3, -0.5, -0.1, 0, 0.2, 2])
    s = 2.0
    np.testing.assert_allclose(nd.smooth_l1(nd.array(v), scalar=s).asnumpy(),
                               np.where(np.abs(v) < 1 / s ** 2, 0.5 * (s * v) ** 2,
                                        np.abs(v) - 0.5 / s ** 2), rtol=1e-6)
    img = RS.randn(1, 2, 6, 6)
    np.testing.assert_allclose(nd.Crop(nd.array(img), nd.zeros((1, 2, 3, 4)), num_args=2,
                                       offset=(1, 2)).asnumpy(), img[:, :, 1:4, 2:6], rtol=1e-6)
    np.testing.assert_allclose(nd.Crop(nd.array(img), num_args=1, h_w=(2, 2),
                                       center_crop=True).asnumpy(), img[:, :, 2:4, 2:4],
                               rtol=1e-6)


def test_stepped_slices_reverse_of_several_axes_and_their_gradients():
    a = RS.randn(5, 6).astype(np.float32)
    x = nd.array(a)
    np.testing.assert_allclose(nd.slice(x, begin=(0, 1), end=(5, 6), step=(2, 2)).asnumpy(),
                               a[0:5:2, 1:6:2])
    np.testing.assert_allclose(nd.slice(x, begin=(4,), end=(0,), step=(-2,)).asnumpy(),
                               a[4:0:-2])
    np.testing.assert_allclose(nd.slice_axis(x, axis=1, begin=-3, end=None).asnumpy(),
                               a[:, -3:])
    np.testing.assert_allclose(nd.slice_like(x, nd.zeros((2, 3)), axes=(1,)).asnumpy(),
                               a[:, :3])
    np.testing.assert_allclose(nd.flip(x, axis=(0, 1)).asnumpy(), a[::-1, ::-1])
    np.testing.assert_allclose(nd.reverse(nd.array(RS.randn(2, 3, 4)), axis=[2, 0]).shape,
                               (2, 3, 4))
    x.attach_grad()
    with autograd.record():
        y = nd.slice(x, begin=(None, None), end=(None, None), step=(-1, -2))
        z = (y * nd.array(np.arange(15.0).reshape(5, 3))).sum() + \
            (nd.flip(x, axis=(0, 1)) * 2).sum()
    z.backward()
    want = np.full_like(a, 2)
    want[::-1, ::-2] += np.arange(15.0).reshape(5, 3)
    np.testing.assert_allclose(x.grad.asnumpy(), want)
    eager, hybrid = _hybrid(lambda F, t: F.reverse(t, axis=(0, 1)), a)
    np.testing.assert_allclose(hybrid, a[::-1, ::-1])


def test_rint_rounds_halves_down_and_mod_takes_the_divisors_sign():
    # MXNet's rint picks floor when the distances tie (0.5 -> 0, 1.5 -> 1, -2.5 -> -3);
    # round rounds halves away from zero; mod is Python's, not C's fmod
    v = nd.array([0.5, 1.5, -2.5, 2.7])
    np.testing.assert_array_equal(nd.rint(v).asnumpy(), [0, 1, -3, 3])
    np.testing.assert_array_equal(nd.round(v).asnumpy(), [1, 2, -3, 3])
    np.testing.assert_array_equal(nd.fix(nd.array([-1.7, 1.7])).asnumpy(), [-1, 1])
    a = np.array([-3.5, 3.5, -3.5, 3.5], np.float32)
    b = np.array([2, 2, -2, -2], np.float32)
    np.testing.assert_allclose(nd.broadcast_mod(nd.array(a), nd.array(b)).asnumpy(),
                               np.mod(a, b))
    np.testing.assert_allclose((nd.array(a) % 2).asnumpy(), np.mod(a, 2))


@pytest.mark.parametrize("compiled", [False, True])
def test_mod_by_zero_is_zero_as_mxnets_kernel(compiled):
    """MXNet's mod returns 0 where the divisor is 0, for floats too (numpy gives NaN); the
    other elements keep the divisor's sign, as numpy's."""
    x = nd.array([3.5, -2.0, 0.0, 7.0, -7.5])
    y = nd.array([0.0, 0.0, 0.0, -3.0, 2.0])
    f = mx.jit(lambda a, b: a % b) if compiled else (lambda a, b: a % b)
    np.testing.assert_array_equal(f(x, y).asnumpy(), [0.0, 0.0, 0.0, -2.0, 0.5])
    np.testing.assert_array_equal(nd.broadcast_mod(nd.array([1.0, 2.0]), nd.zeros(1)).asnumpy(),
                                  [0.0, 0.0])
    np.testing.assert_array_equal((nd.array([5, -5], dtype="int32") % 0).asnumpy(), [0, 0])
