"""One fused group -> one LLVM loop nest over the group's iteration shape.

Members are evaluated per element in program order: ELEMENTWISE ops through their `scalar` rule
on a ScalarEmitter, INDEXED ops (iota, one_hot, take, random_*) through their `element` rule on
an IndexContext. Values from outside the group are loaded through their strided `View`
(broadcasts and transposes cost an index computation, not a copy). Every value the rest of the
graph needs is stored in the same iteration; a trailing reduction accumulates into its output,
which is filled with the identity first. The innermost loop walks the last axis (contiguous),
so the loop vectoriser can take it. A trailing REDUCTION combines with its op's `accumulate`;
float sums over more than a few terms are blocked and pairwise (codegen/reduction.py).
"""
import math

from llvmlite import ir

from ..ir.function import Literal
from ..ir.ops import ELEMENTWISE, REDUCTION
from ..ir.types import FLOATS
from . import extremum, fastmath, philox, reduction, threads
from .emitter import LLTYPES, ScalarEmitter, SVal
from .loops import for_range, linear_index, loop_nest
from .views import StepFunction, contiguous_strides


class FusedContext:
    """What a member's lowering sees: the emitter, the loop index and operand access."""

    def __init__(self, sf: StepFunction, shape, views, idx, flags=frozenset()):
        self.sf, self.shape, self.views, self.idx = sf, shape, views, idx
        self.flags = flags
        self.e = ScalarEmitter(sf.b, fastmath.elementwise_flags(flags))
        self.env = {}

    def value(self, v) -> SVal:
        """v at the current index: a member result, a literal, or a load through v's view."""
        if isinstance(v, Literal):
            return self.e.const(v.value, dtype=v.dtype)
        got = self.env.get(v)
        if got is None:
            got = self.env[v] = self.sf.read(self.views[v], self.idx, self.shape)
        return got

    def linear(self) -> ir.Value:
        """Row-major position of the current index in the iteration shape."""
        return linear_index(self.sf.b, self.idx, contiguous_strides(self.shape))


ACCUMULATORS = ("add", "mul", "max", "min")


def _identity(kind, dtype) -> SVal:
    ty = LLTYPES[dtype]
    if kind in ("add", "mul"):
        unit = 0 if kind == "add" else 1
        return SVal(ir.Constant(ty, float(unit) if dtype in FLOATS else unit), dtype)
    sign = -1 if kind == "max" else 1
    if dtype == "bool":     # (bools compare unsigned: False is the least, True the greatest)
        return SVal(ir.Constant(ty, 0 if sign < 0 else 1), dtype)
    if dtype in FLOATS:
        return SVal(ir.Constant(ty, sign * math.inf), dtype)
    bits = ty.width - 1
    return SVal(ir.Constant(ty, -(1 << bits) if sign < 0 else (1 << bits) - 1), dtype)


def _combine(e: ScalarEmitter, kind, acc: SVal, x: SVal) -> SVal:
    return {"add": e.add, "mul": e.mul, "max": e.maximum, "min": e.minimum}[kind](acc, x)


def _reduce_strides(op, shape):
    """Strides into the reduction output for an index of the (unreduced) iteration shape."""
    axes = op.attrs["axes"]
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(0 if i in axes else s for i, s in enumerate(contiguous_strides(kept)))


def step_reads(step, views) -> list:
    """Storage keys a step loads from, in a deterministic order."""
    values = [v for op in step.ops for v in op.operands] + [v for v, _ in step.writes]
    return list(dict.fromkeys(views[v].base for v in values
                              if not isinstance(v, Literal) and v in views))


class IndexContext:
    """What an INDEXED op's `element` rule sees (interface in ir/ops/__init__.py)."""

    def __init__(self, ctx: FusedContext, op):
        self.ctx, self.op, self.e = ctx, op, ctx.e
        self._words = {}

    def index(self, axis) -> SVal:
        return SVal(self.ctx.idx[axis], "i64")

    def read(self, i, idx) -> SVal:
        return self.ctx.sf.read(self.ctx.views[self.op.operands[i]], tuple(v.v for v in idx))

    def uniform(self, i, word, dtype) -> SVal:
        if i not in self._words:
            sf, b = self.ctx.sf, self.ctx.sf.b
            key = self.ctx.views[self.op.operands[i]]
            seed = sf.read(key, (ir.Constant(ir.IntType(64), 0),)).v
            counter = sf.read(key, (ir.Constant(ir.IntType(64), 1),)).v
            self._words[i] = philox.philox(b, seed, counter, self.ctx.linear())
        return SVal(philox.unit_float(self.ctx.sf.b, self._words[i][word], dtype), dtype)


def _eval_member(ctx: FusedContext, op):
    if ELEMENTWISE in op.opdef.traits:
        args = [ctx.value(o) for o in op.operands]
        out = op.opdef.scalar(ctx.e, *args, **op.attrs)
    else:
        types = [o.type for o in op.operands]
        out = op.opdef.element(IndexContext(ctx, op), *types, **op.attrs)
    want = op.results[0].type.dtype
    return out if out.dtype == want else ctx.e.cast(out, want)


def emit_fused(module, name, step, views, flags=frozenset(), alias=None):
    """Emit `step` (members, writes: [(value, buffer key)]) as function `name`; returns the
    StepFunction (its `buffers` are the storage keys to pass, in order). Large steps run their
    outer loop on several threads (codegen/threads.py); see `_split` for which loop."""
    buffers = [key for _, key in step.writes] + step_reads(step, views)
    reductions = [op for op in step.ops if REDUCTION in op.opdef.traits]
    reduce_op = reductions[0] if reductions else None
    members = [op for op in step.ops if op is not reduce_op]
    split = _split(step, reduce_op)
    sf = StepFunction(module, name, buffers, alias)
    if reduce_op is not None and not reduction.use_blocked(reduce_op) and \
            not extremum.applies(reduce_op):
        _fill_identity(sf, reduce_op, step.key_of[reduce_op.results[0]])
    if split is None:
        _emit_body(sf, step, views, members, reduce_op, None, flags)
        sf.finish()
        return sf
    kind, count = split
    task_buffers = buffers + (["partials"] if kind == "chunks" else [])
    task = StepFunction.task(module, f"{name}_task", task_buffers, alias)
    b = sf.b
    if kind == "chunks":
        with b.goto_entry_block():    # (task partials in the sums' accumulator type)
            partials = b.alloca(ir.ArrayType(LLTYPES[reduction.ACC], count), name="partials")
        reduction.emit_sum_tasks(task, step, views, members, reduce_op, task.ptr["partials"],
                                 lambda idx: FusedContext(task, step.shape, views, idx, flags),
                                 _eval_member)
    else:
        _emit_body(task, step, views, members, reduce_op, (task.lo, task.hi), flags)
    task.finish()
    with b.goto_entry_block():
        argv = b.alloca(ir.ArrayType(ir.PointerType(), len(task.buffers)), name="argv")
    for i, key in enumerate(task.buffers):
        ptr = partials if key == "partials" else sf.ptr[key]
        b.store(ptr, b.gep(argv, [ir.Constant(ir.IntType(64), 0),
                                  ir.Constant(ir.IntType(64), i)]))
    b.call(threads.parallel_for(module), [task.fn, argv, ir.Constant(ir.IntType(64), count)])
    if kind == "chunks":
        reduction.combine_tasks(sf, partials, count, reduce_op.results[0].type.dtype,
                                step.key_of[reduce_op.results[0]])
    sf.finish()
    return sf


def _split(step, reduce_op):
    """('outer', n): threads share the outermost loop of n; ('chunks', ntasks): a 1-d full
    sum in fixed tasks; None: one thread. Decided from the shape alone."""
    shape = step.shape
    if not shape or math.prod(shape) < threads.THRESHOLD:
        return None
    if reduce_op is None:
        return ("outer", shape[0]) if shape[0] > 1 else None
    axes = reduce_op.attrs["axes"]
    if reduction.rowwise(reduce_op):
        kept = [a for a in range(len(shape) - 1) if a not in axes] + [len(shape) - 1]
        return ("outer", shape[kept[0]]) if shape[kept[0]] > 1 else None
    if reduction.use_blocked(reduce_op) or extremum.applies(reduce_op):
        kept = [a for a in range(len(shape)) if a not in axes]
        if kept:
            return ("outer", shape[kept[0]]) if shape[kept[0]] > 1 else None
        if len(shape) == 1 and reduction.use_blocked(reduce_op):
            return "chunks", reduction.n_tasks(shape[0])
        return None
    return ("outer", shape[0]) if 0 not in axes and shape[0] > 1 else None


def _emit_body(sf, step, views, members, reduce_op, first, flags):
    if reduce_op is not None and reduction.rowwise(reduce_op):
        reduction.emit_rowwise_sum(sf, step, views, members, reduce_op,
                                   step.key_of[reduce_op.results[0]],
                                   lambda idx: FusedContext(sf, step.shape, views, idx, flags),
                                   _eval_member, first=first)
        return
    if reduce_op is not None and reduction.use_blocked(reduce_op):
        reduction.emit_blocked_sum(sf, step, views, members, reduce_op,
                                   step.key_of[reduce_op.results[0]],
                                   lambda idx: FusedContext(sf, step.shape, views, idx, flags),
                                   _eval_member, first=first)
        return
    if reduce_op is not None and extremum.applies(reduce_op):
        extremum.emit(sf, step, views, members, reduce_op, step.key_of[reduce_op.results[0]],
                      lambda idx: FusedContext(sf, step.shape, views, idx, flags),
                      _eval_member, first=first)
        return
    with loop_nest(sf.b, step.shape, first=first) as idx:
        ctx = FusedContext(sf, step.shape, views, idx, flags)
        for op in members:
            ctx.env[op.results[0]] = _eval_member(ctx, op)
        for v, key in step.writes:
            if reduce_op is None or v is not reduce_op.results[0]:
                sf.store(key, ctx.linear(), ctx.value(v))
        if reduce_op is not None:
            _accumulate(ctx, reduce_op, step.key_of[reduce_op.results[0]])


def _fill_identity(sf, op, key):
    out = op.results[0].type
    init = _identity(op.opdef.accumulate, out.dtype)
    with for_range(sf.b, out.size, "init") as i:
        sf.store(key, i, init)


def _accumulate(ctx: FusedContext, op, key):
    sf = ctx.sf
    x = ctx.value(op.operands[0])
    where = linear_index(sf.b, ctx.idx, _reduce_strides(op, ctx.shape))
    acc = sf.load(key, where)
    if "reassoc" in ctx.flags and op.opdef.accumulate == "add" and x.dtype in FLOATS:
        flags = ("reassoc",) + fastmath.elementwise_flags(ctx.flags)
        x = ctx.e.cast(x, acc.dtype)
        sf.store(key, where, SVal(sf.b.fadd(acc.v, x.v, flags=flags), acc.dtype))
        return
    sf.store(key, where, _combine(ctx.e, op.opdef.accumulate, acc, x))
