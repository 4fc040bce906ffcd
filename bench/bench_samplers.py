"""Eager samplers at scale: 10^6 draws of gamma, poisson (both methods) and the negative
binomials, and 2^24 of uniform and normal, next to numpy's Generator (other algorithms and
numbers: a yardstick).

    python bench/bench_samplers.py [--n N]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tracegrad as mx  # noqa: E402
from tracegrad import nd  # noqa: E402


def median_seconds(fn, rounds=5):
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(n):
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    cases = [
        ("gamma(2, 1.5)", lambda: nd.random.gamma(2.0, 1.5, shape=(n,)).wait_to_read(),
         lambda: rng.gamma(2.0, 1.5, n)),
        ("gamma(0.3, 1)", lambda: nd.random.gamma(0.3, 1.0, shape=(n,)).wait_to_read(),
         lambda: rng.gamma(0.3, 1.0, n)),
        ("poisson(4)", lambda: nd.random.poisson(4.0, shape=(n,)).wait_to_read(),
         lambda: rng.poisson(4.0, n)),
        ("poisson(40)", lambda: nd.random.poisson(40.0, shape=(n,)).wait_to_read(),
         lambda: rng.poisson(40.0, n)),
        ("negative_binomial(3, 0.4)",
         lambda: nd.random.negative_binomial(3, 0.4, shape=(n,)).wait_to_read(),
         lambda: rng.negative_binomial(3, 0.4, n)),
    ]
    big = 1 << 24
    cases += [
        ("uniform, 2^24 f32", lambda: nd.random.uniform(shape=(big,)).wait_to_read(),
         lambda: rng.random(big, dtype=np.float32)),
        ("normal, 2^24 f32", lambda: nd.random.normal(shape=(big,)).wait_to_read(),
         lambda: rng.standard_normal(big, dtype=np.float32)),
    ]
    print(f"{n} draws (unless stated), median of 5 (seconds)")
    print(f"{'distribution':28s} {'tracegrad':>10s} {'numpy':>10s}")
    for name, ours, theirs in cases:
        print(f"{name:28s} {median_seconds(ours):10.3f} {median_seconds(theirs):10.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10 ** 6)
    main(parser.parse_args().n)
