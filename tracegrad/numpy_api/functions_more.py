"""The rest of MXNet 1.9's `mx.np` functions: bit operations, more element-wise math,
splitting and stacking, insert / delete / append / pad / resize, windows, einsum, quantiles,
histograms and index helpers.

As in functions.py, each float function is a composite of registered ops (array.F), so it
records, differentiates and compiles; the integer-only ones (bit operations, lcm, bincount's
counts, histogram, unravel_index) read their operands' values with numpy (eager; a guard inside
a trace) and give new arrays, which carry no gradient (MXNet's have none either).
"""
import builtins
import collections
import math
import string

import numpy as onp

from ..array import F, HOOKS, NDArray, unrecorded_read, wrap
from ..base import MXNetError, MXNetTypeError, MXNetValueError
from ..ir import composites as C
from ..ir.types import dtype_name
from .functions import (_arr, _axes, _axis, _float, _new, _writing_out, _shape_arg,
                        _slice_axis, broadcast_to, concatenate, flip, matmul, mean, ravel,
                        reshape, sort, split, transpose, vstack)
from .ndarray import (_BOOL, _F32, _F64, _I32, _I64, _operand, as_np, check_dtype,
                      dtype_of, promote)

__all__ = [
    "bitwise_not", "invert", "bitwise_and", "bitwise_or", "bitwise_xor", "lcm",
    "arctan2", "hypot", "copysign", "ldexp", "cbrt", "fabs", "degrees", "radians", "rad2deg",
    "deg2rad", "nan_to_num", "isposinf", "isneginf",
    "logspace", "indices", "hanning", "hamming", "blackman",
    "hsplit", "vsplit", "dsplit", "row_stack", "column_stack", "dstack",
    "append", "insert", "delete", "resize", "pad", "tril", "rot90",
    "diff", "ediff1d", "average", "quantile", "percentile", "polyval", "einsum",
    "histogram", "bincount", "unravel_index", "diag_indices_from",
    "shares_memory", "may_share_memory", "atleast_1d", "atleast_2d", "atleast_3d", "roll",
    "diagflat"]


# ---------------------------------------------------------------------- helpers
def _typed(x, dt):
    """An array x in dtype dt (a Python number becomes a 0-d array of dt)."""
    if isinstance(x, NDArray):
        return x if dtype_of(x) == dt else F.cast(x, dtype=dtype_name(dt))
    return wrap(onp.asarray(x, dtype=dt))


def _broadcast_shape(fname, *arrays):
    try:
        return onp.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise MXNetError(f"{fname}: operands could not be broadcast together with shapes "
                         f"{' '.join(str(a.shape) for a in arrays)}") from None


def _operands(fname, x1, x2):
    """x1 and x2 as operands (arrays or Python numbers) and their MXNet numpy result dtype."""
    a, b = _operand(fname, x1), _operand(fname, x2)
    if not isinstance(a, NDArray) and not isinstance(b, NDArray):
        a = _arr(fname, a) if not isinstance(a, (bool, int)) else \
            as_np(wrap(onp.asarray(a, dtype=_BOOL if isinstance(a, bool) else _I64)))
    return a, b, promote(fname, a, b)


def _float_operands(fname, x1, x2):
    """x1 and x2 as float arrays of one dtype (MXNet numpy's promotion, integers and bools
    computed in float32), their shapes checked to broadcast."""
    a, b, dt = _operands(fname, x1, x2)
    if dt.kind != "f":
        dt = _F32
    a, b = _typed(a, dt), _typed(b, dt)
    _broadcast_shape(fname, a, b)
    return a, b


_UFUNC_DEFAULTS = {"where": True, "casting": "same_kind", "order": "K", "dtype": None,
                   "subok": True}


class _UfuncKeywordNotImplemented(MXNetError, NotImplementedError):
    """A ufunc keyword numpy takes with that value, MXNet does not (its NotImplementedError)."""


def _ufunc_legal(key, value):
    """Whether numpy would take value for the ufunc keyword (MXNet's split between
    NotImplementedError and TypeError)."""
    if key == "where":
        return True
    if key == "casting":
        return value in ("no", "equiv", "safe", "same_kind", "unsafe")
    if key == "order":
        return isinstance(value, str)
    if key == "dtype":
        try:
            return onp.dtype(value).name in ("int8", "uint8", "int32", "int64", "float16",
                                             "float32", "float64")
        except TypeError:
            return False
    return key == "subok" and isinstance(value, bool)


def _ufunc_kwargs(fname, kwargs):
    """numpy's ufunc keywords at their defaults pass (as MXNet's wrappers let them); others
    raise instead of being silently ignored: NotImplementedError (an MXNetError too) for a
    value numpy takes, TypeError for one it does not understand, as MXNet's."""
    for key, value in kwargs.items():
        if key not in _UFUNC_DEFAULTS:
            raise TypeError(f"{key} is an invalid keyword to function {fname!r}")
        default = _UFUNC_DEFAULTS[key]
        if value is not default and (default is None or value != default):
            if _ufunc_legal(key, value):
                raise _UfuncKeywordNotImplemented(f"{fname}: {key}={value!r} is not supported")
            raise MXNetTypeError(f"{fname}: {key}={value!r} not understood")


def _values(fname, x):
    """x's numpy data (read: eager, a guard inside a trace)."""
    x._concretize(f"{fname}()")
    return x._data


def _int_binary(fname, x1, x2, fn, bools=True):
    """fn (a numpy integer function) on two integer or bool operands, in their promoted dtype;
    integer-only in MXNet, so it is computed on the values and carries no gradient."""
    a, b, dt = _operands(fname, x1, x2)
    if dt.kind == "f" or (dt == _BOOL and not bools):
        kinds = "integer and bool" if bools else "integer"
        raise TypeError(f"{fname}: only {kinds} operands are supported, got "
                        f"{dt if dt.kind == 'f' else 'bool'}")
    da = _values(fname, a) if isinstance(a, NDArray) else a
    db = _values(fname, b) if isinstance(b, NDArray) else b
    if isinstance(a, NDArray) and isinstance(b, NDArray):
        _broadcast_shape(fname, a, b)
    out = fn(onp.asarray(da, dtype=dt), onp.asarray(db, dtype=dt))
    return as_np(wrap(onp.asarray(out, dtype=dt)))


def _check_int(fname, x, bools=True):
    dt = dtype_of(x)
    if dt.kind == "f" or (dt == _BOOL and not bools):
        raise TypeError(f"{fname}: only integer{' and bool' if bools else ''} arrays are "
                        f"supported, got {dt}")
    return dt


def _indices_of(fname, obj):
    """An index argument (int, list, numpy or mx array) as a numpy int64 or bool array."""
    if isinstance(obj, NDArray):
        obj = _values(fname, obj)
    idx = onp.asarray(obj)
    if idx.dtype == _BOOL:
        return idx
    if idx.size and idx.dtype.kind == "f":
        if not onp.all(onp.isfinite(idx)) or onp.any(idx != onp.round(idx)):
            raise TypeError(f"{fname}: indices must be integers, got {idx.dtype} values "
                            f"{idx.tolist()}")
    elif idx.size and idx.dtype.kind not in "iu":
        raise TypeError(f"{fname}: indices must be integers, got {idx.dtype}")
    return idx.astype(onp.int64)


def _take(a, positions, axis):
    """a's entries at the given static positions along axis (differentiable: a gather)."""
    return as_np(F.take(a, wrap(onp.asarray(positions, dtype=onp.int64)), axis=axis))


# ---------------------------------------------------------------------- bit operations
def bitwise_not(x, out=None, **kwargs):
    """~x for integer and bool arrays (logical not of bools), in x's dtype."""
    _ufunc_kwargs("bitwise_not", kwargs)
    x = _arr("bitwise_not", x)
    dt = _check_int("bitwise_not", x)
    return as_np(wrap(onp.asarray(onp.invert(_values("bitwise_not", x)), dtype=dt)))


def invert(x, out=None, **kwargs):
    """numpy's invert: bitwise_not under its other name."""
    _ufunc_kwargs("invert", kwargs)
    x = _arr("invert", x)
    dt = _check_int("invert", x)
    return as_np(wrap(onp.asarray(onp.invert(_values("invert", x)), dtype=dt)))


def bitwise_and(x1, x2, out=None, **kwargs):
    """x1 & x2 for integer and bool operands, broadcast."""
    _ufunc_kwargs("bitwise_and", kwargs)
    return _int_binary("bitwise_and", x1, x2, onp.bitwise_and)


def bitwise_or(x1, x2, out=None, **kwargs):
    """x1 | x2 for integer and bool operands, broadcast."""
    _ufunc_kwargs("bitwise_or", kwargs)
    return _int_binary("bitwise_or", x1, x2, onp.bitwise_or)


def bitwise_xor(x1, x2, out=None, **kwargs):
    """x1 ^ x2 for integer and bool operands, broadcast."""
    _ufunc_kwargs("bitwise_xor", kwargs)
    return _int_binary("bitwise_xor", x1, x2, onp.bitwise_xor)


def lcm(x1, x2, out=None, **kwargs):
    """The lowest common multiple of |x1| and |x2|, integers only (as MXNet)."""
    _ufunc_kwargs("lcm", kwargs)
    return _int_binary("lcm", x1, x2, onp.lcm, bools=False)


# ---------------------------------------------------------------------- element-wise math
def arctan2(x1, x2, out=None, **kwargs):
    """The angle of the point (x2, x1) in [-pi, pi], numpy's quadrants and signed zeros;
    differentiable in both arguments."""
    _ufunc_kwargs("arctan2", kwargs)
    a, b = _float_operands("arctan2", x1, x2)
    with onp.errstate(all="ignore"):
        return as_np(C.arctan2(F, a, b))


def hypot(x1, x2, out=None, **kwargs):
    """sqrt(x1² + x2²) without overflow for large legs; differentiable in both."""
    _ufunc_kwargs("hypot", kwargs)
    a, b = _float_operands("hypot", x1, x2)
    with onp.errstate(all="ignore"):
        return as_np(C.hypot(F, a, b))


def copysign(x1, x2, out=None, **kwargs):
    """x1's magnitude with x2's sign (-0.0 counts as negative). The gradient reaches x1 only
    (+1 or -1, MXNet's), x2's sign being piecewise constant."""
    _ufunc_kwargs("copysign", kwargs)
    a, b = _float_operands("copysign", x1, x2)
    with onp.errstate(all="ignore"):
        same = F.eq(C.sign_bit(F, a), C.sign_bit(F, b))
    shape = _broadcast_shape("copysign", a, b)
    a = F.broadcast_to(a, shape=shape) if a.shape != shape else a
    return as_np(F.where(F.broadcast_to(same, shape=shape) if same.shape != shape else same,
                         a, F.neg(a)))


def ldexp(x1, x2, out=None, **kwargs):
    """x1 * 2**x2 (x2 may be a float, as MXNet allows); differentiable in both."""
    _ufunc_kwargs("ldexp", kwargs)
    a, b = _float_operands("ldexp", x1, x2)
    return as_np(F.mul(a, F.pow(_typed(2.0, dtype_of(b)), b)))


def cbrt(x, out=None, **kwargs):
    """The real cube root (sign kept; integers in float32)."""
    _ufunc_kwargs("cbrt", kwargs)
    return as_np(F.cbrt(_float(_arr("cbrt", x))))


def fabs(x, out=None, **kwargs):
    """|x| as a float (integers in float32, unlike abs)."""
    _ufunc_kwargs("fabs", kwargs)
    return as_np(F.abs(_float(_arr("fabs", x))))


def _times(fname, x, factor, kwargs):
    """x (integers in float32) times a constant: the angle conversions."""
    _ufunc_kwargs(fname, kwargs)
    return as_np(F.mul(_float(_arr(fname, x)), factor))


def degrees(x, out=None, **kwargs):
    """Radians to degrees (integers in float32)."""
    return _times("degrees", x, 180.0 / math.pi, kwargs)


def radians(x, out=None, **kwargs):
    """Degrees to radians (integers in float32)."""
    return _times("radians", x, math.pi / 180.0, kwargs)


def rad2deg(x, out=None, **kwargs):
    """Radians to degrees: numpy's other name for degrees."""
    return _times("rad2deg", x, 180.0 / math.pi, kwargs)


def deg2rad(x, out=None, **kwargs):
    """Degrees to radians: numpy's other name for radians."""
    return _times("deg2rad", x, math.pi / 180.0, kwargs)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None, **kwargs):
    """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (the dtype's largest
    finite values by default); integer and bool arrays have none. The gradient passes where x
    was finite and is zero where a value was replaced (MXNet's). copy=False writes into x."""
    if kwargs:
        raise TypeError(f"nan_to_num() got an unexpected keyword argument "
                        f"{next(iter(kwargs))!r}")
    x = _arr("nan_to_num", x)
    dt = dtype_of(x)
    if dt.kind != "f":
        return as_np(x).copy() if copy else x
    info = onp.finfo(dt)
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    res = F.where(F.ne(x, x), _typed(nan, dt),
                  F.where(F.eq(x, math.inf), _typed(hi, dt),
                          F.where(F.eq(x, -math.inf), _typed(lo, dt), x)))
    if copy or HOOKS.compiling:   # (a hybridized graph returns a new array, as MXNet's
        return as_np(res)         # symbolic nan_to_num does whatever copy says)
    x[...] = as_np(res)
    return x


def isposinf(x, out=None, **kwargs):
    """True where x is +inf (a bool array; never for integers)."""
    _ufunc_kwargs("isposinf", kwargs)
    x = _arr("isposinf", x)
    if dtype_of(x).kind != "f":
        return _new("isposinf", onp.zeros(x.shape, dtype=_BOOL), None)
    return as_np(F.eq(x, math.inf))


def isneginf(x, out=None, **kwargs):
    """True where x is -inf (a bool array; never for integers)."""
    _ufunc_kwargs("isneginf", kwargs)
    x = _arr("isneginf", x)
    if dtype_of(x).kind != "f":
        return _new("isneginf", onp.zeros(x.shape, dtype=_BOOL), None)
    return as_np(F.eq(x, -math.inf))


# ---------------------------------------------------------------------- creation
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0, ctx=None):
    """base ** linspace(start, stop, num): float32 unless dtype says otherwise; scalar start
    and stop only (as MXNet)."""
    for v in (start, stop):
        if not isinstance(v, (int, float, onp.integer, onp.floating)) or isinstance(v, bool):
            raise TypeError(f"logspace: start and stop must be numbers, got "
                            f"{type(v).__name__}")
    if axis not in (0, -1):
        raise MXNetError(f"logspace: only axis=0 is supported (scalar start and stop), got "
                         f"{axis}")
    if int(num) < 0:
        raise MXNetError(f"logspace: number of samples, {num}, must be non-negative")
    dt = check_dtype("logspace", dtype, _F32)
    vals = onp.logspace(float(start), float(stop), int(num), endpoint=endpoint,
                        base=float(base))
    return _new("logspace", vals.astype(dt), ctx)


def indices(dimensions, dtype=onp.int32, ctx=None):
    """The grid of indices of an array of shape `dimensions` (int32 by default, as MXNet),
    shape (len(dimensions),) + dimensions."""
    if not isinstance(dimensions, (tuple, list)):
        raise TypeError(f"indices: dimensions must be a tuple or list of ints, got "
                        f"{type(dimensions).__name__}")
    dims = _shape_arg("indices", tuple(dimensions))
    dt = check_dtype("indices", dtype, _I32)
    return _new("indices", onp.indices(dims, dtype=dt), ctx)


def _window(fname, fn, M, dtype, ctx):
    if isinstance(M, bool) or not isinstance(M, (int, onp.integer, float, onp.floating)):
        raise TypeError(f"{fname}: M must be a number, got {type(M).__name__}")
    dt = check_dtype(fname, dtype, _F32)
    return _new(fname, fn(int(M)).astype(dt), ctx)


def hanning(M, dtype=onp.float32, ctx=None):
    """The Hann window of M points (float32 by default, as MXNet)."""
    return _window("hanning", onp.hanning, M, dtype, ctx)


def hamming(M, dtype=onp.float32, ctx=None):
    """The Hamming window of M points (float32 by default, as MXNet)."""
    return _window("hamming", onp.hamming, M, dtype, ctx)


def blackman(M, dtype=onp.float32, ctx=None):
    """The Blackman window of M points (float32 by default, as MXNet)."""
    return _window("blackman", onp.blackman, M, dtype, ctx)


# ---------------------------------------------------------------------- split and stack
def hsplit(ary, indices_or_sections):
    """split along axis 1 (axis 0 for 1-d arrays)."""
    a = _arr("hsplit", ary)
    if a.ndim < 1:
        raise MXNetValueError("hsplit: only works on arrays of 1 or more dimensions")
    return split(a, indices_or_sections, 0 if a.ndim == 1 else 1)


def _split_along(fname, ary, indices_or_sections, axis, min_ndim):
    a = _arr(fname, ary)
    if a.ndim < min_ndim:
        raise MXNetValueError(f"{fname}: only works on arrays of {min_ndim} or more dimensions, "
                              f"got shape {a.shape}")
    return split(a, indices_or_sections, axis)


def vsplit(ary, indices_or_sections):
    """split along axis 0 of an array of 2 or more dimensions."""
    return _split_along("vsplit", ary, indices_or_sections, 0, 2)


def dsplit(ary, indices_or_sections):
    """split along axis 2 of an array of 3 or more dimensions."""
    return _split_along("dsplit", ary, indices_or_sections, 2, 3)


def _sequence(fname, arrays):
    """The arrays of a sequence; an array of 2 or more dims is the sequence of its rows, as
    numpy and MXNet (`*arrays`) read it."""
    if isinstance(arrays, NDArray) and arrays.ndim >= 2:
        arrays = [arrays[i] for i in range(arrays.shape[0])]
    if isinstance(arrays, NDArray) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{fname}: expected a sequence of arrays, got {type(arrays).__name__}")
    arrs = [_arr(fname, a) for a in arrays]
    if not arrs:
        raise MXNetError(f"{fname}: need at least one array")
    return arrs


def row_stack(arrays):
    """vstack under numpy's older name."""
    return vstack(_sequence("row_stack", arrays))


def column_stack(tup):
    """1-d arrays as the columns of a 2-d array (2-d arrays as they are), side by side."""
    arrs = _sequence("column_stack", tup)
    return concatenate([reshape(a, (-1, 1)) if a.ndim < 2 else a for a in arrs], axis=1)


def dstack(arrays):
    """Arrays stacked along a third axis ((N,) as (1, N, 1), (M, N) as (M, N, 1))."""
    def at_least_3d(a):
        if a.ndim == 0:
            return reshape(a, (1, 1, 1))
        if a.ndim == 1:
            return reshape(a, (1, a.shape[0], 1))
        if a.ndim == 2:
            return reshape(a, a.shape + (1,))
        return a
    return concatenate([at_least_3d(a) for a in _sequence("dstack", arrays)], axis=2)


# ---------------------------------------------------------------------- insert / delete
def append(arr, values, axis=None):
    """arr with values added at the end of axis (both flattened when axis is None)."""
    a, v = _arr("append", arr), _arr("append", values)
    if axis is None:
        return concatenate([ravel(a), ravel(v)], axis=0)
    return concatenate([a, v], axis=axis)


def _flat_axis(fname, a, axis):
    if axis is None:
        return ravel(a), 0
    if a.ndim == 0:
        raise MXNetError(f"{fname}: axis {axis} is out of bounds for a 0-d array")
    return a, _axis(fname, axis, a.ndim)


def delete(arr, obj, axis=None):
    """arr without the entries obj (an int, a slice, ints or a bool mask) selects along axis
    (of the flattened array when axis is None); a gather, so differentiable in arr. An mx
    index array ignores entries outside [0, n), as MXNet's; other indices follow numpy."""
    if not isinstance(arr, NDArray):
        raise TypeError(f"delete: arr must be an mx.np.ndarray, got {type(arr).__name__}")
    a, ax = _flat_axis("delete", arr, axis)
    n = a.shape[ax]
    keep = onp.ones(n, dtype=bool)
    if isinstance(obj, slice):
        keep[obj] = False
    else:
        idx = _indices_of("delete", obj)
        if idx.dtype == _BOOL:
            if idx.shape != (n,):
                raise MXNetError(f"delete: boolean array argument obj must be one dimensional "
                                 f"and match the axis length {n}, got shape {idx.shape}")
            keep = ~idx
        elif isinstance(obj, NDArray):
            # MXNet's kernel marks only indices in [0, n): an index array's negative and
            # out-of-bounds entries delete nothing (numpy < 1.19 ignored them too)
            idx = idx[(idx >= 0) & (idx < n)]
            keep[idx] = False
        else:
            bad = idx[(idx < -n) | (idx >= n)]
            if bad.size:
                raise IndexError(f"delete: index {int(bad[0])} is out of bounds for axis {ax} "
                                 f"with size {n}")
            keep[idx.ravel()] = False
    return _take(a, onp.flatnonzero(keep), ax)


def insert(arr, obj, values, axis=None):
    """arr with values inserted before the index or indices obj along axis (of the flattened
    array when axis is None), numpy's rules for how values broadcast; values are cast to arr's
    dtype. A concatenation and a gather, so differentiable in arr and values."""
    if not isinstance(arr, NDArray):
        raise TypeError(f"insert: arr must be an mx.np.ndarray, got {type(arr).__name__}")
    a, ax = _flat_axis("insert", arr, axis)
    dt, n = dtype_of(a), a.shape[ax]
    v = values if isinstance(values, NDArray) else _arr("insert", onp.asarray(values))
    v = _typed(v, dt)
    scalar_obj = isinstance(obj, (int, onp.integer)) and not isinstance(obj, bool)
    if isinstance(obj, slice):
        idx = onp.arange(*obj.indices(n), dtype=onp.int64)
    else:
        idx = _indices_of("insert", obj)
        if idx.dtype == _BOOL:
            if idx.ndim != 1:
                raise MXNetError("insert: boolean array argument obj must be one dimensional")
            idx = onp.flatnonzero(idx)
        elif idx.ndim > 1:
            raise MXNetError("insert: index array argument obj must be one dimensional or "
                             "scalar")
    if idx.size == 1:
        index = int(idx.ravel()[0])
        if not -n <= index <= n:
            raise IndexError(f"insert: index {index} is out of bounds for axis {ax} with "
                             f"size {n}")
        index += n if index < 0 else 0
        if v.ndim < a.ndim:
            v = F.reshape(v, shape=(1,) * (a.ndim - v.ndim) + v.shape)
        if scalar_obj or idx.ndim == 0:
            perm = list(range(1, v.ndim))
            perm.insert(ax, 0)
            v = F.transpose(v, perm=tuple(perm)) if perm != list(range(v.ndim)) else v
        shape = a.shape[:ax] + (v.shape[ax],) + a.shape[ax + 1:]
        v = _broadcast_values("insert", v, shape)
        parts = [_slice_axis(a, ax, 0, index), v, _slice_axis(a, ax, index, n)]
        return concatenate([p for p in parts if p.shape[ax]] or [parts[1]], axis=ax)
    idx = idx.ravel().copy()
    bad = idx[(idx < -n) | (idx > n)]
    if bad.size:
        raise IndexError(f"insert: index {int(bad[0])} is out of bounds for axis {ax} with "
                         f"size {n}")
    idx[idx < 0] += n
    k = idx.size
    order = onp.argsort(idx, kind="stable")
    idx[order] += onp.arange(k)
    new = onp.ones(n + k, dtype=bool)
    new[idx] = False
    source = onp.empty(n + k, dtype=onp.int64)
    source[new] = onp.arange(n)
    source[idx] = n + onp.arange(k)
    shape = a.shape[:ax] + (k,) + a.shape[ax + 1:]
    v = _broadcast_values("insert", v, shape)
    return _take(concatenate([a, v], axis=ax), source, ax)


def _broadcast_values(fname, v, shape):
    """v broadcast to `shape` (broadcast_to), the error naming fname's values."""
    try:
        return broadcast_to(v, shape)
    except MXNetError:
        raise MXNetError(f"{fname}: could not broadcast values of shape {v.shape} into shape "
                         f"{shape}") from None


def resize(a, new_shape):
    """An array of new_shape filled with a's elements in order, repeated as needed (zeros when
    a is empty); a gather, so differentiable."""
    a = _arr("resize", a)
    shape = _shape_arg("resize", new_shape)
    size = int(onp.prod(shape))
    if a.size == 0 or size == 0:
        return _new("resize", onp.zeros(shape, dtype=dtype_of(a)), None)
    return reshape(_take(ravel(a), onp.arange(size) % a.size, 0), shape)


_PAD_KWARGS = {"constant": ("constant_values",), "edge": (), "reflect": ("reflect_type",),
               "symmetric": ("reflect_type",), "maximum": ("stat_length",),
               "minimum": ("stat_length",)}


def _pad_pairs(pad_width, ndim):
    width = onp.asarray(pad_width)
    if width.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must be of integral type, got {pad_width!r}")
    try:
        pairs = onp.broadcast_to(width, (ndim, 2)) if width.ndim <= 2 else None
    except ValueError:
        pairs = None
    if pairs is None:
        raise MXNetError(f"pad: pad_width {pad_width!r} does not give (before, after) for each "
                         f"of the {ndim} axes")
    if (pairs < 0).any():
        raise MXNetError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    return [(int(lo), int(hi)) for lo, hi in pairs]


def pad(x, pad_width=None, mode="constant", **kwargs):
    """x padded by pad_width ((before, after) per axis, or one pair / int for all), numpy's
    modes constant (a scalar constant_values), edge, reflect, symmetric, maximum and minimum
    (MXNet's set). Differentiable in x (a pad, gathers, and max / min reductions)."""
    x = _arr("pad", x)
    if not isinstance(mode, str) or mode not in _PAD_KWARGS:
        raise MXNetError(f"pad: mode {mode!r} is not supported (supported: "
                         f"{', '.join(_PAD_KWARGS)})")
    for key in kwargs:
        if key not in _PAD_KWARGS[mode]:
            raise MXNetError(f"pad: keyword {key!r} is not allowed in mode {mode!r}")
    if pad_width is None:
        raise MXNetError("pad: pad_width is required")
    pairs = _pad_pairs(pad_width, x.ndim)
    if mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") not in (
            "even", None):
        raise MXNetError(f"pad: reflect_type {kwargs['reflect_type']!r} is not supported "
                         f"(only 'even')")
    if mode in ("maximum", "minimum") and kwargs.get("stat_length") is not None:
        raise MXNetError("pad: stat_length is not supported (the whole axis is used)")
    if not builtins.any(lo or hi for lo, hi in pairs):
        return as_np(x).copy()
    if mode == "constant":
        value = kwargs.get("constant_values", 0)
        if isinstance(value, (tuple, list, NDArray, onp.ndarray)):
            raise TypeError("pad: constant_values must be a scalar (per-axis values are not "
                            "supported)")
        return as_np(F.pad(x, pad_width=tuple(p for pr in pairs for p in pr), mode="constant",
                           constant_value=float(value)))
    out = x
    for ax, (lo, hi) in enumerate(pairs):
        if not (lo or hi):
            continue
        d = out.shape[ax]
        if d == 0:
            raise MXNetError(f"pad: cannot pad an empty axis {ax} of shape {x.shape} in mode "
                             f"{mode!r}")
        if mode in ("maximum", "minimum"):
            stat = getattr(F, mode[:3])(out, axes=(ax,), keepdims=True)
            bands = [F.broadcast_to(stat, shape=out.shape[:ax] + (w,) + out.shape[ax + 1:])
                     if w else None for w in (lo, hi)]
            out = F.concat(*[p for p in (bands[0], out, bands[1]) if p is not None], axis=ax)
        else:
            out = F.take(out, wrap(onp.pad(onp.arange(d), (lo, hi), mode=mode)), axis=ax)
    return as_np(out)


# ---------------------------------------------------------------------- matrices
def tril(m, k=0):
    """m with the elements above the k-th diagonal zeroed (a 1-d m gives the (N, N) lower
    triangle of its rows); differentiable."""
    m = _arr("tril", m)
    if m.ndim == 0:
        raise MXNetError("tril: input must be at least 1-d, got a 0-d array")
    if m.ndim == 1:
        m = F.broadcast_to(F.reshape(m, shape=(1,) + m.shape), shape=m.shape * 2)
    n, c = m.shape[-2:]
    mask = wrap(onp.broadcast_to(onp.tri(n, c, int(k), dtype=bool), m.shape).copy())
    zero = wrap(onp.zeros(m.shape, dtype=dtype_of(m)))
    return as_np(F.where(mask, m, zero))


def rot90(m, k=1, axes=(0, 1)):
    """m rotated by 90 degrees k times in the plane of axes (from the first toward the
    second); flips and a transpose, so differentiable."""
    m = _arr("rot90", m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise MXNetError(f"rot90: len(axes) must be 2, got {axes}")
    if m.ndim < 2:
        raise MXNetError(f"rot90: input must be at least 2-d, got shape {m.shape}")
    a0, a1 = _axis("rot90", axes[0], m.ndim), _axis("rot90", axes[1], m.ndim)
    if a0 == a1:
        raise MXNetError(f"rot90: axes must be different, got {axes}")
    k = int(k) % 4
    if k == 0:
        return as_np(m).copy()
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


# ---------------------------------------------------------------------- differences
def _differences(a, ax, n):
    for _ in range(n):
        d = a.shape[ax]
        if d <= 1:
            return _slice_axis(a, ax, 0, 0)
        hi, lo = _slice_axis(a, ax, 1, d), _slice_axis(a, ax, 0, d - 1)
        a = as_np(F.ne(hi, lo) if dtype_of(a) == _BOOL else F.sub(hi, lo))
    return as_np(a)


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The n-th discrete difference along axis (in a's dtype; not-equal for bools), after
    prepending / appending values (scalars broadcast); differentiable."""
    a = _arr("diff", a)
    if a.ndim == 0:
        raise MXNetError("diff: requires input that is at least one dimensional")
    n = int(n)
    if n < 0:
        raise MXNetError(f"diff: order must be non-negative but got {n}")
    ax = _axis("diff", axis, a.ndim)

    def edge(extra):
        e = _typed(extra if isinstance(extra, NDArray) else onp.asarray(extra), dtype_of(a))
        if e.ndim == 0:
            e = F.broadcast_to(F.reshape(e, shape=(1,) * a.ndim),
                               shape=a.shape[:ax] + (1,) + a.shape[ax + 1:])
        return as_np(e)
    if prepend is not None or append is not None:
        a = concatenate(([edge(prepend)] if prepend is not None else []) + [a] +
                        ([edge(append)] if append is not None else []), axis=ax)
    return _differences(a, ax, n) if n else as_np(a).copy()


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of consecutive elements of the flattened ary, with to_begin / to_end
    (cast to ary's dtype) around them; differentiable."""
    a = ravel(_arr("ediff1d", ary))
    dt = dtype_of(a)
    parts = [] if to_begin is None else [ravel(as_np(_typed(
        to_begin if isinstance(to_begin, NDArray) else onp.asarray(to_begin), dt)))]
    parts.append(_differences(a, 0, 1))
    if to_end is not None:
        parts.append(ravel(as_np(_typed(
            to_end if isinstance(to_end, NDArray) else onp.asarray(to_end), dt))))
    return concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


# ---------------------------------------------------------------------- statistics
def average(a, axis=None, weights=None, returned=False, out=None):
    """The weighted average along axis (integers averaged in float32, MXNet's default float);
    weights of a's shape, or 1-d along one int axis. returned=True also gives the sum of
    weights. Differentiable in a and the weights."""
    a = _arr("average", a)
    if weights is None:
        avg = mean(a, axis=axis)
        count = a.size // builtins.max(avg.size, 1) if a.size else 0
        if not returned:
            return avg
        return avg, _new("average", onp.full(avg.shape, count, dtype=dtype_of(avg)), None)
    w = _arr("average", weights)
    dt = promote("average", a, w)
    dt = dt if dt.kind == "f" else _F32
    a, w = as_np(_typed(a, dt)), as_np(_typed(w, dt))
    axes = _axes("average", axis, a.ndim)
    if a.shape != w.shape:
        if axis is None:
            raise TypeError(f"average: axis must be specified when shapes of a {a.shape} and "
                            f"weights {w.shape} differ")
        if w.ndim != 1:
            raise TypeError(f"average: 1-d weights expected when shapes of a {a.shape} and "
                            f"weights {w.shape} differ")
        if len(axes) != 1:
            raise TypeError(f"average: 1-d weights need a single int axis, got {axis}")
        if w.shape[0] != a.shape[axes[0]]:
            raise MXNetError(f"average: length of weights {w.shape[0]} is not compatible with "
                             f"axis {axis} of shape {a.shape}")
        w = reshape(w, tuple(a.shape[i] if i == axes[0] else 1 for i in range(a.ndim)))
        w = as_np(F.broadcast_to(w, shape=a.shape))
    scl = F.sum(w, axes=axes, keepdims=False) if axes else w
    if unrecorded_read(scl) and onp.any(scl._data == 0):
        raise MXNetError("average: weights sum to zero, can't be normalized")
    num = F.sum(F.mul(a, w), axes=axes, keepdims=False) if axes else F.mul(a, w)
    avg = as_np(F.div(num, scl))
    return (avg, as_np(scl)) if returned else avg


_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(fname, a, q, scale, axis, interpolation, keepdims, overwrite_input, out):
    if overwrite_input is not None:
        raise MXNetError(f"{fname}: overwrite_input is not supported")
    if out is not None:
        raise MXNetError(f"{fname}: out= is not supported (assign the result)")
    if interpolation not in _METHODS:
        raise MXNetError(f"{fname}: interpolation must be one of {', '.join(_METHODS)}, got "
                         f"{interpolation!r}")
    a = _arr(fname, a)
    a = as_np(_typed(a, _F64 if dtype_of(a) == _F64 else _F32))
    qs = onp.asarray(_values(fname, q) if isinstance(q, NDArray) else q, dtype=onp.float64)
    if not onp.all((qs >= 0) & (qs <= scale)):
        raise MXNetError(f"{fname}: q must be in the range [0, {scale:g}], got {qs.tolist()}")
    axes = _axes(fname, axis, a.ndim)
    kept = [i for i in range(a.ndim) if i not in axes]
    n = int(onp.prod([a.shape[i] for i in axes]))
    if n == 0:
        raise MXNetError(f"{fname}: cannot take a quantile over an empty axis of shape "
                         f"{a.shape}")
    t = transpose(a, kept + list(axes)) if kept + list(axes) != list(range(a.ndim)) else a
    s = sort(reshape(t, tuple(a.shape[i] for i in kept) + (n,)), axis=-1)
    pos = qs.ravel() / scale * (n - 1)
    lo, hi = onp.floor(pos), onp.minimum(onp.ceil(pos), n - 1)
    if interpolation in ("lower", "higher", "nearest"):
        pick = {"lower": lo, "higher": hi, "nearest": onp.around(pos)}[interpolation]
        res = _take(s, pick.astype(onp.int64), s.ndim - 1)
    else:
        gamma = pos - lo if interpolation == "linear" else onp.where(hi > lo, 0.5, 0.0)
        below, above = _take(s, lo, s.ndim - 1), _take(s, hi, s.ndim - 1)
        diff_ = F.sub(above, below)
        dt = dtype_of(s)
        up = F.add(below, F.mul(diff_, wrap(gamma.astype(dt))))
        down = F.sub(above, F.mul(diff_, wrap((1.0 - gamma).astype(dt))))
        res = as_np(F.where(wrap(gamma >= 0.5), down, up))
    rest = tuple(1 if i in axes else a.shape[i] for i in range(a.ndim)) if keepdims else \
        tuple(a.shape[i] for i in kept)
    if res.ndim > 1:
        res = transpose(res, [res.ndim - 1] + list(range(res.ndim - 1)))
    return reshape(res, qs.shape + rest)


def quantile(a, q, axis=None, out=None, overwrite_input=None, interpolation="linear",
             keepdims=False, *, method=None):
    """The q-th quantiles (q in [0, 1]) of a along axis, numpy's interpolations; float64 for
    float64 input, else float32 (MXNet's). Differentiable in a (a sort and gathers).
    `method` is numpy's newer name for interpolation (numpy 2 has only it)."""
    return _quantile("quantile", a, q, 1.0, axis, method or interpolation, keepdims,
                     overwrite_input, out)


def percentile(a, q, axis=None, out=None, overwrite_input=None, interpolation="linear",
               keepdims=False, *, method=None):
    """The q-th percentiles (q in [0, 100]) of a along axis: quantile of q / 100."""
    return _quantile("percentile", a, q, 100.0, axis, method or interpolation, keepdims,
                     overwrite_input, out)


def polyval(p, x):
    """The polynomial with coefficients p (highest power first) at x, by Horner's rule;
    differentiable in p and x."""
    p, x = _arr("polyval", p), _arr("polyval", x)
    if p.ndim != 1:
        raise MXNetError(f"polyval: p must be 1-d coefficients, got shape {p.shape}")
    dt = promote("polyval", p, x)
    if dt == _BOOL:
        dt = _I64
    p, x = _typed(p, dt), _typed(x, dt)
    y = wrap(onp.zeros(x.shape, dtype=dt))
    for i in range(p.shape[0]):
        coef = F.reshape(F.slice(p, begin=(i,), end=(i + 1,), step=(1,)), shape=())
        y = F.add(F.mul(y, x), coef) if i else F.add(y, coef)
    return as_np(y)


# ---------------------------------------------------------------------- einsum
_LETTERS = frozenset(string.ascii_letters)


def _einsum_term(subscripts, term):
    pre, ell, post = term.partition("...")
    if "." in pre + post:
        raise MXNetError(f"einsum: invalid ellipsis in subscripts {subscripts!r}")
    bad = [c for c in pre + post if c not in _LETTERS]
    if bad:
        raise MXNetError(f"einsum: invalid subscript {bad[0]!r} in {subscripts!r} (labels are "
                         f"letters)")
    return pre, bool(ell), post


def _einsum_labels(subscripts, shapes):
    """Each operand's axis labels and the output's; '...' axes get labels of their own,
    right-aligned across operands as numpy broadcasts them."""
    s = subscripts.replace(" ", "")
    if s.count("->") > 1:
        raise MXNetError(f"einsum: subscripts {subscripts!r} have more than one '->'")
    lhs, arrow, rhs = s.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise MXNetError(f"einsum: subscripts {subscripts!r} name {len(terms)} operands, "
                         f"{len(shapes)} given")
    parsed = []
    for term, shape in zip(terms, shapes):
        pre, ell, post = _einsum_term(subscripts, term)
        n_ell = len(shape) - len(pre) - len(post)
        if n_ell < 0 or (not ell and n_ell):
            raise MXNetError(f"einsum: subscripts {term!r} do not match an operand of shape "
                             f"{shape}")
        parsed.append((pre, n_ell, post))
    most = builtins.max([n for _, n, _ in parsed], default=0)
    ell_labels = [chr(0x100 + i) for i in range(most)]
    labels = [list(pre) + ell_labels[most - n:] + list(post) for pre, n, post in parsed]
    if not arrow:
        counts = collections.Counter(c for ls in labels for c in ls if c in _LETTERS)
        return labels, ell_labels + sorted(c for c, k in counts.items() if k == 1)
    pre, ell, post = _einsum_term(subscripts, rhs)
    if most and not ell:
        raise MXNetError(f"einsum: output subscripts of {subscripts!r} need '...' for the "
                         f"operands' broadcast axes")
    out = list(pre) + (ell_labels if ell else []) + list(post)
    seen = {c for ls in labels for c in ls}
    for c in out:
        if out.count(c) > 1:
            raise MXNetError(f"einsum: output subscript {c!r} appears more than once in "
                             f"{subscripts!r}")
        if c not in seen:
            raise MXNetError(f"einsum: output subscript {c!r} in {subscripts!r} does not "
                             f"appear in the operands")
    return labels, out


def _einsum_diagonal(x, labels):
    """x with each label repeated in it reduced to its diagonal (one axis per label)."""
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        pos = [i for i, l in enumerate(labels) if l == c]
        d = x.shape[pos[0]]            # (equal for every repeat: checked by einsum)
        rest = [i for i in range(x.ndim) if i not in pos]
        x = F.transpose(x, perm=tuple(rest + pos)) if rest + pos != list(range(x.ndim)) else x
        x = F.reshape(x, shape=tuple(x.shape[:len(rest)]) + (d ** len(pos),))
        step = builtins.sum(d ** j for j in range(len(pos)))
        x = F.take(x, wrap(onp.arange(d, dtype=onp.int64) * step), axis=len(rest))
        labels = [labels[i] for i in rest] + [c]
    return x, labels


def _einsum_sum(x, labels, keep):
    gone = tuple(i for i, l in enumerate(labels) if l not in keep)
    if not gone:
        return x, labels
    return F.sum(x, axes=gone, keepdims=False), [l for l in labels if l in keep]


def _einsum_pair(x, xl, y, yl, needed, sizes):
    """x and y contracted over their shared labels not needed later (a batched matmul)."""
    shared = [c for c in xl if c in yl]
    batch = [c for c in shared if c in needed]
    inner = [c for c in shared if c not in needed]
    x_only, y_only = [c for c in xl if c not in yl], [c for c in yl if c not in xl]

    def arrange(t, tl, order):
        t = F.transpose(t, perm=tuple(tl.index(c) for c in order)) if order != tl else t
        shape = tuple(sizes[c] for c in order)
        return F.broadcast_to(t, shape=shape) if t.shape != shape else t
    nb, nk = int(onp.prod([sizes[c] for c in batch])), int(onp.prod([sizes[c] for c in inner]))
    nm, nn = int(onp.prod([sizes[c] for c in x_only])), int(onp.prod([sizes[c] for c in y_only]))
    a = F.reshape(arrange(x, xl, batch + x_only + inner), shape=(nb, nm, nk))
    b = F.reshape(arrange(y, yl, batch + inner + y_only), shape=(nb, nk, nn))
    out = matmul(as_np(a), as_np(b))
    labels = batch + x_only + y_only
    return F.reshape(out, shape=tuple(sizes[c] for c in labels)), labels


def einsum(*operands, **kwargs):
    """Einstein summation (numpy's subscripts with '...' and implicit output): diagonals,
    sums and transposes of each operand, then pairwise batched matmuls, so the gradient
    reaches every operand. `optimize` is accepted and ignored (one left-to-right order)."""
    kwargs.pop("optimize", None)
    if kwargs.pop("out", None) is not None:
        raise MXNetError("einsum: out= is not supported (assign the result)")
    if kwargs:
        raise TypeError(f"einsum() got an unexpected keyword argument {next(iter(kwargs))!r}")
    if not operands or not isinstance(operands[0], str):
        raise TypeError("einsum: the first argument must be the subscripts string (the "
                        "sublist form is not supported)")
    subscripts, arrays = operands[0], [_arr("einsum", x) for x in operands[1:]]
    if not arrays:
        raise MXNetError("einsum: needs at least one operand")
    dt = dtype_of(arrays[0])
    for x in arrays[1:]:
        dt = promote("einsum", wrap(onp.zeros(0, dt)), x)
    arrays = [_typed(x, dt) for x in arrays]
    labels, out = _einsum_labels(subscripts, [x.shape for x in arrays])
    sizes = {}
    for x, ls in zip(arrays, labels):
        for c in set(ls):
            own = {d for l, d in zip(ls, x.shape) if l == c}
            if len(own) > 1:
                raise MXNetError(f"einsum: dimensions for repeated subscript {c!r} don't "
                                 f"match ({sorted(own)}) in {subscripts!r}")
        for c, d in zip(ls, x.shape):
            old = sizes.setdefault(c, d)
            if d != old and 1 not in (d, old):
                raise MXNetError(f"einsum: operands could not be broadcast: subscript {c!r} "
                                 f"has sizes {old} and {d} in {subscripts!r}")
            if old == 1:
                sizes[c] = d
    terms = []
    for i, (x, ls) in enumerate(zip(arrays, labels)):
        x, ls = _einsum_diagonal(x, list(ls))
        others = {c for j, l2 in enumerate(labels) if j != i for c in l2}
        terms.append(_einsum_sum(x, ls, others | set(out)))
    acc, acc_l = terms[0]
    for i in range(1, len(terms)):
        needed = set(out) | {c for _, l2 in terms[i + 1:] for c in l2}
        acc, acc_l = _einsum_pair(acc, acc_l, terms[i][0], terms[i][1], needed, sizes)
    acc, acc_l = _einsum_sum(acc, acc_l, set(out))
    perm = tuple(acc_l.index(c) for c in out)
    shape = tuple(sizes[c] for c in out)
    res = F.transpose(acc, perm=perm) if perm != tuple(range(len(perm))) else acc
    if res.shape != shape:
        res = F.broadcast_to(res, shape=shape)
    return as_np(res) if res is not arrays[0] else as_np(res).copy()


# ---------------------------------------------------------------------- counting, indices
def histogram(a, bins=10, range=None, normed=None, weights=None, density=None):
    """(counts as int64, bin edges in a's float dtype) of the flattened a: bins an int (with
    range, or a's min and max) or the edges as an array; computed on a's values."""
    if normed or density:
        raise MXNetError("histogram: normed / density are not supported")
    if weights is not None:
        raise MXNetError("histogram: weights are not supported")
    if isinstance(bins, str):
        raise MXNetError(f"histogram: string bins ({bins!r}) are not supported")
    a = _arr("histogram", a)
    dt = dtype_of(a) if dtype_of(a).kind == "f" else _F32
    data = _values("histogram", a)
    if isinstance(bins, NDArray):
        bins = _values("histogram", bins)
    if isinstance(bins, (int, onp.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise MXNetError(f"histogram: bins must be a positive integer, got {bins}")
    else:
        bins = onp.asarray(bins, dtype=onp.float64)
        if bins.ndim != 1 or bins.size < 2 or onp.any(onp.diff(bins) < 0):
            raise MXNetError("histogram: bins must be an int or a 1-d monotonically "
                             "increasing array of at least two edges")
    if range is not None:
        lo, hi = range
        if lo > hi:
            raise MXNetError(f"histogram: max must be larger than min in range {range}")
    try:
        counts, edges = onp.histogram(data, bins=bins, range=range)
    except ValueError as e:
        raise MXNetError(f"histogram: {e}") from None
    return as_np(wrap(counts.astype(onp.int64))), as_np(wrap(edges.astype(dt)))


def bincount(x, weights=None, minlength=0):
    """Occurrences of each value of the non-negative integer array x (in x's integer dtype,
    int64 for narrow ones), or the sums of weights per value (weights' dtype, differentiable
    in the weights)."""
    if not isinstance(x, NDArray):
        raise TypeError(f"bincount: x must be an mx.np.ndarray, got {type(x).__name__}")
    dt = _check_int("bincount", x)
    if x.ndim != 1:
        raise MXNetError(f"bincount: x must be 1-d, got shape {x.shape}")
    if int(minlength) < 0:
        raise MXNetError(f"bincount: minlength must be non-negative, got {minlength}")
    data = _values("bincount", x).astype(onp.int64)
    if data.size and data.min() < 0:
        raise MXNetError("bincount: x must not contain negative values")
    length = builtins.max(int(data.max()) + 1 if data.size else 0, int(minlength))
    if weights is None:
        out_dt = dt if dt in (_I32, _I64) else _I64
        return as_np(wrap(onp.bincount(data, minlength=length).astype(out_dt)))
    w = _arr("bincount", weights)
    if w.shape != x.shape:
        raise MXNetError(f"bincount: weights of shape {w.shape} do not match x of shape "
                         f"{x.shape}")
    if length == 0:
        return as_np(wrap(onp.zeros(0, dtype=dtype_of(w))))
    return as_np(F.scatter_add(w, wrap(data), axis=0, size=length))


def unravel_index(indices, shape, order="C"):
    """Flat indices into arrays of shape as a tuple of coordinate arrays (in the indices'
    dtype, as MXNet), or of ints for an int index."""
    if order not in ("C", "F"):
        raise MXNetError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
    dims = _shape_arg("unravel_index", shape)
    if isinstance(indices, (int, onp.integer)) and not isinstance(indices, bool):
        if not 0 <= int(indices) < int(onp.prod(dims)):
            raise MXNetError(f"unravel_index: index {indices} is out of bounds for array with "
                             f"size {int(onp.prod(dims))}")
        return onp.unravel_index(int(indices), dims, order=order)
    idx = _arr("unravel_index", indices)
    dt = dtype_of(idx)
    flat = _indices_of("unravel_index", idx)
    if flat.dtype == _BOOL:
        raise TypeError("unravel_index: indices must be integers, got bool")
    size = int(onp.prod(dims))
    if flat.size and (flat.min() < 0 or flat.max() >= size):
        raise MXNetError(f"unravel_index: an index is out of bounds for array with size "
                         f"{size}")
    return tuple(as_np(wrap(c.astype(dt))) for c in onp.unravel_index(flat, dims, order=order))


def diag_indices_from(arr):
    """The int64 index arrays of the main diagonal of arr (at least 2-d, all axes equal)."""
    a = _arr("diag_indices_from", arr)
    if a.ndim < 2:
        raise MXNetError(f"diag_indices_from: input array should be at least 2-d, got shape "
                         f"{a.shape}")
    if len(set(a.shape)) != 1:
        raise MXNetError(f"diag_indices_from: all dimensions of input must be of equal "
                         f"length, got shape {a.shape}")
    return tuple(as_np(wrap(onp.arange(a.shape[0], dtype=onp.int64))) for _ in range(a.ndim))


def shares_memory(a, b, max_work=None):
    """Whether a and b use the same memory (mx.np arrays: views of one buffer)."""
    for x in (a, b):
        if not isinstance(x, NDArray):
            raise TypeError(f"shares_memory: expected mx.np.ndarray operands, got "
                            f"{type(x).__name__}")
    return bool(onp.shares_memory(a._data, b._data))


def may_share_memory(a, b, max_work=None):
    """Whether a and b might use the same memory (their buffers' bounds overlap)."""
    for x in (a, b):
        if not isinstance(x, NDArray):
            raise TypeError(f"may_share_memory: expected mx.np.ndarray operands, got "
                            f"{type(x).__name__}")
    return bool(onp.may_share_memory(a._data, b._data))


# ---------------------------------------------------------------------- shapes
def _atleast(fname, arys, shape_of):
    """Each array reshaped by shape_of (numpy's rules); one array alone, several as a list
    (MXNet's return)."""
    out = [reshape(a, shape_of(a.shape)) for a in (_arr(fname, x) for x in arys)]
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys):
    """Arrays with at least one dimension (a 0-d array becomes shape (1,))."""
    return _atleast("atleast_1d", arys, lambda s: s if len(s) >= 1 else (1,))


def atleast_2d(*arys):
    """Arrays with at least two dimensions: () -> (1, 1), (N,) -> (1, N)."""
    return _atleast("atleast_2d", arys, lambda s: s if len(s) >= 2 else (1,) * (2 - len(s)) + s)


def atleast_3d(*arys):
    """Arrays with at least three dimensions: () -> (1, 1, 1), (N,) -> (1, N, 1),
    (M, N) -> (M, N, 1)."""
    def shape_of(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s)
    return _atleast("atleast_3d", arys, shape_of)


def roll(a, shift, axis=None):
    """Elements shifted cyclically by shift along axis (of the flattened array when axis is
    None); shift and axis broadcast, repeats add up. A gather, so differentiable in a."""
    a = _arr("roll", a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    try:
        shifts, axes = onp.broadcast_arrays(onp.asarray(shift, dtype=onp.int64),
                                            onp.asarray(axis, dtype=onp.int64))
    except ValueError:
        raise MXNetError(f"roll: shift {shift} and axis {axis} must broadcast together") \
            from None
    total = collections.Counter()
    for sh, ax in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
        total[_axis("roll", ax, a.ndim)] += sh
    out = a
    for ax, sh in sorted(total.items()):
        n = a.shape[ax]
        if n and sh % n:
            out = _take(out, (onp.arange(n) - sh) % n, ax)
    return as_np(out)


def diagflat(v, k=0):
    """A 2-d array with v flattened on its k-th diagonal (differentiable in v)."""
    from .functions import diag
    return diag(ravel(_arr("diagflat", v)), k)


def _guard_out():
    """Functions taking out= write their result into it (functions.py's _writing_out); the
    quantiles refuse it themselves."""
    import inspect
    wrapped = {}
    for name in __all__:
        fn = globals()[name]
        if "out" in inspect.signature(fn).parameters and name not in ("quantile",
                                                                       "percentile"):
            globals()[name] = wrapped.setdefault(id(fn), _writing_out(fn))


_guard_out()
