"""Functions many modules call, each compiled once per process and linked into every object
that names it, instead of being compiled again inside every module.

A provider registers a group of symbols with the LLVM IR text that defines them (`provide`,
at import: an object loaded from the disk cache may name a symbol before any module of this
process declared it). Modules only declare the symbols (`declare`). Before an object is
loaded (target.JitObject), `ensure_loaded` compiles each group it names that is not loaded
yet, loads it, and registers its symbols process-wide (llvm.add_symbol) for MCJIT to resolve.
A loaded group lives as long as the process: the objects naming it hold its addresses. Each
group's object is kept in the disk cache too (the f64 sin and cos take 0.4 s of LLVM each);
its key, like every module's, hashes the codegen sources that make it.

The groups: the entry's argument checks (tg_check_inputs, tg_check_donated), the window
kernels (tg_im2col_<dtype>, tg_col2im_<dtype>), the large-argument sin/cos, and the threaded
steps' tg_parallel_for with the thread count and pool pointer it reads (threads.py).
Defined in every module, the checks and window kernels took a fifth of the LLVM time of a
typical test's modules, and the trig functions most of any graph with a sin or cos."""
import threading

import llvmlite.binding as llvm
from llvmlite import ir

from . import cache, target

_LOCK = threading.RLock()     # (a group's own object may name another group: check_inputs)
_GROUPS: dict = {}            # group -> (symbols, () -> LLVM IR text)
_DEFINE: dict = {}            # function symbol -> define(module) -> ir.Function
_TEMPLATES: dict = {}         # function symbol -> (function type, attributes, arg attributes)
_LOADED: dict = {}            # group -> JitObject
_MAKING: set = set()          # groups being compiled (their own object names them)


def provide(group, symbols, make_ir):
    """Register `group`: the `symbols` that `make_ir()` (LLVM IR text) defines."""
    _GROUPS[group] = (tuple(symbols), make_ir)


def provide_function(name, define):
    """Register the one-function group `name`, defined in a module by `define(module)` (which
    returns the ir.Function; its linkage is made external in the group's own module)."""
    _DEFINE[name] = define

    def make_ir():
        from .mathfuns import with_function_attributes
        module = ir.Module(name=name)
        define(module).linkage = ""
        return with_function_attributes(module, str(module))
    provide(name, [name], make_ir)


def declare(module, name):
    """The declaration of the provided function `name` in `module` (made once per module)."""
    if name in module.globals:
        return module.globals[name]
    template = _TEMPLATES.get(name)
    if template is None:
        fn = _DEFINE[name](ir.Module(name=name))
        template = _TEMPLATES[name] = (fn.function_type, set(fn.attributes) - {"noinline"},
                                       [set(a.attributes) for a in fn.args])
    fnty, attrs, arg_attrs = template
    fn = ir.Function(module, fnty, name=name)
    for a in attrs:
        fn.attributes.add(a)
    for arg, names in zip(fn.args, arg_attrs):
        for a in names:
            arg.add_attribute(a)
    return fn


def ensure_loaded(object_bytes: bytes) -> None:
    """Compile, load and register every provided group `object_bytes` names, if not yet."""
    if b"tg_" not in object_bytes:
        return
    for group, (symbols, make_ir) in list(_GROUPS.items()):
        if group in _LOADED or not any(s.encode() in object_bytes for s in symbols):
            continue
        with _LOCK:
            if group in _LOADED or group in _MAKING:
                continue
            _MAKING.add(group)
            try:
                obj = library_object(group, make_ir)
                ensure_loaded(obj)
                jit = target.JitObject(obj, links_runtime=False)
            finally:
                _MAKING.discard(group)
            for symbol in symbols:
                try:
                    address = jit.address(symbol)
                except KeyError:        # (a variable, not a function)
                    address = jit.global_address(symbol)
                llvm.add_symbol(symbol, address)
            _LOADED[group] = jit


def library_object(name, make_ir) -> bytes:
    """The object code of a module a process compiles once (a group here, the worker pool,
    the random fill): from the disk cache (a `.lib` file), else compiled from `make_ir()` and
    stored. The key hashes the codegen sources, which make the module."""
    key = cache.cache_key(f"linked\n{name}")
    obj = cache.load(key, ".lib")
    if obj is None:
        obj = target.compile_object(make_ir())[1]
        cache.store(key, obj, ".lib")
    return obj


def loaded() -> list:
    """The groups loaded in this process (for tests and explain)."""
    return sorted(_LOADED)
