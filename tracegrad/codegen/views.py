"""Strided views and the memory side of generated step functions.

A `View` says where the elements of an IR value live: inside the buffer of `base` (a value with
its own storage), at element `offset`, with per-axis element `strides` (0 = broadcast). Layout
ops (VIEW trait: reshape, expand_dims, broadcast_to, transpose, slice, ...) compose views through
their `view` rule and cost no code.
`StepFunction` is one generated LLVM function over distinct buffers (all `noalias`), with
typed load/store at a linear element index. bool is i1 in registers, one byte in memory.

A step written in place (entry.py: a buffer that dies in the step carries its result) has one
pointer for both; a value loaded through that pointer is `freeze`d. Otherwise the x86 backend
turns `store(select(c, y, load p), p)` (a backward's `where(mask, g, 0)` over g, relu over its
input) into masked stores (vmaskmovps), microcoded and about 4x slower than the plain pass
on AMD cores: 80 us instead of 20 us for a [512,256] mask of an MLP's backward. freeze is a
no-op in the machine code and is vectorised like the load.
"""
from llvmlite import ir

from .emitter import LLTYPES, MEMTYPES, SVal
from .loops import linear_index

PTR = ir.PointerType()


def contiguous_strides(shape) -> tuple:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


class View:
    """Element `idx` of the value is at base[offset + sum(idx * strides)]."""
    __slots__ = ("base", "offset", "strides", "shape")

    def __init__(self, base, offset, strides, shape):
        self.base, self.offset = base, offset
        self.strides, self.shape = tuple(strides), tuple(shape)

    @classmethod
    def of(cls, value):
        return cls(value, 0, contiguous_strides(value.type.shape), value.type.shape)

    def is_contiguous(self) -> bool:
        return all(s == c for s, c, d in zip(self.strides, contiguous_strides(self.shape),
                                             self.shape) if d != 1)

    def aligned(self, shape) -> tuple:
        """Strides when read at an index of broadcast shape `shape` (right-aligned, 0 on 1s)."""
        lead = len(shape) - len(self.shape)
        return (0,) * lead + tuple(0 if d == 1 else s for d, s in zip(self.shape, self.strides))

    def apply(self, op):
        """The view after VIEW op `op` (its `view` rule), or None when no strided view exists
        (a copy is needed)."""
        shape = op.results[0].type.shape
        got = op.opdef.view(self.offset, self.strides, self.shape, out_shape=shape, **op.attrs)
        if got is None:
            return None
        offset, strides = got
        return View(self.base, offset, strides, shape)


def _freeze(b, v):
    """`freeze v` (llvmlite's builder has no method for it; its text is `freeze <ty> <v>`)."""
    inst = ir.Instruction(b.block, v.type, "freeze", [v])
    b._insert(inst)
    return inst


def _shared_keys(keys, alias) -> frozenset:
    """The buffers whose pointer another buffer of the step shares (in-place results)."""
    shared = {k for k in keys if k in alias}
    return frozenset(shared | {alias[k] for k in shared})


class StepFunction:
    """An internal LLVM function `void name(ptr noalias b0, ...)` over `buffers` (Values)."""

    def __init__(self, module: ir.Module, name: str, buffers, alias=None):
        alias = alias or {}
        keys = list(dict.fromkeys(buffers))
        self.buffers = list(dict.fromkeys(alias.get(k, k) for k in keys))
        fnty = ir.FunctionType(ir.VoidType(), [PTR] * len(self.buffers))
        self.fn = ir.Function(module, fnty, name=name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        self.fn.attributes.add("noinline")
        for arg in self.fn.args:
            arg.add_attribute("noalias")
        self.ptr = dict(zip(self.buffers, self.fn.args))
        self.ptr.update({k: self.ptr[alias[k]] for k in keys if k in alias})
        self.shared = _shared_keys(keys, alias)
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    @classmethod
    def task(cls, module: ir.Module, name: str, buffers, alias=None):
        """A thread's share of a step: `self.fn` is `void name(ptr argv, i64 lo, i64 hi)`,
        which loads the buffers from argv and calls the body `name.body(ptr noalias b0, ...,
        i64 lo, i64 hi)` emitted through this object (`self.lo`, `self.hi` bound the outer
        loop; noalias keeps the body as vectorisable as an unthreaded step)."""
        self = cls.__new__(cls)
        alias = alias or {}
        keys = list(dict.fromkeys(buffers))
        self.buffers = list(dict.fromkeys(alias.get(k, k) for k in keys))
        i64 = ir.IntType(64)
        body_ty = ir.FunctionType(ir.VoidType(), [PTR] * len(self.buffers) + [i64, i64])
        body = ir.Function(module, body_ty, name=f"{name}.body")
        body.linkage = "internal"
        body.attributes.add("nounwind")
        for arg in body.args[:-2]:
            arg.add_attribute("noalias")
        self.ptr = dict(zip(self.buffers, body.args))
        self.ptr.update({k: self.ptr[alias[k]] for k in keys if k in alias})
        self.shared = _shared_keys(keys, alias)
        self.lo, self.hi = body.args[-2:]
        self.b = ir.IRBuilder(body.append_basic_block("entry"))
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, i64, i64]), name=name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        argv, lo, hi = self.fn.args
        wb = ir.IRBuilder(self.fn.append_basic_block("entry"))
        ptrs = [wb.load(wb.gep(argv, [ir.Constant(i64, i)], source_etype=PTR), typ=PTR)
                for i in range(len(self.buffers))]
        wb.call(body, ptrs + [lo, hi])
        wb.ret_void()
        return self

    def finish(self):
        self.b.ret_void()
        return self.fn

    def address(self, base, linear):
        memty = MEMTYPES[base.type.dtype]
        return self.b.gep(self.ptr[base], [linear], inbounds=True, source_etype=memty)

    def load(self, base, linear) -> SVal:
        dtype = base.type.dtype
        v = self.b.load(self.address(base, linear), typ=MEMTYPES[dtype])
        if base in self.shared:          # written in place: see the module docstring
            v = _freeze(self.b, v)
        if dtype == "bool":
            v = self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        return SVal(v, dtype)

    def store(self, base, linear, val: SVal):
        if val.dtype == "bool":
            self.b.store(self.b.zext(val.v, MEMTYPES["bool"]), self.address(base, linear))
        else:
            self.b.store(val.v, self.address(base, linear))

    def read(self, view: View, idx, shape=None) -> SVal:
        """Load the view's element at index `idx` of (broadcast) iteration shape `shape`."""
        strides = view.aligned(shape) if shape is not None else view.strides
        return self.load(view.base, linear_index(self.b, idx, strides, view.offset))

    def zero(self, dtype) -> SVal:
        return SVal(ir.Constant(LLTYPES[dtype], 0), dtype)
