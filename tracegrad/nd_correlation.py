"""`mx.nd.Correlation` (MXNet 1.9.1's src/operator/correlation.cc, FlowNet's correlation
layer): for every position of data1 on a stride1 grid and every displacement of a
(2 * max_displacement / stride2 + 1)^2 neighbourhood, the mean over a kernel_size^2 window
and all channels of data1 * data2 (is_multiply) or |data1 - data2| at the displaced window.
A composite of registry primitives (pad, slices, products, sums): it records, compiles and
differentiates. Imported into `nd`.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["Correlation"]


def _count(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise MXNetError(f"Correlation: {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def correlation_sizes(shape, kernel_size, max_displacement, stride1, stride2, pad_size):
    """(top_channels, top_height, top_width, grid radius) as MXNet's CorrelationProp infers
    them; MXNetError when the neighbourhood and the kernel do not fit."""
    kernel_radius = (kernel_size - 1) // 2
    border = max_displacement + kernel_radius
    tops = []
    for d in shape[2:]:
        room = d + 2 * pad_size - 2 * border
        tops.append(-(-room // stride1) if room > 0 else 0)    # (ceil, as MXNet)
    if min(tops) < 1:
        raise MXNetError(f"Correlation: cannot be done with data of shape {tuple(shape)}, "
                         f"kernel_size={kernel_size}, max_displacement={max_displacement}, "
                         f"pad_size={pad_size}, stride1={stride1}: the neighbourhood and "
                         f"the kernel don't fit in the (padded) data")
    radius = max_displacement // stride2
    return (2 * radius + 1) ** 2, tops[0], tops[1], radius


def _abs_diff(a, b):
    """|a - b|, whose gradient at a tie is +1 for a and -1 for b (MXNet's sgn: a >= b)."""
    d = F.sub(a, b)
    sign = F.sign(d)
    return F.mul(d, F.stop_gradient(F.add(sign, F.sub(1.0, F.abs(sign)))))


def Correlation(data1, data2, kernel_size=1, max_displacement=1, stride1=1, stride2=1,
                pad_size=0, is_multiply=True, **kwargs):
    """The correlation of two NCHW arrays of one shape: output (N, (2r + 1)^2, top_h, top_w)
    with r = max_displacement // stride2; channel p * (2r + 1) + o holds the displacement
    ((p - r) * stride2, (o - r) * stride2) in (y, x). float16 data is summed in float32."""
    if kwargs:
        return _redo(Correlation, locals())
    for name, x in (("data1", data1), ("data2", data2)):
        if not isinstance(x, NDArray):
            raise MXNetError(f"Correlation: {name} must be an NDArray, got "
                             f"{type(x).__name__}")
        if x.ndim != 4:
            raise MXNetError(f"Correlation: {name} should be a 4D tensor (NCHW), got shape "
                             f"{x.shape}")
    if data1.shape != data2.shape or data1.dtype != data2.dtype:
        raise MXNetError(f"Correlation: data1 and data2 must have one shape and dtype, got "
                         f"{data1.shape} {data1.dtype} and {data2.shape} {data2.dtype}")
    if np.dtype(data1.dtype).kind != "f":
        raise MXNetError(f"Correlation: data must be floating point, got {data1.dtype}")
    k = _count("kernel_size", kernel_size, 1)
    if k % 2 == 0:
        raise MXNetError(f"Correlation: kernel size should be odd number, got {k}")
    md = _count("max_displacement", max_displacement, 0)
    s1, s2 = _count("stride1", stride1, 1), _count("stride2", stride2, 1)
    pad = _count("pad_size", pad_size, 0)
    _, top_h, top_w, radius = correlation_sizes(data1.shape, k, md, s1, s2, pad)
    x1, x2 = data1, data2
    if data1.dtype == np.float16:
        x1, x2 = F.cast(x1, dtype="f32"), F.cast(x2, dtype="f32")
    if pad:
        widths = (0, 0, 0, 0, pad, pad, pad, pad)
        x1, x2 = F.pad(x1, pad_width=widths), F.pad(x2, pad_width=widths)
    n, c = data1.shape[:2]
    span_h, span_w = (top_h - 1) * s1 + k, (top_w - 1) * s1 + k
    ones = (1, 1, 1, 1)
    a = F.slice(x1, begin=(0, 0, md, md), end=(n, c, md + span_h, md + span_w), step=ones)
    maps = []
    for p in range(2 * radius + 1):
        dy = md + (p - radius) * s2
        for o in range(2 * radius + 1):
            dx = md + (o - radius) * s2
            b = F.slice(x2, begin=(0, 0, dy, dx), end=(n, c, dy + span_h, dx + span_w),
                        step=ones)
            e = F.mul(a, b) if is_multiply else _abs_diff(a, b)
            maps.append(F.sum(e, axes=(1,), keepdims=True))
    m = F.concat(*maps, axis=1) if len(maps) > 1 else maps[0]
    if k > 1 or s1 > 1:        # the k x k window sums on the stride1 grid
        top_c = len(maps)
        windows = [F.slice(m, begin=(0, 0, h, w),
                           end=(n, top_c, h + (top_h - 1) * s1 + 1, w + (top_w - 1) * s1 + 1),
                           step=(1, 1, s1, s1))
                   for h in range(k) for w in range(k)]
        m = windows[0]
        for win in windows[1:]:
            m = F.add(m, win)
    out = F.mul(m, 1.0 / (k * k * c))
    return F.cast(out, dtype="f16") if data1.dtype == np.float16 else out
