"""What the step-capture tests share: a small classifier, its batches, the comparison of
two runs' parameters (capture on against capture off), and a log of what each step cost."""
import contextlib

import numpy as np

import tracegrad as mx
from tracegrad import gluon, nd


def small_net(hybridize, dropout=False, seed=3, batchnorm=False):
    """Dense(8, relu) [-> Dropout(0.3)] -> Dense(3) on 5 features, Xavier-initialized; with
    `batchnorm`, Dense(8) -> BatchNorm (training mode: running statistics updated every
    step) -> relu first."""
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    if batchnorm:
        net.add(gluon.nn.Dense(8, in_units=5), gluon.nn.BatchNorm(momentum=0.8, in_channels=8),
                gluon.nn.Activation("relu"))
    else:
        net.add(gluon.nn.Dense(8, activation="relu", in_units=5))
    if dropout:
        net.add(gluon.nn.Dropout(0.3))
    net.add(gluon.nn.Dense(3, in_units=8))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    return net


def batches(n, batch=4, seed=0, sizes=None, array=nd.array, label_dtype=np.float32):
    """n (features, class label) batches; batch i has sizes[i] rows when sizes is given.
    `array` makes the arrays (mx.np.array for set_np programs, with int32 labels)."""
    rs = np.random.RandomState(seed)
    for i in range(n):
        b = sizes[i] if sizes else batch
        yield (array(rs.randn(b, 5).astype(np.float32)),
               array(rs.randint(0, 3, b).astype(label_dtype)))


def same_params(a, b, rtol=2e-5):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-6)


class StepCounts(list):
    """Per step, (native calls, captured steps) it took: `with counts.step(): ...` around one
    training step appends them."""

    @contextlib.contextmanager
    def step(self):
        before = mx.stats()
        yield
        after = mx.stats()
        self.append((after["native_calls"] - before["native_calls"],
                     after["captured_steps"] - before["captured_steps"]))
