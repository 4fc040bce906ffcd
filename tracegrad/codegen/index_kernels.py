"""The SCAN kernel: cumsum (ir/ops/cumulative.py), one running sum per row along the axis.

(Gathers are INDEXED ops with `element` rules and fuse; scatters are SCATTER ops lowered by
scatter.py: neither needs a kernel here.)
"""
from .emitter import ScalarEmitter, SVal
from .loops import for_range, i64, linear_index, loop_nest
from .views import contiguous_strides


def _out_index(sf, idx, shape):
    return linear_index(sf.b, idx, contiguous_strides(shape))


def cumsum(sf, op, views, out_key):
    x = op.operands[0]
    axis, reverse, shape = op.attrs["axis"], op.attrs["reverse"], x.type.shape
    e, b = ScalarEmitter(sf.b), sf.b
    n = shape[axis]
    with b.goto_entry_block():
        slot = b.alloca(e.const(0, dtype=x.type.dtype).v.type)
    with loop_nest(b, shape[:axis] + shape[axis + 1:], "c") as oi:
        b.store(e.const(0, dtype=x.type.dtype).v, slot)
        with for_range(b, n, "k") as k:
            j = b.sub(i64(n - 1), k) if reverse else k
            full = oi[:axis] + (j,) + oi[axis:]
            acc = e.add(SVal(b.load(slot), x.type.dtype), sf.read(views[x], full))
            b.store(acc.v, slot)
            sf.store(out_key, _out_index(sf, full, shape), acc)
