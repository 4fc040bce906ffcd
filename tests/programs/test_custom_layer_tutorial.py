"""MXNet's extend/custom_layer and blocks/custom-layer tutorials: a HybridBlock whose
parameter shape (hidden_units, 0) is completed from the input by the graph's shape inference,
trained one SGD step; hybridized == eager == numpy; export and SymbolBlock.imports."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


class NormalizationHybridLayer(gluon.HybridBlock):
    def __init__(self, hidden_units, scales):
        super().__init__()
        with self.name_scope():
            self.weights = self.params.get("weights", shape=(hidden_units, 0),
                                           allow_deferred_init=True)
            self.scales = self.params.get("scales", shape=scales.shape,
                                          init=mx.init.Constant(scales.asnumpy().tolist()),
                                          differentiable=False)

    def hybrid_forward(self, F, x, weights, scales):
        normalized = F.broadcast_div(F.broadcast_sub(x, F.min(x)),
                                     F.broadcast_sub(F.max(x), F.min(x)))
        weighted = F.FullyConnected(normalized, weights, num_hidden=self.weights.shape[0],
                                    no_bias=True)
        return F.broadcast_mul(scales, weighted)


def _reference(x, w, scale):
    n = (x - x.min()) / (x.max() - x.min())
    return scale * (n @ w.T)


def _net():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(5), NormalizationHybridLayer(hidden_units=5, scales=nd.array([2])),
                nn.Dense(1))
    net.initialize(mx.init.Xavier(magnitude=2.24))
    return net


def test_deferred_shape_is_inferred_from_the_graph_and_values_match_numpy():
    net = _net()
    x = nd.random.uniform(low=-10, high=10, shape=(5, 2))
    out = net(x)
    layer = net[1]
    assert layer.weights.shape == (5, 5) and out.shape == (5, 1)
    h = net[0](x).asnumpy().astype(np.float64)
    mid = _reference(h, layer.weights.data().asnumpy(), 2.0)
    want = mid @ net[2].weight.data().asnumpy().T + net[2].bias.data().asnumpy()
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-4, atol=1e-5)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)


def test_one_sgd_step_updates_weights_but_not_the_constant_scale():
    net = _net()
    net.hybridize()
    x = nd.random.uniform(low=-10, high=10, shape=(5, 2))
    label = nd.random.uniform(low=-1, high=1, shape=(5, 1))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1,
                                                          "momentum": 0.9})
    with autograd.record():
        loss = gluon.loss.L2Loss()(net(x), label)
    before = net[1].weights.data().asnumpy().copy()
    loss.backward()
    grad = net[1].weights.grad().asnumpy().copy()
    trainer.step(x.shape[0])
    np.testing.assert_allclose(net[1].weights.data().asnumpy(), before - 0.1 * grad / 5,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(net[1].scales.data().asnumpy(), [2.0])


def test_custom_dense_exports_and_imports(tmp_path):
    class MyDense(gluon.HybridBlock):
        def __init__(self, units, in_units, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.weight = self.params.get("weight", shape=(units, in_units))
                self.bias = self.params.get("bias", shape=(units,), init=mx.init.Zero())

        def hybrid_forward(self, F, x, weight, bias):
            return F.relu(F.FullyConnected(x, weight, bias, num_hidden=3))

    net = MyDense(3, 4)
    net.initialize()
    x = nd.random.uniform(-1, 1, shape=(2, 4))
    w = net.weight.data().asnumpy()
    want = np.maximum(x.asnumpy() @ w.T, 0)
    np.testing.assert_allclose(net(x).asnumpy(), want, rtol=1e-5, atol=1e-7)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), want, rtol=1e-5, atol=1e-7)
    prefix = str(tmp_path / "mydense")
    net.export(prefix, epoch=3)
    back = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0003.params")
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-5, atol=1e-7)


class TwoLayerDot(gluon.HybridBlock):
    """MXNet's test_numpy_gluon LinearRegression, on nd: weights of shape (0, hidden) read by
    dot, whose unknown input size only the consumer fixes; `bias_shape` (0,) is read by a
    broadcast that size 1 satisfies too, so it stays unknown (as in MXNet)."""

    def __init__(self, hidden, out, bias_shape):
        super().__init__()
        with self.name_scope():
            self.w1 = self.params.get("w1", shape=(0, hidden), allow_deferred_init=True)
            self.w2 = self.params.get("w2", shape=(hidden, out), allow_deferred_init=True)
            self.b = self.params.get("b", shape=bias_shape, allow_deferred_init=True)

    def hybrid_forward(self, F, x, w1, w2, b):
        return F.broadcast_add(F.dot(F.relu(F.dot(x, w1)), w2), b)


def test_a_weight_read_by_dot_gets_its_unknown_dim_from_the_graph():
    x = nd.array(np.random.RandomState(0).randn(4, 7))
    outs = []
    for hybridize in (False, True):
        net = TwoLayerDot(5, 3, (3,))
        net.initialize(mx.init.Uniform(), force_reinit=True)
        if hybridize:
            net.hybridize()
        y = net(x)
        shapes = {k.split("_", 1)[1]: v.shape for k, v in net.collect_params().items()}
        assert shapes == {"w1": (7, 5), "w2": (5, 3), "b": (3,)}
        p = {k.split("_", 1)[1]: v.data().asnumpy() for k, v in net.collect_params().items()}
        want = np.maximum(x.asnumpy() @ p["w1"], 0) @ p["w2"] + p["b"]
        np.testing.assert_allclose(y.asnumpy(), want, rtol=1e-5, atol=1e-6)
        outs.append(y.shape)
    assert outs == [(4, 3), (4, 3)]
    net = TwoLayerDot(5, 3, (0,))
    net.initialize()
    with pytest.raises(mx.MXNetError, match=r"cannot infer the shapes of \[.*_b'\]"):
        net(x)


def test_infer_shape_partial_sizes_a_dot_operand_and_not_a_broadcast_one():
    x, w, b = mx.sym.var("x"), mx.sym.var("w", shape=(0, 4)), mx.sym.var("b", shape=(0,))
    args, outs, _ = mx.sym.dot(x, w).infer_shape_partial(x=(2, 6))
    assert args == [(2, 6), (6, 4)] and outs == [(2, 4)]
    args, outs, _ = mx.sym.broadcast_add(mx.sym.dot(x, w), b).infer_shape_partial(x=(2, 6))
    assert args == [(2, 6), (6, 4), (0,)] and outs == [()]    # (b: its __shape__, as MXNet)
