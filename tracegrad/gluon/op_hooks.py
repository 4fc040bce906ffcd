"""HybridBlock.register_op_hook(callback, monitor_all=False), as in MXNet 1.x.

MXNet's cached graph calls `callback(node_name, op_name, array)` for every operator node's
outputs (``dense0_fwd_output``) as a hybridized block runs, and with monitor_all for each
node's inputs first (``pool0_fwd_data``); names are bytes, as its C callback hands them over.
Here a hooked hybridized block runs its graph node by node: the block's Symbol (the one
export writes, with MXNet's node names) evaluated on the call's arrays and the parameters'
own arrays, under the caller's autograd state, so the outputs and gradients are the block's.
The compiled call is skipped while a hook is installed (a debugging aid, as in MXNet, where
the monitor also slows the graph down). The callbacks run after the graph, outside record().
"""
from .. import autograd
from ..array import NDArray
from ..base import MXNetError
from ..tracing.jit import STRUCTURE_VERSION
from ..util import _NP


def register(block, callback, monitor_all):
    """Install the hook on `block` and every block under it (MXNet's recursion): whichever
    of them is called as a hybridized block reports its nodes."""
    if not callable(callback):
        raise MXNetError(f"register_op_hook: callback must be callable, got "
                         f"{type(callback).__name__}")
    stack = [block]
    while stack:
        b = stack.pop()
        d = b.__dict__
        d["_op_hook"] = (callback, bool(monitor_all))
        for fast in ("_tg_serve", "_tg_step", "_op_hook_graphs"):  # (fast paths run no hook)
            d.pop(fast, None)
        stack.extend(b._children.values())
    STRUCTURE_VERSION[0] += 1     # (captured steps and block replays holding it let go)


def call(block, args, hook):
    """The hooked block's outputs for `args` (arrays), its nodes reported to the hook."""
    from .. import symbol as sym
    from ..symbol.symbol import evaluate
    if not all(isinstance(a, NDArray) for a in args):
        raise MXNetError(f"{block.name}: a block with an op hook takes arrays only (MXNet's "
                         f"cached graph), got {', '.join(type(a).__name__ for a in args)}")
    names = ["data"] if len(args) == 1 else [f"data{i}" for i in range(len(args))]
    graphs = block.__dict__.setdefault("_op_hook_graphs", {})
    key = (len(args), STRUCTURE_VERSION[0])
    graph = graphs.get(key)
    if graph is None:
        graphs.clear()
        out = block(*[sym.var(n) for n in names])
        single = isinstance(out, sym.Symbol)
        heads = [out] if single else list(out)
        graph = graphs[key] = (sym.Group(heads) if len(heads) > 1 else heads[0], single)
    symbol, single = graph
    values = dict(zip(names, (_nd(a) for a in args)))
    params = block.collect_params().values()
    _finish_deferred(symbol, values, [p for p in params if p._data is None])
    for p in params:
        values[p.name] = p._nd_data()
    callback, monitor_all = hook
    seen = []
    heads = evaluate(symbol, values, _collector(seen, monitor_all))
    with autograd.pause(train_mode=autograd.is_training()):
        for name, op, arr in seen:
            callback(name.encode(), op.encode(), arr)
    if _NP["array"]:
        heads = [h.as_np_ndarray() for h in heads]
    return heads[0] if single and len(heads) == 1 else heads


def _finish_deferred(symbol, values, pending):
    """Parameters whose shape waits on the first call: their shapes from the graph's."""
    if not pending:
        return
    arg_shapes, _, aux_shapes = symbol.infer_shape(**{k: v.shape for k, v in values.items()})
    shapes = dict(zip(symbol.list_arguments(), arg_shapes or ()))
    shapes.update(zip(symbol.list_auxiliary_states(), aux_shapes or ()))
    for p in pending:
        if p._deferred_init and shapes.get(p.name) is not None:
            p.shape = shapes[p.name]
            p._finish_deferred_init()


def _nd(a):
    return a.as_nd_ndarray() if hasattr(a, "as_nd_ndarray") and type(a) is not NDArray else a


# operators MXNet registers without input names (no FListInputNames: its unary macro and the
# shape ops), whose inputs its monitors report as input0, input1, ...
_UNNAMED_INPUTS = frozenset((
    "Activation", "relu", "sigmoid", "tanh", "softsign", "exp", "expm1", "log", "log1p",
    "sqrt", "rsqrt", "square", "abs", "negative", "reciprocal", "sin", "cos", "erf", "floor",
    "ceil", "round", "sign", "Reshape", "reshape", "Flatten", "flatten", "transpose",
    "expand_dims", "clip", "slice", "slice_axis", "tile", "Cast", "cast"))


def _collector(seen, monitor_all):
    def on_node(node, inputs, outputs):
        op = node.op if isinstance(node.op, str) else getattr(node.op, "name", str(node.op))
        if monitor_all:
            slots = () if op in _UNNAMED_INPUTS else node.input_names
            for i, arr in enumerate(inputs):
                seen.append((f"{node.name}_{slots[i] if i < len(slots) else f'input{i}'}",
                             op, arr))
        for out_name, arr in zip(node.visible_outputs(), outputs):
            seen.append((f"{node.name}_{out_name}", op, arr))
    return on_node
