"""Eager mode next to numpy by hand, in one run: the overhead of a small elementwise op while
recording, the tutorial's tiny regression (Dense(1) on a 1x2 input, L2 loss) forward+backward
written with nd ops, and a Gluon MLP 784-256-256-10 training step (ReLU, softmax
cross-entropy, SGD) at batch 64 and 512.

    python bench/bench_eager.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import compare, median_time, report  # noqa: E402

from tracegrad import autograd, nd  # noqa: E402


def tiny_numpy():
    x = np.array([[0.3, 0.5]], np.float32)
    w = np.array([[0.1, -0.2]], np.float32)
    b = np.zeros((1,), np.float32)
    y = np.array([[1.5]], np.float32)

    def step():
        pred = x @ w.T + b
        diff = pred - y
        loss = 0.5 * np.mean(diff * diff, axis=1)
        gpred = diff * (1.0 / diff.shape[1])
        gw = gpred.T @ x
        gb = gpred.sum(0)
        return loss, gw, gb
    return step


def tiny_tracegrad():
    x = nd.array([[0.3, 0.5]])
    w = nd.array([[0.1, -0.2]])
    b = nd.zeros((1,))
    y = nd.array([[1.5]])
    w.attach_grad()
    b.attach_grad()

    def step():
        with autograd.record():
            pred = nd.dot(x, w, transpose_b=True) + b
            loss = 0.5 * nd.mean(nd.square(pred - y), axis=1)
        loss.backward()
        return loss
    return step


def op_overhead(record):
    a = nd.ones((4,))
    a.attach_grad()
    b = nd.ones((4,))
    npa, npb = a.asnumpy(), b.asnumpy()
    if record:
        def fn():
            with autograd.record():
                for _ in range(100):
                    a * b
    else:
        def fn():
            for _ in range(100):
                a * b

    def np_fn():
        for _ in range(100):
            np.multiply(npa, npb)
    return fn, np_fn


def main():
    from bench_compiled import mlp_numpy, mlp_tracegrad
    rec, np_fn = op_overhead(True)
    plain, _ = op_overhead(False)
    report("per-op overhead: a * b on f32[4] (per op)", [
        ("numpy np.multiply", median_time(np_fn) / 100),
        ("tracegrad eager, not recording", median_time(plain) / 100),
        ("tracegrad eager, recording", median_time(rec) / 100),
    ], baseline="numpy np.multiply")
    report("tiny regression forward+backward (Dense(1), 1x2 input, L2 loss)", compare([
        ("numpy by hand", tiny_numpy()),
        ("tracegrad eager (nd ops)", tiny_tracegrad()),
    ]), baseline="numpy by hand")
    for batch in (64, 512):
        report(f"MLP 784-256-256-10 training step, batch {batch}", compare([
            ("numpy by hand", mlp_numpy(batch)),
            ("tracegrad eager (Gluon)", mlp_tracegrad(batch, False)),
        ]), baseline="numpy by hand")


if __name__ == "__main__":
    main()
