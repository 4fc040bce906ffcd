"""The multi-tensor optimizer update: every parameter's update in ONE native call.

Trainer.step hands over the live parameters; their optimizer's `fused_rule` (optimizer.py) is
written once per parameter into one IR Function, compiled once per (optimizer structure,
parameter types, state layout). Its inputs are the weights, gradients and states, plus one
float64 vector of the per-step numbers (`fused_scalars`: scheduled lr, wd, rescale_grad, bias
corrections...), so a learning-rate schedule or a new batch size never recompiles.

The call writes the new weights and states into the old buffers (donated outputs,
codegen/donation.py), as MXNet's sgd_update / adam_update kernels do, when nothing but their
owners holds those buffers (reference counts: the parameter's NDArray and its tape leaf, the
Trainer's state dict or state tuple, an output pool; `_unshared`): nobody can then tell an
in-place write from a new buffer. Otherwise (somebody kept a numpy view of a weight, a state
tuple, an array a recorded graph still holds) the call returns new weights and states and they
replace the old buffers (`write_back`, no copy back): the parameter's NDArray and its tape
leaf both take the new weight array, the Trainer keeps the new states, and the holder keeps
the old values. Both give the same numbers (one Function, compiled with and without the
donations).
"""
import weakref
from sys import getrefcount

import numpy as np

from .ir.function import Builder
from .ir.types import TensorType, type_of
from .runtime.buffers import POOL_HOLDS
from .runtime.segments import compile_callable
from .stats import COUNTERS

_CACHE: dict = {}
_CACHE_SIZE = 64
_F16 = np.dtype(np.float16)


def _states(state):
    """A state as the tuple of its arrays (None: no state)."""
    if state is None:
        return ()
    return state if isinstance(state, tuple) else (state,)


def supports(optimizer) -> bool:
    """Whether `optimizer` has a fused form at least as specific as its update(): a user
    subclass that overrides update() without a fused_rule of its own keeps update()."""
    if optimizer.fused_structure() is None:
        return False
    mro = type(optimizer).__mro__
    owner = {name: next(i for i, k in enumerate(mro) if name in k.__dict__)
             for name in ("update", "fused_rule")}
    return owner["fused_rule"] <= owner["update"]


def key_scalars(seed, counter):
    """A random key (seed, counter) as 3 float64 numbers of the scalar vector, each exact:
    the seed's high and low 32 bits and the counter (below 2**53)."""
    return (float(seed >> 32), float(seed & 0xFFFFFFFF), float(counter))


def random_key(b, h, at):
    """The i64[2] key (seed, counter) of key_scalars, read from h[at:at+3]."""
    parts = b.cast(b.slice(h, begin=(at,), end=(at + 3,), step=(1,)), dtype="i64")
    hi, lo, counter = (b.slice(parts, begin=(j,), end=(j + 1,), step=(1,)) for j in range(3))
    seed = b.add(b.mul(hi, b.const(1 << 32, dtype="i64")), lo)
    return b.concat(seed, counter, axis=0)


class FusedUpdate:
    """One compiled update for a fixed list of (weight type, number of state arrays)."""

    def __init__(self, optimizer, layout, n_scalars, state_shapes=None):
        b = Builder(name=f"{type(optimizer).__name__.lower()}_update")
        weights, grads, states = [], [], []
        for k, (t, n_state) in enumerate(layout):
            weights.append(b.param(t, f"w{k}"))
            grads.append(b.param(t, f"g{k}"))
            # (a state of its own shape: optimizer.fused_state_shapes, GroupAdaGrad's rows)
            shapes = state_shapes[k] if state_shapes is not None else (t.shape,) * n_state
            states.append([b.param(t.with_shape(shapes[j]), f"s{k}_{j}")
                           for j in range(n_state)])
        h = b.param(TensorType("f64", (n_scalars * len(layout),)), "h")
        outs, self.donate = [], {}
        # an optimizer that draws random numbers (SGLD) ends its scalars with 3 numbers per
        # key: they become i64[2] keys, the last entries of `s` (random_key)
        n_keys = getattr(optimizer, "fused_keys", 0)
        n_plain = n_scalars - 3 * n_keys
        for k, (t, n_state) in enumerate(layout):
            base = k * n_scalars
            s = [b.cast(b.reshape(b.slice(h, begin=(base + j,), end=(base + j + 1,), step=(1,)),
                                  shape=()), dtype=t.dtype) for j in range(n_plain)]
            s += [random_key(b, h, base + n_plain + 3 * j) for j in range(n_keys)]
            w, new_states = optimizer.fused_rule(b, weights[k], grads[k], states[k], s)
            # a state the rule does not use (momentum set to 0 after SGD created it) stays
            new_states = list(new_states) + states[k][len(new_states):]
            # each new weight and state into its old buffer (when `_unshared`)
            for new, old in zip([w, *new_states], [weights[k], *states[k]]):
                self.donate[len(outs)] = old.index
                outs.append(new)
        self.fn = b.ret(*outs)
        self.layout = layout
        self._native = self._in_place = None

    @property
    def native(self):
        """The call that returns new weights and states (compiled on first use)."""
        if self._native is None:
            self._native = compile_callable(self.fn)
        return self._native

    @property
    def in_place(self):
        """The call that writes them into the old buffers and returns nothing."""
        if self._in_place is None:
            self._in_place = compile_callable(self.fn, donate=self.donate)
        return self._in_place

    def __call__(self, args, scalars, targets, states):
        """One update: in place when `_unshared`, else new buffers written back. `targets`:
        (parameter index, weight NDArray, number of state arrays) in call order. Raises
        TypeError when an array changed type (nothing written)."""
        if _unshared(args, targets, states):
            args.append(scalars)
            done = self.in_place.try_call(tuple(args))
            del args[-1]
            if done is not None:
                COUNTERS["updates_in_place"] += 1
                return
        outs = self.native(*args, scalars)
        COUNTERS["updates_written_back"] += 1
        write_back(outs, targets, states)


def _unshared(args, targets, states) -> bool:
    """Whether nothing but their owners references the weight and state arrays in `args`
    (weight, gradient, states per target): the weight's NDArray and its tape leaf, the state
    dict (or the state tuple, itself referenced by the dict only), output pools. Beyond those,
    `args`, the local name and getrefcount's own argument hold each. An array that is a view
    (another array may share its memory) is never unshared."""
    ndarray = np.ndarray
    pooled = POOL_HOLDS     # (pool_refs inline: output pools hold nothing in most programs)
    k = 0
    for i, nd_weight, n_state in targets:
        a = args[k]
        leaf = nd_weight._value
        owners = 5 if leaf is not None and leaf.data is a else 4   # + NDArray._data
        if type(a) is not ndarray or a.base is not None or getrefcount(a) > owners + (
                pooled.get(id(a), 0) if pooled else 0):
            return False
        k += 2 + n_state
    return states_unshared(states, [(i, n) for i, _, n in targets if n], listed=1)


def states_unshared(states, items, listed) -> bool:
    """Whether nothing but the Trainer's state dict (or the state's tuple, itself held by the
    dict only), output pools and `listed` more references (1: the caller's argument list)
    holds the state arrays of `items` ((parameter index, number of state arrays)); an update
    writes them in place only then."""
    ndarray = np.ndarray
    pooled = POOL_HOLDS     # (pool_refs inline: output pools hold nothing in most programs)
    for i, _ in items:
        st = states[i]
        if type(st) is not tuple:
            # the dict, `st`, getrefcount's argument
            if type(st) is not ndarray or st.base is not None or getrefcount(st) > 3 + listed + (
                    pooled.get(id(st), 0) if pooled else 0):
                return False
            continue
        if getrefcount(st) > 3:        # the dict, `st`, getrefcount's argument
            return False
        for a in st:      # the tuple, `a`, getrefcount's argument
            if type(a) is not ndarray or a.base is not None or getrefcount(a) > 3 + listed + (
                    pooled.get(id(a), 0) if pooled else 0):
                return False
    return True


class Binding:
    """One Trainer's parameters bound to their compiled update, for the steps that repeat the
    last one (Trainer._update checks that they do: the same weight NDArrays, gradient
    Variables and optimizer structure). A step is then: the argument list from the live
    buffers, the scalar vector, one native call (in place, or new buffers written back)."""
    __slots__ = ("fused", "structure", "indices", "weights", "vars", "n_states", "targets")

    def __init__(self, fused, structure, indices, weights, variables, n_states):
        self.fused, self.structure, self.indices = fused, structure, indices
        self.weights, self.vars, self.n_states = weights, variables, n_states
        self.targets = tuple(zip(indices, weights, n_states))

    def __call__(self, optimizer, states):
        """True when done; False: nothing changed, take the general path."""
        args = []
        for i, w, var, n_state in zip(self.indices, self.weights, self.vars, self.n_states):
            args.append(w._data)
            args.append(var.grad)
            if n_state:
                st = states[i]
                if type(st) is tuple:
                    args.extend(st)
                else:
                    args.append(st)
                st = None           # (a reference _unshared would count)
        num_update = optimizer.num_update
        scalars = optimizer.fused_scalar_vector(self.indices)
        try:
            self.fused(args, scalars, self.targets, states)
        except TypeError:   # an array changed type: lay the call out again
            optimizer.uncount(self.indices, num_update)
            return False
        return True


def bind(optimizer, items, states):
    """A Binding for the (index, weight NDArray, Variable) of the step `apply` just made, or
    None when that step did not go through one fused call."""
    indices = tuple([i for i, _, _ in items])
    last = _LAST.get(id(states))
    if last is None or last[0] != indices:
        return None
    return Binding(last[2], last[1], indices, [w for _, w, _ in items],
                   [v for _, _, v in items], [n for _, _, n in last[3]])


def apply(optimizer, items, states):
    """Update every (index, weight NDArray, grad array) in `items` in one native call.

    `states` is the Trainer's {index: state} (created by optimizer.create_state); it gets the
    new state arrays. Returns False (nothing done) when the parameters cannot share one call
    (a non-float weight, a gradient of another type)."""
    indices = tuple([i for i, _, _ in items])
    structure = (type(optimizer), optimizer.fused_structure())
    last = _LAST.get(id(states))
    if last is not None and last[0] == indices and last[1] == structure:
        # the same parameters as last step: the native entry's own guards check every array
        args = []
        for i, nd_weight, grad in items:
            st = states[i]
            args.append(nd_weight._data)
            args.append(grad)
            if st is not None:
                if type(st) is tuple:
                    args.extend(st)
                else:
                    args.append(st)
            st = None               # (a reference _unshared would count)
        fused, shapes = last[2], last[3]
        scalars = _scalars(optimizer, indices)
        targets = [(i, w, n) for (i, w, _), (_, _, n) in zip(items, shapes)]
        try:
            fused(args, np.array(scalars, dtype=np.float64), targets, states)
        except TypeError:    # an array changed type: lay the call out again
            return _apply_slow(optimizer, items, states, indices, structure, scalars)
        return True
    return _apply_slow(optimizer, items, states, indices, structure, None)


_LAST: dict = {}     # id(Trainer states) -> (indices, structure, FusedUpdate, shapes)


def _scalars(optimizer, indices):
    scalars = []
    for i in indices:
        scalars.extend(optimizer.fused_scalars(i))
    return scalars


def _apply_slow(optimizer, items, states, indices, structure, scalars):
    shapes, args, state_shapes = [], [], []
    declared = optimizer.fused_state_shapes
    for i, nd_weight, grad in items:
        w = nd_weight._data
        dtype = w.dtype
        if (type(w) is not np.ndarray or dtype.kind != "f" or dtype == _F16   # (optimizer.py
                # updates float16 weights in float32, as MXNet's kernels: one at a time)
                or type(grad) is not np.ndarray
                or grad.dtype != dtype or grad.shape != w.shape):
            if scalars is not None:
                raise RuntimeError("fused update: a parameter changed type mid-step")
            return False
        st = states[i]
        st = () if st is None else st if type(st) is tuple else (st,)
        want = declared(w.shape, len(st))
        if any(type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape
               for a, shape in zip(st, want)):  # (another type or shape: per-parameter updates)
            if scalars is not None:
                raise RuntimeError("fused update: a parameter changed type mid-step")
            return False
        shapes.append((w.shape, dtype, len(st)))
        state_shapes.append(want)
        args.append(w)
        args.append(grad)
        args.extend(st)
    w = st = None                   # (references _unshared would count)
    if scalars is None:
        scalars = _scalars(optimizer, indices)
    key = (structure, tuple(shapes), tuple(state_shapes), len(scalars))
    fused = _CACHE.get(key)
    if fused is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        layout = [(type_of(np.empty(0, dtype)).with_shape(shape), n) for shape, dtype, n in shapes]
        fused = _CACHE[key] = FusedUpdate(optimizer, layout, len(scalars) // len(items),
                                          state_shapes)
    targets = [(i, w, n) for (i, w, _), (_, _, n) in zip(items, shapes)]
    fused(args, np.array(scalars, dtype=np.float64), targets, states)
    if len(_LAST) > 64:
        _LAST.clear()
    _LAST[id(states)] = (indices, structure, fused, shapes)
    return True


_FOLLOWERS: dict = {}    # id(weight NDArray) -> (weak ref. to it, weak ref. to its follower)


def follow(weight, view):
    """Make `view` (an mx.np view of the parameter NDArray `weight`, sharing its buffer, graph
    value and variable: Parameter.data() under set_np, which is MXNet's parameter array
    itself) take the new buffer whenever write_back gives `weight` one, as MXNet's array is
    updated in place: a view kept across trainer.step (d2l's style transfer keeps its image
    parameter's) must not keep the old values while the gradient reaches the new ones."""
    key = id(weight)
    entry = _FOLLOWERS.get(key)
    if entry is not None and entry[0]() is weight and entry[1]() is view:
        return

    def gone(_ref, key=key):
        held = _FOLLOWERS.get(key)
        if held is not None and (held[0]() is None or held[1]() is None):
            del _FOLLOWERS[key]
    _FOLLOWERS[key] = (weakref.ref(weight, gone), weakref.ref(view, gone))


def follower(weight):
    """The live view following `weight` (`follow`), or None."""
    entry = _FOLLOWERS.get(id(weight))
    return entry[1]() if entry is not None and entry[0]() is weight else None


def write_back(outs, targets, states):
    """The new weights and states replace the old buffers (see the module docstring); a view
    that follows a weight (`follow`) takes its new buffer too. `targets`: (parameter index,
    weight NDArray, number of state arrays) in call order."""
    k = 0
    for i, nd_weight, n_state in targets:
        new_w = outs[k]
        view = follower(nd_weight) if _FOLLOWERS else None
        if view is not None and view._data is nd_weight._data:     # (in step with it)
            view._data = new_w
        view = None
        nd_weight._data = new_w
        leaf = nd_weight._value
        if leaf is not None and leaf.producer is None:
            leaf.data = new_w
        if n_state:
            if n_state == 1 and type(states[i]) is not tuple:
                states[i] = outs[k + 1]
            else:
                states[i] = tuple(outs[k + 1:k + 1 + n_state])
        k += 1 + n_state
