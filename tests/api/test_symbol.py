"""mx.sym: building, naming, inference, JSON, Executor forward/backward and the loss layers,
checked against float64 numpy, Gluon with the same parameters and finite differences."""
import json
import os
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "grad"))
from check import check_grads  # noqa: E402


def _mlp():
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data=data, num_hidden=6, name="fc1")
    act = mx.sym.Activation(fc1, act_type="tanh", name="act1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def _fill(ex, rng, skip=("data", "softmax_label")):
    for k, v in ex.arg_dict.items():
        if k not in skip:
            v[:] = rng.standard_normal(v.shape) * 0.5


def test_names_arguments_outputs_and_auto_naming():
    net = _mlp()
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight",
                                    "fc2_bias", "softmax_label"]
    assert net.list_outputs() == ["softmax_output"]
    assert net.name == "softmax"
    internals = net.get_internals()
    assert internals.list_outputs() == [
        "data", "fc1_weight", "fc1_bias", "fc1_output", "act1_output", "fc2_weight",
        "fc2_bias", "fc2_output", "softmax_label", "softmax_output"]
    assert internals["fc1_output"].name == "fc1"
    x = mx.sym.var("x")
    a = mx.sym.FullyConnected(x, num_hidden=2)
    b = mx.sym.FullyConnected(x, num_hidden=2)
    n1, n2 = int(a.name[len("fullyconnected"):]), int(b.name[len("fullyconnected"):])
    assert a.name.startswith("fullyconnected") and n2 == n1 + 1
    assert a.list_arguments() == ["x", f"{a.name}_weight", f"{a.name}_bias"]
    nb = mx.sym.FullyConnected(x, num_hidden=2, no_bias=True, name="nb")
    assert nb.list_arguments() == ["x", "nb_weight"]
    bn = mx.sym.BatchNorm(x, name="bn")
    assert bn.list_arguments() == ["x", "bn_gamma", "bn_beta"]
    assert bn.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert bn.list_inputs() == ["x", "bn_gamma", "bn_beta", "bn_moving_mean", "bn_moving_var"]
    emb = mx.sym.Embedding(x, input_dim=10, output_dim=4, name="emb")
    assert emb.list_arguments() == ["x", "emb_weight"]
    pr = mx.sym.LeakyReLU(x, act_type="prelu", name="pr")
    assert pr.list_arguments() == ["x", "pr_gamma"]
    rnn = mx.sym.RNN(x, state_size=4, num_layers=1, mode="lstm", name="rnn")
    assert rnn.list_arguments() == ["x", "rnn_parameters", "rnn_state", "rnn_state_cell"]
    conv = mx.sym.Convolution(x, kernel=(3, 3), num_filter=2, name="conv")
    assert conv.list_arguments() == ["x", "conv_weight", "conv_bias"]
    dec = mx.sym.Deconvolution(x, kernel=(2, 2), num_filter=2, name="dec")
    assert dec.list_arguments() == ["x", "dec_weight"]   # no_bias defaults to True


def test_group_indexing_and_multi_output():
    x = mx.sym.var("x")
    parts = mx.sym.split(x, num_outputs=3, axis=1, name="sp")
    assert len(parts) == 3
    assert parts.list_outputs() == ["sp_output0", "sp_output1", "sp_output2"]
    g = mx.sym.Group([parts[2], parts[0] * 2])
    assert len(g) == 2
    out = g.eval(x=nd.array(np.arange(6).reshape(1, 6)))
    np.testing.assert_array_equal(out[0].asnumpy(), [[4, 5]])
    np.testing.assert_array_equal(out[1].asnumpy(), [[0, 2]])
    with pytest.raises(IndexError):
        parts[3]


def test_infer_shape_type_and_partial():
    net = _mlp()
    args, outs, aux = net.infer_shape(data=(5, 7))
    assert args == [(5, 7), (6, 7), (6,), (3, 6), (3,), (5,)]
    assert outs == [(5, 3)] and aux == []
    assert net.infer_shape() == (None, None, None)
    partial = net.infer_shape_partial()
    assert partial[0][0] == () and partial[1] == [()]
    conv = mx.sym.Convolution(mx.sym.var("d"), kernel=(3, 3), num_filter=4, pad=(1, 1),
                              name="c")
    bn = mx.sym.BatchNorm(conv, name="bn")
    pool = mx.sym.Pooling(bn, kernel=(2, 2), stride=(2, 2), pool_type="max")
    a, o, x = pool.infer_shape(d=(2, 3, 8, 8))
    assert a == [(2, 3, 8, 8), (4, 3, 3, 3), (4,), (4,), (4,)]
    assert o == [(2, 4, 4, 4)] and x == [(4,), (4,)]
    at, ot, xt = pool.infer_type(d=np.float64)
    assert all(t is np.float64 for t in at + ot + xt)
    rnn = mx.sym.RNN(mx.sym.var("seq"), state_size=5, num_layers=2, mode="gru",
                     bidirectional=True, name="r")
    a, o, _ = rnn.infer_shape(seq=(4, 3, 6))
    size = 2 * (3 * 5 * (6 + 5) + 6 * 5) + 2 * (3 * 5 * (10 + 5) + 6 * 5)
    assert a[1] == (size,) and a[2] == (4, 3, 5) and o == [(4, 3, 10)]
    v = mx.sym.var("w", shape=(3, 4), dtype="float64", lr_mult=2.0, init=mx.init.Zero())
    assert v.attr("__shape__") == "(3, 4)" and v.attr("__lr_mult__") == "2.0"
    assert (v * 1).infer_shape()[0] == [(3, 4)]
    assert (v * 1).infer_type()[0] == [np.float64]


def test_mlp_forward_matches_float64_numpy_and_gluon():
    rng = np.random.default_rng(0)
    net = _mlp()
    ex = net.simple_bind(mx.cpu(), data=(4, 5))
    _fill(ex, rng)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    out = ex.forward(is_train=False, data=x)[0].asnumpy()
    p = {k: v.asnumpy().astype(np.float64) for k, v in ex.arg_dict.items()}
    h = np.tanh(x.astype(np.float64) @ p["fc1_weight"].T + p["fc1_bias"])
    z = h @ p["fc2_weight"].T + p["fc2_bias"]
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    gnet = gluon.nn.HybridSequential(prefix="g_")
    with gnet.name_scope():
        gnet.add(gluon.nn.Dense(6, activation="tanh", in_units=5),
                 gluon.nn.Dense(3, in_units=6))
    gnet.initialize()
    d1, d2 = gnet[0], gnet[1]
    d1.weight.set_data(ex.arg_dict["fc1_weight"])
    d1.bias.set_data(ex.arg_dict["fc1_bias"])
    d2.weight.set_data(ex.arg_dict["fc2_weight"])
    d2.bias.set_data(ex.arg_dict["fc2_bias"])
    np.testing.assert_allclose(out, nd.softmax(gnet(nd.array(x))).asnumpy(), rtol=1e-5,
                               atol=1e-6)


def test_executor_gradients_match_gluon_and_finite_differences():
    """A non-loss head with random out_grads: grads vs Gluon autograd and central differences
    in float64."""
    rng = np.random.default_rng(1)
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    out = mx.sym.sum(mx.sym.sigmoid(fc) * fc, axis=1)
    ex = out.simple_bind(mx.cpu(), data=(3, 5), type_dict={"data": "float64"})
    for k, v in ex.arg_dict.items():
        v[:] = rng.standard_normal(v.shape)
    assert ex.arg_dict["fc_weight"].dtype == np.float64
    head = rng.standard_normal((3,))
    ex.forward(is_train=True)
    ex.backward([nd.array(head, dtype="float64")])
    grads = {k: g.asnumpy().copy() for k, g in ex.grad_dict.items()}

    def f(vals):
        res = out.eval(**{k: nd.array(v, dtype="float64") for k, v in vals.items()})[0]
        return float((res.asnumpy() * head).sum())
    base = {k: v.asnumpy().copy() for k, v in ex.arg_dict.items()}
    eps = 1e-6
    for name in ("data", "fc_weight", "fc_bias"):
        num = np.zeros_like(base[name])
        for idx in np.ndindex(*base[name].shape):
            plus = {k: v.copy() for k, v in base.items()}
            minus = {k: v.copy() for k, v in base.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            num[idx] = (f(plus) - f(minus)) / (2 * eps)
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-7, err_msg=name)
    # Gluon autograd on the same values
    w, b, x = (nd.array(base[k], dtype="float64") for k in ("fc_weight", "fc_bias", "data"))
    for a in (w, b, x):
        a.attach_grad()
    with autograd.record():
        y = nd.FullyConnected(x, w, b, num_hidden=4)
        r = nd.sum(nd.sigmoid(y) * y, axis=1)
    r.backward(nd.array(head, dtype="float64"))
    np.testing.assert_allclose(grads["fc_weight"], w.grad.asnumpy(), rtol=1e-12)
    np.testing.assert_allclose(grads["data"], x.grad.asnumpy(), rtol=1e-12)


def test_symbol_graph_differentiates_to_second_order():
    """The graph evaluated by nd ops traces into IR: check_grads (VJP, JVP, finite
    differences, second order) on it."""
    data = mx.sym.var("data")
    w = mx.sym.var("w")
    out = mx.sym.tanh(mx.sym.FullyConnected(data, w, num_hidden=3, no_bias=True)) ** 2
    from tracegrad.symbol.symbol import evaluate
    fn = mx.make_ir(lambda x, wt: evaluate(out, {"data": x, "w": wt})[0])
    rng = np.random.default_rng(2)
    x, wt = rng.standard_normal((2, 4)), rng.standard_normal((3, 4))
    ir = fn(nd.array(x, dtype="float64"), nd.array(wt, dtype="float64"))
    check_grads(ir, [x, wt], order=2)


def test_channel_last_layout_is_honoured_not_dropped():
    rng = np.random.default_rng(15)
    d = mx.sym.var("d")
    c = mx.sym.Convolution(d, kernel=(3, 3), num_filter=4, layout="NHWC", name="c")
    p = mx.sym.Pooling(c, kernel=(2, 2), stride=(2, 2), pool_type="avg", layout="NHWC")
    args, outs, _ = p.infer_shape(d=(2, 6, 6, 3))
    assert args[1] == (4, 3, 3, 3) and outs == [(2, 2, 2, 4)]
    x = rng.standard_normal((2, 6, 6, 3))
    w = rng.standard_normal((4, 3, 3, 3))
    b = np.zeros(4)
    got = mx.sym.load_json(p.tojson()).eval(d=nd.array(x), c_weight=nd.array(w),
                                            c_bias=nd.array(b))[0].asnumpy()
    first = nd.Pooling(nd.Convolution(nd.array(x.transpose(0, 3, 1, 2)),
                                      nd.array(w.transpose(0, 3, 1, 2)), nd.array(b),
                                      kernel=(3, 3), num_filter=4),
                       kernel=(2, 2), stride=(2, 2), pool_type="avg").asnumpy()
    np.testing.assert_allclose(got, first.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


def test_executor_reshape_shares_parameters():
    net = _mlp()
    ex = net.simple_bind(mx.cpu(), data=(4, 5))
    _fill(ex, np.random.default_rng(11))
    small = ex.reshape(data=(2, 5), softmax_label=(2,))
    assert small.arg_dict["fc1_weight"] is ex.arg_dict["fc1_weight"]
    x = np.random.default_rng(12).standard_normal((4, 5))
    full = ex.forward(data=x)[0].asnumpy()
    np.testing.assert_allclose(small.forward(data=x[:2])[0].asnumpy(), full[:2], rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="softmax_label.*partial_shaping"):
        ex.reshape(data=(2, 5))


def test_executor_reshape_views_smaller_arrays_and_up_sizes_only_when_asked():
    # MXNet's reshape: a smaller argument is a view of the old one's memory (its values; a
    # write through either shows in both), a larger one is new and needs allow_up_sizing
    x = mx.sym.var("x")
    ex = mx.sym.FullyConnected(x, num_hidden=4, name="fc").simple_bind(mx.cpu(), x=(5, 4),
                                                                       grad_req="null")
    ex.arg_dict["x"][:] = 1
    ex.arg_dict["fc_weight"][:] = 1
    ex.arg_dict["fc_bias"][:] = 0
    small = ex.reshape(x=(3, 4))
    np.testing.assert_array_equal(small.forward()[0].asnumpy(), np.full((3, 4), 4.0))
    small.arg_dict["x"][:] = 2
    np.testing.assert_array_equal(ex.arg_dict["x"].asnumpy()[:3], np.full((3, 4), 2.0))
    np.testing.assert_array_equal(ex.arg_dict["x"].asnumpy()[3:], np.full((2, 4), 1.0))
    with pytest.raises(mx.MXNetError, match="larger than the original.*allow_up_sizing"):
        ex.reshape(x=(6, 4))
    big = ex.reshape(allow_up_sizing=True, x=(6, 4))
    big.arg_dict["x"][:] = 0
    assert ex.arg_dict["x"].asnumpy().min() == 1.0
    assert big.arg_dict["fc_weight"] is ex.arg_dict["fc_weight"]


def test_grad_req_add_and_null():
    x = mx.sym.var("x")
    y = mx.sym.var("y")
    out = x * y
    xa, ya = nd.array([1.0, 2.0]), nd.array([3.0, 4.0])
    gx, gy = nd.ones((2,)), nd.ones((2,))
    ex = out.bind(mx.cpu(), {"x": xa, "y": ya}, args_grad={"x": gx, "y": gy},
                  grad_req={"x": "add", "y": "null"})
    ex.forward(is_train=True)
    ex.backward(nd.ones((2,)))
    np.testing.assert_array_equal(gx.asnumpy(), [4.0, 5.0])
    np.testing.assert_array_equal(gy.asnumpy(), [1.0, 1.0])
    ex.forward(is_train=True)
    ex.backward(nd.ones((2,)))
    np.testing.assert_array_equal(gx.asnumpy(), [7.0, 9.0])


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("norm", ["null", "batch", "valid"])
def test_softmax_output_gradient_is_mxnets_formula_and_ignores_head_grad(norm):
    rng = np.random.default_rng(3)
    data = mx.sym.var("data")
    net = mx.sym.SoftmaxOutput(data, name="sm", grad_scale=2.0, use_ignore=True,
                               ignore_label=1, normalization=norm)
    z = rng.standard_normal((5, 4)).astype(np.float32)
    label = np.array([0, 1, 3, 1, 2], np.float32)
    ex = net.simple_bind(mx.cpu(), data=(5, 4))
    ex.forward(is_train=True, data=z, sm_label=label)
    ex.backward([nd.array(rng.standard_normal((5, 4)))])   # ignored, as in MXNet
    p = _softmax(z.astype(np.float64))
    ref = p - np.eye(4)[label.astype(int)]
    ref[label == 1] = 0
    ref *= 2.0
    if norm == "batch":
        ref /= 5
    elif norm == "valid":
        ref /= (label != 1).sum()
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), p, rtol=1e-5)


def test_softmax_output_multi_output():
    rng = np.random.default_rng(4)
    net = mx.sym.SoftmaxOutput(mx.sym.var("data"), multi_output=True, name="sm")
    assert net.infer_shape(data=(2, 3, 4))[0][1] == (2, 4)
    z = rng.standard_normal((2, 3, 4))
    label = rng.integers(0, 3, (2, 4)).astype(np.float32)
    ex = net.simple_bind(mx.cpu(), data=(2, 3, 4))
    ex.forward(is_train=True, data=z, sm_label=label)
    ex.backward()
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    hot = np.transpose(np.eye(3)[label.astype(int)], (0, 2, 1))
    # MXNet's kernel: grad_scale / positions (4) / valid_cnt (1 for 'null')
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), (p - hot) / 4, rtol=1e-5,
                               atol=1e-6)
    # labels in MXNet's inferred (n, prod(spatial)) form, 'valid' normalization
    net4 = mx.sym.SoftmaxOutput(mx.sym.var("data"), multi_output=True, normalization="valid",
                                name="sm")
    assert net4.infer_shape(data=(2, 3, 2, 2))[0][1] == (2, 4)
    ex4 = net4.simple_bind(mx.cpu(), data=(2, 3, 2, 2))
    z4 = z.reshape(2, 3, 2, 2)
    label4 = label.copy()
    label4[0, 1] = -1   # counted out by 'valid' (ignore_label -1) even without use_ignore
    ex4.forward(is_train=True, data=z4, sm_label=label4)
    ex4.backward()
    hot4 = np.transpose(np.eye(3)[np.maximum(label4, 0).astype(int)], (0, 2, 1))
    hot4[0, :, 1] = 0   # one_hot of -1 is all zeros
    np.testing.assert_allclose(ex4.grad_dict["data"].asnumpy(),
                               ((p - hot4) / 7).reshape(2, 3, 2, 2), rtol=1e-5, atol=1e-6)


def test_softmax_output_out_grad_multiplies_by_the_head_gradient():
    rng = np.random.default_rng(16)
    z = rng.standard_normal((3, 4))
    label = np.array([0, 3, 1], np.float32)
    head = rng.standard_normal((3, 4))
    net = mx.sym.SoftmaxOutput(mx.sym.var("data"), name="sm", out_grad=True, grad_scale=2.0)
    ex = net.simple_bind(mx.cpu(), data=(3, 4))
    ex.forward(is_train=True, data=z, sm_label=label)
    ex.backward([nd.array(head)])
    want = 2.0 * (_softmax(z) - np.eye(4)[label.astype(int)]) * head
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_softmax_output_probability_label():
    rng = np.random.default_rng(10)
    z = rng.standard_normal((3, 4))
    target = rng.dirichlet(np.ones(4), 3) * 0.5   # need not sum to 1: MXNet uses it as is
    ex = mx.sym.SoftmaxOutput(mx.sym.var("data"), mx.sym.var("t"), grad_scale=3.0,
                              normalization="batch").simple_bind(mx.cpu(), data=(3, 4),
                                                                t=(3, 4))
    ex.forward(is_train=True, data=z, t=target)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), 3.0 * (_softmax(z) - target),
                               rtol=1e-5, atol=1e-6)


def test_regression_outputs_makeloss_and_blockgrad():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.standard_normal((4, 3)).astype(np.float32)
    for op, fwd, grad in [
            ("LinearRegressionOutput", lambda d: d, lambda d: (d - y) / 3),
            ("LogisticRegressionOutput", lambda d: 1 / (1 + np.exp(-d)),
             lambda d: (1 / (1 + np.exp(-d)) - y) / 3),
            ("MAERegressionOutput", lambda d: d, lambda d: np.sign(d - y) / 3)]:
        net = getattr(mx.sym, op)(mx.sym.var("data"), name="r")
        assert net.list_arguments() == ["data", "r_label"]
        ex = net.simple_bind(mx.cpu(), data=(4, 3))
        ex.forward(is_train=True, data=x, r_label=y)
        ex.backward([nd.ones((4, 3)) * 7])
        np.testing.assert_allclose(ex.outputs[0].asnumpy(), fwd(x), rtol=1e-5, err_msg=op)
        np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), grad(x), rtol=1e-5,
                                   atol=1e-6, err_msg=op)
    lro = mx.sym.LinearRegressionOutput(mx.sym.var("data"), name="r")
    assert lro.infer_shape(data=(4, 1))[0][1] == (4,)    # MXNet: a 1-d label for (n, 1)
    assert lro.infer_shape(data=(4, 3))[0][1] == (4, 3)
    d = mx.sym.var("data")
    loss = mx.sym.MakeLoss(mx.sym.square(d), grad_scale=0.5, normalization="batch")
    ex = loss.simple_bind(mx.cpu(), data=(4, 3))
    ex.forward(is_train=True, data=x)
    ex.backward()
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), x ** 2, rtol=1e-6)
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), 0.5 * 2 * x / 4, rtol=1e-5)
    v = mx.sym.MakeLoss(d, normalization="valid", valid_thresh=0.0)
    ex = v.simple_bind(mx.cpu(), data=(4, 3))
    ex.forward(is_train=True, data=x)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(),
                               np.full_like(x, 1.0 / (x > 0).sum()), rtol=1e-6)
    bg = mx.sym.Group([mx.sym.BlockGrad(d * 2), mx.sym.MakeLoss(d * 3)])
    ex = bg.simple_bind(mx.cpu(), data=(4, 3))
    ex.forward(is_train=True, data=x)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), np.full_like(x, 3.0))


def test_arithmetic_operators_and_fluent_methods():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    expr = (a + b) * 2 - a / b + 1 - (3 - a) ** 2 + 2 ** b + (-a) + a.exp().sum(axis=0,
                                                                                 keepdims=True)
    x, y = np.array([[0.5, 2.0]]), np.array([[1.5, 0.25]])
    out = expr.eval(a=nd.array(x), b=nd.array(y))[0].asnumpy()
    ref = (x + y) * 2 - x / y + 1 - (3 - x) ** 2 + 2 ** y - x + np.exp(x).sum(0, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    ops = [n["op"] for n in json.loads(expr.tojson())["nodes"]]
    for op in ("elemwise_add", "_mul_scalar", "elemwise_div", "_rminus_scalar",
               "_power_scalar", "_rpower_scalar", "_plus_scalar", "exp", "sum"):
        assert op in ops, op
    with pytest.raises(mx.MXNetError, match="elemwise_add"):
        (a + b).eval(a=nd.ones((2,)), b=nd.ones((3,)))


def test_tojson_round_trip_is_the_same_graph(tmp_path):
    net = mx.sym.Pooling(mx.sym.BatchNorm(mx.sym.Convolution(
        mx.sym.var("data"), kernel=(3, 3), num_filter=2, name="conv"), fix_gamma=False,
        name="bn"), kernel=(2, 2), pool_type="avg", name="pool")
    net = mx.sym.Group([net, mx.sym.split(net, num_outputs=2, name="sp")[1]])
    text = net.tojson()
    doc = json.loads(text)
    assert doc["attrs"] == {"mxnet_version": ["int", 10901]}
    assert doc["nodes"][3]["op"] == "Convolution"
    assert doc["nodes"][3]["attrs"] == {"kernel": "(3, 3)", "num_filter": "2"}
    assert doc["nodes"][3]["inputs"] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    bn_row = [n["name"] for n in doc["nodes"]].index("bn")
    # BatchNorm has 3 outputs (1 visible): node_row_ptr counts all of them
    assert doc["node_row_ptr"][bn_row + 1] - doc["node_row_ptr"][bn_row] == 3
    assert doc["arg_nodes"] == [i for i, n in enumerate(doc["nodes"]) if n["op"] == "null"]
    back = mx.sym.load_json(text)
    assert back.tojson() == text
    assert back.list_arguments() == net.list_arguments()
    assert back.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    net.save(str(tmp_path / "n-symbol.json"))
    again = mx.sym.load(str(tmp_path / "n-symbol.json"))
    assert again.tojson() == text
    shapes = dict(data=(1, 3, 6, 6))
    assert again.infer_shape(**shapes) == net.infer_shape(**shapes)


# What MXNet 1.9.1 writes for the classic MLP (mx.sym API, as in its examples)
MLP_JSON = """{
  "nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "fc1_weight", "inputs": []},
    {"op": "null", "name": "fc1_bias", "inputs": []},
    {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "8"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
    {"op": "Activation", "name": "relu1", "attrs": {"act_type": "relu"},
     "inputs": [[3, 0, 0]]},
    {"op": "null", "name": "fc2_weight", "inputs": []},
    {"op": "null", "name": "fc2_bias", "inputs": []},
    {"op": "FullyConnected", "name": "fc2", "attrs": {"num_hidden": "4"},
     "inputs": [[4, 0, 0], [5, 0, 0], [6, 0, 0]]},
    {"op": "null", "name": "softmax_label", "inputs": []},
    {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[7, 0, 0], [8, 0, 0]]}
  ],
  "arg_nodes": [0, 1, 2, 5, 6, 8],
  "node_row_ptr": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  "heads": [[9, 0, 0]],
  "attrs": {"mxnet_version": ["int", 10901]}
}"""

# Gluon's export of Dense(8, activation='relu') -> Dense(4): hidden variable attributes
GLUON_JSON = """{
  "nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "dense0_weight", "attrs": {"__dtype__": "0", "__lr_mult__": "1.0",
     "__shape__": "(8, 0)", "__storage_type__": "0", "__wd_mult__": "1.0"}, "inputs": []},
    {"op": "null", "name": "dense0_bias", "attrs": {"__dtype__": "0", "__init__": "zeros",
     "__lr_mult__": "1.0", "__shape__": "(8,)", "__storage_type__": "0",
     "__wd_mult__": "1.0"}, "inputs": []},
    {"op": "FullyConnected", "name": "dense0_fwd", "attrs": {"flatten": "True",
     "no_bias": "False", "num_hidden": "8"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
    {"op": "Activation", "name": "dense0_relu_fwd", "attrs": {"act_type": "relu"},
     "inputs": [[3, 0, 0]]},
    {"op": "null", "name": "dense1_weight", "attrs": {"__dtype__": "0", "__lr_mult__": "1.0",
     "__shape__": "(4, 0)", "__storage_type__": "0", "__wd_mult__": "1.0"}, "inputs": []},
    {"op": "null", "name": "dense1_bias", "attrs": {"__dtype__": "0", "__init__": "zeros",
     "__lr_mult__": "1.0", "__shape__": "(4,)", "__storage_type__": "0",
     "__wd_mult__": "1.0"}, "inputs": []},
    {"op": "FullyConnected", "name": "dense1_fwd", "attrs": {"flatten": "True",
     "no_bias": "False", "num_hidden": "4"}, "inputs": [[4, 0, 0], [5, 0, 0], [6, 0, 0]]}
  ],
  "arg_nodes": [0, 1, 2, 5, 6],
  "node_row_ptr": [0, 1, 2, 3, 4, 5, 6, 7, 8],
  "heads": [[7, 0, 0]],
  "attrs": {"mxnet_version": ["int", 10901]}
}"""


def test_hand_written_mxnet_json_loads_and_runs():
    net = mx.sym.load_json(MLP_JSON)
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight",
                                    "fc2_bias", "softmax_label"]
    rng = np.random.default_rng(6)
    ex = net.simple_bind(mx.cpu(), data=(3, 5))
    _fill(ex, rng)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    out = ex.forward(data=x)[0].asnumpy()
    p = {k: v.asnumpy().astype(np.float64) for k, v in ex.arg_dict.items()}
    h = np.maximum(x @ p["fc1_weight"].T + p["fc1_bias"], 0)
    np.testing.assert_allclose(out, _softmax(h @ p["fc2_weight"].T + p["fc2_bias"]),
                               rtol=1e-5, atol=1e-6)
    g = mx.sym.load_json(GLUON_JSON)
    assert g.infer_shape(data=(2, 6))[0] == [(2, 6), (8, 6), (8,), (4, 8), (4,)]
    assert g.get_internals()["dense0_weight"].attr("__init__") is None
    assert g.get_internals()["dense0_bias"].attr("__init__") == "zeros"


def test_conv_bn_symbol_matches_gluon_layers_with_same_params():
    rng = np.random.default_rng(7)
    d = mx.sym.var("data")
    c = mx.sym.Convolution(d, kernel=(3, 3), num_filter=4, pad=(1, 1), name="conv")
    b = mx.sym.BatchNorm(mx.sym.Activation(c, act_type="relu"), fix_gamma=False, eps=1e-5,
                         name="bn")
    p = mx.sym.Pooling(b, kernel=(2, 2), stride=(2, 2), pool_type="max")
    out = mx.sym.FullyConnected(mx.sym.flatten(p), num_hidden=5, name="fc")
    ex = out.simple_bind(mx.cpu(), data=(2, 1, 8, 8))
    _fill(ex, rng, skip=("data",))
    for k, v in ex.aux_dict.items():
        v[:] = rng.uniform(0.5, 1.5, v.shape) if k.endswith("var") else rng.standard_normal(
            v.shape)
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    got = ex.forward(is_train=False, data=x)[0].asnumpy()
    conv = gluon.nn.Conv2D(4, 3, padding=1, activation="relu", in_channels=1)
    bn = gluon.nn.BatchNorm(in_channels=4)
    fc = gluon.nn.Dense(5, in_units=64)
    for blk in (conv, bn, fc):
        blk.initialize()
    conv.weight.set_data(ex.arg_dict["conv_weight"])
    conv.bias.set_data(ex.arg_dict["conv_bias"])
    bn.gamma.set_data(ex.arg_dict["bn_gamma"])
    bn.beta.set_data(ex.arg_dict["bn_beta"])
    bn.running_mean.set_data(ex.aux_dict["bn_moving_mean"])
    bn.running_var.set_data(ex.aux_dict["bn_moving_var"])
    fc.weight.set_data(ex.arg_dict["fc_weight"])
    fc.bias.set_data(ex.arg_dict["fc_bias"])
    ref = fc(nd.Pooling(bn(conv(nd.array(x))), kernel=(2, 2), stride=(2, 2),
                        pool_type="max")).asnumpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    # training forward updates the moving statistics (aux states) in place
    before = ex.aux_dict["bn_moving_mean"].asnumpy().copy()
    ex.forward(is_train=True, data=x)
    ex.backward([nd.ones((2, 5))])
    assert not np.allclose(before, ex.aux_dict["bn_moving_mean"].asnumpy())
    assert np.abs(ex.grad_dict["conv_weight"].asnumpy()).sum() > 0


def test_copy_and_pickle_go_through_json():
    import copy
    import pickle
    net = _mlp()
    assert copy.deepcopy(net).tojson() == net.tojson()
    assert copy.copy(net).list_arguments() == net.list_arguments()
    back = pickle.loads(pickle.dumps(net))
    assert back.tojson() == net.tojson()
    assert back.infer_shape(data=(2, 5)) == net.infer_shape(data=(2, 5))


def test_compose_replaces_variables():
    x = mx.sym.var("x")
    inner = mx.sym.FullyConnected(x, num_hidden=3, name="fc")
    y = mx.sym.var("y")
    composed = inner(x=mx.sym.relu(y))
    assert composed.list_arguments() == ["y", "fc_weight", "fc_bias"]
    w = nd.array(np.eye(3, 2))
    out = composed.eval(y=nd.array([[-1.0, 2.0]]), fc_weight=w, fc_bias=nd.zeros((3,)))
    np.testing.assert_allclose(out[0].asnumpy(), [[0.0, 2.0, 0.0]])


def test_bad_calls_name_the_node():
    x = mx.sym.var("x")
    with pytest.raises(mx.MXNetError, match="fcbad.*num_hidden"):
        mx.sym.FullyConnected(x, num_hidden=-3, name="fcbad")
    with pytest.raises(mx.MXNetError, match="act.*act_type"):
        mx.sym.Activation(x, act_type="nope", name="act")
    with pytest.raises(TypeError):
        mx.sym.FullyConnected(x, 3)
    with pytest.raises(mx.MXNetError, match="no value given for input 'x'"):
        mx.sym.relu(x).eval()
    with pytest.raises(mx.MXNetError, match="cat.*num_args=3 but 2 inputs"):
        mx.sym.Concat(x, x, num_args=3, name="cat")
    with pytest.raises(mx.MXNetError, match="at least one input"):
        mx.sym.Concat(name="empty")
    with pytest.raises(mx.MXNetError, match="group of 2 outputs"):
        mx.sym.relu(mx.sym.split(x, num_outputs=2))


# ---------------------------------------------------------------- gluon.SymbolBlock
DATA = os.path.join(os.path.dirname(__file__), "..", "data", "mxnet")

# The CNN of tests/data/mxnet/cnn.params as MXNet 1.9.1's export writes it (Gluon layers:
# Conv2D(4, 3, padding=1, activation='relu'), MaxPool2D(2, 2), BatchNorm(), Dense(10)), with
# the variables named as that file's keys
CNN_JSON = {
    "nodes": [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "conv.weight", "attrs": {
            "__dtype__": "0", "__lr_mult__": "1.0", "__shape__": "(4, 0, 3, 3)",
            "__storage_type__": "0", "__wd_mult__": "1.0"}, "inputs": []},
        {"op": "null", "name": "conv.bias", "attrs": {
            "__dtype__": "0", "__init__": "zeros", "__lr_mult__": "1.0", "__shape__": "(4,)",
            "__storage_type__": "0", "__wd_mult__": "1.0"}, "inputs": []},
        {"op": "Convolution", "name": "conv_fwd", "attrs": {
            "dilate": "(1, 1)", "kernel": "(3, 3)", "layout": "NCHW", "no_bias": "False",
            "num_filter": "4", "num_group": "1", "pad": "(1, 1)", "stride": "(1, 1)"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
        {"op": "Activation", "name": "conv_relu_fwd", "attrs": {"act_type": "relu"},
         "inputs": [[3, 0, 0]]},
        {"op": "Pooling", "name": "pool_fwd", "attrs": {
            "global_pool": "False", "kernel": "(2, 2)", "layout": "NCHW", "pad": "(0, 0)",
            "pool_type": "max", "pooling_convention": "valid", "stride": "(2, 2)"},
         "inputs": [[4, 0, 0]]},
        {"op": "null", "name": "bn.gamma", "attrs": {"__init__": "ones", "__shape__": "(0,)"},
         "inputs": []},
        {"op": "null", "name": "bn.beta", "attrs": {"__init__": "zeros", "__shape__": "(0,)"},
         "inputs": []},
        {"op": "null", "name": "bn.running_mean", "attrs": {"__init__": "zeros",
                                                            "__shape__": "(0,)"},
         "inputs": []},
        {"op": "null", "name": "bn.running_var", "attrs": {"__init__": "ones",
                                                           "__shape__": "(0,)"},
         "inputs": []},
        {"op": "BatchNorm", "name": "bn_fwd", "attrs": {
            "axis": "1", "eps": "1e-05", "fix_gamma": "False", "momentum": "0.9",
            "use_global_stats": "False"},
         "inputs": [[5, 0, 0], [6, 0, 0], [7, 0, 0], [8, 0, 0], [9, 0, 0]]},
        {"op": "null", "name": "fc.weight", "attrs": {"__shape__": "(10, 0)"}, "inputs": []},
        {"op": "null", "name": "fc.bias", "attrs": {"__init__": "zeros", "__shape__": "(10,)"},
         "inputs": []},
        {"op": "FullyConnected", "name": "fc_fwd", "attrs": {
            "flatten": "True", "no_bias": "False", "num_hidden": "10"},
         "inputs": [[10, 0, 0], [11, 0, 0], [12, 0, 0]]},
    ],
    "arg_nodes": [0, 1, 2, 6, 7, 8, 9, 11, 12],
    "node_row_ptr": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16],
    "heads": [[13, 0, 0]],
    "attrs": {"mxnet_version": ["int", 10901]},
}


def test_symbolblock_imports_mxnet_json_and_params_matches_mxnets_output(tmp_path):
    path = tmp_path / "cnn-symbol.json"
    path.write_text(json.dumps(CNN_JSON))
    block = gluon.SymbolBlock.imports(str(path), ["data"], os.path.join(DATA, "cnn.params"))
    params = block.collect_params()
    assert params["bn.running_mean"].grad_req == "null"
    assert params["conv.weight"].grad_req == "write"
    io = np.load(os.path.join(DATA, "cnn_io.npz"))
    out = block(nd.array(io["x"]))
    np.testing.assert_allclose(out.asnumpy(), io["y"], rtol=1e-5, atol=1e-5)
    x = nd.array(io["x"])
    mean0 = params["bn.running_mean"].data().asnumpy().copy()
    var0 = params["bn.running_var"].data().asnumpy().copy()
    with autograd.record():
        loss = (block(x) ** 2).sum()
    loss.backward()
    eager_grads = {k: p.grad().asnumpy().copy() for k, p in params.items()
                   if p.grad_req != "null"}
    eager_mean = params["bn.running_mean"].data().asnumpy().copy()
    assert not np.allclose(eager_mean, mean0)   # training mode moved the running mean
    params["bn.running_mean"].set_data(mean0)
    params["bn.running_var"].set_data(var0)
    block.hybridize()
    np.testing.assert_allclose(block(x).asnumpy(), io["y"], rtol=1e-5, atol=1e-5)
    with autograd.record():
        loss = (block(x) ** 2).sum()
    loss.backward()
    for k, g in eager_grads.items():   # compiled vs eager, BatchNorm in training mode
        np.testing.assert_allclose(params[k].grad().asnumpy(), g, rtol=1e-4, atol=1e-5,
                                   err_msg=k)
    np.testing.assert_allclose(params["bn.running_mean"].data().asnumpy(), eager_mean,
                               rtol=1e-5, atol=1e-7)


def test_symbolblock_from_symbols_infers_shapes_and_trains():
    data = mx.sym.var("data")
    net = mx.sym.FullyConnected(mx.sym.relu(mx.sym.FullyConnected(
        data, num_hidden=5, name="a")), num_hidden=2, name="b")
    block = gluon.SymbolBlock(net, data)
    assert sorted(block.collect_params().keys()) == ["a_bias", "a_weight", "b_bias",
                                                     "b_weight"]
    block.initialize(mx.init.Xavier())
    x = nd.array(np.random.default_rng(8).standard_normal((4, 3)))
    y = block(x)
    assert block.collect_params()["a_weight"].shape == (5, 3)
    np.testing.assert_array_equal(block.collect_params()["a_bias"].data().asnumpy(),
                                  np.zeros(5))
    p = {k: v.data().asnumpy() for k, v in block.collect_params().items()}
    ref = np.maximum(x.asnumpy() @ p["a_weight"].T + p["a_bias"], 0) @ p["b_weight"].T \
        + p["b_bias"]
    np.testing.assert_allclose(y.asnumpy(), ref, rtol=1e-5, atol=1e-6)
    # internals as outputs: a feature extractor, as MXNet programs build them
    feat = gluon.SymbolBlock(net.get_internals()["a_output"], data,
                             params=block.collect_params())
    assert feat.collect_params()["a_weight"] is block.collect_params()["a_weight"]
    np.testing.assert_allclose(feat(x).asnumpy(),
                               x.asnumpy() @ p["a_weight"].T + p["a_bias"], rtol=1e-5)
    trainer = gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = (block(x) ** 2).sum()
    loss.backward()
    trainer.step(4)
    assert not np.allclose(block.collect_params()["b_weight"].data().asnumpy(), p["b_weight"])


def test_export_writes_mxnet_json_that_imports_to_the_same_outputs(tmp_path):
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(gluon.nn.Conv2D(3, 3, padding=1, activation="relu"), gluon.nn.BatchNorm(),
                gluon.nn.MaxPool2D(2), gluon.nn.Dropout(0.5), gluon.nn.Dense(3,
                                                                             activation="tanh"))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = nd.array(np.random.default_rng(9).standard_normal((2, 1, 6, 6)))
    with autograd.record():   # moves the BatchNorm running statistics off their init
        net(x)
    y = net(x)
    sym_file, param_file = net.export(str(tmp_path / "m"))
    doc = json.loads(open(sym_file).read())
    assert "nodes" in doc and doc["attrs"]["mxnet_version"] == ["int", 10901]
    ops = {n["op"] for n in doc["nodes"]}
    # MXNet's own export graph: the layers' operators, not the traced primitives
    assert {"Convolution", "BatchNorm", "Pooling", "Dropout", "FullyConnected",
            "Activation"} <= ops
    assert "im2col" not in ops
    data_node = next(n for n in doc["nodes"] if n["name"] == "data")
    assert "__shape__" not in data_node.get("attrs", {})
    from tracegrad import mxnet_format
    assert mxnet_format.is_mxnet_file(param_file)
    _, keys = mxnet_format.read(param_file)
    assert {k for k in keys if k.startswith("aux:")} == {
        "aux:" + p.name for p in net.collect_params().values() if p.grad_req == "null"}
    assert mx.sym.load(sym_file).tojson() == open(sym_file).read()
    block = gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    np.testing.assert_allclose(block(x).asnumpy(), y.asnumpy(), rtol=1e-6, atol=1e-6)
    block.hybridize()
    np.testing.assert_allclose(block(x).asnumpy(), y.asnumpy(), rtol=1e-6, atol=1e-6)
    # as in MXNet, the exported graph serves any batch size
    x5 = nd.array(np.random.default_rng(10).standard_normal((5, 1, 6, 6)))
    np.testing.assert_allclose(gluon.SymbolBlock.imports(sym_file, ["data"], param_file)(
        x5).asnumpy(), net(x5).asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(block(x5).asnumpy(), net(x5).asnumpy(), rtol=1e-5, atol=1e-6)


def test_export_maps_the_traced_primitives_when_the_forward_has_no_symbolic_form(tmp_path):
    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(3, in_units=4)

        def forward(self, x):      # (2.x style on nd: no symbolic form)
            return nd.tanh(self.dense(x)) + nd.relu(x).sum(axis=1, keepdims=True)
    net = Net()
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.default_rng(11).standard_normal((2, 4)))
    y = net(x)
    sym_file, param_file = net.export(str(tmp_path / "p"))
    ops = {n["op"] for n in json.loads(open(sym_file).read())["nodes"]}
    assert {"dot", "tanh", "relu"} <= ops
    block = gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    np.testing.assert_allclose(block(x).asnumpy(), y.asnumpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(mx.MXNetError, match="shapes are static"):   # (traced shapes)
        block(nd.ones((3, 4)))


def test_export_falls_back_to_tracegrad_ir_when_mxnet_ops_cannot_express_it(tmp_path):
    class Net(gluon.HybridBlock):
        def forward(self, x):      # (2.x style on nd: no symbolic form either)
            return nd.where(x > 0, x, x * 0.1)
    net = Net()
    net.hybridize()
    x = nd.array([[-1.0, 2.0]])
    y = net(x)
    sym_file, param_file = net.export(str(tmp_path / "w"))
    assert json.loads(open(sym_file).read())["format"] == "tracegrad-symbol"
    block = gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    np.testing.assert_allclose(block(x).asnumpy(), y.asnumpy())


def test_namespaces_and_hint_attributes():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    g = mx.sym.linalg.gemm2(a, b, transpose_b=True)
    assert json.loads(g.tojson())["nodes"][-1]["op"] == "_linalg_gemm2"
    x, y = np.ones((2, 3)), np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(g.eval(a=nd.array(x), b=nd.array(y))[0].asnumpy(), x @ y.T)
    # performance hints MXNet writes are accepted and kept, never passed to the op
    c = mx.sym.Convolution(mx.sym.var("d"), kernel=(1, 1), num_filter=1, workspace=256,
                           cudnn_off=True, name="c")
    assert c.attr("workspace") == "256"
    d = mx.sym.dot(a, b, transpose_b=True, forward_stype="default")
    np.testing.assert_allclose(d.eval(a=nd.array(x), b=nd.array(y))[0].asnumpy(), x @ y.T)
    assert mx.sym.load_json(c.tojson()).infer_shape(d=(1, 2, 3, 3))[1] == [(1, 1, 3, 3)]


def test_name_prefix_and_attr_scope():
    x = mx.sym.var("x")
    with mx.name.Prefix("stage1_"):
        fc = mx.sym.FullyConnected(x, num_hidden=2, name="fc")
        act = mx.sym.relu(fc)
    assert fc.name == "stage1_fc"
    assert fc.list_arguments() == ["x", "stage1_fc_weight", "stage1_fc_bias"]
    assert act.name.startswith("stage1_relu")
    with mx.name.NameManager():
        assert mx.sym.relu(x).name == "relu0"
        assert mx.sym.relu(x).name == "relu1"
    with mx.AttrScope(ctx_group="dev1", lr_mult="0.5"):
        v = mx.sym.var("w")
        with mx.AttrScope(ctx_group="dev2"):
            y = mx.sym.FullyConnected(x, weight=v, num_hidden=2, no_bias=True, name="y")
    assert v.attr("ctx_group") == "dev1" and v.attr("__lr_mult__") == "0.5"
    assert y.attr("ctx_group") == "dev2" and y.attr("lr_mult") == "0.5"
    node = json.loads(y.tojson())["nodes"][-1]
    assert node["attrs"]["__ctx_group__"] == "dev2"
    assert mx.sym.load_json(y.tojson()).attr("ctx_group") == "dev2"
    with pytest.raises(ValueError):
        mx.AttrScope(group=4)


def test_export_checks_the_mxnet_graph_computes_the_same_before_writing_it(tmp_path,
                                                                           monkeypatch):
    from tracegrad.symbol import from_ir
    net = gluon.nn.Dense(3, activation="tanh", in_units=4)
    net.initialize()
    net.hybridize()
    x = nd.ones((2, 4))
    y = net(x)
    monkeypatch.setitem(from_ir._UNARY, "tanh", "sigmoid")   # a wrong translation
    sym_file, param_file = net.export(str(tmp_path / "d"))
    # refused: the block's own graph (FullyConnected + Activation, as MXNet exports it) is
    # written instead, also checked to compute the same
    ops = {n["op"] for n in json.loads(open(sym_file).read())["nodes"]}
    assert "FullyConnected" in ops and "sigmoid" not in ops
    monkeypatch.setattr(gluon.symbol_block, "_block_symbol", lambda *a: None)
    sym_file, param_file = net.export(str(tmp_path / "d"))
    assert json.loads(open(sym_file).read())["format"] == "tracegrad-symbol"
    np.testing.assert_allclose(gluon.SymbolBlock.imports(sym_file, ["data"], param_file)(x)
                               .asnumpy(), y.asnumpy(), rtol=1e-6)
    monkeypatch.undo()
    sym_file, _ = net.export(str(tmp_path / "e"))
    assert "nodes" in json.loads(open(sym_file).read())


def test_growth_of_a_loaded_graph_is_refused_before_allocating():
    x = mx.sym.var("x")
    for big in (mx.sym.broadcast_to(x, shape=(100000, 100000, 10), name="bt"),
                mx.sym.tile(x, reps=(100000, 100000), name="bt"),
                mx.sym.one_hot(x, depth=2 ** 31, name="bt")):
        doc = big.tojson()
        with pytest.raises(mx.MXNetError, match="node 'bt'.*elements"):
            mx.sym.load_json(doc).infer_shape(x=(2, 2))
        with pytest.raises(mx.MXNetError, match="node 'bt'.*elements"):
            mx.sym.load_json(doc).eval(x=nd.ones((2, 2)))


def test_every_simple_nd_operator_is_callable_symbolically():
    """mx.sym.X records nd.X: for every nd operator of one data input (no required
    attribute) and every one of (lhs, rhs), the symbol, its JSON round trip and nd agree."""
    x = nd.array(np.random.default_rng(13).uniform(0.1, 0.9, (2, 3)))
    y = nd.array(np.random.default_rng(14).uniform(0.1, 0.9, (2, 3)))
    with np.errstate(all="ignore"):   # (arccosh below 1 is NaN, in both)
        unary, binary = _every_simple_op(x, y)
    assert len(unary) > 70 and len(binary) > 40, (unary, binary)


def _every_simple_op(x, y):
    import inspect
    from tracegrad.symbol import ops
    unary, binary = [], []
    for name in sorted(dir(nd)):
        spec = None if name.startswith("_") else ops.lookup(name)
        if spec is None or spec.variadic or name.startswith(("sample_", "random_")) \
                or name == "shuffle":     # (random: each evaluation draws anew)
            continue
        params = inspect.signature(spec.fn).parameters.values()
        if any(p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD
               and p.name not in spec.inputs for p in params):
            continue
        rhs = y.T if name in ("dot", "batch_dot") else y
        if spec.inputs == ("data",):
            args, feed, group = (mx.sym.var("a"),), {"a": x}, unary
        elif spec.inputs == ("lhs", "rhs"):
            args, feed, group = (mx.sym.var("a"), mx.sym.var("b")), {"a": x, "b": rhs}, binary
        else:
            continue
        try:
            want = spec.fn(*feed.values())
        except (mx.MXNetError, TypeError, ValueError):
            continue   # (an op that needs other inputs or attributes, e.g. GridGenerator)
        group.append(name)
        sym = getattr(mx.sym, name)(*args)
        for s in (sym, mx.sym.load_json(sym.tojson())):
            got = s.eval(**feed)
            wants = want if isinstance(want, (list, tuple)) else [want]
            assert len(got) == len(wants), name
            for g, w in zip(got, wants):
                np.testing.assert_allclose(g.asnumpy(), w.asnumpy(), err_msg=name,
                                           equal_nan=True)
    return unary, binary


def _lstm_lm_json():
    """Embedding(50, 8) -> rnn.LSTM(16, num_layers=2) -> Dense(50, flatten=False) as MXNet
    1.9.1's export writes it: each weight flattened, _rnn_param_concat (weights, then biases),
    begin states _zeros of batch size 0, the fused RNN op; variables named as the keys of
    tests/data/mxnet/lstm_lm.params."""
    nodes = [{"op": "null", "name": "data", "inputs": []},
             {"op": "null", "name": "emb.weight", "inputs": []},
             {"op": "Embedding", "name": "emb_fwd", "inputs": [[0, 0, 0], [1, 0, 0]],
              "attrs": {"dtype": "float32", "input_dim": "50", "output_dim": "8",
                        "sparse_grad": "False"}}]
    flat = []
    for kind in ("weight", "bias"):
        for layer in (0, 1):
            for gate in ("i2h", "h2h"):
                shape = (64,) if kind == "bias" else (
                    (64, 8) if (layer, gate) == (0, "i2h") else (64, 16))
                nodes.append({"op": "null", "name": f"lstm._unfused.{layer}.{gate}_{kind}",
                              "attrs": {"__dtype__": "0", "__lr_mult__": "1.0",
                                        "__shape__": str(shape).replace(",)", ",)"),
                                        "__storage_type__": "0", "__wd_mult__": "1.0"},
                              "inputs": []})
                nodes.append({"op": "Reshape", "name": f"lstm_reshape{len(flat)}",
                              "attrs": {"shape": "(-1,)"},
                              "inputs": [[len(nodes) - 1, 0, 0]]})
                flat.append([len(nodes) - 1, 0, 0])
    nodes.append({"op": "_rnn_param_concat", "name": "lstm_rnn_param_concat0",
                  "attrs": {"dim": "0", "num_args": "8"}, "inputs": flat})
    params = len(nodes) - 1
    for i in range(2):
        nodes.append({"op": "_zeros", "name": f"lstm_h0_{i}", "inputs": [],
                      "attrs": {"ctx": "cpu(0)", "dtype": "float32", "shape": "(2, 0, 16)"}})
    nodes.append({"op": "RNN", "name": "lstm_rnn0", "inputs": [[2, 0, 0], [params, 0, 0],
                                                               [params + 1, 0, 0],
                                                               [params + 2, 0, 0]],
                  "attrs": {"bidirectional": "False", "lstm_state_clip_max": "None",
                            "lstm_state_clip_min": "None", "lstm_state_clip_nan": "False",
                            "mode": "lstm", "num_layers": "2", "p": "0.0",
                            "projection_size": "None", "state_outputs": "True",
                            "state_size": "16", "use_sequence_length": "False"}})
    rnn = len(nodes) - 1
    nodes.append({"op": "null", "name": "out.weight", "inputs": []})
    nodes.append({"op": "null", "name": "out.bias", "inputs": []})
    nodes.append({"op": "FullyConnected", "name": "out_fwd",
                  "attrs": {"flatten": "False", "no_bias": "False", "num_hidden": "50"},
                  "inputs": [[rnn, 0, 0], [rnn + 1, 0, 0], [rnn + 2, 0, 0]]})
    return {"nodes": nodes, "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
            "heads": [[len(nodes) - 1, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}


def test_exported_gluon_lstm_language_model_loads_and_matches_mxnet(tmp_path):
    path = tmp_path / "lm-symbol.json"
    path.write_text(json.dumps(_lstm_lm_json()))
    sym = mx.sym.load(str(path))
    args, outs, _ = sym.infer_shape(data=(5, 3))
    assert outs == [(5, 3, 50)]
    assert dict(zip(sym.list_arguments(), args))["lstm._unfused.1.i2h_weight"] == (64, 16)
    block = gluon.SymbolBlock.imports(str(path), ["data"],
                                      os.path.join(DATA, "lstm_lm.params"))
    io = np.load(os.path.join(DATA, "lstm_lm_io.npz"))
    np.testing.assert_allclose(block(nd.array(io["tokens"])).asnumpy(), io["y"], rtol=1e-5,
                               atol=1e-5)
    # another batch size: the begin states' unknown batch dim follows the data
    two = block(nd.array(io["tokens"][:, :2])).asnumpy()
    np.testing.assert_allclose(two, io["y"][:, :2], rtol=1e-5, atol=1e-5)
    bad = _lstm_lm_json()
    bad["nodes"][-1]["inputs"][0] = [len(bad["nodes"]) - 6, 0, 0]   # the _zeros as data
    with pytest.raises(mx.MXNetError, match="lstm_h0_1.*unknown dims|unknown dims.*lstm_h0"):
        mx.sym.load_json(json.dumps(bad)).eval(
            data=nd.ones((5, 3)), **{k: nd.ones((1,)) for k in sym.list_arguments()[1:]})


def test_export_leaves_the_blocks_attributes_as_they_were(tmp_path):
    """export calls the block on Symbols (MXNet's graph); a forward that stores what it
    computes (self.output = y, as MXNet's VAE example does) keeps its array, not a Symbol."""
    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(3, in_units=4)
            self.output = None

        def hybrid_forward(self, F, x):
            y = self.dense(x)
            self.output = y
            return F.relu(y)
    net = Net()
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.default_rng(12).standard_normal((2, 4)))
    net(x)
    kept = net.output
    net.export(str(tmp_path / "v"))
    assert net.output is kept and isinstance(kept, nd.NDArray)
    block = gluon.SymbolBlock.imports(str(tmp_path / "v-symbol.json"), ["data"],
                                      str(tmp_path / "v-0000.params"))
    np.testing.assert_allclose(block(x).asnumpy(), net(x).asnumpy(), rtol=1e-6)


def test_equality_operators_build_graph_nodes_as_mxnet_does():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    ex = mx.sym.Group([x == y, x != y, x == 2, 2 != y]).bind(
        mx.cpu(), {"x": nd.array([1.0, 2.0, 3.0]), "y": nd.array([1.0, 5.0, 3.0])})
    got = [o.asnumpy() for o in ex.forward()]
    np.testing.assert_array_equal(got, [[1, 0, 1], [0, 1, 0], [0, 1, 0], [1, 1, 1]])
    assert {x: "a symbol still keys a dict"}[x]
    with pytest.raises(mx.base.NotImplementedForSymbol):
        bool(x == y)


def test_backward_before_any_forward_gives_the_true_gradient():
    # MXNet lets backward follow bind directly (its test_repeat / test_tile do); here the
    # forward runs first
    data = mx.sym.var("data")
    out = mx.sym.repeat(data, repeats=2, axis=0) * data.repeat(repeats=2, axis=0)
    x = np.arange(6.0).reshape(2, 3)
    grad = nd.zeros((2, 3))
    ex = out.bind(mx.cpu(), [nd.array(x)], args_grad=[grad])
    head = np.arange(12.0).reshape(4, 3)
    ex.backward(nd.array(head))
    want = 2 * np.repeat(x, 2, axis=0) * head
    np.testing.assert_allclose(grad.asnumpy(), want[0::2] + want[1::2], rtol=1e-6)


def test_backward_writes_zeros_for_arguments_no_gradient_reaches():
    # MXNet's graph backward gives every 'write' argument a gradient, 0 where no path leads
    # (behind BlockGrad, through index_array): a stale value must not survive, compiled or not
    data, w = mx.sym.var("data"), mx.sym.var("w")
    out = mx.sym.Group([data * 2, mx.sym.BlockGrad(w * 3),
                        mx.sym.contrib.index_array(w)])
    grads = {"data": nd.zeros((2,)), "w": nd.zeros((2,))}
    ex = out.bind(mx.cpu(), {"data": nd.ones((2,)), "w": nd.ones((2,))}, args_grad=grads)
    for _ in range(5):          # (compiled from the third forward)
        grads["w"][:] = 7
        ex.forward(is_train=True)
        ex.backward([nd.ones((2,)), nd.ones((2,)), nd.ones((2, 1))])
        np.testing.assert_array_equal(grads["w"].asnumpy(), [0.0, 0.0])
        np.testing.assert_array_equal(grads["data"].asnumpy(), [2.0, 2.0])
    added = out.bind(mx.cpu(), {"data": nd.ones((2,)), "w": nd.ones((2,))},
                     args_grad={"data": nd.zeros((2,)), "w": nd.full((2,), 7.0)},
                     grad_req="add")
    added.forward(is_train=True)
    added.backward([nd.ones((2,)), nd.ones((2,)), nd.ones((2, 1))])
    np.testing.assert_array_equal(added.grad_dict["w"].asnumpy(), [7.0, 7.0])


def test_partial_inference_through_an_elementwise_op_and_of_partial_variables():
    """MXNet's test_symbol_infer_shape: an elementwise op's output takes the shape of the
    input that is known (the recurrent state of an RNN step is then sized from it), and the
    mismatch is still found once the other input is known; a variable with unknown (0) dims
    comes back as its __shape__."""
    data, prev = mx.sym.var("data"), mx.sym.var("prevstate")
    x2h = mx.sym.FullyConnected(data, name="x2h", num_hidden=4)
    h2h = mx.sym.FullyConnected(prev, name="h2h", num_hidden=4)
    out = mx.sym.Activation(mx.sym.elemwise_add(x2h, h2h), act_type="relu")
    assert out.infer_shape(data=(3, 5)) == (None, None, None)
    args, outs, _ = out.infer_shape_partial(data=(3, 5))
    shapes = dict(zip(out.list_arguments(), args))
    assert shapes["x2h_weight"] == (4, 5) and shapes["h2h_weight"] == () and outs == [(3, 4)]
    args, outs, _ = out.infer_shape(data=(3, 5), prevstate=outs[0])
    assert dict(zip(out.list_arguments(), args))["h2h_weight"] == (4, 4) and outs == [(3, 4)]
    with pytest.raises(mx.MXNetError, match="elemwise_add"):
        out.infer_shape(data=(3, 5), prevstate=(2, 4))
    d = mx.sym.var("d", shape=(1, 0, 0, 0))
    conv = mx.sym.Convolution(d, kernel=(3, 3), num_filter=2, no_bias=True)
    args, outs, _ = conv.infer_shape_partial()
    # (MXNet's ConvolutionShape: the batch and num_filter known, the unknown spatial dims not)
    assert args[0] == (1, 0, 0, 0) and outs == [(1, 2, 0, 0)]


def test_sizing_partial_variables_spends_a_bounded_number_of_inferences(monkeypatch):
    """A file with many unfixable partial variables (each read by a broadcast) cannot make one
    infer_shape run an inference per variable and size."""
    from tracegrad.symbol import inference
    calls = []
    real = inference._probed_passes

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(inference, "_probed_passes", counted)
    out = mx.sym.var("x")
    for k in range(200):
        out = mx.sym.broadcast_add(out, mx.sym.var(f"b{k}", shape=(0,)))
    assert out.infer_shape_partial(x=(2, 3))[1] == [()]
    assert len(calls) <= inference.MAX_PARTIAL_TRIALS + 1


def test_a_hidden_key_given_through_attr_is_kept_as_given_and_as_dunder():
    """MXNet's op attr={'wd_mult': 'x'} lists both 'wd_mult' and '__wd_mult__' (and the
    weights it creates get '__wd_mult__')."""
    data = mx.sym.Variable("data", attr={"mood": "angry"})
    op = mx.sym.Convolution(data=data, name="conv", kernel=(1, 1), num_filter=1,
                            attr={"__mood__": "so so", "wd_mult": "x"})
    got = op.list_attr()
    assert got["wd_mult"] == "x" and got["__wd_mult__"] == "x" and got["__mood__"] == "so so"
    assert op.attr_dict()["conv_weight"]["__wd_mult__"] == "x"
    op = mx.sym.Convolution(data=data, name="conv", kernel=(1, 1), num_filter=1,
                            attr={"wd_mult": "0.5"})
    again = mx.sym.load_json(op.tojson())     # (a file's multiplier must be a number)
    assert again.list_attr()["__wd_mult__"] == "0.5" and again.list_attr()["wd_mult"] == "0.5"
