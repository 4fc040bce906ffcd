"""`mx.operator`: MXNet 1.x's Python custom operators.

    class Sigmoid(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], 1 / (1 + mx.nd.exp(-in_data[0])))
        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            y = out_data[0]
            self.assign(in_grad[0], req[0], out_grad[0] * y * (1 - y))

    @mx.operator.register("sigmoid")
    class SigmoidProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Sigmoid()

    y = mx.nd.Custom(x, op_type="sigmoid")

`nd.Custom` builds the registered CustomOpProp (keyword arguments reach its constructor as
strings, as MXNet passes them), infers the output shapes and types, creates the operator and
runs it as an autograd.Function: its backward() gives the inputs' gradients, so the op
differentiates, records on the tape, and runs inside jit / hybridize as a call out to Python.
Auxiliary states (list_auxiliary_states) follow the arguments among the inputs; the operator
updates them in place and they get no gradient.
"""
import numpy as np

from . import autograd
from .array import NDArray, wrap
from .base import MXNetError
from .operator_registry import (OperatorArguments, get_all_registered_operators,  # noqa: F401
                                get_operator_arguments)

__all__ = ["CustomOp", "CustomOpProp", "register", "get_all_registered_operators", "Custom",
           "PythonOp", "NumpyOp", "NDArrayOp", "get_operator_arguments", "OperatorArguments"]

_REGISTRY: dict = {}


class CustomOp:
    """The operator: forward() fills out_data, backward() fills in_grad, through assign()."""

    def forward(self, is_train, req, in_data, out_data, aux):
        raise NotImplementedError(f"{type(self).__name__} must implement forward(is_train, "
                                  f"req, in_data, out_data, aux)")

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        raise NotImplementedError(f"{type(self).__name__} must implement backward(req, "
                                  f"out_grad, in_data, out_data, in_grad, aux)")

    def assign(self, dst, req, src):
        """Write src into dst as `req` asks: 'write' / 'inplace' replace, 'add' accumulates,
        'null' leaves dst alone."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] = dst + src
        else:
            raise MXNetError(f"CustomOp.assign: req must be 'null', 'write', 'inplace' or "
                             f"'add', got {req!r}")


class CustomOpProp:
    """What the operator takes and gives (names, shapes, types) and how to create it."""

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def list_arguments(self):
        return ["data"]

    def list_outputs(self):
        return ["output"]

    def list_auxiliary_states(self):
        return []

    def infer_shape(self, in_shape):
        """(argument shapes, output shapes, auxiliary shapes); by default every output has
        the first argument's shape."""
        return in_shape, [in_shape[0]] * len(self.list_outputs()), \
            [in_shape[0]] * len(self.list_auxiliary_states())

    def infer_type(self, in_type):
        """(argument types, output types, auxiliary types); by default the first argument's."""
        return in_type, [in_type[0]] * len(self.list_outputs()), \
            [in_type[0]] * len(self.list_auxiliary_states())

    def infer_storage_type(self, in_stype):
        """(argument stypes, output stypes, auxiliary stypes); by default every input must be
        dense ('default') and so are the outputs, as MXNet's default implementation asserts."""
        _only_default(in_stype, "in_stype", "infer_storage_type")
        return list(in_stype), ["default"] * len(self.list_outputs()), \
            ["default"] * len(self.list_auxiliary_states())

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        """(output-gradient, input, output, input-gradient, auxiliary) stypes backward sees;
        by default the gradients must be dense, everything else keeps its stype."""
        _only_default(ograd_stype, "ograd_stype", "infer_storage_type_backward")
        _only_default(igrad_stype, "igrad_stype", "infer_storage_type_backward")
        return list(ograd_stype), list(in_stype), list(out_stype), \
            ["default"] * len(igrad_stype), list(aux_stype)

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        deps = list(out_grad) if self.need_top_grad_ else []
        return deps + list(in_data) + list(out_data)

    def create_operator(self, ctx, in_shapes, in_dtypes):
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  f"create_operator(ctx, in_shapes, in_dtypes)")


def inferred(prop, method, given):
    """prop.infer_shape / infer_type(given) as (arguments, outputs, auxiliary states): MXNet
    takes two lists (no auxiliary states) or three."""
    got = getattr(prop, method)(given)
    if not isinstance(got, (tuple, list)) or len(got) not in (2, 3):
        raise MXNetError(f"{type(prop).__name__}.{method} must return 2 or 3 lists "
                         f"(arguments, outputs[, auxiliary states]), got {got!r}")
    return (got[0], got[1], got[2] if len(got) == 3 else [])


def _only_default(stypes, what, method):
    for i, stype in enumerate(stypes):
        if stype != "default":
            raise MXNetError(f"CustomOpProp.{method}: the default implementation takes only "
                             f"default (dense) storage, got {stype!r} for {what}[{i}]; "
                             f"implement infer_storage_type and infer_storage_type_backward "
                             f"in the operator's CustomOpProp for sparse inputs or outputs")


def _shown(arrays, stypes):
    """The arrays as the operator sees them: each in its inferred storage type (same
    values; a sparse array lists its nonzeros)."""
    from .sparse import relabel
    return [a if getattr(a, "stype", "default") == s else relabel(a, s)
            for a, s in zip(arrays, stypes)]


def _buffers(types, stypes):
    """Zero-filled output / gradient buffers of the given (shape, dtype)s and stypes."""
    from .sparse import zeros
    return [wrap(np.zeros(shape, dtype)) if s == "default" else zeros(s, shape, dtype=dtype)
            for (shape, dtype), s in zip(types, stypes)]


def _storage_lists(prop, method, args, lengths):
    """prop.<method>(*args) checked: lists of the given lengths of known stypes."""
    from .sparse import STYPES
    try:
        got = getattr(prop, method)(*args)
    except MXNetError:
        raise
    except AssertionError as e:
        raise MXNetError(f"{type(prop).__name__}.{method}: {e}") from None
    got = list(got) + [[]] * (len(lengths) - len(got))
    if len(got) != len(lengths) or any(len(g) != n for g, n in zip(got, lengths)) or \
            any(s not in STYPES for g in got for s in g):
        raise MXNetError(f"{type(prop).__name__}.{method}: expected lists of {lengths} storage "
                         f"types among {STYPES}, got {got}")
    return [list(g) for g in got]


def register(reg_name):
    """Class decorator: the CustomOpProp subclass nd.Custom(..., op_type=reg_name) uses."""
    def do_register(prop_cls):
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise TypeError(f"operator.register({reg_name!r}): expects a CustomOpProp "
                            f"subclass, got {prop_cls!r}")
        _REGISTRY[reg_name] = prop_cls
        return prop_cls
    return do_register


def registered_custom_ops():
    """The op_types register() has registered (MXNet's get_all_registered_operators lists
    every operator instead: operator_registry.py)."""
    return sorted(_REGISTRY)


class _CustomCall(autograd.Function):
    """One nd.Custom call as an autograd.Function."""

    def __init__(self, op, is_train, out_types, aux, op_type, prop, stypes):
        super().__init__()
        self.op, self.is_train, self.out_types, self.aux = op, is_train, out_types, aux
        self.op_type, self.prop = op_type, prop
        self.in_stypes, self.out_stypes, self.aux_stypes = stypes

    def forward(self, *in_data):
        in_data = _shown(in_data, self.in_stypes)
        out_data = _buffers(self.out_types, self.out_stypes)
        _profiled(self.op_type, self.op.forward, self.is_train, ["write"] * len(out_data),
                  in_data, out_data, self.aux)
        self.save_for_backward(in_data, out_data)
        return tuple(out_data) if len(out_data) > 1 else out_data[0]

    def backward(self, *out_grad):
        in_data, out_data = self.saved_tensors
        n_in, n_out = len(in_data), len(out_data)
        ograd_s, in_s, out_s, igrad_s, _ = _storage_lists(
            self.prop, "infer_storage_type_backward",
            (["default"] * n_out, list(self.in_stypes), list(self.out_stypes),
             ["default"] * n_in, list(self.aux_stypes)),
            (n_out, n_in, n_out, n_in, len(self.aux_stypes)))
        in_grad = _buffers([(tuple(x.shape), x.dtype) for x in in_data], igrad_s)
        _profiled(self.op_type, self.op.backward, ["write"] * len(in_grad),
                  _shown(out_grad, ograd_s), _shown(in_data, in_s), _shown(out_data, out_s),
                  in_grad, self.aux)
        return tuple(in_grad) if len(in_grad) > 1 else in_grad[0]


def _profiled(op_type, method, *args):
    """The operator's forward / backward; while mx.profiler records, as MXNet's profiler
    shows a custom operator: the call as '<op_type>::pure_python' in the 'Custom Operator'
    category, the nd operators it runs named '<op_type>::<op>' (a backward's op_type being
    '_backward_<op_type>'). An exception other than an
    MXNetError raised in it is an MXNetError naming the operator, as MXNet reports it (the
    original is its cause)."""
    try:
        return _profiled_call(op_type, method, *args)
    except MXNetError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: any error is the operator's
        raise MXNetError(f"Custom operator '{op_type}': its {method.__name__}() raised "
                         f"{type(e).__name__}: {e}") from e


def _profiled_call(op_type, method, *args):
    from . import profiler
    if not profiler._recording():
        return method(*args)
    if method.__name__ == "backward":
        op_type = f"_backward_{op_type}"
    start = profiler._now()
    try:
        with profiler.scope(f"{op_type}::"):
            return method(*args)
    finally:
        profiler._record("Custom Operator", f"{op_type}::pure_python", start, profiler._now())


def Custom(*data, op_type=None, **kwargs):
    """Run the custom operator registered as `op_type` on `data` (its arguments, then its
    auxiliary states); keyword arguments go to its CustomOpProp as strings."""
    prop_cls = _REGISTRY.get(op_type)
    if prop_cls is None:
        raise MXNetError(f"Custom: no operator registered as {op_type!r} (registered: "
                         f"{registered_custom_ops()})")
    kwargs.pop("name", None)
    prop = prop_cls(**{k: str(v) for k, v in kwargs.items()})
    n_args, n_aux = len(prop.list_arguments()), len(prop.list_auxiliary_states())
    if len(data) != n_args + n_aux or not all(isinstance(x, NDArray) for x in data):
        raise MXNetError(f"Custom({op_type!r}): takes {n_args} arguments "
                         f"{prop.list_arguments()} and {n_aux} auxiliary states as NDArrays, "
                         f"got {[type(x).__name__ for x in data]}")
    args, aux = list(data[:n_args]), list(data[n_args:])
    in_shapes = [tuple(x.shape) for x in args]
    in_types = [np.dtype(x.dtype) for x in args]
    _, out_shapes, _ = inferred(prop, "infer_shape", in_shapes)
    _, out_types, _ = inferred(prop, "infer_type", in_types)
    n_out = len(prop.list_outputs())
    if len(out_shapes) != n_out or len(out_types) != n_out:
        raise MXNetError(f"Custom({op_type!r}): infer_shape / infer_type give "
                         f"{len(out_shapes)} / {len(out_types)} outputs for "
                         f"{prop.list_outputs()}")
    from .context import current_context
    stypes = _storage_lists(prop, "infer_storage_type",
                            ([getattr(x, "stype", "default") for x in args],),
                            (n_args, n_out, n_aux))
    op = prop.create_operator(current_context(), in_shapes, in_types)
    call = _CustomCall(op, autograd.is_training(),
                       [(tuple(int(d) for d in s), np.dtype(t)) for s, t in
                        zip(out_shapes, out_types)], aux, op_type, prop, stypes)
    outs = call(*args)
    if all(s == "default" for s in stypes[1]):
        return outs
    shown = _shown(outs if isinstance(outs, tuple) else (outs,), stypes[1])
    return tuple(shown) if isinstance(outs, tuple) else shown[0]


from .operator_legacy import NDArrayOp, NumpyOp, PythonOp  # noqa: E402  (they register here)
