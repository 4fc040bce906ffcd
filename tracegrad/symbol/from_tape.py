"""autograd.get_symbol: the graph autograd recorded behind an array, as an MXNet Symbol.

The recorded ops are lifted into an IR function (as a trace is) and written with from_ir's
primitive-to-operator table. As in MXNet, the graph's inputs are Symbol variables: arrays
marked with attach_grad are named var<k>, other arrays a recorded op read are null<k>, k
counting the graph's inputs in the order they were created. An op with no MXNet counterpart
(a comparison, a gather, a sort, a compiled hybridized block, a custom Function, ...) raises
an MXNetError naming it; so does a Symbol that does not recompute the array from the recorded
inputs: a wrong graph is never returned.
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
    copy_ops(b, ops, env)
    fn = b.ret(env[head])
    try:
        sym = ir_to_symbol(fn, names)
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
