"""Step capture: the training step users write, run as one native call once it repeats.

    with autograd.record():
        loss = loss_fn(net(x), y)     # net hybridized or not; the loss outside it
    loss.backward()
    trainer.step(batch_size)          # the fused multi-tensor update: a second native call

Learning. Every backward() names the adjoint it used (the tape caches one per graph
structure). When the same structure has been differentiated three times with respect to the
same variables (a plan matches variables by identity; new ones restart the count), its graph
(taken before backward frees it) becomes a Plan: the recorded ops in program order, with compiled
calls inlined, and ONE Function computing the forward, the values to export and the gradient
of every variable, compiled to native code.

Deferring. While plans exist, a recorded op (or compiled call) that matches the next op of a
plan — same op and attributes, operands from the same places (an earlier deferred result, the
same variable, a constant of the same type, an equal scalar) — is not run: it returns a
`Deferred` NDArray whose type is known (shape, dtype, ndim, size answer at once) and whose data
is not computed yet. backward() on the plan's head, with every op of the plan seen, makes the
plan's one native call: the gradients go to the variables as backward would deliver them, and
each Deferred array still alive becomes an ordinary NDArray holding its value. Once the plan
has learned trainer.step's update (update_fusion.py), backward() holds the step instead and
trainer.step() makes the one call of forward, adjoint and update. `detach()` of a Deferred
array (truncated BPTT's carried states) is an untracked Deferred alias of the same value.
An op outside the plan's graph on deferred values, scalars and untracked arrays (an RNN
layer's final states, their detach(), an accuracy against the label inside record()) is an
extra: a Deferred that a materialized step computes, or, when one is still alive at
backward(), that runs on the call's exported values after the call (`_defer_extra`,
`_run_extras_after`). An extra that computes what a plan value computes (one slice made
twice) is that value to the plan's ops (`_extra_is_value`).

Exactness. Anything else materializes the step first, exactly as eager would have run it (same
recording and training modes, same random keys, in the same order): reading a Deferred array's
data or tape value (print, asnumpy, an op outside recording, ...), an op that does not match,
backward() with head gradients / retain_graph / autograd.grad, an in-place write to any array,
Parameter.set_data or trainer.step while a step is pending, a new record() scope (a step left
behind by an exception). The step then continues eagerly (counted as a dropped capture with
its reason). A Deferred array alive at backward() that the plan does not export
(e.g. the net output kept for metric.update) drops that step and recompiles the plan to export
it. A plan that keeps failing (MAX_FAILURES drops in a row), or that no step has used for
IDLE_LIMIT uncaptured backward passes (its first op never matches) or for as many as the steps
it captured, whichever is more (two nets trained in turns keep their plans), is retired; with
no plan left the eager hooks are uninstalled. A retired structure that did capture steps is learned
again only after exponentially more repeats, at most RELEARN times. Code that never repeats a
structure pays a few dictionary look-ups per backward() and one `is None` test per op.

Scalars. A float literal of an elementwise op that differs from the plan's (an annealed loss
weight) drops that step and becomes an input of the native call (Plan.lift_literals: a scalar
leaf bound per step), as the eager tape's adjoint takes such literals as inputs
(tape.lifts_literal); literals that never vary stay constants the code is optimized for.

State updates. A state update (array.assign_state: BatchNorm's running statistics) of a deferred
value is part of the plan: the ops computing it are learned with the graph (they do not feed
the loss: array.assign_state reports them while capture is on), the new values are exports of
the one native call, and they are written into their arrays after it, in the order eager wrote
them; a hybridized block's updates (extra outputs of its compiled call) likewise. Until then the
target is a `PendingWrite`: reading it, or using it in an op, materializes the step first.

Fast paths (a repeated step costs a few Python calls per block). A hybridized block whose
call capture deferred remembers the guard-free variant it reached; its next call goes straight
to defer_call (gluon/block.py: `_captured_call`). A call of gluon's own pure layers and losses
(not hybridized) is learned once — the plan ops it deferred and the untracked ops it ran
eagerly, each operand's origin (an argument, an earlier eager result, a parameter, a literal) —
and then replayed (`learn_begin`/`learn_end`/`replay`): eager ops rerun on the new arguments,
deferred ops are bound and logged exactly as defer_apply would, nothing of the block's Python
runs. Either falls back to the block's own call when anything it depends on moved (block
attributes and parameters by identity, structure version, training mode, argument types,
the step's position in the plan). A replay logs one item, expanded into the ops' entries only
if the step is materialized; its eager ops, when all are `hoistable` (a loss's one_hot of
the label), are left to the fused call once update_fusion computes them there (`fill_lazy` runs
them eagerly if the plan's own call runs instead). For plain calls and replays both binders
run as straight-line code generated once per plan op / replay (straight_line.py), the general
binders deciding whatever it declines. Arguments that were one array when a replay was learned
must be one array again (`aliased`): its program cannot tell their uses apart. In the steady
state each user call is one generated function where the general path takes several: a
plan's first op makes its Step in its binder (`PlanOp.fast_first`, called by the block's
captured call), a pure block with one replay is checked and replayed in one
(block._replay_quick), and backward() of a held step is this module's checks and the hold in
one (`Fusion.fast_backward`); each returns None, having changed nothing, for whatever it does
not check itself.

mx.np (set_np). A Block's pending output under set_np that nobody holds yet becomes the
value's own array as an `NpDeferred` (`own_as_np`), which the call or a materialization
turns into an mx.np.ndarray. Another mx.np view of a pending value (an mx.np op's result, a
held output) is an NpDeferred alias of the value (Step.aliases), filled likewise. The
straight-line binders take mx.np arrays as they are (the usual d2l step pays no
conversion); an op, the general binders and block replays bind the nd arrays they view
(`nd_args`: an ndarray's NDArray view, an NpDeferred's value's Deferred, made again when the
NpDeferred is the value's own array, which then becomes an alias), on the failure path only,
so nd programs pay nothing for it; a replay learns through the views by their buffers.

`explain()` says what was captured, what was dropped and why, and native calls per step.
TRACEGRAD_CAPTURE=0 or set_enabled(False) turns capture off; `with paused():` runs steps
without it and keeps the plans (to compare both in one process).
"""
import os
import sys
import threading
import time
import weakref
from operator import is_ as _is

import numpy as np

from .. import array as _array
from .. import autograd as _autograd
from . import compiled as _compiled
from ..array import NDArray
from ..context import PLACED as _PLACED
from ..numpy_api.ndarray import LAZY_VIEWS as _LAZY_VIEWS, ndarray as NpArray
from .compiled import CompiledCall, Feed
from .straight_line import call_binder, replay_binder
from ..ir.autodiff import copy_ops, vjp
from ..ir.function import Builder, Function, Literal, Operation, Value, literal_dtype
from ..ir.ops import EXACT, RANDOM, VIEW
from ..ir.types import type_of
from ..ir.passes import run_pipeline
from ..random import next_key
from ..runtime import background, tape
from ..runtime.handles import lookup, resolve
from ..runtime.segments import compile_callable, native_op, not_native_reason
from ..runtime.tape import STATE, TapeValue
from ..codegen import COUNTERS as _NATIVE
from ..stats import COUNTERS as _COUNTS, bump

ENABLED = _compiled.CAPTURE_LEARNS = os.environ.get("TRACEGRAD_CAPTURE", "1") != "0"
REPEATS = 3           # backward passes of one graph structure before it is captured
MAX_FAILURES = 4      # dropped captures in a row before a plan is retired
IDLE_LIMIT = 8        # uncaptured backward passes in a row before an unused plan is retired
RELEARN = 2           # times a retired structure is learned again before it is given up
BIG_PLAN = 512        # a graph of more ops needs one more repeat per BIG_PLAN // 2 ops
BACKOFF = 4           # ... each time after BACKOFF times more repeats than the last
MAX_PLANS = 8
PIPELINE = "fold,simplify,cse,dce"

_SLOT_DATA = NDArray.__dict__["_data"]
_SLOT_VALUE = NDArray.__dict__["_value"]
_SLOT_LEAF = NDArray.__dict__["_leaf"]
# operand kinds: a plan value, a graph input (leaf), a literal the step must repeat, a
# lifted literal (a scalar leaf: Plan.lift_literals)
_VALUE, _LEAF, _LIT, _SCALAR = 0, 1, 2, 3


# a Deferred array keeps its IR type in the `_value` slot (its `_value` property, the one
# door others read through, materializes first and then finds the real tape value there)
_type_of_deferred = _SLOT_VALUE.__get__


def tracked(a):
    """Whether array `a` is recorded (has a tape value), without running a pending step: a
    Deferred plan value is; its detached alias and an op outside the plan's graph are not."""
    if type(a) is Deferred or type(a) is NpDeferred:
        j = _SLOT_LEAF.__get__(a)
        return type(j) is int and j >= 0
    return a._value is not None


class Deferred(NDArray):
    """An op result whose computation waits for the captured step's native call. `_leaf`
    holds its index among the plan's values; reading `_data` or `_value` runs the step so far
    eagerly and turns this object into a plain NDArray."""
    __slots__ = ()

    @property
    def _data(self):
        if _STATE.step is not None:
            materialize(_at_user_line("a deferred array's data was read"))
        return _SLOT_DATA.__get__(self)

    @_data.setter
    def _data(self, v):
        materialize("a deferred array was written")
        _SLOT_DATA.__set__(self, v)

    @property
    def _value(self):
        if _STATE.step is not None:
            materialize(_at_user_line("a deferred array's graph value was used"))
        return _SLOT_VALUE.__get__(self)

    @_value.setter
    def _value(self, v):
        materialize("a deferred array's graph value was set")
        _SLOT_VALUE.__set__(self, v)

    @property
    def shape(self):
        return _type_of_deferred(self).shape

    @property
    def dtype(self):
        return _type_of_deferred(self).np_dtype.type

    @property
    def type(self):
        return _type_of_deferred(self)

    @property
    def ndim(self):
        return len(_type_of_deferred(self).shape)

    @property
    def size(self):
        return _type_of_deferred(self).size

    def __len__(self):
        return _type_of_deferred(self).shape[0]

    def detach(self):
        """The same future data cut from the graph (truncated BPTT's `h.detach()` inside
        record()): an alias the step's call fills with this value's buffer, untracked as eager
        makes it. Its `_leaf` is -1 - index, so no plan op binds it as the tracked value.
        Of an extra (an RNN layer's final states, outside the loss graph) it is one more
        extra, the detach itself, run when that extra is (`_run_extras`)."""
        step, j = _STATE.step, _GET_LEAF(self)
        if step is not None and type(j) is tuple and step.held is None and not step.done \
                and j[1] < len(step.extras) and step.extras[j[1]][3]() is self:
            return _extra_result(step, _DETACH, [j], None, _SLOT_VALUE.__get__(self))
        if step is None or type(j) is not int or j < 0 or step.held is not None or \
                step.done or step.refs[j] is None or step.refs[j]() is not self:
            return NDArray.detach(self)     # (reads the data: materializes first)
        d = _pending_array(Deferred, -1 - j, _SLOT_VALUE.__get__(self))
        _add_alias(step, j, d)
        return d

    def _own_buffer(self):
        """nd's slicing asks for a result sharing no memory with its operand (MXNet's ops
        return new arrays). A native call's outputs never share; a step materialized eagerly
        gives this value a copy of the view its slice made (materialize)."""
        step, j = _STATE.step, _GET_LEAF(self)
        if step is not None and type(j) is int and j >= 0 and step.refs[j] is not None \
                and step.refs[j]() is self:
            step.own += (j,)
            return self
        if step is not None and type(j) is tuple and step.extras[j[1]][3]() is self:
            step.extras[j[1]][4] = True     # (an extra: its own copy when computed)
            return self
        data = self._data          # (not this thread's step: materialize, then as eager)
        if data.base is not None:
            self._data = data.copy()
        return self


class NpDeferred(Deferred, NpArray):
    """A pending value seen through mx.np (a Block's output under set_np, an mx.np op's
    result): an alias of the plan value in `_leaf` (Step.aliases) that the step's call, or a
    materialization, fills as it fills the value's own Deferred, making it an mx.np.ndarray.
    As an operand it stands for that value (`nd_args`: the value's Deferred, made again if
    the first one is gone)."""
    __slots__ = ()

    @property
    def dtype(self):
        return _type_of_deferred(self).np_dtype

    def __len__(self):
        shape = _type_of_deferred(self).shape
        if not shape:
            raise TypeError("len() of unsized object (a 0-d mx.np.ndarray)")
        return shape[0]

    def detach(self):
        """Deferred.detach of the value it views, as mx.np (else: read, then detached)."""
        twin = self if type(_GET_LEAF(self)) is tuple else _twin(self)   # (an extra's view:
        if twin is not None:                                            # detached as one)
            d = Deferred.detach(twin)
            if type(d) is Deferred:      # (made just now: nobody else holds it)
                d.__class__ = NpDeferred
                return d
        return NpArray.detach(self)     # (reads the data: materializes first)

    def _own_buffer(self):
        return NDArray._own_buffer(self)


def _pending_value(a):
    """(this thread's pending step, the plan value index Deferred `a` stands for in it); the
    index is None when `a` is not one of its values (not this step's, an extra, a detached
    alias, or the step is past backward()). The step is read once, for the callers too."""
    step, j = _STATE.step, _GET_LEAF(a)
    if step is None or type(j) is not int or j < 0 or step.held is not None or step.done \
            or j >= len(step.refs):
        return step, None
    return step, j


def _np_view(d, cls):
    """Deferred `d` viewed as mx.np: an NpDeferred alias of its value, or of an extra one more
    extra viewing it (None: view as usual)."""
    if cls is not NpArray:
        return None
    step, j = _pending_value(d)
    if j is None:
        leaf = _GET_LEAF(d)
        if step is not None and type(leaf) is tuple and step.held is None and not step.done \
                and leaf[1] < len(step.extras) and step.extras[leaf[1]][3]() is d:
            return _extra_result(step, _NP_VIEW, [leaf], None, _SLOT_VALUE.__get__(d),
                                 NpDeferred)
        return None
    r = step.refs[j]
    if r is None or r() is not d:
        return None
    n = _pending_array(NpDeferred, j, _SLOT_VALUE.__get__(d))
    if _PLACED[0]:
        ctx = getattr(d, "_ctx", None)
        if ctx is not None:
            n._ctx = ctx
    _add_alias(step, j, n)
    return n


def _twin(n):
    """The Deferred of the value NpDeferred `n` stands for (made again, and registered as the
    value's array, when the first one is gone), or None when `n` is not this step's."""
    step, j = _pending_value(n)
    if j is None:    # an mx.np view of an extra: the extra's Deferred, while it is alive
        leaf = _GET_LEAF(n)
        if step is not None and type(leaf) is int and leaf < 0 and step.held is None and \
                not step.done and any(r() is n for _, r in step.aliases):
            # a detached one: one more detached alias of its value
            d = _pending_array(Deferred, leaf, _SLOT_VALUE.__get__(n))
            _add_alias(step, -1 - leaf, d)
            return d
        if step is None or type(leaf) is not tuple or step.held is not None or step.done or \
                leaf[1] >= len(step.extras) or step.extras[leaf[1]][3]() is not n:
            return None
        opdef, operands = step.extras[leaf[1]][:2]
        src = operands[0]
        if opdef is not _NP_VIEW or type(src) is not tuple:
            return None
        return step.extras[src[1]][3]()
    r = step.refs[j]
    d = r() if r is not None else None
    if d is None or d is n:     # (n the value's own array: an nd one takes its place, n an
        if d is n:              # alias filled as the value's)
            _add_alias(step, j, n)
        d = _pending_array(Deferred, j, _SLOT_VALUE.__get__(n))
        step.refs[j] = _WEAKREF(d)
    return d


def own_as_np(d):
    """Deferred `d`, the only array of this step's value (a block's output under set_np,
    which nobody else holds yet), made that value's mx.np array in place: no alias to make,
    watch and fill. False: view it as usual."""
    step, j = _pending_value(d)
    if j is None:
        return False
    r = step.refs[j]
    if r is None or r() is not d:
        return False
    d.__class__ = NpDeferred
    return True


def _pending_array(cls, leaf, t):
    """A new pending array of class cls (Deferred, NpDeferred): untracked until filled, `_leaf`
    saying what it stands for, `_value` holding its IR type. (The per-op paths inline this.)"""
    d = _NEW(cls)
    d._var = None
    d._leaf = leaf
    _SET_VALUE(d, t)
    return d


def _np_lazy_view(n, cls):
    """NpDeferred `n` viewed as cls: itself for mx.np, its value's Deferred for nd."""
    if cls is NpArray:
        return n
    if cls is NDArray:
        return _twin(n)
    return None


_LAZY_VIEWS[Deferred] = _np_view
_LAZY_VIEWS[NpDeferred] = _np_lazy_view


def _has_np(args):
    for a in args:
        t = type(a)
        if t is NpArray or t is NpDeferred:
            return True
    return False


def nd_args(args):
    """`args` with mx.np arrays as the nd arrays capture binds (an ndarray: the parameter's
    array it views in a block's call, else its NDArray view, the same buffer, value and
    variable; an NpDeferred: its value's Deferred), or None when an NpDeferred is not this
    step's."""
    out = list(args)
    owners = _STATE.view_owners
    for i, a in enumerate(args):
        t = type(a)
        if t is NpArray:
            v = owners.get(id(a)) if owners else None
            if v is not None and _SLOT_DATA.__get__(v) is _SLOT_DATA.__get__(a):
                out[i] = v      # (a parameter's view: the parameter's own array, as in nd)
                continue
            v = _NEW(NDArray)
            _SET_DATA(v, _SLOT_DATA.__get__(a))
            _SET_VALUE(v, _SLOT_VALUE.__get__(a))
            _SET_VAR(v, a._var)
            _SET_LEAF(v, a._leaf)
            if _PLACED[0]:
                ctx = getattr(a, "_ctx", None)
                if ctx is not None:
                    v._ctx = ctx
            out[i] = v
        elif t is NpDeferred:
            d = _twin(a)
            if d is None:
                return None
            out[i] = d
    return out


def _add_alias(step, j, d):
    """One more array standing for plan value j (a detached or an mx.np alias)."""
    if step.aliases:
        step.aliases.append((j, _WEAKREF(d)))
    else:
        step.aliases = [(j, _WEAKREF(d))]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _at_user_line(reason):
    """A drop's reason with the line outside tracegrad that caused it (the drop log says
    which read of the user's ran the step eagerly)."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE_DIR):
        f = f.f_back
    if f is None:
        return reason
    return f"{reason} ({os.path.basename(f.f_code.co_filename)}:{f.f_lineno}, {f.f_code.co_name})"


class PendingWrite(NDArray):
    """An array a pending step's state update will write (at its native call): reading or
    writing it runs the step so far eagerly first (which writes it) and makes it a plain
    NDArray again."""
    __slots__ = ()

    @property
    def _data(self):
        materialize("an array a pending state update writes was read")
        self.__class__ = NDArray     # (already, unless its step was lost to an exception)
        return _SLOT_DATA.__get__(self)

    @_data.setter
    def _data(self, v):
        materialize("an array a pending state update writes was written")
        self.__class__ = NDArray
        _SLOT_DATA.__set__(self, v)


class Failed(NDArray):
    """A Deferred array of a step whose native call raised (an index out of range): eager
    mode raised before making it, so reading it raises that error again. `_leaf` holds the
    message."""
    __slots__ = ()

    @property
    def _data(self):
        from ..base import MXNetError
        raise MXNetError(f"this array belongs to a captured step that raised: "
                         f"{_SLOT_LEAF.__get__(self)}")

    @_data.setter
    def _data(self, v):
        self._data    # noqa: B018 - raises

    @property
    def _value(self):
        return self._data


class _Ref:
    """A deferred operand in a pending op's saved arguments (weakly: the user may drop it)."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


_REFS = [_Ref(i) for i in range(4096)]
_GET_LEAF = _SLOT_LEAF.__get__


# a tape value for exported results: the graph was consumed by backward, as eager leaves it
_FREED_OP = Operation.__new__(Operation)
_FREED_OP.opdef, _FREED_OP.operands, _FREED_OP.attrs, _FREED_OP.loc = CompiledCall, (), {}, None
_FREED_OP.results = ()


_UNBUILT = object()      # a PlanOp's fast_call before its first use


class PlanOp:
    """One op of a plan: what it is, where each operand comes from ((kind, ref) pairs, also
    split into `kinds` and `refs`), and the plan values its results are."""
    __slots__ = ("opdef", "entry", "attrs", "operands", "kinds", "refs", "n", "results",
                 "lit_cache", "raw_attrs", "writes", "types",
                 "feed_plan", "has_keys", "fast_call", "fast_first")

    def __init__(self, opdef, entry, attrs, operands, results):
        self.opdef, self.entry, self.attrs = opdef, entry, attrs
        self.operands, self.results = operands, results
        self.kinds = tuple(k for k, _ in operands)
        self.refs = tuple(r for _, r in operands)
        self.n = len(operands)
        self.lit_cache, self.raw_attrs, self.writes = {}, None, ()
        self.types = ()      # the results' IR types (Plan fills them in)
        self.feed_plan = None    # a compiled call's feeds against its operands (_bind_call)
        self.has_keys = False    # a compiled call that draws random keys
        self.fast_call = _UNBUILT    # its straight-line binder (straight_line.call_binder)
        self.fast_first = None   # a first op's binder that makes the step too (_fast_call)


class Plan:
    """A captured step: its ops in program order, its graph inputs, and its native code."""

    def __init__(self, heads, values, ops, wrt_leaves, assigned=()):
        order = sorted(ops, key=lambda op: op.results[0].seq)
        leaves = [v for v in values if v.producer is None]
        leaf_index = {v: i for i, v in enumerate(leaves)}
        value_index = {}
        self.value_types = []
        self.ops = []
        for op in order:
            refs = []
            for o in op.operands:
                if type(o) is Literal:
                    refs.append((_LIT, o))
                elif o in leaf_index:
                    refs.append((_LEAF, leaf_index[o]))
                else:
                    refs.append((_VALUE, value_index[o]))
            results = []
            for r in op.results:
                value_index[r] = len(self.value_types)
                results.append(len(self.value_types))
                self.value_types.append(r.type)
            entry = op.attrs["entry"] if op.opdef is CompiledCall else None
            pop = PlanOp(op.opdef, entry, op.attrs, refs, results)
            pop.types = tuple(self.value_types[j] for j in results)
            if entry is not None:    # the state updates: outputs after the user's
                e = resolve(entry, "compiled_call")
                pop.writes = tuple(results[e.n_out:e.n_out + len(e.updates)])
                pop.has_keys = any(kind == Feed.KEY for kind, _ in e.feeds)
            self.ops.append(pop)
        # plan value -> the op computing it (_extra_is_value)
        self.producer = {j: pop for pop in self.ops for j in pop.results}
        if len(self.value_types) > len(_REFS):
            raise _Refuse(f"the step has more than {len(_REFS)} values")
        self.leaf_types = [v.type for v in leaves]
        # a variable leaf is matched by identity (the same array, the same gradient buffer)
        self.leaf_vars = [v if v.var is not None else None for v in leaves]
        self.wrt = [leaf_index[v] for v in wrt_leaves]
        self.wants = [tape.wants_grad(v) for v in leaves]
        self.head = value_index[heads[0]]
        # the values array.assign_state wrote in the observed step, in order
        if any(v not in value_index for v in assigned):
            raise _Refuse("a state update writes a graph input")
        self.assigns = [value_index[v] for v in assigned]
        writes = set(self.assigns).union(*[pop.writes for pop in self.ops])
        # grad_req of each variable leaf as planned (the gradients computed depend on it)
        self.var_wants = [(v, w) for v, w in zip(self.leaf_vars, self.wants) if v is not None]
        self.wrt_vars = [self.leaf_vars[i].var for i in self.wrt]
        # wants_grad(leaf) == want by grad_req alone: a leaf's Variable never changes (every
        # dtype wants its gradient: int_grads.py)
        self.var_reqs = [(v.var, w) for v, w in self.var_wants]
        # the tape value exported arrays get: a graph already consumed by backward
        self.freed = [_freed(t) for t in self.value_types]
        self._set_exports([self.head] + sorted(writes - {self.head}))
        self.forward = self._forward(leaves, order, value_index)
        self.native, self.failures, self.captured, self.hit = None, 0, 0, None
        self.build_seconds = 0.0     # CPU time its compile took (update_fusion waits longer)
        self.seen_key = None     # its entry in _State.seen (observe)
        # the step fused with Trainer.step's update (update_fusion.Fusion), once learned
        self.fusion, self.fusion_seen, self.fusion_refused = None, None, False
        self.fusion_building = None  # (Fusion, background.Compiling) while it compiles
        self.n_scalars = 0       # lifted literals (lift_literals)
        self.hoists = []     # block replays whose eager ops a fusion may compute (`hoistable`)
        self.lift_wanted = []    # (PlanOp, operand) literals that differed: lift_literals
        self.replays = weakref.WeakSet()    # the block replays learned on this plan
        self.idle = 0        # backward passes not captured by any plan since this one last was
        self.shared = False  # another plan starts with the same op (_install): see _followed
        self.followed_by = None  # (weak ref. to) the plan of the step after its last one
        self.first_key = self.ops[0].entry if self.ops[0].entry is not None else \
            self.ops[0].opdef
        # the first op's variable operands (position, leaf): an op on other arrays is turned
        # away before a Step is made for it
        first = self.ops[0]
        self.start_vars = tuple((n, self.leaf_vars[ref]) for n, (kind, ref) in
                                enumerate(first.operands)
                                if kind == _LEAF and self.leaf_vars[ref] is not None)

    def _set_exports(self, exports):
        self.exports = exports
        # (plan value, the tape value its array gets) per export, in output order
        self.export_items = tuple((j, self.freed[j]) for j in exports)
        self.export_set = frozenset(exports)
        self.hidden = [j for j in range(len(self.value_types)) if j not in self.export_set]
        self.export_pos = {j: k for k, j in enumerate(exports)}

    def _forward(self, leaves, order, value_index):
        """The recorded ops as IR of their own (the tape's are freed by backward), compiled
        calls inlined; its outputs are the plan's values by index."""
        b = Builder(name="captured_forward")
        env = {v: b.param(t, f"in{i}") for i, (v, t) in enumerate(zip(leaves, self.leaf_types))}
        for op in order:
            if op.opdef is CompiledCall:
                e = resolve(op.attrs["entry"], "compiled_call")
                inner = dict(zip(e.forward_fn.params,
                                 [o if type(o) is Literal else env[o] for o in op.operands]))
                copy_ops(b, e.forward_fn.ops, inner)
                for r, o in zip(op.results, e.forward_fn.outputs):
                    env[r] = o if type(o) is Literal else inner[o]
            else:
                if not native_op(op):
                    raise _Refuse(_no_native(op))
                copy_ops(b, [op], env)
        by_index = sorted(value_index.items(), key=lambda kv: kv[1])
        return b.ret(*[env[v] for v, _ in by_index])

    def lift_literals(self):
        """The float literals that differed from the step's (lift_wanted: an annealed loss
        weight, a schedule's scalar) become scalar leaves, inputs of the native call bound per
        step, as tape.lifts_literal makes them inputs of the eager adjoint. Only literals seen
        to vary are lifted: the others stay constants the code is optimized for. Block
        replays over a lifted op are given up (their programs bind no scalar)."""
        wanted, self.lift_wanted = self.lift_wanted, []
        fwd, subs = self.forward, {}
        for pop, n in wanted:
            kind, lit = pop.operands[n]
            if kind != _LIT or id(lit) in subs:
                continue
            ref = len(self.leaf_types)
            self.leaf_types.append(lit.type)
            self.leaf_vars.append(None)
            self.wants.append(False)
            pop.operands = list(pop.operands)
            pop.operands[n] = (_SCALAR, ref)
            pop.kinds = tuple(k for k, _ in pop.operands)
            pop.refs = tuple(r for _, r in pop.operands)
            pop.lit_cache.pop(n, None)
            subs[id(lit)] = lit
            k = self.ops.index(pop)
            for r in list(self.replays):
                if r.k0 <= k < r.k1:
                    r.k0, r.fast = -1, None      # (replay() then declines it)
        if not subs:
            return
        b = Builder(name="captured_forward")
        env = {p: b.param(p.type, p.name_hint) for p in fwd.params}
        scalar = {i: b.param(lit.type, f"scalar{j}") for j, (i, lit) in enumerate(subs.items())}
        for op in fwd.ops:
            operands = [(scalar.get(id(o), o) if type(o) is Literal else env[o])
                        for o in op.operands]
            new = b.copy(op, operands)
            for r, v in zip(op.results, new if isinstance(new, tuple) else (new,)):
                env[r] = v
        self.forward = b.ret(*[o if type(o) is Literal else env[o] for o in fwd.outputs])
        self.hoists = [h for h in self.hoists if h.k0 >= 0]
        self.n_scalars += len(subs)

    def build(self):
        """Compile forward + exported values + every variable's gradient as one Function."""
        self.prepare()
        self.compile()

    def prepare(self):
        """build's IR half: the step's Function, `fn` (compile, here or in background.py)."""
        fwd = self.forward
        b = Builder(name="captured_step")
        env = {p: b.param(p.type, p.name_hint) for p in fwd.params}
        copy_ops(b, fwd.ops, env)
        values = [o if type(o) is Literal else env[o] for o in fwd.outputs]
        head = values[self.head]
        if type(head) is Literal:
            raise _Refuse("the loss is a constant")
        residuals = []
        diff = Function("captured_loss", b.fn.params, list(b.fn.ops), [head])
        adjoint = run_pipeline(vjp(diff, self.wrt, residuals=residuals), PIPELINE)
        adj = dict(zip(adjoint.params, residuals + [
            b.constant(value=1.0, shape=head.type.shape, dtype=head.type.dtype)]))
        copy_ops(b, adjoint.ops, adj)
        grads = [o if type(o) is Literal else adj[o] for o in adjoint.outputs]
        exports = [values[i] for i in self.exports]
        fn = run_pipeline(b.ret(*exports, *grads), PIPELINE)
        for op in fn.ops:
            if not native_op(op):
                raise _Refuse(_no_native(op))
        self.fn = fn

    def compile(self):
        """build's native half, in this thread."""
        start = time.process_time()
        self.finish(compile_callable(self.fn), time.process_time() - start)

    def finish(self, native, seconds):
        """build's end: `native`, fn compiled (`seconds` of CPU, here or in background.py)."""
        self.native, self.build_seconds = native, seconds
        # (built, or compiling, on the old Function)
        self.fusion = self.fusion_seen = self.fusion_building = None
        bump("traces")


class _Refuse(Exception):
    """The observed step cannot be captured (the message says why)."""


def _no_native(op):
    """The refusal for an op codegen cannot lower, in codegen's words (float16 has none)."""
    return f"op '{op.opdef.name}' has no native lowering: " + (
        not_native_reason(op) or "it runs in Python")


_NOTHING_WRITTEN = frozenset()


class Step:
    """The ops of a plan deferred so far in this step. A new step sets six fields; the rest
    start as the class's values (immutable: a step that changes one sets its own), so the
    straight-line first-op binders (straight_line.call_binder) make a step as cheaply."""
    # deferred state updates in order: (position in log for an assign_state, None for a
    # compiled call's update; the target array; the plan value written); the id()s of their
    # target buffers (both made by the step's first write)
    writes, written = (), _NOTHING_WRITTEN
    n_assign = 0        # assign_state calls deferred so far
    held = None         # the Fusion holding the step from backward() to trainer.step
    done = False        # a held step finished (maybe by another thread: HELD_LOCK)
    lazy = ()           # (replay, its kept arguments): leaves the fused call computes
    own = ()            # values that get their own buffer if materialized (slices)
    aliases = ()        # (plan value, weak reference): detached Deferred arrays
    extras = ()         # ops outside the plan's graph: [opdef, operands, attrs, ref, own]

    def __init__(self, plan):
        self.plan, self.k = plan, 0
        self.leaf_data = [None] * len(plan.leaf_types)
        self.refs = [None] * len(plan.value_types)
        self.log = []            # per deferred op: (args with _Ref, attrs) or call payload;
        #                          (_REPLAYED, replay, leaves) for a replayed block
        self.training = STATE.training


class _State(threading.local):
    """Capture is per thread: each thread learns, defers and runs its own steps, so threads
    training side by side compute exactly what each would alone."""
    step = None          # the pending Step
    broken = False       # a step was materialized: defer nothing until the next backward
    learning = None      # the _Learning of a block call being learned (block replay)
    delivered = None     # the plan whose native call made the last backward (update_fusion)
    view_owners = None   # id(mx.np view of a parameter) -> its NDArray, in a block's call

    def __init__(self):
        self.plans = {}  # first op (opdef or compiled entry id) -> [Plan]
        # plans compiling in the background: (plan, its variables' ids, its op when it is
        # one (_never_again's test; the tape's values are not kept), background.Compiling)
        self.building = []
        self.n_observed = 0     # backward passes observed (the clock of `seen`'s windows)
        self.seen = {}   # (id(adjoint), id()s of the variables) -> [adjoint, backward passes
        #                  that used it with those variables, weak references to them]
        self.side = []   # tape values assign_state wrote since the last backward
        # plans sharing a first op (two heads trained in turns on a shared trunk): the plan
        # of the last step per first op (`_followed`), so a step starts on the plan that came
        # after it last time (Plan.followed_by, `_in_turn`)
        self.last = {}      # first op -> (weak ref. to) the plan of its last step
        # this thread's plans die with it: its ident must then leave _PLANNING, or the eager
        # hooks would stay installed for every other thread for the rest of the process
        self.thread_alive = _ThreadAlive()
        weakref.finalize(self.thread_alive, _thread_ended, threading.get_ident()).atexit = False


class _ThreadAlive:
    """Lives exactly as long as one thread's capture state."""


def _thread_ended(ident):
    with _HOOKS_LOCK:
        _PLANNING.discard(ident)
        if not _PLANNING:
            _array.set_defer_hook(None)
            _compiled.DEFER_CALL = None


_STATE = _State()
_RETIRED: list = []      # (adjoint, variable ids): graphs on variables not learned again
_RETIRES: dict = {}      # (id(adjoint), variable ids) -> [adjoint, times its plans retired]
_PLANNING = set()        # the threads holding plans: the eager hooks stay installed for them
# _PLANNING and the hooks change together: a thread that finds _PLANNING empty and removes the
# hooks must not do so after another thread joined it and installed them (that thread's plans
# would never see an op again). Reentrant: a thread's end (_thread_ended) may run in any thread.
_HOOKS_LOCK = threading.RLock()
_LOG = {"drops": [], "captured": 0, "retired": [], "last_calls": None, "last_fused": False}


def set_enabled(on: bool) -> bool:
    """Turn step capture on or off (returns the previous setting); off drops every plan."""
    global ENABLED
    prev, ENABLED = ENABLED, bool(on)
    _compiled.CAPTURE_LEARNS = ENABLED
    if not on:
        materialize("capture turned off")
        _STATE.plans.clear()
        _STATE.seen.clear()
        _PLANNING.clear()
        _array.set_defer_hook(None)
        _compiled.DEFER_CALL = None
        _STATE.side = []
        if _array.HOOKS.assign is _on_assign:
            _array.HOOKS.assign = None
    return prev


class paused:
    """`with capture.paused():` runs its steps without capture and keeps the plans learned so
    far (set_enabled(False) drops them): to time or check a step both ways in one process."""

    def __enter__(self):
        global ENABLED
        materialize("capture paused")
        self.prev = ENABLED
        self.hooks = (_array._DEFER, _array._BEFORE_WRITE, _compiled.DEFER_CALL)
        ENABLED = _compiled.CAPTURE_LEARNS = False
        _array.set_defer_hook(None)
        _compiled.DEFER_CALL = None
        return self

    def __exit__(self, *exc):
        global ENABLED
        ENABLED = _compiled.CAPTURE_LEARNS = self.prev
        if self.prev and _PLANNING:
            _array.set_defer_hook(self.hooks[0] or defer_apply, self.hooks[1] or before_write)
            _compiled.DEFER_CALL = defer_call
        return False


# ------------------------------------------------------------------ learning
def observe(hit, heads, values, ops, wrt_leaves, head_grads, retain_graph):
    """Called by every backward with the adjoint it uses: learn a plan once it repeats."""
    if not ENABLED:
        return
    state = _STATE
    state.broken = False
    state.delivered = None
    if state.building:
        _install_built(state)
    side = state.side
    if side:
        state.side = []
    hooks = _array.HOOKS
    if hooks.assign is None and not hooks.tracing:  # from now on state updates are reported
        hooks.assign = _on_assign
    if state.plans:
        _age(state.plans)
    known = state.seen
    # the variables differentiated: a plan matches its variables by identity, so a structure
    # counts as repeated only with the same ones (x.attach_grad() anew each time: never; two
    # nets of one structure trained in turns: each on its own)
    var_ids = tuple(map(id, wrt_leaves))
    key = (id(hit), var_ids)
    for plans in state.plans.values():    # a step of a plan sharing its first op, not
        for plan in plans:                # captured (another plan was tried): its turn
            if plan.shared and plan.hit is hit and plan.seen_key == key:
                _followed(state, plan)
    seen = known.get(key)
    state.n_observed = now = state.n_observed + 1
    # (ids are recycled: the entry's weak references tell the same variables from new ones)
    if seen is None or seen[0] is not hit or not all(
            map(_is, [r() for r in seen[2]], wrt_leaves)):
        if len(known) >= 256:
            known.clear()
        # [adjoint, count, the variables, its latest backward passes (clock), the count that
        #  learns it]
        known[key] = [hit, 1, tuple(map(_WEAKREF, wrt_leaves)), [now],
                      _repeats_needed(len(ops))]
        return
    seen[1] += 1
    times = seen[3]
    times.append(now)
    del times[:-seen[4]]
    if seen[1] != seen[4]:
        return
    if not tape.repeats_close(now - times[0] + 1, len(times)):
        # it recurs, but rarely (a sequence length drawn per batch among dozens): a plan
        # would cost its compile and mostly fail; its next repeat looks again
        seen[1] -= 1
        return
    if len(heads) != 1 or head_grads[0] is not None or retain_graph:
        return _drop(None, "backward with several heads, head gradients or retain_graph")
    if not ops:
        return
    if any(h is hit and v == var_ids for h, v in _RETIRED):
        return
    if tape.NATIVE_AFTER == 0 and any(op.opdef is not CompiledCall for op in ops):
        _never_again(hit, var_ids, ops)   # (eager ops would run natively from now on)
        return _drop(None, "not captured: TRACEGRAD_EAGER_NATIVE_AFTER=0 keeps eager ops "
                           "and their gradients interpreted, every step bitwise the same")
    try:
        ops, values, assigned = _with_state_updates(ops, values, side)
        for plan in _STATE.plans.get(_first(ops), ()):
            if plan.hit is hit and plan.seen_key == key:
                return
        plan = Plan(heads, values, ops, wrt_leaves, assigned)
        plan.hit, plan.seen_key = hit, key
        plan.prepare()
        if background.wanted(plan.fn):      # (the loop goes on; _install_built installs it)
            state.building.append((plan, var_ids, ops if len(ops) == 1 else (),
                                   background.Compiling(plan.fn)))
            return
        plan.compile()
    except _Refuse as e:
        _never_again(hit, var_ids, ops)
        return _drop(None, f"not captured: {e}")
    except Exception as e:  # noqa: BLE001 - capture is an optimization: never fail backward
        _never_again(hit, var_ids, ops)
        return _drop(None, f"not captured: building the plan failed: {type(e).__name__}: {e}")
    _install(plan)


def _install_built(state):
    """The plans whose background compile (background.py) has ended: installed, or dropped
    with the compile's error, in the thread that learned them."""
    for job in [j for j in state.building if j[3].done()]:
        state.building.remove(job)
        plan, var_ids, ops, compiling = job
        try:
            native = compiling.result()
        except Exception as e:  # noqa: BLE001 - capture is an optimization: never fail
            _never_again(plan.hit, var_ids, ops)
            _drop(None, f"not captured: building the plan failed: {type(e).__name__}: {e}")
            continue
        plan.finish(native, compiling.seconds)
        _install(plan)


def _never_again(hit, var_ids, ops):
    """The structure is not learned again (_RETIRED). A step of one compiled call alone
    takes its fused step again (compiled.direct_backward: forward and gradients in one call)."""
    _RETIRED.append((hit, var_ids))
    del _RETIRED[:-32]
    if len(ops) == 1 and ops[0].opdef is CompiledCall:
        entry = lookup(ops[0].attrs["entry"])
        if entry is not None:
            entry.capture_declined = True


def _repeats_needed(n_ops):
    """Backward passes of a structure before it is learned: REPEATS, and more for a big graph
    (its compile takes seconds: an unrolled LSTM of 40 steps is ~800 ops), whose repeats must
    be more than a coincidence of a program whose graphs change (a length drawn per batch)."""
    return REPEATS + max(0, n_ops - BIG_PLAN) // (BIG_PLAN // 2) if n_ops > BIG_PLAN \
        else REPEATS


def _age(plans):
    """An uncaptured backward: every plan of this thread has gone one more step unused. A plan
    idle IDLE_LIMIT times in a row (its first op never matches, say: a new Variable every
    step) only costs eager ops its check, so it is retired and the hooks go when none is left.
    A plan that captured more steps than that may stay idle as long as it was used: the checks
    it costs idle are bounded by the steps it ran natively."""
    stale = [p for ps in plans.values() for p in ps
             if p.idle >= max(IDLE_LIMIT, p.captured) - 1]
    for ps in plans.values():
        for p in ps:
            p.idle += 1
    for p in stale:
        _retire(p, f"not captured in {p.idle} backward passes in a row")


def _with_state_updates(ops, values, side):
    """The graph's ops and values plus the ops computing the state updates of this step
    (assign_state's values recorded since the step's first op), and those values in order."""
    if not side:
        return ops, values, []
    start = min(op.results[0].seq for op in ops)
    known_ops = {id(op) for op in ops}
    known = set(values)
    ops, values, assigned = list(ops), list(values), []
    for v in side:
        if v.producer is None or v.seq < start:   # a graph input; or from before this step
            continue
        assigned.append(v)
        stack = [v]
        while stack:
            x = stack.pop()
            if type(x) is Literal or x in known:
                continue
            p = x.producer
            if p is None:
                known.add(x)
                values.append(x)
                continue
            if id(p) in known_ops:
                continue
            if not p.results or p.results[0].seq < start or p.results[0].data is None:
                raise _Refuse("a state update depends on an earlier step's graph")
            known_ops.add(id(p))
            ops.append(p)
            for r in p.results:
                known.add(r)
                values.append(r)
            stack.extend(p.operands)
    return ops, values, assigned


def _first(ops):
    op = min(ops, key=lambda o: o.results[0].seq)
    return op.attrs["entry"] if op.opdef is CompiledCall else op.opdef


def _install(plan):
    """The plan in this thread's table: at most 4 per first op and MAX_PLANS in all; the
    least recently used of a first op, or the oldest first op's, make room. A plan dropped so
    is retired (learned again after more repeats, a bounded number of times): else its repeat
    count, already past its threshold, would never meet it again."""
    mine = _STATE.plans
    plans = mine.setdefault(plan.first_key, [])
    plans.insert(0, plan)
    while len(plans) > 4:
        _retire(plans.pop(max(range(1, len(plans)), key=lambda i: plans[i].idle)), _MADE_ROOM)
    if len(plans) > 1:
        for p in plans:
            p.shared = True
    if sum(len(p) for p in mine.values()) > MAX_PLANS:
        oldest = next((k for k in mine if k != plan.first_key), None)
        for p in mine.pop(oldest, ()):
            _retire(p, _MADE_ROOM)
    with _HOOKS_LOCK:
        _PLANNING.add(threading.get_ident())
        _array.set_defer_hook(defer_apply, before_write)
        _compiled.DEFER_CALL = defer_call


_MADE_ROOM = "dropped to make room for another plan"


def _followed(state, plan):
    """A step of `plan` reached backward(), captured or not: it came after the last step with
    the same first op. Remembered per plan, so that steps taking turns (two heads trained in
    turns on a shared trunk: both steps start with the trunk's call) each start on their own
    plan. Weak references: a retired plan (and the parameters it holds) is not kept."""
    key, last = plan.first_key, state.last
    prev = last.get(key)
    prev = prev() if prev is not None else None
    ref = weakref.ref(plan)
    if prev is not None:
        prev.followed_by = ref
    if len(last) >= 64:
        last.clear()
    last[key] = ref


def _in_turn(state, key, plans):
    """`plans` (several start with op `key`) with the one predicted to come next first: the
    plan that followed the last step's plan the last time (`_followed`)."""
    prev = state.last.get(key)
    prev = prev() if prev is not None else None
    nxt = prev.followed_by if prev is not None else None
    nxt = nxt() if nxt is not None else None
    if nxt is None or nxt is plans[0] or nxt not in plans:
        return plans
    return [nxt] + [p for p in plans if p is not nxt]


def _drop(plan, reason):
    bump("capture_drops")
    drops = _LOG["drops"]
    drops.append(reason)
    del drops[:-8]
    if plan is not None:
        plan.failures += 1
        if plan.failures >= MAX_FAILURES:
            _retire(plan, reason)


# ------------------------------------------------------------------ deferring
def defer_apply(opdef, args, attrs):
    """The eager dispatcher's hook: a Deferred result, or None to run the op now (after
    materializing any deferred operand)."""
    state = _STATE
    step = state.step
    if step is None:
        # between steps: only an op that starts some plan is of interest
        plans = state.plans.get(opdef)
        if not plans or not STATE.recording or state.broken:
            return None
        if _tracked(args):
            if len(plans) > 1:
                plans = _in_turn(state, opdef, plans)
            for plan in plans:
                if len(args) != plan.ops[0].n or not _may_start(plan.start_vars, args):
                    continue
                step = Step(plan)
                out = _match_apply(step, plan.ops[0], opdef, args, attrs)
                if out is not None:
                    state.step = step
                    return out
                if plan.lift_wanted:    # (its first op's scalar differed: no step to drop)
                    _lift(plan)
        if _has_np(args):    # mx.np operands: as the nd arrays they view
            args = nd_args(args)
            if args is not None:
                return defer_apply(opdef, args, attrs)
        return None
    if not STATE.recording or state.broken:
        for a in args:
            t = type(a)
            if t is Deferred or t is PendingWrite:
                materialize(f"'{opdef.name}' used a deferred array outside the step")
                break
        return None
    k = step.k
    ops = step.plan.ops
    if k < len(ops):
        out = _match_apply(step, ops[k], opdef, args, attrs)
        if out is not None:
            return out
    if _has_np(args):    # mx.np operands: as the nd arrays they view
        nd = nd_args(args)
        if nd is not None:
            return defer_apply(opdef, nd, attrs)
    if not _tracked(args):     # an op on untracked arrays only is not recorded: not in the step
        return None
    out = _defer_extra(step, opdef, args, attrs)
    if out is not None:
        return out
    if any(type(a) is PendingWrite for a in args):
        materialize(f"op '{opdef.name}' read an array a pending state update writes")
    else:
        materialize(f"op '{opdef.name}' differs from the captured step's op {k}")
    return None


def _defer_extra(step, opdef, args, attrs):
    """An op the plan's graph does not hold, on this step's deferred values (an RNN layer's
    final states nobody asked for, their detach, an accuracy of the output against the
    label inside record()), untracked arrays (copied now) and scalars: nothing the loss needs
    depends on it, so it waits as a Deferred (its `_leaf` is ("extra", n)) that a materialized
    step computes (`_run_extras`) or, alive at backward(), runs after the native call
    (`_run_extras_after`). One used by an op of the plan fails that op's match unless it
    computes the plan's operand (`_extra_is_value`). None when it cannot wait."""
    if RANDOM in opdef.traits or step.held is not None or step.done:
        return None
    n0 = len(step.extras)
    operands, types = _extra_operands(step, args)
    if operands is not None:
        try:
            types = [v.type if type(v) is Value else Literal(v, literal_dtype(v, types)).type
                     for v in types]
            t = opdef.infer(*types, **tape.canonical(opdef, attrs or {}))
        except Exception:  # noqa: BLE001 - not an op this step can hold: run it as eager would
            t = None
        if t is not None and not isinstance(t, tuple):
            return _extra_result(step, opdef, operands, attrs, t)
    step.extras = step.extras[:n0]       # (the detaches _extra_operands added)
    return None


def _extra_operands(step, args):
    """(operands, their Values or scalars) of an extra op, or (None, None)."""
    refs = step.refs
    operands, types = [], []
    for a in args:
        ta = type(a)
        if ta is NDArray or ta is bool or ta is int or ta is float:
            if ta is NDArray:       # an untracked array (a label): its value now, as a copy
                if _SLOT_VALUE.__get__(a) is not None:   # (a tracked one: the update may
                    return None, None                     # write it in the same call)
                data = _SLOT_DATA.__get__(a)
                if type(data) is not np.ndarray:
                    return None, None
                a = _Const(data.copy())
                types.append(Value(type_of(data)))
            else:
                types.append(a)
            operands.append(a)
            continue
        if ta is not Deferred:
            return None, None
        j = _GET_LEAF(a)
        if type(j) is int and j < 0:     # a detached alias of a plan value: detach it here
            if not any(r() is a for _, r in step.aliases):
                return None, None
            _extra_result(step, _DETACH, [_Ref(-1 - j)], None, _SLOT_VALUE.__get__(a))
            operands.append(("extra", len(step.extras) - 1))
        elif type(j) is int:
            if refs[j] is None or refs[j]() is not a:
                return None, None
            operands.append(_Ref(j))
        elif type(j) is tuple and j[1] < len(step.extras) and step.extras[j[1]][3]() is a:
            operands.append(j)
        else:
            return None, None
        types.append(Value(_SLOT_VALUE.__get__(a)))
    return operands, types


_DETACH = None      # an extra's opdef for Deferred.detach of an extra
_NP_VIEW = "mx.np view"     # ... and for an mx.np view of one (capture.NpDeferred)


class _Const:
    """An extra's untracked array operand: a copy of its data when the op was made."""
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def _extra_args(operands, real, done):
    return [real[o.index] if type(o) is _Ref else done[o[1]] if type(o) is tuple else
            _array.wrap(o.data) if type(o) is _Const else o for o in operands]


def _extra_result(step, opdef, operands, attrs, t, cls=Deferred):
    """A Deferred of type t for one more extra op of the step (its `_leaf`: ("extra", n))."""
    d = _pending_array(cls, ("extra", len(step.extras)), t)
    step.extras = step.extras + ([opdef, operands, attrs, _WEAKREF(d), False],)
    return d


def _run_extras(step, real):
    """A materialized step's extra ops, in program order, on its values; each live Deferred
    of one becomes the NDArray eager made."""
    done = []
    for opdef, operands, attrs, ref, own in step.extras:
        args = _extra_args(operands, real, done)
        if opdef is _DETACH:
            res = NDArray.detach(args[0])
        elif opdef is _NP_VIEW:
            res = args[0]       # (the same buffer and graph value, as as_np's view)
        else:
            res = _array.apply(opdef, args, attrs) if attrs else _array.apply(opdef, args)
        done.append(res)
        d = ref()
        if d is not None:
            data = _SLOT_DATA.__get__(res)
            _SET_DATA(d, data.copy() if own and data.base is not None else data)
            _SET_VALUE(d, _SLOT_VALUE.__get__(res))
            _SET_LEAF(d, None)
            d.__class__ = NpArray if type(d) is NpDeferred else NDArray


def _run_extras_after(step, outs):
    """The extras of a step its native call finished, when a result of one is alive: run on
    the exported values they read, recorded as eager recorded them (those values' graph is
    freed, as after an eager backward: a later backward through a result raises as eager
    does). Nothing is deferred meanwhile (`broken`)."""
    plan, state = step.plan, _STATE
    real = {}
    for e in step.extras:
        for o in e[1]:
            if type(o) is _Ref and o.index not in real:
                a = _array.wrap(outs[plan.export_pos[o.index]])
                _SET_VALUE(a, plan.freed[o.index])
                real[o.index] = a
    prev = STATE.recording, STATE.training, state.broken
    STATE.recording, STATE.training, state.broken = True, step.training, True
    try:
        _run_extras(step, real)
    finally:
        STATE.recording, STATE.training, state.broken = prev


def _may_start(start_vars, args):
    for n, var in start_vars:
        a = args[n]
        if type(a) is not NDArray or _SLOT_VALUE.__get__(a) is not var:
            return False
    return True


def _tracked(args):
    for a in args:
        t = type(a)
        if t is Deferred or t is PendingWrite or (
                t is NDArray and _SLOT_VALUE.__get__(a) is not None):
            return True
    return False


def _bind(step, pop, args):
    """Check each operand against the plan; bind constant leaves. None when one differs.
    Returns the operands to replay the op with (deferred ones as _Refs)."""
    saved = list(args)
    n = -1
    for a, kind, ref in zip(args, pop.kinds, pop.refs):
        n += 1
        t = type(a)
        if t is Deferred:
            if kind != _VALUE or _GET_LEAF(a) != ref:
                if kind != _VALUE or not _extra_is_value(step, _GET_LEAF(a), ref):
                    return None
            saved[n] = _REFS[ref]
            continue
        if kind == _LIT:
            if t is NDArray or (t is np.ndarray and a.ndim):
                return None
            cached = pop.lit_cache.get(n)
            if cached is None or t is not cached[0] or a != cached[1]:
                if not _same_literal(pop, n, ref, a, args):
                    if tape.lifts_literal(pop.opdef, ref) and _scalar_input(
                            pop, n, ref.type.dtype, a, args, remember=False) is not None:
                        wanted = step.plan.lift_wanted     # (lifted after this drop)
                        if (pop, n) not in wanted:
                            wanted.append((pop, n))
                    return None
            continue
        if kind == _SCALAR:
            if t is NDArray or (t is np.ndarray and a.ndim):
                return None
            value = _scalar_input(pop, n, step.plan.leaf_types[ref].dtype, a, args)
            if value is None:
                return None
            step.leaf_data[ref] = value
            continue
        if kind != _LEAF:
            return None
        if t is NDArray:
            v, data = _SLOT_VALUE.__get__(a), _SLOT_DATA.__get__(a)
        elif t is np.ndarray and a.ndim:
            v, data = None, a
        else:
            return None
        if step.written and id(data) in step.written:
            return None             # reads an array a deferred state update writes
        plan = step.plan
        var = plan.leaf_vars[ref]
        if var is not None:
            if v is not var:
                return None
            step.leaf_data[ref] = data
            continue
        if v is not None:
            return None             # a recorded value from outside the step
        bound = step.leaf_data[ref]
        if bound is None:
            ltype = plan.leaf_types[ref]
            if data.shape != ltype.shape or data.dtype != ltype.np_dtype:
                return None
            step.leaf_data[ref] = data
        elif bound is not data:
            return None
    return saved


def _extra_is_value(step, leaf, j):
    """Whether extra `leaf` computes plan value j: the same deterministic op with the same
    attributes on the same values (extras or plan values, recursively). Eager code that
    computes one value twice (a slice for zeros_like's shape, then the same slice as the
    next cell's input) has its first copy matched to the plan's op and the second made an
    extra; an op of the plan reading the second reads the plan's value, bit for bit."""
    extras = step.extras
    if type(leaf) is not tuple or leaf[1] >= len(extras):
        return False
    opdef, operands, attrs, _, _ = extras[leaf[1]]
    pop = step.plan.producer.get(j)
    if opdef is _DETACH or pop is None or pop.opdef is not opdef or len(pop.results) != 1 \
            or pop.n != len(operands):
        return False
    canon = tape.canonical(opdef, attrs or {})
    if canon is not pop.attrs and canon != pop.attrs:
        return False
    for o, (kind, r) in zip(operands, pop.operands):
        if kind != _VALUE or not (o.index == r if type(o) is _Ref else
                                  _extra_is_value(step, o, r)):
            return False
    return True


def _literal_of(a, args):
    """The Literal eager records for scalar `a` beside `args` (its value in the dtype it
    gets there), or None when `a` is no scalar."""
    if not isinstance(a, (bool, int, float, np.number, np.bool_, np.ndarray)):
        return None
    operands = [Value(x.type) if isinstance(x, NDArray) else
                Value(type_of(x)) if isinstance(x, np.ndarray) and x.ndim else x for x in args]
    try:
        return Literal(a, literal_dtype(a, operands))
    except (TypeError, ValueError):
        return None


def _same_literal(pop, n, lit, a, args):
    """Whether scalar `a` (operand n) is the literal the plan saw (value and the dtype it
    would get); remembered per operand, so a step's repeat is one comparison."""
    got = _literal_of(a, args)
    if got is None or got.key() != lit.key():
        return False
    pop.lit_cache[n] = (type(a), a)
    return True


def _scalar_input(pop, n, dtype, a, args, remember=True):
    """Scalar `a` (operand n) as a lifted literal's 0-d input of the given dtype, or None when
    it is no scalar or would get another dtype. With `remember` (a lifted operand's own
    check), the operand type that passed is remembered (floats keep the array's dtype
    whatever their value)."""
    t = type(a)
    cached = pop.lit_cache.get(n) if remember else None
    if cached is None or cached[0] is not t:
        got = _literal_of(a, args)
        if got is None or got.type.dtype != dtype:
            return None
        if remember:
            pop.lit_cache[n] = (t, None)
    return tape.scalar_array(float(a), dtype)


def _match_apply(step, pop, opdef, args, attrs):
    if pop.opdef is not opdef or len(args) != pop.n:    # (a compiled call's opdef never is)
        return None
    if attrs or pop.attrs:       # (no attributes may be all defaults: matmul's transposes)
        raw = pop.raw_attrs
        if attrs is not raw and attrs != raw:
            if tape.canonical(opdef, attrs or {}) is not pop.attrs:
                return None
            pop.raw_attrs = dict(attrs or {})
    saved = _bind(step, pop, args)
    if saved is None:
        return None
    step.log.append((saved, attrs))
    results = pop.results
    if len(results) == 1:
        step.k += 1
        j = results[0]
        d = _NEW(Deferred)
        d._var = None
        d._leaf = j
        _SET_VALUE(d, pop.types[0])
        step.refs[j] = _WEAKREF(d)
        return d
    return tuple(_results(step, pop))


_NEW = Deferred.__new__
_WEAKREF = weakref.ref


def _results(step, pop, n=None):
    """Deferred arrays for the op's first `n` results (all by default)."""
    refs, new, ref = step.refs, Deferred.__new__, weakref.ref
    out = []
    for j, t in zip(pop.results if n is None else pop.results[:n], pop.types):
        d = new(Deferred)
        d._var = None
        d._leaf = j
        _SET_VALUE(d, t)
        refs[j] = ref(d)
        out.append(d)
    step.k += 1
    return out


_SET_LEAF = _SLOT_LEAF.__set__
_SET_DATA = _SLOT_DATA.__set__
_SET_VALUE = _SLOT_VALUE.__set__
_SET_VAR = NDArray.__dict__["_var"].__set__


def defer_call(entry, args, params, draw=None, decline=False):
    """A compiled training call (hybridized block): Deferred outputs, or None to run it.
    Its operands may be deferred results of earlier ops (a hybridized loss after the net).
    `draw` is the call's key source (guards.KeyDraw) when a guard tree runs the entry.
    `decline`: the caller has another way to make the call (a block's remembered call, whose
    entry may be another variant than the one its JitFunction picks for these arguments): a
    call that is not the pending step's next op returns None without materializing the
    step."""
    state = _STATE
    if state.broken:
        return None
    step = state.step
    if step is None:    # the first op of a step: of the plans starting with this call, the
        plans = state.plans.get(entry.id, ())           # one whose variables it reads
        if len(plans) > 1:
            plans = _in_turn(state, entry.id, plans)
        for plan in plans:
            step = Step(plan)
            pop = plan.ops[0]
            fast = pop.fast_call     # (its straight-line binder: straight_line.call_binder)
            if fast is _UNBUILT:
                fast = _fast_call(step, pop, entry)
            if fast is not None:
                d = fast(step, entry, args, params)
                if d is not None:
                    state.step = step
                    return d if entry.single else [d]
            saved = _bind_call(step, pop, entry, args, params)
            if saved is not None:
                break
        else:
            return _defer_np_call(entry, args, params, draw)
        fresh = True
    else:
        fresh = False
        plan = step.plan
        pop = plan.ops[step.k] if step.k < len(plan.ops) else None
        if pop is not None and pop.entry == entry.id:
            fast = pop.fast_call
            if fast is _UNBUILT:
                fast = _fast_call(step, pop, entry)
            if fast is not None:
                d = fast(step, entry, args, params)
                if d is not None:
                    return d if entry.single else [d]
        saved = _bind_call(step, pop, entry, args, params) if pop is not None and \
            pop.entry == entry.id else None
        if saved is None:
            if _has_np(args):
                return _defer_np_call(entry, args, params, draw, decline)
            if decline:
                return None
            began = step.plan
            materialize("a compiled call differs from the captured step")
            if state.plans.get(entry.id) and STATE.recording:
                # the step that began was another plan's, and this call starts a plan of its
                # own: a GAN's D step begins with G's call (the G step's first op), whose
                # output it detaches, so its own graph starts here
                state.broken = False
                out = defer_call(entry, args, params, draw)
                if out is not None and began.failures:
                    began.failures -= 1     # (not a step of the plan it began on, after all:
                    #                          a WGAN's five D steps do not retire its G plan)
                return out
            return None
    targets = _update_targets(step, pop, entry, args, params) if entry.updates else ()
    if targets is None:
        if not fresh:    # (the entry bound: its JitFunction's call would meet the same)
            materialize("a compiled call's state update cannot wait for the captured step")
        return None
    saved_args, arrays = saved
    # random keys are drawn only now that the call is certain to be deferred: exactly once,
    # in the order Entry.arrays draws them
    leaf_data = step.leaf_data
    for i, (kind, ref) in enumerate(entry.feeds) if pop.has_keys else ():
        if kind == Feed.KEY:
            key = draw(ref) if draw is not None else entry.pending_keys.pop(0) \
                if entry.pending_keys else next_key()._data
            arrays[i] = leaf_data[pop.operands[i][1]] = key
    state.step = step
    step.log.append(("call", entry, saved_args, params, arrays))
    for target, j in targets:
        _pend_write(step, None, target, j)
    if entry.n_out == 1:
        step.k += 1
        j = pop.results[0]
        d = _NEW(Deferred)
        d._var = None
        d._leaf = j
        _SET_VALUE(d, pop.types[0])
        step.refs[j] = _WEAKREF(d)
        return d if entry.single else [d]
    outs = _results(step, pop, entry.n_out)
    return outs[0] if entry.single else outs


def _fast_call(step, pop, entry):
    """pop's straight-line binder (straight_line.call_binder), built on its first use:
    `fast(step, entry, args, params)` binds and logs the call as defer_call does and returns
    its Deferred output, or None (an operand differs: the general binder decides, nothing was
    changed). None when the call is not plain (the general path only)."""
    b = pop.feed_plan
    if b is None:
        b = pop.feed_plan = _CallBinder(step.plan, pop, entry)
    fast = pop.fast_call = call_binder(_STRAIGHT_NAMES, pop, b, entry)
    if fast is not None and step.plan.ops[0] is pop:
        pop.fast_first = call_binder(_STRAIGHT_NAMES, pop, b, entry, fresh=True)
    return fast


def _defer_np_call(entry, args, params, draw, decline=False):
    """defer_call with mx.np arguments as the nd arrays they view (None: not deferred)."""
    if not _has_np(args):
        return None
    args = nd_args(args)
    return None if args is None else defer_call(entry, args, params, draw, decline)


class _CallBinder:
    """How a compiled call's feeds meet a plan op's operands, grouped by what each check needs
    (built once per plan op): arguments that are the plan's deferred values, untracked array
    arguments, parameters that are the plan's variables, and the rest in general form."""
    __slots__ = ("n", "deferred", "arg_consts", "param_vars", "rest")

    def __init__(self, plan, pop, entry):
        self.n = len(entry.feeds)
        self.deferred, self.arg_consts, self.param_vars, self.rest = [], [], [], []
        for f, ((kind, ref), (okind, oref)) in enumerate(zip(entry.feeds, pop.operands)):
            leaf = okind == _LEAF
            var = plan.leaf_vars[oref] if leaf else None
            ltype = plan.leaf_types[oref] if leaf else None
            if kind == _ARG and okind == _VALUE:
                self.deferred.append((ref, oref))
            elif kind == _ARG and leaf and var is None:
                self.arg_consts.append((f, ref, oref, ltype.shape, ltype.np_dtype))
            elif kind == _PARAM and leaf and var is not None:
                self.param_vars.append((f, ref, oref, var))
            elif kind != _KEY:
                self.rest.append((f, kind, ref, okind, oref, var, ltype))
        self.deferred, self.arg_consts = tuple(self.deferred), tuple(self.arg_consts)
        self.param_vars, self.rest = tuple(self.param_vars), tuple(self.rest)


_ARG, _PARAM, _KEY, _CONST, _HELD = Feed.ARG, Feed.PARAM, Feed.KEY, Feed.CONST, Feed.HELD


def _bind_call(step, pop, entry, args, params):
    """(args with _Ref for deferred ones, input arrays without keys yet), or None when an
    operand differs from the plan. Binds the call's constant and variable leaves (a call
    that does not match ends its step: a fresh one is dropped, a pending one materialized)."""
    b = pop.feed_plan
    if b is None:
        b = pop.feed_plan = _CallBinder(step.plan, pop, entry)
    saved_args = args
    for i, oref in b.deferred:
        a = args[i]
        if type(a) is not Deferred or a._leaf != oref:
            if type(a) is not Deferred or not _extra_is_value(step, a._leaf, oref):
                return None
        if saved_args is args:
            saved_args = list(args)
        saved_args[i] = _REFS[oref]
    leaf_data, written = step.leaf_data, step.written
    arrays = [None] * b.n
    for f, i, oref, shape, dtype in b.arg_consts:
        a = args[i]
        if type(a) is not NDArray or a._value is not None:
            return None
        data = a._data
        bound = leaf_data[oref]
        if (bound is not None and bound is not data) or data.shape != shape \
                or data.dtype != dtype or (written and id(data) in written):
            return None
        leaf_data[oref] = arrays[f] = data
    for f, i, oref, var in b.param_vars:
        a = params[i]
        if type(a) is not NDArray or a._value is not var:
            return None
        data = a._data
        if written and id(data) in written:
            return None
        leaf_data[oref] = arrays[f] = data
    for f, kind, ref, okind, oref, var, ltype in b.rest:
        if okind != _LEAF:
            return None      # (a parameter or a constant where the plan has a deferred value)
        if kind == _ARG or kind == _PARAM:
            a = args[ref] if kind == _ARG else params[ref]
            if type(a) is not NDArray:    # (a Deferred, a PendingWrite: a state update's)
                return None
            if a._value is not var:
                return None
            data = a._data
        elif kind == _CONST:
            data = ref
        elif kind == _HELD:     # an array the function reached from its scope, as it is now
            a = ref.ref()
            if a is None:       # the function's own temporary: the buffer its trace saw (one
                if var is not None or not ref.temporary:    # rebound since: the usual path)
                    return None
                data = ref.data
            else:
                if type(a) is not NDArray:
                    return None
                v = a._value
                if var is not None:
                    if v is not var:
                        return None
                elif v is not None and v.data is not None:
                    return None      # (a tracked array where the plan has a constant)
                data = a._data
        else:    # a variable no array stands for any more
            if var is not ref:
                return None
            data = ref.data
        if written and id(data) in written:
            return None
        if var is None:
            bound = leaf_data[oref]
            if (bound is not None and bound is not data) or data.shape != ltype.shape \
                    or data.dtype != ltype.np_dtype:
                return None
        leaf_data[oref] = arrays[f] = data
    return saved_args, arrays


def _update_targets(step, pop, entry, args, params):
    """[(target array, plan value)] for a compiled call's state updates, or None when one
    cannot wait for the step's native call."""
    out = []
    for (kind, ref), j in zip(entry.updates, pop.writes):
        target = params[ref] if kind == Feed.PARAM else args[ref] if kind == Feed.ARG else ref
        if not _can_pend(step, target, j):
            return None
        out.append((target, j))
    return out if len(out) == len(entry.updates) else None


def _can_pend(step, target, j):
    """Whether writing plan value j into `target` can wait for the native call: a plain
    array not yet written in this step, of the value's shape, writable as eager finds it."""
    if type(target) is not NDArray:
        return False
    data = _SLOT_DATA.__get__(target)
    return (type(data) is np.ndarray and data.flags.writeable
            and data.shape == step.plan.value_types[j].shape and id(data) not in step.written)


def _pend_write(step, pos, target, j):
    data = _SLOT_DATA.__get__(target)
    if not step.writes:
        step.writes, step.written = [], set()
    step.writes.append((pos, target, j))
    step.written.add(id(data))
    target.__class__ = PendingWrite


def with_view_owners(views, owners, call):
    """call() with the mx.np views of a block's parameters (name -> view) known as views of
    their arrays (name -> NDArray): a state update written through one pends on its array."""
    state = _STATE
    prev = state.view_owners
    known = dict(prev) if prev else {}
    for name, view in views.items():
        known[id(view)] = owners[name]
    state.view_owners = known
    try:
        return call()
    finally:
        state.view_owners = prev


def _on_assign(target, value):
    """array.assign_state outside a trace while capture is on. A state update of a pending
    step's deferred value waits for the step's native call; any other is written now, as eager
    writes it, and its recorded value is kept so the plan learned next includes its ops."""
    state = _STATE
    step = state.step
    if type(target) is NpArray and state.view_owners:   # a parameter's view: its array
        owner = state.view_owners.get(id(target))
        if owner is not None and type(owner) is NDArray and \
                _SLOT_DATA.__get__(owner) is _SLOT_DATA.__get__(target):
            target = owner
    if step is not None and type(value) is Deferred:
        plan, n, j = step.plan, step.n_assign, _GET_LEAF(value)
        if n < len(plan.assigns) and plan.assigns[n] == j and _can_pend(step, target, j):
            step.n_assign = n + 1
            _pend_write(step, step.k, target, j)
            return
        materialize("a state update (assign_state) differs from the captured step")
    if isinstance(value, NDArray):
        if ENABLED and STATE.recording:
            v = value._value
            if v is not None:
                side = state.side
                if len(side) >= 64:
                    del side[:32]
                side.append(v)
        value = value._data
    np.copyto(target._data, value, casting="unsafe")


# ------------------------------------------------------------------ block replay
# A call of a built-in gluon block whose forward is a pure function of its inputs, parameters
# and configuration (gluon decides which: block.py) makes the same ops every step. Once learned
# (every op it made: the plan's ops it deferred, and the untracked ops it ran eagerly, with
# where each operand came from), the next call of that block at the same point of the same
# plan is replayed: its eager ops run again on the new arguments, its deferred ops are bound
# and logged exactly as defer_apply would have, and its output is the same plan value; the
# block's Python (argument checks, nd wrappers, one defer_apply per op) does not run.
class _Arg:
    """Operand from the block call's argument `i` (an untracked NDArray)."""
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


class _Tmp:
    """Operand from the result of the replay's eager op number `t`."""
    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


class _Learning:
    __slots__ = ("ops", "failed", "inner", "step", "k0", "n_log", "n_writes", "n_assign")

    def __init__(self, step):
        self.ops, self.failed, self.inner, self.step = [], False, False, step
        self.k0 = step.k if step is not None else 0
        self.n_log = len(step.log) if step is not None else 0
        self.n_writes = len(step.writes) if step is not None else 0
        self.n_assign = step.n_assign if step is not None else 0


class BlockReplay:
    """A learned block call: the plan, the range of its ops, the checks and the program."""
    __slots__ = ("plan", "k0", "k1", "arg_kinds", "program", "var_objs", "out", "leaf_ops",
                 "n_tmp", "entries", "sites", "arg_leaves", "same_args", "keep", "eager",
                 "tmp_leaves", "fast", "aliased", "__weakref__")


def learn_begin():
    """Start learning a block call (None when capture has nothing to learn against)."""
    state = _STATE
    if state.learning is not None or state.broken or not STATE.recording:
        return None
    rec = state.learning = _Learning(state.step)
    _array._DEFER = _learn_apply
    return rec


def _learn_apply(opdef, args, attrs):
    """defer_apply while a block call is learned: note every op (an untracked one is run
    here, so its result is known)."""
    state = _STATE
    rec = state.learning
    if rec is None or rec.inner:
        return defer_apply(opdef, args, attrs)
    out = defer_apply(opdef, args, attrs)
    if out is not None:
        if type(_GET_LEAF(out)) is not int:
            rec.failed = True           # (an extra op: not a call replay can repeat)
        rec.ops.append((True, opdef, args, attrs, out))
        return out
    if state.step is None or state.broken or _tracked(args):
        rec.failed = True
        return None
    rec.inner = True
    try:
        res = _array.apply(opdef, args, attrs)
    finally:
        rec.inner = False
    rec.ops.append((False, opdef, args, attrs, res))
    return res


def learn_end(rec, args, out, var_objs):
    """Finish learning: a BlockReplay, or None when the call cannot be replayed. `var_objs`:
    the parameter NDArrays the block may use (its parameters' data, as the call found them)."""
    state = _STATE
    state.learning = None
    if _array._DEFER is _learn_apply:
        _array._DEFER = defer_apply if _PLANNING else None
    step = state.step
    if type(out) is NpDeferred:
        out = _twin(out)
    if rec.failed or step is None or state.broken or type(out) is not Deferred:
        return None
    if rec.step is not None and rec.step is not step:
        return None
    plan = step.plan
    k0, k1 = rec.k0, step.k
    if (k1 <= k0 or len(step.log) - rec.n_log != k1 - k0 or len(step.writes) != rec.n_writes
            or step.n_assign != rec.n_assign):
        return None
    kinds = []
    position = {}
    viewed = {}     # id(buffer) -> the array an mx.np view of it stands for (set_np's views)
    aliased, first = [], {}
    for i, a in enumerate(args):
        t = type(a)
        if t is Deferred:
            kinds.append(_GET_LEAF(a))
        elif t is NDArray:
            data = _SLOT_DATA.__get__(a)
            kinds.append((data.shape, data.dtype))
            position[id(a)] = i
            viewed.setdefault(id(data), a)
            # arguments sharing a buffer (one array passed twice: a label as its own sample
            # weight) are told apart by nothing below: the replay requires them shared again
            j = first.setdefault(id(data), i)
            if j != i:
                aliased.append((j, i))
        else:
            return None
    tmps = {}
    allowed_vars = {id(o) for o in var_objs}
    for o in var_objs:
        viewed.setdefault(id(_SLOT_DATA.__get__(o)), o)
    program, var_checks, leaf_ops = [], [], []
    k = k0
    for deferred, opdef, op_args, attrs, res in rec.ops:
        if not deferred:
            spec = []
            for a in op_args:
                t = type(a)
                if t is NpArray:     # an mx.np view of an argument or an earlier result
                    a = viewed.get(id(_SLOT_DATA.__get__(a)), a)
                    t = type(a)
                if t is NDArray or t is Deferred or isinstance(a, np.ndarray):
                    if id(a) in position:
                        spec.append(_Arg(position[id(a)]))
                    elif id(a) in tmps:
                        spec.append(_Tmp(tmps[id(a)]))
                    else:
                        return None        # an array from elsewhere (a random key, ...)
                else:
                    spec.append(a)
            if type(res) is not NDArray:
                return None
            tmps[id(res)] = len(tmps)
            viewed.setdefault(id(_SLOT_DATA.__get__(res)), res)
            program.append((False, opdef, tuple(spec), attrs))
            continue
        pop = plan.ops[k]
        if pop.entry is not None or pop.opdef is not opdef or _SCALAR in pop.kinds:
            return None     # (a lifted literal: its program would not bind the scalar)
        saved, logged_attrs = step.log[rec.n_log + k - k0]
        template, leaves = list(saved), []
        for n, (a, kind, ref) in enumerate(zip(op_args, pop.kinds, pop.refs)):
            if kind != _LEAF:
                continue
            if type(a) is NpArray:     # an mx.np view: the argument, result or parameter
                a = viewed.get(id(_SLOT_DATA.__get__(a)), a)    # whose buffer it views
            var = plan.leaf_vars[ref]
            if id(a) in position:
                template[n] = _Arg(position[id(a)])
            elif id(a) in tmps and var is None:
                template[n] = _Tmp(tmps[id(a)])
            elif var is not None and type(a) is NDArray and id(a) in allowed_vars:
                var_checks.append((a, ref))
                template[n] = a     # (the parameter's array, not an mx.np view of it: its
                continue            # data when the entry runs)
            else:
                return None
            leaves.append((n, ref))
        program.append((True, k, template, logged_attrs, tuple(leaves)))
        k += 1
    if k != k1:
        return None
    j = _GET_LEAF(out)
    if not any(j in plan.ops[n].results for n in range(k0, k1)):
        return None
    r = BlockReplay()
    r.plan, r.k0, r.k1, r.arg_kinds, r.program = plan, k0, k1, tuple(kinds), program
    r.var_objs, r.out, r.leaf_ops, r.n_tmp = var_checks, j, leaf_ops, len(tmps)
    _lazy_form(r, program)
    r.fast = _UNBUILT        # (straight_line.replay_binder, on its first replay)
    r.aliased = tuple(aliased)
    plan.replays.add(r)
    if r.eager is not None:     # (one per point of the plan: a call learned again replaces it)
        fusion = plan.fusion
        if fusion is not None and any(h.k0 == r.k0 for h in fusion.hoisted):
            # the fused call takes the old replay's arguments: learn it again with this one
            plan.fusion = plan.fusion_seen = plan.fusion_building = None
        plan.hoists = [h for h in plan.hoists if h.k0 != r.k0][-7:] + [r]
    return r


def hoistable(opdef):
    """Whether a replay may leave the op to the step's native call (update_fusion hoists it
    into the fused function) instead of running it eagerly: a layout-only VIEW, or an EXACT
    op (one_hot, cast), whose compiled code computes what it does eagerly for every value."""
    return VIEW in opdef.traits or EXACT in opdef.traits


def _lazy_form(r, program):
    """Fill in how replay `r` is bound and logged without running its eager ops: the log
    entries as templates (`entries`, `sites`: operand positions filled from the kept arguments
    or, if the step is materialized, from the eager ops' results), the kept arguments, each
    (argument, leaf) with its variable, arguments that must be one array, and the eager ops
    (`eager`: None when the call has none; `tmp_leaves`: the leaves their results are). A
    call whose eager ops are not all `hoistable` keeps entries None: replay runs it in full."""
    r.entries = r.sites = r.arg_leaves = r.same_args = r.keep = None
    r.eager = r.tmp_leaves = None
    eager = [ins for ins in program if not ins[0]]
    if not all(hoistable(ins[1]) for ins in eager):
        return
    deferred = [ins for ins in program if ins[0]]
    arg_fed, tmp_fed = {}, {}
    for ins in deferred:
        for n, ref in ins[4]:
            x = ins[2][n]
            if type(x) is _Arg:
                arg_fed[(x.i, ref)] = None
            else:
                tmp_fed[ref] = x.t
    if any(ref in tmp_fed for _, ref in arg_fed):
        return      # (a leaf fed both ways: bound eagerly)
    used = {i for i, _ in arg_fed} | {x.i for ins in eager for x in ins[2] if type(x) is _Arg}
    # the arguments the log keeps (never a Deferred: that would keep it alive)
    kept = sorted(used)
    slot = {i: k for k, i in enumerate(kept)}
    r.keep = tuple(kept)
    r.entries = [(ins[2], ins[3]) for ins in deferred]
    # per op with leaf operands: positions filled from kept argument k (k >= 0) or from the
    # result of eager op t (-1 - t)
    r.sites = tuple(
        (pos, ins[2], ins[3], tuple((n, slot[ins[2][n].i]) if type(ins[2][n]) is _Arg
                                    else (n, -1 - ins[2][n].t) for n, _ in ins[4]))
        for pos, ins in enumerate(deferred) if ins[4])
    leaf_vars = r.plan.leaf_vars
    r.arg_leaves = tuple((i, ref, leaf_vars[ref]) for i, ref in arg_fed)
    first, same = {}, []
    for i, ref in arg_fed:
        if leaf_vars[ref] is None and first.setdefault(ref, i) != i:
            same.append((first[ref], i))
    r.same_args = tuple(same)
    if eager:
        # operands: (0, kept argument), (1, eager result) or (2, a scalar)
        r.eager = tuple((ins[1], tuple((0, slot[x.i]) if type(x) is _Arg else
                                       (1, x.t) if type(x) is _Tmp else (2, x)
                                       for x in ins[2]), ins[3]) for ins in eager)
        r.tmp_leaves = tuple(tmp_fed.items())


def eager_results(r, leaves):
    """Replay r's eager ops on its kept arguments `leaves`, as the block's call ran them (on
    untracked arrays, with no step pending: nothing is recorded or deferred)."""
    tmps = []
    for opdef, spec, attrs in r.eager:
        tmps.append(_array.apply(opdef, [leaves[v] if kind == 0 else tmps[v] if kind == 1
                                         else v for kind, v in spec], attrs))
    return tmps


def fill_lazy(step):
    """The leaves a replay left to the fused call, computed eagerly after all: the step runs
    the plan's own native call (which reads them), not the fused one."""
    leaf_data = step.leaf_data
    for r, leaves in step.lazy:
        tmps = eager_results(r, leaves)
        for ref, t in r.tmp_leaves:
            leaf_data[ref] = tmps[t]._data
    step.lazy = ()


def replay(r, args):
    """The learned block call on these arguments: its Deferred output, or None (nothing
    done) when the call is not at the learned point of the plan or an operand differs."""
    if not STATE.recording:
        return None
    fast = r.fast
    if fast is not None:     # (the plain case, straight-line: straight_line.py)
        if fast is _UNBUILT:
            fast = r.fast = replay_binder(_STRAIGHT_NAMES, r)
        if fast is not None:
            out = fast(r, args)
            if out is not None:
                return out
    if _has_np(args):       # (the general path binds the nd arrays mx.np ones view)
        args = nd_args(args)
        if args is None:
            return None
    state = _STATE
    if state.broken or state.learning is not None:
        return None
    plan = r.plan
    step = state.step
    fresh = step is None
    if fresh:
        plans = state.plans.get(plan.first_key)
        if r.k0 or not plans or plan not in plans:
            return None
        step = Step(plan)
    elif step.plan is not plan or step.k != r.k0:
        return None
    if len(args) != len(r.arg_kinds):
        return None
    for a, kind in zip(args, r.arg_kinds):
        if type(kind) is tuple:     # an array: the eager ops below get what they got before
            if type(a) is not NDArray:
                return None
            data = a._data
            if data.shape != kind[0] or data.dtype != kind[1]:
                return None
        elif type(a) is not Deferred or a._leaf != kind:
            return None
    for i, j in r.aliased:     # (one array learned as both: its uses are not told apart)
        if args[i]._data is not args[j]._data or args[i]._value is not args[j]._value:
            return None
    leaf_vars = plan.leaf_vars
    for obj, ref in r.var_objs:
        if _SLOT_VALUE.__get__(obj) is not leaf_vars[ref]:
            return None
    # operands first (nothing is bound until every one is checked), eager ops as they come
    written, leaf_data = step.written, step.leaf_data
    if r.entries is not None and (r.eager is None or (
            plan.fusion is not None and r in plan.fusion.hoisted)):
        # no eager ops, or ones the fused call computes: the leaves bound here are arguments
        # (types checked above)
        for i, ref, var in r.arg_leaves:
            a = args[i]
            if a._value is not var:
                return None
            if var is None:
                data = a._data
                bound = leaf_data[ref]
                if (bound is not None and bound is not data) or (
                        written and id(data) in written):
                    return None
        for i, j in r.same_args:
            if args[i]._data is not args[j]._data:
                return None
        for i, ref, _ in r.arg_leaves:
            leaf_data[ref] = args[i]._data
        keep = r.keep      # (the log item's entries are made if materialize needs them)
        leaves = (args[keep[0]],) if len(keep) == 1 else tuple([args[i] for i in keep])
        step.log.append((_REPLAYED, r, leaves))
        if r.eager is not None:
            step.lazy += ((r, leaves),)
    else:
        binds = {}
        entries = _replay_program(r, args, [], binds, written, leaf_data, plan.leaf_types,
                                  leaf_vars)
        if entries is None:
            return None
        step.log.extend(entries)
        for ref, data in binds.items():
            leaf_data[ref] = data
    for obj, ref in r.var_objs:
        leaf_data[ref] = _SLOT_DATA.__get__(obj)
    step.k = r.k1
    if fresh:
        state.step = step
    d = _NEW(Deferred)
    d._var = None
    d._leaf = r.out
    _SET_VALUE(d, plan.value_types[r.out])
    step.refs[r.out] = _WEAKREF(d)
    return d


_REPLAYED = object()    # marks a step's log item for a replayed block (_replayed_entries)
# what straight_line's generated code reads
_STRAIGHT_NAMES = {"NDArray": NDArray, "Deferred": Deferred, "_REFS": _REFS, "_NEW": _NEW,
                   "_SET_VALUE": _SLOT_VALUE.__set__, "_WEAKREF": _WEAKREF,
                   "_VALUE_OF": _SLOT_VALUE.__get__, "_DATA_OF": _SLOT_DATA.__get__,
                   "_STATE": _STATE, "_Step": Step,
                   "_REPLAYED": _REPLAYED, "NpArray": NpArray, "NpDeferred": NpDeferred}


def _replayed_entries(r, leaves):
    """The log entries of block replay `r` (its ops k0..k1) on its kept arguments `leaves`
    (BlockReplay.keep), its eager ops run again if it has some: a replay logs one item and
    the entries are made only if the step is materialized."""
    tmps = eager_results(r, leaves) if r.eager is not None else ()
    entries = list(r.entries)
    for pos, template, attrs, fills in r.sites:
        saved = list(template)
        for n, k in fills:
            saved[n] = leaves[k] if k >= 0 else tmps[-1 - k]
        entries[pos] = (saved, attrs)
    return entries


def _log_entries(log):
    """The step's log with one entry per deferred op (replayed blocks expanded)."""
    out = []
    for item in log:
        if len(item) == 3 and item[0] is _REPLAYED:
            out.extend(_replayed_entries(item[1], item[2]))
        else:
            out.append(item)
    return out


def _replay_program(r, args, tmps, binds, written, leaf_data, leaf_types, leaf_vars):
    """replay's general case: the eager ops run as they come, each deferred op's operands
    checked; its log entries, or None when an operand differs."""
    entries = []
    for ins in r.program:
        if not ins[0]:
            _, opdef, spec, attrs = ins
            try:    # (pure: run again by the block's own code if anything is off)
                res = _array.apply(opdef, [args[x.i] if type(x) is _Arg else tmps[x.t]
                                           if type(x) is _Tmp else x for x in spec], attrs)
            except Exception:  # noqa: BLE001 - the block's call reports it at the user's line
                return None
            if type(res) is not NDArray:
                return None
            tmps.append(res)
            continue
        _, k, template, attrs, leaves = ins
        if leaves:
            saved = _bind_site(template, leaves, args, tmps, binds, written, leaf_data,
                               leaf_types, leaf_vars)
            if saved is None:
                return None
            entries.append((saved, attrs))
        else:
            entries.append((template, attrs))
    return entries


def _bind_site(template, leaves, args, tmps, binds, written, leaf_data, leaf_types,
               leaf_vars):
    """A replayed op's operands with its leaves (block arguments or eager results) filled in
    and checked against the plan, noted in `binds`; None when one differs."""
    saved = list(template)
    for n, ref in leaves:
        x = template[n]
        a = args[x.i] if type(x) is _Arg else tmps[x.t]
        saved[n] = a
        v, data = _SLOT_VALUE.__get__(a), _SLOT_DATA.__get__(a)
        var = leaf_vars[ref]
        if var is not None:
            if v is not var:
                return None
        elif v is not None or (written and id(data) in written):
            return None
        bound = binds.get(ref, leaf_data[ref])
        if bound is None:
            t = leaf_types[ref]
            if data.shape != t.shape or data.dtype != t.np_dtype:
                return None
        elif bound is not data and var is None:
            return None
        binds[ref] = data
    return saved


# ------------------------------------------------------------------ the captured backward
def backward(step, heads, head_grads, retain_graph, train_mode, tried=False):
    """autograd.backward's hook while `step` (this thread's) is pending: True when the captured
    call did it (or, with the update fused in, holds it for trainer.step: update_fusion.py).
    `tried`: NDArray.backward already asked the fusion's straight-line hold."""
    plan = step.plan
    fusion = plan.fusion
    if fusion is not None and not tried and head_grads is None and not retain_graph and \
            fusion.fast_backward(fusion, step, heads) is True:
        return True     # (the steady step: its straight-line checks held it for trainer.step)
    if step.held is not None:
        materialize("backward() again before trainer.step")
        return False
    head = heads if type(heads) is Deferred else heads[0] if isinstance(
        heads, (list, tuple)) and len(heads) == 1 else heads
    if ((type(head) is not Deferred and type(head) is not NpDeferred) or head_grads is not None
            or retain_graph
            or step.k != len(plan.ops) or head._leaf != plan.head):
        materialize(_why_backward_differs(step, head))
        return False
    if step.n_assign != len(plan.assigns):
        materialize("the step made fewer state updates (assign_state) than the captured one")
        return False
    refs = step.refs
    missing = ()
    for j in plan.hidden:      # (usually none is alive: no list made)
        r = refs[j]
        if r is not None and r() is not None:
            missing = [j for j in plan.hidden if refs[j] is not None and refs[j]() is not None]
            break
    if step.aliases:
        missing = sorted(set(missing).union(j for j, r in step.aliases if r() is not None
                                            and j not in plan.export_set))
    if step.extras and any(e[3]() is not None for e in step.extras):
        # ops outside the graph with a result alive (an RNN's final states kept for the next
        # batch): they run after the call (deliver), on values the call exports
        reads = {o.index for e in step.extras for o in e[1] if type(o) is _Ref}
        if not reads <= plan.export_set:
            missing = sorted(set(missing).union(reads - plan.export_set))
    if missing:
        plan._set_exports(sorted(plan.export_set.union(missing)))
        materialize("arrays the captured step does not export are alive at backward(); "
                    "the step is recompiled to export them")
        try:
            plan.build()
        except Exception as e:  # noqa: BLE001 - capture is an optimization: never fail backward
            _retire(plan, f"recompiling failed: {type(e).__name__}: {e}")
        return False
    if plan.shared:             # (another plan starts with the same op: take turns)
        _followed(_STATE, plan)
    fusion = plan.fusion
    if fusion is not None:      # (its hold checks the variables' grad_req too)
        fast = fusion.fast_hold
        held = fast(fusion, step) if fast is not None else fusion.hold(step)
        if held:
            return True
        if held is None:
            materialize("a variable's grad_req changed")
            return False
    else:
        for variable, want in plan.var_reqs:   # (a leaf's Variable and dtype never change)
            if (variable.grad_req != "null") != want:
                materialize("a variable's grad_req changed")
                return False
    _STATE.step = None
    before = _NATIVE["native_calls"]
    if step.lazy:
        fill_lazy(step)
    outs = run_native(step, plan.native, step.leaf_data)
    deliver(step, outs, before)
    _STATE.delivered = plan
    return True


def _why_backward_differs(step, head):
    """The drop reason of a backward() the pending step cannot make."""
    plan = step.plan
    if step.k != len(plan.ops):
        pop = plan.ops[step.k]
        name = pop.opdef.name if pop.entry is None else "a compiled call"
        return (f"backward() before the captured step's op {step.k} of {len(plan.ops)} "
                f"('{name}') was seen" + (f" ({len(step.extras)} ops outside its graph "
                                          "were made instead)" if step.extras else ""))
    return ("backward() differs from the captured step (heads, head gradients or "
            "retain_graph)")


def run_native(step, native, args):
    """The step's native call; if it raises, the arrays its state updates were to write are
    plain again (their old values)."""
    try:
        return native(*args)
    except BaseException as e:
        unpend(step, e)
        raise


def unpend(step, error=None):
    """The step's native call failed: the arrays its state updates were to write are plain
    again (their old values); its live Deferred arrays raise `error` when read."""
    for _, target, _ in step.writes:
        target.__class__ = NDArray
    if error is None:
        return
    refs = [r for r in step.refs if r is not None] + [e[3] for e in step.extras] + [
        r for _, r in step.aliases]
    for r in refs:
        d = r()
        if type(d) is Deferred:
            _SET_LEAF(d, str(error).split("\n  at ")[0])
            d.__class__ = Failed


def deliver(step, outs, before, fused=False, grad_vars=None):
    """Hand over what the plan's part of a native call computed (`outs`: its exports, then
    the gradients of `grad_vars`, by default every variable's: a fused call writes the rest
    into their buffers itself): the state updates in the order eager made them, each live
    Deferred array its value, each variable its gradient as Variable.receive takes it."""
    plan, refs = step.plan, step.refs
    if step.writes:     # the state updates, in the order eager made them
        pos = plan.export_pos
        for _, target, j in step.writes:
            target.__class__ = NDArray
            np.copyto(_SLOT_DATA.__get__(target), outs[pos[j]], casting="unsafe")
    k = 0
    for j, freed in plan.export_items:
        r = refs[j]
        if r is not None:
            d = r()
            if d is not None:       # (then its slots are plain attributes)
                d.__class__ = NpArray if type(d) is NpDeferred else NDArray
                d._data, d._value, d._leaf = outs[k], freed, None
        k += 1
    if step.aliases:
        _fill_aliases(step, lambda j: outs[plan.export_pos[j]], plan.freed.__getitem__)
    if step.extras and any(e[3]() is not None for e in step.extras):
        _run_extras_after(step, outs)
    # the gradients, as Variable.receive takes them: a fresh result replaces a 'write'
    # buffer nobody else holds (our outputs are fresh, contiguous, of the variable's type)
    for var in plan.wrt_vars if grad_vars is None else grad_vars:
        g, outs[k] = outs[k], None
        k += 1
        old = var.grad
        if var.grad_req == "write" and _getrefcount(old) <= 3 and old.dtype is g.dtype \
                and old.shape == g.shape:
            var.grad, var.fresh = g, True
        else:
            var.receive(g)
    if _FATES.groups:     # (an eager RNN layer's states share their output's freeing)
        tape.free_fates()
    plan.failures = plan.idle = 0
    plan.captured += 1
    _COUNTS["captured_steps"] += 1
    _LOG["captured"] += 1
    _LOG["last_calls"] = _NATIVE["native_calls"] - before
    _LOG["last_fused"] = fused


_getrefcount = sys.getrefcount
_FATES = tape._FATES


def _retire(plan, reason):
    """Stop trying a plan that keeps failing, is never used, or made room for another
    (_install). Its graph structure is learned again only after BACKOFF**n times REPEATS more
    backward passes (n: its retirements so far), and never after RELEARN re-learnings (nor
    when it never captured a step): a structure costs at most RELEARN + 1 builds."""
    plans = _STATE.plans.get(plan.first_key, [])
    if plan in plans:
        plans.remove(plan)
    hit = plan.hit
    key = plan.seen_key
    times = _RETIRES.get(key)
    if times is None or times[0] is not hit:
        if len(_RETIRES) >= 256:
            _RETIRES.clear()
        times = _RETIRES[key] = [hit, 0]
    times[1] += 1 if plan.captured else RELEARN + 1   # (never used: learning it again won't help)
    seen = _STATE.seen.get(key)
    if times[1] > RELEARN or seen is None or seen[0] is not hit:
        _never_again(hit, key[1], plan.ops)
    else:      # observe() learns it again when the count is back at its threshold
        seen[1] = seen[4] - REPEATS * BACKOFF ** times[1]
    _LOG["retired"].append(reason)
    del _LOG["retired"][:-8]
    _uninstall_if_idle()


def _uninstall_if_idle():
    """No plan left in any thread: eager ops stop visiting the capture hook at all."""
    mine = _STATE.plans
    for key in [k for k, v in mine.items() if not v]:
        del mine[key]
    with _HOOKS_LOCK:
        if not mine and _STATE.step is None:
            _PLANNING.discard(threading.get_ident())
        if not _PLANNING:
            _array.set_defer_hook(None)
            _compiled.DEFER_CALL = None


def _freed(t):
    v = TapeValue(t, _FREED_OP, None)
    return v


# ------------------------------------------------------------------ materializing
def materialize(reason):
    """Run the pending step's deferred ops now, exactly as eager would have, and turn every
    live Deferred array into the NDArray eager would have made."""
    state = _STATE
    step = state.step
    if step is None:
        return
    if step.held is not None or step.done:    # after backward(): its gradients
        state.step = None
        with HELD_LOCK:
            if not step.done:
                finish_held(step, reason)
        return
    state.step, state.broken = None, True
    plan = step.plan
    _drop(plan, reason)
    if plan.lift_wanted:
        _lift(plan)
    real = {}
    assigns = []     # replayed where eager made them (a compiled call writes its own)
    for pos, target, j in step.writes:
        target.__class__ = NDArray
        if pos is not None:
            assigns.append((pos, target, j))
    assigns.reverse()
    prev = STATE.recording, STATE.training
    STATE.recording, STATE.training = True, step.training
    try:
        for n, (entry_log, pop) in enumerate(zip(_log_entries(step.log), step.plan.ops)):
            while assigns and assigns[-1][0] == n:
                _, target, j = assigns.pop()
                _on_assign(target, real[j])
            if entry_log[0] == "call":
                _, entry, saved_args, params, arrays = entry_log
                args = [real[a.index] if type(a) is _Ref else a for a in saved_args]
                arrays = list(arrays)
                for i, (kind, ref) in enumerate(entry.feeds):
                    if kind == Feed.ARG and type(saved_args[ref]) is _Ref:
                        arrays[i] = args[ref]._data
                res = entry.run(args, params, arrays)
                res = [res] if entry.single else res
            else:
                saved, attrs = entry_log
                args = [real[a.index] if type(a) is _Ref else a for a in saved]
                res = _array.apply(pop.opdef, args, attrs)
                res = res if isinstance(res, tuple) else (res,)
            for j, r in zip(pop.results, res):
                real[j] = r
        for _, target, j in reversed(assigns):
            _on_assign(target, real[j])
        if step.extras:
            _run_extras(step, real)
    except BaseException as e:   # (an op raised, as eager did: what ran before it is real)
        _fill_refs(step, real)
        unpend(step, e)
        raise
    finally:
        STATE.recording, STATE.training = prev
    filled = _fill_refs(step, real)
    if step.aliases:
        _fill_aliases(step, lambda j: filled[j] if j in filled else _SLOT_DATA.__get__(real[j]),
                      lambda j: _SLOT_VALUE.__get__(real[j]))


def _lift(plan):
    """After a drop at a literal that differed: the plan with it lifted (lift_literals),
    compiled again; a lift is progress, not a failure (a step with k varying scalars meets
    them one drop at a time)."""
    if plan not in _STATE.plans.get(plan.first_key, ()):
        plan.lift_wanted = []      # (retired by this drop)
        return
    try:
        plan.lift_literals()
        plan.build()
    except Exception as e:  # noqa: BLE001 - capture is an optimization: never fail the step
        _retire(plan, f"lifting a scalar failed: {type(e).__name__}: {e}")
        return
    plan.failures = max(plan.failures - 1, 0)


def _fill_refs(step, real):
    """Each live Deferred array of a materialized step the NDArray eager made; {value: the
    buffer its array got} (an mx.np alias of it shares that buffer, as eager's view does)."""
    filled = {}
    for j, r in enumerate(step.refs):
        d = r() if r is not None else None
        if d is not None and j in real:
            src = real[j]
            data = _SLOT_DATA.__get__(src)
            if j in step.own and data.base is not None:   # (a slice's view: its own copy)
                data = data.copy()
            filled[j] = data
            _SET_DATA(d, data)
            _SET_VALUE(d, _SLOT_VALUE.__get__(src))
            _SET_LEAF(d, None)
            d.__class__ = NpArray if type(d) is NpDeferred else NDArray
    return filled


def _fill_aliases(step, data_of, value_of):
    """Each live alias shares its value's buffer: a detached one (Deferred.detach) untracked,
    an mx.np one (NpDeferred) with the value's graph value, as an mx.np.ndarray."""
    for j, r in step.aliases:
        d = r()
        if d is not None:
            detached = _GET_LEAF(d) < 0
            _SET_DATA(d, data_of(j))
            _SET_LEAF(d, None)
            _SET_VALUE(d, None if detached else value_of(j))
            d.__class__ = NpArray if type(d) is NpDeferred else NDArray


# A held step may be finished from another thread (a gradient read there) while its own
# thread runs trainer.step: whoever finishes it does so under this lock, and marks it done.
HELD_LOCK = threading.RLock()


def finish_held(step, reason):
    """A held step's backward by the plan's own native call, from any thread (under
    HELD_LOCK, `step` not done): the gradients and exported values as backward() gives them."""
    step.done = True
    step.held.release(step, reason)
    before = _NATIVE["native_calls"]
    if step.lazy:
        fill_lazy(step)
    deliver(step, run_native(step, step.plan.native, step.leaf_data), before)


def pending() -> bool:
    """Whether this thread has a step deferred (not run yet)."""
    return _STATE.step is not None


def before_write():
    """An in-place write is about to happen: a pending step must read the old values."""
    if _STATE.step is not None:
        materialize("an array was written in place while a step was pending")


# ------------------------------------------------------------------ reporting
def explain() -> str:
    """What step capture did: plans, captured steps, native calls per captured step, and
    why captures were dropped."""
    calls = _LOG["last_calls"]
    what = ("forward, loss, adjoint and the optimizer update" if _LOG["last_fused"] else
            "forward, loss and adjoint; trainer.step's update is one more")
    lines = [f"step capture: {'on' if ENABLED else 'off'}; captured steps: {_LOG['captured']}; "
             + (f"native calls in the last captured step: {calls} ({what})"
                if calls is not None else
                "no step captured yet (a step is captured once it has repeated "
                f"{REPEATS} times)")]
    for plans in _STATE.plans.values():
        for p in plans:
            lines.append(f"  plan: {len(p.ops)} ops ({sum(o.entry is not None for o in p.ops)}"
                         f" compiled calls), {len(p.leaf_types)} inputs, {len(p.wrt)} "
                         f"gradients, exports {len(p.exports)} values (state updates: "
                         f"{len(p.assigns) + sum(len(o.writes) for o in p.ops)}); captured "
                         f"{p.captured} steps, {p.failures} drops in a row"
                         + (f"; {p.n_scalars} scalar(s) that vary between steps are inputs"
                            if p.n_scalars else "")
                         + (f"; trainer.step's update fused in ({p.fusion.hits} steps, "
                            f"weights, states and gradients written in place)"
                            if p.fusion is not None else "")
                         + (f"; {sum(len(r.eager) for r in p.fusion.hoisted)} eager label "
                            f"op(s) of its blocks computed inside that call"
                            if p.fusion is not None and p.fusion.hoisted else ""))
    for plan, *_ in _STATE.building:
        lines.append(f"  compiling in the background: a step of {len(plan.fn.ops)} ops "
                     f"(captured at the first backward() after it is done; the steps run as "
                     f"before meanwhile)")
    if _LOG["drops"]:
        lines.append("recent drops:")
        lines += [f"  - {r}" for r in _LOG["drops"]]
    if _LOG["retired"]:
        lines.append("retired plans:")
        lines += [f"  - {r}" for r in _LOG["retired"]]
    return "\n".join(lines)


def _reset_for_tests():
    materialize("reset")
    for job in _STATE.building:     # (their compiles end; nothing is installed)
        job[3].thread.join()
    _STATE.building.clear()
    _STATE.broken = False
    _STATE.side = []
    _STATE.plans.clear()
    _RETIRED.clear()
    _RETIRES.clear()
    _uninstall_if_idle()
    _STATE.seen.clear()
    _LOG.update(drops=[], captured=0, retired=[], last_calls=None, last_fused=False)



tape.OBSERVER = observe
_autograd.CAPTURE.state = _STATE
_autograd.CAPTURE.materialize = materialize
_autograd.CAPTURE.backward = backward
