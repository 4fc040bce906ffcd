"""NDArray's fluent methods (x.sum(axis=1), x.exp(), ...) are class attributes
(array.FluentMethod), not a __getattr__: with one, CPython specializes none of an array's
attribute reads. They call nd's functions as before, on every NDArray kind; mx.np arrays keep
numpy's methods and errors; a table entry replaced later (amp) is what a method calls."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad import np as mnp
from tracegrad.array import FluentMethod, NDArray


def test_ndarray_has_no_getattr_and_its_methods_are_nd_functions():
    assert not any("__getattr__" in vars(c) for c in NDArray.__mro__)
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert isinstance(vars(NDArray)["exp"], FluentMethod)
    np.testing.assert_array_equal(x.sum(axis=1).asnumpy(), [3, 12])
    np.testing.assert_allclose(x.exp().asnumpy(), np.exp(x.asnumpy()), rtol=1e-6)
    np.testing.assert_array_equal(x.one_hot(6).shape, (2, 3, 6))
    assert NDArray.sum is nd._METHODS["sum"]        # read from the class: the function
    assert "softmax" in dir(x)
    with pytest.raises(AttributeError, match="'NDArray' object has no attribute 'no_such'"):
        x.no_such
    assert not hasattr(x, "no_such")


def test_methods_of_a_recorded_value_and_of_sparse_arrays():
    x = nd.array([[1.0, -2.0], [3.0, 0.5]])
    x.attach_grad()
    with autograd.record():
        y = x.square().sum()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * x.asnumpy())
    csr = x.tostype("csr")
    assert csr.stype == "csr"
    np.testing.assert_allclose(csr.tostype("default").asnumpy(), x.asnumpy())


def _train(steps=8):
    mx.random.seed(3)
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.L2Loss()
    x, y = nd.array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10), nd.zeros((4, 2))
    losses = []
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y).mean()     # a method of a value the step defers
        loss.backward()
        trainer.step(4)
        losses.append(loss.asscalar())
    return losses, net.weight.data().asnumpy()


def test_a_method_of_a_deferred_value_in_a_captured_step():
    before = mx.stats()["captured_steps"]
    got = _train()
    assert mx.stats()["captured_steps"] > before
    with mx.capture.paused():
        want = _train()
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_mx_np_arrays_keep_numpy_methods_and_errors():
    a = mnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert type(a.sum(axis=0)) is mnp.ndarray
    np.testing.assert_array_equal(a.sum(axis=0).asnumpy(), [4, 6])
    with pytest.raises(AttributeError, match="mxnet.numpy.ndarray' object has no attribute "
                                             "'one_hot'"):
        a.one_hot(3)         # nd's method, not numpy's: mx.np arrays have no such method
    assert not hasattr(a, "broadcast_axis")


def test_a_replaced_table_entry_is_what_the_method_calls(monkeypatch):
    calls = []
    real = nd._METHODS["exp"]
    monkeypatch.setitem(nd._METHODS, "exp", lambda x, *a, **k: calls.append(1) or real(x))
    nd.ones((2,)).exp()
    assert calls == [1]
