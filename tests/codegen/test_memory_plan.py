"""The memory plan: liveness-based reuse and in-place elementwise steps in one arena per graph;
the planned peak (memory_plan(), stats()) agrees with the allocation measured by tracemalloc."""
import tracemalloc

import numpy as np

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
