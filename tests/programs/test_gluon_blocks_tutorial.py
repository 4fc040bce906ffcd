"""MXNet's Gluon block tutorials (crash-course 2, blocks/nn, naming, parameters,
save_load_params), shortened: LeNet shapes, custom Blocks, name scopes, collect_params
selection, parameters shared with params=, save/load round trips."""
import re

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon import nn


def _lenet():
    net = nn.Sequential()
    net.add(nn.Conv2D(channels=6, kernel_size=5, activation="relu"),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(channels=16, kernel_size=3, activation="relu"),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, activation="relu"), nn.Dense(84, activation="relu"), nn.Dense(10))
    return net


def test_lenet_shapes_after_deferred_initialization():
    net = _lenet()
    net.initialize()
    assert net(nd.random.uniform(shape=(4, 1, 28, 28))).shape == (4, 10)
    assert net[0].weight.data().shape == (6, 1, 5, 5)
    assert net[2].weight.shape == (16, 6, 3, 3)
    assert net[4].weight.shape == (120, 16 * 5 * 5)
    assert net[5].bias.data().shape == (84,) and len(net) == 7
    assert isinstance(net[1:3], nn.Sequential) and len(net[1:3]) == 2


def test_dense_layer_matches_numpy():
    layer = nn.Dense(2, in_units=4)
    layer.initialize(mx.init.Xavier())
    x = nd.random.uniform(-1, 1, (3, 4))
    w, b = layer.weight.data().asnumpy(), layer.bias.data().asnumpy()
    np.testing.assert_allclose(layer(x).asnumpy(), x.asnumpy() @ w.T + b, rtol=1e-5, atol=1e-6)


def test_custom_block_with_children_and_name_scope_prefixes():
    class Model(gluon.Block):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.dense0 = nn.Dense(5)
                self.dense1 = nn.Dense(5)
                self.mydense = nn.Dense(5, prefix="mydense_")

        def forward(self, x):
            return nd.relu(self.mydense(nd.relu(self.dense1(nd.relu(self.dense0(x))))))

    with mx.name.NameManager():       # fresh counters, as a new MXNet process has
        model0, model1 = Model(), Model()
    assert (model0.prefix, model1.prefix) == ("model0_", "model1_")
    assert model0.dense0.prefix == "model0_dense0_"
    assert model0.mydense.prefix == "model0_mydense_"
    model0.initialize()
    assert model0(nd.zeros((2, 3))).shape == (2, 5)
    assert list(model0.collect_params().keys()) == [
        "model0_dense0_weight", "model0_dense0_bias", "model0_dense1_weight",
        "model0_dense1_bias", "model0_mydense_weight", "model0_mydense_bias"]
    weights = model0.collect_params(".*weight")
    assert list(weights.keys()) == [k for k in model0.collect_params() if k.endswith("weight")]
    both = model0.collect_params("model0_dense0_weight|.*mydense_bias")
    assert sorted(both.keys()) == ["model0_dense0_weight", "model0_mydense_bias"]


def test_parameters_shared_through_params_keep_their_names():
    with mx.name.NameManager():
        net1 = nn.Dense(4, in_units=3)
        net2 = nn.Dense(4, in_units=3, params=net1.collect_params())
    assert net1.weight is net2.weight and net2.prefix == "dense1_"
    assert list(net2.collect_params().keys()) == ["dense0_weight", "dense0_bias"]
    assert list(net1.collect_params().keys()) == ["dense0_weight", "dense0_bias"]
    net1.initialize()
    x = nd.ones((2, 3))
    np.testing.assert_array_equal(net1(x).asnumpy(), net2(x).asnumpy())


def test_shared_dense_in_a_sequential_gets_gradient_from_both_uses():
    net = nn.Sequential()
    shared = nn.Dense(3, in_units=3, use_bias=False)
    net.add(shared, nn.Dense(3, in_units=3, use_bias=False, params=shared.params))
    net.initialize(mx.init.Constant(0.5))
    x = nd.array([[1.0, 2.0, 3.0]])
    with mx.autograd.record():
        y = net(x).sum()
    y.backward()
    w = np.full((3, 3), 0.5)
    # y = 1^T W W x: dy/dW = 1 (W x)^T + (W^T 1) x^T
    want = np.outer(np.ones(3), w @ x.asnumpy()[0]) + np.outer(w.T @ np.ones(3), x.asnumpy()[0])
    np.testing.assert_allclose(shared.weight.grad().asnumpy(), want, rtol=1e-6)


def test_save_and_load_parameters_round_trip(tmp_path):
    net = _lenet()
    net.initialize(mx.init.Xavier())
    x = nd.random.uniform(shape=(2, 1, 28, 28))
    want = net(x).asnumpy()
    path = str(tmp_path / "lenet.params")
    net.save_parameters(path)
    fresh = _lenet()
    fresh.load_parameters(path, ctx=mx.cpu())
    np.testing.assert_allclose(fresh(x).asnumpy(), want, rtol=1e-6)
    other = nn.Sequential()
    other.add(nn.Dense(3))
    with pytest.raises(Exception, match=re.escape("0.weight")):
        other.load_parameters(path)


def test_parameter_and_parameter_dict_api():
    p = gluon.Parameter("weight", shape=(2, 3))
    p.initialize(init=mx.init.Xavier())
    assert p.data().shape == p.grad().shape == (2, 3) and p.list_ctx() == [mx.cpu()]
    assert (p.grad_req, p.lr_mult, p.wd_mult, p.dtype) == ("write", 1.0, 1.0, np.float32)
    p.set_data(nd.ones((2, 3)))
    np.testing.assert_array_equal(p.data().asnumpy(), 1)
    pd = gluon.ParameterDict(prefix="block_")
    w = pd.get("w", shape=(2, 2))
    assert w.name == "block_w" and pd.get("w") is w
    pd.initialize(mx.init.Constant(3))
    np.testing.assert_array_equal(w.data().asnumpy(), 3)
    pd.setattr("grad_req", "null")
    assert w.grad_req == "null"
    with pytest.raises(Exception):
        gluon.Parameter("late", shape=(0, 3), allow_deferred_init=False).initialize() or \
            gluon.Parameter("late", shape=(0, 3)).data()
