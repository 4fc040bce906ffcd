"""Whole graphs: random fused chains, an MLP's adjoint (vs interpreter and finite differences),
LLVM text checks, input guards, the on-disk cache across processes."""
import os
import re
import subprocess
import sys
import textwrap

import llvmlite.binding as llvm
import numpy as np
import pytest

from tracegrad import ir
from tracegrad.codegen import COUNTERS, cache, compile_function
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction

from cgutil import assert_close

UNARY = ["exp", "tanh", "sigmoid", "neg", "relu", "abs", "sin", "cos"]
BINARY = ["add", "sub", "mul", "maximum", "minimum"]


def random_chain(seed, dtype="f32"):
    rng = np.random.default_rng(seed)
    b = Builder(name=f"chain{seed}")
    x = b.param(TensorType(dtype, (7, 13)), "x")
    y = b.param(TensorType(dtype, (13,)), "y")
    vals = [x, y]
    for _ in range(10):
        if rng.random() < 0.5:
            vals.append(b.emit(UNARY[rng.integers(len(UNARY))], vals[rng.integers(len(vals))]))
        else:
            a, c = (vals[i] for i in rng.integers(len(vals), size=2))
            vals.append(b.emit(BINARY[rng.integers(len(BINARY))], a, c))
    return b.ret(vals[-1], b.sum(vals[-2], axes=tuple(range(vals[-2].type.ndim))))


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_random_fused_chains(dtype):
    rng = np.random.default_rng(3)
    np_dt = np.float32 if dtype == "f32" else np.float64
    x, y = rng.normal(size=(7, 13)).astype(np_dt), rng.normal(size=13).astype(np_dt)
    for seed in range(4):
        fn = random_chain(seed, dtype)
        got = NativeFunction(fn)(x, y)
        for g, w in zip(got, interpret(fn, [x, y])):
            assert_close(g, np.asarray(w), dtype, f"chain {seed}")


def mlp(batch=4, n_in=5, hidden=6, n_out=3, dtype="f64"):
    """Two-layer MLP with softmax cross-entropy written in primitives."""
    b = Builder(name="mlp")
    t = lambda *s: TensorType(dtype, s)  # noqa: E731
    x, w1, b1 = b.param(t(batch, n_in), "x"), b.param(t(n_in, hidden), "w1"), b.param(t(hidden), "b1")
    w2, b2 = b.param(t(hidden, n_out), "w2"), b.param(t(n_out), "b2")
    label = b.param(TensorType("i64", (batch,)), "label")
    h = b.relu(b.add(b.matmul(x, w1), b1))
    z = b.add(b.matmul(h, w2), b2)
    m = b.max(z, axes=(1,), keepdims=True)
    s = b.sub(z, b.broadcast_to(m, shape=z.type.shape))
    lse = b.log(b.sum(b.exp(s), axes=(1,), keepdims=True))
    logp = b.sub(s, b.broadcast_to(lse, shape=z.type.shape))
    picked = b.mul(logp, b.one_hot(label, depth=n_out, dtype=dtype))
    loss = b.mul(b.sum(picked, axes=(0, 1)), -1.0 / batch)
    return b.ret(loss)


def mlp_args(rng, batch=4, n_in=5, hidden=6, n_out=3, dtype=np.float64):
    shapes = [(batch, n_in), (n_in, hidden), (hidden,), (hidden, n_out), (n_out,)]
    args = [rng.normal(size=s).astype(dtype) for s in shapes]
    return args + [rng.integers(0, n_out, batch).astype(np.int64)]


def test_mlp_adjoint_matches_interpreter_and_finite_differences():
    rng = np.random.default_rng(5)
    fn = mlp()
    args = mlp_args(rng)
    adj = ir.vjp(fn, wrt=[1, 2, 3, 4], recompute=True)
    fwd, bwd = NativeFunction(fn), NativeFunction(adj)
    assert_close(fwd(*args)[0], np.asarray(interpret(fn, args)[0]), "f64")
    g = np.array(1.0)
    grads = bwd(*args, g)
    for got, want in zip(grads, interpret(adj, args + [g])):
        assert_close(got, np.asarray(want), "f64", "adjoint")
    eps = 1e-6
    for k, grad in zip([1, 2, 3, 4], grads):
        direction = rng.normal(size=args[k].shape)
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[k] += eps * direction
        minus[k] -= eps * direction
        fd = (fwd(*plus)[0] - fwd(*minus)[0]) / (2 * eps)
        assert abs(fd - np.sum(grad * direction)) < 1e-6 * max(1.0, abs(fd))


def test_llvm_text_loops_intrinsics_and_verify():
    b = Builder(name="text")
    x = b.param(TensorType("f32", (64, 33)), "x")
    y = b.param(TensorType("f32", (33,)), "y")
    e = b.exp(b.mul(x, y))
    t = b.tanh(b.add(e, 1.0))
    s = b.sum(t, axes=(1,))
    z = b.matmul(x, x, transpose_b=True)
    fn = b.ret(b.log(b.add(z, 1.0)), s)
    module = compile_function(fn, use_cache=False)
    text = module.llvm_ir
    llvm.parse_assembly(text).verify()
    steps = re.findall(r"define internal void @\"?(step\d+_\w+)\"?\(", text)
    assert len(steps) == 3, steps          # fused exp/tanh+sum, matmul, fused log
    assert all("noalias" in line for line in text.splitlines()
               if line.startswith('define internal void @"step'))
    for intrinsic in ("llvm.rint.f64", "llvm.fabs.f64", "llvm.maxnum.f64"):  # f32 math in f64
        assert len(re.findall(rf"declare .*@\"?{re.escape(intrinsic)}\"?\(", text)) == 1
    assert "call" in text and "tracegrad_sgemm" in text
    assert not re.search(r"@\"?(expf|logf|tanhf|exp|log)\"?\(", text)   # no libm per element
    assert re.search(r"<\d+ x float>", module.optimized_ir)       # the loops vectorised
    assert not re.search(r"\b(fast|reassoc|nnan|ninf|contract|afn)\b", module.optimized_ir)
    assert "vmulps" in module.assembly() or "vmulss" in module.assembly()


def test_guards_shape_dtype_and_noncontiguous():
    b = Builder(name="g")
    x = b.param(TensorType("f32", (3, 4)), "x")
    fn = b.ret(b.mul(x, 2.0))
    f = NativeFunction(fn)
    with pytest.raises(TypeError, match=r"parameter %x .*expects f32\[3,4\].*got float32\[4, 3\]"):
        f(np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match=r"expects f32\[3,4\].*got float64\[3, 4\]"):
        f(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="takes 1 arrays"):
        f()
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    view = base[:3, ::-1][:, :4]
    np.testing.assert_array_equal(f(view)[0], view * 2)
    np.testing.assert_array_equal(f(base[:3, :4].T.T.copy())[0], base[:3, :4] * 2)
    swapped = base[:3, :4].astype(">f4")
    np.testing.assert_array_equal(f(swapped)[0], base[:3, :4] * 2)


def test_outputs_are_fresh_and_params_returned():
    b = Builder(name="o")
    x = b.param(TensorType("f32", (3,)), "x")
    y = b.exp(x)
    fn = b.ret(y, y, x, b.reshape(y, shape=(1, 3)))
    f = NativeFunction(fn)
    a = np.array([0.0, 1.0, 2.0], np.float32)
    o1 = f(a)
    o2 = f(a + 1)
    assert o1[0] is not o1[1] and o1[2] is not a
    np.testing.assert_allclose(o1[0], np.exp(a), rtol=1e-6)
    np.testing.assert_allclose(o1[3], np.exp(a)[None], rtol=1e-6)
    np.testing.assert_array_equal(o1[2], a)
    np.testing.assert_allclose(o2[1], np.exp(a + 1), rtol=1e-6)


SUBPROCESS = textwrap.dedent("""
    import numpy as np
    from tracegrad.ir import Builder, TensorType
    from tracegrad.codegen import COUNTERS
    from tracegrad.runtime.native import NativeFunction
    b = Builder(name="disk")
    x = b.param(TensorType("f32", (5,)), "x")
    fn = b.ret(b.tanh(b.mul(x, 3.0)))
    out = NativeFunction(fn)(np.arange(5, dtype=np.float32))[0]
    assert np.allclose(out, np.tanh(3 * np.arange(5)), rtol=1e-6)
    print(COUNTERS["compiles"], COUNTERS["disk_cache_hits"], COUNTERS["disk_cache_rejects"])
""")


def _run(cache_dir):
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(cache_dir), TRACEGRAD_CACHE="1")
    out = subprocess.run([sys.executable, "-c", SUBPROCESS], env=env, capture_output=True,
                         text=True, check=True)
    return tuple(int(v) for v in out.stdout.split())


def _run_here(cache_dir, monkeypatch):
    """SUBPROCESS's compile in this process with an empty memory cache: (compiles, disk hits,
    disk rejects) it added. One process per check would cost an import of tracegrad each."""
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("TRACEGRAD_CACHE", "1")
    monkeypatch.setattr(cache, "MEMORY", {})
    names = ("compiles", "disk_cache_hits", "disk_cache_rejects")
    before = [COUNTERS[k] for k in names]
    b = Builder(name="disk")
    x = b.param(TensorType("f32", (5,)), "x")
    fn = b.ret(b.tanh(b.mul(x, 3.0)))
    out = NativeFunction(fn)(np.arange(5, dtype=np.float32))[0]
    assert np.allclose(out, np.tanh(3 * np.arange(5)), rtol=1e-6)
    return tuple(COUNTERS[k] - v for k, v in zip(names, before))


def test_disk_cache_across_processes_and_corruption(tmp_path, monkeypatch):
    """Another process writes the object; this one loads it, then rejects it corrupted."""
    assert _run(tmp_path) == (1, 0, 0)
    assert _run_here(tmp_path, monkeypatch) == (0, 1, 0)
    files = list(tmp_path.rglob("*.o"))
    assert len(files) == 1
    blob = files[0].read_bytes()
    files[0].write_bytes(blob[:-10])                      # truncated
    assert _run_here(tmp_path, monkeypatch) == (1, 0, 1)
    blob = bytearray(files[0].read_bytes())
    blob[-5] ^= 0xFF                                       # flipped bits, length intact
    files[0].write_bytes(bytes(blob))
    assert _run_here(tmp_path, monkeypatch) == (1, 0, 1)
    assert _run_here(tmp_path, monkeypatch) == (0, 1, 0)
    assert len(list(tmp_path.rglob("*.o"))) == 1


def test_memory_cache_counts():
    fn = random_chain(11)
    before = dict(COUNTERS)
    m1 = compile_function(fn)
    m2 = compile_function(random_chain(11))
    assert m1 is m2
    assert COUNTERS["memory_cache_hits"] == before["memory_cache_hits"] + 1
    assert cache.cache_key("a") != cache.cache_key("b")


def test_scipy_blas_fallback_gives_the_same_products(tmp_path):
    """Compiled matmuls call numpy's bundled OpenBLAS (ILP64) when present, else scipy's
    cython_blas (LP64); both calling conventions must give numpy's answer."""
    import subprocess
    import sys
    script = (
        "import numpy as np, tracegrad.ir as ir\n"
        "from tracegrad.codegen import target\n"
        "from tracegrad.runtime.native import NativeFunction\n"
        "b = ir.Builder(name='mm')\n"
        "x = b.param(ir.TensorType('f32', (5, 7)), 'x'); y = b.param(ir.TensorType('f64', (3, 7, 4)), 'y')\n"
        "f = NativeFunction(b.ret(b.matmul(x, x, transpose_b=True), b.matmul(y, y, transpose_a=True)))\n"
        "rs = np.random.RandomState(0); a = rs.randn(5, 7).astype('f4'); c = rs.randn(3, 7, 4)\n"
        "o1, o2 = f(a, c)\n"
        "assert np.allclose(o1, a @ a.T, rtol=1e-5) and np.allclose(o2, c.transpose(0, 2, 1) @ c)\n"
        "print(target.blas()[0])\n")
    import os
    env = dict(os.environ, TRACEGRAD_BLAS="scipy", TRACEGRAD_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["scipy-cython-blas"]
