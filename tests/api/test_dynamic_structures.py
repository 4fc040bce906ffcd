"""Programs whose graph changes between batches (a sequence length drawn per batch) must not
pay, for structures that come back only now and then, the costs that only a repeated step
earns back: the eager adjoint's optimizing passes and native compile (runtime/tape.Adjoint)
and a captured plan's compile (tracing/capture.observe). A structure counts as hot once it
has come back often enough within a window of backward passes; big graphs need more repeats."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.runtime import tape
from tracegrad.tracing import capture as cap

pytestmark = pytest.mark.usefixtures("fresh_capture")

_W0 = np.array([[0.5], [-0.25], [1.5]], np.float32)
_X0 = np.array([[0.3, -1.2, 2.0]], np.float32)


def _backward(width, w=None):
    """One backward of a short chain ending in a (1, width) broadcast (each width: its own
    structure)."""
    w = nd.array(_W0) if w is None else w
    w.attach_grad()
    with autograd.record():
        h = nd.dot(nd.array(_X0), w)
        for _ in range(3):
            h = nd.tanh(h * 0.5 + 0.1)
        y = (h * nd.ones((1, width))).sum()
    y.backward()
    return w


def _want(depth, width=1):
    h = _X0.astype(np.float64) @ _W0
    pre = []
    for _ in range(depth):
        pre.append(np.tanh(h * 0.5 + 0.1))
        h = pre[-1]
    d = np.ones_like(h) * width
    for t in reversed(pre):
        d = d * (1 - t ** 2) * 0.5
    return _X0.T.astype(np.float64) @ d


def _adjoint_of(width):
    before = set(tape._ADJOINTS)
    _backward(width)
    new = set(tape._ADJOINTS) - before
    assert len(new) == 1
    return tape._ADJOINTS[new.pop()]


def test_a_structure_seen_twice_is_walked_and_its_adjoint_keeps_one_identity(monkeypatch):
    """Graphs that change every step (a sequence length drawn per batch) are walked op by op
    (runtime/op_adjoints.py): the whole adjoint is derived and optimized at a structure's
    third backward, on the same Adjoint object (step capture counts repeats by its
    identity). Both ways give the gradient."""
    monkeypatch.setattr(tape, "NATIVE_AFTER", 8)     # (the default policy)
    calls = []
    real = tape.run_pipeline
    monkeypatch.setattr(tape, "run_pipeline", lambda fn, p: calls.append(p) or real(fn, p))
    width = 60001 + np.random.RandomState(0).randint(0, 1000)   # a structure no test made
    before = set(tape._ADJOINTS)
    grads = [_backward(width).grad.asnumpy()]
    assert calls == []                 # seen once: walked op by op
    (key,) = set(tape._ADJOINTS) - before
    first = tape._ADJOINTS[key]
    assert not first.optimized
    grads.append(_backward(width).grad.asnumpy())
    assert calls == [] and not first.optimized and first.program is None   # twice: still
    grads.append(_backward(width).grad.asnumpy())
    assert calls and tape._ADJOINTS[key] is first and first.optimized
    for g in grads:
        np.testing.assert_allclose(g, _want(3, width), rtol=1e-5)


def test_a_structure_that_comes_back_rarely_is_walked_op_by_op(monkeypatch):
    monkeypatch.setattr(tape, "NATIVE_AFTER", 8)
    base = 3000 + np.random.RandomState(1).randint(0, 1000) * 50
    adj = _adjoint_of(base)
    for k in range(2):      # two more sightings, each after more distinct structures than the
        for j in range(tape.SPARSE * tape.HOT_AFTER):    # window holds
            _backward(base + 1 + k * 100 + j)
        w = _backward(base)
        np.testing.assert_allclose(w.grad.asnumpy(), _want(3, base), rtol=1e-5)
    assert not adj.optimized and adj.program is None      # walked op by op, never derived
    before = mx.stats()
    for _ in range(tape.HOT_AFTER):     # then it repeats back to back: hot
        w = _backward(base)
    assert adj.optimized
    after = mx.stats()          # (walked until hot, then derived once)
    assert 1 <= after["eager_backward_walks"] - before["eager_backward_walks"] < tape.HOT_AFTER
    assert after["eager_adjoints_derived"] - before["eager_adjoints_derived"] == 1
    np.testing.assert_allclose(w.grad.asnumpy(), _want(3, base), rtol=1e-5)


def test_repeats_among_many_structures_count_only_back_to_back(monkeypatch):
    """A program whose graph changes every batch brings a structure back 3 times within the
    window by chance: with more other structures among its passes than gaps between its
    repeats that is not hot. A few structures in turns are, whatever ran just before them."""
    monkeypatch.setattr(tape, "NATIVE_AFTER", 8)
    base = 3000 + np.random.RandomState(2).randint(0, 1000) * 50 + 25
    adj = _adjoint_of(base)
    for k in range(2):      # 3 sightings within SPARSE * HOT_AFTER passes, 10 others between
        for j in range(10):
            _backward(base + 1 + k * 100 + j)
        _backward(base)
    assert adj.times[-1] - adj.times[0] + 1 <= tape.SPARSE * tape.HOT_AFTER
    assert not adj.optimized and adj.program is None
    b, c = base + 60, base + 61     # right after them, three structures in turns
    adj_b = _adjoint_of(b)
    _backward(c)
    w = _backward(base)
    for _ in range(tape.HOT_AFTER - 1):
        _backward(b)
        _backward(c)
        w = _backward(base)
    assert adj_b.optimized and adj.optimized    # (b: 3 passes over 7, 3 structures in them)
    np.testing.assert_allclose(w.grad.asnumpy(), _want(3, base), rtol=1e-5)


def _chain(w, length):
    h = nd.dot(nd.array(_X0), w)
    for _ in range(length):
        h = nd.tanh(h * 0.5 + 0.1)
    return h.sum()


def _step(w, length):
    with autograd.record():
        loss = _chain(w, length)      # (no intermediate array alive at backward)
    loss.backward()


def test_a_step_structure_that_comes_back_rarely_is_not_learned():
    w = nd.array(_W0)
    w.attach_grad()
    before = mx.stats()["traces"]
    for k in range(3):       # its 3 repeats spread over more passes than the window allows
        _step(w, 5)
        for j in range(tape.SPARSE * cap.REPEATS):
            _step(w, 6 + k * 100 + j)
    assert mx.stats()["traces"] == before and not any(cap._STATE.plans.values())
    got = []
    for _ in range(5):       # back to back: once its last REPEATS passes are close together
        c = mx.stats()["captured_steps"]      # it is learned, then captured
        _step(w, 5)
        got.append(mx.stats()["captured_steps"] - c)
    assert got == [0, 0, 0, 1, 1], (got, cap.explain())
    np.testing.assert_allclose(w.grad.asnumpy(), _want(5), rtol=1e-5)


def test_a_big_graph_needs_more_repeats_before_it_is_compiled():
    assert cap._repeats_needed(40) == cap.REPEATS
    assert cap._repeats_needed(cap.BIG_PLAN) == cap.REPEATS
    need = cap._repeats_needed(2 * cap.BIG_PLAN)
    assert need == cap.REPEATS + 2
    w = nd.array(_W0)
    w.attach_grad()
    got = []
    for _ in range(need + 2):    # ~3 ops per tanh step: a graph over 2 * BIG_PLAN ops
        c = mx.stats()["captured_steps"]
        _step(w, 2 * cap.BIG_PLAN // 3 + 10)
        got.append(mx.stats()["captured_steps"] - c)
    assert got == [0] * need + [1, 1], got
