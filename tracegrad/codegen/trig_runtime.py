"""The large-argument sin/cos functions (mathfuns.large_trig_module()), each compiled once per
process and linked into every object that calls it.

Modules only declare them: their definitions, with a Payne-Hanek reduction inlined per vector
lane, used to be compiled again in every module with a sin or cos and took most of its LLVM
time (0.25-0.9 s of CPU for a module that now compiles in 0.03 s). One is compiled and loaded
before the first object that names it, and its symbols are registered process-wide
(llvm.add_symbol) for MCJIT to resolve. They are not in the disk cache: each is the same every
time and compiles in well under a second."""
import threading

import llvmlite.binding as llvm

from . import mathfuns, target

_LOCK = threading.Lock()
_LOADED: dict = {}     # name -> JitObject: its code must live as long as the process


def ensure_loaded(object_bytes: bytes) -> None:
    """Compile and link the large-argument functions `object_bytes` names, if not yet."""
    if b"tg_trig_large_" not in object_bytes:
        return
    for name in mathfuns.LARGE_TRIG:
        if name in _LOADED or name.encode() not in object_bytes:
            continue
        with _LOCK:
            if name in _LOADED:
                continue
            _, obj = target.compile_object(mathfuns.large_trig_module(name))
            jit = target.JitObject(obj, links_runtime=False)
            for symbol in mathfuns.large_trig_symbols(name):
                llvm.add_symbol(symbol, jit.address(symbol))
            _LOADED[name] = jit
