"""nd.linalg.inverse / det / slogdet, nd.contrib.quadratic / index_array and nd.shuffle
(MXNet 1.9.1 semantics): values against float64 numpy references and MXNet's documented
examples, compiled (mx.jit) against eager, gradients against finite differences
(tests/grad/check.py) to second order, singular and bad input as MXNet treats them."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError

from arrays import keep_dtype as array
from compiled_checks import compiled_values, grads_ok, jit_grads_match

RNG = np.random.default_rng(23)


def general(*shape):
    """Well-conditioned square matrices; every other one with its first two rows swapped,
    so determinants of both signs occur."""
    m = RNG.uniform(-1, 1, shape) + 2.0 * np.eye(shape[-1])
    flat = m.reshape((-1,) + shape[-2:])
    flat[::2] = flat[::2][:, [1, 0] + list(range(2, shape[-1]))]
    return flat.reshape(shape)


SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


# ---------------------------------------------------------------- inverse
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_inverse_values_batched(dtype, tol):
    a = general(2, 3, 4, 4).astype(dtype)
    got = nd.linalg.inverse(array(a))
    assert got.dtype == dtype and got.shape == a.shape
    np.testing.assert_allclose(got.asnumpy(), np.linalg.inv(a.astype(np.float64)),
                               rtol=tol, atol=tol)
    # MXNet's documented example, and the flat name
    a = nd.array([[1.0, 4.0], [2.0, 3.0]])
    np.testing.assert_allclose(nd.linalg_inverse(a).asnumpy(), [[-0.6, 0.8], [0.4, -0.2]],
                               rtol=1e-6)


def test_inverse_compiled_and_gradients():
    a = general(2, 3, 3).astype(np.float32)
    np.testing.assert_allclose(compiled_values(lambda x: nd.linalg.inverse(x) * 2.0, a)
                               .asnumpy(), 2 * np.linalg.inv(a), rtol=1e-5, atol=1e-6)
    jit_grads_match(lambda x: nd.linalg.inverse(x), a, rtol=1e-4, atol=1e-5)
    grads_ok(lambda x: nd.linalg.inverse(x), general(3, 3))
    grads_ok(lambda x: nd.linalg.inverse(x) * x, general(2, 3, 3), order=1)
    # MXNet's rule: dA = -B^T G B^T with B = A^-1
    x = array(general(3, 3))
    g = RNG.standard_normal((3, 3))
    x.attach_grad()
    with autograd.record():
        y = nd.linalg.inverse(x)
    y.backward(array(g))
    b = np.linalg.inv(x.asnumpy())
    np.testing.assert_allclose(x.grad.asnumpy(), -b.T @ g @ b.T, rtol=1e-10)


def test_inverse_refuses_singular_and_bad_input():
    with pytest.raises(MXNetError, match="inverse.*singular"):
        nd.linalg.inverse(array(np.stack([np.eye(2), SINGULAR]))).asnumpy()
    with pytest.raises(MXNetError, match=r"inverse.*square.*f32\[2,3\]"):
        nd.linalg.inverse(nd.ones((2, 3)))
    with pytest.raises(MXNetError, match="inverse.*floating point"):
        nd.linalg.inverse(nd.ones((2, 2), dtype="int32"))


# ---------------------------------------------------------------- det
def test_det_values_shapes_and_mxnet_examples():
    a = general(2, 3, 4, 4)
    got = nd.linalg.det(array(a))
    assert got.shape == (2, 3) and got.dtype == np.float64
    np.testing.assert_allclose(got.asnumpy(), np.linalg.det(a), rtol=1e-12)
    assert (got.asnumpy() < 0).any() and (got.asnumpy() > 0).any()
    # one matrix gives shape (1,), as MXNet 1.x (no 0-d arrays)
    one = nd.linalg.det(nd.array([[1.0, 4.0], [2.0, 3.0]]))
    assert one.shape == (1,) and one.dtype == np.float32
    np.testing.assert_allclose(one.asnumpy(), [-5.0], rtol=1e-6)
    # empty matrices have determinant 1; an empty batch gives an empty result
    # (nd.zeros refuses a 0 size outside np_shape, as MXNet 1.x: nd.array takes one)
    np.testing.assert_array_equal(nd.linalg.det(nd.array(np.zeros((2, 0, 0)))).asnumpy(),
                                  [1.0, 1.0])
    assert nd.linalg.slogdet(nd.array(np.zeros((0, 3, 3))))[1].shape == (0,)
    batch = nd.linalg_det(nd.array([[[1.0, 4.0], [2.0, 3.0]], [[2.0, 3.0], [1.0, 4.0]]]))
    np.testing.assert_allclose(batch.asnumpy(), [-5.0, 5.0], rtol=1e-6)
    a32 = general(3, 3, 3).astype(np.float32)
    np.testing.assert_allclose(compiled_values(lambda x: nd.linalg.det(x), a32).asnumpy(),
                               np.linalg.det(a32.astype(np.float64)), rtol=1e-5)


def test_det_gradients_and_the_singular_case():
    grads_ok(lambda x: nd.linalg.det(x), general(3, 3))
    grads_ok(lambda x: nd.linalg.det(x), general(2, 4, 4), order=1)
    jit_grads_match(lambda x: nd.linalg.det(x), general(2, 3, 3).astype(np.float32),
                    rtol=1e-4, atol=1e-5)
    # det of a singular matrix is 0 and MXNet backpropagates no gradient through it
    x = array(np.stack([SINGULAR, np.array([[2.0, 1.0], [1.0, 3.0]])]))
    x.attach_grad()
    with autograd.record():
        d = nd.linalg.det(x)
    d.backward()
    assert d.asnumpy()[0] == 0.0
    assert d.asnumpy()[1] == pytest.approx(5.0, rel=1e-14)
    np.testing.assert_array_equal(x.grad.asnumpy()[0], np.zeros((2, 2)))
    # Jacobi: d det / dA = det(A) A^-T
    np.testing.assert_allclose(x.grad.asnumpy()[1], 5.0 * np.linalg.inv(x.asnumpy()[1]).T,
                               rtol=1e-12)


# ---------------------------------------------------------------- slogdet
def test_slogdet_mxnet_example_with_a_singular_matrix():
    a = nd.array([[[2.0, 3.0], [1.0, 4.0]], [[1.0, 2.0], [2.0, 4.0]],
                  [[1.0, 2.0], [4.0, 3.0]]])
    sign, logabsdet = nd.linalg.slogdet(a)
    np.testing.assert_array_equal(sign.asnumpy(), [1.0, 0.0, -1.0])
    np.testing.assert_allclose(logabsdet.asnumpy(), [1.609438, -np.inf, 1.609438],
                               rtol=1e-6)
    sign, logabsdet = nd.linalg_slogdet(nd.array([[2.0, 3.0], [1.0, 4.0]]))
    assert sign.shape == logabsdet.shape == (1,)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_slogdet_values_compiled(dtype, tol):
    a = (general(4, 5, 5) * 3.0).astype(dtype)
    sign, logabsdet = nd.linalg.slogdet(array(a))
    want_sign, want_log = np.linalg.slogdet(a.astype(np.float64))
    np.testing.assert_array_equal(sign.asnumpy(), want_sign)
    np.testing.assert_allclose(logabsdet.asnumpy(), want_log, rtol=tol, atol=tol)
    assert sign.dtype == logabsdet.dtype == dtype
    out = compiled_values(lambda x: nd.concat(*nd.linalg.slogdet(x), dim=0), a)
    np.testing.assert_allclose(out.asnumpy(), np.concatenate([want_sign, want_log]),
                               rtol=tol, atol=tol)


def test_slogdet_gradients():
    grads_ok(lambda x: nd.linalg.slogdet(x)[1], general(3, 3))
    grads_ok(lambda x: nd.linalg.slogdet(x)[1], general(3, 4, 4), order=1)
    jit_grads_match(lambda x: nd.linalg.slogdet(x)[1], general(2, 3, 3).astype(np.float32),
                    rtol=1e-4, atol=1e-5)
    # only log|det| has a gradient (A^-T); the sign none; a singular matrix none
    x = array(np.stack([general(3, 3)[:2, :2] + np.eye(2), SINGULAR]))
    x.attach_grad()
    with autograd.record():
        sign, logabsdet = nd.linalg.slogdet(x)
        y = (sign * 3.0 + logabsdet * array(np.array([2.0, 5.0]))).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy()[0], 2.0 * np.linalg.inv(x.asnumpy()[0]).T,
                               rtol=1e-12)
    np.testing.assert_array_equal(x.grad.asnumpy()[1], np.zeros((2, 2)))


# ---------------------------------------------------------------- contrib.quadratic
def test_quadratic_values_gradients_and_compiled():
    np.testing.assert_array_equal(
        nd.contrib.quadratic(nd.array([[1, 2], [3, 4]]), a=1, b=2, c=3).asnumpy(),
        [[6, 11], [18, 27]])
    x = RNG.uniform(-2, 2, (3, 4))
    got = nd.contrib.quadratic(array(x), a=0.5, b=-1.5, c=2.0)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.asnumpy(), 0.5 * x ** 2 - 1.5 * x + 2.0, rtol=1e-14)
    np.testing.assert_array_equal(nd.contrib.quadratic(array(x)).asnumpy(), np.zeros((3, 4)))
    grads_ok(lambda v: nd.contrib.quadratic(v, a=0.7, b=-0.2, c=1.0), x)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(
        compiled_values(lambda v: nd.contrib.quadratic(v, a=2.0, b=1.0, c=-1.0), x32)
        .asnumpy(), 2 * x32 ** 2 + x32 - 1, rtol=1e-6, atol=1e-6)
    grads = jit_grads_match(lambda v: nd.contrib.quadratic(v, a=2.0, b=1.0), x32)
    y = 2 * x32 ** 2 + x32
    np.testing.assert_allclose(grads[0], 2 * y * (4 * x32 + 1), rtol=1e-5)


# ---------------------------------------------------------------- contrib.index_array
def test_index_array_mxnet_examples_and_negative_axes():
    out = nd.contrib.index_array(nd.ones((3, 2)))
    assert out.dtype == np.int64 and out.shape == (3, 2, 2)
    np.testing.assert_array_equal(out.asnumpy(), np.stack(np.indices((3, 2)), axis=-1))
    out = nd.contrib.index_array(nd.ones((3, 2, 2)), axes=(1, 0))
    np.testing.assert_array_equal(out.asnumpy(), [     # MXNet's documented example
        [[[0, 0], [0, 0]], [[1, 0], [1, 0]]], [[[0, 1], [0, 1]], [[1, 1], [1, 1]]],
        [[[0, 2], [0, 2]], [[1, 2], [1, 2]]]])
    idx = np.indices((3, 2, 2))
    np.testing.assert_array_equal(out.asnumpy(), np.stack([idx[1], idx[0]], axis=-1))
    out = nd.contrib.index_array(nd.ones((2, 3, 4)), axes=(-1, 0, -1))
    idx = np.indices((2, 3, 4))
    np.testing.assert_array_equal(out.asnumpy(), np.stack([idx[2], idx[0], idx[2]], axis=-1))
    assert nd.contrib.index_array(nd.ones((2, 3)), axes=()).shape == (2, 3, 0)


def test_index_array_compiled_no_gradient_and_bad_axes():
    x = RNG.uniform(size=(4, 3)).astype(np.float32)
    got = compiled_values(lambda v: nd.contrib.index_array(v, axes=(1,)), x)
    np.testing.assert_array_equal(got.asnumpy(), np.indices((4, 3))[1][..., None])
    # the indices only read data's shape: gradients through them treat them as constants
    v = array(x)
    v.attach_grad()
    with autograd.record():
        y = (v * nd.cast(nd.contrib.index_array(v)[:, :, 1], dtype="float32")).sum()
    y.backward()
    np.testing.assert_array_equal(v.grad.asnumpy(), np.indices((4, 3))[1])
    with pytest.raises(MXNetError, match=r"index_array: axes \[2\] are out of range"):
        nd.contrib.index_array(nd.ones((2, 3)), axes=(0, 2))


# ---------------------------------------------------------------- shuffle
def test_shuffle_is_random_shuffle():
    assert nd.shuffle is nd.random.shuffle
    x = nd.array(np.arange(20.0).reshape(10, 2))
    mx.random.seed(5)
    a = nd.shuffle(x).asnumpy()
    mx.random.seed(5)
    b = nd.random.shuffle(x).asnumpy()
    np.testing.assert_array_equal(a, b)
    # rows permuted, each kept whole
    assert sorted(map(tuple, a)) == sorted(map(tuple, x.asnumpy()))
    assert not np.array_equal(a, x.asnumpy())
