"""MXNet 1.9.1's AdaDelta.update rescales the caller's gradient in place (`grad *=
rescale_grad`; the clip that follows makes a new array), so after an update (called by hand
or by an Updater) the gradient NDArray holds rescale_grad * grad. The other optimizers of
optimizer.py leave it alone, and a float16 weight with multi_precision updates from a
float32 copy of the gradient. gluon.Trainer gives the optimizer each parameter's own gradient
(trainer.py:466), so after trainer.step p.grad() holds grad / batch_size too, in every path
of the step: a captured step with the update fused in, the eager step's fused update, the
update parameter by parameter, and grad_req='add' accumulating onto the rescaled gradient."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

G0 = np.array([1.0, -2.0, 3.0, -0.25], np.float32)


def _adadelta_step(w, g, rho=0.9, eps=1e-5, rescale=0.5, clip=None, wd=0.0):
    """One AdaDelta step from zero states, float64 (MXNet's update, optimizer.py:1801)."""
    g = g.astype(np.float64) * rescale
    if clip is not None:
        g = np.clip(g, -clip, clip)
    acc_g = (1 - rho) * g * g
    delta = np.sqrt(eps) / np.sqrt(acc_g + eps) * g
    return w - (delta + wd * w)


@pytest.mark.parametrize("clip", [None, 0.6])
def test_update_leaves_the_gradient_rescaled_not_clipped(clip):
    opt = mx.optimizer.create("adadelta", rescale_grad=0.5, clip_gradient=clip, wd=0.01)
    w, g = nd.ones((4,)), nd.array(G0)
    opt.update(0, w, g, opt.create_state(0, w))
    np.testing.assert_array_equal(g.asnumpy(), G0 * np.float32(0.5))
    np.testing.assert_allclose(w.asnumpy(), _adadelta_step(np.ones(4), G0, clip=clip,
                                                           wd=0.01), rtol=1e-5)


def test_updater_one_index_and_several_fused():
    opt = mx.optimizer.create("adadelta", rescale_grad=0.25)
    upd = mx.optimizer.get_updater(opt)
    w, g = nd.ones((4,)), nd.array(G0)
    upd(0, g, w)
    np.testing.assert_allclose(g.asnumpy(), G0 * 0.25, rtol=1e-6)
    ws, gs = [nd.ones((4,)), nd.ones((4,))], [nd.array(G0), nd.array(2 * G0)]
    upd([1, 2], gs, ws)           # (one fused native update of both)
    for k, (w, g) in enumerate(zip(ws, gs)):
        np.testing.assert_allclose(g.asnumpy(), (k + 1) * G0 * 0.25, rtol=1e-6)
        np.testing.assert_allclose(w.asnumpy(), _adadelta_step(np.ones(4), (k + 1) * G0,
                                                               rescale=0.25), rtol=1e-5)


def test_multi_precision_updates_from_a_copy():
    opt = mx.optimizer.create("adadelta", rescale_grad=0.5, multi_precision=True)
    w, g = nd.ones((4,), dtype="float16"), nd.array(G0, dtype="float16")
    opt.update_multi_precision(0, w, g, opt.create_state_multi_precision(0, w))
    np.testing.assert_array_equal(g.asnumpy(), G0.astype(np.float16))


@pytest.mark.parametrize("name", ["sgd", "adam", "adagrad", "rmsprop", "ftrl", "adamax",
                                  "nadam", "dcasgd", "sgld", "signum", "nag", "ftml"])
def test_other_optimizers_leave_the_gradient_alone(name):
    opt = mx.optimizer.create(name, rescale_grad=0.5, clip_gradient=0.6)
    upd = mx.optimizer.get_updater(opt)
    w, g = nd.ones((4,)), nd.array(G0)
    upd(0, g, w)
    np.testing.assert_array_equal(g.asnumpy(), G0)


X = np.array([[0.3, 0.5], [-1.0, 2.0], [0.25, -0.75], [1.5, 0.5]], np.float32)
Y = np.array([[1.5], [-0.5], [0.25], [2.0]], np.float32)


def _raw_grads(net):
    """(dL/dW, dL/db) of the L2 loss summed over the batch, float64, at the net's weights."""
    w, b = net.weight.data().asnumpy().astype(np.float64), net.bias.data().asnumpy()
    r = X @ w.T + b - Y
    return r.T @ X, r.sum(0)


@pytest.mark.usefixtures("fresh_capture")    # (no plan of an earlier test; a slow build
@pytest.mark.parametrize("path", ["captured", "eager fused", "per parameter", "add"])
def test_trainer_leaves_the_gradients_rescaled(path):  # still fuses the update in 6 steps)
    from tracegrad import autograd, capture, gluon
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize(mx.init.Constant(0.2))
    if path == "captured":
        net.hybridize()
    if path == "add":
        net.collect_params().setattr("grad_req", "add")
    trainer = gluon.Trainer(net.collect_params(), "adadelta", {"wd": 0.01})
    if path == "per parameter":
        trainer._fused = False
    loss_fn = gluon.loss.L2Loss()
    fused = mx.stats()["fused_update_steps"]
    acc = [np.zeros((1, 2)), np.zeros(1)]
    for _ in range(6):
        want = _raw_grads(net)
        with capture.paused() if path != "captured" else _nothing():
            with autograd.record():
                loss = loss_fn(net(nd.array(X)), nd.array(Y))
            loss.backward()
            trainer.step(4)
        for k, p in enumerate((net.weight, net.bias)):
            g = want[k] if path != "add" else acc[k] + want[k]
            acc[k] = g / 4
            np.testing.assert_allclose(p.grad().asnumpy(), g / 4, rtol=1e-5, atol=1e-7)
    if path == "captured":
        assert mx.stats()["fused_update_steps"] > fused     # (the one-call step was taken)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
