"""`mx.nd`: array creation and every operator under its MXNet 1.x name and semantics.

Each operator is one call into the registry (`F.<op>`) or into an ir.composite run eagerly, so
everything here records, differentiates to any order, and traces into IR for hybridize/jit.
MXNet 1.x details ported code can see are kept: full reductions return shape (1,), comparisons
return 0/1 in the operand dtype, integer indexing of a 1-d array gives shape (1,).
"""
import builtins
import math
import sys

import numpy as np

from . import mxnet_format
from . import random  # noqa: F401  (mx.nd.random)
from .random import shuffle  # noqa: F401,E402  (nd.shuffle: MXNet's alias of nd.random.shuffle)
from . import array as _array
from . import profiler as _profiler
from .array import F, HOOKS, NDArray, wrap
from .array import unrecorded_read as _unrecorded_read
from .array import install_fluent_methods as _install_fluent_methods
from .array import on_context as _on_context
from .base import MXNetError, MXNetValueError
from .index_checks import check_value_range as _check_value_range
from .ir import composites as C
from .ir.attrs import MAX_DIM
from .ir.types import TensorType, dtype_name, normalize_axes
from .nd_shape import _axis as _check_axis
from .runtime.tape import STATE
from .op_kwargs import redo as _redo
from . import sparse_rows as _sparse_rows

waitall = lambda: None  # noqa: E731  (synchronous execution: nothing to wait for)


def _np_dtype(dtype, default=np.float32):
    """The numpy dtype `dtype=` names; TypeError for one tracegrad arrays cannot hold (int16)."""
    if dtype is None:
        return np.dtype(default)
    dtype = np.dtype(dtype.type if isinstance(dtype, np.dtype) else dtype)
    dtype_name(dtype)
    return dtype


# ------------------------------------------------------------------ creation
def array(source_array, ctx=None, dtype=None):
    """An NDArray copied from an NDArray (keeps its dtype) or from anything else, numpy arrays
    included, as float32 unless `dtype` is given: MXNet 1.x's rule, which keeps float64 numpy
    data from silently turning a model float64 (and off the compiled f32 path)."""
    if isinstance(source_array, NDArray):
        if type(source_array) is not NDArray and isinstance(source_array, _SPARSE_TYPES):
            return sparse.array(source_array, ctx, dtype)   # (MXNet: a sparse copy)
        data = source_array._data.astype(_np_dtype(dtype, source_array._data.dtype))
    elif isinstance(source_array, (np.ndarray, np.generic)):
        if source_array.dtype.kind not in "biuf":  # complex, object, text, dates: no cast
            dtype_name(source_array.dtype)           # raises TypeError naming the dtype
        try:
            data = np.array(source_array, dtype=_np_dtype(dtype), order="C")
        except (ValueError, TypeError, OverflowError) as e:
            raise _not_convertible(source_array, dtype, e) from None
        if HOOKS.tracing and type(source_array) is np.ndarray and source_array.ndim:
            # traced code copies the numpy array at every call, as eager code does (a cast of
            # the array itself: an input the compiled code reads then, in-place changes too)
            out = cast(source_array, data.dtype)
            return out if ctx is None else _on_context(out, ctx)
    elif sparse.is_scipy_sparse(source_array) and source_array.format == "csr":
        return sparse.array(source_array, ctx, dtype)       # (MXNet: a CSRNDArray)
    else:
        if source_array is None or type(source_array) in _NOT_ARRAYS:
            raise TypeError(f"array: cannot make an NDArray from a "
                            f"{type(source_array).__name__}")  # (numpy gives NaN for None)
        try:
            data = np.array(source_array, dtype=_np_dtype(dtype))
        except (ValueError, TypeError, OverflowError) as e:
            raise _not_convertible(source_array, dtype, e) from None
    dtype_name(data.dtype)
    return wrap(data) if ctx is None else _on_context(wrap(data), ctx)


_NOT_ARRAYS = frozenset({str, bytes, dict, set, frozenset})


def _not_convertible(source, dtype, e):
    """numpy's refusal (ragged nesting, NaN or a too large int for an integer dtype, text)
    named as nd.array's."""
    kind = TypeError if isinstance(e, TypeError) else ValueError
    return kind(f"array: cannot make a {_np_dtype(dtype).name} NDArray from this "
                f"{type(source).__name__}: {e}")


def _shape(shape):
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _new_shape(opname, shape, dtype):
    """The shape of a new array: integer sizes, none negative, and no more bytes than an
    address space holds (numpy refuses these with errors that name neither the op nor the
    shape). zeros/ones/full ask it only once numpy has refused, so they stay as fast."""
    try:
        dtype = _np_dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{opname}: dtype {dtype!r} is not one an NDArray holds ({e})") from None
    try:
        shape = _shape(shape)
    except TypeError:
        raise TypeError(f"{opname}: shape {shape!r} is not an int or a tuple of ints") from None
    for d in shape:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"{opname}: shape {shape} has a size that is not an integer: "
                            f"{d!r}")
    if builtins.any(int(d) < 0 for d in shape):
        raise MXNetError(f"{opname}: shape {shape} has a negative size")
    nbytes = math.prod(int(d) for d in shape) * np.dtype(dtype).itemsize
    if nbytes > sys.maxsize:
        raise MemoryError(f"{opname}: shape {shape} of {np.dtype(dtype)} needs {nbytes} "
                          f"bytes, more than any allocation can hold")
    return shape


def _known_shape(opname, shape):
    """Outside np_shape(), MXNet 1.x reads a 0 size or the shape () as "not known yet": a
    creation op given one fails its shape inference."""
    from .util import is_np_shape
    if not is_np_shape():
        raise MXNetError(f"{opname}: shape {shape} is not known: a 0 size or the shape () "
                         f"means 'unknown' unless numpy shape semantics are on "
                         f"(mx.np_shape() / mx.npx.set_np())")


def _count(opname, what, n):
    if int(n) < 0:
        raise MXNetError(f"{opname}: {what} must be non-negative, got {n}")
    return int(n)


def zeros(shape, ctx=None, dtype=None, **kwargs):
    if kwargs:
        return _redo(zeros, locals())
    if _array._PROFILE is not None and not HOOKS.profiling:    # (mx.profiler records ops)
        return _profiler.creation("_zeros", zeros, shape, ctx, dtype)
    try:
        data = np.zeros(_shape(shape), dtype=_np_dtype(dtype))
    except (ValueError, TypeError):
        _new_shape("zeros", shape, dtype)  # the clear error, when it is the shape or dtype
        raise
    if not data.ndim or not data.size:   # (MXNet 1.x: unknown without np_shape)
        _known_shape("zeros", data.shape)
    out = wrap(data)
    return out if ctx is None else _on_context(out, ctx)


def ones(shape, ctx=None, dtype=None, **kwargs):
    if kwargs:
        return _redo(ones, locals())
    if _array._PROFILE is not None and not HOOKS.profiling:    # (mx.profiler records ops)
        return _profiler.creation("_ones", ones, shape, ctx, dtype)
    try:
        data = np.ones(_shape(shape), dtype=_np_dtype(dtype))
    except (ValueError, TypeError):
        _new_shape("ones", shape, dtype)
        raise
    if not data.ndim or not data.size:   # (MXNet 1.x: unknown without np_shape)
        _known_shape("ones", data.shape)
    out = wrap(data)
    return out if ctx is None else _on_context(out, ctx)


def full(shape, val, ctx=None, dtype=None, **kwargs):
    if kwargs:
        return _redo(full, locals())
    if _array._PROFILE is not None and not HOOKS.profiling:    # (mx.profiler records ops)
        return _profiler.creation("_full", full, shape, val, ctx, dtype)
    try:
        data = np.full(_shape(shape), val, dtype=_np_dtype(dtype))
    except (ValueError, TypeError):
        _new_shape("full", shape, dtype)
        raise
    if not data.ndim or not data.size:   # (MXNet 1.x: unknown without np_shape)
        _known_shape("full", data.shape)
    out = wrap(data)
    return out if ctx is None else _on_context(out, ctx)


def empty(shape, ctx=None, dtype=None, **kwargs):
    """(MXNet allocates an empty array without shape inference: a 0 size or () is taken as
    given, np_shape() or not.)"""
    if kwargs:
        return _redo(empty, locals())
    try:
        out = wrap(np.zeros(_shape(shape), dtype=_np_dtype(dtype)))
    except (ValueError, TypeError):
        _new_shape("empty", shape, dtype)
        raise
    return out if ctx is None else _on_context(out, ctx)


def arange(start, stop=None, step=1.0, repeat=1, ctx=None, dtype=None, infer_range=False):
    if step == 0:
        raise MXNetError(f"arange: step must not be 0 (start={start}, stop={stop})")
    _count("arange", "repeat", repeat)
    span = ((stop - start) if stop is not None else start) / step
    if not math.isfinite(span):
        raise MXNetError(f"arange: start={start}, stop={stop}, step={step} give no finite "
                         f"number of elements")
    n = builtins.max(0, math.ceil(span))
    _new_shape("arange", (n * int(repeat),), np.float64)
    # MXNet's kernel: start and step cast to the dtype first, then start + i * step in it (an
    # int arange of step 1.3 counts by 1; float32 rounds as float32 arithmetic does)
    dt = _np_dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        begin = np.array(0 if stop is None else start).astype(dt)
        delta = np.array(step).astype(dt)
        data = (np.arange(n).astype(dt) * delta + begin).astype(dt)
    out = wrap(np.repeat(data, repeat) if repeat != 1 else data)
    return out if ctx is None else _on_context(out, ctx)


def linspace(start, stop, num, endpoint=True, ctx=None, dtype=None):
    num = _count("linspace", "num", num)
    out = wrap(np.linspace(start, stop, num, endpoint=endpoint).astype(_np_dtype(dtype)))
    return out if ctx is None else _on_context(out, ctx)


def eye(N, M=0, k=0, ctx=None, dtype=None):
    dtype = _np_dtype(dtype)
    _new_shape("eye", (_count("eye", "N", N), _count("eye", "M", M) or int(N)), dtype)
    out = wrap(np.eye(N, M or None, k, dtype=dtype))
    return out if ctx is None else _on_context(out, ctx)


def zeros_like(data, **kwargs):
    """(From the shape and dtype alone: a deferred array of a captured step stays deferred.)"""
    if kwargs:
        return _redo(zeros_like, locals())
    return wrap(np.zeros(data.shape, data.dtype))


def ones_like(data, **kwargs):
    if kwargs:
        return _redo(ones_like, locals())
    return wrap(np.ones(data.shape, data.dtype))


def full_like(data, fill_value, **kwargs):
    if kwargs:
        return _redo(full_like, locals())
    return wrap(np.full(data.shape, fill_value, data.dtype))


def concatenate(arrays, axis=0, always_copy=True):
    return concat(*arrays, dim=axis)


# ------------------------------------------------------------------ elementwise
# The csr / row_sparse array classes, and {nd function: its form that gives MXNet's storage
# type} (set by _follow_sparse_storage). The hot nd functions test an operand's type
# themselves (`_checks_sparse`): a dense call pays that test, not another wrapper's frame.
_SPARSE_TYPES = ()
_SPARSE_CALLS = {}


def _checks_sparse(key):
    """Mark an nd function that sends sparse operands to _SPARSE_CALLS[key] itself."""
    def mark(fn):
        fn._sparse_key = key
        return fn
    return mark


def _unary(opname, floats_only=False):
    key = ("unary", opname, floats_only)

    @_checks_sparse(key)
    def fn(data, **kwargs):
        if kwargs:
            return _redo(fn, locals())
        if type(data) is not NDArray and isinstance(data, _SPARSE_TYPES) and \
                key in _SPARSE_CALLS:
            return _SPARSE_CALLS[key](data)
        if floats_only:
            data = _as_float(data)
        return getattr(F, opname)(data)
    fn.__name__ = opname
    return fn


def _as_float(data):
    """Transcendentals of an int or bool array compute in float32 (mx.np's rule; numpy would
    pick float16 for bool, which MXNet 1.x arrays do not hold)."""
    if isinstance(data, NDArray) and np.dtype(data.dtype).kind != "f":   # (dtype: no read)
        return F.cast(data, dtype="f32")
    return data


exp, log, log1p, expm1, sqrt = (_unary(n, True) for n in ("exp", "log", "log1p", "expm1",
                                                          "sqrt"))
sin, cos, tanh, sigmoid = (_unary(n, True) for n in ("sin", "cos", "tanh", "sigmoid"))
abs, sign, relu, negative, floor = (_unary(n) for n in ("abs", "sign", "relu", "neg", "floor"))
stop_gradient = BlockGrad = _unary("stop_gradient")


@_checks_sparse("square")
def square(data):
    if type(data) is not NDArray and isinstance(data, _SPARSE_TYPES):
        return _SPARSE_CALLS["square"](data)
    return C.square(F, data)


def reciprocal(data):
    return C.reciprocal(F, data)


def rsqrt(data):
    return F.rsqrt(_as_float(data))


def softsign(data):
    return C.softsign(F, data)


_SEQUENCES = (list, tuple)


def _binary(opname, compare=False):
    key = ("binary", opname, compare)

    @_checks_sparse(key)
    def fn(lhs, rhs):
        if (type(lhs) is not NDArray and isinstance(lhs, _SPARSE_TYPES)) or \
                (type(rhs) is not NDArray and isinstance(rhs, _SPARSE_TYPES)):
            if key in _SPARSE_CALLS:
                return _SPARSE_CALLS[key](lhs, rhs)
        if type(lhs) in _SEQUENCES or type(rhs) in _SEQUENCES:  # as MXNet (and a trace)
            raise TypeError(f"{opname}: operands must be NDArrays or numbers, got "
                            f"{type(lhs).__name__} and {type(rhs).__name__}")
        out = getattr(F, opname)(lhs, rhs)
        if compare:  # MXNet 1.x: 0/1 in the operand's dtype
            ref = lhs if isinstance(lhs, NDArray) else rhs
            out = F.cast(out, dtype=dtype_name(np.dtype(ref.dtype)))
        return out
    fn.__name__ = opname
    return fn


add = broadcast_add = broadcast_plus = _binary("add")
subtract = broadcast_sub = broadcast_minus = _binary("sub")
multiply = broadcast_mul = _binary("mul")
divide = broadcast_div = _binary("div")


def _same_shape(name, binary):
    """MXNet's elemwise_* take operands of one shape: they never broadcast."""
    @_checks_sparse(name)
    def fn(lhs, rhs):
        if (type(lhs) is not NDArray and isinstance(lhs, _SPARSE_TYPES)) or \
                (type(rhs) is not NDArray and isinstance(rhs, _SPARSE_TYPES)):
            if name in _SPARSE_CALLS:
                return _SPARSE_CALLS[name](lhs, rhs)
        if not (hasattr(lhs, "shape") and hasattr(rhs, "shape")):
            raise TypeError(f"{name}: operands must be NDArrays, got {type(lhs).__name__} and "
                            f"{type(rhs).__name__} (use {name.split('_')[1]} with a number)")
        if tuple(lhs.shape) != tuple(rhs.shape):
            raise MXNetError(f"{name}: operands of shapes {tuple(lhs.shape)} and "
                             f"{tuple(rhs.shape)} differ (elemwise ops do not broadcast; "
                             f"use broadcast_{name.split('_')[1]})")
        return binary(lhs, rhs)
    fn.__name__ = name
    return fn


elemwise_add, elemwise_sub, elemwise_mul, elemwise_div = (
    _same_shape(f"elemwise_{n}", f) for n, f in (("add", add), ("sub", subtract),
                                                 ("mul", multiply), ("div", divide)))
power = broadcast_power = _binary("pow")
modulo = broadcast_mod = _binary("mod")
maximum = broadcast_maximum = _binary("maximum")
minimum = broadcast_minimum = _binary("minimum")
equal = broadcast_equal = _binary("eq", True)
not_equal = broadcast_not_equal = _binary("ne", True)
greater = broadcast_greater = _binary("gt", True)
greater_equal = broadcast_greater_equal = _binary("ge", True)
lesser = broadcast_lesser = _binary("lt", True)
lesser_equal = broadcast_lesser_equal = _binary("le", True)


def where(condition, x, y):
    """x where condition is non-zero, else y."""
    cond = condition if condition.dtype == np.bool_ else F.ne(condition, 0)
    shape = getattr(x, "shape", None) or getattr(y, "shape", ())  # (either may be a number)
    if cond.ndim == 1 and len(shape) > 1:  # MXNet: a 1-d condition picks whole rows of x
        if cond.shape[0] != shape[0]:  # (numpy would broadcast it along the last axis)
            raise MXNetError(f"where: a 1-d condition of shape {tuple(cond.shape)} picks rows "
                             f"of x {tuple(shape)}, so its size must be {shape[0]}")
        cond = F.reshape(cond, shape=cond.shape + (1,) * (len(shape) - 1))
    return F.where(cond, x, y)


@_checks_sparse("clip")
def clip(data, a_min, a_max):
    if type(data) is not NDArray and isinstance(data, _SPARSE_TYPES):
        return _SPARSE_CALLS["clip"](data, a_min, a_max)
    return C.clip(F, data, a_min, a_max)


def cast(data, dtype):
    return F.cast(data, dtype=dtype_name(np.dtype(dtype)))


Cast = cast


# ------------------------------------------------------------------ reductions
def _reduce_axes(data, axis, exclude, op="reduce"):
    """The axes a reduction of `data` reduces: MXNet's ReduceAxesShapeImpl reads an empty
    `axis` (its default, `()`) as every axis, whatever `exclude` says; `exclude` of every
    axis reduces none."""
    if isinstance(axis, (tuple, list)) and not axis:
        axis, exclude = None, False
    try:
        axes = normalize_axes(axis, data.ndim)
    except (ValueError, TypeError) as e:  # name the op and the shape, not just numpy's words
        raise MXNetError(f"{op}: {e}, reducing {data.type} of shape {tuple(data.shape)}") \
            from None
    if exclude:
        axes = tuple(i for i in range(data.ndim) if i not in axes)
    return axes


def _full_to_1(out):
    # MXNet 1.x has no 0-d arrays: a full reduction has shape (1,)
    return F.reshape(out, shape=(1,)) if out.ndim == 0 else out


def sum(data, axis=None, keepdims=False, exclude=False, **kwargs):
    if kwargs:
        return _redo(sum, locals())
    if data.dtype == np.bool_:  # a count, as numpy gives
        data = F.cast(data, dtype="i64")
    axes = _reduce_axes(data, axis, exclude, "sum")
    if not axes and data.ndim:  # a sum over no axes is the array itself
        return data
    return _full_to_1(F.sum(data, axes=axes, keepdims=_flag(keepdims)))


def _flag(value):
    """A true-or-false argument as MXNet parses one: a bool, or 0 / 1 (`keepdims=0`); any
    other value is left for the op's attribute check to refuse."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def mean(data, axis=None, keepdims=False, exclude=False, **kwargs):
    if kwargs:
        return _redo(mean, locals())
    if data.dtype == np.bool_:  # a fraction
        data = F.cast(data, dtype="f32")
    axes = _reduce_axes(data, axis, exclude, "mean")
    if np.dtype(data.dtype).kind in "iu":   # MXNet: the sum over n, divided in the integer type
        return _full_to_1(_integer_mean(data, axes, _flag(keepdims)))
    return _full_to_1(C.mean(F, data, axes, _flag(keepdims)))


def _integer_mean(data, axes, keepdims):
    """An integer array's mean as MXNet's reduce computes it: in its own dtype, the quotient
    truncated toward zero (C++ integer division)."""
    n = 1
    for a in (range(data.ndim) if axes is None else axes):
        n *= data.shape[a]
    total = F.cast(F.sum(data, axes=axes, keepdims=_flag(keepdims)), dtype="f64")
    return F.cast(F.div(total, float(n)), dtype=dtype_name(np.dtype(data.dtype)))  # (cast truncates)


def max(data, axis=None, keepdims=False, exclude=False, **kwargs):
    if kwargs:
        return _redo(max, locals())
    return _full_to_1(F.max(data, axes=_reduce_axes(data, axis, exclude, "max"),
                           keepdims=_flag(keepdims)))


def min(data, axis=None, keepdims=False, exclude=False, **kwargs):
    if kwargs:
        return _redo(min, locals())
    return _full_to_1(F.min(data, axes=_reduce_axes(data, axis, exclude, "min"),
                           keepdims=_flag(keepdims)))


def argmax(data, axis=None, keepdims=False):
    """Index of the maximum, as float32 like MXNet (flattened when axis is None)."""
    if axis is None:
        data, axis = F.reshape(data, shape=(data.size,)), 0
    axis = _check_axis("argmax", axis, data.ndim, shape=data.shape)
    out = F.argmax(data, axis=axis, keepdims=_flag(keepdims))
    return _full_to_1(F.cast(out, dtype="f32"))


def argmin(data, axis=None, keepdims=False):
    """Index of the first minimum: argmax of an order-reversed copy (_reversed_order)."""
    return argmax(_reversed_order(data), axis, keepdims)


def _reversed_order(data):
    """An array whose first maximum is data's first minimum, with no wrap-around: -x for
    floats, not x for bools, -1 - x (~x, exact) for signed integers, and for unsigned ones
    after widening to int64 (-x would wrap: an unsigned 0 would become the largest, a signed
    minimum stay the minimum)."""
    kind = np.dtype(data.dtype).kind
    if kind == "b":
        return F.logical_not(data)
    if kind == "u":
        data = F.cast(data, dtype="i64")
    return F.sub(-1, data) if kind in "iu" else F.neg(data)


def norm(data, ord=2, axis=None, keepdims=False, out_dtype=None, **kwargs):
    """The L1 or L2 norm over `axis` (all by default); out_dtype: the result's dtype (MXNet
    accumulates in it: an int8 input's norm as float32)."""
    if kwargs:
        return _redo(norm, locals())
    if ord not in (1, 2):
        raise MXNetError(f"norm: ord must be 1 or 2, got {ord}")
    if out_dtype is not None:
        data = F.cast(data, dtype=dtype_name(np.dtype(out_dtype)))
    if ord == 1:
        return sum(F.abs(data), axis=axis, keepdims=keepdims)
    squares = sum(square(data), axis=axis, keepdims=keepdims)
    kind = np.dtype(data.dtype).kind
    if kind in "iu":    # MXNet's result has the operand's dtype (the root truncated); a plain
        # sqrt gave float64 eagerly and was refused in a trace (sqrt takes floats only)
        root = F.sqrt(F.cast(squares, dtype="f64"))
        return F.cast(root, dtype=dtype_name(np.dtype(data.dtype)))
    if kind == "b":     # (as the transcendentals of a bool array: float32)
        return F.sqrt(F.cast(squares, dtype="f32"))
    return F.sqrt(squares)


# ------------------------------------------------------------------ linear algebra
def dot(lhs, rhs, transpose_a=False, transpose_b=False, **kwargs):
    """MXNet dot: contracts the last axis of lhs with the first of rhs (2-d: matrix product)."""
    if kwargs:
        return _redo(dot, locals())
    if (type(lhs) is not NDArray or type(rhs) is not NDArray) and (
            isinstance(lhs, sparse.BaseSparseNDArray) or
            isinstance(rhs, sparse.BaseSparseNDArray)):
        return sparse.dot(lhs, rhs, transpose_a, transpose_b)   # (its output storage rule)
    if lhs.ndim == 1 and rhs.ndim == 1:
        # (MXNet's dot has floating point kernels only, as matmul below checks)
        if not all(np.issubdtype(np.dtype(x.dtype), np.floating) for x in (lhs, rhs)):
            raise MXNetError(f"dot: operands must be floating point, got "
                             f"{np.dtype(lhs.dtype).name}{list(lhs.shape)} and "
                             f"{np.dtype(rhs.dtype).name}{list(rhs.shape)}")
        return _full_to_1(F.sum(F.mul(lhs, rhs), axes=(0,)))
    a = lhs if lhs.ndim > 1 else F.reshape(lhs, shape=(1,) + lhs.shape)
    b = rhs if rhs.ndim > 1 else F.reshape(rhs, shape=rhs.shape + (1,))
    if a.ndim > 2 and transpose_a:      # (N-d: transposed is every axis reversed, as numpy)
        a, transpose_a = F.transpose(a, perm=tuple(reversed(range(a.ndim)))), False
    if b.ndim > 2 and transpose_b:
        b, transpose_b = F.transpose(b, perm=tuple(reversed(range(b.ndim)))), False
    if a.ndim > 2:
        lead = a.shape[:-1]
        a = F.reshape(a, shape=(math.prod(lead), a.shape[-1]))
    else:
        lead = None
    if b.ndim > 2:
        tail = b.shape[1:]
        b = F.reshape(b, shape=(b.shape[0], math.prod(tail)))
    else:
        tail = None
    out = F.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    shape = (lead if lead is not None else out.shape[:1]) + (
        tail if tail is not None else out.shape[1:])
    if lhs.ndim == 1:
        shape = shape[1:]
    if rhs.ndim == 1:
        shape = shape[:-1]
    return F.reshape(out, shape=shape or (1,)) if shape != out.shape else out


def batch_dot(lhs, rhs, transpose_a=False, transpose_b=False, **kwargs):
    if kwargs:
        return _redo(batch_dot, locals())
    if lhs.ndim != rhs.ndim or lhs.ndim < 3 or lhs.shape[:-2] != rhs.shape[:-2]:
        raise MXNetError(f"batch_dot: operands of shapes {tuple(lhs.shape)} and "
                         f"{tuple(rhs.shape)} must both be N-d (N >= 3) with the same batch "
                         f"axes")
    return F.matmul(lhs, rhs, transpose_a=transpose_a, transpose_b=transpose_b)


def FullyConnected(data, weight, bias=None, num_hidden=None, no_bias=False, flatten=True,
                   **kwargs):
    """y = x W^T + b; with flatten, x is reshaped to 2-d first; else applied on the last axis.
    The bias is (num_hidden,) or, as MXNet also takes it, (num_hidden, 1)."""
    if kwargs:
        return _redo(FullyConnected, locals())
    hidden = weight.shape[0] if weight.ndim == 2 else None
    if hidden is None or num_hidden is not None and int(num_hidden) != hidden or not (
            no_bias or bias is None or tuple(bias.shape) in ((hidden,), (hidden, 1))):
        raise MXNetError(f"FullyConnected: weight {tuple(weight.shape)}"
                         + ("" if no_bias or bias is None else f", bias {tuple(bias.shape)}")
                         + f" do not fit num_hidden={num_hidden} (weight must be "
                           f"(num_hidden, in_units), bias (num_hidden,) or (num_hidden, 1))")
    if not (no_bias or bias is None) and bias.ndim == 2:
        bias = F.reshape(bias, shape=(hidden,))
    if flatten and data.ndim != 2:
        data = C.flatten(F, data)
    if data.ndim == 2:
        out = F.matmul(data, weight, transpose_b=True)
    else:
        lead = data.shape[:-1]
        flat = F.reshape(data, shape=(math.prod(lead), data.shape[-1]))
        out = F.reshape(F.matmul(flat, weight, transpose_b=True),
                        shape=lead + (weight.shape[0],))
    return out if no_bias or bias is None else F.add(out, bias)


# ------------------------------------------------------------------ shapes
def _reshape_codes(src, shape, reverse=False):
    """MXNet's special reshape values: 0 copy, -1 infer, -2 copy rest, -3 merge, -4 split."""
    if reverse:
        return tuple(reversed(_reshape_codes(src[::-1], tuple(reversed(shape)))))
    out, i, k, shape = [], 0, 0, list(shape)
    while k < len(shape):
        s = shape[k]
        if s == 0:
            out.append(src[i])
            i += 1
        elif s == -2:
            out.extend(src[i:])
            i = len(src)
        elif s == -3:
            out.append(src[i] * src[i + 1])
            i += 2
        elif s == -4:
            a, b = shape[k + 1], shape[k + 2]
            a = src[i] // b if a == -1 else a
            b = src[i] // a if b == -1 else b
            out.extend([a, b])
            i, k = i + 1, k + 2
        else:
            out.append(s)
            i += 1
        k += 1
    if out.count(-1) > 1:
        raise MXNetError(f"reshape: more than one -1 in {tuple(shape)}")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        total = math.prod(src)
        if known == 0 or total % known:
            raise MXNetValueError(f"reshape: cannot reshape {tuple(src)} to {tuple(shape)}")
        out[out.index(-1)] = total // known
    return tuple(int(d) for d in out)


def reshape(data, shape=None, reverse=False, newshape=None, **kwargs):
    if kwargs:
        return _redo(reshape, locals())
    shape = shape if newshape is None else newshape
    new = _reshape_codes(data.shape, _shape(shape), reverse)
    if math.prod(new) != data.size:  # math.prod: np.prod costs 4 us a call
        raise MXNetValueError(f"reshape: cannot reshape array of shape {data.shape} into "
                              f"{new}")
    return F.reshape(data, shape=new) if new != data.shape else data


def reshape_like(lhs, rhs, lhs_begin=None, lhs_end=None, rhs_begin=None, rhs_end=None):
    """lhs reshaped to rhs's shape; with begin/end (Python-style ranges, None the start/end,
    negatives from the end) only lhs's axes [lhs_begin, lhs_end) are replaced by rhs's axes
    [rhs_begin, rhs_end) (MXNet's ReshapeLikeShapeCompute)."""
    if lhs_begin is lhs_end is rhs_begin is rhs_end is None:
        return reshape(lhs, rhs.shape)
    lb, le = _like_range("lhs", lhs.ndim, lhs_begin, lhs_end)
    rb, re = _like_range("rhs", rhs.ndim, rhs_begin, rhs_end)
    shape = lhs.shape[:lb] + rhs.shape[rb:re] + lhs.shape[le:]
    if math.prod(shape) != lhs.size:
        raise MXNetError(f"reshape_like: cannot reshape lhs of shape {lhs.shape} to {shape}: "
                         f"the sizes differ")
    return F.reshape(lhs, shape=shape) if shape != lhs.shape else lhs


def _like_range(side, ndim, begin, end):
    b = 0 if begin is None else int(begin) + (ndim if int(begin) < 0 else 0)
    e = ndim if end is None else int(end) + (ndim if int(end) < 0 else 0)
    if not 0 <= b < e <= ndim:
        raise MXNetError(f"reshape_like: {side}_begin={begin}, {side}_end={end} is no "
                         f"non-empty range of a {ndim}-d input")
    return b, e


def transpose(data, axes=None):
    axes = tuple(reversed(range(data.ndim))) if axes is None or axes == () else tuple(
        _check_axis("transpose", a, data.ndim, "axes entry", data.shape) for a in axes)
    return F.transpose(data, perm=axes)


def swapaxes(data, dim1=0, dim2=0):
    perm = list(range(data.ndim))
    dim1 = _check_axis("swapaxes", dim1, data.ndim, "dim1", data.shape)
    dim2 = _check_axis("swapaxes", dim2, data.ndim, "dim2", data.shape)
    perm[dim1], perm[dim2] = perm[dim2], perm[dim1]
    return F.transpose(data, perm=tuple(perm))


SwapAxis = swapaxes


def moveaxis(tensor, source, destination):
    """Axes `source` (an int or a list) moved to positions `destination`, the others kept in
    order (MXNet's nd.moveaxis, numpy's rule); a transpose, so differentiable."""
    n = tensor.ndim
    # (any sequence of axes, a range too, as numpy's normalize_axis_tuple takes them)
    src = [_check_axis("moveaxis", a, n, "source", tensor.shape)
           for a in (source if hasattr(source, "__iter__") else [source])]
    dst = [_check_axis("moveaxis", a, n, "destination", tensor.shape)
           for a in (destination if hasattr(destination, "__iter__") else [destination])]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must be "
                         f"distinct axes, as many of each")
    order = [a for a in range(n) if a not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return F.transpose(tensor, perm=tuple(order))


def expand_dims(data, axis):
    return F.expand_dims(data, axis=_check_axis("expand_dims", axis, data.ndim + 1,
                                                shape=data.shape))


def squeeze(data, axis=None):
    axes = tuple(_check_axis("squeeze", a, data.ndim, shape=data.shape) for a in (
        (axis,) if isinstance(axis, (int, np.integer)) else axis)) if axis is not None else tuple(
        i for i, d in enumerate(data.shape) if d == 1)
    shape = tuple(d for i, d in enumerate(data.shape) if i not in axes)
    return F.reshape(data, shape=shape or (1,))


def flatten(data):
    return C.flatten(F, data)


Flatten = flatten


def broadcast_to(data, shape):
    shape = tuple(d if s == 0 else s for d, s in zip(
        (1,) * (len(shape) - data.ndim) + data.shape, shape))
    return F.broadcast_to(data, shape=shape) if shape != data.shape else data


def broadcast_like(lhs, rhs, lhs_axes=None, rhs_axes=None):
    """lhs broadcast to rhs's shape; with lhs_axes and rhs_axes, only lhs's size-1 axes
    lhs_axes[i] take the size of rhs's axes rhs_axes[i] (MXNet's BroadcastLikeShape)."""
    if lhs_axes is None or rhs_axes is None:
        return broadcast_to(lhs, rhs.shape)
    lhs_axes = (lhs_axes,) if isinstance(lhs_axes, int) else tuple(lhs_axes)
    rhs_axes = (rhs_axes,) if isinstance(rhs_axes, int) else tuple(rhs_axes)
    if len(lhs_axes) != len(rhs_axes) or not lhs_axes:
        raise MXNetError(f"broadcast_like: lhs_axes {lhs_axes} and rhs_axes {rhs_axes} must "
                         f"be non-empty and of one length")
    shape = list(lhs.shape)
    for la, ra in zip(lhs_axes, rhs_axes):
        la = _check_axis("broadcast_like", la, lhs.ndim, shape=lhs.shape)
        ra = _check_axis("broadcast_like", ra, rhs.ndim, shape=rhs.shape)
        if lhs.shape[la] != 1:
            raise MXNetError(f"broadcast_like: lhs axis {la} has size {lhs.shape[la]}, "
                             f"not 1 (lhs shape {lhs.shape})")
        shape[la] = rhs.shape[ra]
    return broadcast_to(lhs, tuple(shape))


def broadcast_axis(data, axis=(), size=()):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    sizes = (size,) if isinstance(size, int) else tuple(size)
    shape = list(data.shape)
    for a, s in zip(axes, sizes):
        shape[_check_axis("broadcast_axis", a, data.ndim, shape=data.shape)] = s
    return F.broadcast_to(data, shape=tuple(shape))


broadcast_axes = broadcast_axis


def concat(*data, dim=1, **kwargs):
    if kwargs:
        return _redo(concat, locals())
    if not data:
        raise MXNetError("concat: needs at least one array")
    return F.concat(*data, axis=_check_axis("concat", dim, data[0].ndim, "dim", data[0].shape))


def stack(*data, axis=0, **kwargs):
    if kwargs:
        return _redo(stack, locals())
    if not data:
        raise MXNetError("stack: needs at least one array")
    axis = _check_axis("stack", axis, data[0].ndim + 1, shape=data[0].shape)
    return F.concat(*[F.expand_dims(d, axis=axis) for d in data], axis=axis)


def split(data, num_outputs, axis=1, squeeze_axis=False, **kwargs):
    if kwargs:
        return _redo(split, locals())
    axis = _check_axis("split", axis, data.ndim, shape=data.shape)
    if int(num_outputs) < 1 or data.shape[axis] % int(num_outputs):
        raise MXNetError(f"split: num_outputs={num_outputs} does not divide axis {axis} of "
                         f"input of shape {data.shape} into equal parts")
    n = data.shape[axis] // num_outputs
    outs = [slice_axis(data, axis, i * n, (i + 1) * n) for i in range(num_outputs)]
    if squeeze_axis:
        outs = [squeeze(o, axis=axis) for o in outs]
    return outs if num_outputs > 1 else outs[0]


SliceChannel = split


def _own_buffer(out):
    """Give an op's result its own buffer: numpy slicing returns a view of the operand, but
    MXNet's operators (and non-contiguous indexing) return new arrays, so a later write into
    the result must not reach the operand. A deferred result (step capture) sees to it when
    it is computed, without reading its data now."""
    if type(out) is not NDArray:
        own = getattr(type(out), "_own_buffer", None)
        if own is not None:
            return own(out)
    if out._data.base is not None:
        out._data = out._data.copy()
    return out


def _slice_axis_bounds(shape, axis, begin, end):
    """MXNet's slice_axis bounds: negative ones count from the end, end=None is the axis
    size, and a non-empty axis needs 0 <= begin < end <= size (no clipping, as MXNet)."""
    size = shape[axis]
    if size == 0:
        return 0, 0
    lo = int(begin) + (size if int(begin) < 0 else 0)
    hi = size if end is None else int(end) + (size if int(end) < 0 else 0)
    if not 0 <= lo < hi <= size:
        raise MXNetError(f"slice_axis: begin={begin}, end={end} do not select a non-empty "
                         f"range of axis {axis} (size {size}) of input of shape {shape}")
    return lo, hi


def slice_axis(data, axis, begin, end=None):
    """data[begin:end] along `axis` (end None: to the axis's end, as MXNet's, whose graph
    attribute may be left out)."""
    shape = data.shape
    try:        # (the same tuples for the same slice: the op's attribute check is one look-up)
        key = (shape, axis, begin, end, type(axis), type(begin), type(end))
        bounds = _SLICE_BOUNDS.get(key)
    except TypeError:   # an unhashable bound: checked below, and refused there
        key = bounds = None
    if bounds is None:
        axis = _check_axis("slice_axis", axis, data.ndim, shape=shape)
        start, stop = _slice_axis_bounds(shape, axis, begin, end)
        bounds = (tuple(start if i == axis else 0 for i in range(data.ndim)),
                  tuple(stop if i == axis else d for i, d in enumerate(shape)),
                  (1,) * data.ndim)
        if key is not None:
            if len(_SLICE_BOUNDS) >= 4096:
                _SLICE_BOUNDS.clear()
            _SLICE_BOUNDS[key] = bounds
    begins, ends, steps = bounds
    return _own_buffer(F.slice(data, begin=begins, end=ends, step=steps))


_SLICE_BOUNDS: dict = {}    # (shape, axis, begin, end and their types) -> slice's attributes


def slice(data, begin, end, step=None):
    """data[begin:end:step] per axis; a lone number is a 1-tuple (as MXNet's tuple parser
    reads `begin=2`)."""
    begin, end, step = (_one_tuple(v) for v in (begin, end, step))
    step = step or (None,) * len(begin)
    key = tuple(builtins.slice(b, e, s) for b, e, s in zip(begin, end, step))
    return _own_buffer(_getitem(data, key))


crop = slice    # MXNet's deprecated name of slice (nd.Crop is another op)


def _one_tuple(v):
    return (v,) if isinstance(v, (int, np.integer)) else v


def _is_contiguous_region(shape, begin, end, step):
    """MXNet 1.x's rule for whether basic indexing returns a view: reading axes right to left,
    once one axis selects a proper subset, every axis to its left selects a single element;
    strided selections of several elements are never contiguous."""
    sizes = [len(range(lo, hi, st)) for lo, hi, st in zip(begin, end, step)]
    if math.prod(sizes) in (0, 1):
        return True
    subset = False
    for n, size, st in zip(reversed(shape), reversed(sizes), reversed(step)):
        if size > 1 and st != 1:
            return False
        if subset and size != 1:
            return False
        if size < n:
            subset = True
    return True


def take(a, indices, axis=0, mode="clip"):
    """MXNet take: indices truncated toward zero, then clipped into the axis ('clip'), wrapped
    around it ('wrap'), or checked ('raise': an index outside the axis raises, eagerly and in
    compiled code alike: index_checks.py)."""
    if mode not in ("clip", "wrap", "raise"):
        raise MXNetError(f"take: mode {mode!r} is not one of 'clip', 'wrap', 'raise'")
    if not isinstance(indices, NDArray):
        indices = array(indices, dtype=np.int64)
    axis = _check_axis("take", axis, a.ndim, shape=a.shape)
    indices = _bool_as_index(indices)
    if mode == "clip":
        return F.take(a, indices, axis=axis)
    n = a.shape[axis]
    if mode == "raise":
        indices = _check_value_range("take", "indices", indices, 0, n - 1,
                                     f"axis {axis} of data {a.shape}, mode='raise'")
    return F.take(a, F.mod(F.cast(indices, dtype="i64"), n), axis=axis)


def flip(data, axis):
    """Reverse the order of elements along `axis`, an int or a tuple of axes as MXNet's
    reverse takes (each a take with descending indices; an axis named twice reverses twice,
    as in MXNet's kernel)."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for ax in axes:
        ax = _check_axis("flip", ax, data.ndim, shape=data.shape)
        n = data.shape[ax]
        data = F.take(data, wrap(np.arange(n - 1, -1, -1, dtype=np.int64)), axis=ax)
    return data


reverse = flip


def tile(data, reps):
    """Repeat the whole array reps[i] times along axis i (numpy/MXNet tile)."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    from .util import is_np_shape
    if any(int(r) < 0 for r in reps) or (not is_np_shape() and 0 in reps):
        # (0 is an unknown size outside np_shape, as MXNet's legacy shapes read it)
        raise MXNetError(f"tile: reps must be {'non-negative' if is_np_shape() else 'positive'}"
                         f" integers, got {reps} for data of shape {tuple(data.shape)}")
    ndim = builtins.max(len(reps), data.ndim)
    reps = (1,) * (ndim - len(reps)) + reps
    dims = (1,) * (ndim - data.ndim) + data.shape
    out_shape = tuple(int(r) * d for r, d in zip(reps, dims))
    try:    # (the steps below would refuse it too, naming reshape)
        if any(d > MAX_DIM for d in out_shape):
            raise TypeError(f"{out_shape} has an axis longer than any tensor's (each at most "
                            f"2**40 = {MAX_DIM})")
        TensorType("f32", out_shape)
    except TypeError as e:
        raise MXNetError(f"tile: reps {reps} of data of shape {tuple(data.shape)} give a "
                         f"result too large: {e}") from None
    x = F.reshape(data, shape=tuple(v for d in dims for v in (1, d)))
    x = F.broadcast_to(x, shape=tuple(v for r, d in zip(reps, dims) for v in (r, d)))
    return F.reshape(x, shape=out_shape)


def repeat(data, repeats, axis=None):
    """Repeat each element `repeats` times along `axis` (flattened when axis is None)."""
    if axis is None:
        data, axis = F.reshape(data, shape=(data.size,)), 0
    axis = _check_axis("repeat", axis, data.ndim, shape=data.shape)
    if int(repeats) < 0:
        raise MXNetError(f"repeat: repeats must be non-negative, got {repeats}")
    x = F.expand_dims(data, axis=axis + 1)
    x = F.broadcast_to(x, shape=data.shape[:axis + 1] + (repeats,) + data.shape[axis + 1:])
    return F.reshape(x, shape=data.shape[:axis] + (data.shape[axis] * repeats,)
                     + data.shape[axis + 1:])


def ceil(data):
    return F.neg(F.floor(F.neg(data)))


def _integral(data) -> bool:
    """An int or bool array: every rounding op returns it unchanged, in its own dtype."""
    return np.dtype(data.dtype).kind in "iub"


def round(data):
    """Round half away from zero, as MXNet does (std::round). The fraction |x| - floor(|x|)
    (exact in floating point) decides: floor(|x| + 0.5) would round up values just below a
    half (0.49999997 in float32) and odd integers past 2**23 (the sum rounds to even).
    Integral values (±0 and ±inf among them) come back as they are, through floor: the sign
    of a zero is kept and, as in MXNet, the gradient is zero everywhere."""
    if _integral(data):
        return F.floor(data)
    a = F.abs(data)
    t = F.floor(a)
    # the fraction, 0 for integral values (infinities too: never inf - inf)
    whole = F.eq(a, t)
    frac = F.sub(F.where(whole, 0.0, a), F.where(whole, 0.0, t))
    up = F.floor(F.mul(frac, 2.0))      # 1 when the fraction is at least a half
    return F.where(whole, F.floor(data), F.mul(F.sign(data), F.add(t, up)))


def log2(data):
    return F.log2(_as_float(data))


def log10(data):
    return F.log10(_as_float(data))


def pick(data, index, axis=-1, keepdims=False, mode="clip"):
    if mode not in ("clip", "wrap"):
        raise MXNetError(f"pick: mode {mode!r} is not one of 'clip', 'wrap'")
    return C.pick(F, data, index, axis=axis, keepdims=keepdims, mode=mode)


choose_element_0index = pick    # MXNet's older name of pick (an alias of the same op)


def fill_element_0index(lhs, mhs, rhs, out=None):
    """MXNet's legacy fill_element_0index: a copy of the 2-d lhs whose element
    (i, int(rhs[i])) in each row i is set to mhs[i] (an index that is no column leaves
    the row as it was); out= receives it."""
    n = lhs.shape[0] if lhs.ndim == 2 else None
    for name, arr in (("mhs", mhs), ("rhs", rhs)):
        if n is None or not isinstance(arr, NDArray) or tuple(arr.shape) != (n,):
            raise MXNetError(f"fill_element_0index: lhs must be 2-d and {name} of shape "
                             f"(rows,), got lhs {tuple(lhs.shape)}, {name} "
                             f"{getattr(arr, 'shape', type(arr).__name__)}")
    columns = arange(lhs.shape[1], dtype="int64").reshape((1, -1))
    hit = broadcast_equal(rhs.astype("int64").reshape((-1, 1)), columns)
    values = broadcast_to(mhs.astype(np.dtype(lhs.dtype).name).reshape((-1, 1)), lhs.shape)
    result = where(hit, values, lhs)
    if out is not None:
        out[:] = result
        return out
    return result


def one_hot(indices, depth, on_value=1.0, off_value=0.0, dtype="float32"):
    return F.one_hot(indices, depth=depth, on_value=float(on_value), off_value=float(off_value),
                     dtype=dtype_name(np.dtype(dtype)))


def onehot_encode(indices, out):
    """MXNet's deprecated onehot_encode (use one_hot): row i of `out` (n, depth) becomes 1
    where the column equals indices[i] and 0 elsewhere (an index that is no column, out of
    range or fractional, leaves a row of zeros); returns out."""
    if not isinstance(out, NDArray) or out.ndim != 2:
        raise MXNetError(f"onehot_encode: out must be a 2-d NDArray, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    if not isinstance(indices, NDArray) or tuple(indices.shape) != (out.shape[0],):
        raise MXNetError(f"onehot_encode: indices must be an NDArray of shape "
                         f"({out.shape[0]},) for out of shape {tuple(out.shape)}, got "
                         f"{getattr(indices, 'shape', type(indices).__name__)}")
    columns = arange(out.shape[1], dtype=np.dtype(indices.dtype).name).reshape((1, -1))
    out[:] = broadcast_equal(indices.reshape((-1, 1)), columns)
    return out


def _bool_as_index(indices):
    """Bool indices are the positions 0 and 1 (numpy's take reads them so; the type rule, and so
    compiled code, takes integer or float indices only)."""
    return F.cast(indices, dtype="i32") if indices.dtype == np.bool_ else indices


def Embedding(data, weight, input_dim=None, output_dim=None, sparse_grad=False, **kwargs):
    """Rows of `weight` at the indices `data`. With sparse_grad, a weight whose gradient is
    row_sparse gets the looked-up rows listed in it while recording (sparse_rows.py)."""
    if kwargs:
        return _redo(Embedding, locals())
    want = (input_dim if input_dim is not None else weight.shape[0],
            output_dim if output_dim is not None else weight.shape[-1])
    if weight.ndim != 2 or tuple(weight.shape) != tuple(int(d) for d in want):
        raise MXNetError(f"Embedding: weight of shape {weight.shape} does not match "
                         f"(input_dim, output_dim) = {want}")
    data = _bool_as_index(data)
    out = F.take(weight, data, axis=0)
    if sparse_grad and STATE.recording and HOOKS.recorded:
        _sparse_rows.mark(weight, data)
    return out


def _getitem(x, key):
    """Basic indexing as slice (+ reshape); an array index is `take` along axis 0. A row read
    (x[i], per-sample datasets, a time step of an input batch under record()) that nothing
    observes is the numpy view the two ops give."""
    if type(key) is int and type(x) is NDArray and _unrecorded_read(x):
        data = x._data
        if data.ndim and -data.shape[0] <= key < data.shape[0]:
            return wrap(data[key] if data.ndim > 1 else data[key:key + 1 or None])
    if isinstance(key, (NDArray, np.ndarray, list)):
        if (np.dtype(key.dtype) if isinstance(key, NDArray) else np.asarray(key).dtype) \
                == np.bool_:
            raise MXNetError("indexing with a boolean mask is not supported (MXNet 1.x reads "
                             "an index array as positions); use nd.where or nd.take")
        return _take_rows(x, key)
    key = key if isinstance(key, tuple) else (key,)
    if builtins.any(isinstance(k, (NDArray, np.ndarray, list)) for k in key):
        return _advanced_getitem(x, key)
    if builtins.sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        fill = x.ndim - (len(key) - 1 - builtins.sum(k is None for k in key))
        key = key[:i] + (builtins.slice(None),) * fill + key[i + 1:]
    begin, end, step, shape, axis, reverse = [], [], [], [], 0, []
    for k in key:
        if k is None:
            shape.append(1)
            continue
        if axis >= x.ndim:
            raise IndexError(f"too many indices for an array of shape {x.shape}")
        d = x.shape[axis]
        if isinstance(k, builtins.slice):
            if k.step == 0:
                raise ValueError(f"slice: step cannot be zero (index {k} on axis {axis} of an "
                                 f"array of shape {x.shape})")
            picked = range(*k.indices(d))
            if picked.step < 0:  # the same elements ascending, then reversed by a take
                picked = picked[::-1]
                if len(picked) > 1:     # (one element: nothing to reverse, a view as MXNet's)
                    reverse.append(axis)
            # the stop of a reversed range can pass the axis (range(4, -1, -2)[::-1] is
            # range(0, 6, 2)): a trace's slice takes bounds inside the axis only
            lo = picked.start if len(picked) else 0
            begin.append(lo), end.append(picked[-1] + 1 if len(picked) else 0)
            step.append(picked.step)
            shape.append(len(picked))
        else:
            k = int(k)
            if not -d <= k < d:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {d}")
            k %= d
            begin.append(k), end.append(k + 1), step.append(1)
        axis += 1
    for d in x.shape[axis:]:
        begin.append(0), end.append(d), step.append(1)
        shape.append(d)
    out = x
    if tuple(begin) != (0,) * x.ndim or tuple(end) != x.shape or builtins.any(
            s != 1 for s in step):
        out = F.slice(x, begin=tuple(begin), end=tuple(end), step=tuple(step))
        if not _is_contiguous_region(x.shape, begin, end, step):
            _own_buffer(out)  # MXNet copies here: writes into x[:, 1:3] must not reach x
    for a in reverse:
        out = flip(out, a)
    shape = tuple(shape) or (1,)
    return F.reshape(out, shape=shape) if shape != out.shape else out


def _take_rows(x, key):
    """x[key] for one index array: rows of axis 0 by MXNet 1.9.1's gather_nd rule, an index
    in [-n, n) (a negative one counts from the end; a float one truncated toward zero),
    anything else an IndexError, eagerly and compiled alike. An NDArray key stays an input
    of the graph (a compiled call reads any indices without tracing again)."""
    if x.ndim == 0:
        raise IndexError("too many indices for a 0-d array")
    n = x.shape[0]
    if not isinstance(key, NDArray):
        k = np.asarray(key)
        if k.size and k.dtype.kind not in "iuf":
            raise IndexError(f"an index array must hold integers, got {k.dtype}")
        key = array(k.astype(np.int64), dtype="int64")
    where = f"axis 0 of an array of shape {x.shape}"
    key = _check_value_range("__getitem__", "index", key, -n, n - 1, where)
    return F.take(x, F.mod(F.cast(key, dtype="i64"), builtins.max(n, 1)), axis=0)


def _advanced_getitem(x, key):
    """x[key] for a tuple key holding integer arrays/lists beside ints, slices, None and
    Ellipsis: NumPy's advanced indexing (MXNet 1.x follows it, boolean arrays excepted), a
    copy. The positions are worked out on the flat index space, then one `take` gathers them
    (differentiable in x)."""
    index = []
    for k in key:
        if isinstance(k, (NDArray, np.ndarray, list)):
            k = np.asarray(k.asnumpy() if isinstance(k, NDArray) else k)
            if k.dtype == np.bool_:
                raise MXNetError("indexing with a boolean mask is not supported (MXNet 1.x "
                                 "reads an index array as positions); use nd.where or nd.take")
            if k.size and k.dtype.kind not in "iuf":
                raise IndexError(f"an index array must hold integers, got {k.dtype}")
            k = k.astype(np.int64)
        index.append(k)
    positions = np.arange(x.size, dtype=np.int64).reshape(x.shape)[tuple(index)]
    flat = take(F.reshape(x, shape=(x.size,)), array(positions.ravel(), dtype="int64"))
    return F.reshape(flat, shape=positions.shape or (1,))


# ------------------------------------------------------------------ neural network ops
def softmax(data, length=None, axis=-1, temperature=None, dtype=None, use_length=False,
            **kwargs):
    """Softmax along `axis`; with use_length, over the first length[...] entries of each
    slice only (the rest are 0), as MXNet's length-aware kernel. (An int second positional
    argument is the axis, as in MXNet before `length` was added.)"""
    if kwargs:
        return _redo(softmax, locals())
    data, length, axis = _softmax_args("softmax", data, length, axis, dtype, use_length)
    if length is None:
        return C.softmax(F, data, axis=axis, temperature=temperature)
    return _softmax_with_length(data, length, axis, temperature, log=False)


def log_softmax(data, length=None, axis=-1, temperature=None, dtype=None, use_length=False,
                **kwargs):
    """Log-softmax along `axis`; with use_length as softmax (entries past the length are 0)."""
    if kwargs:
        return _redo(log_softmax, locals())
    data, length, axis = _softmax_args("log_softmax", data, length, axis, dtype, use_length)
    if length is None:
        return C.log_softmax(F, data, axis=axis, temperature=temperature)
    return _softmax_with_length(data, length, axis, temperature, log=True)


def _softmax_args(op, data, length, axis, dtype, use_length):
    if length is not None and not isinstance(length, NDArray):
        axis, length = length, None      # softmax(x, 1): the 1.x signature's axis
    _check_softmax_types(op, data, dtype)
    data = data if dtype is None else data.astype(np.dtype(dtype).name)
    if not use_length:
        return data, None, axis
    if length is None:
        raise MXNetError(f"{op}: use_length=True needs length (an NDArray)")
    ax = axis % data.ndim if -data.ndim <= axis < data.ndim else None
    if ax is None:
        raise MXNetError(f"{op}: axis {axis} is out of range for shape {tuple(data.shape)}")
    want = tuple(data.shape[:ax]) + tuple(data.shape[ax + 1:])
    if tuple(length.shape) != want:
        raise MXNetError(f"{op}: length must have shape {want} (data {tuple(data.shape)} "
                         f"without axis {axis}), got {tuple(length.shape)}")
    return data, length, ax


_SOFTMAX_DTYPES = ("float16", "float32", "float64")


def _check_softmax_types(op, data, dtype, dtype_arg=True):
    """MXNet 1.9.1's softmax kernels (softmax, log_softmax, softmin; SoftmaxOutput and
    SoftmaxActivation, dtype_arg=False: they take no dtype) run on floating-point input only,
    whatever `dtype` asks of the output (its type switch on the input refuses integers and
    bool, eager and in graphs alike); `dtype` is one of three float types."""
    if dtype is not None:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
        if name not in _SOFTMAX_DTYPES:
            raise MXNetError(f"{op}: Invalid Input: {name!r}, valid values are: {{None, "
                             f"'float16', 'float32', 'float64'}} (dtype, the output's type)")
    kind = np.dtype(data.dtype)
    if kind.kind != "f":
        comma = "" if kind.name in ("uint8", "int8") else ","
        raise MXNetError(f"{op}: This operation only support floating point types{comma} not "
                         f"{kind.name} (data of shape {tuple(data.shape)}; "
                         f"{'MXNet refuses it with dtype= too: ' if dtype_arg else ''}"
                         f"cast the input, e.g. x.astype('float32'))")


def _softmax_with_length(data, length, ax, temperature, log):
    """MXNet's length-aware (log-)softmax: a mask of the first length[...] positions along
    `ax` (lengths truncated toward zero and clamped into [0, n]); masked-out entries give 0
    and no gradient, an empty slice gives zeros."""
    n = data.shape[ax]
    ramp = wrap(np.arange(n, dtype=np.int64).reshape(
        [n if i == ax else 1 for i in range(data.ndim)]))
    steps = F.minimum(F.maximum(F.cast(length, dtype="i64"), 0), n)
    mask = F.lt(ramp, F.expand_dims(steps, axis=ax))
    x = data if temperature is None or temperature == 1.0 else F.div(data, float(temperature))
    lowest = float(np.finfo(np.dtype(data.dtype)).min)
    top = F.stop_gradient(F.max(F.where(mask, x, lowest), axes=(ax,), keepdims=True))
    z = F.where(mask, F.sub(x, top), 0.0)          # (no overflow where masked out)
    e = F.where(mask, F.exp(z), 0.0)
    total = F.maximum(F.sum(e, axes=(ax,), keepdims=True),
                      float(np.finfo(np.dtype(data.dtype)).tiny))
    if log:
        return F.where(mask, F.sub(z, F.log(total)), 0.0)
    return F.div(e, total)


def softmax_cross_entropy(data, label):
    return sum(F.neg(pick(log_softmax(_as_float(data)), label)))


def Activation(data, act_type, **kwargs):
    """relu, sigmoid, tanh, softrelu, softsign."""
    if kwargs:
        return _redo(Activation, locals())
    if act_type == "softrelu":
        return C.softrelu(F, data)
    if act_type == "softsign":
        return C.softsign(F, data)
    if act_type not in ("relu", "sigmoid", "tanh"):
        raise MXNetError(f"Activation: unknown act_type {act_type!r}; expected relu, sigmoid, "
                         f"tanh, softrelu or softsign")
    return getattr(F, act_type)(data)


def Dropout(data, p=0.5, mode="training", axes=(), **kwargs):
    """Zero elements with probability p and scale the rest by 1/(1-p), in training mode (or
    always with mode='always'); the identity otherwise."""
    if kwargs:
        return _redo(Dropout, locals())
    if not 0 <= p <= 1:
        raise MXNetError(f"Dropout: p must be in [0, 1], got {p}")
    if p <= 0 or (mode != "always" and not STATE.training):
        return data
    return C.dropout(F, data, random.next_key(), p, tuple(
        _check_axis("Dropout", a, data.ndim, "axes entry", data.shape) for a in axes))


from .nd_nn import (Convolution, Deconvolution, GroupNorm, InstanceNorm,  # noqa: E402,F401
                    LeakyReLU, Pooling, col2im, im2col)
from .recurrent import RNN  # noqa: E402,F401
from .sequence import SequenceLast, SequenceMask, SequenceReverse  # noqa: E402,F401


# ------------------------------------------------------------------ saving (never pickle)
def save_arrays(filename, arrays, stypes=None):
    """{name: numpy array} to an .npz file at exactly `filename` (np.savez alone would append
    .npz to a path). `stypes` {name: storage type}: a sparse one (a Parameter's
    stype='row_sparse') makes the file MXNet's format, that array stored sparse as MXNet's
    save_parameters writes it (sparse.parameter_record), when the format holds every array."""
    sparse_ones = {k: s for k, s in (stypes or {}).items() if s != "default" and k in arrays}
    if sparse_ones:
        records = [sparse.parameter_record(np.asarray(v), sparse_ones[k])
                   if k in sparse_ones else np.asarray(v) for k, v in arrays.items()]
        if all(mxnet_format.writable(r) for r in records):
            mxnet_format.write(filename, records, list(arrays))
            return
    with open(filename, "wb") as f:
        np.savez(f, **arrays)


def load_arrays(filename) -> dict:
    """{name: numpy array} from an .npz file, read as untrusted input (tracegrad/untrusted.py:
    plain numeric arrays only, errors name the file), or from a file MXNet wrote (its magic
    0x112; read by tracegrad.mxnet_format, which checks every length against the bytes)."""
    if mxnet_format.is_mxnet_file(filename):
        arrays, names = mxnet_format.read(filename)
        if not names and arrays:
            raise MXNetError(f"'{filename}' holds an unnamed list of {len(arrays)} arrays; "
                             f"parameters need names (read it with nd.load)")
        return dict(zip(names, arrays))
    from .untrusted import read_npz
    return read_npz(filename)


_STYPE_CODES = {name: code for code, name in mxnet_format.STYPES.items()}


def _check_savable(data):
    """MXNet's checks of what nd.save takes: a dict of str -> NDArray or a list of NDArrays,
    and no mx.np arrays (npx.save writes those)."""
    from .numpy_api.ndarray import ndarray as np_ndarray
    if isinstance(data, dict):
        if any(not isinstance(k, str) for k in data) or \
                any(not isinstance(v, NDArray) for v in data.values()):
            raise TypeError("save only accept dict str->NDArray or list of NDArray")
        values = data.values()
    elif isinstance(data, (list, tuple)):
        if any(not isinstance(v, NDArray) for v in data):
            raise TypeError("save only accept dict str->NDArray or list of NDArray")
        values = data
    else:
        raise ValueError(f"data needs to either be a NDArray, dict of str, NDArray pairs or a "
                         f"list of NDarrays, got {type(data).__name__}")
    if any(isinstance(v, np_ndarray) for v in values):
        raise TypeError("cannot save mxnet.numpy.ndarray using mxnet.ndarray.save; use "
                        "mxnet.numpy.save instead.")


def save(fname, data):
    """Save a list or dict of NDArrays to a numpy .npz file (no pickle). With a sparse array,
    MXNet's binary format (mxnet_format.py: the storage type, the stored values and index
    arrays, as MXNet's nd.save writes them), unless an array has a dtype or a 0-d shape that
    format cannot hold: then the .npz, the storage type kept beside ('stype:<key>').
    Under np_shape the file says so (an `np_shape` entry; MXNet's V3 records) and `load`
    reads it only under np_shape, as MXNet (a file saved without it, only without it)."""
    from .util import is_np_shape
    if isinstance(data, NDArray):
        data = [data]
    _check_savable(data)
    np_shape = is_np_shape()
    values = list(data.values() if isinstance(data, dict) else data)
    if any(v.stype != "default" for v in values):
        if np_shape:
            raise MXNetError(f"save '{fname}': only dense arrays can be saved in np_shape "
                             f"semantics (MXNet's rule)")
        records = [sparse.to_record(v) if v.stype != "default" else v.asnumpy()
                   for v in values]
        if all(mxnet_format.writable(r) for r in records):
            mxnet_format.write(fname, records, list(data) if isinstance(data, dict) else ())
            return
    items = [(f"dict:{k}", v) for k, v in data.items()] if isinstance(data, dict) else \
        [(f"list:{i:06d}", v) for i, v in enumerate(data)]
    arrays = {key: v._data for key, v in items}
    for key, v in items:
        if v.stype != "default":
            arrays[f"stype:{key}"] = np.array(_STYPE_CODES[v.stype], np.int8)
    if np_shape:
        arrays[_NP_SHAPE_KEY] = np.array(True)
    save_arrays(fname, arrays)


_NP_SHAPE_KEY = "np_shape"      # (in an .npz nd.save wrote under np_shape)


def _check_np_shape(fname, saved_np_shape):
    """MXNet's NDArray::Load rule: an array loads only in the np_shape semantics it was
    saved in (under np_shape, a rank-0 shape is a scalar; without, it is 'none')."""
    from .util import is_np_shape
    if saved_np_shape != is_np_shape():
        how = ("in", "out of") if saved_np_shape else ("out of", "in")
        raise MXNetError(f"load '{fname}': the arrays were saved {how[0]} np_shape semantics "
                         f"and are loaded {how[1]} them; MXNet refuses that: load them "
                         f"`with mx.np_shape({saved_np_shape}):`")


def load(fname):
    """Load what `save` wrote, or a file MXNet's nd.save / save_parameters wrote: a list or a
    dict of NDArrays (a dict when the file has names, as in MXNet)."""
    from .util import is_np_shape
    if mxnet_format.is_mxnet_file(fname):
        return _from_mxnet_format(*mxnet_format.read(fname, keep_sparse=True,
                                                     np_shape=is_np_shape()))
    return _from_npz(load_arrays(fname), fname)


def load_frombuffer(buf):
    """nd.load of a file's bytes held in memory (MXNet's nd.load_frombuffer): MXNet's binary
    format, or the .npz nd.save writes here; read as untrusted as a file is."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError(f"load_frombuffer: buf must be bytes, got {type(buf).__name__}")
    from .util import is_np_shape
    data = bytes(buf)
    if len(data) >= 8 and int.from_bytes(data[:8], "little") == mxnet_format.LIST_MAGIC:
        return _from_mxnet_format(*mxnet_format.read_bytes(data, "the buffer",
                                                           keep_sparse=True,
                                                           np_shape=is_np_shape()))
    from .untrusted import read_npz_bytes
    return _from_npz(read_npz_bytes(data, "the buffer"), "the buffer")


def _from_mxnet_format(arrays, names):
    arrays = [sparse.from_file(v) if type(v) is mxnet_format.SparseArray else wrap(v)
              for v in arrays]
    return dict(zip(names, arrays)) if names else arrays


def _from_npz(arrays, fname):
    """nd.load's list or dict of what nd.save wrote into an .npz."""
    marker = arrays.pop(_NP_SHAPE_KEY, None)
    if marker is not None and (marker.shape != () or marker.dtype != np.bool_):
        raise MXNetError(f"load '{fname}': entry '{_NP_SHAPE_KEY}' is not a flag")
    if arrays:
        _check_np_shape(fname, marker is not None and bool(marker))
    stypes = {k[len("stype:"):]: arrays.pop(k) for k in list(arrays) if k.startswith("stype:")}
    for key, code in stypes.items():
        stype = mxnet_format.STYPES.get(int(code)) if code.shape == () else None
        if key not in arrays or stype is None or arrays[key].ndim != 2 and (
                stype == "csr" or arrays[key].ndim < 1):
            raise MXNetError(f"load '{fname}': entry 'stype:{key}' is not a storage type of "
                             f"an array of the file")

    def array_of(key):
        if key not in stypes:
            return wrap(arrays[key])
        return sparse.storage_view(arrays[key], mxnet_format.STYPES[int(stypes[key])])
    if arrays and all(k.startswith("list:") for k in arrays):
        return [array_of(k) for k in sorted(arrays)]
    return {k.split(":", 1)[1] if ":" in k else k: array_of(k) for k in arrays}


# ------------------------------------------------------------------ more operators
from . import linalg  # noqa: E402  (nd.linalg)
from .nd_cached_op import CachedOp  # noqa: E402,F401
from . import sparse  # noqa: E402  (nd.sparse: CSRNDArray, RowSparseNDArray)
# MXNet's storage type codes (private tables of mxnet.ndarray.ndarray, which its tests and
# some scripts import)
_STORAGE_TYPE_STR_TO_ID = {"undefined": -1, **sparse.STYPE_CODES}
_STORAGE_TYPE_ID_TO_STR = {v: k for k, v in _STORAGE_TYPE_STR_TO_ID.items()}
_STORAGE_TYPE_UNDEFINED, _STORAGE_TYPE_DEFAULT, _STORAGE_TYPE_ROW_SPARSE, _STORAGE_TYPE_CSR = \
    (_STORAGE_TYPE_STR_TO_ID[k] for k in ("undefined", "default", "row_sparse", "csr"))
from . import nd_image as image  # noqa: E402  (nd.image)
from .dlpack import from_dlpack, from_numpy, to_dlpack_for_read, to_dlpack_for_write  # noqa
from .nd_legacy import *  # noqa: E402,F401,F403  (Concat, SoftmaxOutput, BatchNorm, ...)
from .nd_math import *  # noqa: E402,F401,F403  (trig, sort/topk, cumsum, prod, pad, ...)
from .nd_math import METHODS as _MATH_METHODS  # noqa: E402
from .nd_shape import *  # noqa: E402,F401,F403  (diag, slice_like, depth_to_space, ...)
from .nd_optimizer_ops import *  # noqa: E402,F401,F403  (sgd_update, adam_update, ...)
from .nd_shape import METHODS as _SHAPE_METHODS  # noqa: E402
from .nd_amp import *  # noqa: E402,F401,F403  (amp_cast, amp_multicast)
from .nd_indexing import *  # noqa: E402,F401,F403  (batch_take, ravel_multi_index, split_v2, ...)
from .nd_nn_more import *  # noqa: E402,F401,F403  (softmin, LRN, Crop)
from .nd_correlation import Correlation  # noqa: E402,F401  (FlowNet's correlation layer)
from .nd_ctc import *  # noqa: E402,F401,F403  (CTCLoss, ctc_loss)
from .nd_products import *  # noqa: E402,F401,F403  (khatri_rao)
from .nd_roi import *  # noqa: E402,F401,F403  (ROIPooling)
from .random_pdf import *  # noqa: E402,F401,F403  (random_pdf_normal, ...)
from .nd_spatial import *  # noqa: E402,F401,F403  (GridGenerator, BilinearSampler, ...)
from .random_dists import _nd_names  # noqa: E402  (nd.random_gamma, nd.sample_poisson, ...)
globals().update(_nd_names())
from .random_like import FLAT as _RANDOM_LIKE  # noqa: E402  (nd.random_uniform_like, ...)
globals().update(_RANDOM_LIKE)


# ------------------------------------------------------------------ NDArray methods
def _method_reshape(x, *shape, **kwargs):
    if "shape" in kwargs:
        shape = kwargs.pop("shape")
    elif len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return _reshape_view(x, shape, **kwargs)


def _method_transpose(x, *axes, **kwargs):
    if "axes" in kwargs:
        axes = kwargs["axes"]
    elif len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return transpose(x, axes or None)


_METHODS = {name: globals()[name] for name in (
    "sum", "mean", "max", "min", "argmax", "argmin", "norm", "exp", "log", "log1p", "expm1",
    "sqrt", "square", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu", "softmax",
    "log_softmax", "flatten", "expand_dims", "squeeze", "clip", "one_hot", "take", "pick",
    "broadcast_to", "broadcast_like", "broadcast_axis", "zeros_like", "ones_like", "slice_axis",
    "split", "swapaxes", "reciprocal", "floor", "reshape_like", "dot", "flip", "tile",
    "repeat", "ceil", "round", "log2", "log10", "slice", "broadcast_axes", "rsqrt")}
_METHODS.update(_MATH_METHODS)
_METHODS.update(_SHAPE_METHODS)
_METHODS.update(split_v2=split_v2, softmin=softmin)  # noqa: F405  (x.split_v2, x.softmin)


def _method_slice_assign(x, rhs, begin, end, step=()):
    """x.slice_assign(rhs, begin, end, step): rhs (an array or, for slice_assign_scalar, a
    number) written into x's region, in place; x returned (MXNet's fluent methods)."""
    step = tuple(step or ()) + (None,) * (len(begin) - len(step or ()))
    x[tuple(builtins.slice(b, e, s) for b, e, s in zip(begin, end, step))] = rhs
    return x


def _method_tostype(x, stype):
    """x.tostype(stype): a copy in storage type 'default', 'csr' or 'row_sparse'
    (sparse.py). A csr is 2-d: MXNet's method says so with a ValueError."""
    if stype == "csr" and x.ndim != 2:
        raise ValueError(f"tostype: a csr array is 2-d, got an array of shape {x.shape}")
    return sparse.cast_storage(x, stype)


def cast_storage(data, stype):
    """MXNet's cast_storage: `data` as a new array of storage type `stype`."""
    return sparse.cast_storage(data, stype)


def _fresh(op):
    """`op` whose result has its own buffer (_own_buffer): numpy gives reshape, transpose,
    expand_dims, broadcast_to... as views of the operand, but MXNet's operators return new
    arrays, so `y = nd.transpose(x); x += 1` must leave y as it was, and a write into y must
    not reach x. (x.reshape() stays a view, as in MXNet; so does basic slicing.)"""
    def fresh(*args, **kwargs):
        out = op(*args, **kwargs)
        return _own_buffer(out) if isinstance(out, NDArray) else out
    fresh.__name__, fresh.__doc__, fresh.__wrapped__ = op.__name__, op.__doc__, op
    return fresh


_reshape_view = reshape      # (x.reshape(): MXNet's view)
for _name in ("reshape", "transpose", "flatten", "expand_dims", "squeeze", "swapaxes",
              "moveaxis", "broadcast_to", "broadcast_like", "broadcast_axis", "broadcast_axes",
              "reshape_like", "tile", "stop_gradient"):
    _view, globals()[_name] = globals()[_name], _fresh(globals()[_name])
    for _key, _method in list(_METHODS.items()):
        if _method is _view:
            _METHODS[_key] = globals()[_name]
SwapAxis, Flatten, BlockGrad = swapaxes, flatten, stop_gradient
Transpose, ExpandDims = transpose, expand_dims     # (nd_legacy's names, bound before)
del _name, _view


def _shape_method(op):
    """x.flatten() / x.expand_dims(axis) / x.squeeze(axis) with MXNet's `inplace`: True gives
    the result as a reshape of x (a view sharing its memory), False a new array."""
    def method(x, *args, inplace=False, **kwargs):
        out = op(x, *args, **kwargs)
        return x.reshape(out.shape) if inplace else out
    method.__name__ = op.__name__
    return method


_METHODS.update(flatten=_shape_method(_METHODS["flatten"]),
                expand_dims=_shape_method(_METHODS["expand_dims"]),
                squeeze=_shape_method(_METHODS["squeeze"]),
                to_dlpack_for_read=lambda x: to_dlpack_for_read(x),
                to_dlpack_for_write=lambda x: to_dlpack_for_write(x))
_METHODS.update(slice_assign=_method_slice_assign, slice_assign_scalar=lambda x, scalar, begin,
                end, step=(): _method_slice_assign(x, scalar, begin, end, step),
                tostype=_method_tostype)
_METHODS.update(reshape=_method_reshape, transpose=_method_transpose,
                as_np_ndarray=lambda x: _as_np_ndarray(x))
del _method_reshape, _method_transpose


def _as_np_ndarray(x):
    """x.as_np_ndarray(): the same data as an mx.np.ndarray (numpy_api/ndarray.py)."""
    from .numpy_api.ndarray import as_np
    return as_np(x)


from . import contrib  # noqa: E402,F401  (nd.contrib: cond, while_loop, foreach)
from .nd_internal import _internal  # noqa: E402,F401  (nd._internal._plus, ...)
ndarray = sys.modules[__name__]    # mx.nd.ndarray.NDArray, as MXNet 1.x code spells it
py_slice = builtins.slice          # (mxnet.ndarray.ndarray's name for Python's slice)
from .operator import Custom  # noqa: E402,F401  (Python custom operators: operator.py)



# nd functions that are not operators: no `out=` / `name=` to accept
_NOT_OPERATORS = frozenset({"array", "load", "save", "load_arrays", "save_arrays", "waitall",
                            "from_numpy", "from_dlpack", "to_dlpack_for_read", "dtype_name",
                            "to_dlpack_for_write", "normalize_axes", "wrap", "concatenate"})


def _accept_common_keywords_everywhere():
    """Every nd operator takes MXNet's common keywords (`out=`, `name=`, `ctx=`, hints:
    op_kwargs.py), also those written without **kwargs (`nd.elemwise_add(x, y, out=z)`, as
    MXNet's ndarray tutorial writes); the array methods (`x.flip(axis=0, out=y)`) too."""
    import inspect
    from .op_kwargs import accepting_common_keywords
    module = globals()
    for name, f in list(module.items()):
        if name.startswith("_") or name in _NOT_OPERATORS or not inspect.isfunction(f) \
                or not f.__module__.startswith("tracegrad"):
            continue
        params = inspect.signature(f).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            continue
        wrapped = module[name] = accepting_common_keywords(f, f"nd.{name}")
        for key, method in _METHODS.items():
            if method is f:
                _METHODS[key] = wrapped


_accept_common_keywords_everywhere()


def _follow_sparse_storage():
    """The nd functions (and array methods) of operators MXNet keeps sparse storage through
    (sparse_storage.py's table) relabel their result csr / row_sparse, as MXNet returns it."""
    global _SPARSE_TYPES
    from .sparse import BaseSparseNDArray
    from .sparse_storage import ND_FUNCTIONS, following_storage
    _SPARSE_TYPES = BaseSparseNDArray
    module = globals()
    for name in ND_FUNCTIONS:
        f = module.get(name)
        if f is None:
            continue
        inner = getattr(f, "__wrapped__", f)    # (accepting_common_keywords' wrapper)
        key = getattr(inner, "_sparse_key", None)
        if key is not None:
            # (one function under several names, add / broadcast_add: they resolve alike)
            _SPARSE_CALLS.setdefault(key, following_storage(inner, name))
            continue
        wrapped = module[name] = following_storage(f, name)
        for key, method in _METHODS.items():
            if method is f:
                _METHODS[key] = wrapped


_follow_sparse_storage()


_install_fluent_methods(_METHODS)     # (x.sum(), x.exp(): NDArray's methods)
