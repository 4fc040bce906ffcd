"""argsort as native code: a heap sort per row.

The order compared is (key, index) lexicographically, descending keys for is_ascend=False, with
NaN above every number as numpy sorts it. That order is strict, so the heap sort (not stable by
itself) yields exactly the stable sort the numpy impl computes. O(n log n) per row.

Rows up to PACKED_MAX long are sorted as packed integers in stack scratch: each key becomes an
unsigned integer with the same order (floats: sign-flipped bits, -0 as +0, every NaN as the
maximum; all bits inverted for descending), shifted above its index, so one unsigned compare
decides (key, index) and the index comes out of the low bits. Longer rows sort their indices in
place, comparing keys read from the operand.
"""
from llvmlite import ir

from ..ir.types import FLOATS
from .emitter import SVal
from .loops import for_range, i64, linear_index, loop_nest
from .views import contiguous_strides


PACKED_MAX = 1 << 15  # scratch of at most 512 KB on the stack


def _sortable_bits(b, key, dtype, ascend):
    """An unsigned integer (as iN) ordered like `key` in numpy's sort order."""
    width = 64 if dtype in ("f64", "i64") else 32
    ity = ir.IntType(width)
    top = ir.Constant(ity, 1 << (width - 1))
    if dtype in FLOATS:
        zero = ir.Constant(key.type, 0.0)
        key = b.select(b.fcmp_ordered("==", key, zero), zero, key)  # -0 sorts as +0
        bits = b.bitcast(key, ity)
        negative = b.icmp_signed("<", bits, ir.Constant(ity, 0))
        bits = b.select(negative, b.not_(bits), b.or_(bits, top))
        bits = b.select(b.fcmp_unordered("uno", key, key), ir.Constant(ity, -1), bits)
    else:
        bits = b.xor(key, top)
    return (bits if ascend else b.not_(bits)), width


def _sift_down(b, heap, root0, end, slot):
    """Restore the max-heap (max = last in sorted order) below root0 within [0, end); `heap`
    gives get(p), put(p, v) and before(a, c) (i1: a sorts before c)."""
    b.store(root0, slot)
    head = b.append_basic_block("sift.head")
    body = b.append_basic_block("sift.body")
    swap = b.append_basic_block("sift.swap")
    done = b.append_basic_block("sift.done")
    b.branch(head)
    b.position_at_end(head)
    root = b.load(slot)
    child = b.add(b.mul(root, i64(2)), i64(1))
    b.cbranch(b.icmp_signed("<", child, end), body, done)
    b.position_at_end(body)
    right = b.add(child, i64(1))
    has_right = b.icmp_signed("<", right, end)
    cv, rv = heap.get(child), heap.get(b.select(has_right, right, child))
    pick = b.and_(has_right, heap.before(cv, rv))
    big, bv = b.select(pick, right, child), b.select(pick, rv, cv)
    rootv = heap.get(root)
    b.cbranch(heap.before(rootv, bv), swap, done)
    b.position_at_end(swap)
    heap.put(root, bv)
    heap.put(big, rootv)
    b.store(big, slot)
    b.branch(head)
    b.position_at_end(done)


def _heapsort(b, heap, n, slot):
    """Sort heap[0, n) in place: heapify, then move the maximum to the end n - 1 times."""
    with for_range(b, n // 2, "heapify") as t:
        _sift_down(b, heap, b.sub(i64(n // 2 - 1), t), i64(n), slot)
    with for_range(b, max(n - 1, 0), "extract") as t:
        end = b.sub(i64(n - 1), t)
        top, last = heap.get(i64(0)), heap.get(end)
        heap.put(i64(0), last)
        heap.put(end, top)
        _sift_down(b, heap, i64(0), end, slot)


class _Packed:
    """Packed (key, index) integers in stack scratch: one unsigned compare orders them."""

    def __init__(self, b, mem, ty):
        self.b, self.mem, self.ty = b, mem, ty

    def get(self, p):
        return self.b.load(self.b.gep(self.mem, [p], source_etype=self.ty), typ=self.ty)

    def put(self, p, v):
        self.b.store(v, self.b.gep(self.mem, [p], source_etype=self.ty))

    def before(self, a, c):
        return self.b.icmp_unsigned("<", a, c)


def _packed_argsort(sf, x, view, out_key, axis, ascend):
    b, shape = sf.b, x.type.shape
    n = shape[axis]
    key_width = 64 if x.type.dtype in ("f64", "i64") else 32
    ty = ir.IntType(2 * key_width)
    with b.goto_entry_block():
        heap = b.alloca(ty, size=n)
        slot = b.alloca(ir.IntType(64))
    strides = contiguous_strides(out_key.type.shape)
    with loop_nest(b, shape[:axis] + shape[axis + 1:], "row") as outer:
        with for_range(b, n, "pack") as p:
            key = sf.read(view, outer[:axis] + (p,) + outer[axis:]).v
            bits, width = _sortable_bits(b, key, x.type.dtype, ascend)
            packed = b.or_(b.shl(b.zext(bits, ty), ir.Constant(ty, width)), b.zext(p, ty)
                           if width == 64 else b.zext(b.trunc(p, ir.IntType(32)), ty))
            b.store(packed, b.gep(heap, [p], source_etype=ty))
        _heapsort(b, _Packed(b, heap, ty), n, slot)
        base = linear_index(b, outer[:axis] + (i64(0),) + outer[axis:], strides)
        mask = ir.Constant(ty, (1 << key_width) - 1)
        with for_range(b, n, "unpack") as p:
            v = b.load(b.gep(heap, [p], source_etype=ty), typ=ty)
            idx = b.trunc(b.and_(v, mask), ir.IntType(64)) if key_width == 64 else \
                b.zext(b.trunc(v, ir.IntType(32)), ir.IntType(64))
            sf.store(out_key, b.add(base, b.mul(p, i64(strides[axis]))), SVal(idx, "i64"))


class _Row:
    """One row of the sort: reads keys of x and loads/stores index slots of the output."""

    def __init__(self, sf, x_view, out_key, outer, axis, ascend, dtype):
        self.sf, self.b, self.view, self.key = sf, sf.b, x_view, out_key
        self.outer, self.axis, self.ascend, self.dtype = outer, axis, ascend, dtype
        strides = contiguous_strides(out_key.type.shape)
        self.base = linear_index(self.b, outer[:axis] + (i64(0),) + outer[axis:], strides)
        self.stride = strides[axis]

    def slot(self, p):
        return self.b.add(self.base, self.b.mul(p, i64(self.stride)))

    def get(self, p):
        return self.sf.load(self.key, self.slot(p)).v

    def put(self, p, v):
        self.sf.store(self.key, self.slot(p), SVal(v, "i64"))

    def keyof(self, idx):
        return self.sf.read(self.view, self.outer[:self.axis] + (idx,) + self.outer[self.axis:]).v

    def before(self, a, c):
        """i1: element a comes before element c in the sorted order."""
        b, ka, kc = self.b, self.keyof(a), self.keyof(c)
        first = b.icmp_signed("<", a, c)
        if self.dtype in FLOATS:
            less = b.fcmp_ordered("<" if self.ascend else ">", ka, kc)
            equal = b.fcmp_ordered("==", ka, kc)
            a_nan, c_nan = b.fcmp_unordered("uno", ka, ka), b.fcmp_unordered("uno", kc, kc)
            numbers = b.or_(less, b.and_(equal, first))
            both = b.and_(a_nan, c_nan)
            nan_first = a_nan if not self.ascend else c_nan  # NaN is the largest key
            only_one = b.and_(b.xor(a_nan, c_nan), nan_first)
            neither = b.and_(b.not_(a_nan), b.not_(c_nan))
            return b.or_(b.or_(b.and_(neither, numbers), only_one), b.and_(both, first))
        less = b.icmp_signed("<" if self.ascend else ">", ka, kc)
        return b.or_(less, b.and_(b.icmp_signed("==", ka, kc), first))


def argsort(sf, op, views, out_key):
    x = op.operands[0]
    axis, ascend, shape = op.attrs["axis"], op.attrs["is_ascend"], x.type.shape
    b, n = sf.b, shape[axis]
    if x.type.size == 0:
        return
    if n <= PACKED_MAX:
        _packed_argsort(sf, x, views[x], out_key, axis, ascend)
        return
    with b.goto_entry_block():
        slot = b.alloca(ir.IntType(64))
    with loop_nest(b, shape[:axis] + shape[axis + 1:], "row") as outer:
        row = _Row(sf, views[x], out_key, outer, axis, ascend, x.type.dtype)
        with for_range(b, n, "init") as j:
            row.put(j, j)
        _heapsort(b, row, n, slot)

