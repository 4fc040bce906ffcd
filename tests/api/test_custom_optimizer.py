"""Optimizers written the MXNet way (a registered Optimizer subclass with its own
create_state / update on NDArrays) train through gluon.Trainer as in MXNet, and match the
built-in optimizer they re-implement."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd


@mx.optimizer.register
class MomentumByHand(mx.optimizer.Optimizer):
    """SGD with momentum as an MXNet 1.x user writes it."""

    def __init__(self, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)

    def update(self, index, weight, grad, state):
        assert isinstance(weight, mx.nd.NDArray) and isinstance(grad, mx.nd.NDArray)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        grad = grad * self.rescale_grad
        if self.clip_gradient is not None:
            grad = mx.nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        state[:] = self.momentum * state - lr * (grad + wd * weight)
        weight[:] += state


class LoggedSGD(mx.optimizer.SGD):
    """A subclass of a built-in one that wraps its update (called with NDArrays)."""
    calls = []

    def update(self, index, weight, grad, state):
        type(self).calls.append((type(weight).__name__, type(grad).__name__))
        super().update(index, weight, grad, state)


def _train(optimizer, steps=6, **kw):
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(5, activation="tanh", in_units=3), gluon.nn.Dense(2, in_units=5))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), optimizer, kw)
    rs = np.random.RandomState(1)
    loss_fn = gluon.loss.L2Loss()
    for _ in range(steps):
        x, y = nd.array(rs.randn(4, 3)), nd.array(rs.randn(4, 2))
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(4)
    return net, trainer


def test_an_optimizer_written_the_mxnet_way_matches_the_built_in():
    kw = {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0.5}
    mine, trainer = _train("momentumbyhand", momentum=0.9, **kw)
    assert trainer._optimizer.takes_ndarrays
    built_in, _ = _train("sgd", momentum=0.9, **kw)
    for a, b in zip(mine.collect_params().values(), built_in.collect_params().values()):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-5,
                                   atol=1e-6)


def test_a_subclass_calling_the_built_in_update_gets_ndarrays_and_the_same_numbers():
    LoggedSGD.calls.clear()
    logged, _ = _train(LoggedSGD(learning_rate=0.05, momentum=0.5))
    plain, _ = _train("sgd", learning_rate=0.05, momentum=0.5)
    assert LoggedSGD.calls and set(LoggedSGD.calls) == {("NDArray", "NDArray")}
    for a, b in zip(logged.collect_params().values(), plain.collect_params().values()):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-6)


def test_ndarray_states_save_and_load(tmp_path):
    _, trainer = _train("momentumbyhand", learning_rate=0.1)
    path = str(tmp_path / "states")
    trainer.save_states(path)
    saved = {i: s.asnumpy().copy() for i, s in trainer._states.items()}
    for s in trainer._states.values():
        s[:] = 0
    trainer.load_states(path)
    for i, s in trainer._states.items():
        assert isinstance(s, mx.nd.NDArray)
        np.testing.assert_array_equal(s.asnumpy(), saved[i])


def test_update_multi_precision_is_what_the_trainer_calls():
    class Counting(MomentumByHand):
        n = 0

        def update_multi_precision(self, index, weight, grad, state):
            type(self).n += 1
            self.update(index, weight, grad, state)
    _train(Counting(learning_rate=0.1), steps=2)
    assert Counting.n == 2 * 4      # two steps, four parameters


def test_an_optimizer_without_update_says_so():
    class Empty(mx.optimizer.Optimizer):
        pass
    with pytest.raises(NotImplementedError, match="Empty must implement update"):
        _train(Empty(learning_rate=0.1), steps=1)
