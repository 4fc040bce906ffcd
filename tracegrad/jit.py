"""`tracegrad.jit(fn)` and `HybridBlock.hybridize()`: trace once per input signature, compile,
and run forward and backward as one native call each (the variants are in compiled.py).

A call looks its signature up (input types, static arguments, training mode, which inputs need
gradients). On a miss it traces `fn` into IR: outside recording the inference graph is compiled,
when gradients are needed the training forward and its adjoint. Parameters and random keys are
inputs, fed fresh on every call. Data-dependent Python control flow met while tracing runs that
call eagerly, with a warning naming the user's line.
"""
import functools
import threading
import warnings

from .array import HOOKS, NDArray, wrap
from .base import DeferredInitializationError, user_location
from .compiled import EagerEntry, Feed, InferenceEntry, TrainingEntry
from .ir.types import FLOATS
from .make_ir import _identifier, trace
from .runtime import tape
from .runtime.tape import STATE
from .stats import bump

MAX_VARIANTS = 32


class _Tracing(threading.local):
    depth = 0


_TRACING = _Tracing()


class GraphBreak(Exception):
    """Raised inside a trace when Python asks for a concrete value of a traced array."""


class JitFunction:
    """A function of NDArrays compiled per input signature (see module docstring)."""

    def __init__(self, fn, params=None, name=None, param_names=(), fastmath=()):
        from .codegen.fastmath import normalize
        self.fastmath = normalize(fastmath)
        self.fn, self.params = fn, params or (lambda: [])
        self.param_names = list(param_names)
        self.name = name or getattr(fn, "__name__", "f")
        self.cache, self.last = {}, None
        # one call at a time: a trace swaps the parameters' tape values for its own leaves
        self._lock = threading.RLock()
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
        with self._lock:
            return self._call(args)

    def _call(self, args):
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
            if len(self.cache) >= MAX_VARIANTS:
                warnings.warn(f"tracegrad.jit: {self.name} compiled {MAX_VARIANTS} variants; "
                              f"new input signatures now run eagerly", stacklevel=3)
                entry = EagerEntry(self.fn)
            else:
                entry = self._build(args, params, needs)
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
                          f"control flow is not compiled)", stacklevel=4)
            return EagerEntry(self.fn)
        wrt = [i for i, (kind, ref) in enumerate(feeds) if _needs_grad(kind, ref, needs, args)
               and tr.function.params[i].type.dtype in FLOATS]
        if not wrt:
            return InferenceEntry(tr, feeds, params, keys, self.fastmath)
        return TrainingEntry(tr, feeds, params, keys, wrt, self.fastmath)

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
        feeds = [(Feed.ARG, i) for i in array_args]
        keyset, drawn = set(keys), []
        for leaf in tr.captured:
            if leaf in param_leaves:
                feeds.append((Feed.PARAM, param_leaves[leaf]))
            elif leaf in keyset:
                feeds.append((Feed.KEY, None))
                drawn.append(leaf.data)
            elif leaf.var is not None:
                feeds.append((Feed.VAR, leaf))
            else:
                feeds.append((Feed.CONST, leaf.data))
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
    if kind == Feed.ARG:
        return needs[sum(isinstance(a, NDArray) for a in args[:ref])]
    if kind == Feed.PARAM:
        return needs[n_args + ref]
    if kind == Feed.VAR:
        return STATE.recording and ref.var.grad_req != "null"
    return False


def jit(fn=None, *, name=None, fastmath=None):
    """Compile a function of NDArrays (Python scalars/tuples are static arguments).

        f = tracegrad.jit(lambda x, w: nd.relu(nd.dot(x, w)))
        with autograd.record():
            y = f(x, w)        # one native call; w.grad after y.backward() is one more

    Array arguments are read on every call. Arrays the function reaches from its enclosing
    scope are read as they were when it was traced (as with jax.jit): pass arrays that
    change as arguments, or use a HybridBlock, whose parameters are always read fresh.
    `fastmath`: LLVM fast-math flags to allow, e.g. ("contract", "nnan") or "fast"
    (default strict IEEE; see tracegrad/codegen/fastmath.py).
    """
    if fn is None:
        return functools.partial(jit, name=name, fastmath=fastmath)
    return JitFunction(fn, name=name, fastmath=fastmath)


def hybrid_call(block, *args):
    """Run a hybridized block through its JitFunction (parameters are inputs, not constants)."""
    jf = block.__dict__.get("_tg_jit")
    if jf is None:
        params = block.collect_params()
        names = [_identifier(n) for n in params.keys()]
        plist = list(params.values())
        jf = JitFunction(block.forward, params=lambda: [p.data() for p in plist],
                         name=type(block).__name__.lower(), param_names=names,
                         fastmath=getattr(block, "_flags", {}).get("fastmath"))
        block.__dict__["_tg_jit"] = jf
    return jf(*args)
