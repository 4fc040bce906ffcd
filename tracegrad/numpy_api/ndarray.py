"""`mx.np.ndarray`: MXNet's numpy-compatible array, a subclass of NDArray over the same buffer.

Every operation is a composite of the registered ops (array.F), so it records for autograd and
traces under jit / hybridize exactly as nd code does. What differs from nd is the surface:
0-d arrays, numpy dtypes, numpy indexing (advanced and boolean), comparisons giving bool, and
MXNet's numpy type promotion (int with float gives the float type; an int array with a Python
float, or an int true division, gives float32).

An op result is an NDArray; `as_np` gives the same data, graph value and gradient variable under
this class (a new object: the op's own result may be shared, e.g. Dropout's identity). apply's
hot path tests `type(a) is NDArray`, so np operands take its isinstance branch (two tests more
per operand). A captured step's pending value viewed here stays pending (LAZY_VIEWS: step
capture's NpDeferred), and its np operands are bound as the nd arrays they view, so np programs
are captured as nd ones are; dtypes are read without computing a pending value (`dtype_of`).
"""
import builtins
import functools

import numpy as onp

from ..array import F, NDArray, wrap
from ..base import MXNetError, MXNetValueError
from ..context import PLACED as _PLACED
from ..ir.types import dtype_name
from . import dispatch

_F32 = onp.dtype(onp.float32)
_F64 = onp.dtype(onp.float64)
_I32 = onp.dtype(onp.int32)
_I64 = onp.dtype(onp.int64)
_BOOL = onp.dtype(onp.bool_)
SUPPORTED = (_F32, _F64, _I32, _I64, _BOOL, onp.dtype(onp.float16), onp.dtype(onp.uint8),
             onp.dtype(onp.int8))


class ndarray(NDArray):
    """An array with numpy's interface (MXNet's `mxnet.numpy.ndarray`)."""
    __slots__ = ()
    _fluent_nd = False  # (nd's array methods are not its own: __getattr__ below has numpy's)
    # numpy's functions and ufuncs called on it: mx.np's, or numpy's on the data (dispatch.py)
    __array_function__ = dispatch.array_function
    __array_ufunc__ = dispatch.array_ufunc

    def __init__(self, data=None, ctx=None, dtype=None, shape=None):  # noqa: D107
        if shape is not None and data is None:
            data = onp.zeros(shape, dtype=dtype or onp.float32)
        src = from_python("ndarray", data, dtype)
        self._data, self._value, self._var, self._leaf = src, None, None, None

    # ------------------------------------------------------------------ properties
    @property
    def dtype(self):
        return self._data.dtype

    @property
    def T(self):
        return _transpose(self, None)

    @property
    def grad(self):
        var = self._var
        if var is None or var.grad is None or var.grad_req == "null":
            return None     # (MXNet's np arrays: attach_grad(grad_req='null') has no grad)
        return as_np(wrap(var.grad))

    # ------------------------------------------------------------------ conversion
    def item(self, *args):
        if args:
            return self.asnumpy().item(*args)
        if self.size != 1:
            raise ValueError(f"item(): can only convert an array of size 1 to a Python scalar, "
                             f"got shape {self.shape}")
        return self.asscalar().item()

    def as_nd_ndarray(self):
        """The same data as an mx.nd.NDArray (shares buffer, graph value and gradient)."""
        return _view(NDArray, self)

    def as_np_ndarray(self):
        return self

    def __len__(self):
        if not self.ndim:
            raise TypeError("len() of unsized object (a 0-d mx.np.ndarray)")
        return self._data.shape[0]

    def __iter__(self):
        if not self.ndim:
            raise TypeError("iteration over a 0-d mx.np.ndarray")
        for i in range(self._data.shape[0]):
            yield self[i]

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        return NDArray.__bool__(self)

    def __repr__(self):
        self._concretize("repr()")
        text = repr(self._data)
        return text.replace(", dtype=float32", "") if self._data.dtype == _F32 else text

    def __str__(self):
        self._concretize("str()")
        return str(self._data)

    def __format__(self, fmt):
        """A 0-d array formats as its value (f'{loss:.3f}'); others only with an empty spec,
        as MXNet's mx.np.ndarray."""
        if self.ndim == 0:
            return format(self.item(), fmt)
        if not fmt:
            return format(str(self), fmt)
        raise TypeError("Cannot format mxnet.numpy.ndarray with format_spec")

    def __hash__(self):
        return id(self)

    # ------------------------------------------------------------------ autograd / copies
    def detach(self):
        return as_np(NDArray.detach(self))

    def copy(self, order="C"):
        if order != "C":     # (MXNet's: its arrays are C-ordered)
            raise NotImplementedError(f"ndarray.copy only supports order='C', got {order!r}")
        return as_np(NDArray.copy(self))

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        dt = check_dtype("astype", dtype)
        if not copy and dt == self._data.dtype:
            return self
        return cast(self, dt)

    def as_in_context(self, ctx):
        return as_np(NDArray.as_in_context(self, ctx))

    as_in_ctx = as_in_context

    def copyto(self, other):
        return as_np(NDArray.copyto(self, other))

    # ------------------------------------------------------------------ operators
    def __add__(self, o):
        return binary("add", self, o)

    def __radd__(self, o):
        return binary("add", o, self)

    def __sub__(self, o):
        return binary("subtract", self, o)

    def __rsub__(self, o):
        return binary("subtract", o, self)

    def __mul__(self, o):
        return binary("multiply", self, o)

    def __rmul__(self, o):
        return binary("multiply", o, self)

    def __truediv__(self, o):
        return binary("true_divide", self, o)

    def __rtruediv__(self, o):
        return binary("true_divide", o, self)

    def __floordiv__(self, o):
        return binary("floor_divide", self, o)

    def __rfloordiv__(self, o):
        return binary("floor_divide", o, self)

    def __mod__(self, o):
        return binary("mod", self, o)

    def __rmod__(self, o):
        return binary("mod", o, self)

    def __pow__(self, o):
        return binary("power", self, o)

    def __rpow__(self, o):
        return binary("power", o, self)

    def __matmul__(self, o):
        from .functions import matmul
        return matmul(self, o)

    def __rmatmul__(self, o):
        from .functions import matmul
        return matmul(o, self)

    def __neg__(self):
        return as_np(F.neg(self))

    def __pos__(self):
        return self

    def __abs__(self):
        return as_np(F.abs(self))

    def __invert__(self):
        if self._data.dtype != _BOOL:
            raise MXNetError(f"invert: only bool arrays are supported, got {self._data.dtype}")
        return as_np(F.logical_not(self))

    def __lt__(self, o):
        return compare("lt", self, o)

    def __le__(self, o):
        return compare("le", self, o)

    def __gt__(self, o):
        return compare("gt", self, o)

    def __ge__(self, o):
        return compare("ge", self, o)

    def __eq__(self, o):
        if o is None:
            return False
        return compare("eq", self, o)

    def __ne__(self, o):
        if o is None:
            return True
        return compare("ne", self, o)

    def __iadd__(self, o):
        return self._inplace("add", _operand_data(o))

    def __isub__(self, o):
        return self._inplace("subtract", _operand_data(o))

    def __imul__(self, o):
        return self._inplace("multiply", _operand_data(o))

    def __itruediv__(self, o):
        if self._data.dtype.kind != "f":
            raise MXNetError(f"true_divide (in place): the result of dividing "
                             f"{self._data.dtype} cannot be stored in place (it is float)")
        return self._inplace("divide", _operand_data(o))

    def __imod__(self, o):
        return self._inplace("mod", _operand_data(o))

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key):
        from .indexing import getitem
        return getitem(self, key)

    def __setitem__(self, key, value):
        from .indexing import setitem_key
        NDArray.__setitem__(self, setitem_key(self, key), _operand_data(value))

    def __getattr__(self, name):
        from .functions import METHODS
        fn = METHODS.get(name)
        if fn is None:
            raise AttributeError(f"'mxnet.numpy.ndarray' object has no attribute {name!r}")
        return functools.partial(fn, self)


def _operand_data(o):
    """An operand of an in-place op or a write: an nd / np array stays, a list becomes data."""
    if isinstance(o, (list, tuple)):
        return onp.asarray(o)
    return o


# class -> view(a, cls) for arrays whose data is not computed yet (step capture's Deferred
# values, tracing/capture.py): the view waits with them instead of reading `_data`; a None
# view means: view as usual (which computes them first)
LAZY_VIEWS = {}


def _view(cls, a):
    """`a`'s data, graph value and variable under class cls (a new object, or a lazy view)."""
    t = type(a)
    if t is not NDArray and t is not ndarray:
        lazy = LAZY_VIEWS.get(t)
        if lazy is not None:
            res = lazy(a, cls)
            if res is not None:
                return res
    res = NDArray.__new__(cls)
    res._data, res._value, res._var, res._leaf = a._data, a._value, a._var, a._leaf
    if _PLACED[0]:      # (an unset _ctx slot is the default context: no look-up then)
        ctx = getattr(a, "_ctx", None)
        if ctx is not None:
            res._ctx = ctx
    return res


def as_np(a):
    """An op's NDArray result (or a tuple / list of them) as mx.np.ndarray."""
    t = type(a)
    if t is ndarray:
        return a
    if t is tuple or t is list:
        return t(as_np(x) for x in a)
    if isinstance(a, NDArray):
        return _view(ndarray, a)
    return a


def as_nd(a):
    """mx.np arrays (nested in lists/tuples/dicts) as mx.nd.NDArray views."""
    t = type(a)
    if t is ndarray or (t is not NDArray and isinstance(a, ndarray)):
        return _view(NDArray, a)
    if t is tuple or t is list:
        return t(as_nd(x) for x in a)
    return a


def check_dtype(fname, dtype, default=None):
    """dtype as a numpy dtype tracegrad holds, or an error naming the function."""
    if dtype is None:
        return default
    try:
        dt = onp.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fname}: {dtype!r} is not a dtype") from None
    if dt not in SUPPORTED:
        raise TypeError(f"{fname}: dtype {dt} is not supported (tracegrad holds float32, "
                        f"float64, float16, int32, int64, int8, uint8 and bool arrays)")
    return dt


_WIDEN = {onp.dtype(onp.int16): _I32, onp.dtype(onp.uint16): _I32, onp.dtype(onp.uint32): _I64}


def from_python(fname, obj, dtype=None):
    """A numpy buffer for mx.np.array(obj, dtype): numpy arrays keep their dtype (narrow
    16-bit integers widened to int32, uint32 to int64), anything else is float32 by default, as
    MXNet's numpy interface makes it."""
    dt = check_dtype(fname, dtype)
    if isinstance(obj, NDArray):
        obj._concretize("array()")
        src = obj._data
    elif isinstance(obj, (onp.ndarray, onp.generic)):
        src = onp.asarray(obj)
    else:
        if isinstance(obj, (str, bytes, dict, set)):
            raise TypeError(f"{fname}: cannot make an array from a {type(obj).__name__}")
        try:
            src = onp.array(obj, dtype=dt or _F32)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{fname}: cannot make an array from {type(obj).__name__} "
                            f"({e})") from None
        except OverflowError as e:     # (numpy 2 refuses 300 as int8; numpy 1 wrapped it)
            raise OverflowError(f"{fname}: {e}") from None
        return src
    if dt is None:
        dt = _WIDEN.get(src.dtype, src.dtype)
        if dt not in SUPPORTED:
            raise TypeError(f"{fname}: a {src.dtype} array is not supported (tracegrad holds "
                            f"float32, float64, float16, int32, int64, int8, uint8 and bool "
                            f"arrays)")
    return onp.array(src, dtype=dt)


# ---------------------------------------------------------------------- type promotion
def dtype_of(x):
    """An array's numpy dtype, known without computing it (a captured step's pending value
    answers from its type)."""
    dt = x.dtype
    return dt if isinstance(dt, onp.dtype) else onp.dtype(dt)


def _kind(dt):
    return "f" if dt.kind == "f" else "b" if dt.kind == "b" else "i"


def promote(fname, a, b):
    """MXNet numpy's result dtype of a binary op of `a` and `b` (arrays or Python scalars)."""
    da = dtype_of(a) if isinstance(a, NDArray) else None
    db = dtype_of(b) if isinstance(b, NDArray) else None
    if da is None and db is None:
        return None
    if da is None or db is None:
        dt, s = (da, b) if db is None else (db, a)
        if isinstance(s, (bool, onp.bool_)):
            return dt
        if isinstance(s, (int, onp.integer)):
            return _I64 if dt == _BOOL else dt
        if isinstance(s, (float, onp.floating)):
            return dt if dt.kind == "f" else _F32
        raise TypeError(f"{fname}: unsupported operand type {type(s).__name__}")
    if da == db:
        return da
    ka, kb = _kind(da), _kind(db)
    if ka == kb:
        return builtins.max(da, db, key=lambda d: d.itemsize)
    if ka == "f" or kb == "f":
        return da if ka == "f" else db
    return da if ka == "i" else db  # int with bool


def _operand(fname, x):
    """A binary op's operand: arrays and Python scalars stay, numpy data becomes an array."""
    if isinstance(x, NDArray):
        return x
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, onp.generic):
        return x.item()
    if isinstance(x, (onp.ndarray, list, tuple)):
        return as_np(wrap(from_python(fname, x)))
    raise TypeError(f"{fname}: unsupported operand type {type(x).__name__} (expected an "
                    f"mx.np.ndarray or a number)")


def _in_dtype(x, dt):
    """An operand in the promoted dtype. An integer array promoted to float, or a bool one
    promoted to anything, passes no gradient: MXNet's mixed-precision backward computes that
    input's gradient in a scratch buffer and never writes it (np_elemwise_broadcast_op.h,
    NumpyBinaryBackwardUseIn), unlike astype (straight-through)."""
    if isinstance(x, NDArray):
        if dtype_of(x) == dt:
            return x
        y = F.cast(x, dtype=dtype_name(dt))
        kind = dtype_of(x).kind
        if x._value is not None and (dt.kind == "f" and kind in "iu" or kind == "b"):
            y = F.stop_gradient(y)
        return y
    if dt.kind == "f":
        return float(x)
    if dt.kind == "b":
        return bool(x)
    return int(x)


_BINARY = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div",
           "divide": "div", "power": "pow", "mod": "mod", "remainder": "mod",
           "maximum": "maximum", "minimum": "minimum", "floor_divide": "div"}


def binary(fname, a, b):
    """a <op> b with numpy broadcasting and MXNet numpy's type promotion."""
    a, b = _operand(fname, a), _operand(fname, b)
    dt = promote(fname, a, b)
    if dt is None:  # two Python scalars
        a = as_np(wrap(from_python(fname, a)))
        dt = promote(fname, a, b)
    if fname in ("true_divide", "divide") and dt.kind != "f":
        dt = _F32
    if dt == _BOOL and fname not in ("add", "multiply", "maximum", "minimum"):
        dt = _I64 if fname != "power" else _F32
    a, b = _in_dtype(a, dt), _in_dtype(b, dt)
    if not isinstance(a, NDArray) and not isinstance(b, NDArray):
        return as_np(wrap(onp.asarray(getattr(onp, fname)(a, b), dtype=dt)))
    if dt == _BOOL and fname in ("add", "maximum"):  # numpy: logical or / and on bools
        out = F.maximum(a, b)
    elif dt == _BOOL:
        out = F.minimum(a, b)
    else:
        out = getattr(F, _BINARY[fname])(a, b)
        if fname == "floor_divide" and dt.kind == "f":
            out = F.floor(out)
    return as_np(out)


_COMPARE = {"lt", "le", "gt", "ge", "eq", "ne"}


def compare(op, a, b):
    """An element-wise comparison: a bool array, numpy broadcasting."""
    a, b = _operand(op, a), _operand(op, b)
    dt = promote(op, a, b)
    if dt is None:
        a = as_np(wrap(from_python(op, a)))
        dt = promote(op, a, b)
    return as_np(getattr(F, op)(_in_dtype(a, dt), _in_dtype(b, dt)))


def cast(x, dt):
    if dtype_of(x) == dt:
        return as_np(F.mul(x, 1) if x._value is not None else wrap(x._data.copy()))
    return as_np(F.cast(x, dtype=dtype_name(dt)))


def _transpose(x, axes):
    n = x.ndim
    if axes is None:
        perm = tuple(range(n))[::-1]
    else:
        perm = tuple(int(a) for a in axes)
        if sorted(a % n if -n <= a < n else a for a in perm) != list(range(n)):
            raise MXNetValueError(f"transpose: axes {tuple(axes)} are not a permutation of "
                                  f"the {n} axes of an array of shape {x.shape}")
        perm = tuple(a % n for a in perm)
    if perm == tuple(range(n)):
        return as_np(x)
    return as_np(F.transpose(x, perm=perm))


def is_np(x):
    return isinstance(x, ndarray)
