"""The gradient of a sparse operand of the products MXNet computes over the stored entries
only (elemwise_mul(csr, dense), broadcast_mul / broadcast_div(csr, vector)): MXNet's
_backward_mul / _backward_div are dense, so d/dx at an entry x does not store is the other
operand (or its reciprocal) too, as finite differences of the result give it."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd

X = np.array([[1.0, 0, 2, 0], [0, 3, 0, 0], [0, 0, 0, -1]])
W = np.array([[2.0, 3, 4, 5], [6, 7, 8, 9], [1, 2, 3, 4]])
COL = np.array([[2.0], [4.0], [5.0]])


def _grads(op, x_np, other_np, stype="csr", jit=False):
    x = nd.array(x_np).tostype(stype)
    other = nd.array(other_np)
    x.attach_grad()
    other.attach_grad()
    f = (mx.jit(op) if jit else op)
    with autograd.record():
        y = f(x, other)
    y.backward(nd.ones(y.shape))
    return x.grad.asnumpy(), other.grad.asnumpy(), y.asnumpy()


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
def test_elemwise_mul_sparse_dense(stype, jit):
    gx, gw, y = _grads(nd.elemwise_mul, X, W, stype, jit)
    np.testing.assert_allclose(y, X * W)
    np.testing.assert_allclose(gx, W)               # everywhere, stored or not
    np.testing.assert_allclose(gw, X)
    gw2, gx2, _ = _grads(lambda w, x: nd.elemwise_mul(w, x), W, X)   # (dense, sparse): dense
    np.testing.assert_allclose(gx2, W)


def test_broadcast_mul_and_div_by_a_column():
    gx, gc, y = _grads(nd.broadcast_mul, X, COL)
    np.testing.assert_allclose(y, X * COL)
    np.testing.assert_allclose(gx, np.broadcast_to(COL, X.shape))
    np.testing.assert_allclose(gc, X.sum(1, keepdims=True))
    gx, gc, y = _grads(nd.broadcast_div, X, COL)
    np.testing.assert_allclose(y, X / COL, rtol=1e-6)
    np.testing.assert_allclose(gx, np.broadcast_to(1 / COL, X.shape), rtol=1e-6)
    np.testing.assert_allclose(gc, -(X / COL ** 2).sum(1, keepdims=True), rtol=1e-6)


def test_finite_differences_agree():
    x, w = X.astype(np.float64), W.astype(np.float64)
    gx, _, _ = _grads(lambda a, b: nd.elemwise_mul(a, b) * 3, x, w)
    eps = 1e-3
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        f = lambda v: (nd.elemwise_mul(nd.array(v, dtype=np.float64).tostype("csr"),  # noqa
                                       nd.array(w, dtype=np.float64)) * 3)
        num[i] = (f(up).asnumpy().sum() - f(down).asnumpy().sum()) / (2 * eps)
    np.testing.assert_allclose(gx, num, rtol=1e-6)


def test_a_non_finite_other_operand_keeps_the_values_finite():
    w = W.copy()
    w[1, 0] = np.inf                  # at an entry the csr does not store
    gx, _, y = _grads(nd.elemwise_mul, X, w)
    assert np.isfinite(y).all() and y[1, 0] == 0
    np.testing.assert_allclose(gx[np.isfinite(w)], w[np.isfinite(w)])
