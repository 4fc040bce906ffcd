"""Loop helpers for llvmlite (in the spirit of numba's cgutils.for_range / loop_nest).

Loops are canonical (i64 induction variable from 0, `icmp slt` exit test in the header), the
shape LLVM's loop vectoriser recognises. Trip counts are compile-time constants or LLVM values.
"""
import contextlib

from llvmlite import ir

I64 = ir.IntType(64)


def i64(value) -> ir.Constant:
    return ir.Constant(I64, value)


def module_global(module, name, typ, initial):
    """The module's internal global `name` (made on first use, with `initial`): one copy per
    module however many steps refer to it."""
    if name in module.globals:
        return module.globals[name]
    g = ir.GlobalVariable(module, typ, name)
    g.linkage = "internal"
    g.initializer = ir.Constant(typ, initial)
    return g


@contextlib.contextmanager
def for_range(b: ir.IRBuilder, count, name="i", start=0):
    """`for i in range(start, count)`: the body is emitted inside the `with`; yields i (i64)."""
    count = i64(count) if isinstance(count, int) else count
    start = i64(start) if isinstance(start, int) else start
    pre = b.block
    header = b.append_basic_block(f"{name}.header")
    body = b.append_basic_block(f"{name}.body")
    end = b.append_basic_block(f"{name}.end")
    b.branch(header)
    b.position_at_end(header)
    index = b.phi(I64, name=name)
    index.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", index, count), body, end)
    b.position_at_end(body)
    yield index
    nxt = b.add(index, i64(1), name=f"{name}.next", flags=["nsw", "nuw"])
    index.add_incoming(nxt, b.block)
    b.branch(header)
    b.position_at_end(end)


@contextlib.contextmanager
def loop_nest(b: ir.IRBuilder, shape, name="i", first=None):
    """Row-major nest over `shape` (last axis innermost); yields the tuple of indices.
    `first=(lo, hi)` restricts the outermost loop to [lo, hi) (a thread's share)."""
    with contextlib.ExitStack() as stack:
        idx = []
        for k, d in enumerate(shape):
            lo, hi = first if (k == 0 and first is not None) else (0, d)
            idx.append(stack.enter_context(for_range(b, hi, f"{name}{k}", start=lo)))
        yield tuple(idx)


def linear_index(b: ir.IRBuilder, idx, strides, offset=0) -> ir.Value:
    """offset + sum(idx[k] * strides[k]) in elements, skipping zero strides."""
    acc = i64(offset)
    for i, s in zip(idx, strides):
        if s == 0:
            continue
        term = i if s == 1 else b.mul(i, i64(s), flags=["nsw"])
        acc = b.add(acc, term, flags=["nsw"])
    return acc
