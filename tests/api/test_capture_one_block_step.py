"""A hybridized block holding its loss (the whole step's graph in one block): while step
capture learns, backward() from the call's output is left to it, so the
step becomes one native call with trainer.step's update (compiled.CAPTURE_LEARNS); a structure
capture declines for good gets the call's own fused step back (test_fused_step.py)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd

pytestmark = pytest.mark.usefixtures("fresh_capture")


class _NetWithLoss(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.net, self.loss = gluon.nn.Dense(2, in_units=3), gluon.loss.L2Loss()

    def forward(self, x, y):
        return self.loss(self.net(x), y)


def _one_block_steps(n, read_before_backward=False):
    """n usual steps of a hybridized block holding net and loss: per step (native calls,
    captured?), and the weights after."""
    mx.random.seed(11)
    model = _NetWithLoss()
    model.initialize()
    model.hybridize()
    trainer = gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": 0.1})
    x = nd.array(np.random.RandomState(2).randn(4, 3).astype(np.float32))
    y = nd.array(np.random.RandomState(3).randn(4, 2).astype(np.float32))
    log = []
    for _ in range(n):
        before = mx.stats()
        with autograd.record():
            loss = model(x, y)
        if read_before_backward:
            loss.asnumpy()      # a value read before backward(): capture cannot defer it
        loss.backward()
        trainer.step(4)
        after = mx.stats()
        log.append((after["native_calls"] - before["native_calls"],
                    after["captured_steps"] - before["captured_steps"]))
    return log, model.net.weight.data().asnumpy()


def test_capture_learns_the_step_of_a_block_holding_its_loss():
    """The step is captured (one native call, trainer.step's update in it), not left to the
    call's fused step (forward and gradients, then the update: two calls)."""
    log, got = _one_block_steps(10)
    assert log[-4:] == [(1, 1)] * 4, log
    with capture.paused():
        _, want = _one_block_steps(10)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_step_capture_declines_for_good_takes_the_fused_step_again():
    """Reading the loss before backward() every step makes every capture drop; once capture
    retires the structure for good, the call's fused step computes forward and gradients in
    one call again (then the update: two calls per step), with the same weights."""
    log, got = _one_block_steps(120, read_before_backward=True)
    assert all(c == 0 for _, c in log), log
    assert log[-4:] == [(2, 0)] * 4, log
    with capture.paused():
        _, want = _one_block_steps(120, read_before_backward=True)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_new_variables_every_step_keep_the_fused_step():
    """Gradients for a new input each step (x.attach_grad() per batch: saliency, adversarial
    examples) never repeat for capture: the call's fused step stays (one native call for the
    forward and the gradients), with eager's gradients."""
    f = mx.jit(lambda x, w: nd.sum(nd.tanh(nd.dot(x, w)) ** 2))
    w = nd.array(np.random.RandomState(4).randn(3, 2))
    calls = []
    for i in range(8):
        x = nd.array(np.random.RandomState(i).randn(5, 3))
        x.attach_grad()
        before = mx.stats()["native_calls"]
        with autograd.record():
            y = f(x, w)
        y.backward()
        calls.append(mx.stats()["native_calls"] - before)
        xe = nd.array(x.asnumpy())
        xe.attach_grad()
        with autograd.record():
            ye = nd.sum(nd.tanh(nd.dot(xe, w)) ** 2)
        ye.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), xe.grad.asnumpy(), rtol=1e-5, atol=1e-6)
    assert calls[-4:] == [1] * 4, calls
