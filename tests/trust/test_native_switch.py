"""The policy for eager gradients that switch to native code at the NATIVE_AFTER-th step: the
switch is counted, each mode is deterministic, the two agree to rounding, and
TRACEGRAD_EAGER_NATIVE_AFTER=0 keeps every step bitwise identical."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, nd
from tracegrad.runtime import tape


def grads(steps):
    rng = np.random.default_rng(3)
    w = nd.array(rng.normal(size=(7, 5)).astype(np.float32))
    x = nd.array(rng.normal(size=(9, 7)).astype(np.float32))
    w.attach_grad()
    out, switched = [], []
    for _ in range(steps):
        before = mx.stats()["eager_adjoints_compiled"]
        with autograd.record():
            h = nd.tanh(nd.dot(x, w))
            loss = nd.mean(nd.exp(h) * nd.sigmoid(h)) + nd.sum(nd.log1p(h * h))
        loss.backward()
        out.append(w.grad.asnumpy().copy())
        switched.append(mx.stats()["eager_adjoints_compiled"] - before)
    return out, switched


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(tape, "_ADJOINTS", type(tape._ADJOINTS)())


def test_switch_happens_once_at_the_documented_step(fresh_cache, monkeypatch):
    """(Step capture off: it would take the repeated step natively from its 3rd time.)"""
    monkeypatch.setattr(tape, "NATIVE_AFTER", 8)
    with capture.paused():
        gs, switched = grads(14)
    assert switched == [0] * 7 + [1] + [0] * 6
    for g in gs[1:7]:
        np.testing.assert_array_equal(g, gs[0])       # interpreted: bitwise stable
    for g in gs[8:]:
        np.testing.assert_array_equal(g, gs[7])       # native: bitwise stable
    np.testing.assert_allclose(gs[7], gs[0], rtol=2e-6, atol=1e-7)  # and they agree


def test_opt_out_keeps_every_step_bitwise_identical(fresh_cache, monkeypatch):
    """Step capture on (as users run): it leaves such steps alone too, and says why."""
    monkeypatch.setattr(tape, "NATIVE_AFTER", 0)
    before = mx.stats()["captured_steps"]
    gs, switched = grads(12)
    assert not any(switched) and mx.stats()["captured_steps"] == before
    assert "TRACEGRAD_EAGER_NATIVE_AFTER=0" in capture.explain()
    for g in gs[1:]:
        np.testing.assert_array_equal(g, gs[0])


def test_a_failed_switch_keeps_the_interpreter(fresh_cache, monkeypatch):
    """Compiling the adjoint is an optimization: when it fails (an LLVM error), the step says
    so once and the gradients stay the interpreter's, exactly."""
    from tracegrad.runtime import segments

    def broken(fn, donate=None):
        raise RuntimeError("no LLVM today")
    monkeypatch.setattr(tape, "NATIVE_AFTER", 3)
    monkeypatch.setattr(segments, "compile_callable", broken)
    with capture.paused():
        with pytest.warns(RuntimeWarning, match="no LLVM today.*stays interpreted"):
            gs, switched = grads(6)
    assert switched == [0] * 6
    for g in gs[1:]:
        np.testing.assert_array_equal(g, gs[0])
