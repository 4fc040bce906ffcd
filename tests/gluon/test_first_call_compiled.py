"""A hybridized block's first call, as MXNet's CachedOp makes it: the deferred parameter shapes
come from one symbolic call's graph, the parameters are initialized in the graph's input order,
and the call itself runs compiled (gluon/symbolic_shapes.infer_net_shapes_symbolically). When
the graph cannot tell (a forward hook, a 2.x forward with no symbolic form), the first call
runs eagerly and infers them, as before."""
import json

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _mlp(act=None):
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(gluon.nn.Dense(10, activation=act), gluon.nn.BatchNorm(), gluon.nn.Dense(4))
    return net


def _nodes(y):
    return json.loads(autograd.get_symbol(y).tojson())["nodes"]


def test_mxnets_test_inline():
    """MXNet 1.9.1's tests/python/unittest/test_gluon.py::test_inline: the first call under
    record() is the CachedOp's, inlined into the recorded graph up to inline_limit nodes."""
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        for _ in range(3):
            net.add(gluon.nn.Dense(10))
    net.initialize()
    net.hybridize(inline_limit=3)
    with autograd.record():
        y = net(nd.zeros((1, 10)))
    first = _nodes(y)
    y.backward()
    net.hybridize(inline_limit=0)
    with autograd.record():
        y = net(nd.zeros((1, 10)))
    second = _nodes(y)
    y.backward()
    assert [n["op"] for n in first].count("FullyConnected") == 3
    assert [n["op"] for n in second].count("_CachedOp") == 1
    assert len(first) == len(second) + 2


def test_the_first_call_runs_compiled_and_agrees_with_eager():
    x = nd.array(np.random.RandomState(0).randn(6, 7).astype(np.float32))
    outs, weights = [], []
    for hybridize in (False, True):
        mx.random.seed(11)
        net = _mlp("tanh")
        net.initialize(mx.init.Xavier())
        if hybridize:
            net.hybridize()
        with autograd.record():
            y = net(x)
        y.backward()
        outs.append(y.asnumpy())
        weights.append({k[len(net.prefix):]: p.data().asnumpy()
                        for k, p in net.collect_params().items()})
        if hybridize:
            counts = net.__dict__["_tg_jit"].counts
            assert counts["native"] == 1 and counts["calls"] == 1, counts
    # the same seed gives the same weights: the graph's order is the forward's (the running
    # statistics were updated by the call: equal to rounding)
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        if "running" in k:
            np.testing.assert_allclose(weights[1][k], weights[0][k], rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(weights[1][k], weights[0][k], err_msg=k)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    # a float64 reference from the initialized weights (BatchNorm in training mode)
    p = {k: v.astype(np.float64) for k, v in weights[0].items()}
    h = np.tanh(x.asnumpy().astype(np.float64) @ p["dense0_weight"].T + p["dense0_bias"])
    h = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5) * p["batchnorm0_gamma"] \
        + p["batchnorm0_beta"]
    want = h @ p["dense1_weight"].T + p["dense1_bias"]
    np.testing.assert_allclose(outs[1], want, rtol=1e-4, atol=1e-5)


def test_a_forward_hook_sees_arrays_on_the_first_call():
    """A hook must never see Symbols: with one in the tree, the first call is eager."""
    net = _mlp()
    net.initialize()
    net.hybridize()
    seen = []
    net[0].register_forward_hook(lambda blk, args, out: seen.append(
        (isinstance(out, nd.NDArray), out.asnumpy())))
    y = net(nd.ones((2, 5)))
    assert y.shape == (2, 4)
    assert seen and all(is_array for is_array, _ in seen), seen
    # (the values the hook reads are eager's, whether computed at once or when read)
    np.testing.assert_array_equal(seen[0][1], seen[-1][1])


def test_a_graph_with_unknown_shapes_leaves_the_parameters_to_the_eager_call():
    """A 2.x forward the symbolic call cannot run: nothing is initialized by it (all or
    nothing), and the eager first call infers the shapes."""
    class Gate(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(3)

        def forward(self, x):
            return self.dense(x) * float(x.asnumpy().mean() > -1e9)   # (reads a value)

    from tracegrad.gluon.symbolic_shapes import infer_net_shapes_symbolically
    net = Gate()
    net.initialize()
    x = nd.ones((2, 4))
    assert infer_net_shapes_symbolically(net, (x,)) is False
    assert net.dense.weight._data is None
    net.hybridize()
    y = net(x)
    assert y.shape == (2, 3) and net.dense.weight.shape == (3, 4)


def test_under_set_np_the_first_call_runs_compiled_and_agrees_with_eager():
    """d2l.ai's style: mx.np arrays in and out, the same weights from the same seed."""
    from tracegrad import np as mnp, npx
    from tracegrad.gluon import nn
    npx.set_np()
    try:
        x = mnp.array(np.random.RandomState(1).randn(2, 3, 8, 8).astype(np.float32))
        outs, weights = [], []
        for hybridize in (False, True):
            mx.random.seed(5)
            net = nn.HybridSequential()
            net.add(nn.Conv2D(4, 3, activation="relu"), nn.MaxPool2D(), nn.Dense(6))
            net.initialize()
            if hybridize:
                net.hybridize()
            with autograd.record():
                y = net(x)
            y.backward()
            assert isinstance(y, mnp.ndarray)
            outs.append(y.asnumpy())
            weights.append([p.data().asnumpy() for p in net.collect_params().values()])
            if hybridize:
                assert net.__dict__["_tg_jit"].counts["native"] == 1
    finally:
        npx.reset_np()
    for got, want in zip(weights[1], weights[0]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)


def _first_outputs(make, x, train=True):
    outs = []
    for hybridize in (False, True):
        mx.random.seed(3)
        net = make()
        net.initialize()
        if hybridize:
            net.hybridize()
        with autograd.record(train_mode=train):
            outs.append(net(x).asnumpy())
    return outs


def test_a_net_that_draws_random_numbers_gives_the_eager_numbers():
    """Dropout between two deferred layers: the eager first call draws its mask between
    their initializations, so the symbolic path steps aside and the same seed gives the same
    weights and masks hybridized or not."""
    def make():
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(8), gluon.nn.Dropout(0.5), gluon.nn.Dense(3))
        return net
    eager, hybrid = _first_outputs(make, nd.ones((4, 5)))
    np.testing.assert_allclose(hybrid, eager, rtol=1e-5, atol=1e-6)


def test_a_forward_drawing_in_python_leaves_the_generator_as_it_was():
    """A 2.x forward that draws an array itself: the symbolic call's draw is given back."""
    class Noisy(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(3)

        def forward(self, x):
            return self.dense(x) * nd.random.uniform(shape=(1,)).asscalar()

    eager, hybrid = _first_outputs(Noisy, nd.ones((2, 4)))
    np.testing.assert_allclose(hybrid, eager, rtol=1e-5, atol=1e-6)


def test_parameters_are_initialized_in_the_order_the_eager_call_meets_them():
    """A forward that calls `a` before `b` but adds b + a: the graph lists b's inputs first;
    the initializations follow the calls, as eager's do (same seed, same weights)."""
    class Fork(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = gluon.nn.Dense(4)
            self.b = gluon.nn.Dense(4)

        def hybrid_forward(self, F, x):
            ya = self.a(x)
            yb = self.b(x)
            return yb + ya

    weights = []
    for hybridize in (False, True):
        mx.random.seed(8)
        net = Fork()
        net.initialize(mx.init.Uniform())
        if hybridize:
            net.hybridize()
        net(nd.ones((2, 3)))
        weights.append([net.a.weight.data().asnumpy(), net.b.weight.data().asnumpy()])
        if hybridize:
            assert net.__dict__["_tg_jit"].counts["native"] == 1
    for got, want in zip(weights[1], weights[0]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("make", [
    lambda: gluon.nn.LayerNorm(), lambda: gluon.nn.LayerNorm(axis=1),
    lambda: gluon.nn.InstanceNorm(), lambda: gluon.nn.InstanceNorm(axis=-1, scale=True),
    lambda: gluon.nn.InstanceNorm(axis=2), lambda: gluon.nn.GroupNorm(num_groups=2)],
    ids=["layer", "layer_axis1", "instance", "instance_last", "instance_axis2", "group"])
def test_norm_layers_as_symbols_and_first_calls(make):
    """LayerNorm, InstanceNorm and GroupNorm called on Symbols give MXNet's operator for the
    layer (their eager forms read shapes in Python), so a net holding them infers its deferred
    shapes symbolically; the Symbol, the compiled first call and eager agree, against a
    float64 reference of the layer's formula."""
    x = nd.array(np.random.RandomState(4).randn(3, 4, 5).astype(np.float32))
    outs = []
    for hybridize in (False, True):
        mx.random.seed(2)
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(20, flatten=False), make())
        net.initialize(mx.init.Uniform())
        if hybridize:
            net.hybridize()
        outs.append(net(x).asnumpy())
        if hybridize:
            assert net.__dict__["_tg_jit"].counts["native"] == 1
            graph = net(mx.sym.var("data"))
            args = {"data": x}
            args.update({k: p.data() for k, p in net.collect_params().items()})
            got = graph.eval(ctx=mx.cpu(), **args)[0].asnumpy()
            np.testing.assert_allclose(got, outs[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    # float64: the norm layer's own formula on the Dense output
    dense, norm = net[0], net[1]
    h = np.einsum("btk,uk->btu", x.asnumpy().astype(np.float64),
                  dense.weight.data().asnumpy()) + dense.bias.data().asnumpy()
    g, b = norm.gamma.data().asnumpy(), norm.beta.data().asnumpy()
    if isinstance(norm, gluon.nn.GroupNorm):
        hg = h.reshape(3, 2, -1)
        n = ((hg - hg.mean(-1, keepdims=True)) / np.sqrt(hg.var(-1, keepdims=True) + 1e-5))
        want = n.reshape(h.shape) * g.repeat(2)[None, :, None] + b.repeat(2)[None, :, None]
    else:
        axis = norm._axis % 3
        if isinstance(norm, gluon.nn.LayerNorm):
            red = (axis,)
        else:   # InstanceNorm: every axis but the batch and the channel one
            red = tuple(a for a in range(1, 3) if a != axis)
        n = (h - h.mean(red, keepdims=True)) / np.sqrt(h.var(red, keepdims=True) + 1e-5)
        shape = [1, 1, 1]
        shape[axis] = -1
        want = n * g.reshape(shape) + b.reshape(shape)
    np.testing.assert_allclose(outs[0], want, rtol=1e-4, atol=1e-4)
