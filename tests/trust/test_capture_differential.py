"""Step capture exactness, differentially: random training loops (hybridized or not, several
losses and optimizers, Dropout, BatchNorm, batch-size changes, reads of the loss and outputs at
random steps) must leave the same parameters and read the same values as the same loop with
capture off. Also a hybridized net whose forward branches on data (guards) trained with the
usual step. scripts/fuzz_models.py runs many more configurations and models."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd

OPTIMIZERS = [("sgd", {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-3}),
              ("adam", {"learning_rate": 0.01, "clip_gradient": 0.1, "wd": 0.01}),
              ("rmsprop", {"learning_rate": 0.01}), ("nag", {"learning_rate": 0.05,
                                                              "momentum": 0.9})]
LOSSES = [gluon.loss.SoftmaxCrossEntropyLoss, gluon.loss.L2Loss, gluon.loss.L1Loss,
          gluon.loss.HuberLoss]


# each test starts and ends with no plan, capture on (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_capture")


def _net(cfg):
    mx.random.seed(cfg["seed"])
    net = gluon.nn.HybridSequential()
    # no bias right before BatchNorm: its gradient is ~0 and Adam would turn rounding noise
    # into lr-sized steps, which no two evaluation orders agree on
    if cfg["conv"]:
        net.add(gluon.nn.Conv2D(4, 3, padding=1, in_channels=2, use_bias=not cfg["bn"]))
        if cfg["bn"]:
            net.add(gluon.nn.BatchNorm(in_channels=4))
        net.add(gluon.nn.Activation("relu"), gluon.nn.MaxPool2D(2), gluon.nn.Flatten(),
                gluon.nn.Dense(8, in_units=16))
    else:
        net.add(gluon.nn.Dense(8, activation="tanh", in_units=5, use_bias=not cfg["bn"]))
        if cfg["bn"]:
            net.add(gluon.nn.BatchNorm(in_channels=8))
    if cfg["drop"]:
        net.add(gluon.nn.Dropout(0.3))
    net.add(gluon.nn.Dense(3, in_units=8))
    net.initialize(mx.init.Xavier())
    if cfg["hybrid"]:
        net.hybridize()
    return net


def _train(cfg, capture_on):
    capture._reset_for_tests()
    capture.set_enabled(capture_on)
    net = _net(cfg)
    opt, kw = OPTIMIZERS[cfg["opt"]]
    trainer = gluon.Trainer(net.collect_params(), opt, dict(kw))
    loss_fn = LOSSES[cfg["loss"]]()
    rs = np.random.RandomState(cfg["seed"])
    reads = []
    for i, (batch, read) in enumerate(zip(cfg["sizes"], cfg["reads"])):
        x = nd.array(rs.randn(*((batch, 2, 4, 4) if cfg["conv"] else (batch, 5)))
                     .astype(np.float32))
        y = nd.array(rs.randint(0, 3, batch).astype(np.float32) if cfg["loss"] == 0 else
                     rs.randn(batch, 3).astype(np.float32))
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        loss.backward()
        if read == "loss":
            reads.append(loss.asnumpy().copy())
        elif read == "out":
            reads.append(out.asnumpy().copy())
        trainer.step(batch)
        if read == "after":
            reads.append(loss.mean().asscalar())
    captured = capture._LOG["captured"]
    params = [p.data().asnumpy().copy() for p in net.collect_params().values()]
    capture.set_enabled(True)
    return params, reads, captured


def _configs(n, seed):
    rs = np.random.RandomState(seed)
    for _ in range(n):
        sizes = [4] * 9
        for i in rs.choice(9, 2, replace=False):
            sizes[i] = int(rs.choice([1, 3, 6]))
        yield dict(seed=int(rs.randint(1000)), conv=bool(rs.rand() < .3), bn=bool(rs.rand() < .5),
                   drop=bool(rs.rand() < .5), hybrid=bool(rs.rand() < .5),
                   opt=int(rs.randint(len(OPTIMIZERS))), loss=int(rs.randint(len(LOSSES))),
                   sizes=sizes if rs.rand() < .5 else [4] * 9,
                   reads=[str(rs.choice(["", "", "loss", "out", "after"])) for _ in range(9)])


FIXED = [dict(seed=11, conv=False, bn=True, drop=True, hybrid=False, opt=1, loss=0,
              sizes=[4] * 9, reads=[""] * 9),  # nothing read: every step captured
         dict(seed=12, conv=True, bn=True, drop=False, hybrid=True, opt=0, loss=3,
              sizes=[4, 4, 4, 4, 2, 4, 4, 4, 4], reads=["", "", "", "out", "", "", "loss", "",
                                                       "after"])]


@pytest.mark.parametrize("cfg", FIXED + list(_configs(4, 2024)))
def test_random_training_loop_with_capture_matches_capture_off(cfg):
    with_capture, reads_on, _ = _train(cfg, True)
    without, reads_off, _ = _train(cfg, False)
    assert len(reads_on) == len(reads_off)
    for i, (a, b) in enumerate(zip(reads_on, reads_off)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"read {i}")
    for i, (a, b) in enumerate(zip(with_capture, without)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"parameter {i}")


def test_the_unread_loop_is_actually_captured():
    # (with BatchNorm no step is captured yet: its running-statistics update is not in the
    # plan, so every step materializes and runs eagerly; exact, but not captured)
    _, _, captured = _train(dict(FIXED[0], bn=False), True)
    assert captured >= 3


class _Branchy(gluon.HybridBlock):
    """A forward that branches on data twice: a truth value and a read scalar (guards)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.name_scope():
            self.a = gluon.nn.Dense(4, in_units=3)
            self.b = gluon.nn.Dense(4, in_units=3)
            self.out = gluon.nn.Dense(2, in_units=4)

    def hybrid_forward(self, F, x):
        h = F.relu(self.a(x)) if x.sum() > 0 else F.tanh(self.b(x)) * 2
        if x.max().asscalar() > 1.5:
            h = h * h
        return self.out(h)


def _train_branchy(capture_on, opt):
    capture._reset_for_tests()
    capture.set_enabled(capture_on)
    mx.random.seed(5)
    net = _Branchy()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), opt, {"learning_rate": 0.05})
    loss_fn = gluon.loss.L2Loss()
    rs = np.random.RandomState(1)
    losses = []
    for i in range(14):
        x = nd.array(rs.randn(5, 3).astype(np.float32) + (0.8 if (i // 3) % 2 else -0.8))
        with autograd.record():
            loss = loss_fn(net(x), nd.array(rs.randn(5, 2).astype(np.float32)))
        loss.backward()
        trainer.step(5, ignore_stale_grad=True)
        if i % 4 == 3:
            losses.append(loss.asnumpy())
    params = [p.data().asnumpy() for p in net.collect_params().values()]
    capture.set_enabled(True)
    return params, losses


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_guarded_hybrid_net_trains_the_same_with_and_without_capture(opt):
    p_on, l_on = _train_branchy(True, opt)
    p_off, l_off = _train_branchy(False, opt)
    for a, b in zip(l_on + p_on, l_off + p_off):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
