"""MXNet's _square_sum (sparse_square_sum.py): the sum of squares of a row_sparse array over
axis 0 / 1 as mx.nd._internal and mx.sym._internal give it (the factorization machine
example's `_square_sum(data=v, axis=1, keepdims=True)`), its storage types, its gradient
against finite differences, and MXNet's refusal of a dense input in a graph."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError


def _rsp():
    dense = np.zeros((5, 3), np.float32)
    dense[1] = [1, 2, 0.5]
    dense[3] = [3, -4, 2]
    return nd.sparse.row_sparse_array(dense), dense


@pytest.mark.parametrize("axis,keepdims,stype", [(1, True, "row_sparse"), (1, False, "default"),
                                                 (0, False, "default"), (0, True, "default"),
                                                 ((1,), True, "row_sparse")])
def test_square_sum_of_row_sparse_values_and_storage(axis, keepdims, stype):
    rsp, dense = _rsp()
    out = nd._internal._square_sum(rsp, axis=axis, keepdims=keepdims)
    want = (dense.astype(np.float64) ** 2).sum(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6)
    assert out.stype == stype
    if stype == "row_sparse":
        assert out.indices.asnumpy().tolist() == [1, 3]


def test_square_sum_gradient_is_twice_the_data_times_the_head_and_row_sparse():
    rsp, dense = _rsp()
    rsp.attach_grad(stype="row_sparse")
    head = np.arange(1.0, 6.0).reshape(5, 1)
    with autograd.record():
        out = nd._internal._square_sum(rsp, axis=1, keepdims=True)
    out.backward(nd.array(head))
    assert rsp.grad.stype == "row_sparse"
    np.testing.assert_allclose(rsp.grad.asnumpy(), 2 * dense * head, rtol=1e-6)
    mx.gradcheck(lambda x: nd._internal._square_sum(x, axis=1, keepdims=True),
                 [np.random.RandomState(0).randn(4, 3)])


def _bound(stype, axis=1, keepdims=True):
    v = mx.sym.var("v", stype=stype)
    net = mx.sym._internal._square_sum(data=v, axis=axis, keepdims=keepdims)
    return net.simple_bind(mx.cpu(), v=(5, 3))


def test_square_sum_in_a_graph_takes_mxnets_storage_rule():
    ex = _bound("row_sparse")
    rsp, dense = _rsp()
    ex.arg_dict["v"][:] = dense
    out = ex.forward(is_train=True)[0]
    assert out.stype == "row_sparse"
    np.testing.assert_allclose(out.asnumpy(), (dense ** 2).sum(1, keepdims=True), rtol=1e-6)
    ex.backward(nd.ones((5, 1)))
    np.testing.assert_allclose(ex.grad_dict["v"].asnumpy(), 2 * dense, rtol=1e-6)
    assert _bound("row_sparse", axis=0, keepdims=False).outputs[0].stype == "default"


@pytest.mark.parametrize("stype,axis", [("default", 1), ("row_sparse", None)])
def test_square_sum_without_a_row_sparse_input_over_axis_0_or_1_is_not_implemented(stype,
                                                                                    axis):
    with pytest.raises(MXNetError, match="Operator not implemented: _square_sum"):
        _bound(stype, axis=axis)
