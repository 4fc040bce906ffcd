"""Convolution, deconvolution and pooling as composites of primitives.

Each takes `b` first (an ir.Builder or the eager dispatcher), works on channel-first arrays
(N, C, *spatial) with 1 to 3 spatial axes, and follows MXNet 1.9.1's definitions. Convolution
is im2col then one GEMM over the whole batch, deconvolution a GEMM then col2im. Pooling picks
by shape: up to 3x3 windows are a maximum / sum of strided slices of the (padded) input, larger
windows that tile the input a reshape and a reduction, the rest a reduction of im2col. Gradients
come from the primitives (im2col <-> col2im, matmul, slice, maximum), so they exist to any order
and compile to native kernels (the generic im2col / col2im loops, BLAS GEMM, fused loops).
"""
import itertools
import math

import numpy as np


def _ones(b, shape, dtype):
    """Ones built from ops alone, so this works for a Builder and the eager dispatcher alike."""
    return b.add(b.iota(shape=shape, axis=0, dtype=dtype), 1.0)


def _g(groups, rows, cols):
    """A per-group matrix shape; plain 2-d for one group (one GEMM, no batch loop)."""
    return (rows, cols) if groups == 1 else (groups, rows, cols)


def conv_out_sizes(spatial, kernel, stride, dilate, pad):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, p in zip(spatial, kernel, stride, dilate, pad))


def convolution(b, x, w, kernel, stride, dilate, pad, groups=1):
    """out[n, o, p] = sum over c in o's group and k of x[n, c, p*stride + k*dilate - pad] *
    w[o, c, k]: im2col, then one GEMM (per group) of the flattened weight with every sample's
    windows side by side."""
    n, c = x.shape[:2]
    o = w.shape[0]
    d = len(kernel)
    if c % groups or o % groups or w.shape[1] * groups != c or tuple(w.shape[2:]) != kernel:
        raise ValueError(f"Convolution: data {tuple(x.shape)}, weight {tuple(w.shape)}, "
                         f"kernel {kernel}, num_group {groups} do not fit (weight must be "
                         f"(num_filter, channels / num_group, *kernel))")
    spatial = tuple(x.shape[2:])
    if any(m + 2 * p - dl * (k - 1) - 1 < 0 for m, k, dl, p in zip(spatial, kernel, dilate, pad)):
        # checked here, before the fast paths: im2col's type rule checks it for the rest
        raise ValueError(f"Convolution: kernel {kernel} (dilate {dilate}) exceeds the input "
                         f"{spatial} padded by {pad}")
    if groups == 1 and all(k == 1 and s == 1 and p == 0 for k, s, p in
                           zip(kernel, stride, pad)):
        return _pointwise(b, x, w)
    if groups == c == o and math.prod(kernel) <= _SLICED_MAX:
        return _sliced_depthwise(b, x, w, kernel, stride, dilate, pad)
    cols = b.im2col(x, kernel=kernel, stride=stride, dilate=dilate, pad_lo=pad, pad_hi=pad)
    out_sp = tuple(cols.shape[2 + d:])
    ck, npos = (c // groups) * math.prod(kernel), n * math.prod(out_sp)
    # im2col is (C, *kernel, N, *out): per group, (O/G, CK/G) @ (CK/G, N * positions)
    out = b.matmul(b.reshape(w, shape=_g(groups, o // groups, ck)),
                   b.reshape(cols, shape=_g(groups, ck, npos)))
    out = b.reshape(out, shape=(o, n) + out_sp)
    return _row_major(b, b.transpose(out, perm=(1, 0) + tuple(range(2, 2 + d))))


def _pointwise(b, x, w):
    """A 1x1 convolution (stride 1, no pad, one group) is a matrix product per sample:
    out[n] = W (O, C) @ x[n] (C, positions). The samples stay in NC* layout: no im2col copy,
    no transpose of the result (the weight is broadcast over the batch, a stride-0 view)."""
    n, c = x.shape[:2]
    o = w.shape[0]
    positions = math.prod(x.shape[2:])
    wb = b.broadcast_to(b.reshape(w, shape=(1, o, c)), shape=(n, o, c))
    out = b.matmul(wb, b.reshape(x, shape=(n, c, positions)))
    return b.reshape(out, shape=(n, o) + tuple(x.shape[2:]))


def _sliced_depthwise(b, x, w, kernel, stride, dilate, pad):
    """A depthwise convolution (one filter per channel: MobileNet's) with a small window, as
    pooling's sliced form: for each window offset k the strided slice of the (padded) input
    times that offset's weight per channel, summed. Elementwise over views, so compiled it is
    one fused loop, with no im2col array nine times the input and no product per channel."""
    n, c = x.shape[:2]
    d = len(kernel)
    spatial = tuple(x.shape[2:])
    out = conv_out_sizes(spatial, kernel, stride, dilate, pad)
    hi = tuple(max(0, (o - 1) * s + (k - 1) * dl + 1 - m - p) for m, k, s, dl, o, p in
               zip(spatial, kernel, stride, dilate, out, pad))
    xp = _pad(b, x, tuple(pad), hi, 0.0)
    acc = None
    for k in itertools.product(*[range(kk) for kk in kernel]):
        first = tuple(ki * dl for ki, dl in zip(k, dilate))
        part = b.slice(xp, begin=(0, 0) + first, step=(1, 1) + tuple(stride),
                       end=(n, c) + tuple(f + (o - 1) * s + 1 for f, o, s in
                                          zip(first, out, stride)))
        wk = b.slice(w, begin=(0, 0) + k, end=(c, 1) + tuple(ki + 1 for ki in k),
                     step=(1,) * (2 + d))
        term = b.mul(part, b.reshape(wk, shape=(1, c) + (1,) * d))
        acc = term if acc is None else b.add(acc, term)
    return acc


def _row_major(b, x):
    """x, laid out row-major when run eagerly: numpy keeps a transposed view's memory order
    through every later elementwise op (and native calls would copy such arrays), so one copy
    here is cheaper. It is a reshape away and back: compiled code folds the pair to nothing."""
    return b.reshape(b.reshape(x, shape=(x.shape[0], math.prod(x.shape[1:]))),
                     shape=tuple(x.shape))


def deconv_out_sizes(spatial, kernel, stride, dilate, pad, adj):
    return tuple(s * (n - 1) + d * (k - 1) + 1 - 2 * p + a
                 for n, k, s, d, p, a in zip(spatial, kernel, stride, dilate, pad, adj))


def deconvolution(b, x, w, kernel, stride, dilate, pad, adj, groups=1):
    """The transpose of convolution with respect to its data: x (N, C, *in), weight
    (C, F / groups, *kernel) -> (N, F, *out), with
    out = stride * (in - 1) + dilate * (k - 1) + 1 - 2 * pad + adj."""
    n, c = x.shape[:2]
    d = len(kernel)
    if c % groups or w.shape[0] != c or tuple(w.shape[2:]) != kernel:
        raise ValueError(f"Deconvolution: data {tuple(x.shape)}, weight {tuple(w.shape)}, "
                         f"kernel {kernel}, num_group {groups} do not fit (weight must be "
                         f"(channels, num_filter / num_group, *kernel))")
    f = w.shape[1] * groups
    in_sp = tuple(x.shape[2:])
    out_sp = deconv_out_sizes(in_sp, kernel, stride, dilate, pad, adj)
    if min(out_sp) < 1:
        raise ValueError(f"Deconvolution: output size {out_sp} from input {in_sp} is empty")
    fk, npos = (f // groups) * math.prod(kernel), math.prod(in_sp)
    # per group (FK/G, C/G) @ (C/G, N * positions): the windows as im2col lays them out
    xg = b.transpose(x, perm=(1, 0) + tuple(range(2, 2 + d)))
    xg = b.reshape(xg, shape=_g(groups, c // groups, n * npos))
    wg = b.reshape(w, shape=_g(groups, c // groups, fk))
    cols = b.reshape(b.matmul(wg, xg, transpose_a=True), shape=(f,) + tuple(kernel) + (n,) + in_sp)
    pad_hi = tuple(p - a for p, a in zip(pad, adj))
    return b.col2im(cols, shape=(n, f) + out_sp, kernel=kernel, stride=stride, dilate=dilate,
                    pad_lo=pad, pad_hi=pad_hi)


def pool_out_sizes(spatial, kernel, stride, pad, convention):
    """MXNet's output size per convention: valid floors, full ceils, same is ceil(n / s)."""
    out = []
    for n, k, s, p in zip(spatial, kernel, stride, pad):
        if convention == "valid":
            out.append((n + 2 * p - k) // s + 1)
        elif convention == "full":
            out.append(-(-(n + 2 * p - k) // s) + 1)
        else:
            out.append(-(-(n + 2 * p) // s))
    return tuple(out)


def pooling(b, x, kernel, stride, pad, pool_type="max", convention="valid",
            count_include_pad=True):
    """max / avg / sum over each window (channel-first x), as MXNet 1.9.1's CPU kernels
    (src/operator/nn/pool.h): window o covers [o * stride - pad, o * stride - pad + kernel),
    cut to x for max and sum. 'same' (1-d, pad 0) only changes the number of windows to
    ceil(n / stride): they start at 0 and the last ones are cut at the end of x, as for 'full'.
    avg divides by the window's size within [-pad, n + pad) (count_include_pad) or within x.
    A window with no element of x ('full' with stride > kernel) is 0 for avg and sum, and max
    starts from the lowest finite value of the dtype (MXNet's MinValue), so it is that value
    there, and wherever a window holds only -inf."""
    spatial = tuple(x.shape[2:])
    d = len(kernel)
    out = pool_out_sizes(spatial, kernel, stride, pad, convention)
    lo = tuple(pad)
    hi = tuple(max(p, (o - 1) * s + k - n - p) for n, k, s, o, p in
               zip(spatial, kernel, stride, out, lo))
    inside = not any(lo) and all((o - 1) * s + k <= n for n, k, s, o in
                                 zip(spatial, kernel, stride, out))
    reduce_type = "max" if pool_type == "max" else "sum"
    if math.prod(kernel) <= _SLICED_MAX:
        grow = tuple(max(0, (o - 1) * s + k - n - p) for n, k, s, o, p in
                     zip(spatial, kernel, stride, out, lo))
        xp = _pad(b, x, lo, grow, -math.inf if pool_type == "max" else 0.0)
        total = _sliced_pooling(b, xp, kernel, stride, out, reduce_type)
    elif inside and tuple(kernel) == tuple(stride):
        total = _tiled_pooling(b, x, kernel, out, reduce_type)
    else:
        total = _im2col_pooling(b, x, kernel, stride, lo, hi, reduce_type)
    if pool_type == "max":
        return b.maximum(total, float(np.finfo(x.type.np_dtype).min))
    if pool_type != "avg":
        return total
    counts = _window_counts(spatial, kernel, stride, lo, out, count_include_pad)
    if counts is not None:
        return b.mul(total, 1.0 / counts)
    # windows of different sizes: count them with an im2col over ones (a constant); a window
    # that counts nothing has a sum of 0 and stays 0
    region = spatial if not count_include_pad else tuple(n + 2 * p for n, p in zip(spatial, lo))
    ones = _ones(b, (1, 1) + region, x.type.dtype)
    cut = dict(kernel=kernel, stride=stride, dilate=(1,) * d, pad_lo=lo, pad_hi=hi)
    if count_include_pad:
        cut.update(pad_lo=(0,) * d, pad_hi=tuple(h - p for h, p in zip(hi, lo)))
    count = b.sum(b.im2col(ones, **cut), axes=tuple(range(1, 1 + d)))
    return b.div(total, b.maximum(count, 1.0))


def _im2col_pooling(b, x, kernel, stride, lo, hi, reduce_type):
    """max / sum over windows through im2col: (C, *kernel, N, *out) reduced over the kernel
    axes (padding is -inf for max, 0 for sum)."""
    d = len(kernel)
    window = dict(kernel=kernel, stride=stride, dilate=(1,) * d, pad_lo=lo, pad_hi=hi)
    axes = tuple(range(1, 1 + d))
    first = (1, 0) + tuple(range(2, 2 + d))    # (C, N, *out) -> (N, C, *out)
    if reduce_type == "max":
        cols = b.im2col(x, pad_value=-math.inf, **window)
        return _row_major(b, b.transpose(first_max(b, cols, axes), perm=first))
    return _row_major(b, b.transpose(b.sum(b.im2col(x, **window), axes=axes), perm=first))


def _pad(b, x, lo, hi, value):
    """x inside a border of `value` (lo before, hi after, per spatial axis)."""
    if not any(lo) and not any(hi):
        return x
    n, c = x.shape[:2]
    spatial = tuple(x.shape[2:])
    padded = tuple(m + a + z for m, a, z in zip(spatial, lo, hi))
    where = dict(begin=(0, 0) + tuple(lo), step=(1,) * (2 + len(spatial)))
    inner = tuple(a + m for a, m in zip(lo, spatial))
    xp = b.slice_scatter(x, shape=(n, c) + padded, end=(n, c) + inner, **where)
    if value == 0.0:
        return xp
    inside = b.slice_scatter(_ones(b, (1, 1) + spatial, x.type.dtype), shape=(1, 1) + padded,
                             end=(1, 1) + inner, **where)
    return b.where(b.gt(inside, 0.5), xp, value)


_SLICED_MAX = 9   # up to 3x3 windows: one strided slice per window offset


def _sliced_pooling(b, x, kernel, stride, out, pool_type):
    """max / sum over windows inside x (padded already) with few offsets (2x2, 3x3): for each
    offset k the strided slice of every window's element k, combined by maximum / add. Elementwise, so it runs fast in numpy and
    fuses into one loop when compiled; maximum sends a tie's gradient to its first operand, so
    max pooling's gradient goes to the first maximum of a window, as in MXNet."""
    acc = None
    for k in itertools.product(*[range(kk) for kk in kernel]):
        begin = (0, 0) + k
        end = tuple(x.shape[:2]) + tuple(kk + (o - 1) * s + 1
                                         for kk, o, s in zip(k, out, stride))
        part = b.slice(x, begin=begin, end=end, step=(1, 1) + tuple(stride))
        if acc is None:
            acc = part
        else:
            acc = b.maximum(acc, part) if pool_type == "max" else b.add(acc, part)
    return acc


def _tiled_pooling(b, x, kernel, out, pool_type):
    """max / sum over windows that tile x (kernel == stride, no padding): x (cut to whole
    tiles) reshaped to (N, C, o1, k1, o2, k2, ...) and reduced over the k axes; no im2col."""
    d = len(kernel)
    spatial = tuple(x.shape[2:])
    if any(o * k != n for n, k, o in zip(spatial, kernel, out)):
        ends = tuple(x.shape[:2]) + tuple(o * k for o, k in zip(out, kernel))
        x = b.slice(x, begin=(0,) * (2 + d), end=ends, step=(1,) * (2 + d))
    tiles = tuple(x.shape[:2]) + tuple(v for o, k in zip(out, kernel) for v in (o, k))
    axes = tuple(3 + 2 * i for i in range(d))
    if pool_type == "max":
        return first_max(b, b.reshape(x, shape=tiles), axes)
    return b.sum(b.reshape(x, shape=tiles), axes=axes)


def first_max(b, x, axes, keepdims=False):
    """max over `axes` (dropped, or kept as size 1) whose gradient goes to the first maximum
    in row-major order
    over them, as MXNet's max pooling backward gives it (pool.h's unpool_max: the first
    element equal to the window's max; a reduction max gives every tie all of it): per axis,
    last first, the element argmax picks, gathered. Taking the first maximum along the last
    axis, then the first row holding the maximum along the one before, ... picks the first
    maximum in row-major order."""
    for axis in sorted(axes, reverse=True):
        x = b.take_along_axis(x, b.argmax(x, axis=axis, keepdims=True), axis=axis)
    if keepdims:
        return x
    return b.reshape(x, shape=tuple(n for i, n in enumerate(x.shape) if i not in axes))


def _window_counts(spatial, kernel, stride, lo, out, count_include_pad):
    """The common size of every avg window when all have the same size, else None. A window
    counts the positions of [-pad, n + pad) it covers (count_include_pad) or those of x."""
    for n, k, s, o, p in zip(spatial, kernel, stride, out, lo):
        start, end = (-p, n + p) if count_include_pad else (0, n)
        if -p < start or (o - 1) * s + k - p > end:
            return None
    return float(math.prod(kernel))
