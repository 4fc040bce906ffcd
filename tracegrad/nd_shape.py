"""`mx.nd` layout operators under MXNet 1.x names: diag, slice_like, depth_to_space and
space_to_depth. Each is written in registry primitives (slice, reshape, transpose, where with an
iota mask), so it records, differentiates to any order and compiles like every nd op. Imported
into `nd` (nd.py re-exports these names; NDArray has them as methods, as MXNet's has).
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError, MXNetValueError
from .op_kwargs import redo as _redo


def _axis(opname, axis, ndim, what="axis", shape=None):
    """`axis` in [-ndim, ndim) as a non-negative axis; anything else is refused, naming the op
    (MXNet checks every axis; wrapping it around would answer for another axis)."""
    axis = int(axis)
    if not -ndim <= axis < ndim:
        of = f"input of shape {tuple(shape)}" if shape is not None else f"a {ndim}-d input"
        valid = f"valid: {-ndim} to {ndim - 1}" if ndim else "a 0-d array has no axis"
        raise MXNetValueError(f"{opname}: {what} {axis} is out of range for {of} ({valid})")
    return axis % ndim


def diag(data, k=0, axis1=0, axis2=1, **kwargs):
    """1-d data: the square matrix with data on diagonal k (k > 0 above the main one), zeros
    elsewhere. N-d data: diagonal k of the sub-arrays over (axis1, axis2), those two axes
    removed and the diagonal appended last (numpy's diagonal; k > 0 offsets along axis2)."""
    if kwargs:
        return _redo(diag, locals())
    k = int(k)
    if data.ndim == 0:
        raise MXNetError("diag: input must be at least 1-d, got a 0-d array")
    if data.ndim == 1:
        return _diag_matrix(data, k)
    a1 = _axis("diag", axis1, data.ndim, "axis1")
    a2 = _axis("diag", axis2, data.ndim, "axis2")
    if a1 == a2:
        raise MXNetError(f"diag: axis1 and axis2 cannot refer to the same axis {a1}")
    h, w = data.shape[a1], data.shape[a2]
    size = min(h + min(k, 0), w - max(k, 0))
    if size < 0:
        raise MXNetError(f"diag: diagonal k={k} does not exist for axes ({a1}, {a2}) of "
                         f"shape {data.shape}")
    rest = [i for i in range(data.ndim) if i not in (a1, a2)]
    x = F.transpose(data, perm=tuple(rest + [a1, a2]))
    lead = tuple(data.shape[i] for i in rest)
    x = F.reshape(x, shape=lead + (h * w,))
    start = k if k >= 0 else -k * w
    if size == 0:
        begin, end, step = 0, 0, 1
    else:
        begin, end, step = start, start + (size - 1) * (w + 1) + 1, w + 1
    n = len(lead)
    return F.slice(x, begin=(0,) * n + (begin,), end=lead + (end,), step=(1,) * n + (step,))


def _diag_matrix(v, k):
    """n x n (n = len + |k|) with v on diagonal k: a where over an iota mask, so every other
    element is exactly zero (even beside inf or NaN on the diagonal)."""
    n = v.shape[0] + abs(k)
    if k:   # v[i] sits in row i (k > 0) or column i (k < 0): pad it out to n
        v = F.pad(v, pad_width=(0, abs(k)), mode="constant", constant_value=0.0)
    rows = F.iota(shape=(n, n), axis=0)
    cols = F.iota(shape=(n, n), axis=1)
    on_diagonal = F.eq(F.add(rows, k), cols)
    along = (n, 1) if k >= 0 else (1, n)
    return F.where(on_diagonal, F.reshape(v, shape=along), 0)


def slice_like(data, shape_like, axes=(), **kwargs):
    """data[:s0, :s1, ...] cut to shape_like's sizes on `axes` (all axes when empty, which
    needs equal ranks); shape_like gets no gradient."""
    if kwargs:
        return _redo(slice_like, locals())
    target = shape_like.shape if isinstance(shape_like, NDArray) else tuple(shape_like)
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    end = list(data.shape)
    if not axes:
        if len(target) != data.ndim:
            raise MXNetError(f"slice_like: slicing every axis needs inputs of one rank, got "
                             f"shapes {data.shape} and {tuple(target)}")
        axes = range(data.ndim)
    for a in axes:
        i = _axis("slice_like", a, data.ndim)
        if i >= len(target):
            raise MXNetError(f"slice_like: axis {a} exceeds shape_like's rank "
                             f"{len(target)} (shape {tuple(target)})")
        if target[i] > data.shape[i]:
            raise MXNetError(f"slice_like: axis {i} of shape_like has size {target[i]}, more "
                             f"than data's {data.shape[i]} (shape {data.shape})")
        end[i] = target[i]
    end = tuple(end)
    if end == data.shape:
        return F.cast(data, dtype=data.type.dtype)   # a new array, as MXNet's op gives
    return F.slice(data, begin=(0,) * data.ndim, end=end, step=(1,) * data.ndim)


def _block(opname, data, block_size):
    if data.ndim != 4:
        raise MXNetError(f"{opname}: needs a 4-d NCHW input, got shape {data.shape}")
    b = int(block_size)
    if b <= 0:
        raise MXNetError(f"{opname}: block_size must be a positive integer, got {block_size}")
    if 0 in data.shape:
        raise MXNetError(f"{opname}: no dimension may be 0, got shape {data.shape}")
    return b


def depth_to_space(data, block_size, **kwargs):
    """(N, C, H, W) -> (N, C/b², H*b, W*b): channel blocks become b x b spatial tiles
    (MXNet's order, ONNX DepthToSpace's DCR: reshape (N, b, b, C/b², H, W), transpose
    (0, 3, 4, 1, 5, 2), reshape)."""
    if kwargs:
        return _redo(depth_to_space, locals())
    b = _block("depth_to_space", data, block_size)
    n, c, h, w = data.shape
    if c % (b * b):
        raise MXNetError(f"depth_to_space: channels {c} of shape {data.shape} are not a "
                         f"multiple of block_size² = {b * b}")
    x = F.reshape(data, shape=(n, b, b, c // (b * b), h, w))
    x = F.transpose(x, perm=(0, 3, 4, 1, 5, 2))
    return F.reshape(x, shape=(n, c // (b * b), h * b, w * b))


def space_to_depth(data, block_size, **kwargs):
    """(N, C, H, W) -> (N, C*b², H/b, W/b), the inverse of depth_to_space: reshape
    (N, C, H/b, b, W/b, b), transpose (0, 3, 5, 1, 2, 4), reshape."""
    if kwargs:
        return _redo(space_to_depth, locals())
    b = _block("space_to_depth", data, block_size)
    n, c, h, w = data.shape
    if h % b or w % b:
        raise MXNetError(f"space_to_depth: height {h} and width {w} of shape {data.shape} "
                         f"must be multiples of block_size {b}")
    x = F.reshape(data, shape=(n, c, h // b, b, w // b, b))
    x = F.transpose(x, perm=(0, 3, 5, 1, 2, 4))
    return F.reshape(x, shape=(n, c * b * b, h // b, w // b))


METHODS = {name: globals()[name] for name in (
    "diag", "slice_like", "depth_to_space", "space_to_depth")}

__all__ = sorted(METHODS)
