"""The fused training step writes only the loss and the gradient: its residuals stay inside
the one loop nest. A backward that does not take the predicted gradients (a second backward,
another head gradient, higher order) recomputes the forward from the call's operands."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, nd


@pytest.fixture(autouse=True)
def _capture_off():
    """The fused step is the path of a call alone that step capture does not learn
    (test_capture_one_block_step.py): here, with capture paused."""
    with capture.paused():
        yield


def workload(x):
    return nd.sum(nd.tanh(x) * nd.sigmoid(x) + 0.5 * x * x)


def truth(v):
    """Loss and gradient in float64 numpy."""
    v = v.astype(np.float64)
    t, s = np.tanh(v), 1 / (1 + np.exp(-v))
    return (t * s + 0.5 * v * v).sum(), (1 - t * t) * s + t * s * (1 - s) + v


def _fused(f, x):
    """Steps until the training entry runs its fused step; returns (entry, loss)."""
    for _ in range(4):
        with autograd.record():
            loss = f(x)
        loss.backward()
    e = f.last
    assert e.fused is not None
    return e, loss


def test_fused_step_writes_loss_and_gradient_only():
    n = 4096
    xv = np.random.default_rng(3).normal(size=n).astype(np.float32)
    x = nd.array(xv)
    x.attach_grad()
    f = mx.jit(workload)
    e, loss = _fused(f, x)
    assert len(e.forward_fn.outputs) > 1           # the plain forward does keep residuals
    specs = e.fused.module.output_specs
    assert [tuple(s) for s, _, _ in specs] == [(1,), (n,)], specs   # MXNet sum: shape (1,)
    plan = e.fused.memory_plan()
    assert plan["output_bytes"] == 4 + 4 * n, plan
    mx.stats(reset=True)
    with autograd.record():
        loss = f(x)
    loss.backward()
    assert mx.stats()["native_calls"] == 1
    want_loss, want_grad = truth(xv)
    np.testing.assert_allclose(loss.asscalar(), want_loss, rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), want_grad, rtol=1e-5, atol=1e-6)
    # eager tracegrad agrees
    xe = nd.array(xv)
    xe.attach_grad()
    with autograd.record():
        le = workload(xe)
    le.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), xe.grad.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.asscalar(), le.asscalar(), rtol=1e-6)


def test_fused_gradient_matches_finite_differences_in_float64():
    xv = np.random.default_rng(4).normal(size=64)
    x = nd.array(xv, dtype="float64")
    x.attach_grad()
    f = mx.jit(workload)
    _fused(f, x)
    with autograd.record():
        f(x).backward()
    eps, got = 1e-6, x.grad.asnumpy()
    for i in (0, 17, 63):
        up, dn = xv.copy(), xv.copy()
        up[i] += eps
        dn[i] -= eps
        fd = (truth(up)[0] - truth(dn)[0]) / (2 * eps)
        assert abs(got[i] - fd) <= 1e-6 * max(1.0, abs(fd)), (i, got[i], fd)
    np.testing.assert_allclose(got, truth(xv)[1], rtol=1e-12)


def test_a_missed_prediction_recomputes_the_forward():
    xv = np.random.default_rng(5).normal(size=256)
    x = nd.array(xv, dtype="float64")
    x.attach_grad()
    f = mx.jit(workload)
    e, _ = _fused(f, x)
    want = truth(xv)[1]
    with autograd.record():
        y = f(x)
    assert len(y._value.producer.results) == 1     # the record holds no residual
    y.backward(retain_graph=True)                  # the predicted gradients
    np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-12)
    mx.stats(reset=True)
    y.backward(nd.array([0.5], dtype="float64"))   # again: forward recomputed, then adjoint
    assert mx.stats()["native_calls"] == 2
    np.testing.assert_allclose(x.grad.asnumpy(), 0.5 * want, rtol=1e-12)
    # second order through a fused step's record: d/dx sum(dloss/dx)
    with autograd.record():
        y = f(x)
        (g,) = autograd.grad(y, [x], create_graph=True)
        z = nd.sum(g)
    z.backward()
    t, s = np.tanh(xv), 1 / (1 + np.exp(-xv))
    dt, ds = 1 - t * t, s * (1 - s)
    second = -2 * t * dt * s + 2 * dt * ds + t * ds * (1 - 2 * s) + 1
    np.testing.assert_allclose(x.grad.asnumpy(), second, rtol=1e-10, atol=1e-12)
