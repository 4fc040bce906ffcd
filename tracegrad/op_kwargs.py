"""The keyword arguments every MXNet 1.x operator function takes beyond its own: `out=`
(write the result into this array and return it), `name=` (a symbol name: nothing to do
eagerly), `ctx=` (tracegrad computes on the CPU) and hints with no effect on the values
(`cudnn_off`, `workspace`, `sparse_grad`, ...).

An nd function declared with `**kwargs` used to swallow them all, so `nd.exp(x, out=y)` left
`y` unchanged and `nd.softmax(x, length=l, use_length=True)` ignored the lengths: silent wrong
answers. Now each such function starts with

    if kwargs:
        return _redo(this_function, locals())

(a test checks that every one does): a call with none of these keywords costs one test, and
`redo` honours `out`, drops the hints, accepts `dtype` when the result has that dtype, and
raises TypeError naming the function and any other argument.
"""
import functools
import inspect

import numpy as np

from .array import NDArray
from .base import MXNetError, MXNetTypeError

# MXNet arguments that only steer how (or where) the result is computed, never its value
HINTS = frozenset({"name", "attr", "cudnn_off", "cudnn_tune", "workspace", "sparse_grad",
                   "forward_stype", "lazy_update", "num_args", "layout"})
# operators MXNet 1.9.1 registers without a parameter parser (the elementwise unary and binary
# families): it ignores any other keyword given to them (its own tests pass axis= to
# broadcast_maximum), so these ignore them too; every other operator raises TypeError
NO_PARAMETERS = frozenset(f"nd.{name}" for name in (
    "abs arccos arccosh arcsin arcsinh arctan arctanh cbrt ceil cos cosh degrees erf erfinv "
    "exp expm1 fix floor gamma gammaln log log10 log1p log2 logical_not make_loss negative "
    "radians rcbrt reciprocal relu rint round rsqrt sigmoid sign sin sinh softsign sqrt "
    "square tan tanh trunc elemwise_add elemwise_sub elemwise_mul elemwise_div "
    "broadcast_add broadcast_plus broadcast_sub broadcast_minus broadcast_mul broadcast_div "
    "broadcast_mod broadcast_power broadcast_maximum broadcast_minimum broadcast_hypot "
    "broadcast_equal broadcast_not_equal broadcast_greater broadcast_greater_equal "
    "broadcast_lesser broadcast_lesser_equal broadcast_logical_and broadcast_logical_or "
    "broadcast_logical_xor").split())
_SIGNATURES: dict = {}   # function -> (its *args parameter or None, parameter names, label)
_PREFIX = {"tracegrad.random": "nd.random", "tracegrad.random_dists": "nd.random",
           "tracegrad.linalg": "nd.linalg", "tracegrad.contrib": "nd.contrib",
           "tracegrad.contrib_ops": "nd.contrib", "tracegrad.contrib_nms": "nd.contrib",
           "tracegrad.contrib_multibox": "nd.contrib"}


def redo(f, params):
    """`f` called again with its own arguments (`params`: its locals() on entry, `kwargs`
    among them) and MXNet's common keywords handled (module docstring)."""
    star, names, label = _signature(f)
    extras = params["kwargs"]
    params = {k: params[k] for k in names}      # (a closure's locals() has its free names)
    out, dtype, stype = _common(label, extras)
    operands = list(params.values())
    result = f(*params.pop(star), **params) if star else f(**params)
    return _finish(label, result, out, dtype, stype, operands)


def accepting_common_keywords(f, label=None):
    """`f` (an nd function declared without **kwargs) wrapped to take MXNet's common keywords
    too (`out=`, `name=`, `ctx=`, the hints), with redo's rules; its own keywords pass
    through, a call with no keyword costs one test."""
    own = frozenset(p.name for p in inspect.signature(f).parameters.values()
                    if p.kind is not p.VAR_POSITIONAL)
    label = label or f"{_PREFIX.get(f.__module__, 'nd')}.{f.__name__}"

    @functools.wraps(f)
    def with_common_keywords(*args, **kwargs):
        if kwargs and not own.issuperset(kwargs):
            out, dtype, stype = _common(label, {k: v for k, v in kwargs.items()
                                                if k not in own})
            result = f(*args, **{k: v for k, v in kwargs.items() if k in own})
            return _finish(label, result, out, dtype, stype,
                           (args, [v for k, v in kwargs.items() if k in own]))
        return f(*args, **kwargs)
    return with_common_keywords


def _common(label, extras):
    """(out, dtype, stype) of the common keywords `extras`; TypeError for any other
    keyword."""
    out = dtype = stype = None
    for key, value in extras.items():
        if key == "out":
            out = value
        elif key == "dtype":
            dtype = value
        elif key == "stype":
            stype = value
        elif key == "ctx":
            _check_cpu(label, value)
        elif key not in HINTS and label not in NO_PARAMETERS:
            raise MXNetTypeError(f"{label}() got an unexpected keyword argument {key!r} "
                                 f"(tracegrad does not implement it; ignoring it would change "
                                 f"the result)")
    return out, dtype, stype


def _finish(label, result, out, dtype, stype=None, operands=()):
    if dtype is not None:
        for r in result if isinstance(result, (list, tuple)) else (result,):
            if isinstance(r, NDArray) and np.dtype(r.dtype) != np.dtype(dtype):
                raise TypeError(f"{label}(): dtype={np.dtype(dtype).name} differs from the "
                                f"result's {np.dtype(r.dtype).name}; cast the input instead")
    if stype not in (None, "default") and isinstance(result, NDArray):
        from .sparse import cast_storage     # (stype='csr' / 'row_sparse': that storage)
        result = cast_storage(result, stype)
    if out is not None and isinstance(result, NDArray) and _reads(out, operands):
        out._check_writable(label, result)      # `x` also read: MXNet's RecordOp refuses
    return result if out is None else write_out(label, result, out)


def _reads(out, operands) -> bool:
    """Whether array `out` is among a call's operands (`operands`: values, or tuples and
    lists of them, as *args are)."""
    for a in operands:
        if a is out or type(a) in (tuple, list) and _reads(out, a):
            return True
    return False


def _signature(f):
    # (by the function, not its code: the functions one factory makes share their code,
    # and each has its own name for the messages)
    sig = _SIGNATURES.get(f)
    if sig is None:
        params = inspect.signature(f).parameters.values()
        star = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
        names = tuple(p.name for p in params if p.kind is not p.VAR_KEYWORD)
        sig = _SIGNATURES[f] = (star, names,
                                   f"{_PREFIX.get(f.__module__, 'nd')}.{f.__name__}")
    return sig


def write_out(label, result, out):
    """MXNet's `out=`: the result written into `out` (same shape and dtype), `out` returned;
    a list of results goes into a list of arrays."""
    if isinstance(result, (list, tuple)):
        outs = out if isinstance(out, (list, tuple)) else None
        if outs is None or len(outs) != len(result):
            raise TypeError(f"{label}(): out must be a list of {len(result)} NDArrays, got "
                            f"{type(out).__name__}")
        return type(outs)(write_out(label, r, o) for r, o in zip(result, outs))
    if not isinstance(out, NDArray):
        raise TypeError(f"{label}(): out must be an NDArray, got {type(out).__name__}")
    if tuple(out.shape) != tuple(result.shape) or np.dtype(out.dtype) != np.dtype(result.dtype):
        raise ValueError(f"{label}(): out is {np.dtype(out.dtype).name}{list(out.shape)} but "
                         f"the result is {np.dtype(result.dtype).name}{list(result.shape)}")
    if out is not result:
        if out.ndim:
            out[:] = result
        else:               # (a 0-d array takes no slice)
            out[()] = result
    return out


def _check_cpu(label, ctx):
    kind = getattr(ctx, "device_type", ctx)
    if kind not in (None, "cpu", "cpu_pinned", "cpu_shared"):
        raise MXNetError(f"{label}(): tracegrad runs on the CPU only; got ctx={ctx}")
