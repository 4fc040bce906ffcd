"""mx.np (MXNet's numpy interface): every function against numpy in float64 on random inputs
(values, shapes, dtypes), gradients against finite differences, compiled against eager, and
hostile inputs."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, np
from compiled_checks import grads_ok

R = onp.random.default_rng(0)


def close(a, ref, rtol=1e-5, atol=1e-6):
    assert isinstance(a, np.ndarray), type(a)
    ref = onp.asarray(ref)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    onp.testing.assert_allclose(a.asnumpy(), ref, rtol=rtol, atol=atol)


def rand(*shape):
    return R.standard_normal(shape)


# ---------------------------------------------------------------------- ndarray basics
def test_creation_defaults_and_properties():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    assert a.dtype == onp.float32 and isinstance(a.dtype, onp.dtype)   # lists: float32
    assert a.shape == (2, 3) and a.size == 6 and a.ndim == 2 and len(a) == 2
    assert np.array(onp.arange(3)).dtype == onp.int64                  # numpy keeps its dtype
    assert np.array(onp.arange(3, dtype=onp.uint8)).dtype == onp.uint8  # (as MXNet)
    assert np.arange(4).dtype == onp.float32 and np.arange(4, dtype="int32").dtype == onp.int32
    assert np.zeros((2, 3)).dtype == onp.float32 and np.ones(3, dtype=np.int64).dtype == onp.int64
    close(np.linspace(0, 1, 5), onp.linspace(0, 1, 5))
    close(np.eye(3, k=1), onp.eye(3, k=1))
    close(np.full((2, 2), 7), onp.full((2, 2), 7.0))
    assert np.full((2,), True).dtype == onp.bool_
    close(np.zeros_like(a), onp.zeros((2, 3)))
    assert np.ones_like(np.arange(3, dtype="int32")).dtype == onp.int32
    assert a.T.shape == (3, 2) and a.tolist() == [[1, 2, 3], [4, 5, 6]]
    s = a.sum()
    assert s.shape == () and s.ndim == 0 and s.item() == 21.0 and float(s) == 21.0
    assert int(np.array([3])) == 3 and bool(np.array(1.0))
    assert [x.shape for x in a] == [(3,), (3,)]
    with pytest.raises(TypeError, match="0-d"):
        len(s)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a)
    assert repr(np.array([1.5])) == "array([1.5])"
    assert "int32" in repr(np.array([1], dtype="int32"))
    nd_view = a.as_nd_ndarray()
    assert type(nd_view) is mx.nd.NDArray and type(nd_view.as_np_ndarray()) is np.ndarray
    assert type(mx.nd.ones((2,)).as_np_ndarray()) is np.ndarray
    assert np.pi == onp.pi and np.e == onp.e and np.newaxis is None and np.float32 is onp.float32


def test_astype_copy_detach():
    a = np.array([1.7, -2.2])
    b = a.astype("int32")
    assert b.dtype == onp.int32 and b.tolist() == [1, -2]
    c = a.copy()
    c[0] = 5
    assert a[0].item() == pytest.approx(1.7)
    assert a.astype(onp.float32, copy=False) is a
    with pytest.raises(TypeError, match="astype"):
        a.astype("complex64")


@pytest.mark.parametrize("lhs,rhs,expect", [
    ("int32", "float32", onp.float32), ("int64", "float32", onp.float32),
    ("int32", "int64", onp.int64), ("float32", "float64", onp.float64),
    ("bool", "int32", onp.int32), ("bool", "float32", onp.float32),
    ("int32", 1.5, onp.float32), ("int32", 2, onp.int32), ("float32", 2, onp.float32),
    ("bool", 1, onp.int64), ("float64", 1.5, onp.float64),
])
def test_type_promotion(lhs, rhs, expect):
    a = np.array([1, 0, 1], dtype=lhs)
    b = np.array([2, 3, 1], dtype=rhs) if isinstance(rhs, str) else rhs
    out = a + b
    assert out.dtype == expect
    ref = onp.array([1, 0, 1], dtype=lhs).astype(onp.float64) + (
        onp.array([2, 3, 1], dtype=rhs).astype(onp.float64) if isinstance(rhs, str) else rhs)
    onp.testing.assert_allclose(out.asnumpy(), ref)


def test_true_divide_and_floor_divide():
    a, b = np.array([7, -7, 5], dtype="int32"), np.array([2, 2, -3], dtype="int32")
    assert (a / b).dtype == onp.float32
    close(a / b, onp.array([3.5, -3.5, -5 / 3]))
    assert (a // b).dtype == onp.int32 and (a // b).tolist() == [3, -4, -2]
    x, y = np.array([7.5, -7.5]), np.array([2.0, 2.0])
    close(x // y, [3.0, -4.0])
    close(x % y, onp.mod([7.5, -7.5], 2.0))
    close(2 ** np.array([1.0, 3.0]), [2.0, 8.0])
    close(1 - np.array([1.0, 3.0]), [0.0, -2.0])


def test_broadcasting_operators_and_comparisons():
    x, y = rand(3, 1, 4), rand(2, 1)
    a, b = np.array(x, dtype="float64"), np.array(y, dtype="float64")
    for got, ref in ((a + b, x + y), (a - b, x - y), (a * b, x * y), (a / b, x / y),
                     (np.maximum(a, b), onp.maximum(x, y)), (np.minimum(a, 0.0),
                                                             onp.minimum(x, 0.0))):
        close(got, ref)
    lt = a < b
    assert lt.dtype == onp.bool_ and (lt.asnumpy() == (x < y)).all()
    assert ((a == a).asnumpy()).all() and not (a != a).asnumpy().any()
    assert (a >= 0).dtype == onp.bool_
    m, w = rand(2, 3, 4), rand(4, 5)
    close(np.array(m, dtype="float64") @ np.array(w, dtype="float64"), m @ w)


def test_inplace_operators():
    a = np.array([1.0, 2.0])
    b = a
    a += 1
    a *= np.array([2.0, 3.0])
    a -= 1
    a /= 2
    assert b is a
    close(a, [1.5, 4.0])
    i = np.array([5, 6], dtype="int32")
    i += 1
    assert i.dtype == onp.int32 and i.tolist() == [6, 7]


# ---------------------------------------------------------------------- indexing
@pytest.mark.parametrize("key", [
    0, -1, (1, 2), (slice(None), 1), (Ellipsis, 0), (None, 1), slice(1, None, 2),
    (slice(None, None, -1), slice(0, 3)), (0, 1, 2),
    [2, 0], ([0, 2], [1, 3]), (slice(None), [3, 0, 0]), ([[0], [2]], [1, 2]),
    onp.int32(2), onp.int64(-1), (onp.int64(1), onp.int32(-2)),   # numpy scalars are basic keys
])
def test_getitem(key):
    x = rand(3, 4, 5)
    a = np.array(x, dtype="float64")
    close(a[key], x[key])


def test_boolean_mask_and_array_index():
    x = rand(4, 3)
    a = np.array(x, dtype="float64")
    close(a[a > 0], x[x > 0])
    close(a[np.array([True, False, True, False], dtype=bool)], x[[True, False, True, False]])
    close(a[[True, False, True, False]], x[[True, False, True, False]])
    assert np.array([True, False]).dtype == onp.float32       # (MXNet: lists are float32)
    with pytest.raises(ValueError, match="as_np_ndarray"):
        np.array(mx.nd.ones((2,)))
    close(a[np.array([3, 1], dtype="int64")], x[[3, 1]])
    close(a[np.array([[0, 1], [2, 3]], dtype="int32")], x[onp.array([[0, 1], [2, 3]])])
    close(a[np.array([3, 0])], x[[3, 0]])       # (float32: d2l's data_iter indexes so)
    b = a.copy()
    b[np.array([1.0])] = 0
    assert (b[1] == 0).all().item()
    with pytest.raises(IndexError, match="__getitem__"):
        a[7]


def test_setitem():
    x = rand(4, 3)
    a = np.array(x, dtype="float64")
    ref = x.copy()
    a[a < 0] = 0
    ref[ref < 0] = 0
    a[1] = np.array([1.0, 2.0, 3.0])
    ref[1] = [1.0, 2.0, 3.0]
    a[[0, 2], 1] = 9
    ref[[0, 2], 1] = 9
    a[:, 2] += 1
    ref[:, 2] += 1
    close(a, ref)


def test_indexing_gradients():
    x = np.array(rand(4, 3), dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = (x[x > 0] ** 2).sum() + x[[0, 0, 3], 1].sum() + (x[1:, :2] * 3).sum()
    y.backward()
    xv = x.asnumpy()
    g = 2 * xv * (xv > 0)
    g[0, 1] += 2
    g[3, 1] += 1
    g[1:, :2] += 3
    close(x.grad, g)
    assert type(x.grad) is np.ndarray


# ---------------------------------------------------------------------- functions vs numpy
UNARY = ["exp", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "abs",
         "sign", "floor", "ceil", "negative", "square", "trunc", "rint"]


@pytest.mark.parametrize("name", UNARY)
def test_unary(name):
    x = rand(3, 4) * 2
    close(getattr(np, name)(np.array(x, dtype="float64")), getattr(onp, name)(x))
    out = getattr(np, name)(np.array(x.tolist()))
    assert out.dtype == onp.float32


@pytest.mark.parametrize("name", ["log", "sqrt", "log2", "log10", "log1p", "reciprocal"])
def test_positive_domain(name):
    x = onp.abs(rand(5)) + 0.1
    close(getattr(np, name)(np.array(x, dtype="float64")), getattr(onp, name)(x))
    assert getattr(np, name)(np.array([1, 2], dtype="int32")).dtype == onp.float32


def test_round_half_even_and_nan_inf():
    close(np.round(np.array([0.5, 1.5, 2.5, -0.5, 1.234])), onp.round([0.5, 1.5, 2.5, -0.5,
                                                                       1.234]))
    close(np.around(np.array([1.234, 5.678], dtype="float64"), 2), onp.around([1.234, 5.678], 2))
    v = onp.array([1.0, onp.nan, onp.inf, -onp.inf])
    a = np.array(v, dtype="float64")
    assert np.isnan(a).tolist() == onp.isnan(v).tolist()
    assert np.isinf(a).tolist() == onp.isinf(v).tolist()
    assert np.isfinite(a).tolist() == onp.isfinite(v).tolist()
    close(np.clip(np.array([-2.0, 0.5, 3.0]), -1, 1), [-1.0, 0.5, 1.0])
    close(np.power(np.array([2.0, 3.0]), 2), [4.0, 9.0])


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "std", "var"])
def test_reductions(name, axis, keepdims):
    x = rand(3, 4, 2)
    a = np.array(x, dtype="float64")
    close(getattr(np, name)(a, axis=axis, keepdims=keepdims),
          getattr(onp, name)(x, axis=axis, keepdims=keepdims))
    if axis is None and not keepdims:
        assert getattr(a, name)().shape == ()


def test_reduction_dtypes_and_args():
    i = np.array([[1, 5, 2], [7, 0, 3]], dtype="int32")
    assert np.mean(i).dtype == onp.float32 and np.mean(i).item() == pytest.approx(3.0)
    assert np.sum(np.array([True, True, False])).item() == 2
    assert np.argmax(i).dtype == onp.int64 and np.argmax(i).item() == 3
    assert np.argmax(i, axis=1).tolist() == [1, 0] and np.argmin(i, axis=0).tolist() == [0, 1, 0]
    assert np.argmax(i, axis=1, keepdims=True).shape == (2, 1)
    close(np.std(np.array(rand(5, 3), dtype="float64"), axis=0, ddof=1).astype("float64") * 0,
          onp.zeros(3))
    x = rand(5, 3)
    close(np.var(np.array(x, dtype="float64"), axis=0, ddof=1), onp.var(x, axis=0, ddof=1))
    assert np.all(np.array([1, 1])).item() and not np.any(np.array([0.0, 0.0])).item()
    close(np.cumsum(np.array(x, dtype="float64"), axis=1), onp.cumsum(x, axis=1))
    close(np.cumsum(np.array(x, dtype="float64")), onp.cumsum(x))


def test_products():
    for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                   ((2, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 5, 3), (4, 3, 2))]:
        x, y = rand(*sa), rand(*sb)
        a, b = np.array(x, dtype="float64"), np.array(y, dtype="float64")
        close(np.dot(a, b), onp.dot(x, y))
    for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((4, 2, 3), (3, 5)), ((4, 2, 3), (1, 3, 5)),
                   ((3,), (2, 3, 4))]:
        x, y = rand(*sa), rand(*sb)
        close(np.matmul(np.array(x, dtype="float64"), np.array(y, dtype="float64")),
              onp.matmul(x, y))
    x, y = rand(2, 3, 4), rand(4, 3, 5)
    close(np.tensordot(np.array(x, dtype="float64"), np.array(y, dtype="float64"),
                       axes=([1, 2], [1, 0])), onp.tensordot(x, y, axes=([1, 2], [1, 0])))
    close(np.outer(np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])), onp.outer([1, 2], [3, 4, 5]))
    ii = np.array([[1, 2], [3, 4]], dtype="int32")
    assert np.dot(ii, ii).dtype == onp.int32 and np.dot(ii, ii).tolist() == [[7, 10], [15, 22]]
    with pytest.raises(mx.MXNetError, match="dot.*not aligned"):
        np.dot(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(mx.MXNetError, match="matmul"):
        np.matmul(np.ones((2, 3)), np.ones((4, 2)))


def test_shape_functions():
    x = rand(2, 3, 4)
    a = np.array(x, dtype="float64")
    close(np.reshape(a, (4, -1)), x.reshape(4, -1))
    close(a.reshape(6, 4), x.reshape(6, 4))
    close(a.reshape((-1,)), x.reshape(-1))
    close(np.transpose(a), x.T)
    close(a.transpose(1, 0, 2), x.transpose(1, 0, 2))
    close(np.swapaxes(a, 0, 2), onp.swapaxes(x, 0, 2))
    close(np.moveaxis(a, 0, -1), onp.moveaxis(x, 0, -1))
    close(np.expand_dims(a, 1), onp.expand_dims(x, 1))
    close(np.squeeze(np.expand_dims(a, -1)), x)
    b = rand(3, 1)
    close(np.broadcast_to(np.array(b, dtype="float64"), (2, 3, 5)),
          onp.broadcast_to(b, (2, 3, 5)))
    close(np.concatenate([a, a], axis=1), onp.concatenate([x, x], axis=1))
    close(np.concatenate([a, a], axis=None), onp.concatenate([x, x], axis=None))
    close(np.stack([a, a], axis=-1), onp.stack([x, x], axis=-1))
    for got, ref in zip(np.split(a, 2, axis=0), onp.split(x, 2, axis=0)):
        close(got, ref)
    for got, ref in zip(np.split(a, [1, 3], axis=2), onp.split(x, [1, 3], axis=2)):
        close(got, ref)
    close(np.tile(a, (2, 1, 1)), onp.tile(x, (2, 1, 1)))
    close(np.repeat(a, 2, axis=1), onp.repeat(x, 2, axis=1))
    close(np.repeat(a, 2), onp.repeat(x, 2))
    close(np.flip(a, axis=(0, 2)), onp.flip(x, axis=(0, 2)))
    close(np.flip(a), onp.flip(x))
    m = rand(4, 4)
    close(np.diag(np.array(m, dtype="float64")), onp.diag(m))
    close(np.diag(np.array(m[0], dtype="float64"), k=1), onp.diag(m[0], k=1))
    close(np.ravel(a), x.ravel())
    close(np.vstack([np.array([1.0, 2.0]), np.array([3.0, 4.0])]), [[1, 2], [3, 4]])


def test_where_meshgrid_sort_unique():
    x, y = rand(3, 4), rand(4)
    a, b = np.array(x, dtype="float64"), np.array(y, dtype="float64")
    close(np.where(a > 0, a, b), onp.where(x > 0, x, y))
    close(np.where(a > 0, a, 0.0), onp.where(x > 0, x, 0.0))
    for got, ref in zip(np.meshgrid(np.arange(3), np.arange(2)),
                        onp.meshgrid(onp.arange(3.0), onp.arange(2.0))):
        close(got, ref)
    for got, ref in zip(np.meshgrid(np.arange(3), np.arange(2), indexing="ij"),
                        onp.meshgrid(onp.arange(3.0), onp.arange(2.0), indexing="ij")):
        close(got, ref)
    close(np.sort(a, axis=0), onp.sort(x, axis=0))
    close(np.sort(a), onp.sort(x))
    assert np.argsort(a, axis=1).tolist() == onp.argsort(x, axis=1).tolist()
    u = np.unique(np.array([3, 1, 3, 2], dtype="int32"), return_counts=True)
    assert u[0].tolist() == [1, 2, 3] and u[1].tolist() == [1, 1, 2]
    idx = np.nonzero(np.array([[0, 1], [2, 0]]))
    assert [i.tolist() for i in idx] == [[0, 1], [1, 0]]


def test_linalg_norm():
    x = rand(3, 4)
    a = np.array(x, dtype="float64")
    close(np.linalg.norm(a), onp.linalg.norm(x))
    close(np.linalg.norm(a, axis=1), onp.linalg.norm(x, axis=1))
    close(np.linalg.norm(a, ord=1, axis=0, keepdims=True), onp.linalg.norm(x, ord=1, axis=0,
                                                                          keepdims=True))
    close(np.linalg.norm(a, ord=onp.inf, axis=1), onp.linalg.norm(x, ord=onp.inf, axis=1))
    close(np.linalg.norm(a, ord=3, axis=1), onp.linalg.norm(x, ord=3, axis=1))
    close(np.linalg.norm(a, "fro", axis=(0, 1)), onp.linalg.norm(x, "fro", axis=(0, 1)))


# ---------------------------------------------------------------------- random
def test_random():
    np.random.seed(7)
    a = np.random.normal(1.0, 2.0, size=(2000,))
    np.random.seed(7)
    b = np.random.normal(1.0, 2.0, size=(2000,))
    assert (a.asnumpy() == b.asnumpy()).all() and a.dtype == onp.float32
    assert abs(a.mean().item() - 1.0) < 0.2 and abs(a.std().item() - 2.0) < 0.2
    assert np.random.normal().shape == ()
    u = np.random.uniform(-1, 3, size=(3, 4))
    assert u.shape == (3, 4) and -1 <= u.min().item() and u.max().item() < 3
    r = np.random.randint(2, 5, size=(100,))
    assert r.dtype == onp.int64 and set(r.tolist()) <= {2, 3, 4}
    c = np.random.choice(10, size=10, replace=False)
    assert sorted(c.tolist()) == list(range(10))
    pc = np.random.choice(3, size=500, p=[0.0, 0.2, 0.8])
    counts = onp.bincount(pc.asnumpy(), minlength=3)
    assert counts[0] == 0 and counts[2] > counts[1]
    x = np.arange(10)
    np.random.shuffle(x)
    assert sorted(x.tolist()) == list(range(10))
    loc = np.array([0.0, 10.0])
    loc.attach_grad()
    with autograd.record():
        s = np.random.normal(loc, 1.0, size=(5, 2)).sum()
    s.backward()
    close(loc.grad, [5.0, 5.0])


# ---------------------------------------------------------------------- gradients / compiled
GRAD_FNS = [
    lambda x, y: (np.tanh(x) * y).sum(axis=1),
    lambda x, y: np.dot(x, y.T) ** 2,
    lambda x, y: np.concatenate([x, np.exp(y)], axis=0)[1:, ::2],
    lambda x, y: np.where(x > 0, x * y, np.sin(y)).mean(),
    lambda x, y: np.linalg.norm(x - y, axis=1),
    lambda x, y: np.stack([x, y]).std(axis=0),
    lambda x, y: np.matmul(np.expand_dims(x, 0), np.swapaxes(np.expand_dims(y, 0), 1, 2)),
    lambda x, y: np.cumsum(x * y, axis=0) + np.sort(x, axis=1),
    lambda x, y: np.maximum(x, y) / (1 + np.abs(y)),
    lambda x, y: x[[0, 2], 1:] * np.clip(y, -0.5, 0.5)[:2, 1:],
]


@pytest.mark.parametrize("i", range(len(GRAD_FNS)))
def test_gradients_vs_finite_differences(i):
    fn = GRAD_FNS[i]
    x, y = rand(3, 4), rand(3, 4)
    grads_ok(lambda a, b: fn(a.as_np_ndarray(), b.as_np_ndarray()), x, y, order=1, rtol=1e-4)


def test_jit_matches_eager():
    def f(x, w):
        x, w = x.as_np_ndarray(), w.as_np_ndarray()
        h = np.maximum(np.dot(x, w), 0)
        return (h[h.sum(axis=1) >= -1e9] - h.mean(axis=0)).sum(axis=1)
    compiled = mx.jit(f)
    x, w = np.array(rand(5, 3)), np.array(rand(3, 4))
    eager = f(x, w)
    for _ in range(3):
        out = compiled(x, w)
    onp.testing.assert_allclose(onp.asarray(out), eager.asnumpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- hostile inputs
def test_hostile_inputs_name_the_function():
    a = np.ones((2, 3))
    with pytest.raises(mx.MXNetError, match="reshape"):
        a.reshape(4, -1)
    with pytest.raises(mx.MXNetError, match="reshape"):
        a.reshape(-1, -1)
    with pytest.raises(mx.MXNetError, match="sum: axis 2"):
        a.sum(axis=2)
    with pytest.raises(mx.MXNetError, match="concatenate"):
        np.concatenate([a, np.ones((3, 3))], axis=1)
    with pytest.raises(mx.MXNetError, match="split"):
        np.split(a, 2, axis=1)
    with pytest.raises(mx.MXNetError, match="broadcast_to"):
        np.broadcast_to(a, (4, 3))
    with pytest.raises(mx.MXNetError, match="transpose"):
        a.transpose(0, 0)
    with pytest.raises(mx.MXNetError, match="squeeze"):
        np.squeeze(a, axis=0)
    with pytest.raises(TypeError, match="zeros"):
        np.zeros((2,), dtype="complex64")
    with pytest.raises(TypeError, match="array"):
        np.array("abc")
    with pytest.raises(mx.MXNetError, match="add"):
        a + np.ones((4,))
    with pytest.raises(TypeError, match="add"):
        a + "x"
    with pytest.raises(mx.MXNetError, match="stack"):
        np.stack([a, np.ones((3, 2))])
    with pytest.raises(mx.MXNetError, match="max"):
        np.max(np.zeros((0,)))


def test_out_argument_is_written_not_ignored():
    """MXNet's out=: the result written into `out` and `out` returned; an `out` of another
    shape or dtype is refused (never left silently unwritten)."""
    a = np.ones(3)
    target = np.zeros(3)
    assert np.exp(a, out=target) is target
    close(target, onp.exp(onp.ones(3)), rtol=1e-6)
    assert np.add(a, a, out=a) is a
    close(a, [2.0, 2.0, 2.0])
    s = np.zeros(())
    assert np.sum(a, out=s) is s and float(s) == 6.0
    assert a.sum(out=s) is s
    for fn in (lambda: np.sum(a, out=np.zeros(3)), lambda: np.exp(a, out=np.zeros(2)),
               lambda: np.add(a, a, out=np.zeros(3, dtype="int32"))):
        with pytest.raises((mx.MXNetError, ValueError, TypeError), match="out"):
            fn()
    close(a, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("i", [0, 3, 4])
def test_second_order_gradients(i):
    fn = GRAD_FNS[i]
    x, y = rand(2, 3) + 0.3, rand(2, 3)
    grads_ok(lambda a, b: fn(a.as_np_ndarray(), b.as_np_ndarray()) ** 2, x, y, order=2,
             rtol=1e-4)


def test_random_multinomial():
    np.random.seed(3)
    one = np.random.multinomial(1, [1.0 / 6] * 6)
    assert one.shape == (6,) and one.dtype == onp.int64 and one.sum().item() == 1
    counts = np.random.multinomial(10, [0.2, 0.0, 0.8], size=(400,))
    assert counts.shape == (400, 3) and (counts.sum(axis=1).asnumpy() == 10).all()
    freq = counts.sum(axis=0).asnumpy() / 4000
    assert freq[1] == 0 and abs(freq[0] - 0.2) < 0.03
    with pytest.raises(mx.MXNetError, match="multinomial"):
        np.random.multinomial(2, [0.7, 0.7])
    for pvals in ([], np.array([]), [0.5, 0.5]):   # MXNet: no outcomes or no samples, empty
        for size in (None, (0, 2), (3, 0)):
            got = np.random.multinomial(10, pvals, size=size)
            k = 2 if isinstance(pvals, list) and pvals else 0
            assert got.shape == (size or ()) + (k,) and got.dtype == onp.int64
            assert got.size == (0 if k == 0 or size else 2)
