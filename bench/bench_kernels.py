"""Benchmarks for the LLVM backend (medians of repeated timings; the machine is noisy).

    python bench/bench_kernels.py            # all
    python bench/bench_kernels.py tiny mlp   # a subset: tiny, mlp, eltwise

tiny:    tutorial regression (x f32[1,2], w f32[1,2], b f32[1], y f32[1,1]), forward+adjoint
         compiled call pair from Python.
mlp:     784-256-256-10 MLP training step (forward + adjoint, relu, softmax cross-entropy in
         primitives) at batch 64 and 512, against the same step written by hand in numpy.
eltwise: inline transcendentals (exp, log, tanh, sin) and a fused chain over 1M f32 vs numpy.
"""
import os
import sys

import numpy as np

from tracegrad import ir
from tracegrad.ir import Builder, Function, TensorType
from tracegrad.runtime.native import NativeFunction

sys.path.insert(0, os.path.dirname(__file__))
from common import median_time  # noqa: E402


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


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["tiny", "mlp", "eltwise"]
    for name in chosen:
        globals()[f"bench_{name}"]()
