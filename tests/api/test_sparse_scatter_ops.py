"""MXNet's _scatter_elemwise_div / _scatter_plus_scalar / _scatter_minus_scalar
(elemwise_scatter_op.cc): a sparse left operand's stored entries only are computed, its
storage type kept (row_sparse only, for the division); dense operands: the plain op."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd

L = np.array([[1.0, 2], [0, 0], [3, 0], [0, 0]], np.float32)
R = np.array([[2.0, 4], [5, 6], [0.5, 1], [7, 8]], np.float32)
_int = nd._internal


def test_scatter_div_row_sparse_keeps_lhs_rows():
    out = _int._scatter_elemwise_div(nd.array(L).tostype("row_sparse"), nd.array(R))
    assert out.stype == "row_sparse"
    assert out.indices.asnumpy().tolist() == [0, 2]
    want = np.zeros_like(L)
    want[[0, 2]] = L[[0, 2]] / R[[0, 2]]
    np.testing.assert_allclose(out.asnumpy(), want)


@pytest.mark.parametrize("ls, rs", [("default", "default"), ("csr", "default"),
                                    ("default", "row_sparse")])
def test_scatter_div_otherwise_is_elemwise_div(ls, rs):
    out = _int._scatter_elemwise_div(nd.array(L).tostype(ls), nd.array(R).tostype(rs))
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), L / R)


@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
@pytest.mark.parametrize("name, sign", [("_scatter_plus_scalar", 1),
                                        ("_scatter_minus_scalar", -1)])
def test_scatter_scalar_ops_touch_stored_entries_only(stype, name, sign):
    x = nd.array(L).tostype(stype)
    out = getattr(_int, name)(x, scalar=9)
    assert out.stype == stype
    stored = (L != 0) if stype == "csr" else np.repeat((L != 0).any(1, keepdims=True), 2, 1)
    np.testing.assert_allclose(out.asnumpy(), np.where(stored, L + sign * 9, 0))
    dense = getattr(_int, name)(nd.array(L), scalar=9)
    assert dense.stype == "default"
    np.testing.assert_allclose(dense.asnumpy(), L + sign * 9)


def test_symbols_and_gradients():
    lhs, rhs = mx.sym.var("lhs"), mx.sym.var("rhs")
    s = mx.sym._internal._scatter_elemwise_div(lhs, rhs)
    exe = s.bind(mx.cpu(), {"lhs": nd.array(L).tostype("row_sparse"), "rhs": nd.array(R)},
                 args_grad={"lhs": nd.zeros(L.shape), "rhs": nd.zeros(R.shape)})
    exe.forward(is_train=True)
    assert exe.outputs[0].stype == "row_sparse"
    exe.backward(nd.ones(L.shape))
    np.testing.assert_allclose(exe.grad_dict["lhs"].asnumpy(), 1 / R, rtol=1e-6)
    np.testing.assert_allclose(exe.grad_dict["rhs"].asnumpy(), -L / R ** 2, rtol=1e-6)
    p = mx.sym._internal._scatter_plus_scalar(lhs, 9)
    exe = p.bind(mx.cpu(), {"lhs": nd.array(L).tostype("csr")})
    exe.forward()
    assert exe.outputs[0].stype == "csr"
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), np.where(L != 0, L + 9, 0))
    x = nd.array(L).tostype("csr")
    x.attach_grad()
    with autograd.record():
        y = _int._scatter_minus_scalar(x, scalar=2)
    y.backward(nd.full(L.shape, 3.0))
    np.testing.assert_allclose(x.grad.asnumpy(), np.full(L.shape, 3.0))
