"""Step capture of the CNN and RNN training steps users write (scripts/fuzz_models.py finds
these): each captures and gives the parameters the same steps give with capture off."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd

pytestmark = pytest.mark.usefixtures("fresh_capture")


def _train(make, batch, on, steps=6, opt="sgd", params=None, loss_fn=None):
    """(parameters, losses, captured steps) after `steps` usual steps of make()'s net."""
    capture.set_enabled(on)
    net = make()
    loss_fn = loss_fn or gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), opt, params or {"learning_rate": 0.1})
    rs = np.random.RandomState(0)
    before = mx.stats()["captured_steps"]
    losses = []
    for _ in range(steps):
        x, y = batch(rs)
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        losses.append(loss.asnumpy())
    captured = mx.stats()["captured_steps"] - before
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], losses, captured


def _same(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=1e-6)


def _conv_net():
    mx.random.seed(1)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, padding=1, in_channels=2), gluon.nn.Flatten(),
            gluon.nn.Dense(3, in_units=100))
    net.initialize(mx.init.Xavier())
    return net


def _image_batch(rs):
    return (nd.array(rs.randn(4, 2, 5, 5).astype(np.float32)),
            nd.array(rs.randn(4, 3).astype(np.float32)))


def test_an_eager_conv_net_is_captured():
    # eager Conv2D calls matmul without attributes: the plan holds its defaults
    # (transpose_a/b False) and must still match it
    on, loss_on, captured = _train(_conv_net, _image_batch, True)
    off, loss_off, _ = _train(_conv_net, _image_batch, False)
    assert captured >= 2
    _same(on, off)
    _same(loss_on, loss_off)
