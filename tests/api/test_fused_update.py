"""Trainer.step updates every parameter in one native call (fused_update.py): the same numbers
as each optimizer's per-parameter update(), for every optimizer and option."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


class HalvingSchedule:
    """lr = base_lr * 0.5 ** (num_update // 2): changes within the 6 steps below."""

    def __init__(self):
        self.base_lr = None

    def __call__(self, num_update):
        return self.base_lr * 0.5 ** (num_update // 2)


CASES = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "wd": 0.01, "rescale_grad": 2.0}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.05}),
    ("sgd", {"learning_rate": 0.1, "clip_gradient": 0.05}),
    ("nag", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}),
    ("nag", {"learning_rate": 0.1, "clip_gradient": 0.05}),
    ("adam", {"learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.01, "wd": 0.01, "clip_gradient": 0.05, "beta1": 0.8}),
    ("rmsprop", {"learning_rate": 0.01, "wd": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "clip_weights": 0.3,
                 "clip_gradient": 0.05}),
    ("adagrad", {"learning_rate": 0.1}),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.1, "clip_gradient": 0.05}),
]


def _train(fused, opt, params, steps=6, schedule=False, grad_req="write", dtype="float32"):
    mx.random.seed(0)
    rs = np.random.RandomState(0)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(5, activation="tanh"), gluon.nn.Dense(2))
    net.initialize()
    net.cast(dtype)
    list(net.collect_params().values())[0].lr_mult = 0.5
    params = dict(params)
    if schedule:
        params["lr_scheduler"] = HalvingSchedule()
    trainer = gluon.Trainer(net.collect_params(), opt, params)
    trainer._fused = fused
    if grad_req == "add":
        net.collect_params().setattr("grad_req", "add")
    calls = []
    for step in range(steps):
        x = nd.array(rs.randn(4, 3).astype(dtype))
        y = nd.array(rs.randn(4, 2).astype(dtype))
        with autograd.record():
            loss = ((net(x) - y) ** 2).sum()
        loss.backward()
        before = mx.stats()["native_calls"]
        trainer.step(4)
        calls.append(mx.stats()["native_calls"] - before)
        if grad_req == "add" and step % 2 == 1:
            for p in net.collect_params().values():
                p.zero_grad()
    return [p.data().asnumpy() for p in net.collect_params().values()], trainer, calls


@pytest.mark.parametrize("opt,params", CASES)
def test_one_native_call_gives_the_per_parameter_formulas(opt, params):
    fused, trainer, calls = _train(True, opt, params)
    eager, eager_trainer, _ = _train(False, opt, params)
    assert calls == [1] * len(calls)
    for a, b in zip(fused, eager):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)
    for i, state in eager_trainer._states.items():
        got = trainer._states[i]
        for s, g in zip(state if isinstance(state, tuple) else (state,),
                        got if isinstance(got, tuple) else (got,)):
            if s is not None:
                np.testing.assert_allclose(g, s, rtol=2e-5, atol=1e-7)
    assert trainer.optimizer.num_update == eager_trainer.optimizer.num_update == 6


@pytest.mark.parametrize("opt,params", [CASES[2], CASES[7], CASES[9]])
def test_lr_schedule_grad_req_add_and_float64(opt, params):
    for kwargs in ({"schedule": True}, {"grad_req": "add"}, {"dtype": "float64"}):
        fused, _, calls = _train(True, opt, params, **kwargs)
        eager, _, _ = _train(False, opt, params, **kwargs)
        assert calls == [1] * len(calls)
        for a, b in zip(fused, eager):
            rtol = 1e-12 if kwargs.get("dtype") == "float64" else 2e-5
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-7)


def test_parameters_keep_their_identity_and_tape_leaf():
    net = gluon.nn.Dense(3, in_units=2)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    data = net.weight.data()
    for _ in range(2):
        with autograd.record():
            loss = net(nd.ones((1, 2))).sum()
        loss.backward()
        trainer.step(1)
        assert net.weight.data() is data
        assert data._value.data is data._data     # backward reads the updated weight
    want = data.asnumpy()
    with autograd.record():
        loss = (net(nd.ones((1, 2))) * 0).sum() + net.weight.data().sum()
    loss.backward()
    np.testing.assert_allclose(net.weight.grad().asnumpy(), np.ones_like(want))


def test_a_user_optimizer_overriding_update_keeps_its_update():
    class Halved(mx.optimizer.SGD):
        def update(self, index, weight, grad, state):
            super().update(index, weight, grad * 0.5, state)
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize(mx.init.Zero())
    trainer = gluon.Trainer(net.collect_params(), Halved(learning_rate=1.0))
    with autograd.record():
        loss = net(nd.ones((1, 2))).sum()
    loss.backward()
    trainer.step(1)
    np.testing.assert_allclose(net.weight.data().asnumpy(), [[-0.5, -0.5]])


def test_stale_gradients_still_raise_and_ignore_skips():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(2, in_units=2), gluon.nn.Dense(2, in_units=2))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "adam")
    with autograd.record():
        loss = net[0](nd.ones((1, 2))).sum()
    loss.backward()
    with pytest.raises(UserWarning, match="stale"):
        trainer.step(1)
    second = net[1].weight.data().asnumpy()
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_array_equal(net[1].weight.data().asnumpy(), second)


def test_changing_an_optimizer_attribute_mid_training():
    """momentum set to 0 after SGD created momentum states: the unused state is kept."""
    def run(fused):
        net = gluon.nn.Dense(2, in_units=3)
        net.initialize(mx.init.One())
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "momentum": 0.9})
        trainer._fused = fused
        for i in range(4):
            if i == 2:
                trainer.optimizer.momentum = 0.0
            with autograd.record():
                loss = (net(nd.ones((1, 3))) ** 2).sum()
            loss.backward()
            trainer.step(1)
        return net.weight.data().asnumpy()
    np.testing.assert_allclose(run(True), run(False), rtol=1e-6)
