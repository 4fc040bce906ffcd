"""nd.contrib.cond / while_loop / foreach: MXNet 1.x semantics (output stacking, padding,
structure), values and gradients against plain Python loops, eagerly, under jit, and through
F.contrib in a hybridized block."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def _grad(fn, *arrays):
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        out = fn(*arrays)
        total = nd.sum(out) if isinstance(out, nd.NDArray) else sum(nd.sum(o) for o in out)
    total.backward()
    return total.asscalar(), [a.grad.asnumpy().copy() for a in arrays]


def test_while_loop_matches_mxnets_documented_example_with_zero_padding():
    cond = lambda i, s: i <= 5  # noqa: E731
    func = lambda i, s: ([i + s], [i + 1, s + i])  # noqa: E731
    loop_vars = (nd.array([0], dtype="int64"), nd.array([1], dtype="int64"))
    outputs, states = nd.contrib.while_loop(cond, func, loop_vars, max_iterations=10)
    assert isinstance(outputs, list) and len(outputs) == 1 and outputs[0].shape == (10, 1)
    np.testing.assert_array_equal(outputs[0].asnumpy()[:, 0], [1, 2, 4, 7, 11, 16, 0, 0, 0, 0])
    assert [s.asscalar() for s in states] == [6, 16]
    # a single NDArray loop variable comes back as one; no step run: no outputs
    out, final = nd.contrib.while_loop(lambda x: nd.sum(x) < 0, lambda x: (x, x + 1),
                                       nd.ones((2,)), max_iterations=3)
    assert out == [] and isinstance(final, nd.NDArray)
    with pytest.raises(ValueError, match="max_iterations"):
        nd.contrib.while_loop(cond, func, loop_vars)


def test_while_loop_stops_at_max_iterations_and_regroups_nested_outputs():
    outs, x = nd.contrib.while_loop(lambda x: x < 100, lambda x: ([x, [x * 2]], x + 1),
                                    nd.array([0.0]), max_iterations=4)
    a, (b,) = outs
    np.testing.assert_array_equal(a.asnumpy()[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(b.asnumpy()[:, 0], [0, 2, 4, 6])
    assert x.asscalar() == 4


def _py_while(x, w):
    outs, steps = [], 0
    while steps < 6 and nd.sum(x).asscalar() < 5.0:
        x = x * w + 0.5
        outs.append(nd.tanh(x))
        steps += 1
    pad = [nd.zeros(x.shape, dtype=x.dtype)] * (6 - steps)  # stack takes one dtype
    return nd.stack(*(outs + pad), axis=0), x


def _contrib_while(x, w):
    outs, final = nd.contrib.while_loop(lambda x: nd.sum(x) < 5.0,
                                        lambda x: (nd.tanh(x * w + 0.5), x * w + 0.5),
                                        x, max_iterations=6)
    return outs, final


@pytest.mark.parametrize("start", [[0.1, 0.2], [1.0, 1.5], [2.0, 2.9]])
def test_while_loop_values_and_gradients_match_a_python_loop_eager_and_compiled(start):
    w = nd.array([1.3, 0.9], dtype="float64")
    jf = mx.jit(_contrib_while)
    results = []
    for fn in (_py_while, _contrib_while, jf, jf):
        x = nd.array(start, dtype="float64")
        ww = w.copy()
        results.append(_grad(fn, x, ww))
    for val, grads in results[1:]:
        np.testing.assert_allclose(val, results[0][0], rtol=1e-12)
        for a, b in zip(grads, results[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # finite differences of the trip-count-dependent loop (away from a trip-count boundary)
    eps, base = 1e-6, w.asnumpy()
    fd = np.zeros(2)
    for i in range(2):
        for sign in (1, -1):
            p = base.copy()
            p[i] += sign * eps
            o, f = _py_while(nd.array(start, dtype="float64"), nd.array(p, dtype="float64"))
            fd[i] += sign * (nd.sum(o).asscalar() + nd.sum(f).asscalar()) / (2 * eps)
    np.testing.assert_allclose(results[2][1][1], fd, rtol=1e-6, atol=1e-8)


def test_cond_picks_a_branch_and_differentiates_through_it_eager_and_compiled():
    def f(x):
        return nd.contrib.cond(nd.sum(x) > 0, lambda: nd.exp(x) * 2, lambda: x * x)
    jf = mx.jit(f)
    for data in ([0.5, 1.0], [-2.0, 0.5], [1.0, 1.0], [-1.0, -1.0]):
        ve, ge = _grad(f, nd.array(data))
        vc, gc = _grad(jf, nd.array(data))
        want = 2 * np.exp(data) if sum(data) > 0 else 2 * np.array(data)
        np.testing.assert_allclose(ge[0], want, rtol=1e-6)
        np.testing.assert_allclose(vc, ve, rtol=1e-6)
        np.testing.assert_allclose(gc[0], ge[0], rtol=1e-6)
    # one op with both branches: the flipping predicate never retraces nor guards
    assert jf.counts["traces"] == 1 and jf.counts["eager_fallbacks"] == 0
    assert " cond " in str(jf.ir("traced")) and "guard " not in jf.explain()


def test_foreach_is_a_python_loop_over_axis_0_with_stacked_outputs_and_states():
    rs = np.random.RandomState(0)
    data, h0 = nd.array(rs.randn(5, 3)), nd.array(rs.randn(3))
    w = nd.array(rs.randn(3))

    def with_foreach(data, h0, w):
        def body(x, states):    # (w: the argument, not the test's array)
            h = nd.tanh(x * w + states[0])
            return h * 2, [h]
        outs, states = nd.contrib.foreach(body, data, [h0])
        return outs, states[0]

    def by_hand(data, h0, w):
        h, outs = h0, []
        for i in range(data.shape[0]):
            h = nd.tanh(data[i] * w + h)
            outs.append(h * 2)
        return nd.stack(*outs, axis=0), h
    outs, last = with_foreach(data, h0, w)
    assert outs.shape == (5, 3) and last.shape == (3,)
    want = _grad(by_hand, data.copy(), h0.copy(), w)
    jf = mx.jit(with_foreach)
    for fn in (with_foreach, jf, jf):
        got = _grad(fn, data.copy(), h0.copy(), w)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # a fixed-length loop unrolls into the trace: no guard, one variant
    assert jf.counts["traces"] == 1 and "guard " not in jf.explain()


def test_foreach_over_a_list_of_arrays_and_nested_states():
    a, b = nd.array([[1.0], [2.0]]), nd.array([[10.0], [20.0]])
    outs, (s1, (s2,)) = nd.contrib.foreach(
        lambda xs, st: ([xs[0] + xs[1], xs[0]], [st[0] + xs[0], [st[1][0] * 2]]),
        [a, b], [nd.zeros((1,)), [nd.ones((1,))]])
    np.testing.assert_array_equal(outs[0].asnumpy()[:, 0], [11, 22])
    np.testing.assert_array_equal(outs[1].asnumpy()[:, 0], [1, 2])
    assert s1.asscalar() == 3 and s2.asscalar() == 4


class Counter(gluon.HybridBlock):
    def hybrid_forward(self, F, x, limit):
        outs, (y, n) = F.contrib.while_loop(
            lambda y, n: F.sum(y) < F.sum(limit), lambda y, n: (y * 1.0, (y * 2, n + 1)),
            (x, F.zeros((1,))), max_iterations=8)
        return F.contrib.cond(n > 2, lambda: y + outs[0].sum(), lambda: y - 1)


def test_f_contrib_in_a_hybridized_block_matches_eager():
    eager, hybrid = Counter(), Counter()
    hybrid.hybridize()
    for xv, lim in ((1.0, 5.0), (1.0, 50.0), (3.0, 4.0), (1.0, 5.0), (0.5, 100.0)):
        x, limit = nd.array([xv]), nd.array([lim])
        ve, ge = _grad(eager, x.copy(), limit)
        vh, gh = _grad(hybrid, x.copy(), limit)
        np.testing.assert_allclose(vh, ve, rtol=1e-6)
        np.testing.assert_allclose(gh[0], ge[0], rtol=1e-6)
    assert hybrid._tg_jit.counts["eager_fallbacks"] == 0


def test_compiled_while_loop_is_one_op_one_variant_for_every_trip_count():
    jf = mx.jit(_contrib_while)
    w = nd.array([1.3, 0.9], dtype="float64")
    for start in ([0.1, 0.2], [1.0, 1.5], [2.0, 2.9], [6.0, 0.0], [0.01, 0.0]):
        want = _grad(_py_while, nd.array(start, dtype="float64"), w.copy())
        got = _grad(jf, nd.array(start, dtype="float64"), w.copy())
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert jf.counts["traces"] == 1 and jf.counts["eager_fallbacks"] == 0
    assert "while_loop" in str(jf.ir("traced")) and "guard " not in jf.explain()
    # MXNet's hybridized form: the step outputs exist (zeros) even when no step runs
    outs, final = jf(nd.array([6.0, 0.0], dtype="float64"), w)
    assert outs.shape == (6, 2) and not outs.asnumpy().any()


def test_while_loop_body_reading_a_concrete_value_falls_back_to_guards_and_stays_right():
    def f(x):
        outs, y = nd.contrib.while_loop(
            lambda y: nd.sum(y) < 10, lambda y: (y, y * (2 if y.asscalar() < 3 else 3)),
            x, max_iterations=5)
        return outs, y
    jf = mx.jit(f)
    for v in (1.0, 2.5, 4.0, 1.0):
        got, want = jf(nd.array([v])), f(nd.array([v]))
        np.testing.assert_allclose(got[1].asnumpy(), want[1].asnumpy())
        np.testing.assert_allclose(got[0].asnumpy(), want[0].asnumpy())
    assert "guard " in jf.explain() and jf.counts["eager_fallbacks"] == 0


def test_second_derivatives_through_a_compiled_while_loop_match_eager():
    def f(x):
        _, y = nd.contrib.while_loop(lambda y: nd.sum(y) < 10, lambda y: (y, y * y + 1), x,
                                     max_iterations=5)
        return nd.sum(y)
    jf = mx.jit(f)
    for v in (1.0, 0.5, 1.2):
        x = nd.array([v], dtype="float64")
        x.attach_grad()
        results = []
        for fn in (f, jf):
            with autograd.record():
                (d1,) = autograd.grad(fn(x), [x], create_graph=True)
            d1.backward()
            results.append((d1.asnumpy().copy(), x.grad.asnumpy().copy()))
        (e1, e2), (c1, c2) = results
        np.testing.assert_allclose(c1, e1, rtol=1e-12)
        np.testing.assert_allclose(c2, e2, rtol=1e-12)
        # by hand: y <- y*y + 1 while y < 10 (trip count fixed near v)
        y, dy, d2y = v, 1.0, 0.0
        while y < 10:
            y, dy, d2y = y * y + 1, 2 * y * dy, 2 * dy * dy + 2 * y * d2y
        np.testing.assert_allclose(c1, [dy], rtol=1e-12)
        np.testing.assert_allclose(c2, [d2y], rtol=1e-12)


def test_a_long_foreach_under_jit_is_one_loop_op_with_exact_gradients():
    rs = np.random.RandomState(3)
    w = nd.array(rs.randn(4, 6) * 0.3, dtype="float64")
    u = nd.array(rs.randn(6, 6) * 0.3, dtype="float64")

    def f(data, h0, w, u):
        def body(x, states):    # (w, u: the arguments, not the test's arrays)
            h = nd.tanh(nd.dot(x, w) + nd.dot(states[0], u))
            return [h * 2, nd.sum(h, axis=1)], [h]
        (outs, sums), states = nd.contrib.foreach(body, data, [h0])
        return nd.sum(outs) + nd.sum(sums * sums) + nd.sum(states[0] * states[0])
    jf = mx.jit(f)
    length = nd.contrib.FOREACH_UNROLL + 4
    for _ in range(2):
        data = nd.array(rs.randn(length, 3, 4), dtype="float64")
        h0 = nd.array(rs.randn(3, 6), dtype="float64")
        want = _grad(f, data.copy(), h0.copy(), w, u)
        got = _grad(jf, data.copy(), h0.copy(), w, u)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    traced = str(jf.ir("traced"))
    assert "while_loop" in traced and "tanh" not in traced  # the body is the op's, once
    assert jf.counts["traces"] == 1 and jf.counts["eager_fallbacks"] == 0
