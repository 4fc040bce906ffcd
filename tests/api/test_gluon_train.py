"""Training: the autograd tutorial's regression example, Trainer and optimizers against their
MXNet formulas written out in numpy, stale gradients, metrics, and an MLP that learns."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn
from tracegrad.gluon.loss import L2Loss
from tracegrad.gluon.nn import Dense, HybridSequential
from arrays import keep_dtype


def _tutorial_net():
    net = HybridSequential()
    net.add(Dense(3), Dense(1))
    net.initialize()
    return net


def _by_hand(net, x, y):
    """Gradients of L2Loss(net(x), y) for Dense(3) -> Dense(1), written out in numpy."""
    w0, b0 = net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()
    w1, b1 = net[1].weight.data().asnumpy(), net[1].bias.data().asnumpy()
    h = x @ w0.T + b0
    d_out = (h @ w1.T + b1) - y                  # d/dyhat of 0.5 * (yhat - y)^2
    dh = d_out @ w1
    return {"w0": dh.T @ x, "b0": dh.sum(0), "w1": d_out.T @ h, "b1": d_out.sum(0)}


@pytest.mark.parametrize("hybrid", [False, True])
def test_tutorial_regression_and_frozen_layer(hybrid):
    net, loss_fn = _tutorial_net(), L2Loss()
    if hybrid:
        net.hybridize()
    x, y = mx.nd.array([[0.3, 0.5]]), mx.nd.array([[1.5]])
    with autograd.record():
        y_hat = net(x)
        loss = loss_fn(y_hat, y)
    loss.backward()
    want = _by_hand(net, x.asnumpy(), y.asnumpy())
    np.testing.assert_allclose(net[0].weight.grad().asnumpy(), want["w0"], rtol=1e-5)
    np.testing.assert_allclose(net[0].bias.grad().asnumpy(), want["b0"], rtol=1e-5)
    assert np.abs(want["w0"]).max() > 1e-3
    net[0].weight.grad_req = "null"
    net[1].weight.zero_grad()
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    with pytest.raises(RuntimeError, match="grad_req='null'"):
        net[0].weight.grad()
    for name, p in [("b0", net[0].bias), ("w1", net[1].weight), ("b1", net[1].bias)]:
        np.testing.assert_allclose(p.grad().asnumpy(), want[name], rtol=1e-5, atol=1e-8)


def _formula_step(name, w, g, state, t, lr, wd, clip, rescale, momentum):
    """One MXNet update of weight w (numpy, float64) for gradient g; returns (w, state)."""
    def clipped(v):
        return np.clip(v, -clip, clip)
    if name == "sgd":
        state = momentum * state - lr * (clipped(rescale * g) + wd * w)
        return w + state, state
    if name == "nag":   # MXNet 1.9.1's nag_mom_update kernel, the weight written in place
        gc = clipped(rescale * g)
        m = momentum * state
        new = w - m + (momentum + 1) * (m - lr * (gc + wd * w))
        return new, m - lr * (gc + wd * new)
    if name == "adam":
        gw = clipped(rescale * g + wd * w)
        m, v = state
        m, v = 0.9 * m + 0.1 * gw, 0.999 * v + 0.001 * gw ** 2
        lr_t = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        return w - lr_t * m / (np.sqrt(v) + 1e-8), (m, v)
    if name == "rmsprop":
        gw = clipped(rescale * g + wd * w)
        state = 0.9 * state + 0.1 * gw ** 2
        return w - lr * gw / np.sqrt(state + 1e-8), state
    gw = clipped(rescale * g)  # adagrad
    state = state + gw ** 2
    return w - lr * (gw / np.sqrt(state + 1e-7) + wd * w), state


@pytest.mark.parametrize("name", ["sgd", "nag", "adam", "rmsprop", "adagrad"])
def test_optimizer_formulas(name, rng):
    w0 = rng.standard_normal((3, 4))
    p = gluon.Parameter("w_weight", shape=w0.shape, dtype="float64")
    p.initialize(mx.init.Constant(w0))
    extra = {"momentum": 0.9} if name in ("sgd", "nag") else {}
    trainer = gluon.Trainer([p], name, dict(learning_rate=0.1, wd=0.01, clip_gradient=0.8,
                                            **extra))
    w = w0.copy()
    state = (np.zeros_like(w), np.zeros_like(w)) if name == "adam" else np.zeros_like(w)
    for t in range(1, 4):
        g = rng.standard_normal(w.shape) * 2
        with autograd.record():
            loss = (p.data() * keep_dtype(g)).sum()
        loss.backward()
        trainer.step(batch_size=2)
        w, state = _formula_step(name, w, g, state, t, 0.1, 0.01, 0.8, 0.5,
                                 extra.get("momentum", 0.0))
        np.testing.assert_allclose(p.data().asnumpy(), w, rtol=1e-10, atol=1e-12)


def test_trainer_learning_rate_stale_and_constants():
    net = nn.Dense(2, in_units=2)
    net.initialize()
    const = net.params.get_constant("c", [1.0, 1.0])
    const.initialize()
    trainer = gluon.Trainer(net.collect_params(), mx.optimizer.SGD(learning_rate=0.5))
    assert trainer.learning_rate == 0.5
    trainer.set_learning_rate(0.25)
    assert trainer.learning_rate == 0.25
    w = net.weight.data()
    ptr = w._data
    x = nd.ones((1, 2))
    with autograd.record():
        (net(x) + const.data()).sum().backward()
    before = w.asnumpy()
    trainer.step(1)
    # the fused update swaps in the new buffer; the tape leaf follows it
    assert w._data is not ptr and w._value.data is w._data and net.weight.data() is w
    np.testing.assert_allclose(w.asnumpy(), before - 0.25, rtol=1e-6)
    np.testing.assert_array_equal(const.data().asnumpy(), [1, 1])
    with pytest.raises(UserWarning, match=r"dense\d+_weight.*ignore_stale_grad=True"):
        trainer.step(1)  # no backward since the last step
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_allclose(w.asnumpy(), before - 0.25, rtol=1e-6)  # stale: skipped
    assert isinstance(mx.optimizer.create("adam"), mx.optimizer.Adam)
    with pytest.raises(mx.MXNetError, match="unknown optimizer"):
        gluon.Trainer(net.collect_params(), "sgdd")


def test_metrics():
    acc = mx.metric.Accuracy()
    acc.update([nd.array([0, 1, 1])], [nd.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])])
    acc.update(nd.array([1]), nd.array([[0.1, 0.9]]))
    assert acc.get() == ("accuracy", 0.75)
    loss = mx.metric.Loss()
    loss.update(None, [nd.array([1.0, 2.0]), nd.array([3.0])])
    assert loss.get() == ("loss", 2.0)
    acc.reset()
    assert np.isnan(acc.get()[1])


def test_mlp_learns():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y = ((x ** 2).sum(1) < 0.5).astype(np.float32)  # inside / outside a circle
    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="tanh"), nn.Dense(16, activation="tanh"), nn.Dense(2))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.02})
    metric = mx.metric.Loss()
    for step in range(300):
        idx = rng.integers(0, 256, 64)
        data, label = keep_dtype(x[idx]), keep_dtype(y[idx])
        with autograd.record():
            loss = loss_fn(net(data), label)
        loss.backward()
        trainer.step(64)
        if step >= 280:
            metric.update(None, loss)
    assert metric.get()[1] < 0.15
    acc = mx.metric.Accuracy()
    acc.update(keep_dtype(y), net(keep_dtype(x)))
    assert acc.get()[1] > 0.95
