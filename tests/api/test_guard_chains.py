"""Guard chains (tracing/guards.py Chain, codegen/chain.py): a path taken often runs as one
native call whose checks return before any code past a guard that did not match. Each test
proves the fast path is taken where it should be and falls back correctly otherwise: branch
flips, value-guard changes, a new shape, a non-contiguous input, chains turned off."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.array import wrap
from tracegrad.codegen import COUNTERS
from tracegrad.tracing import guards


def tutorial(x):
    y = x
    if x < 0.75:
        for _ in range(math.floor(1 / (1 - x.asscalar()))):
            y = y * x
    else:
        y = y * 0
    return y


def _grad(fn, v):
    x = nd.array([v])
    x.attach_grad()
    with autograd.record():
        y = fn(x)
    y.backward()
    return y.asnumpy()[0], x.grad.asnumpy()[0]


def _native_calls(thunk):
    n0 = COUNTERS["native_calls"]
    out = thunk()
    return out, COUNTERS["native_calls"] - n0


def test_tutorial_points_in_any_order_match_eager_and_chain():
    f = mx.jit(tutorial)
    points = [round(0.1 * i, 1) for i in range(10)]
    rng = np.random.default_rng(0)
    for _ in range(6):  # warm-up in order, then shuffled: every branch flips many times
        for v in points:
            assert _grad(f, v) == pytest.approx(_grad(tutorial, v), rel=1e-5, abs=1e-6)
    for _ in range(4):
        for v in rng.permutation(points):
            got = _grad(f, float(v))
            assert got == pytest.approx(_grad(tutorial, float(v)), rel=1e-5, abs=1e-6)
    tree = next(iter(f.cache.values()))
    assert any(tree.root.chains.values()), "no chain was built for a path taken often"
    # the same point twice: the second call and its backward are ONE native call
    _grad(f, 0.3)
    (_, g), calls = _native_calls(lambda: _grad(f, 0.3))
    assert calls == 1
    assert g == pytest.approx(2 * 0.3, rel=1e-5)  # floor(1 / 0.7) = 1 loop: y = x * x
    assert f.counts["eager_fallbacks"] == 0


def test_branch_flip_same_shape_compiled_equals_eager():
    def g(x, w):
        if x.sum() > 0:
            y = nd.relu(x * w) + 1
        else:
            y = nd.exp(x) * w
        return y.sum()

    f = mx.jit(g)
    rng = np.random.default_rng(1)
    w = nd.array(rng.standard_normal(5).astype(np.float32))
    w.attach_grad()
    for i in range(40):
        sign = 1.0 if rng.random() < 0.5 else -1.0
        x = nd.array((sign * np.abs(rng.standard_normal(5)) + 0.01 * sign).astype(np.float32))
        with autograd.record():
            y = f(x, w)
        y.backward()
        got_y, got_g = y.asnumpy(), w.grad.asnumpy().copy()
        with autograd.record():
            y2 = g(x, w)
        y2.backward()
        np.testing.assert_allclose(got_y, y2.asnumpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_g, w.grad.asnumpy(), rtol=1e-5, atol=1e-6)
    tree = next(iter(f.cache.values()))
    assert any(tree.root.chains.values())


def test_new_shape_and_unrecorded_calls_get_their_own_variants():
    f = mx.jit(lambda x: x * 2 if x.sum() > 0 else x * -3)
    for _ in range(5):
        np.testing.assert_allclose(f(nd.array([1.0, 2.0])).asnumpy(), [2.0, 4.0])
        np.testing.assert_allclose(f(nd.array([-1.0, -2.0])).asnumpy(), [3.0, 6.0])
    # a new shape: another signature; the chained one is not used for it
    for _ in range(4):
        np.testing.assert_allclose(f(nd.array([1.0, 2.0, 3.0])).asnumpy(), [2.0, 4.0, 6.0])
        np.testing.assert_allclose(f(nd.array([-1.0, 2.0, -3.0])).asnumpy(), [3.0, -6.0, 9.0])
    assert len(f.cache) == 2
    assert f.counts["eager_fallbacks"] == 0


def test_non_contiguous_input_fails_the_native_guard_and_falls_back():
    f = mx.jit(lambda x: x * 2 if x.sum() > 0 else x * -3)
    for _ in range(5):
        f(nd.array([1.0, 2.0]))
        f(nd.array([-1.0, -2.0]))
    base = np.array([5.0, 0.0, 7.0, 0.0], dtype=np.float32)
    x = wrap(base[::2])  # a strided view: the chain's input guard refuses it
    assert not x._data.flags.c_contiguous
    np.testing.assert_allclose(f(x).asnumpy(), [10.0, 14.0])
    x = wrap(-base[::2])
    np.testing.assert_allclose(f(x).asnumpy(), [15.0, 21.0])


def test_chains_off_gives_the_same_results(monkeypatch):
    monkeypatch.setattr(guards, "CHAIN_AFTER", 0)
    f = mx.jit(tutorial)
    for _ in range(4):
        for v in (0.1, 0.5, 0.7, 0.9):
            assert _grad(f, v) == pytest.approx(_grad(tutorial, v), rel=1e-5, abs=1e-6)
    tree = next(iter(f.cache.values()))
    assert not tree.root.chains


def test_a_failed_check_runs_no_later_segment():
    """codegen.chain directly: segment 0 computes a guard, segment 1 (the branch) writes its
    output only when the guard saw the expected outcome; its output buffer is untouched
    otherwise."""
    from tracegrad.codegen.chain import CHECK_FAILED, Check, compile_chain
    from tracegrad.ir.function import Builder
    from tracegrad.ir.types import TensorType
    from tracegrad.runtime import native

    t = TensorType("f32", (3,))
    b = Builder(name="g")
    x = b.param(t, "x")
    guard = b.ret(b.cast(b.gt(b.sum(x, axes=(0,)), 0.0), dtype="f32"))
    b2 = Builder(name="branch")
    x2 = b2.param(t, "x")
    branch = b2.ret(b2.mul(x2, 2.0))
    module = compile_chain([guard, branch], [[0], [0]], [Check(0, "bool", True), None], [t])
    from tracegrad.codegen.builtin_entry import EntryBuiltin
    arena = native.Arena(max(module.arena_bytes, 64))
    entry = EntryBuiltin(module.entry_address, arena.address, native._CONTEXT.address,
                         release_gil=True, owners=(module, arena)).call

    def call(values):
        xs = np.array(values, dtype=np.float32)
        g = np.zeros((), np.float32).reshape(guard.outputs[0].type.shape)
        out = np.full(3, -7.0, np.float32)  # a sentinel the branch would overwrite
        packed = (xs, g, out)
        rc = entry(packed)
        return rc, g, out

    rc, g, out = call([1.0, 2.0, 3.0])
    assert rc == 0 and float(g.reshape(-1)[0]) == 1.0
    np.testing.assert_allclose(out, [2.0, 4.0, 6.0])
    rc, g, out = call([-1.0, -2.0, 0.5])
    assert rc == CHECK_FAILED + 0 and float(g.reshape(-1)[0]) == 0.0
    np.testing.assert_array_equal(out, [-7.0, -7.0, -7.0])  # the branch never ran


def test_hybridized_block_with_parameters_chains_and_matches_eager():
    from tracegrad import gluon

    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(3, in_units=4)

        def hybrid_forward(self, F, x):
            h = self.dense(x)
            if h.sum() > 0:
                return (h * h).sum()
            return (h * 2).sum()

    def run(net, xs):
        out = []
        for x in xs:
            with autograd.record():
                y = net(x)
            y.backward()
            out.append((y.asnumpy().copy(), net.dense.weight.grad().asnumpy().copy(),
                        net.dense.bias.grad().asnumpy().copy()))
        return out

    rng = np.random.default_rng(3)
    xs = [nd.array(rng.standard_normal((2, 4)).astype(np.float32) * (1 if i % 3 else -1))
          for i in range(24)]
    eager = Net()
    eager.initialize()
    hybrid = Net()
    hybrid.initialize()
    hybrid.dense.weight.set_data(eager.dense.weight.data())
    hybrid.dense.bias.set_data(eager.dense.bias.data())
    hybrid.hybridize()
    for (y1, w1, b1), (y2, w2, b2) in zip(run(hybrid, xs), run(eager, xs)):
        np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b1, b2, rtol=1e-5, atol=1e-6)
    jf = hybrid.__dict__["_tg_jit"]
    assert sum(t.chains() for t in jf.cache.values()) > 0
    assert jf.counts["eager_fallbacks"] == 0


def test_an_exporting_guard_segment_records_its_residuals_with_capture_off():
    # s = tanh(x * w) is computed before the guard and used after it; its segment's record
    # must hold the residual its vjp reads (it used to get only the user's outputs)
    from tracegrad import capture

    def f(x, w):
        h = nd.tanh(x * w)
        if nd.sum(h) > 0:
            return nd.sum(h * h * w)
        return nd.sum(nd.exp(h) * x)

    prev = capture.set_enabled(False)
    try:
        jf = mx.jit(f)
        rs = np.random.RandomState(0)
        w = nd.array(rs.randn(4), dtype="float64")
        for i in range(12):
            x = nd.array(rs.randn(4) + (1.5 if i % 3 else -1.5), dtype="float64")
            got, want = [], []
            for fn, out in ((jf, got), (f, want)):
                for a in (x, w):
                    a.attach_grad()
                with autograd.record():
                    y = fn(x, w)
                y.backward()
                out += [y.asnumpy(), x.grad.asnumpy().copy(), w.grad.asnumpy().copy()]
            for g, e in zip(got, want):
                np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8)
    finally:
        capture.set_enabled(prev)
