"""What keeps compiling an unrolled graph short, checked by the structure of the module it
makes (codegen/entry.py, kernels.py; ir/gcpause.py, ir/passes/cse.py) and by its results."""
import gc
import re

import numpy as np
import pytest

from tracegrad.codegen import compile_function, entry, kernels
from tracegrad.ir import Builder, TensorType
from tracegrad.ir.gcpause import gc_paused
from tracegrad.ir.passes.cse import _key
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction


def _defined(text, kind=""):
    return re.findall(rf'define internal void @"?(step\d+_{kind}\w*)"?\(', text)


def _check(fn, args, exact=True):
    got = NativeFunction(fn)(*args)
    for g, w in zip(got, interpret(fn, args)):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        if exact:
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
        else:     # (BLAS sums in another order than numpy's matmul)
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


@pytest.fixture
def verified(monkeypatch):
    """Every step emitted, and a step whose signature an earlier one had must have its code."""
    monkeypatch.setattr(entry, "VERIFY_SIGNATURES", True)


def _unrolled(T=12, n=4, h=8):
    """A recurrence over the rows of x (an unrolled RNN): h = tanh(x[t] @ w + h @ u)."""
    b = Builder(name="unrolled")
    x = b.param(TensorType("f32", (T, n, h)), "x")
    w = b.param(TensorType("f32", (h, h)), "w")
    u = b.param(TensorType("f32", (h, h)), "u")
    state = b.param(TensorType("f32", (n, h)), "h0")
    outs = []
    for t in range(T):
        row = b.reshape(b.slice(x, begin=(t, 0, 0), end=(t + 1, n, h), step=(1, 1, 1)),
                        shape=(n, h))
        state = b.tanh(b.add(b.matmul(row, w), b.matmul(state, u)))
        outs.append(b.reshape(state, shape=(1, n, h)))
    return b.ret(b.concat(*outs, axis=0))


def test_time_steps_reading_other_rows_share_one_function(verified):
    T = 12
    fn = _unrolled(T)
    module = compile_function(fn, use_cache=False)
    text = module.llvm_ir
    fused = _defined(text, "fused")
    assert len(fused) == 1, fused              # T steps, one function: rows differ by a shift
    assert len(module.plan.steps) >= 2 * T
    calls = re.findall(r'call void @"?(step\d+_\w+)"?\(', text)
    assert calls.count(fused[0]) == T
    assert len(_defined(text, "matmul")) <= 3
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(p.type.shape).astype(np.float32) * 0.5 for p in fn.params]
    _check(fn, args, exact=False)


def test_signatures_change_nothing_in_the_module(monkeypatch):
    fn = _unrolled(6)
    fast = compile_function(fn, use_cache=False).llvm_ir
    monkeypatch.setattr(entry, "VERIFY_SIGNATURES", True)
    assert compile_function(fn, use_cache=False).llvm_ir == fast


def test_signature_tells_zero_signs_and_bools_apart():
    def step_of(value):
        b = Builder(name="s")
        x = b.param(TensorType("f32", (4,)), "x")
        fn = b.ret(b.mul(b.add(x, value), 2.0))
        plan = entry.make_plan(fn)
        step, views = plan.steps[0]
        return entry.signature(step, views, {}, plan.fastmath)
    assert step_of(0.0) != step_of(-0.0)
    assert step_of(1.0) == step_of(1.0)
    assert entry._exact((1, 2)) != entry._exact((True, 2))
    assert entry._exact(1) != entry._exact(1.0)


def test_entry_calls_its_steps_through_unoptimised_parts(verified):
    b = Builder(name="long")
    x = b.param(TensorType("f32", (3, 5)), "x")
    ys = [x]
    n = entry.PART + 40
    for i in range(n):            # each a step of its own: a reduction ends a fused group
        ys.append(b.add(b.broadcast_to(b.sum(ys[-1], axes=(1,), keepdims=True), shape=(3, 5)),
                        ys[-1]))
        ys[-1] = b.mul(ys[-1], 0.5)
    fn = b.ret(ys[-1])
    module = compile_function(fn, use_cache=False)
    text = module.llvm_ir
    parts = re.findall(r'define internal i32 @"tg_entry\.\d+"\(ptr %"\.1", ptr %"\.2"\)'
                       r'([^\n]*)', text)
    steps = len(module.plan.steps)
    assert steps > entry.PART
    assert len(parts) == -(-steps // entry.PART)
    assert all("optnone" in attrs and "noinline" in attrs for attrs in parts)
    body = text[text.index('define i32 @"tg_entry"'):]
    body = body[:body.index("\n}\n")]
    assert body.count('call i1 @"tg_check_array"') == 0     # inputs checked by one loop
    assert body.count('call i32 @"tg_check_inputs"') == 1
    _check(fn, [np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)])


def test_a_wrong_input_is_still_named_by_the_guard_loop():
    shapes = [(2,), (3, 4), (5,), (1, 2, 3)]
    b = Builder(name="guards")
    params = [b.param(TensorType("f32", s), f"p{i}") for i, s in enumerate(shapes)]
    f = NativeFunction(b.ret(*[b.add(p, 1.0) for p in params]))
    args = [np.zeros(s, np.float32) for s in shapes]
    f(*args)
    for k in range(len(shapes)):
        wrong = list(args)
        wrong[k] = np.zeros(shapes[k], np.float64)
        with pytest.raises(TypeError, match=rf"parameter %p{k} "):
            f(*wrong)


@pytest.mark.parametrize("dtype, transposed", [("f32", False), ("f64", True), ("bool", False),
                                               ("i32", False)])
def test_concat_of_many_alike_pieces_is_one_loop_over_them(verified, dtype, transposed):
    b = Builder(name="pieces")
    shapes = [(3, 1, 5)] * 6 + [(3, 2, 5)] * 2 + [(3, 1, 5)] * (kernels.RUN + 1)
    params = [b.param(TensorType(dtype, s[::-1] if transposed else s), f"p{i}")
              for i, s in enumerate(shapes)]
    pieces = [b.transpose(p, perm=(2, 1, 0)) if transposed else p for p in params]
    fn = b.ret(b.concat(*pieces, axis=1))
    text = compile_function(fn, use_cache=False).llvm_ir
    assert text.count("alloca [6 x ptr]") == 1 and text.count(
        f"alloca [{kernels.RUN + 1} x ptr]") == 1          # two runs; the middle pair as it was
    rng = np.random.default_rng(2)
    np_dtype = {"f32": np.float32, "f64": np.float64, "bool": np.bool_, "i32": np.int32}[dtype]
    args = [(rng.standard_normal(p.type.shape) * 100).astype(np_dtype) for p in params]
    _check(fn, args)


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with gc_paused():
            raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()          # it was off: it stays off
    finally:
        gc.enable()


def test_cse_keys_keep_types_and_zero_signs_apart():
    assert _key((1, 2)) == _key((1, 2))
    assert _key((1, 2)) != _key((True, 2))
    assert _key((0.0,)) != _key((-0.0,))
    assert _key((1, (2, 3))) == _key((1, (2, 3)))
    assert _key((np.int64(1), 2)) != _key((1.0, 2))


def test_a_branch_returning_a_constant_after_its_steps():
    """Region functions call their steps with shifted pointers too, then store literal
    outputs through their own arguments."""
    from tracegrad.ir import Literal
    from tracegrad.tracing.branches import CondBody

    def branch(name, scale, constant):
        b = Builder(name=name)
        x = b.param(TensorType("f32", (2, 6)), "x")
        rows = [b.mul(b.slice(x, begin=(0, 3 * i), end=(2, 3 * i + 3), step=(1, 1)), scale)
                for i in range(2)]
        return b.ret(b.add(rows[0], rows[1]), Literal(constant, "f32"))
    body = CondBody(branch("then", 2.0, 3.0), branch("else", -1.0, 5.0))
    b = Builder(name="branchy")
    pred = b.param(TensorType("bool", (1,)), "p")
    x = b.param(TensorType("f32", (2, 6)), "x")
    y, c = b.cond(pred, x, body=body.handle, out_types=("f32[2,3]", "f32[]"))
    fn = b.ret(b.mul(y, c))
    f = NativeFunction(fn)
    xv = np.arange(12, dtype=np.float32).reshape(2, 6)
    for p, scale, constant in ((True, 2.0, 3.0), (False, -1.0, 5.0)):
        (got,) = f(np.array([p]), xv)
        np.testing.assert_array_equal(got, (xv[:, :3] * scale + xv[:, 3:] * scale) * constant)
