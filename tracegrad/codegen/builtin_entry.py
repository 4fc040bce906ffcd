"""A compiled graph's entry called as a Python builtin: `call(packed) -> return code`.

`tg_entry(args, arena, ctx)` (entry.py) was called through ctypes, which costs ~0.35 us per
call to convert the arguments and set up a foreign call: a third of a tiny training step's
native time. A builtin function (METH_O) costs ~0.01 us, ~0.05 us when it releases the GIL.
Two trampolines, compiled once per process, take the place of ctypes:

    ptr tg_call_held(ptr self, ptr packed)      (the GIL stays held: short calls)
    ptr tg_call_released(ptr self, ptr packed)  (PyEval_SaveThread / RestoreThread around)

`self` is a tuple whose item 0 is a Python int, the address of a 3-pointer record {entry,
arena, ctx}; its other items are what those pointers point into (the record, the compiled
code, the arena), so the builtin keeps alive everything it touches, whoever holds it. The
trampoline returns the entry's code as a Python int (PyLong_FromLong), never NULL. Only
documented C-API functions are used (stable from 3.10 on); their addresses come from
ctypes.pythonapi.
"""
import ctypes

import llvmlite.binding as llvm
from llvmlite import ir

from .target import JitObject, compile_object, process_once

PTR = ir.PointerType()
I32, I64 = ir.IntType(32), ir.IntType(64)
METH_O = 0x0008
_C_API = {    # symbol the trampolines call -> the C-API function
    "tg_PyTuple_GetItem": "PyTuple_GetItem",
    "tg_PyLong_AsVoidPtr": "PyLong_AsVoidPtr",
    "tg_PyLong_FromLong": "PyLong_FromLong",
    "tg_PyEval_SaveThread": "PyEval_SaveThread",
    "tg_PyEval_RestoreThread": "PyEval_RestoreThread",
}


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


def _module_ir() -> str:
    m = ir.Module(name="tg_builtin_entry")
    fn_t = lambda ret, *args: ir.FunctionType(ret, list(args))  # noqa: E731
    item = ir.Function(m, fn_t(PTR, PTR, I64), "tg_PyTuple_GetItem")
    as_ptr = ir.Function(m, fn_t(PTR, PTR), "tg_PyLong_AsVoidPtr")
    from_long = ir.Function(m, fn_t(PTR, I64), "tg_PyLong_FromLong")
    save = ir.Function(m, fn_t(PTR), "tg_PyEval_SaveThread")
    restore = ir.Function(m, fn_t(ir.VoidType(), PTR), "tg_PyEval_RestoreThread")
    entry_t = fn_t(I32, PTR, PTR, PTR)
    for name, release in (("tg_call_held", False), ("tg_call_released", True)):
        f = ir.Function(m, fn_t(PTR, PTR, PTR), name)
        self_, packed = f.args
        b = ir.IRBuilder(f.append_basic_block("entry"))
        record = b.call(as_ptr, [b.call(item, [self_, ir.Constant(I64, 0)])])
        entry, arena, ctx = (
            b.load(b.gep(record, [ir.Constant(I64, k)], source_etype=PTR), typ=typ)
            for k, typ in enumerate((entry_t.as_pointer(), PTR, PTR)))
        state = b.call(save, []) if release else None
        code = b.call(entry, [packed, arena, ctx])
        if release:
            b.call(restore, [state])
        b.ret(b.call(from_long, [b.sext(code, I64)]))
    return str(m)


@process_once
def _trampolines() -> tuple:
    """(JitObject, {name: _MethodDef}) compiled once per process; the method defs live as
    long as the process (a builtin points at its def)."""
    for symbol, api in _C_API.items():
        llvm.add_symbol(symbol, ctypes.cast(getattr(ctypes.pythonapi, api),
                                            ctypes.c_void_p).value)
    jit = JitObject(compile_object(_module_ir())[1])
    defs = {name: _MethodDef(name.encode(), jit.address(name), METH_O, None)
            for name in ("tg_call_held", "tg_call_released")}
    return jit, defs


_NEW_BUILTIN = ctypes.pythonapi.PyCFunction_NewEx
_NEW_BUILTIN.restype = ctypes.py_object
_NEW_BUILTIN.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]


class EntryBuiltin:
    """`self.call(packed_tuple) -> int`: the compiled entry at `entry_address` on the arena at
    `arena_address` and `ctx`, as a builtin. `release_gil`: other Python threads run during
    the call (its caller then serialises calls that share the arena). `owners`: the objects
    that keep the entry's code and the arena alive; the builtin holds them."""
    __slots__ = ("call",)

    def __init__(self, entry_address: int, arena_address: int, ctx: int, release_gil: bool,
                 owners=()):
        jit, defs = _trampolines()
        record = (ctypes.c_void_p * 3)(entry_address, arena_address, ctx)
        method = defs["tg_call_released" if release_gil else "tg_call_held"]
        self.call = _NEW_BUILTIN(ctypes.addressof(method),
                                 (ctypes.addressof(record), record, jit, method, *owners), None)
