"""mx.np functions fixed against MXNet 1.9.1's test_numpy_op: values as numpy gives them, the
keywords MXNet takes, and its errors; eager and hybridized (traced F.np calls) alike."""
import numpy as onp
import pytest

import tracegrad as mx

from tracegrad import np
from tracegrad.base import MXNetError
from tracegrad.gluon import HybridBlock


class _Fn(HybridBlock):
    """A set_np block applying fn(F, x): the hybridized run traces the F.np call."""

    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def hybrid_forward(self, F, x):
        return self._fn(F, x)


def _both(fn, x):
    """fn's result eager and hybridized, as numpy arrays."""
    outs = []
    for hybridize in (False, True):
        net = _Fn(fn)
        if hybridize:
            net.hybridize()
        outs.append(net(x).asnumpy())
    return outs


@pytest.mark.parametrize("name,ref", [("any", onp.any), ("all", onp.all)])
@pytest.mark.parametrize("axis", [None, 1, (0, 2), 0])
def test_any_all_over_a_zero_size_axis(np_mode, name, ref, axis):
    x = onp.zeros((6, 0, 5), dtype=onp.int32)
    want = ref(x, axis=axis, keepdims=True)
    for got in _both(lambda F, a: getattr(F.np, name)(a, axis=axis, keepdims=True),
                     np.array(x, dtype="int32")):
        assert got.dtype == onp.bool_ and got.shape == want.shape
        assert (got == want).all()


def test_any_all_values_unchanged(np_mode):
    x = onp.array([[0, 2, 0], [1, 1, 1]], dtype=onp.float32)
    a = np.array(x)
    assert (np.any(a, axis=1).asnumpy() == [True, True]).all()
    assert (np.all(a, axis=1).asnumpy() == [False, True]).all()
    assert bool(np.all(a)) is False and bool(np.any(a)) is True


def test_ndarray_clip_takes_min_max_keywords(np_mode):
    x = onp.array([[-1.0, 0.05, 2.0]], dtype=onp.float32)
    a = np.array(x)
    onp.testing.assert_allclose(a.clip(min=-0.1, max=0.1).asnumpy(), x.clip(-0.1, 0.1))
    onp.testing.assert_allclose(a.clip(max=0.1).asnumpy(), x.clip(max=0.1))
    for got in _both(lambda F, t: t.clip(min=0), a):
        onp.testing.assert_allclose(got, x.clip(min=0))
    with pytest.raises(MXNetError):
        a.clip(min=None, max=None)


@pytest.mark.parametrize("args", [(-1,), (-2, None), (1, -1)])
def test_eye_negative_size_is_an_mxnet_error(args):
    with pytest.raises(MXNetError, match="eye"):
        np.eye(*args)


@pytest.mark.parametrize("args", [(4,), (7, 3, -3), (3, 2, -2), (0, 0, -2), (4, 0), (0, 3)])
def test_eye_values(args):
    assert (np.eye(*args, dtype="int32").asnumpy() == onp.eye(*args, dtype="int32")).all()


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_around_negative_decimals_on_ints(np_mode, dtype):
    x = onp.array([15, 25, -15, 149, 150, 250, -250, 123456], dtype=dtype)
    for d in (-1, -2, -5):
        want = onp.around(x, d)
        got = np.around(np.array(x, dtype=dtype), d)
        assert got.dtype == want.dtype
        assert (got.asnumpy() == want).all(), (d, got, want)
        for h in _both(lambda F, a: F.np.round(a, d), np.array(x, dtype=dtype)):
            assert (h == want).all()
    assert (np.around(np.array(x, dtype=dtype), 2).asnumpy() == x).all()


def test_around_negative_decimals_on_floats():
    x = onp.array([1234.5, 150.0, 250.0, -349.99, 0.3], dtype=onp.float64)
    for d in (-1, -2, -3):
        onp.testing.assert_allclose(np.around(np.array(x, dtype="float64"), d).asnumpy(),
                                    onp.around(x, d))


def test_empty_like_takes_mxnets_keywords():
    a = np.array(onp.ones((3, 0, 2)), dtype="float64")
    out = np.empty_like(a, "int8", "C", False)
    assert out.shape == (3, 0, 2) and out.dtype == onp.int8
    assert np.empty_like(a, dtype=None, order="C", subok=False, shape=None).dtype == onp.float64
    with pytest.raises(NotImplementedError, match="empty_like"):
        np.empty_like(a, subok=True)
    with pytest.raises(NotImplementedError, match="empty_like"):
        np.empty_like(a, shape=(2,))


@pytest.mark.parametrize("shape", [(2, 2), (0, 0), (3, 2, 2), (2, 0, 0), (0, 3, 3)])
def test_slogdet_det_batch_shape(np_mode, shape):
    x = onp.random.RandomState(0).standard_normal(shape).astype(onp.float32) + \
        2 * onp.eye(shape[-1], dtype=onp.float32)
    sign, logabs = np.linalg.slogdet(np.array(x))
    want = onp.linalg.slogdet(x)
    assert sign.shape == want[0].shape and logabs.shape == want[1].shape
    onp.testing.assert_allclose(sign.asnumpy(), want[0], rtol=1e-5)
    onp.testing.assert_allclose(logabs.asnumpy(), want[1], rtol=1e-4, atol=1e-5)
    det = np.linalg.det(np.array(x))
    assert det.shape == onp.linalg.det(x).shape
    for got in _both(lambda F, a: F.np.linalg.slogdet(a)[1], np.array(x)):
        assert got.shape == want[1].shape
    with pytest.raises(MXNetError, match="slogdet"):
        np.linalg.slogdet(np.ones((2, 3)))


@pytest.mark.parametrize("src,dst", [([0, 2], [3, 1]), ([], []), ([1, 0, 3], [0, 3, 2]),
                                     ((-1,), (0,)), (2, -1)])
def test_moveaxis_takes_axis_sequences(np_mode, src, dst):
    x = onp.arange(2 * 3 * 4 * 5, dtype=onp.float32).reshape(2, 3, 4, 5)
    want = onp.moveaxis(x, src, dst)
    a = np.array(x)
    assert (np.moveaxis(a, source=src, destination=dst).asnumpy() == want).all()
    a.attach_grad()
    with mx.autograd.record():
        y = _Fn(lambda F, t: F.np.moveaxis(t, src, dst))
        y.hybridize()
        out = y(a)
    out.backward()
    assert (out.asnumpy() == want).all() and (a.grad.asnumpy() == 1).all()


def test_moveaxis_errors():
    a = np.ones((2, 3, 4))
    with pytest.raises(MXNetError, match="moveaxis.*repeated"):
        np.moveaxis(a, [0, 0], [1, 2])
    with pytest.raises(MXNetError, match="moveaxis.*same number"):
        np.moveaxis(a, [0], [1, 2])


def test_delete_index_array_ignores_out_of_range_entries(np_mode):
    x = onp.arange(12, dtype=onp.float32).reshape(3, 4)
    obj = np.array([-1, 5, 1, 1], dtype="int64")
    want = onp.delete(x, [1], axis=1)
    assert (np.delete(np.array(x), obj, axis=1).asnumpy() == want).all()
    for got in _both(lambda F, t: F.np.delete(t, obj, axis=1), np.array(x)):
        assert (got == want).all()
    empty = np.delete(np.zeros((0,)), np.array([0, 0], dtype="int32"))
    assert empty.shape == (0,)
    # an int obj keeps numpy's rules: negative wraps, out of bounds raises
    assert (np.delete(np.array(x), -1, axis=0).asnumpy() == x[:2]).all()
    with pytest.raises(IndexError, match="delete"):
        np.delete(np.array(x), 3, axis=0)


def test_linspace_int_dtype_truncates_and_num_must_be_int():
    got = np.linspace(-2, 4, 30, dtype="int32").asnumpy()
    want = onp.linspace(-2, 4, 30).astype(onp.int32)      # MXNet's cast (numpy 1.x's)
    assert (got == want).all() and got[6] == 0
    with pytest.raises(MXNetError, match="linspace.*integer"):
        np.linspace(0, 1, 2.5)
    with pytest.raises(MXNetError, match="linspace"):
        np.linspace(0, 10, -1)


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "int32"])
def test_unary_bool_funcs(np_mode, name, dtype):
    src = [onp.nan, onp.inf, -onp.inf, 0, 1] if dtype != "int32" else [0, 1, -3]
    a = np.array(src, dtype=dtype)
    want = getattr(onp, name)(a.asnumpy())
    for got in _both(lambda F, t: getattr(F.np, name)(t), a):
        assert got.dtype == onp.bool_ and (got == want).all()
    fn = getattr(np, name)
    out = np.zeros(a.shape, dtype="bool")
    assert fn(a, out) is out and (out.asnumpy() == want).all()
    with pytest.raises(TypeError, match=name):
        fn(a, out=np.zeros(a.shape, dtype=dtype))
    for kw in ({"where": False}, {"subok": False}, {"dtype": onp.int8}, {"casting": "safe"},
               {"order": "C"}):
        with pytest.raises(NotImplementedError, match=name):
            fn(a, **kw)
    for kw in ({"dtype": "abcdefg"}, {"casting": "mxnet"}):
        with pytest.raises(TypeError, match=name):
            fn(a, **kw)
    assert (fn(a, where=True, casting="same_kind", order="K", subok=True).asnumpy()
            == want).all()


@pytest.mark.parametrize("shape,offset", [((3, 3), -5), ((0, 0), 0), ((3, 4), 4),
                                          ((2, 0, 3, 0), 1), ((3, 3), 1)])
def test_trace_of_an_empty_diagonal_differentiates(np_mode, shape, offset):
    x = onp.random.RandomState(1).uniform(-1, 1, shape).astype(onp.float32)
    want = onp.trace(x, offset=offset, axis1=0, axis2=-1)
    idx = onp.indices(shape)
    want_grad = (idx[0] + offset == idx[-1]).astype(onp.float32)
    for hybridize in (False, True):
        net = _Fn(lambda F, t: F.np.trace(t, offset=offset, axis1=0, axis2=-1))
        if hybridize:
            net.hybridize()
        a = np.array(x)
        a.attach_grad()
        with mx.autograd.record():
            out = net(a)
        out.backward()
        assert out.shape == want.shape
        onp.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-6)
        assert (a.grad.asnumpy() == want_grad).all()


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_var_std_over_no_axes(np_mode, name, ddof):
    x = onp.array([[1.0, -2.0], [3.0, 4.5]], dtype=onp.float32)
    with onp.errstate(all="ignore"):
        want = getattr(onp, name)(x, axis=(), ddof=ddof)
    for got in _both(lambda F, t: getattr(t, name)(axis=(), ddof=ddof), np.array(x)):
        onp.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("axis", [0, -1])
def test_0d_pseudo_axis_for_squeeze_argmax_argmin(np_mode, axis):
    x = np.array(2.5)
    assert np.squeeze(x, axis).shape == () and float(np.squeeze(x, axis)) == 2.5
    for name in ("argmax", "argmin"):
        want = getattr(onp, name)(onp.array(2.5), axis=axis)
        got = getattr(np, name)(x, axis=axis)
        assert got.dtype == want.dtype and got.shape == () and int(got) == 0
        for h in _both(lambda F, t: getattr(t, name)(axis), x):
            assert h.shape == () and int(h) == 0
    with pytest.raises(MXNetError, match="argmax"):
        np.argmax(x, 1)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_extreme_of_zero_size_along_a_nonempty_axis(np_mode, name):
    a = np.zeros((5, 0, 3))
    for axis, shape in ((0, (0, 3)), (-1, (5, 0))):
        got = getattr(np, name)(a, axis=axis)
        assert got.shape == shape and got.dtype == onp.int64
        for h in _both(lambda F, t: getattr(t, name)(axis), a):
            assert h.shape == shape
    for axis in (None, 1):
        with pytest.raises(MXNetError, match=name):
            getattr(np, name)(a, axis)


def test_mx_numpy_is_mx_np():
    assert mx.numpy is np and mx.numpy.array([1, 2]).dtype == onp.float32


@pytest.mark.parametrize("call", [lambda kw: np.exp(np.ones(2), **kw),
                                  lambda kw: np.abs(np.ones(2), **kw),
                                  lambda kw: np.floor(np.ones(2), **kw),
                                  lambda kw: np.square(np.ones(2), **kw),
                                  lambda kw: np.add(np.ones(2), 1, **kw),
                                  lambda kw: np.less(np.ones(2), 1, **kw),
                                  lambda kw: np.logical_and(np.ones(2), 1, **kw)])
def test_elementwise_ufunc_keywords_as_mxnet(call):
    for kw in ({"where": False}, {"subok": False}, {"dtype": onp.int8}, {"casting": "safe"},
               {"order": "C"}, {"order": "mxnet"}):
        with pytest.raises(NotImplementedError):
            call(kw)
    for kw in ({"dtype": "abcdefg"}, {"casting": "mxnet"}, {"bogus": 1}):
        with pytest.raises(TypeError):
            call(kw)
    assert call({"where": True, "casting": "same_kind", "order": "K", "subok": True}).shape \
        == (2,)


@pytest.mark.parametrize("src,dst,want", [((5,), (3, 4, -2), (3, 4, 5)), ((5,), (0, -2), (0, 5)),
                                          ((1, 0), (2, -2, -2), (2, 1, 0)),
                                          ((3, 4), (1, 0, -2, 4), (1, 0, 3, 4))])
def test_broadcast_to_minus_two_keeps_the_input_size(np_mode, src, dst, want):
    x = onp.random.RandomState(2).uniform(size=src).astype(onp.float32)
    for hybridize in (False, True):
        net = _Fn(lambda F, t: F.np.broadcast_to(t, dst))
        if hybridize:
            net.hybridize()
        a = np.array(x)
        a.attach_grad()
        with mx.autograd.record():
            out = net(a)
        out.backward()
        onp.testing.assert_array_equal(out.asnumpy(), onp.broadcast_to(x, want))
        assert a.grad.shape == src
    with pytest.raises(MXNetError, match="broadcast_to"):
        np.broadcast_to(np.ones((5,)), (3, -1))


def test_hstack_of_0d_arrays(np_mode):
    xs = [onp.float32(v) for v in (1.0, 2.0, 3.0)]
    want = onp.hstack(xs)
    for got in _both(lambda F, t: F.np.hstack([t, t * 2, t * 3]), np.array(1.0)):
        onp.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ord,ref", [("inf", onp.inf), ("-inf", -onp.inf)])
def test_linalg_norm_string_inf_for_vectors(np_mode, ord, ref):
    x = onp.array([[3.0, -4.0, 1.0], [0.5, -2.0, 6.0]], dtype=onp.float32)
    want = onp.linalg.norm(x, ord=ref, axis=1)
    for got in _both(lambda F, t: F.np.linalg.norm(t, ord=ord, axis=1), np.array(x)):
        onp.testing.assert_allclose(got, want)
    onp.testing.assert_allclose(np.linalg.norm(np.array(x), ord=ord, axis=(0, 1)).asnumpy(),
                                onp.linalg.norm(x, ord=ref, axis=(0, 1)))


def test_nan_to_num_copy_false_in_a_hybridized_block(np_mode):
    x = onp.array([onp.nan, onp.inf, -onp.inf, 1.5], dtype=onp.float32)
    want = onp.nan_to_num(x)
    net = _Fn(lambda F, t: F.np.nan_to_num(t, False))
    net.hybridize()
    a = np.array(x)
    a.attach_grad()
    with mx.autograd.record():
        out = net(a)
    out.backward()
    onp.testing.assert_array_equal(out.asnumpy(), want)
    onp.testing.assert_array_equal(a.grad.asnumpy(), [0, 0, 0, 1])
    b = np.array(x)                       # eager copy=False still writes into its input
    assert np.nan_to_num(b, copy=False) is b
    onp.testing.assert_array_equal(b.asnumpy(), want)


def test_float16_sum_accumulates_in_float32(np_mode):
    x = onp.array([[2048, 1, 1, 1, 1]], dtype=onp.float16)   # 2048 + 1 rounds back in fp16
    want = x.astype(onp.float32).sum(axis=1).astype(onp.float16)
    assert want[0] == 2052
    got = np.sum(np.array(x, dtype="float16"), axis=1)
    assert got.dtype == onp.float16 and (got.asnumpy() == want).all()
    for h in _both(lambda F, t: t.sum(axis=1), np.array(x, dtype="float16")):
        assert h.dtype == onp.float16 and (h == want).all()


@pytest.mark.parametrize("dtype", ["float16", "int32"])
def test_sum_to_a_narrower_dtype_casts_the_result(np_mode, dtype):
    x = onp.random.RandomState(3).uniform(-10, 10, (64, 5)).astype(onp.float32)
    want = x.sum(axis=0, dtype=onp.float64).astype(dtype)   # MXNet's test reference
    for got in [np.sum(np.array(x), axis=0, dtype=dtype).asnumpy()] + \
            _both(lambda F, t: F.np.sum(t, axis=0, dtype=dtype), np.array(x)):
        assert got.dtype == onp.dtype(dtype)
        onp.testing.assert_allclose(got.astype(onp.float64), want.astype(onp.float64),
                                    rtol=1e-3, atol=1e-5)


def test_mean_to_an_int_dtype_casts_the_mean(np_mode):
    x = onp.array([[0.6, 0.7, 0.9], [-2.5, 1.0, 4.0]], dtype=onp.float32)
    want = x.mean(axis=1, dtype=onp.float64).astype(onp.int32)   # [0, 0]; per element: [0, 1]
    for got in [np.mean(np.array(x), axis=1, dtype="int32").asnumpy()] + \
            _both(lambda F, t: t.mean(axis=1, dtype="int32"), np.array(x)):
        assert got.dtype == onp.int32 and (got == want).all()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_atleast_nd(np_mode, n):
    xs = [onp.array(1.5, dtype=onp.float32), onp.arange(2, dtype=onp.float32),
          onp.ones((3, 4), dtype=onp.float32), onp.ones((2, 3, 4, 5), dtype=onp.float32)]
    want = getattr(onp, f"atleast_{n}d")(*xs)
    got = getattr(np, f"atleast_{n}d")(*[np.array(x) for x in xs])
    assert isinstance(got, list) and [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        onp.testing.assert_array_equal(g.asnumpy(), w)
    one = getattr(np, f"atleast_{n}d")(np.array(xs[1]))
    assert isinstance(one, np.ndarray) and one.shape == getattr(onp, f"atleast_{n}d")(xs[1]).shape
    net = _Fn(lambda F, t: getattr(F.np, f"atleast_{n}d")(t, t))
    net.hybridize()
    assert [o.shape for o in net(np.array(xs[0]))] == [want[0].shape] * 2


@pytest.mark.parametrize("shape,shift,axis", [((), (3,), None), ((20,), (-3,), None),
                                              ((2, 3, 4), (10, -10), (0, 1)),
                                              ((2, 3, 4, 5), (0, 1), (-1, 2)),
                                              ((2, 3, 0, 1), (0, 1), (-1, 2)),
                                              ((2, 3, 4), (1, 2), (1, 1)),
                                              ((2, 3, 4, 5), 10, (0, 2))])
def test_roll(np_mode, shape, shift, axis):
    x = onp.random.RandomState(4).uniform(size=shape).astype(onp.float32)
    want = onp.roll(x, shift, axis)
    for hybridize in (False, True):
        net = _Fn(lambda F, t: F.np.roll(t, shift=shift, axis=axis))
        if hybridize:
            net.hybridize()
        a = np.array(x)
        a.attach_grad()
        with mx.autograd.record():
            out = net(a)
        out.backward()
        onp.testing.assert_array_equal(out.asnumpy(), want)
        assert (a.grad.asnumpy() == 1).all()
    with pytest.raises(MXNetError, match="roll"):
        np.roll(np.ones((2, 3)), (1, 2, 3), (0, 1))


@pytest.mark.parametrize("k", [-3, -1, 0, 2])
def test_diagflat(np_mode, k):
    x = onp.random.RandomState(5).uniform(size=(2, 2)).astype(onp.float32)
    want = onp.diagflat(x, k)
    a = np.array(x)
    a.attach_grad()
    with mx.autograd.record():
        out = _Fn(lambda F, t: F.np.diagflat(t, k=k))(a)
    out.backward()
    onp.testing.assert_array_equal(out.asnumpy(), want)
    assert (a.grad.asnumpy() == 1).all()
    onp.testing.assert_array_equal(np.diagflat(np.array(x), k).asnumpy(), want)


def test_nd_npx_in_a_classic_hybrid_forward():
    class Reshape(HybridBlock):
        def hybrid_forward(self, F, a):
            return F.npx.reshape(a, (-2, -1))

    assert mx.nd.npx is mx.npx
    x = np.array(onp.arange(24, dtype=onp.float32).reshape(2, 3, 4))
    for hybridize in (False, True):
        net = Reshape()
        if hybridize:
            net.hybridize()
        assert net(x).shape == (2, 12)


@pytest.mark.parametrize("k", [-6, -1, 0, 4, 5, 7])
def test_diag_of_a_matrix_past_its_diagonals_is_empty(np_mode, k):
    x = onp.arange(5, dtype=onp.float32).reshape(1, 5)
    want = onp.diag(x, k)
    a = np.array(x)
    a.attach_grad()
    for hybridize in (False, True):
        net = _Fn(lambda F, t: F.np.diag(t, k=k))
        if hybridize:
            net.hybridize()
        with mx.autograd.record():
            out = net(a)
        out.backward()
        assert out.shape == want.shape and (out.asnumpy() == want).all()
        assert a.grad.asnumpy().sum() == want.size


def test_transpose_repeated_axes_is_a_value_error():
    with pytest.raises(ValueError, match="transpose"):
        np.ones((3, 4, 5)).transpose((0, 0, 1))
    with pytest.raises(MXNetError, match="transpose"):
        np.transpose(np.ones((3, 4)), (0, 2))


def test_float16_mean_accumulates_in_float32(np_mode):
    rs = onp.random.RandomState(6)
    xs = [rs.uniform(-1, 1, (2, 3, 4, 5)).astype(onp.float16) for _ in range(20)]
    for x in xs:
        for ax in (1, 3, None):
            want = x.mean(axis=ax, dtype=onp.float32).astype(onp.float16)
            got = np.mean(np.array(x, dtype="float16"), axis=ax)
            assert got.dtype == onp.float16
            onp.testing.assert_array_equal(got.asnumpy(), want)
    for h in _both(lambda F, t: t.mean(axis=1), np.array(xs[0], dtype="float16")):
        onp.testing.assert_array_equal(h, xs[0].mean(axis=1, dtype=onp.float32)
                                       .astype(onp.float16))
