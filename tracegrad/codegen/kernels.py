"""Lowerings of kernel ops (no ELEMENTWISE/INDEXED/VIEW/REDUCTION trait), by family trait.

- `kernel_for(opdef)(sf, op, views, out_key)`: the emitter of the op's kernel family (one
  trait of ir.ops.KERNEL_FAMILIES): CALL is matmul (BLAS sgemm/dgemm through the symbols
  target.py registers; transposes become BLAS flags via the row-major trick; batch axes
  broadcast by a loop), ARG_REDUCTION argmax, JOIN concat, SCATTER the generic scatter
  (scatter.py, driven by the op's `scatter` rule), SCAN cumsum, SORT argsort, WINDOW
  im2col / col2im. No op names: a new op of a family is its OpDef class block.
- `blas_layout(view)`: whether a view can be handed to BLAS as is (planning asks this).
"""
from llvmlite import ir

from ..ir.ops import (ARG_REDUCTION, CALL, JOIN, KERNEL_FAMILIES, SCAN, SCATTER, SORT,
                      WINDOW)
from ..ir.ops.linalg import column_major_is_faster
from ..ir.types import FLOATS
from .emitter import MEMTYPES, SVal
from .loops import for_range, i64, linear_index, loop_nest
from .target import BLAS_SYMBOLS, blas
from .views import PTR, contiguous_strides


# ---------------------------------------------------------------- matmul through BLAS
def blas_layout(view):
    """(colmajor, ld) if the view's last two axes are a BLAS-addressable matrix, else None."""
    rows, cols = view.shape[-2:]
    srow, scol = view.strides[-2:]
    if (scol == 1 or cols <= 1) and (srow >= max(cols, 1) or rows <= 1):
        return False, max(srow if rows > 1 else cols, cols, 1)
    if (srow == 1 or rows <= 1) and (scol >= max(rows, 1) or cols <= 1):
        return True, max(scol if cols > 1 else rows, rows, 1)
    return None


def _matmul(sf, op, views, out_key):
    x, y = op.operands
    out = op.results[0].type
    m, n = out.shape[-2:]
    k = x.type.shape[-2] if op.attrs["transpose_a"] else x.type.shape[-1]
    if m == 0 or n == 0:
        return
    b = sf.b
    if k == 0:
        with for_range(b, out.size) as i:
            sf.store(out_key, i, sf.zero(out.dtype))
        return
    vx, vy = views[x], views[y]
    (cx, ldx), (cy, ldy) = blas_layout(vx), blas_layout(vy)
    flag_x = "T" if op.attrs["transpose_a"] != cx else "N"
    flag_y = "T" if op.attrs["transpose_b"] != cy else "N"
    ftype = ir.FloatType() if out.dtype == "f32" else ir.DoubleType()
    # BLAS is column-major: C^T (n x m) = op(Y^T) (n x k) . op(X^T) (k x m). One output row
    # (m == 1, a batch-1 Dense) is a matrix-vector product: gemv, as numpy's matmul does,
    # instead of a gemm that packs all of Y for one row; one output column (n == 1, a Dense
    # with one unit) likewise, with the roles of X and Y swapped
    vector = m == 1 or n == 1
    row = m == 1
    if vector:
        flag_a, ld_a, flag_v, ld_v = ((flag_y, ldy, flag_x, ldx) if row else
                                      (flag_x, ldx, flag_y, ldy))
        if row:   # C^T = op(Y^T) . x: the matrix as BLAS stores it, and its own flag
            rows, cols = (n, k) if flag_a == "N" else (k, n)
            trans = flag_a
        else:     # C = op(X^T)^T . y: transposed once more
            rows, cols = (k, m) if flag_a == "N" else (m, k)
            trans = "T" if flag_a == "N" else "N"
        incv = (1 if flag_v == "N" else ld_v) if row else (ld_v if flag_v == "N" else 1)
        args = _blas_scalars(sf, ftype, (trans, "c"), (rows, "i"), (cols, "i"), (1.0, "f"),
                             (ld_a, "i"), (incv, "i"), (0.0, "f"), (1, "i"))
    else:
        args = _blas_scalars(sf, ftype, (flag_y, "c"), (flag_x, "c"), (n, "i"), (m, "i"),
                             (k, "i"), (1.0, "f"), (ldy, "i"), (ldx, "i"), (0.0, "f"),
                             (n, "i"))
    routine = _declare_blas(b.module, out.dtype, "gemv" if vector else "gemm", len(args) + 3)
    batch = out.shape[:-2]
    if not vector and not batch and _column_major_is_faster(flag_y, flag_x, m, n, k):
        px, py = sf.address(vx.base, i64(vx.offset)), sf.address(vy.base, i64(vy.offset))
        alt = _blas_scalars(sf, ftype, ("T", "c"), ("N", "c"), (m, "i"), (n, "i"), (k, "i"),
                            (1.0, "f"), (ldx, "i"), (ldy, "i"), (0.0, "f"), (m, "i"))
        _matmul_column_major(sf, routine, args, alt, px, py, sf.address(out_key, i64(0)),
                             m, n, ftype)
        return
    with loop_nest(b, batch, "batch") as bidx:
        px = sf.address(vx.base, linear_index(b, bidx, vx.aligned(batch + (1, 1))[:-2],
                                              vx.offset))
        py = sf.address(vy.base, linear_index(b, bidx, vy.aligned(batch + (1, 1))[:-2],
                                              vy.offset))
        pc = sf.address(out_key, linear_index(b, bidx, contiguous_strides(out.shape)[:-2]))
        if vector:   # trans, M, N, alpha, A, lda, x, incx, beta, y, incy
            pa, pv = (py, px) if row else (px, py)
            trans_, rows_, cols_, alpha, lda, incv_, beta, incy = args
            b.call(routine, [trans_, rows_, cols_, alpha, pa, lda, pv, incv_, beta, pc, incy])
        else:
            ta, tb, mm, nn, kk, alpha, lda, ldb, beta, ldc = args
            b.call(routine, [ta, tb, mm, nn, kk, alpha, py, lda, px, ldb, beta, pc, ldc])


def _column_major_is_faster(flag_y, flag_x, m, n, k):
    """The BLAS call of C = X . W^T with both row-major (gemm('T', 'N', n, m, k)) inside the
    bounds where OpenBLAS is faster the other way round (ir/ops/linalg.py, docs/kernels.md)."""
    return (flag_y, flag_x) == ("T", "N") and column_major_is_faster(m, n, k)


def _matmul_column_major(sf, routine, direct, alt, px, py, pc, m, n, ftype):
    """C (m x n, row-major) = X . W^T computed column-major into scratch (the `alt` gemm
    arguments) and transposed into C. Scratch is malloc'd per call; if malloc fails the
    `direct` call writes C itself (the same product, no flag to raise)."""
    b = sf.b
    module = b.module
    malloc = libc(module, "malloc", PTR, [ir.IntType(64)])
    free = libc(module, "free", ir.VoidType(), [PTR])
    scratch = b.call(malloc, [i64(m * n * (4 if isinstance(ftype, ir.FloatType) else 8))])
    with b.if_else(b.icmp_unsigned("==", scratch, ir.Constant(PTR, None))) as (none, some):
        with none:
            ta, tb, mm, nn, kk, alpha, lda, ldb, beta, ldc = direct
            b.call(routine, [ta, tb, mm, nn, kk, alpha, py, lda, px, ldb, beta, pc, ldc])
        with some:
            ta, tb, mm, nn, kk, alpha, lda, ldb, beta, ldc = alt
            b.call(routine, [ta, tb, mm, nn, kk, alpha, px, lda, py, ldb, beta, scratch, ldc])
            with for_range(b, m, "row") as i:       # C[i, j] = scratch[i + j * m]
                with for_range(b, n, "col") as j:
                    src = b.gep(scratch, [b.add(i, b.mul(j, i64(m)))], inbounds=True,
                                source_etype=ftype)
                    dst = b.gep(pc, [b.add(b.mul(i, i64(n)), j)], inbounds=True,
                                source_etype=ftype)
                    b.store(b.load(src, typ=ftype), dst)
            b.call(free, [scratch])


def _blas_scalars(sf, ftype, *values):
    """Fortran passes every scalar by reference: stack slots in the function's entry block.
    values: (value, kind) with kind 'c' (a flag character), 'i' (a BLAS integer) or 'f' (a
    scalar of the matrices' float type)."""
    b = sf.b
    bint = ir.IntType(blas()[1])
    types = {"c": ir.IntType(8), "i": bint, "f": ftype}
    slots = []
    with b.goto_entry_block():
        for value, kind in values:
            ty = types[kind]
            slot = b.alloca(ty)
            b.store(ir.Constant(ty, ord(value) if kind == "c" else value), slot)
            slots.append(slot)
    return slots


def libc(module, name, ret, args):
    """The C library function `name` (malloc, free, memcpy, ...) declared in `module` once."""
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(ret, args), name=name)


def _declare_blas(module, dtype, routine, nargs):
    """The JIT symbol of BLAS `routine` ('gemm', 'gemv') for dtype (target.BLAS_SYMBOLS)."""
    name = BLAS_SYMBOLS[("s" if dtype == "f32" else "d") + routine]
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * nargs), name=name)


# ---------------------------------------------------------------- index kernels
def _argmax(sf, op, views, out_key):
    """First maximum along the axis (a NaN counts as the maximum, as in numpy)."""
    from .emitter import ScalarEmitter
    x = op.operands[0]
    axis, shape, b = op.attrs["axis"], x.type.shape, sf.b
    e = ScalarEmitter(b)
    outer = shape[:axis] + shape[axis + 1:]
    if x.type.size == 0:
        return
    with b.goto_entry_block():
        best_slot = b.alloca(e.const(0, dtype=x.type.dtype).v.type)
        arg_slot = b.alloca(ir.IntType(64))
    with loop_nest(b, outer, "o") as oidx:
        full = lambda j: oidx[:axis] + (j,) + oidx[axis:]  # noqa: E731
        b.store(sf.read(views[x], full(i64(0))).v, best_slot)
        b.store(i64(0), arg_slot)
        with for_range(b, shape[axis], "j") as j:
            v = sf.read(views[x], full(j))
            best = SVal(b.load(best_slot), v.dtype)
            better = e.gt(v, best)
            if v.dtype in FLOATS:
                nan_new = b.and_(e.ne(v, v).v, e.eq(best, best).v)
                better = SVal(b.or_(better.v, nan_new), "bool")
            b.store(b.select(better.v, v.v, best.v), best_slot)
            b.store(b.select(better.v, j, b.load(arg_slot)), arg_slot)
        where = linear_index(b, oidx, contiguous_strides(outer))
        sf.store(out_key, where, SVal(b.load(arg_slot), "i64"))


def _concat(sf, op, views, out_key):
    """Each operand copied by a loop nest of its shape; a run of RUN or more operands alike
    (type and strides) by one nest inside a loop over a table of their pointers: the gradient
    of an unrolled RNN's T time steps (T pieces) is then one loop nest for LLVM, not T."""
    axis, b = op.attrs["axis"], sf.b
    ostrides = contiguous_strides(op.results[0].type.shape)
    lo = 0
    for run in _alike_runs(op.operands, views):
        if len(run) >= RUN:
            _concat_run(sf, run, views, out_key, ostrides, axis, lo)
            lo += len(run) * run[0].type.shape[axis]
            continue
        for x in run:
            with loop_nest(b, x.type.shape, "c") as idx:
                where = linear_index(b, idx, ostrides, lo * ostrides[axis])
                sf.store(out_key, where, sf.read(views[x], idx))
            lo += x.type.shape[axis]


RUN = 4


def _alike_runs(operands, views) -> list:
    """`operands` cut into runs of consecutive ones with one type and one view layout."""
    runs = []
    for x in operands:
        v = views[x]
        if runs and runs[-1][0].type == x.type and views[runs[-1][0]].strides == v.strides:
            runs[-1].append(x)
        else:
            runs.append([x])
    return runs


def _concat_run(sf, run, views, out_key, ostrides, axis, lo):
    b = sf.b
    dtype = run[0].type.dtype
    memty = MEMTYPES[dtype]
    with b.goto_entry_block():
        table = b.alloca(ir.ArrayType(PTR, len(run)), name="pieces")
    for j, x in enumerate(run):
        v = views[x]
        b.store(sf.address(v.base, i64(v.offset)), b.gep(table, [i64(0), i64(j)]))
    strides, step = views[run[0]].strides, run[0].type.shape[axis] * ostrides[axis]
    with for_range(b, len(run), "piece") as j:
        src = b.load(b.gep(table, [i64(0), j]), typ=PTR)
        first = b.add(i64(lo * ostrides[axis]), b.mul(j, i64(step), flags=["nsw"]),
                      flags=["nsw"])
        with loop_nest(b, run[0].type.shape, "c") as idx:
            at = b.gep(src, [linear_index(b, idx, strides)], inbounds=True, source_etype=memty)
            value = b.load(at, typ=memty)
            if dtype == "bool":
                value = b.icmp_unsigned("!=", value, ir.Constant(memty, 0))
            sf.store(out_key, b.add(first, linear_index(b, idx, ostrides), flags=["nsw"]),
                     SVal(value, dtype))


def kernel_for(opdef):
    """The loop emitter of a kernel op, by its family trait (ir/ops: KERNEL_FAMILIES), or
    None for ops that fuse or are views."""
    families = opdef.traits & KERNEL_FAMILIES
    if len(families) != 1:
        return None
    return _BY_FAMILY[next(iter(families))]


from . import index_kernels, scatter, sort_kernel  # noqa: E402
from . import conv  # noqa: E402  (im2col / col2im)

_BY_FAMILY = {CALL: _matmul, ARG_REDUCTION: _argmax, JOIN: _concat,
              SCATTER: scatter.emit_scatter, SCAN: index_kernels.cumsum,
              SORT: sort_kernel.argsort, WINDOW: conv.emit_window}


def register_family(trait, emitter):
    """The loop emitter for a kernel family defined above this module (codegen/control.py:
    LOOP and BRANCH, which plan their regions with entry.py)."""
    _BY_FAMILY[trait] = emitter
