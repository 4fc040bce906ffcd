"""Step functions compiled in one module and called from later ones, instead of compiled again.

A program compiles the same kernels many times over: a hybridized net's forward, then the
captured step that holds that forward and its adjoint, then the step with the optimizer fused
in; a test suite's modules shared half their step functions' code. Within a module, `_Dedupe`
(entry.py) already emits a step once; here the same holds across modules.

A step's `signature` (entry.py) describes everything its code is made from, so two steps with
one signature have the same code. When a module is compiled, each of its signed steps either
- is **exported**: emitted as before, but with external linkage, so its address can be looked
  up once the object is loaded; or
- is **imported**: a live object of this process exported that signature. The module gets a
  small trampoline `void stepN_import(ptr...)` that calls through the global `tg_import.<i>`,
  and after loading, `finish` writes the exporter's address there. The new object holds the
  exporter's JitObject, so the code it calls lives as long as it does.

Only steps whose code touches nothing the module's entry sets per call are exported: their
text may name their own functions and constants, the module's constant tables, declared
external functions and variables (BLAS, linked.py: a threaded step's tg_parallel_for and the
thread count it reads) and LLVM intrinsics, nothing else (a step that allocates sets its
module's out-of-memory flag, which the importer would never read).

The disk cache stores a module with imports as its object plus its import table (`pack`):
per import, the global to fill, the exporter's cache key and the symbol. Loading one (`load`)
finds each exporter among the live objects, or loads it from the disk cache (and its own
imports); when one cannot be found, the module is compiled afresh."""
import ctypes
import re
import struct
import threading
import weakref

from llvmlite import ir

PTR = ir.PointerType()
IMPORT = "tg_import."
_LOCK = threading.RLock()    # (a weakref callback may run in a collection inside it)
_BY_SIGNATURE: dict = {}     # signature -> (weakref to JitObject, symbol, key, key stored)
_SIGNATURES_OF: dict = {}    # that weakref -> its signatures (dropped when the object dies)
_BY_KEY = weakref.WeakValueDictionary()   # cache key -> its live JitObject
COUNTERS = {"steps_exported": 0, "steps_imported": 0}
ENABLED = True


class Link:
    """One module's imports and exports while it is emitted (entry.emit_steps). `key`: the
    module's cache key; `stored`: whether it goes to the disk cache (it then imports only from
    modules that went there too, so that another process can load it)."""

    def __init__(self, key, stored):
        self.key, self.stored = key, stored
        self.imports = []    # (global name, exporter JitObject, symbol, exporter key)
        self.exports = []    # (signature, symbol)

    def imported(self, module, sig, n_buffers, prefix):
        """A trampoline for the step of signature `sig` another live object exported, or
        None (none did)."""
        if not ENABLED:
            return None
        with _LOCK:
            found = _BY_SIGNATURE.get(sig)
            if found is None:
                return None
            jit = found[0]()
            if jit is None:
                del _BY_SIGNATURE[sig]
                return None
            if found[2] == self.key or (self.stored and not found[3]):
                return None     # (itself compiled before; or not loadable by another process)
        fnty = ir.FunctionType(ir.VoidType(), [PTR] * n_buffers)
        slot = ir.GlobalVariable(module, fnty.as_pointer(),
                                 name=f"{IMPORT}{len(self.imports)}")
        slot.initializer = ir.Constant(fnty.as_pointer(), None)
        fn = ir.Function(module, fnty, name=f"{prefix}import")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.call(b.load(slot, typ=fnty.as_pointer()), fn.args)
        b.ret_void()
        self.imports.append((slot.name, jit, found[1], found[2]))
        return fn

    def exported(self, module, fn, sig, code):
        """Export the freshly emitted step `fn` (code text `code`, its own names neutral) when
        its code touches nothing its module's entry sets."""
        if ENABLED and sig is not None and _self_contained(module, code):
            fn.linkage = ""
            rendered = getattr(module, "rendered", None)   # (entry.RenderedModule's text)
            if rendered is not None and fn.name in rendered:
                rendered[fn.name] = str(fn)
            self.exports.append((sig, fn.name))

    def finish(self, jit, key):
        """After loading the module's object `jit`: fill its imports, publish its exports."""
        _fill(jit, [(name, provider, symbol) for name, provider, symbol, _ in self.imports])
        with _LOCK:
            if self.exports:
                ref = weakref.ref(jit, _forget)
                _SIGNATURES_OF[ref] = [sig for sig, _ in self.exports]
                for sig, symbol in self.exports:
                    _BY_SIGNATURE[sig] = (ref, symbol, key, self.stored)
            _BY_KEY[key] = jit
        COUNTERS["steps_exported"] += len(self.exports)
        COUNTERS["steps_imported"] += len(self.imports)

    def pack(self, obj: bytes) -> bytes:
        """The disk-cache payload: the object, with the import table before it if any."""
        if not self.imports:
            return obj
        rows = [(name, key, symbol) for name, _, symbol, key in self.imports]
        return _MAGIC + struct.pack("<I", len(rows)) + b"".join(
            _field(s) for row in rows for s in row) + obj


def _forget(ref):
    """An exporter died: its signatures leave the registry (unless exported again since)."""
    with _LOCK:
        for sig in _SIGNATURES_OF.pop(ref, ()):
            found = _BY_SIGNATURE.get(sig)
            if found is not None and found[0] is ref:
                del _BY_SIGNATURE[sig]


def _fill(jit, imports):
    for name, provider, symbol in imports:
        ctypes.c_void_p.from_address(jit.global_address(name)).value = provider.address(symbol)
    jit.providers = [provider for _, provider, _ in imports]


_NAME = re.compile(r'@"?([-\w.$]+)"?')


def _self_contained(module, code):
    """Whether a step's code (its own names made `step_...`) names only what any module may."""
    for name in set(_NAME.findall(code)):
        if name.startswith("step_") or name.startswith("llvm."):
            continue
        g = module.globals.get(name)
        if isinstance(g, ir.Function) and g.is_declaration:
            continue
        if isinstance(g, ir.GlobalVariable) and (g.global_constant or g.initializer is None):
            continue        # (a constant table, or a process-wide variable: linked.py)
        return False
    return True


_MAGIC = b"TGLINK\x01\x00"
_LIMIT = 1 << 12          # imports per module a cache file may list
_ROW = re.compile(rb"(tg_import\.\d{1,6})\0([0-9a-f]{64})\0((?:[a-z]+(?:\.\d{1,6})?\."
                  rb"(?:body|cond|then|else)\.){0,16}step\d{1,6}_\w{1,120})\Z")


def _field(s: str) -> bytes:
    data = s.encode()
    return struct.pack("<H", len(data)) + data


def unpack(payload: bytes):
    """(object bytes, [(global name, exporter key, symbol)]) of a disk-cache payload, or None
    when its import table is malformed (every field is validated before it is used: an import
    slot, a cache key, a step function's name, in a loop or cond region or not)."""
    if not payload.startswith(_MAGIC):
        return payload, []
    at = len(_MAGIC)
    try:
        (count,) = struct.unpack_from("<I", payload, at)
        at += 4
        if count > _LIMIT:
            return None
        rows = []
        for _ in range(count):
            fields = []
            for _ in range(3):
                (n,) = struct.unpack_from("<H", payload, at)
                at += 2
                if at + n > len(payload):
                    return None
                fields.append(payload[at:at + n])
                at += n
            m = _ROW.match(b"\0".join(fields))
            if m is None:
                return None
            rows.append(tuple(v.decode() for v in m.groups()))
    except struct.error:
        return None
    return payload[at:], rows


def load(key, payload, load_object, make_jit, _loading=()):
    """The JitObject of a disk-cache `payload` written for `key`, its imports filled, or None
    (an exporter is neither live nor loadable: the caller compiles afresh).
    `load_object(key)`: another key's payload from the disk cache, or None. An object
    already loaded as another module's exporter is that object."""
    live = _BY_KEY.get(key)
    if live is not None:
        return live
    found = unpack(payload)
    _loading = (*_loading, key)
    if found is None:
        return None
    obj, rows = found
    imports = []
    for name, pkey, symbol in rows:
        provider = _BY_KEY.get(pkey)
        if provider is None:
            if pkey in _loading or len(_loading) > 64:   # (a cycle: only a forged file)
                return None
            other = load_object(pkey)
            provider = None if other is None else load(pkey, other, load_object, make_jit,
                                                       _loading)
            if provider is None:
                return None
        imports.append((name, provider, symbol))
    jit = make_jit(obj)
    try:
        _fill(jit, imports)
    except KeyError:        # (a symbol the exporter does not have: a stale or foreign file)
        return None
    with _LOCK:
        _BY_KEY[key] = jit
    return jit


def loadable(payload, load_object) -> bool:
    """Whether `load` would find every exporter a disk-cache payload imports from (live, or
    on disk itself), without loading anything."""
    found = unpack(payload)
    if found is None:
        return False
    return all(_BY_KEY.get(pkey) is not None or load_object(pkey) is not None
               for _, pkey, _ in found[1])


def reset_for_tests():
    with _LOCK:
        _BY_SIGNATURE.clear()
        _SIGNATURES_OF.clear()


def exporters() -> int:
    """How many signatures live objects export (tests: the registry does not grow)."""
    with _LOCK:
        return len(_BY_SIGNATURE)
