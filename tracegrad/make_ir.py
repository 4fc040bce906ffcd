"""Tracing: run a Python function on NDArrays with recording forced on, and lift the recorded
graph into a clean ir.Function. `make_ir(fn)(*args)` is the user-facing form; jit and
hybridize build on `trace`."""
import inspect
import re

from .array import HOOKS, NDArray, wrap
from .autograd import _scope
from .base import LOCATING
from .ir.autodiff import copy_ops
from .ir.function import Builder
from .runtime import tape


class Trace:
    """A traced function: `fn` (ir.Function) whose parameters are the array arguments, then the
    captured arrays (`captured`: tape leaves holding their data and, for variables, gradients)."""
    __slots__ = ("function", "captured", "n_inputs", "outputs", "single", "updates")

    def __init__(self, function, captured, n_inputs, outputs, single, updates):
        self.function, self.captured = function, captured
        self.n_inputs, self.outputs, self.single = n_inputs, outputs, single
        self.updates = updates  # arrays whose new values follow the outputs, in order


def _names(fn, n):
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


def trace(fn, args, name=None, training=None) -> Trace:
    """Run fn(*args) recording every op that depends on an array argument or variable.

    State updates (array.assign_state) are not performed: their new values become extra
    outputs after fn's own, and Trace.updates names the arrays they belong to."""
    names = _names(fn, len(args))
    traced_args, inputs = [], []
    for a, nm in zip(args, names):
        if isinstance(a, NDArray):
            t = wrap(a._data)
            t._value = tape.leaf(a._data)
            t._value.name_hint = nm
            inputs.append(t._value)
            a = t
        traced_args.append(a)
    updates = []
    old_assign, HOOKS.assign = HOOKS.assign, lambda target, value: updates.append(
        (target, value))
    locating, LOCATING.on = LOCATING.on, True
    owner = getattr(fn, "__self__", None)   # a Gluon block's forward: its path roots here
    rooted = hasattr(owner, "_children") and not LOCATING.blocks
    if rooted:
        LOCATING.blocks.append(owner)
    try:
        with _scope(True, training):
            outs = fn(*traced_args)
    finally:
        HOOKS.assign = old_assign
        LOCATING.on = locating
        if rooted:
            LOCATING.blocks.pop()
    single = isinstance(outs, NDArray)
    outs = [outs] if single else list(outs)
    heads = [o._value if o._value is not None else tape.leaf(o._data)
             for o in outs + [v for _, v in updates]]
    leaves, ops = tape.collect(heads)
    b = Builder(name=_identifier(name or getattr(fn, "__name__", "f")))
    env = {v: b.param(v.type, v.name_hint) for v in inputs}
    captured = [v for v in leaves if v not in env]
    for i, v in enumerate(captured):
        env[v] = b.param(v.type, v.name_hint or f"c{i}")
    copy_ops(b, ops, env)
    return Trace(b.ret(*[env[h] for h in heads]), captured, len(inputs), outs, single,
                 [t for t, _ in updates])


def _identifier(name):
    """A function name the IR text (and LLVM symbol names) can carry: '<lambda>' -> 'lambda'."""
    return re.sub(r"\W+", "_", name).strip("_") or "f"


def make_ir(fn, name=None):
    """`make_ir(fn)(*args)` returns the ir.Function of fn traced on those arguments."""
    def traced(*args):
        return trace(fn, args, name=name).function
    return traced
