"""Compile an `ir.Function` to native code: `compile_function(fn) -> CompiledModule`.

Pipeline (one named stage each): fusion groups (ir/passes/fuse) -> plan (views, schedule,
arena: entry.make_plan) -> LLVM IR (entry.emit_module) -> O3 + object code (target) ->
MCJIT load. Objects are cached in memory and on disk by a hash of the printed IR (cache.py),
so a second process skips LLVM entirely. Calling compiled code is runtime.native's job:

    from tracegrad.runtime.native import NativeFunction
    f = NativeFunction(fn)          # or NativeFunction(compile_function(fn))
    outs = f(*arrays)               # one call into tg_entry (a builtin: builtin_entry.py)

Knows nothing of NDArray or Gluon; imports ir only.
"""
import threading

import numpy as np

from ..ir.gcpause import gc_paused
from . import cache, control, donation, entry, object_worker, philox_fill, shared_steps
from . import step_timer
from . import fastmath as fastmath_flags
from .cache import COUNTERS
from .target import JitObject, object_code

__all__ = ["compile_function", "compile_function_soon", "is_cached", "CompiledModule",
           "COUNTERS"]

philox_fill.install()   # eager random draws of 64+ elements fill their words natively


class CompiledModule:
    """A loaded native graph: `entry_address` of tg_entry, `arena_bytes` of scratch it needs,
    `input_types` / `output_specs` for guards and allocation. `llvm_ir` is the unoptimised
    module text as if compiled alone (regenerated on demand after a disk-cache hit, or when
    steps were shared with other modules: shared_steps.py); `optimized_ir` and `assembly()`
    exist for inspection (made on demand)."""

    def __init__(self, fn, plan, jit: JitObject, key: str, llvm_ir=None):
        self.fn, self.plan, self.jit, self.key = fn, plan, jit, key
        self._llvm_ir, self._optimized_ir = llvm_ir, None
        self.entry_address = jit.address(entry.ENTRY)
        self.arena_bytes = plan.arena_bytes
        self.input_types = [p.type for p in fn.params]
        self.input_names = [p.name_hint or f"arg{i}" for i, p in enumerate(fn.params)]
        self.output_specs = entry.output_specs(plan)
        self.donate = dict(plan.donate)   # output -> parameter, written in place

    @property
    def llvm_ir(self) -> str:
        if self._llvm_ir is None:
            self._llvm_ir = entry.emit_module(self.plan)
        return self._llvm_ir

    @property
    def optimized_ir(self) -> str:
        if self._optimized_ir is None:
            from .target import optimize, parse
            self._optimized_ir = str(optimize(parse(self.llvm_ir)))
        return self._optimized_ir

    def assembly(self) -> str:
        from .target import optimize, parse, target_machine
        return target_machine().emit_assembly(optimize(parse(self.llvm_ir)))

    def memory_plan(self) -> dict:
        """What one call needs: `arena_bytes` of scratch (allocated once, reused by every
        call), `output_bytes` of fresh output arrays (donated outputs need none), `peak_bytes`
        (their sum), how many intermediates live in the arena and how many of them are
        computed in place; `donated`: {output: (parameter name, 'in place' | 'copied' |
        'identity' | 'literal')} (codegen/donation.py)."""
        out = sum(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                  for i, (shape, dtype, _) in enumerate(self.output_specs)
                  if i not in self.donate)
        donated = {k: (self.input_names[p], how)
                   for k, (p, how) in donation.describe(self.plan).items()}
        return {"arena_bytes": self.arena_bytes, "output_bytes": out,
                "peak_bytes": self.arena_bytes + out,
                "intermediates": len(self.plan.offsets), "in_place": self.plan.in_place,
                "donated": donated}

    def __repr__(self):
        return (f"<CompiledModule @{self.fn.name}: {len(self.plan.steps)} steps, "
                f"arena {self.arena_bytes} B>")


def compile_function(fn, use_cache=True, fastmath=(), donate=None) -> CompiledModule:
    """Compile `fn` (memory cache, then disk cache, then LLVM). `fastmath`: LLVM fast-math
    flags to allow (codegen/fastmath.py; default strict IEEE). `donate`: {output index:
    parameter index}, outputs written into their parameter's array (codegen/donation.py).
    The garbage collector is paused meanwhile (ir/gcpause.py). A compile of this very `fn`
    that compile_function_soon started is waited for instead."""
    if use_cache and _SOON:
        module = _wait_soon(fn, fastmath, donate)
        if module is not None:
            return module
    with gc_paused():
        return _compile_function(fn, use_cache, fastmath, donate)


# compiles started ahead: (id(fn), flags, donate) -> [fn, thread, module or None]
_SOON: dict = {}
_SOON_LOCK = threading.Lock()
SOON_MIN_OPS = 300     # smaller graphs compile in well under a child process's start-up


def compile_function_soon(fn, fastmath=(), donate=None) -> bool:
    """Start compiling `fn` now in a thread whose LLVM work runs in a child process
    (object_worker.py: llvmlite lets one process compile one module at a time), so that it
    proceeds on another core while this thread compiles something else; compile_function(fn)
    with the same options then waits for it. Only for large graphs on a machine with two
    cores or more; returns whether it started. (A hybridized net's first training step
    compiles its adjoint so while it compiles its forward.)"""
    if len(fn.ops) < SOON_MIN_OPS or not object_worker.available():
        return False
    key = _soon_key(fn, fastmath, donate)
    slot = [fn, None, None]

    def run():
        try:
            with gc_paused():
                slot[2] = _compile_function(fn, True, fastmath, donate, elsewhere=True)
        except BaseException:   # noqa: BLE001 (compile_function compiles it again and raises)
            slot[2] = None
    with _SOON_LOCK:
        if key in _SOON:
            return True
        while len(_SOON) >= 8:          # (asked for and never collected: forget the oldest)
            _SOON.pop(next(iter(_SOON)))
        slot[1] = threading.Thread(target=run, name="tg-compile-soon", daemon=True)
        _SOON[key] = slot
    slot[1].start()
    return True


def _soon_key(fn, fastmath, donate):
    return (id(fn), fastmath_flags.normalize(fastmath),
            None if donate is None else tuple(sorted(dict(donate).items())))


def _wait_soon(fn, fastmath, donate):
    with _SOON_LOCK:
        slot = _SOON.pop(_soon_key(fn, fastmath, donate), None)
    if slot is None or slot[0] is not fn:
        return None
    slot[1].join()
    return slot[2]


def is_cached(fn, fastmath=(), donate=None) -> bool:
    """Whether compile_function(fn, ...) would find its object in the memory or disk cache
    (LLVM not run): a caller may compile a large graph in the background only when not."""
    with gc_paused():
        key, _ = _key(fn, fastmath_flags.normalize(fastmath), donate)
        if key in cache.MEMORY:
            return True
        payload = cache.load(key)
        return payload is not None and shared_steps.loadable(payload, cache.load)


def _key(fn, flags, donate):
    """(cache key, entry plan) of fn."""
    text = control.cache_text(fn)  # print_function(fn), and the regions of loops and conds
    plan = entry.make_plan(fn, flags, donate)
    # the arena layout is baked into the object code: key on it too, so that a plan that ever
    # came out differently can never run code built for another layout (and the donations)
    layout = (f"{plan.arena_bytes}:{list(plan.offsets.values())}{step_timer.cache_tag()}"
              f"{donation.cache_tag(plan)}")
    return cache.cache_key(text, ",".join(sorted(flags)) + "|" + layout), plan


def _compile_function(fn, use_cache, fastmath, donate, elsewhere=False) -> CompiledModule:
    flags = fastmath_flags.normalize(fastmath)
    fastmath_flags.warn_nan_tests(fn, flags)
    key, plan = _key(fn, flags, donate)
    if use_cache:
        with cache.MEMORY_LOCK:  # (a capture plan may compile in another thread: background.py)
            module = cache.MEMORY.pop(key, None)
            if module is not None:
                cache.MEMORY[key] = module      # most recently used last
        if module is not None:
            COUNTERS["memory_cache_hits"] += 1
            COUNTERS["planned_peak_bytes"] = module.memory_plan()["peak_bytes"]
            return module
    payload = cache.load(key) if use_cache else None
    jit = None if payload is None else shared_steps.load(key, payload, cache.load, JitObject)
    llvm_ir = None
    if jit is not None:
        COUNTERS["disk_cache_hits"] += 1
    else:
        link = shared_steps.Link(key, use_cache and cache.disk_enabled())
        llvm_ir = entry.emit_module(plan, link)
        obj = (object_worker.object_code_elsewhere(llvm_ir) if elsewhere else None) or \
            object_code(llvm_ir)
        COUNTERS["compiles"] += 1
        jit = JitObject(obj)
        link.finish(jit, key)
        if use_cache:
            cache.store(key, link.pack(obj))
        if link.imports or link.exports:   # (inspection shows the module as if alone)
            llvm_ir = None
    module = CompiledModule(fn, plan, jit, key, llvm_ir)
    if use_cache:
        with cache.MEMORY_LOCK:
            cache.MEMORY[key] = module
            while len(cache.MEMORY) > cache.MEMORY_LIMIT:  # callers keep what they still use
                cache.MEMORY.pop(next(iter(cache.MEMORY)))
    COUNTERS["planned_peak_bytes"] = module.memory_plan()["peak_bytes"]
    return module
