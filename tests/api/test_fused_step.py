"""The fused training step: once backward() has twice come straight from a compiled call's
output, the call computes its gradients in the same native call; backward() then only hands
them over. Every way of leaving that pattern must still give eager's gradients.

That is the step of a call alone when step capture does not learn it (capture off, or a
structure capture declined for good); while capture learns, such a step is left to it
(test_capture_one_block_step.py)."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, nd
from tracegrad.tracing.jit import jit
from arrays import keep_dtype


RS = np.random.RandomState(7)


@pytest.fixture(autouse=True)
def _capture_off():
    """The fused step of a call alone is what capture-off code gets (with capture on:
    test_capture_one_block_step.py)."""
    with capture.paused():
        yield


def loss_fn(x, w, b):
    return nd.sum(nd.tanh(nd.dot(x, w) + b) ** 2)


def _vars():
    w = keep_dtype(RS.randn(4, 3).astype(np.float64))
    b = keep_dtype(RS.randn(3).astype(np.float64))
    w.attach_grad()
    b.attach_grad()
    return w, b


def _reach_fused_step(f, x, w, b):
    """Three direct backward() calls: the third forward already runs fused."""
    for _ in range(3):
        with autograd.record():
            y = f(x, w, b)
        y.backward()
    return y


def _eager_grads(x, w, b):
    we, be = keep_dtype(w.asnumpy()), keep_dtype(b.asnumpy())
    we.attach_grad()
    be.attach_grad()
    with autograd.record():
        y = loss_fn(x, we, be)
    y.backward()
    return we.grad.asnumpy(), be.grad.asnumpy()


def test_steps_become_one_native_call_with_eager_gradients():
    f = jit(loss_fn)
    w, b = _vars()
    for step in range(6):
        x = keep_dtype(RS.randn(5, 4))
        mx.stats(reset=True)
        with autograd.record():
            y = f(x, w, b)
        y.backward()
        calls = mx.stats()["native_calls"]
        assert calls == (2 if step < 2 else 1), (step, calls)
        want_w, want_b = _eager_grads(x, w, b)
        np.testing.assert_allclose(w.grad.asnumpy(), want_w, rtol=1e-10)
        np.testing.assert_allclose(b.grad.asnumpy(), want_b, rtol=1e-10)
        np.testing.assert_allclose(y.asnumpy(), loss_fn(x, w, b).asnumpy(), rtol=1e-12)


def test_grad_req_add_and_retain_graph_through_the_fused_step():
    f = jit(loss_fn)
    w, b = _vars()
    x = keep_dtype(RS.randn(5, 4))
    y = _reach_fused_step(f, x, w, b)
    want_w, _ = _eager_grads(x, w, b)
    w.attach_grad(grad_req="add")
    with autograd.record():
        y = f(x, w, b)
    y.backward(retain_graph=True)   # the fused gradients
    y.backward()                    # the ordinary adjoint, from the residuals
    np.testing.assert_allclose(w.grad.asnumpy(), 2 * want_w, rtol=1e-10)


def test_leaving_the_pattern_falls_back_and_stays_correct():
    f = jit(loss_fn)
    w, b = _vars()
    x = keep_dtype(RS.randn(5, 4))
    y = _reach_fused_step(f, x, w, b)
    want_w, want_b = _eager_grads(x, w, b)
    # the head is an eager op after the compiled call: the prediction is not used
    with autograd.record():
        y = f(x, w, b) * 3
    y.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), 3 * want_w, rtol=1e-10)
    # autograd.grad instead of backward
    with autograd.record():
        y = f(x, w, b)
    gw, gb = autograd.grad(y, [w, b])
    np.testing.assert_allclose(gw.asnumpy(), want_w, rtol=1e-10)
    # a head gradient other than ones
    with autograd.record():
        y = f(x, w, b)
    y.backward(nd.array([0.5], dtype="float64"))
    np.testing.assert_allclose(b.grad.asnumpy(), 0.5 * want_b, rtol=1e-10)
    # grad_req changed between forward and backward
    with autograd.record():
        y = f(x, w, b)
    b.attach_grad(grad_req="null")
    y.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), want_w, rtol=1e-10)


def test_one_array_passed_twice_gets_the_sum_of_both_gradients():
    f = jit(lambda a, c: nd.sum(a * nd.sin(c)))
    x = keep_dtype(RS.randn(6))
    x.attach_grad()
    for _ in range(4):
        with autograd.record():
            y = f(x, x)
        y.backward()
        v = x.asnumpy()
        np.testing.assert_allclose(x.grad.asnumpy(), np.sin(v) + v * np.cos(v), rtol=1e-10)


def test_a_freed_graph_still_says_so():
    f = jit(loss_fn)
    w, b = _vars()
    x = keep_dtype(RS.randn(5, 4))
    y = _reach_fused_step(f, x, w, b)
    with pytest.raises(mx.MXNetError, match="retain_graph"):
        y.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with autograd.record():
            y = f(x, w, b)
        y.backward()

