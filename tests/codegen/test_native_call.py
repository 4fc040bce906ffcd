"""NativeFunction's calling convention: try_call refuses (None, nothing written) an input its
native guard rejects, where __call__ converts or explains; small graphs keep the GIL (no lock)
and larger ones, native loops and pooled outputs release it; threads calling one function
concurrently never share its scratch arena."""

import numpy as np
import pytest

from tracegrad.ir import Builder, TensorType
from tracegrad.runtime import native
from tracegrad.runtime.native import NativeFunction


def _mlp_like(n=8, dtype="f32"):
    """relu(x @ w.T + b) * 2 - 1: a matmul, a fused step, intermediates in the arena."""
    b = Builder(name=f"mlp_like_{n}")
    x = b.param(TensorType(dtype, (1, n)), "x")
    w = b.param(TensorType(dtype, (n, n)), "w")
    bias = b.param(TensorType(dtype, (n,)), "b")
    h = b.relu(b.add(b.matmul(x, w, transpose_b=True), bias))
    return NativeFunction(b.ret(b.sub(b.mul(h, 2.0), 1.0)))


def _want(x, w, bias):
    return np.maximum(x.astype(np.float64) @ w.T + bias, 0) * 2 - 1


def _inputs(n=8, seed=0):
    rs = np.random.RandomState(seed)
    return (rs.randn(1, n).astype(np.float32), rs.randn(n, n).astype(np.float32),
            rs.randn(n).astype(np.float32))


def test_try_call_runs_or_refuses_without_converting():
    f = _mlp_like()
    x, w, bias = _inputs()
    out = f.try_call((x, w, bias))
    np.testing.assert_allclose(out[0], _want(x, w, bias), rtol=1e-5, atol=1e-5)
    assert f.try_call((x[:, :4].copy(), w, bias)) is None          # shape
    assert f.try_call((x.astype(np.float64), w, bias)) is None      # dtype
    assert f.try_call((x.reshape(8), w, bias)) is None              # rank
    wf = np.asfortranarray(w)
    assert f.try_call((x, wf, bias)) is None                        # layout
    assert f.try_call((x, w)) is None                               # count
    # __call__ converts what it can and names what it cannot
    np.testing.assert_allclose(f(x, wf, bias)[0], _want(x, w, bias), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="expects"):
        f(x[:, :4].copy(), w, bias)
    with pytest.raises(TypeError, match="takes 3 arrays"):
        f(x, w)


def test_which_calls_keep_the_gil():
    assert _mlp_like(8)._held and _mlp_like(512)._held    # a batch-1 Dense of 512: 1 MiB
    b = Builder(name="big_product")
    x = b.param(TensorType("f32", (256, 256)), "x")
    assert 2 * 256 ** 3 > native.SHORT_FLOPS
    assert not NativeFunction(b.ret(b.matmul(x, x)))._held
    b = Builder(name="big_add")
    x = b.param(TensorType("f32", (1 << 20,)), "x")
    assert not NativeFunction(b.ret(b.add(x, 1.0)))._held             # 8 MiB touched, pooled


def test_threads_calling_one_held_function_agree(in_threads):
    f = _mlp_like(16)
    assert f._held
    cases = [_inputs(16, seed) for seed in range(4)]
    wants = [_want(*c) for c in cases]
    errors = []

    def work(k):
        for _ in range(300):
            got = f(*cases[k])[0]
            if not np.allclose(got, wants[k], rtol=1e-5, atol=1e-5):
                errors.append(k)
                return
    in_threads(work, 4)
    assert not errors


def test_a_native_loop_releases_the_gil():
    import tracegrad as mx
    from tracegrad import nd

    def f(x):
        _, (y,) = nd.contrib.while_loop(lambda v: nd.sum(v) < 100.0, lambda v: ([], [v * 2]),
                                        [x], max_iterations=50)
        return y
    jf = mx.jit(f)
    x = nd.array([1.0, 2.0])
    np.testing.assert_allclose(jf(x).asnumpy(), [64.0, 128.0])   # sums 3, 6, ..., 96, 192
    entry = jf.last
    assert any(op.opdef.name == "while_loop" for op in entry.optimized.ops)
    assert not entry.native._held


def test_a_long_call_lets_other_threads_run_during_it():
    """The builtin entry (codegen/builtin_entry.py) of a long call drops the GIL: another
    Python thread runs while the native code does (it takes timestamps inside the call)."""
    import threading
    import time
    b = Builder(name="long_product")
    x = b.param(TensorType("f64", (1024, 1024)), "x")
    f = NativeFunction(b.ret(b.matmul(b.matmul(x, x), x)))
    assert not f._held
    a = np.random.RandomState(0).rand(1024, 1024)
    f(a)
    stamps, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            stamps.append(time.perf_counter())
    t = threading.Thread(target=tick)
    t.start()
    try:
        time.sleep(0.01)
        start = time.perf_counter()
        out = f(a)[0]
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    # held, the GIL would let the other thread in only at the call's edges (before the entry,
    # and while this thread takes the GIL back): look in its middle half (the call is long
    # enough for that to be many switch intervals on any machine: 4.3 GFLOP)
    assert end - start > 0.02
    span = end - start
    inside = [s for s in stamps if start + span / 4 < s < start + 3 * span / 4]
    assert inside, (end - start, len(stamps))
    np.testing.assert_allclose(out, a @ a @ a, rtol=1e-9)


def test_the_entry_builtin_keeps_what_it_calls_alive():
    """The builtin holds the compiled code and the arena: it stays callable after the
    NativeFunction that made it is gone."""
    import gc
    f = _mlp_like(8)
    entry, outs = f._entry, f._outs
    del f
    gc.collect()
    args = _inputs(8, 3)
    got = np.empty(*outs[0])
    assert entry(args + (got,)) == 0
    np.testing.assert_allclose(got, _want(*args), rtol=1e-5, atol=1e-5)
    assert entry(args) == -1          # a wrong argument count: refused, nothing touched
