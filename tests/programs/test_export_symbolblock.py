"""The hybridize / save_load_params tutorials' deployment path: a HybridSequential with
BatchNorm and Dropout exported, re-imported with SymbolBlock.imports and with mx.sym.load;
a SymbolBlock built from mx.sym ops; inference equals the eager net."""
import numpy as np

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon import nn


def test_exported_net_reimports_with_the_same_outputs(tmp_path):
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(8, activation="tanh"), nn.BatchNorm(), nn.Dropout(0.3), nn.Dense(2))
    net.initialize(mx.init.Xavier())
    x = nd.random.normal(shape=(5, 3))
    eager = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    prefix = str(tmp_path / "mlp")
    net.export(prefix)
    back = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params",
                                     ctx=mx.cpu())
    np.testing.assert_allclose(back(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    sym = mx.sym.load(prefix + "-symbol.json")
    assert sym.list_arguments()[0] == "data" and len(sym.list_outputs()) == 1


def test_symbol_block_from_symbols_trains_like_a_dense_layer():
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    net = gluon.SymbolBlock(mx.sym.Activation(fc, act_type="relu"), data)
    net.initialize()
    x = nd.random.uniform(shape=(2, 3))
    out = net(x)
    assert sorted(net.collect_params().keys()) == ["fc_bias", "fc_weight"]
    p = net.collect_params()
    want = np.maximum(x.asnumpy() @ p["fc_weight"].data().asnumpy().T
                      + p["fc_bias"].data().asnumpy(), 0)
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-7)
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    assert p["fc_weight"].grad().shape == (4, 3)
