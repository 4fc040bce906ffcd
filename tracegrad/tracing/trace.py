"""Tracing: run a Python function on NDArrays with recording forced on, and lift the recorded
graph into a clean ir.Function. `make_ir(fn)(*args)` is the user-facing form; jit and
hybridize build on `trace`."""
import inspect
import re
import warnings

from ..array import HOOKS, NDArray, lazy_values
from ..autograd import _scope
from ..base import LOCATING, tracing_somewhere, user_location
from ..ir.autodiff import copy_ops
from ..ir.function import Builder
from ..numpy_api.ndarray import ndarray as _NpArray
from ..runtime import tape
from . import lazy_values as _lazy


class Trace:
    """A traced function: `fn` (ir.Function) whose parameters are the array arguments, then the
    captured arrays (`captured`: tape leaves holding their data and, for variables, gradients)."""
    __slots__ = ("function", "captured", "n_inputs", "outputs", "single", "updates", "keep",
                 "guards", "closure_args")

    def __init__(self, function, captured, n_inputs, outputs, single, updates):
        self.function, self.captured = function, captured
        self.n_inputs, self.outputs, self.single = n_inputs, outputs, single
        self.updates = updates  # arrays whose new values follow the outputs, in order
        self.keep = []          # objects the traced ops name and need alive (custom Functions)
        self.guards = []        # (why, where) of concrete values read (when no caller hook)
        self.closure_args = ()  # positions of arguments fn also read from elsewhere


def _names(fn, n):
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


def trace(fn, args, name=None, training=None, names=None, extra_heads=None,
          root=None) -> Trace:
    """Run fn(*args) recording every op that depends on an array argument or variable.

    State updates (array.assign_state) are not performed: their new values become extra
    outputs after fn's own, and Trace.updates names the arrays they belong to. `extra_heads`
    (a list the caller fills while fn runs, e.g. guard values) become the last outputs. `root`
    is the Gluon block whose forward fn runs (default fn's own `__self__`): op locations name
    block paths from it."""
    names = names or _names(fn, len(args))
    # fn gets a stand-in per array argument (the argument's buffer, a fresh leaf: the input),
    # so one array passed twice is two inputs. The argument itself gets another fresh leaf
    # while fn runs: fn reading it otherwise than through its parameter (from its closure, a
    # block attribute) is then seen (`closure_args`). Such a read is taken as the input (so
    # the traced graph is what fn computed), but the trace holds only while that argument IS
    # that array: a caller compiling for every array of the signature must not use it.
    start = tape.mark()
    inputs, saved, traced_args, seen_as = [], [], list(args), {}
    for i, (a, nm) in enumerate(zip(args, names)):
        if isinstance(a, NDArray):
            s = _stand_in(a)
            s._value = tape.leaf(s._data)
            s._value.name_hint = nm
            inputs.append(s._value)
            traced_args[i] = s
            saved.append((a, a._value))
            a._value = tape.leaf(a._data)
            seen_as[a._value] = (i, s._value)
    originals = {id(s): a for s, a in zip(traced_args, args) if s is not a}
    updates = []
    old_assign, HOOKS.assign = HOOKS.assign, lambda target, value: updates.append(
        (target, value))
    counted = tracing_somewhere()
    counted.__enter__()     # (left in the finally below, with the flags)
    old_tracing, HOOKS.tracing = HOOKS.tracing, True
    guards, old_concretize = [], HOOKS.concretize
    if old_concretize is None:  # nobody compiles per outcome: note where the trace was fixed
        HOOKS.concretize = lambda arr, why: guards.append((why, user_location()))
    locating, LOCATING.on = LOCATING.on, True
    owner = root if root is not None else getattr(fn, "__self__", None)
    rooted = hasattr(owner, "_children") and not LOCATING.blocks
    if rooted:
        LOCATING.blocks.append(owner)
    since = _lazy.mark()
    try:
        with _scope(True, training), lazy_values():
            outs = fn(*traced_args)
        single = isinstance(outs, NDArray)
        outs = [outs] if single else list(outs)
        heads = [o._value if o._value is not None else tape.leaf(o._data)
                 for o in outs + [v for _, v in updates]] + list(extra_heads or ())
        _lazy.settle(since, (outs, updates))
        since = None
    finally:
        if since is not None:   # (fn raised: its pending arrays are forgotten, not computed)
            _lazy.settle(since, None)
        HOOKS.assign, HOOKS.tracing, HOOKS.concretize = old_assign, old_tracing, old_concretize
        LOCATING.on = locating
        counted.__exit__()
        if rooted:
            LOCATING.blocks.pop()
        for a, v in reversed(saved):
            a._value = v
    leaves, ops = tape.collect(heads, since=start)
    b = Builder(name=_identifier(name or getattr(fn, "__name__", "f")))
    env = {v: b.param(v.type, v.name_hint) for v in inputs}
    closure_args = set()
    for v in leaves:
        if v in seen_as:    # an argument read as itself: its input
            i, input_leaf = seen_as[v]
            env[v] = env[input_leaf]
            closure_args.add(i)
    captured = [v for v in leaves if v not in env]
    for i, v in enumerate(captured):
        env[v] = b.param(v.type, v.name_hint or f"c{i}")
    copy_ops(b, ops, env)
    # (a state update of a stand-in is its argument's)
    tr = Trace(b.ret(*[env[h] for h in heads]), captured, len(inputs), outs, single,
               [originals.get(id(t), t) for t, _ in updates])
    tr.closure_args = tuple(sorted(closure_args))
    tr.keep = [op.results[0].keep for op in ops if op.results and op.results[0].keep is not None]
    tr.guards = guards
    del env                 # (the graph's values are keys there: release reads refcounts)
    tape.release(ops, heads)
    return tr


def _stand_in(a):
    """A new array of a's kind (nd or mx.np) on a's buffer, variable and context."""
    s = NDArray.__new__(_NpArray if isinstance(a, _NpArray) else NDArray)
    s._data, s._value, s._var, s._leaf = a._data, None, a._var, None
    ctx = getattr(a, "_ctx", None)
    if ctx is not None:
        s._ctx = ctx
    return s


def _identifier(name):
    """A function name the IR text (and LLVM symbol names) can carry: '<lambda>' -> 'lambda'."""
    return re.sub(r"\W+", "_", name).strip("_") or "f"


def make_ir(fn, name=None):
    """`make_ir(fn)(*args)` returns the ir.Function of fn traced on those arguments. Python
    control flow on array values is fixed to the branch these arguments take (a warning names
    the line); tracegrad.jit compiles every branch instead."""
    def traced(*args):
        tr = trace(fn, args, name=name)
        if tr.guards:
            why, where = tr.guards[0]
            warnings.warn(f"make_ir: {fn.__name__ if hasattr(fn, '__name__') else fn} reads a "
                          f"concrete value ({why}) at {where}: this IR holds only the branch "
                          f"taken for these arguments", stacklevel=2)
        return tr.function
    return traced
