"""Graph splitting: a Function with ops that have no native lowering (a custom Function's
Python code) runs as native segments joined by those ops, which run through OpDef.impl.

Each maximal run of lowerable ops becomes its own Function (its inputs are the values it reads
from outside, its outputs the values read later), compiled once; a call makes one native call
per segment and one Python call per split op.
"""
import functools
import warnings

import numpy as np

from ..ir.autodiff import copy_ops
from ..ir.function import Builder, Function, Literal, Value
from .donation import Donating
from .interpret import Program


class _TypedCall:
    """NativeFunction.try_call for a callable that computes (partly) in Python: None when an
    input is not an ndarray of its parameter's exact shape and dtype (nothing runs), else
    the call's outputs. (The fast paths that hold a compiled callable call it this way.)"""

    def try_call(self, args):
        params = self.fn.params
        if len(args) != len(params):
            return None
        for a, p in zip(args, params):
            t = p.type
            if type(a) is not np.ndarray or a.shape != t.shape or a.dtype != t.np_dtype:
                return None
        return self(*args)


class SegmentedFunction(_TypedCall):
    """Callable like a NativeFunction: `f(*arrays) -> list of arrays`."""

    def __init__(self, fn, compile_segment, is_native, on_python_op=None):
        self.fn, self.on_python_op = fn, on_python_op
        groups = []
        for op in fn.ops:
            native = is_native(op)
            if native and groups and groups[-1][0]:
                groups[-1][1].append(op)
            else:
                groups.append((native, [op]))
        last_use = {}
        for gi, (_, ops) in enumerate(groups):
            for op in ops:
                for o in op.operands:
                    if isinstance(o, Value):
                        last_use[o] = gi
        for o in fn.outputs:
            if isinstance(o, Value):
                last_use[o] = len(groups)
        self.steps = [self._segment(gi, ops, last_use, compile_segment) if native
                      else (False, ops[0], None, None) for gi, (native, ops) in enumerate(groups)]

    @property
    def llvm_ir(self) -> str:
        """The native segments' LLVM IR (made on demand: inspection only)."""
        return "\n".join(s[1].llvm_ir for s in self.steps if s[0] and hasattr(s[1], "llvm_ir"))

    def _segment(self, gi, ops, last_use, compile_segment):
        defined = {r for op in ops for r in op.results}
        inputs = []
        for op in ops:
            for o in op.operands:
                if isinstance(o, Value) and o not in defined and o not in inputs:
                    inputs.append(o)
        outputs = [r for op in ops for r in op.results if last_use.get(r, -1) > gi]
        b = Builder(name=f"{self.fn.name}_seg{gi}")
        env = {v: b.param(v.type, v.name_hint) for v in inputs}
        copy_ops(b, ops, env)
        sub = b.ret(*[env[r] for r in outputs])
        return (True, compile_segment(sub), inputs, outputs)

    def __call__(self, *arrays):
        env = dict(zip(self.fn.params, arrays))
        for native, what, inputs, outputs in self.steps:
            if native:
                for v, a in zip(outputs, what(*[env[v] for v in inputs])):
                    env[v] = a
                continue
            op = what
            if self.on_python_op is not None:
                self.on_python_op(op)
            vals = [o.array() if isinstance(o, Literal) else env[o] for o in op.operands]
            out = op.opdef.impl(*vals, **op.attrs)
            for r, a in zip(op.results, out if len(op.results) > 1 else (out,)):
                env[r] = a
        return [o.array() if isinstance(o, Literal) else env[o] for o in self.fn.outputs]


def native_op(op) -> bool:
    """Whether codegen can lower `op` (asks codegen's own check on a one-op function)."""
    return not_native_reason(op) is None


def not_native_reason(op):
    """Why codegen cannot lower `op` (codegen's own words: no lowering, or a dtype such as
    float16 it has none for), or None when it can."""
    from ..codegen.entry import check_lowerable
    try:
        check_lowerable(Function("probe", [], [op], []))
    except NotImplementedError as e:
        return str(e)
    return None


def python_ops(run):
    """The ops a compiled callable runs in Python (a SegmentedFunction's split ops; every op
    of an interpreted one), as (op name, reason) pairs, each once."""
    if isinstance(run, Donating):
        run = run.inner
    if isinstance(run, SegmentedFunction):
        ops = [what for native, what, _, _ in run.steps if not native]
    elif isinstance(run, Interpreted):
        ops = list(run.program.fn.ops)
    else:
        return []
    seen = {}
    for op in ops:
        reason = not_native_reason(op) or "interpreted"
        seen.setdefault((op.opdef.name, reason), None)
    return list(seen)


def compile_callable(fn, on_python_op=None, fastmath=(), donate=None):
    """Native code for `fn`: one NativeFunction, or native segments around the ops that have
    no native lowering (each call of those reported to `on_python_op`). Should codegen turn a
    graph down after all (NotImplementedError), the interpreter runs it, with a warning.
    `donate` {output: parameter} (NativeFunction): the segmented and interpreted forms honour
    it by copying each donated output into its input after the call (runtime/donation.py
    Donating: the same checks and the same results, not in place)."""
    from .native import NativeFunction
    try:
        if _one_module(fn):
            return NativeFunction(fn, fastmath=fastmath, donate=donate)
        run = SegmentedFunction(fn, functools.partial(NativeFunction, fastmath=fastmath),
                                native_op, on_python_op=on_python_op)
    except NotImplementedError as e:
        warnings.warn(f"tracegrad: @{fn.name} runs in the interpreter: {e}", stacklevel=2)
        run = Interpreted(fn, on_python_op)
    return Donating(run, fn, donate) if donate else run


def compile_callable_soon(fn, fastmath=()):
    """Start compiling what compile_callable(fn, fastmath=fastmath) will compile, when that
    is one native module (codegen.compile_function_soon: in another process, meanwhile)."""
    from ..codegen import compile_function_soon
    if _one_module(fn):
        compile_function_soon(fn, fastmath=fastmath)


def _one_module(fn) -> bool:
    """Whether `fn` compiles to one native module: every op native, and no narrow parameter
    or output that no op touches (the segments pass such a one through)."""
    from ..codegen.entry import narrow_boundary
    return all(native_op(op) for op in fn.ops) and narrow_boundary(fn) is None


class Interpreted(_TypedCall):
    """The interpreter behind the native-callable interface (`f(*arrays) -> list`)."""
    llvm_ir = ""

    def __init__(self, fn, on_python_op=None):
        self.program, self.on_python_op = Program(fn), on_python_op
        self.fn = fn

    def __call__(self, *arrays):
        if self.on_python_op is not None:
            self.on_python_op(None)
        return self.program(arrays)
