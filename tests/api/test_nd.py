"""nd: creation, MXNet 1.x semantics, operators, indexing, errors, saving."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def test_array_dtypes_and_properties():
    a = nd.array([1, 2, 3])
    assert a.dtype == np.float32 and a.shape == (3,) and a.size == 3 and a.ndim == 1
    # MXNet 1.x: numpy input becomes float32 unless dtype is given; an NDArray keeps its dtype
    assert nd.array(np.arange(3)).dtype == np.float32
    assert nd.array(np.ones(3)).dtype == np.float32
    assert nd.array(np.ones(3), dtype="float64").dtype == np.float64
    assert nd.array(nd.array([1], dtype="int32")).dtype == np.int32
    assert nd.array([1, 2], dtype="float64").dtype == np.float64
    assert str(a.context) == "cpu(0)" and a.context == mx.cpu()
    assert nd.zeros((2, 3), ctx=mx.cpu()).shape == (2, 3)
    assert nd.full((2,), 7).asnumpy().tolist() == [7, 7]
    np.testing.assert_allclose(nd.arange(0, 1, 0.25).asnumpy(), [0, 0.25, 0.5, 0.75])
    assert nd.ones_like(a).asnumpy().tolist() == [1, 1, 1]
    assert issubclass(mx.base.MXNetError, Exception) and mx.context.num_gpus() == 0
    assert str(mx.gpu(1)) == "gpu(1)"      # (a context, as MXNet's; using it raises)
    with pytest.raises(mx.MXNetError, match="CPU only"):
        nd.zeros((2,), ctx=mx.gpu())


def test_str_like_mxnet():
    assert str(nd.array([[1, 2], [3, 4]])) == "\n[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>"


def test_full_reductions_have_shape_one():
    a = nd.array([[1, 2], [3, 4]])
    assert nd.sum(a).shape == (1,) and nd.sum(a).asscalar() == 10
    assert a.mean().shape == (1,) and a.mean().asscalar() == 2.5
    assert nd.max(a, axis=1).asnumpy().tolist() == [2, 4]
    assert nd.sum(a, axis=0, keepdims=True).shape == (1, 2)
    assert nd.sum(a, axis=0, exclude=True).asnumpy().tolist() == [3, 7]
    assert nd.argmax(a, axis=1).asnumpy().tolist() == [1, 1]
    assert nd.argmax(a, axis=1).dtype == np.float32


def test_integer_mean_stays_in_its_dtype_like_mxnet():
    """MXNet's mean of an integer array divides in that dtype: truncated, not promoted."""
    x = nd.array(np.arange(24).reshape(2, 3, 4), dtype="int32")
    m = nd.mean(x)
    assert m.dtype == np.int32 and m.asnumpy().tolist() == [11]           # 11.5 truncated
    np.testing.assert_array_equal(x.mean(axis=1).asnumpy(), np.arange(24).reshape(2, 3, 4)
                                  .sum(1) // 3)
    neg = nd.array([[-3, -4]], dtype="int64")
    assert nd.mean(neg, axis=1).asnumpy().tolist() == [-3]                # toward zero
    compiled = mx.jit(lambda a: nd.mean(a, axis=1))
    assert compiled(neg).dtype == np.int64 and compiled(neg).asnumpy().tolist() == [-3]


def test_operators_and_comparisons():
    a, b = nd.array([1.0, 2.0, 3.0]), nd.array([3.0, 2.0, 1.0])
    np.testing.assert_array_equal((a + b).asnumpy(), [4, 4, 4])
    np.testing.assert_array_equal((1 - a).asnumpy(), [0, -1, -2])
    np.testing.assert_allclose((2 / a).asnumpy(), [2, 1, 2 / 3.0], rtol=1e-6)
    np.testing.assert_array_equal((a ** 2).asnumpy(), [1, 4, 9])
    np.testing.assert_array_equal((2 ** a).asnumpy(), [2, 4, 8])
    np.testing.assert_array_equal((-a).asnumpy(), [-1, -2, -3])
    lt = a < b
    assert lt.dtype == np.float32 and lt.asnumpy().tolist() == [1, 0, 0]
    assert (a == b).asnumpy().tolist() == [0, 1, 0]
    assert bool(nd.array([1.0]) < 2)
    with pytest.raises(ValueError):
        bool(a)


def test_indexing_mxnet_1x_shapes():
    a = nd.array(np.arange(12).reshape(3, 4).astype(np.float32))
    assert a[1].shape == (4,) and a[1].asnumpy().tolist() == [4, 5, 6, 7]
    assert a[1, 2].shape == (1,) and a[1, 2].asscalar() == 6
    assert a[:, 1:3].asnumpy().tolist() == [[1, 2], [5, 6], [9, 10]]
    assert a[::2, -1].asnumpy().tolist() == [3, 11]
    assert a[..., 0].asnumpy().tolist() == [0, 4, 8]
    assert a[nd.array([2, 0])].asnumpy()[:, 0].tolist() == [8, 0]
    with pytest.raises(IndexError):
        a[3]


def test_indexing_gradient():
    a = nd.array(np.arange(6).reshape(2, 3).astype(np.float32))
    a.attach_grad()
    with autograd.record():
        y = a[1, 1:] * 3 + a[0, 0]
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), [[2, 0, 0], [0, 3, 3]])


def test_setitem_and_inplace_outside_record():
    a = nd.zeros((2, 3))
    a[:] = 1
    a[0, 1] = nd.array([5.0])
    a += 1
    assert a.asnumpy().tolist() == [[2, 6, 2], [2, 2, 2]]


def test_shape_ops():
    a = nd.array(np.arange(24).reshape(2, 3, 4).astype(np.float32))
    assert nd.reshape(a, (0, -1)).shape == (2, 12)
    assert a.reshape((-3, 4)).shape == (6, 4)
    assert a.reshape(-4, 1, 2, -2).shape == (1, 2, 3, 4)
    assert a.reshape(4, -1).shape == (4, 6)
    assert a.T.shape == (4, 3, 2) and nd.transpose(a, axes=(1, 0, 2)).shape == (3, 2, 4)
    assert nd.concat(a, a, dim=1).shape == (2, 6, 4)
    assert nd.stack(a, a, axis=0).shape == (2, 2, 3, 4)
    assert nd.expand_dims(a, axis=-1).shape == (2, 3, 4, 1)
    assert nd.flatten(a).shape == (2, 12)
    assert [s.shape for s in nd.split(a, 3, axis=1)] == [(2, 1, 4)] * 3
    assert nd.broadcast_to(nd.ones((1, 4)), (3, 4)).shape == (3, 4)
    assert nd.slice_axis(a, axis=2, begin=1, end=3).shape == (2, 3, 2)


def test_dot_batch_dot_and_nn_ops():
    x = np.random.RandomState(0).randn(4, 3).astype(np.float32)
    w = np.random.RandomState(1).randn(5, 3).astype(np.float32)
    np.testing.assert_allclose(nd.dot(nd.array(x), nd.array(w), transpose_b=True).asnumpy(),
                               x @ w.T, rtol=1e-5)
    np.testing.assert_allclose(nd.dot(nd.array(x[0]), nd.array(x[1])).asnumpy(),
                               [x[0] @ x[1]], rtol=1e-5)
    bx = np.random.RandomState(2).randn(2, 3, 4).astype(np.float32)
    np.testing.assert_allclose(nd.batch_dot(nd.array(bx), nd.array(bx), transpose_b=True)
                               .asnumpy(), bx @ bx.transpose(0, 2, 1), rtol=1e-5)
    s = nd.softmax(nd.array(x)).asnumpy()
    np.testing.assert_allclose(s, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(nd.log_softmax(nd.array(x)).asnumpy(), np.log(s), rtol=1e-4,
                               atol=1e-6)
    lab = nd.array([0, 2, 1, 1])
    np.testing.assert_allclose(nd.pick(nd.array(x), lab).asnumpy(), x[range(4), [0, 2, 1, 1]])
    np.testing.assert_array_equal(nd.one_hot(lab, 3).asnumpy(), np.eye(3)[[0, 2, 1, 1]])
    np.testing.assert_allclose(nd.clip(nd.array(x), -0.5, 0.5).asnumpy(), np.clip(x, -.5, .5))
    np.testing.assert_allclose(nd.where(nd.array(x) > 0, nd.array(x), 0 * nd.array(x))
                               .asnumpy(), np.maximum(x, 0))


def test_random_is_seeded():
    mx.random.seed(42)
    a = nd.random.uniform(shape=(3, 4)).asnumpy()
    b = nd.random.normal(0, 1, shape=(1000,)).asnumpy()
    mx.random.seed(42)
    np.testing.assert_array_equal(a, nd.random.uniform(shape=(3, 4)).asnumpy())
    assert a.min() >= 0 and a.max() < 1 and a.dtype == np.float32
    assert abs(b.mean()) < 0.15 and abs(b.std() - 1) < 0.1


def test_errors_name_op_shapes_and_user_line():
    with pytest.raises(mx.MXNetError) as e:
        nd.array(np.ones((2, 3))) + nd.array(np.ones((4, 3)))
    msg = str(e.value)
    assert "add" in msg and "[2,3]" in msg and "[4,3]" in msg
    assert "test_nd.py" in msg
    with pytest.raises(mx.MXNetError, match=r"matmul.*inner dimensions differ: f32\[2,3\] @"):
        nd.dot(nd.ones((2, 3)), nd.ones((4, 5)))
    with pytest.raises(mx.MXNetError, match="do not broadcast"):
        nd.ones((2, 3)) * nd.ones((4, 3))


def test_save_load_roundtrip_without_pickle(tmp_path):
    f = str(tmp_path / "x.params")
    nd.save(f, {"a": nd.array([1, 2]), "b": nd.ones((2, 2))})
    back = nd.load(f)
    assert sorted(back) == ["a", "b"] and back["a"].asnumpy().tolist() == [1, 2]
    nd.save(f, [nd.array([3])])
    assert nd.load(f)[0].asnumpy().tolist() == [3]
    np.save(str(tmp_path / "evil.npy"), np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        nd.load(str(tmp_path / "evil.npy"))


def test_make_ir_prints_typed_ssa():
    fn = mx.make_ir(lambda x, w: nd.relu(nd.dot(x, w)))(nd.ones((2, 3)), nd.ones((3, 4)))
    text = str(fn)
    assert text.splitlines()[0] == "func @lambda(%x: f32[2,3], %w: f32[3,4]) -> (f32[2,4]) {"
    assert "matmul %x, %w : f32[2,4]" in text and "relu" in text


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_is_half_away_from_zero_exactly_eager_and_compiled(dtype):
    """MXNet's round is std::round: the fraction decides. floor(|x| + 0.5) got the largest
    value below a half (0.49999997 in float32) and odd integers past the mantissa wrong."""
    big = 2.0 ** (24 if dtype == "float32" else 53)
    vals = np.array([0.5, -0.5, 1.5, 2.5, -2.5, 0.4, -0.4, 3.7, -3.7, 0.0, 1e30, -1e30,
                     np.inf, -np.inf, np.nan, big - 1, -(big - 1), big / 2 + 1, big / 2 + 3],
                    dtype=dtype)
    below_half = np.nextafter(np.array(0.5, dtype), np.array(0, dtype))
    vals = np.concatenate([vals, [below_half, -below_half, 2 + below_half]]).astype(dtype)

    def exact(v):
        if not np.isfinite(v):
            return v
        whole = np.floor(np.abs(v))
        return np.copysign(whole + (np.abs(v) - whole >= 0.5), v)
    want = np.array([exact(v) for v in vals], dtype=dtype)
    x = nd.array(vals, dtype=dtype)
    with np.errstate(all="raise"):      # (no inf - inf on the way)
        got = nd.round(x).asnumpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(mx.jit(lambda a: nd.round(a))(x).asnumpy(), want)


@pytest.mark.parametrize("name", ["round", "rint", "fix", "trunc"])
def test_rounding_keeps_the_sign_of_zero_and_int_dtypes(name):
    """std::round, trunc and MXNet's rint formula give -0.0 for -0.0 and for small negatives
    (a zero times sign(x) gave +0.0); an int array comes back in its dtype (round gave
    float64); the gradient is zero everywhere, integral points included."""
    f = getattr(nd, name)
    vals = np.array([-0.0, 0.0, -0.4, -0.5, 0.4, -2.0, 3.0, -np.inf], np.float32)
    # rint's -0.5 is -1 by MXNet's rule (floor unless the fraction is above a half)
    want_neg = {"round": [1, 0, 1, 1, 0, 1, 0, 1], "rint": [1, 0, 1, 1, 0, 1, 0, 1],
                "fix": [1, 0, 1, 1, 0, 1, 0, 1], "trunc": [1, 0, 1, 1, 0, 1, 0, 1]}[name]
    for got in (f(nd.array(vals)).asnumpy(), mx.jit(lambda a: f(a))(nd.array(vals)).asnumpy()):
        assert got.dtype == np.float32
        assert np.signbit(got).astype(int).tolist() == want_neg, got
    for dtype in ("int32", "int64"):
        ints = nd.array([3, 0, 7], dtype=dtype)
        for got in (f(ints), mx.jit(lambda a: f(a))(ints)):
            assert got.dtype == np.dtype(dtype) and got.asnumpy().tolist() == [3, 0, 7]
    x = nd.array([0.3, -1.0, 2.5, 0.0])
    x.attach_grad()
    with mx.autograd.record():
        y = f(x * 1.0).sum()
    y.backward()
    assert x.grad.asnumpy().tolist() == [0.0, 0.0, 0.0, 0.0]


def test_negative_steps_flip_tile_repeat_and_rounding():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = nd.array(a)
    for key in [np.s_[::-1], np.s_[:, ::-2], np.s_[1, 2:0:-1, ::-1], np.s_[..., ::-3]]:
        np.testing.assert_array_equal(x[key].asnumpy(), a[key])
    np.testing.assert_array_equal(nd.flip(x, axis=2).asnumpy(), a[:, :, ::-1])
    np.testing.assert_array_equal(nd.tile(x, (2, 1, 3)).asnumpy(), np.tile(a, (2, 1, 3)))
    np.testing.assert_array_equal(x.repeat(2, axis=1).asnumpy(), np.repeat(a, 2, axis=1))
    v = nd.array([-2.5, -0.5, 0.5, 1.5, 2.4])
    assert nd.round(v).asnumpy().tolist() == [-3, -1, 1, 2, 2]  # half away from zero
    assert nd.ceil(v).asnumpy().tolist() == [-2, -0, 1, 2, 3]
    np.testing.assert_allclose(nd.log2(nd.array([8.0])).asnumpy(), [3.0], rtol=1e-6)
    x.attach_grad()
    with autograd.record():
        y = nd.sum(x[:, ::-1] * nd.array(np.arange(12, dtype=np.float32).reshape(3, 4)))
        y = y + nd.sum(nd.tile(x, (2, 1, 1)))
    y.backward()
    want = np.arange(12, dtype=np.float32).reshape(3, 4)[::-1] + 2
    np.testing.assert_array_equal(x.grad.asnumpy(), np.broadcast_to(want, a.shape))
