"""`mx.np` functions: numpy's names and semantics, each a composite of registered ops (array.F)
or of nd functions, so they record, differentiate and compile as nd code does.

Defaults follow MXNet's numpy interface: creation functions make float32 arrays (lists of
ints included, as `mx.np.array([1, 2])`); float functions of int arrays compute in float32;
reductions without an axis give 0-d arrays; argmax/argsort give int64.
"""
import builtins
import math

import numpy as onp

from .. import nd
from ..array import F, NDArray, on_context, wrap
from ..base import MXNetError, MXNetValueError
from ..op_kwargs import write_out
from ..ir.types import dtype_name
from .ndarray import (_BOOL, _F32, _I64, as_np, binary, cast, check_dtype, compare, dtype_of,
                      from_python, ndarray, promote, _transpose)

pi = math.pi
e = math.e
inf = float("inf")
nan = float("nan")
newaxis = None
float32, float64, int32, int64 = onp.float32, onp.float64, onp.int32, onp.int64
bool_ = onp.bool_
float16, int8, uint8 = onp.float16, onp.int8, onp.uint8
dtype = onp.dtype


# ---------------------------------------------------------------------- helpers
def _arr(fname, x):
    """x as an array operand (mx.np / mx.nd arrays as they are, numpy data and Python numbers
    converted with mx.np.array's defaults)."""
    if isinstance(x, NDArray):
        return x
    if isinstance(x, (bool, int, float, list, tuple, onp.ndarray, onp.generic)):
        return as_np(wrap(from_python(fname, x)))
    raise TypeError(f"{fname}: expected an mx.np.ndarray, got {type(x).__name__}")


def _axis(fname, axis, ndim):
    a = int(axis)
    if not -ndim <= a < builtins.max(ndim, 1):
        raise MXNetError(f"{fname}: axis {axis} is out of bounds for an array of dimension "
                         f"{ndim}")
    return a % ndim if ndim else 0


def _axes(fname, axis, ndim):
    """axis (None, an int or a tuple) as a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, onp.integer)) else tuple(axis)
    out = tuple(sorted({_axis(fname, a, ndim) for a in axes}))
    if len(out) != len(axes):
        raise MXNetError(f"{fname}: repeated axis in {axis}")
    return out


def _float(x):
    """x for a float function: int and bool arrays in float32 (MXNet's default float)."""
    return x if dtype_of(x).kind == "f" else F.cast(x, dtype="f32")


def _shape_arg(fname, shape):
    if isinstance(shape, (int, onp.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{fname}: shape must be an int or a tuple of ints, got "
                        f"{shape!r}") from None
    if builtins.any(s < 0 for s in shape):
        raise MXNetError(f"{fname}: negative dimensions are not allowed, got {shape}")
    return shape


def _new(fname, data, ctx):
    return on_context(as_np(wrap(data)), ctx)


# ---------------------------------------------------------------------- creation
def array(object, dtype=None, ctx=None, copy=True):
    """An mx.np.ndarray from a list (float32 unless dtype says otherwise, bools and ints
    included, as MXNet makes it), a numpy or mx.np array (keeping its dtype)."""
    if isinstance(object, NDArray) and not isinstance(object, ndarray):
        raise ValueError("If you're trying to create a mxnet.numpy.ndarray from "
                         "mx.nd.NDArray, please use the zero-copy as_np_ndarray function.")
    return _new("array", from_python("array", object, dtype), ctx)


def genfromtxt(*args, ctx=None, **kwargs):
    """numpy.genfromtxt read into an mx.np array keeping the dtype numpy gives (MXNet's
    wrapper; d2l reads its airfoil data with it)."""
    ret = onp.genfromtxt(*args, **kwargs)
    return array(ret, dtype=ret.dtype, ctx=ctx)


def asarray(a, dtype=None, ctx=None):
    if isinstance(a, ndarray) and (dtype is None or onp.dtype(dtype) == a.dtype):
        return a
    return array(a, dtype, ctx)


def zeros(shape, dtype=None, order="C", ctx=None):
    _c_order("zeros", order)
    return _new("zeros", onp.zeros(_shape_arg("zeros", shape),
                                   check_dtype("zeros", dtype, _F32)), ctx)


def ones(shape, dtype=None, order="C", ctx=None):
    _c_order("ones", order)
    return _new("ones", onp.ones(_shape_arg("ones", shape),
                                 check_dtype("ones", dtype, _F32)), ctx)


empty = zeros


def full(shape, fill_value, dtype=None, order="C", ctx=None, out=None):
    _c_order("full", order)
    if isinstance(fill_value, NDArray):
        dt = check_dtype("full", dtype, dtype_of(fill_value))
        return as_np(F.broadcast_to(cast(fill_value, dt), shape=_shape_arg("full", shape)))
    if dtype is None and isinstance(fill_value, bool):
        dtype = _BOOL
    return _new("full", onp.full(_shape_arg("full", shape), fill_value,
                                 check_dtype("full", dtype, _F32)), ctx)


def _c_order(fname, order):
    """MXNet's np creation functions hold C order only (NotImplementedError otherwise)."""
    if order not in ("C", None):
        raise NotImplementedError(f"np.{fname}: only order='C' is supported, got {order!r}")


def _like(fname, a, value, dtype, order):
    _c_order(fname, order)
    a = _arr(fname, a)
    return _new(fname, onp.full(a.shape, value, check_dtype(fname, dtype, dtype_of(a))), None)


def zeros_like(a, dtype=None, order="C", ctx=None, out=None):
    return _like("zeros_like", a, 0, dtype, order)


def ones_like(a, dtype=None, order="C", ctx=None, out=None):
    return _like("ones_like", a, 1, dtype, order)


def full_like(a, fill_value, dtype=None, order="C", ctx=None, out=None):
    return _like("full_like", a, fill_value, dtype, order)


def empty_like(prototype, dtype=None, order="C", subok=False, shape=None):
    """An array shaped and typed as prototype (zero-filled: its values are unspecified).
    MXNet takes numpy's subok / shape but holds neither (NotImplementedError if set)."""
    if subok:
        raise NotImplementedError("np.empty_like: subok=True (an array sub-class) is not "
                                  "supported")
    if shape is not None:
        raise NotImplementedError(f"np.empty_like: a new shape ({shape}) is not supported")
    return _like("empty_like", prototype, 0, dtype, order)


def arange(start, stop=None, step=1, dtype=None, ctx=None):
    """Evenly spaced values in [start, stop) (float32 unless dtype says otherwise)."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise MXNetError("arange: step must not be zero")
    dt = check_dtype("arange", dtype, _F32)
    return _new("arange", onp.arange(start, stop, step).astype(dt), ctx)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, ctx=None):
    """num evenly spaced values over [start, stop]; an int dtype truncates them (MXNet's cast,
    numpy < 2's)."""
    if not isinstance(num, (int, onp.integer)) or isinstance(num, bool):
        raise MXNetError(f"linspace: num must be an integer, got {num!r}")
    if int(num) < 0:
        raise MXNetError(f"linspace: number of samples, {num}, must be non-negative")
    dt = check_dtype("linspace", dtype, _F32)
    vals, step = onp.linspace(start, stop, int(num), endpoint=endpoint, retstep=True)
    out = _new("linspace", vals.astype(dt), ctx)
    return (out, step) if retstep else out


def eye(N, M=None, k=0, dtype=None, ctx=None):
    """A 2-d array with ones on the k-th diagonal; a negative N or M is an MXNetError (as
    MXNet's shape check), not numpy's ValueError."""
    n, m = _shape_arg("eye", (N, N if M is None else M))
    return _new("eye", onp.eye(n, m, int(k), dtype=check_dtype("eye", dtype, _F32)), ctx)


def identity(n, dtype=None, ctx=None):
    return eye(n, dtype=dtype, ctx=ctx)


def copy(a):
    return _arr("copy", a).copy()


def shape(a):
    return _arr("shape", a).shape


def size(a, axis=None):
    a = _arr("size", a)
    return a.size if axis is None else a.shape[_axis("size", axis, a.ndim)]


def ndim(a):
    return _arr("ndim", a).ndim


# ---------------------------------------------------------------------- element-wise
def _check_ufunc_kwargs(fname, kwargs):
    """numpy's ufunc keywords checked as MXNet's wrappers check them (functions_more)."""
    from .functions_more import _ufunc_kwargs
    _ufunc_kwargs(fname, kwargs)


def _unary(name, opname=None, floats=True, bool_out=False):
    op = getattr(F, opname or name)

    def fn(x, out=None, **kwargs):
        if kwargs:     # (numpy's ufunc keywords: checked only when given)
            _check_ufunc_kwargs(name, kwargs)
        x = _arr(name, x)
        return as_np(op(_float(x) if floats else x))
    fn.__name__ = name
    fn.__doc__ = f"numpy's {name}, element-wise (int arrays computed in float32)." \
        if floats else f"numpy's {name}, element-wise."
    return fn


exp = _unary("exp")
expm1 = _unary("expm1")
log = _unary("log")
log1p = _unary("log1p")
sqrt = _unary("sqrt")
sin, cos, tan = _unary("sin"), _unary("cos"), _unary("tan")
sinh, cosh, tanh = _unary("sinh"), _unary("cosh"), _unary("tanh")
arcsin, arccos, arctan = _unary("arcsin"), _unary("arccos"), _unary("arctan")
arcsinh, arccosh, arctanh = _unary("arcsinh"), _unary("arccosh"), _unary("arctanh")
abs = absolute = _unary("abs", floats=False)
negative = _unary("negative", "neg", floats=False)
sign = _unary("sign", floats=False)


def log2(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("log2", kwargs)
    return as_np(F.log2(_float(_arr("log2", x))))


def log10(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("log10", kwargs)
    return as_np(F.log10(_float(_arr("log10", x))))


def square(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("square", kwargs)
    x = _arr("square", x)
    return as_np(F.mul(x, x))


def reciprocal(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("reciprocal", kwargs)
    return as_np(F.div(1.0, _float(_arr("reciprocal", x))))


def _rounding(name, fn):
    def wrapper(x, out=None, **kwargs):
        if kwargs:     # (numpy's ufunc keywords: checked only when given)
            _check_ufunc_kwargs(name, kwargs)
        x = _arr(name, x)
        if dtype_of(x).kind != "f":
            return as_np(x).copy()
        return as_np(fn(x))
    wrapper.__name__ = name
    return wrapper


def _rint_even(x):
    """Round half to even (numpy's rint; MXNet's nd.rint rounds halves down): floor(x + 0.5),
    less one where x sat exactly halfway and that gave an odd number."""
    r = F.floor(F.add(x, 0.5))
    tie_odd = F.logical_not(F.logical_not(F.minimum(F.eq(F.sub(r, x), 0.5),
                                                    F.eq(F.mod(r, 2.0), 1.0))))
    return F.sub(r, F.cast(tie_odd, dtype=x.type.dtype))


floor = _rounding("floor", F.floor)
ceil = _rounding("ceil", lambda x: F.neg(F.floor(F.neg(x))))
trunc = fix = _rounding("trunc", nd.trunc)
rint = _rounding("rint", _rint_even)


def around(x, decimals=0, out=None, **kwargs):
    """Round half to even, as numpy (decimals > 0 scales by 10**decimals first)."""
    x = _arr("around", x)
    decimals = int(decimals)
    if dtype_of(x).kind != "f":
        if decimals >= 0 or dtype_of(x) == _BOOL:
            return as_np(x).copy()
        # to a multiple of 10**-decimals, half to even, keeping the int dtype (numpy's)
        return cast(around(F.cast(x, dtype="f64"), decimals), dtype_of(x))
    if decimals == 0:
        return as_np(_rint_even(x))
    if decimals < 0:   # divide by the exact 10**-decimals (its reciprocal is inexact)
        scale = 10.0 ** -decimals
        return as_np(F.mul(_rint_even(F.div(x, scale)), scale))
    scale = 10.0 ** decimals
    return as_np(F.div(_rint_even(F.mul(x, scale)), scale))


round = round_ = around


def isnan(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("isnan", kwargs)
    x = _arr("isnan", x)
    return as_np(F.ne(x, x)) if dtype_of(x).kind == "f" else \
        _like("isnan", x, False, _BOOL, "C")


def isinf(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("isinf", kwargs)
    x = _arr("isinf", x)
    return as_np(F.eq(F.abs(x), inf)) if dtype_of(x).kind == "f" else \
        _like("isinf", x, False, _BOOL, "C")


def isfinite(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("isfinite", kwargs)
    x = _arr("isfinite", x)
    return as_np(F.lt(F.abs(x), inf)) if dtype_of(x).kind == "f" else \
        _like("isfinite", x, True, _BOOL, "C")


def _binary(name):
    def fn(x1, x2, out=None, **kwargs):
        if kwargs:     # (numpy's ufunc keywords: checked only when given)
            _check_ufunc_kwargs(name, kwargs)
        return binary(name, x1, x2)
    fn.__name__ = name
    fn.__doc__ = f"numpy's {name} with broadcasting and MXNet numpy's type promotion."
    return fn


add, subtract, multiply = _binary("add"), _binary("subtract"), _binary("multiply")
divide = true_divide = _binary("true_divide")
floor_divide = _binary("floor_divide")
mod = remainder = _binary("mod")
power = _binary("power")
maximum, minimum = _binary("maximum"), _binary("minimum")


def _comparison(name, op):
    def fn(x1, x2, out=None, **kwargs):
        if kwargs:     # (numpy's ufunc keywords: checked only when given)
            _check_ufunc_kwargs(name, kwargs)
        return compare(op, x1, x2)
    fn.__name__ = name
    return fn


equal, not_equal = _comparison("equal", "eq"), _comparison("not_equal", "ne")
less, less_equal = _comparison("less", "lt"), _comparison("less_equal", "le")
greater, greater_equal = _comparison("greater", "gt"), _comparison("greater_equal", "ge")


def _as_bool(fname, x):
    x = _arr(fname, x)
    return x if dtype_of(x) == _BOOL else F.ne(x, 0)


def logical_not(x, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("logical_not", kwargs)
    return as_np(F.logical_not(_as_bool("logical_not", x)))


def logical_and(x1, x2, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("logical_and", kwargs)
    return as_np(F.minimum(_as_bool("logical_and", x1), _as_bool("logical_and", x2)))


def logical_or(x1, x2, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("logical_or", kwargs)
    return as_np(F.maximum(_as_bool("logical_or", x1), _as_bool("logical_or", x2)))


def logical_xor(x1, x2, out=None, **kwargs):
    if kwargs:     # (numpy's ufunc keywords: checked only when given)
        _check_ufunc_kwargs("logical_xor", kwargs)
    return as_np(F.ne(_as_bool("logical_xor", x1), _as_bool("logical_xor", x2)))


def clip(a, a_min, a_max, out=None):
    """Limit values to [a_min, a_max] (either may be None, not both)."""
    if a_min is None and a_max is None:
        raise MXNetError("clip: a_min and a_max cannot both be None")
    out = _arr("clip", a)
    if out.dtype.kind in "iu":   # a bound past the integer dtype's range clips nothing
        info = onp.iinfo(out.dtype)
        a_min, a_max = (builtins.min(builtins.max(v, info.min), info.max)
                        if isinstance(v, (int, onp.integer)) else v for v in (a_min, a_max))
    if a_min is not None:
        out = binary("maximum", out, a_min)
    if a_max is not None:
        out = binary("minimum", out, a_max)
    return as_np(out)


# ---------------------------------------------------------------------- reductions
def _reduce(fname, op, a, axis, keepdims):
    a = _arr(fname, a)
    axes = _axes(fname, axis, a.ndim)
    if not axes:
        return as_np(a)
    return as_np(getattr(F, op)(a, axes=axes, keepdims=bool(keepdims)))


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """The sum; float input is summed in its own precision (float16 in float32) and only the
    result cast to a narrower or int dtype, as MXNet's accumulating kernel does."""
    a = _arr("sum", a)
    want = None if dtype is None else check_dtype("sum", dtype)
    if dtype_of(a).kind == "f" and want is not None and (
            want.kind != "f" or want.itemsize < dtype_of(a).itemsize):
        return cast(sum(a, axis, None, None, keepdims), want)
    if want is not None:
        a = cast(a, want)
    elif dtype_of(a) == _BOOL:
        a = cast(a, _I64)
    if dtype_of(a) == onp.float16:
        return cast(_reduce("sum", "sum", cast(a, _F32), axis, keepdims), onp.float16)
    return _reduce("sum", "sum", a, axis, keepdims)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    a = _arr("prod", a)
    if dtype is not None:
        a = cast(a, check_dtype("prod", dtype))
    elif dtype_of(a) == _BOOL:
        a = cast(a, _I64)
    return _reduce("prod", "prod", a, axis, keepdims)


def _count(a, axes):
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    return n


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """The mean (int arrays averaged in float32, MXNet's default float); a float array's mean
    to a narrower or int dtype is taken first and then cast, as MXNet's."""
    a = _arr("mean", a)
    want = None if dtype is None else check_dtype("mean", dtype)
    if dtype_of(a).kind == "f" and want is not None and (
            want.kind != "f" or want.itemsize < dtype_of(a).itemsize):
        return cast(mean(a, axis, None, None, keepdims), want)
    a = cast(a, want) if want is not None else _float(a)
    axes = _axes("mean", axis, a.ndim)
    if not axes:
        return as_np(a)
    if dtype_of(a) == onp.float16:   # summed and divided in float32, then rounded (MXNet's)
        return cast(mean(cast(a, _F32), axis, None, None, keepdims), onp.float16)
    if dtype_of(a).kind in "iu":     # an int dtype: the sum divided, truncated to it (MXNet's)
        total = F.cast(F.sum(a, axes=axes, keepdims=bool(keepdims)), dtype="f64")
        return cast(as_np(F.div(total, float(_count(a, axes)))), dtype_of(a))
    return as_np(F.div(F.sum(a, axes=axes, keepdims=bool(keepdims)), float(_count(a, axes))))


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    a = _arr("var", a)
    a = cast(a, check_dtype("var", dtype)) if dtype is not None else _float(a)
    axes = _axes("var", axis, a.ndim)
    if not axes:    # each element its own sample of one: 0 / (1 - ddof), nan for ddof=1
        return as_np(F.div(F.mul(a, 0.0), float(builtins.max(1 - ddof, 0))))
    m = F.div(F.sum(a, axes=axes, keepdims=True), float(_count(a, axes)))
    d = F.sub(a, m)
    return as_np(F.div(F.sum(F.mul(d, d), axes=axes, keepdims=bool(keepdims)),
                       float(builtins.max(_count(a, axes) - ddof, 0))))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return as_np(F.sqrt(var(a, axis, dtype, None, ddof, keepdims)))


def max(a, axis=None, out=None, keepdims=False):
    a = _arr("max", a)
    if a.size == 0:
        raise MXNetError("max: zero-size array to reduction operation maximum which has no "
                         "identity")
    return _reduce("max", "max", a, axis, keepdims)


def min(a, axis=None, out=None, keepdims=False):
    a = _arr("min", a)
    if a.size == 0:
        raise MXNetError("min: zero-size array to reduction operation minimum which has no "
                         "identity")
    return _reduce("min", "min", a, axis, keepdims)


amax, amin = max, min


def _arg(fname, a, axis, keepdims, neg):
    a = _arr(fname, a)
    if a.size == 0 and (axis is None or a.shape[_axis(fname, axis, a.ndim)] == 0):
        # (along a non-empty axis a zero-size array gives an empty result, as numpy's)
        raise MXNetError(f"{fname}: attempt to get {fname} of an empty sequence")
    if neg:
        a = nd._reversed_order(a)    # (no wrap-around of unsigned or minimum integers)
    if axis is None:
        a = F.reshape(a, shape=(a.size,))
        out = F.argmax(a, axis=0, keepdims=False)
        if keepdims:
            raise MXNetError(f"{fname}: keepdims needs an axis")
    elif a.ndim == 0 and axis in (0, -1):   # numpy's 0-d pseudo-axis: index 0
        out = F.argmax(F.reshape(a, shape=(1,)), axis=0, keepdims=False)
        if keepdims:
            out = F.reshape(out, shape=())
    else:
        out = F.argmax(a, axis=_axis(fname, axis, a.ndim), keepdims=bool(keepdims))
    return as_np(out if dtype_of(out) == _I64 else F.cast(out, dtype="i64"))


def argmax(a, axis=None, out=None, keepdims=False):
    return _arg("argmax", a, axis, keepdims, False)


def argmin(a, axis=None, out=None, keepdims=False):
    return _arg("argmin", a, axis, keepdims, True)


def all(a, axis=None, out=None, keepdims=False):
    """Counts the False elements (a sum has an identity: a zero-size axis gives True, as
    numpy's; min over it has none)."""
    b = F.cast(F.logical_not(_as_bool("all", a)), dtype="i64")
    return as_np(F.eq(_reduce("all", "sum", b, axis, keepdims), 0))


def any(a, axis=None, out=None, keepdims=False):
    """Counts the True elements, so a zero-size axis gives False, as numpy's."""
    b = F.cast(_as_bool("any", a), dtype="i64")
    return as_np(F.ne(_reduce("any", "sum", b, axis, keepdims), 0))


def cumsum(a, axis=None, dtype=None, out=None):
    a = _arr("cumsum", a)
    if dtype is not None:
        a = cast(a, check_dtype("cumsum", dtype))
    elif dtype_of(a) == _BOOL:
        a = cast(a, _I64)
    if axis is None:
        a, axis = F.reshape(a, shape=(a.size,)), 0
    return as_np(F.cumsum(a, axis=_axis("cumsum", axis, a.ndim)))


# ---------------------------------------------------------------------- products
def _common(fname, a, b):
    a, b = _arr(fname, a), _arr(fname, b)
    dt = promote(fname, a, b)
    return cast(a, dt) if dtype_of(a) != dt else a, cast(b, dt) if dtype_of(b) != dt \
        else b, dt


def _matmul_floats(fname, a, b, fn):
    """fn(a, b) in floating point: int operands computed in float64, cast back (exact while
    the products stay below 2**53)."""
    a, b, dt = _common(fname, a, b)
    if dt.kind == "f":
        return as_np(fn(a, b))
    out = fn(F.cast(a, dtype="f64"), F.cast(b, dtype="f64"))
    return as_np(F.cast(out, dtype=dtype_name(dt if dt != _BOOL else _I64)))


def _check_k(fname, ka, kb, sa, sb):
    if ka != kb:
        raise MXNetError(f"{fname}: shapes {sa} and {sb} not aligned: {ka} (last axis of the "
                         f"first) != {kb}")


def matmul(a, b, out=None):
    """numpy's matmul: 1-d operands promoted to matrices, batch axes broadcast."""
    def fn(x, y):
        sx, sy = x.shape, y.shape
        if not x.ndim or not y.ndim:
            raise MXNetError(f"matmul: operands cannot be 0-d (shapes {sx} and {sy})")
        x2 = F.reshape(x, shape=(1,) + sx) if x.ndim == 1 else x
        y2 = F.reshape(y, shape=sy + (1,)) if y.ndim == 1 else y
        _check_k("matmul", x2.shape[-1], y2.shape[-2], sx, sy)
        try:
            batch = onp.broadcast_shapes(x2.shape[:-2], y2.shape[:-2])
        except ValueError:
            raise MXNetError(f"matmul: batch shapes of {sx} and {sy} do not broadcast") \
                from None
        if x2.shape[:-2] != batch:
            x2 = F.broadcast_to(F.reshape(x2, shape=(1,) * (len(batch) + 2 - x2.ndim)
                                          + x2.shape), shape=batch + x2.shape[-2:])
        if y2.shape[:-2] != batch:
            y2 = F.broadcast_to(F.reshape(y2, shape=(1,) * (len(batch) + 2 - y2.ndim)
                                          + y2.shape), shape=batch + y2.shape[-2:])
        res = F.matmul(x2, y2)
        shape = batch + (sx[-2:-1] if x.ndim > 1 else ()) + (sy[-1:] if y.ndim > 1 else ())
        return F.reshape(res, shape=shape) if res.shape != shape else res
    return _matmul_floats("matmul", a, b, fn)


def dot(a, b, out=None):
    """numpy's dot: a product over the last axis of a and the second-to-last of b."""
    def fn(x, y):
        sx, sy = x.shape, y.shape
        if not x.ndim or not y.ndim:
            return F.mul(x, y)
        k = sx[-1]
        _check_k("dot", k, sy[-2] if y.ndim > 1 else sy[0], sx, sy)
        x2 = F.reshape(x, shape=(x.size // k if k else int(onp.prod(sx[:-1])), k))
        if y.ndim == 1:
            y2, rest = F.reshape(y, shape=(k, 1)), ()
        else:
            n = y.ndim
            if n > 2:
                y = F.transpose(y, perm=(n - 2,) + tuple(range(n - 2)) + (n - 1,))
            rest = sy[:-2] + (sy[-1],)
            y2 = F.reshape(y, shape=(k, int(onp.prod(rest))))
        return F.reshape(F.matmul(x2, y2), shape=sx[:-1] + rest)
    return _matmul_floats("dot", a, b, fn)


def inner(a, b):
    a, b = _arr("inner", a), _arr("inner", b)
    if not a.ndim or not b.ndim:
        return multiply(a, b)
    return dot(a, swapaxes(b, -1, 0) if b.ndim > 1 else b) if b.ndim <= 2 else \
        tensordot(a, b, axes=([-1], [-1]))


def vdot(a, b):
    return dot(ravel(a), ravel(b))


def outer(a, b, out=None):
    a, b = ravel(a), ravel(b)
    return binary("multiply", reshape(a, (-1, 1)), reshape(b, (1, -1)))


def tensordot(a, b, axes=2):
    """Sum products over the given axes of a and b (numpy's tensordot)."""
    a, b = _arr("tensordot", a), _arr("tensordot", b)
    if isinstance(axes, (int, onp.integer)):
        n = int(axes)
        ax_a, ax_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, onp.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, onp.integer)) else list(ax_b)
    if len(ax_a) != len(ax_b):
        raise MXNetError("tensordot: shape-mismatch for sum (axes lists differ in length)")
    ax_a = [_axis("tensordot", x, a.ndim) for x in ax_a]
    ax_b = [_axis("tensordot", x, b.ndim) for x in ax_b]
    for i, j in zip(ax_a, ax_b):
        if a.shape[i] != b.shape[j]:
            raise MXNetError(f"tensordot: shape-mismatch for sum: axis {i} of {a.shape} and "
                             f"axis {j} of {b.shape}")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [j for j in range(b.ndim) if j not in ax_b]
    k = int(onp.prod([a.shape[i] for i in ax_a]))
    m = int(onp.prod([a.shape[i] for i in free_a]))     # (sizes, not -1: a size may be 0)
    n = int(onp.prod([b.shape[j] for j in free_b]))
    at = reshape(transpose(a, free_a + ax_a), (m, k))
    bt = reshape(transpose(b, ax_b + free_b), (k, n))
    return reshape(matmul(at, bt), tuple(a.shape[i] for i in free_a) +
                   tuple(b.shape[j] for j in free_b))


# ---------------------------------------------------------------------- shapes
def reshape(a, newshape, order="C"):
    """numpy's reshape: one -1 may be inferred; MXNet's other codes are npx.reshape's."""
    a = _arr("reshape", a)
    if order != "C":
        raise MXNetError(f"reshape: only order='C' is supported, got {order!r}")
    shape = (newshape,) if isinstance(newshape, (int, onp.integer)) else tuple(
        int(s) for s in newshape)
    if builtins.sum(s == -1 for s in shape) > 1:
        raise MXNetError(f"reshape: can only specify one unknown dimension, got {shape}")
    if builtins.any(s < -1 for s in shape):
        raise MXNetError(f"reshape: invalid dimension in {shape} (use npx.reshape for MXNet's "
                         f"special codes)")
    known = int(onp.prod([s for s in shape if s != -1]))
    if -1 in shape:
        if known == 0 or a.size % known:
            raise MXNetError(f"reshape: cannot reshape array of size {a.size} into shape "
                             f"{shape}")
        shape = tuple(a.size // known if s == -1 else s for s in shape)
    elif known != a.size:
        raise MXNetError(f"reshape: cannot reshape array of size {a.size} into shape {shape}")
    return as_np(F.reshape(a, shape=shape) if shape != a.shape else a)


def ravel(x, order="C"):
    x = _arr("ravel", x)
    return reshape(x, (-1,))


def transpose(a, axes=None):
    return _transpose(_arr("transpose", a), axes)


def swapaxes(a, axis1, axis2):
    a = _arr("swapaxes", a)
    i, j = _axis("swapaxes", axis1, a.ndim), _axis("swapaxes", axis2, a.ndim)
    perm = list(range(a.ndim))
    perm[i], perm[j] = perm[j], perm[i]
    return _transpose(a, perm)


def moveaxis(a, source, destination):
    """Axes source moved to positions destination (ints or equal-length sequences, numpy's);
    the other axes keep their order."""
    a = _arr("moveaxis", a)

    def listed(name, axes):
        axes = [axes] if isinstance(axes, (int, onp.integer)) else list(axes)
        out = [_axis("moveaxis", x, a.ndim) for x in axes]
        if len(set(out)) != len(out):
            raise MXNetError(f"moveaxis: repeated axis in `{name}` argument: {axes}")
        return out
    src, dst = listed("source", source), listed("destination", destination)
    if len(src) != len(dst):
        raise MXNetError(f"moveaxis: `source` {source} and `destination` {destination} must "
                         f"have the same number of elements")
    perm = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return _transpose(a, perm)


def expand_dims(a, axis):
    a = _arr("expand_dims", a)
    ax = _axis("expand_dims", axis, a.ndim + 1)
    return as_np(F.reshape(a, shape=a.shape[:ax] + (1,) + a.shape[ax:]))


def squeeze(a, axis=None):
    a = _arr("squeeze", a)
    if axis is None:
        axes = [i for i, d in enumerate(a.shape) if d == 1]
    elif a.ndim == 0 and axis in (0, -1, (0,), (-1,)):
        axes = []    # numpy lets a 0-d array name its one pseudo-axis either way
    else:
        axes = _axes("squeeze", axis, a.ndim)
        for i in axes:
            if a.shape[i] != 1:
                raise MXNetError(f"squeeze: cannot select an axis to squeeze out which has "
                                 f"size not equal to one (axis {i} of shape {a.shape})")
    return reshape(a, tuple(d for i, d in enumerate(a.shape) if i not in axes))


def broadcast_to(array, shape):
    """array broadcast to shape; a -2 in shape keeps the input's size there (aligned from the
    right: MXNet's extension, as npx shapes use it)."""
    a = _arr("broadcast_to", array)
    if not isinstance(shape, (int, onp.integer)):
        shape = list(shape)
        for i in range(len(shape)):
            j = i - len(shape) + a.ndim
            if j >= 0 and shape[i] == -2:
                shape[i] = a.shape[j]
    shape = _shape_arg("broadcast_to", shape)
    try:
        if onp.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise MXNetError(f"broadcast_to: cannot broadcast an array of shape {a.shape} to "
                         f"{shape}") from None
    if a.shape == shape:
        return as_np(a)
    if a.ndim < len(shape):
        a = F.reshape(a, shape=(1,) * (len(shape) - a.ndim) + a.shape)
    return as_np(F.broadcast_to(a, shape=shape))


def broadcast_arrays(*args):
    arrs = [_arr("broadcast_arrays", a) for a in args]
    try:
        shape = onp.broadcast_shapes(*(a.shape for a in arrs))
    except ValueError:
        raise MXNetError(f"broadcast_arrays: shapes {[a.shape for a in arrs]} do not "
                         f"broadcast") from None
    return [broadcast_to(a, shape) for a in arrs]


def _same_dtype(fname, arrays):
    arrays = [_arr(fname, a) for a in arrays]
    if not arrays:
        raise MXNetError(f"{fname}: need at least one array")
    dt = dtype_of(arrays[0])
    for a in arrays[1:]:
        dt = promote(fname, wrap(onp.zeros(0, dt)), a)
    return [cast(a, dt) if dtype_of(a) != dt else a for a in arrays]


def concatenate(seq, axis=0, out=None):
    arrays = _same_dtype("concatenate", list(seq))
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd0 = arrays[0].ndim
    if nd0 == 0:
        raise MXNetError("concatenate: zero-dimensional arrays cannot be concatenated")
    ax = _axis("concatenate", axis, nd0)
    for a in arrays:
        if a.ndim != nd0 or a.shape[:ax] + a.shape[ax + 1:] != \
                arrays[0].shape[:ax] + arrays[0].shape[ax + 1:]:
            raise MXNetError(f"concatenate: all the input array dimensions except for the "
                             f"concatenation axis must match exactly, got "
                             f"{[x.shape for x in arrays]} on axis {axis}")
    if len(arrays) == 1:
        return as_np(arrays[0]).copy()
    return as_np(F.concat(*arrays, axis=ax))


def stack(arrays, axis=0, out=None):
    arrays = _same_dtype("stack", list(arrays))
    if builtins.any(a.shape != arrays[0].shape for a in arrays):
        raise MXNetError(f"stack: all input arrays must have the same shape, got "
                         f"{[a.shape for a in arrays]}")
    ax = _axis("stack", axis, arrays[0].ndim + 1)
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax)


def vstack(tup, out=None):
    arrs = [_arr("vstack", a) for a in tup]
    return concatenate([reshape(a, (1, -1)) if a.ndim < 2 else a for a in arrs], axis=0)


def hstack(tup):
    """Arrays joined along their second axis, 1-d (and 0-d, taken as 1-d) along the first."""
    arrs = [_arr("hstack", a) for a in tup]
    arrs = [reshape(a, (1,)) if a.ndim == 0 else a for a in arrs]
    return concatenate(arrs, axis=0 if arrs and arrs[0].ndim == 1 else 1)


def _slice_axis(a, ax, lo, hi):
    begin = [0] * a.ndim
    end = list(a.shape)
    begin[ax], end[ax] = lo, hi
    return as_np(F.slice(a, begin=tuple(begin), end=tuple(end), step=(1,) * a.ndim))


def split(ary, indices_or_sections, axis=0):
    """Split into equal sections (an int that must divide the axis) or at the given indices."""
    a = _arr("split", ary)
    ax = _axis("split", axis, a.ndim)
    n = a.shape[ax]
    if isinstance(indices_or_sections, (int, onp.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise MXNetValueError(f"split: array split does not result in an equal division "
                                  f"({n} elements on axis {ax} into {k} sections)")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        idx = [builtins.min(builtins.max(int(i) + (n if int(i) < 0 else 0), 0), n)
               for i in indices_or_sections]
        bounds = [0] + idx + [n]
    return [_slice_axis(a, ax, lo, builtins.max(lo, hi)) for lo, hi in
            zip(bounds[:-1], bounds[1:])]


def array_split(ary, indices_or_sections, axis=0):
    a = _arr("array_split", ary)
    if isinstance(indices_or_sections, (int, onp.integer)):
        n, k = a.shape[_axis("array_split", axis, a.ndim)], int(indices_or_sections)
        if k <= 0:
            raise MXNetError("array_split: number sections must be larger than 0")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        return split(a, list(onp.cumsum(sizes)[:-1]), axis)
    return split(a, indices_or_sections, axis)


def tile(A, reps):
    a = _arr("tile", A)
    reps = (int(reps),) if isinstance(reps, (int, onp.integer)) else tuple(int(r) for r in reps)
    if not reps:
        return as_np(a).copy()
    return as_np(nd.tile(a, reps))


def repeat(a, repeats, axis=None):
    a = _arr("repeat", a)
    if not isinstance(repeats, (int, onp.integer)):
        raise MXNetError("repeat: repeats must be an int (array repeats are not supported)")
    if axis is None:
        a, axis = ravel(a), 0
    return as_np(nd.repeat(a, int(repeats), axis=_axis("repeat", axis, a.ndim)))


def flip(m, axis=None):
    m = _arr("flip", m)
    out = m
    for ax in _axes("flip", axis, m.ndim):
        out = nd.flip(out, ax)
    return as_np(out) if out is not m else as_np(m).copy()


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def diag(v, k=0):
    v = _arr("diag", v)
    if v.ndim not in (1, 2):
        raise MXNetError(f"diag: input must be 1-d or 2-d, got shape {v.shape}")
    if v.ndim == 2:    # (a k past the matrix is an empty diagonal, as numpy's)
        return diagonal(v, int(k))
    return as_np(nd.diag(v, k=int(k)))


def where(condition, x=None, y=None):
    """Elements of x where condition holds, else of y (broadcast); where(c) is nonzero(c)."""
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise MXNetError("where: either both or neither of x and y should be given")
    c = _as_bool("where", condition)
    x, y = _operand_for_where(x, y)
    try:
        shape = onp.broadcast_shapes(c.shape, x.shape, y.shape)
    except ValueError:
        raise MXNetError(f"where: shapes {c.shape}, {x.shape} and {y.shape} do not "
                         f"broadcast") from None
    c, x, y = (broadcast_to(t, shape) for t in (c, x, y))
    return as_np(F.where(c, x, y))


def _operand_for_where(x, y):
    xs = x if isinstance(x, NDArray) else None
    ys = y if isinstance(y, NDArray) else None
    if xs is None and ys is None:
        x = _arr("where", x)
    dt = promote("where", x if isinstance(x, NDArray) else x, y if isinstance(y, NDArray) else y)
    x = cast(x, dt) if isinstance(x, NDArray) and dtype_of(x) != dt else x
    y = cast(y, dt) if isinstance(y, NDArray) and dtype_of(y) != dt else y
    if not isinstance(x, NDArray):
        x = as_np(wrap(onp.asarray(x, dtype=dt)))
    if not isinstance(y, NDArray):
        y = as_np(wrap(onp.asarray(y, dtype=dt)))
    return x, y


def meshgrid(*xi, indexing="xy", sparse=False, copy=True):
    if indexing not in ("xy", "ij"):
        raise MXNetError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrs = [ravel(_arr("meshgrid", x)) for x in xi]
    n = len(arrs)
    shapes = [a.shape[0] for a in arrs]
    if indexing == "xy" and n >= 2:
        shapes[0], shapes[1] = shapes[1], shapes[0]
    out = []
    for i, a in enumerate(arrs):
        pos = i
        if indexing == "xy" and n >= 2 and i < 2:
            pos = 1 - i
        shape = [1] * n
        shape[pos] = a.shape[0]
        r = reshape(a, tuple(shape))
        out.append(r if sparse else broadcast_to(r, tuple(shapes)))
    return out


def sort(a, axis=-1, kind=None, order=None):
    a = _arr("sort", a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _axis("sort", axis, a.ndim)
    idx = F.argsort(a, axis=ax, is_ascend=True)
    return as_np(F.take_along_axis(a, idx, axis=ax))


def argsort(a, axis=-1, kind=None, order=None):
    a = _arr("argsort", a)
    if axis is None:
        a, axis = ravel(a), 0
    out = F.argsort(a, axis=_axis("argsort", axis, a.ndim), is_ascend=True)
    return as_np(out if dtype_of(out) == _I64 else F.cast(out, dtype="i64"))


def nonzero(a):
    """The indices of non-zero elements, one int64 array per axis (reads the values: eager,
    a guard inside a trace)."""
    a = _arr("nonzero", a)
    a._concretize("nonzero()")
    return tuple(as_np(wrap(i.astype(onp.int64))) for i in onp.nonzero(a._data))


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """numpy's unique on the array's values (reads them: eager, a guard inside a trace; the
    result is not differentiated)."""
    a = _arr("unique", ar)
    a._concretize("unique()")
    res = onp.unique(a._data, return_index, return_inverse, return_counts, axis)
    if not isinstance(res, tuple):
        return as_np(wrap(res))
    return tuple(as_np(wrap(r if i == 0 else r.astype(onp.int64))) for i, r in enumerate(res))


def take(a, indices, axis=None, mode="raise", out=None):
    a = _arr("take", a)
    idx = _arr("take", indices) if not isinstance(indices, (int, onp.integer)) else indices
    if axis is None:
        a, axis = ravel(a), 0
    ax = _axis("take", axis, a.ndim)
    n = a.shape[ax]
    if isinstance(idx, NDArray):
        if dtype_of(idx).kind == "f":
            idx = F.cast(idx, dtype="i64")
        if mode == "raise":
            idx._concretize("take(mode='raise')")
            if idx.size and (idx._data.max() >= n or idx._data.min() < -n):
                raise IndexError(f"take: index out of bounds for axis {ax} with size {n}")
        if mode == "wrap":
            idx = F.mod(idx, n)
        elif mode == "clip":
            idx = F.minimum(F.maximum(idx, 0), n - 1)
        else:
            idx = F.where(F.lt(idx, 0), F.add(idx, n), idx)
        return as_np(F.take(a, idx, axis=ax))
    i = int(idx)
    if not -n <= i < n:
        raise IndexError(f"take: index {i} is out of bounds for axis {ax} with size {n}")
    return squeeze(_slice_axis(a, ax, i % n, i % n + 1), ax)


def trace(a, offset=0, axis1=0, axis2=1):
    a = _arr("trace", a)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _arr("diagonal", a)
    i, j = _axis("diagonal", axis1, a.ndim), _axis("diagonal", axis2, a.ndim)
    rest = [x for x in range(a.ndim) if x not in (i, j)]
    t = transpose(a, rest + [i, j])
    n, m = t.shape[-2:]
    rows = onp.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    # (an empty diagonal is an empty gather too: its result stays in the recorded graph, so a
    # trace of it differentiates to zeros, as MXNet's)
    pos = rows * m + rows + offset
    flat = reshape(t, t.shape[:-2] + (n * m,))
    return as_np(F.take(flat, wrap(pos.astype(onp.int64)), axis=flat.ndim - 1))


# ---------------------------------------------------------------------- array methods
def _method_reshape(a, *shape, **kwargs):
    if "newshape" in kwargs:
        shape = kwargs.pop("newshape")
    elif "shape" in kwargs:
        shape = kwargs.pop("shape")
    elif len(shape) == 1:
        shape = shape[0]
    return reshape(a, shape, **kwargs)


def _method_transpose(a, *axes):
    if len(axes) == 1 and not isinstance(axes[0], (int, onp.integer)):
        axes = axes[0]
    return transpose(a, tuple(axes) if axes else None)


def _flatten(a, order="C"):
    return ravel(a)


def _nonzero_method(a):
    return nonzero(a)


def _method_clip(a, min=None, max=None, out=None):
    """ndarray.clip names its bounds min / max (MXNet's and numpy's method), not a_min."""
    return clip(a, min, max, out=out)


METHODS = {name: globals()[name] for name in (
    "sum", "mean", "max", "min", "prod", "std", "var", "argmax", "argmin", "all", "any",
    "cumsum", "clip", "round", "dot", "repeat", "tile", "swapaxes", "sort", "argsort",
    "squeeze", "ravel", "take", "diagonal", "trace", "nonzero")}
METHODS.update(reshape=_method_reshape, clip=_method_clip, transpose=_method_transpose,
               flatten=_flatten,
               square=square, sqrt=sqrt, exp=exp, log=log, abs=abs, sign=sign,
               tanh=tanh, expand_dims=expand_dims, flip=flip, split=split)


def _writing_out(fn):
    """fn with MXNet's `out=`: the result written into `out` (same shape and dtype) and `out`
    returned. The functions compute new arrays; one wrapper gives them all `out` (an ignored
    `out` would leave the caller's array silently unwritten)."""
    import functools
    import inspect
    at = list(inspect.signature(fn).parameters).index("out")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = kwargs.pop("out", None)
        if len(args) > at:     # (given by position: None in its place, the rest kept)
            out, args = args[at], args[:at] + (None,) + args[at + 1:]
        result = fn(*args, **kwargs)
        if out is None:
            return result
        if isinstance(out, NDArray) and isinstance(result, NDArray) and \
                onp.dtype(out.dtype) != onp.dtype(result.dtype):
            raise _OutDtypeError(f"np.{fn.__name__}(): out is {onp.dtype(out.dtype).name} but "
                                 f"the result is {onp.dtype(result.dtype).name}")
        return write_out(f"np.{fn.__name__}", result, out)
    return wrapper


class _OutDtypeError(MXNetValueError, TypeError):
    """An `out=` of another dtype than the result: MXNet's np functions raise TypeError
    (as numpy's ufuncs do for an uncastable out); nd's write_out raises ValueError."""


def _guard_out():
    import inspect
    for name, fn in list(globals().items()):
        if name.startswith("_") or not callable(fn) or getattr(fn, "__module__", None) != \
                __name__:
            continue
        try:
            if "out" in inspect.signature(fn).parameters:
                globals()[name] = _writing_out(fn)
        except (TypeError, ValueError):
            pass
    METHODS.update({k: globals()[k] for k in METHODS if k in globals()
                    and getattr(globals()[k], "__wrapped__", None) is METHODS[k]})


_guard_out()
