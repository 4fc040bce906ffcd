"""Native control flow: the `while_loop` op (tracing/loops.py) and the `cond` op
(tracing/branches.py) lowered inside the graph's own module.

An op's regions (IR Functions: a loop's condition and body, a cond's two branches) are planned
like any graph and emitted into the same LLVM module as region functions
`void r(ptr in..., ptr out..., ptr arena)` (no guards: the op hands them pointers it owns).

The loop kernel copies the initial loop variables into the final-variable results, then per
step tests the trip count and the condition and calls the body with pointers to this step's
rows (sequences in, step outputs out). When the graph reads the per-step history (an adjoint
does), the variables are first copied into their history row, which the body reads while it
writes the final-variable results; otherwise the variables alternate between two buffers
with no copy. Rows past the trip count are zeroed and the trip count stored. Results the
graph never reads get no storage. The cond kernel tests the predicate and calls one branch.
The regions' scratch is one malloc per run of the op. When malloc fails, the op's step
function sets the module's `tg_out_of_memory` flag and returns at once: the entry returns
OUT_OF_MEMORY after that step (no later step reads what it did not write), and the caller
raises MemoryError.

So a compiled graph holding loops and conds stays one native call: trip tests, steps,
stacking and what the adjoint needs run without Python. Codegen reads the ops through their
OpDef's `regions`, `region_key`, `loop_body` / `cond_body` (attrs), never importing them.
"""
import re

from llvmlite import ir

from ..ir.function import Literal
from ..ir.printer import print_function
from . import entry
from .emitter import MEMTYPES
from ..ir.ops import BRANCH, LOOP
from .kernels import libc, register_family
from .loops import I64, i64
from .views import PTR

I8 = ir.IntType(8)
ALIGN = 64


_HANDLE = re.compile(r"(= (?:while_loop|cond) [^{\n]*\{body = )\d+")


def cache_text(fn) -> str:
    """`fn`'s text for the compiled object's cache key: a loop's or cond's handle number is
    blanked (it differs from process to process) and the text of every region it reaches is
    appended (the handle alone says nothing of what the code does)."""
    return _HANDLE.sub(r"\1#", print_function(fn) + _region_text(fn))


def _region_text(fn) -> str:
    parts = []
    for op in fn.ops:
        regions = getattr(op.opdef, "regions", None)
        if regions is not None:
            parts.append(op.opdef.region_key(op.attrs))
            parts.extend(_region_text(r) for r in regions(op.attrs))
    return "\n".join(p for p in parts if p)


def emit_region(module, fn, name):
    """`fn` as `void name(ptr param..., ptr output..., ptr arena)` in `module`; returns the
    function and the scratch bytes it needs."""
    plan = entry.make_plan(fn, getattr(module, "tg_fastmath", frozenset()))
    calls = entry.emit_steps(module, plan, prefix=f"{name}.")
    nin, nout = len(fn.params), len(plan.out_slots)
    f = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * (nin + nout + 1)), name=name)
    f.linkage = "internal"
    f.attributes.add("nounwind")
    args = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    ptrs = {p: args[i] for i, p in enumerate(fn.params)}
    for i, slot in enumerate(plan.out_slots):
        if slot is not None:
            ptrs[slot] = args[nin + i]
    for key, off in plan.offsets.items():
        ptrs[key] = b.gep(args[-1], [i64(off)], source_etype=I8)
    for step, keys in calls:
        b.call(step, entry.step_pointers(b, ptrs, keys))
    for i, o in enumerate(fn.outputs):        # a constant output (always a scalar)
        if isinstance(o, Literal):
            b.store(_constant(o.value, o.type.dtype), args[nin + i])
    b.ret_void()
    return f, plan.arena_bytes


def _constant(value, dtype):
    ty = MEMTYPES[dtype]
    if isinstance(ty, ir.IntType):
        return ir.Constant(ty, int(value))
    return ir.Constant(ty, float(value))


def _bytes(t) -> int:
    return t.size * t.np_dtype.itemsize


def _row_bytes(t) -> int:
    rows = t.shape[0] if t.shape else 1
    return _bytes(t) // rows if rows else 0


def _lower_loop(sf, op, views, out_key):
    lb = op.opdef.loop_body(op.attrs)
    module, b = sf.b.module, sf.b
    name = module.scope.register("loop", deduplicate=True)  # reserved: nested loops differ
    body, body_bytes = emit_region(module, lb.body_fn, f"{name}.body")
    cond, cond_bytes = (emit_region(module, lb.cond_fn, f"{name}.cond")
                        if lb.cond_fn is not None else (None, 0))
    memcpy = libc(module, "memcpy", PTR, [PTR, PTR, I64])
    memset = libc(module, "memset", PTR, [PTR, ir.IntType(32), I64])
    c, ns, nv, no = int(lb.counted), lb.n_seq, lb.n_vars, lb.n_outs
    L = lb.max_iterations
    out_rows = [_row_bytes(r.type) for r in op.results[:no]]
    var_bytes = [_bytes(r.type) for r in op.results[no:no + nv]]
    # results the graph never reads get no storage (entry._stored_values): a dead step output
    # is written to one scratch row; dead histories mean no history at all, and the loop
    # variables then alternate between two buffers instead of being copied every step
    live = [r in views for r in op.results]
    keep_history = any(live[no + nv:no + 2 * nv])
    sizes = {"body": body_bytes, "cond": cond_bytes, "flag": 8}
    for k in range(no):
        if not live[k]:
            sizes[("out", k)] = out_rows[k]
    for i in range(nv):
        if not live[no + i]:
            sizes[("final", i)] = var_bytes[i]
        if keep_history and not live[no + nv + i]:
            sizes[("history", i)] = L * var_bytes[i]
        if not keep_history:
            sizes[("other", i)] = var_bytes[i]
    scratch, operands, release = _scratch(sf, op, views, sizes)

    def result(k, key):
        if live[k]:
            r = op.results[k]
            return sf.address(views[r].base, i64(views[r].offset))
        return scratch(key) if key in sizes else None
    stacked = [result(k, ("out", k)) for k in range(no)]
    final = [result(no + i, ("final", i)) for i in range(nv)]
    history = [result(no + nv + i, ("history", i)) for i in range(nv)]
    steps_out = result(no + 2 * nv, None)
    seqs, init = operands[c:c + ns], operands[c + ns:c + ns + nv]
    caps = operands[c + ns + nv:]
    seq_rows = [_row_bytes(x.type) for x in op.operands[c:c + ns]]
    if c:
        n = b.load(operands[0], typ=I64)
        n = b.select(b.icmp_signed("<", n, i64(0)), i64(0), n)
        limit = b.select(b.icmp_signed(">", n, i64(L)), i64(L), n)
    else:
        limit = i64(L)
    for dst, src, size in zip(final, init, var_bytes):
        b.call(memcpy, [dst, src, i64(size)])

    def row(p, t, size, k=None):
        if k is not None and not live[k]:
            return p                      # a dead step output: the one scratch row
        return b.gep(p, [b.mul(t, i64(size))], source_etype=I8)

    counter = b.alloca(I64)
    b.store(i64(0), counter)
    fn = b.function
    header, step_block, done = (fn.append_basic_block(f"{name}.{s}")
                                for s in ("header", "step", "done"))
    b.branch(header)
    b.position_at_end(header)
    t = b.load(counter)
    odd = b.trunc(t, ir.IntType(1))
    if keep_history:
        current = final
    else:   # the variables of step t are in `final` when t is even, else in `other`
        other = [scratch(("other", i)) for i in range(nv)]
        current = [b.select(odd, o, f) for f, o in zip(final, other)]
    go = b.icmp_signed("<", t, limit)
    if cond is not None:
        test = fn.append_basic_block(f"{name}.test")
        b.cbranch(go, test, done)
        b.position_at_end(test)
        flag = scratch("flag")
        b.call(cond, current + caps + [flag, scratch("cond")])
        b.cbranch(_truth(b, flag, lb.cond_fn.outputs[0].type.dtype), step_block, done)
    else:
        b.cbranch(go, step_block, done)
    b.position_at_end(step_block)
    r = b.sub(b.sub(limit, i64(1)), t) if lb.reverse else t
    if keep_history:
        reads = [row(h, r, size) for h, size in zip(history, var_bytes)]
        for dst, src, size in zip(reads, final, var_bytes):
            b.call(memcpy, [dst, src, i64(size)])
        writes = final
    else:
        reads, writes = current, [b.select(odd, f, o) for f, o in zip(final, other)]
    args = [row(s, r, size) for s, size in zip(seqs, seq_rows)] + reads + caps
    args += [row(o, r, size, k) for k, (o, size) in enumerate(zip(stacked, out_rows))] + writes
    b.call(body, args + [scratch("body")])
    b.store(b.add(t, i64(1)), counter)
    b.branch(header)

    b.position_at_end(done)
    t = b.load(counter)
    if not keep_history and nv:             # an odd trip count ends in `other`
        copy_back, joined = (fn.append_basic_block(f"{name}.{s}") for s in ("copy", "joined"))
        b.cbranch(b.trunc(t, ir.IntType(1)), copy_back, joined)
        b.position_at_end(copy_back)
        for f, o, size in zip(final, other, var_bytes):
            b.call(memcpy, [f, o, i64(size)])
        b.branch(joined)
        b.position_at_end(joined)
    if steps_out is not None:
        b.store(t, steps_out)
    rest = b.sub(i64(L), t)
    padded = [(stacked[k], out_rows[k]) for k in range(no) if live[k]]
    padded += [(h, size) for h, size in zip(history, var_bytes) if keep_history]
    for p, size in padded:
        if size:
            b.call(memset, [row(p, t, size), ir.Constant(ir.IntType(32), 0),
                            b.mul(rest, i64(size))])
    release()


def _scratch(sf, op, views, sizes):
    """One malloc'd block for the regions' arenas (`sizes`: name -> bytes) and the op's
    literal operands. Returns (scratch(name) -> pointer, operand pointers, release())."""
    module, b = sf.b.module, sf.b
    malloc = libc(module, "malloc", PTR, [I64])
    free = libc(module, "free", ir.VoidType(), [PTR])
    layout, total = {}, 0
    for key, size in sizes.items():
        layout[key] = total
        total += -(-size // ALIGN) * ALIGN
    for k, x in enumerate(op.operands):
        if isinstance(x, Literal):
            layout[k] = total
            total += ALIGN
    raw = b.call(malloc, [i64(total + ALIGN)])
    _return_when_null(b, raw)
    base = b.inttoptr(b.and_(b.add(b.ptrtoint(raw, I64), i64(ALIGN - 1)), i64(-ALIGN)), PTR)

    def scratch(key):
        return b.gep(base, [i64(layout[key])], source_etype=I8)
    operands = []
    for k, x in enumerate(op.operands):
        if isinstance(x, Literal):
            b.store(_constant(x.value, x.type.dtype), scratch(k))
            operands.append(scratch(k))
        else:
            view = views[x]
            operands.append(sf.address(view.base, i64(view.offset)))
    return scratch, operands, lambda: b.call(free, [raw])


def _return_when_null(b, raw):
    """After a malloc: a null pointer sets the out-of-memory flag and leaves the function
    (a step or region function: void), which then touches none of the memory it lacks."""
    failed = b.function.append_basic_block("out_of_memory")
    ok = b.function.append_basic_block("allocated")
    b.cbranch(b.icmp_unsigned("==", raw, ir.Constant(PTR, None)), failed, ok)
    b.position_at_end(failed)
    b.store(ir.Constant(ir.IntType(32), 1), entry.out_of_memory_flag(b.module))
    b.ret_void()
    b.position_at_end(ok)


def _truth(b, pointer, dtype):
    """Whether the element at `pointer` (of `dtype`) is nonzero, as i1."""
    value = b.load(pointer, typ=MEMTYPES[dtype])
    zero = _constant(0, dtype)
    if isinstance(value.type, ir.IntType):
        return b.icmp_unsigned("!=", value, zero)
    return b.fcmp_unordered("!=", value, zero)


def _lower_cond(sf, op, views, out_key):
    """The branch: call the then- or else-region on the captured arrays, writing the results."""
    cb = op.opdef.cond_body(op.attrs)
    module, b = sf.b.module, sf.b
    name = module.scope.register("cond", deduplicate=True)
    then_fn, then_bytes = emit_region(module, cb.then_fn, f"{name}.then")
    else_fn, else_bytes = emit_region(module, cb.else_fn, f"{name}.else")
    scratch, operands, release = _scratch(sf, op, views, {"arena": max(then_bytes, else_bytes)})
    results = [sf.address(views[r].base, i64(views[r].offset)) for r in op.results]
    args = operands[1:] + results + [scratch("arena")]
    fn = b.function
    on_then, on_else, done = (fn.append_basic_block(f"{name}.{s}")
                              for s in ("then", "else", "done"))
    b.cbranch(_truth(b, operands[0], op.operands[0].type.dtype), on_then, on_else)
    for block, region in ((on_then, then_fn), (on_else, else_fn)):
        b.position_at_end(block)
        b.call(region, args)
        b.branch(done)
    b.position_at_end(done)
    release()


register_family(LOOP, _lower_loop)
register_family(BRANCH, _lower_cond)
