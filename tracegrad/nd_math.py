"""More of `mx.nd` under MXNet 1.x names: the trig/hyperbolic family, erf/erfinv, sorting
(sort, argsort, topk), cumsum, prod, moments, gather_nd/scatter_nd, pad, the logical ops,
hypot, arctan2, gamma/gammaln, identity, and the top-level random aliases. Each is a registry
primitive or a composite of them, so it records, traces and differentiates like every other nd
op. Imported into `nd` (nd.py re-exports these names).
"""
import numpy as np

from . import random as _random
from .array import F, NDArray
from .base import MXNetError
from .ir import composites as C
from .ir.types import dtype_name, normalize_axes
from .op_kwargs import redo as _redo


def _unary(opname, doc):
    def fn(data, **kwargs):
        if kwargs:
            return _redo(fn, locals())
        from .nd import _as_float  # ints compute in float32, as nd.sqrt does (not int garbage)
        return getattr(F, opname)(_as_float(data))
    fn.__name__, fn.__doc__ = opname, doc
    return fn


tan = _unary("tan", "Tangent, elementwise.")
arcsin = _unary("arcsin", "Inverse sine on [-1, 1].")
arccos = _unary("arccos", "Inverse cosine on [-1, 1].")
arctan = _unary("arctan", "Inverse tangent.")
sinh = _unary("sinh", "Hyperbolic sine.")
cosh = _unary("cosh", "Hyperbolic cosine.")
arcsinh = _unary("arcsinh", "Inverse hyperbolic sine.")
arccosh = _unary("arccosh", "Inverse hyperbolic cosine on [1, inf).")
arctanh = _unary("arctanh", "Inverse hyperbolic tangent on (-1, 1).")
erf = _unary("erf", "The Gauss error function.")
erfinv = _unary("erfinv", "The inverse error function on [-1, 1].")


def degrees(data, **kwargs):
    """Radians to degrees."""
    if kwargs:
        return _redo(degrees, locals())
    return F.mul(data, 180.0 / np.pi)


def radians(data, **kwargs):
    """Degrees to radians."""
    if kwargs:
        return _redo(radians, locals())
    return F.mul(data, np.pi / 180.0)


# ------------------------------------------------------------------ sorting
def _sort_axis(data, axis, opname):
    """(data, axis) with axis=None meaning the flattened array."""
    if axis is None:
        return F.reshape(data, shape=(data.size,)), 0
    if not -data.ndim <= int(axis) < data.ndim:
        raise MXNetError(f"{opname}: axis {axis} is out of range for input of shape "
                         f"{data.shape}")
    return data, int(axis) % data.ndim


def _index_dtype(indices, dtype):
    return F.cast(indices, dtype=dtype_name(np.dtype(dtype)))


def argsort(data, axis=-1, is_ascend=True, dtype="float32"):
    """Indices that sort `data` along `axis` (stable), as `dtype` (float32 by default, as
    MXNet)."""
    data, axis = _sort_axis(data, axis, "argsort")
    return _index_dtype(F.argsort(data, axis=axis, is_ascend=bool(is_ascend)), dtype)


def sort(data, axis=-1, is_ascend=True):
    """`data` sorted along `axis`; differentiable (a gather by the sorting permutation)."""
    data, axis = _sort_axis(data, axis, "sort")
    order = F.argsort(data, axis=axis, is_ascend=bool(is_ascend))
    return F.take_along_axis(data, order, axis=axis)


def topk(data, axis=-1, k=1, ret_typ="indices", is_ascend=False, dtype="float32"):
    """The k largest (is_ascend=False) or smallest entries along `axis`: ret_typ 'indices'
    (as `dtype`), 'value', 'both' ([value, indices]) or 'mask' (1 at the chosen entries)."""
    if ret_typ not in ("indices", "value", "both", "mask"):
        raise MXNetError(f"topk: ret_typ must be 'indices', 'value', 'both' or 'mask', got "
                         f"{ret_typ!r}")
    flat, axis = _sort_axis(data, axis, "topk")
    n = flat.shape[axis]
    k = n if k <= 0 else k  # MXNet: k < 1 means the whole axis
    if k > n:
        raise MXNetError(f"topk: k={k} is larger than the axis size {n} of {data.shape}")
    order = F.argsort(flat, axis=axis, is_ascend=bool(is_ascend))
    begin = tuple(0 for _ in flat.shape)
    end = tuple(k if i == axis else d for i, d in enumerate(flat.shape))
    top = F.slice(order, begin=begin, end=end, step=(1,) * flat.ndim)
    if ret_typ == "mask":  # 1 at the chosen entries (the positions are distinct), no gradient
        ones = F.constant(value=1.0, shape=top.shape, dtype=dtype_name(np.dtype(flat.dtype)))
        mask = F.scatter_add_along_axis(ones, top, axis=axis, size=n)
        return F.reshape(mask, shape=data.shape) if mask.shape != data.shape else mask
    values = F.take_along_axis(flat, top, axis=axis)
    indices = _index_dtype(top, dtype)
    if ret_typ == "value":
        return values
    if ret_typ == "indices":
        return indices
    return [values, indices]


# ------------------------------------------------------------------ scans and products
def cumsum(a, axis=None, dtype=None):
    """Running sum along `axis` (of the flattened array when axis is None)."""
    a, axis = _sort_axis(a, axis, "cumsum")
    if dtype is not None:
        a = F.cast(a, dtype=dtype_name(np.dtype(dtype)))
    return F.cumsum(a, axis=axis)


def prod(data, axis=None, keepdims=False, exclude=False, **kwargs):
    """Product over `axis` (all by default); gradients are exact at zeros."""
    if kwargs:
        return _redo(prod, locals())
    from .nd import _flag, _full_to_1, _reduce_axes
    axes = _reduce_axes(data, axis, exclude, "prod")
    if not axes and data.ndim:
        return data
    return _full_to_1(F.prod(data, axes=axes, keepdims=_flag(keepdims)))


def nansum(data, axis=None, keepdims=False, exclude=False, **kwargs):
    """Sum over `axis` counting NaNs as 0 (their gradient is 0, as MXNet's nansum gives)."""
    if kwargs:
        return _redo(nansum, locals())
    from .nd import sum as _sum, where, zeros_like
    return _sum(where(F.eq(data, data), data, zeros_like(data)), axis, keepdims, exclude)


def nanprod(data, axis=None, keepdims=False, exclude=False, **kwargs):
    """Product over `axis` counting NaNs as 1 (their gradient is 0)."""
    if kwargs:
        return _redo(nanprod, locals())
    from .nd import where, ones_like
    return prod(where(F.eq(data, data), data, ones_like(data)), axis, keepdims, exclude)


def moments(data, axes=None, keepdims=False, **kwargs):
    """[mean, variance] over `axes` (all by default); variance is the biased (population) one."""
    if kwargs:
        return _redo(moments, locals())
    from .nd import _full_to_1
    try:
        ax = normalize_axes(axes, data.ndim)
    except ValueError as e:
        raise MXNetError(f"moments: {e} of shape {tuple(data.shape)}") from None
    mean = C.mean(F, data, ax, keepdims=True)
    centered = F.sub(data, mean)
    var = C.mean(F, F.mul(centered, centered), ax, keepdims=keepdims)
    if not keepdims:
        mean = F.reshape(mean, shape=var.shape)
    return [_full_to_1(mean), _full_to_1(var)]


# ------------------------------------------------------------------ n-d indexing
def _indices(indices):
    from .nd import array
    return indices if isinstance(indices, NDArray) else array(indices, dtype=np.int64)


def gather_nd(data, indices):
    """out[i...] = data[indices[0, i...], ..., indices[M-1, i...], ...] (M = indices.shape[0]).
    A negative index counts from the end; as in MXNet an index outside [-size, size - 1] of
    its axis raises, eagerly and in compiled code alike (index_checks.py)."""
    indices = _indices(indices)
    indices = _check_nd_indices("gather_nd", indices, data.shape, negative=True)
    return F.gather_nd(data, indices)


def scatter_nd(data, indices, shape):
    """Zeros of `shape` with data written at the positions `indices` names (positions must be
    distinct, as MXNet requires; repeats are summed here). MXNet writes out of bounds for an
    index outside [0, size - 1] of its axis: that raises here, eagerly and in compiled code
    alike (index_checks.py)."""
    indices = _indices(indices)
    shape = tuple(int(d) for d in shape)
    indices = _check_nd_indices("scatter_nd", indices, shape, negative=False)
    return F.scatter_nd_add(data, indices, shape=shape)


def _check_nd_indices(op, indices, shape, negative):
    """indices, read through a check of row k against axis k of `shape` (index_checks.py)."""
    from .index_checks import check_rows
    if indices.ndim < 1 or not 1 <= indices.shape[0] <= len(shape):
        return indices  # a rank its type rule reports
    m = indices.shape[0]
    lo = [-shape[k] if negative else 0 for k in range(m)]
    return check_rows(op, "indices", indices, lo, [shape[k] - 1 for k in range(m)],
                      f"axis {{k}} of shape {shape}", truncate=not negative)


def pad(data, mode="constant", pad_width=(), constant_value=0.0, **kwargs):
    """Pad with `pad_width` = (before_0, after_0, before_1, after_1, ...): mode 'constant'
    (constant_value), 'edge' (repeat the border) or 'reflect' (mirror without the border)."""
    if kwargs:
        return _redo(pad, locals())
    pad_width = tuple(int(p) for p in pad_width)
    if len(pad_width) != 2 * data.ndim:
        raise MXNetError(f"pad: pad_width needs {2 * data.ndim} entries (two per axis) for "
                         f"input of shape {data.shape}, got {len(pad_width)}")
    return F.pad(data, pad_width=pad_width, mode=mode, constant_value=float(constant_value))


# ------------------------------------------------------------------ random, top level
def _null_shape(shape):
    return (1,) if shape is None or shape == () else shape


def random_uniform(low=0.0, high=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Uniform samples in [low, high) (MXNet's nd.random_uniform / nd.uniform)."""
    if kwargs:
        return _redo(random_uniform, locals())
    return _random.uniform(low, high, _null_shape(shape), dtype, ctx, out)


def random_normal(loc=0.0, scale=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Normal samples (MXNet's nd.random_normal / nd.normal)."""
    if kwargs:
        return _redo(random_normal, locals())
    return _random.normal(loc, scale, _null_shape(shape), dtype, ctx, out)


uniform, normal = random_uniform, random_normal


def add_n(*args, **kwargs):
    """The elementwise sum of all arguments (MXNet's add_n / ElementWiseSum)."""
    if kwargs:
        return _redo(add_n, locals())
    if not args:
        raise MXNetError("add_n: needs at least one array")
    out = args[0]
    for a in args[1:]:
        out = F.add(out, a)
    return out


ElementWiseSum = add_n


def argmax_channel(data):
    """Index of the maximum along the last axis, as float32 (MXNet's argmax_channel)."""
    from .nd import argmax
    return argmax(data, axis=-1)


def sum_axis(data, axis=None, keepdims=False, exclude=False, **kwargs):
    """nd.sum under MXNet's older name."""
    if kwargs:
        return _redo(sum_axis, locals())
    from .nd import sum as _sum
    return _sum(data, axis=axis, keepdims=keepdims, exclude=exclude)


def max_axis(data, axis=None, keepdims=False, exclude=False, **kwargs):
    if kwargs:
        return _redo(max_axis, locals())
    from .nd import max as _max
    return _max(data, axis=axis, keepdims=keepdims, exclude=exclude)


def min_axis(data, axis=None, keepdims=False, exclude=False, **kwargs):
    if kwargs:
        return _redo(min_axis, locals())
    from .nd import min as _min
    return _min(data, axis=axis, keepdims=keepdims, exclude=exclude)


def smooth_l1(data, scalar=1.0, **kwargs):
    """0.5 (sigma x)² where |x| < 1/sigma², else |x| - 0.5/sigma² (sigma = scalar), as in
    MXNet's smooth_l1 (Fast R-CNN's box loss)."""
    if kwargs:
        return _redo(smooth_l1, locals())
    s2 = float(scalar) ** 2
    a = F.abs(data)
    return F.where(F.lt(a, 1.0 / s2), F.mul(F.mul(data, data), 0.5 * s2), F.sub(a, 0.5 / s2))


def hard_sigmoid(data, alpha=0.2, beta=0.5, **kwargs):
    """clip(alpha * x + beta, 0, 1)."""
    if kwargs:
        return _redo(hard_sigmoid, locals())
    return C.clip(F, F.add(F.mul(data, float(alpha)), float(beta)), 0.0, 1.0)


def trunc(data, **kwargs):
    """Round toward zero: ceil below zero, floor elsewhere (so -0.4 and -0.0 give -0.0, as
    C's trunc does; int arrays come back unchanged, in their dtype)."""
    if kwargs:
        return _redo(trunc, locals())
    if np.dtype(data.dtype).kind in "iub":
        return F.floor(data)
    return F.where(F.lt(data, 0.0), F.neg(F.floor(F.neg(data))), F.floor(data))


fix = trunc


def rint(data, **kwargs):
    """Nearest integer by MXNet's rule: n.5 goes to n and -n.5 to -n-1 (floor, unless the
    fraction is above one half: then ceil, so -0.4 gives -0.0), where `round` takes halves
    away from zero."""
    if kwargs:
        return _redo(rint, locals())
    if np.dtype(data.dtype).kind in "iub":
        return F.floor(data)
    low = F.floor(data)   # (compared with low + 0.5, not data - low: inf - inf is NaN)
    return F.where(F.le(data, F.add(low, 0.5)), low, F.neg(F.floor(F.neg(data))))


cbrt = _unary("cbrt", "Cube root (real, sign kept).")
rcbrt = _unary("rcbrt", "1 / cbrt(x), rounded once.")


def shape_array(data, **kwargs):
    """The shape as an int64 array."""
    if kwargs:
        return _redo(shape_array, locals())
    from .nd import array
    return array(data.shape, dtype=np.int64)


def size_array(data, **kwargs):
    """The number of elements as a 1-element int64 array."""
    if kwargs:
        return _redo(size_array, locals())
    from .nd import array
    return array([data.size], dtype=np.int64)


# ------------------------------------------------------------------ logic
def _truth(value, dtype):
    """A Python operand's truth as MXNet's scalar ops read it: converted to the array's dtype
    first (0.5 beside an int array is 0, false)."""
    return bool(np.asarray(value).astype(dtype))


def _logical(opname, combine, python):
    def fn(lhs, rhs):
        arrays = [a for a in (lhs, rhs) if isinstance(a, NDArray)]
        if not arrays:          # two numbers: a number, as MXNet's _ufunc_helper gives
            return python(lhs, rhs)
        dtype = np.dtype(arrays[0].dtype)   # 0/1 in the (left) array operand's dtype, as nd.equal
        if not isinstance(lhs, NDArray):
            lhs, rhs = rhs, lhs           # every one of these is symmetric
        elif isinstance(rhs, NDArray):
            _check_broadcast(opname, lhs, rhs)
        p = F.ne(lhs, 0)
        q = F.ne(rhs, 0) if isinstance(rhs, NDArray) else _truth(rhs, dtype)
        return F.cast(combine(p, q), dtype=dtype_name(dtype))
    fn.__name__ = opname
    fn.__doc__ = (f"{opname.split('_')[-1].upper()} of the operands' truth (non-zero), "
                  "broadcast, as 1/0 in the array operand's dtype; no gradient.")
    return fn


logical_and = broadcast_logical_and = _logical(
    "logical_and", lambda p, q: F.where(p, q, False), lambda x, y: 1 if x and y else 0)
logical_or = broadcast_logical_or = _logical(
    "logical_or", lambda p, q: F.where(p, True, q), lambda x, y: 1 if x or y else 0)
logical_xor = broadcast_logical_xor = _logical(
    "logical_xor", lambda p, q: F.ne(p, q), lambda x, y: 1 if bool(x) ^ bool(y) else 0)


def logical_not(data, **kwargs):
    """1 where data is zero, else 0, in data's dtype (MXNet's logical_not); no gradient."""
    if kwargs:
        return _redo(logical_not, locals())
    return F.cast(F.logical_not(data), dtype=dtype_name(np.dtype(data.dtype)))


def identity(data, **kwargs):
    """A copy of data (MXNet's identity / _copy): a new buffer, the gradient passes through."""
    if kwargs:
        return _redo(identity, locals())
    return F.cast(data, dtype=dtype_name(np.dtype(data.dtype)))


# ------------------------------------------------------------------ special functions
def _float_pair(lhs, rhs, opname):
    """Both operands as float arrays of one dtype (ints compute in float32, as nd.sqrt)."""
    from .nd import _as_float, array
    if not isinstance(lhs, NDArray) and not isinstance(rhs, NDArray):
        raise MXNetError(f"{opname}: needs at least one NDArray operand, got "
                         f"{type(lhs).__name__} and {type(rhs).__name__}")
    lhs, rhs = (_as_float(a) if isinstance(a, NDArray) else a for a in (lhs, rhs))
    ref = lhs if isinstance(lhs, NDArray) else rhs
    lhs, rhs = (a if isinstance(a, NDArray) else array([a], dtype=np.dtype(ref.dtype))
                for a in (lhs, rhs))
    _check_broadcast(opname, lhs, rhs)
    return lhs, rhs


def _check_broadcast(opname, lhs, rhs):
    try:
        np.broadcast_shapes(lhs.shape, rhs.shape)
    except ValueError:
        raise MXNetError(f"{opname}: shapes {lhs.shape} and {rhs.shape} do not broadcast") \
            from None


def hypot(lhs, rhs):
    """sqrt(lhs² + rhs²), broadcast, computed scaled so 1e30 (float32) neither overflows nor
    underflows. hypot(0, 0) = 0 with MXNet's gradient there, x / hypot = NaN."""
    lhs, rhs = _float_pair(lhs, rhs, "hypot")
    with np.errstate(all="ignore"):
        return C.hypot(F, lhs, rhs)


broadcast_hypot = hypot


def arctan2(x1, x2, **kwargs):
    """The angle of the point (x2, x1) in [-pi, pi], numpy's arctan2 (quadrants, signed zeros,
    infinities), broadcast; gradient (x2, -x1) / (x1² + x2²)."""
    if kwargs:
        return _redo(arctan2, locals())
    x1, x2 = _float_pair(x1, x2, "arctan2")
    with np.errstate(all="ignore"):
        return C.arctan2(F, x1, x2)


def _in_float64(fn, data):
    """fn computed in float64 and returned in data's float dtype (int input: float32), so the
    Lanczos series keeps float32 results to rounding."""
    from .nd import _as_float
    data = _as_float(data)
    dtype = dtype_name(np.dtype(data.dtype))
    with np.errstate(all="ignore"):
        wide = data if dtype == "f64" else F.cast(data, dtype="f64")
        out = fn(F, wide)
        return out if dtype == "f64" else F.cast(out, dtype=dtype)


def gamma(data, **kwargs):
    """The gamma function (C's tgamma): ±inf at ±0, NaN at negative integers; gradient
    Γ(x)ψ(x), at the poles MXNet's (`_at_poles`)."""
    if kwargs:
        return _redo(gamma, locals())
    return _in_float64(lambda F, x: _at_poles(F, x, C.gamma(F, x), True, False), data)


def gammaln(data, **kwargs):
    """log|Γ(x)| (C's lgamma): +inf at 0 and the negative integers; gradient ψ(x), at those
    poles MXNet's (`_at_poles`)."""
    if kwargs:
        return _redo(gammaln, locals())
    wide = np.dtype(getattr(data, "dtype", np.float32)) == np.float64
    return _in_float64(lambda F, x: _at_poles(F, x, C.gammaln(F, x), False, wide), data)


def _at_poles(F, x, out, gamma, wide):
    """`out` (float64) with, at the poles x = 0, -1, -2, ... (the composites' gradient is 0
    there), the value it has and MXNet's gradient, ograd times cephes psi's DBL_MAX (inf in
    float32): gammaln's +DBL_MAX (`wide`: a float64 input) or +inf; gamma's Γ(x)ψ(x), ±inf at
    ±0 and NaN at the negative integers. An infinite slope comes from 1/u, u = sg(x) - x = +0
    (value +inf, slope +inf; so an ograd of 0 gives NaN, as MXNet's product does)."""
    pole = F.mul(F.mul(F.le(x, 0.0), F.eq(F.floor(x), x)), F.gt(x, -np.inf))  # (not -inf)
    zero = F.eq(x, 0.0)
    # (u is 1 where it is not used: the branch not taken gets a 0 gradient, kept finite)
    u = F.where(zero if gamma else pole, F.sub(F.stop_gradient(x), x), 1.0)
    up = F.div(1.0, u)                                  # +inf, slope +inf
    if gamma:
        at_zero = F.where(F.lt(F.div(1.0, x), 0.0), F.neg(up), up)     # (-0: -inf)
        v = F.where(F.mul(pole, F.logical_not(zero)), F.sub(F.stop_gradient(x), x), 1.0)
        at_pole = F.where(zero, at_zero, F.div(v, v))   # (0/0: NaN, its slope NaN)
    elif wide:      # (DBL_MAX as a float64 array: a scalar constant would be float32's inf)
        big = F.mul(F.add(F.mul(F.cast(pole, dtype="f64"), 0.0), 1.0), _DBL_MAX)
        at_pole = F.add(F.stop_gradient(out), F.mul(F.neg(u), big))
    else:
        at_pole = up
    return F.where(pole, at_pole, out)


_DBL_MAX = float(np.finfo(np.float64).max)


def _linalg_aliases():
    """MXNet's flat names for linalg: nd.linalg_gemm2 == nd.linalg.gemm2, ..."""
    from . import linalg
    return {f"linalg_{n}": getattr(linalg, n) for n in (
        "gemm", "gemm2", "syrk", "potrf", "potri", "trsm", "trmm", "sumlogdiag",
        "extractdiag", "makediag", "extracttrian", "maketrian", "inverse", "det", "slogdet",
        "syevd", "gelqf")}


globals().update(_linalg_aliases())

METHODS = {name: globals()[name] for name in (
    "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
    "erf", "erfinv", "degrees", "radians", "sort", "argsort", "topk", "cumsum", "prod",
    "trunc", "fix", "rint", "cbrt", "smooth_l1", "rcbrt", "nansum", "nanprod", "shape_array",
    "size_array", "argmax_channel", "pad")}

__all__ = sorted(set(METHODS) | {"moments", "gather_nd", "scatter_nd", "pad", "random_uniform",
                                 "random_normal", "uniform", "normal", "add_n",
                                 "ElementWiseSum", "argmax_channel", "sum_axis", "max_axis",
                                 "min_axis", "hard_sigmoid", "shape_array", "size_array",
                                 "logical_and", "logical_or", "logical_xor",
                                 "broadcast_logical_and", "broadcast_logical_or",
                                 "broadcast_logical_xor", "hypot", "broadcast_hypot",
                                 "arctan2", "identity", "logical_not", "gamma", "gammaln"}
                | set(_linalg_aliases()))
