"""Calling compiled graphs: `NativeFunction(fn_or_module)(*arrays) -> list of arrays`.

Per call: allocate the outputs (arrays the caller owns: fresh, or for large outputs an array
of an earlier call that nothing references any more, buffers.OutputPool), pack inputs and
outputs in one tuple and make ONE call into tg_entry through a builtin (codegen/builtin_entry.py:
~0.05 us where ctypes took ~0.35), which passes the tuple itself; native code reads the array
structs directly and checks every input (exact ndarray type, rank, shape, dtype,
byte order, C-contiguity, alignment) before touching data. When a guard fails, the slow path
here either converts the input (non-contiguous, misaligned, subclass, byte-swapped) and calls
again, or raises TypeError naming the parameter, the expected and the actual type. The tuple /
PyArrayObject offsets the entry relies on are verified once at import (CPython, non free-
threaded builds). One scratch arena per NativeFunction: a lock serialises its calls.

Donation: `NativeFunction(fn, donate={output index: parameter index})` writes those outputs
into the arrays passed for those parameters, in place (codegen/donation.py). The caller
allocates only the other outputs, and a call returns only those, in order. A donated input is
never converted (a copy would not receive the result): one that is not exactly of its type,
is read-only, or overlaps another input fails the entry's guard, nothing is written, and the
call raises TypeError / ValueError naming it (runtime/donation.py); try_call returns None.
"""
import ctypes
import threading
import weakref

import numpy as np

from ..codegen import COUNTERS, CompiledModule, compile_function
from ..codegen import entry as layout
from ..codegen import index_errors
from ..codegen.builtin_entry import EntryBuiltin
from ..ir.ops import BRANCH, CALL, LOOP
from ..ir.types import TensorType
from . import donation
from .buffers import POOL_MIN_BYTES, Arena, Context, OutputPool

# A call this small keeps the GIL: the GIL then serialises the calls of one function, so its
# scratch arena needs no lock, and the call saves the lock and the GIL round trip (about half
# a microsecond, a batch-1 inference's Python budget). Such a call is well under a millisecond
# (CPython itself hands the GIL over every 5 ms); larger graphs, native loops and branches
# (any number of iterations) and pooled outputs release the GIL and take the lock.
SHORT_BYTES = 1 << 22    # inputs, outputs and scratch
SHORT_FLOPS = 1 << 24    # of the graph's matrix products (an upper bound)


def _check_layouts():
    """Fail loudly at import if this interpreter lays out tuples or ndarrays differently."""
    a = np.zeros((3, 5), dtype=np.float32)
    t = (a,)
    word = ctypes.c_void_p.from_address
    int32 = ctypes.c_int32.from_address
    ok = (word(id(t) + layout.TUPLE_ITEMS).value == id(a)
          and ctypes.c_ssize_t.from_address(id(t) + layout.TUPLE_SIZE).value == 1
          and word(id(a) + layout.ARRAY["data"]).value == a.ctypes.data
          and int32(id(a) + layout.ARRAY["nd"]).value == 2
          and ctypes.c_int64.from_address(word(id(a) + layout.ARRAY["dims"]).value + 8).value == 5
          and word(id(a) + layout.ARRAY["type"]).value == id(np.ndarray)
          and int32(id(a) + layout.ARRAY["flags"]).value == a.flags.num
          and word(id(a) + layout.ARRAY["descr"]).value == id(a.dtype)
          and int32(id(a.dtype) + layout.DESCR["type_num"]).value == a.dtype.num)
    if not ok:
        raise ImportError("tracegrad.runtime.native: unexpected CPython/numpy object layout; "
                          "native calls are unsupported on this interpreter")


_check_layouts()
_CONTEXT = Context()
# every live compiled callable, so mx.profiler can time their native calls (set_entry_wrapper)
_LIVE = weakref.WeakSet()
_ENTRY_WRAPPER = [None]


def set_entry_wrapper(wrap):
    """`wrap(entry, name) -> entry` for the native entry of every compiled callable, live or
    made later (mx.profiler times the calls); None restores the plain entries. No cost per
    call when unset: the callables call whichever entry they hold."""
    _ENTRY_WRAPPER[0] = wrap
    for callable_ in list(_LIVE):
        callable_._wrap_entry()


class _Profiled:
    """The entry holder both compiled callables share: the plain entry and its wrapping."""

    def _set_entry(self, entry):
        self._plain_entry = entry
        _LIVE.add(self)
        self._wrap_entry()

    def _wrap_entry(self):
        wrap = _ENTRY_WRAPPER[0]
        fn = getattr(self.module, "fn", None)
        self._entry = self._plain_entry if wrap is None else wrap(
            self._plain_entry, fn.name if fn is not None else "chain")


class NativeFunction(_Profiled):
    """A compiled Function made callable. `module` is the CompiledModule (llvm_ir etc.)."""

    def __init__(self, fn_or_module, fastmath=(), donate=None):
        if isinstance(fn_or_module, CompiledModule):
            module = fn_or_module
            if donate is not None and \
                    dict(sorted(dict(donate).items())) != module.donate:
                raise ValueError(f"@{module.fn.name}: compiled with donate={module.donate}, "
                                 f"not {dict(donate)}")
        else:
            module = compile_function(fn_or_module, fastmath=fastmath, donate=donate)
        self.module = module
        # the Function this callable was made from: a module from the cache may hold another
        # with the same text, whose ops were traced at other lines (index errors name them)
        self._fn = module.fn if isinstance(fn_or_module, CompiledModule) else fn_or_module
        self._arena = Arena(module.arena_bytes)
        self._arena_address = self._arena.address
        _CONTEXT.start_pool()
        self._ctx_address = _CONTEXT.address
        self.donate = module.donate
        specs = [s for i, s in enumerate(module.output_specs) if i not in self.donate]
        self._outs = tuple((shape, dtype) for shape, dtype, _ in specs)
        self._literals = [(i, lit) for i, (_, _, lit) in enumerate(specs) if lit is not None]
        # a literal output donated to parameter p: filled into p after the call
        self._donated_literals = [(p, module.output_specs[k][2])
                                  for k, p in self.donate.items()
                                  if module.output_specs[k][2] is not None]
        self._nin = len(module.input_types)
        # large outputs reuse an array of an earlier call nothing references any more
        self._pools = [OutputPool(shape, dtype)
                       if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize >= POOL_MIN_BYTES
                       else None for shape, dtype in self._outs]
        self._pooled = any(p is not None for p in self._pools)
        # a long call drops the GIL, and the scratch arena is per function
        self._lock = threading.Lock()
        self._held = not self._pooled and _short(module)
        self._set_entry(EntryBuiltin(module.entry_address, self._arena_address,
                                     self._ctx_address, release_gil=not self._held,
                                     owners=(module, self._arena)).call)
        # one output, no literal: the call without a list comprehension
        self._single = self._outs[0] if len(self._outs) == 1 and not self._literals \
            and not self._donated_literals else None
        # every output donated (an optimizer update): the arguments are the whole tuple
        self._none = not self._outs and not self._donated_literals

    @property
    def llvm_ir(self) -> str:
        return self.module.llvm_ir

    def memory_plan(self) -> dict:
        """The compiled graph's planned memory (CompiledModule.memory_plan)."""
        return self.module.memory_plan()

    def _outputs(self):
        """Fresh arrays for the outputs (called under the lock: pools are not thread-safe)."""
        if not self._pooled:
            return [np.empty(shape, dtype) for shape, dtype in self._outs]
        return [np.empty(shape, dtype) if pool is None else pool.take()
                for (shape, dtype), pool in zip(self._outs, self._pools)]

    def release_buffers(self):
        """Drop the pooled output arrays (memory held for the next call)."""
        with self._lock:
            for pool in self._pools:
                if pool is not None:
                    pool.clear()

    def __call__(self, *args):
        outs = self.try_call(args)
        return outs if outs is not None else self._retry(args)

    def try_call(self, args):
        """The call on a tuple of input arrays, or None when an input fails its native guard
        (nothing ran; the caller may convert, explain, or take a path of its own). The checks
        are exact (ndarray type, rank, shape, dtype, byte order, layout), so a caller that
        holds the inputs' types in its own key need not check them in Python."""
        if self._held:   # the GIL serialises the calls (SHORT_BYTES)
            if self._none:
                rc = self._entry(args)
                if rc:
                    if rc < -1:
                        self._failed(rc)
                    return None
                COUNTERS["native_calls"] += 1
                return []
            if self._single is not None:
                shape, dtype = self._single
                outs = [np.empty(shape, dtype)]
                packed = args + (outs[0],)
            else:
                outs = [np.empty(shape, dtype) for shape, dtype in self._outs]
                packed = args + tuple(outs)
            rc = self._entry(packed)
        elif self._pooled:
            with self._lock:
                outs = self._outputs()
                packed = args + tuple(outs)
                rc = self._entry(packed)
                del packed
        else:
            outs = [np.empty(shape, dtype) for shape, dtype in self._outs]
            packed = args + tuple(outs)
            with self._lock:
                rc = self._entry(packed)
        if rc:
            if rc < -1:
                self._failed(rc)
            return None
        COUNTERS["native_calls"] += 1
        if self._literals:
            for i, lit in self._literals:
                outs[i][...] = lit
        if self._donated_literals:
            for p, lit in self._donated_literals:
                args[p][...] = lit
        return outs

    def _retry(self, args):
        """Slow path after a failed guard: explain, or convert and call again (never a donated
        input: runtime/donation.check raises for it instead)."""
        if len(args) != self._nin:   # (the entry's code -1: a wrong argument count)
            raise TypeError(f"@{self.module.fn.name} takes {self._nin} arrays "
                            f"({', '.join(self.module.input_names)}), got {len(args)}")
        if self.donate:
            donation.require_arrays(self.module.fn.name, self.module.input_names, args,
                                    self.donate)
        fixed = tuple(self._conform(i, a) for i, a in enumerate(args))
        if self.donate:
            donation.check(self.module.fn.name, self.module.input_names,
                           self.module.input_types, args, fixed, self.donate)
        with self._lock:
            outs = self._outputs()
            packed = fixed + tuple(outs)       # keep the tuple alive across the call
            rc = self._entry(packed)
            del packed
        if rc < -1:
            self._failed(rc)
        if rc:
            raise RuntimeError(f"native guard {rc} failed after conversion (tracegrad bug)")
        COUNTERS["native_calls"] += 1
        for i, lit in self._literals:
            outs[i][...] = lit
        for p, lit in self._donated_literals:
            fixed[p][...] = lit
        return outs

    def _failed(self, rc):
        """The entry stopped after a step (rc < -1): raise what it found."""
        if rc <= index_errors.INDEX_ERROR:
            raise index_errors.error(index_errors.sites([self._fn]), rc)
        if rc == layout.OUT_OF_MEMORY:
            raise MemoryError(f"@{self.module.fn.name}: a loop or cond in this compiled graph "
                              f"could not allocate its scratch memory (the call returned "
                              f"nothing)")
        raise RuntimeError(f"@{self.module.fn.name}: native entry returned {rc} (tracegrad bug)")

    def _conform(self, i, a):
        want: TensorType = self.module.input_types[i]
        arr = np.asarray(a)
        actual = f"{arr.dtype}{list(arr.shape)}"
        same_dtype = arr.dtype.newbyteorder("=") == want.np_dtype
        if arr.shape != want.shape or not same_dtype:
            raise TypeError(f"@{self.module.fn.name}: parameter %{self.module.input_names[i]} "
                            f"(argument {i}) expects {want} ({want.np_dtype}"
                            f"{list(want.shape)}), got {actual}")
        # np.asarray with order="C", not np.ascontiguousarray: that one turns 0-d into 1-d
        arr = np.asarray(arr, dtype=want.np_dtype, order="C")
        if not arr.flags.aligned:
            arr = arr.copy()
        return arr.view(want.np_dtype)


def _short(module):
    """Whether a call of `module` may keep the GIL (SHORT_BYTES, SHORT_FLOPS)."""
    if not all(isinstance(t, TensorType) for t in module.input_types):
        return False
    nbytes = module.arena_bytes + sum(t.size * np.dtype(t.np_dtype).itemsize
                                      for t in module.input_types)
    nbytes += sum(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize     # (a donated output
                  for i, (shape, dtype, _) in enumerate(module.output_specs)  # is its input's)
                  if i not in module.donate)
    flops = 0
    for op in module.fn.ops:
        traits = op.opdef.traits
        if LOOP in traits or BRANCH in traits:
            return False
        if CALL in traits:  # out size times the longest axis of an operand's matrix: >= k
            k = max((max(o.type.shape[-2:], default=1) for o in op.operands
                     if isinstance(getattr(o, "type", None), TensorType)), default=1)
            flops += 2 * sum(r.type.size for r in op.results) * k
    return nbytes <= SHORT_BYTES and flops <= SHORT_FLOPS


class NativeChain(_Profiled):
    """A codegen.chain module made callable: `chain(*inputs) -> (code, outputs)`. code 0: every
    segment ran, outputs are the fresh ones (those after the scratch); CHECK_FAILED + k:
    segment k's guard saw another outcome, outputs are the scratch ones (all of them when
    there is no scratch): those of segments 0..k are valid, later segments never ran; None:
    an input failed its type guard (nothing ran; the caller takes the ordinary path)."""

    def __init__(self, module, scratch=0):
        from ..codegen.chain import CHECK_FAILED
        self.module, self.check_failed = module, CHECK_FAILED
        self._arena = Arena(module.arena_bytes)
        self._arena_address = self._arena.address
        self._ctx_address = _CONTEXT.address
        self._set_entry(EntryBuiltin(module.entry_address, self._arena_address,
                                     self._ctx_address, release_gil=True,
                                     owners=(module, self._arena)).call)
        # the first `scratch` outputs (guard values the caller reads at once, under its own
        # lock) are reused by every call; the rest are fresh arrays the caller keeps
        self._scratch = tuple(np.empty(shape, dtype) for shape, dtype in
                              module.output_specs[:scratch])
        self._outs = module.output_specs[scratch:]
        self._lock = threading.Lock()

    def __call__(self, *inputs):
        """(code, scratch outputs + fresh outputs); see the class docstring."""
        outs = [np.empty(shape, dtype) for shape, dtype in self._outs]
        packed = inputs + self._scratch + tuple(outs)
        with self._lock:
            rc = self._entry(packed)
        if rc <= index_errors.INDEX_ERROR:
            raise index_errors.error(index_errors.sites([p.fn for p in self.module.plans]), rc)
        if rc and rc < self.check_failed:
            return None, None
        COUNTERS["native_calls"] += 1
        return rc, outs if rc == 0 or not self._scratch else self._scratch
