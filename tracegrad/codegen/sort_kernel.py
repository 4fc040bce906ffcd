"""argsort as native code: an in-place heap sort of each row's indices.

The order compared is (key, index) lexicographically, descending keys for is_ascend=False, with
NaN above every number as numpy sorts it. That order is strict, so the heap sort (not stable by
itself) yields exactly the stable sort the numpy impl computes. O(n log n) per row, no scratch.
"""
from llvmlite import ir

from ..ir.types import FLOATS
from .emitter import SVal
from .loops import for_range, i64, linear_index, loop_nest
from .views import contiguous_strides


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

    def sift_down(self, root0, end, slot):
        """Restore the max-heap (max = last in sorted order) below root0 within [0, end)."""
        b = self.b
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
        ci, ri = self.get(child), self.get(b.select(has_right, right, child))
        big = b.select(b.and_(has_right, self.before(ci, ri)), right, child)
        bi, rooti = self.get(big), self.get(root)
        b.cbranch(self.before(rooti, bi), swap, done)
        b.position_at_end(swap)
        self.put(root, bi)
        self.put(big, rooti)
        b.store(big, slot)
        b.branch(head)
        b.position_at_end(done)


def argsort(sf, op, views, out_key):
    x = op.operands[0]
    axis, ascend, shape = op.attrs["axis"], op.attrs["is_ascend"], x.type.shape
    b, n = sf.b, shape[axis]
    if x.type.size == 0:
        return
    with b.goto_entry_block():
        slot = b.alloca(ir.IntType(64))
    with loop_nest(b, shape[:axis] + shape[axis + 1:], "row") as outer:
        row = _Row(sf, views[x], out_key, outer, axis, ascend, x.type.dtype)
        with for_range(b, n, "init") as j:
            row.put(j, j)
        with for_range(b, n // 2, "heapify") as t:
            row.sift_down(b.sub(i64(n // 2 - 1), t), i64(n), slot)
        with for_range(b, max(n - 1, 0), "extract") as t:
            end = b.sub(i64(n - 1), t)
            top, last = row.get(i64(0)), row.get(end)
            row.put(i64(0), last)
            row.put(end, top)
            row.sift_down(i64(0), end, slot)


KERNELS = {"argsort": argsort}
