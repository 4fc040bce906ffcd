"""Eager Gluon training step vs the same step written by hand in numpy.

MLP 784-256-256-10 (ReLU), softmax cross-entropy, plain SGD, float32, batch 64 and 512.
Prints the median step time of each and the ratio tracegrad / numpy (target: <= 1.3 at 64,
<= 1.1 at 512).

    python bench/bench_mlp_eager.py [--steps 200] [--profile]
"""
import argparse
import time

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn

SIZES = (784, 256, 256, 10)
LR = 0.1


def make_data(batch, rng):
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch).astype(np.float32)
    return x, y


class NumpyMLP:
    """Forward, backward and SGD written directly in numpy (the baseline)."""

    def __init__(self, rng):
        self.params = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
            self.params.append([rng.uniform(-0.07, 0.07, (n_out, n_in)).astype(np.float32),
                                np.zeros(n_out, np.float32)])

    def step(self, x, y):
        acts = [x]
        for i, (w, b) in enumerate(self.params):
            z = acts[-1] @ w.T + b
            acts.append(np.maximum(z, 0) if i < len(self.params) - 1 else z)
        logits = acts[-1]
        e = np.exp(logits - logits.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        n = x.shape[0]
        loss = -np.log(p[np.arange(n), y.astype(np.int64)])
        d = p
        d[np.arange(n), y.astype(np.int64)] -= 1  # d sum(loss) / d logits
        scale = np.float32(LR / n)
        for i in range(len(self.params) - 1, -1, -1):
            w, b = self.params[i]
            gw, gb = d.T @ acts[i], d.sum(0)
            if i:
                d = (d @ w) * (acts[i] > 0)
            w -= scale * gw
            b -= scale * gb
        return loss


class GluonMLP:
    """The same model with tracegrad Gluon, eager (not hybridized)."""

    def __init__(self):
        self.net = nn.Sequential()
        for units in SIZES[1:-1]:
            self.net.add(nn.Dense(units, activation="relu", in_units=0))
        self.net.add(nn.Dense(SIZES[-1]))
        self.net.initialize()
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.trainer = None

    def step(self, x, y):
        with autograd.record():
            loss = self.loss(self.net(x), y)
        loss.backward()
        if self.trainer is None:
            self.trainer = gluon.Trainer(self.net.collect_params(), "sgd",
                                         {"learning_rate": LR})
        self.trainer.step(x.shape[0])
        return loss


def paired_medians(fns, steps):
    """Median seconds per call of each fn, calls interleaved so machine load hits all alike."""
    for _ in range(10):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(steps):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--profile", action="store_true", help="cProfile the Gluon step at 64")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    print(f"{'batch':>6} {'numpy ms':>10} {'tracegrad ms':>13} {'ratio':>7}")
    for batch, target in ((64, 1.3), (512, 1.1)):
        x, y = make_data(batch, rng)
        ref, net = NumpyMLP(rng), GluonMLP()
        xn, yn = nd.array(x), nd.array(y)
        t_np, t_tg = paired_medians([lambda: ref.step(x, y), lambda: net.step(xn, yn)],
                                    args.steps)
        print(f"{batch:>6} {t_np * 1e3:>10.3f} {t_tg * 1e3:>13.3f} {t_tg / t_np:>7.2f}"
              f"   (target <= {target})")
    if args.profile:
        import cProfile
        import pstats
        x, y = make_data(64, rng)
        net, xn, yn = GluonMLP(), nd.array(x), nd.array(y)
        for _ in range(10):
            net.step(xn, yn)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(300):
            net.step(xn, yn)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
