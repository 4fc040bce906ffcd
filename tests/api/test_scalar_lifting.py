"""A Python scalar that changes between steps (an annealed loss weight, `x * (1 / n)`, a
schedule's coefficient) is an input of the compiled code, not part of its structure
(tape.lifts_literal, capture's Plan.lift_literals): the eager adjoint is derived once for all
its values, and a captured step lifts it after one drop. Before, every new value derived,
optimized and compiled the adjoint again (an annealed step ran 30-160x slower) and capture
never engaged. Values must be exactly those of eager with capture off, whatever the scalar:
negative zero, NaN, infinities, ints and bools beside float arrays."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.runtime import tape

from capture_steps import batches, same_params, small_net

pytestmark = pytest.mark.usefixtures("fresh_capture")


def _grad(scale, x0=(0.5, -1.0, 2.0)):
    x = nd.array(np.array(x0, np.float32))
    x.attach_grad()
    with autograd.record():
        y = (scale * x ** 3.0 + nd.maximum(x, scale) / 4.0).sum()
    y.backward()
    return x.grad.asnumpy()


def test_the_eager_adjoint_is_derived_once_for_every_value_of_a_scalar():
    _grad(0.3)
    before = set(tape._ADJOINTS)
    got = [_grad(s) for s in (0.7, -2.5, 1e-3, 11.0, 3)]
    assert set(tape._ADJOINTS) == before       # no new structure: one adjoint for all
    x = np.array([0.5, -1.0, 2.0])
    for s, g in zip((0.7, -2.5, 1e-3, 11.0, 3), got):
        want = 3 * s * x ** 2 + (x >= s) / 4.0
        np.testing.assert_allclose(g, want, rtol=2e-6)


def test_special_scalars_reach_the_gradient_as_eager_computes_them():
    def grad_of(s):
        x = nd.array(np.array([1.5, -2.0], np.float32))
        x.attach_grad()
        with autograd.record():
            y = (x * s).sum()
        y.backward()
        return x.grad.asnumpy()
    for s in (0.0, -0.0, 0.0, float("inf"), float("-inf"), float("nan"), 2, True, -0.0):
        g = grad_of(s)
        want = np.full(2, np.float32(s))
        np.testing.assert_array_equal(g, want)
        assert np.signbit(g).tolist() == np.signbit(want).tolist(), s


def test_second_order_gradients_through_a_lifted_scalar():
    x0 = np.array([0.5, -1.0, 2.0], np.float32)
    for a in (0.3, 2.0, -1.25):
        x = nd.array(x0)
        x.attach_grad()
        with autograd.record():
            y = (a * x ** 3.0).sum()
            g = autograd.grad(y, [x], create_graph=True)[0]
            z = (g * g).sum()
        z.backward()
        xd = x0.astype(np.float64)
        np.testing.assert_allclose(x.grad.asnumpy(), 2 * (3 * a * xd ** 2) * 6 * a * xd,
                                   rtol=1e-5)


def _annealed_run(hybridize, steps=20, scalars=1, first_op=False, read=False):
    """The usual step with `scalars` loss terms weighted by Python floats that change every
    step; returns (parameters, losses read)."""
    net = small_net(hybridize)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    read_values = []
    for i, (x, y) in enumerate(batches(steps)):
        with autograd.record():
            if first_op:        # the plan's first op carries the varying scalar
                x = x * (1.0 + 0.1 * i)
            out = net(x)
            loss = loss_fn(out, y)
            for k in range(scalars):
                loss = loss + (0.5 / (i + 1 + k)) * (out * out).mean(axis=1)
        loss.backward()
        trainer.step(x.shape[0])
        if read and i % 4 == 0:
            read_values.append(loss.asnumpy().copy())
    return [p.data().asnumpy() for p in net.collect_params().values()], read_values


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("scalars,first_op", [(1, False), (3, False), (1, True)])
def test_an_annealed_step_is_captured_and_matches_eager(hybridize, scalars, first_op):
    with capture.paused():
        want, want_reads = _annealed_run(hybridize, scalars=scalars, first_op=first_op,
                                         read=True)
    before = mx.stats()["captured_steps"]
    got, got_reads = _annealed_run(hybridize, scalars=scalars, first_op=first_op, read=True)
    captured = mx.stats()["captured_steps"] - before
    same_params(got, want)
    for u, v in zip(got_reads, want_reads):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=1e-6)
    # learned after 3 repeats, then one drop per varying scalar: the rest is captured
    assert captured >= 20 - 3 - scalars - 2, (captured, capture.explain())
    assert "scalar(s) that vary between steps are inputs" in capture.explain()


def test_a_captured_annealed_step_is_one_native_call():
    net = small_net(True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    calls = []
    for i, (x, y) in enumerate(batches(16)):
        before = mx.stats()["native_calls"]
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y) + (1.0 / (i + 2)) * (out * out).mean(axis=1)
        loss.backward()
        trainer.step(x.shape[0])
        calls.append(mx.stats()["native_calls"] - before)
    assert calls[-4:] == [1, 1, 1, 1], (calls, capture.explain())


def test_a_loss_blocks_changing_weight_is_right_on_every_path():
    """A gluon loss whose weight attribute changes each step: its learned replay no longer
    holds, the block runs itself, its scalar is lifted (and replays over it given up)."""
    def run():
        net = small_net(False)
        loss_fn = gluon.loss.L2Loss(weight=1.0)
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
        for i, (x, y) in enumerate(batches(14)):
            loss_fn._weight = 1.0 + 0.25 * (i % 5)
            with autograd.record():
                loss = loss_fn(net(x), nd.one_hot(y, 3))
            loss.backward()
            trainer.step(x.shape[0])
        return [p.data().asnumpy() for p in net.collect_params().values()]
    with capture.paused():
        want = run()
    same_params(run(), want)
