"""mx.sym / mx.symbol: MXNet 1.x's symbolic API on tracegrad's nd operators.

    data = mx.sym.var('data')
    fc1 = mx.sym.FullyConnected(data, num_hidden=128, name='fc1')   # fc1_weight, fc1_bias
    net = mx.sym.SoftmaxOutput(mx.sym.Activation(fc1, act_type='relu'), name='softmax')
    ex = net.simple_bind(mx.cpu(), data=(32, 784))

Every nd operator is available as mx.sym.<MXNet name> (module __getattr__ below).
"""
import math

from .executor import Executor
from .json_format import load, load_json
from .symbol import Group, Symbol, Variable, make_op, var
from . import control_flow as _control_flow
from . import ops as _ops
from . import random  # noqa: E402  (mx.sym.random.uniform / normal / ...)
from .custom_op import symbol_custom as Custom
from .numpy_symbols import np, npx  # (mx.sym.np.sum, mx.sym.npx.relu, ...)

numpy, numpy_extension = np, npx     # (MXNet's long names of the two)

_OPS: dict = {}


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    fn = _OPS.get(name)
    if fn is None:
        try:
            fn = make_op(name)
        except AttributeError:
            raise AttributeError(f"module 'tracegrad.symbol' has no attribute {name!r}") \
                from None
        _OPS[name] = fn
    return fn


class _Namespace:
    """mx.sym.contrib / mx.sym.linalg: ops MXNet registers as _contrib_X / _linalg_X;
    `internal`: mx.sym._internal, MXNet's internal ops by their own names (_plus, _mul,
    _zeros, ...), which legacy code such as mx.rnn's cells calls directly."""

    def __init__(self, prefix, internal=False):
        self._prefix, self._internal = prefix, internal

    def __getattr__(self, name):
        if name.startswith("__") or name.startswith("_") != self._internal:
            raise AttributeError(name)
        if self._prefix == "_contrib_" and name in _control_flow.FUNCTIONS:
            return _control_flow.FUNCTIONS[name]
        if self._prefix == "_contrib_" and name == "rand_zipfian":
            from .contrib_zipfian import rand_zipfian
            return rand_zipfian
        if self is sparse and _ops.lookup("_sparse_" + name) is not None:
            return make_op("_sparse_" + name)      # (mx.sym.sparse.retain: _sparse_retain)
        return make_op(self._prefix + name)


contrib = _Namespace("_contrib_")
linalg = _Namespace("_linalg_")
image = _Namespace("_image_")     # (MXNet's _image_crop, _image_resize, ...: nd.image's ops)
sparse = _Namespace("")     # mx.sym.sparse.dot: the op itself (its nd form takes sparse arrays)


def zeros(shape, dtype=None, **kwargs):
    """MXNet's _zeros node: a 0 in `shape` is a dim inferred from the graph (an RNN begin
    state's batch)."""
    return make_op("_zeros")(shape=shape, dtype=dtype, **kwargs)


def ones(shape, dtype=None, **kwargs):
    return make_op("_ones")(shape=shape, dtype=dtype, **kwargs)


def full(shape, val, dtype=None, **kwargs):
    return make_op("_full")(shape=shape, value=val, dtype=dtype, **kwargs)


_internal = _Namespace("", internal=True)


def _symbol_or_scalar(fn_name, both, scalar, rscalar, on_numbers):
    """MXNet's mx.sym.maximum / minimum / power / hypot: either side a Symbol or a number (a
    number makes the op's _scalar form; two numbers give a number)."""
    from numbers import Number

    def fn(left, right):
        if isinstance(left, Symbol) and isinstance(right, Symbol):
            return make_op(both)(left, right)
        if isinstance(left, Symbol) and isinstance(right, Number):
            return make_op(scalar)(left, scalar=right)
        if isinstance(left, Number) and isinstance(right, Symbol):
            return make_op(rscalar)(right, scalar=left)
        if isinstance(left, Number) and isinstance(right, Number):
            return on_numbers(left, right)
        raise TypeError(f"mx.sym.{fn_name}: types ({type(left)}, {type(right)}) not supported")
    fn.__name__ = fn_name
    return fn


maximum = _symbol_or_scalar("maximum", "_Maximum", "_MaximumScalar", "_MaximumScalar", max)
minimum = _symbol_or_scalar("minimum", "_Minimum", "_MinimumScalar", "_MinimumScalar", min)
power = _symbol_or_scalar("power", "_Power", "_PowerScalar", "_RPowerScalar",
                          lambda a, b: a ** b)
pow = power    # noqa: A001  (MXNet's mx.sym.pow)
hypot = _symbol_or_scalar("hypot", "_Hypot", "_HypotScalar", "_HypotScalar", math.hypot)


__all__ = ["Symbol", "var", "Variable", "Group", "load", "load_json", "Executor",
           "random", "Custom", "np", "npx"]
