"""erf / erfinv without scipy (an optional extra): the per-element fallbacks agree with math.erf
and invert it to double accuracy, including the edges."""
import math

import numpy as np

from tracegrad.ir.ops import special


def test_fallbacks_match_math(monkeypatch):
    monkeypatch.setattr(special, "_special", None)
    x = np.linspace(-4, 4, 101)
    np.testing.assert_allclose(special.Erf.impl(x), [math.erf(v) for v in x], rtol=0, atol=0)
    y = np.concatenate([np.linspace(-0.9999, 0.9999, 201), [-1.0, 1.0, 1.5, np.nan, -0.0]])
    got = special.Erfinv.impl(y)
    assert np.isneginf(got[-5]) and np.isposinf(got[-4]) and np.isnan(got[-3:-1]).all()
    assert got[-1] == 0.0
    back = np.array([math.erf(v) for v in got[:-5]])
    np.testing.assert_allclose(back, y[:-5], rtol=1e-14, atol=1e-15)
    assert special.Erfinv.impl(np.float32([0.5])).dtype == np.float32
