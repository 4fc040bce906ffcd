"""nd.CachedOp: a Symbol graph called imperatively, inputs in list_inputs() order, recorded
for backward inside record(), out= written."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def _graph():
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    return mx.sym.tanh(fc) * 2


def test_values_out_and_gradients():
    sym = _graph()
    op = nd.CachedOp(sym, flags=[("static_alloc", True)])
    assert sym.list_inputs() == ["data", "fc_weight", "fc_bias"]
    rs = np.random.RandomState(0)
    x, w, b = (rs.uniform(-1, 1, s).astype(np.float32) for s in ((4, 5), (3, 5), (3,)))
    want = 2 * np.tanh(x @ w.T + b)
    out = op(nd.array(x), nd.array(w), nd.array(b))
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6, atol=1e-6)
    target = nd.zeros((4, 3))
    assert op(nd.array(x), nd.array(w), nd.array(b), out=target) is target
    np.testing.assert_allclose(target.asnumpy(), want, rtol=1e-6, atol=1e-6)
    W = nd.array(w)
    W.attach_grad()
    with autograd.record():
        y = op(nd.array(x), W, nd.array(b))
    y.backward()
    t = np.tanh(x @ w.T + b)
    np.testing.assert_allclose(W.grad.asnumpy(), (2 * (1 - t * t)).T @ x, rtol=1e-5, atol=1e-6)


def test_several_outputs_and_bad_calls():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    op = nd.CachedOp(mx.sym.Group([a + b, a * b]))
    s, p = op(nd.array([1.0, 2.0]), nd.array([3.0, 4.0]))
    np.testing.assert_array_equal(s.asnumpy(), [4, 6])
    np.testing.assert_array_equal(p.asnumpy(), [3, 8])
    with pytest.raises(mx.MXNetError, match="takes 2 inputs"):
        op(nd.ones((2,)))
    with pytest.raises(TypeError, match="input 'b' must be an NDArray"):
        op(nd.ones((2,)), [1, 2])
    with pytest.raises(mx.MXNetError, match="expects a Symbol"):
        nd.CachedOp(nd.ones((2,)))
