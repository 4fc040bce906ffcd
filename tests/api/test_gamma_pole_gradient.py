"""The gradients of gamma and gammaln at their poles (0, -1, -2, ...) are MXNet 1.9.1's:
cephes psi returns the largest double there (inf once in float32), and the gradient is
ograd times gammaln_grad = psi, gamma_grad = tgamma * psi: so gammaln's is +-DBL_MAX in
float64 and +-inf (NaN for an ograd of 0) in float32; gamma's +-inf at +-0 and NaN at the
negative integers. Elsewhere psi and gamma * psi (scipy)."""
import math

import numpy as np
import pytest
from scipy import special

import tracegrad as mx
from tracegrad import autograd, nd

X = [0.0, -0.0, -1.0, -3.0, 0.5, 2.5, -2.5]
POLES = X[:4]


def _grad(f, dtype, ograd=1.0, jit=False):
    x = nd.array(X, dtype=dtype)
    x.attach_grad()
    fn = mx.jit(f) if jit else f
    with autograd.record():
        y = fn(x)
    y.backward(nd.full((len(X),), ograd, dtype=dtype))
    return y.asnumpy(), x.grad.asnumpy()


def _mxnet_psi(dtype):
    """cephes psi at a pole: DBL_MAX, as the dtype holds it (float32: inf)."""
    with np.errstate(over="ignore"):
        return np.float64(np.finfo(np.float64).max).astype(dtype)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ograd", [1.0, 0.0, -2.0])
def test_gammaln_pole_slope(dtype, jit, ograd):
    y, g = _grad(nd.gammaln, dtype, ograd, jit)
    with np.errstate(all="ignore"):
        want = np.array([ograd], dtype) * _mxnet_psi(dtype)
    np.testing.assert_array_equal(g[:4], np.repeat(want, 4))
    np.testing.assert_allclose(g[4:], ograd * special.psi(X[4:]), rtol=1e-5)
    np.testing.assert_array_equal(y[:4], [np.inf] * 4)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ograd", [1.0, 0.0, -2.0])
def test_gamma_pole_slope(dtype, jit, ograd):
    y, g = _grad(nd.gamma, dtype, ograd, jit)
    with np.errstate(all="ignore"):
        slope = np.array([np.inf, -np.inf, np.nan, np.nan]) * _mxnet_psi("float64")
        want = ograd * slope
    np.testing.assert_array_equal(g[:4], want.astype(dtype))
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2:4]).all()
    np.testing.assert_allclose(g[4:], ograd * special.gamma(X[4:]) * special.psi(X[4:]),
                               rtol=1e-5)
    np.testing.assert_allclose(y[4:], [math.gamma(v) for v in X[4:]], rtol=1e-6)
