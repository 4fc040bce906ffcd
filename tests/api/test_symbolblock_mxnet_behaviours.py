"""SymbolBlock and symbolic calls as MXNet 1.9.1 has them: a SymbolBlock called on Symbols
composes its graph; its parameters' structural names drop their common prefix (a file saved
from one instance loads into another); blocks made with prefix='' name their nodes in the
caller's scope (a ResNet stage's internals have one name each); a row_sparse variable is
refused as MXNet asserts."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon import nn


def _mlp():
    model = nn.HybridSequential()
    model.add(nn.Dense(8, activation="tanh"), nn.Dense(4, in_units=8))
    model.initialize()
    return model


def test_a_symbolblock_called_on_symbols_composes_its_graph():
    model = _mlp()
    data = mx.sym.var("data")
    internals = model(data).get_internals()
    block = gluon.SymbolBlock(internals, data, params=model.collect_params())
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (3, 5)))
    outs = block(x)
    composed = block(mx.sym.var("in"))
    assert len(composed) == len(internals.list_outputs()) == len(outs)
    assert "in" in composed.list_arguments() and "data" not in composed.list_arguments()
    args = {"in": x, **{p.name: p.data() for p in model.collect_params().values()}}
    got = composed.bind(mx.cpu(), args).forward()
    for a, b in zip(got, outs):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)


def test_symbolblock_parameters_save_and_load_across_instances(tmp_path):
    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                backbone = _mlp()
                data = mx.sym.var("data")
                self.backbone = gluon.SymbolBlock(backbone(data), data,
                                                  params=backbone.collect_params())
                self.head = nn.Dense(2)

        def hybrid_forward(self, F, x):
            return self.head(self.backbone(x))

    net1, net2 = Net(), Net()
    net1.initialize()
    x = nd.ones((2, 5))
    want = net1(x)
    path = str(tmp_path / "net.params")
    net1.save_parameters(path)
    net2.load_parameters(path)
    np.testing.assert_allclose(net2(x).asnumpy(), want.asnumpy(), rtol=1e-6)
    keys = sorted(net1.backbone._collect_params_with_prefix())
    assert keys == ["0_bias", "0_weight", "1_bias", "1_weight"]   # (MXNet cuts "..._dense")


def test_empty_prefix_blocks_count_on_in_their_callers_scope():
    class Residual(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.Activation(x + 1, act_type="relu")

    stage = nn.HybridSequential(prefix="stage1_")
    with stage.name_scope():
        stage.add(Residual(prefix=""), Residual(prefix=""))
    names = stage(mx.sym.var("data")).get_internals().list_outputs()
    acts = [n for n in names if "activation" in n]
    assert acts == ["stage1_activation0_output", "stage1_activation1_output"]


def test_a_row_sparse_variable_is_refused():
    data = mx.sym.var("data")
    out = mx.sym.dot(data, mx.sym.var("weight", stype="row_sparse"))
    with pytest.raises(AssertionError, match="storage type is 'row_sparse'"):
        gluon.SymbolBlock(out, data)
