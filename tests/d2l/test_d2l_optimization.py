"""d2l.ai chapter 12 (optimization algorithms), MXNet edition: gradient descent and Newton's
method in one dimension, minibatch SGD's vectorization, and the from-scratch optimizers of
train_ch11 (sgd, momentum, adagrad, rmsprop, adadelta, adam: states updated in place with
`s[:] = ...`) against train_concise_ch11's gluon.Trainer with the same hyperparameters: both
follow the same parameter trajectory. Also the learning-rate schedulers of the scheduling
section (set_learning_rate, FactorScheduler, MultiFactorScheduler, CosineScheduler with
warmup) and a Trainer driven by one."""
import math

import numpy as onp
import pytest

from tracegrad import autograd, gluon, init, lr_scheduler, nd, np
from tracegrad.gluon import nn

from d2l_book import linreg, squared_loss


def f64(a):
    return a.asnumpy().astype('f8')


# ------------------------------------------------------------------ one dimension
def test_gradient_descent_and_newtons_method_in_one_dimension():
    def f_grad(x):   # f(x) = x ** 2
        return 2 * x

    def gd(eta, f_grad):
        x = 10.0
        results = [x]
        for _ in range(10):
            x -= eta * f_grad(x)
            results.append(float(x))
        return results

    onp.testing.assert_allclose(gd(0.2, f_grad)[-1], 10 * 0.6 ** 10, rtol=1e-12)
    assert abs(gd(1.1, f_grad)[-1]) > 10   # too large a learning rate diverges

    c = np.array(0.5)

    def f(x):  # f(x) = cosh(cx)
        return np.cosh(c * x)

    def f_hess(x):
        return c ** 2 * np.cosh(c * x)

    def f_grad2(x):
        return c * np.sinh(c * x)

    def newton(eta=1):
        x = np.array(10.0)
        results = [float(x)]
        for _ in range(10):
            x -= eta * f_grad2(x) / f_hess(x)
            results.append(float(x))
        return results

    res = newton()
    assert abs(res[-1]) < 1e-6 and abs(res[1]) < abs(res[0])
    # the same Hessian-scaled step as autograd computes it
    x = np.array(3.0)
    x.attach_grad()
    with autograd.record():
        y = f(x)
    y.backward()
    onp.testing.assert_allclose(float(x.grad), float(f_grad2(x)), rtol=1e-6)


def test_vectorization_for_minibatches():
    """Element-wise, column-wise, and whole products of the minibatch SGD section agree."""
    rs = onp.random.RandomState(0)
    A, B, C = np.zeros((16, 16)), np.array(rs.normal(size=(16, 16))), \
        np.array(rs.normal(size=(16, 16)))
    for i in range(4):
        for j in range(16):
            A[i, j] = np.dot(B[i, :], C[:, j])
    for j in range(16):
        A[:, j] = np.dot(B, C[:, j])
    full = np.dot(B, C)
    onp.testing.assert_allclose(f64(A), f64(full), rtol=1e-5, atol=1e-5)
    for j in range(0, 16, 4):
        A[:, j:j + 4] = np.dot(B, C[:, j:j + 4])
    onp.testing.assert_allclose(f64(A), f64(B) @ f64(C), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ train_ch11 from scratch
def init_sgd_states(feature_dim):
    return []


def sgd(params, states, hyperparams):
    for p in params:
        p[:] -= hyperparams['lr'] * p.grad


def init_momentum_states(feature_dim):
    v_w = np.zeros((feature_dim, 1))
    v_b = np.zeros(1)
    return (v_w, v_b)


def sgd_momentum(params, states, hyperparams):
    for p, v in zip(params, states):
        v[:] = hyperparams['momentum'] * v + p.grad
        p[:] -= hyperparams['lr'] * v


def init_adagrad_states(feature_dim):
    s_w = np.zeros((feature_dim, 1))
    s_b = np.zeros(1)
    return (s_w, s_b)


def adagrad(params, states, hyperparams):
    eps = 1e-6
    for p, s in zip(params, states):
        s[:] += np.square(p.grad)
        p[:] -= hyperparams['lr'] * p.grad / np.sqrt(s + eps)


def init_rmsprop_states(feature_dim):
    s_w = np.zeros((feature_dim, 1))
    s_b = np.zeros(1)
    return (s_w, s_b)


def rmsprop(params, states, hyperparams):
    gamma, eps = hyperparams['gamma'], 1e-6
    for p, s in zip(params, states):
        s[:] = gamma * s + (1 - gamma) * np.square(p.grad)
        p[:] -= hyperparams['lr'] * p.grad / np.sqrt(s + eps)


def init_adadelta_states(feature_dim):
    s_w, s_b = np.zeros((feature_dim, 1)), np.zeros(1)
    delta_w, delta_b = np.zeros((feature_dim, 1)), np.zeros(1)
    return ((s_w, delta_w), (s_b, delta_b))


def adadelta(params, states, hyperparams):
    rho, eps = hyperparams['rho'], 1e-5
    for p, (s, delta) in zip(params, states):
        s[:] = rho * s + (1 - rho) * np.square(p.grad)
        g = (np.sqrt(delta + eps) / np.sqrt(s + eps)) * p.grad
        p[:] -= g
        delta[:] = rho * delta + (1 - rho) * g * g


def init_adam_states(feature_dim):
    v_w, v_b = np.zeros((feature_dim, 1)), np.zeros(1)
    s_w, s_b = np.zeros((feature_dim, 1)), np.zeros(1)
    return ((v_w, s_w), (v_b, s_b))


def adam(params, states, hyperparams):
    beta1, beta2, eps = 0.9, 0.999, 1e-6
    for p, (v, s) in zip(params, states):
        v[:] = beta1 * v + (1 - beta1) * p.grad
        s[:] = beta2 * s + (1 - beta2) * np.square(p.grad)
        v_bias_corr = v / (1 - beta1 ** hyperparams['t'])
        s_bias_corr = s / (1 - beta2 ** hyperparams['t'])
        p[:] -= hyperparams['lr'] * v_bias_corr / (np.sqrt(s_bias_corr) + eps)
    hyperparams['t'] += 1


def airfoil(n=120, feature_dim=5, seed=0):
    """A standardized regression set in place of the airfoil data."""
    rs = onp.random.RandomState(seed)
    X = rs.randn(n, feature_dim)
    y = X @ rs.randn(feature_dim) + 0.3 + 0.1 * rs.randn(n)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.array(X, dtype='float32'), np.array(y, dtype='float32')


def batches(X, y, batch_size):
    return [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(X), batch_size)]


def train_ch11(trainer_fn, states, hyperparams, data_iter, w0, num_epochs=1):
    w = w0.copy()
    b = np.zeros(1)
    w.attach_grad()
    b.attach_grad()
    net, loss = lambda X: linreg(X, w, b), squared_loss
    losses = []
    for _ in range(num_epochs):
        for X, y in data_iter:
            with autograd.record():
                l = loss(net(X), y).mean()
            l.backward()
            trainer_fn([w, b], states, hyperparams)
            losses.append(float(l))
    return w, b, losses


def train_concise_ch11(tr_name, hyperparams, data_iter, w0, num_epochs=1):
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    net(data_iter[0][0])
    net[0].weight.set_data(w0.T)   # the scratch run's initial weights
    trainer = gluon.Trainer(net.collect_params(), tr_name, hyperparams)
    loss = gluon.loss.L2Loss()
    for _ in range(num_epochs):
        for X, y in data_iter:
            with autograd.record():
                l = loss(net(X), y)
            l.backward()
            trainer.step(X.shape[0])
    return net[0].weight.data(), net[0].bias.data()


@pytest.mark.parametrize("scratch, init_states, hyper, name, concise_hyper", [
    (sgd, init_sgd_states, {'lr': 0.1}, 'sgd', {'learning_rate': 0.1}),
    (sgd_momentum, init_momentum_states, {'lr': 0.02, 'momentum': 0.9},
     'sgd', {'learning_rate': 0.02, 'momentum': 0.9}),
    (adagrad, init_adagrad_states, {'lr': 0.1}, 'adagrad', {'learning_rate': 0.1,
                                                            'eps': 1e-6}),
    (rmsprop, init_rmsprop_states, {'lr': 0.01, 'gamma': 0.9},
     'rmsprop', {'learning_rate': 0.01, 'gamma1': 0.9, 'epsilon': 1e-6}),
    (adadelta, init_adadelta_states, {'rho': 0.9}, 'adadelta', {'rho': 0.9}),
    (adam, init_adam_states, {'lr': 0.01, 't': 1}, 'adam',
     {'learning_rate': 0.01, 'epsilon': 1e-6}),
])
def test_scratch_optimizer_matches_the_trainer(scratch, init_states, hyper, name,
                                               concise_hyper):
    X, y = airfoil()
    data = batches(X, y, 10)
    w0 = np.random.normal(scale=0.01, size=(5, 1))
    w, b, losses = train_ch11(scratch, init_states(5), dict(hyper), data, w0, num_epochs=2)
    assert w.shape == (5, 1) and b.shape == (1,) and len(losses) == 24

    def full_loss(w, b):
        return float(squared_loss(linreg(X, w, b), y).mean())

    # adadelta starts with tiny steps (its accumulated delta starts at 0)
    before, after = full_loss(w0, np.zeros(1)), full_loss(w, b)
    assert after < before * (0.999 if name == 'adadelta' else 0.9), (before, after)
    cw, cb = train_concise_ch11(name, concise_hyper, data, w0, num_epochs=2)
    onp.testing.assert_allclose(f64(cw).T, f64(w), rtol=2e-3, atol=2e-5)
    onp.testing.assert_allclose(f64(cb), f64(b), rtol=2e-3, atol=2e-5)


def test_momentum_with_the_nd_interface():
    """The older edition's nd version of the same update (nd.zeros states, attach_grad)."""
    from tracegrad import npx
    npx.reset_np()
    try:
        rs = onp.random.RandomState(1)
        X = nd.array(rs.randn(20, 3))
        y = nd.dot(X, nd.array([[1.0], [-2.0], [0.5]]))
        w, b = nd.zeros((3, 1)), nd.zeros(1)
        vs = [nd.zeros((3, 1)), nd.zeros(1)]
        for p in (w, b):
            p.attach_grad()
        losses = []
        for _ in range(15):
            with autograd.record():
                l = ((nd.dot(X, w) + b - y) ** 2 / 2).mean()
            l.backward()
            for p, v in zip((w, b), vs):
                v[:] = 0.5 * v + p.grad
                p[:] -= 0.1 * v
            losses.append(l.asscalar())
        assert isinstance(w, nd.NDArray) and not isinstance(w, np.ndarray)
        assert losses[-1] < 0.05 * losses[0], losses
    finally:
        npx.set_np()


# ------------------------------------------------------------------ learning-rate scheduling
class FactorScheduler:
    """The book's own multiplicative decay, floored at stop_factor_lr."""

    def __init__(self, factor=1, stop_factor_lr=1e-7, base_lr=0.1):
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.base_lr = base_lr

    def __call__(self, num_update):
        self.base_lr = max(self.stop_factor_lr, self.base_lr * self.factor)
        return self.base_lr


def test_schedulers_of_the_book():
    book = FactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2)
    got = [book(t) for t in range(50)]
    onp.testing.assert_allclose(got, [max(2 * 0.9 ** (t + 1), 1e-2) for t in range(50)],
                                rtol=1e-6)
    # MXNet's: the rate of update t (counted from 1) is base * factor ** ((t - 1) // step)
    scheduler = lr_scheduler.FactorScheduler(step=2, factor=0.9, stop_factor_lr=1e-2,
                                             base_lr=2)
    got = [scheduler(t) for t in range(1, 80)]
    onp.testing.assert_allclose(got, [max(2 * 0.9 ** ((t - 1) // 2), 1e-2)
                                      for t in range(1, 80)], rtol=1e-6)

    scheduler = lr_scheduler.MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5)
    got = [scheduler(t) for t in range(40)]
    assert got[0] == 0.5 and got[15] == 0.5 and got[16] == 0.25 and got[31] == 0.125

    scheduler = lr_scheduler.CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)
    got = [scheduler(t) for t in range(25)]
    onp.testing.assert_allclose(got[10], 0.01 + (0.3 - 0.01) * (1 + math.cos(math.pi / 2)) / 2,
                                rtol=1e-6)
    assert got[0] == pytest.approx(0.3) and got[20] == pytest.approx(0.01)
    assert got[24] == pytest.approx(0.01)

    scheduler = lr_scheduler.CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01)
    got = [scheduler(t) for t in range(20)]
    onp.testing.assert_allclose(got[:5], [0.3 * t / 5 for t in range(5)], rtol=1e-6,
                                atol=1e-9)
    assert max(got) == pytest.approx(0.3) and got[-1] < got[6]


def test_trainer_with_a_scheduler_and_set_learning_rate():
    X, y = airfoil(40, 3, seed=2)
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize()
    scheduler = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.4)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'lr_scheduler': scheduler})
    loss = gluon.loss.L2Loss()
    lrs = []
    for _ in range(4):
        with autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(X.shape[0])
        lrs.append(trainer.learning_rate)
    onp.testing.assert_allclose(lrs, [0.4, 0.2, 0.1, 0.05], rtol=1e-6)

    net2 = nn.Sequential()
    net2.add(nn.Dense(1))
    net2.initialize()
    trainer = gluon.Trainer(net2.collect_params(), 'sgd', {'learning_rate': 0.3})
    w_before = f64(net2[0].weight.data()) if net2(X) is not None else None
    trainer.set_learning_rate(0.0)
    assert trainer.learning_rate == 0.0
    with autograd.record():
        l = loss(net2(X), y)
    l.backward()
    trainer.step(X.shape[0])
    onp.testing.assert_array_equal(f64(net2[0].weight.data()), w_before)
    trainer.set_learning_rate(0.3)
    with autograd.record():
        l = loss(net2(X), y)
    l.backward()
    trainer.step(X.shape[0])
    assert onp.abs(f64(net2[0].weight.data()) - w_before).max() > 1e-4
