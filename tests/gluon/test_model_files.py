"""Block.save / Block.load (MXNet 1.9's <prefix>-model.json and -model.params): a model
whose children's keys depend on block names loads into a second instance; hybridized blocks
come back hybridized; a file that does not describe the model, or a bad parameter file,
changes nothing."""
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd


class Keyed(gluon.Block):
    """MXNet's test_gluon_save model: children keyed by their names."""

    def add(self, block):
        self._children[block.name + str(len(self._children))] = block

    def forward(self, x):
        for block in self._children.values():
            x = block(x)
        return x


def _net(units=10):
    inside = Keyed()
    inside.add(gluon.nn.Dense(units, in_units=10))
    net = Keyed()
    net.add(inside)
    net.add(gluon.nn.Dense(units, in_units=units))
    return net


def _state(net):
    blocks, stack = [], [net]
    while stack:
        b = stack.pop()
        blocks.append((b.name, list(b._children), list(b.params.keys())))
        stack.extend(b._children.values())
    return blocks


def test_a_model_keyed_by_names_loads_into_another_instance(tmp_path):
    prefix = str(tmp_path / "model")
    net1 = _net()
    net1.initialize()
    net1.hybridize()
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 10)))
    out1 = net1(x)
    net1.save(prefix)
    doc = json.load(open(prefix + "-model.json"))
    (top,) = doc.values()
    assert top["orig_name"] == net1.name and len(top["children"]) == 2
    net2 = _net()
    assert [n for n, _, _ in _state(net2)] != [n for n, _, _ in _state(net1)]
    net2.load(prefix)
    assert _state(net2) == _state(net1)
    assert list(net2._children.values())[1]._active      # (hybridized when saved)
    np.testing.assert_allclose(net2(x).asnumpy(), out1.asnumpy(), rtol=1e-6)


def test_a_file_of_another_model_changes_nothing(tmp_path):
    prefix = str(tmp_path / "model")
    net1 = _net()
    net1.initialize()
    net1(nd.ones((1, 10)))
    net1.save(prefix)
    other = Keyed()
    other.add(gluon.nn.Dense(10))
    before = _state(other)
    with pytest.raises(mx.MXNetError, match="does not describe this model"):
        other.load(prefix)
    assert _state(other) == before


def test_a_bad_parameter_file_puts_the_names_back(tmp_path):
    prefix = str(tmp_path / "model")
    net1 = _net(10)
    net1.initialize()
    net1(nd.ones((1, 10)))
    net1.save(prefix)
    net2 = _net(7)                          # same tree, other shapes: the load fails
    net2.initialize()
    before = _state(net2)
    weights = [p.data().asnumpy().copy() for p in net2.collect_params().values()]
    with pytest.raises(mx.MXNetError):
        net2.load(prefix)
    assert _state(net2) == before
    for p, w in zip(net2.collect_params().values(), weights):
        np.testing.assert_array_equal(p.data().asnumpy(), w)


@pytest.mark.parametrize("bad", ['[]', '{"keyed0": 3}',
                                 '{"keyed0": {"orig_name": "a", "children": {"x": 1}}}',
                                 '{"keyed0": {"orig_name": 5, "children": {}}}'])
def test_malformed_model_files_are_refused(tmp_path, bad):
    prefix = str(tmp_path / "model")
    (tmp_path / "model-model.json").write_text(bad)
    net = _net()
    before = _state(net)
    with pytest.raises(mx.MXNetError):
        net.load(prefix)
    assert _state(net) == before
