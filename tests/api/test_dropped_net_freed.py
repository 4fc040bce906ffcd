"""A hybridized net the program drops is freed at once, by reference counting, with the
inputs of its last call (the JitFunction it holds refers back to it weakly): a loop building
one net per trial or per fold does not keep every earlier net's arrays until the cycle
collector happens to run."""
import gc
import weakref

import numpy as np
import pytest

from tracegrad import autograd, gluon, nd


def _used(hybridize, train, steps):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(2))
    net.initialize()
    if hybridize:
        net.hybridize()
    x = nd.array(np.random.RandomState(0).randn(4, 5).astype(np.float32))
    y = nd.array([0, 1, 1, 0])
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(steps):
        if train:
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(4)
        else:
            net(x).asnumpy()
    return weakref.ref(net), weakref.ref(x)


@pytest.mark.parametrize("train,steps", [(False, 3), (True, 1), (True, 12)])
def test_a_dropped_hybridized_net_is_freed_without_the_collector(train, steps):
    gc.collect()
    gc.disable()
    try:
        net, x = _used(True, train, steps)
        assert net() is None and x() is None
    finally:
        gc.enable()
