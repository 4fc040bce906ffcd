"""What a compiled function does to its scope while it runs. An array it binds there
(`self.output = y`, a global) is an output of the compiled call, bound again by every call
as eager code would bind it; a number it changes (`self.calls += 1`) is a side effect
compiled code would not repeat, so the function runs eagerly, starting from the scope as it
was before the trace (test_scope_arrays_under_jit.py has a forward that reads a place and
rebinds it). Each case is checked against the same code run eagerly."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd, npx

pytestmark = pytest.mark.usefixtures("fresh_capture")

STORED = None


def _store_global(x):
    global STORED
    STORED = nd.exp(x) * 2
    return nd.sum(x * 3)


def test_a_global_the_function_binds_holds_each_calls_array():
    global STORED
    f = mx.jit(_store_global)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for v in ([0.5, -1.0], [2.0, 0.25], [-0.3, 0.7]):
                np.testing.assert_allclose(f(nd.array(v)).asscalar(), 3 * sum(v), rtol=1e-6)
                np.testing.assert_allclose(STORED.asnumpy(), np.exp(v) * 2, rtol=1e-6)
        assert f.counts["traces"] == 1 and f.counts["native"] == 3
    finally:
        STORED = None


class VAELike(gluon.HybridBlock):
    """MXNet's VAE example keeps `self.output` and `self.mu` from its forward."""

    def __init__(self):
        super().__init__()
        self.output = self.mu = None
        with self.name_scope():
            self.enc = gluon.nn.Dense(4, in_units=3, activation="tanh")
            self.dec = gluon.nn.Dense(3, in_units=4, activation="sigmoid")

    def hybrid_forward(self, F, x):
        h = self.enc(x)
        self.mu = h
        y = self.dec(h)
        self.output = y
        return F.sum((y - x) ** 2, axis=1)


def _train(hybridized, steps=8):
    mx.random.seed(3)
    net = VAELike()
    net.initialize(mx.init.Xavier())
    if hybridized:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
    seen = []
    rs = np.random.RandomState(0)
    for _ in range(steps):
        x = nd.array(rs.rand(5, 3))
        with autograd.record():
            loss = net(x)
        loss.backward()
        trainer.step(5)
        seen.append((net.output.asnumpy().copy(), net.mu.asnumpy().copy()))
    return seen, [p.data().asnumpy() for p in net.collect_params().values()]


def test_a_hybridized_forwards_stored_outputs_follow_every_captured_step():
    eager, eager_params = _train(False)
    compiled, compiled_params = _train(True)
    for (out_e, mu_e), (out_c, mu_c) in zip(eager, compiled):
        np.testing.assert_allclose(out_c, out_e, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mu_c, mu_e, rtol=1e-5, atol=1e-6)
    for e, c in zip(eager_params, compiled_params):
        np.testing.assert_allclose(c, e, rtol=1e-4, atol=1e-6)
    assert mx.stats()["captured_steps"] > 0


def test_a_stored_output_outside_record_is_the_calls_own():
    net = VAELike()
    net.initialize()
    net.hybridize()
    for v in (0.1, 0.9):
        x = nd.array(np.full((2, 3), v))
        net(x)
        h = np.tanh(x.asnumpy() @ net.enc.weight.data().asnumpy().T
                    + net.enc.bias.data().asnumpy())
        np.testing.assert_allclose(net.mu.asnumpy(), h, rtol=1e-5)


def test_a_stored_mx_np_array_stays_an_mx_np_array():
    npx.set_np()
    try:
        net = VAELike()
        net.initialize()
        net.hybridize()
        for v in (0.1, 0.9):
            x = mx.np.array(np.full((2, 3), v))
            with autograd.record():
                net(x)
            assert isinstance(net.output, mx.np.ndarray)
            h = np.tanh(x.asnumpy() @ net.enc.weight.data().asnumpy().T
                        + net.enc.bias.data().asnumpy())
            np.testing.assert_allclose(net.mu.asnumpy(), h, rtol=1e-5)
    finally:
        npx.reset_np()


class Counting:
    def __init__(self):
        self.calls = 0

    def f(self, x):
        self.calls += 1
        return x * 2


def test_a_number_the_function_changes_makes_it_run_eagerly_once_warned():
    c = Counting()
    f = mx.jit(c.f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(5):
            np.testing.assert_allclose(f(nd.array([k])).asnumpy(), [2 * k])
    assert c.calls == 5                     # as eager: once per call, the trace's undone
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "self.calls" in messages[0], messages
    assert f.counts["native"] == 0


class DeferredStoring(gluon.HybridBlock):
    """A stored output in a block whose parameters get their shapes at the first call (that
    call runs eagerly, then the trace: the trace's bindings are undone)."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.dense = gluon.nn.Dense(3)
        self.output = None

    def hybrid_forward(self, F, x):
        y = self.dense(x)
        self.output = y * 2
        return y.sum()


def test_a_stored_output_of_the_call_that_infers_shapes_is_recorded():
    blk = DeferredStoring()
    blk.initialize()
    blk.hybridize()
    for v in (1.0, 2.0, 3.0):
        x = nd.full((2, 4), v)
        x.attach_grad()
        with autograd.record():
            blk(x)
            z = blk.output.sum()
        z.backward()
        w, b = blk.dense.weight.data().asnumpy(), blk.dense.bias.data().asnumpy()
        np.testing.assert_allclose(blk.output.asnumpy(), (x.asnumpy() @ w.T + b) * 2,
                                   rtol=1e-6)
        np.testing.assert_allclose(x.grad.asnumpy(), np.tile(2 * w.sum(0), (2, 1)), rtol=1e-6)
