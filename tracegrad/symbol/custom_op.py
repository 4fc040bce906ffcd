"""mx.sym.Custom: a registered custom operator (mx.operator.register) as a graph node.

Its inputs, auxiliary states and outputs are what the operator's CustomOpProp lists, so
each op_type gets a spec of its own (OpSpec.for_attrs); every other keyword is a string the
CustomOpProp receives, as in MXNet. The node runs nd.Custom, so a bound Executor, the
Module API and SymbolBlock differentiate it through the operator's own backward.
"""
from ..base import MXNetError
from .ops import OpSpec

_SPECS: dict = {}     # (op_type, its CustomOpProp class, its keyword strings) -> CustomSpec
_SCOPE_KEYS = ("ctx_group", "lr_mult", "wd_mult", "name")


def _prop(op_type, kwargs, where):
    from ..operator import _REGISTRY, registered_custom_ops
    cls = _REGISTRY.get(op_type)
    if cls is None:
        raise MXNetError(f"{where}: op Custom: no operator registered as {op_type!r} "
                         f"(registered: {registered_custom_ops()})")
    try:
        return cls(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's constructor: name it, whatever it raised
        raise MXNetError(f"{where}: op Custom({op_type!r}): its CustomOpProp refused the "
                         f"attributes {kwargs}: {type(e).__name__}: {e}") from None


def _run(*data, op_type, **kwargs):
    from ..operator import Custom
    return Custom(*data, op_type=op_type, **kwargs)


class CustomSpec(OpSpec):
    """Custom before its op_type is known (what `lookup('Custom')` gives): it checks the
    attributes, then for_attrs gives the op_type's own spec."""

    def __init__(self, prop=None):
        args = prop.list_arguments() if prop else []
        aux = prop.list_auxiliary_states() if prop else []
        outs = prop.list_outputs() if prop else ["output"]
        super().__init__("Custom", _run, list(args) + list(aux), attrs={}, aux=aux,
                         outputs=lambda a: (len(outs), list(outs)),
                         shapes=self._shapes if prop else None,
                         stypes=self._stypes if prop else None)
        self.prop = prop

    def check_attrs(self, raw, where):
        out = {k: str(v) for k, v in raw.items()
               if not (k.startswith("__") and k.endswith("__")) and k not in _SCOPE_KEYS}
        if not out.get("op_type"):
            raise MXNetError(f"{where}: op Custom needs op_type (the name the operator was "
                             f"registered under)")
        return out

    def for_attrs(self, params, where="mx.sym.Custom"):
        from ..operator import _REGISTRY
        kwargs = {k: v for k, v in params.items() if k != "op_type"}
        key = (params["op_type"], _REGISTRY.get(params["op_type"]), tuple(sorted(kwargs.items())))
        spec = _SPECS.get(key)
        if spec is None:
            spec = _SPECS[key] = CustomSpec(_prop(params["op_type"], kwargs, where))
        return spec

    def _stypes(self, attrs, in_stypes):
        """The outputs' storage types by the prop's infer_storage_type (its default refuses
        sparse inputs, as MXNet's does)."""
        from ..operator import _storage_lists
        n_args = len(self.prop.list_arguments())
        lengths = (n_args, len(self.prop.list_outputs()),
                   len(self.prop.list_auxiliary_states()))
        return _storage_lists(self.prop, "infer_storage_type", (list(in_stypes[:n_args]),),
                              lengths)[1]

    def _shapes(self, data_shape, attrs):
        """The other inputs' shapes from the first one's, by the prop's infer_shape (unknown
        shapes reach it as empty tuples, as MXNet passes them)."""
        from ..operator import inferred
        n = len(self.prop.list_arguments())     # (MXNet passes the arguments' shapes only)
        try:
            arg_shapes, _, aux_shapes = inferred(self.prop, "infer_shape",
                                                 [list(data_shape)] + [[] for _ in range(n - 1)])
        except Exception:  # noqa: BLE001 - a prop that needs every shape: none inferred here
            return {}
        shapes = list(arg_shapes)[:n] + [None] * (n - len(arg_shapes)) + list(aux_shapes or [])
        return {name: tuple(int(d) for d in s) for name, s in zip(self.inputs, shapes)
                if s is not None and len(s)}


def symbol_custom(*data, op_type=None, name=None, attr=None, **kwargs):
    """mx.sym.Custom(*data, op_type=...): positional inputs in the prop's list_arguments()
    (then list_auxiliary_states()) order, or by those names as keywords."""
    from .ops import lookup
    from .symbol import Symbol, _make
    given = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    attrs = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
    attrs["op_type"] = op_type
    generic = lookup("Custom")      # (the op_type's spec names the positional inputs)
    spec = generic.for_attrs(generic.check_attrs(
        {k: v for k, v in attrs.items() if v is not None}, "mx.sym.Custom"))
    for a in data:
        if not isinstance(a, Symbol):
            raise TypeError(f"mx.sym.Custom: positional arguments must be Symbols (got "
                            f"{type(a).__name__}); pass attributes as keywords")
    if len(data) > len(spec.inputs):
        raise TypeError(f"mx.sym.Custom({op_type!r}): {len(data)} inputs given, it takes "
                        f"{list(spec.inputs)}")
    for slot, s in zip(spec.inputs, data):
        if slot in given:
            raise TypeError(f"mx.sym.Custom: input {slot!r} given twice")
        given[slot] = s
    return _make("Custom", given, attrs, name, attr)
