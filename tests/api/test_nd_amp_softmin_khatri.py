"""nd.amp_cast / amp_multicast, nd.softmin and nd.khatri_rao (MXNet 1.9.1 semantics): values
against float64 numpy references, compiled (mx.jit) against eager, gradients against finite
differences (tests/grad/check.py), bad input raising errors that name the op."""

import numpy as np
import pytest

from tracegrad import autograd, nd
from tracegrad.base import MXNetError

from arrays import keep_dtype as array
from compiled_checks import grads_ok, compiled_values


RNG = np.random.default_rng(7)


def test_amp_cast_to_float16_rounds_like_float16():
    x = (RNG.standard_normal(20000) * 10.0 ** RNG.integers(-9, 7, 20000)).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.99, 65520, -65520,
                        2049, 2051, 2 ** -25, 3 * 2 ** -26, -2 ** -25, 1e-30, -1e-30, 6e-8,
                        2 ** -14, 2 ** -14 * 1.0005, 1e38], np.float32)
    x = np.concatenate([x, special])
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    for got in (nd.amp_cast(array(x), "float16"), nd.amp_cast(array(x), dtype=np.float16),
                compiled_values(lambda a: nd.amp_cast(a, "float16"), x)):
        got = got.asnumpy()
        assert got.dtype == np.float16   # a real float16 array, as MXNet's
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))


def test_amp_cast_dtypes_and_gradient():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    assert nd.amp_cast(array(x), "float64").dtype == np.float64
    np.testing.assert_array_equal(nd.amp_cast(array(x), "float32").asnumpy(), x)
    # only float32 (and float16) inputs are cast: float64 and ints come back as they are
    d = RNG.standard_normal(5)
    out = nd.amp_cast(array(d), "float16")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), d)
    ints = nd.amp_cast(array(np.arange(4, dtype=np.int32)), "float32")
    assert ints.dtype == np.int32
    # the gradient passes straight through (MXNet casts it back)
    a = array(x)
    a.attach_grad()
    with autograd.record():
        y = (nd.amp_cast(a, "float16") * 3).sum()
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), np.full_like(x, 3))
    with pytest.raises(MXNetError, match="amp_cast: bfloat16"):
        nd.amp_cast(array(x), "bfloat16")


def test_amp_multicast():
    a, b = array(RNG.standard_normal(3).astype(np.float32)), array(RNG.standard_normal(2))
    outs = nd.amp_multicast(a, b, num_outputs=2)
    assert [o.dtype for o in outs] == [np.float32, np.float64]
    np.testing.assert_array_equal(outs[0].asnumpy(), a.asnumpy())
    assert isinstance(nd.amp_multicast(a, num_outputs=1), nd.NDArray)
    with pytest.raises(MXNetError, match=r"amp_multicast: num_outputs \(3\)"):
        nd.amp_multicast(a, b, num_outputs=3)


def test_softmin():
    x = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    np.testing.assert_allclose(nd.softmin(array(x), axis=0).asnumpy(),
                               [[0.88079703, 0.5, 0.11920292], [0.11920292, 0.5, 0.88079703]],
                               rtol=1e-7)
    y = RNG.standard_normal((3, 5)) * 20
    for axis, t in ((-1, None), (0, 2.5)):
        e = np.exp(-(y / (t or 1.0)) + (y / (t or 1.0)).min(axis=axis, keepdims=True))
        ref = e / e.sum(axis=axis, keepdims=True)
        np.testing.assert_allclose(nd.softmin(array(y), axis=axis, temperature=t).asnumpy(),
                                   ref, rtol=1e-13)
        grads_ok(lambda a: nd.softmin(a, axis=axis, temperature=t), y / 20)
    out = nd.softmin(array(y.astype(np.float32)), dtype="float64")
    assert out.dtype == np.float64
    got = compiled_values(lambda a: nd.softmin(a, axis=0), y.astype(np.float32))
    np.testing.assert_allclose(got.asnumpy(), nd.softmin(array(y.astype(np.float32)), axis=0)
                               .asnumpy(), rtol=1e-6)
    with pytest.raises(MXNetError, match=r"softmin: axis 2 .* \(3, 5\)"):
        nd.softmin(array(y), axis=2)


def test_khatri_rao():
    A = nd.array([[1, -1], [2, -3]])
    B = nd.array([[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(nd.khatri_rao(A, B).asnumpy(),
                                  [[1, -4], [2, -5], [3, -6], [2, -12], [4, -15], [6, -18]])
    mats = [RNG.standard_normal((m, 3)) for m in (2, 4, 3)]
    ref = np.stack([np.kron(np.kron(mats[0][:, k], mats[1][:, k]), mats[2][:, k])
                    for k in range(3)], axis=1)
    np.testing.assert_allclose(nd.khatri_rao(*[array(m) for m in mats]).asnumpy(), ref,
                               rtol=1e-15)
    got = compiled_values(lambda a, b, c: nd.khatri_rao(a, b, c), *mats)
    np.testing.assert_array_equal(got.asnumpy(), nd.khatri_rao(*[array(m) for m in mats])
                                  .asnumpy())
    grads_ok(lambda a, b, c: nd.khatri_rao(a, b, c), *mats)
    with pytest.raises(MXNetError, match=r"khatri_rao: .*\[\(2, 2\), \(3, 3\)\]"):
        nd.khatri_rao(nd.zeros((2, 2)), nd.zeros((3, 3)))


def test_ndarray_methods():
    x = RNG.standard_normal((2, 6))
    a = array(x)
    np.testing.assert_array_equal(a.softmin(axis=0).asnumpy(), nd.softmin(a, axis=0).asnumpy())
    parts = a.split_v2((2, 5), axis=1)
    assert [p.shape for p in parts] == [(2, 2), (2, 3), (2, 1)]
    np.testing.assert_array_equal(parts[1].asnumpy(), x[:, 2:5])
