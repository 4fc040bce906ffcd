"""C = X . W^T (a Dense layer's forward) through OpenBLAS both ways, over a grid of shapes:
the call numpy's `x @ w.T` makes (gemm('T', 'N', units, batch, inputs), C row-major) against
the same product laid out the other way (gemm('T', 'N', batch, units, inputs), C column-major)
plus its transpose; and tracegrad's compiled matmul, with the layout it picks for the shape
(ir/ops/linalg.py `column_major_is_faster`). Minimum of 7 repeats, microseconds.

    python bench/bench_gemm_layouts.py
    OPENBLAS_NUM_THREADS=1 python bench/bench_gemm_layouts.py
"""
import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tracegrad.ir.ops.linalg import column_major_is_faster  # noqa: E402
from tracegrad.ir import Builder, TensorType  # noqa: E402
from tracegrad.runtime.native import NativeFunction  # noqa: E402


def best(f, reps):
    return min(timeit.repeat(f, number=reps, repeat=7)) / reps * 1e6


def compiled(m, n, k):
    b = Builder(name="dense_forward")
    x = b.param(TensorType("f32", (m, k)), "x")
    w = b.param(TensorType("f32", (n, k)), "w")
    return NativeFunction(b.ret(b.matmul(x, w, transpose_a=False, transpose_b=True)))


def main():
    rs = np.random.RandomState(0)
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(default)')}")
    print(" batch units inputs   x@w.T  (w@x.T).T  tracegrad  layout")
    for m in (8, 32, 64, 128, 256):
        for n in (64, 256, 1024):
            for k in (256, 784):
                x, w = rs.rand(m, k).astype("f4"), rs.rand(n, k).astype("f4")
                out, ct = np.empty((m, n), "f4"), np.empty((n, m), "f4")
                reps = max(3, int(2e7 / (m * n * k)))
                direct = best(lambda: np.matmul(x, w.T, out=out), reps)
                other = best(lambda: (np.matmul(w, x.T, out=ct), np.copyto(out, ct.T)), reps)
                f = compiled(m, n, k)
                ours = best(lambda: f(x, w), reps)
                layout = "column" if column_major_is_faster(m, n, k) else "row"
                print(f"{m:6d} {n:5d} {k:6d} {direct:7.1f} {other:10.1f} {ours:10.1f}  {layout}")


if __name__ == "__main__":
    main()
