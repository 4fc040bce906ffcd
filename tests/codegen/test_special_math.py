"""The trig/hyperbolic family, erf and erfinv compiled natively against numpy/scipy over dense
sweeps of their domains and at special values (inf, nan, ±0, domain edges), f32 and f64."""
import numpy as np

from cgutil import check_cases

SWEEPS = {"tan": (-1.55, 1.55), "arcsin": (-1, 1), "arccos": (-1, 1), "arctan": (-1e4, 1e4),
          "sinh": (-80, 80), "cosh": (-80, 80), "arcsinh": (-1e6, 1e6),
          "arccosh": (1, 1e6), "arctanh": (-1, 1), "erf": (-7, 7), "erfinv": (-1, 1)}
SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 0.5, -0.5, 0.999999,
           -0.999999, 2.0, 1e20, -1e20, 700.0, -700.0]


def test_dense_sweeps():
    cases = []
    for name, (lo, hi) in SWEEPS.items():
        for dt in (np.float32, np.float64):
            cases.append((name, [np.linspace(lo, hi, 2049).astype(dt)], {}))
            cases.append((name, [np.linspace(-1e-3, 1e-3, 257).astype(dt) + (1.0 if lo >= 1
                                                                               else 0.0)], {}))
    check_cases(cases)


def test_special_values():
    # tan shares sin/cos's argument reduction, exact only below ~1e6 (codegen/mathfuns.py)
    cases = [(name, [np.array([v for v in SPECIAL if name != "tan" or not abs(v) > 1e6],
                              dtype=dt)], {})
             for name in SWEEPS for dt in (np.float32, np.float64)]
    check_cases(cases)


def test_erfinv_tails_keep_relative_accuracy():
    y = 1 - np.logspace(-15, -1, 200)
    check_cases([("erfinv", [np.concatenate([y, -y])], {})])
