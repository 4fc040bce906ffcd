"""`tracegrad.jit(fn)` and `HybridBlock.hybridize()`: trace per input signature, compile, and
run forward and backward natively.

A call looks its signature up: the structure of the arguments (tuples, lists, dicts, None,
keyword arguments, Python scalars — arrays anywhere inside are inputs), the arrays' types,
which of them need gradients, recording and training mode. Each signature owns a guards.
GuardTree: Python control flow on data met while tracing becomes guards, and each outcome
seen gets its own compiled continuation (see guards.py). Parameters and random keys are
inputs, fed fresh on every call; so are arrays the function reads from its scope (its
closure, globals, attributes, and what its helpers read: scope.py), and a place of that scope
rebound, or a number there changed, traces again (explain() lists them). Variants are
bounded per function and per guard; past a bound the call runs eagerly and one warning says
where and why.
"""
import functools
import threading
import warnings
import weakref
from collections import OrderedDict
from operator import is_ as _is
from types import MethodType

import numpy as np

from .. import log
from ..array import HOOKS, NDArray, SideEffect, materializing, wrap
from ..numpy_api.ndarray import as_np, ndarray as NpArray
from ..base import DeferredInitializationError, tracing_somewhere, user_location
from .compiled import ArgSlot, Feed, Held, held_state
from .guards import EAGER, Guard, GuardTree, Path, outcome_of, show_outcome
from .trace import _identifier, _names, trace
from ..random import _state as _RANDOM
from .scalars import TracedScalar, materialize
from .scope import (INLINED, MAX_ARRAY, Contents, Places, Same, VALUE_TYPES as _VALUE_TYPES,
                    argument_dicts, argument_key, block_bound, changed as _changed,
                    differs as _differs, now as _now, refill, walk as _scope,
                    watched as _watched)
from ..runtime import tape
from ..runtime.segments import python_ops
from ..runtime.tape import STATE
from ..stats import COUNTERS as _COUNTERS, bump

# bumped by gluon whenever a block gains, loses or replaces a child or parameter (hybrid_call)
STRUCTURE_VERSION = [0]
# bumped by gluon whenever a block sets or deletes an attribute (what reads a block's
# attributes by identity compares them again only when it moved: gluon/block.py replays,
# gluon/auto_compile.py)
ATTRIBUTE_VERSION = [0]

MAX_VARIANTS = 32        # compiled paths per function (over all signatures)
MAX_REBINDS = 3          # traces after a scope name got another array, before running eagerly
REBIND_WINDOW = 100      # calls after which a name's next change counts from 1 again
MAX_GUARD_OUTCOMES = 16  # compiled outcomes per guard


class _Tracing(threading.local):
    depth = 0


_TRACING = _Tracing()


# ---------------------------------------------------------------------- argument structure
def flatten(obj, arrays, names=None, path="arg", attrs=None, np_slots=False):
    """The hashable structure of `obj` with every NDArray replaced by a slot (appended to
    `arrays`); Python scalars, strings and None are part of the structure, and so are the
    attributes (`attrs`: the names fn's code reads) of an object (scope.argument_key). With
    `np_slots` (a function's outputs), an mx.np array's slot is "N": the compiled call
    returns an mx.np array there, as the function did."""
    if isinstance(obj, NDArray):
        arrays.append(obj)
        if names is not None:
            names.append(path)
        return "N" if np_slots and isinstance(obj, NpArray) else "A"
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(flatten(x, arrays, names, f"{path}_{i}", attrs, np_slots)
                                 for i, x in enumerate(obj)))
    if isinstance(obj, dict):   # (in its own order: `for k in kwargs` sees the call's)
        return (OrderedDict if type(obj) is OrderedDict else dict,
                tuple((k, flatten(v, arrays, names, f"{path}_{k}", attrs, np_slots))
                      for k, v in obj.items()))
    if type(obj) is TracedScalar:  # a traced scalar returned: its guarded numpy value
        obj = obj.concrete()
    attributes = argument_key(obj, attrs)   # an object's attributes (`cfg.lr`) fn reads
    if attributes is not None:      # (one without a hash of its own: by identity)
        return ("static", type(obj), obj if _hashable(obj) else Same(obj), attributes)
    hash(obj)  # an unhashable static argument: TypeError, the call runs eagerly
    return ("static", type(obj), obj)


def _hashable(obj):
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def unflatten(tree, it):
    if tree.__class__ is int:  # n arrays, no keyword arguments
        return tuple(it), {}
    if tree == "A":
        return next(it)
    if tree == "N":     # (an mx.np array the function returned)
        return as_np(next(it))
    kind = tree[0]
    if kind == "static":
        return tree[2].obj if type(tree[2]) is Same else tree[2]
    if kind == "stores":     # the outputs, then the arrays fn binds in its scope (jit._trace)
        out = unflatten(tree[1], it)
        for put in tree[2]:
            put(next(it))
        return out
    if kind is dict or kind is OrderedDict:
        return kind((k, unflatten(t, it)) for k, t in tree[1])
    items = [unflatten(t, it) for t in tree[1]]
    return items if kind is list else kind(items) if kind is tuple else kind(*items)


_PARTS = ("argument structure", "array types", "which inputs need gradients", "recording",
          "training mode", "block structure",
          "arrays read from its scope (their types or whether they need gradients)")


class JitFunction:
    """A function of NDArrays compiled per input signature (see module docstring)."""

    @property
    def fn(self):
        """The function compiled: a hybridized block's forward is held by a WeakMethod (the
        block holds this object: a strong reference back would keep a dropped net, with its
        last inputs, until the cycle collector runs)."""
        fn = self._fn
        return fn() if type(fn) is weakref.WeakMethod else fn

    @fn.setter
    def fn(self, fn):
        self._fn = fn

    def __init__(self, fn, params=None, name=None, param_names=(), max_variants=None,
                 max_guard_outcomes=None, fastmath=()):
        from ..codegen.fastmath import normalize
        self.fastmath = normalize(fastmath)
        self.fn, self.params = fn, params or (lambda: [])
        self.param_names = list(param_names)
        self.name = name or getattr(fn, "__name__", "f")
        self.max_variants = MAX_VARIANTS if max_variants is None else int(max_variants)
        self.max_guard_outcomes = (MAX_GUARD_OUTCOMES if max_guard_outcomes is None
                                   else int(max_guard_outcomes))
        self.cache, self.last, self.last_tree = {}, None, None
        self.held = []          # arrays traced code read from its scope (weak references)
        self._new_held = []     # those the trace under way added (JitFunction._graft)
        self.places = []        # [(getter, array, name)]: where fn's scope held them
        self.watched = []       # [(getter, value, name)]: the rest of its scope (scope.watched)
        self.rebinds, self.rebound_at, self.scope_eager = 0, 0, None
        self.counts = {"calls": 0, "traces": 0, "native": 0, "eager_fallbacks": 0,
                       "sparse_calls": 0}
        # a hybridized block's remembered calls in captured steps, one per variant
        # (gluon.block._remember_captured_call: made once, then only looked up)
        self.captured_calls = {}
        self.last_reason, self.warned, self.extra_key = "not called yet", False, None
        self.first_reason = "first call"
        self.quiet = False      # (tracegrad's own functions: no warnings, see _warn)
        self._names = _UNWALKED     # (_attribute_names)
        # one call at a time: a trace swaps the parameters' tape values for its own leaves
        self._lock = threading.RLock()
        weak = type(fn) is weakref.WeakMethod
        functools.update_wrapper(self, fn() if weak else fn, updated=())
        if weak:    # (its name and doc, and no strong __wrapped__ back to the block)
            del self.__wrapped__

    def _signature(self, args, kwargs, params):
        if len(args) == 1 and not kwargs and not params and type(args[0]) is NDArray:
            # the commonest case, one array: the same key as below, built directly
            a = args[0]
            d = a._data
            recording = STATE.recording
            need = False
            if recording:
                v = a._value
                need = v is not None and (v.producer is not None or (
                    v.var is not None and v.var.grad_req != "null"))
            extra = self.extra_key() if self.extra_key is not None else None
            if self.held:
                return (1, ((d.dtype, d.shape),), (need,), recording, STATE.training, extra,
                        self._held_key(recording)), args, [need]
            return (1, ((d.dtype, d.shape),), (need,), recording, STATE.training,
                    extra), args, [need]
        structure = len(args)  # the common case: arrays only, no keyword arguments
        arrays = args
        if kwargs:
            arrays = None
        else:
            for a in args:
                if not isinstance(a, NDArray):
                    arrays = None
                    break
        if arrays is None:
            arrays = []
            structure = flatten((args, kwargs), arrays, attrs=self._attribute_names())
        recording = STATE.recording
        types, needs = [], []
        for a in (*arrays, *params) if params else arrays:
            if type(a) is not NDArray and type(a) is not NpArray:
                # a capture.Deferred result: type known, data not yet (a recorded op's
                # result: it needs its gradient when it can have one, a float)
                if isinstance(a, _Sparse):
                    raise _SparseArgument(a.stype)
                t = a.type
                types.append((t.np_dtype, t.shape))
                needs.append(recording and t.np_dtype.kind == "f")
                continue
            d = a._data
            types.append((d.dtype, d.shape))
            if not recording:
                needs.append(False)
                continue
            # gradients should reach a recorded result or a variable whose grad_req is not null
            v = a._value
            needs.append(v is not None and (v.producer is not None or (
                v.var is not None and v.var.grad_req != "null")))
        extra = self.extra_key() if self.extra_key is not None else None
        key = (structure, tuple(types), tuple(needs), recording, STATE.training, extra)
        if self.held:
            key += (self._held_key(recording),)
        return key, arrays, needs

    def _graft(self, tree, key, path, args, kwargs, params):
        """Add a traced path to `tree`: True, False (the retrace took another route), or None
        (this signature runs eagerly: _stays_eager). Then the arrays only the trace itself
        held (temporaries fn made) leave the watch list: their feeds read the buffer the trace
        saw; so do all the arrays this trace added when nothing of it was compiled. After a
        trace that read new arrays from fn's scope, `tree` takes the signature that includes
        them, and the trees keyed without them are dropped (no key can match them now)."""
        added = False
        try:
            added = None if self._stays_eager(tree, path) else tree.add(path, params)
        finally:
            path.alive = None
            # (an array held before this trace that died meanwhile stays: the next call sees
            # it moved and drops the code that read it)
            new, self._new_held = self._new_held, []
            temporary = {id(r) for r in new if r() is None}
            unwatched = temporary if added else {id(r) for r in new}
            if unwatched:
                self.held = [r for r in self.held if id(r) not in unwatched]
                self.places = [p for p in self.places
                               if id(weakref.ref(p[1])) not in unwatched]
            for kind, ref in path.feeds:
                if kind == Feed.HELD and id(ref.ref) in temporary:
                    ref.temporary = True    # (fn's own array: its feed reads the trace's buffer)
            if new:         # (the signature now has the arrays this trace held)
                new_key = self._signature(args, kwargs, params)[0]
                if new_key != key:
                    self.cache = {new_key: tree}
        return added

    def _attribute_names(self):
        """The attribute names fn's code (and the code it reaches) reads: an object
        argument's attributes of those names key a call (scope.argument_key)."""
        names = self._names
        if names is _UNWALKED:      # (None: every attribute, the code reads computed names)
            names = self._names = _scope(self.fn).names
        return names

    def __get__(self, obj, objtype=None):
        """A jitted function defined in a class is a method: `self` is its first argument
        (its attributes the code reads key each call, as any object argument's do)."""
        return self if obj is None else MethodType(self, obj)

    def _held_key(self, recording):
        """The signature part of the arrays traced code read from its scope (see Held)."""
        return tuple([None if (a := r()) is None else held_state(a, recording)
                      for r in self.held])

    def _hold(self, array, scope):
        """Note an array a trace read from fn's scope: its state joins the signature (_graft
        rekeys the tree traced now) and its places in `scope` (scope.walk) are watched. A place
        of none (a list's item) is watched through the weak reference: its replacement is
        seen when the array dies (Held)."""
        if not any(r() is array for r in self.held):
            self.held.append(weakref.ref(array))
            self._new_held.append(self.held[-1])
            self.places += [(get, array, name) for name, get, v, _ in scope if v is array]

    def _scope_moved(self):
        """None while every array a trace read from fn's scope is alive and every place it
        was read from (self.places) still holds it. Else the compiled code is stale: it is
        dropped (the next call traces again), or, after MAX_REBINDS such retraces, fn runs
        eagerly from now on. Returns why the call runs eagerly, or None."""
        if self.scope_eager is not None:
            return self.scope_eager
        what = self._moved()
        if what is None:
            return None
        calls = self.counts["calls"]
        if calls - self.rebound_at > REBIND_WINDOW:   # (a change now and then: not counted)
            self.rebinds = 0
        self.rebinds, self.rebound_at = self.rebinds + 1, calls
        self.cache, self.held, self.places, self.last_tree = {}, [], [], None
        self.watched, self._names = [], _UNWALKED     # (a helper rebound may read others)
        self.first_reason = f"{what} since the last trace (the compiled code read the old one)"
        if self.rebinds <= MAX_REBINDS:
            return None
        self.scope_eager = (f"{what} between calls, {self.rebinds} times: compiled code would "
                            f"read the array of its trace, so it runs eagerly from now on; "
                            f"pass the array as an argument to compile it")
        self._warn(f"tracegrad.jit: {self.name}: {self.scope_eager}", stacklevel=4)
        return self.scope_eager

    def _moved(self):
        """What changed in fn's scope: a place holding another array, or a held array that
        died (it was reached through another object, which now holds another one); None."""
        for get, array, name in self.places:
            try:
                now = get()
            except (ValueError, KeyError):  # (an emptied closure cell, a deleted attribute)
                now = None
            if now is not array:
                return f"{name} was bound to another array"
        for r in self.held:
            if r() is None:
                return ("an array it read through another object was replaced there (the old "
                        "one died)")
        for get, value, name in self.watched:
            try:
                now = get()
            except (ValueError, KeyError):
                return f"{name} was deleted"
            if now is not value and _differs(now, value):
                return f"{name} changed" if type(value) is Contents else \
                    f"{name} was bound to another value"
        return None

    def __call__(self, *args, **kwargs):
        if _TRACING.depth or HOOKS.tracing:  # inside a trace: inline, the outer graph has it
            return self.fn(*args, **kwargs)
        with self._lock:
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        self.counts["calls"] += 1
        try:
            params = self.params()
        except DeferredInitializationError:
            # the first call infers parameter shapes eagerly (nested compiled blocks inline,
            # as they would in a trace); compile right after it
            _TRACING.depth += 1
            try:
                out = self.fn(*args, **kwargs)
            finally:
                _TRACING.depth -= 1
            self._compile_for(args, kwargs)
            return out
        if self.held or self.watched or self.scope_eager is not None:
            why = self._scope_moved()
            if why is not None:
                return self._eager(args, kwargs, why)
        try:
            key, arrays, needs = self._signature(args, kwargs, params)
        except _SparseArgument as e:
            return self._sparse_call(args, kwargs, e)
        except TypeError as e:  # an unhashable static argument: nothing to key on
            return self._eager(args, kwargs, f"an argument cannot key a call: {e}")
        tree = self.cache.get(key)
        if tree is None:
            self.last_reason = self._why_new(key)
            log.guard_miss(self.name, key, self.cache)
            if self._full():
                return self._eager(args, kwargs, None)
            tree = self.cache[key] = GuardTree(needs, key[3], self.fastmath)
        if tree.eager is not None:
            return self._eager(args, kwargs, tree.eager)
        self.last_tree = tree
        counter = _RANDOM["counter"] if tree.keyed else None  # only keyed trees draw
        out, where = tree.run(list(arrays), params)
        if where.__class__ is not tuple:
            _COUNTERS["cache_hits"] += 1
            self.counts["native"] += 1
            self.last = where.entry
            if where.out_tree == "A":  # one array returned
                return out[0]
            return unflatten(where.out_tree, iter(out))
        if counter is not None and where[0] is not None and where[0].entry is not None:
            # segments ran before the miss: take back the keys they drew, so the eager run
            # that follows draws what eager code would have drawn
            _RANDOM["counter"] = counter
        return self._miss(tree, where, args, kwargs, arrays, params, key)

    def _miss(self, tree, where, args, kwargs, arrays, params, key):
        node, outcome = where
        if node is not None:
            if node.children.get(outcome) is EAGER:
                return self._eager(args, kwargs, None)
            self.last_reason = (f"guard {node.guard.expr} at {node.guard.where} saw "
                                f"{show_outcome(node.guard.kind, outcome)}; cached: "
                                f"{_seen(node)}")
            log.guard_outcome(self.name, self.last_reason)
            if len(node.children) >= self.max_guard_outcomes:
                if not node.warned:
                    node.warned = True
                    self._warn(
                        f"tracegrad.jit: {self.name}: the guard {node.guard.expr} "
                        f"({node.guard.why}) at {node.guard.where} has seen "
                        f"{len(node.children)} outcomes ({_seen(node)}; now "
                        f"{show_outcome(node.guard.kind, outcome)}), the bound "
                        f"max_guard_outcomes={self.max_guard_outcomes}; new outcomes run "
                        f"eagerly", stacklevel=4)
                return self._eager(args, kwargs, None)
        if self._full():
            return self._eager(args, kwargs, None)
        if self._reads_state(tree):
            return self._eager(args, kwargs, tree.eager)
        t0 = log.now()
        before = _RANDOM["counter"]
        try:
            path = self._trace(tree, key[0], args, kwargs, arrays, params)
        except SideEffect as e:
            _RANDOM["counter"] = before     # (the eager run draws what the trace drew)
            self._side_effect(tree, e)
            return self._eager(args, kwargs, tree.eager)
        added = self._graft(tree, key, path, args, kwargs, params)
        if not added:   # (the eager run starts from the scope the trace started from)
            _restore(path)
        if added is None:
            _RANDOM["counter"] = before  # the eager run draws what the trace drew
            return self._eager(args, kwargs, tree.eager)
        if not added:
            self.last_reason += " (the retrace took another route: not compiled)"
            return self._eager(args, kwargs, None)
        self.counts["traces"] += 1
        log.compiled(self.name, log.describe(key) if node is None else self.last_reason,
                     self._paths(), t0)
        counter = _RANDOM["counter"]
        out, where = tree.run(list(arrays), params)
        if where.__class__ is tuple:  # native code read another outcome than the trace did
            _RANDOM["counter"] = counter
            _restore(path)
            node, outcome = where
            if node is not None:
                node.children[outcome] = EAGER
            return self._eager(args, kwargs, None)
        self.counts["native"] += 1
        self.last = where.entry
        return unflatten(where.out_tree, iter(out))

    def _stays_eager(self, tree, path):
        """A signature whose code calls a custom autograd.Function runs eagerly: the traced
        Function instance would be replayed by every call and share one call's saved tensors
        with the next (a wrong gradient), so each eager call makes its own instance. So does
        one whose trace read an argument from elsewhere too (its closure, a block attribute:
        trace.closure_args): compiled, a call with another array would read that one there."""
        if path.rebound:
            tree.eager = (f"it binds {', '.join(path.rebound)} to another array while it runs "
                          f"(a side effect compiled code would not repeat)")
        elif path.stateful:    # (made while it ran: every call reads another value)
            tree.eager = self.scope_eager = _reads_state_reason(path.stateful)
        elif path.written:     # (every call would write it again: no signature compiles)
            tree.eager = self.scope_eager = (
                f"it writes {', '.join(path.written)} in place while it runs (a side effect "
                f"compiled code would not repeat)")
        elif path.changed_args:
            tree.eager = ("it changes an argument it was passed (writes an array in place, a "
                          "list's or a dict's items, an object's attributes): a side effect "
                          "compiled code would not repeat")
        elif path.mutated:     # (every call would change it again: no signature compiles)
            tree.eager = self.scope_eager = (
                f"it changes {', '.join(path.mutated)} while it runs (a side effect compiled "
                f"code would not repeat)")
        elif path.unreachable:
            tree.eager = (f"it reads {path.unreachable} array(s) recorded before the call "
                          f"that are not in its closure, globals or attributes (compiled code "
                          f"could not read them again at the next call)")
        elif path.closure_args:
            names = ", ".join(str(i) for i in path.closure_args)
            tree.eager = (f"argument(s) {names} are also read from its closure or a block "
                          f"attribute (compiled code cannot tell those reads from the "
                          f"argument's)")
        elif any(op.opdef.name == "custom" for op in path.fn.ops):
            tree.eager = "it calls a custom autograd.Function (each call needs its own instance)"
        else:
            return False
        self._warn(f"tracegrad.jit: {self.name} {tree.eager}; "
                      f"{'it' if self.scope_eager else 'this signature'} runs eagerly",
                      stacklevel=5)
        return True

    def _reads_state(self, tree):
        """Before a trace: whether fn reads Python state that changes as it is read (a random
        generator, an iterator: scope.Places), which no watch sees. Then it runs eagerly from
        now on (tracing would also advance that state once more than eager code does)."""
        if block_bound(self.fn):
            return False        # (a hybridized block: its graph is fixed, as in MXNet)
        stateful = _scope(self.fn).stateful
        if not stateful:
            return False
        tree.eager = self.scope_eager = _reads_state_reason(stateful)
        self._warn(f"tracegrad.jit: {self.name} {tree.eager}; it runs eagerly", stacklevel=5)
        return True

    def _side_effect(self, tree, e):
        """fn did what compiled code would not repeat (SideEffect: backward(), trainer.step()),
        stopped before it took effect: it runs eagerly from now on."""
        tree.eager = self.scope_eager = (f"it calls {e}, a side effect compiled code would not "
                                         f"repeat")
        self._warn(f"tracegrad.jit: {self.name} {tree.eager}; it runs eagerly", stacklevel=6)

    def _warn(self, message, stacklevel=2):
        """A user-facing warning; a JitFunction made for tracegrad's own use (quiet: an
        Executor compiling its graph) keeps it to log and explain()."""
        if self.quiet:
            log.fallback(self.name, message)
            return
        warnings.warn(message, stacklevel=stacklevel + 1)

    def _paths(self):
        return sum(t.paths for t in self.cache.values())

    def _full(self):
        if self._paths() < self.max_variants:
            return False
        if not self.warned:
            self.warned = True
            self._warn(f"tracegrad.jit: {self.name} compiled {self.max_variants} variants "
                          f"(max_variants); new signatures and outcomes now run eagerly. Last "
                          f"reason to trace: {self.last_reason}", stacklevel=5)
        return True

    def _eager(self, args, kwargs, why):
        bump("eager_fallbacks")
        self.counts["eager_fallbacks"] += 1
        if why is not None:
            self.last_reason = why
        log.fallback(self.name, f"runs eagerly: {self.last_reason}")
        return self.fn(*args, **kwargs)

    def _sparse_call(self, args, kwargs, e):
        """A call with a csr / row_sparse array (an argument, or a parameter) runs fn's graph
        eagerly: compiled code is dense-only, and the eager sparse ops give the storage types
        MXNet's CachedOp infers for the graph (dot(csr, dense) dense, csr * 2 csr, retain
        row_sparse), with their gradients recorded as eager code records them."""
        self.counts["sparse_calls"] += 1
        bump("sparse_eager_calls")
        return self._eager(args, kwargs, f"a {e.stype} input: compiled code is dense-only, so "
                                         f"calls with sparse arrays run eagerly (sparse ops, "
                                         f"MXNet's storage types)")

    def _why_new(self, key):
        if not self.cache:
            return self.first_reason
        best = min(self.cache, key=lambda k: sum(a != b for a, b in zip(k, key)))
        diff = []
        for i, (name, a, b) in enumerate(zip(_PARTS, best, key)):
            if a == b:
                continue
            if i in (1, 2) and len(a) == len(b):  # say which inputs: array types / gradients
                what = [f"input {n}: {_show(i, x)} -> {_show(i, y)}"
                        for n, (x, y) in enumerate(zip(a, b)) if x != y]
                name += f" ({'; '.join(what)})"
            diff.append(name)
        return "new signature: " + ", ".join(diff) + " differ from the nearest cached one"

    def _compile_for(self, args, kwargs):
        """Trace and compile (not run) for these arguments, as the next call would."""
        params = self.params()
        try:
            key, arrays, needs = self._signature(args, kwargs, params)
        except _SparseArgument as e:    # (this call ran eagerly, and so will the next)
            self.last_reason = f"a {e.stype} input: not compiled (dense-only)"
            return
        if key in self.cache or self._full():
            return
        tree = self.cache[key] = GuardTree(needs, key[3], self.fastmath)
        if self._reads_state(tree):
            return
        self.last_reason = "first call (after deferred initialization)"
        t0 = log.now()
        counter = _RANDOM["counter"]  # this call ran eagerly: the trace must not draw again
        try:
            path = self._trace(tree, key[0], args, kwargs, arrays, params)
        except SideEffect as e:
            _RANDOM["counter"] = counter
            self._side_effect(tree, e)
            return
        _RANDOM["counter"] = counter
        _restore(path)      # (the call's own eager run bound its scope already)
        tree.pending_keys = []
        if self._graft(tree, key, path, args, kwargs, params):
            self.counts["traces"] += 1
            log.compiled(self.name, log.describe(key), self._paths(), t0)

    def _trace(self, tree, struct, args, kwargs, arrays, params):
        """Trace one path of fn on these arrays (an eager run) and return it as a Path."""
        bump("traces")
        names = []
        flatten((args, kwargs), [], names)
        keys, param_leaves, guards, gvals = [], {}, [], []
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
            g = Guard(why, user_location())
            guards.append((g, outcome_of(g.kind, arr._data)))
            # an untracked array (a closure's) is read from its buffer on every call
            gvals.append(arr._value if tape.live(arr._value) else arr._constant_value())

        structure = []
        fn = self.fn
        first = _names(fn, len(names))
        param_ids = {id(p) for p in params}
        after = Places()        # fn's scope (scope.walk) when it returned

        # the objects among the arguments whose attributes key the call (scope.argument_key),
        # as they were: put back if fn changes them while traced (an eager run follows)
        objects = [(d, dict(d)) for d in argument_dicts((args, kwargs))]
        changed_args = []

        # whether fn's own record() scopes may record (the trace runs fn recording, but a
        # call outside record() compiles code whose outputs are untracked; a block's scopes
        # record nothing compiled, as in MXNet's cached graph)
        call_recorded = STATE.recording or block_bound(fn)
        recording = STATE.recording and HOOKS.recorded

        def flat_fn(*flat):
            a, kw = unflatten(struct, iter(flat))
            inputs = [(s, _DATA.__get__(s), _VALUE.__get__(s)) for s in flat]
            with tracing_somewhere():
                recorded, HOOKS.call_recorded = HOOKS.call_recorded, call_recorded
                was_recording, HOOKS.recorded = HOOKS.recorded, recording
                try:
                    out = fn(*a, **kw)
                finally:
                    HOOKS.call_recorded = recorded
                    HOOKS.recorded = was_recording
            if any(_DATA.__get__(s) is not d or _VALUE.__get__(s) is not v
                   for s, d, v in inputs):  # an array argument written in place (its
                changed_args.append(True)   # stand-in: the caller's array is untouched)
            if type(struct) is not int:     # a list, dict or object argument fn changed
                again = []
                try:
                    same = flatten((a, kw), again, attrs=self._attribute_names()) == struct \
                        and len(again) == len(flat) \
                        and all(map(_is, again, flat))
                except TypeError:
                    same = False
                if not same:
                    changed_args.append(True)
            outs = []      # (a block's call makes its mx.np outputs itself: Block._call_np)
            tree = flatten(out, outs, np_slots=not block_bound(fn))
            # arrays fn bound in its scope (`self.output = y`): outputs too, bound there by
            # every compiled call as fn's own code binds them (a parameter's or variable's
            # array is the same object at every call: it stays)
            walked = _scope(fn)
            after.extend(walked)
            after.stateful = walked.stateful
            stores = [(name, put, v) for name, _, v, put in after if isinstance(v, NDArray)
                      and scope_before.get(name) is not v and v._var is None
                      and id(v) not in param_ids]
            if stores:
                tree = ("stores", tree, tuple(_store(put, v) for _, put, v in stores),
                        tuple(name for name, _, _ in stores))
                outs += [v for _, _, v in stores]
            structure.append(tree)
            return outs

        def scalar_hook(arr):
            return TracedScalar(arr, arr._data.reshape(-1)[0], concretize_hook)
        places_before, traced_from = _scope(self.fn), tape.mark()
        scope_before = {name: v for name, _, v, _ in places_before if isinstance(v, NDArray)}
        watched_before = _watched(self.fn, places_before)
        arrays_before = _array_states(scope_before)
        old = (HOOKS.random_key, HOOKS.concretize, HOOKS.compiling, HOOKS.scalar)
        counted = tracing_somewhere()
        counted.__enter__()     # (left in the finally below, with the flags)
        HOOKS.random_key, HOOKS.concretize, HOOKS.compiling = key_hook, concretize_hook, True
        HOOKS.scalar = scalar_hook
        _TRACING.depth += 1
        try:
            with materializing(materialize):
                tr = trace(flat_fn, arrays, name=self.name,
                           names=[_top_name(n, first) for n in names],
                           extra_heads=gvals, root=getattr(self.fn, "__self__", None))
        except SideEffect:      # (backward(), trainer.step(): the call runs eagerly, on the
            for _, get, v, put in places_before:            # scope as it was before)
                if _changed(get, v):
                    put(v)
            _written(arrays_before, restore=True)
            for d, saved_dict in objects:
                refill(d, saved_dict)
            raise
        finally:
            _TRACING.depth -= 1
            HOOKS.random_key, HOOKS.concretize, HOOKS.compiling, HOOKS.scalar = old
            counted.__exit__()
            for p, v in zip(params, saved):
                p._value = v
        # arrays of the scope fn wrote in place (`W[:] = W + x`): compiled code would not
        # write them; put back as they were for the eager run that follows
        written = _written(arrays_before, restore=True)
        feeds = [(Feed.ARG, i) for i in range(len(arrays))]
        keyset, consts, unreachable = {k: n for n, k in enumerate(keys)}, [], 0
        alive = []      # the held arrays, alive until the path is grafted (JitFunction._graft)
        for leaf in tr.captured:
            if leaf in param_leaves:
                feeds.append((Feed.PARAM, param_leaves[leaf]))
            elif leaf in keyset:
                feeds.append((Feed.KEY, keyset[leaf]))
            elif (owner := _scope_array(after, leaf) if leaf.producer is not None
                  else _owner(leaf)) is not None:   # fed from its array at every call
                feeds.append((Feed.HELD, Held(owner)))
                self._hold(owner, after)
                alive.append(owner)
                if leaf.var is None and leaf.producer is None:
                    consts.append(_closure_name(after, leaf.data) + str(leaf.type))
            elif leaf.producer is not None:     # recorded before the call, found nowhere
                unreachable += 1
                feeds.append((Feed.CONST, leaf.data))
            elif leaf.var is not None:
                feeds.append((Feed.VAR, leaf))
            else:
                feeds.append((Feed.CONST, leaf.data))
                consts.append(_closure_name(after, leaf.data) + str(leaf.type))
        self.watched = _watched(self.fn, after, fed=frozenset(
            id(data) for kind, data in feeds if kind == Feed.CONST))
        tree.pending_keys = [k.data for k in keys]
        tree.constants = sorted(set(tree.constants) | {str(t) for t in consts})
        for g, _ in guards:
            g.where = g.where or "?"
        # a state update of an argument is written into that call's argument, not the array
        # this trace saw
        position = {id(a): i for i, a in enumerate(arrays)}
        updates = [ArgSlot(position[id(t)]) if id(t) in position else t for t in tr.updates]
        path = Path(tr.function, feeds, len(tr.outputs), updates, guards, structure[0],
                    len(arrays), tr.keep, len(keys), tr.closure_args, unreachable)
        # a name fn read an array from and bound to another while it ran (compiled code
        # would read the first again); a name only written (VAE's self.output) is an output
        # (flat_fn), bound again by every call
        read = {id(a) for a in alive}
        scope_after = {name: v for name, _, v, _ in after if isinstance(v, NDArray)}
        path.rebound = sorted(n for n, a in scope_before.items()
                              if id(a) in read and scope_after.get(n) is not a)
        # Python state read as it changes (random, an iterator): no watch would see it
        path.stateful = [] if block_bound(self.fn) else list(after.stateful)
        path.mutated = sorted(name for get, v, name in watched_before if _changed(get, v)
                              and not isinstance(_now(get), NDArray))   # (arrays: stores)
        # what an eager run instead of the compiled code must see first: the scope as it was
        path.undo = [(put, v) for _, get, v, put in places_before if _changed(get, v)]
        path.written = [name for name, a in scope_before.items() if id(a) in written]
        path.changed_args = bool(changed_args)
        if changed_args:
            path.undo += [(functools.partial(refill, d, saved), None) for d, saved in objects]
        for n, a in scope_after.items():    # an array fn computed and stored while traced:
            v = a._value                        # cut from the trace's graph (eager code would
            if scope_before.get(n) is not a and v is not None and v.seq > traced_from:
                a._value = None                 # record onto it)
        path.alive = alive
        return path

    # ------------------------------------------------------------------ inspecting
    def ir(self, stage="optimized"):
        """The ir.Function of `stage` ('traced', 'adjoint', 'optimized') of the last compiled
        segment that produced outputs."""
        if self.last is None or stage not in self.last.stages:
            raise ValueError(f"no {stage!r} stage: call the function first (stages: "
                             f"{sorted(self.last.stages) if self.last else []})")
        return self.last.stages[stage]

    def llvm_ir(self) -> str:
        """The LLVM IR text of the last compiled forward."""
        if self.last is None or not hasattr(self.last, "native"):
            raise ValueError("nothing compiled yet: call the function first")
        return self.last.native.llvm_ir

    def explain(self) -> str:
        """A readable report: variants per signature with their guards (file:line, expression,
        cached outcomes), closure arrays read at trace time, why the last call traced, counts."""
        c = self.counts
        lines = [f"tracegrad.jit {self.name}: {len(self.cache)} signature(s), "
                 f"{sum(t.paths for t in self.cache.values())} compiled variant(s) "
                 f"(max_variants={self.max_variants}, max_guard_outcomes="
                 f"{self.max_guard_outcomes})",
                 f"calls {c['calls']}, traces {c['traces']}, native {c['native']}, "
                 f"eager fallbacks {c['eager_fallbacks']}, compiled segments "
                 f"{sum(t.segments for t in self.cache.values())}, chains "
                 f"{sum(t.chains() for t in self.cache.values())} (paths run as one "
                 f"native call)",
                 f"last trace: {self.last_reason}"]
        if c["sparse_calls"]:
            lines.append(f"sparse calls {c['sparse_calls']}: run eagerly (a csr / row_sparse "
                         f"input; compiled code is dense-only, the eager sparse ops give "
                         f"MXNet's storage types)")
        if self.held or self.watched:
            lines.append(f"scope watched (a change traces again): {len(self.held)} array(s)"
                         + "".join(f", {name}={value!r}" if isinstance(value, _VALUE_TYPES)
                                   else f", {name}" for _, value, name in self.watched)
                         + f"; rebound {self.rebinds} time(s) lately")
        if self.scope_eager is not None:
            lines.append(f"runs eagerly: {self.scope_eager}")
        for n, (key, tree) in enumerate(self.cache.items()):
            types = ", ".join(f"{d}{list(s)}" for d, s in key[1])
            lines.append(f"signature {n}: ({types}) recording={key[3]} training={key[4]}: "
                         f"{tree.paths} variant(s)")
            if tree.constants:
                lines.append("  closure arrays read at trace time: " +
                             ", ".join(tree.constants))
            _explain_node(tree.root, lines, "  ")
            by_reason = {}
            for name, reason in _python_ops(tree.root):   # "codegen: op 'x': why" -> why
                why = reason.split("': ", 1)[-1] if reason.startswith("codegen: op '") \
                    else reason
                by_reason.setdefault(why, []).append(name)
            for why, names in by_reason.items():
                lines.append(f"  ops run in Python: {', '.join(dict.fromkeys(names))} ({why})")
        return "\n".join(lines)


_UNWALKED = object()


class _SparseArgument(Exception):
    """_signature met a sparse array: the call is not compiled (JitFunction._sparse_call)."""

    def __init__(self, stype):
        super().__init__(stype)
        self.stype = stype


def _reads_state_reason(names):
    return (f"reads {', '.join(names)}, Python state that changes as it is read (compiled "
            f"code would repeat the value its trace read; mx.nd.random draws compile)")


INLINED.append(JitFunction)     # (the scope walk follows one into its function)


def _python_ops(node, found=None):
    """(op name, reason) of the ops the compiled variants under `node` run in Python."""
    found = {} if found is None else found
    if node is None or node is EAGER:
        return found
    native = getattr(getattr(node, "entry", None), "native", None)
    if native is not None:
        for k in python_ops(native):
            found.setdefault(k, None)
    for child in getattr(node, "children", {}).values():
        _python_ops(child, found)
    return found


def _owner(leaf):
    """The array a captured tape leaf stands for (tape.OwnedLeaf), while it still stands for
    it: the array's variable, or its constant value on the same buffer. None: feed the leaf."""
    ref = getattr(leaf, "owner", None)
    a = ref() if ref is not None else None
    if a is None:
        return None
    v = a._value
    if v is leaf or (leaf.var is None and not tape.live(v) and a._leaf is leaf
                     and a._data is leaf.data):
        return a
    return None


def _restore(path):
    """Bind the places of fn's scope its trace changed back to what they held before it (an
    eager run of the call follows, or ran already)."""
    for put, value in path.undo:
        put(value)


_DATA, _VALUE, _LEAF = (NDArray.__dict__[k] for k in ("_data", "_value", "_leaf"))


def _array_states(arrays):
    """(array, buffer, tape value, leaf, a copy of a buffer of at most scope.MAX_ARRAY values)
    of each array (a dict's values), read through the slots (a pending step's array is not
    run by this)."""
    out = []
    for a in {id(a): a for a in arrays.values()}.values():
        if type(a) is not NDArray and type(a) is not NpArray:
            continue        # (a pending step's array: materialized by a read, not written)
        data = _DATA.__get__(a)
        small = type(data) is np.ndarray and data.size <= MAX_ARRAY
        out.append((a, data, _VALUE.__get__(a), _LEAF.__get__(a),
                    data.copy() if small else None))
    return out


def _written(states, restore):
    """ids of the arrays of `states` (_array_states) written since: given another buffer or
    tape value (a write under record()), or other values in a small buffer; with `restore`,
    put back as they were."""
    out = set()
    for a, data, value, leaf, copy in states:
        if _DATA.__get__(a) is not data or _VALUE.__get__(a) is not value or (
                copy is not None and data.tobytes() != copy.tobytes()):
            out.add(id(a))
            if restore:
                _DATA.__set__(a, data)
                _VALUE.__set__(a, value)
                _LEAF.__set__(a, leaf)
                if copy is not None:
                    np.copyto(data, copy)
    return out


def _store(put, traced):
    """The setter a compiled call binds a stored output with: an mx.np array where fn stored
    one (the call's outputs are nd arrays)."""
    if isinstance(traced, NpArray):
        return lambda a: put(as_np(a))
    return put


def _scope_array(scope, value):
    """The array of a scope (scope.walk) whose tape value is `value` (one recorded before the
    call), or None."""
    return next((v for _, _, v, _ in scope if isinstance(v, NDArray) and v._value is value),
                None)


def _closure_name(scope, data):
    """'name: ' of the place of a scope (scope.walk) holding the array `data` (explain() lists
    arrays read at trace time), or ''."""
    return next((f"{name}: " for name, _, v, _ in scope
                 if isinstance(v, NDArray) and v._data is data), "")


def _show(part, x):
    if part == 1:
        dtype, shape = x
        return f"{dtype}{list(shape)}"
    return "needs gradient" if x else "no gradient"


def _seen(node):
    return ", ".join(show_outcome(node.guard.kind, o) for o in node.children) or "none"


def _explain_node(node, lines, indent):
    if node is None:
        return
    if node.guard is None:
        lines.append(f"{indent}-> compiled outputs")
        return
    g = node.guard
    how = "native segment" if node.entry is not None else "reads an input"
    lines.append(f"{indent}guard {g.expr} ({g.why}, {how}) at {g.where}")
    for o, child in node.children.items():
        lines.append(f"{indent}  == {show_outcome(g.kind, o)}:" + (
            " runs eagerly" if child is EAGER else ""))
        if child is not EAGER:
            _explain_node(child, lines, indent + "    ")


def _top_name(name, first):
    """'arg_0_1' -> the function's own parameter name for top-level positional arrays."""
    parts = name.split("_")
    if len(parts) == 3 and parts[1] == "0" and parts[2].isdigit() and int(parts[2]) < len(first):
        return first[int(parts[2])]
    return _identifier(name)


def _wants_grad(v):
    """A tape value gradients should reach: a recorded result, or a variable not 'null'."""
    return v is not None and (v.producer is not None or (
        v.var is not None and v.var.grad_req != "null"))


def jit(fn=None, *, name=None, max_variants=None, max_guard_outcomes=None, fastmath=None):
    """Compile a function of NDArrays (arrays inside tuples/lists/dicts are inputs too;
    Python scalars and other values are part of the cache key).

        f = tracegrad.jit(lambda x, w: nd.relu(nd.dot(x, w)))
        with autograd.record():
            y = f(x, w)        # one native call; w.grad after y.backward() is one more

    Python control flow on array values (`if x.sum() > 0`, `x.asscalar()`) is compiled per
    outcome seen (see guards.py); `max_variants` bounds the compiled variants of the function,
    `max_guard_outcomes` those of one guard. Arrays the function reaches from its enclosing
    scope are read as they were when it was traced (as with jax.jit): pass arrays that
    change as arguments, or use a HybridBlock, whose parameters are always read fresh.
    `fastmath`: LLVM fast-math flags to allow, e.g. ("contract", "nnan") or "fast" (default
    strict IEEE; see tracegrad/codegen/fastmath.py). f.explain() says what was compiled and why.
    """
    if fn is None:
        return functools.partial(jit, name=name, max_variants=max_variants,
                                 max_guard_outcomes=max_guard_outcomes, fastmath=fastmath)
    return JitFunction(fn, name=name, max_variants=max_variants,
                       max_guard_outcomes=max_guard_outcomes, fastmath=fastmath)


def _block_structure(block):
    """What a block's compiled code was built from besides its inputs: the blocks below it and
    their parameters (ids), so appending, removing or replacing any of them retraces."""
    parts, stack = [], [block]
    while stack:
        b = stack.pop()
        parts.append((id(b), tuple(map(id, b._reg_params.values())),
                      tuple(map(id, b._params.values())), tuple(b._children)))
        stack.extend(b._children.values())
    return tuple(parts)


def hybrid_call(block, *args):
    """Run a hybridized block through its JitFunction (parameters are inputs, not constants).
    A block whose children or parameters changed since gets a fresh one."""
    jf = block.__dict__.get("_tg_jit")
    version = STRUCTURE_VERSION[0]
    if jf is None or jf.structure_version != version:
        structure = _block_structure(block)
        if jf is None or jf.block_structure != structure:
            params = block.collect_params()
            names = [_identifier(n) for n in params.keys()]
            plist = list(params.values())
            flags = block.__dict__.get("_flags") or {}
            reason = None if jf is None else "the block's children or parameters changed"
            jf = JitFunction(weakref.WeakMethod(block.forward),
                             params=lambda: [p._nd_data() for p in plist],
                             name=type(block).__name__.lower(), param_names=names,
                             max_variants=flags.get("max_variants"),
                             max_guard_outcomes=flags.get("max_guard_outcomes"),
                             fastmath=flags.get("fastmath"))
            jf.block_structure, jf.param_list = structure, plist
            if reason:
                jf.first_reason = reason
            block.__dict__["_tg_jit"] = jf
            block.__dict__.pop("_tg_serve", None)
        jf.structure_version = version
    if STATE.recording:
        return jf(*args)
    # outside record(): a call that ran native code leaves its leaf as block._tg_serve
    training, native = STATE.training, jf.counts["native"]
    out = jf(*args)
    if jf.counts["native"] == native + 1 and not (_TRACING.depth or HOOKS.tracing):
        _serving.remember(block, jf, training, args)
    return out


from . import serving as _serving  # noqa: E402  (serving builds on this module)
from ..sparse import BaseSparseNDArray as _Sparse  # noqa: E402  (sparse imports nd, which
# reaches this module)
