"""The eager ops losses apply to labels every step (float->int cast, one_hot, pick's clamped
one_hot, reshape / expand_dims) take fast paths; each must give exactly what the general
definition gives: against an independent per-element reference (Python ints, so no numpy
cast is trusted), against compiled code, on random, NaN, inf, huge, negative and empty input.
The gluon losses' values and gradients are checked against float64 numpy formulas."""
import math
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.ir import Builder, type_of
from tracegrad.ir.ops import REGISTRY
from tracegrad.ir.ops.elementwise import saturating_int
from tracegrad.runtime.native import NativeFunction

R = np.random.default_rng(7)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)
INT_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8)


def ref_saturating(x, dtype):
    """fptosi.sat by the definition, element by element in Python integers."""
    info = np.iinfo(dtype)
    out = []
    for v in np.asarray(x, dtype=np.float64).ravel().tolist():  # every f16/f32 is exact in f64
        if math.isnan(v):
            out.append(0)
        elif math.isinf(v):
            out.append(info.max if v > 0 else info.min)
        else:
            out.append(min(max(math.trunc(v), info.min), info.max))
    return np.array(out, dtype=dtype).reshape(np.shape(x))


def float_samples(dtype):
    """Random values of both signs, the special values, and the integer types' edges as the
    float type rounds them (2**31 - 1 becomes 2**31 in float32, 2**63 - 1 becomes 2**63)."""
    with np.errstate(over="ignore"):
        return _float_samples(dtype)


def _float_samples(dtype):
    edges = []
    for it in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(it)
        for v in (info.max, info.min):
            f = np.asarray(float(v), dtype=np.float64)
            edges += [np.asarray(f).astype(dtype)]
            edges += [np.nextafter(np.asarray(f).astype(dtype), dtype(0), dtype=dtype)]
            edges += [np.nextafter(np.asarray(f).astype(dtype), dtype(np.copysign(np.inf, v)),
                                   dtype=dtype)]
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 0.999, -0.999,
                         1e30, -1e30, 255.5, 256.0, -128.5, 127.9],
                        dtype=np.float64)
    specials = specials.astype(dtype)
    rand = (R.standard_normal(300) * R.choice([1, 10, 1e3, 1e6, 1e12, 1e20], 300)).astype(dtype)
    return {"random": rand, "in range": R.uniform(-100, 100, (7, 9)).astype(dtype),
            "specials": specials, "edges": np.concatenate([np.ravel(e) for e in edges]),
            "nan only": np.full(5, np.nan, dtype), "empty": np.zeros((0, 3), dtype),
            "scalar": np.asarray(dtype(-3.75)), "scalar nan": np.asarray(dtype(np.nan)),
            "huge": np.full((4, 4), np.finfo(dtype).max, dtype),
            "strided": R.uniform(-9, 9, (6, 8)).astype(dtype)[::2, 1::3]}


@pytest.mark.parametrize("fdt", FLOAT_DTYPES)
@pytest.mark.parametrize("idt", INT_DTYPES)
def test_saturating_int_matches_the_definition(fdt, idt):
    for name, x in float_samples(fdt).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # no RuntimeWarning from a cast, fast or slow
            got = saturating_int(x, idt)
        want = ref_saturating(x, idt)
        assert got.dtype == np.dtype(idt) and got.shape == x.shape, name
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {np.dtype(fdt)}->{idt}")


def test_saturating_int_of_ints_and_the_dtype_spelled_either_way():
    x = np.array([-5, 0, 7], dtype=np.int32)
    assert saturating_int(x).dtype == np.int64
    np.testing.assert_array_equal(saturating_int(x), [-5, 0, 7])
    y = np.array([np.nan, 3.9, -2.5e10], dtype=np.float32)
    for spelled in (np.int32, np.dtype(np.int32)):
        np.testing.assert_array_equal(saturating_int(y, spelled), [0, 3, -2**31])


def _compile(opname, x, **attrs):
    b = Builder(name="label_op")
    p = b.param(type_of(x), "x")
    return NativeFunction(b.ret(b.emit(opname, p, **attrs)))


@pytest.mark.parametrize("fdt", (np.float32, np.float64))
@pytest.mark.parametrize("target", ("int32", "int64"))
def test_cast_eager_equals_compiled_and_the_definition(fdt, target):
    """nd.cast / astype (the eager op) and the compiled cast (llvm.fptosi.sat) agree."""
    for name, x in float_samples(fdt).items():
        x = np.ascontiguousarray(x)
        want = ref_saturating(x, np.dtype(target))
        eager = nd.array(x, dtype=fdt).astype(target).asnumpy() if x.ndim else \
            nd.cast(nd.array(x.reshape(1), dtype=fdt), target).asnumpy().reshape(())
        np.testing.assert_array_equal(eager, want, err_msg=name)
        native = _compile("cast", x, dtype="i32" if target == "int32" else "i64")
        (got,) = native(x)
        np.testing.assert_array_equal(got, want, err_msg=f"compiled {name}")


def test_cast_that_is_not_float_to_int_is_numpy_astype():
    x = np.array([[1.5, -2.25, np.nan, np.inf]], dtype=np.float32)
    np.testing.assert_array_equal(nd.array(x).astype("float64").asnumpy(), x.astype(np.float64))
    i = np.array([3, -4, 2**31 - 1], dtype=np.int64)
    np.testing.assert_array_equal(nd.array(i, dtype=np.int64).astype("int32").asnumpy(),
                                  i.astype(np.int32))
    np.testing.assert_array_equal(nd.array(i, dtype=np.int64).astype("float32").asnumpy(),
                                  i.astype(np.float32))
    out = nd.array(x).astype("int64")
    assert out.dtype == np.int64


# ------------------------------------------------------------------ one_hot


def ref_one_hot(idx, depth, dtype=np.float32, on=1.0, off=0.0, clip=False):
    """The general formula (one_hot before its fast paths), on reference integer indices."""
    i = ref_saturating(idx, np.int64) if np.asarray(idx).dtype.kind == "f" else \
        np.asarray(idx).astype(np.int64)
    if clip:
        i = np.clip(i, 0, max(depth - 1, 0))
    return np.where(i[..., None] == np.arange(depth), on, off).astype(dtype)


def index_samples(depth):
    """Index arrays of every kind the ops accept: ints and floats, in range and not, small
    (the compare path) and large (the flat-store path: more than 2048 output elements)."""
    small = R.integers(-3, depth + 3, (5, 4))
    large = R.integers(0, max(depth, 1), 700)
    out = {"int64 small": small, "int32 small": small.astype(np.int32),
           "int64 large in range": large, "int32 large in range": large.astype(np.int32),
           "int64 large, one out": np.concatenate([large, [depth]]),
           "int64 large, one negative": np.concatenate([[-1], large]),
           "int64 large, int64 min": np.concatenate([large, [np.iinfo(np.int64).min]]),
           "int64 extremes": np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0]),
           "int32 extremes": np.array([np.iinfo(np.int32).max, np.iinfo(np.int32).min, 0],
                                      dtype=np.int32),
           "empty": np.zeros((0,), np.int64), "scalar": np.asarray(2)}
    for fdt in FLOAT_DTYPES:
        f = R.uniform(-2, depth + 2, 40).astype(fdt)
        with np.errstate(over="ignore"):   # 1e30 is inf in float16
            f[:6] = [np.nan, np.inf, -np.inf, -0.0, depth - 0.5, 1e30]
        out[f"{np.dtype(fdt)} with specials"] = f
        out[f"{np.dtype(fdt)} large"] = large.astype(fdt) + fdt(0.25)
    return out


def _one_hot_impl(idx, **attrs):
    opdef = REGISTRY["one_hot"]
    return getattr(opdef.impl, "__wrapped__", opdef.impl)(idx, **attrs)


@pytest.mark.parametrize("clip", (False, True))
def test_one_hot_matches_the_definition(clip):
    combos = (("f32", 1.0, 0.0), ("f64", 1.0, 0.0), ("i32", 1.0, 0.0), ("bool", 1.0, 0.0),
              ("f32", 2.5, -1.0), ("f64", 1.0, -0.0), ("i64", 7.0, 3.0))
    for depth in (0, 1, 5, 10, 256, 300):   # 256: the deepest gathered from a table
        for name, idx in index_samples(depth).items():
            for dtype, on, off in combos if depth <= 10 else combos[:2]:
                npdt = {"f32": np.float32, "f64": np.float64, "i32": np.int32,
                        "i64": np.int64, "bool": np.bool_}[dtype]
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    got = _one_hot_impl(idx, depth=depth, dtype=dtype, on_value=on,
                                        off_value=off, clip=clip)
                want = ref_one_hot(idx, depth, npdt, on, off, clip)
                label = f"{name} depth={depth} {dtype} on={on} off={off} clip={clip}"
                assert got.dtype == want.dtype and got.shape == want.shape, label
                np.testing.assert_array_equal(got, want, err_msg=label)
                if off == 0.0 and dtype == "f64":   # the sign of zero is part of the value
                    assert (np.signbit(got) == np.signbit(want)).all(), label


def test_one_hot_clip_with_a_depth_the_float_type_cannot_hold():
    """depth - 1 = 2049 is not a float16: the clamp falls back to the integer path."""
    idx = np.array([np.nan, 2048.0, 5000.0, -3.0, 1.5, np.inf], dtype=np.float16)
    got = _one_hot_impl(idx, depth=2050, clip=True)
    np.testing.assert_array_equal(got.argmax(-1), [0, 2048, 2049, 0, 1, 2049])
    np.testing.assert_array_equal(got, ref_one_hot(idx, 2050, clip=True))


@pytest.mark.parametrize("clip", (False, True))
def test_one_hot_compiled_equals_eager(clip):
    for name, idx in index_samples(6).items():
        if idx.ndim == 0 or idx.size == 0 or idx.dtype == np.float16:  # IR has no f16
            continue
        native = _compile("one_hot", np.ascontiguousarray(idx), depth=6, clip=clip)
        (got,) = native(np.ascontiguousarray(idx))
        np.testing.assert_array_equal(got, ref_one_hot(idx, 6, clip=clip), err_msg=name)


def test_nd_one_hot_is_mxnets_one_hot():
    """MXNet's one_hot leaves a row of off_value for an index outside [0, depth)."""
    got = nd.one_hot(nd.array([1, -1, 3, 2.9]), 3, on_value=5, off_value=-2).asnumpy()
    np.testing.assert_array_equal(got, [[-2, 5, -2], [-2, -2, -2], [-2, -2, -2], [-2, -2, 5]])


def _bare(opname):
    opdef = REGISTRY[opname]
    return getattr(opdef.impl, "__wrapped__", opdef.impl)


def test_take_and_scatter_add_clamp_every_kind_of_index():
    """take / scatter_add share the clamped index with pick: MXNet's mode='clip'."""
    x = R.standard_normal((7, 3))
    for name, idx in index_samples(7).items():
        i = np.clip(ref_saturating(idx, np.int64) if idx.dtype.kind == "f" else
                    idx.astype(np.int64), 0, 6)
        np.testing.assert_array_equal(_bare("take")(x, idx, axis=0), x[i], err_msg=name)
        g = R.standard_normal(idx.shape + (3,))
        want = np.zeros((7, 3))
        np.add.at(want, i.reshape(-1), g.reshape(-1, 3))
        np.testing.assert_array_equal(_bare("scatter_add")(g, idx, axis=0, size=7), want,
                                      err_msg=name)


def test_clamp_edges_float16_top_and_int32_index_with_a_huge_depth():
    with np.errstate(over="ignore"):
        idx = np.array([np.nan, 1e5, 6e4, -1, 3.5], dtype=np.float16)
    got = _bare("one_hot")(idx[:0], depth=70001, clip=True)   # 70000 is no float16
    assert got.shape == (0, 70001)
    np.testing.assert_array_equal(_bare("take")(np.arange(70001.0), idx, axis=0),
                                  [0, 70000, int(idx[2]), 0, 3])
    i32 = np.array([5, -3, 2**31 - 1], dtype=np.int32)
    got = _bare("one_hot")(i32[:0], depth=2**33, clip=True)   # no overflow on the int32 index
    assert got.shape == (0, 2**33)


# ------------------------------------------------------------------ pick


def ref_pick(x, idx, axis, mode, keepdims=False):
    x = np.asarray(x, dtype=np.float64)
    axis %= x.ndim
    n = x.shape[axis]
    i = ref_saturating(idx, np.int64)
    i = np.mod(i, n) if mode == "wrap" else np.clip(i, 0, n - 1)
    out = np.take_along_axis(x, np.expand_dims(i, axis), axis=axis)
    return out if keepdims else np.squeeze(out, axis)


@pytest.mark.parametrize("mode", ("clip", "wrap"))
@pytest.mark.parametrize("axis", (0, 1, -1))
def test_pick_values_and_gradient(mode, axis):
    x = R.standard_normal((6, 5)).astype(np.float32)
    n = x.shape[axis]
    m = x.shape[1 - axis % 2]
    idx = R.integers(-2 * n, 2 * n, m).astype(np.float32)
    idx[:4] = [np.nan, np.inf, -np.inf, n - 0.5]
    xa, ia = nd.array(x), nd.array(idx)
    xa.attach_grad()
    with autograd.record():
        out = nd.pick(xa, ia, axis=axis, mode=mode)
        (out * nd.arange(1, m + 1)).sum().backward()
    np.testing.assert_array_equal(out.asnumpy(), ref_pick(x, idx, axis, mode))
    # d/dx of sum_k w_k x[k, i_k]: w_k at each picked position, 0 elsewhere
    i = ref_saturating(idx, np.int64)
    i = np.mod(i, n) if mode == "wrap" else np.clip(i, 0, n - 1)
    want = np.zeros_like(x)
    for k, j in enumerate(i):
        want[(j, k) if axis == 0 else (k, j)] += k + 1
    np.testing.assert_array_equal(xa.grad.asnumpy(), want)


def test_pick_jit_equals_eager_on_out_of_range_labels():
    x = R.standard_normal((8, 4)).astype(np.float32)
    idx = np.array([0, 3, 4, -1, 7.9, np.nan, -np.inf, 2.5], dtype=np.float32)
    f = mx.jit(lambda a, i: nd.pick(a, i, axis=1, keepdims=True))
    np.testing.assert_array_equal(f(nd.array(x), nd.array(idx)).asnumpy(),
                                  ref_pick(x, idx, 1, "clip", keepdims=True))


# ------------------------------------------------------------------ reshape / expand_dims


def test_label_reshape_and_expand_dims():
    y = nd.array(np.arange(12, dtype=np.float32))
    for shape, want in (((-1, 1), (12, 1)), ((3, -1), (3, 4)), ((0,), (12,)),
                        ((2, -1, 3), (2, 2, 3))):
        out = y.reshape(shape)
        assert out.shape == want
        np.testing.assert_array_equal(out.asnumpy().ravel(), np.arange(12))
    for axis in (0, 1, -1):
        out = y.reshape((3, 4)).expand_dims(axis)
        np.testing.assert_array_equal(out.asnumpy(), np.expand_dims(np.arange(12.0).reshape(3, 4),
                                                                   axis))
    with pytest.raises(mx.base.MXNetError):
        y.reshape((5, -1))
    # the primitives themselves, also on strided input
    x = np.arange(24.0).reshape(4, 6)[:, ::2]
    for axis in (0, 1, 2):
        got = getattr(REGISTRY["expand_dims"].impl, "__wrapped__",
                      REGISTRY["expand_dims"].impl)(x, axis=axis)
        np.testing.assert_array_equal(got, np.expand_dims(x, axis))


# ------------------------------------------------------------------ losses


def _log_softmax(p):
    s = p - p.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


def _sigmoid(p):
    return 1.0 / (1.0 + np.exp(-p))


def _sparse_labels(n, classes):
    y = R.integers(0, classes, n).astype(np.float32)
    y[:5] = [-1, classes, classes + 7.5, np.nan, 2.7]   # out of range, fractional, NaN
    return y


def _loss_cases():
    """(name, loss block, pred, label, reference loss per sample, reference d(sum)/d pred)"""
    n, c = 9, 4
    p = R.standard_normal((n, c)).astype(np.float32)
    p64 = p.astype(np.float64)
    yd = R.standard_normal((n, c)).astype(np.float32)
    yd64 = yd.astype(np.float64)
    cases = []

    ys = _sparse_labels(n, c)
    idx = np.clip(ref_saturating(ys, np.int64), 0, c - 1)
    hot = np.eye(c)[idx]
    lsm = _log_softmax(p64)
    sm = np.exp(lsm)
    cases.append(("softmax ce sparse", gluon.loss.SoftmaxCrossEntropyLoss(), p, ys,
                  -(lsm * hot).sum(-1), sm - hot))
    cases.append(("softmax ce sparse, (N, 1) label", gluon.loss.SoftmaxCrossEntropyLoss(), p,
                  ys.reshape(n, 1), -(lsm * hot).sum(-1), sm - hot))
    cases.append(("softmax ce sparse, from_logits",
                  gluon.loss.SoftmaxCrossEntropyLoss(from_logits=True), p, ys,
                  -(p64 * hot).sum(-1), -hot))
    cases.append(("softmax ce dense", gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False),
                  p, yd, -(lsm * yd64).sum(-1), sm * yd64.sum(-1, keepdims=True) - yd64))
    cases.append(("l2", gluon.loss.L2Loss(), p, yd, 0.5 * ((p64 - yd64) ** 2).mean(-1),
                  (p64 - yd64) / c))
    p1 = p[:, :1]
    cases.append(("l2, (N,) label", gluon.loss.L2Loss(weight=3.0), p1, yd[:, 0],
                  1.5 * (p1[:, 0].astype(np.float64) - yd64[:, 0]) ** 2,
                  3.0 * (p1.astype(np.float64) - yd64[:, :1])))
    cases.append(("l1", gluon.loss.L1Loss(), p, yd, np.abs(p64 - yd64).mean(-1),
                  np.sign(p64 - yd64) / c))
    yb = (R.random((n, c)) > 0.5).astype(np.float32)
    yb64 = yb.astype(np.float64)
    cases.append(("sigmoid bce", gluon.loss.SigmoidBinaryCrossEntropyLoss(), p, yb,
                  (np.maximum(p64, 0) - p64 * yb64 + np.log1p(np.exp(-np.abs(p64)))).mean(-1),
                  (_sigmoid(p64) - yb64) / c))
    q = R.uniform(0.05, 0.95, (n, c)).astype(np.float32)
    q64, eps = q.astype(np.float64), 1e-12
    cases.append(("sigmoid bce from_sigmoid",
                  gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True), q, yb,
                  -(np.log(q64 + eps) * yb64 + np.log(1 - q64 + eps) * (1 - yb64)).mean(-1),
                  -(yb64 / (q64 + eps) - (1 - yb64) / (1 - q64 + eps)) / c))
    d = p64 - yd64
    a = np.abs(d)
    cases.append(("huber", gluon.loss.HuberLoss(rho=0.7), p, yd,
                  np.where(a > 0.7, a - 0.35, a * a / 1.4).mean(-1),
                  np.where(a > 0.7, np.sign(d), d / 0.7) / c))
    return cases


@pytest.mark.parametrize("hybrid", (False, True))
def test_losses_values_and_gradients_match_float64_reference(hybrid):
    for name, loss_fn, p, y, want, want_grad in _loss_cases():
        if hybrid:
            loss_fn.hybridize()
        for _ in range(2):   # a hybridized block's first and cached call
            pa = nd.array(p)
            pa.attach_grad()
            with autograd.record():
                loss = loss_fn(pa, nd.array(y))
            loss.backward()
            np.testing.assert_allclose(loss.asnumpy(), want, rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} hybrid={hybrid}")
            np.testing.assert_allclose(pa.grad.asnumpy(), want_grad, rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} grad hybrid={hybrid}")


def test_sparse_softmax_ce_on_float64_and_int_labels():
    p = R.standard_normal((6, 3))
    for y in (np.array([0, 2, 5, -4, 1, 1], dtype=np.int32),
              np.array([0, 2, 5, -4, 1, 1], dtype=np.int64),
              np.array([0.5, 2.2, 5.0, -4.0, 1.9, np.nan])):
        want = -(_log_softmax(p) * np.eye(3)[np.clip(ref_saturating(y, np.int64), 0, 2)]).sum(-1)
        got = gluon.loss.SoftmaxCrossEntropyLoss()(nd.array(p, dtype=np.float64),
                                                  nd.array(y, dtype=y.dtype))
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-12)


def test_loss_reshapes_an_empty_batch():
    # (nd.zeros refuses a 0 size outside np_shape, as MXNet 1.x: nd.array takes one)
    assert gluon.loss.L2Loss()(nd.array(np.zeros((5, 0))), nd.array(np.zeros((0,)))).shape \
        == (5,)
    with pytest.raises(mx.base.MXNetError, match="does not match"):
        gluon.loss.L2Loss()(nd.zeros((4, 2)), nd.zeros((7,)))
