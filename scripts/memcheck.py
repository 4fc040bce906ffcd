"""Resident memory over long training runs: 10,000 eager and 10,000 hybridized steps of a
small MLP (tests/trust/test_threads_memory.py runs 1,500 in CI).

    python scripts/memcheck.py [--steps 10000]

Prints RSS after a warm-up and after the run; exits 1 when it grew by 20 MB or more.
"""
import argparse
import gc
import sys
import time

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2 ** 20


def run(hybridize, steps, warmup=300):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(64, in_units=32, activation="relu"), gluon.nn.Dense(10, in_units=64))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = nd.array(rng.normal(size=(64, 32)).astype(np.float32))
    y = nd.array(rng.integers(0, 10, 64).astype(np.float32))

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        return loss
    for _ in range(warmup):
        step()
    gc.collect()
    before, start = rss_mb(), time.time()
    for _ in range(steps):
        step()
    gc.collect()
    after = rss_mb()
    mode = "hybridized" if hybridize else "eager"
    print(f"{mode:>10}: {steps} steps in {time.time() - start:.1f} s, RSS {before:.1f} MB -> "
          f"{after:.1f} MB (growth {after - before:+.1f} MB)")
    return after - before


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10000)
    args = ap.parse_args()
    growth = [run(False, args.steps), run(True, args.steps)]
    return 1 if max(growth) >= 20.0 else 0


if __name__ == "__main__":
    sys.exit(main())
