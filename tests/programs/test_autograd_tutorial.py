"""MXNet's autograd tutorials (crash-course 3, packages/autograd): gradients of recorded
code with Python control flow, head gradients, grad_req='add', higher order, custom
Functions, pause/predict_mode; checked against closed forms."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def test_gradient_of_a_function_with_data_dependent_loops():
    def f(a):
        b = a * 2
        while b.norm().asscalar() < 1000:
            b = b * 2
        return b if b.sum().asscalar() > 0 else 100 * b
    mx.random.seed(1)
    a = nd.random.normal(shape=2)
    a.attach_grad()
    with autograd.record():
        c = f(a)
    c.backward()
    np.testing.assert_allclose(a.grad.asnumpy(), (c / a).asnumpy(), rtol=1e-6)


def test_head_gradient_accumulation_and_multiple_heads():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = x * x
    y.backward(nd.array([1.0, 0.1, 0.01]))
    np.testing.assert_allclose(x.grad.asnumpy(), [2.0, 0.4, 0.06], rtol=1e-6)
    x.attach_grad(grad_req="add")
    for _ in range(3):
        with autograd.record():
            y = x * 2
        y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [6, 6, 6])
    z = nd.array([1.0, 2.0])
    z.attach_grad()
    with autograd.record():
        h1, h2 = z * 2, z * z
    autograd.backward([h1, h2])
    np.testing.assert_array_equal(z.grad.asnumpy(), [4, 6])


def test_second_derivative_through_autograd_grad():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = x ** 3
        dy = autograd.grad(y, [x], create_graph=True, retain_graph=True)[0]
    dy.backward()
    np.testing.assert_allclose(dy.asnumpy(), 3 * x.asnumpy() ** 2)
    np.testing.assert_allclose(x.grad.asnumpy(), 6 * x.asnumpy())


def test_custom_function_saves_tensors_and_splits_outputs():
    class Sigmoid(autograd.Function):
        def forward(self, x):
            y = 1 / (1 + nd.exp(-x))
            self.save_for_backward(y)
            return y

        def backward(self, dy):
            y, = self.saved_tensors
            return dy * y * (1 - y)

    class Twice(autograd.Function):
        def forward(self, x):
            return x * 2, x * 3

        def backward(self, d1, d2):
            return d1 * 2 + d2 * 3

    x = nd.random.uniform(shape=(10,))
    x.attach_grad()
    with autograd.record():
        m = Sigmoid()(x)
    m.backward()
    s = 1 / (1 + np.exp(-x.asnumpy().astype(np.float64)))
    np.testing.assert_allclose(x.grad.asnumpy(), s * (1 - s), rtol=1e-5)
    w = nd.ones((3,))
    w.attach_grad()
    with autograd.record():
        a, b = Twice()(w)
        z = a + b * b
    z.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), 2 * 1 + 3 * (2 * 3.0))  # dz/da=1, dz/db=2b=6


def test_modes_pause_and_predict():
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording() and not autograd.is_training()
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
    with autograd.record(train_mode=False):
        assert not autograd.is_training()
    with autograd.train_mode():
        assert autograd.is_training()
    assert autograd.set_recording(True) is False and autograd.set_recording(False) is True
    mx.random.seed(0)
    with autograd.record():
        d = nd.Dropout(nd.ones((2000,)), p=0.5)
    kept = d.asnumpy() != 0
    assert 0.4 < kept.mean() < 0.6 and (d.asnumpy()[kept] == 2.0).all()
    with autograd.record(train_mode=False):
        assert (nd.Dropout(nd.ones((10,)), p=0.5).asnumpy() == 1).all()


def test_detach_mark_variables_and_freed_graph():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * x
        z = y.detach() * x + nd.stop_gradient(y) * x + nd.BlockGrad(y)
    z.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), 2 * x.asnumpy() ** 2)
    v, g = nd.array([1.0, 2.0]), nd.zeros(2)
    autograd.mark_variables([v], [g])
    with autograd.record():
        s = (v * v).sum()
    s.backward(retain_graph=True)
    s.backward()
    np.testing.assert_array_equal(g.asnumpy(), [2, 4])
    with pytest.raises(mx.MXNetError, match="retain_graph"):
        s.backward()
