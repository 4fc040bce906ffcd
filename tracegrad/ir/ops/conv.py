"""Sliding windows: im2col (every window of x, unrolled) and col2im (its adjoint, a scatter-add).

These two linear primitives carry every convolution and pooling (ir/convolution.py): a
convolution is im2col then a matmul with the weight, a deconvolution is a matmul then col2im,
max/sum pooling is a max/sum over the window axes of im2col. Since each is the other's vjp, the
gradients of all of them are again im2col/col2im and matmuls, to any order.

Layout: x is (N, C, *spatial) with d = len(kernel) spatial axes. im2col(x) is
(C, *kernel, N, *out) with element [c, k, n, o] = x[n, c, o * stride + k * dilate - pad_lo]
(pad_value outside x): channels and kernel offsets first, so (C * K, N * positions) is the GEMM
operand of a convolution over the whole batch, without a transpose. pad_hi may exceed pad_lo
(MXNet's 'full' pooling convention) or be negative (a deconvolution's output adjustment):
windows cover [-pad_lo, size + pad_hi).
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..types import FLOATS
from . import WINDOW, OpDef, fail

WINDOW_ATTRS = frozenset({"kernel", "stride", "dilate", "pad_lo", "pad_hi"})


def window_out_sizes(opname, spatial, kernel, stride, dilate, pad_lo, pad_hi):
    """Number of windows per spatial axis; raises naming `opname` when the attributes are bad."""
    d = len(kernel)
    if d == 0 or not len(spatial) == len(stride) == len(dilate) == len(pad_lo) == len(pad_hi) == d:
        fail(opname, f"kernel {list(kernel)}, stride {list(stride)}, dilate {list(dilate)}, pads "
                     f"{list(pad_lo)}/{list(pad_hi)} need one entry per spatial axis of "
                     f"{list(spatial)}")
    if min(kernel) < 1 or min(stride) < 1 or min(dilate) < 1 or min(pad_lo) < 0:
        fail(opname, f"kernel {list(kernel)}, stride {list(stride)} and dilate {list(dilate)} "
                     f"must be >= 1 and pad {list(pad_lo)} >= 0")
    out = []
    for n, k, s, dl, lo, hi in zip(spatial, kernel, stride, dilate, pad_lo, pad_hi):
        span = n + lo + hi - dl * (k - 1) - 1
        if span < 0:
            fail(opname, f"kernel {list(kernel)} (dilate {list(dilate)}) exceeds the padded "
                         f"input {list(spatial)}")
        out.append(span // s + 1)
    return tuple(out)


def _window_shape(opname, shape, kernel, stride, dilate, pad_lo, pad_hi):
    """The im2col result shape for an operand of `shape`."""
    out = window_out_sizes(opname, tuple(shape[2:]), kernel, stride, dilate, pad_lo, pad_hi)
    return (shape[1],) + tuple(kernel) + (shape[0],) + out


def _window_attrs(kernel, stride, dilate, pad_lo, pad_hi):
    return dict(kernel=kernel, stride=stride, dilate=dilate, pad_lo=pad_lo, pad_hi=pad_hi)


class Im2col(OpDef):
    """All windows of x (see module docstring); pad_value fills positions outside x."""
    name = "im2col"
    traits = frozenset({WINDOW})
    gathers = True                   # codegen/conv.py: im2col gathers, col2im scatter-adds
    attr_names = WINDOW_ATTRS
    defaults = {"pad_value": 0.0}

    def infer(x, *, kernel, stride, dilate, pad_lo, pad_hi, pad_value=0.0):
        if x.dtype not in FLOATS or x.ndim != len(kernel) + 2:
            fail("im2col", f"needs a floating (N, C, *spatial) operand with {len(kernel)} "
                           f"spatial axes, got {x}")
        out = window_out_sizes("im2col", x.shape[2:], kernel, stride, dilate, pad_lo, pad_hi)
        return x.with_shape((x.shape[1],) + tuple(kernel) + (x.shape[0],) + out)

    def impl(x, *, kernel, stride, dilate, pad_lo, pad_hi, pad_value=0.0):
        if x.ndim != len(kernel) + 2 or x.dtype.kind != "f":
            fail("im2col", f"operand {x.dtype}{list(x.shape)} is not a floating (N, C, "
                           f"*spatial) array for kernel {list(kernel)}")
        out = window_out_sizes("im2col", x.shape[2:], kernel, stride, dilate, pad_lo, pad_hi)
        widths = [(0, 0)] * 2 + [(lo, max(hi, 0)) for lo, hi in zip(pad_lo, pad_hi)]
        xp = np.pad(x, widths, constant_values=pad_value) if any(map(any, widths)) else x
        sn, sc, sp = xp.strides[0], xp.strides[1], xp.strides[2:]
        view = as_strided(xp, shape=(x.shape[1],) + tuple(kernel) + (x.shape[0],) + out,
                          strides=(sc,) + tuple(s * k for s, k in zip(sp, dilate)) + (sn,)
                          + tuple(s * k for s, k in zip(sp, stride)), writeable=False)
        return np.ascontiguousarray(view)

    def vjp(b, g, out, x, *, kernel, stride, dilate, pad_lo, pad_hi, pad_value=0.0):
        return (b.col2im(g, shape=x.shape, **_window_attrs(kernel, stride, dilate, pad_lo,
                                                            pad_hi)),)


class Col2im(OpDef):
    """Adjoint of im2col onto an array of `shape`: each window element is added back where it
    came from; elements that came from padding are dropped."""
    name = "col2im"
    traits = frozenset({WINDOW})
    gathers = False
    attr_names = WINDOW_ATTRS | {"shape"}

    def infer(x, *, shape, kernel, stride, dilate, pad_lo, pad_hi):
        d = len(kernel)
        if x.dtype not in FLOATS or len(shape) != d + 2:
            fail("col2im", f"needs a floating operand and a shape (N, C, *spatial) with {d} "
                           f"spatial axes, got {x} and {list(shape)}")
        want = _window_shape("col2im", shape, kernel, stride, dilate, pad_lo, pad_hi)
        if x.shape != want:
            fail("col2im", f"{x} is not the window array of shape {list(shape)} "
                           f"(expected {list(want)})")
        return x.with_shape(shape)

    def impl(x, *, shape, kernel, stride, dilate, pad_lo, pad_hi):
        spatial = tuple(shape[2:])
        if len(shape) != len(kernel) + 2 or x.shape != _window_shape(
                "col2im", shape, kernel, stride, dilate, pad_lo, pad_hi):
            fail("col2im", f"window array {list(x.shape)} does not fit shape {list(shape)}")
        out = x.shape[2 + len(kernel):]
        padded = np.zeros(tuple(shape[:2]) + tuple(n + lo + max(hi, 0) for n, lo, hi in
                                                   zip(spatial, pad_lo, pad_hi)), dtype=x.dtype)
        for k in np.ndindex(*kernel):
            dst = tuple(slice(kk * dl, kk * dl + s * (o - 1) + 1, s)
                        for kk, dl, s, o in zip(k, dilate, stride, out))
            padded[(slice(None), slice(None)) + dst] += np.swapaxes(x[(slice(None),) + k], 0, 1)
        return padded[(slice(None), slice(None)) + tuple(
            slice(lo, lo + n) for lo, n in zip(pad_lo, spatial))].copy()

    def vjp(b, g, out, x, *, shape, kernel, stride, dilate, pad_lo, pad_hi):
        return (b.im2col(g, **_window_attrs(kernel, stride, dilate, pad_lo, pad_hi)),)
