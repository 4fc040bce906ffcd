"""Benchmarks for the LLVM backend (medians of repeated timings; the machine is noisy).

    python bench/bench_kernels.py            # all
    python bench/bench_kernels.py tiny mlp   # a subset: tiny, mlp, eltwise

tiny:    tutorial regression (x f32[1,2], w f32[1,2], b f32[1], y f32[1,1]), forward+adjoint
         compiled call pair from Python.
mlp:     784-256-256-10 MLP training step (forward + adjoint, relu, softmax cross-entropy in
         primitives) at batch 64 and 512, against the same step written by hand in numpy.
eltwise: inline transcendentals (exp, log, tanh, sin) and a fused chain over 1M f32 vs numpy.
workload: the issue's loss = sum(tanh(x)*sigmoid(x) + 0.5*x*x) with its gradient at 2^24 f32,
         under tracegrad.jit (steady state: the fused training step), against numpy by hand,
         hand-written vectorised C (bench/workload.c, built here with cc -O3 -march=native
         -fno-trapping-math, no fast-math; one thread), torch.compile and jax.jit when
         importable; loss error vs float64.
workload_cpu: the same contenders on ONE thread each, timed in CPU time of the calling thread
         (time.thread_time, min of 7): on a shared, throttled machine wall time measures the
         neighbours, CPU time the work.
trig:    sin at 1M elements on one thread (CPU time), ordinary and large arguments, vs numpy.
bandwidth: a five-op elementwise chain at 2^24 f32 as a fraction of the measured memory
         bandwidth (numpy copy of the same bytes into a preallocated array).
"""
import os
import sys

import numpy as np

from tracegrad import ir
from tracegrad.ir import Builder, Function, TensorType
from tracegrad.runtime.native import NativeFunction

sys.path.insert(0, os.path.dirname(__file__))
from common import compare, median_time, report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class TrainPair:
    """Compiled forward (loss + computed residuals) and adjoint (gradients) of `fn`. Residuals
    that are parameters are passed from the inputs, not returned (returning one copies it)."""

    def __init__(self, fn, wrt):
        saved = []
        adj = ir.vjp(fn, wrt=wrt, residuals=saved)
        computed = [v for v in saved if v.producer is not None]
        fwd = Function(fn.name + "_fwd", fn.params, fn.ops, list(fn.outputs) + computed)
        self.fwd, self.adj = NativeFunction(fwd), NativeFunction(adj)
        self.nout = len(fn.outputs)
        slot = {v: ("out", self.nout + computed.index(v)) if v.producer is not None
                else ("in", fn.params.index(v)) for v in saved}
        self.feed = [slot[v] for v in saved]

    def __call__(self, args, g):
        outs = self.fwd(*args)
        res = [outs[i] if kind == "out" else args[i] for kind, i in self.feed]
        return outs[:self.nout], self.adj(*res, g)


def bench_tiny():
    b = Builder(name="tiny")
    x, w = b.param(TensorType("f32", (1, 2)), "x"), b.param(TensorType("f32", (1, 2)), "w")
    bias, y = b.param(TensorType("f32", (1,)), "b"), b.param(TensorType("f32", (1, 1)), "y")
    pred = b.add(b.matmul(x, w, transpose_b=True), bias)
    d = b.sub(pred, y)
    loss = b.mul(b.mul(b.sum(b.mul(d, d), axes=(0, 1)), 1.0), 0.5)
    pair = TrainPair(b.ret(loss), wrt=[1, 2])
    args = [np.ones((1, 2), np.float32), np.full((1, 2), 0.5, np.float32),
            np.zeros(1, np.float32), np.ones((1, 1), np.float32)]
    g = np.ones((), np.float32)

    t = median_time(lambda: pair(args, g))
    print(f"tiny regression fwd+adjoint call pair: {t * 1e6:.2f} us (target <= ~15 us)")


def mlp_fn(batch):
    b = Builder(name=f"mlp{batch}")
    t = lambda *s: TensorType("f32", s)  # noqa: E731
    x, label = b.param(t(batch, 784), "x"), b.param(TensorType("i64", (batch,)), "label")
    ws = [b.param(t(i, o), f"w{k}") for k, (i, o) in enumerate([(784, 256), (256, 256), (256, 10)])]
    bs = [b.param(t(o), f"b{k}") for k, o in enumerate([256, 256, 10])]
    h = x
    for k in range(3):
        h = b.add(b.matmul(h, ws[k]), bs[k])
        if k < 2:
            h = b.relu(h)
    m = b.max(h, axes=(1,), keepdims=True)
    s = b.sub(h, b.broadcast_to(m, shape=h.type.shape))
    lse = b.log(b.sum(b.exp(s), axes=(1,), keepdims=True))
    logp = b.sub(s, b.broadcast_to(lse, shape=h.type.shape))
    loss = b.mul(b.sum(b.mul(logp, b.one_hot(label, depth=10)), axes=(0, 1)), -1.0 / batch)
    return b.ret(loss)


def numpy_step(x, label, w0, w1, w2, b0, b1, b2):
    """The same training step by hand: forward, loss, backward."""
    n = x.shape[0]
    a0 = x @ w0 + b0
    h0 = np.maximum(a0, 0)
    a1 = h0 @ w1 + b1
    h1 = np.maximum(a1, 0)
    z = h1 @ w2 + b2
    s = z - z.max(axis=1, keepdims=True)
    e = np.exp(s)
    sm = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(sm[np.arange(n), label]).mean()
    dz = sm
    dz[np.arange(n), label] -= 1
    dz /= n
    gw2, gb2 = h1.T @ dz, dz.sum(0)
    dh1 = (dz @ w2.T) * (a1 > 0)
    gw1, gb1 = h0.T @ dh1, dh1.sum(0)
    dh0 = (dh1 @ w1.T) * (a0 > 0)
    gw0, gb0 = x.T @ dh0, dh0.sum(0)
    return loss, gw0, gw1, gw2, gb0, gb1, gb2


def bench_mlp():
    rng = np.random.default_rng(0)
    for batch in (64, 512):
        pair = TrainPair(mlp_fn(batch), wrt=[2, 3, 4, 5, 6, 7])
        x = rng.normal(size=(batch, 784)).astype(np.float32)
        label = rng.integers(0, 10, batch).astype(np.int64)
        ws = [(rng.normal(size=s) * 0.05).astype(np.float32)
              for s in [(784, 256), (256, 256), (256, 10)]]
        bs = [np.zeros(o, np.float32) for o in (256, 256, 10)]
        g = np.ones((), np.float32)

        args = [x, label, *ws, *bs]

        def compiled():
            return pair(args, g)[1]
        got = compiled()
        ref = numpy_step(x, label, *ws, *bs)
        err = max(float(np.max(np.abs(a - r))) for a, r in zip(got, ref[1:]))
        tc = median_time(compiled)
        tn = median_time(lambda: numpy_step(x, label, *ws, *bs))
        print(f"mlp batch {batch}: compiled {tc * 1e3:.3f} ms, numpy {tn * 1e3:.3f} ms, "
              f"ratio {tc / tn:.2f}x (max |grad diff| {err:.1e})")


def bench_eltwise():
    rng = np.random.default_rng(0)
    n = 1 << 20
    x = rng.uniform(0.1, 4.0, n).astype(np.float32)
    for name, np_fn in [("exp", np.exp), ("log", np.log), ("tanh", np.tanh), ("sin", np.sin)]:
        b = Builder(name=name)
        p = b.param(TensorType("f32", (n,)), "x")
        f = NativeFunction(b.ret(b.emit(name, p)))
        tc, tn = median_time(lambda: f(x)), median_time(lambda: np_fn(x))
        print(f"{name:5s} 1M f32: compiled {tc * 1e3:.3f} ms, numpy {tn * 1e3:.3f} ms")
    b = Builder(name="chain")
    p = b.param(TensorType("f32", (n,)), "x")
    f = NativeFunction(b.ret(b.mul(b.tanh(b.add(b.mul(p, 2.0), 1.0)), b.exp(b.neg(p)))))
    tc = median_time(lambda: f(x))
    tn = median_time(lambda: np.tanh(x * 2 + 1) * np.exp(-x))
    print(f"chain tanh(2x+1)*exp(-x) 1M f32: compiled {tc * 1e3:.3f} ms, numpy {tn * 1e3:.3f} ms")


def bench_trig():
    """sin at 1M elements, one thread, CPU time (min of 20): ordinary arguments (the inline
    Cody-Waite path) and arrays of large ones (the Payne-Hanek variants), vs numpy."""
    import time

    from tracegrad.runtime import native
    native._CONTEXT.num_threads = 1
    n = 1 << 20
    for lo, hi in ((-100, 100), (-1e7, 1e7), (-1e30, 1e30)):
        for dt in ("f32", "f64"):
            x = np.random.default_rng(0).uniform(lo, hi, n).astype(
                np.float64 if dt == "f64" else np.float32)
            b = Builder(name=f"sin_{dt}")
            p = b.param(TensorType(dt, (n,)), "x")
            f = NativeFunction(b.ret(b.sin(p)))
            best = {}
            for name, fn in (("compiled", lambda: f(x)), ("numpy", lambda: np.sin(x))):
                fn()
                t = float("inf")
                for _ in range(20):
                    t0 = time.thread_time()
                    fn()
                    t = min(t, time.thread_time() - t0)
                best[name] = t
            print(f"sin {dt} |x| < {hi:g}: compiled {best['compiled'] * 1e3:.2f} ms, "
                  f"numpy {best['numpy'] * 1e3:.2f} ms")


def _build_c():
    """bench/workload.c -> a shared object in a temporary directory, loaded with ctypes."""
    import ctypes
    import subprocess
    import tempfile
    out = os.path.join(tempfile.mkdtemp(prefix="tg_bench_"), "workload.so")
    subprocess.run(["cc", "-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math",
                    "-shared", "-fPIC", os.path.join(HERE, "workload.c"), "-o", out], check=True)
    lib = ctypes.CDLL(out)
    ptr = ctypes.c_void_p
    lib.workload.restype, lib.workload.argtypes = ctypes.c_float, [ptr, ptr, ctypes.c_long]
    lib.chain5.restype, lib.chain5.argtypes = None, [ptr, ptr, ctypes.c_long]
    return lib


def _torch_workload(xv):
    try:
        import torch
    except ImportError:
        return None
    xt = torch.from_numpy(xv.copy())

    def step(x):
        x = x.detach().requires_grad_(True)
        loss = (torch.tanh(x) * torch.sigmoid(x) + 0.5 * x * x).sum()
        loss.backward()
        return loss.detach(), x.grad
    compiled = torch.compile(step)
    return lambda: compiled(xt)


def _jax_workload(xv):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    f = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jnp.tanh(x) * jax.nn.sigmoid(x)
                                                     + 0.5 * x * x)))
    xj = jnp.asarray(xv)
    return lambda: jax.block_until_ready(f(xj))


def bench_workload():
    import tracegrad as mx
    from tracegrad import autograd, nd
    n = 1 << 24
    xv = np.random.default_rng(0).normal(size=n).astype(np.float32)
    x64 = xv.astype(np.float64)
    truth = float((np.tanh(x64) / (1 + np.exp(-x64)) + 0.5 * x64 * x64).sum())
    f = mx.jit(lambda x: nd.sum(nd.tanh(x) * nd.sigmoid(x) + 0.5 * x * x))
    x = nd.array(xv)
    x.attach_grad()

    def tracegrad_step():
        with autograd.record():
            loss = f(x)
        loss.backward()
        return loss

    def numpy_step():
        t = np.tanh(xv)
        s = 1 / (1 + np.exp(-xv))
        loss = (t * s + 0.5 * xv * xv).sum()
        return loss, (1 - t * t) * s + t * s * (1 - s) + xv

    lib = _build_c()
    grad_c = np.empty_like(xv)
    c_step = lambda: lib.workload(xv.ctypes.data, grad_c.ctypes.data, n)  # noqa: E731
    for _ in range(4):
        tracegrad_step()
    rows = [("tracegrad.jit (fused step)", tracegrad_step), ("numpy by hand", numpy_step),
            ("hand-written C, 1 thread", c_step)]
    for name, make in [("torch.compile", _torch_workload), ("jax.jit", _jax_workload)]:
        fn = make(xv)
        if fn is not None:
            fn()
            rows.append((name, fn))
        else:
            print(f"  ({name}: not importable, skipped)")
    timed = compare(rows, rounds=5, min_time=0.05)
    report("workload: sum(tanh(x)*sigmoid(x) + 0.5*x*x) + gradient, 2^24 f32", timed,
           baseline="hand-written C, 1 thread")
    rel = abs(float(tracegrad_step().asscalar()) - truth) / abs(truth)
    rel_np = abs(float(numpy_step()[0]) - truth) / abs(truth)
    rel_c = abs(float(c_step()) - truth) / abs(truth)
    print(f"  loss relative error vs float64: tracegrad {rel:.1e}, numpy {rel_np:.1e}, "
          f"C {rel_c:.1e}")


def bench_workload_cpu():
    import time

    import tracegrad as mx
    from tracegrad import autograd, nd
    from tracegrad.runtime import native
    native._CONTEXT.num_threads = 1
    n = 1 << 24
    xv = np.random.default_rng(0).normal(size=n).astype(np.float32)
    f = mx.jit(lambda x: nd.sum(nd.tanh(x) * nd.sigmoid(x) + 0.5 * x * x))
    x = nd.array(xv)
    x.attach_grad()

    def tracegrad_step():
        with autograd.record():
            loss = f(x)
        loss.backward()

    def numpy_step():
        t = np.tanh(xv)
        s = 1 / (1 + np.exp(-xv))
        return (t * s + 0.5 * xv * xv).sum(), (1 - t * t) * s + t * s * (1 - s) + xv

    lib = _build_c()
    grad_c = np.empty_like(xv)
    rows = [("tracegrad.jit (fused step), 1 thread", tracegrad_step),
            ("numpy by hand", numpy_step),
            ("hand-written C, 1 thread",
             lambda: lib.workload(xv.ctypes.data, grad_c.ctypes.data, n))]
    try:
        import torch
        torch.set_num_threads(1)
        fn = _torch_workload(xv)
        rows.append(("torch.compile, 1 thread", fn))
    except ImportError:
        pass
    for _ in range(4):
        tracegrad_step()
    print("\n== workload, CPU time of one thread (min of 7)")
    base = None
    for name, fn in rows:
        fn()
        best = float("inf")
        for _ in range(7):
            t0 = time.thread_time()
            fn()
            best = min(best, time.thread_time() - t0)
        if name.startswith("hand-written"):
            base = best
        print(f"  {name:38s} {best * 1e3:8.2f} ms")
    print(f"  (C: {base * 1e3:.2f} ms)")


def bench_bandwidth():
    n = 1 << 24
    xv = np.random.default_rng(0).normal(size=n).astype(np.float32)
    dst = np.empty_like(xv)
    b = Builder(name="chain5")
    p = b.param(TensorType("f32", (n,)), "x")
    y = b.maximum(b.sub(b.mul(b.add(b.mul(p, 1.5), 0.5), p), 2.0), 0.0)
    f = NativeFunction(b.ret(y))
    lib = _build_c()
    timed = compare([("numpy copy (read+write 2^24 f32)", lambda: np.copyto(dst, xv)),
                     ("tracegrad five-op chain", lambda: f(xv)),
                     ("C five-op chain, 1 thread, preallocated",
                      lambda: lib.chain5(xv.ctypes.data, dst.ctypes.data, n)),
                     ("numpy five-op chain", lambda: np.maximum((xv * 1.5 + 0.5) * xv - 2.0, 0))],
                    rounds=7, min_time=0.05)
    report("five-op elementwise chain, 2^24 f32", timed,
           baseline="numpy copy (read+write 2^24 f32)")
    copy = dict(timed)["numpy copy (read+write 2^24 f32)"]
    bw = 2 * n * 4 / copy
    chain = dict(timed)["tracegrad five-op chain"]
    print(f"  measured bandwidth {bw / 1e9:.1f} GB/s; the chain moves the same bytes at "
          f"{2 * n * 4 / chain / 1e9:.1f} GB/s = {copy / chain:.0%} of it (its output comes "
          f"from the output pool: an array of an earlier call nothing references)")


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["tiny", "mlp", "eltwise", "workload", "bandwidth"]
    for name in chosen:
        globals()[f"bench_{name}"]()
