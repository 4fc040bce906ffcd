"""d2l.ai chapter 2 (preliminaries), MXNet edition: ndarray creation, operators, broadcasting,
indexing and in-place writes, conversions, linear algebra, sampling, and autograd (attach_grad,
record, backward of vectors, detach, gradients through Python control flow)."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, np, npx


def arr(a):
    assert isinstance(a, np.ndarray), type(a)
    return a.asnumpy()


def test_creation_shapes_and_default_dtypes():
    x = np.arange(12)
    assert x.shape == (12,) and x.size == 12 and x.dtype == onp.float32
    X = x.reshape(3, 4)
    assert X.shape == (3, 4)
    assert x.reshape(-1, 4).shape == (3, 4) and x.reshape(3, -1).shape == (3, 4)
    assert np.zeros((2, 3, 4)).dtype == onp.float32 and arr(np.ones((2, 3, 4))).sum() == 24
    r = np.random.normal(0, 1, size=(3, 4))
    assert r.shape == (3, 4) and r.dtype == onp.float32
    lst = np.array([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    assert lst.dtype == onp.float32  # MXNet's np.array of Python ints is float32
    onp.testing.assert_array_equal(arr(lst)[2], [4, 3, 2, 1])


def test_elementwise_operators_and_concatenate():
    x, y = np.array([1, 2, 4, 8]), np.array([2, 2, 2, 2])
    xs, ys = onp.array([1, 2, 4, 8], 'f4'), onp.array([2, 2, 2, 2], 'f4')
    for got, want in [(x + y, xs + ys), (x - y, xs - ys), (x * y, xs * ys), (x / y, xs / ys),
                      (x ** y, xs ** ys), (np.exp(x), onp.exp(xs))]:
        onp.testing.assert_allclose(arr(got), want, rtol=1e-6)
    X = np.arange(12).reshape(3, 4)
    Y = np.array([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    assert np.concatenate([X, Y], axis=0).shape == (6, 4)
    assert np.concatenate([X, Y], axis=1).shape == (3, 8)
    eq = X == Y
    assert eq.dtype == onp.bool_
    onp.testing.assert_array_equal(arr(eq), arr(X) == arr(Y))
    s = X.sum()
    assert s.shape == () and float(s) == 66.0


def test_broadcasting():
    a = np.arange(3).reshape(3, 1)
    b = np.arange(2).reshape(1, 2)
    onp.testing.assert_array_equal(arr(a + b), onp.arange(3).reshape(3, 1) + onp.arange(2))


def test_indexing_and_writes():
    X = np.arange(12).reshape(3, 4)
    ref = onp.arange(12, dtype='f4').reshape(3, 4)
    onp.testing.assert_array_equal(arr(X[-1]), ref[-1])
    onp.testing.assert_array_equal(arr(X[1:3]), ref[1:3])
    X[1, 2] = 9
    ref[1, 2] = 9
    X[0:2, :] = 12
    ref[0:2, :] = 12
    onp.testing.assert_array_equal(arr(X), ref)


def test_in_place_updates_keep_the_array():
    X = np.arange(12).reshape(3, 4)
    Y = np.ones((3, 4))
    before = id(Y)
    Y = Y + X
    assert id(Y) != before
    Z = np.zeros_like(Y)
    before = id(Z)
    Z[:] = X + Y
    assert id(Z) == before
    onp.testing.assert_array_equal(arr(Z), 2 * arr(X) + 1)
    before = id(X)
    X += Y
    assert id(X) == before


def test_conversions():
    X = np.arange(4)
    A = X.asnumpy()
    B = np.array(A)
    assert type(A) is onp.ndarray and isinstance(B, np.ndarray)
    a = np.array([3.5])
    assert a.item() == 3.5 and float(a) == 3.5 and int(a) == 3


def test_linear_algebra():
    A = np.arange(20).reshape(5, 4)
    An = onp.arange(20, dtype='f4').reshape(5, 4)
    onp.testing.assert_array_equal(arr(A.T), An.T)
    B = np.array([[1, 2, 3], [2, 0, 4], [3, 4, 5]])
    onp.testing.assert_array_equal(arr(B == B.T), onp.ones((3, 3), bool))
    onp.testing.assert_array_equal(arr(A.sum(axis=0)), An.sum(axis=0))
    onp.testing.assert_array_equal(arr(A.sum(axis=[0, 1])), An.sum())
    assert float(A.mean()) == pytest.approx(An.mean())
    sum_A = A.sum(axis=1, keepdims=True)
    assert sum_A.shape == (5, 1)
    onp.testing.assert_allclose(arr(A / sum_A), An / An.sum(axis=1, keepdims=True), rtol=1e-6)
    onp.testing.assert_array_equal(arr(A.cumsum(axis=0)), An.cumsum(axis=0))
    x, y = np.arange(4), np.ones(4)
    assert float(np.dot(x, y)) == 6.0 == float(np.sum(x * y))
    onp.testing.assert_array_equal(arr(np.dot(A, x)), An @ onp.arange(4, dtype='f4'))
    onp.testing.assert_array_equal(arr(np.dot(A, np.ones((4, 3)))), An @ onp.ones((4, 3)))
    u = np.array([3, -4])
    n = np.linalg.norm(u)
    assert n.shape == () and float(n) == 5.0
    assert float(np.abs(u).sum()) == 7.0
    assert float(np.linalg.norm(np.ones((4, 9)))) == pytest.approx(6.0)


def test_sampling():
    np.random.seed(0)
    fair = [1.0 / 6] * 6
    one = np.random.multinomial(1, fair)
    assert one.shape == (6,) and int(one.sum()) == 1
    counts = np.random.multinomial(1000, fair, size=3)
    assert counts.shape == (3, 6)
    onp.testing.assert_array_equal(arr(counts.sum(axis=1)), [1000] * 3)
    est = arr(counts.sum(axis=0)) / 3000
    assert onp.all(onp.abs(est - 1 / 6) < 0.05)
    a = np.random.normal()
    assert isinstance(a, np.ndarray) and a.shape == ()
    u = np.random.uniform(0, 1, (200, 50))
    assert 0 <= float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.02


def test_autograd_gradients_of_scalars_and_vectors():
    x = np.arange(4.0)
    x.attach_grad()
    assert isinstance(x.grad, np.ndarray)
    onp.testing.assert_array_equal(arr(x.grad), onp.zeros(4))
    with autograd.record():
        y = 2 * np.dot(x, x)
    assert y.shape == ()
    y.backward()
    onp.testing.assert_array_equal(arr(x.grad), 4 * onp.arange(4.0))
    onp.testing.assert_array_equal(arr(x.grad == 4 * x), onp.ones(4, bool))
    with autograd.record():
        y = x.sum()
    y.backward()
    onp.testing.assert_array_equal(arr(x.grad), onp.ones(4))  # written over, not added
    with autograd.record():
        y = x * x   # a vector head: backward sums it
    y.backward()
    onp.testing.assert_array_equal(arr(x.grad), 2 * onp.arange(4.0))


def test_detach_and_a_second_head_of_the_same_recording():
    x = np.arange(4.0)
    x.attach_grad()
    with autograd.record():
        y = x * x
        u = y.detach()
        z = u * x
    z.backward()
    onp.testing.assert_array_equal(arr(x.grad), arr(u))
    y.backward()  # y's graph is not the one z's backward freed
    onp.testing.assert_array_equal(arr(x.grad), 2 * onp.arange(4.0))


def _doubling(a):
    b = a * 2
    while np.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


@pytest.mark.parametrize("start", [0.37, -0.021])
def test_gradient_through_python_control_flow(start):
    """f is piecewise linear in a, so its gradient is f(a) / a whichever branches ran."""
    a = np.array(start)
    a.attach_grad()
    with autograd.record():
        d = _doubling(a)
    d.backward()
    assert float(a.grad) == pytest.approx(float(d / a), rel=1e-6)
    assert abs(float(d)) >= 1000


def test_context_helpers_of_the_book():
    """try_gpu falls back to the CPU: npx.num_gpus() is 0 and npx.cpu() is the default."""
    assert npx.num_gpus() == 0
    assert npx.cpu() == mx.cpu() == np.ones(2).ctx
    assert str(npx.cpu()) == 'cpu(0)'
