"""The gradients of gamma and gammaln at their poles (0, -1, -2, ...) are MXNet 1.9.1's:
cephes psi returns the largest double there, so gammaln's slope is DBL_MAX (inf in float32)
and gamma's Γ(x)ψ(x) is ±inf at ±0 and NaN at the negative integers; elsewhere ψ, Γψ."""
import math

import numpy as np
import pytest
from scipy import special

import tracegrad as mx
from tracegrad import autograd, nd

X = [0.0, -0.0, -1.0, -3.0, 0.5, 2.5, -2.5]


def _grad(f, dtype, jit=False):
    x = nd.array(X, dtype=dtype)
    x.attach_grad()
    fn = mx.jit(f) if jit else f
    with autograd.record():
        y = fn(x)
    y.backward()
    return y.asnumpy(), x.grad.asnumpy()


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gammaln_pole_slope(dtype, jit):
    y, g = _grad(nd.gammaln, dtype, jit)
    big = np.float64(np.finfo(np.float64).max).astype(dtype)   # inf in float32
    np.testing.assert_array_equal(g[:4], [big] * 4)
    np.testing.assert_allclose(g[4:], special.psi(X[4:]), rtol=1e-5)
    np.testing.assert_array_equal(y[:4], [np.inf] * 4)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gamma_pole_slope(dtype, jit):
    y, g = _grad(nd.gamma, dtype, jit)
    assert g[0] == np.inf and g[1] == -np.inf and np.isnan(g[2:4]).all()
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2:4]).all()
    want = special.gamma(X[4:]) * special.psi(X[4:])
    np.testing.assert_allclose(g[4:], want, rtol=1e-5)
    np.testing.assert_allclose(y[4:], [math.gamma(v) for v in X[4:]], rtol=1e-6)
