"""Accurate float sums: blocked pairwise accumulation with vector accumulators.

A float32 sum accumulated one element at a time loses about log2(n) bits; numpy avoids that with
pairwise summation. Every fused float `sum` over more than `SEQUENTIAL_MAX` elements per output
is emitted here instead, as follows, for each output element:

1. the reduced elements are visited in chunks of `CHUNK` along the innermost reduced axis; the
   fused elementwise members are evaluated for one chunk into a small stack buffer (a plain
   contiguous loop, which the loop vectoriser takes, transcendentals included);
2. the chunk is summed by `LANES` independent accumulators (one LLVM vector: lane l adds
   elements l, l+LANES, ...; CHUNK/LANES = 8 elements each), then the lanes are added in a
   fixed halving tree (5 levels);
3. chunk sums are combined by a binary counter: after chunk m (1-based) the top partial sums
   are added while m's low bits are zero, so the chunk sums form a pairwise tree; at the end
   the (at most 64) partials left on the stack are added from the top (smallest) down.

Chunks accumulate in f64 for f32 sums too (each element widened as the chunk is summed, the
total rounded once at the end): compiled f32 sums along memory are then correctly rounded but
for rare near-ties, where numpy's f32 pairwise sum is off by up to a few ulp (a mean divides
that sum by n: composites.mean). Sums down the rows (`rowwise`) stay in the summed dtype:
there numpy adds sequentially, and the pairwise rows already beat it by far.

Error bound. Every element reaches the result through at most
    d = (CHUNK/LANES - 1) + log2(LANES) + ceil(log2(nchunks)) + 2  =  14 + ceil(log2(n/256))
f64 additions, so |computed - exact| <= d * 2^-53 * sum(|x_i|) (to first order), plus, for
f32, the final rounding (half an f32 ulp of the result). For n = 2^24 that is d = 30; numpy's
pairwise summation (8 accumulators over blocks of 128, then halving) has d = 35 for the same
n, in the summed dtype. A large 1-d sum is cut into tasks
of `task_chunks` chunks (a thread each; the +2 covers folding a task's partials and the tasks'
own pairwise combination). The order is fixed by the shape alone, so results are reproducible
and bitwise independent of the thread count. No fast-math flag is used: each
addition is an IEEE addition, only the order of additions is chosen.

A sum of fewer than CHUNK terms per output (a softmax over 10 classes) uses one chunk of the
next power of two instead, summed by min(LANES, size) lanes: padding 10 terms to 256 made such
a row cost ~100 cycles. Its depth, (size/lanes - 1) + log2(lanes) + ceil(log2(nchunks)) + 2,
is never more than the full chunk's. When other reduced axes make many such rows per output (a
convolution's bias gradient: rows of 28 over batch and height), the rows are laid end to end in
full chunks instead (`_pack_row`): the chunks are then those of the terms in order, and the
bound above holds as for a long row.

Chunks are padded with -0.0, the exact additive identity; the result gets +0.0 added last so
that a sum of negative zeros is +0.0, as numpy's is.
"""
from llvmlite import ir

from .emitter import LLTYPES, SVal
from .loops import I64, for_range, i64, linear_index, loop_nest

CHUNK = 256           # elements per chunk (a multiple of LANES)
LANES = 32            # independent accumulators (8 AVX2 vectors of f64)
SEQUENTIAL_MAX = 7    # at most this many terms per output: plain sequential accumulation
#                       (numpy adds fewer than 8 in order, then pairwise from 8 lanes)
#                       (ir/ops/reduce.py's eager sum follows the same split)
STACK_DEPTH = 64      # binary-counter depth: enough for 2^64 chunks


ROW_CHUNK = 8                 # rows accumulated sequentially before a row joins the tree
ACC = "f64"                   # blocked sums along memory accumulate in f64 (module doc)
ROW_SCRATCH = 1 << 18         # bytes of stack for the row tree; larger: the column path


def rowwise(op) -> bool:
    """A blocked sum that keeps the last (contiguous) axis: reduce whole rows at a time, so the
    inner loop runs along memory instead of gathering down a column."""
    x = op.operands[0].type
    axes = op.attrs["axes"]
    if not use_blocked(op) or x.ndim - 1 in axes:
        return False
    return _row_depth(x.shape, axes) * x.shape[-1] * x.np_dtype.itemsize <= ROW_SCRATCH


def _row_depth(shape, axes):
    inner = shape[axes[-1]]
    chunks = -(-inner // ROW_CHUNK)
    for a in axes[:-1]:
        chunks *= shape[a]
    return max(chunks, 1).bit_length() + 1


def use_blocked(op) -> bool:
    """Whether reduction `op` is a float sum with enough terms per output to need blocking."""
    x = op.operands[0].type
    terms = 1
    for a in op.attrs["axes"]:
        terms *= x.shape[a]
    return op.opdef.accumulate == "add" and x.dtype in ("f32", "f64") and terms > SEQUENTIAL_MAX


def chunk_size(length) -> int:
    """Elements per chunk for `length` terms along the innermost reduced axis: CHUNK, or the
    next power of two of a shorter length (see the module docstring)."""
    if length >= CHUNK:
        return CHUNK
    return max(1 << (max(length, 1) - 1).bit_length(), 2)


class PairwiseSum:
    """Scratch slots and helpers for one blocked sum inside one step function; `size` is the
    chunk length (a power of two, at most CHUNK)."""

    def __init__(self, sf, dtype, size=CHUNK):
        self.sf, self.b, self.dtype = sf, sf.b, dtype
        self.size, self.lanes = size, min(LANES, size)
        self.ty = LLTYPES[ACC]
        self.vec = ir.VectorType(self.ty, self.lanes)
        # the chunk holds elements in their own dtype, widened as chunk_sum loads them: a
        # loop filling it then reads and writes f32 (an f64 store made LLVM vectorise it
        # half as wide, at half the speed, on AVX-512 machines)
        self.elem = LLTYPES[dtype]
        self.elem_vec = ir.VectorType(self.elem, self.lanes)
        b = self.b
        with b.goto_entry_block():
            self.chunk = b.alloca(ir.ArrayType(self.elem, size), name="chunk")
            self.chunk.align = 64
            self.stack = b.alloca(ir.ArrayType(self.ty, STACK_DEPTH), name="partials")
            self.top = b.alloca(I64, name="top")
            self.count = b.alloca(I64, name="chunks")

    def neg_zero(self):
        return ir.Constant(self.ty, -0.0)

    def put(self, v, j):
        """Element v (of the summed dtype) into chunk slot j."""
        self.b.store(v, self.slot(j))

    def narrow(self, v):
        """The accumulated value rounded once to the summed dtype."""
        return _narrow(self.b, v, self.dtype)

    def slot(self, j):
        return self.b.gep(self.chunk, [i64(0), j], inbounds=True)

    def reset(self):
        self.b.store(i64(0), self.top)
        self.b.store(i64(0), self.count)

    def pad(self, n):
        """chunk[n:size] = -0.0"""
        with for_range(self.b, self.b.sub(i64(self.size), n), "pad") as j:
            self.b.store(ir.Constant(self.elem, -0.0), self.slot(self.b.add(n, j)))

    def chunk_sum(self):
        """LANES sequential accumulators over the chunk, then a halving tree over lanes."""
        b = self.b
        base = self.chunk
        acc = None
        for t in range(self.size // self.lanes):
            p = b.gep(base, [i64(0), i64(t * self.lanes)], inbounds=True)
            v = b.load(p, typ=self.elem_vec)
            v.align = 64          # offsets are multiples of LANES elements (>= 128 bytes)
            v = _widen(b, v, self.vec)      # (each element widened exactly)
            acc = v if acc is None else b.fadd(acc, v)
        width = self.lanes
        while width > 1:
            half = width // 2
            lo = b.shuffle_vector(acc, acc, _lanes(0, half))
            hi = b.shuffle_vector(acc, acc, _lanes(half, half))
            acc = b.fadd(lo, hi)
            width = half
        return b.extract_element(acc, ir.Constant(ir.IntType(32), 0))

    def push(self, s):
        """Binary counter: merge with the top partial once per trailing zero bit of the count."""
        b = self.b
        count = b.add(b.load(self.count), i64(1))
        b.store(count, self.count)
        pre = b.block
        header = b.append_basic_block("merge.header")
        body = b.append_basic_block("merge.body")
        end = b.append_basic_block("merge.end")
        b.branch(header)
        b.position_at_end(header)
        bits = b.phi(I64, name="bits")
        acc = b.phi(self.ty, name="acc")
        bits.add_incoming(count, pre)
        acc.add_incoming(s, pre)
        even = b.icmp_unsigned("==", b.and_(bits, i64(1)), i64(0))
        b.cbranch(even, body, end)
        b.position_at_end(body)
        top = b.sub(b.load(self.top), i64(1))
        b.store(top, self.top)
        left = b.load(b.gep(self.stack, [i64(0), top], inbounds=True))
        merged = b.fadd(left, acc)
        bits.add_incoming(b.lshr(bits, i64(1)), body)
        acc.add_incoming(merged, body)
        b.branch(header)
        b.position_at_end(end)
        top = b.load(self.top)
        b.store(acc, b.gep(self.stack, [i64(0), top], inbounds=True))
        b.store(b.add(top, i64(1)), self.top)

    def fold(self):
        """The partials on the stack added from the top (smallest) down."""
        b = self.b
        top = b.load(self.top)
        with b.goto_entry_block():
            slot = b.alloca(self.ty, name="total")
        b.store(self.neg_zero(), slot)
        with for_range(b, top, "fold") as k:
            where = b.sub(b.sub(top, i64(1)), k)
            part = b.load(b.gep(self.stack, [i64(0), where], inbounds=True))
            b.store(b.fadd(part, b.load(slot)), slot)
        return b.load(slot)

    def total(self):
        """fold() + 0.0 (a sum of negative zeros is +0.0, as in numpy)."""
        return self.b.fadd(self.fold(), ir.Constant(self.ty, 0.0))


def element(sf, idx, members, other_writes, x, make_ctx, eval_member):
    """The reduced operand x at full index `idx`, the fused members evaluated on the way and
    every other value the step writes stored at its element (each once)."""
    ctx = make_ctx(idx)
    for m in members:
        ctx.env[m.results[0]] = eval_member(ctx, m)
    for v, key in other_writes:
        sf.store(key, ctx.linear(), ctx.value(v))
    return ctx.value(x).v


def reduced_axes(shape, axes):
    """(kept axes, innermost reduced axis, the other reduced axes, its length)."""
    kept = [a for a in range(len(shape)) if a not in axes]
    return kept, axes[-1], axes[:-1], shape[axes[-1]]


def index_along(ndim, kept, kidx, outer_red, ridx, inner):
    """`pos_of(j)`: the full index of position j along the innermost reduced axis `inner`,
    at kept-axes index kidx and other-reduced-axes index ridx."""
    def pos_of(j):
        pos = dict(zip(kept, kidx))
        pos.update(zip(outer_red, ridx))
        pos[inner] = j
        return tuple(pos[a] for a in range(ndim))
    return pos_of


def _sum_chunk(sf, acc, c, length, pos_of, members, other_writes, x, make_ctx, eval_member):
    """Evaluate chunk `c` of the innermost reduced axis into the chunk buffer, push its sum.
    `pos_of(j_index)` gives the full index tuple for position j_index along that axis."""
    b = sf.b
    size = acc.size
    start = b.mul(c, i64(size), flags=["nsw"])
    n = b.select(b.icmp_signed("<", b.sub(i64(length), start), i64(size)),
                 b.sub(i64(length), start), i64(size))
    with for_range(b, n, "j") as j:
        v = element(sf, pos_of(b.add(start, j, flags=["nsw"])), members, other_writes, x,
                    make_ctx, eval_member)
        acc.put(v, j)
    acc.pad(n)
    acc.push(acc.chunk_sum())


def _pack_row(sf, acc, fill, length, pos_of, members, other_writes, x, make_ctx, eval_member):
    """Rows shorter than a chunk (a convolution's bias gradient sums 28-element rows) are laid
    end to end in full chunks, a row split across two where it meets a chunk's end: each chunk
    sum and binary-counter push then serves CHUNK terms, not one short padded row, and the
    chunks are exactly those of the terms taken in order (the module's bound holds as is).
    `fill` holds how much of the current chunk is written."""
    b = sf.b

    def put(lo, hi, slot_of):
        with for_range(b, hi, "j", start=lo) as j:
            v = element(sf, pos_of(j), members, other_writes, x, make_ctx, eval_member)
            acc.put(v, slot_of(j))
    at = b.load(fill)
    room = b.sub(i64(acc.size), at)
    head = b.select(b.icmp_signed("<", room, i64(length)), room, i64(length))
    put(i64(0), head, lambda j: b.add(at, j))
    with b.if_else(b.icmp_signed("==", head, room)) as (full, partial):
        with full:      # the chunk is full: sum it; the row's rest starts the next one
            acc.push(acc.chunk_sum())
            put(head, i64(length), lambda j: b.sub(j, head))
            b.store(b.sub(i64(length), head), fill)
        with partial:
            b.store(b.add(at, head), fill)


def emit_blocked_sum(sf, step, views, members, op, out_key, make_ctx, eval_member, first=None):
    """The whole fused step as kept-axes loop > reduced-axes loop > chunk loop (see module doc).
    `make_ctx(idx)` builds a FusedContext at full index `idx`; `eval_member(ctx, op)` evaluates
    one member. Every other value the step writes is stored at its element as it is computed.
    `first=(lo, hi)` restricts the outermost kept axis (a thread's share)."""
    b = sf.b
    shape, axes = step.shape, tuple(op.attrs["axes"])
    kept, inner, outer_red, length = reduced_axes(shape, axes)
    x = op.operands[0]
    packed = bool(outer_red) and length < CHUNK
    acc = PairwiseSum(sf, x.type.dtype, CHUNK if packed else chunk_size(length))
    if packed:
        with b.goto_entry_block():
            fill = b.alloca(I64, name="fill")
    other_writes = [(v, k) for v, k in step.writes if v is not op.results[0]]
    with loop_nest(b, [shape[a] for a in kept], "k", first=first) as kidx:
        acc.reset()
        if packed:
            b.store(i64(0), fill)
        with loop_nest(b, [shape[a] for a in outer_red], "r") as ridx:
            pos_of = index_along(len(shape), kept, kidx, outer_red, ridx, inner)
            if packed:
                _pack_row(sf, acc, fill, length, pos_of, members, other_writes, x, make_ctx,
                          eval_member)
            else:
                with for_range(b, -(-length // acc.size), "c") as c:
                    _sum_chunk(sf, acc, c, length, pos_of, members, other_writes, x,
                               make_ctx, eval_member)
        if packed:      # the last chunk, partly filled
            n = b.load(fill)
            with b.if_then(b.icmp_signed(">", n, i64(0))):
                acc.pad(n)
                acc.push(acc.chunk_sum())
        total = acc.narrow(acc.total())
        sf.store(out_key, linear_index(b, kidx, _kept_strides(shape, axes)),
                 SVal(total, x.type.dtype))


def emit_rowwise_sum(sf, step, views, members, op, out_key, make_ctx, eval_member, first=None):
    """Pairwise sum over rows when the last axis is kept (in the summed dtype: numpy sums
    down a column sequentially, and f64 rows cost twice the time): for each index of the other
    kept axes, chunks of ROW_CHUNK rows are added into a row accumulator (vectorised along the last
    axis), and the chunk rows are combined by the same binary counter as scalar chunks, with
    rows as the unit (stack of rows on the function's stack). Every term passes through at
    most ROW_CHUNK - 1 + ceil(log2(nchunks)) + 1 additions: within the documented bound."""
    b = sf.b
    shape = step.shape
    axes = tuple(op.attrs["axes"])
    x = op.operands[0]
    ty = LLTYPES[x.type.dtype]
    cols = shape[-1]
    kept_outer = [a for a in range(len(shape) - 1) if a not in axes]
    inner, outer_red = axes[-1], axes[:-1]
    length = shape[inner]
    depth = _row_depth(shape, axes)
    with b.goto_entry_block():
        row = b.alloca(ir.ArrayType(ty, cols), name="row")
        stack = b.alloca(ir.ArrayType(ty, depth * cols), name="rows")
        top = b.alloca(I64, name="top")
        count = b.alloca(I64, name="chunks")
    neg_zero = ir.Constant(ty, -0.0)

    def at(base, k):
        return b.gep(base, [i64(0), k], inbounds=True)

    def stack_at(level, c):
        return at(stack, b.add(b.mul(level, i64(cols)), c))
    other_writes = [(v, k) for v, k in step.writes if v is not op.results[0]]
    out_strides = _kept_strides(shape, axes)
    # threads split the outer kept axes, or the columns when the last axis is the only one kept
    lo, hi = first if (first is not None and not kept_outer) else (0, cols)
    outer_first = first if kept_outer else None

    def columns(name):
        return for_range(b, hi, name, start=lo)
    with loop_nest(b, [shape[a] for a in kept_outer], "k", first=outer_first) as kidx:
        b.store(i64(0), top)
        b.store(i64(0), count)
        with loop_nest(b, [shape[a] for a in outer_red], "r") as ridx:
            with for_range(b, -(-length // ROW_CHUNK), "c") as c:
                start = b.mul(c, i64(ROW_CHUNK), flags=["nsw"])
                n = b.select(b.icmp_signed("<", b.sub(i64(length), start), i64(ROW_CHUNK)),
                             b.sub(i64(length), start), i64(ROW_CHUNK))
                with columns("z") as z:
                    b.store(neg_zero, at(row, z))
                with for_range(b, n, "j") as j:
                    with columns("col") as col:
                        pos = dict(zip(kept_outer, kidx))
                        pos.update(zip(outer_red, ridx))
                        pos[inner] = b.add(start, j, flags=["nsw"])
                        pos[len(shape) - 1] = col
                        ctx = make_ctx(tuple(pos[a] for a in range(len(shape))))
                        for m in members:
                            ctx.env[m.results[0]] = eval_member(ctx, m)
                        for v, key in other_writes:
                            sf.store(key, ctx.linear(), ctx.value(v))
                        slot = at(row, col)
                        b.store(b.fadd(b.load(slot), ctx.value(x).v), slot)
                # binary counter over chunk rows: merge with the top row per trailing zero bit
                cnt = b.add(b.load(count), i64(1))
                b.store(cnt, count)
                pre = b.block
                header = b.append_basic_block("rmerge.header")
                body = b.append_basic_block("rmerge.body")
                end = b.append_basic_block("rmerge.end")
                b.branch(header)
                b.position_at_end(header)
                bits = b.phi(I64, name="rbits")
                bits.add_incoming(cnt, pre)
                b.cbranch(b.icmp_unsigned("==", b.and_(bits, i64(1)), i64(0)), body, end)
                b.position_at_end(body)
                level = b.sub(b.load(top), i64(1))
                b.store(level, top)
                with columns("m") as m:
                    slot = at(row, m)
                    b.store(b.fadd(b.load(stack_at(level, m)), b.load(slot)), slot)
                bits.add_incoming(b.lshr(bits, i64(1)), b.block)
                b.branch(header)
                b.position_at_end(end)
                level = b.load(top)
                with columns("s") as m:
                    b.store(b.load(at(row, m)), stack_at(level, m))
                b.store(b.add(level, i64(1)), top)
        # fold the stacked rows from the top down, + 0.0, into the output row
        levels = b.load(top)
        with columns("z") as z:
            b.store(neg_zero, at(row, z))
        with for_range(b, levels, "fold") as k:
            level = b.sub(b.sub(levels, i64(1)), k)
            with columns("f") as m:
                slot = at(row, m)
                b.store(b.fadd(b.load(stack_at(level, m)), b.load(slot)), slot)
        with columns("o") as m:
            where = b.add(linear_index(b, kidx, out_strides[:-1]) if kept_outer else i64(0), m)
            total = b.fadd(b.load(at(row, m)), ir.Constant(ty, 0.0))
            sf.store(out_key, where, SVal(total, x.type.dtype))


def task_chunks(n) -> int:
    """Chunks per task of a threaded full reduction: 64, doubled until <= 4096 tasks. Depends
    on the size only, so the combination order never depends on the thread count."""
    nchunks, per = -(-n // CHUNK), 64
    while -(-nchunks // per) > 4096:
        per *= 2
    return per


def n_tasks(n) -> int:
    return -(-(-(-n // CHUNK)) // task_chunks(n))


def emit_sum_tasks(sf, step, views, members, op, partials, make_ctx, eval_member):
    """A thread's share of a 1-d full sum: tasks [sf.lo, sf.hi), each a pairwise tree over
    its `task_chunks` chunks, folded into partials[task]."""
    b = sf.b
    length = step.shape[0]
    nchunks, per = -(-length // CHUNK), task_chunks(length)
    x = op.operands[0]
    acc = PairwiseSum(sf, x.type.dtype)
    other_writes = [(v, k) for v, k in step.writes if v is not op.results[0]]
    with for_range(b, sf.hi, "task", start=sf.lo) as t:
        acc.reset()
        lo = b.mul(t, i64(per))
        hi = b.add(lo, i64(per))
        hi = b.select(b.icmp_signed("<", hi, i64(nchunks)), hi, i64(nchunks))
        with for_range(b, hi, "c", start=lo) as c:
            _sum_chunk(sf, acc, c, length, lambda j: (j,), members, other_writes, x, make_ctx,
                       eval_member)
        b.store(acc.fold(), b.gep(partials, [t], source_etype=acc.ty))


def combine_tasks(sf, partials, ntasks, dtype, out_key):
    """Task partials combined pairwise in task order (the same for every thread count)."""
    b = sf.b
    acc = PairwiseSum(sf, dtype)
    acc.reset()
    with for_range(b, ntasks, "part") as t:
        acc.push(b.load(b.gep(partials, [t], source_etype=acc.ty), typ=acc.ty))
    sf.store(out_key, i64(0), SVal(acc.narrow(acc.total()), dtype))


def _widen(b, v, ty):
    return v if v.type == ty else b.fpext(v, ty)


def _narrow(b, v, dtype):
    ty = LLTYPES[dtype]
    return v if v.type == ty else b.fptrunc(v, ty)


def _lanes(start, count):
    return ir.Constant(ir.VectorType(ir.IntType(32), count), list(range(start, start + count)))


def _kept_strides(shape, axes):
    """Strides into the (contiguous) reduction output for the kept-axes index."""
    kept_shape = [d for i, d in enumerate(shape) if i not in axes]
    strides, acc = [], 1
    for d in reversed(kept_shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))
