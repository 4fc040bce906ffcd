"""How far the MLP step at batch 512 can go: one core's float32 FMA peak against OpenBLAS's
products and numpy by hand's step, all measured in one run.

    OPENBLAS_NUM_THREADS=1 python bench/bench_fma_peak.py

1. the core's peak: a compiled loop of 12 independent chains of vector FMAs (as wide as the
   host's widest float vector), so nothing but the FMA units limits it, in GFLOP/s;
2. each of the step's 8 products (bench_gemm_calls.PRODUCTS) through numpy's OpenBLAS, its
   GFLOP/s and the share of the peak;
3. numpy by hand's whole step (bench_compiled.mlp_numpy) and its products alone, then the
   fastest step any implementation that does the same products could take: the products at
   100% of the peak and nothing else. Its ratio to numpy by hand's step is a floor that no
   compiler reaches on this core; issue 8's target for this step is 0.85x.

Medians of interleaved rounds; this machine is shared, so the figures move a little.
"""
import ctypes
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_compiled import mlp_numpy  # noqa: E402
from bench_gemm_calls import PRODUCTS  # noqa: E402

CHAINS, ITERATIONS, BATCH = 12, 20_000_000, 512


def peak_loop_ir(width):
    """LLVM IR of `float peak(i64 n)`: n rounds of CHAINS independent width-wide FMAs."""
    vec = f"<{width} x float>"
    ones = ", ".join(["float 1.0"] * width)
    tiny = ", ".join(["float 0x3E80000000000000"] * width)     # 2**-23: no overflow in n rounds
    body = ["define float @peak(i64 %n) {", "entry:", "  br label %loop", "loop:",
            "  %i = phi i64 [0, %entry], [%i1, %loop]"]
    body += [f"  %a{c} = phi {vec} [zeroinitializer, %entry], [%b{c}, %loop]"
             for c in range(CHAINS)]
    body += [f"  %b{c} = call {vec} @llvm.fma.v{width}f32({vec} %a{c}, {vec} <{ones}>, "
             f"{vec} <{tiny}>)" for c in range(CHAINS)]
    body += ["  %i1 = add i64 %i, 1", "  %more = icmp ult i64 %i1, %n",
             "  br i1 %more, label %loop, label %exit", "exit:"]
    total = "%b0"
    for c in range(1, CHAINS):
        body.append(f"  %s{c} = fadd {vec} {total}, %b{c}")
        total = f"%s{c}"
    body += [f"  %r = extractelement {vec} {total}, i32 0", "  ret float %r", "}",
             f"declare {vec} @llvm.fma.v{width}f32({vec}, {vec}, {vec})"]
    return "\n".join(body)


def peak_gflops():
    """(GFLOP/s, vector width): the best of 5 runs of the FMA loop (the chains' results are
    returned, so nothing is optimised away)."""
    from tracegrad.codegen.target import JitObject, compile_object
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    width = 16 if features.get("avx512f") else 8 if features.get("avx") else 4
    jit = JitObject(compile_object(peak_loop_ir(width))[1])
    loop = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64)(jit.address("peak"))
    loop(10_000)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        result = loop(ITERATIONS)
        best = max(best, 2 * width * CHAINS * ITERATIONS / (time.perf_counter() - t) / 1e9)
    assert np.isfinite(result)
    return best, width


def medians(fns, rounds):
    samples = [[] for _ in fns]
    for f in fns:
        f()
    for _ in range(rounds):
        for f, out in zip(fns, samples):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return [statistics.median(s) for s in samples]


def main():
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(default)')}")
    peak, width = peak_gflops()
    print(f"\none core's float32 FMA peak ({width}-wide vectors, {CHAINS} chains): "
          f"{peak:.1f} GFLOP/s")
    rs = np.random.RandomState(0)
    calls, flops = [], []
    for label, shapes, ta, tb in PRODUCTS:
        a, b = (rs.rand(*s).astype(np.float32) for s in shapes(BATCH))
        va, vb = (a.T if ta else a), (b.T if tb else b)
        calls.append(lambda va=va, vb=vb: va @ vb)
        flops.append(2 * va.shape[0] * va.shape[1] * vb.shape[1])
    step = mlp_numpy(BATCH)

    def products():
        for c in calls:
            c()
    times = medians(calls + [products, step], 40)
    print(f"\nthe MLP 784-256-256-10 step's products at batch {BATCH}, numpy's OpenBLAS:")
    for (label, *_), t, f in zip(PRODUCTS, times, flops):
        print(f"  {label:10s} {t * 1e6:8.1f} us {f / t / 1e9:6.1f} GFLOP/s "
              f"{f / t / 1e9 / peak:5.0%} of peak")
    t_products, t_step = times[-2], times[-1]
    floor = sum(flops) / (peak * 1e9)
    print(f"\n  all 8 products   {t_products * 1e3:.2f} ms ({sum(flops) / t_products / 1e9:.1f} "
          f"GFLOP/s, {sum(flops) / t_products / 1e9 / peak:.0%} of peak)")
    print(f"  numpy by hand's step {t_step * 1e3:.2f} ms")
    print(f"  the products at 100% of peak, nothing else: {floor * 1e3:.2f} ms = "
          f"{floor / t_step:.2f}x numpy by hand (issue 8's target: 0.85x)")
    need = 0.85 * t_step
    print(f"  0.85x numpy by hand is {need * 1e3:.2f} ms: the products alone would have to run "
          f"at {sum(flops) / need / 1e9 / peak:.0%} of peak with no other work in the step")


if __name__ == "__main__":
    main()
