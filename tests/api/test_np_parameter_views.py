"""Under set_np, Parameter.data() is the parameter's array as MXNet gives it: one object, kept
up to date through the optimizer's updates. A view kept across trainer.step (d2l's style
transfer keeps its image parameter's) used to keep the old values while the gradient reached
the new ones, so the loss never moved."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, init, nd, npx
from tracegrad import np as mnp


def run_kept_view(optimizer, steps=4):
    """(losses, final weight) of sum(X * X) minimised through a kept X = p.data()."""
    p = gluon.Parameter("w", shape=(3,))
    p.initialize(init.Constant(1.5))
    x = p.data()
    trainer = gluon.Trainer([p], optimizer, {"learning_rate": 0.1})
    losses = []
    for _ in range(steps):
        with autograd.record():
            loss = (x * x).sum()
        loss.backward()
        trainer.step(1)
        losses.append(float(loss))
        onp.testing.assert_array_equal(x.asnumpy(), p.data().asnumpy())
    return losses, p.data().asnumpy()


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_a_kept_view_follows_the_updates(np_mode, fresh_capture, optimizer):
    losses, weight = run_kept_view(optimizer)
    npx.reset_np()
    want_losses, want_weight = run_kept_view(optimizer)     # nd: data() is the array itself
    onp.testing.assert_allclose(losses, want_losses, rtol=1e-6)
    onp.testing.assert_allclose(weight, want_weight, rtol=1e-6)
    assert losses[-1] < losses[0]


def test_sgd_steps_against_the_formula(np_mode, fresh_capture):
    losses, weight = run_kept_view("sgd", steps=3)
    w = onp.full(3, 1.5)
    for k in range(3):
        assert losses[k] == pytest.approx(float((w * w).sum()), rel=1e-6)
        w = w - 0.1 * 2 * w
    onp.testing.assert_allclose(weight, w, rtol=1e-6)


def test_data_is_one_object_and_asnumpy_a_copy(np_mode, fresh_capture):
    p = gluon.Parameter("w", shape=(2,))
    p.initialize(init.One())
    assert p.data() is p.data()
    assert isinstance(p.data(), mnp.ndarray)
    copy = p.data().asnumpy()
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0})
    with autograd.record():
        loss = p.data().sum()
    loss.backward()
    trainer.step(1)
    onp.testing.assert_array_equal(copy, [1.0, 1.0])          # a copy keeps its values
    onp.testing.assert_array_equal(p.data().asnumpy(), [0.0, 0.0])


class _Image(gluon.Block):
    """d2l's SynthesizedImage: the image is the block's only parameter."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get("weight", shape=shape)

    def forward(self):
        return self.weight.data()


def style_transfer_losses(np_on):
    if np_on:
        npx.set_np()
    try:
        mx.random.seed(0)
        features = gluon.nn.HybridSequential()
        features.add(gluon.nn.Conv2D(4, 3, activation="relu"), gluon.nn.Conv2D(4, 3))
        features.initialize()
        features.hybridize()
        start = onp.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype("float32")
        image = _Image((1, 3, 8, 8))
        image.initialize(init.Constant(nd.array(start)))
        trainer = gluon.Trainer(image.collect_params(), "adam", {"learning_rate": 0.1})
        x = image()             # kept for the whole loop, as d2l's train() keeps it
        target = (mnp if np_on else nd).zeros((1, 4, 4, 4))
        losses = []
        for _ in range(8):      # (long enough for step capture to take the loop over)
            with autograd.record():
                loss = ((features(x) - target) ** 2).sum()
            loss.backward()
            trainer.step(1)
            losses.append(float(loss))
        onp.testing.assert_array_equal(x.asnumpy(), image.weight.data().asnumpy())
        return losses
    finally:
        npx.reset_np()


def test_style_transfer_loop_with_a_kept_image(fresh_capture):
    np_losses = style_transfer_losses(True)
    nd_losses = style_transfer_losses(False)
    onp.testing.assert_allclose(np_losses, nd_losses, rtol=1e-5)
    assert np_losses[-1] < 0.2 * np_losses[0]
