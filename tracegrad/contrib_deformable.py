"""`nd.contrib.DeformableConvolution` and `ModulatedDeformableConvolution` (MXNet 1.9.1; Dai et
al. 2017, Zhu et al. 2019): a 2-D convolution whose kernel taps sample the input at learned
fractional offsets.

For output position (y, x), kernel tap (i, j) and deformable group g (C / G input channels
each), the tap reads its channels at

    (y * stride - pad + i * dilate + dy,  x * stride - pad + j * dilate + dx)

with (dy, dx) = offset[n, 2 * (g * K + i * kw + j) + (0, 1), y, x], K = kh * kw, interpolated
bilinearly from the four neighbours (a neighbour outside the image reads 0, so a point at or
beyond one pixel outside reads 0), times mask[n, g * K + i * kw + j, y, x] in the modulated
form. The sampled columns (N, C * K, Ho * Wo) then meet the weight (num_filter, C / num_group,
kh, kw) as an ordinary convolution's im2col does.

Written as gathers (take) of the four neighbours and products, so they record, compile and
differentiate with respect to the data, the offsets, the mask, the weight and the bias (the
bilinear weights' piecewise-linear derivative, as MXNet's backward kernels compute).
"""
import numpy as np

from .array import F
from .base import MXNetError
from .ir.convolution import conv_out_sizes
from .nd_nn import _conv_windows
from .nd_spatial import bilinear_rows
from .op_kwargs import redo as _redo

__all__ = ["DeformableConvolution", "ModulatedDeformableConvolution"]


def _check(who, data, offset, mask, weight, bias, kernel, stride, dilate, pad, num_filter,
           num_group, num_deformable_group, no_bias, layout):
    if layout not in (None, "NCHW"):
        raise MXNetError(f"{who}: only layout NCHW is supported, got {layout!r}")
    if kernel is None or isinstance(kernel, int) or len(kernel) != 2:
        raise MXNetError(f"{who}: kernel must be 2 integers (2-D only), got {kernel!r}")
    kernel, stride, dilate, pad = _conv_windows(who, data, kernel, stride, dilate, pad)
    (kh, kw), (dh, dw), (ph, pw) = kernel, dilate, pad
    n, c, h, w = data.shape
    ng, gd = int(num_group), int(num_deformable_group)
    if ng < 1 or gd < 1 or c % ng or c % gd or int(num_filter) % ng:
        raise MXNetError(f"{who}: {c} input channels and num_filter {num_filter} must split "
                         f"into num_group {num_group}, and the channels into "
                         f"num_deformable_group {num_deformable_group}")
    ho, wo = conv_out_sizes((h, w), kernel, stride, dilate, pad)
    if ho < 1 or wo < 1:
        raise MXNetError(f"{who}: kernel {(kh, kw)} (dilate {(dh, dw)}) is larger than the "
                         f"padded input {(h + 2 * ph, w + 2 * pw)}")
    k = kh * kw
    want = {"offset": (n, 2 * gd * k, ho, wo), "weight": (int(num_filter), c // ng, kh, kw)}
    if mask is not None:
        want["mask"] = (n, gd * k, ho, wo)
    if not no_bias:
        if bias is None:
            raise MXNetError(f"{who}: no_bias=False needs a bias")
        want["bias"] = (int(num_filter),)
    given = {"offset": offset, "weight": weight, "mask": mask, "bias": bias}
    for name, shape in want.items():
        if tuple(given[name].shape) != shape:
            raise MXNetError(f"{who}: {name} must have shape {shape} for data {data.shape}, "
                             f"got {given[name].shape}")
        if np.dtype(given[name].dtype) != np.dtype(data.dtype):
            raise MXNetError(f"{who}: {name} ({np.dtype(given[name].dtype)}) must have the "
                             f"data's dtype ({np.dtype(data.dtype)})")
    return kernel, stride, dilate, pad, ng, gd, (ho, wo)


def _part(x, axis, begin, end):
    """x[..., begin:end, ...] along axis."""
    lo, hi = [0] * x.ndim, list(x.shape)
    lo[axis], hi[axis] = begin, end
    return F.slice(x, begin=tuple(lo), end=tuple(hi), step=(1,) * x.ndim)


def _columns(data, offset, mask, kernel, stride, dilate, pad, groups, out_hw):
    """The sampled columns (N, C * K, Ho * Wo), channel-major then tap, as im2col lays them
    out for the weight (num_filter, C / num_group * K)."""
    from .nd import array
    n, c, h, w = data.shape
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = kernel, stride, dilate, pad
    ho, wo = out_hw
    k, m, cg = kh * kw, ho * wo, c // groups
    dt = np.dtype(data.dtype)
    # where each tap reads before its offset: (K, M) grids, constants
    taps_y = (np.arange(kh) * dh).repeat(kw)
    taps_x = np.tile(np.arange(kw) * dw, kh)
    out_y = (np.arange(ho) * sh - ph).repeat(wo)
    out_x = np.tile(np.arange(wo) * sw - pw, ho)
    base_y = array((taps_y[:, None] + out_y[None, :]).astype(dt), dtype=dt)
    base_x = array((taps_x[:, None] + out_x[None, :]).astype(dt), dtype=dt)
    moves = F.reshape(offset, shape=(n, groups, k, 2, m))
    y = F.add(F.reshape(_part(moves, 3, 0, 1), shape=(n, groups, k, m)),
              F.reshape(base_y, shape=(1, 1, k, m)))
    x = F.add(F.reshape(_part(moves, 3, 1, 2), shape=(n, groups, k, m)),
              F.reshape(base_x, shape=(1, 1, k, m)))
    # every pixel of every (image, deformable group) is one row of its group's channels
    rows = F.reshape(F.transpose(F.reshape(data, shape=(n, groups, cg, h * w)),
                                 perm=(0, 1, 3, 2)), shape=(n * groups * h * w, cg))
    base = F.mul(F.add(F.mul(F.iota(shape=(n, groups, k, m), axis=0), groups),
                       F.iota(shape=(n, groups, k, m), axis=1)), h * w)
    val = bilinear_rows(rows, base, y, x, h, w)                     # (N, G, K, M, Cg)
    if mask is not None:
        val = F.mul(val, F.reshape(mask, shape=(n, groups, k, m, 1)))
    # (N, G, K, M, Cg) -> (N, G, Cg, K, M) -> (N, C * K, M)
    return F.reshape(F.transpose(val, perm=(0, 1, 4, 2, 3)), shape=(n, c * k, m))


def _convolve(who, data, offset, mask, weight, bias, kernel, stride, dilate, pad, num_filter,
              num_group, num_deformable_group, no_bias, layout):
    kernel, stride, dilate, pad, ng, gd, (ho, wo) = _check(
        who, data, offset, mask, weight, bias, kernel, stride, dilate, pad, num_filter,
        num_group, num_deformable_group, no_bias, layout)
    n, c = data.shape[:2]
    cols = _columns(data, offset, mask, kernel, stride, dilate, pad, gd, (ho, wo))
    ck, m, nf = cols.shape[1], ho * wo, int(num_filter)
    # (C * K, N * M), then one product per convolution group
    cols = F.reshape(F.transpose(cols, perm=(1, 0, 2)), shape=(ck, n * m))
    wmat = F.reshape(weight, shape=(nf, ck // ng))
    parts = []
    for g in range(ng):
        wg = _part(wmat, 0, g * (nf // ng), (g + 1) * (nf // ng))
        cg = _part(cols, 0, g * (ck // ng), (g + 1) * (ck // ng))
        parts.append(F.matmul(wg, cg))
    out = parts[0] if ng == 1 else F.concat(*parts, axis=0)
    out = F.transpose(F.reshape(out, shape=(nf, n, ho, wo)), perm=(1, 0, 2, 3))
    if not no_bias:
        out = F.add(out, F.reshape(bias, shape=(1, nf, 1, 1)))
    return out


def DeformableConvolution(data=None, offset=None, weight=None, bias=None, kernel=None,
                          stride=None, dilate=None, pad=None, num_filter=None, num_group=1,
                          num_deformable_group=1, workspace=1024, no_bias=False, layout=None,
                          **kwargs):
    """A convolution whose taps read data at offset (N, 2 * groups * kh * kw, Ho, Wo) from
    their grid positions, bilinearly (module docstring)."""
    if kwargs:
        return _redo(DeformableConvolution, locals())
    return _convolve("DeformableConvolution", data, offset, None, weight, bias, kernel,
                     stride, dilate, pad, num_filter, num_group, num_deformable_group,
                     no_bias, layout)


def ModulatedDeformableConvolution(data=None, offset=None, mask=None, weight=None, bias=None,
                                   kernel=None, stride=None, dilate=None, pad=None,
                                   num_filter=None, num_group=1, num_deformable_group=1,
                                   workspace=1024, no_bias=False, im2col_step=64, layout=None,
                                   **kwargs):
    """DeformableConvolution whose sampled values are scaled by mask (N, groups * kh * kw,
    Ho, Wo) (Deformable ConvNets v2)."""
    if kwargs:
        return _redo(ModulatedDeformableConvolution, locals())
    if mask is None:
        raise MXNetError("ModulatedDeformableConvolution: needs a mask")
    return _convolve("ModulatedDeformableConvolution", data, offset, mask, weight, bias,
                     kernel, stride, dilate, pad, num_filter, num_group, num_deformable_group,
                     no_bias, layout)
