"""Python control flow on data under jit / hybridize: guards, one compiled continuation per
outcome, gradients through whichever branch ran, bounds, explain(), and no stale variants."""
import math
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


def tutorial_f(x):
    y = x
    if x < 0.75:
        num_loops = math.floor(1 / (1 - x.asscalar()))
        for _ in range(num_loops):
            y = y * x
    else:
        y = y * 0
    return y


class TutorialBlock(gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return tutorial_f(x)


def _grads(fn, xs):
    out = []
    for x in xs:
        x.attach_grad()
        with autograd.record():
            y = fn(x)
        y.backward()
        out.append(float(x.grad.asscalar()))
    return np.array(out)


def _expected(x):
    if x >= 0.75:
        return 0.0
    n = math.floor(1 / (1 - np.float32(x))) + 1  # degree of the polynomial
    return n * x ** (n - 1)


@pytest.mark.parametrize("make", [lambda: mx.jit(tutorial_f),
                                  lambda: _hybridized(TutorialBlock())],
                         ids=["jit", "hybridize"])
def test_tutorial_gradients_compiled_then_second_pass_is_native_only(make):
    fn = make()
    xs = list(nd.arange(0.0, 1.0, step=0.1))
    points = np.array([float(x.asscalar()) for x in xs])
    want = np.array([_expected(p) for p in points])
    assert np.allclose(want[:5], 2 * points[:5]) and want[-1] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = _grads(fn, xs)
        np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-7)
        assert abs(first[6] - 1.08) < 1e-5
        mx.stats(reset=True)
        second = _grads(fn, xs)
    s = mx.stats()
    np.testing.assert_array_equal(second, first)
    np.testing.assert_allclose(second, _grads(tutorial_f, xs), rtol=1e-6)
    assert s["traces"] == 0 and s["eager_fallbacks"] == 0 and s["native_calls"] >= 10


def _hybridized(block, **flags):
    block.initialize()
    block.hybridize(**flags)
    return block


def test_branch_flipping_every_call_matches_eager_values_and_gradients():
    def f(x, w):
        h = nd.tanh(x * w)
        if nd.sum(h) > 0:
            return nd.sum(h * h * w)
        return nd.sum(nd.exp(h) * x)
    jf = mx.jit(f)
    rs = np.random.RandomState(0)
    w = nd.array(rs.randn(4), dtype="float64")  # 1 - tanh^2 near 1 cancels: f64 compares
    for i in range(24):
        x = nd.array(rs.randn(4) + (1.5 if i % 3 else -1.5), dtype="float64")
        got_y, got_g = _value_and_grad(jf, x, w)
        want_y, want_g = _value_and_grad(f, x, w)
        np.testing.assert_allclose(got_y, want_y, rtol=1e-5)
        np.testing.assert_allclose(got_g, want_g, rtol=1e-5, atol=1e-6)
    assert jf.counts["traces"] == 2 and jf.counts["eager_fallbacks"] == 0


def _value_and_grad(fn, *args):
    for a in args:
        a.attach_grad()
    with autograd.record():
        y = fn(*args)
    y.backward()
    return y.asnumpy(), [a.grad.asnumpy().copy() for a in args]


def test_values_computed_before_a_guard_carry_gradients_into_the_branch():
    # s is computed by the guard's segment and used after it: the gradient crosses segments
    def f(x):
        s = nd.sum(x * x)
        if s.asscalar() > 2.0:
            return s * nd.sin(x)
        return s * x
    jf = mx.jit(f)
    for data in ([1.0, 2.0, 0.5], [0.1, 0.2, 0.3], [3.0, -1.0, 0.2]):
        x = nd.array(data, dtype="float64")
        got_y, (got_g,) = _value_and_grad(jf, x)
        want_y, (want_g,) = _value_and_grad(f, x)
        np.testing.assert_allclose(got_y, want_y, rtol=1e-12)
        np.testing.assert_allclose(got_g, want_g, rtol=1e-12)
        eps, fd = 1e-6, np.zeros(3)
        base = np.array(data)
        for i in range(3):
            for sign in (1, -1):
                p = base.copy()
                p[i] += sign * eps
                fd[i] += sign * np.sum(f(nd.array(p, dtype="float64")).asnumpy()) / (2 * eps)
        np.testing.assert_allclose(got_g, fd, rtol=1e-6, atol=1e-8)


def test_loop_count_from_data_and_nested_guards():
    def f(x, n):
        y = x
        for _ in range(int(n.asscalar())):
            y = y * 2 if nd.max(y) < 10 else y - 1
        return y
    jf = mx.jit(f)
    x = nd.array([1.0, 3.0])
    for k in (0, 3, 5, 3, 0, 6):
        n = nd.array([k])
        np.testing.assert_allclose(jf(x, n).asnumpy(), f(x, n).asnumpy())
    assert jf.counts["eager_fallbacks"] == 0
    mx.stats(reset=True)
    for k in (0, 3, 5, 6):
        np.testing.assert_allclose(jf(x, nd.array([k])).asnumpy(), f(x, nd.array([k])).asnumpy())
    assert mx.stats()["traces"] == 0


class Gate(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(3, in_units=3)

    def hybrid_forward(self, F, x):
        h = self.dense(x)
        if F.mean(h) > 0:
            return F.relu(h)
        return F.tanh(h) * 2


class Outer(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.gate = Gate()
        self.out = nn.Dense(2, in_units=3)

    def hybrid_forward(self, F, x):
        return self.out(self.gate(x))


def test_guard_inside_a_nested_block_matches_eager_values_and_parameter_gradients():
    mx.random.seed(3)
    eager = Outer()
    eager.initialize()
    hybrid = Outer()
    hybrid.initialize()
    for pe, ph in zip(eager.collect_params().values(), hybrid.collect_params().values()):
        ph.set_data(pe.data().copy())
    hybrid.hybridize()
    rs = np.random.RandomState(1)
    for i in range(8):
        x = nd.array(rs.randn(4, 3) + (2 if i % 2 else -2))
        outs = []
        for net in (eager, hybrid):
            with autograd.record():
                y = net(x)
            y.backward()
            outs.append((y.asnumpy(), [p.grad().asnumpy().copy()
                                       for p in net.collect_params().values()]))
        np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-5, atol=1e-6)
        for a, b in zip(outs[1][1], outs[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert hybrid._tg_jit.counts["traces"] == 2
    assert hybrid._tg_jit.counts["eager_fallbacks"] == 0
    text = hybrid.explain()
    assert "guard cast(gt(" in text and "test_control_flow.py" in text, text


def test_guard_bound_runs_new_outcomes_eagerly_with_one_warning_naming_the_line():
    def f(x):
        return x * float(x.asscalar())
    jf = mx.jit(f, max_guard_outcomes=2)
    for v in (1.0, 2.0):
        jf(nd.array([v]))
    with pytest.warns(UserWarning) as record:
        out = jf(nd.array([3.0]))
    msg = str(record[0].message)
    assert "test_control_flow.py" in msg and "asscalar()" in msg
    assert "1.0" in msg and "2.0" in msg and "3.0" in msg and "max_guard_outcomes=2" in msg
    np.testing.assert_allclose(out.asnumpy(), [9.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        np.testing.assert_allclose(jf(nd.array([4.0])).asnumpy(), [16.0])
    assert jf.counts["eager_fallbacks"] == 2 and jf.counts["traces"] == 2


def test_variant_bound_is_settable_through_hybridize():
    class Sq(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x * float(x.asscalar())
    net = _hybridized(Sq(), max_variants=1)
    net(nd.array([1.0]))
    with pytest.warns(UserWarning, match="max_variants"):
        np.testing.assert_allclose(net(nd.array([2.0])).asnumpy(), [4.0])
    assert net._tg_jit.max_variants == 1


def test_explain_reports_guards_outcomes_reasons_counts_and_closure_arrays():
    table = nd.array([10.0, 20.0])

    def f(x):
        if nd.sum(x) > 0:
            return x + table
        return x - table
    jf = mx.jit(f)
    jf(nd.array([1.0, 1.0]))
    jf(nd.array([-1.0, -1.0]))
    jf(nd.array([1.0, 2.0]))
    text = jf.explain()
    assert "test_control_flow.py" in text and "sum(x)" in text
    assert "== True" in text and "== False" in text
    assert "saw False; cached: True" in text
    assert "calls 3, traces 2, native 3, eager fallbacks 0, compiled segments 3" in text
    assert "closure arrays read at trace time: table: f32[2]" in text
    jf(nd.array([[1.0, 2.0]]))
    assert "array types (input 0: float32[2] -> float32[1, 2]) differ" in jf.explain()


def test_detach_inside_jit_is_a_stop_gradient_not_a_frozen_value():
    g = mx.jit(lambda x: nd.sum(x.detach() * x))
    for data in ([1.0, 2.0], [3.0, -1.0]):
        x = nd.array(data)
        y, (gx,) = _value_and_grad(g, x)
        np.testing.assert_allclose(y, np.sum(np.square(data)), rtol=1e-6)
        np.testing.assert_allclose(gx, data, rtol=1e-6)  # d/dx of stop(x)*x is stop(x)

    def h(x):
        if nd.sum(x).detach().asscalar() > 0:
            return x * 2
        return x * 3
    jh = mx.jit(h)
    for data, k in (([1.0], 2), ([-1.0], 3), ([2.0], 2), ([-5.0], 3)):
        np.testing.assert_allclose(jh(nd.array(data)).asnumpy(), np.array(data) * k)


def test_arrays_inside_tuples_lists_and_dicts_are_inputs_not_constants():
    f = mx.jit(lambda xs: xs[0] + xs[1])
    np.testing.assert_allclose(f((nd.array([1.0]), nd.array([2.0]))).asnumpy(), [3.0])
    np.testing.assert_allclose(f((nd.array([5.0]), nd.array([7.0]))).asnumpy(), [12.0])
    np.testing.assert_allclose(f([nd.array([1.0]), nd.array([1.0])]).asnumpy(), [2.0])
    d = mx.jit(lambda x, opts: x * opts["scale"] + opts["shift"])
    np.testing.assert_allclose(d(nd.array([1.0]), {"scale": nd.array([2.0]),
                                                   "shift": 1.0}).asnumpy(), [3.0])
    np.testing.assert_allclose(d(nd.array([1.0]), {"scale": nd.array([3.0]),
                                                   "shift": 5.0}).asnumpy(), [8.0])


def test_scalars_none_and_keyword_arguments_are_part_of_the_key():
    def f(x, k=2.0, bias=None, square=False):
        y = x * k
        if bias is not None:
            y = y + bias
        return y * y if square else y
    jf = mx.jit(f)
    x = nd.array([1.0, 2.0])
    cases = [dict(), dict(k=3.0), dict(bias=nd.array([1.0, 1.0])), dict(square=True),
             dict(k=3.0, bias=nd.array([2.0, 0.0]), square=True), dict()]
    for kw in cases:
        np.testing.assert_allclose(jf(x, **kw).asnumpy(), f(x, **kw).asnumpy())
    np.testing.assert_allclose(jf(x, 5.0).asnumpy(), f(x, 5.0).asnumpy())


def test_tuple_outputs_keep_their_structure():
    f = mx.jit(lambda x: (x * 2, [x + 1, {"a": x}]))
    a, (b, d) = f(nd.array([1.0]))
    assert isinstance(d, dict)
    np.testing.assert_allclose([a.asscalar(), b.asscalar(), d["a"].asscalar()], [2, 2, 1])


# ---------------------------------------------------------------------- staleness
def _eager_and_hybrid(make):
    mx.random.seed(7)
    e = make()
    e.initialize()
    h = make()
    h.initialize()
    for pe, ph in zip(e.collect_params().values(), h.collect_params().values()):
        ph.set_data(pe.data().copy())
    h.hybridize()
    return e, h


def _same(e, h, x):
    np.testing.assert_allclose(h(x).asnumpy(), e(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_children_added_or_removed_after_hybridize_retrace():
    def make():
        net = nn.HybridSequential()
        net.add(nn.Dense(4, in_units=3))
        return net
    e, h = _eager_and_hybrid(make)
    x = nd.array(np.random.RandomState(0).randn(2, 3))
    _same(e, h, x)
    for net in (e, h):
        net.add(nn.Activation("tanh"))
    _same(e, h, x)
    for net in (e, h):
        del net._children[list(net._children)[-1]]
    _same(e, h, x)


def test_parameter_new_shape_dtype_and_cast_retrace():
    e, h = _eager_and_hybrid(lambda: nn.Dense(2, in_units=3))
    x = nd.array(np.random.RandomState(0).randn(2, 3))
    _same(e, h, x)
    new_w = np.random.RandomState(1).randn(2, 3).astype(np.float32)
    for net in (e, h):
        net.weight.set_data(nd.array(new_w))
    _same(e, h, x)
    for net in (e, h):
        net.cast("float64")
    _same(e, h, nd.array(x.asnumpy(), dtype="float64"))
    assert h(nd.array(x.asnumpy(), dtype="float64")).dtype == np.float64


def test_replacing_a_child_block_retraces():
    class Holder(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.act = nn.Activation("relu")

        def hybrid_forward(self, F, x):
            return self.act(x)
    h = Holder()
    h.hybridize()
    x = nd.array([-1.0, 2.0])
    np.testing.assert_allclose(h(x).asnumpy(), [0.0, 2.0])
    h.act = nn.Activation("tanh")
    np.testing.assert_allclose(h(x).asnumpy(), np.tanh([-1.0, 2.0]), rtol=1e-6)


def test_train_and_predict_mode_are_separate_variants():
    net = nn.Dropout(0.5)
    net.hybridize()
    x = nd.ones((100,))
    np.testing.assert_array_equal(net(x).asnumpy(), 1.0)
    with autograd.record():
        y = net(x)
    assert set(np.unique(y.asnumpy())) <= {0.0, 2.0} and (y.asnumpy() == 0).any()
    np.testing.assert_array_equal(net(x).asnumpy(), 1.0)


def test_hybridize_again_with_other_flags_drops_compiled_code():
    class Sq(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x * float(x.asscalar())
    net = _hybridized(Sq(), max_guard_outcomes=1)
    net(nd.array([1.0]))
    jf = net._tg_jit
    net.hybridize(max_guard_outcomes=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(net(nd.array([2.0])).asnumpy(), [4.0])
    assert net._tg_jit is not jf and net._tg_jit.max_guard_outcomes == 4


def test_a_jitted_function_called_inside_another_trace_is_inlined_not_frozen():
    jf = mx.jit(lambda a: nd.exp(a) * 2)
    x = nd.array([0.5, 1.0])
    jf(x)
    g = mx.make_ir(lambda a: jf(a) + 1)(x)
    assert "exp" in str(g) and len(g.params) == 1
    outer = mx.jit(lambda a: jf(a) + 1)
    for data in ([0.5, 1.0], [2.0, -1.0]):
        np.testing.assert_allclose(outer(nd.array(data)).asnumpy(), np.exp(data) * 2 + 1,
                                   rtol=1e-6)


def test_export_refuses_python_control_flow_and_make_ir_warns(tmp_path):
    net = _hybridized(TutorialBlock())
    net(nd.array([0.3]))
    with pytest.raises(mx.MXNetError, match="bool\\(\\).*test_control_flow.py"):
        net.export(str(tmp_path / "tut"))
    with pytest.warns(UserWarning, match="only the branch"):
        fn = mx.make_ir(tutorial_f)(nd.array([0.3]))
    assert "mul" in str(fn)


def test_random_draws_around_guards_match_eager_with_the_same_seed():
    def f(x):
        y = nd.random.uniform(shape=x.shape) + x
        nd.random.normal(shape=(3,))  # drawn, never used: eager still advances the stream
        if nd.sum(y) > 3:
            return y * nd.random.normal(shape=x.shape)
        return y - nd.random.uniform(shape=x.shape)
    jf = mx.jit(f)
    for i in range(8):
        x = nd.array([0.5 + i * 0.3, 1.0])
        mx.random.seed(i)
        want = [f(x).asnumpy(), nd.random.uniform(shape=(2,)).asnumpy()]
        mx.random.seed(i)
        got = [jf(x).asnumpy(), nd.random.uniform(shape=(2,)).asnumpy()]
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert jf.counts["traces"] == 2


class BatchNormGate(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm(in_channels=3)

    def hybrid_forward(self, F, x):
        h = self.bn(x)
        if F.sum(h) > 0:
            return h * 2
        return h


def test_state_updates_and_higher_order_gradients_through_guarded_code():
    e, h = _eager_and_hybrid(BatchNormGate)
    for i in range(4):
        x = nd.array(np.random.RandomState(i).randn(4, 3) + i)
        with autograd.record():
            ye, yh = e(x), h(x)
        np.testing.assert_allclose(yh.asnumpy(), ye.asnumpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(h.bn.running_mean.data().asnumpy(),
                                   e.bn.running_mean.data().asnumpy(), rtol=1e-6, atol=1e-7)
    g = mx.jit(lambda t: nd.sin(t) * t if nd.sum(t) > 0 else t * t * t)
    for data in ([0.5, 2.0], [-1.0, -2.0], [1.0, 1.0]):
        a = nd.array(data, dtype="float64")
        a.attach_grad()
        with autograd.record():
            (d1,) = autograd.grad(g(a), [a], create_graph=True)
        d1.backward()
        x = np.array(data)
        want = (-np.sin(x) * x + 2 * np.cos(x)) if x.sum() > 0 else 6 * x
        np.testing.assert_allclose(a.grad.asnumpy(), want, rtol=1e-10)


def test_replacing_a_parameter_retraces():
    class Scale(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.w = gluon.Parameter("w", shape=(2,), init=mx.init.Constant(2.0))

        def hybrid_forward(self, F, x, w):
            return x * w
    net = Scale()
    net.initialize()
    net.hybridize()
    x = nd.array([1.0, 3.0])
    np.testing.assert_allclose(net(x).asnumpy(), [2.0, 6.0])
    net.w = gluon.Parameter("w2", shape=(2,), init=mx.init.Constant(-1.0))
    net.w.initialize()
    np.testing.assert_allclose(net(x).asnumpy(), [-1.0, -3.0])
    assert "changed" in net.explain()


def test_a_closure_array_python_reads_is_guarded_so_in_place_updates_take_effect():
    mode = nd.array([1.0])

    def f(x):
        return x * 2 if mode.asscalar() > 0 else x - 1
    jf = mx.jit(f)
    x = nd.array([3.0])
    np.testing.assert_allclose(jf(x).asnumpy(), [6.0])
    mode[:] = -1.0
    np.testing.assert_allclose(jf(x).asnumpy(), [2.0])
    mode[:] = 5.0
    np.testing.assert_allclose(jf(x).asnumpy(), [6.0])
    mode[:] = 1.0  # a value seen before: no new trace
    np.testing.assert_allclose(jf(x).asnumpy(), [6.0])
    assert jf.counts["traces"] == 3 and jf.counts["eager_fallbacks"] == 0
    assert "mode: f32[1]" in jf.explain()


def test_float_scalars_stay_symbolic_until_python_needs_an_integer_or_a_truth_value():
    # the tutorial over 40 points compiles one variant per loop count, not one per x
    jf = mx.jit(tutorial_f)
    xs = [nd.array([v]) for v in np.linspace(0.0, 0.99, 40).astype(np.float32)]
    xs += [nd.array([np.float32(v)]) for v in (0.5, 2 / 3, 0.75, 0.7499999)]  # boundaries
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(_grads(jf, xs), _grads(tutorial_f, xs), rtol=1e-6)
    assert sum(t.paths for t in jf.cache.values()) == 4
    assert "floor(div(1.0, sub(1.0, x)))" in jf.explain()

    def g(x):
        s = x.asscalar() * 2 - 1
        return x * 3 if s > 0 else x * -1
    jg = mx.jit(g)
    for v in np.linspace(-1, 2, 15):
        np.testing.assert_allclose(jg(nd.array([v])).asnumpy(), g(nd.array([v])).asnumpy())
    assert jg.counts["traces"] == 2


def test_every_other_use_of_a_traced_scalar_guards_its_value():
    def f(x):
        s = x.asscalar()
        label = f"{s:.2f}"            # formatting: the value itself
        k = int(s * 4)                # an integer: guarded as one
        return x * s + k + len(label)  # an nd op with the scalar: the value itself
    jf = mx.jit(f)
    for v in (0.25, 0.5, 0.25, 1.75, 0.3):
        x = nd.array([v])
        np.testing.assert_allclose(jf(x).asnumpy(), f(x).asnumpy(), rtol=1e-6)
    assert jf.counts["traces"] == 4 and jf.counts["eager_fallbacks"] == 0
    h = mx.jit(lambda x: nd.ones((math.floor(x.asscalar() * 2) + 1,)) * x)
    for v in (0.2, 1.2, 0.3):
        np.testing.assert_allclose(h(nd.array([v])).asnumpy(),
                                   np.ones(math.floor(np.float32(v) * 2) + 1) * np.float32(v))


def test_training_a_block_with_a_data_dependent_branch_matches_eager_step_by_step():
    e, h = _eager_and_hybrid(Outer)
    trainers = [gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
                for net in (e, h)]
    rs = np.random.RandomState(5)
    loss_fn = gluon.loss.L2Loss()
    for step in range(10):
        x = nd.array(rs.randn(4, 3) + (1.5 if step % 3 else -1.5))
        y = nd.array(rs.randn(4, 2))
        for net, tr in zip((e, h), trainers):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            tr.step(4)
        for pe, ph in zip(e.collect_params().values(), h.collect_params().values()):
            np.testing.assert_allclose(ph.data().asnumpy(), pe.data().asnumpy(), rtol=1e-5,
                                       atol=1e-6)
    assert h._tg_jit.counts["traces"] == 2 and h._tg_jit.counts["eager_fallbacks"] == 0


def test_traced_scalars_with_arrays_numpy_and_builtins_behave_as_eager():
    def f(x, w):
        s = x.asscalar()
        a = s + w                    # NDArray's reflected op takes over
        m = s < w                    # an NDArray comparison, not a guard
        b = nd.array([s, s * 2])     # numpy reads the values
        c = max(s, 0.5)              # builtins compare
        d = np.float32(s) * 3
        return a * 2 + w * m + b.sum() + c + float(d) + (s >= 0.5) + (s == s)
    jf = mx.jit(f)
    w = nd.array([1.0, 2.0])
    for v in (0.2, 0.7, 0.2, 1.5, 3.0):
        x = nd.array([v])
        got, want = jf(x, w), f(x, w)
        assert type(got) is type(want)
        np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6)
    assert jf.counts["eager_fallbacks"] == 0


def test_a_scalar_returned_from_compiled_code_is_the_eager_numpy_scalar():
    def f(x):
        return x * 2, x.asscalar() * 3
    jf = mx.jit(f)
    for v in (1.0, 2.0, 1.0):
        (a, s), (ea, es) = jf(nd.array([v])), f(nd.array([v]))
        assert type(s) is type(es) and s == es
        np.testing.assert_allclose(a.asnumpy(), ea.asnumpy())


def test_guarded_function_called_from_threads_matches_eager(in_threads):
    def f(x):
        if nd.sum(x) > 0:
            return nd.tanh(x) * 2
        return x * x
    jf = mx.jit(f)
    inputs = [nd.array(np.random.RandomState(i).randn(5)) for i in range(6)]
    want = [f(x).asnumpy() for x in inputs]
    errors = []

    def worker(i):
        for _ in range(30):
            if not np.allclose(jf(inputs[i]).asnumpy(), want[i], rtol=1e-6):
                errors.append(i)
    in_threads(worker, 6)
    assert not errors and jf.counts["traces"] <= 2
