"""Executor.get_optimized_symbol: the bound graph after MXNet's common-subexpression pass
(MXNET_ELIMINATE_COMMON_EXPR, on unless set to 0 when the executor is bound).

Two operator nodes computing the same op with the same attributes on the same inputs become
one (inputs first, so chains of duplicates fold from the leaves up). As MXNet's pass does, a
node is never merged when its op draws random numbers (Dropout, the samplers) or updates its
inputs (auxiliary states: BatchNorm's running statistics), nor a node without inputs. Graph
outputs that end up the same entry are kept apart: each repeat is a _copy of the first."""
import os

from .ops import canonical, draws_random

_UNMERGED = frozenset({"RNN", "Custom"})     # (besides the random ones: state, user code)


def enabled():
    """MXNET_ELIMINATE_COMMON_EXPR as MXNet reads it (default on)."""
    return os.environ.get("MXNET_ELIMINATE_COMMON_EXPR", "1").strip() not in ("0", "false")


def _mergeable(node):
    op = canonical(node.op)
    return bool(node.inputs) and not node.spec.aux and op not in _UNMERGED and \
        not draws_random(node)


def eliminate_common_expr(symbol):
    """The Symbol of `symbol` with common subexpressions merged (module docstring)."""
    from .symbol import Node, Symbol, make_op
    memo = {}       # id(old node) -> its node in the new graph
    seen = {}       # (op, attributes, inputs) -> the node computing it
    for node in symbol._order():
        if node.op is None:
            memo[id(node)] = node
            continue
        inputs = [(memo[id(c)], i) for c, i in node.inputs]
        key = None
        if _mergeable(node):
            key = (canonical(node.op), repr(sorted(node.params.items(), key=lambda kv: kv[0])),
                   tuple((id(c), i) for c, i in inputs))
            hit = seen.get(key)
            if hit is not None:
                memo[id(node)] = hit
                continue
        new = Node(node.op, node.name, node.attrs, inputs, node.spec, node.params,
                   node.input_names)
        memo[id(node)] = new
        if key is not None:
            seen[key] = new
    outs, taken = [], set()
    for node, i in symbol._outputs:
        entry = (memo[id(node)], i)
        key = (id(entry[0]), i)
        if key in taken and entry[0].op is not None:
            entry = make_op("_copy")(Symbol([entry]))._outputs[0]
        taken.add(key)
        outs.append(entry)
    return Symbol(outs)
