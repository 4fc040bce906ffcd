"""Kernels for the gather/scatter, scan and padding primitives (ir/ops/sorting.py, index.py,
cumulative.py, pad.py): one loop nest each, registered into kernels.KERNELS.

Gathers loop over the output and read the source element their indices name; scatters fill the
output with zeros and accumulate into it. Indices are clipped into range exactly as the numpy
impls clip them, so no load or store leaves its buffer.
"""
from llvmlite import ir

from .emitter import ScalarEmitter, SVal
from .loops import for_range, i64, linear_index, loop_nest
from .views import contiguous_strides


def _out_index(sf, idx, shape):
    return linear_index(sf.b, idx, contiguous_strides(shape))


def _fill(sf, key, t, value):
    e = ScalarEmitter(sf.b)
    with for_range(sf.b, t.size, "fill") as i:
        sf.store(key, i, e.const(value, dtype=t.dtype))


def _clip(e, v: SVal, size) -> ir.Value:
    """An index value (any dtype) as i64 clipped into [0, size)."""
    i = e.cast(v, "i64")
    i = e.maximum(i, e.const(0, dtype="i64"))
    return e.minimum(i, e.const(max(size - 1, 0), dtype="i64")).v


def _wrap_clip(e, v: SVal, size) -> ir.Value:
    """gather_nd's rule: a negative index counts from the end once, then clip into range."""
    i = e.cast(v, "i64")
    neg = e.lt(i, e.const(0, dtype="i64"))
    i = e.select(neg, e.add(i, e.const(size, dtype="i64")), i)
    return _clip(e, i, size)


# ---------------------------------------------------------------- along an axis
def _take_along_axis(sf, op, views, out_key):
    x, idx = op.operands
    axis, out = op.attrs["axis"], op.results[0].type
    e = ScalarEmitter(sf.b)
    with loop_nest(sf.b, out.shape, "t") as oi:
        j = _clip(e, sf.read(views[idx], oi), x.type.shape[axis])
        v = sf.read(views[x], oi[:axis] + (j,) + oi[axis + 1:])
        sf.store(out_key, _out_index(sf, oi, out.shape), v)


def _scatter_add_along_axis(sf, op, views, out_key):
    x, idx = op.operands
    axis, size, out = op.attrs["axis"], op.attrs["size"], op.results[0].type
    _fill(sf, out_key, out, 0)
    e = ScalarEmitter(sf.b)
    with loop_nest(sf.b, x.type.shape, "s") as xi:
        j = _clip(e, sf.read(views[idx], xi), size)
        where = _out_index(sf, xi[:axis] + (j,) + xi[axis + 1:], out.shape)
        sf.store(out_key, where, e.add(sf.load(out_key, where), sf.read(views[x], xi)))


def _cumsum(sf, op, views, out_key):
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


# ---------------------------------------------------------------- n-d gather / scatter
def _nd_position(sf, e, views, idx, lead, shape):
    """The clipped data indices column `lead` of gather_nd's indices names."""
    m = idx.type.shape[0]
    return tuple(_wrap_clip(e, sf.read(views[idx], (i64(j),) + lead), shape[j])
                 for j in range(m))


def _gather_nd(sf, op, views, out_key):
    data, idx = op.operands
    out = op.results[0].type
    k = idx.type.ndim - 1
    e = ScalarEmitter(sf.b)
    with loop_nest(sf.b, out.shape, "g") as oi:
        pos = _nd_position(sf, e, views, idx, oi[:k], data.type.shape)
        v = sf.read(views[data], pos + oi[k:])
        sf.store(out_key, _out_index(sf, oi, out.shape), v)


def _scatter_nd_add(sf, op, views, out_key):
    x, idx = op.operands
    out = op.results[0].type
    k = idx.type.ndim - 1
    _fill(sf, out_key, out, 0)
    e = ScalarEmitter(sf.b)
    with loop_nest(sf.b, x.type.shape, "n") as xi:
        pos = _nd_position(sf, e, views, idx, xi[:k], out.shape)
        where = _out_index(sf, pos + xi[k:], out.shape)
        sf.store(out_key, where, e.add(sf.load(out_key, where), sf.read(views[x], xi)))


# ---------------------------------------------------------------- padding
def _pad_source(b, i, d, lo, mode):
    """(input index clamped into range, i1 'reads the input') of padded position i."""
    j = b.sub(i, i64(lo))
    inside = b.and_(b.icmp_signed(">=", j, i64(0)), b.icmp_signed("<", j, i64(d)))
    if mode == "reflect":
        j = b.select(b.icmp_signed("<", j, i64(0)), b.neg(j), j)
        j = b.select(b.icmp_signed(">=", j, i64(d)), b.sub(i64(2 * (d - 1)), j), j)
    low = b.select(b.icmp_signed("<", j, i64(0)), i64(0), j)
    j = b.select(b.icmp_signed(">", low, i64(max(d - 1, 0))), i64(max(d - 1, 0)), low)
    return j, (inside if mode == "constant" else ir.Constant(ir.IntType(1), 1))


def _pad_walk(sf, shape, pad_width, mode, oi):
    b, pos, reads = sf.b, [], ir.Constant(ir.IntType(1), 1)
    for k, (i, d) in enumerate(zip(oi, shape)):
        j, ok = _pad_source(b, i, d, pad_width[2 * k], mode)
        pos.append(j)
        reads = b.and_(reads, ok)
    return tuple(pos), reads


def _pad(sf, op, views, out_key):
    x = op.operands[0]
    out, attrs = op.results[0].type, op.attrs
    mode, shape = attrs["mode"], x.type.shape
    e = ScalarEmitter(sf.b)
    fill = e.const(attrs["constant_value"], dtype=out.dtype)
    if x.type.size == 0:  # nothing to read: every position is the constant
        _fill(sf, out_key, out, attrs["constant_value"])
        return
    with loop_nest(sf.b, out.shape, "pd") as oi:
        pos, reads = _pad_walk(sf, shape, attrs["pad_width"], mode, oi)
        v = e.select(SVal(reads, "bool"), sf.read(views[x], pos), fill)
        sf.store(out_key, _out_index(sf, oi, out.shape), v)


def _pad_adjoint(sf, op, views, out_key):
    g = op.operands[0]
    out, attrs = op.results[0].type, op.attrs
    _fill(sf, out_key, out, 0)
    if out.size == 0:
        return
    e = ScalarEmitter(sf.b)
    with loop_nest(sf.b, g.type.shape, "pa") as gi:
        pos, reads = _pad_walk(sf, out.shape, attrs["pad_width"], attrs["mode"], gi)
        where = _out_index(sf, pos, out.shape)
        add = e.select(SVal(reads, "bool"), sf.read(views[g], gi), e.const(0, dtype=out.dtype))
        sf.store(out_key, where, e.add(sf.load(out_key, where), add))


KERNELS = {"take_along_axis": _take_along_axis,
           "scatter_add_along_axis": _scatter_add_along_axis, "cumsum": _cumsum,
           "gather_nd": _gather_nd, "scatter_nd_add": _scatter_nd_add,
           "pad": _pad, "pad_adjoint": _pad_adjoint}
