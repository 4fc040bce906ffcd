"""Regenerate the polynomial tables of tracegrad/ir/ops/special.py (erf, erfinv).

Each table is a least-squares Chebyshev fit at Chebyshev nodes against scipy.special in float64,
converted to the power basis of t = (v - mid) / half so a scalar rule evaluates it by Horner.
Run: python tools/fit_special.py  (prints the tables and their max relative error).
"""
import numpy as np
import scipy.special as sp
from numpy.polynomial import chebyshev as C
from numpy.polynomial import polynomial as P


def fit(fn, lo, hi, deg, n=6000):
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    v = np.cos(np.pi * (np.arange(n) + 0.5) / n) * half + mid
    coef = C.cheb2poly(C.chebfit((v - mid) / half, fn(v), deg))
    grid = np.linspace(lo, hi, 100001)
    err = np.max(np.abs(P.polyval((grid - mid) / half, coef) / fn(grid) - 1))
    return (float(lo), float(hi), tuple(float(c) for c in coef)), err


def erf_over_x(u):  # erf(x) / x as a function of u = x²
    x = np.sqrt(u)
    return np.where(u == 0, 2 / np.sqrt(np.pi), sp.erf(x) / np.where(x == 0, 1, x))


TABLES = {
    "ERF_SMALL": (erf_over_x, [(0.0, 1.0, 12)]),
    "ERFCX": (sp.erfcx, [(1.0, 2.0, 16), (2.0, 3.5, 16), (3.5, 6.5, 18)]),
    # erfinv(y) / y against w = -log((1 - y)(1 + y)), and against s = sqrt(w)
    "ERFINV_CENTRAL": (lambda w: _erfinv_over_y(w), [(0.0, 5.0, 16)]),
    "ERFINV_TAIL": (lambda s: _erfinv_tail(s * s), [(np.sqrt(5.0), 6.1, 16)]),
}


def _erfinv_over_y(w):
    y = np.sqrt(-np.expm1(-w))  # (1-y)(1+y) = 1 - y² = exp(-w)
    return np.where(w == 0, np.sqrt(np.pi) / 2, sp.erfinv(y) / np.where(y == 0, 1, y))


def _erfinv_tail(w):
    """erfinv(y) itself for y near 1, from erfcinv(1 - y) with 1 - y formed without rounding."""
    q = np.exp(-w) / (1 + np.sqrt(-np.expm1(-w)))
    return sp.erfcinv(q)


if __name__ == "__main__":
    for name, (fn, pieces) in TABLES.items():
        rows = []
        for lo, hi, deg in pieces:
            row, err = fit(fn, lo, hi, deg)
            rows.append(row)
            print(f"# {name} [{lo}, {hi}] degree {deg}: max relative error {err:.2e}")
        print(f"{name} = {tuple(rows)!r}")
