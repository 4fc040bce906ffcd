"""`mx.viz` as MXNet's symbol and hybridize tutorials call it: print_summary of a Symbol built
with mx.sym and of a Gluon net called on `mx.sym.var('data')`, with MXNet's table (output shapes
without the batch axis, parameter counts as MXNet counts them, preceding layers, the total);
plot_network's graph (checked through a stand-in graphviz module) and its ImportError."""
import sys
import types

import pytest

import tracegrad as mx
from tracegrad.gluon import nn


def _symbol():
    data = mx.sym.var("data")
    conv = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), name="conv1")
    bn = mx.sym.BatchNorm(conv, name="bn1")
    act = mx.sym.Activation(bn, act_type="relu", name="relu1")
    pool = mx.sym.Pooling(act, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    fc = mx.sym.FullyConnected(mx.sym.flatten(pool, name="flat"), num_hidden=8, name="fc1")
    emb = mx.sym.Embedding(mx.sym.var("tok"), input_dim=10, output_dim=8, name="emb")
    cat = mx.sym.concat(fc, mx.sym.sum(emb, axis=1, name="pooled"), dim=1, name="cat")
    return mx.sym.SoftmaxOutput(cat, name="softmax")


def _rows(text):
    return [line.rstrip() for line in text.splitlines() if line and line[0] not in "_="]


def test_print_summary_of_a_symbol_counts_parameters_as_mxnet(capsys):
    mx.viz.print_summary(_symbol(), shape={"data": (1, 2, 6, 6), "tok": (1, 3)})
    rows = [r.split() for r in _rows(capsys.readouterr().out)]
    assert rows[0] == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Previous", "Layer"]
    table = {r[0]: r[1:] for r in rows[1:-1] if "(" in r[0]}
    assert table["data(null)"] == ["2x6x6", "0"]
    assert table["conv1(Convolution)"] == ["4x4x4", str(2 * 4 * 9 + 4), "data"]
    assert table["bn1(BatchNorm)"] == ["4x4x4", "8", "conv1"]
    assert table["pool1(Pooling)"] == ["4x2x2", "0", "relu1"]
    assert table["fc1(FullyConnected)"] == ["8", str((16 + 1) * 8), "flat"]
    assert table["emb(Embedding)"] == ["3x8", "80"]          # its input is a variable
    assert table["cat(Concat)"] == ["16", "0", "fc1"] and ["pooled"] in rows  # 2nd input row
    assert rows[-1] == ["Total", "params:", str(76 + 8 + 136 + 80)]


def test_print_summary_without_shapes_and_of_a_gluon_net(capsys):
    mx.viz.print_summary(_symbol())
    out = capsys.readouterr().out
    assert "Total params: " + str(4 + 8 + 80) in out     # biases and embeddings only
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, in_channels=2), nn.BatchNorm(), nn.Activation("relu"),
                nn.Flatten(), nn.Dense(3))
    net.initialize()
    mx.viz.print_summary(net(mx.sym.var("data")), shape={"data": (1, 2, 6, 6)},
                         line_length=160)
    out = capsys.readouterr().out
    assert "net_conv0_fwd(Convolution)" in out
    assert f"Total params: {76 + 8 + (64 + 1) * 3}" in out
    with pytest.raises(TypeError):
        mx.viz.print_summary(net)


class _FakeDigraph:
    def __init__(self, name, format):
        self.name, self.format, self.nodes, self.edges = name, format, {}, []

    def node(self, name, label, **attr):
        self.nodes[name] = (label, attr)

    def edge(self, tail_name, head_name, **attr):
        self.edges.append((tail_name, head_name, attr["label"]))


def test_plot_network_draws_operators_hides_weights_and_labels_shapes(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Digraph=_FakeDigraph))
    dot = mx.viz.plot_network(_symbol(), title="net", shape={"data": (1, 2, 6, 6),
                                                              "tok": (1, 3)})
    assert dot.name == "net" and dot.format == "pdf"
    assert dot.nodes["conv1"][0] == "Convolution\n3x3/1, 4"
    assert dot.nodes["pool1"][0] == "Pooling\nmax, 2x2/2x2"
    assert dot.nodes["fc1"][0] == "FullyConnected\n8"
    assert dot.nodes["data"][1]["shape"] == "oval"
    assert "conv1_weight" not in dot.nodes and "bn1_moving_var" not in dot.nodes
    assert ("conv1", "data", "2x6x6") in dot.edges and ("fc1", "flat", "16") in dot.edges
    assert not any(head == "conv1_weight" for _, head, _ in dot.edges)
    shown = mx.viz.plot_network(_symbol(), hide_weights=False)
    assert ("conv1", "conv1_weight", "") in shown.edges


def test_plot_network_without_graphviz_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match="requires graphviz"):
        mx.viz.plot_network(_symbol())
