"""mx.np's remaining MXNet 1.9 functions (numpy_api/functions_more.py) against numpy in float64:
values, dtypes and shapes as MXNet gives them, gradients against finite differences for the
differentiable ones, a hybridized set_np block against eager, and errors on bad input."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, np, npx
from tracegrad.gluon import nn
from compiled_checks import grads_ok, jit_grads_match

R = onp.random.default_rng(3)


def close(a, ref, rtol=1e-6, atol=1e-8):
    assert isinstance(a, np.ndarray), type(a)
    ref = onp.asarray(ref)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    onp.testing.assert_allclose(a.asnumpy(), ref, rtol=rtol, atol=atol)


def f64(x):
    return np.array(x, dtype="float64")


def i32(x):
    return np.array(onp.asarray(x, dtype=onp.int32))


def rand(*shape):
    return R.standard_normal(shape)


def test_every_function_is_in_mx_np_and_its_all():
    names = ("bitwise_not invert delete arctan2 cbrt fabs degrees radians rad2deg deg2rad "
             "histogram append logspace hsplit vsplit dsplit row_stack column_stack dstack "
             "average insert indices copysign unravel_index diag_indices_from hanning "
             "hamming blackman hypot bitwise_and bitwise_xor bitwise_or lcm tril ldexp rot90 "
             "einsum quantile percentile shares_memory may_share_memory diff ediff1d resize "
             "nan_to_num isposinf isneginf polyval bincount pad").split()
    missing = [n for n in names if not callable(getattr(np, n, None)) or n not in np.__all__]
    assert missing == []
    ns = {}
    exec("from tracegrad.numpy_api import *", ns)       # (what `from mxnet.numpy import *` gives)
    assert all(ns[n] is getattr(np, n) for n in names)


# ---------------------------------------------------------------------- element-wise math
@pytest.mark.parametrize("name", ["cbrt", "fabs", "degrees", "radians", "rad2deg", "deg2rad"])
def test_float_unary_functions(name):
    x = rand(3, 4) * 3
    close(getattr(np, name)(f64(x)), getattr(onp, name)(x), rtol=1e-12)
    out = getattr(np, name)(i32([[-8, 1], [27, 0]]))
    assert out.dtype == onp.float32        # float functions of int input: float32
    close(out, getattr(onp, name)(onp.array([[-8, 1], [27, 0]], dtype=onp.float32)), rtol=1e-6)
    assert getattr(np, name)(np.array([1.0, 2.0])).dtype == onp.float32


@pytest.mark.parametrize("name", ["arctan2", "hypot", "copysign"])
def test_float_binary_functions_broadcast_and_promote(name):
    x, y = rand(3, 1, 4), rand(2, 1)
    close(getattr(np, name)(f64(x), f64(y)), getattr(onp, name)(x, y), rtol=1e-12)
    close(getattr(np, name)(f64(x), -1.5), getattr(onp, name)(x, -1.5), rtol=1e-12)
    close(getattr(np, name)(2.0, f64(y)), getattr(onp, name)(2.0, y), rtol=1e-12)
    ints = getattr(np, name)(i32([3, -4]), i32([4, 3]))
    assert ints.dtype == onp.float32
    close(ints, getattr(onp, name)([3.0, -4.0], [4.0, 3.0]), rtol=1e-6)
    assert getattr(np, name)(np.array([1.0]), f64([2.0])).dtype == onp.float64
    with pytest.raises(mx.MXNetError, match=rf"{name}: .*broadcast.*\(2, 3\) \(4,\)"):
        getattr(np, name)(np.ones((2, 3)), np.ones((4,)))


def test_arctan2_copysign_special_values():
    inf = onp.inf
    y = onp.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, inf, -inf, inf, 3.0])
    x = onp.array([0.0, 0.0, -0.0, -0.0, inf, -inf, inf, -inf, 2.0, -0.0])
    got = np.arctan2(f64(y), f64(x)).asnumpy()
    onp.testing.assert_array_equal(got, onp.arctan2(y, x))
    onp.testing.assert_array_equal(onp.signbit(got), onp.signbit(onp.arctan2(y, x)))
    c = np.copysign(f64([1.0, 2.0, -3.0, 0.0]), f64([-0.0, 1.0, 0.0, -2.0])).asnumpy()
    onp.testing.assert_array_equal(c, [-1.0, 2.0, 3.0, -0.0])
    assert onp.signbit(c[3])
    close(np.hypot(f64([1e300, 3.0, inf]), f64([1e300, 4.0, onp.nan])),
          onp.hypot([1e300, 3.0, inf], [1e300, 4.0, onp.nan]), rtol=1e-12)


def test_ldexp():
    x, e = rand(3, 4), R.integers(-4, 5, (3, 4))
    close(np.ldexp(f64(x), np.array(e)), onp.ldexp(x, e), rtol=1e-15)
    close(np.ldexp(f64(x), 3), onp.ldexp(x, 3), rtol=1e-15)
    close(np.ldexp(f64(x), f64(onp.full((3, 4), 0.5))), x * 2 ** 0.5, rtol=1e-12)  # (MXNet)
    assert np.ldexp(np.array([1.5]), np.array(onp.array([2]))).dtype == onp.float32
    assert np.ldexp(i32([3]), i32([2])).item() == 12.0


def test_nan_to_num_isposinf_isneginf():
    v = onp.array([1.0, onp.nan, onp.inf, -onp.inf, -2.5])
    close(np.nan_to_num(f64(v)), onp.nan_to_num(v), rtol=0)
    f = np.nan_to_num(np.array(v.astype(onp.float32)))
    assert f.dtype == onp.float32
    close(f, onp.nan_to_num(v.astype(onp.float32)), rtol=0)
    close(np.nan_to_num(f64(v), nan=7.0, posinf=8.0, neginf=-9.0),
          onp.nan_to_num(v, nan=7.0, posinf=8.0, neginf=-9.0), rtol=0)
    a = f64(v)
    assert np.nan_to_num(a, copy=False, nan=-1.0) is a
    close(a, onp.nan_to_num(v, nan=-1.0), rtol=0)
    ints = i32([1, 2])
    assert np.nan_to_num(ints).dtype == onp.int32 and np.nan_to_num(ints) is not ints
    assert np.isposinf(f64(v)).tolist() == onp.isposinf(v).tolist()
    assert np.isneginf(f64(v)).tolist() == onp.isneginf(v).tolist()
    assert np.isposinf(f64(v)).dtype == onp.bool_
    assert np.isneginf(i32([1, 2])).tolist() == [False, False]
    x = f64(v)
    x.attach_grad()
    with autograd.record():
        y = (np.nan_to_num(x) * f64([1, 2, 0.5, 0.25, 5])).sum()
    y.backward()
    close(x.grad, [1, 0, 0, 0, 5])     # replaced values pass no gradient


# ---------------------------------------------------------------------- bit operations
def test_bitwise_and_lcm_against_numpy():
    x, y = R.integers(-50, 50, (3, 4)), R.integers(-50, 50, (4,))
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "lcm"):
        got = getattr(np, name)(i32(x), i32(y))
        assert got.dtype == onp.int32
        assert got.tolist() == getattr(onp, name)(x.astype(onp.int32), y.astype(onp.int32)).tolist()
        assert getattr(np, name)(i32(x), 6).tolist() == getattr(onp, name)(x, 6).tolist()
        assert getattr(np, name)(np.array(x), i32(y)).dtype == onp.int64
    b = np.array(onp.array([True, False, True]))
    c = np.array(onp.array([True, True, False]))
    assert np.bitwise_and(b, c).dtype == onp.bool_
    assert np.bitwise_xor(b, c).tolist() == [False, True, True]
    assert np.bitwise_or(b, c).tolist() == [True, True, True]
    assert np.invert(i32([13, -1, 0])).tolist() == [-14, 0, -1]
    assert np.bitwise_not(np.array(onp.array([13], dtype=onp.uint8))).tolist() == [242]
    assert np.bitwise_not(np.array(onp.array([13], dtype=onp.uint8))).dtype == onp.uint8
    assert np.invert(b).tolist() == [False, True, False] and np.invert(b).dtype == onp.bool_


def test_bit_operations_refuse_floats():
    for call in (lambda: np.bitwise_and(np.ones(2), 1), lambda: np.bitwise_or(i32([1]), 1.5),
                 lambda: np.bitwise_xor(np.ones(2), i32([1, 2])), lambda: np.invert(np.ones(2)),
                 lambda: np.bitwise_not(f64([1.0])), lambda: np.lcm(np.ones(2), 2)):
        with pytest.raises(TypeError, match="only integer"):
            call()
    with pytest.raises(TypeError, match="lcm: only integer operands"):
        np.lcm(np.array(onp.array([True])), np.array(onp.array([False])))
    with pytest.raises(mx.MXNetError, match=r"bitwise_and: .*broadcast"):
        np.bitwise_and(i32([1, 2]), i32([1, 2, 3]))


def test_bit_operations_under_jit_read_each_input():
    f = mx.jit(lambda a: np.bitwise_xor(a, 6) + np.bincount(a, minlength=8)[:3])
    for v in ([1, 2, 7], [4, 0, 0]):
        got = f(np.array(onp.array(v, dtype=onp.int64)))
        assert got.tolist() == (onp.bitwise_xor(v, 6) + onp.bincount(v, minlength=8)[:3]).tolist()


# ---------------------------------------------------------------------- creation
def test_logspace_indices_windows():
    close(np.logspace(0, 3, 7), onp.logspace(0, 3, 7), rtol=1e-6)
    assert np.logspace(0, 3, 7).dtype == onp.float32
    close(np.logspace(1, 2, 5, endpoint=False, base=2.0, dtype="float64"),
          onp.logspace(1, 2, 5, endpoint=False, base=2.0), rtol=1e-15)
    g = np.indices((2, 3, 4))
    assert g.dtype == onp.int32 and g.shape == (3, 2, 3, 4)
    assert (g.asnumpy() == onp.indices((2, 3, 4))).all()
    assert np.indices([3], dtype="int64").dtype == onp.int64
    for name in ("hanning", "hamming", "blackman"):
        for m in (0, 1, 2, 7, 12):
            w = getattr(np, name)(m)
            assert w.dtype == onp.float32 and w.shape == (m,)
            close(w, getattr(onp, name)(m), rtol=1e-6, atol=1e-7)
        assert getattr(np, name)(5, dtype="float64").dtype == onp.float64
        close(getattr(np, name)(9, dtype="float64"), getattr(onp, name)(9), rtol=1e-15)
    with pytest.raises(TypeError, match="logspace: start and stop must be numbers"):
        np.logspace(np.ones(2), 3)
    with pytest.raises(mx.MXNetError, match="logspace: only axis=0"):
        np.logspace(0, 1, axis=1)
    with pytest.raises(TypeError, match="indices: dimensions must be a tuple"):
        np.indices(3)
    with pytest.raises(TypeError, match="hanning: M must be a number"):
        np.hanning("5")


# ---------------------------------------------------------------------- split and stack
def test_splits():
    x = rand(4, 6, 2)
    a = f64(x)
    for fn, args in ((np.hsplit, (3,)), (np.hsplit, ([1, 4],)), (np.vsplit, (2,)),
                     (np.vsplit, ([3],)), (np.dsplit, (2,)), (np.dsplit, ([1],))):
        got, ref = fn(a, *args), getattr(onp, fn.__name__)(x, *args)
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            close(g, r, rtol=0)
    got = np.hsplit(f64(x[0, :, 0]), 3)
    assert [g.shape for g in got] == [(2,), (2,), (2,)]
    with pytest.raises(mx.MXNetError, match="vsplit: only works on arrays of 2 or more"):
        np.vsplit(np.ones(4), 2)
    with pytest.raises(mx.MXNetError, match="dsplit: only works on arrays of 3 or more"):
        np.dsplit(np.ones((2, 4)), 2)
    with pytest.raises(mx.MXNetError, match="hsplit: only works on arrays of 1 or more"):
        np.hsplit(np.array(1.0), 1)
    with pytest.raises(mx.MXNetError, match="equal division"):
        np.hsplit(a, 4)


def test_stacks():
    v, w, m = rand(3), rand(3), rand(3, 2)
    close(np.column_stack([f64(v), f64(w), f64(m)]), onp.column_stack([v, w, m]), rtol=0)
    close(np.column_stack((f64(v),)), onp.column_stack((v,)), rtol=0)
    close(np.row_stack([f64(v), f64(m.T)]), onp.vstack([v, m.T]), rtol=0)
    for arrs in ([v, w], [m, m], [rand(2, 3, 2), rand(2, 3, 1)], [onp.array(1.0), onp.array(2.0)]):
        close(np.dstack([f64(t) for t in arrs]), onp.dstack(arrs), rtol=0)
    assert np.column_stack([i32([1, 2]), np.array([0.5, 1.0])]).dtype == onp.float32
    with pytest.raises(TypeError, match="column_stack: expected a sequence"):
        np.column_stack(np.ones(3))
    with pytest.raises(mx.MXNetError, match="concatenate"):
        np.column_stack([np.ones(3), np.ones(4)])


# ---------------------------------------------------------------------- insert / delete
@pytest.mark.parametrize("obj,values,axis", [
    (1, 5.0, None), (1, 5.0, 1), (-1, 7.0, 0), (4, [1.0, 2.0, 3.0], 1),
    ([1], [[1.0], [2.0], [3.0]], 1), (2, [1.0, 2.0, 3.0, 4.0], 0), ([1, 3, 1], [7.0, 8.0, 9.0], 1),
    ([0, 2], 0.5, 0), (slice(0, 4, 2), -1.0, 1), ([2, 2], [[1.0, 2.0]], 1), ([], 3.0, 1),
    (onp.array([True, False, True, False]), 9.0, 1), (0, [[1.0, 2.0, 3.0, 4.0]], 0),
])
def test_insert_matches_numpy(obj, values, axis):
    x = rand(3, 4)
    got = np.insert(f64(x), obj, values, axis=axis)
    close(got, onp.insert(x, obj, values, axis=axis), rtol=0)
    assert got.dtype == onp.float64


def test_insert_append_delete_dtypes_and_array_arguments():
    x = onp.arange(12).reshape(3, 4).astype(onp.int32)
    got = np.insert(i32(x), np.array(onp.array([1, 3])), np.array([7.9, 8.1]), axis=1)
    assert got.dtype == onp.int32            # values are cast to arr's dtype
    assert got.tolist() == onp.insert(x, [1, 3], [7, 8], axis=1).tolist()
    close(np.append(f64(x), f64(x[:1]), axis=0), onp.append(x, x[:1], axis=0), rtol=0)
    close(np.append(f64(x), [1.0, 2.0]), onp.append(x, [1.0, 2.0]), rtol=0)
    for obj, axis in ((1, 0), (-1, 1), (slice(None, None, 2), 1), ([0, 2, 2], 1),
                      (onp.array([True, False, False]), 0), ([1, 3, 5], None)):
        close(np.delete(f64(x), obj, axis), onp.delete(x, obj, axis), rtol=0)
    d = np.delete(i32(x), np.array([1, 3, 5]), None)   # MXNet's example: float32 indices
    assert d.dtype == onp.int32 and d.tolist() == onp.delete(x, [1, 3, 5]).tolist()


def test_insert_delete_errors():
    a = np.ones((2, 3))
    with pytest.raises(IndexError, match="delete: index 5 is out of bounds for axis 1"):
        np.delete(a, 5, 1)
    with pytest.raises(IndexError, match="insert: index -4 is out of bounds for axis 1"):
        np.insert(a, -4, 1.0, axis=1)
    with pytest.raises(IndexError, match="insert: index 9 is out of bounds"):
        np.insert(a, [0, 9], 1.0, axis=1)
    with pytest.raises(TypeError, match="delete: indices must be integers"):
        np.delete(a, np.array([0.5]), 1)
    with pytest.raises(TypeError, match="delete: arr must be an mx.np.ndarray"):
        np.delete([1.0, 2.0], 0)
    with pytest.raises(mx.MXNetError, match="insert: could not broadcast values of shape"):
        np.insert(a, [0, 1], np.ones((3, 3)), axis=1)
    with pytest.raises(mx.MXNetError, match="insert: index array argument obj must be one"):
        np.insert(a, [[0, 1]], 1.0, axis=1)
    with pytest.raises(mx.MXNetError, match="axis 2 is out of bounds"):
        np.delete(a, 0, 2)


# ---------------------------------------------------------------------- resize, pad
def test_resize():
    x = rand(2, 3)
    for shape in ((3, 4), (2, 2), 7, (1,), (2, 3)):
        close(np.resize(f64(x), shape), onp.resize(x, shape), rtol=0)
    assert np.resize(i32([1, 2]), (3,)).tolist() == [1, 2, 1]
    assert np.resize(np.zeros((0,)), (2, 2)).asnumpy().tolist() == [[0, 0], [0, 0]]
    with pytest.raises(mx.MXNetError, match="resize: negative dimensions"):
        np.resize(np.ones(2), (-1, 2))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "maximum",
                                  "minimum"])
@pytest.mark.parametrize("width", [((1, 2), (3, 0)), 2, (1, 3), ((0, 0), (5, 6))])
def test_pad_matches_numpy(mode, width):
    x = rand(3, 4)
    close(np.pad(f64(x), width, mode=mode), onp.pad(x, width, mode=mode), rtol=0)


def test_pad_constant_values_dtypes_and_errors():
    x = rand(2, 3)
    close(np.pad(f64(x), ((1, 1), (2, 0)), constant_values=-1.5),
          onp.pad(x, ((1, 1), (2, 0)), constant_values=-1.5), rtol=0)
    ints = np.pad(i32([[1, 2]]), 1, mode="maximum")
    assert ints.dtype == onp.int32 and ints.tolist() == onp.pad([[1, 2]], 1, "maximum").tolist()
    close(np.pad(f64(x), ((0, 0), (0, 0))), x, rtol=0)
    close(np.pad(f64(x), 1, mode="reflect", reflect_type="even"),
          onp.pad(x, 1, mode="reflect"), rtol=0)
    for mode in ("wrap", "linear_ramp", "mean", "median", "empty", "bogus"):
        with pytest.raises(mx.MXNetError, match=f"pad: mode '{mode}' is not supported"):
            np.pad(f64(x), 1, mode=mode)
    with pytest.raises(TypeError, match="pad: pad_width must be of integral type"):
        np.pad(f64(x), 1.5)
    with pytest.raises(mx.MXNetError, match="pad: pad_width must be non-negative"):
        np.pad(f64(x), -1)
    with pytest.raises(mx.MXNetError, match=r"pad: pad_width .* does not give"):
        np.pad(f64(x), ((1, 2), (3, 4), (5, 6)))
    with pytest.raises(mx.MXNetError, match="keyword 'constant_values' is not allowed"):
        np.pad(f64(x), 1, mode="edge", constant_values=3)
    with pytest.raises(mx.MXNetError, match="reflect_type 'odd' is not supported"):
        np.pad(f64(x), 1, mode="reflect", reflect_type="odd")
    with pytest.raises(mx.MXNetError, match="stat_length is not supported"):
        np.pad(f64(x), 1, mode="maximum", stat_length=1)
    with pytest.raises(TypeError, match="constant_values must be a scalar"):
        np.pad(f64(x), 1, constant_values=(1, 2))


# ---------------------------------------------------------------------- tril, rot90
def test_tril():
    for shape in ((4, 4), (3, 5), (2, 3, 4), (4,)):
        x = rand(*shape)
        for k in (-2, -1, 0, 1, 3):
            close(np.tril(f64(x), k), onp.tril(x, k), rtol=0)
    t = np.tril(i32([[1, 2], [3, 4]]))
    assert t.dtype == onp.int32 and t.tolist() == [[1, 0], [3, 4]]
    nan = np.tril(f64([[1.0, onp.nan], [onp.inf, 2.0]])).asnumpy()
    assert nan.tolist() == [[1.0, 0.0], [onp.inf, 2.0]]     # zeroed, not multiplied
    with pytest.raises(mx.MXNetError, match="tril: input must be at least 1-d"):
        np.tril(np.array(1.0))


def test_rot90():
    x = rand(2, 3, 4)
    for k in (-3, -1, 0, 1, 2, 3, 5):
        for axes in ((0, 1), (1, 0), (2, 0), (-1, -2)):
            close(np.rot90(f64(x), k, axes), onp.rot90(x, k, axes), rtol=0)
    with pytest.raises(mx.MXNetError, match="rot90: axes must be different"):
        np.rot90(f64(x), 1, (1, 1))
    with pytest.raises(mx.MXNetError, match="rot90: len\\(axes\\) must be 2"):
        np.rot90(f64(x), 1, (0, 1, 2))
    with pytest.raises(mx.MXNetError, match="rot90: input must be at least 2-d"):
        np.rot90(np.ones(3))
    with pytest.raises(mx.MXNetError, match="axis 3 is out of bounds"):
        np.rot90(f64(x), 1, (0, 3))


# ---------------------------------------------------------------------- differences
def test_diff_and_ediff1d():
    x = rand(3, 5)
    for n in (0, 1, 2, 4, 6):
        for axis in (0, 1, -1):
            close(np.diff(f64(x), n, axis), onp.diff(x, n, axis), rtol=0)
    close(np.diff(f64(x), prepend=0.5, append=f64(x[:, :2])),
          onp.diff(x, prepend=0.5, append=x[:, :2]), rtol=0)
    ints = onp.array([1, 5, 2, 9], dtype=onp.int32)
    assert np.diff(i32(ints)).dtype == onp.int32
    assert np.diff(i32(ints)).tolist() == onp.diff(ints).tolist()
    b = onp.array([True, False, False, True])
    assert np.diff(np.array(b)).tolist() == onp.diff(b).tolist()
    close(np.ediff1d(f64(x)), onp.ediff1d(x), rtol=0)
    close(np.ediff1d(f64(x), to_end=f64([1.0, 2.0]), to_begin=-3.0),
          onp.ediff1d(x, to_end=[1.0, 2.0], to_begin=-3.0), rtol=0)
    e = np.ediff1d(i32(ints), to_begin=np.array([100.0]))
    assert e.dtype == onp.int32 and e.tolist() == [100, 4, -3, 7]
    with pytest.raises(mx.MXNetError, match="diff: order must be non-negative"):
        np.diff(f64(x), -1)
    with pytest.raises(mx.MXNetError, match="diff: requires input that is at least one"):
        np.diff(np.array(1.0))


# ---------------------------------------------------------------------- statistics
def test_average():
    x, w = rand(3, 4), R.uniform(0.5, 2.0, (3, 4))
    for axis in (None, 0, 1, (0, 1)):
        close(np.average(f64(x), axis), onp.average(x, axis), rtol=1e-12)
        close(np.average(f64(x), axis, f64(w)), onp.average(x, axis, w), rtol=1e-12)
    close(np.average(f64(x), 1, f64(w[0])), onp.average(x, 1, w[0]), rtol=1e-12)
    close(np.average(f64(x), 0, f64(w[:, 0])), onp.average(x, 0, w[:, 0]), rtol=1e-12)
    for args in ((None, None), (1, w), (0, w[:, 1])):
        got = np.average(f64(x), args[0], None if args[1] is None else f64(args[1]),
                         returned=True)
        ref = onp.average(x, args[0], args[1], returned=True)
        close(got[0], ref[0], rtol=1e-12)
        close(got[1], ref[1], rtol=1e-12)
    ints = i32([[1, 2], [3, 5]])
    assert np.average(ints).dtype == onp.float32 and np.average(ints).item() == 2.75
    assert np.average(ints, 0, i32([1, 3])).dtype == onp.float32
    with pytest.raises(TypeError, match="average: axis must be specified"):
        np.average(f64(x), weights=f64(w[0]))
    with pytest.raises(TypeError, match="average: 1-d weights expected"):
        np.average(f64(x), 1, f64(w[:2, :2]))
    with pytest.raises(mx.MXNetError, match="average: length of weights 3 is not compatible"):
        np.average(f64(x), 1, f64(w[:, 0]))
    with pytest.raises(mx.MXNetError, match="average: weights sum to zero"):
        np.average(f64(x), 1, np.zeros(4, dtype="float64"))


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), (0, True),
                                           ((0, 2), False), ((0, 2), True), (-1, True)])
def test_quantile_percentile_match_numpy(interpolation, axis, keepdims):
    x = rand(4, 5, 3)
    for q in (0.5, [0.0, 0.25, 0.8, 1.0], onp.array([[0.1, 0.9], [0.33, 0.5]])):
        got = np.quantile(f64(x), q, axis=axis, interpolation=interpolation, keepdims=keepdims)
        ref = onp.quantile(x, q, axis=axis, method=interpolation, keepdims=keepdims)
        close(got, ref, rtol=1e-12, atol=1e-12)
        got = np.percentile(f64(x), onp.asarray(q) * 100, axis=axis,
                            interpolation=interpolation, keepdims=keepdims)
        ref = onp.percentile(x, onp.asarray(q) * 100, axis=axis, method=interpolation,
                             keepdims=keepdims)
        close(got, ref, rtol=1e-12, atol=1e-12)


def test_quantile_dtypes_array_q_and_errors():
    x = onp.arange(10, dtype=onp.int32)
    q = np.quantile(i32(x), 0.3)
    assert q.dtype == onp.float32 and q.shape == () and q.item() == pytest.approx(2.7)
    assert np.percentile(np.array([1.0, 2.0]), 50).dtype == onp.float32
    assert np.quantile(f64([1.0, 2.0]), 0.5).dtype == onp.float64
    close(np.percentile(f64(x), np.array([10.0, 90.0])), onp.percentile(x, [10, 90]))
    with pytest.raises(mx.MXNetError, match=r"quantile: q must be in the range \[0, 1\]"):
        np.quantile(f64(x), 1.5)
    with pytest.raises(mx.MXNetError, match=r"percentile: q must be in the range \[0, 100\]"):
        np.percentile(f64(x), [-1, 50])
    with pytest.raises(mx.MXNetError, match="percentile: interpolation must be one of"):
        np.percentile(f64(x), 50, interpolation="cubic")
    with pytest.raises(mx.MXNetError, match="quantile: overwrite_input is not supported"):
        np.quantile(f64(x), 0.5, overwrite_input=True)
    with pytest.raises(mx.MXNetError, match="quantile: cannot take a quantile over an empty"):
        np.quantile(np.zeros((0, 3)), 0.5, axis=0)
    with pytest.raises(mx.MXNetError, match="quantile: out= is not supported"):
        np.quantile(f64(x), 0.5, out=np.zeros(()))


def test_polyval():
    p, x = rand(4), rand(3, 2)
    close(np.polyval(f64(p), f64(x)), onp.polyval(p, x), rtol=1e-12)
    close(np.polyval(f64(p), 2.0), onp.polyval(p, 2.0), rtol=1e-12)
    close(np.polyval(f64(p[:1]), f64(x)), onp.polyval(p[:1], x), rtol=0)
    close(np.polyval(np.zeros(0, dtype="float64"), f64(x)), onp.zeros((3, 2)), rtol=0)
    ip = np.polyval(i32([1, -2, 3]), i32([[0, 1], [2, 5]]))
    assert ip.dtype == onp.int32
    assert ip.tolist() == onp.polyval([1, -2, 3], [[0, 1], [2, 5]]).tolist()
    with pytest.raises(mx.MXNetError, match="polyval: p must be 1-d"):
        np.polyval(np.ones((2, 2)), np.ones(3))


# ---------------------------------------------------------------------- einsum
EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("ij,jh", [(3, 4), (4, 5)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]), ("ii", [(4, 4)]), ("ii->i", [(4, 4)]), ("ij->", [(3, 4)]),
    ("ji", [(3, 4)]), ("ij", [(3, 4)]), ("i,i", [(5,), (5,)]), ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ii->...i", [(2, 3, 3)]), ("i...i", [(3, 2, 3)]), ("ij...,jk...->ik...",
                                                       [(3, 4, 2), (4, 5, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("iij->j", [(3, 3, 2)]), ("iii->i", [(3, 3, 3)]),
    ("ab,ab,ab->", [(2, 3), (2, 3), (2, 3)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    (",i->i", [(), (3,)]), ("i,i->i", [(1,), (3,)]), ("ij,j->i", [(3, 1), (4,)]),
    ("aB", [(2, 3)]), ("Ba,aB", [(2, 3), (3, 2)]), ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 3)]),
    ("...,...", [(2, 3), (3,)]), ("i,i->", [(0,), (0,)]), ("ij,jk->ik", [(2, 0), (0, 3)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUMS)
def test_einsum_matches_numpy(subscripts, shapes):
    ops = [rand(*s) for s in shapes]
    got = np.einsum(subscripts, *[f64(o) for o in ops])
    close(got, onp.einsum(subscripts, *ops), rtol=1e-12, atol=1e-12)
    assert got.dtype == onp.float64


def test_einsum_dtypes_options_and_copies():
    a = onp.arange(6).reshape(2, 3).astype(onp.int32)
    got = np.einsum("ij,kj->ik", i32(a), i32(a))
    assert got.dtype == onp.int32 and got.tolist() == onp.einsum("ij,kj->ik", a, a).tolist()
    assert np.einsum("ij,j", i32(a), np.array([1.0, 2.0, 3.0])).dtype == onp.float32
    x = f64(rand(3, 3))
    same = np.einsum("ij", x)
    assert same is not x and not np.shares_memory(same, x)
    close(np.einsum("ij,jk", x, x, optimize=True), x.asnumpy() @ x.asnumpy(), rtol=1e-12)
    close(np.einsum("ij,jk", x, x, optimize="greedy"), x.asnumpy() @ x.asnumpy(), rtol=1e-12)


@pytest.mark.parametrize("args,message", [
    (("ij,jk", (2, 3), (4, 5)), "subscript 'j' has sizes 3 and 4"),
    (("ij,jk", (2, 3)), "name 2 operands, 1 given"),
    (("ij", (2,)), r"subscripts 'ij' do not match an operand of shape \(2,\)"),
    (("i.j", (2,)), "invalid ellipsis"),
    (("i1", (2, 2)), "invalid subscript '1'"),
    (("ij->ii", (2, 2)), "output subscript 'i' appears more than once"),
    (("ij->k", (2, 2)), "output subscript 'k' .* does not appear"),
    (("...i->i", (2, 3)), r"need '\.\.\.' for the operands' broadcast axes"),
    (("ij->i->j", (2, 3)), "more than one '->'"),
    (("ii", (2, 3)), r"repeated subscript 'i' don't match \(\[2, 3\]\)"),
])
def test_einsum_errors(args, message):
    with pytest.raises(mx.MXNetError, match=f"einsum: .*{message}"):
        np.einsum(args[0], *[np.ones(s) for s in args[1:]])


def test_einsum_argument_errors():
    with pytest.raises(TypeError, match="einsum: the first argument must be the subscripts"):
        np.einsum(np.ones(2), [0], np.ones(2), [0])
    with pytest.raises(TypeError, match="unexpected keyword argument 'dtype'"):
        np.einsum("i", np.ones(2), dtype="float64")
    with pytest.raises(mx.MXNetError, match="einsum: out= is not supported"):
        np.einsum("i", np.ones(2), out=np.ones(2))


# ---------------------------------------------------------------------- counting, indices
def test_histogram():
    x = rand(50)
    for bins, rng in ((5, (-1.0, 1.0)), (7, None), (3, (0.0, 0.0))):
        h, e = np.histogram(f64(x), bins=bins, range=rng)
        rh, re = onp.histogram(x, bins=bins, range=rng)
        assert h.dtype == onp.int64 and h.tolist() == rh.tolist()
        close(e, re, rtol=1e-12)
        assert e.dtype == onp.float64
    h, e = np.histogram(np.array(x.astype(onp.float32)), bins=np.array([-2.0, 0.0, 0.5, 3.0]))
    assert h.tolist() == onp.histogram(x.astype(onp.float32), [-2.0, 0.0, 0.5, 3.0])[0].tolist()
    assert e.dtype == onp.float32
    h, e = np.histogram(i32([1, 2, 2, 3]), bins=[0, 2, 4])
    assert h.tolist() == [1, 3] and e.dtype == onp.float32
    with pytest.raises(mx.MXNetError, match="histogram: weights are not supported"):
        np.histogram(f64(x), weights=f64(x))
    with pytest.raises(mx.MXNetError, match="histogram: normed / density"):
        np.histogram(f64(x), density=True)
    with pytest.raises(mx.MXNetError, match="histogram: string bins"):
        np.histogram(f64(x), bins="auto")
    with pytest.raises(mx.MXNetError, match="histogram: bins must be an int or a 1-d mono"):
        np.histogram(f64(x), bins=[3.0, 1.0])
    with pytest.raises(mx.MXNetError, match="histogram: max must be larger than min"):
        np.histogram(f64(x), bins=3, range=(2, 1))


def test_bincount():
    x = R.integers(0, 6, 20)
    got = np.bincount(np.array(x))
    assert got.dtype == onp.int64 and got.tolist() == onp.bincount(x).tolist()
    got = np.bincount(i32(x), minlength=10)
    assert got.dtype == onp.int32 and got.tolist() == onp.bincount(x, minlength=10).tolist()
    w = rand(20)
    close(np.bincount(np.array(x), weights=f64(w)), onp.bincount(x, w), rtol=1e-12)
    assert np.bincount(np.array(x), np.array(w.astype(onp.float32))).dtype == onp.float32
    assert np.bincount(np.array(onp.zeros(0, dtype=onp.int64))).tolist() == []
    assert np.bincount(np.array(onp.array([True, False, True]))).tolist() == [1, 2]
    wv = f64(w)
    wv.attach_grad()
    with autograd.record():
        y = (np.bincount(np.array(x), weights=wv) * f64(onp.arange(6.0))).sum()
    y.backward()
    close(wv.grad, x.astype(onp.float64))
    with pytest.raises(TypeError, match="bincount: only integer and bool arrays"):
        np.bincount(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="bincount: x must be an mx.np.ndarray"):
        np.bincount([1, 2])
    with pytest.raises(mx.MXNetError, match="bincount: x must not contain negative"):
        np.bincount(i32([1, -1]))
    with pytest.raises(mx.MXNetError, match="bincount: x must be 1-d"):
        np.bincount(i32([[1]]))
    with pytest.raises(mx.MXNetError, match="bincount: minlength must be non-negative"):
        np.bincount(i32([1]), minlength=-1)
    with pytest.raises(mx.MXNetError, match="bincount: weights of shape"):
        np.bincount(i32([1, 2]), weights=np.ones(3))


def test_unravel_index_and_diag_indices_from():
    flat = onp.array([22, 41, 37])
    got = np.unravel_index(np.array(flat), (7, 6))
    assert isinstance(got, tuple) and len(got) == 2
    for g, r in zip(got, onp.unravel_index(flat, (7, 6))):
        assert g.dtype == onp.int64 and g.tolist() == r.tolist()
    got = np.unravel_index(i32([[1, 5], [11, 0]]), (3, 4), order="F")
    for g, r in zip(got, onp.unravel_index([[1, 5], [11, 0]], (3, 4), order="F")):
        assert g.dtype == onp.int32 and g.tolist() == r.tolist()
    assert tuple(int(v) for v in np.unravel_index(1621, (6, 7, 8, 9))) == (3, 1, 4, 1)
    f = np.unravel_index(np.array([22.0, 41.0]), (7, 6))     # (mx.np's default float32 lists)
    assert f[0].dtype == onp.float32 and f[0].tolist() == [3, 6] and f[1].tolist() == [4, 5]
    with pytest.raises(mx.MXNetError, match="unravel_index: an index is out of bounds"):
        np.unravel_index(i32([12]), (3, 4))
    with pytest.raises(mx.MXNetError, match="unravel_index: index 12 is out of bounds"):
        np.unravel_index(12, (3, 4))
    with pytest.raises(TypeError, match="unravel_index: indices must be integers"):
        np.unravel_index(np.array([1.5]), (3, 4))
    idx = np.diag_indices_from(np.ones((3, 3, 3)))
    assert len(idx) == 3 and all(i.dtype == onp.int64 and i.tolist() == [0, 1, 2] for i in idx)
    a = np.arange(16).reshape(4, 4)
    assert a[np.diag_indices_from(a)].tolist() == [0.0, 5.0, 10.0, 15.0]
    with pytest.raises(mx.MXNetError, match="diag_indices_from: all dimensions of input"):
        np.diag_indices_from(np.ones((2, 3)))
    with pytest.raises(mx.MXNetError, match="diag_indices_from: input array should be at"):
        np.diag_indices_from(np.ones(3))


def test_shares_memory():
    a = np.ones((2, 3))
    assert np.shares_memory(a, a) is True and np.may_share_memory(a, a) is True
    assert np.shares_memory(a, a.as_nd_ndarray()) is True
    assert np.shares_memory(a, a.copy()) is False and np.may_share_memory(a, a + 1) is False
    with pytest.raises(TypeError, match="shares_memory: expected mx.np.ndarray operands"):
        np.shares_memory(onp.ones(2), a)
    with pytest.raises(TypeError, match="may_share_memory: expected mx.np.ndarray"):
        np.may_share_memory(a, [1.0])


def test_out_is_written_rather_than_ignored():
    for call, want in ((lambda o: np.arctan2(np.ones(2), np.ones(2), out=o),
                        onp.arctan2(1.0, 1.0)),
                       (lambda o: np.cbrt(np.full((2,), 8.0), out=o), 2.0),
                       (lambda o: np.average(np.ones(2), out=o), 1.0)):
        o = np.zeros(2) if want != 1.0 else np.zeros(())
        assert call(o) is o
        close(o, onp.broadcast_to(want, o.shape), rtol=1e-6)
    o = np.zeros(2, dtype="int32")
    assert np.bitwise_and(i32([1, 3]), 1, out=o) is o
    close(o, [1, 1])
    with pytest.raises((mx.MXNetError, ValueError, TypeError), match="out"):
        np.cbrt(np.ones(2), out=np.zeros(3))


def test_ufunc_keywords_at_their_defaults_pass_others_raise():
    x = np.array([1.0, 2.0])
    close(np.cbrt(x, where=True, casting="same_kind", order="K", dtype=None, subok=True),
          onp.cbrt([1.0, 2.0]), rtol=1e-6)
    close(np.hypot(x, x, where=True), onp.hypot([1.0, 2.0], [1.0, 2.0]), rtol=1e-6)
    with pytest.raises(TypeError, match="bogus is an invalid keyword to function 'arctan2'"):
        np.arctan2(x, x, bogus=1)
    with pytest.raises(mx.MXNetError, match="degrees: dtype='float64' is not supported"):
        np.degrees(x, dtype="float64")
    with pytest.raises(mx.MXNetError, match="bitwise_or: where=False is not supported"):
        np.bitwise_or(i32([1]), 2, where=False)
    with pytest.raises(TypeError, match="nan_to_num.* unexpected keyword argument 'where'"):
        np.nan_to_num(x, where=True)


# ---------------------------------------------------------------------- gradients
GRADS = {
    "arctan2": lambda a, b: np.arctan2(a, b),
    "hypot": lambda a, b: np.hypot(a, b[:1]),
    "copysign": lambda a, b: np.copysign(a, b),
    "ldexp": lambda a, b: np.ldexp(a, b),
    "cbrt": lambda a, b: np.cbrt(b + 4.0),
    "fabs": lambda a, b: np.fabs(a) * b,
    "degrees": lambda a, b: np.degrees(a) + np.rad2deg(b),
    "radians": lambda a, b: np.radians(a) * np.deg2rad(b),
    "tril": lambda a, b: np.tril(a * b, -1) + np.tril(b[0])[1:],
    "rot90": lambda a, b: np.rot90(a, 1) * np.rot90(b, -1),
    "diff": lambda a, b: np.diff(a * b, n=2, axis=0, append=b[:1]),
    "ediff1d": lambda a, b: np.ediff1d(a, to_begin=b[0], to_end=2.0),
    "average": lambda a, b: np.average(a, axis=1, weights=b * b + 1.0),
    "average_1d": lambda a, b: np.average(a, axis=0, weights=b[:, 0] ** 2 + 1.0),
    "stacks": lambda a, b: np.column_stack([a[0], b[1]]) * np.row_stack([a[1], b[0]]).T,
    "dstack": lambda a, b: np.dstack([a, b * 2.0]),
    "splits": lambda a, b: np.hsplit(a * b, 2)[1] + np.vsplit(a, [1])[1].sum(),
    "dsplit": lambda a, b: np.dsplit(a.reshape(3, 2, 2) * 3.0, 2)[0],
    "insert": lambda a, b: np.insert(a, [0, 2, 2], b[:, :3], axis=1),
    "insert_scalar_obj": lambda a, b: np.insert(a, 1, b[0], axis=0),
    "append": lambda a, b: np.append(a, b, axis=1) ** 2,
    "delete": lambda a, b: np.delete(a * b, [0, 3], axis=1),
    "pad_constant": lambda a, b: np.pad(a * b, ((1, 0), (2, 3)), constant_values=2.0),
    "pad_edge_reflect": lambda a, b: np.pad(a, 2, mode="edge") + np.pad(b, 2, mode="reflect"),
    "pad_max_min": lambda a, b: np.pad(a, 1, mode="maximum") * np.pad(b, 1, mode="minimum"),
    "resize": lambda a, b: np.resize(a * b, (5, 3)),
    "einsum": lambda a, b: np.einsum("ij,kj->ik", a, b),
    "einsum_diag": lambda a, b: np.einsum("ii,ij->j", a[:, :3], b),
    "einsum_three": lambda a, b: np.einsum("ij,ij,kj->k", a, b, a),
    "einsum_ellipsis": lambda a, b: np.einsum("...j,...j->...", a, b[0]),
    "polyval": lambda a, b: np.polyval(a[0], b),
    "nan_to_num": lambda a, b: np.nan_to_num(a * b),
    "quantile": lambda a, b: np.quantile(a * b, [0.2, 0.5, 0.9], axis=1),
    "percentile": lambda a, b: np.percentile(a + b, 30, interpolation="midpoint"),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_against_finite_differences(name):
    x = R.standard_normal((3, 4))
    y = R.uniform(0.5, 1.5, (3, 4)) * onp.where(R.random((3, 4)) < 0.5, -1, 1)
    fn = GRADS[name]
    grads_ok(lambda a, b: fn(a.as_np_ndarray(), b.as_np_ndarray()), x, y, order=1, rtol=1e-4)


def test_gradient_values_analytic():
    x, y = rand(3, 4), R.uniform(0.5, 2.0, (3, 4))
    a, b = f64(x), f64(y)
    for v in (a, b):
        v.attach_grad()
    with autograd.record():
        out = (np.arctan2(a, b) + np.hypot(a, b) + np.copysign(a, -b)).sum()
    out.backward()
    r = x * x + y * y
    close(a.grad, y / r + x / onp.sqrt(r) - onp.sign(x), rtol=1e-12)
    close(b.grad, -x / r + y / onp.sqrt(r), rtol=1e-12)   # none from copysign's sign


@pytest.mark.parametrize("name", ["einsum", "pad_max_min", "quantile", "insert", "diff",
                                  "hypot"])
def test_jit_matches_eager_values_and_gradients(name):
    fn = GRADS[name]
    x = R.standard_normal((3, 4)).astype(onp.float32)
    y = R.uniform(0.5, 1.5, (3, 4)).astype(onp.float32)
    jit_grads_match(lambda a, b: fn(a.as_np_ndarray(), b.as_np_ndarray()), x, y, rtol=1e-5,
                    atol=1e-6)


class _NpBlock(nn.HybridBlock):
    """A set_np block written with F.np's new functions."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = nn.Dense(4, in_units=3)

    def hybrid_forward(self, F, x):
        h = self.dense(x)
        pair = F.np.einsum("bi,bj->bij", h, x)
        return (F.np.hypot(F.np.diff(h, axis=1), 1.0).sum(axis=1) + pair.sum(axis=(1, 2))
                + F.np.quantile(h, 0.5, axis=1) + F.np.arctan2(h, 2.0).mean(axis=1))


def test_hybridized_set_np_block_matches_eager():
    npx.set_np()
    try:
        mx.random.seed(1)
        net = _NpBlock()
        net.initialize()
        X = np.array(R.standard_normal((5, 3)).astype(onp.float32))
        results = []
        for hybridize in (False, True, True):
            if hybridize:
                net.hybridize()
            X.attach_grad()
            with autograd.record():
                y = net(X)
            y.backward()
            assert isinstance(y, np.ndarray) and y.shape == (5,)
            results.append((y.asnumpy(), X.grad.asnumpy(),
                            net.dense.weight.grad().asnumpy()))
        h = X.asnumpy() @ net.dense.weight.data().asnumpy().T + net.dense.bias.data().asnumpy()
        ref = (onp.hypot(onp.diff(h, axis=1), 1.0).sum(1) + onp.einsum("bi,bj->b", h, X.asnumpy())
               + onp.quantile(h, 0.5, axis=1) + onp.arctan2(h, 2.0).mean(1))
        onp.testing.assert_allclose(results[0][0], ref, rtol=1e-5, atol=1e-5)
        for eager, compiled in zip(results[0], results[2]):
            onp.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
        assert onp.abs(results[0][1]).sum() > 0
    finally:
        npx.reset_np()
