"""The MLP step's 8 matrix products, tracegrad's compiled calls against numpy's, one by one.

    python bench/bench_gemm_calls.py [--quick]           # OpenBLAS's default thread count
    OPENBLAS_NUM_THREADS=1 python bench/bench_gemm_calls.py

Two tables, batch 64 and 512 (MLP 784-256-256-10 as bench_step.py times it):

1. alone: each product as a compiled function of one matmul (tracegrad's NativeFunction: the
   output allocated per call as the captured step's are not) against numpy's `a @ b` on the
   same arrays, written as numpy by hand writes it (`x @ w1.T`, `g1.T @ x`, ...).
2. in the step: numpy by hand's step (bench_compiled.mlp_numpy) with each of its products timed
   inside it, against the same products inside tracegrad's captured training step (hybridized,
   the update fused in), timed by the step timer (TRACEGRAD_STEP_TIMES=1, which this script
   sets for itself); then each step's time outside its products.

Every contender runs one call per round, rounds interleaved; the tables show the minimum (what
an undisturbed call takes: this machine is shared, and a 2-thread GEMM waits whenever its
second thread loses its core) and the median. Both calls reach the same OpenBLAS (numpy's
bundled one, codegen/target.py) with the same arguments: numpy's matmul calls cblas_sgemm
row-major, which OpenBLAS turns into the column-major call codegen/kernels.py makes directly
(tests/codegen/test_blas_call_arguments.py checks the mapping).
"""
import gc
import os
import statistics
import sys
import time

os.environ.setdefault("TRACEGRAD_STEP_TIMES", "1")   # before tracegrad is imported

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_compiled import LR  # noqa: E402
from peers import mlp_data, mlp_weights  # noqa: E402

CLOCK = time.perf_counter
# (label, operand shapes as a function of the batch, transpose_a, transpose_b)
PRODUCTS = [("x @ w1.T", lambda b: ((b, 784), (256, 784)), False, True),
            ("a1 @ w2.T", lambda b: ((b, 256), (256, 256)), False, True),
            ("a2 @ w3.T", lambda b: ((b, 256), (10, 256)), False, True),
            ("p @ w3", lambda b: ((b, 10), (10, 256)), False, False),
            ("g2 @ w2", lambda b: ((b, 256), (256, 256)), False, False),
            ("g1.T @ x", lambda b: ((b, 256), (b, 784)), True, False),
            ("g2.T @ a1", lambda b: ((b, 256), (b, 256)), True, False),
            ("p.T @ a2", lambda b: ((b, 10), (b, 256)), True, False)]


def interleaved(fns, rounds):
    """Seconds of each of `fns` per call, one call each per round: [[samples] per fn]."""
    samples = [[] for _ in fns]
    for f in fns:
        f()
    gc.disable()
    try:
        for _ in range(rounds):
            for f, out in zip(fns, samples):
                t = CLOCK()
                f()
                out.append(CLOCK() - t)
    finally:
        gc.enable()
    return samples


def one_matmul(a, b, ta, tb):
    """A compiled function of one matmul on arrays shaped as a and b."""
    from tracegrad.ir import Builder, TensorType
    from tracegrad.runtime.native import NativeFunction
    bld = Builder(name="one_matmul")
    pa = bld.param(TensorType("f32", a.shape), "a")
    pb = bld.param(TensorType("f32", b.shape), "b")
    return NativeFunction(bld.ret(bld.matmul(pa, pb, transpose_a=ta, transpose_b=tb)))


def alone(batch, rounds):
    rs = np.random.RandomState(0)
    print(f"\n== alone, batch {batch}: one compiled matmul vs numpy's a @ b (us; ratio tracegrad"
          f" / numpy)")
    print(f"  {'product':10s} {'numpy min':>10s} {'ratio':>6s} {'numpy med':>10s} {'ratio':>6s}")
    for label, shapes, ta, tb in PRODUCTS:
        a, b = (rs.rand(*s).astype(np.float32) for s in shapes(batch))
        va, vb = (a.T if ta else a), (b.T if tb else b)
        f = one_matmul(a, b, ta, tb)
        np.testing.assert_allclose(f(a, b)[0], va.astype(np.float64) @ vb, rtol=1e-4)
        s_np, s_tg = interleaved([lambda: va @ vb, lambda: f(a, b)], rounds)
        print(f"  {label:10s} {min(s_np) * 1e6:10.1f} {min(s_tg) / min(s_np):6.3f} "
              f"{statistics.median(s_np) * 1e6:10.1f} "
              f"{statistics.median(s_tg) / statistics.median(s_np):6.3f}")


def numpy_step_timed(batch, log):
    """numpy by hand's step (bench_compiled.mlp_numpy) with each product's time appended to
    `log`, in PRODUCTS order."""
    w = mlp_weights()
    x, y = mlp_data(batch)
    rows = np.arange(batch)

    def mm(a, b):
        t = CLOCK()
        r = a @ b
        log.append(CLOCK() - t)
        return r

    def step():
        w1, b1, w2, b2, w3, b3 = w
        h1 = mm(x, w1.T) + b1
        a1 = np.maximum(h1, 0)
        h2 = mm(a1, w2.T) + b2
        a2 = np.maximum(h2, 0)
        o = mm(a2, w3.T) + b3
        e = np.exp(o - o.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        p[rows, y] -= 1
        g2 = mm(p, w3) * (h2 > 0)
        g1 = mm(g2, w2) * (h1 > 0)
        grads = [mm(g1.T, x), g1.sum(0), mm(g2.T, a1), g2.sum(0), mm(p.T, a2), p.sum(0)]
        for param, g in zip(w, grads):
            param -= (LR / batch) * g
    return step


def _product_steps(module, batch):
    """{step index: PRODUCTS index} of the compiled step's matmuls, by shapes and flags."""
    by_key = {(shapes(batch), ta, tb): k for k, (_, shapes, ta, tb) in enumerate(PRODUCTS)}
    found = {}
    for i, (step, _) in enumerate(module.plan.steps):
        for op in step.ops:
            if op.name == "matmul":
                key = (tuple(o.type.shape for o in op.operands), op.attrs["transpose_a"],
                       op.attrs["transpose_b"])
                found[i] = by_key[key]
    if sorted(found.values()) != list(range(len(PRODUCTS))):
        raise RuntimeError(f"the captured step's products are not the 8 expected: {found}")
    return found


def in_step(batch, rounds):
    from bench_step import mlp_tracegrad
    from tracegrad.codegen import step_timer
    from tracegrad.tracing import capture
    log = []
    np_step, tg_step = numpy_step_timed(batch, log), mlp_tracegrad(batch, True)
    fused = [p.fusion.native for plans in capture._STATE.plans.values() for p in plans
             if p.fusion is not None]
    module = fused[-1].module
    products = _product_steps(module, batch)
    np_t, tg_t = [[] for _ in PRODUCTS], [[] for _ in PRODUCTS]
    np_rest, tg_rest, tg_kernels = [], [], []

    def run_np():
        del log[:]
        t = CLOCK()
        np_step()
        np_rest.append(CLOCK() - t - sum(log))
        for k, s in enumerate(log):
            np_t[k].append(s)

    def run_tg():
        step_timer.reset(module)
        t = CLOCK()
        tg_step()
        total = CLOCK() - t
        times = step_timer.step_times(module)
        gemm = 0.0
        for i, k in products.items():
            tg_t[k].append(times[i][3])
            gemm += times[i][3]
        tg_rest.append(total - gemm)
        tg_kernels.append(sum(s for *_, s in times) - gemm)

    for _ in range(5):
        run_np(), run_tg()
    for out in np_t + tg_t + [np_rest, tg_rest, tg_kernels]:
        del out[:]
    interleaved([run_np, run_tg], rounds)
    print(f"\n== in the step, batch {batch}: numpy by hand's products vs the captured step's "
          f"(us; ratio tracegrad / numpy)")
    print(f"  {'product':10s} {'numpy min':>10s} {'ratio':>6s} {'numpy med':>10s} {'ratio':>6s}")
    for k, (label, *_) in enumerate(PRODUCTS):
        n, g = np_t[k], tg_t[k]
        print(f"  {label:10s} {min(n) * 1e6:10.1f} {min(g) / min(n):6.3f} "
              f"{statistics.median(n) * 1e6:10.1f} "
              f"{statistics.median(g) / statistics.median(n):6.3f}")
    sn, sg = sum(min(n) for n in np_t), sum(min(g) for g in tg_t)
    mn = sum(statistics.median(n) for n in np_t)
    mg = sum(statistics.median(g) for g in tg_t)
    print(f"  {'all 8':10s} {sn * 1e6:10.1f} {sg / sn:6.3f} {mn * 1e6:10.1f} {mg / mn:6.3f}")
    print(f"  outside the products: numpy by hand min {min(np_rest) * 1e6:.0f} us, median "
          f"{statistics.median(np_rest) * 1e6:.0f}; tracegrad min {min(tg_rest) * 1e6:.0f} us, "
          f"median {statistics.median(tg_rest) * 1e6:.0f} (its native kernels: min "
          f"{min(tg_kernels) * 1e6:.0f}, median {statistics.median(tg_kernels) * 1e6:.0f}; the "
          f"rest is the Python of a captured step and the entry)")


def main(quick=False):
    from tracegrad.codegen import step_timer
    if not step_timer.ENABLED:
        raise SystemExit("TRACEGRAD_STEP_TIMES=0 is set: the in-step table needs the step timer")
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(default)')}")
    for batch in (64, 512):
        alone(batch, 60 if quick else 200)
        in_step(batch, 60 if quick else 200)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
