"""N-dimensional gather and its adjoint: gather_nd (MXNet's gather_nd) and scatter_nd_add.

indices has shape (M, *rest): column k of it addresses the first M axes of data. Indices
wrap once when negative and are clipped into range, so no read or write is out of bounds.
"""
import numpy as np

from ..types import FLOATS, INTS
from . import INDEXED, INT_GRAD, SCATTER, OpDef, fail
from .elementwise import saturating_int


def _index_tuple(idx, shape):
    idx = saturating_int(idx)
    out = []
    for k in range(idx.shape[0]):
        d = shape[k]
        i = np.where(idx[k] < 0, idx[k] + d, idx[k])
        out.append(np.clip(i, 0, max(d - 1, 0)))
    return tuple(out)


def _check(opname, data_shape, idx):
    if idx.dtype not in INTS + FLOATS:
        fail(opname, f"indices must be integer or float, got {idx}")
    if idx.ndim < 1 or not 1 <= idx.shape[0] <= len(data_shape):
        fail(opname, f"indices {idx} must have shape (M, ...) with 1 <= M <= "
                     f"{len(data_shape)} (the data's rank)")


class GatherNd(OpDef):
    """out[i...] = data[indices[0, i...], ..., indices[M-1, i...], ...]."""
    name = "gather_nd"
    traits = frozenset({INDEXED, INT_GRAD})

    def element(ctx, data, idx):
        """Column k of idx (k = the leading output indices) names the first M data axes."""
        e, m, k = ctx.e, idx.shape[0], idx.ndim - 1
        at = tuple(ctx.index(a) for a in range(k + data.ndim - m))
        pos = []
        for j in range(m):
            i = e.cast(ctx.read(1, (e.const(j, dtype="i64"),) + at[:k]), "i64")
            size = e.const(data.shape[j], dtype="i64")
            i = e.select(e.lt(i, e.const(0, dtype="i64")), e.add(i, size), i)  # wraps once
            pos.append(e.minimum(e.maximum(i, e.const(0, dtype="i64")),
                                 e.const(max(data.shape[j] - 1, 0), dtype="i64")))
        return ctx.read(0, tuple(pos) + at[k:])

    def infer(data, idx):
        _check("gather_nd", data.shape, idx)
        if idx.size and any(d == 0 for d in data.shape[:idx.shape[0]]):
            fail("gather_nd", f"cannot gather from the zero-size axes of {data}")
        return data.with_shape(idx.shape[1:] + data.shape[idx.shape[0]:])

    def impl(data, idx):
        return data[_index_tuple(idx, data.shape)]

    def vjp(b, g, out, data, idx):
        return b.scatter_nd_add(g, idx, shape=data.shape), None


class ScatterNdAdd(OpDef):
    """Zeros of `shape` with x added at the addressed positions (repeats accumulate): the
    adjoint of gather_nd, and MXNet's scatter_nd when positions are distinct."""
    name = "scatter_nd_add"
    traits = frozenset({SCATTER, INT_GRAD})
    attr_names = frozenset({"shape"})

    def scatter(ctx, x, idx, *, shape):
        e, m, k = ctx.e, idx.shape[0], idx.ndim - 1
        at = tuple(ctx.index(a) for a in range(x.ndim))
        pos = []
        for j in range(m):
            i = e.cast(ctx.read(1, (e.const(j, dtype="i64"),) + at[:k]), "i64")
            size = e.const(shape[j], dtype="i64")
            i = e.select(e.lt(i, e.const(0, dtype="i64")), e.add(i, size), i)  # wraps once
            pos.append(e.minimum(e.maximum(i, e.const(0, dtype="i64")),
                                 e.const(max(shape[j] - 1, 0), dtype="i64")))
        return tuple(pos) + at[k:], None

    def infer(x, idx, *, shape):
        _check("scatter_nd_add", shape, idx)
        want = tuple(idx.shape[1:]) + tuple(shape[idx.shape[0]:])
        if tuple(x.shape) != want:
            fail("scatter_nd_add", f"data {x} must have shape {list(want)} for indices {idx} "
                                   f"and output shape {list(shape)}")
        return x.with_shape(tuple(shape))

    def impl(x, idx, *, shape):
        out = np.zeros(shape, dtype=x.dtype)
        np.add.at(out, _index_tuple(idx, shape), x)
        return out

    def vjp(b, g, out, x, idx, *, shape):
        return b.gather_nd(g, idx), None
