"""Layer inputs MXNet 1.9.1 accepts at the edges: a 1-d input to Dense (a batch of one feature
each: FullyConnected flattens (n,) to (n, 1)), and Dropout / DropoutCell with rate 1 (NaN while
training, from MXNet's kernel's 1 / (1 - p); the identity in inference)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


@pytest.mark.parametrize("hybridize", [False, True])
def test_dense_on_a_1d_input(hybridize):
    dense = gluon.nn.Dense(3)
    dense.initialize(mx.init.Normal(1.0))
    if hybridize:
        dense.hybridize()
    x = nd.array([0.5, -1.0, 2.0, 0.25])
    x.attach_grad()
    with autograd.record():
        y = dense(x)
        loss = (y * y).sum()
    loss.backward()
    w = dense.weight.data().asnumpy().astype(np.float64)
    b = dense.bias.data().asnumpy().astype(np.float64)
    assert dense.weight.shape == (3, 1)
    want = x.asnumpy().astype(np.float64)[:, None] @ w.T + b
    np.testing.assert_allclose(y.asnumpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), (2 * want @ w)[:, 0], rtol=1e-5, atol=1e-6)


def test_dense_refuses_a_scalar():
    dense = gluon.nn.Dense(3, in_units=1)
    dense.initialize()
    with pytest.raises(mx.MXNetError, match=r"Dense: input of shape \(\) must have a batch"):
        dense(nd.array(1.0).reshape(()))


@pytest.mark.parametrize("make", [lambda: gluon.nn.Dropout(1),
                                  lambda: gluon.rnn.DropoutCell(1.0)])
def test_dropout_rate_one(make):
    block = make()
    x = nd.ones((2, 3))
    with autograd.record():
        out = block(x) if isinstance(block, gluon.nn.Dropout) else block(x, [])[0]
    assert np.isnan(out.asnumpy()).all()
    out = block(x) if isinstance(block, gluon.nn.Dropout) else block(x, [])[0]
    np.testing.assert_array_equal(out.asnumpy(), x.asnumpy())


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_dropout_rate_out_of_range(rate):
    with pytest.raises(mx.MXNetError, match="rate must be in"):
        gluon.nn.Dropout(rate)
