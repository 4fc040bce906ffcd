"""Step time of one small Gluon training step written with mx.nd and with mx.np (set_np),
eager and hybridized: both are step-captured (docs/mxnet_compat.md); the gap is mx.np's
views and wrappers.

    python bench/np_vs_nd_step.py            (TRACEGRAD_CAPTURE=0 to compare without capture)
"""
import time

import numpy as onp

import tracegrad as mx
from tracegrad import autograd, gluon, nd, np, npx


def step_time(use_np, hybridize, steps=60, warm=10):
    npx.set_np() if use_np else npx.reset_np()
    lib = np if use_np else nd
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(64, activation="relu"), gluon.nn.Dense(3))
    net.initialize()
    if hybridize:
        net.hybridize()
    X = lib.array(onp.random.rand(64, 20).astype("float32"))
    y = lib.array(onp.arange(64) % 3)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for i in range(steps):
        if i == warm:
            t0 = time.perf_counter()
        with autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(64)
    l.asnumpy()
    return (time.perf_counter() - t0) / (steps - warm) * 1e6


if __name__ == "__main__":
    for use_np in (False, True):
        for hybridize in (False, True):
            print(f"{'np' if use_np else 'nd'} {'hybridized' if hybridize else 'eager':10s} "
                  f"{step_time(use_np, hybridize):8.0f} us/step")
    npx.reset_np()
    print(mx.explain().splitlines()[0])
