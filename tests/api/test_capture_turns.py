"""Steps that take turns (tracing/capture.py: `_followed`, `_in_turn`, and defer_call starting
a plan of its own after the step that began diverged).

- A GAN: the D step begins with G's call (the G step's first op), whose output it detaches,
  so its own graph starts at D's call; the G step then runs G and D on the same noise.
- Two heads trained in turns on a shared trunk: both steps start with the trunk's call.

Each is captured in every iteration after a warm-up and trains exactly as with capture off;
a switch from one kind of step to the other (not taking turns) stays exact too."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from capture_steps import StepCounts, same_params as _same


# each test starts and ends with no plan, capture on (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_capture")


def _mlp(hidden, out, in_units):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(hidden, activation="relu", in_units=in_units),
            gluon.nn.Dense(out, in_units=hidden))
    net.initialize()
    net.hybridize()
    return net


def _gan(on, iterations=30, critic=1):
    """Parameters of G and D after `iterations` of `critic` D steps then a G step, and per
    iteration (native calls, captured steps)."""
    capture.set_enabled(on)
    mx.random.seed(4)
    g, d = _mlp(8, 3, 2), _mlp(8, 1, 3)
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    tg = gluon.Trainer(g.collect_params(), "adam", {"learning_rate": 0.01})
    td = gluon.Trainer(d.collect_params(), "sgd", {"learning_rate": 0.1})
    ones, zeros = nd.ones((6,)), nd.zeros((6,))
    log = StepCounts()
    for i in range(iterations):
        rs = np.random.RandomState(i)
        real = nd.array(rs.rand(6, 3).astype(np.float32))
        z = nd.array(rs.randn(6, 2).astype(np.float32))
        with log.step():
            for _ in range(critic):
                with autograd.record():
                    fake = g(z)
                    ld = loss(d(real), ones) + loss(d(fake.detach()), zeros)
                ld.backward()
                td.step(6)
            with autograd.record():
                lg = loss(d(g(z)), ones)
            lg.backward()
            tg.step(6)
    capture.set_enabled(True)
    return [p.data().asnumpy() for net in (g, d) for p in net.collect_params().values()], log


def test_a_gan_captures_its_d_step_and_its_g_step_and_is_exact():
    got, log = _gan(True)
    want, _ = _gan(False)
    _same(got, want)
    # both steps captured; the D step's G call, before its graph, runs on its own
    assert log[-10:] == [(3, 2)] * 10, log


def test_five_d_steps_per_g_step_keep_the_g_step_captured():
    """(A WGAN's critic steps.) Each D step begins on the G step's plan and leaves it at D's
    call: that is not a failure of the G plan, which five in a row would retire."""
    got, log = _gan(True, iterations=12, critic=5)
    want, _ = _gan(False, iterations=12, critic=5)
    _same(got, want)
    assert log[-4:] == [(11, 6)] * 4, log


def _heads(on, order):
    """Two heads trained by their own trainers on a shared trunk, in the order given ('a' or
    'b' per step): parameters, and per step (native calls, captured steps)."""
    capture.set_enabled(on)
    mx.random.seed(6)
    trunk = _mlp(8, 8, 4)
    head_a, head_b = gluon.nn.Dense(3, in_units=8), gluon.nn.Dense(1, in_units=8)
    for head in (head_a, head_b):
        head.initialize()
        head.hybridize()
    shared = list(trunk.collect_params().values())
    trainer_a = gluon.Trainer(shared + list(head_a.collect_params().values()), "sgd",
                              {"learning_rate": 0.1})
    trainer_b = gluon.Trainer(head_b.collect_params(), "adam", {"learning_rate": 0.01})
    ce, l2 = gluon.loss.SoftmaxCrossEntropyLoss(), gluon.loss.L2Loss()
    log = StepCounts()
    for i, which in enumerate(order):
        rs = np.random.RandomState(i)
        x = nd.array(rs.rand(5, 4).astype(np.float32))
        with log.step():
            with autograd.record():
                if which == "a":
                    loss = ce(head_a(trunk(x)),
                              nd.array(rs.randint(0, 3, 5).astype(np.float32)))
                else:
                    loss = l2(head_b(trunk(x)), nd.array(rs.rand(5, 1).astype(np.float32)))
            loss.backward()
            (trainer_a if which == "a" else trainer_b).step(5)
    capture.set_enabled(True)
    params = [p.data().asnumpy() for net in (trunk, head_a, head_b)
              for p in net.collect_params().values()]
    return params, log


def test_two_heads_in_turns_on_a_shared_trunk_are_both_captured_and_exact():
    order = "ab" * 24
    got, log = _heads(True, order)
    want, _ = _heads(False, order)
    _same(got, want)
    assert log[-12:] == [(1, 1)] * 12, log


def test_switching_between_the_two_kinds_of_step_stays_exact():
    order = "a" * 12 + "b" * 12 + "ab" * 8 + "a" * 10 + "bba" * 4
    got, log = _heads(True, order)
    want, _ = _heads(False, order)
    _same(got, want)
    assert sum(c for _, c in log) >= len(order) // 2, log
