"""HybridBlock.register_op_hook: MXNet's per-node monitor of a hybridized block's graph.
Names and operator names as MXNet's cached graph reports them (bytes), and the block's
outputs and gradients unchanged by the hook."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _net(prefix="net_"):
    net = gluon.nn.HybridSequential(prefix=prefix)
    with net.name_scope():
        net.add(gluon.nn.Dense(4), gluon.nn.Activation("relu"), gluon.nn.Dense(2))
    return net


def _hooked(net, monitor_all=False):
    seen = []
    net.register_op_hook(lambda name, op, arr: seen.append((name, op, arr.asnumpy().copy())),
                         monitor_all)
    return seen


def test_reports_every_node_output_with_deferred_init():
    net = _net()
    net.initialize()
    net.hybridize()
    seen = _hooked(net)
    out = net(nd.ones((3, 5)))
    assert [(n, o) for n, o, _ in seen] == [
        (b"net_dense0_fwd_output", b"FullyConnected"), (b"net_relu0_fwd_output", b"Activation"),
        (b"net_dense1_fwd_output", b"FullyConnected")]
    np.testing.assert_allclose(seen[-1][2], out.asnumpy())
    np.testing.assert_allclose(seen[1][2], np.maximum(seen[0][2], 0))


def test_monitor_all_names_the_inputs():
    net = _net()
    net.initialize()
    net.hybridize()
    seen = _hooked(net, monitor_all=True)
    net(nd.ones((3, 5)))
    assert [n for n, _, _ in seen] == [
        b"net_dense0_fwd_data", b"net_dense0_fwd_weight", b"net_dense0_fwd_bias",
        b"net_dense0_fwd_output", b"net_relu0_fwd_input0", b"net_relu0_fwd_output",
        b"net_dense1_fwd_data", b"net_dense1_fwd_weight", b"net_dense1_fwd_bias",
        b"net_dense1_fwd_output"]


def test_outputs_and_gradients_unchanged():
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (3, 5)))
    results = []
    for hook in (False, True):
        mx.random.seed(1)
        net = _net()
        net.initialize(mx.init.Uniform(1.0))
        net.hybridize()
        seen = _hooked(net) if hook else None
        with autograd.record():
            out = net(x)
            (out * out).sum().backward()
        assert not hook or len(seen) == 3
        results.append((out.asnumpy(), [p.grad().asnumpy().copy()
                                        for p in net.collect_params().values()]))
    (a, ga), (b, gb) = results
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    for g, h in zip(ga, gb):
        np.testing.assert_allclose(h, g, rtol=1e-5, atol=1e-7)


def test_not_hybridized_reports_nothing():
    net = _net()
    net.initialize()
    seen = _hooked(net)
    net(nd.ones((3, 5)))
    assert seen == []


def test_refuses_a_callback_that_is_not_callable():
    with pytest.raises(mx.MXNetError, match="callback must be callable"):
        _net().register_op_hook(3)
