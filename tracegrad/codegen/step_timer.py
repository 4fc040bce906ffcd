"""Opt-in time per step of a compiled graph: where a native call's time goes.

With TRACEGRAD_STEP_TIMES=1 in the environment (read once, at import), `tg_entry` reads the
CPU's cycle counter (llvm.readcyclecounter: rdtsc on x86) before and after each step call and
adds the difference to that step's slot of an exported global `tg_step_cycles` (one i64 per
step, then one for the number of calls). `step_times(module)` turns the slots into seconds per
call, with each step's kind and ops, so a slow elementwise pass or a BLAS call that takes
longer than numpy's is seen directly. Off by default, and then nothing is emitted: the
generated code and the cache keys are exactly what they are without this module. The flag is
part of the cache key, so a timed object is never loaded by an untimed process or back.
"""
import os
import time

from llvmlite import ir

ENABLED = os.environ.get("TRACEGRAD_STEP_TIMES", "") not in ("", "0")
GLOBAL = "tg_step_cycles"
I64 = ir.IntType(64)


def cache_tag() -> str:
    """What the cache key adds for this flag ('' when off: keys are unchanged)."""
    return "|step-times" if ENABLED else ""


def counters(module, nsteps):
    """The module's exported cycle counters (nsteps slots and a call count), or None when off."""
    if not ENABLED:
        return None
    ty = ir.ArrayType(I64, nsteps + 1)
    g = ir.GlobalVariable(module, ty, GLOBAL)
    g.initializer = ir.Constant(ty, None)
    return g


def read_clock(b):
    fn = b.module.globals.get("llvm.readcyclecounter")
    if fn is None:
        fn = ir.Function(b.module, ir.FunctionType(I64, []), "llvm.readcyclecounter")
    return b.call(fn, [])


def add(b, table, slot, value):
    ptr = b.gep(table, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), slot)])
    b.store(b.add(b.load(ptr), value), ptr)


_HZ = []


def cycles_per_second() -> float:
    """The cycle counter's rate, measured once against time.perf_counter (~20 ms)."""
    if not _HZ:
        import ctypes

        from .target import JitObject, compile_object
        m = ir.Module(name="tg_clock")
        fn = ir.Function(m, ir.FunctionType(I64, []), "tg_clock")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(read_clock(b))
        jit = JitObject(compile_object(str(m))[1])
        clock = ctypes.CFUNCTYPE(ctypes.c_int64)(jit.address("tg_clock"))
        c0, t0 = clock(), time.perf_counter()
        while time.perf_counter() - t0 < 0.02:
            pass
        _HZ.append((clock() - c0) / (time.perf_counter() - t0))
    return _HZ[0]


def step_times(compiled) -> list:
    """[(step index, kind, op names, seconds per call)] of a CompiledModule built with
    TRACEGRAD_STEP_TIMES=1, averaged over the calls so far; `reset(compiled)` starts over."""
    import ctypes
    if not ENABLED:
        raise RuntimeError("step times are recorded only when TRACEGRAD_STEP_TIMES=1 is set "
                           "before tracegrad is imported")
    steps = compiled.plan.steps
    table = (ctypes.c_int64 * (len(steps) + 1)).from_address(compiled.jit.global_address(GLOBAL))
    calls = max(table[len(steps)], 1)
    hz = cycles_per_second()
    return [(t, step.kind, [op.name for op in step.ops] or ["copy"], table[t] / calls / hz)
            for t, (step, _) in enumerate(steps)]


def reset(compiled):
    import ctypes
    n = len(compiled.plan.steps) + 1
    ctypes.memset(compiled.jit.global_address(GLOBAL), 0, 8 * n)
