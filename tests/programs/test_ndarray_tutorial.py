"""MXNet's NDArray tutorials (crash-course 1, packages/ndarray 01-03), shortened: creation,
arithmetic, indexing, fluent methods, `out=`, save/load, each checked against numpy."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def test_creation_shapes_dtypes_and_contexts():
    x = nd.array(((1, 2, 3), (5, 6, 7)))
    assert x.shape == (2, 3) and x.size == 6 and x.dtype == np.float32
    assert x.context == mx.cpu() and x.ndim == 2 and len(x) == 2
    assert nd.ones((2, 3), dtype="int32").dtype == np.int32
    assert nd.full((2, 3), 2.0).asnumpy().tolist() == [[2.0] * 3] * 2
    assert nd.arange(10).reshape((2, 5)).astype("int64").dtype == np.int64
    assert nd.zeros((2, 3), ctx=mx.cpu(0)).context == mx.cpu(0)
    assert nd.array(np.arange(4, dtype=np.float64)).dtype == np.float32  # MXNet's default
    u = nd.random.uniform(-1, 1, (2, 3))
    assert u.shape == (2, 3) and (u.asnumpy() >= -1).all() and (u.asnumpy() < 1).all()
    assert nd.random.randint(0, 10, shape=(3,)).dtype == np.int32


def test_arithmetic_reductions_and_products_match_numpy():
    rs = np.random.RandomState(0)
    a, b = rs.randn(2, 3).astype(np.float32), rs.randn(2, 3).astype(np.float32)
    x, y = nd.array(a), nd.array(b)
    np.testing.assert_allclose((x * y).asnumpy(), a * b, rtol=1e-6)
    np.testing.assert_allclose(y.exp().asnumpy(), np.exp(b), rtol=1e-6)
    np.testing.assert_allclose(nd.dot(x, y.T).asnumpy(), a @ b.T, rtol=1e-5)
    np.testing.assert_allclose(x.sum(axis=1).asnumpy(), a.sum(1), rtol=1e-5)
    np.testing.assert_allclose(nd.sum(x, axis=0, exclude=True).asnumpy(), a.sum(1), rtol=1e-5)
    np.testing.assert_allclose(x.max(axis=0, keepdims=True).asnumpy(), a.max(0, keepdims=True))
    np.testing.assert_allclose(x.norm().asnumpy(), [np.linalg.norm(a)], rtol=1e-5)
    np.testing.assert_allclose(nd.batch_dot(nd.ones((2, 3, 4)), nd.ones((2, 4, 5))).asnumpy(),
                               np.full((2, 3, 5), 4.0))
    assert nd.dot(nd.ones((3, 4)), nd.ones((3, 5)), transpose_a=True).shape == (4, 5)
    np.testing.assert_allclose((2 ** x).asnumpy(), 2 ** a, rtol=1e-5)
    assert x.argmax(axis=1).dtype == np.float32      # MXNet's index ops return float32
    np.testing.assert_array_equal(x.argmax(axis=1).asnumpy(), a.argmax(1))
    np.testing.assert_array_equal(nd.topk(x, k=2).asnumpy(), np.argsort(-a, 1)[:, :2])


def test_in_place_updates_and_views():
    x = nd.zeros((3,))
    x += 1
    x *= 3
    x[1] = 7
    np.testing.assert_array_equal(x.asnumpy(), [3, 7, 3])
    y = nd.random.uniform(-1, 1, (2, 3))
    y[:, 1:3] = 2
    y[1:2, 0:2] = 4
    np.testing.assert_array_equal(y.asnumpy()[:, 1:], [[2, 2], [4, 2]])
    m = nd.arange(8).reshape((2, 2, 2))
    m[0][:] = -1                          # x[0] is a view: the write reaches m
    assert m.asnumpy()[0].tolist() == [[-1, -1], [-1, -1]]
    c = m[:, :, 1]                        # not contiguous: a copy
    c[:] = 9
    assert (m.asnumpy() != 9).all()


def test_elemwise_ops_write_into_out_as_the_operations_tutorial_does():
    x, y = nd.ones((3,)), nd.array([1, 2, 3])
    z = nd.zeros((3,))
    before = id(z)
    got = nd.elemwise_add(x, y, out=z)
    assert got is z and id(z) == before
    np.testing.assert_array_equal(z.asnumpy(), [2, 3, 4])
    nd.broadcast_mul(x, nd.array([2.0]), out=z)
    np.testing.assert_array_equal(z.asnumpy(), [2, 2, 2])
    assert x.flip(axis=0, out=z) is z
    with pytest.raises(ValueError, match="out is float32"):
        nd.elemwise_add(x, y, out=nd.zeros((2,)))


def test_advanced_indexing_follows_numpy():
    x = nd.arange(24).reshape((2, 3, 4))
    a = x.asnumpy()
    for key in [([0, 1], [1, 2]), (1, [0, 2]), (slice(None), [0, 2], 1),
                (np.array([[0], [1]]), slice(None), [1, 3]), ([1], Ellipsis, [0, 3])]:
        np.testing.assert_array_equal(x[key].asnumpy(), a[key])
    idx = nd.array([0, 1], dtype="int32")
    np.testing.assert_array_equal(x[1:, idx].asnumpy(), a[1:, [0, 1]])
    x.attach_grad()
    with mx.autograd.record():
        y = (x[[0, 1], [1, 2]] * 2).sum()
    y.backward()
    want = np.zeros_like(a)
    want[[0, 1], [1, 2]] = 2
    np.testing.assert_array_equal(x.grad.asnumpy(), want)
    with pytest.raises(mx.MXNetError, match="boolean mask"):
        x[(nd.array([1, 0]) > 0).asnumpy().astype(bool), 0]


def test_fluent_methods_mxnet_defines():
    x = nd.array([[1.0, 4.0], [8.0, 27.0]])
    np.testing.assert_array_equal(x.shape_array().asnumpy(), [2, 2])
    np.testing.assert_array_equal(x.size_array().asnumpy(), [4])
    np.testing.assert_allclose(x.rsqrt().asnumpy(), 1 / np.sqrt(x.asnumpy()), rtol=1e-6)
    np.testing.assert_allclose(x.rcbrt().asnumpy(), 1 / np.cbrt(x.asnumpy()), rtol=1e-6)
    np.testing.assert_array_equal(x.slice(begin=(0, 1), end=(2, 2)).asnumpy(), [[4], [27]])
    np.testing.assert_array_equal(nd.ones((2, 1)).broadcast_axes(axis=1, size=3).shape, (2, 3))
    np.testing.assert_array_equal(x.argmax_channel().asnumpy(), [1, 1])
    assert x.tostype("default").asnumpy().tolist() == x.asnumpy().tolist()
    csr = x.tostype("csr")     # (sparse storage: tests/api/test_sparse.py)
    assert csr.stype == "csr" and csr.asnumpy().tolist() == x.asnumpy().tolist()
    n = nd.array([1.0, np.nan, 3.0])
    n.attach_grad()
    with mx.autograd.record():
        s = n.nansum()
    s.backward()
    assert s.asscalar() == 4.0 and n.nanprod().asscalar() == 3.0
    np.testing.assert_array_equal(n.grad.asnumpy(), [1, 0, 1])
    y = nd.ones((2, 2, 2))
    assert y.slice_assign(nd.zeros((1, 1, 2)), (0, 0, None), (1, 1, None),
                          (None, None, None)) is y
    y.slice_assign_scalar(5, (1, 0, 0), (2, 1, 1))
    np.testing.assert_array_equal(y.asnumpy().ravel(), [0, 0, 1, 1, 5, 1, 1, 1])


def test_save_and_load_dicts_and_lists(tmp_path):
    x, y = nd.array([[1, 2], [3, 4]]), nd.arange(3)
    nd.save(str(tmp_path / "d"), {"a": x, "b": y})
    back = nd.load(str(tmp_path / "d"))
    assert sorted(back) == ["a", "b"]
    np.testing.assert_array_equal(back["a"].asnumpy(), x.asnumpy())
    nd.save(str(tmp_path / "l"), [x, y])
    a, b = nd.load(str(tmp_path / "l"))
    np.testing.assert_array_equal(b.asnumpy(), y.asnumpy())


def test_mxnet_ndarray_module_is_importable_by_its_package_path():
    import tracegrad.ndarray as nd_module
    from tracegrad.ndarray import NDArray
    import tracegrad.ndarray.random
    assert nd_module is nd and NDArray is nd.NDArray
    assert tracegrad.ndarray.random.uniform is nd.random.uniform
