"""Large kernels split their outer loop across threads; results are bitwise identical for every
thread count (fixed task boundaries, partials combined in task order)."""
import numpy as np
import pytest

from tracegrad.codegen import threads
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime import native
from tracegrad.runtime.native import NativeFunction


@pytest.fixture
def thread_counts():
    saved = native._CONTEXT.num_threads
    yield (1, 2, 3, 7)
    native._CONTEXT.num_threads = saved


def run_all(f, args, counts):
    results = []
    for n in counts:
        native._CONTEXT.num_threads = n
        results.append(f(*args))
    return results


GRAPHS = {
    # 1-d full sum: fixed chunk tasks combined pairwise, plus an elementwise output
    "full_sum": ((1 << 20,), lambda b, x: (b.sum(b.tanh(x), axes=(0,)), b.exp(x))),
    "rows": ((1000, 1100), lambda b, x: (b.sum(b.mul(x, x), axes=(1,)),
                                        b.max(x, axes=(1,)))),
    "cols": ((1100, 1000), lambda b, x: (b.sum(b.sigmoid(x), axes=(0,)),)),
    "rows3d": ((3, 400, 900), lambda b, x: (b.sum(b.exp(x), axes=(1,)),)),
    "elementwise": ((1031, 1033), lambda b, x: (b.add(b.tanh(x), b.mul(x, 0.5)),)),
    "f64_sum": ((1 << 20,), lambda b, x: (b.sum(b.cast(x, dtype="f64"), axes=(0,)),)),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_bitwise_identical_for_any_thread_count(name, thread_counts):
    shape, body = GRAPHS[name]
    b = Builder(name=f"thr_{name}")
    x = b.param(TensorType("f32", shape), "x")
    fn = b.ret(*body(b, x))
    assert np.prod(shape) >= threads.THRESHOLD
    f = NativeFunction(fn)
    assert threads.PARALLEL_FOR in f.llvm_ir       # the step is threaded
    xv = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    results = run_all(f, (xv,), thread_counts)
    for res in results[1:]:
        for got, ref in zip(res, results[0]):
            np.testing.assert_array_equal(got, ref)
    from tracegrad.runtime.interpret import interpret
    want = interpret(fn, [xv])
    for got, w in zip(results[0], want):
        np.testing.assert_allclose(got, w, rtol=2e-5, atol=1e-5)


def test_small_kernels_stay_single_threaded():
    b = Builder(name="small")
    x = b.param(TensorType("f32", (100, 100)), "x")
    f = NativeFunction(b.ret(b.sum(b.exp(x), axes=(1,))))
    assert threads.PARALLEL_FOR not in f.llvm_ir


def test_num_threads_env(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "3")
    assert threads.default_num_threads() == 3
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="TRACEGRAD_NUM_THREADS"):
        threads.default_num_threads()
    monkeypatch.delenv("TRACEGRAD_NUM_THREADS")
    assert threads.default_num_threads() >= 1
