"""Sorting as gathers: argsort (no gradient) and the pair take_along_axis /
scatter_add_along_axis, each the other's adjoint (pick: the one-index-per-row gather).

sort and topk are composites: take_along_axis(x, argsort(x)) differentiates through the gather
(the permutation itself is piecewise constant), so both have gradients to any order.
"""
import numpy as np

from ..types import FLOATS, INTS, TensorType
from . import INDEXED, INT_GRAD, NONDIFF, SCATTER, SORT, OpDef, fail
from .elementwise import saturating_int


def _check_axis(opname, x, axis):
    if not 0 <= axis < max(x.ndim, 1) or x.ndim == 0:
        fail(opname, f"axis {axis} out of range for {x}")


def _along_indices(idx, size):
    """Indices as int64 clipped into [0, size): never out of bounds. Float indices as
    saturating_int then the clip give them (toward zero, NaN to 0), clipped first in their own
    dtype: fmax / fmin take NaN to the bound 0 and infinities to the ends, and a value inside
    [0, size - 1] truncates as it converts (one conversion, no range scan: eager pick reads a
    label row every step)."""
    top = max(size - 1, 0)
    if type(idx) is np.ndarray and idx.dtype.kind == "f":
        return np.fmin(np.fmax(idx, 0), np.float64(top)).astype(np.int64)   # (top exact)
    return np.clip(saturating_int(idx), 0, top)


class Argsort(OpDef):
    """Indices that sort x along `axis` (stable; descending keeps ties in order), as i64.
    A permutation is piecewise constant in x, so it carries no gradient."""
    name = "argsort"
    traits = frozenset({NONDIFF, SORT})
    attr_names = frozenset({"axis"})
    defaults = {"is_ascend": True}

    def infer(x, *, axis, is_ascend=True):
        _check_axis("argsort", x, axis)
        if x.dtype not in FLOATS + INTS:
            fail("argsort", f"expects a numeric operand, got {x}")
        return TensorType("i64", x.shape)

    def impl(x, *, axis, is_ascend=True):
        if is_ascend:
            return np.argsort(x, axis=axis, kind="stable")
        # descending and stable: sort the reversed axis ascending, then map back and reverse
        n = x.shape[axis]
        rev = np.flip(x, axis=axis)
        order = np.argsort(rev, axis=axis, kind="stable")
        return np.flip(n - 1 - order, axis=axis)


def _clamped_index(ctx, at, size):
    """Compiled code's read of the index operand (operand 1) at `at`, as _along_indices
    reads it eagerly: toward zero (saturating), clipped into [0, size)."""
    e = ctx.e
    return e.minimum(e.maximum(e.cast(ctx.read(1, at), "i64"), e.const(0, dtype="i64")),
                     e.const(max(size - 1, 0), dtype="i64"))


def _along_infer(opname, x, idx, axis, size=None):
    _check_axis(opname, x, axis)
    if idx.dtype not in INTS + FLOATS:
        fail(opname, f"indices must be integer or float, got {idx}")
    if idx.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, idx.shape))
                                 if i != axis):
        fail(opname, f"indices {idx} must match {x} on every axis but {axis}")


class TakeAlongAxis(OpDef):
    """out[..., i, ...] = x[..., idx[..., i, ...], ...] along `axis` (numpy's take_along_axis,
    indices clipped into range)."""
    name = "take_along_axis"
    traits = frozenset({INDEXED, INT_GRAD})
    attr_names = frozenset({"axis"})

    def element(ctx, x, idx, *, axis):
        at = tuple(ctx.index(k) for k in range(idx.ndim))
        j = _clamped_index(ctx, at, x.shape[axis])
        return ctx.read(0, at[:axis] + (j,) + at[axis + 1:])

    def infer(x, idx, *, axis):
        _along_infer("take_along_axis", x, idx, axis)
        if x.shape[axis] == 0 and idx.size:
            fail("take_along_axis", f"cannot take from the zero-size axis {axis} of {x}")
        return x.with_shape(idx.shape)

    def impl(x, idx, *, axis):
        return np.take_along_axis(x, _along_indices(idx, x.shape[axis]), axis=axis)

    def vjp(b, g, out, x, idx, *, axis):
        return b.scatter_add_along_axis(g, idx, axis=axis, size=x.shape[axis]), None


class Pick(OpDef):
    """out[...] = x[..., idx[...], ...] along `axis`: one index per position of x's other axes
    (MXNet's pick, its clip mode; a caller wraps 'wrap' indices first). A gather, so only the
    picked element is read (an inf or NaN elsewhere in the row never reaches the result);
    take_along_axis with the index and the result one axis shorter, as one op (eager pick
    reads a label row every step). Its adjoint scatters the cotangent into the picked
    element."""
    name = "pick"
    traits = frozenset({INDEXED, INT_GRAD})
    attr_names = frozenset({"axis"})

    def element(ctx, x, idx, *, axis):
        at = tuple(ctx.index(k) for k in range(idx.ndim))
        return ctx.read(0, at[:axis] + (_clamped_index(ctx, at, x.shape[axis]),) + at[axis:])

    def infer(x, idx, *, axis):
        _check_axis("pick", x, axis)
        if idx.dtype not in INTS + FLOATS:
            fail("pick", f"indices must be integer or float, got {idx}")
        kept = x.shape[:axis] + x.shape[axis + 1:]
        if idx.shape != kept:
            fail("pick", f"indices {idx} must have the shape {kept} of {x} without axis {axis}")
        if x.shape[axis] == 0 and idx.size:
            fail("pick", f"cannot pick from the zero-size axis {axis} of {x}")
        return x.with_shape(kept)

    def impl(x, idx, *, axis):
        j = np.expand_dims(_along_indices(idx, x.shape[axis]), axis)
        return np.take_along_axis(x, j, axis=axis).squeeze(axis)

    def vjp(b, g, out, x, idx, *, axis):
        one = x.shape[:axis] + (1,) + x.shape[axis + 1:]
        return b.scatter_add_along_axis(b.reshape(g, shape=one), b.reshape(idx, shape=one),
                                        axis=axis, size=x.shape[axis]), None


class ScatterAddAlongAxis(OpDef):
    """Zeros with `size` entries along `axis`, x added at idx along that axis: the adjoint of
    take_along_axis (repeated indices accumulate)."""
    name = "scatter_add_along_axis"
    traits = frozenset({SCATTER, INT_GRAD})
    attr_names = frozenset({"axis", "size"})

    def scatter(ctx, x, idx, *, axis, size):
        at = tuple(ctx.index(k) for k in range(x.ndim))
        return at[:axis] + (_clamped_index(ctx, at, size),) + at[axis + 1:], None

    def infer(x, idx, *, axis, size):
        _along_infer("scatter_add_along_axis", x, idx, axis)
        if idx.shape != x.shape:
            fail("scatter_add_along_axis", f"indices {idx} must have the shape of {x}")
        return x.with_shape(x.shape[:axis] + (size,) + x.shape[axis + 1:])

    def impl(x, idx, *, axis, size):
        out = np.zeros(x.shape[:axis] + (size,) + x.shape[axis + 1:], dtype=x.dtype)
        grids = list(np.indices(x.shape, sparse=True))
        grids[axis] = _along_indices(idx, size)
        np.add.at(out, tuple(grids), x)
        return out

    def vjp(b, g, out, x, idx, *, axis, size):
        return b.take_along_axis(g, idx, axis=axis), None
