"""MXNet 1.9.1's AdaDelta.update rescales the caller's gradient in place (`grad *=
rescale_grad`; the clip that follows makes a new array), so after an update (called by hand
or by an Updater) the gradient NDArray holds rescale_grad * grad. The other optimizers of
optimizer.py leave it alone, and a float16 weight with multi_precision updates from a
float32 copy of the gradient. (gluon.Trainer and Module leave every gradient alone, in all
their paths: see the report of this change.)"""
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
