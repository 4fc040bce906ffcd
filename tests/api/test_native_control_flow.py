"""Compiled control flow runs natively: a while_loop / foreach / cond under jit or hybridize is
one op lowered inside the graph's native code (one native call per forward, one per backward,
no Python per step), with values and gradients (first and higher order) equal to eager code
and to finite differences, for data-dependent trip counts, padding, nesting and branches."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.runtime.interpret import Program


def _calls():
    return mx.stats()["native_calls"]


def _value_and_grads(fn, *arrays):
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        out = fn(*arrays)
    out.backward()
    return out.asnumpy().copy(), [a.grad.asnumpy().copy() for a in arrays]


def _fd(fn, arrays, k, eps=1e-6):
    """Central finite differences of sum(fn(*arrays)) with respect to arrays[k] (float64)."""
    base = arrays[k].asnumpy()
    grad = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        total = 0.0
        for sign in (1, -1):
            p = base.copy()
            p[idx] += sign * eps
            args = [nd.array(p, dtype="float64") if i == k else a for i, a in enumerate(arrays)]
            total += sign * float(fn(*args).asnumpy().sum())
        grad[idx] = total / (2 * eps)
    return grad


def _loop(x, w):
    """A data-dependent trip count (while the sum stays below 4) and padded step outputs."""
    outs, (y, n) = nd.contrib.while_loop(
        lambda y, n: nd.sum(y) < 4.0,
        lambda y, n: ([nd.sin(y) * w, nd.sum(y * y)], (y * w + 0.3, n + 1)),
        (x, nd.zeros((1,), dtype="float64")), max_iterations=7)
    return nd.sum(outs[0] * outs[0]) + nd.sum(outs[1]) + nd.sum(y * y) + n


def _py_loop(x, w):
    y, total, n = x, 0.0, 0
    while n < 7 and nd.sum(y).asscalar() < 4.0:
        total = total + nd.sum((nd.sin(y) * w) ** 2) + nd.sum(y * y)
        y, n = y * w + 0.3, n + 1
    return total + nd.sum(y * y) + n


@pytest.mark.parametrize("start", [[0.1, 0.2], [0.9, 1.1], [3.0, 2.0], [-2.0, -1.0]])
def test_while_loop_is_one_native_call_each_way_and_matches_eager_and_fd(start):
    w = nd.array([1.2, 0.8], dtype="float64")
    jf = mx.jit(_loop)
    x = nd.array(start, dtype="float64")
    want = _value_and_grads(_py_loop, x.copy(), w.copy())
    for _ in range(3):
        got = _value_and_grads(jf, x.copy(), w.copy())
    xx, ww = x.copy(), w.copy()
    xx.attach_grad()
    ww.attach_grad()
    before = _calls()
    with autograd.record():
        y = jf(xx, ww)
    forward = _calls() - before
    y.backward()
    # backward: one more call, or none when the fused step computed the gradients with it
    assert forward == 1 and _calls() - before <= 2
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1][1], _fd(_py_loop, [x, w], 1), rtol=1e-6, atol=1e-8)
    assert jf.counts["traces"] == 1 and jf.counts["eager_fallbacks"] == 0


def test_padding_rows_are_zero_and_trip_count_follows_data_natively():
    def f(x):
        outs, final = nd.contrib.while_loop(lambda v: nd.sum(v) < 10, lambda v: (v * 2, v + 1),
                                            x, max_iterations=6)
        return outs, final
    jf = mx.jit(f)
    for start in (0.0, 3.0, 8.0, 20.0, 0.5):
        got, want = jf(nd.array([start, 1.0])), f(nd.array([start, 1.0]))
        steps = 0
        v = np.array([start, 1.0])
        while steps < 6 and v.sum() < 10:
            v, steps = v + 1, steps + 1
        rows = got[0].asnumpy()
        assert rows.shape == (6, 2) and not rows[steps:].any()
        np.testing.assert_array_equal(rows[:steps], (np.array([start, 1.0]) + np.arange(
            steps)[:, None]) * 2)
        if steps:
            np.testing.assert_array_equal(rows, want[0].asnumpy())
        np.testing.assert_array_equal(got[1].asnumpy(), want[1].asnumpy())
    assert jf.counts["traces"] == 1


def test_a_thousand_iterations_run_in_one_native_call():
    def f(x):
        _, (i, y) = nd.contrib.while_loop(lambda i, y: i < 1000,
                                          lambda i, y: (y, (i + 1, nd.tanh(y * 0.9 + 0.1))),
                                          (nd.zeros((1,)), x), max_iterations=1000)
        return y
    jf = mx.jit(f)
    x = nd.array([0.3, -0.2, 0.7])
    jf(x)
    before = _calls()
    got = jf(x).asnumpy()
    assert _calls() - before == 1
    y = x.asnumpy().astype(np.float64)
    for _ in range(1000):
        y = np.tanh(y * 0.9 + 0.1)
    np.testing.assert_allclose(got, y, rtol=1e-5)


def _nested(x, w):
    """An outer while_loop whose body runs an inner while_loop with its own trip count."""
    def outer_body(y, k):
        inner, (z,) = nd.contrib.while_loop(lambda z: nd.sum(z) < nd.sum(y) + 2.0,
                                            lambda z: (z * w, [z + w * 0.5]), [y],
                                            max_iterations=5)
        return nd.sum(inner), (nd.tanh(z) + y * 0.5, k + 1)
    outs, (y, k) = nd.contrib.while_loop(lambda y, k: k < 3, outer_body,
                                         (x, nd.zeros((1,), dtype="float64")),
                                         max_iterations=4)
    return nd.sum(outs) + nd.sum(y * y)


def test_nested_loops_compile_into_one_native_call_with_exact_gradients():
    x, w = nd.array([0.2, 0.4], dtype="float64"), nd.array([0.7, 1.1], dtype="float64")
    jf = mx.jit(_nested)
    want = _value_and_grads(_nested, x.copy(), w.copy())
    for _ in range(2):
        got = _value_and_grads(jf, x.copy(), w.copy())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1][1], _fd(_nested, [x, w], 1), rtol=1e-6, atol=1e-8)
    jf(x, w)  # the inference variant's trace
    before = _calls()
    jf(x, w)
    assert _calls() - before == 1
    assert str(jf.ir("traced")).count("while_loop") == 1  # the inner one is in the region


def _loop_in_cond(x, w):
    def then():
        outs, y = nd.contrib.while_loop(lambda y: nd.sum(y) < 3.0, lambda y: (y * w, y * w + 0.5),
                                        x, max_iterations=6)
        return nd.sum(outs) + nd.sum(y)
    return nd.contrib.cond(nd.sum(x) > 0, then, lambda: nd.sum(nd.exp(x * w)))


def test_a_loop_inside_cond_matches_eager_as_the_predicate_flips_without_retracing():
    w = nd.array([0.9, 1.3], dtype="float64")
    jf = mx.jit(_loop_in_cond)
    for start in ([0.3, 0.1], [-0.5, 0.1], [1.0, 0.5], [-1.0, -2.0], [0.3, 0.1]):
        x = nd.array(start, dtype="float64")
        want = _value_and_grads(_loop_in_cond, x.copy(), w.copy())
        got = _value_and_grads(jf, x.copy(), w.copy())
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got[1][1], _fd(_loop_in_cond, [x, w], 1), rtol=1e-6,
                                   atol=1e-8)
        xx, ww = x.copy(), w.copy()
        xx.attach_grad()
        ww.attach_grad()
        before = _calls()
        with autograd.record():
            jf(xx, ww)
        assert _calls() - before == 1
    assert jf.counts["traces"] == 1 and "guard " not in jf.explain()


def test_cond_branches_must_agree_in_shape_and_dtype_under_jit():
    def f(x):
        return nd.contrib.cond(nd.sum(x) > 0, lambda: x * 2, lambda: nd.sum(x))
    with pytest.raises(ValueError, match=r"cond: .*float32\[3\] \(then\) and float32\[1\] \(else\)"):
        mx.jit(f)(nd.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="cond: pred must be a scalar"):
        mx.jit(lambda x: nd.contrib.cond(x > 0, lambda: x, lambda: -x))(nd.array([1.0, 2.0]))


def test_second_and_third_order_gradients_through_compiled_cond_and_foreach():
    def f(x, w):
        outs, (h,) = nd.contrib.foreach(lambda r, s: (nd.sin(r * s[0]), [nd.tanh(r * w + s[0])]),
                                        x, [nd.ones((2,), dtype="float64") * 0.1])
        return nd.contrib.cond(nd.sum(h) > 0, lambda: nd.sum(outs * h),
                               lambda: nd.sum(outs) * nd.sum(h * h))
    jf = mx.jit(f)
    rs = np.random.RandomState(1)
    for sign in (1.0, -1.0):
        x = nd.array(rs.randn(nd.contrib.FOREACH_UNROLL + 3, 2) * 0.5, dtype="float64")
        w = nd.array([0.6, -0.4], dtype="float64") * sign
        results = []
        for fn in (f, jf):
            ww = w.copy()
            ww.attach_grad()
            with autograd.record():
                (d1,) = autograd.grad(fn(x, ww), [ww], create_graph=True)
                (d2,) = autograd.grad(nd.sum(d1 * d1), [ww], create_graph=True)
                top = nd.sum(d2 * d2)
            top.backward()
            results.append([d1.asnumpy(), d2.asnumpy(), ww.grad.asnumpy().copy()])
        for a, b in zip(results[1], results[0]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)

        def first(x, ww):
            ww.attach_grad()
            with autograd.record():
                y = f(x, ww)
            y.backward()
            return nd.sum(ww.grad * ww.grad)
        want = np.zeros(2)
        for i in range(2):
            for s in (1, -1):
                p = w.asnumpy().copy()
                p[i] += s * 1e-6
                want[i] += s * first(x, nd.array(p, dtype="float64")).asscalar() / 2e-6
        np.testing.assert_allclose(results[1][1], want, rtol=1e-5, atol=1e-7)
    assert "while_loop" in str(jf.ir("traced")) and " cond " in str(jf.ir("traced"))


def test_loops_run_outside_compiled_code_are_interpreted_until_they_repeat(monkeypatch):
    """A loop op run by the interpreter (the adjoint loops of a higher-order gradient) steps
    its regions in numpy until they have run loops.COMPILE_AFTER ops, then compiles them:
    the same values either way, and a loop run once never waits for codegen."""
    from tracegrad.tracing import loops
    compiled = []
    real = loops.compile_callable
    monkeypatch.setattr(loops, "compile_callable",
                        lambda fn, *a, **k: compiled.append(fn.name) or real(fn, *a, **k))

    def f(x, w):
        _, (h,) = nd.contrib.foreach(lambda r, s: (r, [nd.tanh(r * w + s[0])]), x,
                                     [nd.zeros((2,), dtype="float64")])
        return nd.sum(h * h)
    jf = mx.jit(f)
    x = nd.array(np.random.RandomState(3).randn(nd.contrib.FOREACH_UNROLL + 2, 2),
                 dtype="float64")

    def second_order():
        w = nd.array([0.5, -0.3], dtype="float64")
        w.attach_grad()
        with autograd.record():
            (d1,) = autograd.grad(jf(x, w), [w], create_graph=True)
            top = nd.sum(d1 * d1)
        top.backward()
        return w.grad.asnumpy().copy()

    monkeypatch.setattr(loops, "COMPILE_AFTER", 10 ** 9)
    first = second_order()
    assert compiled == []           # interpreted throughout
    monkeypatch.setattr(loops, "COMPILE_AFTER", 1)
    second_order()                  # (a body that ran once before this is compiled next)
    third = second_order()
    assert compiled                 # the regions that ran are compiled now
    np.testing.assert_allclose(third, first, rtol=1e-12, atol=1e-15)


def test_foreach_over_an_lstm_cell_matches_the_unrolled_cell():
    cell = gluon.rnn.LSTMCell(6, input_size=3)
    cell.initialize(mx.init.Uniform(0.3))
    T = nd.contrib.FOREACH_UNROLL + 4
    data = nd.array(np.random.RandomState(2).randn(T, 2, 3).astype(np.float32))

    def run(data):
        outs, states = nd.contrib.foreach(lambda x, s: cell(x, s), data,
                                          cell.begin_state(batch_size=2))
        return nd.sum(outs * outs) + nd.sum(states[1])

    def unrolled(data):
        states, total = cell.begin_state(batch_size=2), 0
        for t in range(T):
            out, states = cell(data[t], states)
            total = total + nd.sum(out * out)
        return total + nd.sum(states[1])
    jf = mx.jit(run)
    want = _value_and_grads(unrolled, data.copy())
    params = [p.data() for p in cell.collect_params().values()]
    wgrads = [p.grad().asnumpy().copy() for p in cell.collect_params().values()]
    for _ in range(2):
        got = _value_and_grads(jf, data.copy())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-4, atol=1e-6)
    for p, g in zip(cell.collect_params().values(), wgrads):
        np.testing.assert_allclose(p.grad().asnumpy(), g, rtol=1e-4, atol=1e-6)
    assert "while_loop" in str(jf.ir("traced")) and params


def test_a_hybridized_lstm_over_35_steps_is_one_native_call_forward_and_one_backward():
    rs = np.random.RandomState(0)
    eager, hybrid = gluon.rnn.LSTM(8, input_size=4), gluon.rnn.LSTM(8, input_size=4)
    for net in (eager, hybrid):
        net.initialize(mx.init.Uniform(0.2))
    for p, q in zip(eager.collect_params().values(), hybrid.collect_params().values()):
        q.set_data(p.data())
    hybrid.hybridize()
    x = nd.array(rs.randn(35, 2, 4).astype(np.float32))
    want = _value_and_grads(lambda v: nd.sum(eager(v) ** 2), x.copy())
    for _ in range(2):
        got = _value_and_grads(lambda v: nd.sum(hybrid(v) ** 2), x.copy())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-4, atol=1e-6)
    for p, q in zip(eager.collect_params().values(), hybrid.collect_params().values()):
        np.testing.assert_allclose(q.grad().asnumpy(), p.grad().asnumpy(), rtol=1e-4, atol=1e-5)
    xx = x.copy()
    xx.attach_grad()
    before = _calls()
    with autograd.record():
        y = hybrid(xx)
    forward = _calls() - before
    y.backward()
    xx.grad.wait_to_read()
    assert forward == 1 and _calls() - before == 2   # forward, then the adjoint
    assert hybrid._tg_jit.counts["eager_fallbacks"] == 0


def test_printed_graphs_with_loop_and_cond_ops_parse_back_and_run():
    jf = mx.jit(_loop_in_cond)
    x, w = nd.array([0.3, 0.1], dtype="float64"), nd.array([0.9, 1.3], dtype="float64")
    want = jf(x, w).asnumpy()
    traced = jf.ir("traced")
    text = str(traced)
    parsed = mx.ir.parse(text)
    assert " cond " in text and str(parsed) == text
    (op,) = [op for op in traced.ops if op.name == "cond"]
    for region in op.opdef.regions(op.attrs):   # the regions print and parse back too
        assert str(mx.ir.parse(str(region))) == str(region)
    assert "while_loop" in str(op.opdef.regions(op.attrs)[0])
    (out,) = Program(parsed)([x.asnumpy(), w.asnumpy()])[:1]
    np.testing.assert_allclose(out, want, rtol=1e-12)


def test_compiled_code_is_keyed_on_the_loop_regions_not_the_handle_number():
    from tracegrad.codegen import compile_function
    from tracegrad.runtime import handles

    def make(scale):
        def f(x):
            _, y = nd.contrib.while_loop(lambda y: nd.sum(y) < 10, lambda y: (y, y * scale),
                                         x, max_iterations=6)
            return y
        jf = mx.jit(f)
        jf(nd.array([1.0]))
        return jf, jf.ir("optimized")
    made = [make(2.0), make(3.0)]     # the jits keep the loop bodies alive
    f2, f3 = made[0][1], made[1][1]
    (op2,), (op3,) = ([op for op in fn.ops if op.name == "while_loop"] for fn in (f2, f3))
    h2 = op2.attrs["body"]
    key2 = compile_function(f2).key
    saved = handles._LIVE[h2]
    try:   # the same printed graph naming another body (another process's handle 1)
        handles._LIVE[h2] = handles._LIVE[op3.attrs["body"]]
        other = compile_function(f2)
    finally:
        handles._LIVE[h2] = saved
    assert other.key != key2
    from tracegrad.runtime.native import NativeFunction
    np.testing.assert_allclose(NativeFunction(other)(np.array([1.0], np.float32))[0], [27.0])
    np.testing.assert_allclose(NativeFunction(compile_function(f2))(
        np.array([1.0], np.float32))[0], [16.0])


def _cond_in_loop(x, w):
    def body(y, k):
        z = nd.contrib.cond(nd.sum(y) > 1.0, lambda: y * w, lambda: y + w)
        return nd.sum(z), (nd.tanh(z), k + 1)
    outs, (y, k) = nd.contrib.while_loop(lambda y, k: k < 6, body,
                                         (x, nd.zeros((1,), dtype="float64")), max_iterations=6)
    return nd.sum(outs) + nd.sum(y)


def test_cond_inside_a_loop_body_matches_eager_on_every_call_including_fused_steps():
    # the third call on runs forward and adjoint as one fused native step: there a sum and
    # the adjoint's constants share a loop nest (once a wrong in-place write clobbered it)
    w = nd.array([0.8, 1.5], dtype="float64")
    jf = mx.jit(_cond_in_loop)
    for start in ([0.9, 0.5], [0.1, 0.2], [0.1, 0.2], [2.0, 1.0], [0.1, 0.2], [2.0, 1.0]):
        x = nd.array(start, dtype="float64")
        want = _value_and_grads(_cond_in_loop, x.copy(), w.copy())
        got = _value_and_grads(jf, x.copy(), w.copy())
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert jf.counts["traces"] == 1 and jf.counts["eager_fallbacks"] == 0


def test_the_same_loop_traced_again_reuses_its_compiled_code():
    def f(x):
        _, y = nd.contrib.while_loop(lambda y: nd.sum(y) < 10, lambda y: (y, y * 1.7 + 0.1),
                                     x, max_iterations=9)
        return y
    x = nd.array([0.25, 0.5])
    want = mx.jit(f)(x).asnumpy()     # compiled here (or found in the disk cache)
    before = mx.stats()["compiles"]
    again = mx.jit(f)                 # a new trace: new handles, the same regions
    np.testing.assert_array_equal(again(x).asnumpy(), want)
    assert mx.stats()["compiles"] == before


class _Square(autograd.Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, dy):
        (x,) = self.saved_tensors
        return 2 * x * dy


def test_a_loop_calling_a_custom_function_runs_as_python_with_right_gradients():
    # one traced Function instance cannot serve every step (backward reads what forward
    # saved): such a loop is not made an op, and jit runs the signature eagerly, saying why
    def f(x):
        outs, y = nd.contrib.while_loop(lambda y: nd.sum(y) < 10,
                                        lambda y: (y, _Square()(y) + 1), x, max_iterations=5)
        return nd.sum(outs) + nd.sum(y)
    jf = mx.jit(f)
    with pytest.warns(UserWarning, match="custom autograd.Function"):
        got = _value_and_grads(jf, nd.array([1.0, 0.5]))
    want = _value_and_grads(f, nd.array([1.0, 0.5]))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-6)
    np.testing.assert_allclose(want[1][0][0], 91.0, rtol=1e-6)   # 1 + 2 + 8 + 80 by hand


def test_loop_regions_compile_with_the_graphs_fast_math_flags():
    def f(x):
        _, y = nd.contrib.while_loop(lambda y: nd.sum(y) < 10,
                                     lambda y: (y, nd.exp(y) * 0.5 + y), x, max_iterations=20)
        return y
    x = nd.array([0.1, 0.2])
    strict, fast = mx.jit(f), mx.jit(f, fastmath="fast")
    for jf in (strict, fast):
        jf(x)
        np.testing.assert_allclose(jf(x).asnumpy(), f(x).asnumpy(), rtol=1e-5)
    body = lambda jf: jf.llvm_ir()[jf.llvm_ir().find("loop.body"):]  # noqa: E731
    assert "reassoc" in body(fast) and "reassoc" not in body(strict)


def test_a_long_sequence_with_lengths_is_a_loop_op_matching_eager():
    rs = np.random.RandomState(4)
    layer = gluon.rnn.GRU(3, bidirectional=True, input_size=2, use_sequence_length=True)
    layer.initialize(mx.init.Uniform(0.5))
    T = nd.contrib.FOREACH_UNROLL + 4
    x = rs.randn(T, 2, 2)
    h0 = rs.randn(2, 2, 3)

    def run(lengths):
        xx = nd.array(x, dtype="float64")
        xx.attach_grad()
        with autograd.record():
            out, (hn,) = layer(xx, [nd.array(h0, dtype="float64")],
                               sequence_length=nd.array(lengths))
            total = nd.sum(out * out) + nd.sum(hn)
        total.backward()
        return out.asnumpy(), hn.asnumpy(), xx.grad.asnumpy().copy()
    layer.cast("float64")
    wants = {tuple(n): run(n) for n in ([T, 5], [3, T - 1])}
    layer.hybridize()
    for lengths in ([T, 5], [3, T - 1], [T, 5]):
        got = run(lengths)
        for a, b in zip(got, wants[tuple(lengths)]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    out = wants[(3, T - 1)][0]
    assert not out[3:, 0].any() and out[:3, 0].any()
    assert "while_loop" in str(layer.ir("traced"))


_OUT_OF_MEMORY_SCRIPT = r'''
import resource
import numpy as np
import tracegrad as mx
from tracegrad import nd

def f(v, w):
    def body(i, s):
        big = nd.broadcast_to(v, (3000, 3000)) * (i + 1.0)   # 36 MB in the loop's scratch
        return [], [i + 1, s + nd.dot(big, w).sum()]
    _, (i, s) = nd.contrib.while_loop(lambda i, s: i < 3, body,
                                      [nd.array([0.0]), nd.array([0.0])], max_iterations=4)
    return s
v, w = nd.ones((1, 3000)), nd.ones((3000, 1))
g = mx.jit(f)
want = g(v, w).asnumpy()
g(v, w)
assert mx.stats()["native_calls"] >= 2
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + (20 << 20), hard))
try:
    g(v, w)
    print("no error")
except MemoryError as e:
    print("MemoryError:", e)
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
print("after:", np.array_equal(g(v, w).asnumpy(), want), float(want[0]))
'''


def test_a_loop_whose_scratch_cannot_be_allocated_raises_memory_error(tmp_path):
    """The loop's region scratch is malloc'd per run: a null pointer used to be written
    through (a segfault). Now the step stops, the call raises MemoryError, and the next call
    with memory to spare gives the right value."""
    import subprocess
    import sys
    script = tmp_path / "oom.py"
    script.write_text(_OUT_OF_MEMORY_SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("MemoryError: @") and "scratch memory" in lines[0], run.stdout
    assert lines[1] == "after: True 54000000.0", run.stdout     # 3000 * 3000 * (1 + 2 + 3)
