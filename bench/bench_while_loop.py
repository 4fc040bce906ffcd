"""while_loop microbenchmark: a compiled `nd.contrib.while_loop` of N iterations of a small
body (x <- tanh(x * w + 0.1) on 16 floats, the step output stacked), forward alone and forward
plus backward, per call after warm-up; also a jitted foreach over N steps, and a hybridized
gluon.rnn.LSTM(32) over 35 steps (batch 4), forward plus backward: the time loop's overhead.

    python bench/bench_while_loop.py [--quick] [N]

Figures are medians of a few rounds; the machine is shared, so expect +-10-20%.
"""
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import tracegrad as mx  # noqa: E402
from tracegrad import autograd, nd  # noqa: E402


def median(fn, reps, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t) / reps)
    return sorted(times)[len(times) // 2]


def main(n=1000, quick=False):
    rounds, reps = (3, 5) if quick else (7, 10)
    w = nd.array(np.linspace(0.5, 1.0, 16, dtype=np.float32))

    def loop(x, w):
        outs, final = nd.contrib.while_loop(lambda i, x: i < n,
                                            lambda i, x: (x, (i + 1, nd.tanh(x * w + 0.1))),
                                            (nd.zeros((1,)), x), max_iterations=n)
        return nd.sum(outs) + nd.sum(final[1])

    def scan(xs, h, w):
        outs, st = nd.contrib.foreach(lambda x, s: (nd.tanh(x * w + s[0]), [nd.tanh(x + s[0])]),
                                      xs, [h])
        return nd.sum(outs) + nd.sum(st[0])

    jl, js = mx.jit(loop), mx.jit(scan)
    x = nd.array(np.full(16, 0.3, np.float32))
    xs = nd.array(np.random.RandomState(0).randn(n, 16).astype(np.float32))

    def fwd():
        jl(x, w).wait_to_read()

    def fwd_bwd():
        x.attach_grad()
        with autograd.record():
            y = jl(x, w)
        y.backward()
        x.grad.wait_to_read()

    def scan_fwd_bwd():
        xs.attach_grad()
        with autograd.record():
            y = js(xs, x, w)
        y.backward()
        xs.grad.wait_to_read()

    for f in (fwd, fwd_bwd, scan_fwd_bwd):
        for _ in range(3):
            f()
    calls0 = mx.stats()["native_calls"]
    fwd_bwd()
    per_step_calls = mx.stats()["native_calls"] - calls0
    print(f"while_loop, {n} iterations of a 16-float body (median per call):")
    print(f"  forward            {median(fwd, reps, rounds) * 1e3:8.3f} ms")
    print(f"  forward + backward {median(fwd_bwd, reps, rounds) * 1e3:8.3f} ms "
          f"({per_step_calls} native calls)")
    print(f"foreach over {n} rows, forward + backward "
          f"{median(scan_fwd_bwd, reps, rounds) * 1e3:8.3f} ms")
    lstm_step(reps, rounds)


def lstm_step(reps, rounds):
    from tracegrad.gluon import rnn
    net = rnn.LSTM(32, input_size=16)
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.RandomState(0).randn(35, 4, 16).astype(np.float32))

    def step():
        with autograd.record():
            y = nd.sum(net(x) ** 2)
        y.backward()
        net.l0_h2h_weight.grad().wait_to_read()
    for _ in range(5):
        step()
    calls0 = mx.stats()["native_calls"]
    step()
    calls = mx.stats()["native_calls"] - calls0
    print(f"hybridized LSTM(32), 35 steps, batch 4, forward + backward "
          f"{median(step, reps, rounds) * 1e3:8.3f} ms ({calls} native calls)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 1000, quick="--quick" in sys.argv)
