"""Deferred parameter shapes of a custom 1.x HybridBlock found the way MXNet finds them: its
hybrid_forward run once on mx.sym variables (the inputs with their shapes, each parameter with
its partly known shape, 0 for unknown) and the graph's shape inference read back. MXNet's
extend/custom_layer tutorial declares `shape=(hidden_units, 0)` and lets the FullyConnected in
hybrid_forward fill in the 0; layers whose rule is not in the graph still define infer_shape."""
import operator

from .. import random as _random
from ..array import NDArray
from ..util import _NP

# F.np / F.npx names a set_np hybrid_forward calls, as the classic symbol op that infers the
# same shapes (np.dot as sym.dot: they agree while the second operand is at most 2-d, as a
# weight is; a disagreement is caught by the forward that follows, with the op's own error)
_NPX = {"relu": "relu", "sigmoid": "sigmoid", "softmax": "softmax",
        "log_softmax": "log_softmax", "activation": "Activation",
        "fully_connected": "FullyConnected", "convolution": "Convolution",
        "batch_norm": "BatchNorm", "layer_norm": "LayerNorm", "dropout": "Dropout",
        "pooling": "Pooling", "embedding": "Embedding", "leaky_relu": "LeakyReLU"}
_NP_NAMES = {"dot": "dot", "add": operator.add, "subtract": operator.sub,
             "multiply": operator.mul, "divide": operator.truediv,
             "maximum": "broadcast_maximum", "minimum": "broadcast_minimum", "exp": "exp",
             "log": "log", "tanh": "tanh", "sqrt": "sqrt", "square": "square", "abs": "abs",
             "negative": "negative"}    # (arithmetic as operators: a number operand too)


class _Names:
    def __init__(self, what, table):
        self._what, self._table = what, table

    def __getattr__(self, name):
        from .. import symbol as sym
        if name not in self._table:     # (infer_shapes_symbolically's caller reports it)
            raise AttributeError(f"F.{self._what}.{name} has no symbolic form for inferring "
                                 f"parameter shapes")
        rule = self._table[name]
        return getattr(sym, rule) if isinstance(rule, str) else rule


class _SymbolF:
    """hybrid_forward's F while shapes are inferred under set_np: mx.sym, and F.np / F.npx for
    the names above (MXNet's symbols have whole np / npx namespaces; tracegrad's are the
    classic ops, so only names with a classic twin are here)."""
    np, npx = _Names("np", _NP_NAMES), _Names("npx", _NPX)

    def __getattr__(self, name):
        from .. import symbol as sym
        return getattr(sym, name)


def infer_shapes_symbolically(block, args):
    """Set the unknown shapes of `block`'s own parameters from inputs `args`; whether every one
    became known (False when hybrid_forward cannot run on symbols, e.g. a 2.x forward)."""
    from .. import symbol as sym
    from .block import HybridBlock
    if type(block).forward is not HybridBlock.forward:
        return False
    pending = [p for p in block._reg_params.values() if p._data is None]
    known, inputs = {}, []
    for i, a in enumerate(args):
        if isinstance(a, NDArray):
            name = f"__tg_input{i}"
            known[name] = a.shape
            inputs.append(sym.var(name, shape=a.shape, dtype=a.dtype))
        else:
            inputs.append(a)
    params = {k: sym.var(p.name, shape=p.shape, dtype=p.dtype)
              for k, p in block._reg_params.items()}
    try:
        out = block.hybrid_forward(_SymbolF() if _NP["array"] else sym, *inputs, **params)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        graph = sym.Group(outs) if len(outs) > 1 else outs[0]
        arg_shapes, _, aux_shapes = graph.infer_shape_partial(**known)
    except Exception:     # noqa: BLE001  (an op or a child block with no symbolic form)
        return False
    found = dict(zip(graph.list_arguments(), arg_shapes or ()))
    found.update(zip(graph.list_auxiliary_states(), aux_shapes or ()))
    for p in pending:
        shape = found.get(p.name)
        if shape and all(shape):
            p.shape = tuple(shape)
    return all(p.shape and all(p.shape) for p in pending)


def infer_net_shapes_symbolically(block, args):
    """A hybridized block's first call, as MXNet's CachedOp makes it: every deferred shape
    below `block` from the graph of one symbolic call on the inputs' shapes, the parameters
    initialized in the order an eager call meets them (same seed, same weights, hybridized
    or not); the call then runs compiled, not eagerly. All or nothing: False leaves every
    parameter as it was, for the eager first call to infer: arguments that are not dense
    arrays, a hook in the tree (it would see Symbols), shapes the graph leaves unknown, or a
    graph drawing random numbers (eager draws Dropout's mask between two layers'
    initializations)."""
    from .. import symbol as sym
    from ..sparse import BaseSparseNDArray
    from ..symbol.ops import draws_random
    from .symbolic_call import CALL_ORDER, symbolic_call
    params = block.collect_params()
    pending = {p.name: p for p in params.values() if p._data is None and p._deferred_init}
    if not pending or not all(
            isinstance(a, NDArray) and not isinstance(a, BaseSparseNDArray) for a in args):
        return False
    stack = [block]
    while stack:                # (hooks swap a block's class: hooks.py)
        b = stack.pop()
        if hasattr(type(b), "_tg_plain_class") or "_op_hook" in b.__dict__:
            return False
        stack.extend(b._children.values())
    known = {f"__tg_input{i}": a.shape for i, a in enumerate(args)}
    draws = _random._position()
    order, CALL_ORDER.blocks = getattr(CALL_ORDER, "blocks", None), []
    try:
        out = symbolic_call(block, [sym.var(n, shape=s, dtype=a.dtype)
                                    for (n, s), a in zip(known.items(), args)])
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        graph = sym.Group(outs) if len(outs) > 1 else outs[0]
        arg_shapes, _, aux_shapes = graph.infer_shape_partial(**known)
    except Exception:     # noqa: BLE001  (a layer with no symbolic form: the eager call)
        return False
    finally:
        order, CALL_ORDER.blocks = CALL_ORDER.blocks, order
        if _random._position() != draws:    # (a forward's Python drew an array: the
            _random._set_position(draws)     # eager call draws it, from the same key)
            graph = None
    if graph is None:
        return False
    if any(draws_random(n) or n.op == "Custom" for n in graph._order()):
        return False    # (a Custom op's forward is the user's Python: it may draw too)
    found = dict(zip(graph.list_arguments(), arg_shapes or ()))
    found.update(zip(graph.list_auxiliary_states(), aux_shapes or ()))
    shapes = {}
    for name, p in pending.items():
        shape = found.get(name)
        if not shape or not all(d > 0 for d in shape) or p._shape is None or \
                len(p._shape) != len(shape) or \
                any(o > 0 and o != n for o, n in zip(p._shape, shape)):
            return False
        shapes[name] = tuple(shape)
    # the order an eager first call initializes them in (each block's own parameters when
    # its call begins), so the same seed gives the same weights hybridized or not; for
    # sequential nets (the model zoo) that is also MXNet's order, the graph's inputs'
    named = [p.name for b in order for p in b._reg_params.values()]
    for name in named + graph.list_inputs():
        p = pending.pop(name, None)
        if p is not None:
            p.shape = shapes[name]
            p._finish_deferred_init()
    return True

