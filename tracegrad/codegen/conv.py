"""Native kernels for the window primitives im2col and col2im (ir/ops/conv.py).

Each is one shape-generic LLVM function per dtype (`tg_im2col_f32`, ...), compiled once per
process (linked.py), that reads the sizes, strides and window attributes of a call from a
constant i64 table; a graph with twenty convolutions calls it twenty times instead of
compiling twenty loop nests (which dominated compile time). Up to three spatial axes; fewer
are padded with size-1 axes.

im2col gathers: its output (C, *kernel, N, *out) is written in order, each element read from x
at o * stride + k * dilate - pad_lo, or pad_value outside x (the index is clamped first, so
nothing is read out of bounds). col2im is the matching scatter-add into a zeroed (N, C,
*spatial) output. Both read their operand through its strided view (a transposed or sliced
operand needs no copy). `emit_window` is the WINDOW family's kernel (codegen/kernels.py).
"""
import functools
import hashlib

from llvmlite import ir

from . import linked
from .emitter import LLTYPES, MEMTYPES
from .loops import for_range, i64
from .views import PTR

I64 = ir.IntType(64)
AXES = 3
WINDOW = ("n", "k", "o", "s", "d", "lo")       # per spatial axis, in the table


def _padded(op, spatial):
    """Per-axis (n, k, o, s, d, lo) for AXES axes; missing leading axes are size 1."""
    a = op.attrs
    d = len(a["kernel"])
    out = op.operands[0].type.shape[2 + d:] if not op.opdef.gathers else \
        op.results[0].type.shape[2 + d:]
    rows = [(n, k, o, s, dl, lo) for n, k, o, s, dl, lo in
            zip(spatial, a["kernel"], out, a["stride"], a["dilate"], a["pad_lo"])]
    return [(1, 1, 1, 1, 1, 0)] * (AXES - d) + rows


def _table(sf, name, values):
    """A constant global i64 array named by its contents (steps with the same table share it,
    so their code is identical and emitted once); returns a pointer to it."""
    module = sf.b.module
    values = [int(v) for v in values]
    name = f"{name}." + hashlib.sha1(repr(values).encode()).hexdigest()[:16]
    if name in module.globals:
        return module.globals[name]
    ty = ir.ArrayType(I64, len(values))
    g = ir.GlobalVariable(module, ty, name=name)
    g.linkage, g.global_constant = "internal", True
    g.initializer = ir.Constant(ty, [int(v) for v in values])
    return g


def _base(sf, view):
    return sf.address(view.base, i64(view.offset))


def _im2col(sf, op, views, out_key):
    x = op.operands[0]
    xv = views[x]
    n, c = x.type.shape[:2]
    d = len(op.attrs["kernel"])
    sx = (0,) * (AXES - d) + tuple(xv.strides[2:])
    values = [c, n, xv.strides[1], xv.strides[0]]
    for row, stride in zip(_padded(op, x.type.shape[2:]), sx):
        values += list(row) + [stride]
    fn = linked.declare(sf.b.module, f"tg_im2col_{x.type.dtype}")
    pad = ir.Constant(LLTYPES[x.type.dtype], float(op.attrs["pad_value"]))
    sf.b.call(fn, [_base(sf, xv), sf.address(out_key, i64(0)),
                   _table(sf, "im2col_args", values), pad])


def _col2im(sf, op, views, out_key):
    x = op.operands[0]
    xv = views[x]
    shape = op.results[0].type.shape
    d = len(op.attrs["kernel"])
    st = xv.strides        # (C, *kernel, N, *out)
    kst = (0,) * (AXES - d) + tuple(st[1:1 + d])
    ost = (0,) * (AXES - d) + tuple(st[2 + d:])
    values = [shape[1], shape[0], st[0], st[1 + d]] + list(kst) + list(ost)
    for row in _padded(op, shape[2:]):
        values += list(row)
    fn = linked.declare(sf.b.module, f"tg_col2im_{x.type.dtype}")
    sf.b.call(fn, [_base(sf, xv), sf.address(out_key, i64(0)),
                   _table(sf, "col2im_args", values)])


def _function(module, name, argtypes):
    if name in module.globals:
        return module.globals[name], None
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), argtypes), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    for arg in fn.args[:2]:
        arg.add_attribute("noalias")
    return fn, ir.IRBuilder(fn.append_basic_block("entry"))


def _load_table(b, table, count):
    return [b.load(b.gep(table, [i64(i)], inbounds=True, source_etype=I64), typ=I64)
            for i in range(count)]


def _position(b, o, k, row):
    """(in range, clamped position) of window element k of window o on one axis."""
    n, s, dl, lo = row["n"], row["s"], row["d"], row["lo"]
    pos = b.sub(b.add(b.mul(o, s), b.mul(k, dl)), lo)
    inside = b.and_(b.icmp_signed(">=", pos, i64(0)), b.icmp_signed("<", pos, n))
    return inside, b.select(inside, pos, i64(0))


def _generic_im2col(module, dtype):
    """void tg_im2col_<dtype>(x, out, table, pad_value): table = C, N, x strides of C and N,
    then per axis (n, k, o, s, d, lo, x stride)."""
    memty = MEMTYPES[dtype]
    fn, b = _function(module, f"tg_im2col_{dtype}", [PTR, PTR, PTR, LLTYPES[dtype]])
    if b is None:
        return fn
    x, out, table, pad = fn.args
    t = _load_table(b, table, 4 + 7 * AXES)
    c_size, n_size, sxc, sxn = t[:4]
    rows = [dict(zip(WINDOW + ("sx",), t[4 + 7 * i: 11 + 7 * i])) for i in range(AXES)]
    counter = b.alloca(I64)
    b.store(i64(0), counter)
    with for_range(b, c_size, "c") as c:
        xc = b.mul(c, sxc)
        with for_range(b, rows[0]["k"], "k0") as k0, \
                for_range(b, rows[1]["k"], "k1") as k1, \
                for_range(b, rows[2]["k"], "k2") as k2:
            with for_range(b, n_size, "n") as nb:
                xn = b.add(xc, b.mul(nb, sxn))
                _im2col_windows(b, x, out, counter, pad, memty, rows, (k0, k1, k2), xn)
    b.ret_void()
    return fn


def _im2col_windows(b, x, out, counter, pad, memty, rows, ks, base):
    """The o0, o1, o2 loops of im2col: one output element each, written at `counter`. The
    innermost axis is cut in closed form into its leading pad, interior and trailing pad runs,
    so the interior reads without a bounds test, and with unit steps (stride 1, contiguous
    rows: most convolutions) it is a plain copy that LLVM vectorises."""
    r2 = rows[2]
    first2 = b.sub(b.mul(ks[2], r2["d"]), r2["lo"])       # position of window 0 on axis 2
    lo2, hi2 = _inside_run(b, first2, r2)
    step = b.mul(r2["s"], r2["sx"])
    unit = b.icmp_signed("==", step, i64(1))
    with for_range(b, rows[0]["o"], "o0") as o0:
        in0, p0 = _position(b, o0, ks[0], rows[0])
        at0 = b.add(base, b.mul(p0, rows[0]["sx"]))
        with for_range(b, rows[1]["o"], "o1") as o1:
            in1, p1 = _position(b, o1, ks[1], rows[1])
            at1 = b.add(at0, b.mul(p1, rows[1]["sx"]))
            ok01 = b.and_(in0, in1)
            lo = b.select(ok01, lo2, r2["o"])
            hi = b.select(ok01, hi2, r2["o"])
            start = b.load(counter)
            dst = b.gep(out, [start], inbounds=True, source_etype=memty)
            with for_range(b, lo, "pre") as o2:
                b.store(pad, b.gep(dst, [o2], inbounds=True, source_etype=memty))
            # x at window o2 is at1 + (o2 * s + first2) * sx
            src = b.gep(x, [b.add(at1, b.mul(first2, r2["sx"]))], source_etype=memty)
            with b.if_else(unit) as (contiguous, strided):
                with contiguous:
                    with for_range(b, hi, "copy", start=lo) as o2:
                        v = b.load(b.gep(src, [o2], source_etype=memty), typ=memty)
                        b.store(v, b.gep(dst, [o2], inbounds=True, source_etype=memty))
                with strided:
                    with for_range(b, hi, "gather", start=lo) as o2:
                        v = b.load(b.gep(src, [b.mul(o2, step)], source_etype=memty),
                                   typ=memty)
                        b.store(v, b.gep(dst, [o2], inbounds=True, source_etype=memty))
            with for_range(b, r2["o"], "post", start=hi) as o2:
                b.store(pad, b.gep(dst, [o2], inbounds=True, source_etype=memty))
            b.store(b.add(start, r2["o"]), counter)


def _ceil_div(b, a, s):
    """ceil(a / s) for s > 0 and any sign of a."""
    q = b.sdiv(a, s)
    return b.select(b.and_(b.icmp_signed(">", a, b.mul(q, s)), b.icmp_signed(">", a, i64(0))),
                    b.add(q, i64(1)), q)


def _inside_run(b, first, row):
    """[lo, hi) of the windows o in [0, o) whose element at o * s + first lies in [0, n)."""
    s, o = row["s"], row["o"]

    def clamp(v):
        v = b.select(b.icmp_signed("<", v, i64(0)), i64(0), v)
        return b.select(b.icmp_signed(">", v, o), o, v)
    lo = clamp(_ceil_div(b, b.sub(i64(0), first), s))
    hi = clamp(_ceil_div(b, b.sub(row["n"], first), s))
    return lo, b.select(b.icmp_signed("<", hi, lo), lo, hi)


def _generic_col2im(module, dtype):
    """void tg_col2im_<dtype>(x, out, table): table = C, N, x strides of C and N, x strides of
    the kernel axes, x strides of the window axes, then per axis (n, k, o, s, d, lo); out is a
    contiguous (N, C, *spatial) array, zeroed first."""
    memty = MEMTYPES[dtype]
    fn, b = _function(module, f"tg_col2im_{dtype}", [PTR, PTR, PTR])
    if b is None:
        return fn
    x, out, table = fn.args
    t = _load_table(b, table, 4 + 2 * AXES + 6 * AXES)
    c_size, n_size, sxc, sxn = t[:4]
    ksx, osx = t[4:4 + AXES], t[4 + AXES:4 + 2 * AXES]
    rows = [dict(zip(WINDOW, t[4 + 2 * AXES + 6 * i: 10 + 2 * AXES + 6 * i]))
            for i in range(AXES)]
    plane = b.mul(b.mul(rows[0]["n"], rows[1]["n"]), rows[2]["n"])
    total = b.mul(b.mul(n_size, c_size), plane)
    zero = ir.Constant(memty, 0.0)
    with for_range(b, total, "zero") as i:
        b.store(zero, b.gep(out, [i], inbounds=True, source_etype=memty))
    with for_range(b, c_size, "c") as c:
        xc = b.mul(c, sxc)
        with for_range(b, rows[0]["k"], "k0") as k0, \
                for_range(b, rows[1]["k"], "k1") as k1, \
                for_range(b, rows[2]["k"], "k2") as k2:
            xk = b.add(xc, b.add(b.add(b.mul(k0, ksx[0]), b.mul(k1, ksx[1])),
                                 b.mul(k2, ksx[2])))
            with for_range(b, n_size, "n") as nb:
                xn = b.add(xk, b.mul(nb, sxn))
                dst = b.mul(b.add(b.mul(nb, c_size), c), plane)
                _col2im_windows(b, x, out, memty, rows, (k0, k1, k2), osx, xn, dst)
    b.ret_void()
    return fn


def _col2im_windows(b, x, out, memty, rows, ks, osx, base, dst):
    with for_range(b, rows[0]["o"], "o0") as o0:
        in0, p0 = _position(b, o0, ks[0], rows[0])
        x0 = b.add(base, b.mul(o0, osx[0]))
        d0 = b.add(dst, b.mul(p0, b.mul(rows[1]["n"], rows[2]["n"])))
        with for_range(b, rows[1]["o"], "o1") as o1:
            in1, p1 = _position(b, o1, ks[1], rows[1])
            x1 = b.add(x0, b.mul(o1, osx[1]))
            d1 = b.add(d0, b.mul(p1, rows[2]["n"]))
            ok01 = b.and_(in0, in1)
            with for_range(b, rows[2]["o"], "o2") as o2:
                in2, p2 = _position(b, o2, ks[2], rows[2])
                with b.if_then(b.and_(ok01, in2)):
                    src = b.gep(x, [b.add(x1, b.mul(o2, osx[2]))], inbounds=True,
                                source_etype=memty)
                    where = b.gep(out, [b.add(d1, p2)], inbounds=True, source_etype=memty)
                    acc = b.load(where, typ=memty)
                    b.store(b.fadd(acc, b.load(src, typ=memty)), where)


for _dtype in ("f32", "f64"):     # (the dtypes im2col's type rule lets reach codegen)
    linked.provide_function(f"tg_im2col_{_dtype}", functools.partial(_generic_im2col,
                                                                      dtype=_dtype))
    linked.provide_function(f"tg_col2im_{_dtype}", functools.partial(_generic_col2im,
                                                                      dtype=_dtype))


def emit_window(sf, op, views, out_key):
    """The WINDOW family's emitter: im2col gathers windows, col2im adds them back."""
    (_im2col if op.opdef.gathers else _col2im)(sf, op, views, out_key)
