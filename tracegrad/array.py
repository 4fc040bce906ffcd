"""NDArray: MXNet's array over a numpy buffer, and `apply`, the one door every op goes through.

`apply(opdef, args, attrs)` runs OpDef.impl at once and, while autograd records and an operand
is tracked, appends the op to the tape (runtime/tape.py). `F` exposes every registered op as a
method, so ir.composites run eagerly through it exactly as they build IR through a Builder.
"""
import math
import sys
import threading
import types
import warnings

import numpy as np

from .base import ANY_TRACE, LOCATING, MXNetError, op_error
from .context import PLACED as _PLACED, Context, count_placed, current_context
from .ir.attrs import check_attr, coerce_attr
from .ir.function import Builder
from .ir.ops import REGISTRY
from .ir.ops.checks import SHAPES_ONLY
from .ir.types import DTYPES, FLOATS, NARROW, dtype_name, type_of
from .runtime import tape
from .runtime.tape import STATE

_EMPTY = {}
# the dtypes a result may have without a second look; a narrow one (float16, uint8, int8) is
# checked against the op's type rule (_narrow_result), since numpy also gives them for bools
# (exp of a bool is float16, bool % bool is int8) where the type rule, and so compiled code,
# refuses: the float32 path pays nothing for it
_SUPPORTED = frozenset(DTYPES[d] for d in DTYPES if d not in NARROW)


class _Hooks(threading.local):
    """Per-thread callbacks a trace (jit / hybridize) installs; see tracegrad/tracing/jit.py."""
    concretize = None   # (array, why): Python asked for a concrete value of a traced array
    random_key = None   # (key array) -> NDArray: a random draw's key inside a trace
    assign = None       # (target, value): a state update met inside a trace
    tracing = False     # inside make_ir.trace: detach() records a stop_gradient
    compiling = False   # inside a jit / hybridize trace: contrib loops become one op
    call_recorded = True    # inside a jit trace: whether the call itself is recorded
    recorded = True     # inside a jit trace: whether autograd records the call (a block's
    #                     call outside record() traces recording, yet nothing is recorded)
    scalar = None       # (array) -> TracedScalar: asscalar() of a traced float array
    materialize = None  # (args) -> args with TracedScalars as their guarded values
    profiling = False   # an op is being timed by mx.profiler (set_profile_hook)
    lazy = False        # inside a trace: ops record their results without computing them
    lazy_made = None    # (weak references to) the arrays recorded so (tracing/lazy_values.py)


class SideEffect(BaseException):
    """Raised inside a jit / hybridize trace by an operation whose effect compiled code would
    not repeat (`backward()` writing gradients, `trainer.step()` writing weights), before it
    has any: the call runs eagerly instead (tracing/jit.py). A BaseException, so that the
    user's `except Exception` around it does not swallow it."""


def assign_state(target, value):
    """Write `value` into `target`'s buffer in place, off the differentiated graph: a state
    update such as BatchNorm's running statistics. Inside a trace the write is deferred and
    becomes an output of the compiled function that is written back after every call."""
    hook = HOOKS.assign
    if hook is not None:
        hook(target, value)
        return
    np.copyto(target._data, value._data if isinstance(value, NDArray) else value,
              casting="unsafe")


HOOKS = _Hooks()

# traces (in any thread) that have installed HOOKS.materialize; apply tests one plain global,
# _HOOKED (step capture's deferral installed, or some trace materializing), instead of the
# thread-local hook: a thread without the hook merely takes the hooked path, which reads its
# own (None) hook. Changed through materializing() and set_defer_hook() only.
_MATERIALIZING = [0]
_MATERIALIZING_LOCK = threading.Lock()
_HOOKED = False


def _rehook():
    global _HOOKED
    _HOOKED = _DEFER is not None or _MATERIALIZING[0] > 0 or _PROFILE is not None or \
        _TYPED_ZEROS[0] > 0 or _LAZY_THREADS[0] > 0


class materializing:
    """`with materializing(hook):` installs HOOKS.materialize for this thread (jit traces)."""
    __slots__ = ("hook", "saved")

    def __init__(self, hook):
        self.hook = hook

    def __enter__(self):
        self.saved, HOOKS.materialize = HOOKS.materialize, self.hook
        _count(_MATERIALIZING, 1)

    def __exit__(self, *exc):
        HOOKS.materialize = self.saved
        _count(_MATERIALIZING, -1)
        return False


def _count(threads, change):
    """One thread more or fewer in `threads` (a count _rehook reads), under the lock."""
    with _MATERIALIZING_LOCK:
        threads[0] += change
        _rehook()


# threads inside shapes_only(): apply gives typed zeros there (its hooked path, as above)
_TYPED_ZEROS = [0]
# threads tracing with HOOKS.lazy set, and the hook that records an op there without
# computing it (tracing/lazy_values.py; None: the op is computed as usual)
_LAZY_THREADS = [0]
_LAZY = None


class _ThreadMode:
    """A per-thread flag set for a `with` block, the thread counted meanwhile in a global
    that apply's hot path tests instead of the thread-local (_rehook). A subclass names the
    flag (`_owner`, `_name`), its value while set (`_on()`) and the count (`_threads`)."""
    __slots__ = ("saved",)

    def __enter__(self):
        self.saved = getattr(self._owner, self._name)
        setattr(self._owner, self._name, self._on())
        _count(self._threads, 1)
        return self

    def __exit__(self, *exc):
        setattr(self._owner, self._name, self.saved)
        _count(self._threads, -1)
        return False


class lazy_values(_ThreadMode):
    """`with lazy_values():` ops of a trace in this thread record their results, computed
    only when something reads them (tracing/lazy_values.py)."""
    __slots__ = ()
    _owner, _name, _threads = HOOKS, "lazy", _LAZY_THREADS

    @staticmethod
    def _on():
        return _LAZY is not None


def set_lazy_hook(hook):
    global _LAZY
    _LAZY = hook


class shapes_only(_ThreadMode):
    """`with shapes_only():` eager ops in this thread return zero arrays of the type their
    rule gives, computing nothing (mx.sym's shape inference runs a graph's nd functions for
    their result shapes: a ResNet-50 bind at batch 32 spent seconds on zeros). Value checks
    are off as well (checks.SHAPES_ONLY): zeros are no one's values. The zeros hold one
    element each (zero strides, read-only), so a large graph's arrays cost no memory."""
    __slots__ = ()
    _owner, _name, _threads = SHAPES_ONLY, "on", _TYPED_ZEROS

    @staticmethod
    def _on():
        return True


def _typed_zeros(opdef, args, attrs):
    """apply inside shapes_only(): zeros of the op's result type, its rule given the operands'
    types as a trace would give them (so the shapes are what a compiled call computes); None
    for an operand a trace would not take (a list numpy converts): apply computes that op."""
    b = Builder()
    operands = []
    for a in args:
        if isinstance(a, NDArray) and type(a._data) is np.ndarray or type(a) is np.ndarray:
            operands.append(b.param(type_of(a._data if isinstance(a, NDArray) else a)))
        elif isinstance(a, np.generic):
            operands.append(a.item())
        elif isinstance(a, (bool, int, float)):
            operands.append(a)
        else:
            return None
    try:
        results = b.emit(opdef.name, *operands, **attrs)     # (attributes checked as traced)
    except (ValueError, TypeError, IndexError, OverflowError) as e:
        datas = [a._data if isinstance(a, NDArray) else a for a in args]
        raise op_error(opdef.name, datas, attrs, e) from None
    if type(results) is not list and type(results) is not tuple:
        return wrap(_zeros_of(results.type))
    return tuple(wrap(_zeros_of(r.type)) for r in results)


def _zeros_of(t):
    """A read-only zero array of type t that holds one element (every stride 0)."""
    return np.broadcast_to(np.zeros((), t.np_dtype), t.shape)


# step capture (capture.py): while it has plans, every op is offered to it first; it returns a
# deferred result, or None to run the op now. _BEFORE_WRITE runs before an in-place write.
_DEFER = None
_BEFORE_WRITE = None
# mx.profiler (profiler.py) while it runs: every eager op goes through it (timed, then run
# here again with HOOKS.profiling set); with no profiler, no cost beyond the _HOOKED test
_PROFILE = None


def set_profile_hook(hook):
    global _PROFILE
    with _MATERIALIZING_LOCK:
        _PROFILE = hook
        _rehook()


def set_defer_hook(hook, before_write=None):
    global _DEFER, _BEFORE_WRITE
    with _MATERIALIZING_LOCK:
        _DEFER, _BEFORE_WRITE = hook, before_write
        _rehook()


_ATTRS_SEEN = set()  # (op, name, value, its types) already checked: eager ops repeat them
_ATTRS_SAME = {}     # (op, name, id(value)) -> value: this very immutable object passed
_PLAIN_TYPES = frozenset({int, float, bool, str, type(None)})


def _check_attr(opdef, name, value):
    """ir.attrs.check_attr, remembered per exact value and element types (so `True` never
    passes for `1`, nor `(True,)` for `(1,)`): the eager hot path pays one set look-up. An
    immutable value (a plain scalar or a tuple of them) is also remembered by identity, so the
    same object passed again (a constant, a memoized axes tuple) costs one dict look-up."""
    try:
        types = tuple(map(type, value)) if type(value) is tuple else type(value)
        key = (opdef, name, value, types)
        seen = key in _ATTRS_SEEN
    except TypeError:  # unhashable: check every time
        return check_attr(opdef, name, value)
    if not seen:
        check_attr(opdef, name, value)
        if len(_ATTRS_SEEN) > 4096:
            _ATTRS_SEEN.clear()
        _ATTRS_SEEN.add(key)
    if type(types) is tuple and not _PLAIN_TYPES.issuperset(types) or \
            type(types) is not tuple and types not in _PLAIN_TYPES:
        return
    if len(_ATTRS_SAME) > 4096:
        _ATTRS_SAME.clear()
    _ATTRS_SAME[(opdef, name, id(value))] = value  # held, so the id is not reused meanwhile


def apply(opdef, args, attrs=_EMPTY, impl=None):
    """Run one op eagerly on NDArrays / scalars; record it when autograd is recording.
    `impl` may pass the op's bare numpy function (F does): apply checks the result itself.

    The hooks (a trace's scalar materialization, step capture's deferral) cost one test each
    when nothing is installed; a numpy scalar is weakened to a Python scalar (as in a trace)
    while the operands' buffers are gathered."""
    if _HOOKED:
        if _TYPED_ZEROS[0] and SHAPES_ONLY.on and opdef.name in REGISTRY:
            typed = _typed_zeros(opdef, args, attrs)
            if typed is not None:
                return typed
        profile = _PROFILE
        if profile is not None and not HOOKS.profiling:
            return profile(opdef, args, attrs, impl)
        args = _hooked_args(args)
        defer = _DEFER
        if defer is not None:
            deferred = defer(opdef, args, attrs)
            if deferred is not None:
                return deferred if not _PLACED[0] else _placed_like(deferred, args)
        if _LAZY_THREADS[0] and HOOKS.lazy:     # (the global first: a thread-local read
            pending = _LAZY(opdef, args, attrs, impl)   # costs ~40 ns on every hooked op)
            if pending is not None:
                return pending
    # (an NDArray subclass operand, mx.np.ndarray or a capture Deferred, through its buffer)
    datas = [a._data if type(a) is NDArray else a.item() if isinstance(a, np.generic) else
             a._data if isinstance(a, NDArray) else a for a in args]
    try:
        if attrs:  # what a trace or a file would refuse, eager refuses too (ir/attrs.py)
            for k, v in attrs.items():
                if _ATTRS_SAME.get((opdef, k, id(v))) is not v:
                    try:
                        _check_attr(opdef, k, v)
                    except TypeError:   # numpy ints, keepdims=0: ir/attrs.coerce_attr
                        attrs = {n: coerce_attr(opdef, n, a) for n, a in attrs.items()}
                        break
        out = (impl or opdef.impl)(*datas, **attrs)
    except (ValueError, TypeError, IndexError, OverflowError) as e:  # (a Python int past
        # the operand's dtype: numpy's OverflowError named neither the op nor the operand)
        raise op_error(opdef.name, datas, attrs, _type_rule_says(opdef, datas, attrs) or e) \
            from None
    if type(out) is not np.ndarray:
        if type(out) is tuple:
            return _apply_multi(opdef, [a if isinstance(a, NDArray) else d
                                        for a, d in zip(args, datas)], attrs, out)
        out = np.asarray(out)
    if (out.dtype not in _SUPPORTED or (out.dtype is _BOOL and _narrow_operand(datas))
            or (out.dtype is not _F32 and _integer_operand(datas))) and \
            not _narrow_result(opdef, datas, attrs, out):
        # numpy promoted past what the type rule allows
        raise op_error(opdef.name, datas, attrs, _type_rule_says(opdef, datas, attrs) or
                       f"numpy gave a {out.dtype} result where the type rule gives "
                       f"{_rule_type(opdef, datas, attrs)}") from None
    if out.dtype is _F64 and _float_beside_bools(datas):
        out = (impl or opdef.impl)(*_in_float32(datas), **attrs)
    res = NDArray.__new__(NDArray)
    res._data, res._value, res._var, res._leaf = out, None, None, None
    if STATE.recording:
        tracked = False
        operands = []
        for a in args:
            if type(a) is NDArray or isinstance(a, NDArray):  # (mx.np.ndarray: a subclass)
                v = a._value
                if v is None or v.data is None:  # (None: freed by a backward; MXNet's
                    v = a._constant_value()      # later graphs see it as a constant)
                else:
                    tracked = True
                operands.append(v)
            elif isinstance(a, np.ndarray) and a.ndim:
                operands.append(tape.leaf(a))
            elif isinstance(a, np.generic):
                operands.append(a.item())  # weak, as in datas
            else:
                if not isinstance(a, (bool, int, float, np.ndarray)):  # a list numpy took
                    raise op_error(opdef.name, datas, attrs, _type_rule_says(
                        opdef, datas, attrs) or "an operand is not an array") from None
                operands.append(a)
        # (a trace records ops on untracked arrays too: arrays of its function's scope are
        # inputs it reads at every call, not constants)
        if tracked or HOOKS.tracing:
            res._value = tape.record(opdef, operands, attrs, out)
    return res if not _PLACED[0] else _placed_like(res, args)


def unobserved() -> bool:
    """True while an eager op on plain NDArrays is seen by nothing but its result: autograd is
    not recording, no trace runs in any thread, no profiler counts ops and no array is placed
    on a context. (Step capture's hook declines every op outside record() whose operands are
    not its own deferred arrays.) Fast paths that skip `apply` (a row read, x[i]) ask this."""
    return not (STATE.recording or ANY_TRACE[0] or _PLACED[0] or _PROFILE is not None
                or _MATERIALIZING[0])


def unrecorded_read(x) -> bool:
    """True when an op reading only NDArray `x` gives what its result alone sees: unobserved(),
    or autograd records but x is not on the tape (its ops would record nothing) and no hook
    (step capture's deferral, a trace materializing, a profiler) is installed to see the op."""
    return not (ANY_TRACE[0] or _PLACED[0] or _HOOKED) and (
        not STATE.recording or x._value is None)


def _placed_like(res, args):
    """While arrays live on several contexts: an op's result on its first placed operand's
    context (results are not counted in PLACED: the placed inputs they come from are)."""
    for a in args:
        ctx = getattr(a, "_ctx", None)
        if ctx is not None:
            for r in (res if type(res) is tuple or type(res) is list else (res,)):
                r._ctx = ctx
            break
    return res


_F64 = np.dtype(np.float64)


def _float_beside_bools(datas) -> bool:
    """A Python float whose only array operands are bool: the type rule (literal_dtype, mx.np's
    default float) computes in float32 where numpy would give float64."""
    has_float = False
    for d in datas:
        if type(d) is np.ndarray:
            if d.dtype.kind != "b":
                return False
        elif type(d) is float:
            has_float = True
    return has_float


def _in_float32(datas):
    return [d.astype(np.float32) if type(d) is np.ndarray else
            np.float32(d) if type(d) is float else d for d in datas]


def _hooked_args(args):
    """apply's arguments while a trace or step capture has a hook installed: TracedScalars as
    their guarded values, numpy scalars weak (step capture sees what eager code runs)."""
    materialize = HOOKS.materialize
    if materialize is not None:  # a scalar Python read from a traced array: its guarded value
        args = materialize(args)
    for a in args:
        if isinstance(a, np.generic):  # a numpy scalar is a weak scalar, as in a trace
            return tuple(a.item() if isinstance(a, np.generic) else a for a in args)
    return args


_BOOL = np.dtype(bool)
_FLOAT_CODES = frozenset(FLOATS)
_F32 = np.dtype(np.float32)
_INTEGER_KINDS = frozenset("iub")


def _integer_operand(datas) -> bool:
    """Whether an operand is an integer or bool array: numpy computes what the type rule may
    refuse for them (an int matrix's inverse truncated to zeros, a bool cumsum saturated at
    True, exp of ints), so the rule is asked, as a trace asks it, unless the result is
    float32 (then the operands were promoted as the rules promote them). Cached per op,
    operand dtypes and shapes (_narrow_result)."""
    for d in datas:
        if type(d) is np.ndarray and d.dtype.kind in _INTEGER_KINDS:
            return True
    return False


def _narrow_operand(datas) -> bool:
    """Whether an operand is a float16 / uint8 / int8 array: numpy's bool result (of a
    comparison) is supported where the type rule may refuse the operands (uint8 == int8
    promotes to int16), so the rule is asked as for a narrow result. (Asked for bool results
    only: every other eager op pays one identity test.)"""
    for d in datas:
        if type(d) is np.ndarray and d.dtype in _NARROW_DTYPES:
            return True
    return False


def _narrow_result(opdef, datas, attrs, out) -> bool:
    """Whether a result outside the supported dtypes (a float16 / uint8 / int8 one, or a
    bool one of narrow operands) is the one the op's type rule gives (asked once per op,
    operand dtypes and shapes, scalars and attributes: image transforms repeat it)."""
    try:
        key = (opdef, tuple((d.dtype, d.shape) if type(d) is np.ndarray else (type(d), d)
                            for d in datas), tuple(sorted(attrs.items())))
        hash(key)
    except TypeError:   # (an unhashable attribute: ask every time)
        key = None
    dtype = _NARROW_SEEN.get(key, False) if key is not None else False
    if dtype is False:
        t = _rule_type(opdef, datas, attrs)
        dtype = None if t is None else t.np_dtype
        if key is not None:
            if len(_NARROW_SEEN) > 4096:
                _NARROW_SEEN.clear()
            _NARROW_SEEN[key] = dtype
    return dtype == out.dtype


_NARROW_DTYPES = frozenset(DTYPES[d] for d in NARROW)
_NARROW_SEEN: dict = {}   # key -> the type rule's result dtype (None: it refuses)


def _rule_type(opdef, datas, attrs):
    """The op's type rule's result type for these operands (None: it refuses them)."""
    from .ir.function import Literal, canonical_attrs, literal_dtype
    try:
        arrays = [Literal(0, type_of(d).dtype) for d in datas if isinstance(d, np.ndarray)]
        types = [type_of(d) if isinstance(d, np.ndarray) else      # scalars weak, as traced
                 Literal(d, literal_dtype(d, arrays)).type for d in datas]
        t = opdef.infer(*types, **canonical_attrs(opdef, attrs))
    except Exception:  # noqa: BLE001 - refused (the caller names the rule's message)
        return None
    return t[0] if isinstance(t, tuple) else t


def _type_rule_says(opdef, datas, attrs):
    """The op's own type-rule message for these operands (clearer than numpy's), if it has
    one: only consulted once numpy has already refused them."""
    from .ir.function import Literal, canonical_attrs, literal_dtype
    for i, d in enumerate(datas):
        if not isinstance(d, (np.ndarray, bool, int, float)):
            return (f"operand {i + 1} is a {type(d).__name__}, not an NDArray or a number")
    try:
        types = [type_of(d) if isinstance(d, np.ndarray) else
                 Literal(d, literal_dtype(d, ())).type for d in datas]
        opdef.infer(*types, **canonical_attrs(opdef, attrs))
    except TypeError as e:
        return str(e)
    except Exception:  # noqa: BLE001 - no clearer message to offer; numpy's stands
        return None
    return None


def _apply_multi(opdef, args, attrs, outs):
    """The multi-result case of apply (custom Functions' backward under create_graph)."""
    res = tuple(wrap(np.asarray(o)) for o in outs)
    if STATE.recording and (HOOKS.tracing or any(isinstance(a, NDArray) and tape.live(a._value)
                                                 for a in args)):
        operands = [(a._value if tape.live(a._value) else a._constant_value())
                    if isinstance(a, NDArray) else a for a in args]
        for r, v in zip(res, tape.record_multi(opdef, operands, attrs, [r._data for r in res])):
            r._value = v
    return res if not _PLACED[0] else _placed_like(res, args)


class _Eager:
    """The eager dispatcher: `F.mul(x, y)`, `F.sum(x, axes=...)` for every registered op."""


def _dispatcher(opdef):
    bare = getattr(opdef.impl, "__wrapped__", opdef.impl)

    def method(*args, **attrs):
        return apply(opdef, args, attrs, bare)
    floor = getattr(opdef, "integer_operand_floor", None)
    if floor is not None:
        method = _floor_checked(method, opdef.name, *floor)
    method.__name__ = opdef.name
    return staticmethod(method)


def _floor_checked(method, opname, k, what, lo, why):
    """`method` with its array operand k read through check_truncated_range when every
    operand is an integer (an op's `integer_operand_floor`: pow's exponent)."""
    def checked(*args, **attrs):
        a = args[k] if len(args) > k else None
        if isinstance(a, NDArray) and a._data.dtype.kind == "i" and all(
                (o._data.dtype.kind in "iub") if isinstance(o, NDArray) else
                (type(o) in (int, bool) or isinstance(o, np.integer)) for o in args):
            from .index_checks import check_truncated_range
            args = args[:k] + (check_truncated_range(opname, what, a, lo, None, why),) \
                + args[k + 1:]
        return method(*args, **attrs)
    return checked


for _name, _opdef in REGISTRY.items():
    setattr(_Eager, _name, _dispatcher(_opdef))
F = _Eager()


def _grad_stype(stype, data, who):
    """A gradient storage type checked: None for dense ('default' / None)."""
    if stype in (None, "default"):
        return None
    if stype not in ("row_sparse", "csr"):
        raise ValueError(f"{who}: stype must be 'default', 'row_sparse' or 'csr', got {stype!r}")
    if stype == "csr" and data.ndim != 2:
        raise ValueError(f"{who}: a csr gradient needs a 2-d array, got shape {data.shape}")
    return stype


def wrap(data) -> "NDArray":
    """An NDArray over a numpy array (no copy)."""
    res = NDArray.__new__(NDArray)
    res._data, res._value, res._var, res._leaf = data, None, None, None
    return res


def on_context(arr, ctx):
    """`arr` placed on `ctx` (None: left where it is). Every context is the CPU; the place only
    decides which copy of a Parameter a Block reads (one per context it was initialized on)."""
    if ctx is not None:
        if not isinstance(ctx, Context):
            raise TypeError(f"ctx must be a Context such as mx.cpu(), got {ctx!r}")
        if ctx.device_type not in ("cpu", "cpu_pinned", "cpu_shared"):
            raise MXNetError(f"tracegrad runs on the CPU only; got ctx={ctx}")
        old = getattr(arr, "_ctx", None)
        if ctx.device_id != 0 and (old is None or old.device_id == 0):
            count_placed(arr)
        arr._ctx = ctx
    return arr


class NDArray:
    """An n-dimensional array on the CPU with MXNet 1.x semantics (`mx.nd.NDArray`)."""
    # _ctx is set only on an array placed on a context other than the default (as_in_context,
    # split_and_load, ctx= of a creation function): a Block called on it reads its Parameters'
    # copies for that context (gluon/parameter.py), so per-device gradients stay apart
    __slots__ = ("_data", "_value", "_var", "_leaf", "_ctx", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, data, ctx=None, dtype=None):
        arr = np.array(data, dtype=dtype)
        dtype_name(arr.dtype)
        self._data, self._value, self._var, self._leaf = arr, None, None, None

    # -------------------------------------------------------------- properties
    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype.type

    @property
    def type(self):
        return type_of(self._data)

    @property
    def size(self):
        return self._data.size

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def context(self):
        try:
            return self._ctx
        except AttributeError:  # (never placed: the default context)
            return current_context()

    ctx = context

    @property
    def stype(self):
        return "default"

    @property
    def T(self):
        return self.transpose()

    @property
    def grad(self):
        var = self._var
        if var is None or var.grad is None:
            return None
        if var.grad_stype is not None:      # attach_grad(stype='row_sparse' / 'csr')
            from .sparse import storage_view
            from .sparse_rows import looked_up
            return storage_view(var.grad, var.grad_stype, looked_up(var))
        return wrap(var.grad)

    @property
    def _fresh_grad(self):
        """1 when a backward wrote this array's gradient since the flag was last reset, else 0
        (MXNet's stale-gradient flag, which Gluon's Trainer reads and clears)."""
        var = self._var
        return int(var is not None and var.fresh)

    @_fresh_grad.setter
    def _fresh_grad(self, state):
        var = self._var
        if var is None:
            raise MXNetError("_fresh_grad: this array has no gradient (attach_grad or "
                             "autograd.mark_variables first)")
        var.fresh = bool(state)

    @property
    def handle(self):
        return id(self)

    # -------------------------------------------------------------- conversion
    def asnumpy(self):
        """A numpy copy of the data."""
        self._concretize("asnumpy()")
        return self._data.copy()

    def asscalar(self):
        """The single element as a Python/numpy scalar (MXNet: the array must have size 1)."""
        hook = HOOKS.scalar
        if hook is not None and self._value is not None:   # a jit trace: the type, not the
            t = self.type                                   # data (a pending array has none)
            if t.size != 1:
                raise ValueError(f"The current array is not a scalar: shape {self.shape}")
            if t.dtype in _FLOAT_CODES:
                return hook(self)  # stays symbolic until Python needs a value (scalars.py)
        elif self._data.size != 1:
            raise ValueError(f"The current array is not a scalar: shape {self.shape}")
        self._concretize("asscalar()")
        return self._data.reshape(-1)[0]

    def item(self):
        return self.asscalar().item()

    def tolist(self):
        self._concretize("tolist()")
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        self._concretize("numpy conversion")
        return self._data if dtype is None else self._data.astype(dtype)

    def __dlpack__(self, stream=None, **kwargs):
        """DLPack export of the buffer (no copy): np/torch/jax.from_dlpack(x) share it."""
        self._concretize("DLPack export")
        return self._data.__dlpack__(stream=stream, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __bool__(self):
        if self._data.size != 1:
            if self._data.size == 0:    # MXNet: an empty array is false
                return False
            raise ValueError("The truth value of an NDArray with more than one element is "
                             "ambiguous.")
        self._concretize("bool()")
        return bool(self._data.reshape(-1)[0])

    def __float__(self):
        return float(self.asscalar())

    def __int__(self):
        return int(self.asscalar())

    def __index__(self):
        return int(self.asscalar())

    def __len__(self):
        return self._data.shape[0]

    def __iter__(self):
        for i in range(self._data.shape[0]):
            yield self[i]

    def _concretize(self, why):
        hook = HOOKS.concretize
        if hook is not None and (self._value is not None or HOOKS.compiling):
            hook(self, why)  # compiling: untracked (closure) arrays are guarded too

    def _constant_value(self):
        """The tape value of an untracked array used by a recorded op (a graph input); one
        per buffer, reused while the array keeps it (an input used by many ops and steps)."""
        leaf = self._leaf
        if leaf is None or leaf.data is not self._data:
            leaf = self._leaf = tape.leaf(self._data, None, self)
        return leaf

    def __str__(self):
        shape = "x".join(str(d) for d in self.shape) if self.shape else "scalar"
        return f"\n{self._data}\n<NDArray {shape} @{self.context}>"

    __repr__ = __str__

    def __hash__(self):
        return id(self)

    # -------------------------------------------------------------- autograd
    def attach_grad(self, grad_req="write", stype=None):
        """Allocate a gradient buffer and make this array a variable autograd differentiates
        (`stype`: the storage type its gradient is shown in, 'row_sparse' or 'csr')."""
        if grad_req not in ("write", "add", "null"):
            from .autograd import _check_grad_req
            _check_grad_req(grad_req)
        data = self._data
        stype = _grad_stype(stype, data, "attach_grad")
        self._var = var = tape.Variable(np.zeros(data.shape, data.dtype), grad_req, stype)
        self._value = tape.leaf(data, var, self)

    def detach(self):
        """The same data, cut from the graph. Inside a trace (jit / hybridize) that is a
        stop_gradient op: the compiled code must read the value of every call, not this one."""
        if HOOKS.tracing and self._value is not None:
            return F.stop_gradient(self)
        return wrap(self._data)

    def backward(self, out_grad=None, retain_graph=False, train_mode=True):
        """Compute gradients of this array w.r.t. the marked variables (summed if not scalar)."""
        autograd = sys.modules["tracegrad.autograd"]
        capture = autograd.CAPTURE      # a captured step's head: its hook, without the lists
        step = capture.state.step
        if step is not None and out_grad is None:
            fusion = step.plan.fusion   # (the steady step: held for trainer.step, one frame)
            if fusion is not None and not retain_graph and \
                    fusion.fast_backward(fusion, step, self) is True:
                return
            if capture.backward(step, self, None, retain_graph, train_mode, True):
                return
        autograd.backward([self], None if out_grad is None else [out_grad], retain_graph,
                          train_mode)

    def wait_to_read(self):
        """No-op: tracegrad computes synchronously."""

    def wait_to_write(self):
        """No-op: tracegrad computes synchronously."""

    # -------------------------------------------------------------- copies
    def copy(self):
        # (times True, not 1: a bool array times 1 is an int64 one, so a traced copy changed
        # dtype where the eager one kept it)
        return F.mul(self, True if self.type.dtype == "bool" else 1) \
            if self._value is not None and STATE.recording else wrap(self._data.copy())

    def copyto(self, other):
        """Write into `other` (an NDArray), or a copy on context `other`. Into itself, as
        MXNet: a RuntimeWarning, nothing done, False returned."""
        if isinstance(other, NDArray):
            if other._data is self._data:
                warnings.warn("You are attempting to copy an array to itself", RuntimeWarning,
                              stacklevel=2)
                return False
            other[:] = self
            return other
        if not isinstance(other, Context):
            raise TypeError(f"copyto: expected an NDArray or a Context, got {other!r}")
        return on_context(self.copy(), other)

    def as_in_context(self, ctx):
        """This array on `ctx`: itself if it is there, else a copy placed there (recorded, so
        gradients flow back, as MXNet's cross-device copy)."""
        if not isinstance(ctx, Context):
            raise TypeError(f"expected a Context, got {ctx!r}")
        if ctx == self.context:
            return self
        return on_context(self.copy(), ctx)

    as_nd_ndarray = as_in_context

    def astype(self, dtype, copy=True):
        name = dtype_name(np.dtype(dtype))
        if not copy and np.dtype(self.dtype) == np.dtype(dtype):
            return self
        return F.cast(self, dtype=name)

    # -------------------------------------------------------------- in-place writes
    def _check_writable(self, what, value=None, reads_self=True, quiet=False):
        """Refuse a write MXNet's RecordOp refuses while recording: into an array in a live
        graph (a marked variable, a recorded result not yet freed by a backward), or, when the
        write also reads the target (`x += w`, `x[1:] = w`), of a recorded `value` into an
        untracked target. Inside a trace (jit, hybridize, export: LOCATING.on) a result
        computed there is rebound to the write's result instead; a trace's input cannot be.
        `quiet`: a write MXNet makes without an op (nothing to refuse)."""
        if _BEFORE_WRITE is not None:
            _BEFORE_WRITE()
        if STATE.recording and not quiet:
            v = self._value
            if v is not None and v.data is not None:
                if not LOCATING.on:
                    raise MXNetError(f"{_IN_GRAPH} ({what}: in-place write into {self.type}, "
                                     f"an array of a recorded graph)")
                if v.producer is None:
                    raise MXNetError(f"{what}: in-place write into {self.type}, an input of a "
                                     f"compiled function (a copy, y = x.copy(), can be "
                                     f"written)")
            elif reads_self and isinstance(value, NDArray) and not LOCATING.on:
                v = value._value
                if v is not None and v.data is not None:
                    raise MXNetError(f"{_READS_TARGET} ({what}: in-place write of a recorded "
                                     f"value into {self.type}, which the write reads)")
        if not self._data.flags.writeable:  # a read-only view an op returned (broadcast_to)
            self._data = self._data.copy()
        elif STATE.recording and self._leaf is not None and self._leaf.data is self._data:
            self._data = self._data.copy()  # a recorded op captured this buffer: keep it intact

    def _traced_write(self, value):
        """Whether a write must go through ops: the target or the value is on a live tape
        (recording, or inside a jit / hybridize trace), so the new value is part of the graph."""
        return STATE.recording and (tape.live(self._value) or (
            isinstance(value, NDArray) and tape.live(value._value)))

    def _rebind(self, result, what):
        """Make this array the op result `result` (a graph value), keeping dtype and shape."""
        if result.shape != self.shape:
            raise MXNetError(f"{what}: the result shape {result.shape} does not match the "
                             f"target's shape {self.shape}")
        if result._data.dtype != self._data.dtype:
            result = F.cast(result, dtype=dtype_name(self._data.dtype))
        self._data, self._value, self._leaf = result._data, result._value, None

    def __setitem__(self, key, value):
        key = index_key(key, legacy=type(self) is NDArray)
        if STATE.recording:
            whole = _whole(self._data.shape, key)
            if whole and type(value) is np.ndarray and not LOCATING.on:
                # MXNet copies a numpy array over a whole array without an op: nothing is
                # recorded, so nothing is refused, and a variable stays one
                self._check_writable("__setitem__", quiet=True)
                if type(self) is NDArray:   # (legacy: MXNet's copy by size, _shape_for_bcast)
                    self._data[...] = value.reshape(self._data.shape) \
                        if value.size == self._data.size else value
                else:
                    _assign(self._data, key, value)
                return
            self._check_writable("__setitem__", value, not whole)
        else:
            self._check_writable("__setitem__")
        if self._traced_write(value):
            self._rebind(_scatter(self, key, value), "__setitem__")
            return
        _assign(self._data, key, value)

    def _inplace(self, opname, other):
        self._check_writable(f"in-place {opname}", other)
        if self._traced_write(other):
            self._rebind(getattr(F, _INPLACE_OPS[opname])(self, other), f"in-place {opname}")
            return self
        other = other._data if isinstance(other, NDArray) else other
        getattr(np, opname)(self._data, other, out=self._data, casting="unsafe")
        return self

    def __iadd__(self, other):
        return self._inplace("add", other)

    def __isub__(self, other):
        return self._inplace("subtract", other)

    def __imul__(self, other):
        return self._inplace("multiply", other)

    def __itruediv__(self, other):
        return self._inplace("divide", other)

    def __imod__(self, other):
        return self._inplace("mod", other)

    # -------------------------------------------------------------- operators
    # + - * / straight into apply (no F attribute look-up, no keyword dict): see _operator

    def __mod__(self, o):
        return F.mod(self, o)

    def __rmod__(self, o):
        return F.mod(o, self)

    def __pow__(self, o):
        return F.pow(self, o)

    def __rpow__(self, o):
        return F.pow(o, self)

    def __neg__(self):
        return F.neg(self)

    def __abs__(self):
        return F.abs(self)

    def _compare(self, opname, o):
        # MXNet 1.x comparisons return 0/1 in the operand's dtype, not bool
        return F.cast(getattr(F, opname)(self, o), dtype=dtype_name(np.dtype(self.dtype)))

    def __lt__(self, o):
        return self._compare("lt", o)

    def __le__(self, o):
        return self._compare("le", o)

    def __gt__(self, o):
        return self._compare("gt", o)

    def __ge__(self, o):
        return self._compare("ge", o)

    def __eq__(self, o):
        return self._compare("eq", o)

    def __ne__(self, o):
        return self._compare("ne", o)

    def __getitem__(self, key):
        from .nd import _getitem
        return _getitem(self, key)

    def __getstate__(self):
        """MXNet's pickle state: {'handle': the array's raw bytes} (mxnet_format.record_bytes:
        MXNet's own layout, V3 under np_shape or for a 0-d array), so pickles hold no Python
        objects but plain bytes. A sparse array keeps the default slot state."""
        from .mxnet_format import record_bytes
        from .util import is_np_shape
        if self.stype != "default":
            return None, {k: getattr(self, k) for c in type(self).__mro__
                          for k in getattr(c, "__slots__", ()) if k != "__weakref__"
                          and hasattr(self, k)}
        ctx = self.context
        return {"handle": bytearray(record_bytes(self.asnumpy(), is_np_shape() or self.ndim == 0,
                                                 (ctx.device_typeid, ctx.device_id)))}

    def __setstate__(self, state):
        """The array of MXNet's pickle state ({'handle': raw bytes}, read by mxnet_format: an
        MXNet pickle made on a GPU loads here, on the CPU, as in MXNet without GPUs)."""
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            for k, v in state[1].items():     # (a sparse array's slot state)
                setattr(self, k, v)
            return
        handle = state.get("handle") if isinstance(state, dict) else None
        if not isinstance(handle, (bytes, bytearray, memoryview)):
            raise MXNetError(f"NDArray.__setstate__: expected {{'handle': raw bytes}} (an "
                             f"MXNet NDArray's pickle state), got {type(state).__name__}")
        from .mxnet_format import read_record
        data, (dev_type, dev_id) = read_record(bytes(handle), "the pickled NDArray")
        self._data, self._value, self._var, self._leaf = data, None, None, None
        place = Context.devtype2str.get(dev_type)
        if place in ("cpu", "cpu_pinned", "cpu_shared") and (place, dev_id) != ("cpu", 0) \
                and dev_id >= 0:    # (a GPU's array: the CPU, as MXNet without GPUs)
            on_context(self, Context(place, dev_id))

    @staticmethod
    def _basic_indexing_slice_is_contiguous(slc_key, shape):
        """Whether x[slc_key] (one slice per axis of `shape`) is a view of x's memory, by the
        rule x[key] itself follows (nd._is_contiguous_region); MXNet's tests call it."""
        from .nd import _is_contiguous_region
        if len(slc_key) != len(shape) or not all(isinstance(k, slice) for k in slc_key):
            raise ValueError(f"expected one slice per axis of shape {tuple(shape)}, got "
                             f"{slc_key!r}")
        begin, end, step = zip(*(k.indices(n) for k, n in zip(slc_key, shape))) if shape \
            else ((), (), ())
        return _is_contiguous_region(tuple(shape), begin, end, step)

    _fluent_nd = True   # (mx.np's ndarray: False, its own methods: numpy_api/ndarray.py)


class FluentMethod:
    """`x.name(...)` is the nd function `table[name]` called on x (x.sum(axis=1), x.exp(),
    x.reshape((2, -1)), ...): one class attribute per name (install_fluent_methods), read from
    the table when looked up (amp replaces its entries). NDArray defines no __getattr__ for
    them: with one, CPython specializes none of an array's attribute reads (`x._data`)."""
    __slots__ = ("table", "name")

    def __init__(self, table, name):
        self.table, self.name = table, name

    def __get__(self, obj, cls=None):
        fn = self.table[self.name]
        if obj is None:
            return fn
        if not obj._fluent_nd:      # (mx.np's ndarray: its __getattr__ takes the name)
            raise AttributeError(self.name)
        return types.MethodType(fn, obj)


def install_fluent_methods(table):
    """NDArray's nd methods: a FluentMethod for each name of `table` NDArray's classes do not
    define themselves (those stay)."""
    for name in table:
        if not any(name in c.__dict__ for c in NDArray.__mro__):
            setattr(NDArray, name, FluentMethod(table, name))


# MXNet's messages (src/imperative/imperative.cc, RecordOp), which its users' code matches
_IN_GRAPH = ("Assigning to NDArrays that are already in a computational graph will cause "
             "undefined behavior when evaluating gradients. Please call backward first to "
             "clear the graph or do this out side of a record section. Also note that you "
             "cannot use inplace operations like +=, *=, relu(x, out=x), y[idx]=x, etc "
             "inside a record section.")
_READS_TARGET = ("Inplace operations (+=, -=, x[:]=, etc) are not supported when recording "
                 "with autograd.")
_INPLACE_OPS = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
                "mod": "mod"}


def _operator(opname, reflected):
    """NDArray's arithmetic operator for op `opname`: F.<opname>(self, o) (or (o, self)),
    calling apply directly: the commonest eager ops skip the dispatcher's overhead."""
    opdef = REGISTRY[opname]
    bare = getattr(opdef.impl, "__wrapped__", opdef.impl)
    # a list or tuple operand is refused as MXNet refuses it (numpy would read it as an
    # array eagerly, and a trace could not; NotImplemented would let `x * (1, 2)` try
    # tuple repetition)
    if reflected:
        def method(self, o):
            if type(o) is list or type(o) is tuple:
                _refuse_sequence(opname, o)
            return apply(opdef, (o, self), _EMPTY, bare)
    else:
        def method(self, o):
            if type(o) is list or type(o) is tuple:
                _refuse_sequence(opname, o)
            return apply(opdef, (self, o), _EMPTY, bare)
    return method


def _refuse_sequence(opname, o):
    raise TypeError(f"unsupported operand type for {opname}: NDArray and "
                    f"{type(o).__name__} (make it an array with nd.array)")


for _dunder, _opname, _reflected in (
        ("__add__", "add", False), ("__radd__", "add", True), ("__sub__", "sub", False),
        ("__rsub__", "sub", True), ("__mul__", "mul", False), ("__rmul__", "mul", True),
        ("__truediv__", "div", False), ("__rtruediv__", "div", True)):
    setattr(NDArray, _dunder, _operator(_opname, _reflected))


def _scatter(target, key, value):
    """target with target[key] = value, as graph ops: the flat target and the value's elements
    concatenated, then one `take` picks each position from one or the other (the last write
    wins for repeated positions, as numpy's assignment)."""
    shape, n = target.shape, target.size
    positions = np.arange(n, dtype=np.int64).reshape(shape)[key]
    if not isinstance(value, NDArray):
        value = wrap(np.asarray(value, dtype=target._data.dtype))
    if value._data.dtype != target._data.dtype:
        value = F.cast(value, dtype=dtype_name(target._data.dtype))
    if value.shape != positions.shape:
        vshape = _assigned_shape(value.shape, positions.shape)
        if vshape != value.shape:
            value = F.reshape(value, shape=vshape)
        if vshape != positions.shape:
            value = F.broadcast_to(value, shape=positions.shape)
    index = np.arange(n, dtype=np.int64)
    index[positions.reshape(-1)] = n + np.arange(positions.size, dtype=np.int64)
    both = F.concat(F.reshape(target, shape=(n,)), F.reshape(value, shape=(positions.size,)),
                    axis=0)
    return F.reshape(F.take(both, wrap(index), axis=0), shape=shape)


def _whole(shape, key) -> bool:
    """Whether basic index `key` selects all of an array of `shape` in order: MXNet then
    copies the value over the array (an op that does not read the target) where any other
    key (advanced, partial, reversed) runs an op that reads it (_slice_assign, scatter)."""
    if type(key) is not tuple:
        key = (key,)
    dims = list(shape)
    for i, k in enumerate(key):
        if k is None:
            continue
        if k is Ellipsis:
            rest = sum(1 for j in key[i + 1:] if j is not None and j is not Ellipsis)
            del dims[:max(len(dims) - rest, 0)]
            continue
        if not dims:
            return False
        n = dims.pop(0)
        if type(k) is slice:
            start, stop, step = k.indices(n)
            if step < 0 or len(range(start, stop, step)) != n:
                return False
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if n != 1 or not -1 <= k < 1:
                return False
        else:
            return False
    return True


def _assigned_shape(value, dest):
    """The shape a value of shape `value` takes to be written into `dest` (numpy's
    assignment rule: leading axes of length 1 dropped, then broadcast; an empty value into an
    empty place, as MXNet allows), or ValueError: a value of the right size but another shape
    is not reshaped."""
    value = tuple(value)
    while len(value) > len(dest) and value[0] == 1:
        value = value[1:]
    if math.prod(value) == 0 and math.prod(dest) == 0:
        return tuple(dest)
    try:
        if np.broadcast_shapes(value, dest) == tuple(dest):
            return value
    except ValueError:
        pass
    raise ValueError(f"__setitem__: cannot assign a value of shape {value} to a selection of "
                     f"shape {tuple(dest)}")


def _assign(data, key, value):
    """data[key] = value in place, by _assigned_shape's rule."""
    if isinstance(value, NDArray):
        value = value._data
    elif isinstance(value, (list, tuple)):     # (MXNet makes an array of the target's dtype)
        value = np.asarray(value, dtype=data.dtype)
    if isinstance(value, np.ndarray) and value.ndim and not _has_mask(key):
        dest = np.shape(data[key])   # (a mask's assignment: numpy's own rules, as mx.np's)
        shape = _assigned_shape(value.shape, dest)
        if math.prod(shape) == 0:
            return
        value = value.reshape(shape)
    data[key] = value


def _has_mask(key):
    return any(type(k) is np.ndarray and k.dtype == np.bool_
               for k in (key if type(key) is tuple else (key,)))


def _raw(x, legacy):
    """An index item as numpy data: an array's values read (a trace guards on them), a float
    one as integers (MXNet's default dtype is float32), a list or range as an array (an empty
    one of integers, as numpy reads it). With `legacy` (nd) a numpy or list one of floats is
    read as integers too, and a boolean one is refused, as nd's getitem refuses it (MXNet 1.x
    reads it as positions 0 and 1); otherwise (mx.np) those are numpy's to take or refuse."""
    if isinstance(x, NDArray):
        x._concretize("indexing with an array")
        x = x._data
    elif isinstance(x, (list, range)):
        x = np.asarray(x)
        if x.size == 0:
            x = x.astype(np.int64)
        if not legacy:
            return x
    elif type(x) is not np.ndarray or not legacy:
        return x
    if x.dtype == np.bool_ and legacy:
        raise MXNetError("__setitem__: indexing with a boolean mask is not supported (MXNet "
                         "1.x reads an index array as positions); use nd.where")
    return x.astype(np.int64) if x.dtype.kind == "f" else x


def index_key(key, legacy=True):
    """The key of x[key] (= value) with its arrays, lists and ranges as numpy data (_raw)."""
    if isinstance(key, tuple):
        return tuple(_raw(k, legacy) for k in key)
    return _raw(key, legacy)
