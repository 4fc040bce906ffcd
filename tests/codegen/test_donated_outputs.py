"""Donated outputs (codegen/donation.py, NativeFunction(donate=...)): output k written into
the array passed for parameter p. Whatever the schedule, the parameters end up holding what
the un-donated function returns (as if copied over them after the call), the other outputs are
unchanged, and a call the guards refuse writes nothing and says why."""
import numpy as np
import pytest

from tracegrad.codegen import compile_function
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.donation import Donating
from tracegrad.runtime.native import NativeFunction
from tracegrad.runtime.segments import Interpreted, compile_callable

F32 = np.float32


def _t(*shape, dtype="f32"):
    return TensorType(dtype, shape)


def _rand(rs, t):
    return rs.standard_normal(t.shape).astype(t.np_dtype)


def _check(fn, donate, inputs, want=None, how=None):
    """Run `fn` donated and not: the donated parameters hold the un-donated outputs exactly,
    the returned outputs are the others, the other inputs are untouched; `want`: float64
    references per output; `how`: the expected {output: 'in place' | 'copied' | ...}."""
    unshared = NativeFunction(fn)
    unshared._arena.array[:] = 0xFF   # NaNs wherever a step reads scratch not yet written
    plain = unshared(*[a.copy() for a in inputs])
    f = NativeFunction(fn, donate=donate)
    f._arena.array[:] = 0xFF
    args = [a.copy() for a in inputs]
    got = f(*args)
    kept = [i for i in range(len(fn.outputs)) if i not in donate]
    assert len(got) == len(kept)
    for g, i in zip(got, kept):
        np.testing.assert_array_equal(g, plain[i], err_msg=f"output {i}")
    for k, p in donate.items():
        np.testing.assert_array_equal(args[p], plain[k], err_msg=f"output {k} -> input {p}")
    for p, a in enumerate(inputs):
        if p not in donate.values():
            np.testing.assert_array_equal(args[p], a, err_msg=f"input {p} was written")
    if want is not None:
        for k, w in enumerate(want):
            t = fn.outputs[k].type
            np.testing.assert_allclose(plain[k], w, rtol=1e-5 if t.dtype == "f32" else 1e-12,
                                       atol=1e-5 if t.dtype == "f32" else 1e-12)
    plan = f.memory_plan()["donated"]
    if how is not None:
        assert {k: h for k, (_, h) in plan.items()} == how
    return f


def _sgd_step():
    b = Builder(name="sgd_step")
    w, g = b.param(_t(16, 8), "w"), b.param(_t(16, 8), "g")
    return b.ret(b.sub(w, b.mul(g, 0.25)))


def test_an_elementwise_update_is_written_in_place():
    rs = np.random.default_rng(0)
    w, g = _rand(rs, _t(16, 8)), _rand(rs, _t(16, 8))
    f = _check(_sgd_step(), {0: 0}, [w, g], [w.astype(np.float64) - 0.25 * g],
               how={0: "in place"})
    mp = f.memory_plan()
    assert mp["output_bytes"] == 0 and mp["arena_bytes"] == 0
    assert "out0 -> %w (in place)" in f.llvm_ir
    # one pointer for the weight and its new value in the step that reads and writes it
    entry = f.llvm_ir[f.llvm_ir.index('define i32 @"tg_entry"'):]
    assert 'call void @"step0_fused"(ptr' in entry
    assert entry.count("call void") == 1
    # every call writes the same arrays again (nothing fresh)
    args = (w.copy(), g)
    before = args[0].__array_interface__["data"][0]
    assert f(*args) == [] and f(*args) == []
    assert args[0].__array_interface__["data"][0] == before
    np.testing.assert_allclose(args[0], w - 0.5 * g, rtol=1e-6, atol=1e-6)


def _forward_and_update(update_first):
    """y = x @ w (the forward read of w) and w' = w - 0.1 g, in either program order."""
    b = Builder(name=f"fwd_upd_{int(update_first)}")
    x, w, g = b.param(_t(5, 12), "x"), b.param(_t(12, 7), "w"), b.param(_t(12, 7), "g")
    if update_first:
        new_w = b.sub(w, b.mul(g, 0.1))
        y = b.matmul(x, w)
    else:
        y = b.matmul(x, w)
        new_w = b.sub(w, b.mul(g, 0.1))
    return b.ret(y, new_w)


@pytest.mark.parametrize("update_first", [False, True])
def test_a_matmul_reading_the_weight_sees_the_old_weight(update_first):
    rs = np.random.default_rng(1)
    x, w, g = _rand(rs, _t(5, 12)), _rand(rs, _t(12, 7)), _rand(rs, _t(12, 7))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    _check(_forward_and_update(update_first), {1: 1}, [x, w, g],
           [x64 @ w64, w64 - 0.1 * g], how={1: "copied" if update_first else "in place"})


def test_a_transposed_read_after_the_update_is_of_the_old_weight():
    # the update first, then a matmul of w.T (a materialised copy of the view) and an output
    # that is w itself (a copy into the caller's array at the end)
    b = Builder(name="late_reads")
    w, g = b.param(_t(6, 6), "w"), b.param(_t(6, 6), "g")
    new_w = b.add(w, g)
    y = b.matmul(b.transpose(w, perm=(1, 0)), g)
    fn = b.ret(new_w, y, w)
    rs = np.random.default_rng(2)
    w0, g0 = _rand(rs, _t(6, 6)), _rand(rs, _t(6, 6))
    w64 = w0.astype(np.float64)
    _check(fn, {0: 0}, [w0, g0], [w64 + g0, w64.T @ g0, w64], how={0: "copied"})


def test_outputs_that_are_parameters():
    b = Builder(name="identities")
    w, v, u = b.param(_t(3, 4), "w"), b.param(_t(3, 4), "v"), b.param(_t(12), "u")
    fn = b.ret(w, v, w, b.reshape(b.reshape(u, shape=(4, 3)), shape=(12,)))
    rs = np.random.default_rng(3)
    w0, v0, u0 = _rand(rs, _t(3, 4)), _rand(rs, _t(3, 4)), _rand(rs, _t(12))
    # w onto itself and a reshape of u onto u: nothing to do; w onto v: a copy
    _check(fn, {0: 0, 2: 1, 3: 2}, [w0, v0, u0], [w0, v0, w0, u0],
           how={0: "identity", 2: "in place", 3: "identity"})


def test_swapped_parameters():
    b = Builder(name="swap")
    w, v = b.param(_t(5, 3), "w"), b.param(_t(5, 3), "v")
    fn = b.ret(v, w)
    rs = np.random.default_rng(4)
    w0, v0 = _rand(rs, _t(5, 3)), _rand(rs, _t(5, 3))
    f = _check(fn, {0: 0, 1: 1}, [w0, v0], [v0, w0])
    assert sorted(h for _, h in f.memory_plan()["donated"].values()).count("copied") >= 1


def test_swapped_materialised_views():
    # each output a reshape of the other parameter's transpose: copies of views (materialised
    # before their first reader) that must all be taken before either parameter is written
    b = Builder(name="swap_views")
    w0, w1 = b.param(_t(4, 6), "w0"), b.param(_t(4, 6), "w1")
    fn = b.ret(b.reshape(b.transpose(w1, perm=(1, 0)), shape=(4, 6)),
               b.reshape(b.transpose(w0, perm=(1, 0)), shape=(4, 6)))
    rs = np.random.default_rng(13)
    a0, a1 = _rand(rs, _t(4, 6)), _rand(rs, _t(4, 6))
    _check(fn, {0: 0, 1: 1}, [a0, a1], [a1.T.reshape(4, 6), a0.T.reshape(4, 6)])


def test_a_transpose_of_the_parameter_written_over_it():
    b = Builder(name="transpose_over")
    w = b.param(_t(7, 7), "w")
    fn = b.ret(b.transpose(w, perm=(1, 0)), b.mul(b.transpose(w, perm=(1, 0)), 2.0))
    w0 = _rand(np.random.default_rng(5), _t(7, 7))
    _check(fn, {0: 0}, [w0], [w0.T, 2.0 * w0.T], how={0: "copied"})


def test_a_reshaped_result_is_written_in_place():
    b = Builder(name="reshaped")
    w, g = b.param(_t(4, 6), "w"), b.param(_t(24), "g")
    flat = b.sub(b.reshape(w, shape=(24,)), b.mul(g, 3.0))
    fn = b.ret(b.reshape(flat, shape=(4, 6)))
    rs = np.random.default_rng(6)
    w0, g0 = _rand(rs, _t(4, 6)), _rand(rs, _t(24))
    _check(fn, {0: 0}, [w0, g0], [w0 - 3.0 * g0.reshape(4, 6)], how={0: "in place"})


def test_a_reduction_over_the_parameter_is_staged():
    # p[i] = sum_j p[i] * x[i, j]: the sum reads p (broadcast) while it accumulates
    b = Builder(name="reduce_over")
    p, x = b.param(_t(8), "p"), b.param(_t(8, 5), "x")
    prod = b.mul(b.broadcast_to(b.reshape(p, shape=(8, 1)), shape=(8, 5)), x)
    fn = b.ret(b.sum(prod, axes=(1,)))
    rs = np.random.default_rng(7)
    p0, x0 = _rand(rs, _t(8)), _rand(rs, _t(8, 5))
    _check(fn, {0: 0}, [p0, x0], [(p0.astype(np.float64)[:, None] * x0).sum(1)],
           how={0: "copied"})


def test_a_gather_from_the_parameter_in_the_same_loop_is_staged():
    # p + p[reversed rows]: the gathered rows would be overwritten before they are read
    b = Builder(name="gather_over")
    p, idx = b.param(_t(6, 3), "p"), b.param(_t(6, dtype="i32"), "idx")
    fn = b.ret(b.add(p, b.take(p, idx, axis=0)), b.mul(p, 2.0))
    p0 = _rand(np.random.default_rng(14), _t(6, 3))
    rev = np.arange(5, -1, -1, dtype=np.int32)
    _check(fn, {0: 0}, [p0, rev], [p0 + p0[::-1], 2.0 * p0], how={0: "copied"})


def test_a_shifted_slice_of_the_parameter_is_staged():
    # p[i] = p[i] + p[i+1] (p[n-1] doubled): a slice read one element ahead of the write
    b = Builder(name="shifted_over")
    p = b.param(_t(9), "p")
    ahead = b.concat(b.slice(p, begin=(1,), end=(9,), step=(1,)),
                     b.slice(p, begin=(8,), end=(9,), step=(1,)), axis=0)
    fn = b.ret(b.add(p, ahead))
    p0 = _rand(np.random.default_rng(15), _t(9))
    _check(fn, {0: 0}, [p0], [p0 + np.concatenate([p0[1:], p0[8:]])])


def test_a_broadcast_row_of_the_parameter_read_in_the_same_loop():
    # p - p[0] (row 0 broadcast): row 0 is written before rows 1.. read it
    b = Builder(name="row_over")
    p = b.param(_t(4, 5), "p")
    row = b.broadcast_to(b.slice(p, begin=(0, 0), end=(1, 5), step=(1, 1)), shape=(4, 5))
    fn = b.ret(b.sub(p, row))
    p0 = _rand(np.random.default_rng(16), _t(4, 5))
    _check(fn, {0: 0}, [p0], [p0 - p0[:1]], how={0: "copied"})


def test_an_update_after_a_reduction_of_the_weight():
    # the update reads w and mean(w) (a reduction step before it): in place is safe
    b = Builder(name="centered")
    w = b.param(_t(6, 10), "w")
    m = b.mul(b.sum(w, axes=(1,), keepdims=True), 0.1)
    fn = b.ret(b.sub(w, b.broadcast_to(m, shape=(6, 10))))
    w0 = _rand(np.random.default_rng(8), _t(6, 10))
    w64 = w0.astype(np.float64)
    _check(fn, {0: 0}, [w0], [w64 - w64.mean(1, keepdims=True)], how={0: "in place"})


def test_a_literal_output_is_filled_into_its_parameter():
    b = Builder(name="literal_out")
    s, w = b.param(_t(), "s"), b.param(_t(3), "w")
    fn = b.ret(b.const(2.5, dtype="f32"), b.mul(w, s))     # (reads s before it is filled)
    f = NativeFunction(fn, donate={0: 0})
    s0, w0 = np.array(7.0, dtype=F32), np.arange(3, dtype=F32)
    out = f(s0, w0)
    assert float(s0) == 2.5 and len(out) == 1
    np.testing.assert_array_equal(out[0], w0 * 7)
    assert f.memory_plan()["donated"] == {0: ("s", "literal")}


def test_a_loop_writing_its_own_input_is_staged():
    import tracegrad as mx
    from tracegrad import nd

    def f(x):
        _, (y,) = nd.contrib.while_loop(lambda v: nd.sum(v) < 100.0, lambda v: ([], [v * 2]),
                                        [x], max_iterations=50)
        return y
    jf = mx.jit(f)
    jf(nd.array([1.0, 2.0]))
    fn = jf.last.optimized
    assert any(op.opdef.name == "while_loop" for op in fn.ops)
    got = NativeFunction(fn, donate={0: 0})
    x = np.array([1.0, 2.0], dtype=F32)
    assert got(x) == []
    np.testing.assert_array_equal(x, [64.0, 128.0])
    assert got.memory_plan()["donated"][0][1] == "copied"


def test_many_updates_against_float64():
    """Momentum SGD over four parameters (one large enough to run on several threads), each
    weight also read by a forward product before its update: weights and momenta donated."""
    shapes = [(3, 1200, 300), (40, 9), (9,), (1, 1)]
    b = Builder(name="momentum_sgd")
    x = b.param(_t(4, 40), "x")
    params = []
    for k, shape in enumerate(shapes):
        params.append((b.param(_t(*shape), f"w{k}"), b.param(_t(*shape), f"g{k}"),
                       b.param(_t(*shape), f"m{k}")))
    y = b.matmul(x, params[1][0])
    outs, donate = [y], {}
    for k, (w, g, m) in enumerate(params):
        mom = b.sub(b.mul(m, 0.9), b.mul(g, 0.05))
        outs += [b.add(w, mom), mom]
        donate[len(outs) - 2] = 1 + 3 * k
        donate[len(outs) - 1] = 3 + 3 * k
    fn = b.ret(*outs)
    rng = np.random.default_rng(9)
    inputs = [_rand(rng, p.type) for p in fn.params]
    want = [inputs[0].astype(np.float64) @ inputs[4]]
    for k in range(len(shapes)):
        w, g, m = (inputs[1 + 3 * k + j].astype(np.float64) for j in range(3))
        mom = 0.9 * m - 0.05 * g
        want += [w + mom, mom]
    f = _check(fn, donate, inputs, want)
    assert all(h == "in place" for _, h in f.memory_plan()["donated"].values())


def test_donations_are_checked_when_compiling():
    b = Builder(name="bad_donations")
    w, v = b.param(_t(3), "w"), b.param(_t(3), "v")
    b.param(_t(3, dtype="i32"), "i")
    fn = b.ret(b.add(w, v), b.sub(w, v))
    with pytest.raises(ValueError, match="outputs 0 and 1 are both donated to parameter %w"):
        NativeFunction(fn, donate={0: 0, 1: 0})
    with pytest.raises(ValueError, match="the types differ"):
        NativeFunction(fn, donate={0: 2})
    with pytest.raises(ValueError, match="not an output index"):
        NativeFunction(fn, donate={2: 0})
    with pytest.raises(ValueError, match="not a parameter index"):
        NativeFunction(fn, donate={0: 3})


def test_refused_inputs_write_nothing_and_say_why():
    f = NativeFunction(_sgd_step(), donate={0: 0})
    rs = np.random.default_rng(10)
    w, g = _rand(rs, _t(16, 8)), _rand(rs, _t(16, 8))
    w0 = w.copy()
    # the same array twice
    assert f.try_call((w, w)) is None
    np.testing.assert_array_equal(w, w0)
    with pytest.raises(ValueError, match=r"%w \(argument 0\).*same array as argument 1 \(%g\)"):
        f(w, w)
    # an overlapping view of it (shifted by one row)
    big = np.concatenate([w, w[:1]])
    view = big[1:]
    assert f.try_call((big[:16], view)) is None
    with pytest.raises(ValueError, match="overlaps the memory of argument 1"):
        f(big[:16], view)
    np.testing.assert_array_equal(big[:16], w0)
    # read-only
    ro = w.copy()
    ro.flags.writeable = False
    assert f.try_call((ro, g)) is None
    with pytest.raises(ValueError, match="read-only"):
        f(ro, g)
    # a donated input is never converted: a copy would not receive the result
    fortran = np.asfortranarray(w)
    with pytest.raises(TypeError, match="C-contiguous"):
        f(fortran, g)
    np.testing.assert_array_equal(fortran, w0)
    with pytest.raises(TypeError, match="numpy ndarray"):
        f(w.tolist(), g)
    # a non-donated input that needs converting is converted as before
    args = (w.copy(), np.asfortranarray(g))
    assert f(*args) == []
    np.testing.assert_allclose(args[0], w0 - 0.25 * g, rtol=1e-6)


def test_the_donation_map_is_part_of_the_cache_key():
    fn = _sgd_step()
    plain, donated = compile_function(fn), compile_function(fn, donate={0: 0})
    assert plain.key != donated.key and plain.donate == {} and donated.donate == {0: 0}
    assert compile_function(fn, donate={0: 0}) is donated
    assert "tg_check_donated" in donated.llvm_ir and "tg_check_donated" not in plain.llvm_ir
    with pytest.raises(ValueError, match="compiled with donate"):
        NativeFunction(plain, donate={0: 0})


def _swap_and_update():
    b = Builder(name="swap_update")
    w, v, g = b.param(_t(4, 3), "w"), b.param(_t(4, 3), "v"), b.param(_t(4, 3), "g")
    return b.ret(v, b.add(w, g), b.mul(g, 2.0))


@pytest.mark.parametrize("make", [lambda fn: Interpreted(fn),
                                  lambda fn: compile_callable(fn)])
def test_the_copying_form_matches_the_native_one(make):
    fn = _swap_and_update()
    donate = {0: 0, 1: 1}
    rs = np.random.default_rng(11)
    inputs = [_rand(rs, p.type) for p in fn.params]
    native_args = [a.copy() for a in inputs]
    want = NativeFunction(fn, donate=donate)(*native_args)
    wrapped = Donating(make(fn), fn, donate)
    args = [a.copy() for a in inputs]
    got = wrapped(*args)
    np.testing.assert_array_equal(got[0], want[0])
    for a, b_ in zip(args, native_args):
        np.testing.assert_array_equal(a, b_)
    np.testing.assert_array_equal(args[0], inputs[1])
    with pytest.raises(ValueError, match="same array"):
        wrapped(args[0], args[0], args[2])
    assert wrapped.try_call((args[0], args[0], args[2])) is None
    before = [a.copy() for a in args]
    assert len(wrapped.try_call(tuple(args))) == 1
    np.testing.assert_array_equal(args[0], before[1])
    ro = args[1].copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        wrapped(args[0], ro, args[2])


def test_compile_callable_passes_donation_through():
    fn = _sgd_step()
    f = compile_callable(fn, donate={0: 0})
    assert isinstance(f, NativeFunction) and f.donate == {0: 0}


def test_a_segmented_graph_donates_by_copying(monkeypatch):
    from tracegrad.runtime import segments

    # exp taken as an op without a native lowering: native segments around a Python op
    native_op = segments.native_op
    monkeypatch.setattr(segments, "native_op", lambda op: op.name != "exp" and native_op(op))
    b = Builder(name="segmented")
    x, v = b.param(_t(2), "x"), b.param(_t(2), "v")
    fn = b.ret(b.add(b.exp(b.mul(x, 2.0)), v), b.mul(x, 3.0))
    calls = []
    f = compile_callable(fn, on_python_op=calls.append, donate={0: 1})
    assert isinstance(f, Donating) and isinstance(f.inner, segments.SegmentedFunction)
    x0, v0 = np.array([0.5, 1.0], dtype=F32), np.array([1.0, 2.0], dtype=F32)
    out = f(x0, v0)
    assert len(calls) == 1
    np.testing.assert_allclose(v0, np.exp([1.0, 2.0]) + [1.0, 2.0], rtol=1e-6)
    np.testing.assert_array_equal(out[0], [1.5, 3.0])
    np.testing.assert_array_equal(x0, [0.5, 1.0])
    with pytest.raises(ValueError, match="same array"):
        f(x0, x0)
    np.testing.assert_array_equal(x0, [0.5, 1.0])


def _random_graph(rs, n_params=3, n_ops=9):
    """Random graphs over [4,4] parameters: elementwise ops, transposes, reshapes, matmuls and
    row sums reading any value in any order; outputs that may be parameters or views."""
    b = Builder(name=f"random_{rs.integers(1 << 30)}")
    pool = [b.param(_t(4, 4), f"p{i}") for i in range(n_params)]
    for _ in range(n_ops):
        a, c = pool[rs.integers(len(pool))], pool[rs.integers(len(pool))]
        kind = rs.integers(8)
        if kind == 0:
            v = b.add(a, c)
        elif kind == 1:
            v = b.sub(b.mul(a, 0.5), c)
        elif kind == 2:
            v = b.transpose(a, perm=(1, 0))
        elif kind == 3:
            v = b.matmul(a, c)
        elif kind == 4:
            v = b.broadcast_to(b.sum(a, axes=(1,), keepdims=True), shape=(4, 4))
        elif kind == 5:
            v = b.reshape(b.tanh(b.reshape(a, shape=(16,))), shape=(4, 4))
        elif kind == 6:
            v = b.add(b.transpose(a, perm=(1, 0)), b.mul(c, c))
        else:                   # a view with no strided form: a materialised copy
            v = b.reshape(b.reshape(b.transpose(a, perm=(1, 0)), shape=(16,)), shape=(4, 4))
        pool.append(v)
    n_out = int(rs.integers(2, 5))
    outs = [pool[i] for i in rs.choice(len(pool), size=n_out, replace=False)]
    fn = b.ret(*outs)
    targets = rs.permutation(n_params)[:min(n_out, n_params)]
    donate = {int(k): int(p) for k, p in zip(rs.permutation(n_out), targets)}
    return fn, donate


def test_random_schedules_donate_exactly():
    from tracegrad.runtime.interpret import interpret
    rs = np.random.default_rng(12)
    for _ in range(10):
        fn, donate = _random_graph(rs)
        inputs = [_rand(rs, p.type) * 0.5 for p in fn.params]
        want = [np.asarray(w, dtype=np.float64) for w in interpret(fn, inputs)]
        _check(fn, donate, inputs, want)
