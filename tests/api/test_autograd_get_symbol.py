"""autograd.get_symbol (MXNet 1.9.1): the recorded graph of an array as a Symbol whose
arguments are the recorded inputs (var<k> for attach_grad arrays, null<k> for other arrays);
MXNet's own unit test, the Symbol recomputing the array, and clear errors where the graph has
no MXNet operator form or no history."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.autograd import get_symbol, record


def test_mxnets_own_get_symbol_case():
    """tests/python/unittest/test_autograd.py::test_get_symbol."""
    x = nd.ones((1,))
    x.attach_grad()
    with record():
        y = x * x + 2 * x - 1
    assert len(get_symbol(y).list_arguments()) == 1
    z = nd.ones((1,))
    z.attach_grad()
    with record():
        y = x * x + 2 * z - 1
    assert len(get_symbol(y).list_arguments()) == 2


def test_the_symbol_recomputes_the_array_on_new_inputs():
    rs = np.random.RandomState(0)
    w = nd.array(rs.randn(3, 4))
    w.attach_grad()
    data = nd.array(rs.randn(2, 3))          # read by two recorded ops: one argument
    with record():
        # exp(data).mean() depends on no variable: not recorded (as in MXNet), an argument
        h = nd.tanh(nd.dot(data, w)).sum(axis=1) * 3 + nd.exp(data).mean() \
            + nd.dot(data, w * 2)[:, 0]
    sym = get_symbol(h)
    assert sorted(sym.list_arguments()) == ["null1", "null2", "var0"]
    w2, d2 = rs.randn(3, 4), rs.randn(2, 3)
    out = sym.eval(mx.cpu(), var0=nd.array(w2), null1=nd.array(d2),
                   null2=nd.array([0.5]))[0].asnumpy()
    want = np.tanh(d2 @ w2).sum(axis=1) * 3 + 0.5 + (d2 @ (w2 * 2))[:, 0]
    np.testing.assert_allclose(out, want, rtol=1e-5)
    assert sym.infer_shape(var0=(3, 4), null1=(2, 3), null2=(1,))[1] == [(2,)]


def test_graphs_without_an_mxnet_form_and_unrecorded_arrays_raise():
    x = nd.array([3.0, 1.0, 2.0])
    x.attach_grad()
    with record():
        y = nd.sort(x) * 2                             # a sort: an integer permutation inside
    with pytest.raises(mx.MXNetError, match=r"get_symbol: the recorded graph of the array of "
                                            r"shape \(3,\) has no MXNet operator form"):
        get_symbol(y)
    with pytest.raises(mx.MXNetError, match=r"get_symbol: the array of shape \(2,\) has no "
                                            r"recorded history"):
        get_symbol(nd.ones(2))
    with record():
        y = x * 2
    y.backward()                                       # frees the graph
    with pytest.raises(mx.MXNetError, match="no recorded history"):
        get_symbol(y)
    assert autograd.get_symbol is get_symbol
