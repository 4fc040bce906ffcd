"""Convolution, deconvolution and pooling (nd ops and gluon layers) against direct float64 loop
references written here, over a grid of strides, pads, dilations, groups, conventions and
layouts: forward, gradients vs central differences, and the hybridized block agreeing with the
eager one (check_block); second order through check_grads on the traced IR."""
import itertools
import json
import math
import sys
import pathlib

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.gluon import nn
from arrays import keep_dtype as array

from test_gluon_layers import check_block

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402


# ------------------------------------------------------------------ references (direct loops)
def conv_ref(x, w, b, stride, pad, dilate, groups=1):
    """out[n, o, p] = b[o] + sum over c of o's group, k: x[n, c, p*s + k*d - pad] w[o, c, k]."""
    n_, c_ = x.shape[:2]
    o_, cg = w.shape[:2]
    kernel, spatial = w.shape[2:], x.shape[2:]
    out_sp = [(n + 2 * p - d * (k - 1) - 1) // s + 1
              for n, k, s, d, p in zip(spatial, kernel, stride, dilate, pad)]
    out = np.zeros((n_, o_) + tuple(out_sp))
    og = o_ // groups
    for n, o, *pos in np.ndindex(*out.shape):
        acc = 0.0 if b is None else b[o]
        for c in range(cg):
            for k in np.ndindex(*kernel):
                src = [pi * s + ki * d - p for pi, ki, s, d, p in
                       zip(pos, k, stride, dilate, pad)]
                if all(0 <= q < m for q, m in zip(src, spatial)):
                    acc += x[(n, (o // og) * cg + c) + tuple(src)] * w[(o, c) + k]
        out[(n, o) + tuple(pos)] = acc
    return out


def deconv_ref(x, w, b, stride, pad, dilate, adj, groups=1):
    """Every input element scatters x[n, c, i] * w[c, f, k] to out[n, f, i*s + k*d - pad]."""
    n_, c_ = x.shape[:2]
    fg, kernel, spatial = w.shape[1], w.shape[2:], x.shape[2:]
    out_sp = [s * (n - 1) + d * (k - 1) + 1 - 2 * p + a
              for n, k, s, d, p, a in zip(spatial, kernel, stride, dilate, pad, adj)]
    out = np.zeros((n_, fg * groups) + tuple(out_sp))
    cg = c_ // groups
    for n, c, *i in np.ndindex(*x.shape):
        for f in range(fg):
            for k in np.ndindex(*kernel):
                dst = [ii * s + ki * d - p for ii, ki, s, d, p in
                       zip(i, k, stride, dilate, pad)]
                if all(0 <= q < m for q, m in zip(dst, out_sp)):
                    out[(n, (c // cg) * fg + f) + tuple(dst)] += x[(n, c) + tuple(i)] * w[
                        (c, f) + k]
    if b is not None:
        out += b.reshape((1, -1) + (1,) * len(spatial))
    return out


def pool_ref(x, kernel, stride, pad, pool_type="max", convention="valid",
             count_include_pad=True):
    """MXNet 1.9.1's pooling by its CPU loops (src/operator/nn/pool.h): window o covers
    [o*s - pad, o*s - pad + k), cut to x; max starts from the dtype's lowest finite value
    (MinValue), sum from 0; avg divides by the window cut to [-pad, n + pad) or, without
    count_include_pad, by the number of elements of x it covers, and a window with no element
    of x stays 0. 'same' has ceil(n / s) windows ('full' ceils (n + 2p - k) / s)."""
    spatial = x.shape[2:]
    if convention == "valid":
        out_sp = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(spatial, kernel, stride, pad)]
    elif convention == "full":
        out_sp = [math.ceil((n + 2 * p - k) / s) + 1
                  for n, k, s, p in zip(spatial, kernel, stride, pad)]
    else:
        out_sp = [math.ceil((n + 2 * p) / s) for n, s, p in zip(spatial, stride, pad)]
    out = np.zeros(x.shape[:2] + tuple(out_sp))
    lowest = np.finfo(x.dtype).min
    for n, c, *o in np.ndindex(*out.shape):
        starts = [oi * s - p for oi, s, p in zip(o, stride, pad)]
        vals = [x[(n, c) + tuple(q)] for q in itertools.product(
            *[range(max(st, 0), min(st + k, m)) for st, k, m in zip(starts, kernel, spatial)])]
        if pool_type == "max":
            out[(n, c) + tuple(o)] = max([lowest] + vals)
        elif pool_type == "sum":
            out[(n, c) + tuple(o)] = sum(vals)
        elif vals:
            size = math.prod(min(st + k, m + p) - st for st, k, m, p in
                             zip(starts, kernel, spatial, pad)) if count_include_pad \
                else len(vals)
            out[(n, c) + tuple(o)] = sum(vals) / size
    return out


def _data(rng, *shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------ nd ops, forward
CONV_GRID = [  # (spatial, kernel, stride, pad, dilate, groups, channels in/out)
    ((7,), (3,), (1,), (0,), (1,), 1, (2, 3)),
    ((9,), (2,), (2,), (1,), (2,), 2, (4, 2)),
    ((6, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1, (3, 4)),
    ((7, 6), (3, 2), (2, 1), (0, 1), (1, 2), 1, (2, 3)),
    ((6, 6), (2, 2), (2, 2), (1, 0), (2, 1), 2, (4, 6)),
    ((5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 4, (4, 4)),     # depthwise
    ((4, 5, 4), (2, 3, 2), (1, 2, 1), (1, 0, 1), (1, 1, 2), 1, (2, 2)),
    ((6,), (1,), (1,), (0,), (1,), 1, (3, 2)),                # pointwise: a product per sample
    ((4, 5), (1, 1), (1, 1), (0, 0), (1, 1), 1, (3, 5)),
    ((2, 3, 2), (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1, (2, 4)),
    ((5, 5), (1, 1), (2, 2), (0, 0), (1, 1), 1, (3, 2)),      # strided 1x1: im2col again
    ((9,), (3,), (2,), (1,), (2,), 3, (3, 3)),                # depthwise: sliced windows
    ((7, 6), (3, 3), (2, 2), (1, 1), (1, 1), 3, (3, 3)),
    ((6, 7), (3, 2), (1, 2), (2, 0), (2, 1), 2, (2, 2)),
    ((4, 3, 4), (2, 1, 2), (1, 1, 2), (1, 0, 0), (1, 1, 1), 2, (2, 2)),
    ((6, 6), (5, 5), (1, 1), (2, 2), (1, 1), 2, (2, 2)),      # 5x5 depthwise: im2col
    ((5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 2, (2, 4)),      # two filters per channel
]


@pytest.mark.parametrize("spatial,kernel,stride,pad,dilate,groups,chans", CONV_GRID)
def test_convolution_matches_loops(rng, spatial, kernel, stride, pad, dilate, groups, chans):
    x = _data(rng, 2, chans[0], *spatial)
    w = _data(rng, chans[1], chans[0] // groups, *kernel)
    b = _data(rng, chans[1])
    out = nd.Convolution(array(x, dtype="float64"), array(w, dtype="float64"),
                         array(b, dtype="float64"), kernel=kernel, stride=stride, pad=pad,
                         dilate=dilate, num_filter=chans[1], num_group=groups)
    np.testing.assert_allclose(out.asnumpy(), conv_ref(x, w, b, stride, pad, dilate, groups),
                               rtol=1e-10, atol=1e-12)
    nob = nd.Convolution(array(x), array(w), kernel=kernel, stride=stride, pad=pad,
                         dilate=dilate, num_filter=chans[1], num_group=groups, no_bias=True)
    np.testing.assert_allclose(nob.asnumpy(), conv_ref(x, w, None, stride, pad, dilate, groups),
                               rtol=1e-10, atol=1e-12)


DECONV_GRID = [  # (spatial, kernel, stride, pad, dilate, adj, groups, channels in/out)
    ((5,), (3,), (2,), (1,), (1,), (1,), 1, (2, 3)),
    ((4, 3), (3, 3), (1, 1), (0, 0), (1, 1), (0, 0), 1, (2, 2)),
    ((3, 4), (3, 2), (2, 3), (1, 0), (1, 2), (1, 2), 1, (3, 2)),
    ((4, 4), (2, 2), (2, 2), (0, 0), (1, 1), (0, 0), 2, (4, 6)),
    ((2, 3, 2), (2, 2, 3), (2, 1, 1), (0, 1, 1), (1, 1, 1), (1, 0, 0), 1, (2, 2)),
]


@pytest.mark.parametrize("spatial,kernel,stride,pad,dilate,adj,groups,chans", DECONV_GRID)
def test_deconvolution_matches_loops(rng, spatial, kernel, stride, pad, dilate, adj, groups,
                                     chans):
    x = _data(rng, 2, chans[0], *spatial)
    w = _data(rng, chans[0], chans[1] // groups, *kernel)
    b = _data(rng, chans[1])
    out = nd.Deconvolution(array(x), array(w), array(b), kernel=kernel, stride=stride,
                           pad=pad, dilate=dilate, adj=adj, num_filter=chans[1],
                           num_group=groups, no_bias=False)
    np.testing.assert_allclose(out.asnumpy(), deconv_ref(x, w, b, stride, pad, dilate, adj,
                                                         groups), rtol=1e-10, atol=1e-12)


def test_deconvolution_target_shape_and_default_no_bias(rng):
    x, w = _data(rng, 1, 2, 4, 4), _data(rng, 2, 3, 3, 3)
    out = nd.Deconvolution(array(x), array(w), array(np.ones(3)), kernel=(3, 3),
                           stride=(2, 2), target_shape=(8, 8), num_filter=3)
    assert out.shape == (1, 3, 8, 8)
    # target 8 from input 4, stride 2, kernel 3: total pad 1 -> pad 1, adj 1; no_bias defaults
    # to True for Deconvolution, so the bias is ignored
    np.testing.assert_allclose(out.asnumpy(), deconv_ref(x, w, None, (2, 2), (1, 1), (1, 1),
                                                         (1, 1)), rtol=1e-10, atol=1e-12)


POOL_GRID = [  # (spatial, kernel, stride, pad, convention)
    ((7,), (3,), (2,), (1,), "valid"),
    ((8,), (3,), (2,), (0,), "full"),
    ((6, 7), (2, 2), (2, 2), (0, 0), "valid"),
    ((7, 6), (3, 2), (2, 1), (1, 1), "valid"),
    ((7, 7), (3, 3), (2, 2), (1, 1), "full"),
    ((5, 6), (2, 3), (2, 2), (0, 1), "full"),
    ((4, 5, 5), (2, 3, 2), (2, 1, 2), (1, 1, 0), "valid"),
    ((5, 4, 5), (2, 2, 3), (2, 2, 2), (0, 1, 1), "full"),
]


@pytest.mark.parametrize("spatial,kernel,stride,pad,convention", POOL_GRID)
@pytest.mark.parametrize("pool_type,include", [("max", True), ("sum", True), ("avg", True),
                                               ("avg", False)])
def test_pooling_matches_loops(rng, spatial, kernel, stride, pad, convention, pool_type,
                               include):
    x = _data(rng, 2, 3, *spatial)
    out = nd.Pooling(array(x), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
                     pooling_convention=convention, count_include_pad=include)
    np.testing.assert_allclose(out.asnumpy(), pool_ref(x, kernel, stride, pad, pool_type,
                                                       convention, include),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 2)])
def test_global_pooling(rng, pool_type, shape):
    x = _data(rng, *shape)
    out = nd.Pooling(array(x), kernel=(9,) * (len(shape) - 2), pool_type=pool_type,
                     global_pool=True)
    axes = tuple(range(2, len(shape)))
    want = {"max": np.max, "avg": np.mean, "sum": np.sum}[pool_type](x, axis=axes, keepdims=True)
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-12)


# 'same' (1-d only, pad 0) and 'full' grids whose last windows hold no element of x
EDGE_POOL_GRID = [  # (spatial, kernel, stride, pad, convention)
    ((7,), (3,), (2,), (0,), "same"),
    ((8,), (4,), (3,), (0,), "same"),
    ((5,), (2,), (1,), (0,), "same"),
    ((6,), (5,), (4,), (0,), "same"),
    ((5,), (1,), (3,), (0,), "full"),
    ((7, 5), (2, 1), (4, 3), (1, 0), "full"),
    ((3, 4, 5), (1, 2, 1), (3, 1, 3), (0, 0, 0), "full"),
]


@pytest.mark.parametrize("spatial,kernel,stride,pad,convention", EDGE_POOL_GRID)
@pytest.mark.parametrize("pool_type,include", [("max", True), ("sum", True), ("avg", True),
                                               ("avg", False)])
def test_same_and_empty_windows_eager_hybridized_and_gradients(rng, spatial, kernel, stride,
                                                               pad, convention, pool_type,
                                                               include):
    """Against MXNet's loops in float64: forward eagerly and under jit, and the gradient of
    sum(out * g) (g is 0 on windows without an element of x, whose max is the lowest float)
    against central differences, eager and jit agreeing."""
    x = _data(rng, 2, 3, *spatial)
    kw = dict(kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
              pooling_convention=convention, count_include_pad=include)
    want = pool_ref(x, kernel, stride, pad, pool_type, convention, include)
    assert want.shape[2:] == (nd.Pooling(array(x), **kw)).shape[2:]
    g = rng.standard_normal(want.shape) * (want > np.finfo(np.float64).min)
    jitted = mx.jit(lambda v: nd.Pooling(v, **kw))
    grads = []
    for fn in (lambda v: nd.Pooling(v, **kw), jitted, jitted):
        xs = array(x)
        xs.attach_grad()
        with autograd.record():
            out = fn(xs)
        out.backward(array(g))
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-12, atol=1e-12)
        grads.append(xs.grad.asnumpy())
    eps, numeric = 1e-6, np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        numeric[i] = ((pool_ref(x + d, kernel, stride, pad, pool_type, convention, include)
                       - pool_ref(x - d, kernel, stride, pad, pool_type, convention, include))
                      * g).sum() / (2 * eps)
    np.testing.assert_allclose(grads[0], numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[2], grads[0], rtol=1e-12, atol=1e-14)


def test_max_pooling_of_minus_infinity_is_the_lowest_float():
    """MXNet's max starts from MinValue: a window of -inf gives the lowest finite value."""
    x = np.array([[[-np.inf, -np.inf, 1.0, -np.inf]]], np.float32)
    out = nd.Pooling(nd.array(x), kernel=(2,), stride=(2,))
    np.testing.assert_array_equal(out.asnumpy(), [[[np.finfo(np.float32).min, 1.0]]])
    out = mx.jit(lambda v: nd.Pooling(v, kernel=(2,), stride=(2,)))(nd.array(x))
    np.testing.assert_array_equal(out.asnumpy(), [[[np.finfo(np.float32).min, 1.0]]])


@pytest.mark.parametrize("shape,kw", [
    ((1, 2, 6, 6), dict(kernel=(2, 2), stride=(2, 2))),        # 'same' is 1-d only in MXNet
    ((1, 2, 4, 4, 4), dict(kernel=(2, 2, 2))),
    ((1, 2, 6), dict(kernel=(2,), pad=(1,))),                  # and takes no pad
])
def test_same_convention_beyond_1d_or_with_pad_raises(shape, kw):
    with pytest.raises(mx.base.MXNetError, match="same"):
        nd.Pooling(nd.ones(shape), pooling_convention="same", **kw)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("call", [
    lambda x: nd.Pooling(x, kernel=(2, 2), pool_type="avg"),
    lambda x: nd.Pooling(x, kernel=(2, 2), pool_type="max"),
    lambda x: nd.Pooling(x, kernel=(2, 2), global_pool=True, pool_type="sum"),
    lambda x: nd.InstanceNorm(x, nd.ones((3,)), nd.zeros((3,))),
    lambda x: nd.GroupNorm(x, nd.ones((1,)), nd.zeros((1,)), num_groups=1),
])
def test_pooling_and_instance_norm_reject_integers(dtype, call):
    """MXNet 1.9.1 runs Pooling, InstanceNorm and GroupNorm for floating point data only."""
    x = nd.array(np.arange(2 * 3 * 4 * 4).reshape(2, 3, 4, 4) % 7, dtype=dtype)
    with pytest.raises(mx.base.MXNetError, match=f"floating point.*{dtype}"):
        call(x)


def test_lp_pooling(rng):
    y = _data(rng, 1, 2, 4, 4)
    lp2 = nd.Pooling(array(y), kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=2)
    np.testing.assert_allclose(lp2.asnumpy(), np.sqrt(pool_ref(y * y, (2, 2), (2, 2), (0, 0),
                                                               "sum")), rtol=1e-12)
    lp1 = nd.Pooling(array(y), kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=1)
    np.testing.assert_allclose(lp1.asnumpy(), pool_ref(np.abs(y), (2, 2), (2, 2), (0, 0),
                                                       "sum"), rtol=1e-12)


def test_channel_last_layouts(rng):
    x, w, b = _data(rng, 2, 6, 5, 3), _data(rng, 4, 3, 2, 3), _data(rng, 4)  # NHWC, OHWI
    out = nd.Convolution(array(x), array(w), array(b), kernel=(3, 2), pad=(1, 0),
                         num_filter=4, layout="NHWC")
    want = conv_ref(x.transpose(0, 3, 1, 2), w.transpose(0, 3, 1, 2), b, (1, 1), (1, 0), (1, 1))
    np.testing.assert_allclose(out.asnumpy(), want.transpose(0, 2, 3, 1), rtol=1e-10)
    pooled = nd.Pooling(array(x), kernel=(2, 2), stride=(2, 1), layout="NHWC")
    np.testing.assert_allclose(pooled.asnumpy(), pool_ref(x.transpose(0, 3, 1, 2), (2, 2),
                                                          (2, 1), (0, 0)).transpose(0, 2, 3, 1))
    x1 = _data(rng, 2, 7, 3)  # NWC
    w1 = _data(rng, 2, 3, 3)  # (filters, kernel, channels)
    out1 = nd.Convolution(array(x1), array(w1), kernel=(3,), num_filter=2, no_bias=True,
                          layout="NWC")
    want1 = conv_ref(x1.transpose(0, 2, 1), w1.transpose(0, 2, 1), None, (1,), (0,), (1,))
    np.testing.assert_allclose(out1.asnumpy(), want1.transpose(0, 2, 1), rtol=1e-10)


def test_im2col_col2im_mxnet_shapes(rng):
    x = _data(rng, 2, 3, 5, 4)
    cols = nd.im2col(array(x), kernel=(2, 3), stride=(1, 1), pad=(1, 0))
    assert cols.shape == (2, 3 * 6, 6 * 2)
    back = nd.col2im(cols, output_size=(5, 4), kernel=(2, 3), pad=(1, 0))
    assert back.shape == x.shape
    # col2im(im2col(x)) multiplies each element by the number of windows that cover it
    counts = nd.col2im(nd.im2col(nd.ones((1, 1, 5, 4), dtype="float64"), kernel=(2, 3),
                                 pad=(1, 0)), output_size=(5, 4), kernel=(2, 3), pad=(1, 0))
    np.testing.assert_allclose(back.asnumpy(), x * counts.asnumpy(), rtol=1e-12)


IM2COL_RUNS = [  # (spatial, kernel, stride, dilate, pad): the compiled kernel's row runs
    ((7, 9), (3, 3), (1, 1), (1, 1), (1, 1)),      # unit steps: contiguous copy
    ((6, 11), (2, 3), (1, 2), (1, 1), (0, 2)),     # strided rows: gather
    ((5, 8), (3, 2), (2, 1), (2, 3), (2, 3)),      # dilated, rows partly outside
    ((4, 3), (2, 2), (1, 1), (1, 1), (3, 4)),      # pads wider than the window: rows all pad
    ((10,), (4,), (3,), (2,), (5,)),
    ((3, 4, 6), (2, 2, 3), (1, 2, 1), (1, 1, 2), (1, 0, 2)),
]


@pytest.mark.parametrize("spatial,kernel,stride,dilate,pad", IM2COL_RUNS)
@pytest.mark.parametrize("transposed", [False, True])
def test_compiled_im2col_matches_eager_and_numpy(rng, spatial, kernel, stride, dilate, pad,
                                                 transposed):
    """The native im2col cuts each row into pad / interior / pad runs in closed form, col2im
    adds only the interior runs back: check both against eager numpy and float64 loops, and
    max-pooling (pad value -inf) through im2col, also on strided operands."""
    x = _data(rng, 2, 3, *spatial).astype(np.float32)
    src = np.ascontiguousarray(np.swapaxes(x, 0, 1)) if transposed else x

    def cols(a):
        a = nd.swapaxes(a, 0, 1) if transposed else a
        return nd.im2col(a * 1.0, kernel=kernel, stride=stride, dilate=dilate, pad=pad)
    want = cols(array(src)).asnumpy()
    got = mx.jit(cols)(array(src)).asnumpy()
    np.testing.assert_array_equal(got, want)
    # against a float64 loop: windows of the zero-padded input, row by row
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = [(n + 2 * p - d * (k - 1) - 1) // s + 1
           for n, k, s, d, p in zip(spatial, kernel, stride, dilate, pad)]
    ref = np.stack([xp[(slice(None), slice(None)) + tuple(
        slice(o * d, o * d + s * (m - 1) + 1, s) for o, d, s, m in zip(offs, dilate, stride, out)
    )] for offs in itertools.product(*map(range, kernel))], axis=2)
    np.testing.assert_array_equal(got, ref.reshape(2, -1, math.prod(out)))
    # col2im adds the windows back with the same runs; sum over a loop in float64
    def back(c):
        c = nd.swapaxes(nd.swapaxes(c, 0, 2) * 1.0, 0, 2) if transposed else c
        return nd.col2im(c, output_size=spatial, kernel=kernel, stride=stride, dilate=dilate,
                         pad=pad)
    g = rng.standard_normal(got.shape).astype(np.float32)
    grid = np.zeros(xp.shape)
    g6 = g.astype(np.float64).reshape((2, 3, -1) + tuple(out))
    for i, offs in enumerate(itertools.product(*map(range, kernel))):
        grid[(slice(None), slice(None)) + tuple(
            slice(o * d, o * d + s * (m - 1) + 1, s) for o, d, s, m in
            zip(offs, dilate, stride, out))] += g6[:, :, i]
    inner = grid[(slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in
                                                    zip(pad, spatial))]
    compiled = mx.jit(back)(array(g)).asnumpy()
    np.testing.assert_allclose(compiled, back(array(g)).asnumpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(compiled, inner, rtol=1e-5, atol=1e-5)
    if all(p <= k // 2 for p, k in zip(pad, kernel)) and len(spatial) <= 3:
        def pool(a):
            a = nd.swapaxes(a, 0, 1) if transposed else a
            return nd.Pooling(a * 1.0, kernel=kernel, stride=stride, pad=pad, pool_type="max")
        np.testing.assert_array_equal(mx.jit(pool)(array(src)).asnumpy(),
                                      pool(array(src)).asnumpy())


@pytest.mark.parametrize("call,needle", [
    (lambda x, w: nd.Convolution(x, w, kernel=(3, 3), num_filter=4, no_bias=True, num_group=2),
     "num_group"),
    (lambda x, w: nd.Convolution(x, w, kernel=(3,), num_filter=4, no_bias=True), "axes"),
    (lambda x, w: nd.Convolution(x, nd.ones((4, 3, 9, 9)), kernel=(9, 9), num_filter=4,
                                 no_bias=True), "exceeds"),
    (lambda x, w: nd.Convolution(x, w, kernel=(3, 3), stride=(1, 1, 1), num_filter=4,
                                 no_bias=True), "stride"),
    (lambda x, w: nd.Convolution(x, w, kernel=(3, 3), num_filter=4, no_bias=True,
                                 layout="NCWH"), "layout"),
    (lambda x, w: nd.Pooling(x, kernel=(9, 9)), "exceeds"),
    (lambda x, w: nd.Pooling(x, kernel=(2, 2), pool_type="median"), "pool_type"),
    (lambda x, w: nd.Convolution(nd.cast(x, "int32"), w, kernel=(3, 3), num_filter=4,
                                 no_bias=True), "floating"),
])
def test_bad_arguments_raise_clear_errors(rng, call, needle):
    x, w = array(_data(rng, 2, 3, 5, 5)), array(_data(rng, 4, 3, 3, 3))
    with pytest.raises(mx.base.MXNetError) as info:
        call(x, w)
    assert needle in str(info.value)


# ------------------------------------------------------------------ second order (IR oracle)
@pytest.mark.parametrize("fn,wshape", [
    (lambda x, w: nd.Convolution(x, w, kernel=(3, 2), stride=(2, 1), pad=(1, 1), dilate=(1, 2),
                                 num_filter=2, no_bias=True), (2, 2, 3, 2)),
    (lambda x, w: nd.Convolution(x, w, kernel=(2, 2), pad=(1, 0), num_filter=2, num_group=2,
                                 no_bias=True), (2, 1, 2, 2)),
    (lambda x, w: nd.Deconvolution(x, F_weight(w), kernel=(3, 2), stride=(2, 1), pad=(1, 0),
                                   adj=(1, 0), num_filter=3), (2, 1, 3, 2)),
    (lambda x, w: nd.Convolution(x, w, kernel=(1, 1), num_filter=3, no_bias=True),
     (3, 2, 1, 1)),
    (lambda x, w: nd.Convolution(x, w, kernel=(3, 2), stride=(2, 1), pad=(1, 1), num_group=2,
                                 num_filter=2, no_bias=True), (2, 1, 3, 2)),   # depthwise
    (lambda x, w: nd.Pooling(x * w.sum(), kernel=(2, 3), stride=(2, 1), pad=(1, 1),
                             pool_type="avg"), (3,)),
    (lambda x, w: nd.Pooling(x * w, kernel=(2, 2), stride=(1, 2), pad=(1, 1)), (4,)),
])
def test_second_order_gradients(rng, fn, wshape):
    """check_grads(order=2) on the traced IR of fn(x, w)**2: first derivatives vs finite
    differences, then the adjoint's own derivatives (conv is bilinear: the cross terms are
    themselves im2col/col2im and matmuls)."""
    x = _data(rng, 2, 2, 5, 4)
    w = _data(rng, *wshape)
    fx, captured = _traced(lambda x, w: fn(x, w) ** 2, x, w)
    check_grads(fx, [x, w] + captured, order=2, rtol=1e-4)


def _traced(fn, *arrays):
    """fn's IR and the constants it captured (its trailing parameters, e.g. a padding mask)."""
    from tracegrad.tracing.trace import trace
    t = trace(fn, [array(a) for a in arrays])
    return t.function, [np.asarray(v.data) for v in t.captured]


def F_weight(w):
    """(2, 1, 3, 2) -> a (2, 3, 3, 2) deconvolution weight that still depends on w."""
    return nd.concat(w, w * 2.0, w * w, dim=1)


# ------------------------------------------------------------------ gluon layers
LAYER_GRID = [
    (lambda: nn.Conv2D(3, 3, strides=2, padding=1, groups=3, use_bias=False), (2, 3, 5, 6),
     lambda b, x: conv_ref(x, _wb(b)[0], None, (2, 2), (1, 1), (1, 1), 3)),   # depthwise
    (lambda: nn.Conv2D(5, 1), (2, 3, 4, 2),                  # pointwise
     lambda b, x: conv_ref(x, *_wb(b), (1, 1), (0, 0), (1, 1))),
    (lambda: nn.Conv1D(3, 1, use_bias=False, layout="NWC"), (2, 5, 2),
     lambda b, x: conv_ref(x.transpose(0, 2, 1), b.weight.data().asnumpy().transpose(
         0, 2, 1), None, (1,), (0,), (1,)).transpose(0, 2, 1)),
    (lambda: nn.Conv1D(3, 3, strides=2, padding=1, in_channels=2), (2, 2, 7),
     lambda b, x: conv_ref(x, *_wb(b), (2,), (1,), (1,))),
    (lambda: nn.Conv1D(4, 2, dilation=2, groups=2, use_bias=False), (2, 2, 6),
     lambda b, x: conv_ref(x, _wb(b)[0], None, (1,), (0,), (2,), 2)),
    (lambda: nn.Conv2D(3, (3, 2), strides=(2, 1), padding=(1, 1), activation="relu"),
     (2, 2, 5, 4),
     lambda b, x: np.maximum(conv_ref(x, *_wb(b), (2, 1), (1, 1), (1, 1)), 0)),
    (lambda: nn.Conv2D(4, 3, padding=2, dilation=2, groups=2), (1, 4, 5, 5),
     lambda b, x: conv_ref(x, *_wb(b), (1, 1), (2, 2), (2, 2), 2)),
    (lambda: nn.Conv2D(2, 2, layout="NHWC"), (2, 4, 3, 3),
     lambda b, x: conv_ref(x.transpose(0, 3, 1, 2), b.weight.data().asnumpy().transpose(
         0, 3, 1, 2), b.bias.data().asnumpy(), (1, 1), (0, 0), (1, 1)).transpose(0, 2, 3, 1)),
    (lambda: nn.Conv3D(2, (2, 2, 1), strides=(1, 2, 1), padding=(0, 1, 0)), (1, 2, 3, 4, 3),
     lambda b, x: conv_ref(x, *_wb(b), (1, 2, 1), (0, 1, 0), (1, 1, 1))),
    (lambda: nn.Conv1DTranspose(2, 3, strides=2, padding=1, output_padding=1), (2, 3, 4),
     lambda b, x: deconv_ref(x, *_wb(b), (2,), (1,), (1,), (1,))),
    (lambda: nn.Conv2DTranspose(4, (2, 3), strides=(2, 1), padding=(0, 1), groups=2),
     (1, 2, 3, 3),
     lambda b, x: deconv_ref(x, *_wb(b), (2, 1), (0, 1), (1, 1), (0, 0), 2)),
    (lambda: nn.Conv3DTranspose(2, 2, strides=2), (1, 2, 2, 2, 2),
     lambda b, x: deconv_ref(x, *_wb(b), (2, 2, 2), (0, 0, 0), (1, 1, 1), (0, 0, 0))),
    (lambda: nn.MaxPool1D(3, 2, 1), (2, 3, 7),
     lambda b, x: pool_ref(x, (3,), (2,), (1,))),
    (lambda: nn.MaxPool2D((3, 2), (2, 1), (1, 0), ceil_mode=True), (2, 2, 6, 5),
     lambda b, x: pool_ref(x, (3, 2), (2, 1), (1, 0), "max", "full")),
    (lambda: nn.MaxPool3D(2, 2), (1, 2, 4, 5, 4),
     lambda b, x: pool_ref(x, (2, 2, 2), (2, 2, 2), (0, 0, 0))),
    (lambda: nn.AvgPool1D(2, 1, 1, count_include_pad=False), (2, 2, 5),
     lambda b, x: pool_ref(x, (2,), (1,), (1,), "avg", "valid", False)),
    (lambda: nn.AvgPool2D(3, 2, 1, ceil_mode=True), (1, 3, 6, 6),
     lambda b, x: pool_ref(x, (3, 3), (2, 2), (1, 1), "avg", "full", True)),
    (lambda: nn.AvgPool3D((2, 2, 2), padding=1, count_include_pad=False), (1, 2, 3, 3, 3),
     lambda b, x: pool_ref(x, (2, 2, 2), (2, 2, 2), (1, 1, 1), "avg", "valid", False)),
    (lambda: nn.MaxPool2D(2, layout="NHWC"), (2, 4, 4, 3),
     lambda b, x: pool_ref(x.transpose(0, 3, 1, 2), (2, 2), (2, 2), (0, 0)).transpose(
         0, 2, 3, 1)),
    (lambda: nn.GlobalMaxPool1D(), (2, 3, 5), lambda b, x: x.max(axis=2, keepdims=True)),
    (lambda: nn.GlobalAvgPool2D(), (2, 3, 4, 3),
     lambda b, x: x.mean(axis=(2, 3), keepdims=True)),
    (lambda: nn.GlobalMaxPool3D(), (1, 2, 2, 3, 2),
     lambda b, x: x.max(axis=(2, 3, 4), keepdims=True)),
    (lambda: nn.GlobalAvgPool3D(), (1, 2, 2, 3, 2),
     lambda b, x: x.mean(axis=(2, 3, 4), keepdims=True)),
    (lambda: nn.GlobalAvgPool1D(), (2, 3, 4), lambda b, x: x.mean(axis=2, keepdims=True)),
    (lambda: nn.GlobalMaxPool2D(), (2, 3, 3, 3),
     lambda b, x: x.max(axis=(2, 3), keepdims=True)),
    (lambda: nn.ReflectionPad2D(2), (1, 2, 4, 3),
     lambda b, x: np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")),
]


def _wb(block):
    bias = block.bias.data().asnumpy() if block.bias is not None else None
    return block.weight.data().asnumpy(), bias


@pytest.mark.parametrize("make,shape,ref", LAYER_GRID, ids=[str(i) for i in range(len(
    LAYER_GRID))])
def test_layer_forward_gradients_and_hybridized(rng, make, shape, ref):
    """Forward vs the loop reference; every input and parameter gradient vs central
    differences; hybridized outputs and gradients equal to eager (check_block)."""
    block = make()
    check_block(block, [_data(rng, *shape)], lambda x: ref(block, x))


def test_conv_parameter_names_and_shapes():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(8, 3, in_channels=4, groups=2), nn.Conv2DTranspose(5, 2, in_channels=8),
                nn.Conv2D(3, (1, 2), layout="NHWC", in_channels=6), nn.MaxPool2D())
    params = net.collect_params()
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {
        net.prefix + "conv0_weight": (8, 2, 3, 3), net.prefix + "conv0_bias": (8,),
        net.prefix + "conv1_weight": (8, 5, 2, 2), net.prefix + "conv1_bias": (5,),
        net.prefix + "conv2_weight": (3, 1, 2, 6), net.prefix + "conv2_bias": (3,)}
    assert sorted(net._collect_params_with_prefix()) == [
        "0.bias", "0.weight", "1.bias", "1.weight", "2.bias", "2.weight"]


def test_deferred_in_channels_and_wrong_input():
    conv = nn.Conv2D(4, 3)
    conv.initialize()
    assert conv(nd.ones((1, 5, 6, 6))).shape == (1, 4, 4, 4)
    assert conv.weight.shape == (4, 5, 3, 3)
    with pytest.raises(mx.base.MXNetError, match="input channels"):
        conv(nd.ones((1, 3, 6, 6)))


# ------------------------------------------------------------------ whole models train
def _lenet():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, 5, padding=2, activation="relu"), nn.MaxPool2D(2, 2),
            nn.Conv2D(16, 5, activation="relu"), nn.MaxPool2D(2, 2),
            nn.Dense(32, activation="relu"), nn.Dense(10))
    return net


def _train(net, x, y, steps, hybridize, lr=0.05):
    mx.random.seed(0)
    net.initialize(mx.init.Xavier(), force_reinit=True)
    if hybridize:
        net.hybridize()
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        losses.append(float(loss.mean().asscalar()))
    return losses


def test_lenet_trains_eager_and_hybridized_agree(rng):
    x = array(rng.standard_normal((8, 1, 12, 12)).astype(np.float32))
    y = array(rng.integers(0, 10, 8).astype(np.float32))
    net = _lenet()
    eager = _train(net, x, y, 6, hybridize=False)
    before = mx.stats()["eager_fallbacks"]
    hybrid = _train(net, x, y, 6, hybridize=True)
    assert eager[-1] < eager[0] * 0.9, eager
    np.testing.assert_allclose(hybrid, eager, rtol=2e-4)
    # compiled for real: the window kernels are native code, nothing ran in the interpreter
    assert mx.stats()["eager_fallbacks"] == before
    assert "tg_im2col_f32" in net.llvm_ir()


# ------------------------------------------------------------------ against MXNet 1.9.1 itself
class _MXNetCNN(mx.gluon.HybridBlock):
    """The block /work/shared/mxnet-params/cnn.params was saved from (its README)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv = nn.Conv2D(4, kernel_size=3, padding=1, activation="relu")
            self.pool = nn.MaxPool2D(2, 2)
            self.bn = nn.BatchNorm()
            self.fc = nn.Dense(10)

    def hybrid_forward(self, F, x):
        return self.fc(self.bn(self.pool(self.conv(x))))


def test_reproduces_mxnet_output():
    """tests/data/mxnet/cnn.params, written by MXNet 1.9.1's save_parameters, loads through our
    reader and reproduces the output MXNet computed (cnn_io.npz), eager and hybridized."""
    data = pathlib.Path(__file__).parent.parent / "data" / "mxnet"
    io = np.load(data / "cnn_io.npz")
    net = _MXNetCNN()
    net.load_parameters(str(data / "cnn.params"))
    x = nd.array(io["x"])
    np.testing.assert_allclose(net(x).asnumpy(), io["y"], rtol=1e-5, atol=1e-6)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), io["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel,stride,pad", [((2, 2), (2, 2), (0, 0)),
                                               ((3, 3), (2, 1), (1, 1)),
                                               ((3, 2), (1, 2), (1, 0))])
def test_max_pooling_gradient_goes_to_the_first_maximum(rng, kernel, stride, pad):
    """With ties (small integers), each window's gradient goes to its first maximum in
    row-major window order, as MXNet's pooling backward does."""
    x = rng.integers(0, 3, (2, 2, 5, 6)).astype(np.float64)
    g = rng.standard_normal(pool_ref(x, kernel, stride, pad).shape)
    want = np.zeros_like(x)
    for n, c, *o in np.ndindex(*g.shape):
        starts = [oi * s - p for oi, s, p in zip(o, stride, pad)]
        cells = list(itertools.product(*[range(max(st, 0), min(st + k, m)) for st, k, m in
                                         zip(starts, kernel, x.shape[2:])]))
        best = max(range(len(cells)), key=lambda i: (x[(n, c) + cells[i]], -i))
        want[(n, c) + cells[best]] += g[(n, c) + tuple(o)]
    xs = array(x)
    xs.attach_grad()
    with autograd.record():
        out = nd.Pooling(xs, kernel=kernel, stride=stride, pad=pad)
    out.backward(array(g))
    np.testing.assert_allclose(xs.grad.asnumpy(), want, rtol=1e-12)


def test_export_and_import_a_cnn(rng, tmp_path):
    """The padded convolution's traced primitives have no MXNet form, so export writes the
    block's own MXNet graph (Convolution, Pooling, FullyConnected); SymbolBlock reads it back
    and computes the same."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.MaxPool2D(3, 2, 1),
            nn.AvgPool2D(2, padding=1, count_include_pad=False), nn.Dense(5))
    net.initialize()
    net.hybridize()
    x = array(rng.standard_normal((2, 1, 9, 9)).astype(np.float32))
    want = net(x).asnumpy()
    path = str(tmp_path / "cnn")
    net.export(path)
    ops = {n["op"] for n in json.loads(open(path + "-symbol.json").read())["nodes"]}
    assert {"Convolution", "Pooling", "FullyConnected"} <= ops
    back = mx.gluon.SymbolBlock.imports(path + "-symbol.json", ["data"], path + "-0000.params")
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-6, atol=1e-7)
