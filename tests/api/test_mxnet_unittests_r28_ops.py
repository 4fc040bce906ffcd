"""Behaviours MXNet 1.9.1's test_operator.py relies on (round 28): creation ops refuse
unknown (0 / ()) shapes outside np_shape, the operator registry queries
(get_all_registered_operators / get_operator_arguments), BilinearResize2D's 'like' input in
a graph, Correlation, and matmul's shape-only run during symbolic shape inference."""
import numpy as np
import pytest
from numeric import central_differences

import tracegrad as mx
from tracegrad import autograd, gluon


# ---------------------------------------------------------------- creation shapes
@pytest.mark.parametrize("make, ref", [
    (lambda s: mx.nd.zeros(s), lambda s: np.zeros(s, np.float32)),
    (lambda s: mx.nd.ones(s), lambda s: np.ones(s, np.float32)),
    (lambda s: mx.nd.full(s, 2.0), lambda s: np.full(s, 2.0, np.float32))])
def test_creation_refuses_unknown_shapes_outside_np_shape(make, ref):
    for shape in [(), (0, 1, 3, 0), (2, 0)]:
        with pytest.raises(mx.MXNetError, match="not known"):
            make(shape)
    with mx.np_shape():
        for shape in [(), (0, 1, 0, 4), (2, 0)]:
            got = make(shape)
            assert got.shape == shape
            np.testing.assert_array_equal(got.asnumpy(), ref(shape))
    np.testing.assert_array_equal(make((2, 3)).asnumpy(), ref((2, 3)))


def test_empty_takes_any_shape():
    assert mx.nd.empty((0, 3)).shape == (0, 3)
    assert mx.nd.empty(()).shape == ()
    assert mx.nd.empty((2, 3), dtype="int32").dtype == np.int32


# ---------------------------------------------------------------- operator registry
def test_get_all_registered_operators_lists_mxnet_operator_names():
    ops = mx.operator.get_all_registered_operators()
    assert isinstance(ops, list)
    for name in ("Activation", "FullyConnected", "Convolution", "Custom", "Correlation",
                 "_contrib_BilinearResize2D", "softmax", "elemwise_add"):
        assert name in ops, name
    assert "not_an_op" not in ops

    @mx.operator.register("r28_custom_noop")
    class _Prop(mx.operator.CustomOpProp):
        pass
    assert "r28_custom_noop" in mx.operator.registered_custom_ops()
    assert "r28_custom_noop" not in mx.operator.get_all_registered_operators()


def test_get_operator_arguments_names_and_types():
    from tracegrad.operator import OperatorArguments, get_operator_arguments
    act = get_operator_arguments("Activation")
    assert isinstance(act, OperatorArguments)
    assert act.narg == 2 and act.names == ["data", "act_type"]
    assert act.types == ["NDArray-or-Symbol",
                         "{'relu', 'sigmoid', 'softrelu', 'softsign', 'tanh'}, required"]
    fc = get_operator_arguments("FullyConnected")
    assert fc.names[:4] == ["data", "weight", "bias", "num_hidden"]
    assert fc.types[3].endswith("required")
    assert fc.types[fc.names.index("no_bias")] == "boolean, optional, default=0"
    cat = get_operator_arguments("Concat")
    assert cat.types[0] == "NDArray-or-Symbol[]"
    assert fc.narg == len(fc.names) == len(fc.types)
    with pytest.raises(mx.MXNetError, match="no operator named 'nope_op'"):
        get_operator_arguments("nope_op")


def test_activation_needs_its_act_type():
    with pytest.raises(TypeError, match="act_type"):
        mx.nd.Activation(mx.nd.ones((2,)))
    np.testing.assert_allclose(mx.nd.Activation(mx.nd.array([-1.0, 2.0]), "relu").asnumpy(),
                               [0.0, 2.0])


# ---------------------------------------------------------------- BilinearResize2D 'like'
def test_bilinear_resize_like_in_a_graph():
    data = np.random.uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)
    like = np.random.uniform(-1, 1, (2, 3, 7, 3)).astype(np.float32)
    sym = mx.sym.contrib.BilinearResize2D(mx.sym.var("d"), mx.sym.var("l"), mode="like")
    assert sym.list_arguments() == ["d", "l"]
    _, out_shapes, _ = sym.infer_shape(d=data.shape, l=like.shape)
    assert out_shapes == [(2, 3, 7, 3)]
    exe = sym.bind(mx.cpu(), {"d": mx.nd.array(data), "l": mx.nd.array(like)},
                   args_grad={"d": mx.nd.zeros(data.shape), "l": mx.nd.ones(like.shape)})
    exe.forward(is_train=True)
    head = np.random.uniform(-1, 1, (2, 3, 7, 3)).astype(np.float32)
    exe.backward(mx.nd.array(head))
    x, y = mx.nd.array(data), mx.nd.array(like)
    x.attach_grad()
    with autograd.record():
        ref = mx.nd.contrib.BilinearResize2D(x, y, mode="like")
    ref.backward(mx.nd.array(head))
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), ref.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(exe.grad_dict["d"].asnumpy(), x.grad.asnumpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(exe.grad_dict["l"].asnumpy(), 0.0)
    # without mode 'like' the op takes data alone
    one = mx.sym.contrib.BilinearResize2D(mx.sym.var("d"), height=6, width=2)
    assert one.list_arguments() == ["d"]


# ---------------------------------------------------------------- Correlation
def _correlation_ref(d1, d2, k, md, s1, s2, pad, mult):
    """float64 loops over MXNet's definition (src/operator/correlation.cc)."""
    d1, d2 = d1.astype(np.float64), d2.astype(np.float64)
    n, c, h, w = d1.shape
    p1 = np.pad(d1, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    p2 = np.pad(d2, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    border = md + (k - 1) // 2
    th = int(np.ceil((h + 2 * pad - 2 * border) / s1))
    tw = int(np.ceil((w + 2 * pad - 2 * border) / s1))
    r = md // s2
    gw = 2 * r + 1
    out = np.zeros((n, gw * gw, th, tw))
    for i in range(th):
        for j in range(tw):
            y1, x1 = i * s1 + md, j * s1 + md
            for tc in range(gw * gw):
                y2 = y1 + (tc // gw - r) * s2
                x2 = x1 + (tc % gw - r) * s2
                a = p1[:, :, y1:y1 + k, x1:x1 + k]
                b = p2[:, :, y2:y2 + k, x2:x2 + k]
                e = a * b if mult else np.abs(a - b)
                out[:, tc, i, j] = e.sum(axis=(1, 2, 3)) / (k * k * c)
    return out


CORR_CASES = [((1, 3, 10, 10), 1, 4, 1, 1, 4, False), ((2, 1, 9, 9), 1, 5, 1, 2, 5, True),
              ((2, 2, 6, 5), 3, 1, 2, 1, 2, True), ((2, 1, 6, 4), 3, 1, 2, 1, 2, False),
              ((1, 2, 11, 11), 5, 1, 1, 1, 2, False), ((1, 2, 7, 8), 3, 2, 1, 2, 0, True)]


@pytest.mark.parametrize("corr_case", CORR_CASES)
def test_correlation_matches_the_float64_reference(corr_case):
    shape, k, md, s1, s2, pad, mult = corr_case
    rng = np.random.RandomState(0)
    d1, d2 = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, shape)
    got = mx.nd.Correlation(mx.nd.array(d1), mx.nd.array(d2), kernel_size=k,
                            max_displacement=md, stride1=s1, stride2=s2, pad_size=pad,
                            is_multiply=mult)
    ref = _correlation_ref(d1.astype(np.float32), d2.astype(np.float32), k, md, s1, s2,
                           pad, mult)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mult", [True, False])
def test_correlation_gradient_matches_finite_differences(mult):
    rng = np.random.RandomState(1)
    shape, kw = (1, 2, 5, 5), dict(kernel_size=3, max_displacement=1, stride1=1, stride2=1,
                                  pad_size=1, is_multiply=mult)
    d1, d2 = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, shape)
    head = rng.uniform(-1, 1, _correlation_ref(d1, d2, 3, 1, 1, 1, 1, mult).shape)
    a, b = mx.nd.array(d1, dtype="float64"), mx.nd.array(d2, dtype="float64")
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        out = mx.nd.Correlation(a, b, **kw)
    out.backward(mx.nd.array(head, dtype="float64"))

    nums = central_differences(
        lambda: float((_correlation_ref(d1, d2, 3, 1, 1, 1, 1, mult) * head).sum()), [d1, d2])
    for grad, num in zip((a.grad.asnumpy(), b.grad.asnumpy()), nums):
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


def test_correlation_abs_tie_gives_data1_the_positive_sign():
    d = np.random.RandomState(2).uniform(-1, 1, (1, 1, 3, 3))
    a, b = mx.nd.array(d), mx.nd.array(d)
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        out = mx.nd.Correlation(a, b, max_displacement=0, is_multiply=False)
    out.backward()
    np.testing.assert_array_equal(out.asnumpy(), 0.0)
    np.testing.assert_array_equal(a.grad.asnumpy(), 1.0)     # (MXNet: sgn = a >= b)
    np.testing.assert_array_equal(b.grad.asnumpy(), -1.0)


def test_correlation_float16_and_compiled_agree():
    rng = np.random.RandomState(3)
    d1, d2 = rng.uniform(0, 1, (2, 3, 8, 8)), rng.uniform(0, 1, (2, 3, 8, 8))
    half = mx.nd.Correlation(mx.nd.array(d1, dtype="float16"),
                             mx.nd.array(d2, dtype="float16"), kernel_size=3,
                             max_displacement=2, pad_size=1, is_multiply=True)
    assert half.dtype == np.float16
    ref = _correlation_ref(d1.astype(np.float16), d2.astype(np.float16), 3, 2, 1, 1, 1, True)
    np.testing.assert_allclose(half.asnumpy().astype(np.float64), ref, rtol=2e-3, atol=1e-3)

    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, x, y):
            return F.Correlation(x, y, kernel_size=3, max_displacement=2, stride2=2,
                                 pad_size=2, is_multiply=False)
    x, y = mx.nd.array(d1), mx.nd.array(d2)
    eager = Net()(x, y)
    net = Net()
    net.hybridize()
    for _ in range(2):
        x.attach_grad()
        with autograd.record():
            out = net(x, y)
        out.backward()
        np.testing.assert_allclose(out.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    x2 = mx.nd.array(d1)
    x2.attach_grad()
    with autograd.record():
        Net()(x2, y).backward()
    np.testing.assert_allclose(x.grad.asnumpy(), x2.grad.asnumpy(), rtol=1e-5, atol=1e-6)


def test_correlation_symbol_has_one_visible_output():
    sym = mx.sym.Correlation(data1=mx.sym.var("a"), data2=mx.sym.var("b"), kernel_size=3,
                             max_displacement=2, pad_size=2)
    assert sym.list_arguments() == ["a", "b"]
    assert len(sym.list_outputs()) == 1
    _, out_shapes, _ = sym.infer_shape(a=(2, 3, 6, 7), b=(2, 3, 6, 7))
    assert out_shapes == [(2, 25, 4, 5)]
    d1 = np.random.uniform(-1, 1, (2, 3, 6, 7))
    d2 = np.random.uniform(-1, 1, (2, 3, 6, 7))
    exe = sym.bind(mx.cpu(), {"a": mx.nd.array(d1), "b": mx.nd.array(d2)})
    exe.forward()
    ref = _correlation_ref(d1.astype(np.float32), d2.astype(np.float32), 3, 2, 1, 1, 2, True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), ref, rtol=1e-5, atol=1e-6)


def test_correlation_bad_settings_are_named():
    x = mx.nd.ones((1, 1, 28, 28))
    with pytest.raises(mx.MXNetError, match="don't fit"):
        mx.nd.Correlation(x, x, kernel_size=29)
    with pytest.raises(mx.MXNetError, match="odd"):
        mx.nd.Correlation(x, x, kernel_size=4)
    with pytest.raises(mx.MXNetError, match="one shape"):
        mx.nd.Correlation(x, mx.nd.ones((1, 1, 28, 27)))
    with pytest.raises(mx.MXNetError, match="4D"):
        mx.nd.Correlation(mx.nd.ones((1, 28, 28)), mx.nd.ones((1, 28, 28)))
    with pytest.raises(mx.MXNetError, match="stride1"):
        mx.nd.Correlation(x, x, stride1=0)
    assert mx.nd.Correlation(x, x, kernel_size=9).shape == (1, 9, 18, 18)


# ---------------------------------------------------------------- matmul shapes only
def test_matmul_runs_shape_only_during_shape_inference():
    from tracegrad.ir.ops.checks import SHAPES_ONLY
    from tracegrad.ir.ops.linalg import MatMul
    x, y = np.ones((2, 3, 4), np.float32), np.ones((4, 5), np.float32)
    was, SHAPES_ONLY.on = SHAPES_ONLY.on, True
    try:
        got = MatMul.impl(x, y)
        assert got.shape == (2, 3, 5) and got.dtype == np.float32
        np.testing.assert_array_equal(got, 0.0)    # (inference feeds zeros: no product)
        assert MatMul.impl(x, np.ones((5, 4)), transpose_b=True).shape == (2, 3, 5)
        with pytest.raises(ValueError):
            MatMul.impl(x, np.ones((3, 5), np.float32))
    finally:
        SHAPES_ONLY.on = was
    np.testing.assert_array_equal(MatMul.impl(x, y), np.full((2, 3, 5), 4.0))
    # and a graph's inferred shapes are unchanged
    net = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=7, name="fc")
    args, outs, _ = net.infer_shape(data=(3, 11))
    assert dict(zip(net.list_arguments(), args)) == {"data": (3, 11), "fc_weight": (7, 11),
                                                     "fc_bias": (7,)}
    assert outs == [(3, 7)]
    with pytest.raises(mx.MXNetError):
        mx.sym.dot(mx.sym.var("a"), mx.sym.var("b")).infer_shape(a=(2, 3), b=(4, 5))


# ---------------------------------------------------------------- quantize / dequantize
def _quantize_ref(x, lo, hi, out_type):
    x = x.astype(np.float64)
    if out_type == "int8":
        real = max(abs(lo), abs(hi))
        q = np.sign(x) * np.minimum(np.abs(x) * (127.0 / real) + 0.5, 127.0)
        return np.trunc(q).astype(np.int8), -real, real
    q = np.clip((x - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255)
    return np.trunc(q).astype(np.uint8), lo, hi


@pytest.mark.parametrize("out_type", ["int8", "uint8"])
def test_quantize_and_dequantize_match_mxnets_formulas(out_type):
    rng = np.random.RandomState(5)
    x = rng.uniform(-1.5, 2.0, (4, 6)).astype(np.float32)
    lo, hi = (-1.5, 2.0)
    q, qmin, qmax = mx.nd.contrib.quantize(mx.nd.array(x), mx.nd.array([lo]),
                                           mx.nd.array([hi]), out_type=out_type)
    want, wmin, wmax = _quantize_ref(x, lo, hi, out_type)
    assert q.dtype == np.dtype(out_type) and q.shape == x.shape
    np.testing.assert_array_equal(q.asnumpy(), want)
    np.testing.assert_allclose([qmin.asscalar(), qmax.asscalar()], [wmin, wmax])
    back = mx.nd.contrib.dequantize(q, qmin, qmax)
    assert back.dtype == np.float32
    if out_type == "int8":
        ref = want.astype(np.float64) * (max(abs(wmin), abs(wmax)) / 127.0)
    else:
        ref = want.astype(np.float64) * ((wmax - wmin) / 255.0) + wmin
    np.testing.assert_allclose(back.asnumpy(), ref, rtol=1e-6, atol=1e-6)
    # the round trip is within one quantization step
    step = (max(abs(lo), abs(hi)) / 127.0) if out_type == "int8" else (hi - lo) / 255.0
    assert np.abs(back.asnumpy() - x).max() <= step


def test_quantize_mxnet_example_and_compiled_agree():
    a = mx.nd.array([[0.1392, 0.5928], [0.6027, 0.8579]])
    lo, hi = mx.nd.array([0.0]), mx.nd.array([1.0])
    q, qmin, qmax = mx.nd.contrib.quantize(a, lo, hi, out_type="int8")
    np.testing.assert_array_equal(q.asnumpy(), [[18, 75], [77, 109]])

    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, x, lo, hi):
            q, qlo, qhi = F.contrib.quantize(x, lo, hi, out_type="uint8")
            return F.contrib.dequantize(q, qlo, qhi)
    net = Net()
    eager = net(a, lo, hi).asnumpy()
    net.hybridize()
    for _ in range(2):
        np.testing.assert_array_equal(net(a, lo, hi).asnumpy(), eager)
    sym = mx.sym.contrib.quantize(mx.sym.var("d"), mx.sym.var("lo"), mx.sym.var("hi"),
                                  out_type="int8")
    assert len(sym.list_outputs()) == 3
    exe = sym.bind(mx.cpu(), {"d": a, "lo": lo, "hi": hi})
    exe.forward()
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), q.asnumpy())


def test_quantize_bad_input_is_named():
    lo, hi = mx.nd.array([0.0]), mx.nd.array([1.0])
    with pytest.raises(mx.MXNetError, match="out_type"):
        mx.nd.contrib.quantize(mx.nd.ones((2,)), lo, hi, out_type="int16")
    with pytest.raises(mx.MXNetError, match="min_range must be a float32 NDArray of shape"):
        mx.nd.contrib.quantize(mx.nd.ones((2,)), mx.nd.array([0.0, 1.0]), hi)
    with pytest.raises(mx.MXNetError, match="int8 or uint8"):
        mx.nd.contrib.dequantize(mx.nd.ones((2,)), lo, hi)


# ---------------------------------------------------------------- PSROIPooling
def _psroi_ref(data, rois, scale, od, p, g):
    """float64 loops over MXNet's CPU kernel (src/operator/contrib/psroi_pooling.cc)."""
    n, c, h, w = data.shape
    out = np.zeros((rois.shape[0], od, p, p))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = np.round(x1) * scale, np.round(y1) * scale
        ew, eh = (np.round(x2) + 1) * scale, (np.round(y2) + 1) * scale
        bw, bh = max(ew - sw, 0.1) / p, max(eh - sh, 0.1) / p
        for k in range(od):
            for ph in range(p):
                for pw in range(p):
                    hs = min(max(int(np.floor(ph * bh + sh)), 0), h)
                    he = min(max(int(np.ceil((ph + 1) * bh + sh)), 0), h)
                    ws = min(max(int(np.floor(pw * bw + sw)), 0), w)
                    we = min(max(int(np.ceil((pw + 1) * bw + sw)), 0), w)
                    gw = min(max(int(np.floor(pw * g / p)), 0), g - 1)
                    gh = min(max(int(np.floor(ph * g / p)), 0), g - 1)
                    ch = (k * g + gh) * g + gw
                    if he > hs and we > ws:
                        out[r, k, ph, pw] = data[int(b), ch, hs:he, ws:we].mean()
    return out


PSROI_CASES = [(2, 3, 3, 0.0625, (1, 18, 14, 14)), (3, 2, 2, 0.0625, (2, 12, 10, 13)),
               (1, 4, 2, 0.5, (2, 4, 9, 8))]


@pytest.mark.parametrize("psroi_case", PSROI_CASES)
def test_psroipooling_matches_mxnets_kernel(psroi_case):
    od, p, g, scale, shape = psroi_case
    rng = np.random.RandomState(6)
    data = rng.uniform(-1, 1, shape)
    img_h, img_w = shape[2] / scale, shape[3] / scale
    rois = np.zeros((4, 5))
    rois[:, 0] = rng.randint(0, shape[0], 4)
    rois[:, [1, 3]] = np.sort(rng.uniform(-3, img_w + 3, (4, 2)), axis=1)
    rois[:, [2, 4]] = np.sort(rng.uniform(-3, img_h + 3, (4, 2)), axis=1)
    rois[0, 1:] = [5.0, 5.0, 5.0, 5.0]                      # a one-pixel box
    got = mx.nd.contrib.PSROIPooling(mx.nd.array(data, dtype="float64"),
                                     mx.nd.array(rois, dtype="float64"), spatial_scale=scale,
                                     output_dim=od, pooled_size=p,
                                     group_size=g if g != p else 0)
    ref = _psroi_ref(data, rois, scale, od, p, g)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-12, atol=1e-12)


def test_psroipooling_gradient_and_compiled_agree():
    rng = np.random.RandomState(7)
    data = rng.uniform(-1, 1, (1, 8, 6, 7))
    rois = np.array([[0, 1.2, 0.4, 9.6, 8.7], [0, 4.0, 2.0, 12.5, 11.0]])
    kw = dict(spatial_scale=0.5, output_dim=2, pooled_size=2)
    head = rng.uniform(-1, 1, (2, 2, 2, 2))
    x = mx.nd.array(data, dtype="float64")
    x.attach_grad()
    with autograd.record():
        out = mx.nd.contrib.PSROIPooling(x, mx.nd.array(rois, dtype="float64"), **kw)
    out.backward(mx.nd.array(head, dtype="float64"))
    num, = central_differences(lambda: (_psroi_ref(data, rois, 0.5, 2, 2, 2) * head).sum(),
                               [data])
    np.testing.assert_allclose(x.grad.asnumpy(), num, rtol=1e-6, atol=1e-8)

    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, d, b):
            return F.contrib.PSROIPooling(d, b, **kw)
    d32, b32 = mx.nd.array(data), mx.nd.array(rois)
    eager = Net()(d32, b32).asnumpy()
    net = Net()
    net.hybridize()
    for _ in range(2):
        np.testing.assert_allclose(net(d32, b32).asnumpy(), eager, rtol=1e-6, atol=1e-7)
    sym = mx.sym.contrib.PSROIPooling(spatial_scale=0.5, output_dim=2, pooled_size=2,
                                      name="ps")
    assert sym.list_arguments() == ["ps_data", "ps_rois"]


def test_psroipooling_bad_input_is_named():
    d, b = mx.nd.ones((1, 8, 5, 5)), mx.nd.array([[0, 0, 0, 4, 4]])
    with pytest.raises(mx.MXNetError, match="channels"):
        mx.nd.contrib.PSROIPooling(d, b, spatial_scale=1.0, output_dim=3, pooled_size=2)
    with pytest.raises(mx.MXNetError, match=r"\[batch, 5\]"):
        mx.nd.contrib.PSROIPooling(d, mx.nd.ones((2, 4)), spatial_scale=1.0, output_dim=2,
                                   pooled_size=2)
    with pytest.raises(mx.MXNetError, match="required"):
        mx.nd.contrib.PSROIPooling(d, b, output_dim=2, pooled_size=2)


# ---------------------------------------------------------------- RROIAlign
def _rroi_ref(data, rois, pooled, scale, ratio):
    """float64 loops over MXNet's CPU kernel (src/operator/contrib/rroi_align.cc)."""
    n, c, h, w = data.shape
    ph_n, pw_n = pooled
    out = np.zeros((rois.shape[0], c, ph_n, pw_n))

    def interp(img, y, x):
        if y < -1.0 or y > h or x < -1.0 or x > w:
            return np.zeros(c)
        y, x = max(y, 0.0), max(x, 0.0)
        yl, xl = int(y), int(x)
        if yl >= h - 1:
            yh = yl = h - 1
            y = float(yl)
        else:
            yh = yl + 1
        if xl >= w - 1:
            xh = xl = w - 1
            x = float(xl)
        else:
            xh = xl + 1
        ly, lx = y - yl, x - xl
        return ((1 - ly) * (1 - lx) * img[:, yl, xl] + (1 - ly) * lx * img[:, yl, xh]
                + ly * (1 - lx) * img[:, yh, xl] + ly * lx * img[:, yh, xh])
    for r, (b, cx, cy, rw, rh, th) in enumerate(rois):
        cx, cy = cx * scale, cy * scale
        rw, rh = max(rw * scale, 1.0), max(rh * scale, 1.0)
        th = th * np.pi / 180.0
        bh, bw = rh / ph_n, rw / pw_n
        gh = ratio if ratio > 0 else int(np.ceil(rh / ph_n))
        gw = ratio if ratio > 0 else int(np.ceil(rw / pw_n))
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = np.zeros(c)
                for iy in range(gh):
                    yy = -rh / 2 + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = -rw / 2 + pw * bw + (ix + 0.5) * bw / gw
                        x = xx * np.cos(th) + yy * np.sin(th) + cx
                        y = yy * np.cos(th) - xx * np.sin(th) + cy
                        acc += interp(data[int(b)], y, x)
                out[r, :, ph, pw] = acc / (gh * gw)
    return out


def _rrois(rng, r, n, size):
    return np.concatenate([rng.randint(0, n, (r, 1)), rng.uniform(0, size, (r, 2)),
                           rng.uniform(0, size, (r, 2)), rng.uniform(0, 180, (r, 1))], axis=1)


@pytest.mark.parametrize("ratio", [-1, 2])
def test_rroi_align_matches_mxnets_kernel(ratio):
    rng = np.random.RandomState(8)
    data = rng.uniform(-1, 1, (3, 2, 12, 11))
    rois = _rrois(rng, 6, 3, 96.0)
    got = mx.nd.contrib.RROIAlign(mx.nd.array(data, dtype="float64"),
                                  mx.nd.array(rois, dtype="float64"), pooled_size=(3, 2),
                                  spatial_scale=0.125, sampling_ratio=ratio)
    ref = _rroi_ref(data, rois, (3, 2), 0.125, ratio)
    np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-10, atol=1e-10)


def test_rroi_align_gradient_and_compiled_agree():
    rng = np.random.RandomState(9)
    data = rng.uniform(-1, 1, (1, 2, 6, 6))
    rois = np.array([[0, 20.0, 22.0, 30.0, 18.0, 35.0], [0, 10.0, 30.0, 12.0, 40.0, 120.0]])
    kw = dict(pooled_size=2, spatial_scale=0.25, sampling_ratio=2)
    head = rng.uniform(-1, 1, (2, 2, 2, 2))
    x = mx.nd.array(data, dtype="float64")
    x.attach_grad()
    with autograd.record():
        out = mx.nd.contrib.RROIAlign(x, mx.nd.array(rois, dtype="float64"), **kw)
    out.backward(mx.nd.array(head, dtype="float64"))
    num, = central_differences(lambda: (_rroi_ref(data, rois, (2, 2), 0.25, 2) * head).sum(),
                               [data])
    np.testing.assert_allclose(x.grad.asnumpy(), num, rtol=1e-6, atol=1e-8)

    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, d, b):
            return F.contrib.RROIAlign(d, b, **kw)
    d32, b32 = mx.nd.array(data), mx.nd.array(rois)
    eager = Net()(d32, b32).asnumpy()
    net = Net()
    net.hybridize()
    for _ in range(2):
        np.testing.assert_allclose(net(d32, b32).asnumpy(), eager, rtol=1e-5, atol=1e-6)


def test_rroi_align_bad_input_is_named():
    with pytest.raises(mx.MXNetError, match=r"rois \(R, 6\)"):
        mx.nd.contrib.RROIAlign(mx.nd.ones((1, 1, 4, 4)), mx.nd.ones((2, 5)), pooled_size=2,
                                spatial_scale=1.0)
    with pytest.raises(mx.MXNetError, match="required"):
        mx.nd.contrib.RROIAlign(mx.nd.ones((1, 1, 4, 4)), mx.nd.ones((2, 6)), pooled_size=2)
