"""gamma / poisson / negative binomials with random parameters (numbers or arrays of f32 or
f64, zero, the method boundary lambda = 12, tiny alphas), shapes (with 0-size axes) and dtypes:
the eager samplers, which draw each rejection round only for the elements still rejected,
must give bit for bit what the vectorized rounds traced code compiles give (run eagerly), or
raise the same error.

    PYTHONPATH=. python scripts/fuzz_samplers.py [seed] [cases]   (prints mismatches)
"""
import sys

import numpy as np

import tracegrad as mx
from tracegrad import nd, random_dists

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
n_cases = int(sys.argv[2]) if len(sys.argv) > 2 else 200
rng = np.random.default_rng(seed)
bad = 0
for case in range(n_cases):
    fn = rng.choice(["gamma", "poisson", "negative_binomial", "generalized_negative_binomial"])
    shape = tuple(int(v) for v in rng.integers(0, 9, size=rng.integers(1, 3)))
    arrays = rng.random() < 0.5
    lead = tuple(int(v) for v in rng.integers(1, 5, size=rng.integers(1, 3)))
    def p(lo, hi, special=()):
        if arrays:
            v = rng.uniform(lo, hi, size=lead)
            if special and rng.random() < 0.5:
                v.flat[0] = rng.choice(special)
            return nd.array(v, dtype=rng.choice(["float32", "float64"]))
        if special and rng.random() < 0.3:
            return float(rng.choice(special))
        return float(rng.uniform(lo, hi))
    if fn == "gamma": args = (p(0.01, 20, (1.0, 0.5, 1e-3)), p(0.01, 5))
    elif fn == "poisson": args = (p(0, 300, (0.0, 12.0, 11.999999, 1e-7)),)
    elif fn == "negative_binomial": args = (p(0.05, 50), p(0.02, 1.0, (1.0,)))
    else: args = (p(0, 100, (0.0,)), p(0, 3, (0.0,)))
    dtype = str(rng.choice(["float32", "float64", "float16"]))
    s = int(rng.integers(0, 1 << 30))
    mx.random.seed(s)
    try:
        a = getattr(nd.random, fn)(*args, shape=shape, dtype=dtype).asnumpy()
    except Exception as e:
        a = repr(e)
    orig = random_dists._eager
    random_dists._eager = lambda: False
    mx.random.seed(s)
    try:
        b = getattr(nd.random, fn)(*args, shape=shape, dtype=dtype).asnumpy()
    except Exception as e:
        b = repr(e)
    random_dists._eager = orig
    if isinstance(a, str) or isinstance(b, str):
        same = a == b
    else:
        same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if not same:
        bad += 1
        shown = [v if isinstance(v, str) else v.ravel()[:5] for v in (a, b)]
        print("MISMATCH", fn, args, shape, dtype, s, *shown)
print(f"seed {seed}: {n_cases} cases, {bad} mismatches")
