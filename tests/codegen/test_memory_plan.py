"""The memory plan: liveness-based reuse and in-place elementwise steps in one arena per graph;
the planned peak (memory_plan(), stats()) agrees with the allocation measured by tracemalloc."""
import tracemalloc

import numpy as np
import pytest

import tracegrad as mx
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction


def chain_through_matmuls(n=64):
    """Intermediates that must be stored (each feeds a matmul) and die one after another."""
    b = Builder(name="plan")
    x = b.param(TensorType("f32", (n, n)), "x")
    w = b.param(TensorType("f32", (n, n)), "w")
    h = x
    for _ in range(4):
        a = b.matmul(h, w)              # stored (kernel result)
        h = b.tanh(b.add(a, 1.0))       # elementwise over a dying buffer: in place
    return b.ret(b.sum(h, axes=(0, 1)))


def test_reuse_and_in_place_keep_values_right():
    fn = chain_through_matmuls()
    f = NativeFunction(fn)
    plan = f.memory_plan()
    assert plan["in_place"] >= 3, plan
    # 4 GEMM results and 4 activations live one or two at a time: far below 8 buffers
    one = 64 * 64 * 4
    assert plan["arena_bytes"] <= 2 * one, plan
    rng = np.random.default_rng(0)
    x, w = (rng.normal(size=(64, 64)).astype(np.float32) * 0.2 for _ in range(2))
    np.testing.assert_allclose(f(x, w)[0], interpret(fn, [x, w])[0], rtol=1e-5)
    assert mx.stats()["planned_peak_bytes"] == plan["peak_bytes"]


def test_planned_peak_matches_measured_allocation():
    fn = chain_through_matmuls(128)
    rng = np.random.default_rng(1)
    x, w = (rng.normal(size=(128, 128)).astype(np.float32) * 0.1 for _ in range(2))
    from tracegrad.codegen import compile_function
    module = compile_function(fn)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        f = NativeFunction(module)        # allocates the arena
        out = f(x, w)                     # allocates the outputs
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    plan = f.memory_plan()
    assert out[0].shape == ()
    # numpy reports its data buffers to tracemalloc; the rest is a few small Python objects
    # and the arena's alignment slack
    assert plan["peak_bytes"] <= held <= plan["peak_bytes"] + 64 + 16384, (held, plan)
    assert held >= plan["arena_bytes"] > 0


PLAN_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_memory_plan import mlp_adjoint
from tracegrad.codegen import entry
plan = entry.make_plan(mlp_adjoint())
print(plan.arena_bytes, list(plan.offsets.values()), plan.in_place)
"""


def mlp_adjoint(batch=4096):
    """A training step's adjoint: GEMMs, relu masks and bias sums, threaded and in place."""
    from tracegrad import ir
    b = Builder(name="mlp_plan")
    t = lambda *s: TensorType("f32", s)  # noqa: E731
    x, w1, b1 = b.param(t(batch, 64), "x"), b.param(t(64, 256), "w1"), b.param(t(256), "b1")
    w2, b2 = b.param(t(256, 256), "w2"), b.param(t(256), "b2")
    h = b.relu(b.add(b.matmul(x, w1), b1))
    h = b.relu(b.add(b.matmul(h, w2), b2))
    fn = b.ret(b.sum(b.mul(h, h), axes=(0, 1)))
    return ir.vjp(fn, wrt=[1, 2, 3, 4])


def test_plan_is_the_same_in_every_process():
    """Arena offsets are baked into cached object code: planning must be deterministic. This
    process (after other tests, under its own hash seed) and a fresh one plan alike."""
    import os
    import subprocess
    import sys

    from tracegrad.codegen import entry
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    env = dict(os.environ, PYTHONPATH=root)
    other = subprocess.run([sys.executable, "-c", PLAN_SCRIPT.format(tests=here)], env=env,
                           capture_output=True, text=True, check=True).stdout
    plan = entry.make_plan(mlp_adjoint())
    assert other == f"{plan.arena_bytes} {list(plan.offsets.values())} {plan.in_place}\n"


def test_threaded_in_place_adjoint_matches_interpreter():
    fn = mlp_adjoint()
    f = NativeFunction(fn)
    assert f.memory_plan()["in_place"] >= 1 and "tg_parallel_for" in f.llvm_ir
    rng = np.random.default_rng(2)
    args = [np.asarray(rng.normal(size=p.type.shape) * 0.3, dtype=np.float32) for p in fn.params]
    want = interpret(fn, args)
    for _ in range(3):
        for g, w in zip(f(*args), want):
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=1e-4)


def test_no_in_place_write_over_a_buffer_a_reduction_of_the_step_reads():
    """Two products of g, the first summed in the step that computes the second: the second
    must not be stored over the first (the sum loads its operand in its own order). This
    graph is the weight gradient of a depthwise convolution written as sliced windows."""
    text = """func @t(%g: f64[2,2,2,2], %a: f64[2,2,2,2], %b: f64[2,2,2,2], %c: f64[2,2,2,2]) -> (f64[2,1,2,2]) {
  %0 = mul %g, %a : f64[2,2,2,2]
  %1 = sum %0 {axes = [0, 2, 3]} : f64[2]
  %2 = reshape %1 {shape = [2, 1, 1, 1]} : f64[2,1,1,1]
  %3 = mul %g, %b : f64[2,2,2,2]
  %4 = sum %3 {axes = [0, 2, 3]} : f64[2]
  %5 = reshape %4 {shape = [2, 1, 1, 1]} : f64[2,1,1,1]
  %6 = concat %5, %2 {axis = 3} : f64[2,1,1,2]
  %7 = slice_scatter %6 {begin = [0, 0, 1, 0], end = [2, 1, 2, 2], shape = [2, 1, 2, 2], step = [1, 1, 1, 1]} : f64[2,1,2,2]
  %8 = mul %g, %c : f64[2,2,2,2]
  %9 = sum %8 {axes = [0, 2, 3]} : f64[2]
  %10 = reshape %9 {shape = [2, 1, 1, 1]} : f64[2,1,1,1]
  %11 = slice_scatter %10 {begin = [0, 0, 0, 1], end = [2, 1, 1, 2], shape = [2, 1, 2, 2], step = [1, 1, 1, 1]} : f64[2,1,2,2]
  %12 = add %7, %11 : f64[2,1,2,2]
  return %12
}"""
    from tracegrad.ir import parse
    fn = parse(text)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(p.type.shape) for p in fn.params]
    np.testing.assert_allclose(NativeFunction(fn)(*args)[0], interpret(fn, args)[0],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 4])
def test_a_length_one_axis_does_not_stop_writing_in_place(n):
    """exp(x @ w + 1) over a (64, n) product is written over the product's buffer for every n:
    a length-1 axis has one index, so its stride (0 once aligned) does not matter (n = 1 was
    refused: its aligned strides differed from the contiguous ones on that axis only)."""
    b = Builder(name=f"in_place_{n}")
    x = b.param(TensorType("f32", (64, 8)), "x")
    w = b.param(TensorType("f32", (8, n)), "w")
    v = b.param(TensorType("f32", (n, 3)), "v")
    f = NativeFunction(b.ret(b.matmul(b.exp(b.add(b.matmul(x, w), 1.0)), v)))
    assert f.memory_plan()["in_place"] == 1
    rs = np.random.RandomState(n)
    xs, ws, vs = (rs.rand(*s).astype(np.float32) for s in ((64, 8), (8, n), (n, 3)))
    want = np.exp(xs.astype(np.float64) @ ws + 1) @ vs
    np.testing.assert_allclose(f(xs, ws, vs)[0], want, rtol=1e-5)
