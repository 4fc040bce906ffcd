"""d2l.ai chapter 4 (multilayer perceptrons), MXNet edition: the MLP from scratch and concise,
polynomial features with in-place column scaling, weight decay (the 'wd' hyperparameter, and
bias excluded through collect_params('.*bias').setattr('wd_mult', 0)), dropout from scratch
and nn.Dropout, and the sigmoid-gradient plot of the numerical-stability section."""
import math

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn

from d2l_book import evaluate_accuracy, image_loaders, sgd, synthetic_data, train_epoch_ch3


def relu(X):
    return np.maximum(X, 0)


def test_relu_via_maximum_and_its_gradient():
    x = np.arange(-2.0, 2.0, 0.5)
    x.attach_grad()
    with autograd.record():
        y = relu(x)
    y.backward()
    xs = onp.arange(-2.0, 2.0, 0.5)
    onp.testing.assert_array_equal(y.asnumpy(), onp.maximum(xs, 0))
    # MXNet's _npi_maximum_scalar backward is grad * (x >= 0): 1 at the tie x == 0
    onp.testing.assert_array_equal(x.grad.asnumpy(), (xs >= 0).astype('f4'))


def test_sigmoid_gradient():
    x = np.arange(-8.0, 8.0, 0.1)
    x.attach_grad()
    with autograd.record():
        y = npx.sigmoid(x)
    y.backward()
    s = 1 / (1 + onp.exp(-onp.arange(-8.0, 8.0, 0.1)))
    onp.testing.assert_allclose(y.asnumpy(), s, rtol=1e-6)
    onp.testing.assert_allclose(x.grad.asnumpy(), s * (1 - s), rtol=1e-5, atol=1e-7)


def test_mlp_from_scratch():
    mx.random.seed(0)
    np.random.seed(0)
    train_iter, test_iter = image_loaders(16, shape=(1, 8, 8))
    num_inputs, num_outputs, num_hiddens = 64, 10, 32
    W1 = np.random.normal(scale=0.01, size=(num_inputs, num_hiddens))
    b1 = np.zeros(num_hiddens)
    W2 = np.random.normal(scale=0.01, size=(num_hiddens, num_outputs))
    b2 = np.zeros(num_outputs)
    params = [W1, b1, W2, b2]
    for param in params:
        param.attach_grad()

    def net(X):
        X = X.reshape((-1, num_inputs))
        H = relu(np.dot(X, W1) + b1)
        return np.dot(H, W2) + b2

    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = [train_epoch_ch3(net, train_iter, loss, lambda n: sgd(params, 0.5, n))[0]
              for _ in range(5)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert evaluate_accuracy(net, test_iter) > 0.8


@pytest.mark.parametrize("hybridize", [False, True])
def test_mlp_concise(hybridize):
    mx.random.seed(1)
    np.random.seed(1)
    train_iter, test_iter = image_loaders(16, shape=(1, 8, 8))
    net = nn.Sequential()
    net.add(nn.Dense(32, activation='relu'), nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    if hybridize:
        net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
    losses = [train_epoch_ch3(net, train_iter, loss, trainer)[0] for _ in range(5)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert evaluate_accuracy(net, test_iter) > 0.8


def test_polynomial_features_scaled_in_place():
    max_degree = 6
    features = np.random.normal(size=(20, 1))
    poly = np.power(features, np.arange(max_degree).reshape(1, -1))
    for i in range(max_degree):
        poly[:, i] /= math.gamma(i + 1)
    f = features.asnumpy().astype('f8')
    ref = f ** onp.arange(max_degree) / onp.array([math.gamma(i + 1) for i in range(max_degree)])
    onp.testing.assert_allclose(poly.asnumpy(), ref, rtol=1e-5)


def test_weight_decay_per_parameter_wd_mult():
    """One SGD step: the weight decays (lr * wd * w), the bias, wd_mult 0, does not."""
    mx.random.seed(2)
    X, y = synthetic_data(np.ones(5) * 0.01, 0.05, 8)
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(init.Normal(sigma=1))
    lr, wd = 0.1, 3.0
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr, 'wd': wd})
    net.collect_params('.*bias').setattr('wd_mult', 0)
    assert net[0].bias.wd_mult == 0 and net[0].weight.wd_mult == 1
    loss = gluon.loss.L2Loss()
    net(X)  # finish the deferred initialization
    w0 = net[0].weight.data().asnumpy().astype('f8')
    b0 = net[0].bias.data().asnumpy().astype('f8')
    with autograd.record():
        l = loss(net(X), y)
    l.backward()
    trainer.step(8)
    Xn, yn = X.asnumpy().astype('f8'), y.asnumpy().astype('f8')
    r = Xn @ w0.T + b0 - yn          # L2Loss = r^2 / 2 per example
    gw, gb = (r.T @ Xn) / 8, r.sum(0) / 8
    onp.testing.assert_allclose(net[0].weight.data().asnumpy(), w0 - lr * (gw + wd * w0),
                                rtol=1e-5)
    onp.testing.assert_allclose(net[0].bias.data().asnumpy(), b0 - lr * gb, rtol=1e-5)


def test_weight_decay_from_scratch_matches_numpy():
    """The L2-penalized loss trained by full-batch SGD, step for step against float64 numpy."""
    rs = onp.random.RandomState(3)
    n, d, lambd, lr = 20, 50, 3.0, 0.003
    Xn, yn = rs.randn(n, d), rs.randn(n, 1)
    w0 = rs.randn(d, 1)
    X, y = np.array(Xn), np.array(yn)
    w, b = np.array(w0), np.zeros(1)
    w.attach_grad()
    b.attach_grad()
    Xn, yn, w0 = X.asnumpy().astype('f8'), y.asnumpy().astype('f8'), w.asnumpy().astype('f8')
    wr, br = w0.copy(), onp.zeros(1)
    for _ in range(30):
        with autograd.record():
            l = (np.dot(X, w) + b - y) ** 2 / 2 + lambd * (w ** 2).sum() / 2
        l.backward()
        sgd([w, b], lr, n)
        r = Xn @ wr + br - yn
        wr, br = wr - lr * (Xn.T @ r + n * lambd * wr) / n, br - lr * r.sum(0) / n
    onp.testing.assert_allclose(w.asnumpy(), wr, rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(b.asnumpy(), br, rtol=1e-4, atol=1e-5)
    assert onp.linalg.norm(wr) < 0.9 * onp.linalg.norm(w0)


def dropout_layer(X, dropout):
    assert 0 <= dropout <= 1
    if dropout == 1:
        return np.zeros_like(X)
    if dropout == 0:
        return X
    mask = np.random.uniform(0, 1, X.shape) > dropout
    return mask.astype(np.float32) * X / (1.0 - dropout)


def test_dropout_from_scratch():
    np.random.seed(4)
    X = np.arange(1, 801).reshape(40, 20)
    onp.testing.assert_array_equal(dropout_layer(X, 0).asnumpy(), X.asnumpy())
    onp.testing.assert_array_equal(dropout_layer(X, 1).asnumpy(), onp.zeros((40, 20)))
    out = dropout_layer(X, 0.5).asnumpy()
    assert out.dtype == onp.float32
    kept = out != 0
    onp.testing.assert_array_equal(out[kept], 2 * X.asnumpy()[kept])
    assert 0.4 < kept.mean() < 0.6


def test_nn_dropout_train_and_predict():
    mx.random.seed(5)
    layer = nn.Dropout(0.5)
    layer.initialize()
    X = np.ones((50, 40))
    assert not autograd.is_training()
    onp.testing.assert_array_equal(layer(X).asnumpy(), onp.ones((50, 40)))
    with autograd.record():
        assert autograd.is_training()
        out = layer(X).asnumpy()
    assert set(onp.unique(out)) == {0.0, 2.0}
    assert 0.4 < (out == 2).mean() < 0.6
    with autograd.train_mode():
        assert set(onp.unique(layer(X).asnumpy())) == {0.0, 2.0}


def test_mlp_with_dropout_trains():
    mx.random.seed(6)
    np.random.seed(6)
    train_iter, test_iter = image_loaders(16, shape=(1, 8, 8))
    net = nn.Sequential()
    net.add(nn.Dense(32, activation='relu'), nn.Dropout(0.3), nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
    losses = [train_epoch_ch3(net, train_iter, loss, trainer)[0] for _ in range(5)]
    assert losses[-1] < 0.7 * losses[0], losses
    # prediction is deterministic (no dropout outside training)
    X, _ = next(iter(test_iter))
    onp.testing.assert_array_equal(net(X).asnumpy(), net(X).asnumpy())
