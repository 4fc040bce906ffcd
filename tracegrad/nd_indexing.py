"""More of `mx.nd`'s index arithmetic under MXNet 1.9.1 names: batch_take, ravel_multi_index,
unravel_index, split_v2 and histogram. Each is a composite of registry primitives, so it
records, traces into jit / hybridize and (where it has a gradient) differentiates to any
order. Imported into `nd` (nd.py re-exports these names).
"""
import builtins

import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .ir import composites as C
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["batch_take", "ravel_multi_index", "unravel_index", "split_v2", "histogram"]


def batch_take(a, indices, **kwargs):
    """out[i] = a[i, indices[i]] for a 2-d `a` (MXNet's deprecated batch_take; an index is
    truncated toward zero and clipped into the row, as its kernel does). MXNet registers no
    gradient for it; here the gradient is pick's."""
    if kwargs:
        return _redo(batch_take, locals())
    if a.ndim != 2:
        raise MXNetError(f"batch_take: a must be 2-d (MXNet's kernel reads a 2-d layout), got "
                         f"shape {a.shape}")
    if not isinstance(indices, NDArray):
        from .nd import array
        indices = array(indices, dtype=np.int32)
    if indices.size != a.shape[0]:
        raise MXNetError(f"batch_take: indices needs one entry per row of a: {a.shape[0]} "
                         f"for a of shape {a.shape}, got indices of shape {indices.shape}")
    flat = F.reshape(indices, shape=(a.shape[0],)) if indices.shape != (a.shape[0],) \
        else indices
    out = C.pick(F, a, flat, axis=1, mode="clip")
    return F.reshape(out, shape=indices.shape) if indices.shape != out.shape else out


def _shape_param(op, shape):
    if shape is None:
        raise MXNetError(f"{op}: the shape parameter is required")
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(
        int(d) for d in shape)
    if not shape:
        raise MXNetError(f"{op}: empty shape parameter")
    if builtins.any(d <= 0 for d in shape[1:]) or shape[0] == 0 or shape[0] < -1:
        raise MXNetError(f"{op}: shape {shape} must be positive (the first entry may be -1, "
                         f"unspecified)")
    return shape


def ravel_multi_index(data, shape=None, **kwargs):
    """Flat indices of the multi-indices in the columns of the 2-d `data` (one row per axis of
    `shape`; shape[0] may be -1), row-major as numpy's ravel_multi_index, in data's dtype.
    Computed as MXNet's kernel does (ret = ret * shape[j] + data[j], in data's dtype, then
    truncated); out-of-range entries are not checked (MXNet's are not). No gradient."""
    if kwargs:
        return _redo(ravel_multi_index, locals())
    shape = _shape_param("ravel_multi_index", shape)
    if data.ndim != 2 or data.shape[0] != len(shape):
        raise MXNetError(f"ravel_multi_index: data must be 2-d with {len(shape)} rows (one per "
                         f"axis of shape {shape}), got shape {data.shape}")
    dtype = dtype_name(np.dtype(data.dtype))
    n = data.shape[1]
    ret = F.constant(value=0, shape=(n,), dtype="i64")
    for j, size in enumerate(shape):
        row = F.reshape(F.slice(data, begin=(j, 0), end=(j + 1, n), step=(1, 1)), shape=(n,))
        ret = F.cast(F.add(F.cast(F.mul(ret, size), dtype=dtype), row), dtype="i64")
    return F.cast(ret, dtype=dtype)


def _trunc_div(x, d):
    """C's integer division (toward zero) of the i64 array x by the positive int d."""
    q = F.div(F.abs(x), d)
    return F.where(F.lt(x, 0), F.neg(q), q)


def unravel_index(data, shape=None, **kwargs):
    """The multi-indices (one row per axis of `shape`; shape[0] may be -1) of the flat indices
    in the 1-d `data`, in data's dtype, by C's integer division as MXNet's kernel (a negative
    flat index gives a negative first coordinate). No gradient."""
    if kwargs:
        return _redo(unravel_index, locals())
    shape = _shape_param("unravel_index", shape)
    if data.ndim != 1:
        raise MXNetError(f"unravel_index: data must be 1-d, got shape {data.shape}")
    dtype = dtype_name(np.dtype(data.dtype))
    idx = F.cast(data, dtype="i64")
    rows = [None] * len(shape)
    for j in range(len(shape) - 1, 0, -1):
        q = _trunc_div(idx, shape[j])
        rows[j] = F.sub(idx, F.mul(q, shape[j]))
        idx = q
    rows[0] = idx
    out = F.concat(*[F.reshape(r, shape=(1, data.shape[0])) for r in rows], axis=0)
    return F.cast(out, dtype=dtype)


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """Split `ary` along `axis` into equal sections (an int: it must divide the axis) or at
    the sorted split points of a tuple, as numpy's split; a list of NDArrays (one NDArray when
    there is one part). squeeze_axis removes the axis from parts of size 1 along it."""
    from .nd import slice_axis
    if not -ary.ndim <= int(axis) < ary.ndim:
        raise MXNetError(f"split_v2: axis {axis} is out of range for input of shape "
                         f"{ary.shape}")
    axis = int(axis) % ary.ndim
    size = ary.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or size % sections:
            raise ValueError(f"split_v2: array split does not result in an equal division: "
                             f"axis {axis} of shape {ary.shape} into {sections} sections")
        step = size // sections
        starts = [i * step for i in range(sections)]
    elif isinstance(indices_or_sections, (tuple, list)):
        starts = [0] + [int(i) for i in indices_or_sections]
    else:
        raise ValueError("split_v2: indices_or_sections must either int or tuple of ints, got "
                         f"{type(indices_or_sections).__name__}")
    ends = starts[1:] + [size]
    parts = []
    for begin, end in zip(starts, ends):
        if not 0 <= begin <= end <= size:
            raise MXNetError(f"split_v2: split points {tuple(starts[1:])} must be sorted and "
                             f"within axis {axis} of size {size} (shape {ary.shape})")
        part = slice_axis(ary, axis, begin, end)
        if squeeze_axis:
            if end - begin != 1:
                raise MXNetError(f"split_v2: squeeze_axis needs parts of size 1 along axis "
                                 f"{axis}, got a part of size {end - begin}")
            part = F.reshape(part, shape=ary.shape[:axis] + ary.shape[axis + 1:])
        parts.append(part)
    return parts if len(parts) > 1 else parts[0]


def histogram(a, bins=10, range=None):
    """(counts, bin_edges) of the flattened `a`. `bins` an NDArray: its values are the edges
    (sorted, at least two; counts are int64, edges come back in a's dtype); an int with
    `range` = (lo, hi): that many equal bins over [lo, hi] (lo == hi widens to ±0.5), values
    outside ignored, each bin half-open but the last closed, edges computed in float64 as
    MXNet's kernel does. An int without range: numpy's histogram of the data, returned as
    float32 arrays, as MXNet's wrapper does. No gradient."""
    from .nd import array
    flat = F.reshape(a, shape=(a.size,)) if a.ndim != 1 else a
    if isinstance(bins, NDArray):
        if bins.ndim != 1 or bins.shape[0] < 2:
            raise MXNetError(f"histogram: bins must be a 1-d array of at least 2 edges, got "
                             f"shape {bins.shape}")
        edges = F.cast(bins, dtype=a.type.dtype)
        return [_count_by_edges(flat, edges), edges]
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        raise ValueError("histogram: bins argument should be either an integer or an NDArray")
    if range is None:
        counts, edges = np.histogram(a.asnumpy(), bins=int(bins))
        return array(counts), array(edges)
    return _uniform_histogram(flat, int(bins), range)


def _count_by_edges(flat, edges):
    """A value's bin is the number of edges at or below it, minus one (the last bin closed);
    values outside [edges[0], edges[-1]] (and NaN) fall in none."""
    nb = edges.shape[0] - 1
    below = F.le(F.reshape(edges, shape=(1, nb + 1)), F.reshape(flat, shape=(flat.size, 1)))
    target = F.minimum(F.sub(F.sum(F.cast(below, dtype="i64"), axes=(1,)), 1), nb - 1)
    first = F.slice(edges, begin=(0,), end=(1,), step=(1,))
    last = F.slice(edges, begin=(nb,), end=(nb + 1,), step=(1,))
    inside = F.where(F.ge(flat, first), F.le(flat, last), False)
    return _tally(F.where(inside, target, -1), nb)


def _tally(target, nb):
    """Counts (int64) of each bin 0..nb-1 among the targets (-1: none)."""
    return F.sum(F.one_hot(target, depth=nb, dtype="i64"), axes=(0,))


def _uniform_histogram(flat, cnt, range):
    try:
        lo, hi = (float(v) for v in range)
    except (TypeError, ValueError):
        raise MXNetError(f"histogram: range should be a tuple with only 2 elements, got "
                         f"{range!r}") from None
    if not lo <= hi:
        raise MXNetError(f"histogram: left hand side of range ({lo}) should be less than or "
                         f"equal to right hand side ({hi})")
    if cnt < 1:
        raise MXNetError(f"histogram: bins must be at least 1, got {cnt}")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    i = np.arange(cnt + 1, dtype=np.float64)
    from .nd import array
    edges = array(((hi * i + (cnt - i) * lo) / cnt).astype(np.dtype(flat.dtype)),
                  dtype=np.dtype(flat.dtype))
    wide = F.cast(flat, dtype="f64")
    inside = F.where(F.ge(wide, lo), F.le(wide, hi), False)
    guess = F.div(F.mul(F.sub(F.where(inside, wide, lo), lo), float(cnt)), hi - lo)
    target = F.minimum(F.cast(F.floor(guess), dtype="i64"), cnt - 1)
    # MXNet's correction against the rounded edges: one bin down or up
    target = F.sub(target, F.cast(F.lt(flat, F.take(edges, target, axis=0)), dtype="i64"))
    up = F.where(F.ge(flat, F.take(edges, F.add(target, 1), axis=0)), F.lt(target, cnt - 1),
                 False)
    target = F.add(target, F.cast(up, dtype="i64"))
    return [_tally(F.where(inside, target, -1), cnt), edges]
