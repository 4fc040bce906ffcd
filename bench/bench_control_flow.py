"""The autograd tutorial's Python control flow (an `if` on x and a loop `floor(1/(1-x))`
times), gradients at x in arange(0, 1, 0.1): one pass over the 10 points, after warm-up.
tracegrad eager, tracegrad.jit (compiled per guard outcome) and, when `import torch` works,
PyTorch eager in the same run.

    python bench/bench_control_flow.py

The row "capture paused" runs the eager pass with step capture paused in the same process
(issue 8: code that never repeats must not pay for step capture).
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import compare, report  # noqa: E402

import tracegrad as mx  # noqa: E402
from tracegrad import autograd, capture, nd  # noqa: E402


def f(x):
    y = x
    if x < 0.75:
        num_loops = math.floor(1 / (1 - x.asscalar()))
        for _ in range(num_loops):
            y = y * x
    else:
        y = y * 0
    return y


def tracegrad_pass(fn):
    xs = list(nd.arange(0.0, 1.0, step=0.1))

    def run():
        out = []
        for x in xs:
            x.attach_grad()
            with autograd.record():
                y = fn(x)
            y.backward()
            out.append(x.grad.asscalar())
        return out
    return run


def paused(run):
    """The same pass with step capture paused: what capture costs code that never repeats."""
    def paused_run():
        with capture.paused():
            return run()
    return paused_run


def torch_pass():
    import torch
    torch.set_num_threads(1)  # one-element tensors: its thread pool only slows the others

    def ft(x):
        y = x
        if x < 0.75:
            for _ in range(math.floor(1 / (1 - x.item()))):
                y = y * x
        else:
            y = y * 0
        return y
    xs = list(torch.arange(0.0, 1.0, 0.1))

    def run():
        out = []
        for x0 in xs:
            x = x0.detach().requires_grad_()
            y = ft(x)
            y.backward()
            out.append(x.grad.item())
        return out
    return run


def main():
    rows = [("tracegrad eager", tracegrad_pass(f)),
            ("tracegrad eager, capture paused", paused(tracegrad_pass(f))),
            ("tracegrad jit", tracegrad_pass(mx.jit(f)))]
    try:
        import torch  # noqa: F401
        rows.append(("PyTorch eager", torch_pass()))
    except ImportError:
        print("(PyTorch not installed: its row is skipped)")
    want = rows[0][1]()
    for name, fn in rows[1:]:
        got = fn()
        assert all(abs(a - b) < 1e-5 for a, b in zip(got, want)), (name, got, want)
    mx.stats(reset=True)
    times = compare(rows, rounds=9)
    report("tutorial control-flow gradients, 10 points per pass", times,
           baseline="tracegrad eager")
    s = mx.stats()
    print(f"  (counters over the timed passes: traces {s['traces']}, eager fallbacks "
          f"{s['eager_fallbacks']})")
    if "PyTorch eager" in dict(times):
        t = dict(times)
        print(f"  jit / PyTorch eager: {t['tracegrad jit'] / t['PyTorch eager']:.2f}x")


if __name__ == "__main__":
    main()
