"""Layout primitives: broadcast_to, reshape, transpose, expand_dims, slice / slice_scatter,
concat, take / scatter_add (gather and its adjoint), one_hot, iota.

Their vjps are other layout ops, so adjoints of adjoints stay in this family. VIEW ops carry a
`view` rule (strides in elements; 0 = broadcast) that codegen composes without copying.
"""
import math

import numpy as np

from ..types import DTYPES, FLOATS, INTS, TensorType
from . import EXACT, INDEXED, INT_GRAD, JOIN, NONDIFF, SCATTER, VIEW, OpDef, fail
from .elementwise import saturating_int


def contiguous_strides(shape) -> tuple:
    """Row-major element strides of `shape`."""
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


def _is_contiguous(strides, shape) -> bool:
    return all(s == c for s, c, d in zip(strides, contiguous_strides(shape), shape) if d != 1)


class BroadcastTo(OpDef):
    """numpy broadcast of x to `shape`. Its vjp is g itself: autodiff sums it back centrally."""
    name = "broadcast_to"
    traits = frozenset({VIEW, INT_GRAD})
    attr_names = frozenset({"shape"})

    def view(offset, strides, in_shape, *, out_shape, shape):
        lead = len(out_shape) - len(in_shape)
        return offset, (0,) * lead + tuple(0 if d == 1 else s
                                           for d, s in zip(in_shape, strides))

    def infer(x, *, shape):
        if len(shape) < x.ndim or any(
                d != 1 and d != s for d, s in zip(x.shape, shape[len(shape) - x.ndim:])):
            fail("broadcast_to", f"cannot broadcast {x} to shape {list(shape)}")
        return x.with_shape(shape)

    def impl(x, *, shape):
        return np.broadcast_to(x, shape)

    def vjp(b, g, out, x, *, shape):
        return (g,)


class Reshape(OpDef):
    """Same elements in a new shape (row-major)."""
    name = "reshape"
    traits = frozenset({VIEW, INT_GRAD})
    attr_names = frozenset({"shape"})

    def view(offset, strides, in_shape, *, out_shape, shape):
        if _is_contiguous(strides, in_shape):
            return offset, contiguous_strides(out_shape)
        kept = [(d, s) for d, s in zip(in_shape, strides) if d != 1]
        if [d for d in out_shape if d != 1] != [d for d, _ in kept]:
            return None          # merges or splits strided axes: needs a copy
        it = iter(s for _, s in kept)
        return offset, tuple(0 if d == 1 else next(it) for d in out_shape)

    def infer(x, *, shape):
        if any(d < 0 for d in shape) or x.with_shape(shape).size != x.size:
            fail("reshape", f"cannot reshape {x} ({x.size} elements) to {list(shape)}")
        return x.with_shape(shape)

    def impl(x, *, shape):
        return x.reshape(shape) if type(x) is np.ndarray else np.reshape(x, shape)

    def vjp(b, g, out, x, *, shape):
        return (b.reshape(g, shape=x.shape),)


class Transpose(OpDef):
    """Permute axes: out.shape[i] = x.shape[perm[i]]."""
    name = "transpose"
    traits = frozenset({VIEW, INT_GRAD})
    attr_names = frozenset({"perm"})

    def view(offset, strides, in_shape, *, out_shape, perm):
        return offset, tuple(strides[p] for p in perm)

    def infer(x, *, perm):
        if sorted(perm) != list(range(x.ndim)):
            fail("transpose", f"perm {list(perm)} is not a permutation of the axes of {x}")
        return x.with_shape(tuple(x.shape[p] for p in perm))

    def impl(x, *, perm):
        return np.transpose(x, perm)

    def vjp(b, g, out, x, *, perm):
        return (b.transpose(g, perm=tuple(int(i) for i in np.argsort(perm))),)


class ExpandDims(OpDef):
    """Insert a size-1 axis at `axis`."""
    name = "expand_dims"
    traits = frozenset({VIEW, INT_GRAD})
    attr_names = frozenset({"axis"})

    def view(offset, strides, in_shape, *, out_shape, axis):
        return offset, tuple(strides[:axis]) + (0,) + tuple(strides[axis:])

    def infer(x, *, axis):
        if not 0 <= axis <= x.ndim:
            fail("expand_dims", f"axis {axis} out of range for {x}")
        return x.with_shape(x.shape[:axis] + (1,) + x.shape[axis:])

    def impl(x, *, axis):
        if type(x) is not np.ndarray:
            return np.expand_dims(x, axis)
        return x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])  # a view, as expand_dims

    def vjp(b, g, out, x, *, axis):
        return (b.reshape(g, shape=x.shape),)


def _slice_shape(opname, shape, begin, end, step):
    if not len(begin) == len(end) == len(step) == len(shape):
        fail(opname, f"begin/end/step need one entry per axis of shape {list(shape)}")
    out = []
    for d, lo, hi, st in zip(shape, begin, end, step):
        if st <= 0 or not 0 <= lo <= d or not 0 <= hi <= d:
            fail(opname, f"slice [{lo}:{hi}:{st}] out of range for a dimension of size {d}")
        out.append(len(range(lo, hi, st)))
    return tuple(out)


class Slice(OpDef):
    """x[begin:end:step] on every axis (non-negative, normalized bounds, positive steps)."""
    name = "slice"
    traits = frozenset({VIEW, INT_GRAD})
    attr_names = frozenset({"begin", "end", "step"})

    def view(offset, strides, in_shape, *, out_shape, begin, end, step):
        return (offset + sum(lo * s for lo, s in zip(begin, strides)),
                tuple(s * k for s, k in zip(strides, step)))

    def infer(x, *, begin, end, step):
        return x.with_shape(_slice_shape("slice", x.shape, begin, end, step))

    def impl(x, *, begin, end, step):
        return x[tuple(slice(*t) for t in zip(begin, end, step))]

    def vjp(b, g, out, x, *, begin, end, step):
        return (b.slice_scatter(g, shape=x.shape, begin=begin, end=end, step=step),)


class SliceScatter(OpDef):
    """Zeros of `shape` with x written at [begin:end:step]: the adjoint of slice."""
    name = "slice_scatter"
    traits = frozenset({SCATTER, INT_GRAD})
    scatter_mode = "store"
    attr_names = frozenset({"shape", "begin", "end", "step"})

    def scatter(ctx, x, *, shape, begin, end, step):
        e = ctx.e
        return tuple(e.add(e.const(int(lo), dtype="i64"),
                           e.mul(ctx.index(k), e.const(int(s), dtype="i64")))
                     for k, (lo, s) in enumerate(zip(begin, step))), None

    def infer(x, *, shape, begin, end, step):
        if _slice_shape("slice_scatter", shape, begin, end, step) != x.shape:
            fail("slice_scatter", f"{x} does not fit the slice of shape {list(shape)}")
        return x.with_shape(shape)

    def impl(x, *, shape, begin, end, step):
        out = np.zeros(shape, dtype=x.dtype)
        out[tuple(slice(*t) for t in zip(begin, end, step))] = x
        return out

    def vjp(b, g, out, x, *, shape, begin, end, step):
        return (b.slice(g, begin=begin, end=end, step=step),)


class Concat(OpDef):
    """Join operands along `axis`."""
    name = "concat"
    traits = frozenset({JOIN, INT_GRAD})
    attr_names = frozenset({"axis"})

    def infer(*xs, axis):
        if not xs:
            fail("concat", "needs at least one operand")
        first = xs[0]
        for x in xs:
            if x.dtype != first.dtype or x.ndim != first.ndim or any(
                    a != c for i, (a, c) in enumerate(zip(x.shape, first.shape)) if i != axis):
                fail("concat", f"operands {', '.join(map(str, xs))} differ off axis {axis}")
        if not 0 <= axis < first.ndim:
            fail("concat", f"axis {axis} out of range for {first}")
        total = sum(x.shape[axis] for x in xs)
        return first.with_shape(first.shape[:axis] + (total,) + first.shape[axis + 1:])

    def impl(*xs, axis):
        dtype = xs[0].dtype
        for x in xs:  # numpy would promote them; the type rule (and MXNet) refuse
            if x.dtype != dtype:
                raise TypeError("concat: operands of different dtypes")
        return np.concatenate(xs, axis=axis)

    def vjp(b, g, out, *xs, axis):
        grads, lo = [], 0
        for x in xs:
            hi = lo + x.shape[axis]
            ndim = len(out.shape)  # Values carry .shape, not .ndim
            begin = tuple(lo if i == axis else 0 for i in range(ndim))
            end = tuple(hi if i == axis else d for i, d in enumerate(out.shape))
            grads.append(b.slice(g, begin=begin, end=end, step=(1,) * ndim))
            lo = hi
        return tuple(grads)


def _check_index(opname, idx):
    """Indices of take / scatter_add / one_hot: any number dtype, truncated to integers; bool
    as 0 / 1 (numpy's take, and eager code, read it so)."""
    if idx.dtype not in INTS and idx.dtype not in FLOATS and idx.dtype != "bool":
        fail(opname, f"indices must be integer, float or bool, got {idx}")


_FLOAT_TOPS = {}  # (float dtype, top) -> top in that dtype, or None where it does not fit


def _clamped_index(idx, depth):
    """saturating_int(idx) clamped into [0, depth - 1], as int64: MXNet's mode='clip' of take
    and pick, never out of bounds. A float index is clamped before the cast, which then needs
    no range check: fmax sends NaN to 0 as the saturating cast does, and truncation commutes
    with clamping to integer bounds, provided depth - 1 is exact in the float type (else the
    index takes the general path)."""
    top = max(depth - 1, 0)
    if type(idx) is not np.ndarray:
        idx = np.asarray(idx)
    if idx.dtype.kind == "f":
        key = (idx.dtype, top)
        limit = _FLOAT_TOPS.get(key, False)
        if limit is False:
            with np.errstate(over="ignore"):   # float16 tops out at 65504
                limit = idx.dtype.type(top)
            limit = _FLOAT_TOPS[key] = limit if np.isfinite(limit) and int(limit) == top \
                else None
            if len(_FLOAT_TOPS) > 64:
                _FLOAT_TOPS.clear()
        if limit is not None:
            return np.minimum(np.fmax(idx, 0), limit).astype(np.int64)
        idx = saturating_int(idx)
    elif idx.dtype != np.int64:   # int64 first: a top beyond int32 must not overflow
        idx = idx.astype(np.int64)
    return np.minimum(np.maximum(idx, 0), top)


class Take(OpDef):
    """Gather along `axis` with indices clipped into range (MXNet's default mode='clip')."""
    name = "take"
    traits = frozenset({INDEXED, INT_GRAD})
    attr_names = frozenset({"axis"})

    def element(ctx, x, idx, *, axis):
        e, nidx = ctx.e, idx.ndim
        where = ctx.read(1, tuple(ctx.index(axis + k) for k in range(nidx)))
        i = e.minimum(e.maximum(e.cast(where, "i64"), e.const(0, dtype="i64")),
                      e.const(max(x.shape[axis] - 1, 0), dtype="i64"))   # mode='clip'
        full = (tuple(ctx.index(k) for k in range(axis)) + (i,)
                + tuple(ctx.index(axis + nidx + k) for k in range(x.ndim - axis - 1)))
        return ctx.read(0, full)

    def infer(x, idx, *, axis):
        _check_index("take", idx)
        if not 0 <= axis < x.ndim:
            fail("take", f"axis {axis} out of range for {x}")
        if x.shape[axis] == 0 and idx.size:
            fail("take", f"cannot take from the zero-size axis {axis} of {x}")
        return x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])

    def impl(x, idx, *, axis):
        return np.take(x, _clamped_index(idx, x.shape[axis]), axis=axis)

    def vjp(b, g, out, x, idx, *, axis):
        return b.scatter_add(g, idx, axis=axis, size=x.shape[axis]), None


class ScatterAdd(OpDef):
    """Adjoint of take: sums slices of x into `size` rows along `axis` at the (clipped) indices."""
    name = "scatter_add"
    traits = frozenset({SCATTER, INT_GRAD})
    attr_names = frozenset({"axis", "size"})

    def scatter(ctx, x, idx, *, axis, size):
        e, n = ctx.e, idx.ndim
        at = tuple(ctx.index(k) for k in range(x.ndim))
        i = e.minimum(e.maximum(e.cast(ctx.read(1, at[axis:axis + n]), "i64"),
                                e.const(0, dtype="i64")),
                      e.const(max(size - 1, 0), dtype="i64"))
        return at[:axis] + (i,) + at[axis + n:], None

    def infer(x, idx, *, axis, size):
        _check_index("scatter_add", idx)
        if not 0 <= axis <= x.ndim - idx.ndim or x.shape[axis:axis + idx.ndim] != idx.shape:
            fail("scatter_add", f"indices {idx} do not match {x} at axis {axis}")
        return x.with_shape(x.shape[:axis] + (size,) + x.shape[axis + idx.ndim:])

    def impl(x, idx, *, axis, size):
        flat = _clamped_index(idx, size).reshape(-1)
        lead, tail = x.shape[:axis], x.shape[axis + np.ndim(idx):]
        out = np.zeros(lead + (size,) + tail, dtype=x.dtype)
        np.add.at(out, (slice(None),) * axis + (flat,), x.reshape(lead + (flat.size,) + tail))
        return out

    def vjp(b, g, out, x, idx, *, axis, size):
        return b.take(g, idx, axis=axis), None


class OneHot(OpDef):
    """on_value where idx == position along a new last axis of size `depth`, else off_value
    (an index outside [0, depth) gives a row of off_value, as MXNet's one_hot). With clip=True
    the index is first clamped into [0, depth): pick's mode='clip' in one op, so a label costs
    one eager op per step instead of cast, maximum, minimum and one_hot."""
    name = "one_hot"
    traits = frozenset({NONDIFF, INDEXED, EXACT})
    attr_names = frozenset({"depth"})
    defaults = {"dtype": "f32", "on_value": 1.0, "off_value": 0.0, "clip": False}

    def infer(idx, *, depth, dtype="f32", on_value=1.0, off_value=0.0, clip=False):
        _check_index("one_hot", idx)
        if dtype not in DTYPES or depth < 0:
            fail("one_hot", f"needs a known dtype and depth >= 0, got {dtype!r}, {depth}")
        return TensorType(dtype, idx.shape + (depth,))

    def element(ctx, idx, *, depth, dtype="f32", on_value=1.0, off_value=0.0, clip=False):
        e = ctx.e
        where = e.cast(ctx.read(0, tuple(ctx.index(k) for k in range(idx.ndim))), "i64")
        if clip:
            where = e.minimum(e.maximum(where, e.const(0, dtype="i64")),
                              e.const(max(depth - 1, 0), dtype="i64"))
        hit = e.eq(where, ctx.index(idx.ndim))
        return e.select(hit, e.const(on_value, dtype=dtype), e.const(off_value, dtype=dtype))

    def impl(idx, *, depth, dtype="f32", on_value=1.0, off_value=0.0, clip=False):
        if type(idx) is not np.ndarray:
            idx = np.asarray(idx)
        if idx.size == 0:   # nothing to compare (and no ramp of a huge depth to build)
            return np.zeros(idx.shape + (depth,), DTYPES[dtype])
        if clip:
            idx = _clamped_index(idx, depth)
        elif idx.dtype.kind != "i":  # signed ints compare as they are
            idx = saturating_int(idx)
        if on_value == 1 and off_value == 0 and math.copysign(1.0, off_value) > 0:
            return _one_hot_mask(idx, depth, DTYPES[dtype], clip)  # the default 1/0: the mask
        hit = idx[..., None] == _ramp(depth)
        return np.where(hit, on_value, off_value).astype(DTYPES[dtype])


_RAMPS = {}  # depth -> arange(depth), which one_hot compares every index with


def _ramp(depth):
    ramp = _RAMPS.get(depth)
    if ramp is None:
        if len(_RAMPS) > 64:
            _RAMPS.clear()
        ramp = _RAMPS[depth] = np.arange(depth)
        ramp.flags.writeable = False
    return ramp


_TABLES = {}  # (depth, dtype) -> a zero row, the identity, a zero row: one_hot's rows
_TABLE_DEPTH = 256  # at most 256 x 258 elements a table


def _one_hot_table(depth, dtype):
    table = _TABLES.get((depth, dtype))
    if table is None:
        if len(_TABLES) > 16:
            _TABLES.clear()
        table = np.zeros((depth + 2, depth), dtype)
        table[1:-1] = np.eye(depth, dtype=dtype)
        table.flags.writeable = False
        _TABLES[(depth, dtype)] = table
    return table


def _one_hot_mask(idx, depth, dtype, in_range=False):
    """1 where the integer idx equals the position along a new last axis, 0 elsewhere (all
    0 for an index outside [0, depth)). Up to _TABLE_DEPTH the rows are gathered from a cached
    identity (a fraction of a compare's cost); take's mode='clip' sends an index + 1 outside
    [1, depth] to a zero row (an int64 max wraps to the minimum: a zero row too). Deeper,
    numpy's broadcast compare with a ramp is quickest for small outputs, and for large ones
    the 1s are stored into zeros at their flat positions, once every index is known to be in
    range (clamped, or checked: the unsigned view makes a negative index huge, so one
    reduction checks both ends)."""
    if depth <= _TABLE_DEPTH:
        table = _one_hot_table(depth, dtype)
        if in_range:
            return np.take(table[1:-1], idx, axis=0, mode="clip")
        return np.take(table, idx + 1, axis=0, mode="clip")
    n = idx.size
    if n * depth <= 2048 or not in_range and (
            idx.dtype.kind != "i" or idx.view(f"u{idx.itemsize}").max() >= depth):
        return (idx[..., None] == _ramp(depth)).astype(dtype)
    out = np.zeros(n * depth, dtype)
    out[np.arange(0, n * depth, depth) + idx.reshape(-1)] = 1
    return out.reshape(idx.shape + (depth,))


class Iota(OpDef):
    """Index along `axis`, broadcast over `shape` (0, 1, 2, ... on that axis)."""
    name = "iota"
    traits = frozenset({NONDIFF, INDEXED})
    attr_names = frozenset({"shape", "axis"})
    defaults = {"dtype": "i64"}

    def infer(*, shape, axis, dtype="i64"):
        if not 0 <= axis < len(shape) or dtype not in DTYPES:
            fail("iota", f"axis {axis} or dtype {dtype!r} invalid for shape {list(shape)}")
        return TensorType(dtype, shape)

    def element(ctx, *, shape, axis, dtype="i64"):
        return ctx.e.cast(ctx.index(axis), dtype)

    def impl(*, shape, axis, dtype="i64"):
        ramp = np.arange(shape[axis], dtype=DTYPES[dtype])
        return np.broadcast_to(ramp.reshape((-1,) + (1,) * (len(shape) - axis - 1)), shape).copy()
