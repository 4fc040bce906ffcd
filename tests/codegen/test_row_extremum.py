"""max / min over the last axis (codegen/extremum.py: chunks into a vector accumulator) give
numpy's values exactly: every dtype, lengths around the chunk and lane sizes, other reduced
axes, members fused in front, values the step also writes, NaN anywhere (the padding of the
last chunk included), infinities, and a step large enough to be split across threads."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.codegen import extremum
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

LENGTHS = [extremum.MIN_LENGTH, 17, extremum.LANES * 3 + 1, extremum.CHUNK - 1,
           extremum.CHUNK, extremum.CHUNK + 1, 2000]


def reduce_fn(kind, shape, axes, dtype, member=None, keep_member=False):
    b = Builder(name="extremum")
    x = b.param(TensorType(dtype, shape), "x")
    y = getattr(b, member)(x) if member else x
    out = b.emit(kind, y, axes=axes, keepdims=False)
    return NativeFunction(b.ret(out, y) if keep_member else b.ret(out))


def data(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    if dtype in ("f32", "f64"):
        return (rng.normal(size=shape) * 100).astype(np.dtype(dtype.replace("f", "float")))
    np_dtype = {"i32": np.int32, "i64": np.int64}[dtype]
    info = np.iinfo(np_dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=np_dtype, endpoint=True)


@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32", "i64"])
def test_rows_equal_numpy(kind, dtype):
    for n in LENGTHS:
        x = data(dtype, (5, n), n)
        got = reduce_fn(kind, (5, n), (1,), dtype)(x)[0]
        want = getattr(x, kind)(axis=1)
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} {dtype} n={n}")
        assert got.dtype == want.dtype


@pytest.mark.parametrize("kind", ["max", "min"])
def test_extreme_value_at_every_position(kind):
    """The winner in each lane, in the last partial chunk, first and last: all found."""
    n = extremum.CHUNK + 37
    x = np.zeros((n, n), np.float32)
    big = np.float32(-3.0e38 if kind == "min" else 3.0e38)
    x[np.arange(n), np.arange(n)] = big
    got = reduce_fn(kind, (n, n), (1,), "f32")(x)[0]
    np.testing.assert_array_equal(got, np.full(n, big))


@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_nan_anywhere_propagates_and_infinities_win(kind, dtype):
    n = extremum.CHUNK + 5
    x = data(dtype, (n + 2, n), 3)
    for row in range(n):
        x[row, row] = np.nan              # every position, the last chunk's tail included
    x[n, 7] = np.inf
    x[n + 1, n - 1] = -np.inf
    got = reduce_fn(kind, x.shape, (1,), dtype)(x)[0]
    with np.errstate(invalid="ignore"):
        want = getattr(x, kind)(axis=1)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[:n]).all()


def test_other_reduced_axes_and_keepdims_through_nd():
    x = data("f32", (3, 4, 5, 300), 4)
    for axes in [(3,), (1, 3), (0, 2, 3), (0, 1, 2, 3)]:
        f = mx.jit(lambda a, axes=axes: nd.max(a, axis=axes, keepdims=True))
        np.testing.assert_array_equal(f(nd.array(x)).asnumpy(), x.max(axis=axes, keepdims=True))
        g = mx.jit(lambda a, axes=axes: nd.min(a, axis=axes))
        np.testing.assert_array_equal(g(nd.array(x)).asnumpy(), x.min(axis=axes))


def test_fused_member_and_its_value_written():
    x = data("f32", (7, 513), 5) / 50
    got, member = reduce_fn("max", (7, 513), (1,), "f32", member="exp", keep_member=True)(x)
    eager = nd.exp(nd.array(x)).asnumpy()
    np.testing.assert_array_equal(member, eager)
    np.testing.assert_array_equal(got, eager.max(axis=1))


def test_split_across_threads():
    """Over a million elements: the kept axis is shared among threads (fused._split)."""
    x = data("f32", (1120, 2000), 6)
    x[500, 1999] = np.nan
    got = reduce_fn("max", x.shape, (1,), "f32")(x)[0]
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, x.max(axis=1))


def test_log_softmax_gradient_compiled_matches_eager_and_float64():
    x64 = np.random.default_rng(7).normal(size=(6, 300)) * 5
    x = nd.array(x64.astype(np.float32))

    def grads(fn):
        a = x.copy()
        a.attach_grad()
        with autograd.record():
            y = (fn(a) * nd.arange(300).reshape((1, 300))).sum()
        y.backward()
        return y.asnumpy(), a.grad.asnumpy()
    eager = grads(lambda a: nd.log_softmax(a, axis=-1))
    jitted = grads(mx.jit(lambda a: nd.log_softmax(a, axis=-1)))
    np.testing.assert_allclose(jitted[0], eager[0], rtol=1e-6)
    np.testing.assert_allclose(jitted[1], eager[1], rtol=1e-5, atol=1e-6)
    p = np.exp(x64 - x64.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    w = np.arange(300.0)
    want = w - p * w.sum()
    np.testing.assert_allclose(jitted[1], want, rtol=1e-4, atol=1e-4)

