"""`tracegrad.jit(fn)` and `HybridBlock.hybridize()`: trace once per input signature, compile,
and run forward and backward as one native call each.

A call looks its signature up (input types, static arguments, training mode, which inputs need
gradients). On a miss it traces `fn` into IR. Outside recording it compiles the inference graph.
When gradients are needed it builds the adjoint with ir.vjp, compiles the training forward (the
outputs plus the residuals the adjoint reads) and the adjoint, and records ONE `compiled_call`
op on the eager tape; its vjp rule emits ONE `compiled_adjoint` op, so backward() is one native
call for the whole block, and grad_req / head gradients are handled by the tape as usual.
Data-dependent Python control flow met while tracing runs that call eagerly, with a warning.
"""
import functools
import threading
import warnings

import numpy as np

from .base import DeferredInitializationError, user_location
from .ir.autodiff import copy_ops, vjp
from .ir.function import Function
from .ir.ops import OpDef
from .ir.passes import run_pipeline
from .ir.types import FLOATS, parse_type
from .make_ir import _identifier, trace
from .array import HOOKS, NDArray, wrap
from .random import next_key
from .runtime import tape
from .runtime.segments import compile_callable
from .runtime.tape import STATE
from .stats import bump

PIPELINE = "fold,simplify,cse,dce"
MAX_VARIANTS = 32
_ENTRIES: dict = {}  # id -> TrainingEntry, so tape ops can name their compiled code


class _Tracing(threading.local):
    depth = 0


_TRACING = _Tracing()


class GraphBreak(Exception):
    """Raised inside a trace when Python asks for a concrete value of a traced array."""


def _compile(fn):
    """Native code for `fn` (ir.Function): a callable `f(*arrays) -> list of arrays`.

    Ops with no native lowering (a custom Function's Python code) split the graph: the rest
    stays native and each such op runs in Python, counted as an eager fallback.
    """
    return compile_callable(fn, on_python_op=lambda op: bump("eager_fallbacks"))


class _Feed:
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
        self.updates = [(_Feed.PARAM, ids[id(t)]) if id(t) in ids else (_Feed.ARG, t)
                        for t in tr.updates]

    def arrays(self, args, params):
        out = []
        for kind, ref in self.feeds:
            if kind == _Feed.ARG:
                out.append(args[ref]._data)
            elif kind == _Feed.PARAM:
                out.append(params[ref]._data)
            elif kind == _Feed.KEY:
                out.append(self.pending_keys.pop(0) if self.pending_keys else next_key()._data)
            elif kind == _Feed.CONST:
                out.append(ref)
            else:
                out.append(ref.data)
        return out

    def operand(self, i, args, params, data):
        """The tape value standing for parameter i of the traced function in this call."""
        kind, ref = self.feeds[i]
        v = None
        if kind == _Feed.ARG:
            v = args[ref]._value
        elif kind == _Feed.PARAM:
            v = params[ref]._value
        elif kind == _Feed.VAR:
            v = ref
        return v if v is not None else tape.leaf(data)

    def write_updates(self, outs, params):
        """Write the state updates (outputs after the user's) into their arrays in place."""
        for k, (kind, ref) in enumerate(self.updates):
            target = params[ref] if kind == _Feed.PARAM else ref
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


class JitFunction:
    """A function of NDArrays compiled per input signature (see module docstring)."""

    def __init__(self, fn, params=None, name=None, param_names=()):
        self.fn, self.params = fn, params or (lambda: [])
        self.param_names = list(param_names)
        self.name = name or getattr(fn, "__name__", "f")
        self.cache, self.last = {}, None
        functools.update_wrapper(self, fn, updated=())

    def _signature(self, args, params):
        parts, needs = [], []
        recording = STATE.recording
        for a in args:
            if isinstance(a, NDArray):
                d = a._data
                parts.append((d.dtype, d.shape))
                needs.append(recording and _wants_grad(a._value))
            else:
                parts.append(("static", a))
        for p in params:
            d = p._data
            parts.append((d.dtype, d.shape))
            needs.append(recording and _wants_grad(p._value))
        return (tuple(parts), tuple(needs), STATE.training), needs

    def __call__(self, *args):
        if _TRACING.depth:  # inside an enclosing trace: inline, the outer graph compiles it
            return self.fn(*args)
        try:
            params = self.params()
        except DeferredInitializationError:
            # the first call infers parameter shapes eagerly (nested compiled blocks inline,
            # as they would in a trace); compile right after it
            _TRACING.depth += 1
            try:
                out = self.fn(*args)
            finally:
                _TRACING.depth -= 1
            self._compile_for(args)
            return out
        try:
            key, needs = self._signature(args, params)
            entry = self.cache.get(key)
        except TypeError:  # an unhashable static argument: nothing to key on
            bump("eager_fallbacks")
            return self.fn(*args)
        if entry is None:
            entry = self._build(args, params, needs)
            if len(self.cache) >= MAX_VARIANTS:
                warnings.warn(f"tracegrad.jit: {self.name} compiled {MAX_VARIANTS} variants; "
                              f"new input signatures now run eagerly", stacklevel=2)
                entry = EagerEntry(self.fn)
            self.cache[key] = entry
        else:
            bump("cache_hits")
        self.last = entry
        return entry(args, params)

    def _compile_for(self, args):
        """Build (not run) the entry for these arguments, as the next call would."""
        params = self.params()
        key, needs = self._signature(args, params)
        if key not in self.cache:
            self.cache[key] = self.last = self._build(args, params, needs)

    def _build(self, args, params, needs):
        bump("traces")
        tr, feeds, keys, broke = self._trace(args, params)
        if broke is not None:
            warnings.warn(f"tracegrad.jit: {self.name} needs a concrete value ({broke[0]}) at "
                          f"{broke[1]}; this call signature runs eagerly (data-dependent "
                          f"control flow is not compiled)", stacklevel=3)
            return EagerEntry(self.fn)
        wrt = [i for i, (kind, ref) in enumerate(feeds) if _needs_grad(kind, ref, needs, args)
               and tr.function.params[i].type.dtype in FLOATS]
        if not wrt:
            return InferenceEntry(tr, feeds, params, keys)
        return TrainingEntry(tr, feeds, params, keys, wrt)

    def _trace(self, args, params):
        keys, param_leaves = [], {}
        saved = [p._value for p in params]
        for i, p in enumerate(params):
            p._value = tape.leaf(p._data)
            p._value.name_hint = self.param_names[i] if i < len(self.param_names) else f"p{i}"
            param_leaves[p._value] = i

        def key_hook(key):
            t = wrap(key)
            t._value = tape.leaf(key)
            t._value.name_hint = f"key{len(keys)}"
            keys.append(t._value)
            return t

        def concretize_hook(arr, why):
            raise GraphBreak(why, user_location())
        old = (HOOKS.random_key, HOOKS.concretize)
        HOOKS.random_key, HOOKS.concretize = key_hook, concretize_hook
        _TRACING.depth += 1
        try:
            tr = trace(self.fn, args, name=self.name)
        except GraphBreak as e:
            return None, None, None, e.args
        finally:
            _TRACING.depth -= 1
            HOOKS.random_key, HOOKS.concretize = old
            for p, v in zip(params, saved):
                p._value = v
        array_args = [i for i, a in enumerate(args) if isinstance(a, NDArray)]
        feeds = [(_Feed.ARG, i) for i in array_args]
        keyset, drawn = set(keys), []
        for leaf in tr.captured:
            if leaf in param_leaves:
                feeds.append((_Feed.PARAM, param_leaves[leaf]))
            elif leaf in keyset:
                feeds.append((_Feed.KEY, None))
                drawn.append(leaf.data)
            elif leaf.var is not None:
                feeds.append((_Feed.VAR, leaf))
            else:
                feeds.append((_Feed.CONST, leaf.data))
        return tr, feeds, drawn, None

    def ir(self, stage="optimized"):
        """The ir.Function of `stage` ('traced', 'adjoint', 'optimized') of the last compile."""
        if self.last is None or stage not in self.last.stages:
            raise ValueError(f"no {stage!r} stage: call the function first (stages: "
                             f"{sorted(self.last.stages) if self.last else []})")
        return self.last.stages[stage]

    def llvm_ir(self) -> str:
        """The LLVM IR text of the last compiled forward."""
        if self.last is None or not hasattr(self.last, "native"):
            raise ValueError("nothing compiled yet: call the function first")
        return self.last.native.llvm_ir


def _wants_grad(v):
    """A tape value gradients should reach: a recorded result, or a variable not 'null'."""
    return v is not None and (v.producer is not None or (
        v.var is not None and v.var.grad_req != "null"))


def _needs_grad(kind, ref, needs, args):
    n_args = sum(isinstance(a, NDArray) for a in args)
    if kind == _Feed.ARG:
        return needs[sum(isinstance(a, NDArray) for a in args[:ref])]
    if kind == _Feed.PARAM:
        return needs[n_args + ref]
    if kind == _Feed.VAR:
        return STATE.recording and ref.var.grad_req != "null"
    return False


def jit(fn=None, *, name=None):
    """Compile a function of NDArrays (Python scalars/tuples are static arguments)."""
    if fn is None:
        return functools.partial(jit, name=name)
    return JitFunction(fn, name=name)


def hybrid_call(block, *args):
    """Run a hybridized block through its JitFunction (parameters are inputs, not constants)."""
    jf = block.__dict__.get("_tg_jit")
    if jf is None:
        params = block.collect_params()
        names = [_identifier(n) for n in params.keys()]
        plist = list(params.values())
        jf = JitFunction(block.forward, params=lambda: [p.data() for p in plist],
                         name=type(block).__name__.lower(), param_names=names)
        block.__dict__["_tg_jit"] = jf
    return jf(*args)
