"""Compiled variants of a traced function, and the two tape ops that glue them to autograd.

An InferenceEntry is one native call. A TrainingEntry compiles the forward extended with the
residuals its adjoint reads, and the adjoint; a call records ONE `compiled_call` op on the eager
tape, whose vjp rule emits ONE `compiled_adjoint` op, so backward() is one native call for the
whole graph and grad_req / head gradients are handled by the tape as usual. Higher-order
gradients through compiled code differentiate the adjoint IR inline instead.
"""
import numpy as np

from .array import wrap
from .ir.autodiff import copy_ops, vjp
from .ir.function import Function
from .ir.ops import OpDef
from .ir.passes import run_pipeline
from .ir.types import FLOATS, parse_type
from .random import next_key
from .runtime import tape
from .runtime.segments import compile_callable
from .stats import bump

PIPELINE = "fold,simplify,cse,dce"
# id -> TrainingEntry, so tape ops (and adjoints cached by graph structure) can name their
# compiled code. Entries are kept for the life of the process: an id must never be reused
# while a cached adjoint may still name it.
_ENTRIES: dict = {}


def _compile(fn):
    """Native code for `fn` (ir.Function): a callable `f(*arrays) -> list of arrays`.

    Ops with no native lowering (a custom Function's Python code) split the graph: the rest
    stays native and each such op runs in Python, counted as an eager fallback.
    """
    return compile_callable(fn, on_python_op=lambda op: bump("eager_fallbacks"))


class Feed:
    """Where each parameter of a traced Function gets its data at call time."""
    ARG, PARAM, KEY, CONST, VAR = range(5)


class Entry:
    """One compiled variant: a traced Function plus how to feed it and its native code."""

    def __init__(self, tr, feeds, params, keys):
        self.traced, self.feeds, self.single = tr.function, feeds, tr.single
        self.n_out = len(tr.outputs)
        self.stages = {"traced": tr.function}
        # the trace drew these keys; the first run reuses them, so it draws what eager would
        self.pending_keys = list(keys)
        ids = {id(p): i for i, p in enumerate(params)}
        self.updates = [(Feed.PARAM, ids[id(t)]) if id(t) in ids else (Feed.ARG, t)
                        for t in tr.updates]

    def arrays(self, args, params):
        out = []
        for kind, ref in self.feeds:
            if kind == Feed.ARG:
                out.append(args[ref]._data)
            elif kind == Feed.PARAM:
                out.append(params[ref]._data)
            elif kind == Feed.KEY:
                out.append(self.pending_keys.pop(0) if self.pending_keys else next_key()._data)
            elif kind == Feed.CONST:
                out.append(ref)
            else:
                out.append(ref.data)
        return out

    def operand(self, i, args, params, data):
        """The tape value standing for parameter i of the traced function in this call."""
        kind, ref = self.feeds[i]
        v = None
        if kind == Feed.ARG:
            v = args[ref]._value
        elif kind == Feed.PARAM:
            v = params[ref]._value
        elif kind == Feed.VAR:
            v = ref
        return v if v is not None else tape.leaf(data)

    def write_updates(self, outs, params):
        """Write the state updates (outputs after the user's) into their arrays in place."""
        for k, (kind, ref) in enumerate(self.updates):
            target = params[ref] if kind == Feed.PARAM else ref
            np.copyto(target._data, outs[self.n_out + k], casting="unsafe")

    def finish(self, outs):
        res = [wrap(o) for o in outs[:self.n_out]]
        return res[0] if self.single else res


class InferenceEntry(Entry):
    def __init__(self, tr, feeds, params, keys):
        super().__init__(tr, feeds, params, keys)
        self.optimized = run_pipeline(tr.function, PIPELINE)
        self.stages["optimized"] = self.optimized
        self.native = _compile(self.optimized)

    def __call__(self, args, params):
        outs = self.native(*self.arrays(args, params))
        if self.updates:
            self.write_updates(outs, params)
        return self.finish(outs)


class TrainingEntry(Entry):
    """Forward emitting residuals + adjoint, both native, glued to the tape by two ops."""

    def __init__(self, tr, feeds, params, keys, wrt):
        super().__init__(tr, feeds, params, keys)
        fn = tr.function
        self.wrt = wrt
        residuals = []
        differentiable = Function(fn.name, fn.params, fn.ops, fn.outputs[:self.n_out])
        adjoint = run_pipeline(vjp(differentiable, wrt, residuals=residuals), PIPELINE)
        index = {p: i for i, p in enumerate(fn.params)}
        # residuals that are parameters are fed from the operands; the rest become outputs
        # after the user's outputs and the state updates
        extra = [r for r in residuals if r not in index]
        position = {r: len(fn.outputs) + k for k, r in enumerate(extra)}
        self.res_src = [("param", index[r]) if r in index else ("out", position[r])
                        for r in residuals]
        train_fn = Function(fn.name + "_train", fn.params, fn.ops, list(fn.outputs) + extra)
        self.forward_fn = run_pipeline(train_fn, PIPELINE)
        self.adjoint = adjoint
        self.stages.update(optimized=self.forward_fn, adjoint=adjoint)
        self.native = _compile(self.forward_fn)
        self.native_adjoint = _compile(adjoint)
        self.id = id(self)
        self.out_types = tuple(str(v.type) for v in self.forward_fn.outputs)
        self.grad_types = tuple(str(fn.params[i].type) for i in wrt)
        self.call_attrs = tape.canonical(CompiledCall, {"entry": self.id,
                                                        "out_types": self.out_types})
        _ENTRIES[self.id] = self

    def __call__(self, args, params):
        arrays = self.arrays(args, params)
        outs = self.native(*arrays)
        if self.updates:
            self.write_updates(outs, params)
        operands = [self.operand(i, args, params, a) for i, a in enumerate(arrays)]
        values = tape.record_multi(CompiledCall, operands, self.call_attrs, outs, True)
        res = [wrap(o) for o in outs[:self.n_out]]
        for r, v in zip(res, values):
            r._value = v
        return res[0] if self.single else res


class CompiledCall(OpDef):
    """A compiled training forward on the tape: results are outputs then residuals."""
    name = "compiled_call"
    attr_names = frozenset({"entry", "out_types"})

    def infer(*types, entry, out_types):
        return tuple(parse_type(t) for t in out_types)

    def impl(*xs, entry, out_types):
        return tuple(_ENTRIES[entry].native(*xs))

    def vjp(b, g, out, *xs, entry, out_types):
        e = _ENTRIES[entry]
        g, out = (g, out) if isinstance(g, tuple) else ((g,), (out,))
        if any(c is not None for c in g[e.n_out:]):  # residuals differentiated: higher order
            return _inline_vjp(b, e.forward_fn, e.wrt, g, xs)
        saved = [xs[i] if kind == "param" else out[i] for kind, i in e.res_src]
        cots = [c if c is not None else _zeros(b, o.type) for c, o in zip(g[:e.n_out], out)]
        grads = b.compiled_adjoint(*saved, *cots, entry=entry, grad_types=e.grad_types)
        grads = grads if isinstance(grads, tuple) else (grads,)
        result = [None] * len(xs)
        for i, gr in zip(e.wrt, grads):
            result[i] = gr
        return tuple(result)


class CompiledAdjoint(OpDef):
    """The compiled adjoint of a compiled_call: one native call computes every gradient."""
    name = "compiled_adjoint"
    attr_names = frozenset({"entry", "grad_types"})

    def infer(*types, entry, grad_types):
        ts = tuple(parse_type(t) for t in grad_types)
        return ts if len(ts) != 1 else ts[0]

    def impl(*xs, entry, grad_types):
        outs = _ENTRIES[entry].native_adjoint(*xs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def vjp(b, g, out, *xs, entry, grad_types):
        adj = _ENTRIES[entry].adjoint
        gs = g if isinstance(g, tuple) else (g,)
        wrt = [i for i, p in enumerate(adj.params) if p.type.dtype in FLOATS]
        return _inline_vjp(b, adj, wrt, gs, xs)


def _zeros(b, t):
    return b.constant(value=0.0, shape=t.shape, dtype=t.dtype)


def _inline_vjp(b, fn, wrt, gs, xs):
    """Emit vjp(fn) inline into b (recomputing fn's forward from xs): the differentiable path
    for higher-order gradients through compiled code."""
    adj = vjp(fn, wrt, recompute=True)
    cots = [c if c is not None else _zeros(b, o.type) for c, o in zip(gs, fn.outputs)]
    env = dict(zip(adj.params, list(xs) + cots))
    copy_ops(b, adj.ops, env)
    result = [None] * len(xs)
    for i, o in zip(wrt, adj.outputs):
        result[i] = env.get(o, o)
    return tuple(result)


class EagerEntry:
    """A signature whose trace met data-dependent control flow: it runs eagerly."""

    def __init__(self, fn):
        self.fn, self.stages = fn, {}

    def __call__(self, args, params):
        bump("eager_fallbacks")
        return self.fn(*args)
