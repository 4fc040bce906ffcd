"""One fused group -> one LLVM loop nest over the group's iteration shape.

Members are evaluated per element in program order: ELEMENTWISE ops through their `scalar` rule
on a ScalarEmitter, index-driven leaves (iota, one_hot, take, random_*, constant) through
`kernels.LEAVES`. Values from outside the group are loaded through their strided `View`
(broadcasts and transposes cost an index computation, not a copy). Every value the rest of the
graph needs is stored in the same iteration; a trailing reduction accumulates into its output,
which is filled with the identity first. The innermost loop walks the last axis (contiguous),
so the loop vectoriser can take it; reductions over the last axis stay scalar (strict IEEE
forbids reassociating the sum).
"""
import math

from llvmlite import ir

from ..ir.function import Literal
from ..ir.ops import ELEMENTWISE
from ..ir.types import FLOATS
from . import reduction
from .emitter import LLTYPES, ScalarEmitter, SVal
from .loops import for_range, linear_index, loop_nest
from .views import StepFunction, contiguous_strides


class FusedContext:
    """What a member's lowering sees: the emitter, the loop index and operand access."""

    def __init__(self, sf: StepFunction, shape, views, idx):
        self.sf, self.shape, self.views, self.idx = sf, shape, views, idx
        self.e = ScalarEmitter(sf.b)
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


def _identity(kind, dtype) -> SVal:
    ty = LLTYPES[dtype]
    if kind == "sum":
        return SVal(ir.Constant(ty, 0.0 if dtype in FLOATS else 0), dtype)
    sign = -1 if kind == "max" else 1
    if dtype in FLOATS:
        return SVal(ir.Constant(ty, sign * math.inf), dtype)
    bits = ty.width - 1
    return SVal(ir.Constant(ty, -(1 << bits) if sign < 0 else (1 << bits) - 1), dtype)


def _combine(e: ScalarEmitter, kind, acc: SVal, x: SVal) -> SVal:
    if kind == "sum":
        return e.add(acc, x)
    return e.maximum(acc, x) if kind == "max" else e.minimum(acc, x)


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


def _eval_member(ctx: FusedContext, op):
    from .kernels import LEAVES
    if ELEMENTWISE in op.opdef.traits:
        args = [ctx.value(o) for o in op.operands]
        out = op.opdef.scalar(ctx.e, *args, **op.attrs)
    else:
        out = LEAVES[op.name](ctx, op)
    want = op.results[0].type.dtype
    return out if out.dtype == want else ctx.e.cast(out, want)


def emit_fused(module, name, step, views):
    """Emit `step` (members, writes: [(value, buffer key)]) as function `name`; returns the
    StepFunction (its `buffers` are the storage keys to pass, in order)."""
    buffers = [key for _, key in step.writes] + step_reads(step, views)
    sf = StepFunction(module, name, buffers)
    reduce_op = step.ops[-1] if step.ops and step.ops[-1].name in ("sum", "max", "min") else None
    members = step.ops[:-1] if reduce_op is not None else step.ops
    if reduce_op is not None and reduction.use_blocked(reduce_op):
        reduction.emit_blocked_sum(sf, step, views, members, reduce_op,
                                   step.key_of[reduce_op.results[0]],
                                   lambda idx: FusedContext(sf, step.shape, views, idx),
                                   _eval_member)
        sf.finish()
        return sf
    if reduce_op is not None:
        _fill_identity(sf, reduce_op, step.key_of[reduce_op.results[0]])
    with loop_nest(sf.b, step.shape) as idx:
        ctx = FusedContext(sf, step.shape, views, idx)
        for op in members:
            ctx.env[op.results[0]] = _eval_member(ctx, op)
        for v, key in step.writes:
            if reduce_op is None or v is not reduce_op.results[0]:
                sf.store(key, ctx.linear(), ctx.value(v))
        if reduce_op is not None:
            _accumulate(ctx, reduce_op, step.key_of[reduce_op.results[0]])
    sf.finish()
    return sf


def _fill_identity(sf, op, key):
    out = op.results[0].type
    init = _identity(op.name, out.dtype)
    with for_range(sf.b, out.size, "init") as i:
        sf.store(key, i, init)


def _accumulate(ctx: FusedContext, op, key):
    sf = ctx.sf
    x = ctx.value(op.operands[0])
    where = linear_index(sf.b, ctx.idx, _reduce_strides(op, ctx.shape))
    acc = sf.load(key, where)
    sf.store(key, where, _combine(ctx.e, op.name, acc, x))
