"""Compiled reductions against a float64 reference: within the documented blocked-pairwise bound
(codegen/reduction.py) at sizes up to 2^24, on adversarial data, for every axes layout and
dtype; max/min/int sums exact; special values like numpy."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.codegen import reduction
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

EPS = {"f32": 2.0 ** -24, "f64": 2.0 ** -53}
NP = {"f32": np.float32, "f64": np.float64}


def depth(n):
    """The documented bound on additions along any element's path for n terms."""
    if n <= reduction.SEQUENTIAL_MAX:
        return max(n - 1, 0)
    chunks = -(-n // reduction.CHUNK)
    return (reduction.CHUNK // reduction.LANES - 1) + int(math.log2(reduction.LANES)) \
        + math.ceil(math.log2(chunks)) + 2


def sum_fn(shape, axes, dtype, scale=None):
    b = Builder(name="red")
    x = b.param(TensorType(dtype, shape), "x")
    y = b.mul(x, scale) if scale is not None else x
    return NativeFunction(b.ret(b.sum(y, axes=axes)))


def check_bound(got, x64, axes, dtype):
    want = x64.sum(axis=axes)
    n = int(np.prod([x64.shape[a] for a in axes]))
    bound = depth(n) * EPS[dtype] * np.abs(x64).sum(axis=axes) * 1.01
    err = np.abs(got.astype(np.float64) - want)
    # the final rounding to the result dtype adds half an ulp
    bound = bound + EPS[dtype] * np.abs(want)
    assert np.all(err <= bound), f"error {err.max()} exceeds bound {bound.min()}"
    return err


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("n", [9, 255, 256, 257, 1000, 4097, 1 << 16])
def test_full_sum_within_pairwise_bound(dtype, n):
    rng = np.random.default_rng(n)
    x = (rng.normal(size=n) + 0.5).astype(NP[dtype])
    got = sum_fn((n,), (0,), dtype, 1.0)(x)[0]
    check_bound(got, x.astype(np.float64), (0,), dtype)


def test_two_to_the_24_f32_as_accurate_as_numpy():
    """The issue's case: 2^24 f32 terms (a sequential sum is off by ~1.5%)."""
    n = 1 << 24
    x = np.random.default_rng(1).random(n, dtype=np.float32) * 3.5
    got = sum_fn((n,), (0,), "f32", 1.0)(x)[0]
    x64 = x.astype(np.float64)
    err = check_bound(got, x64, (0,), "f32")
    numpy_err = abs(float(x.sum()) - x64.sum())
    # numpy's own error is itself a few ulps of the result; ours must be of the same order
    assert err <= max(4 * numpy_err, 4 * EPS["f32"] * x64.sum())


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("shape,axes", [((7, 300), (1,)), ((300, 7), (0,)), ((3, 40, 50), (0, 2)),
                                        ((5, 3, 100), (1, 2)), ((2, 700, 3), (1,)),
                                        ((64, 64), (0, 1)), ((4, 5), (1,)), ((3, 9), (1,))])
def test_axes_layouts(dtype, shape, axes):
    x = np.random.default_rng(2).normal(size=shape).astype(NP[dtype])
    got = sum_fn(shape, axes, dtype, 2.0)(x)[0]
    assert got.shape == x.sum(axis=axes).shape
    check_bound(got / 2, x.astype(np.float64), axes, dtype)


def test_transposed_and_broadcast_operands():
    """Reads through views (transpose, broadcast) keep the same pairwise order and bound."""
    b = Builder(name="views")
    x = b.param(TensorType("f32", (300, 40)), "x")
    y = b.param(TensorType("f32", (40,)), "y")
    t = b.transpose(x, perm=(1, 0))
    s = b.sum(b.add(t, b.broadcast_to(b.reshape(y, shape=(40, 1)), shape=(40, 300))), axes=(1,))
    f = NativeFunction(b.ret(s))
    rng = np.random.default_rng(3)
    xv, yv = rng.normal(size=(300, 40)).astype(np.float32), rng.normal(size=40).astype(np.float32)
    got = f(xv, yv)[0]
    ref = xv.T.astype(np.float64) + yv.astype(np.float64)[:, None]
    check_bound(got, ref, (1,), "f32")


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_large_cancelling_terms(dtype):
    """+big, small, -big, small, ...: a sequential f32 sum loses every small term."""
    n = 1 << 16
    x = np.empty(n, dtype=NP[dtype])
    x[0::4], x[1::4], x[2::4], x[3::4] = 1e8, 1.0, -1e8, 1.0
    got = float(sum_fn((n,), (0,), dtype)(x)[0])
    check_bound(np.float64(got), x.astype(np.float64), (0,), dtype)
    np.testing.assert_equal(got, n / 2)   # exact here: partials of equal magnitude cancel


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_many_small_terms_after_a_large_one(dtype):
    n = 1 << 20
    x = np.full(n, 1.0, dtype=NP[dtype])
    x[0] = 1e8
    got = float(sum_fn((n,), (0,), dtype)(x)[0])
    truth = 1e8 + n - 1
    check_bound(np.float64(got), x.astype(np.float64), (0,), dtype)
    assert abs(got - truth) <= 8 * EPS[dtype] * truth   # sequential f32 would give 1e8


def test_special_values_like_numpy():
    cases = {
        "neg_zero": np.full(300, -0.0, np.float32),
        "inf": np.concatenate([np.ones(299, np.float32), [np.inf]]).astype(np.float32),
        "inf_minus_inf": np.concatenate([np.full(150, np.inf), np.full(150, -np.inf)]).astype(
            np.float32),
        "nan": np.concatenate([np.ones(299), [np.nan]]).astype(np.float32),
        "overflow": np.full(300, 3e38, np.float32),
    }
    f = sum_fn((300,), (0,), "f32")
    for label, x in cases.items():
        with np.errstate(all="ignore"):
            got, want = f(x)[0], x.sum()
        np.testing.assert_array_equal(got, want, err_msg=label)
        assert np.signbit(got) == np.signbit(want), label


@pytest.mark.parametrize("op", ["max", "min"])
def test_extrema_and_int_sums_exact(op):
    b = Builder(name="ext")
    x = b.param(TensorType("f32", (70, 300)), "x")
    i = b.param(TensorType("i32", (70, 300)), "i")
    f = NativeFunction(b.ret(b.emit(op, x, axes=(1,)), b.emit(op, x, axes=(0, 1)),
                             b.sum(i, axes=(1,))))
    rng = np.random.default_rng(4)
    xv = rng.normal(size=(70, 300)).astype(np.float32)
    iv = rng.integers(-1000, 1000, size=(70, 300)).astype(np.int32)
    got = f(xv, iv)
    ref = getattr(np, op)
    np.testing.assert_array_equal(got[0], ref(xv, axis=1))
    np.testing.assert_array_equal(got[1], ref(xv))
    np.testing.assert_array_equal(got[2], iv.sum(axis=1, dtype=np.int32))


def test_fused_members_written_and_reduced():
    """An elementwise value used both outside and by the sum is stored once, correctly."""
    b = Builder(name="both")
    x = b.param(TensorType("f32", (5, 1000)), "x")
    t = b.tanh(x)
    f = NativeFunction(b.ret(t, b.sum(t, axes=(1,))))
    xv = np.random.default_rng(5).normal(size=(5, 1000)).astype(np.float32)
    t_got, s_got = f(xv)
    np.testing.assert_allclose(t_got, np.tanh(xv), rtol=1e-6, atol=1e-6)
    check_bound(s_got, t_got.astype(np.float64), (1,), "f32")


def test_workload_loss_within_pairwise_error_of_float64():
    """sum(tanh(x)*sigmoid(x) + 0.5*x*x) under jit at 2^22 f32 elements, and mean."""
    n = 1 << 22
    xv = np.random.default_rng(6).normal(size=n).astype(np.float32) * 2
    f = mx.jit(lambda x: nd.sum(nd.tanh(x) * nd.sigmoid(x) + 0.5 * x * x))
    m = mx.jit(lambda x: nd.mean(x * x))
    x = nd.array(xv)
    x.attach_grad()
    with autograd.record():
        loss = f(x)
    loss.backward()
    x64 = xv.astype(np.float64)
    terms = np.tanh(x64) / (1 + np.exp(-x64)) + 0.5 * x64 * x64
    truth = terms.sum()
    # the elementwise terms themselves carry a few ulps each
    assert abs(loss.asscalar() - truth) <= (depth(n) + 8) * EPS["f32"] * np.abs(terms).sum()
    assert abs(m(x).asscalar() - (x64 * x64).mean()) <= \
        (depth(n) + 4) * EPS["f32"] * (x64 * x64).mean()


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_rows_with_cancelling_terms(dtype):
    """Sums down the rows (last axis kept: whole rows at a time) on adversarial data."""
    n = 1 << 14
    x = np.empty((n, 5), dtype=NP[dtype])
    x[0::4], x[1::4], x[2::4], x[3::4] = 1e8, 1.0, -1e8, 1.0
    x[:, 3] = 1.0
    x[0, 3] = 1e8
    got = sum_fn((n, 5), (0,), dtype)(x)[0]
    check_bound(got, x.astype(np.float64), (0,), dtype)
    assert abs(float(got[3]) - (1e8 + n - 1)) <= 8 * EPS[dtype] * (1e8 + n)


@pytest.mark.parametrize("shape,axes", [((0, 300), (1,)), ((300, 0), (0,)), ((0,), (0,)),
                                        ((9, 0, 4), (0,)), ((1, 1000), (1,)),
                                        ((1000, 1), (0,)), ((12, 1), (0,)),
                                        ((2, 3, 2000), (0, 1)), ((2000, 3, 2), (0, 2))])
def test_empty_unit_and_split_axes(shape, axes):
    x = np.random.default_rng(8).normal(size=shape).astype(np.float32)
    got = sum_fn(shape, axes, "f32", 1.0)(x)[0]
    assert got.shape == x.sum(axis=axes).shape
    check_bound(got, x.astype(np.float64), axes, "f32")


def short_depth(n):
    """The bound for fewer than CHUNK terms: one power-of-two chunk, a halving tree over
    min(LANES, size) lanes (module docstring of codegen/reduction.py)."""
    if n <= reduction.SEQUENTIAL_MAX:
        return max(n - 1, 0)
    size = reduction.chunk_size(n)
    lanes = min(reduction.LANES, size)
    return (size // lanes - 1) + int(math.log2(lanes)) + 2


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("n", [9, 10, 16, 17, 31, 33, 100, 128, 255])
def test_short_rows_within_their_tighter_bound(dtype, n):
    """Rows shorter than a chunk (a softmax over 10 classes) are one power-of-two chunk: their
    error stays within the short tree's depth, never more than the full chunk's."""
    assert reduction.chunk_size(n) >= n and short_depth(n) <= depth(n)
    rng = np.random.default_rng(n)
    x = (rng.normal(size=(37, n)) * 1e4 + 1).astype(NP[dtype])
    x[:, ::3] *= -1
    got = sum_fn((37, n), (1,), dtype, 1.0)(x)[0]
    x64 = x.astype(np.float64)
    err = np.abs(got.astype(np.float64) - x64.sum(axis=1))
    bound = short_depth(n) * EPS[dtype] * np.abs(x64).sum(axis=1) * 1.01 \
        + EPS[dtype] * np.abs(x64.sum(axis=1))
    assert np.all(err <= bound)


def test_short_rows_reduced_over_two_axes_and_special_values():
    """Short chunks pushed through the pairwise counter (two reduced axes), and the IEEE
    special values of a short row: -0.0 sums to +0.0, inf and NaN propagate, as numpy."""
    x = np.random.default_rng(9).normal(size=(6, 40, 10)).astype(np.float32)
    got = sum_fn((6, 40, 10), (1, 2), "f32", 1.0)(x)[0]
    check_bound(got, x.astype(np.float64), (1, 2), "f32")
    rows = np.ones((4, 10), np.float32)
    rows[0] = -0.0
    rows[1, 3] = np.inf
    rows[2, 7] = np.nan
    rows[3, 2], rows[3, 5] = np.inf, -np.inf
    with np.errstate(all="ignore"):
        got, want = sum_fn((4, 10), (1,), "f32")(rows)[0], rows.sum(axis=1)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[0])


# ------------------------------------------------------------------ eager sums agree
def test_eager_sum_splits_where_compiled_sums_do():
    from tracegrad.ir.ops import reduce as eager_reduce
    assert eager_reduce.SEQUENTIAL_MAX == reduction.SEQUENTIAL_MAX


@pytest.mark.parametrize("n", [3, 8, 9, 200, 4097])
def test_eager_f32_sums_match_compiled_along_memory(n):
    # over SEQUENTIAL_MAX terms both accumulate in f64 and round once; up to it both add in
    # f32 one after another (numpy's own loop below 8 terms): the same bits
    rs = np.random.RandomState(n)
    x = (rs.standard_normal((5, n)) * np.exp(rs.uniform(-8, 8, (5, n)))).astype(np.float32)
    eager = nd.sum(nd.array(x), axis=1).asnumpy()
    compiled = mx.jit(lambda a: nd.sum(a, axis=1))(nd.array(x)).asnumpy()
    np.testing.assert_array_equal(eager, compiled)
    if n > reduction.SEQUENTIAL_MAX:
        np.testing.assert_array_equal(eager, x.astype(np.float64).sum(axis=1).astype(np.float32))


def test_batch_norm_gradient_on_constant_input_is_zero_eager_and_hybridized():
    # x - mean cancels exactly; numpy's f32 pairwise mean of the scaled head gradient was
    # one ulp off, and the cancellation made that 3e-5 in every element (MXNet's
    # test_gluon.test_batchnorm compares eager with hybridized at atol 1e-6)
    layer = mx.gluon.nn.BatchNorm(in_channels=10)
    layer.initialize()
    for hybridize in (False, True):
        if hybridize:
            layer.hybridize()
        x = nd.ones((2, 10, 10, 10))
        x.attach_grad()
        with autograd.record():
            out = layer(x)
        out.backward()
        assert not out.asnumpy().any() and not x.grad.asnumpy().any()


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("shape,axes", [((64, 6, 28, 28), (0, 2, 3)), ((3, 50, 7), (0, 2)),
                                        ((9, 5, 255), (0, 2)), ((4, 2, 129), (0, 2)),
                                        ((6, 1, 256), (0, 2)), ((300, 3), (0, 1)),
                                        ((2, 3, 4, 5), (1, 3))])
def test_short_rows_laid_end_to_end_within_the_bound(dtype, shape, axes):
    """Rows shorter than a chunk over several reduced axes fill whole chunks (a row split
    where it meets a chunk's end: reduction._pack_row); the documented bound holds, with
    adversarial magnitudes and signs."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x = (rng.normal(size=shape) * np.exp(rng.uniform(-6, 6, size=shape))).astype(NP[dtype])
    got = sum_fn(shape, axes, dtype, 1.0)(x)[0]
    assert got.shape == x.sum(axis=axes).shape
    check_bound(got, x.astype(np.float64), axes, dtype)


def test_short_rows_laid_end_to_end_keep_values_written_and_special_values():
    """A member value the step also writes is stored once per element, the split rows
    included; -0.0 rows sum to +0.0; inf and NaN land in the right output."""
    b = Builder(name="packed")
    x = b.param(TensorType("f32", (10, 4, 30)), "x")
    t = b.mul(x, 3.0)
    f = NativeFunction(b.ret(t, b.sum(t, axes=(0, 2))))
    xv = np.random.default_rng(11).normal(size=(10, 4, 30)).astype(np.float32)
    xv[:, 0] = -0.0
    xv[7, 2, 29] = np.inf
    xv[8, 3, 0] = np.nan
    t_got, s_got = f(xv)
    np.testing.assert_array_equal(t_got, xv * np.float32(3))
    assert s_got[0] == 0 and not np.signbit(s_got[0])
    assert s_got[2] == np.inf and np.isnan(s_got[3])
    check_bound(s_got[1:2], (xv[:, 1:2] * 3).astype(np.float64), (0, 2), "f32")
