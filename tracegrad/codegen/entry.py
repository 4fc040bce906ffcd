"""Whole-graph planning and the single native entry point.

`make_plan(fn)` turns a Function into a schedule of steps (fused loop nests, kernels, copies),
a `View` for every value, and an arena layout for intermediates (liveness-based first-fit
reuse, 64-byte aligned). `emit_module(plan)` writes one LLVM module whose exported

    i32 tg_entry(ptr args_tuple, ptr arena, ptr ctx)     ctx: [ndarray type, thread count]

reads the input and output arrays straight out of a Python tuple (CPython tuple / numpy
PyArrayObject layouts below, checked by runtime/native.py at import), guards every input's
type, rank, shape, dtype, byte order, C-contiguity and alignment, then runs every step (in
parts of PART calls: `_pointers`).
It returns 0, i+1 when input i fails its guard, -1 for a wrong argument count, or
OUT_OF_MEMORY when a step could not allocate its scratch (control.py), or INDEX_ERROR - site
after a step that found an index out of range (index_errors.py); it never touches memory of
an input that failed. Outputs are fresh arrays allocated by the caller,
except donated ones (`make_plan(fn, donate={output: parameter})`, codegen/donation.py): those
are written into their parameter's array in place and are not in the tuple.
"""
import bisect
import functools
import itertools
import operator
import struct
from collections.abc import Mapping

import numpy as np
from llvmlite import ir

from ..ir.function import Literal, Value
from ..ir.ops import BRANCH, CALL, CHECK, ELEMENTWISE, INDEXED, LOOP, REDUCTION, VIEW
from ..ir.types import NARROW
from ..ir.passes.fuse import fusion_groups
from . import donation, fused, index_errors, linked, mathfuns, step_timer, threads
from .emitter import MEMTYPES
from .kernels import blas_layout, kernel_for
from .loops import for_range, i64, module_global
from .views import PTR, StepFunction, View, contiguous_strides

ENTRY = "tg_entry"
OUT_OF_MEMORY = -2
OOM_FLAG = "tg_out_of_memory"
TUPLE_ITEMS, TUPLE_SIZE = 24, 16     # PyTupleObject: ob_size, ob_item[]
ARRAY = {"type": 8, "data": 16, "nd": 24, "dims": 32, "descr": 56, "flags": 64}
DESCR = {"byteorder": 26, "type_num": 28}
FLAGS_NEEDED = 0x1 | 0x100           # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
ALIGN = 64
CTX_NUM_THREADS = 8                  # runtime context: [ndarray type, thread count, pool]
CTX_POOL = 16
I8, I32 = ir.IntType(8), ir.IntType(32)


class Slot:
    """Storage that is not an IR value's own: output array `index` (a donated output's is its
    parameter's memory), or a materialised copy."""
    __slots__ = ("type", "name", "output")

    def __init__(self, type, name, output=None):
        self.type, self.name, self.output = type, name, output

    def __repr__(self):
        return f"<Slot {self.name}: {self.type}>"


class Step:
    """One generated function: kind 'fused' (ops may be empty: a copy) or 'kernel'."""
    __slots__ = ("kind", "shape", "ops", "writes", "key_of")

    def __init__(self, kind, shape, ops, writes):
        self.kind, self.shape, self.ops, self.writes = kind, tuple(shape), list(ops), writes
        self.key_of = dict(writes)


class Plan:
    """Everything codegen decided about a Function: schedule, views, arena, outputs."""

    def __init__(self, fn):
        self.fn, self.steps, self.views, self.key_of = fn, [], {}, {}
        self.out_slots = []          # Slot per output (None for literal outputs)
        self.offsets, self.arena_bytes = {}, 0
        self.pending_copies = {}     # Slot -> (Value, source View), copied before first read
        self.fastmath = frozenset()  # LLVM fast-math flags asked for (codegen/fastmath.py)
        self.donate = {}             # output index -> parameter index (codegen/donation.py)
        self.identity = set()        # donated outputs that are their parameter already
        self.staged = set()          # donated outputs computed in scratch, copied at the end


def narrow_boundary(fn):
    """A parameter or output of `fn` of a dtype codegen has no lowering for (an int8 input
    returned as it is: no op reads or makes it, so no op's check names it), or None."""
    return next((v for v in (*fn.params, *fn.outputs)
                 if isinstance(v, Value) and v.type.dtype in NARROW), None)


def check_lowerable(fn):
    """Raise NotImplementedError naming the first op codegen cannot lower (read from traits),
    or a parameter or output of a dtype it has no lowering for (narrow_boundary)."""
    v = narrow_boundary(fn)
    if v is not None:
        raise NotImplementedError(f"codegen: @{fn.name}: {v.type.np_dtype} has no native "
                                  f"lowering; it runs in Python (numpy), exactly as eager")
    for op in fn.ops:
        name, opdef = op.name, op.opdef
        for v in op.results + op.operands:
            if v.type.dtype in NARROW:
                raise NotImplementedError(
                    f"codegen: op '{name}': {v.type.np_dtype} has no native lowering; it "
                    f"runs in Python (numpy), exactly as eager")
        if ELEMENTWISE in opdef.traits and getattr(opdef, "scalar", None) is None:
            raise NotImplementedError(f"codegen: elementwise op '{name}' has no scalar rule")
        if INDEXED in opdef.traits and getattr(opdef, "element", None) is None:
            raise NotImplementedError(f"codegen: indexed op '{name}' has no element rule")
        if VIEW in opdef.traits and getattr(opdef, "view", None) is None:
            raise NotImplementedError(f"codegen: view op '{name}' has no view rule")
        if REDUCTION in opdef.traits and opdef.accumulate not in fused.ACCUMULATORS:
            raise NotImplementedError(f"codegen: reduction '{name}' accumulates with "
                                      f"{opdef.accumulate!r}, not one of "
                                      f"{sorted(fused.ACCUMULATORS)}")
        known = (opdef.fusible() or VIEW in opdef.traits or REDUCTION in opdef.traits
                 or kernel_for(opdef) is not None)
        if CALL in opdef.traits and len({o.type.dtype for o in op.operands}) != 1:
            raise NotImplementedError(f"codegen: {name} of mixed dtypes "
                                      f"{' and '.join(str(o.type) for o in op.operands)}; "
                                      f"cast the operands to one dtype first")
        regions = getattr(opdef, "regions", None)
        if known and regions is not None:      # a loop or cond op: its regions must lower too
            for region in regions(op.attrs):
                check_lowerable(region)
        if not known:
            raise NotImplementedError(
                f"codegen: op '{name}' has no native lowering (it calls back into Python); "
                f"run @{fn.name} eagerly or split it at this op")


def make_plan(fn, fastmath=frozenset(), donate=None) -> Plan:
    """The plan of `fn`; `donate` {output: parameter} writes those outputs in place
    (codegen/donation.py): directly where the schedule allows it, else staged and copied."""
    check_lowerable(fn)
    donate = donation.normalize(fn, donate)
    staged = set()
    while True:
        plan = _make_plan(fn, fastmath, donate, staged)
        bad = donation.unsafe(plan) | index_errors.donated_before_check(plan)
        if not bad:
            donation.share_pointers(plan)
            return plan
        if bad <= staged:
            raise RuntimeError(f"codegen: donated outputs {sorted(bad)} of @{fn.name} are "
                               f"unsafe even when staged (tracegrad bug)")
        staged |= bad


def _make_plan(fn, fastmath, donate, staged) -> Plan:
    plan = Plan(fn)
    plan.fastmath = frozenset(fastmath)
    plan.donate, plan.staged = donate, set(staged)
    plan.identity = {k for k, p in donate.items() if isinstance(fn.outputs[k], Value)
                     and _same_layout_source(fn.outputs[k]) is fn.params[p]}
    groups = fusion_groups(fn)
    stored = _stored_values(fn, groups)
    _bind_outputs(plan, fn, stored)
    for p in fn.params:
        plan.views[p] = View.of(p)
    for v in stored:
        key = plan.key_of.setdefault(v, v)
        plan.views[v] = View(key, 0, contiguous_strides(v.type.shape), v.type.shape)
    _plan_views(plan, fn)
    stored_set = set(stored)
    for g in groups:
        _schedule(plan, _group_step(plan, g, stored_set))
    _schedule_output_copies(plan, fn)
    _allocate(plan)
    return plan


def _stored_values(fn, groups) -> list:
    """Group results that leave their group (used elsewhere or returned): they get storage."""
    group_of = {r: g for g in groups for op in g.ops for r in op.results}
    outside = {o for op in fn.ops for o in op.operands
               if isinstance(o, Value) and group_of.get(o) is not None
               and op not in group_of[o].ops}
    outside |= {o for o in fn.outputs if isinstance(o, Value)}
    stored = []
    for g in groups:
        for op in g.ops:
            r = op.results[0]
            if r in outside or g.kind == "kernel" or op is g.reduction:
                stored.append(r)
            if g.kind == "kernel":       # a multi-result kernel (a loop): its results read
                stored.extend(r for r in op.results[1:] if r in outside)  # later
    return stored


def _bind_outputs(plan, fn, stored):
    """An output computed by a group is written straight into the caller's output array; so is
    one that is a layout-preserving view (a reshape) of a stored value used nowhere else."""
    stored_set = set(stored)
    readers = {}
    for op in fn.ops:
        for o in op.operands:
            readers[o] = readers.get(o, 0) + 1
    for i, o in enumerate(fn.outputs):
        slot = None if isinstance(o, Literal) else Slot(o.type, f"out{i}", output=i)
        plan.out_slots.append(slot)
        if slot is None or i in plan.staged or i in plan.identity:
            continue
        base = _same_layout_source(o)
        if base is not o and (base not in stored_set or readers.get(base, 0) != 1
                              or base in fn.outputs):
            base = o
        if base in stored_set and base not in plan.key_of:
            plan.key_of[base] = slot


def _same_layout_source(v):
    """The value whose row-major elements are v's, through VIEW ops that keep the layout."""
    while isinstance(v, Value) and v.producer is not None and VIEW in v.producer.opdef.traits:
        op = v.producer
        src = op.operands[0]
        shape = v.type.shape
        got = op.opdef.view(0, contiguous_strides(src.type.shape), src.type.shape,
                            out_shape=shape, **op.attrs)
        if got is None or src.type.size != v.type.size or not View(
                None, got[0], got[1], shape).is_contiguous() or got[0] != 0:
            break
        v = src
    return v


def _plan_views(plan, fn):
    for op in fn.ops:
        if VIEW in op.opdef.traits:
            src = op.operands[0]
            view = plan.views[src].apply(op)
            if view is None:
                view = _materialise(plan, src).apply(op)
            plan.views[op.results[0]] = view
        elif CALL in op.opdef.traits:
            for x in op.operands:
                if blas_layout(plan.views[x]) is None:
                    _materialise(plan, x)
        elif getattr(op.opdef, "regions", None) is not None:  # operands are handed out whole
            for x in op.operands:
                if isinstance(x, Value) and not plan.views[x].is_contiguous():
                    _materialise(plan, x)


def _materialise(plan, v) -> View:
    """Give view value `v` contiguous storage (a copy step, scheduled before its first reader)."""
    slot = Slot(v.type, "copy")
    plan.pending_copies[slot] = (v, plan.views[v])
    plan.views[v] = View.of(v)
    plan.views[v].base = slot
    return plan.views[v]


def _group_step(plan, g, stored_set):
    writes = [(r, plan.key_of[r]) for op in g.ops for r in op.results if r in stored_set]
    return Step(g.kind, g.shape, g.ops, writes)


def _schedule(plan, step):
    """Append `step`, preceded by the copies (materialised views) it reads."""
    values = [o for op in step.ops for o in op.operands] + [v for v, _ in step.writes]
    for v in values:
        base = plan.views[v].base if isinstance(v, Value) and v in plan.views else None
        if base in plan.pending_copies:
            _schedule_pending_copy(plan, base)
    plan.steps.append((step, plan.views))


def _schedule_pending_copy(plan, slot):
    """The copy that materialises a view, after the copy its own source is a view of (a
    transpose of a transposed copy: its source copy must exist before it is read)."""
    src_value, source = plan.pending_copies.pop(slot)
    if source.base in plan.pending_copies:
        _schedule_pending_copy(plan, source.base)
    copy_views = dict(plan.views)
    copy_views[src_value] = source
    plan.steps.append((Step("fused", src_value.type.shape, [], [(src_value, slot)]),
                       copy_views))


def _schedule_output_copies(plan, fn):
    """Outputs not written where they were computed, copied at the end: into the caller's
    output arrays first, then the donated ones, after every other read of their parameters:
    staged sources in a donated parameter's memory saved to scratch, the direct donations
    copied, the staged ones copied from scratch (codegen/donation.py)."""
    for i in range(len(fn.outputs)):
        if i not in plan.donate:
            _copy_output(plan, fn.outputs[i], plan.out_slots[i])
    donated = {fn.params[p] for p in plan.donate.values()}
    sources = {}
    for i in sorted(plan.staged):
        o = fn.outputs[i]
        if plan.out_slots[i] is None:
            continue
        base = plan.views[o].base
        if base in plan.pending_copies:   # a materialised view of it: copied now
            _schedule_pending_copy(plan, base)
        elif base in donated:
            scratch = Slot(o.type, "stage")
            _schedule(plan, Step("fused", o.type.shape, [], [(o, scratch)]))
            sources[o] = View(scratch, 0, contiguous_strides(o.type.shape), o.type.shape)
    for i in plan.donate:
        if i not in plan.staged and i not in plan.identity:
            _copy_output(plan, fn.outputs[i], plan.out_slots[i])
    for i in sorted(plan.staged):
        o, slot = fn.outputs[i], plan.out_slots[i]
        if slot is None:
            continue
        if o in sources:
            views = dict(plan.views)
            views[o] = sources[o]
            plan.steps.append((Step("fused", o.type.shape, [], [(o, slot)]), views))
        else:
            _schedule(plan, Step("fused", o.type.shape, [], [(o, slot)]))


def _copy_output(plan, o, slot):
    if slot is None or plan.key_of.get(o) is slot:
        return
    view = plan.views.get(o)
    if view is not None and view.base is slot and view.offset == 0 and view.is_contiguous():
        return                            # a reshape of a value already written there
    _schedule(plan, Step("fused", o.type.shape, [], [(o, slot)]))


def _step_keys(step, views):
    reads = fused.step_reads(step, views)
    for op in step.ops:
        reads += [views[o].base for o in op.operands if isinstance(o, Value) and o in views]
    return [k for _, k in step.writes], reads


def _allocate(plan):
    """First-fit arena offsets; a buffer is live from its first write to its last read. A fused
    elementwise step whose input buffer dies in it, read only at the element it writes, writes
    its result in place over that input (same offset): `plan.in_place` counts those."""
    first, last = {}, {}
    for t, (step, views) in enumerate(plan.steps):
        writes, reads = _step_keys(step, views)
        for k in writes + reads:
            if _in_arena(k):
                first.setdefault(k, t)
                last[k] = t
    starts = {}     # step -> the buffers first written there, in `first`'s order
    for k, s in first.items():
        starts.setdefault(s, []).append(k)
    live = []   # (offset, end, key), by offset
    ending = set(last.values())
    plan.in_place, plan.aliases = 0, {}
    for t, (step, views) in enumerate(plan.steps):
        donors = _in_place_donors(step, views, t, first, last)
        for k in starts.get(t, ()):
            size = -(-k.type.size * k.type.np_dtype.itemsize // ALIGN) * ALIGN
            donor = next((d for d in donors if _same_elements(d, k)), None)
            if donor is not None:
                donors.remove(donor)
                off = plan.offsets[donor]
                live = [x for x in live if x[2] is not donor]
                plan.in_place += 1
                # one pointer for both in the step function: its loads and stores then
                # visibly touch the same memory (two noalias arguments would be a lie)
                plan.aliases.setdefault(t, {})[k] = donor
            else:
                off = _first_fit(live, size)
            bisect.insort(live, (off, off + size, k), key=_OFFSET)  # after equal offsets
            plan.offsets[k] = off
            plan.arena_bytes = max(plan.arena_bytes, off + size)
        if t in ending:          # (every live buffer ends at t or later)
            live = [x for x in live if last[x[2]] > t]


def _same_elements(a, b) -> bool:
    return a.type.size == b.type.size and a.type.np_dtype.itemsize == b.type.np_dtype.itemsize


def _in_place_donors(step, views, t, first, last) -> list:
    """Arena buffers that die in fused step t and are read there only at the written element.
    Never a buffer a reduction of the step reads directly: blocked / pairwise sums load their
    operand in their own order, so a member written in place over it overwrote elements the
    sum had not read yet (a wrong weight gradient of a depthwise convolution written as
    sliced windows: two products, one summed while the next was stored over it)."""
    if step.kind != "fused" or not step.ops:
        return []
    size = 1
    for d in step.shape:
        size *= d
    contiguous = contiguous_strides(step.shape)
    ok, bad = {}, set()          # ok: insertion-ordered, so the plan is the same in every
    for op in step.ops:          # process (the disk cache holds code with these offsets)
        indexed = INDEXED in op.opdef.traits or REDUCTION in op.opdef.traits
        for o in op.operands:
            if not isinstance(o, Value) or o not in views:
                continue
            v = views[o]
            k = v.base
            if not indexed and v.offset == 0 and _walks_alike(v.aligned(step.shape),
                                                              contiguous, step.shape):
                ok[k] = True
            else:
                bad.add(k)
    return [k for k in ok if k not in bad and _in_arena(k) and last.get(k) == t
            and first.get(k, t) < t and k.type.size == size]


def _walks_alike(strides, others, shape) -> bool:
    """Whether two stride tuples visit the same elements over `shape`: a length-1 axis has
    one index, so its stride (0 for a broadcast, anything for a kept axis) never matters."""
    return all(a == b for a, b, d in zip(strides, others, shape) if d != 1)


def _in_arena(key) -> bool:
    if isinstance(key, Slot):
        return key.output is None
    return key.producer is not None


def _first_fit(live, size) -> int:
    off = 0
    for lo, hi, _ in live:
        if lo - off >= size:
            return off
        if hi > off:
            off = hi
    return off


_OFFSET = operator.itemgetter(0)


# ---------------------------------------------------------------- LLVM module
def emit_module(plan, link=None) -> str:
    """The LLVM IR text of the whole graph: step functions plus the guarded entry. `link`
    (a shared_steps.Link): steps may be imported from, and exported to, other modules."""
    module = RenderedModule(name=plan.fn.name)
    module.tg_fastmath = plan.fastmath   # what loop and cond regions compile with too
    module.tg_link = link                # what its steps (regions' too) import and export
    index_errors.number_sites(module, [plan.fn])
    _emit_entry(module, plan, emit_steps(module, plan))
    donation.add_metadata(module, plan)
    return mathfuns.with_function_attributes(module, str(module))


def emit_steps(module, plan, prefix=""):
    """The plan's step functions in `module` (a RenderedModule; names start with `prefix`):
    [(function, [(storage key, element shift)])] in schedule order: call the function with
    `step_pointers`. A step whose generated code is that of an earlier step (same loops, shapes
    and strides over other buffers, or other rows of them: a ResNet's repeated blocks, an
    unrolled RNN's time steps) calls the earlier function instead (`_rebase`, `_Dedupe`); one
    whose `signature` is an earlier step's is not even emitted. With the module's `tg_link`
    (emit_module's shared_steps.Link), a signed step another live module exported is called
    there."""
    link = getattr(module, "tg_link", None)
    calls = []
    dedupe = _Dedupe(module)
    for t, (step, views) in enumerate(plan.steps):
        alias = plan.aliases.get(t, {}) if step.kind == "fused" else {}
        views, shift = _rebase(step, views, alias)
        buffers = _buffers(step, views, alias)
        sig = signature(step, views, alias, plan.fastmath)
        fn = dedupe.signed.get(sig)
        if fn is None and link is not None and sig is not None and not VERIFY_SIGNATURES:
            fn = link.imported(module, sig, len(buffers), f"{prefix}step{t}_")
            if fn is not None:
                dedupe.signed[sig] = fn
        if fn is None or VERIFY_SIGNATURES:
            own = f"{prefix}step{t}_"
            if step.kind == "kernel":
                op = step.ops[0]
                sf = StepFunction(module, f"{own}{op.name}", buffers)
                kernel_for(op.opdef)(sf, op, views, step.writes[0][1])
                sf.finish()
            else:
                sf = fused.emit_fused(module, f"{own}fused", step, views, plan.fastmath, alias)
            if sf.buffers != buffers:
                raise RuntimeError(f"codegen: step {t} of @{plan.fn.name} takes other buffers "
                                   f"than planned (tracegrad bug)")
            made = dedupe.same_as_before(sf.fn, own)
            if fn is not None and made is not fn:
                raise RuntimeError(f"codegen: step {t} of @{plan.fn.name} has the signature of "
                                   f"an earlier step but other code (tracegrad bug)")
            if link is not None and made is sf.fn:
                link.exported(module, made, sig, dedupe.code)
            fn = made
            if sig is not None:
                dedupe.signed[sig] = fn
        calls.append((fn, [(k, shift.get(k, 0)) for k in buffers]))
    return calls


VERIFY_SIGNATURES = False   # tests: emit every step, and check a signature's code is the same


def _buffers(step, views, alias) -> list:
    """The storage keys a step's function takes, in order (its StepFunction's `buffers`)."""
    keys = dict.fromkeys([k for _, k in step.writes] + fused.step_reads(step, views))
    return list(dict.fromkeys(alias.get(k, k) for k in keys))


def signature(step, views, alias, fastmath):
    """A hashable description of everything a step's generated code is made from (the ops,
    their attributes and types, which values they share, the buffers' positions and types,
    every view, in-place pointers, fast-math flags), with the values and buffers numbered by
    first use; or None for steps whose code depends on more (loop and cond regions, index
    checks numbered per module), or when an attribute is of a type it does not know. Two
    steps with one signature have the same code: `VERIFY_SIGNATURES` checks that."""
    keys = list(dict.fromkeys([k for _, k in step.writes] + fused.step_reads(step, views)))
    position = {k: i for i, k in enumerate(keys)}
    ids = {}

    def value(v):
        if isinstance(v, Literal):
            return ("lit", v.type.dtype, _exact(v.value))
        ident = ids.get(v)
        if ident is None:
            ident = ids[v] = ("in", len(ids))
        view = views[v] if v in views else None
        if view is not None:
            at = position.get(view.base)
            if at is None:
                raise _Unsigned
            view = (at, view.offset, view.strides, view.shape)
        return ident, v.type.dtype, v.type.shape, view

    try:
        ops = []
        for n, op in enumerate(step.ops):
            opdef = op.opdef
            if opdef.traits & _UNSIGNED or getattr(opdef, "regions", None) is not None:
                return None
            operands = tuple(value(o) for o in op.operands)
            for j, r in enumerate(op.results):
                ids[r] = ("op", n, j)
            ops.append((opdef.name, _exact(tuple(op.attrs.items())), operands,
                        tuple(value(r) for r in op.results)))
        writes = tuple((value(v), position[k]) for v, k in step.writes)
    except _Unsigned:
        return None
    bases = tuple((k.type.dtype, k.type.shape) for k in keys)   # (lowerings read only .type)
    shared = tuple(sorted((position[k], position[d]) for k, d in alias.items()))
    return (step.kind, step.shape, tuple(ops), writes, bases, shared,
            tuple(sorted(fastmath)))


_UNSIGNED = frozenset({LOOP, BRANCH, CHECK})


class _Unsigned(Exception):
    """A step signature() cannot describe."""


def _exact(x):
    """x with every number tagged by its kind and floats by their bits: 0.0 and -0.0, 1 and
    True and 1.0, NaNs of other payloads differ (in Python they compare equal, or never)."""
    if isinstance(x, (bool, np.bool_)):
        return ("b", bool(x))
    if isinstance(x, (int, np.integer)):
        return ("i", int(x))
    if isinstance(x, (float, np.floating)):
        return ("f", struct.pack("<d", float(x)))
    if isinstance(x, str) or x is None:
        return x
    if isinstance(x, tuple):
        return tuple(_exact(v) for v in x)
    raise _Unsigned


def step_pointers(b, ptrs, args) -> list:
    """The arguments of a step call: each buffer's pointer (`ptrs`), moved by its shift."""
    out = []
    for key, shift in args:
        p = ptrs[key]
        out.append(b.gep(p, [i64(shift)], source_etype=MEMTYPES[key.type.dtype])
                   if shift else p)
    return out


def _rebase(step, views, alias):
    """(views, {buffer: shift}): the views of the buffers the step only reads, moved to start
    at the lowest element the step reads there (base[offset] read as (base + shift)[offset -
    shift]; the caller adds the shift to the pointer). The code then no longer depends on
    where in a buffer the step reads, so the time steps of an unrolled RNN (row t of the
    inputs, slices of one gate buffer) are one function. Written buffers and pointers shared
    in place keep their views (one pointer each: noalias stays true)."""
    fixed = {k for _, k in step.writes} | set(alias) | set(alias.values())
    low = {}
    for v in _step_values(step):
        view = views.get(v) if isinstance(v, Value) else None
        if view is None:
            continue
        base = view.base
        if base in fixed or not _sized(view):
            fixed.add(base)
        elif base not in low or view.offset < low[base]:
            low[base] = view.offset
    shift = {k: s for k, s in low.items() if s and k not in fixed}
    return (_ShiftedViews(views, shift) if shift else views), shift


def _step_values(step):
    for op in step.ops:
        yield from op.operands
        yield from op.results
    for v, _ in step.writes:
        yield v


def _sized(view) -> bool:
    return all(view.shape)


class _ShiftedViews(Mapping):
    """A step's `views` with the buffers in `shift` read through pointers moved by it (every
    view of such a buffer, whichever value a lowering asks for)."""
    __slots__ = ("views", "shift")

    def __init__(self, views, shift):
        self.views, self.shift = views, shift

    def __getitem__(self, v):
        view = self.views[v]
        s = self.shift.get(view.base)
        return view if s is None else View(view.base, view.offset - s, view.strides, view.shape)

    def __contains__(self, v):
        return v in self.views

    def __iter__(self):
        return iter(self.views)

    def __len__(self):
        return len(self.views)


class RenderedModule(ir.Module):
    """A module that prints its finished step functions from the text `_Dedupe` already
    rendered to compare them (printing a large graph twice cost a tenth of its compile)."""

    def __init__(self, name):
        super().__init__(name=name)
        self.rendered = {}

    def _get_body_lines(self):
        lines = [t.get_declaration() for t in self.get_identified_types().values()]
        return lines + [self.rendered.get(name) or str(g) for name, g in self.globals.items()]


class _Dedupe:
    """Identical step functions emitted once. A step's own globals are named `step<t>_...`;
    their text with that prefix made neutral is the step's code. When an earlier step had the
    same code, the new globals are dropped and the earlier function is called (LLVM compile
    time grows with the number of functions, and deep networks repeat their blocks)."""

    def __init__(self, module):
        self.module, self.seen = module, {}
        self.signed = {}                    # signature -> function (emit_steps)
        self.known = len(module.globals)    # globals made before the step now compared

    def same_as_before(self, fn, prefix):
        made = self.module.globals      # (a dict: the step's globals are its last items)
        new = list(itertools.islice(reversed(made), len(made) - self.known))
        own = {name: str(made[name]) for name in reversed(new) if name.startswith(prefix)}
        text = "\n".join(own.values())
        code = text.replace(f'@"{prefix}', '@"step_').replace(f"@{prefix}", "@step_")
        self.code = code
        earlier = self.seen.get(code)
        if earlier is None:
            self.seen[code] = fn
            self.module.rendered.update(own)
        else:
            for name in own:
                del made[name]
        self.known = len(made)
        return fn if earlier is None else earlier


def _emit_entry(module, plan, calls):
    fnty = ir.FunctionType(I32, [PTR, PTR, PTR])
    entry = ir.Function(module, fnty, name=ENTRY)
    entry.attributes.add("nounwind")
    args, arena, ctx = entry.args
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    fail = entry.append_basic_block("fail")
    code_slot = b.alloca(I32)
    nin = len(plan.fn.params)
    kept = [i for i in range(len(plan.out_slots)) if i not in plan.donate]
    nout = len(kept)
    _guard(b, fail, code_slot, _field(b, args, TUPLE_SIZE, ir.IntType(64)), i64(nin + nout), -1)
    items = b.gep(args, [i64(TUPLE_ITEMS)], source_etype=I8)
    ndarray_type = b.load(ctx, typ=PTR)
    _guard_inputs(b, fail, code_slot, items, [p.type for p in plan.fn.params], ndarray_type)
    if plan.donate:
        donation.emit_guard(b, fail, code_slot, items, plan)
    where = {p: i for i, p in enumerate(plan.fn.params)}   # key -> its array in the tuple
    for j, i in enumerate(kept):
        if plan.out_slots[i] is not None:
            where[plan.out_slots[i]] = nin + j
    for i, p in plan.donate.items():      # written in place: the parameter's own memory
        if plan.out_slots[i] is not None:
            where[plan.out_slots[i]] = p
    if threads.NUM_THREADS in module.globals:
        b.store(_field(b, ctx, CTX_NUM_THREADS, ir.IntType(64)),
                module.globals[threads.NUM_THREADS])
    if threads.POOL in module.globals:
        b.store(_field(b, ctx, CTX_POOL, threads.RUN_PTR), module.globals[threads.POOL])
    timer = step_timer.counters(module, len(calls))
    oom = module.globals.get(OOM_FLAG)
    for first in range(0, len(calls), PART):
        part = ir.Function(module, ir.FunctionType(I32, [PTR, PTR]), name=f"{ENTRY}.{first}")
        part.linkage = "internal"
        for attr in ("nounwind", "noinline", "optnone"):
            part.attributes.add(attr)
        pb = ir.IRBuilder(part.append_basic_block("entry"))
        last = min(first + PART, len(calls))
        used = dict.fromkeys(k for _, keys in calls[first:last] for k, _ in keys)
        ptrs = _pointers(pb, *part.args, where, plan.offsets, used)
        for t in range(first, last):
            fn, keys = calls[t]
            start = None if timer is None else step_timer.read_clock(pb)
            pb.call(fn, step_pointers(pb, ptrs, keys))
            if timer is not None:
                step_timer.add(pb, timer, t, pb.sub(step_timer.read_clock(pb), start))
            if oom is not None:
                _stop_when_out_of_memory(pb, oom)
            if index_errors.may_raise(plan.steps[t][0]):
                index_errors.stop_when_set(pb, module)
        pb.ret(ir.Constant(I32, 0))
        code = b.call(part, [args, arena])
        b.store(code, code_slot)
        _guard(b, fail, None, code, ir.Constant(I32, 0), None)
    if timer is not None:
        step_timer.add(b, timer, len(calls), i64(1))
    b.ret(ir.Constant(I32, 0))
    b.position_at_end(fail)
    b.ret(b.load(code_slot))


PART = 128   # step calls per part of the entry (_emit_entry)


def _pointers(b, args, arena, where, offsets, keys) -> dict:
    """The pointers of `keys` at the top of one part of the entry: an array's data pointer
    read from the args tuple (`where`: its index there), an arena buffer's address.

    The entry calls its steps through parts `i32 tg_entry.<first step>(ptr args, ptr arena)`
    of PART calls, `optnone`, returning 0 or the code that ends the call. One function with
    every call kept hundreds of pointers live across thousands of calls: LLVM's register
    allocator and optimiser spent a tenth of an unrolled RNN's compile on it. Nothing is
    gained optimising a list of calls (a few more instructions per step, each a loop nest)."""
    ptrs = {}
    for key in keys:
        if key in where:
            obj = _field(b, args, TUPLE_ITEMS + 8 * where[key], PTR)
            ptrs[key] = _field(b, obj, ARRAY["data"], PTR)
        else:
            ptrs[key] = b.gep(arena, [i64(offsets[key])], source_etype=I8)
    return ptrs


def out_of_memory_flag(module):
    """The module's i32 flag a step sets when its malloc fails (control.py's scratch)."""
    return module_global(module, OOM_FLAG, I32, 0)


def _stop_when_out_of_memory(b, flag):
    """After a step that may allocate: a set flag is cleared and the call ends, OUT_OF_MEMORY."""
    stop = b.function.append_basic_block("out_of_memory")
    go_on = b.function.append_basic_block("next_step")
    b.cbranch(b.icmp_unsigned("!=", b.load(flag), ir.Constant(I32, 0)), stop, go_on)
    b.position_at_end(stop)
    b.store(ir.Constant(I32, 0), flag)
    b.ret(ir.Constant(I32, OUT_OF_MEMORY))
    b.position_at_end(go_on)


def _field(b, obj, offset, typ):
    return b.load(b.gep(obj, [i64(offset)], source_etype=I8), typ=typ)


def _guard(b, fail, code_slot, actual, expected, code):
    """Go on when actual == expected, else to `fail`, which returns `code` (None: the one
    already in code_slot)."""
    ok = b.append_basic_block("ok")
    if code is not None:
        b.store(ir.Constant(I32, code), code_slot)
    b.cbranch(b.icmp_signed("==", actual, expected), ok, fail)
    b.position_at_end(ok)


def _guard_inputs(b, fail, code_slot, items, types, ndarray_type):
    """Input i of `types` (the tuple's item i): ndarray (exact type), rank, each dim, dtype
    number, byte order, contiguous+aligned, else the call returns i+1 (the first that fails).
    One call of the module's loop over a constant table of the inputs' expected values
    (`tg_check_inputs`): a check per input made the entry of a graph with hundreds of inputs
    the largest function LLVM compiled."""
    if not types:
        return
    module = b.module
    tables = [_spec_table(module, [t.ndim, t.np_dtype.num] + list(t.shape)) for t in types]
    ty = ir.ArrayType(PTR, len(tables))
    specs = ir.GlobalVariable(module, ty, name=module.get_unique_name("tg_inputs"))
    specs.linkage, specs.global_constant = "internal", True
    specs.initializer = ir.Constant(ty, tables)
    code = b.call(linked.declare(module, CHECK_INPUTS), [items, ndarray_type, specs,
                                                         i64(len(types))])
    b.store(code, code_slot)
    _guard(b, fail, None, code, ir.Constant(I32, 0), None)


def _spec_table(module, spec):
    name = "tg_spec." + "_".join(str(int(v)) for v in spec)
    if name in module.globals:
        return module.globals[name]
    ty = ir.ArrayType(ir.IntType(64), len(spec))
    g = ir.GlobalVariable(module, ty, name=name)
    g.linkage, g.global_constant = "internal", True
    g.initializer = ir.Constant(ty, [int(v) for v in spec])
    return g


CHECK_ARRAY = "tg_check_array"
CHECK_INPUTS = "tg_check_inputs"


def _inputs_checker(module):
    """`i32 tg_check_inputs(ptr items, ptr ndarray_type, ptr specs, i64 n)`: 0 when every
    items[i] passes tg_check_array with specs[i], else i+1 for the first that does not.
    Compiled once per process (linked.py); modules declare it."""
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR, PTR, ir.IntType(64)]),
                     name=CHECK_INPUTS)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    items, ndarray_type, specs, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    bad = fn.append_basic_block("bad")
    with for_range(b, n) as i:
        obj = b.load(b.gep(items, [i], source_etype=PTR), typ=PTR)
        spec = b.load(b.gep(specs, [i], source_etype=PTR), typ=PTR)
        ok = fn.append_basic_block("ok")
        b.cbranch(b.call(_array_checker(module), [obj, ndarray_type, spec]), ok, bad)
        b.position_at_end(ok)
    b.ret(ir.Constant(I32, 0))
    b.position_at_end(bad)
    b.ret(b.trunc(b.add(i, i64(1)), I32))
    return fn


def _array_checker(module):
    """`i1 tg_check_array(ptr obj, ptr ndarray_type, ptr spec)`, spec = [ndim, dtype number,
    *dims]: true when obj is exactly an ndarray of that rank, shape and dtype, native byte
    order, C-contiguous and aligned. Every field is read only after the ones that make it
    valid (type, then rank before dims)."""
    if CHECK_ARRAY in module.globals:
        return module.globals[CHECK_ARRAY]
    I64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.IntType(1), [PTR, PTR, PTR]), name=CHECK_ARRAY)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    obj, ndarray_type, spec = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    bad = fn.append_basic_block("bad")

    def want(i):
        at = i64(i) if isinstance(i, int) else i
        return b.load(b.gep(spec, [at], source_etype=I64), typ=I64)

    def check(cond):
        ok = fn.append_basic_block("ok")
        b.cbranch(cond, ok, bad)
        b.position_at_end(ok)

    check(b.icmp_unsigned("==", _field(b, obj, ARRAY["type"], PTR), ndarray_type))
    ndim = want(0)
    check(b.icmp_signed("==", b.sext(_field(b, obj, ARRAY["nd"], I32), I64), ndim))
    descr = _field(b, obj, ARRAY["descr"], PTR)
    check(b.icmp_signed("==", b.sext(_field(b, descr, DESCR["type_num"], I32), I64), want(1)))
    check(b.icmp_unsigned("!=", _field(b, descr, DESCR["byteorder"], I8),
                          ir.Constant(I8, ord(">"))))
    flags = b.and_(_field(b, obj, ARRAY["flags"], I32), ir.Constant(I32, FLAGS_NEEDED))
    check(b.icmp_signed("==", flags, ir.Constant(I32, FLAGS_NEEDED)))
    dims = _field(b, obj, ARRAY["dims"], PTR)
    header = fn.append_basic_block("dim")
    body = fn.append_basic_block("dim.body")
    done = fn.append_basic_block("done")
    start = b.block
    b.branch(header)
    b.position_at_end(header)
    k = b.phi(I64)
    k.add_incoming(i64(0), start)
    b.cbranch(b.icmp_signed("<", k, ndim), body, done)
    b.position_at_end(body)
    got = b.load(b.gep(dims, [k], source_etype=I64), typ=I64)
    nxt = b.add(k, i64(1))
    k.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("==", got, want(b.add(k, i64(2)))), header, bad)
    b.position_at_end(done)
    b.ret(ir.Constant(ir.IntType(1), 1))
    b.position_at_end(bad)
    b.ret(ir.Constant(ir.IntType(1), 0))
    return fn


linked.provide_function(CHECK_INPUTS, _inputs_checker)
linked.provide_function(donation.CHECK_DONATED, functools.partial(
    donation.define_checker, offsets=(ARRAY["data"], ARRAY["flags"])))


def output_specs(plan):
    """(shape, numpy dtype, literal value or None) per output, for the caller to allocate."""
    specs = []
    for o in plan.fn.outputs:
        lit = o.value if isinstance(o, Literal) else None
        specs.append((o.type.shape, np.dtype(o.type.np_dtype), lit))
    return specs

