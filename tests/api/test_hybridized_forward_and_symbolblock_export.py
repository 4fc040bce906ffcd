"""Two MXNet 1.9.1 Gluon behaviours example/automatic-mixed-precision relies on: calling
forward() directly on a hybridized block runs (and caches) its graph as net(x) does, so
export works after it; and a SymbolBlock made from Symbols (amp.convert_hybrid_block's
result) exports its graph without being called first."""
import numpy as np

import tracegrad as mx
from tracegrad.contrib.amp import amp


def _net():
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(4, 3, padding=1), mx.gluon.nn.BatchNorm(),
            mx.gluon.nn.Activation("relu"), mx.gluon.nn.GlobalAvgPool2D(),
            mx.gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    return net


def test_forward_of_a_hybridized_block_runs_its_graph_and_allows_export(tmp_path):
    net = _net()
    x = mx.nd.random.uniform(shape=(2, 3, 8, 8))
    eager = net(x).asnumpy()
    net.hybridize()
    out = net.forward(x)
    np.testing.assert_allclose(out.asnumpy(), eager, rtol=1e-5, atol=1e-6)
    sym_file, param_file = net.export(str(tmp_path / "net"))
    loaded = mx.gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    np.testing.assert_allclose(loaded(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)


def test_converted_symbol_block_exports_before_any_call(tmp_path):
    net = _net()
    net.hybridize()
    x = mx.nd.random.uniform(shape=(1, 3, 8, 8))
    want = net.forward(x).asnumpy()
    converted = amp.convert_hybrid_block(net, cast_optional_params=True)
    sym_file, param_file = converted.export(str(tmp_path / "amp"), remove_amp_cast=False)
    kept = mx.sym.load(sym_file)
    ops = [n["op"] for n in __import__("json").loads(kept.tojson(remove_amp_cast=False))["nodes"]]
    assert "amp_cast" in ops                       # remove_amp_cast=False keeps the casts
    saved = mx.nd.load(param_file)
    assert saved["arg:" + net[0].weight.name].dtype == np.float16   # cast_optional_params
    reloaded = mx.gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    got = reloaded(x)
    assert got.dtype == np.float32                  # outputs are read through a float32 cast
    np.testing.assert_allclose(got.asnumpy(), want, rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(converted.forward(x).asnumpy(), got.asnumpy(), rtol=1e-6)
