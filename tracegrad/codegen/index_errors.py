"""Index errors in compiled code: the CHECK kernel (check_index, ir/ops/checks.py) and the
flag that makes the native entry stop after the step that found a value out of range.

Each (check op, row) of a graph, its regions included, is a *site*, numbered in program order
(`sites`: the same numbering from the Function alone, so a disk-cached object needs no table
of its own). The kernel copies its operand while it compares every value with the range (one
compare per value, accumulated without a branch); after the loop a value out of range stores
site + 1 into the module's `tg_index_error` flag unless an earlier site already did. After
every step that holds a check (`may_raise`) the entry tests the flag once: set, it clears it
and returns INDEX_ERROR - site, so no later step runs; runtime/native.py raises MXNetError
naming the site's op, operand, range and where it was traced (`describe`). Ops that read the
checked value still clamp it, so the step that finds the bad value stays inside every array.
A donated output (a parameter updated in place) is never written before the last check of
the call (`donated_before_check`: such outputs are staged to the end).
"""
import math

from llvmlite import ir

from ..ir.function import Literal
from ..ir.ops import CHECK
from ..ir.ops.checks import ERROR, bounds, message
from ..ir.types import FLOATS
from .emitter import LLTYPES, ScalarEmitter, SVal
from .kernels import register_family
from .loops import i64, linear_index, loop_nest, module_global
from .views import contiguous_strides

INDEX_ERROR = -16          # the entry returns INDEX_ERROR - site
FLAG = "tg_index_error"    # i32: 0, or site + 1 of the first value found out of range
I1, I32 = ir.IntType(1), ir.IntType(32)


def _walk(fn):
    for op in fn.ops:
        if CHECK in op.opdef.traits:
            yield op
        regions = getattr(op.opdef, "regions", None)
        if regions is not None:
            for region in regions(op.attrs):
                yield from _walk(region)


def sites(fns) -> list:
    """[(check op, row or None)] of the Functions `fns` (a graph, or a chain's segments) and
    their regions, in program order: site i is entry i."""
    out = []
    for fn in fns:
        for op in _walk(fn):
            out.extend((op, row) for row, _, _ in bounds(op.operands[0].type.shape,
                                                         op.attrs["lo"], op.attrs["hi"]))
    return out


def number_sites(module, fns):
    """Tell the CHECK kernels of `module` their site numbers (before its steps are emitted)."""
    module.tg_index_sites = first = {}
    for i, (op, _) in enumerate(sites(fns)):
        first.setdefault(id(op), i)


def may_raise(step) -> bool:
    """Whether a step holds a check (itself, or in a region of a loop or cond op)."""
    for op in step.ops:
        if CHECK in op.opdef.traits:
            return True
        regions = getattr(op.opdef, "regions", None)
        if regions is not None and any(True for r in regions(op.attrs) for _ in _walk(r)):
            return True
    return False


def donated_before_check(plan) -> set:
    """Donated outputs written in place (directly) by a step before the last step that may
    raise: make_plan stages them (written at the end of the call), so a call that raises
    leaves every donated parameter as it was."""
    last = max((t for t, (step, _) in enumerate(plan.steps) if may_raise(step)), default=-1)
    if last < 0 or not plan.donate:
        return set()
    slots = {plan.out_slots[k]: k for k in plan.donate if plan.out_slots[k] is not None}
    return {slots[key] for step, _ in plan.steps[:last] for _, key in step.writes
            if key in slots}


def flag(module):
    return module_global(module, FLAG, I32, 0)


def stop_when_set(b, module):
    """In the entry, after a step that may raise: a set flag is cleared and the call returns
    INDEX_ERROR - site."""
    g = flag(module)
    value = b.load(g)
    stop = b.function.append_basic_block("index_error")
    go_on = b.function.append_basic_block("next_step")
    b.cbranch(b.icmp_unsigned("!=", value, ir.Constant(I32, 0)), stop, go_on)
    b.position_at_end(stop)
    b.store(ir.Constant(I32, 0), g)
    b.ret(b.sub(ir.Constant(I32, INDEX_ERROR + 1), value))
    b.position_at_end(go_on)


def error(site_list, code) -> Exception:
    """The exception for entry code `code` (<= INDEX_ERROR): the site's kind's class
    (checks.ERROR) with describe's message."""
    k = INDEX_ERROR - code
    kind = site_list[k][0].attrs.get("kind", "index") if 0 <= k < len(site_list) else "index"
    return ERROR[kind](describe(site_list, code))


def describe(site_list, code) -> str:
    """The message for entry code `code` (<= INDEX_ERROR) of a module with these sites."""
    k = INDEX_ERROR - code
    if not 0 <= k < len(site_list):
        return f"an index was out of range in compiled code (site {k}, unknown)"
    op, row = site_list[k]
    a = op.attrs
    lo, hi = (a["lo"][0], a["hi"][0]) if row is None else (a["lo"][row], a["hi"][row])
    x = op.operands[0].type
    text = message(a["of"], a["what"], a["why"], lo, hi, a.get("upper", True), row, None)
    where = getattr(op, "loc", None)
    return text + f"; {a['what']}: {x}" + (f"; traced at {where}" if where else "")


def _in_range(b, v: SVal, lo, hi, upper, truncate):
    """i1: v within the range, compared as CheckIndex.impl compares (bad_values)."""
    if v.dtype in FLOATS:
        ty = LLTYPES[v.dtype]
        t = v.v
        if truncate:
            t = b.call(b.module.declare_intrinsic("llvm.trunc", [ty]), [t])
        top = hi if upper else (3.4028234663852886e38 if v.dtype == "f32"
                                else 1.7976931348623157e308) if truncate else math.inf
        ok = b.fcmp_ordered(">=", t, ir.Constant(ty, float(lo)))
        return b.and_(ok, b.fcmp_ordered("<=", t, ir.Constant(ty, float(top))))
    w = b.zext(v.v, ir.IntType(64)) if v.dtype == "bool" else (
        v.v if v.dtype == "i64" else b.sext(v.v, ir.IntType(64)))
    ok = b.icmp_signed(">=", w, i64(lo))
    return b.and_(ok, b.icmp_signed("<=", w, i64(hi))) if upper else ok


def emit_check(sf, op, views, out_key):
    x = op.operands[0]
    a = op.attrs
    upper, truncate = a.get("upper", True), a.get("truncate", False)
    b, shape = sf.b, x.type.shape
    first = getattr(b.module, "tg_index_sites", {}).get(id(op))
    g = flag(b.module)
    strides = contiguous_strides(shape)
    with b.goto_entry_block():
        ok_slot = b.alloca(I1)
    for n, (row, lo, hi) in enumerate(bounds(shape, a["lo"], a["hi"])):
        b.store(ir.Constant(I1, 1), ok_slot)
        with loop_nest(b, shape if row is None else shape[1:], "chk") as idx:
            at = idx if row is None else (i64(row),) + idx
            if isinstance(x, Literal):
                v = ScalarEmitter(b).const(x.value, dtype=x.type.dtype)
            else:
                v = sf.read(views[x], at)
            sf.store(out_key, linear_index(b, at, strides), v)
            b.store(b.and_(b.load(ok_slot), _in_range(b, v, lo, hi, upper, truncate)), ok_slot)
        site = ir.Constant(I32, (first + n + 1) if first is not None else 0xFFFF)
        old = b.load(g)
        keep = b.or_(b.load(ok_slot), b.icmp_unsigned("!=", old, ir.Constant(I32, 0)))
        b.store(b.select(keep, old, site), g)


register_family(CHECK, emit_check)
