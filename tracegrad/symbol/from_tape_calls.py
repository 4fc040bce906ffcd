"""get_symbol of a graph holding compiled calls: a hybridized block's call is MXNet's CachedOp.

MXNet 1.9.1 (src/imperative/cached_op.cc) records a hybridized block's call either inline,
each operator of the block's graph on its own, when that graph has at most `inline_limit`
operators (hybridize's flag, 2 by default; never with static_alloc), or as ONE node, op
`_CachedOp` named `_cachedop`, whose inputs are the graph's inputs (data and parameters, in
the graph's order) and whose outputs are the block's. Both are written from the block's own
graph (the block called on Symbols, as export writes it). A compiled call whose block is not
found (a tracegrad.jit function, a block since rebuilt) is written from its traced forward,
op by op, as the eager ops it compiled.
"""
import gc

from ..base import MXNetError
from .symbol import Node, Symbol, evaluate, topo_order

_FALLBACK_ERRORS = (MXNetError, TypeError, ValueError, KeyError, IndexError, AttributeError,
                    NotImplementedError, RuntimeError)


class BlockCall:
    """A compiled_call on the tape with the block that made it and the block's graph."""

    def __init__(self, op, graph, inputs, inline):
        self.op = op
        self.graph = graph      # the block's Symbol, its variables named as MXNet's
        self.inputs = inputs    # graph variable name -> index of the call's operand
        self.inline = inline    # (at most inline_limit operators, and no static_alloc)

    def outputs(self, operands):
        """[(node, index)] of the call's results, given its operands' Symbols."""
        args = {name: operands[i] for name, i in self.inputs.items()}
        if self.inline:
            return self.graph(**args)._outputs
        names = self.graph.list_inputs()
        node = Node("_CachedOp", "_cachedop", {}, [args[n]._outputs[0] for n in names],
                    _cached_op_spec(self.graph), {"graph": self.graph}, names)
        return [(node, i) for i in range(len(self.graph._outputs))]


def _cached_op_spec(graph):
    """The OpSpec of a recorded `_CachedOp` node: it evaluates the block's graph."""
    from .ops import OpSpec
    inputs = tuple(graph.list_inputs())
    names = graph.list_outputs()

    def cached_op(*arrays, graph):
        out = evaluate(graph, dict(zip(inputs, arrays)))
        return out if len(out) != 1 else out[0]
    return OpSpec("_CachedOp", cached_op, inputs, {},
                  outputs=lambda attrs: (len(names), list(names)))


def block_call(op):
    """The BlockCall of a compiled_call tape op, or None when its block is not found or its
    graph cannot stand for it."""
    from ..runtime.handles import lookup
    from ..tracing.compiled import Feed
    entry = lookup(op.attrs.get("entry"))
    feeds = getattr(entry, "feeds", None)
    if feeds is None or any(not hasattr(o, "producer") for o in op.operands):
        return None
    found = _find_block(op, feeds, Feed.PARAM)
    if found is None:
        return None
    block, plist = found
    try:
        return _block_call(op, block, plist, feeds, Feed)
    except _FALLBACK_ERRORS:
        return None


def _find_block(op, feeds, param_kind):
    """(block, its compiled parameter list) of the hybridized block whose parameters are
    the call's parameter operands (gc: a tape op names its compiled entry, not its block)."""
    from ..gluon.block import HybridBlock
    params = [(i, ref) for i, (kind, ref) in enumerate(feeds) if kind == param_kind]
    if not params:
        return None
    for obj in gc.get_objects():
        if not isinstance(obj, HybridBlock) or "_tg_jit" not in obj.__dict__:
            continue
        plist = getattr(obj.__dict__["_tg_jit"], "param_list", None)
        if plist is None:
            continue
        if all(ref < len(plist) and _is_array_of(op.operands[i], plist[ref])
               for i, ref in params):
            return obj, plist
    return None


def _is_array_of(value, param):
    """Whether tape value `value` is parameter `param`'s array."""
    owner = getattr(value, "owner", None)
    arr = owner() if owner is not None else None
    if arr is None or param._data is None:
        return False
    return arr is param._data or any(arr is a for a in param._copies.values())


def _block_call(op, block, plist, feeds, feed):
    """The BlockCall of `op` made by `block`: its graph built on Symbols named as MXNet's
    (`data`, or `data0`, `data1`, ... for several arrays; the parameters by name)."""
    from .. import symbol as sym
    args = [ref for kind, ref in feeds if kind == feed.ARG]
    n_args = max(args) + 1 if args else 0
    names = ["data"] if n_args == 1 else [f"data{i}" for i in range(n_args)]
    structure = block.__dict__.get("_cached_args")
    counter = iter(names)
    if structure is not None and _count_arrays(structure) == n_args:
        call_args = _replace_arrays(structure, lambda: sym.var(next(counter)))
    else:
        call_args = [sym.var(n) for n in names]
    out = block(*call_args)
    outs = _flat_symbols(out)
    graph = sym.Group(outs) if len(outs) > 1 else outs[0]
    inputs = {}
    for i, (kind, ref) in enumerate(feeds):
        if kind == feed.ARG:
            inputs[names[ref]] = i
        elif kind == feed.PARAM:
            inputs[plist[ref].name] = i
        else:
            return None      # (a random key or an array held from the block's scope)
    if set(graph.list_inputs()) - set(inputs) or len(graph._outputs) > len(op.results):
        return None
    flags = block.__dict__.get("_flags") or {}
    ops = sum(1 for n in graph._order() if n.op is not None)
    inline = not flags.get("static_alloc") and ops <= int(flags.get("inline_limit", 2))
    return BlockCall(op, graph, {k: v for k, v in inputs.items()
                                 if k in set(graph.list_inputs())}, inline)


def _count_arrays(obj):
    from ..array import NDArray
    if isinstance(obj, NDArray):
        return 1
    if isinstance(obj, (list, tuple)):
        return sum(_count_arrays(o) for o in obj)
    return 0


def _replace_arrays(obj, make):
    from ..array import NDArray
    if isinstance(obj, NDArray):
        return make()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_replace_arrays(o, make) for o in obj)
    return obj


def _flat_symbols(out):
    if isinstance(out, Symbol):
        return [Symbol([o]) for o in out._outputs]
    if isinstance(out, (list, tuple)):
        return [s for o in out for s in _flat_symbols(o)]
    raise TypeError(f"a block's graph output is a {type(out).__name__}")


def substitute(entries, repl, memo):
    """entries ((node, index) pairs) with the variables named in repl replaced by its
    (node, index); memo (shared across calls) keeps one copy of each rewritten node."""
    for node in topo_order([n for n, _ in entries]):
        if id(node) in memo:
            continue
        if node.op is None:
            memo[id(node)] = ("var", repl.get(node.name, (node, 0)))
        else:
            memo[id(node)] = ("op", Node(node.op, node.name, node.attrs,
                                         [_ref(memo, c, i) for c, i in node.inputs],
                                         node.spec, node.params, node.input_names))
    return [_ref(memo, n, i) for n, i in entries]


def _ref(memo, node, i):
    kind, target = memo[id(node)]
    return target if kind == "var" else (target, i)
