"""MXNet's blocks/hybridize tutorial: a HybridBlock gives the same numbers eagerly and
hybridized, and called on `mx.sym.var('data')` it returns its graph as a Symbol, named as
MXNet names it (`..._dense1_fwd_output`), whose executor reproduces the block."""
import numpy as np

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon import nn


def _net():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, activation="relu"), nn.MaxPool2D(), nn.BatchNorm(),
                nn.Dropout(0.5), nn.Flatten(), nn.Dense(8, activation="tanh"), nn.Dense(2))
    return net


def test_block_called_on_a_symbol_returns_mxnets_graph():
    with mx.name.NameManager():
        net = _net()
        out = net(mx.sym.var("data"))
    assert isinstance(out, mx.sym.Symbol)
    assert out.list_outputs() == ["hybridsequential0_dense1_fwd_output"]
    assert out.list_arguments() == [
        "data", "hybridsequential0_conv0_weight", "hybridsequential0_conv0_bias",
        "hybridsequential0_batchnorm0_gamma", "hybridsequential0_batchnorm0_beta",
        "hybridsequential0_dense0_weight", "hybridsequential0_dense0_bias",
        "hybridsequential0_dense1_weight", "hybridsequential0_dense1_bias"]
    assert out.list_auxiliary_states() == ["hybridsequential0_batchnorm0_running_mean",
                                           "hybridsequential0_batchnorm0_running_var"]
    internals = out.get_internals().list_outputs()
    assert "hybridsequential0_conv0_relu_fwd_output" in internals    # Activation(prefix='relu_')
    assert "hybridsequential0_pool0_fwd_output" in internals
    assert out.infer_shape(data=(2, 1, 8, 8))[1] == [(2, 2)]


def test_the_symbol_computes_what_the_block_computes():
    net = _net()
    net.initialize()
    x = nd.random.uniform(shape=(2, 1, 8, 8))
    eager = net(x).asnumpy()
    params = net.collect_params()
    args = {k: v.data() for k, v in params.items() if "running" not in k}
    aux = {k: v.data() for k, v in params.items() if "running" in k}
    args["data"] = x
    exe = net(mx.sym.var("data")).bind(mx.cpu(), args, aux_states=aux)
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), eager, rtol=1e-5, atol=1e-6)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    assert isinstance(net(mx.sym.var("data")), mx.sym.Symbol)    # also once compiled


def test_custom_hybrid_block_with_children_on_symbols_and_arrays():
    class HybridNet(gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.hidden = nn.Dense(10)
                self.output = nn.Dense(2)

        def hybrid_forward(self, F, x):
            return self.output(F.relu(self.hidden(x)))

    net = HybridNet(prefix="hn_")
    sym = net(mx.sym.var("data"))
    assert sym.list_outputs() == ["hn_dense1_fwd_output"]
    assert "hn_relu0_output" in sym.get_internals().list_outputs()
    net.initialize()
    x = nd.random.normal(shape=(1, 4))
    got = net(x).asnumpy()
    h = np.maximum(x.asnumpy() @ net.hidden.weight.data().asnumpy().T
                   + net.hidden.bias.data().asnumpy(), 0)
    want = h @ net.output.weight.data().asnumpy().T + net.output.bias.data().asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), want, rtol=1e-5, atol=1e-6)
