"""mx.contrib.autograd, MXNet's pre-1.0 autograd API: one switch for training and recording,
train / test sections that restore both, and grad / grad_and_loss wrappers."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.contrib import autograd as cag


def test_grad_and_loss_and_grad_of_chosen_arguments():
    def f(x, y):
        return x ** 2 * y + nd.sin(y)
    x, y = nd.array([1.0, 2.0, 3.0]), nd.array([0.5, -1.0, 2.0])
    grads, out = cag.grad_and_loss(f)(x, y)
    np.testing.assert_allclose(out.asnumpy(), (x ** 2 * y + nd.sin(y)).asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(grads[0].asnumpy(), (2 * x * y).asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(grads[1].asnumpy(), (x ** 2 + nd.cos(y)).asnumpy(), rtol=1e-6)
    only_y = cag.grad(f, argnum=1)(x, y)
    assert len(only_y) == 1
    np.testing.assert_allclose(only_y[0].asnumpy(), grads[1].asnumpy(), rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="must be NDArrays"):
        cag.grad(lambda a: a * 2)(3.0)
    assert not autograd.is_recording() and not autograd.is_training()


def test_sections_and_the_one_switch():
    assert not autograd.is_recording()
    with cag.train_section():
        assert autograd.is_recording() and autograd.is_training()
        with cag.test_section():
            assert not autograd.is_recording() and not autograd.is_training()
        assert autograd.is_recording()
    assert not autograd.is_recording() and not autograd.is_training()
    assert cag.set_is_training(True) is False
    try:
        assert autograd.is_recording() and autograd.is_training()
    finally:
        assert cag.set_is_training(False) is True
    assert not autograd.is_recording()


def test_mark_variables_and_compute_gradient():
    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    g = nd.zeros_like(x)
    cag.mark_variables([x], [g])
    with cag.train_section():
        y = (x * x).sum()
    cag.compute_gradient([y])
    np.testing.assert_allclose(g.asnumpy(), 2 * x.asnumpy())
    import importlib
    assert importlib.import_module("tracegrad.contrib.autograd") is cag
