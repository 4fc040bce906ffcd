"""A trace's op results, recorded without being computed until something reads them.

A trace (jit, hybridize, export) runs the user's function on arrays to record its graph; the
graph is then compiled and the compiled code computes the values. Computing them while
tracing as well is an eager forward pass nobody reads: ResNet-50's first hybridized step
spent 1.2 s of its 4 s warm-cache call there at batch 4, and it grows with the batch. Inside
a trace (array.lazy_values, entered by trace.trace) an op whose type rule gives its result
type records that result as a `LazyArray`: its tape value's data is a `tape.Pending`, what
eager apply would have run. Its shape, dtype, ndim and size come from the type; reading its
data (asnumpy(), a Python branch on a value, an op that is not recorded lazily, a backward
through the trace's tape) computes it and every pending value it depends on, by eager apply
itself, in recording order, and turns it into a plain array. So the values are eager's
own, to the bit, whenever they are read.

Which ops wait. An op waits when an operand is pending or holds SMALL elements or more
(a small op on computed operands costs no more computed at once), and eager's result
would be the type rule's without an error:
- float operands, a float or bool result: numpy keeps the rule's dtype and no value makes
  the op raise (it warns at most);
- an elementwise op with integer or bool operands (a max pool's `where` on its mask):
  eager apply, probed on one element per operand, gives the rule's type; numpy's own
  promotions (bool + 2.5 is float64) are otherwise eager's to refuse, at the user's line;
- another op with integer operands (indices: take, pick and gather_nd clamp them): a float
  result of its float operands' dtype.
Computed at once as before: other ops on integers or bools, ops with no type rule (not an
IR op), several results, a random draw, a value check, an op whose impl raises on values
(VALUE_ERRORS: a singular matrix), one that calls out to Python (a custom Function), a
loop or branch region, and any op outside recording (autograd.pause() in the trace) or on
placed arrays. Their errors are raised where the user's line is known, as eagerly.

A trace's inputs stay intact meanwhile: a write into a recorded array inside a trace rebinds
it to a new value, and into a captured buffer copies it first (NDArray._check_writable).
Arrays that outlive the trace other than its outputs are computed when it ends
(`settle`), so a later in-place write to an input cannot reach them.
"""
import sys
import weakref

import numpy as np

from ..array import HOOKS, NDArray, apply, set_lazy_hook
from ..base import MXNetError
from ..context import PLACED as _PLACED
from ..ir.function import Builder, Literal
from ..ir.ops import BRANCH, CHECK, ELEMENTWISE, LOOP, RANDOM, REGISTRY, VALUE_ERRORS
from ..ir.types import FLOATS, type_of
from ..numpy_api.ndarray import LAZY_VIEWS, ndarray as NpArray
from ..runtime import tape
from ..runtime.tape import STATE, Pending
from ..stats import COUNTERS

_EAGER_TRAITS = frozenset({RANDOM, CHECK, LOOP, BRANCH, VALUE_ERRORS})
_RESULTS = frozenset(FLOATS + ("bool",))
_SLOT_DATA = NDArray.__dict__["_data"]


class _Lazy:
    """The properties of a pending result: its type answers, its data is computed once read."""
    __slots__ = ()

    @property
    def _data(self):
        data = materialize(self._value)
        self.__class__ = _PLAIN[type(self)]
        _SLOT_DATA.__set__(self, data)
        return data

    @_data.setter
    def _data(self, data):
        self.__class__ = _PLAIN[type(self)]
        _SLOT_DATA.__set__(self, data)

    @property
    def type(self):
        return self._value.type

    @property
    def shape(self):
        return self._value.type.shape

    @property
    def dtype(self):
        return self._value.type.np_dtype.type

    @property
    def ndim(self):
        return len(self._value.type.shape)

    @property
    def size(self):
        return self._value.type.size

    def __len__(self):
        shape = self._value.type.shape
        if not shape:
            raise TypeError("len() of unsized object")
        return shape[0]

    def _own_buffer(self):
        """(nd._own_buffer) a copy if the computed data is a view, made when it is computed."""
        data = self._value.data
        if type(data) is Pending:
            data.own = True
            return self
        data = self._data       # (computed already, by another array of the value)
        if data.base is not None:
            self._data = data.copy()
        return self


class LazyArray(_Lazy, NDArray):
    __slots__ = ()


class LazyNpArray(_Lazy, NpArray):
    __slots__ = ()

    @property
    def dtype(self):    # (mx.np's: a numpy dtype, as numpy's arrays give)
        return self._value.type.np_dtype


_PLAIN = {LazyArray: NDArray, LazyNpArray: NpArray}
_LAZY_OF = {NDArray: LazyArray, NpArray: LazyNpArray}


def _lazy_view(a, cls):
    """as_np / as_nd of a pending array: the same pending value under the other class."""
    lazy = _LAZY_OF.get(cls)
    if lazy is None:
        return None
    res = NDArray.__new__(lazy)
    res._value, res._var, res._leaf = a._value, a._var, a._leaf
    return res


LAZY_VIEWS[LazyArray] = LAZY_VIEWS[LazyNpArray] = _lazy_view


def lazy_apply(opdef, args, attrs, impl):
    """apply's op as a pending result (a LazyArray), or None: computed now as usual."""
    if not STATE.recording or _PLACED[0] or REGISTRY.get(opdef.name) is not opdef or \
            not _EAGER_TRAITS.isdisjoint(opdef.traits) or \
            getattr(opdef, "handle_attr", None) is not None or _small_and_computed(args):
        return None
    b = Builder()
    operands, typed, scalars = [], [], []
    floats = True
    for a in args:
        if isinstance(a, NDArray):
            v = a._value
            if v is None or v.data is None:
                v = a._constant_value()
            if v.type.dtype not in FLOATS:
                floats = False
            operands.append(v)
            typed.append(b.param(v.type))
        elif type(a) is float or type(a) is int or type(a) is bool:
            operands.append(a)
            typed.append(a)
            scalars.append(a)
        else:           # (a numpy array or a list numpy converts: eager handles it)
            return None
    try:
        result = b.emit(opdef.name, *typed, **attrs)
    except Exception:   # (eager raises its own error, naming the operands' values)
        return None
    if type(result) is list or type(result) is tuple or result.type.dtype not in _RESULTS:
        return None
    if not floats and not _integers_agree(opdef, operands, attrs, impl, result.type):
        return None
    res = NDArray.__new__(LazyArray)
    res._value = tape.record(opdef, operands, attrs,
                             Pending(impl, tuple(scalars), attrs, result.type))
    res._var = res._leaf = None
    made = HOOKS.lazy_made
    if made is None:
        made = HOOKS.lazy_made = []
    made.append(weakref.ref(res))
    return res


# below this many elements per operand, an op on computed operands is computed at once: it
# costs about what recording it pending does (a trace of 150 ops on 4x4 arrays: 2.2 ms eager,
# 2.7 ms pending)
SMALL = 4096


def _small_and_computed(args):
    for a in args:
        if isinstance(a, NDArray) and (type(a) in _PLAIN or a._data.size >= SMALL):
            return False
    return True


def _integers_agree(opdef, operands, attrs, impl, t):
    """With integer or bool array operands: whether eager gives the rule's result type t
    without an error. An elementwise op is probed on one element per operand; another op
    (take, pick, gather_nd: integer indices, clamped) must give t float from float operands
    of dtype t only (numpy promotes nothing there)."""
    if ELEMENTWISE not in opdef.traits:
        return t.dtype in FLOATS and all(
            o.type.dtype == t.dtype for o in operands
            if isinstance(o, tape.TapeValue) and o.type.dtype in FLOATS)
    args = [_wrap(np.zeros((1,) * len(o.type.shape), o.type.np_dtype))
            if isinstance(o, tape.TapeValue) else o for o in operands]
    try:
        with _eager(), np.errstate(all="ignore"):
            out = apply(opdef, args, attrs, impl)
    except Exception:
        return False
    return out._data.dtype == t.np_dtype


class _eager:
    """apply as eager code runs it, in this thread: nothing recorded, nothing left pending."""
    __slots__ = ("saved",)

    def __enter__(self):
        self.saved = STATE.recording, HOOKS.lazy
        STATE.recording = HOOKS.lazy = False

    def __exit__(self, *exc):
        STATE.recording, HOOKS.lazy = self.saved
        return False


def materialize(value):
    """The data of tape value `value`, computing it (and the pending values it reads, in
    recording order) by eager apply when the trace left it pending."""
    if type(value.data) is not Pending:
        return value.data
    order, stack, seen = [], [(value, False)], set()
    while stack:
        v, ready = stack.pop()
        if ready:
            order.append(v)
            continue
        if id(v) in seen or type(v.data) is not Pending:
            continue
        seen.add(id(v))
        stack.append((v, True))
        stack.extend((o, False) for o in v.producer.operands if type(o) is not Literal)
    with _eager():
        for v in order:
            _compute(v)
    return value.data


def _compute(v):
    pending = v.data
    scalars = iter(pending.scalars)
    args = []
    for o in v.producer.operands:
        if type(o) is Literal:
            args.append(next(scalars))
        elif o.data is None:
            raise tape.GraphFreedError(f"{v.producer.opdef.name}: an operand of a value a "
                                       f"trace left uncomputed was freed (tracegrad bug)")
        else:
            args.append(_wrap(o.data))
    data = apply(v.producer.opdef, args, pending.attrs, pending.impl)._data
    if pending.own and data.base is not None:
        data = data.copy()
    if type_of(data) != v.type:
        raise MXNetError(f"{v.producer.opdef.name}: computed a {type_of(data)} value where its "
                         f"trace recorded {v.type} (tracegrad bug: the op's type rule and its "
                         f"eager result disagree)")
    v.data = data
    COUNTERS["trace_values_computed"] += 1


def _wrap(data):
    a = NDArray.__new__(NDArray)
    a._data, a._value, a._var, a._leaf = data, None, None, None
    return a


def mark() -> int:
    """Where a trace begins among this thread's pending arrays (settle's `since`)."""
    made = HOOKS.lazy_made
    return 0 if made is None else len(made)


def settle(since, keep):
    """At a trace's end: compute the pending arrays it made that outlive it, other than
    those only the trace holds in `keep` (a list of its outputs and a list of its state
    updates' (target, value) pairs: the compiled call replaces them), and forget them all.
    `keep` None: the trace failed; forget them only (read later, they are computed then)."""
    made = HOOKS.lazy_made
    if not made or len(made) <= since:
        return
    mine = made[since:]
    del made[since:]
    if keep is None:
        return
    outs, updates = keep
    held = {}       # id -> the references the trace's own lists hold, `a` and getrefcount's
    for x in outs + [v for _, v in updates]:
        held[id(x)] = held.get(id(x), 2) + 1
    x = None
    for ref in mine:
        a = ref()
        # (more references than the trace holds: the user's function kept it too)
        if a is not None and type(a) in _PLAIN and sys.getrefcount(a) > held.get(id(a), 0):
            _ = a._data     # (computes it)
        a = None


tape.MATERIALIZE[0] = materialize
set_lazy_hook(lazy_apply)
