"""Behaviours MXNet 1.9.1's tests/python/unittest/test_ndarray.py and test_autograd.py assert,
as small programs: numpy integers and 0/1 flags as op arguments, truth values, `inplace`
shape methods, contrib.isinf/isfinite/isnan, moveaxis, the test_utils helpers."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def test_numpy_integers_and_int_flags_as_arguments_eager_and_hybridized():
    x = nd.ones((2, 3))
    assert nd.random.normal(shape=(np.int64(4),)).shape == (4,)
    assert nd.broadcast_to(nd.ones((1, 1)), shape=(np.int64(2), np.int64(3))).shape == (2, 3)
    assert nd.sum(x, axis=0, keepdims=0).shape == (3,)
    assert nd.sum(x, axis=np.int64(1), keepdims=1).shape == (2, 1)
    x.attach_grad()
    with autograd.record():
        y = nd.sum(x * 2, axis=0, keepdims=1)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), 2)
    with pytest.raises(mx.MXNetError, match="keepdims = 3 must be true or false"):
        nd.sum(x, axis=0, keepdims=3)

    class Net(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.sum(x, axis=np.int64(1), keepdims=1) + F.broadcast_to(
                F.ones((1, 1)), shape=(np.int64(2), np.int64(1)))
    net = Net()
    eager = net(nd.ones((2, 3))).asnumpy()
    net.hybridize()
    np.testing.assert_array_equal(net(nd.ones((2, 3))).asnumpy(), eager)
    np.testing.assert_array_equal(eager, [[4.0], [4.0]])


def test_truth_values():
    assert not bool(nd.array([]))
    assert not bool(nd.zeros((1,)))
    assert bool(nd.ones((1,)))
    with pytest.raises(ValueError):
        bool(nd.ones((2, 3, 4)))


def test_inplace_shape_methods_share_memory():
    x = nd.arange(6).reshape((2, 3, 1))
    assert x.squeeze(inplace=True).shape == (2, 3) and x.squeeze(axis=2).shape == (2, 3)
    assert x.expand_dims(axis=0, inplace=True).shape == (1, 2, 3, 1)
    assert x.flatten(inplace=True).shape == (2, 3)
    view = x.squeeze(inplace=True)
    view[0, 0] = 9
    assert x[0, 0, 0].asscalar() == 9
    copy = x.squeeze()
    copy[0, 0] = -1
    assert x[0, 0, 0].asscalar() == 9


def test_contrib_float_classifiers_and_moveaxis():
    d = nd.array([1.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(nd.contrib.isinf(d).asnumpy(), [0, 1, 1, 0])
    np.testing.assert_array_equal(nd.contrib.isfinite(d).asnumpy(), [1, 0, 0, 0])
    np.testing.assert_array_equal(nd.contrib.isnan(d).asnumpy(), [0, 0, 0, 1])
    a = np.arange(24.0).reshape(2, 3, 4)
    for src, dst in [(0, -1), (2, 0), ([0, 1], [-1, -2]), ([0, 2], [1, 0])]:
        np.testing.assert_array_equal(nd.moveaxis(nd.array(a), src, dst).asnumpy(),
                                      np.moveaxis(a, src, dst))


def test_test_utils_helpers(monkeypatch):
    from tracegrad.test_utils import environment, np_reduce, random_sample
    monkeypatch.delenv("TG_PROGRAMS_VAR", raising=False)
    import os
    with environment("TG_PROGRAMS_VAR", "1"):
        assert os.environ["TG_PROGRAMS_VAR"] == "1"
    assert "TG_PROGRAMS_VAR" not in os.environ
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(np_reduce(a, (0, 2), True, np.sum), a.sum((0, 2),
                                                                            keepdims=True))
    np.testing.assert_array_equal(np_reduce(a, None, False, np.max), a.max())
    assert sorted(random_sample(list(range(5)), 5)) == list(range(5))


def test_operator_results_do_not_alias_their_operands():
    """MXNet's operators return new arrays: later in-place updates of either side stay apart
    (x.reshape() and basic slicing are MXNet's views and stay views)."""
    for op in [nd.transpose, lambda a: a.T, nd.flatten, lambda a: nd.expand_dims(a, 0),
               lambda a: nd.reshape(a, (6,)), lambda a: nd.swapaxes(a, 0, 1),
               lambda a: nd.broadcast_to(a.reshape((1, 6)), (2, 6)), nd.stop_gradient,
               lambda a: nd.tile(a, (1, 1)), lambda a: nd.moveaxis(a, 0, 1), lambda a: a.squeeze()]:
        x = nd.arange(6).reshape((2, 3))
        y = op(x)
        before = y.asnumpy().copy()
        x += 1
        np.testing.assert_array_equal(y.asnumpy(), before)
        y += 100
        np.testing.assert_array_equal(x.asnumpy(), np.arange(6).reshape(2, 3) + 1)
    x = nd.arange(6)
    v = x.reshape((2, 3))
    v[0, 0] = 7
    assert x[0].asscalar() == 7
