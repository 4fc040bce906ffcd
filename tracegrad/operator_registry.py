"""mx.operator.get_all_registered_operators / get_operator_arguments: MXNet 1.9.1's view of its
operator registry (the names mx.sym / mx.nd know, and one operator's arguments with their
type descriptions), read from the symbolic API's op table (symbol/ops.py) and the nd
functions' signatures.

    get_operator_arguments('Activation')
    # OperatorArguments(narg=2, names=['data', 'act_type'],
    #                   types=['NDArray-or-Symbol', "{'relu', ..., 'tanh'}, required"])
"""
import collections
import inspect

from .base import MXNetError

OperatorArguments = collections.namedtuple('OperatorArguments', ['narg', 'names', 'types'])

_NAMES = None
_SKIPPED = ("out", "name", "ctx")


def _nd_names():
    """(MXNet name, nd function) of the nd namespaces' public functions."""
    from . import nd
    for prefix, space in (("", nd), ("_contrib_", nd.contrib), ("_linalg_", nd.linalg),
                          ("_image_", nd.image)):
        for name in dir(space):
            if not name.startswith("_"):
                yield prefix + name


def get_all_registered_operators():
    """The names of the operators the symbolic and imperative APIs know (MXNet's registered
    operator names: `Activation`, `FullyConnected`, `_contrib_box_nms`, aliases too)."""
    global _NAMES
    if _NAMES is None:
        from .symbol import ops
        ops.lookup("Activation")          # (builds the op table)
        names = set(ops._SPECS) | set(ops.ALIASES)
        names.update(n for n in _nd_names() if ops.lookup(n) is not None)
        _NAMES = sorted(names)
    return list(_NAMES)


def _default_text(value):
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return "'None'" if value is None else str(value)


def _kind_text(value):
    """The type MXNet's docs give a parameter, from the nd function's default."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "Shape(tuple)"
    return "any"


def get_operator_arguments(op_name):
    """OperatorArguments(narg, names, types) of an MXNet operator: its array inputs
    ('NDArray-or-Symbol', 'NDArray-or-Symbol[]' when variadic), then its attributes, each
    typed as MXNet's docs type it ("{'relu', 'sigmoid'}, required",
    "int, optional, default=1")."""
    from .symbol import ops
    if not isinstance(op_name, str):
        raise MXNetError(f"get_operator_arguments: op_name must be a string, got "
                         f"{type(op_name).__name__}")
    spec = ops.lookup(op_name)
    if spec is None or not hasattr(spec, "fn"):
        raise MXNetError(f"get_operator_arguments: no operator named {op_name!r}")
    try:
        params = inspect.signature(spec.fn).parameters
    except (TypeError, ValueError):
        params = {}
    names, types = [], []
    for name in spec.inputs:
        names.append(name)
        types.append("NDArray-or-Symbol[]" if spec.variadic else "NDArray-or-Symbol")
    if spec.variadic and not spec.inputs:
        names.append("data")
        types.append("NDArray-or-Symbol[]")
    if spec.attrs is not None:
        attrs = [(k, getattr(check, "type_text", None)) for k, check in spec.attrs.items()]
    else:
        attrs = [(p.name, None) for p in params.values()
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                 and p.name not in spec.inputs and p.name not in _SKIPPED]
    for name, text in attrs:
        p = params.get(name)
        required = p is not None and p.default is p.empty
        default = None if p is None or required else p.default
        if text is None:
            text = _kind_text(default)
        elif default is None and "None" not in text:
            required = True     # (a None default the attribute's check refuses: num_hidden)
        names.append(name)
        types.append(f"{text}, required" if required
                     else f"{text}, optional, default={_default_text(default)}")
    return OperatorArguments(len(names), names, types)
