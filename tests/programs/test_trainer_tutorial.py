"""MXNet's training tutorials (crash-course 4, training/trainer, learning_rate_schedules),
shortened to synthetic data: a classifier's loss falls, SGD steps match the formula,
schedulers drive the learning rate, set_learning_rate and save/load_states round-trip."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


def _blobs(n=120, seed=0):
    rs = np.random.RandomState(seed)
    y = rs.randint(0, 3, n)
    centres = np.array([[2, 0], [-2, 1], [0, -2]], dtype=np.float32)
    return nd.array(centres[y] + 0.3 * rs.randn(n, 2)), nd.array(y)


def _train(net, hybridize, epochs=4):
    X, y = _blobs()
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(X, y), batch_size=20, shuffle=False)
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    losses = []
    for _ in range(epochs):
        total = 0.0
        for xb, yb in data:
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(xb.shape[0])
            total += loss.mean().asscalar()
        losses.append(total)
    acc = mx.metric.Accuracy()
    acc.update(y, net(X))
    return losses, acc.get()[1]


def _mlp():
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu", in_units=2), nn.Dense(3, in_units=16))
    net.initialize(mx.init.Xavier(), force_reinit=True)
    return net


def test_training_reduces_loss_and_hybridized_training_equals_eager():
    mx.random.seed(42)
    eager = _mlp()
    mx.random.seed(42)
    compiled = _mlp()
    le, acc_e = _train(eager, False)
    lc, acc_c = _train(compiled, True)
    assert le[-1] < le[0] / 2 and acc_e > 0.9
    np.testing.assert_allclose(lc, le, rtol=1e-4)
    for pe, pc in zip(eager.collect_params().values(), compiled.collect_params().values()):
        np.testing.assert_allclose(pc.data().asnumpy(), pe.data().asnumpy(), rtol=1e-4,
                                   atol=1e-6)


def test_sgd_momentum_and_weight_decay_follow_mxnets_update():
    net = nn.Dense(1, in_units=2, use_bias=False)
    net.initialize(mx.init.Constant(1.0))
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01})
    x = nd.array([[1.0, 2.0]])
    w, mom = np.ones((1, 2)), np.zeros((1, 2))
    for _ in range(3):
        with autograd.record():
            y = net(x).sum()
        y.backward()
        trainer.step(1)
        g = x.asnumpy() + 0.01 * w           # MXNet: grad = rescale*grad + wd*weight
        mom = 0.9 * mom - 0.1 * g
        w = w + mom
    np.testing.assert_allclose(net.weight.data().asnumpy(), w, rtol=1e-5)


def test_schedulers_and_set_learning_rate():
    sched = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    assert [sched(i) for i in (1, 2, 3, 4, 5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    multi = mx.lr_scheduler.MultiFactorScheduler(step=[2, 4], factor=0.1, base_lr=1.0)
    np.testing.assert_allclose([multi(i) for i in (1, 3, 5)], [1.0, 0.1, 0.01])
    poly = mx.lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.0)
    np.testing.assert_allclose(poly(5), (1 - 5 / 10) ** 2)
    cos = mx.lr_scheduler.CosineScheduler(max_update=10, base_lr=1.0, final_lr=0.0)
    np.testing.assert_allclose(cos(5), 0.5)
    net = nn.Dense(1, in_units=1)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"lr_scheduler": mx.lr_scheduler.FactorScheduler(1, 0.5, base_lr=1.0)})
    rates = []
    for _ in range(3):
        with autograd.record():
            net(nd.ones((1, 1))).backward()
        trainer.step(1)
        rates.append(trainer.learning_rate)
    assert rates == [1.0, 0.5, 0.25]
    plain = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    plain.set_learning_rate(0.2)
    assert plain.learning_rate == 0.2 and plain.optimizer.lr == 0.2


def test_trainer_states_round_trip(tmp_path):
    def run(trainer, net, steps):
        for _ in range(steps):
            with autograd.record():
                (net(nd.array([[1.0, -1.0]])) ** 2).sum().backward()
            trainer.step(1)
    mx.random.seed(3)
    net = nn.Dense(1, in_units=2)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1})
    run(trainer, net, 2)
    net.save_parameters(str(tmp_path / "p"))
    trainer.save_states(str(tmp_path / "s"))
    run(trainer, net, 2)
    want = net.weight.data().asnumpy()
    net2 = nn.Dense(1, in_units=2)
    net2.load_parameters(str(tmp_path / "p"))
    trainer2 = gluon.Trainer(net2.collect_params(), "adam", {"learning_rate": 0.1})
    trainer2.load_states(str(tmp_path / "s"))
    run(trainer2, net2, 2)
    np.testing.assert_allclose(net2.weight.data().asnumpy(), want, rtol=1e-6)


def test_trainer_updaters_show_the_optimizer_and_its_states_as_mxnet_scripts_read_them():
    # (scripts read trainer._updaters[0].states / .optimizer, MXNet's per-device updaters)
    net = mx.gluon.nn.Dense(3, in_units=4)
    net.initialize()
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd",
                               {"learning_rate": 0.1, "momentum": 0.9})
    with mx.autograd.record():
        loss = net(mx.nd.ones((2, 4))).sum()
    loss.backward()
    trainer.step(2)
    (updater,) = trainer._updaters
    assert updater.optimizer is trainer._optimizer
    assert sorted(updater.states) == [0, 1]
    momentum = updater.states[0]
    assert isinstance(momentum, mx.nd.NDArray) and momentum.shape == (3, 4)
    # the same buffer the next step updates
    before = momentum.asnumpy().copy()
    with mx.autograd.record():
        loss = net(mx.nd.ones((2, 4))).sum()
    loss.backward()
    trainer.step(2)
    assert not np.array_equal(trainer._updaters[0].states[0].asnumpy(), before)
