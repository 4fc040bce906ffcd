"""Donated outputs: output k written into the array passed as input parameter p, in place.

`donate = {output index: parameter index}` (same type). The result is exactly the un-donated
function's: as if every output were computed into a fresh array and only then copied over its
parameter at the end of the call. entry.make_plan decides, per donation, how:

- identity: the output is the parameter itself (or a layout-keeping view of it): nothing to do.
- direct: the step that computes the output writes straight into the parameter's memory. Safe
  when no step after it reads the parameter and that step itself reads the parameter only at
  the element it writes (a fused elementwise step without a reduction, the parameter read
  contiguously at the iteration index). The step then gets one pointer for both (as the
  arena's in-place steps do), never two `noalias` pointers to the same memory.
- staged: the output is computed into scratch (the arena) and copied into the parameter after
  every other read of it, at the end of the call. A source that is itself a donated
  parameter's memory is first copied to scratch (two weights swapped, a transpose of the
  parameter written over it).
Planning tries direct for every donation, checks the schedule (`unsafe`), stages the ones that
failed and plans again; with every donation staged the check always passes.
A literal output donated to p is filled into p by the caller after the call.

The native entry guards a donated input further (`emit_guard`): it must be writeable and its
bytes must not overlap those of any other input (the same array passed twice, or a view of
it), else it returns p+1 like any failed guard and writes nothing.
"""
from llvmlite import ir

from ..ir.function import Literal, Value
from ..ir.ops import ELEMENTWISE, INDEXED, REDUCTION
from ..ir.types import TensorType
from . import fused, linked
from .loops import for_range, i64
from .views import PTR, contiguous_strides

WRITEABLE = 0x400              # NPY_ARRAY_WRITEABLE
CHECK_DONATED = "tg_check_donated"
I8, I32, I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)


def normalize(fn, donate) -> dict:
    """`donate` checked against `fn`: {output index: parameter index} with ints, sorted by
    output. Raises ValueError naming the output and the parameter."""
    if not donate:
        return {}
    out, taken = {}, {}
    n_out, n_in = len(fn.outputs), len(fn.params)
    for k, p in dict(donate).items():
        if not (isinstance(k, int) and 0 <= k < n_out):
            raise ValueError(f"@{fn.name}: donate: output {k!r} is not an output index "
                             f"(0..{n_out - 1})")
        if not (isinstance(p, int) and 0 <= p < n_in):
            raise ValueError(f"@{fn.name}: donate: parameter {p!r} is not a parameter index "
                             f"(0..{n_in - 1})")
        param, o = fn.params[p], fn.outputs[k]
        name = param.name_hint or f"arg{p}"
        if not isinstance(param.type, TensorType) or o.type != param.type:
            raise ValueError(f"@{fn.name}: donate: output {k} ({o.type}) cannot be written into "
                             f"parameter %{name} (argument {p}: {param.type}): the types differ")
        if p in taken:
            raise ValueError(f"@{fn.name}: donate: outputs {taken[p]} and {k} are both donated "
                             f"to parameter %{name} (argument {p}); a parameter takes one output")
        taken[p] = k
        out[k] = p
    return dict(sorted(out.items()))


def describe(plan) -> dict:
    """{output index: (parameter index, 'identity' | 'in place' | 'copied' | 'literal')}."""
    got = {}
    for k, p in plan.donate.items():
        if isinstance(plan.fn.outputs[k], Literal):
            how = "literal"
        elif k in plan.identity:
            how = "identity"
        else:
            how = "copied" if k in plan.staged else "in place"
        got[k] = (p, how)
    return got


def cache_tag(plan) -> str:
    """What the donations decided, for the compile cache key."""
    if not plan.donate:
        return ""
    return "|donate=" + ",".join(f"{k}:{p}:{how}" for k, (p, how) in describe(plan).items())


# ---------------------------------------------------------------- checking a schedule
def _reads(step, views) -> list:
    keys = fused.step_reads(step, views)
    for op in step.ops:
        keys += [views[o].base for o in op.operands if isinstance(o, Value) and o in views]
    return keys


def _writes(step) -> list:
    return [k for _, k in step.writes]


def _reads_at_written_element(step, views, param, slot) -> bool:
    """Whether fused step `step` reads `param` only at the element it writes to `slot`: member
    ops elementwise, the parameter read at the iteration index, the slot's value written at
    it, no reduction (a blocked sum loads its operand in its own order)."""
    if step.kind != "fused" or not step.ops:
        return False
    size = 1
    for d in step.shape:
        size *= d
    if param.type.size != size:
        return False
    # the iteration index's own position (axes of length 1 do not move it)
    contiguous = tuple(0 if d == 1 else s
                       for d, s in zip(step.shape, contiguous_strides(step.shape)))
    for op in step.ops:
        traits = op.opdef.traits
        if REDUCTION in traits:
            return False
        for o in op.operands:
            if not isinstance(o, Value) or o not in views or views[o].base is not param:
                continue
            v = views[o]
            if (INDEXED in traits or ELEMENTWISE not in traits or v.offset != 0
                    or v.aligned(step.shape) != contiguous):
                return False
    for v, key in step.writes:
        if key is slot and v.type.size != size:
            return False
    return True


def _reads_and_writes(plan):
    """Per step: the set of keys it reads and of slots it writes (each step's once: a
    training step donates every parameter, and each donation scans the schedule)."""
    return ([set(_reads(step, views)) for step, views in plan.steps],
            [set(_writes(step)) for step, _ in plan.steps])


def unsafe(plan) -> set:
    """Direct donations the schedule makes wrong: output k's slot is written while a later
    step (or that step, other than at the written element) still reads the parameter."""
    bad = set()
    reads = writes = None
    for k, p in plan.donate.items():
        slot = plan.out_slots[k]
        if slot is None or k in plan.identity:
            continue
        if reads is None:
            reads, writes = _reads_and_writes(plan)
        param = plan.fn.params[p]
        first = next((t for t, w in enumerate(writes) if slot in w), None)
        if first is None:
            raise RuntimeError(f"codegen: donated output {k} of @{plan.fn.name} is never "
                               f"written (tracegrad bug)")
        for t in range(first, len(plan.steps)):
            if param not in reads[t]:
                continue
            step, views = plan.steps[t]
            if t > first or not _reads_at_written_element(step, views, param, slot):
                bad.add(k)
                break
    return bad


def share_pointers(plan):
    """The step that writes a direct donation and reads its parameter gets one pointer for
    both (entry._allocate's `aliases`: its loads then visibly touch the stored memory)."""
    reads = writes = None
    for k, p in plan.donate.items():
        slot = plan.out_slots[k]
        if slot is None or k in plan.identity or k in plan.staged:
            continue
        if reads is None:
            reads, writes = _reads_and_writes(plan)
        param = plan.fn.params[p]
        for t, w in enumerate(writes):
            if slot in w:
                if param in reads[t]:
                    plan.aliases.setdefault(t, {})[slot] = param
                break


# ---------------------------------------------------------------- the native guard
def emit_guard(b, fail, code_slot, items, plan):
    """After the type guards: every donated input writeable and disjoint from every other
    input, else the entry returns p+1 (p: the donated parameter). `items`: the args tuple's
    item array."""
    params = plan.fn.params
    donated = sorted(set(plan.donate.values()))
    nbytes = [p.type.size * p.type.np_dtype.itemsize for p in params]
    spec = [len(params), len(donated)] + nbytes + donated
    ty = ir.ArrayType(I64, len(spec))
    table = ir.GlobalVariable(b.module, ty, name="tg_donated." + "_".join(map(str, donated)))
    table.linkage, table.global_constant = "internal", True
    table.initializer = ir.Constant(ty, spec)
    code = b.call(linked.declare(b.module, CHECK_DONATED), [items, table])
    ok = b.append_basic_block("donated.ok")
    b.store(code, code_slot)
    b.cbranch(b.icmp_signed("==", code, ir.Constant(I32, 0)), ok, fail)
    b.position_at_end(ok)


def define_checker(module, offsets):
    """`i32 tg_check_donated(ptr items, ptr spec)`, spec = [n inputs, n donated, nbytes per
    input..., donated parameter indices...]: 0, or p+1 for the first donated input p that is
    read-only or whose [data, data+nbytes) meets another input's. `offsets`: of an array's
    data pointer and flags (entry.ARRAY). Compiled once per process (linked.py)."""
    data_at, flags_at = offsets
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR]), name=CHECK_DONATED)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    items, spec = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def word(i):
        return b.load(b.gep(spec, [i], source_etype=I64), typ=I64)

    def field(obj, offset, typ):
        return b.load(b.gep(obj, [i64(offset)], source_etype=I8), typ=typ)

    def item(i):
        return b.load(b.gep(items, [i], source_etype=PTR), typ=PTR)

    def refuse_if(cond, code):
        bad = fn.append_basic_block("refuse")
        ok = fn.append_basic_block("ok")
        b.cbranch(cond, bad, ok)
        b.position_at_end(bad)
        b.ret(code)
        b.position_at_end(ok)

    n_in, n_don = word(i64(0)), word(i64(1))
    with for_range(b, n_don, "d") as d:
        p = word(b.add(b.add(d, i64(2)), n_in))
        code = b.trunc(b.add(p, i64(1)), I32)
        obj = item(p)
        flags = field(obj, flags_at, I32)
        refuse_if(b.icmp_signed("==", b.and_(flags, ir.Constant(I32, WRITEABLE)),
                                ir.Constant(I32, 0)), code)
        lo = b.ptrtoint(field(obj, data_at, PTR), I64)
        hi = b.add(lo, word(b.add(p, i64(2))))
        with for_range(b, n_in, "j") as j:
            other_lo = b.ptrtoint(field(item(j), data_at, PTR), I64)
            other_hi = b.add(other_lo, word(b.add(j, i64(2))))
            meets = b.and_(b.icmp_unsigned("<", lo, other_hi),
                           b.icmp_unsigned("<", other_lo, hi))
            refuse_if(b.and_(meets, b.icmp_signed("!=", j, p)), code)
    b.ret(ir.Constant(I32, 0))
    return fn


def add_metadata(module, plan):
    """`!tg.donations`: one string per donation, readable in the module's LLVM IR."""
    if not plan.donate:
        return
    names = [p.name_hint or f"arg{i}" for i, p in enumerate(plan.fn.params)]
    for k, (p, how) in describe(plan).items():
        module.add_named_metadata("tg.donations",
                                  [ir.MetaDataString(module, f"out{k} -> %{names[p]} ({how})")])
