"""Native kernels for the window primitives im2col and col2im (ir/ops/conv.py).

im2col is a gather: one loop nest over its output (lead, kernel, windows; the last window axis
innermost and contiguous), each element read from x at o * stride + k * dilate - pad_lo, or
pad_value when that falls outside x (the index is clamped first, so nothing is read out of
bounds). col2im is the matching scatter-add into a zeroed output. Together with the BLAS GEMM
of `matmul` they run every convolution, deconvolution and pooling. `KERNELS` is merged into
codegen.kernels.KERNELS, which is how the planner and check_lowerable find them.
"""
from llvmlite import ir

from .emitter import LLTYPES, SVal
from .loops import for_range, i64, linear_index, loop_nest
from .views import contiguous_strides


def _positions(b, idx, lead, op, spatial):
    """(in-range flag, clamped positions) of a window element at loop index `idx`."""
    attrs = op.attrs
    d = len(attrs["kernel"])
    ks, os_ = idx[lead:lead + d], idx[lead + d:]
    valid, clamped = ir.Constant(ir.IntType(1), 1), []
    for k, o, s, dl, lo, n in zip(ks, os_, attrs["stride"], attrs["dilate"], attrs["pad_lo"],
                                  spatial):
        pos = b.add(b.add(b.mul(o, i64(s)), b.mul(k, i64(dl))), i64(-lo))
        inside = b.and_(b.icmp_signed(">=", pos, i64(0)), b.icmp_signed("<", pos, i64(n)))
        valid = b.and_(valid, inside)
        clamped.append(b.select(inside, pos, i64(0)))
    return valid, clamped


def _im2col(sf, op, views, out_key):
    x = op.operands[0]
    out = op.results[0].type
    d = len(op.attrs["kernel"])
    lead = x.type.ndim - d
    spatial = x.type.shape[lead:]
    b = sf.b
    if out.size == 0:
        return
    fill = ir.Constant(LLTYPES[out.dtype], float(op.attrs["pad_value"]))
    ostrides = contiguous_strides(out.shape)
    with loop_nest(b, out.shape, "w") as idx:
        valid, pos = _positions(b, idx, lead, op, spatial)
        v = sf.read(views[x], tuple(idx[:lead]) + tuple(pos))
        sf.store(out_key, linear_index(b, idx, ostrides), SVal(b.select(valid, v.v, fill),
                                                               out.dtype))


def _col2im(sf, op, views, out_key):
    x = op.operands[0]
    out = op.results[0].type
    d = len(op.attrs["kernel"])
    lead = out.ndim - d
    spatial = out.shape[lead:]
    b = sf.b
    with for_range(b, out.size, "zero") as i:
        sf.store(out_key, i, sf.zero(out.dtype))
    if x.type.size == 0:
        return
    ostrides = contiguous_strides(out.shape)
    with loop_nest(b, x.type.shape, "c") as idx:
        valid, pos = _positions(b, idx, lead, op, spatial)
        with b.if_then(valid):
            where = linear_index(b, tuple(idx[:lead]) + tuple(pos), ostrides)
            acc = sf.load(out_key, where)
            v = sf.read(views[x], idx)
            sf.store(out_key, where, SVal(b.fadd(acc.v, v.v), out.dtype))


KERNELS = {"im2col": _im2col, "col2im": _col2im}
