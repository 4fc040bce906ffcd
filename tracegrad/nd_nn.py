"""`nd.Convolution`, `nd.Deconvolution`, `nd.Pooling`, `nd.im2col`/`col2im`, `nd.LeakyReLU`,
`nd.GroupNorm` and `nd.InstanceNorm`, with MXNet 1.9.1's arguments, defaults and layouts.

Channel-last layouts (NWC, NHWC, NDHWC) are transposed to channel-first around the composite;
their weights are (num_filter, *kernel, channels / num_group), as in MXNet.
"""
import math

import numpy as np

from .array import F
from .base import MXNetError
from .ir import activations as A
from .ir import convolution as CV
from .op_kwargs import redo as _redo

_CHANNEL_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
_CHANNEL_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _tuple(v, d, default, what, op):
    if v is None or v == () or v == []:
        return (default,) * d
    v = (v,) * d if isinstance(v, (int, np.integer)) else tuple(int(i) for i in v)
    if what == "pad" and len(v) > d and not any(v[d:]):
        # (MXNet reads the first d entries of a longer pad; unused zeros are harmless,
        # anything else it would ignore silently, so that is refused below)
        v = v[:d]
    if len(v) != d:
        raise MXNetError(f"{op}: {what} {v} needs {d} entries for a {d}-d kernel")
    return v


def _check_windows(op, kernel, stride, pad, dilate=None):
    """Window geometry MXNet accepts: kernel, stride, dilate >= 1 and pad >= 0 on every axis
    (a 0 stride divided by zero, a negative pad silently cropped)."""
    bad = [f"{what} {v}" for what, v, lo in (("kernel", kernel, 1), ("stride", stride, 1),
                                              ("dilate", dilate, 1), ("pad", pad, 0))
           if v is not None and any(i < lo for i in v)]
    if bad:
        raise MXNetError(f"{op}: kernel, stride and dilate must be >= 1 and pad >= 0, got "
                         f"{', '.join(bad)}")


def _layout(layout, d, op):
    """True when the layout is channel-last; raises for layouts MXNet does not have."""
    if layout is None or layout == _CHANNEL_FIRST[d]:
        return False
    if layout == _CHANNEL_LAST[d]:
        return True
    raise MXNetError(f"{op}: layout {layout!r} is not one of {_CHANNEL_FIRST[d]!r}, "
                     f"{_CHANNEL_LAST[d]!r} for a {d}-d kernel")


def _to_first(x):
    return F.transpose(x, perm=(0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))


def _to_last(x):
    return F.transpose(x, perm=(0,) + tuple(range(2, x.ndim)) + (1,))


def _check_data(data, d, op):
    if data.ndim != d + 2:
        raise MXNetError(f"{op}: data of shape {data.shape} must have {d + 2} axes for a "
                         f"{d}-d kernel (batch, channel and {d} spatial)")


def _check_floating(data, op):
    """MXNet runs these ops for floating point data only (an integer array stops with "only
    supports floating point types"); say so instead of pooling or normalising integers."""
    if np.dtype(data.dtype).kind != "f":
        raise MXNetError(f"{op}: data must be a floating point array (float32 or "
                         f"float64), got {np.dtype(data.dtype).name} of shape {data.shape}")


def _add_bias(out, bias, no_bias):
    if no_bias or bias is None:
        return out
    return F.add(out, F.reshape(bias, shape=(1, bias.shape[0]) + (1,) * (out.ndim - 2)))


def _run(op, fn):
    try:
        return fn()
    except (ValueError, TypeError) as e:
        msg = str(e)
        raise MXNetError(msg if msg.startswith(op) else f"{op}: {msg}") from None


def _conv_windows(op, data, kernel, stride, dilate, pad):
    """Convolution's and Deconvolution's window arguments as d-tuples, checked."""
    if not kernel:
        raise MXNetError(f"{op}: kernel is required")
    kernel = _tuple(kernel, len(kernel) if not isinstance(kernel, int) else 1, 1, "kernel", op)
    d = len(kernel)
    _check_data(data, d, op)
    stride = _tuple(stride, d, 1, "stride", op)
    dilate = _tuple(dilate, d, 1, "dilate", op)
    pad = _tuple(pad, d, 0, "pad", op)
    _check_windows(op, kernel, stride, pad, dilate)
    return kernel, stride, dilate, pad


def Convolution(data=None, weight=None, bias=None, kernel=None, stride=None, dilate=None,
                pad=None, num_filter=None, num_group=1, workspace=1024, no_bias=False,
                cudnn_tune=None, cudnn_off=False, layout=None, **kwargs):
    """MXNet Convolution: data (N, C, *spatial), weight (num_filter, C / num_group, *kernel)."""
    if kwargs:
        return _redo(Convolution, locals())
    kernel, stride, dilate, pad = _conv_windows("Convolution", data, kernel, stride, dilate, pad)
    d = len(kernel)
    last = _layout(layout, d, "Convolution")
    x, w = (_to_first(data), _to_first(weight)) if last else (data, weight)
    if num_filter is not None and w.shape[0] != num_filter:
        raise MXNetError(f"Convolution: weight {weight.shape} has {w.shape[0]} filters, "
                         f"num_filter is {num_filter}")
    out = _run("Convolution", lambda: CV.convolution(F, x, w, kernel, stride, dilate, pad,
                                                     int(num_group)))
    out = _add_bias(out, bias, no_bias)
    return _to_last(out) if last else out


def Deconvolution(data=None, weight=None, bias=None, kernel=None, stride=None, dilate=None,
                  pad=None, adj=None, target_shape=None, num_filter=None, num_group=1,
                  workspace=512, no_bias=True, cudnn_tune=None, cudnn_off=False, layout=None,
                  **kwargs):
    """MXNet Deconvolution (transposed convolution): weight (C, num_filter / num_group,
    *kernel). target_shape, when given, sets pad and adj so the output has that size."""
    if kwargs:
        return _redo(Deconvolution, locals())
    kernel, stride, dilate, pad = _conv_windows("Deconvolution", data, kernel, stride, dilate, pad)
    d = len(kernel)
    adj = _tuple(adj, d, 0, "adj", "Deconvolution")
    by_target = bool(target_shape) and any(int(t) > 0 for t in target_shape)
    if not by_target and any(not 0 <= a < s for a, s in zip(adj, stride)):
        # (with target_shape, MXNet sets pad and adj from it and ignores the given ones)
        raise MXNetError(f"Deconvolution: adj {adj} must be >= 0 and smaller than stride "
                         f"{stride}")
    last = _layout(layout, d, "Deconvolution")
    x, w = (_to_first(data), _to_first(weight)) if last else (data, weight)
    if num_filter is not None and w.shape[1] * int(num_group) != num_filter:
        raise MXNetError(f"Deconvolution: weight {weight.shape} with num_group {num_group} "
                         f"makes {w.shape[1] * int(num_group)} filters, num_filter is "
                         f"{num_filter}")
    if by_target:
        target = _tuple(target_shape, d, 0, "target_shape", "Deconvolution")
        pad, adj = [], []
        for n, k, s, dl, t in zip(x.shape[2:], kernel, stride, dilate, target):
            total = s * (n - 1) + dl * (k - 1) + 1 - t
            pad.append((total + 1) // 2)
            adj.append(total % 2)
        pad, adj = tuple(pad), tuple(adj)
    out = _run("Deconvolution", lambda: CV.deconvolution(F, x, w, kernel, stride, dilate, pad,
                                                         adj, int(num_group)))
    out = _add_bias(out, bias, no_bias)
    return _to_last(out) if last else out


_POOL_TYPES = ("max", "avg", "sum", "lp")
_CONVENTIONS = ("valid", "full", "same")


def Pooling(data=None, kernel=None, pool_type="max", global_pool=False, cudnn_off=False,
            pooling_convention="valid", stride=None, pad=None, p_value=None,
            count_include_pad=None, layout=None, **kwargs):
    """MXNet Pooling: max / avg / sum / lp (p_value 1 or 2) over windows, or over all spatial
    axes with global_pool (the output keeps them as size 1)."""
    if kwargs:
        return _redo(Pooling, locals())
    if pool_type not in _POOL_TYPES or pooling_convention not in _CONVENTIONS:
        raise MXNetError(f"Pooling: pool_type {pool_type!r} / pooling_convention "
                         f"{pooling_convention!r} not in {_POOL_TYPES} / {_CONVENTIONS}")
    if pool_type == "lp" and p_value not in (1, 2):
        raise MXNetError(f"Pooling: lp pooling needs p_value 1 or 2, got {p_value}")
    if data.ndim not in (3, 4, 5):
        raise MXNetError(f"Pooling: data of shape {data.shape} must be 3-d, 4-d or 5-d")
    _check_floating(data, "Pooling")
    d = data.ndim - 2
    last = _layout(layout, d, "Pooling")
    x = _to_first(data) if last else data
    include = True if count_include_pad is None else bool(count_include_pad)
    if pool_type == "lp":
        x = F.abs(x) if p_value == 1 else F.mul(x, x)
    if global_pool:
        out = _global_pool(x, pool_type if pool_type != "lp" else "sum")
    else:
        if not kernel:
            raise MXNetError("Pooling: kernel is required unless global_pool=True")
        kernel = _tuple(kernel, d, 1, "kernel", "Pooling")
        stride = _tuple(stride, d, 1, "stride", "Pooling")
        pad = _tuple(pad, d, 0, "pad", "Pooling")
        _check_windows("Pooling", kernel, stride, pad)
        if pooling_convention == "same" and (d != 1 or any(pad)):
            raise MXNetError("Pooling: pooling_convention 'same' supports 1-d pooling without "
                             "pad only")
        for n, k, p in zip(x.shape[2:], kernel, pad):
            if k > n + 2 * p:
                raise MXNetError(f"Pooling: kernel {kernel} exceeds input {x.shape[2:]} padded "
                                 f"by {pad}")
        out = _run("Pooling", lambda: CV.pooling(
            F, x, kernel, stride, pad, pool_type if pool_type != "lp" else "sum",
            pooling_convention, include))
    if pool_type == "lp" and p_value == 2:
        out = F.sqrt(out)
    return _to_last(out) if last else out


def _global_pool(x, pool_type):
    axes = tuple(range(2, x.ndim))
    if pool_type == "max":      # (the gradient to the first maximum, as MXNet's pooling;
        # from the dtype's lowest finite value, as its windowed max: CV.pooling)
        return F.maximum(CV.first_max(F, x, axes, keepdims=True),
                         float(np.finfo(x.dtype).min))
    total = F.sum(x, axes=axes, keepdims=True)
    n = math.prod(x.shape[2:])  # the mean of no positions is NaN, as nd.mean's
    return total if pool_type == "sum" else F.mul(total, 1.0 / n if n else math.nan)


def im2col(data, kernel, stride=None, dilate=None, pad=None, **kwargs):
    """MXNet im2col: (N, C, *spatial) -> (N, C * prod(kernel), number of windows)."""
    if kwargs:
        return _redo(im2col, locals())
    kernel = _tuple(kernel, len(kernel), 1, "kernel", "im2col")
    d = len(kernel)
    pad = _tuple(pad, d, 0, "pad", "im2col")
    cols = F.im2col(data, kernel=kernel, stride=_tuple(stride, d, 1, "stride", "im2col"),
                    dilate=_tuple(dilate, d, 1, "dilate", "im2col"), pad_lo=pad, pad_hi=pad)
    n, c = data.shape[:2]
    k, windows = math.prod(kernel), math.prod(cols.shape[2 + d:])
    cols = F.transpose(F.reshape(cols, shape=(c, k, n, windows)), perm=(2, 0, 1, 3))
    return F.reshape(cols, shape=(n, c * k, windows))


def col2im(data, output_size, kernel, stride=None, dilate=None, pad=None, **kwargs):
    """MXNet col2im: (N, C * prod(kernel), windows) -> (N, C, *output_size), summing overlaps."""
    if kwargs:
        return _redo(col2im, locals())
    kernel = _tuple(kernel, len(kernel), 1, "kernel", "col2im")
    d = len(kernel)
    pad = _tuple(pad, d, 0, "pad", "col2im")
    stride, dilate = _tuple(stride, d, 1, "stride", "col2im"), _tuple(dilate, d, 1, "dilate",
                                                                      "col2im")
    size = tuple(int(s) for s in output_size)
    out = CV.conv_out_sizes(size, kernel, stride, dilate, pad)
    n, c = data.shape[0], data.shape[1] // math.prod(kernel)
    cols = F.reshape(data, shape=(n, c, math.prod(kernel), math.prod(out)))
    cols = F.reshape(F.transpose(cols, perm=(1, 2, 0, 3)), shape=(c,) + kernel + (n,) + out)
    return F.col2im(cols, shape=(n, c) + size, kernel=kernel, stride=stride, dilate=dilate,
                    pad_lo=pad, pad_hi=pad)


_LEAKY_TYPES = ("leaky", "prelu", "elu", "selu", "gelu", "rrelu")


def _prelu_gamma_shape(gshape, dshape):
    """gamma's shape broadcast against data as MXNet's expand_shape aligns it: its last axes
    matched from the end with data's axes 0 and 1 (equal or 1), every other axis 1: (C,) is
    per channel, (N, C) per sample and channel, data's own 2-d shape per element."""
    result, s = [1] * len(dshape), len(gshape) - 1
    for i in range(len(dshape) - 1, -1, -1):
        if s >= 0 and i <= 1 and gshape[s] in (dshape[i], 1):
            result[i] = gshape[s]
            s -= 1
    if s != -1:
        raise MXNetError(f"LeakyReLU: prelu gamma of shape {gshape} does not broadcast against "
                         f"data of shape {dshape} (it is matched with data's axes 0 and 1)")
    return tuple(result)


def LeakyReLU(data=None, gamma=None, act_type="leaky", slope=0.25, lower_bound=0.125,
              upper_bound=0.334, **kwargs):
    """MXNet LeakyReLU: leaky (slope), prelu (learned gamma, per channel on axis 1), elu
    (slope = alpha), selu, gelu (erf form), rrelu (inference: the mean slope of its range)."""
    if kwargs:
        return _redo(LeakyReLU, locals())
    if act_type not in _LEAKY_TYPES:
        raise MXNetError(f"LeakyReLU: unknown act_type {act_type!r}; expected one of "
                         f"{', '.join(_LEAKY_TYPES)}")
    if act_type == "leaky":
        return A.leaky(F, data, float(slope))
    if act_type == "prelu":
        if gamma is None:
            raise MXNetError("LeakyReLU: act_type 'prelu' needs gamma")
        shape = _prelu_gamma_shape(tuple(gamma.shape), tuple(data.shape))
        if shape != tuple(gamma.shape):
            gamma = F.reshape(gamma, shape=shape)
        return A.prelu(F, data, gamma)
    if act_type == "elu":
        return A.elu(F, data, float(slope))
    if act_type == "selu":
        return A.selu(F, data)
    if act_type == "gelu":
        return A.gelu(F, data)
    from .runtime.tape import STATE
    if STATE.training:
        raise MXNetError("LeakyReLU: act_type 'rrelu' draws random slopes in training, which "
                         "tracegrad does not support; use it in inference (predict mode)")
    return A.leaky(F, data, (float(lower_bound) + float(upper_bound)) / 2.0)


def GroupNorm(data=None, gamma=None, beta=None, num_groups=1, eps=1e-5, output_mean_var=False,
              **kwargs):
    """MXNet GroupNorm: normalize each sample over (channels of a group, spatial axes), then
    scale and shift per group (gamma, beta of shape (num_groups,), as in MXNet 1.x)."""
    if kwargs:
        return _redo(GroupNorm, locals())
    _check_floating(data, "GroupNorm")
    n, c = data.shape[:2]
    if c % num_groups:
        raise MXNetError(f"GroupNorm: {c} channels do not split into {num_groups} groups")
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p.shape != (num_groups,):
            raise MXNetError(f"GroupNorm: {name} must have shape ({num_groups},) (one entry "
                             f"per group), got {p.shape}")
    if output_mean_var:     # (MXNet's extra outputs: mean and std per sample and group)
        return list(A.group_norm(F, data, gamma, beta, int(num_groups), float(eps),
                                 stats=True))
    return A.group_norm(F, data, gamma, beta, int(num_groups), float(eps))


def InstanceNorm(data=None, gamma=None, beta=None, eps=1e-3, **kwargs):
    """MXNet InstanceNorm: normalize each (sample, channel) over its spatial axes."""
    if kwargs:
        return _redo(InstanceNorm, locals())
    _check_floating(data, "InstanceNorm")
    if data.ndim < 3:
        raise MXNetError(f"InstanceNorm: data of shape {data.shape} needs rank >= 3 (batch, "
                         f"channel and spatial axes)")
    return A.group_norm(F, data, gamma, beta, data.shape[1], float(eps))
