"""autograd.get_symbol: the graph autograd recorded behind an array, as an MXNet Symbol.

The recorded ops are lifted into an IR function (as a trace is) and written with from_ir's
primitive-to-operator table. As in MXNet, the graph's inputs are Symbol variables: arrays
marked with attach_grad are named var<k>, other arrays a recorded op read are null<k>, k
counting the graph's inputs in the order they were created. A hybridized block's call is
MXNet's CachedOp: its graph's operators inline (up to hybridize's inline_limit) or one
`_CachedOp` node (from_tape_calls.py); another compiled call (tracegrad.jit) is written as
the ops it compiled. An op with no MXNet counterpart (a comparison, a gather, a sort, a custom
Function, ...) raises an MXNetError naming it; so does a Symbol that does not recompute the
array from the recorded inputs: a wrong graph is never returned.
"""
import numpy as np

from ..array import NDArray, wrap
from ..base import MXNetError
from ..ir.autodiff import copy_ops
from ..ir.function import Builder
from ..runtime import tape


def tape_symbol(x):
    """The Symbol computing `x` from its recorded inputs (module docstring)."""
    from .. import autograd
    from . import Group
    from .from_ir import Unsupported, ir_to_symbol
    from .symbol import evaluate
    if not isinstance(x, NDArray):
        raise MXNetError(f"get_symbol: expects an NDArray, got {type(x).__name__}")
    head = x._value
    if not tape.live(head) or head.producer is None:
        raise MXNetError(f"get_symbol: the array of shape {x.shape} has no recorded history "
                         f"(compute it under autograd.record() from arrays with attach_grad, "
                         f"and before a backward frees the graph)")
    leaves, ops = tape.collect([head])
    b = Builder(name="get_symbol")
    env, names = {}, []
    for k, leaf in enumerate(leaves):
        names.append(f"{'var' if leaf.var is not None else 'null'}{k}")
        env[leaf] = b.param(leaf.type, names[-1])
    try:
        calls = _copy_tape(b, ops, env, names, head)
        fn = b.ret(env[head], *[env[o] for call, _ in calls for o in call.op.operands])
        sym = ir_to_symbol(fn, names)
        if calls:
            sym = [_with_calls(sym[0], sym[1:], calls)]
        with autograd.pause(), np.errstate(all="ignore"):
            got = evaluate(sym[0] if len(sym) == 1 else Group(sym),
                           {n: wrap(v.data) for n, v in zip(names, leaves)})[0].asnumpy()
    except Unsupported as e:
        raise MXNetError(f"get_symbol: the recorded graph of the array of shape {x.shape} "
                         f"has no MXNet operator form here: {e}") from None
    want = x.asnumpy()
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-6,
                                                  equal_nan=True):
        raise MXNetError(f"get_symbol: the Symbol written for the recorded graph of the array "
                         f"of shape {x.shape} does not recompute it; refusing to return it")
    return sym[0]


def _copy_tape(b, ops, env, names, head):
    """Copy the tape's ops into builder b. A hybridized block's call (from_tape_calls) is
    cut out: each result something reads becomes a variable `__call<k>_<j>`, appended to
    names; other compiled calls are copied as their traced forward's ops. Returns
    [(BlockCall, the variable name of each result or None)]."""
    from .from_ir import Unsupported
    from .from_tape_calls import block_call
    used = {id(o) for op in ops for o in op.operands}
    used.add(id(head))
    calls = []
    for op in ops:
        if op.opdef.name != "compiled_call":
            copy_ops(b, [op], env)
            continue
        call = block_call(op)
        if call is None:
            _inline_call(b, op, env, Unsupported)
            continue
        holes = []
        for j, r in enumerate(op.results):
            if id(r) not in used:
                holes.append(None)
                continue
            holes.append(f"__call{len(calls)}_{j}")
            names.append(holes[-1])
            env[r] = b.param(r.type, holes[-1])
        calls.append((call, holes))
    return calls


def _inline_call(b, op, env, unsupported):
    """A compiled call's results from its traced forward's ops on the call's operands."""
    from ..ir.function import Literal
    from ..runtime.handles import lookup
    fn = getattr(lookup(op.attrs.get("entry")), "forward_fn", None)
    if fn is None or len(fn.params) != len(op.operands) or len(fn.outputs) < len(op.results):
        raise unsupported(f"op compiled_call with {len(op.results)} results")
    inner = {p: o if isinstance(o, Literal) else env[o]
             for p, o in zip(fn.params, op.operands)}
    copy_ops(b, fn.ops, inner)
    for r, out in zip(op.results, fn.outputs):
        env[r] = out if isinstance(out, Literal) else inner[out]


def _with_calls(head, operands, calls):
    """head with each block call's variables replaced by the call's nodes (inline, or one
    _CachedOp node), its operands' Symbols taken in order from `operands`."""
    from .from_ir import Unsupported
    from .from_tape_calls import substitute
    from .symbol import Symbol
    memo, repl, pos = {}, {}, 0
    for call, holes in calls:
        n = len(call.op.operands)
        entries = substitute([s._outputs[0] for s in operands[pos:pos + n]], repl, memo)
        pos += n
        outs = call.outputs([Symbol([e]) for e in entries])
        for j, name in enumerate(holes):
            if name is None:
                continue
            if j >= len(outs):
                raise Unsupported("a hybridized call's state update or residual read after it")
            repl[name] = outs[j]
    return Symbol(substitute(head._outputs, repl, memo))
