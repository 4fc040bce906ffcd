"""NumPy's dispatch protocols on mx.np arrays, as MXNet 1.9's: an official numpy function
(NEP 18, __array_function__) or ufunc (NEP 13, __array_ufunc__) called on mx.np arrays runs
mx.np's own implementation when numpy_dispatch_protocol lists it (so it records for autograd
and traces), else numpy's on copies of the data, whose array results come back as mx.np
arrays (refused while autograd records: numpy's work has no gradient)."""
import numpy as onp

FUNCTIONS = {}   # numpy function -> mx.np's
UFUNCS = {}      # ufunc name -> mx.np's


def register(function_names, ufunc_names):
    """Fill the tables from names ('linalg.norm': numpy.linalg's norm and mx.np.linalg's)."""
    from .. import numpy_api as mx_np
    for name in function_names:
        FUNCTIONS[_lookup(onp, name)] = _lookup(mx_np, name)
    for name in ufunc_names:
        UFUNCS[name] = _lookup(mx_np, name)


def _lookup(module, name):
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _to_numpy(x):
    from ..array import NDArray
    if isinstance(x, NDArray):
        return x.asnumpy()
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    return x


def _to_mx(x):
    """numpy's results as mx.np arrays (tuples and lists of them too); scalars, dtypes and
    anything else as they are."""
    from .ndarray import as_np
    from ..array import wrap
    if isinstance(x, onp.ndarray):
        return as_np(wrap(x if x.flags.c_contiguous else x.copy()))   # (0-d stays 0-d)
    if isinstance(x, (list, tuple)) and any(isinstance(v, onp.ndarray) for v in x):
        items = [_to_mx(v) for v in x]
        if hasattr(x, "_fields"):           # (a named tuple: numpy 2's QRResult, EigResult)
            return type(x)(*items)
        return type(x)(items)
    return x


def _fall_back(name, fn, args, kwargs):
    from ..autograd import is_recording
    if is_recording():
        raise ValueError(f"Falling back to NumPy operator {name} with autograd active is not "
                         f"supported: move it outside the autograd scope")
    return _to_mx(fn(*_to_numpy(args), **_to_numpy(kwargs)))


def array_function(self, func, types, args, kwargs):
    from .ndarray import ndarray
    mine = FUNCTIONS.get(func)
    if mine is None:
        return _fall_back(func.__name__, func, args, kwargs)
    if not all(issubclass(t, ndarray) for t in types):
        return NotImplemented       # (numpy then raises TypeError naming the types)
    return mine(*args, **kwargs)


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if method != "__call__":
        return NotImplemented
    out = kwargs.get("out")
    if isinstance(out, tuple):
        if len(out) != 1:
            raise ValueError(f"{ufunc.__name__}: the `out` parameter must have exactly one "
                             f"ndarray, got {len(out)}")
        kwargs["out"] = out[0]
    mine = UFUNCS.get(ufunc.__name__)
    if mine is None:
        return _fall_back(ufunc.__name__, ufunc, inputs, kwargs)
    return mine(*inputs, **kwargs)
