"""The captured step and Trainer.step's update as ONE native call.

The usual loop makes two native calls per captured step: backward() runs the plan (forward,
loss, adjoint) and trainer.step() runs the fused multi-tensor update (fused_update.Binding).
When a plan's backward() has twice been followed by trainer.step() through the same Binding,
the plan learns a Fusion: its Function with the optimizer's update rules appended, each rule
reading its gradient where the adjoint computed it and its weight where the forward read it.
(A plan that took long to compile waits LEARN_SLOW steps: the fused function compiles about
as long.) From then on backward() only holds the step, and trainer.step() (where the per-step
numbers — scheduled learning rate, rescale_grad — are known) makes the one call, then hands
over the exported values, the gradients, the new weights and the optimizer states exactly as
the two calls would have.

In place. The call writes the new weights and optimizer states into their old buffers, and
the Binding's gradients into the variables' gradient buffers (donated outputs,
codegen/donation.py), as MXNet's update kernels do: it allocates only the exported values.
That needs nobody but their owners to hold a weight or state buffer (reference counts, in
run and fused_update.states_unshared, as fused_update decides for its own call); when
somebody does (a numpy view of a weight kept by the user), that step is the two calls, and
the update writes new buffers.

Hoisted label ops. A block replay whose eager ops are all capture.hoistable (sparse softmax
cross-entropy's one_hot of the label) leaves them to this call: the Fusion takes the block's
argument (the label) as a parameter and computes the op in IR, where the replay would have
bound its result. A held step finished by the plan's own call computes them eagerly then.

Exactness. While a step is held, each gradient Variable of the plan is a held variable: reading
its gradient or `fresh`, or setting its grad_req, first finishes the backward with the plan's
own native call (as if nothing were fused); so does everything that materializes a pending step
(reading an exported array, an in-place write, a new record() scope, another backward(),
trainer.step through another path). A gradient buffer somebody else holds (an NDArray of
p.grad() kept across steps) could be read without passing through its Variable: backward()
then does not hold the step. The weights the forward read must still be the Binding's. A
gradient used in another thread finishes the step there (under capture.HELD_LOCK, which the
fused call holds too); the owning thread then finds its step done and updates as usual.
A Fusion that keeps missing (MAX_MISSES finishes in a row) is dropped for good.
"""
import sys

import numpy as np

from ..fused_update import states_unshared
from ..ir.autodiff import copy_ops
from ..ir.function import Builder, Literal
from ..ir.types import type_of
from ..ir.passes import run_pipeline
from ..runtime import background, tape
from ..runtime.buffers import POOL_HOLDS as _POOLED
from ..runtime.segments import compile_callable
from ..codegen import COUNTERS as _NATIVE
from ..stats import COUNTERS, bump
from . import capture as _capture
from .straight_line import fused_update_hold, fused_update_run

LEARN = 2         # steps followed by the same bound update before the fusion is built ...
SLOW_BUILD = 0.5  # ... or LEARN_SLOW steps when compiling the plan took more CPU seconds (the
LEARN_SLOW = 64   # fused function compiles about as long: a short run does not pay for it)
MAX_MISSES = 4    # held steps finished by another path, in a row, before it is dropped

_GRAD = tape.Variable.__dict__["grad"]
_REQ = tape.Variable.__dict__["grad_req"]
_GRAD_GET, _REQ_GET = _GRAD.__get__, _REQ.__get__
_FRESH = tape.Variable.__dict__["fresh"]
_HELD: dict = {}          # Variable class -> its held twin
_PLAIN: dict = {}         # held twin -> the Variable class
_HOLDING: set = set()     # the Fusions holding a step now (any thread)
_getrefcount = sys.getrefcount


def _finish(var):
    """`var` (held) is used: finish the step that holds it first, whichever thread's it is
    (that thread then finds its step done)."""
    _capture.materialize("a gradient was used before trainer.step")
    if type(var) in _PLAIN:     # held by a step of another thread
        with _capture.HELD_LOCK:
            for fusion in tuple(_HOLDING):
                step = fusion.step
                if step is not None and not step.done and id(var) in fusion.var_ids:
                    _capture.finish_held(step, "a gradient was used in another thread")
                    break


def _guarded(slot, on_read=True):
    """A property over Variable's `slot` that finishes the held step on a write (and, with
    `on_read`, on a read)."""
    def get(self):
        if on_read:
            _finish(self)
        return slot.__get__(self)

    def set_(self, v):
        _finish(self)
        slot.__set__(self, v)
    return property(get, set_)


def _held_class(cls):
    """`cls` with its gradient, `fresh` and grad_req guarded: the same slots, so an instance
    switches class and back without moving."""
    held = _HELD.get(cls)
    if held is None:
        held = _HELD[cls] = type(f"Held{cls.__name__}", (cls,), {
            "__slots__": (), "__doc__": "A Variable whose gradient a held step computes.",
            "grad": _guarded(_GRAD), "fresh": _guarded(_FRESH),
            "grad_req": _guarded(_REQ, on_read=False)})
        _PLAIN[held] = cls
    return held


class Fusion:
    """A plan fused with one Binding's update: the combined native function and how its
    arguments and outputs line up with the plan's and the Binding's."""

    def __init__(self, plan, binding):
        self.plan, self.binding, self.misses, self.hits = plan, binding, 0, 0
        leaf_of = {id(v.var): i for i, v in enumerate(plan.leaf_vars) if v is not None}
        grad_of = {id(var): k for k, var in enumerate(plan.wrt_vars)}
        self.weight_leaves = tuple(leaf_of[id(var)] for var in binding.vars)
        fn, update = plan.fn, binding.fused.fn
        if len(fn.params) != len(plan.leaf_types):
            raise ValueError("the step's function does not take every graph input")
        b = Builder(name="captured_step_update")
        # the loss's label ops a replay leaves to this call (capture.hoistable): the leaves
        # they computed become ops on the block's arguments, which are parameters instead
        self.hoisted = tuple(r for r in sorted(plan.hoists, key=lambda r: r.k0)
                             if r.plan is plan and _emits_leaf_types(r, fn))
        computed = {ref for r in self.hoisted for ref, _ in r.tmp_leaves}
        self.call_leaves = tuple(i for i in range(len(fn.params)) if i not in computed) \
            if computed else None
        env = {p: b.param(p.type, p.name_hint) for i, p in enumerate(fn.params)
               if i not in computed}
        for r in self.hoisted:
            tmps = _emit_eager(b, r, [b.param(_arg_type(r.arg_kinds[i]), f"arg{i}")
                                      for i in r.keep])
            for ref, t in r.tmp_leaves:
                env[fn.params[ref]] = tmps[t]
        copy_ops(b, fn.ops, env)
        outs = [o if type(o) is Literal else env[o] for o in fn.outputs]
        n_exports = len(plan.exports)
        # the update's parameters per Binding entry: weight, gradient, states; then the scalars
        uparams = iter(update.params)
        uenv, written = {}, []
        for var, leaf, n_state in zip(binding.vars, self.weight_leaves, binding.n_states):
            w = env[fn.params[leaf]]
            uenv[next(uparams)] = w
            g = outs[n_exports + grad_of[id(var)]]
            if type(g) is Literal:
                raise ValueError("a gradient is a constant")
            uenv[next(uparams)] = g
            written.append(w)
            for _ in range(n_state):
                p = next(uparams)
                uenv[p] = b.param(p.type, p.name_hint)
                written.append(uenv[p])
        h = next(uparams)
        uenv[h] = b.param(h.type, h.name_hint)
        copy_ops(b, update.ops, uenv)
        new = [o if type(o) is Literal else uenv[o] for o in update.outputs]
        # the new weights and states go into their old buffers, and the Binding's gradients
        # into the variables' buffers (passed after the scalars): the call allocates only
        # the plan's exports and the gradients of variables the Binding does not update
        position = {p: k for k, p in enumerate(b.fn.params)}
        donate = {len(outs) + k: position[old] for k, old in enumerate(written)}
        # (in the plan's order of gradients, which run follows: `grad_vars`)
        bound = {id(var) for var in binding.vars}
        grad_order = [(n_exports + k, var) for k, var in enumerate(plan.wrt_vars)
                      if id(var) in bound]
        for k, _ in grad_order:
            donate[k] = len(b.fn.params)
            b.param(outs[k].type, f"grad{k - n_exports}")
        bound_grads = {k for k, _ in grad_order}
        self.fn = run_pipeline(b.ret(*outs, *new), _capture.PIPELINE)
        self.donate = donate    # (its native code: `attach`, compiled here or in background)
        self.native = self.try_call = None
        self.n_plan = len(outs)
        # the plan's gradients the call returns (after the exports), and their variables
        self.out_vars = tuple(var for k, var in enumerate(plan.wrt_vars, n_exports)
                              if k not in bound_grads)
        self.state_items = tuple((i, n) for i, n in zip(binding.indices, binding.n_states) if n)
        self.targets = tuple(zip(binding.indices, binding.weights, binding.n_states))
        # per weight: (NDArray, leaf, the references to its array that are expected: its
        # NDArray, the step's leaf list, the input lists of the compiled calls that read it,
        # run's local name and getrefcount's argument; its tape leaf is counted in run)
        self.weight_owners = tuple(
            (w, leaf, 4 + sum(1 for pop in plan.ops if pop.entry is not None
                              for kind, ref in pop.operands
                              if kind == _capture._LEAF and ref == leaf))
            for w, leaf in zip(binding.weights, self.weight_leaves))
        self.grad_vars = tuple(var for _, var in grad_order)
        self.swaps = None     # (variable, its held class, its class) per plan gradient
        self.var_ids = frozenset(map(id, plan.wrt_vars))
        self.step = None      # the step it holds
        self.fast_run = self.fast_for = None    # run's code for its trainer (straight_line)
        self.fast_hold = None                   # hold's code (straight_line)
        self.fast_backward = _backward_hold      # backward()'s and hold's (built on first use)

    def attach(self, native):
        """Its native code (compile_callable(fn, donate=donate)): the fusion is complete."""
        self.native = native
        # the call that refuses (None) instead of converting an input that fails its guard
        self.try_call = native.try_call
        bump("traces")

    def hold(self, step):
        """backward(): keep the step for trainer.step (True) when nothing can observe the
        wait (the Binding's gradients are written, not added; nobody else holds a gradient
        buffer), else False; None when a variable's grad_req no longer gives the plan's
        gradients (capture.backward materializes). The checks are straight-line code made on
        the first hold (fused_update_hold); capture.backward calls it directly after."""
        fast = self.fast_hold
        if fast is None:
            self._swaps()
            fast = self.fast_hold = fused_update_hold(_RUN_NAMES, self)
        return fast(self, step)

    def _swaps(self):
        """(variable, its held class, its class) per plan gradient, made once (the held
        classes swap in while a step is held: hold's code and backward_hold's)."""
        if self.swaps is None:
            self.swaps = tuple((var, _held_class(_PLAIN.get(type(var), type(var))),
                                _PLAIN.get(type(var), type(var)))
                               for var in self.plan.wrt_vars)

    def release(self, step, reason=None):
        """The held variables are plain again; `reason`: the step is finished another way."""
        step.held = self.step = None
        _HOLDING.discard(self)
        for var, held, plain in self.swaps:
            if type(var) is held:
                var.__class__ = plain
        if reason is not None:
            self.misses += 1
            bump("update_fusion_misses")
            _capture._LOG["drops"].append(f"update not fused into the step: {reason}")
            del _capture._LOG["drops"][:-8]
            if self.misses >= MAX_MISSES:
                self.plan.fusion, self.plan.fusion_refused = None, True


def _backward_hold(fusion, step, head):
    """`fusion.fast_backward(fusion, step, head)`: backward() of a plain held step in one
    piece (capture.backward's checks, then hold's): True when held, None when the general
    capture.backward must decide (nothing was changed). Its straight-line code
    (fused_update_hold) is made on the first call and takes this function's place."""
    fusion._swaps()
    fast = fusion.fast_backward = fused_update_hold(_RUN_NAMES, fusion, backward=True)
    return fast(fusion, step, head)


def _arg_type(kind):
    """The IR type of a replay's array argument, from its (shape, numpy dtype)."""
    shape, dtype = kind
    return type_of(np.empty(0, dtype)).with_shape(shape)


def _emit_eager(b, r, kept):
    """Replay r's eager ops as IR on `kept` (its kept arguments' values): their results."""
    tmps = []
    for opdef, spec, attrs in r.eager:
        operands = [kept[v] if kind == 0 else tmps[v] if kind == 1 else v for kind, v in spec]
        tmps.append(b.emit(opdef.name, *operands, **attrs))
    return tmps


def _emits_leaf_types(r, fn):
    """Whether replay r's eager ops, as IR, give its leaves' exact types (checked on a
    scratch Function first: the fused function's signature must not change on a refusal)."""
    if r.eager is None:
        return False
    try:
        b = Builder(name="hoist_check")
        tmps = _emit_eager(b, r, [b.param(_arg_type(r.arg_kinds[i])) for i in r.keep])
    except Exception:  # noqa: BLE001 - not hoisted: the replay runs its eager ops itself
        return False
    return all(not isinstance(tmps[t], tuple) and tmps[t].type == fn.params[ref].type
               for ref, t in r.tmp_leaves)


def fast_run(fusion, trainer):
    """`run(fusion, trainer, step, optimizer, states)`: trainer.step() on a step held for
    the fusion's Binding (Trainer.step found it held for its Binding, and calls the run it
    keeps for that trainer). True: the one native call wrote the new weights, states and
    gradients into their buffers. False: nothing done (the caller materializes and updates
    as usual: the Binding no longer describes the parameters, somebody holds a weight or
    state buffer, or an array changed). The checks and the hand-over are straight-line code
    made for the trainer on its first step (straight_line.fused_update_run)."""
    fast = fusion.fast_run = fused_update_run(_RUN_NAMES, fusion, trainer)
    fusion.fast_for = trainer
    return fast


def _refused(fusion, step, optimizer, indices, num_update, before):
    """The fused call refused an argument (an array changed type): the plan's own call, as
    if nothing were fused, and trainer.step updates as usual. False."""
    optimizer.uncount(indices, num_update)
    try:
        fusion.release(step)
        if step.lazy:
            _capture.fill_lazy(step)
        _capture.deliver(step, _capture.run_native(step, step.plan.native, step.leaf_data),
                         before)
    except BaseException as e:
        fusion.release(step)
        _capture.unpend(step, e)
        raise
    return False


def _failed(fusion, step, optimizer, indices, num_update, error):
    """The fused call raised (an index out of range: nothing written): nothing counted, the
    step's arrays fail with the error (the caller re-raises it)."""
    optimizer.uncount(indices, num_update)
    fusion.release(step)
    _capture.unpend(step, error)


_ndarray = np.ndarray
# what the generated run reads
_RUN_NAMES = {"_POOLED": _POOLED, "_ndarray": _ndarray, "_EMPTY": np.empty,
              "_getrefcount": _getrefcount, "states_unshared": states_unshared,
              "_GRAD_GET": _GRAD_GET, "_REQ_GET": _REQ_GET,
              "HELD_ACQUIRE": _capture.HELD_LOCK.acquire,
              "HELD_RELEASE": _capture.HELD_LOCK.release, "_CAPTURE_STATE": _capture._STATE,
              "_NATIVE": _NATIVE, "failed": _failed, "refused": _refused,
              "_HOLDING": _HOLDING, "deliver": _capture.deliver, "NpArray": _capture.NpArray,
              "NpDeferred": _capture.NpDeferred, "NDArray": _capture.NDArray,
              "Deferred": _capture.Deferred, "_FATES": tape._FATES, "free_fates": tape.free_fates,
              "_COUNTS": _capture._COUNTS, "_LOG": _capture._LOG, "COUNTERS": COUNTERS}


def note(binding):
    """trainer.step() updated through `binding` by its own call: after a captured backward
    of a plan covering its variables LEARN times in a row, fuse the two."""
    state = _capture._STATE
    plan, state.delivered = state.delivered, None
    if plan is None or plan.fusion_refused or plan.native is None or (
            plan.fusion is not None and plan.fusion.binding is binding):
        return
    wrt = {id(v) for v in plan.wrt_vars}
    leaves = {id(v.var) for v in plan.leaf_vars if v is not None}
    if not all(id(v) in wrt and id(v) in leaves and _REQ.__get__(v) == "write"
               for v in binding.vars):
        return
    building = plan.fusion_building
    if building is not None:    # (compiling in the background: background.py)
        fusion, compiling = building
        if not compiling.done():
            return
        plan.fusion_building = None
        try:
            fusion.attach(compiling.result())
        except Exception as e:  # noqa: BLE001 - an optimization: the two calls stay
            return _not_fused(plan, e)
        if fusion.binding is binding:
            plan.fusion = fusion
        return
    seen = plan.fusion_seen
    if seen is None or seen[0] is not binding:
        seen = plan.fusion_seen = [binding, 0]
    seen[1] += 1
    if seen[1] < (LEARN if plan.build_seconds < SLOW_BUILD else LEARN_SLOW):
        return
    try:
        fusion = Fusion(plan, binding)
        if background.wanted(fusion.fn, fusion.donate):
            plan.fusion_building = (fusion, background.Compiling(fusion.fn, fusion.donate))
            return
        fusion.attach(compile_callable(fusion.fn, donate=fusion.donate))
        plan.fusion = fusion
    except Exception as e:  # noqa: BLE001 - an optimization: the two calls stay
        _not_fused(plan, e)


def _not_fused(plan, e):
    plan.fusion_refused = True
    _capture._LOG["drops"].append(f"update not fused: {type(e).__name__}: {e}")
