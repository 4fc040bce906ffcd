"""BatchNorm of float16 data keeps gamma, beta and the moving statistics in float32 and
normalizes in float32, its output float16 (MXNet's BatchNormType, batch_norm.cc; the
image-classification symbols' dtype='float16' networks Cast their data and bind so)."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, nd


def _ref(x, gamma, beta, eps):
    x = x.astype(np.float64)
    mean = x.mean((0, 2, 3), keepdims=True)
    var = x.var((0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(1, -1, 1, 1) \
        + beta.reshape(1, -1, 1, 1), mean.ravel(), var.ravel()


def test_nd_batchnorm_of_half_data_with_float32_parameters():
    rs = np.random.RandomState(0)
    x = (rs.randn(4, 3, 2, 2) * 3 + 1).astype(np.float16)
    gamma, beta = rs.rand(3).astype(np.float32) + 0.5, rs.randn(3).astype(np.float32)
    mm, mv = nd.zeros(3), nd.ones(3)
    g = nd.array(gamma)
    g.attach_grad()
    with autograd.record():
        out = nd.BatchNorm(nd.array(x, dtype="float16"), g, nd.array(beta), mm, mv,
                           fix_gamma=False, eps=1e-3, momentum=0.9)
    out.backward()
    want, mean, var = _ref(x, gamma, beta, 1e-3)
    assert out.dtype == np.float16 and g.grad.dtype == np.float32
    np.testing.assert_allclose(out.asnumpy(), want, rtol=2e-3, atol=2e-3)
    assert mm.dtype == np.float32
    np.testing.assert_allclose(mm.asnumpy(), 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mv.asnumpy(), 0.9 + 0.1 * var, rtol=1e-4)


def test_symbol_infers_float32_parameters_for_half_data_and_module_trains():
    data = mx.sym.Cast(mx.sym.var("data"), dtype="float16")
    bn = mx.sym.BatchNorm(mx.sym.Convolution(data, num_filter=2, kernel=(1, 1), name="c"),
                          fix_gamma=False, name="bn")
    out = mx.sym.SoftmaxOutput(mx.sym.Cast(mx.sym.FullyConnected(bn, num_hidden=2, name="fc"),
                                           dtype="float32"), name="softmax")
    arg, outs, aux = out.infer_type(data=np.float32)
    types = dict(zip(out.list_arguments(), arg))
    assert types["c_weight"] == np.float16 and types["fc_weight"] == np.float16
    assert types["bn_gamma"] == np.float32 and types["bn_beta"] == np.float32
    assert aux == [np.float32, np.float32] and outs == [np.float32]
    bn_only = mx.sym.BatchNorm(mx.sym.var("x"), name="b")
    assert bn_only.infer_type(x=np.float64)[0] == [np.float64] * 3
    mod = mx.mod.Module(out)
    mod.bind([("data", (4, 1, 2, 2))], [("softmax_label", (4,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "multi_precision": True})
    arg_params, aux_params = mod.get_params()
    assert arg_params["bn_gamma"].dtype == np.float32
    assert arg_params["c_weight"].dtype == np.float16
    assert aux_params["bn_moving_var"].dtype == np.float32
    x = np.random.RandomState(1).randn(4, 1, 2, 2)
    before = aux_params["bn_moving_mean"].asnumpy().copy()
    mod.forward(mx.io.DataBatch([nd.array(x)], [nd.array([0, 1, 0, 1])]), is_train=True)
    mod.backward()
    mod.update()
    w = arg_params["c_weight"].asnumpy().astype(np.float64).reshape(2)
    b = arg_params["c_bias"].asnumpy().astype(np.float64)
    conv = x.transpose(1, 0, 2, 3) * w.reshape(2, 1, 1, 1) + b.reshape(2, 1, 1, 1)
    after = mod.get_params()[1]["bn_moving_mean"].asnumpy()
    np.testing.assert_allclose(after, 0.9 * before + 0.1 * conv.mean((1, 2, 3)), rtol=2e-3,
                               atol=1e-3)
