"""One native entry for a chain of graphs run one after another, with a check between them:
the guard segments of one compiled control-flow path (tracing/guards.py) and its last segment
become ONE call instead of one per segment.

    i32 tg_entry(ptr args_tuple, ptr arena, ptr ctx)

The tuple holds the chain's inputs, then every segment's outputs (fresh arrays the caller
allocates). Segment k reads its parameters from chain inputs or from earlier segments' outputs
(`bindings`), runs exactly the steps its own plan (entry.make_plan) schedules, and then, when
it computes a guard, compares the guard's value with the outcome the path was compiled for.
A different outcome returns CHECK_FAILED + k at once: no step of a later segment (the code of
a branch whose guard did not match) runs. The caller reads segment k's guard value from its
output and continues from there. Inputs are guarded as in entry.py (code i+1); segments run
one after the other, so the arena is the largest of theirs. A step that finds an index out
of range ends the call as in entry.py (INDEX_ERROR - site, sites numbered over all segments).
"""
import numpy as np
from llvmlite import ir

from ..ir.gcpause import gc_paused
from . import cache, index_errors, mathfuns, threads
from . import entry as E
from .cache import COUNTERS
from .loops import i64
from .target import JitObject, object_code
from .views import PTR

CHECK_FAILED = 1 << 20   # + segment index: that segment's guard saw another outcome


class Check:
    """After a segment: its output `out` (a guard value) must have outcome `expected`: a truth
    value (kind 'bool': element 0 non-zero) or these exact bytes (kind 'value')."""
    __slots__ = ("out", "kind", "expected")

    def __init__(self, out, kind, expected):
        self.out, self.kind, self.expected = out, kind, expected


def supported(plan, check) -> bool:
    """Whether a segment planned as `plan` can be chained (no literal outputs, a checkable
    guard value)."""
    if any(s is None for s in plan.out_slots):
        return False
    if check is None:
        return True
    t = plan.fn.outputs[check.out].type
    if check.kind == "bool":
        return t.size >= 1
    return t.size * t.np_dtype.itemsize == len(check.expected) and t.size <= 16


class ChainModule:
    """A loaded chain: `entry_address`, `arena_bytes`, the chain's input types and every
    segment's output specs (shape, numpy dtype), in tuple order."""

    def __init__(self, plans, n_inputs, input_types, jit, key, llvm_ir):
        self.plans, self.jit, self.key, self.llvm_ir = plans, jit, key, llvm_ir
        self.entry_address = jit.address(E.ENTRY)
        self.arena_bytes = max([p.arena_bytes for p in plans] + [0])
        self.n_inputs, self.input_types = n_inputs, input_types
        self.output_specs = [(o.type.shape, np.dtype(o.type.np_dtype))
                             for p in plans for o in p.fn.outputs]


def compile_chain(fns, bindings, checks, input_types, fastmath=frozenset()):
    """fns: the segments' ir.Functions in order; bindings[k][i]: the tuple index segment k's
    parameter i reads (chain input, or an earlier segment's output); checks[k]: a Check or
    None; input_types: the chain inputs' TensorTypes. Returns a ChainModule, or None when a
    segment cannot be chained."""
    plans = [E.make_plan(fn, frozenset(fastmath)) for fn in fns]
    if not all(supported(p, c) for p, c in zip(plans, checks)):
        return None
    from ..ir.printer import print_function
    text = "\n".join(print_function(fn) for fn in fns)
    layout = ";".join(f"{p.arena_bytes}:{list(p.offsets.values())}" for p in plans)
    shape = repr([list(b) for b in bindings]) + repr(
        [None if c is None else (c.out, c.kind, c.expected) for c in checks]) + repr(
        [str(t) for t in input_types])
    key = cache.cache_key("chain\n" + text + shape, ",".join(sorted(fastmath)) + "|" + layout)
    hit = cache.MEMORY.get(key)
    if hit is not None:
        COUNTERS["memory_cache_hits"] += 1
        return hit
    llvm_ir = None
    obj = cache.load(key)
    if obj is not None:
        COUNTERS["disk_cache_hits"] += 1
    else:
        with gc_paused():
            llvm_ir = emit_chain(plans, bindings, checks, input_types)
        obj = object_code(llvm_ir)
        COUNTERS["compiles"] += 1
        cache.store(key, obj)
    module = ChainModule(plans, len(input_types), input_types, JitObject(obj), key, llvm_ir)
    with cache.MEMORY_LOCK:
        cache.MEMORY[key] = module
        while len(cache.MEMORY) > cache.MEMORY_LIMIT:
            cache.MEMORY.pop(next(iter(cache.MEMORY)))
    return module


def emit_chain(plans, bindings, checks, input_types) -> str:
    module = E.RenderedModule(name="chain")
    index_errors.number_sites(module, [p.fn for p in plans])
    seg_calls = [E.emit_steps(module, plan, prefix=f"c{k}_")
                 for k, plan in enumerate(plans)]
    n_in = len(input_types)
    n_total = n_in + sum(len(p.out_slots) for p in plans)
    fnty = ir.FunctionType(E.I32, [PTR, PTR, PTR])
    fn = ir.Function(module, fnty, name=E.ENTRY)
    fn.attributes.add("nounwind")
    args, arena, ctx = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    fail = fn.append_basic_block("fail")
    code_slot = b.alloca(E.I32)
    E._guard(b, fail, code_slot, E._field(b, args, E.TUPLE_SIZE, ir.IntType(64)), i64(n_total),
             -1)
    objects = [E._field(b, args, E.TUPLE_ITEMS + 8 * i, PTR) for i in range(n_total)]
    ndarray_type = b.load(ctx, typ=PTR)
    E._guard_inputs(b, fail, code_slot, b.gep(args, [i64(E.TUPLE_ITEMS)], source_etype=E.I8),
                    input_types, ndarray_type)
    data = [E._field(b, o, E.ARRAY["data"], PTR) for o in objects]
    if threads.NUM_THREADS in module.globals:
        b.store(E._field(b, ctx, E.CTX_NUM_THREADS, ir.IntType(64)),
                module.globals[threads.NUM_THREADS])
    out_base = n_in
    for k, (plan, calls, check) in enumerate(zip(plans, seg_calls, checks)):
        ptrs = {p: data[bindings[k][i]] for i, p in enumerate(plan.fn.params)}
        for i, slot in enumerate(plan.out_slots):
            ptrs[slot] = data[out_base + i]
        for key, off in plan.offsets.items():
            ptrs[key] = b.gep(arena, [i64(off)], source_etype=E.I8)
        for (callee, keys), (step, _) in zip(calls, plan.steps):
            b.call(callee, E.step_pointers(b, ptrs, keys))
            if index_errors.may_raise(step):
                index_errors.stop_when_set(b, module)
        if check is not None:
            _emit_check(b, fn, data[out_base + check.out], plan.fn.outputs[check.out].type,
                        check, CHECK_FAILED + k)
        out_base += len(plan.out_slots)
    b.ret(ir.Constant(E.I32, 0))
    b.position_at_end(fail)
    b.ret(b.load(code_slot))
    return mathfuns.with_function_attributes(module, str(module))


def _emit_check(b, fn, ptr, t, check, code):
    """Return `code` unless the guard value at `ptr` (type t) has the expected outcome."""
    dtype = t.np_dtype
    if check.kind == "bool":
        if dtype.kind == "f":
            ft = ir.FloatType() if dtype.itemsize == 4 else ir.DoubleType()
            v = b.load(ptr, typ=ft)
            truth = b.fcmp_unordered("!=", v, ir.Constant(ft, 0.0))
        else:
            it = ir.IntType(8 * dtype.itemsize)
            truth = b.icmp_unsigned("!=", b.load(ptr, typ=it), ir.Constant(it, 0))
        ok = truth if check.expected else b.not_(truth)
    else:
        width = dtype.itemsize
        it = ir.IntType(8 * width)
        raw = np.frombuffer(check.expected, dtype=f"u{width}")  # native order, as tobytes()
        ok = ir.Constant(ir.IntType(1), 1)
        for j, want in enumerate(raw):
            p = b.gep(ptr, [i64(j * width)], source_etype=E.I8)
            same = b.icmp_unsigned("==", b.load(p, typ=it), ir.Constant(it, int(want)))
            ok = b.and_(ok, same)
    good = fn.append_basic_block("check_ok")
    bad = fn.append_basic_block("check_failed")
    b.cbranch(ok, good, bad)
    b.position_at_end(bad)
    b.ret(ir.Constant(E.I32, code))
    b.position_at_end(good)
