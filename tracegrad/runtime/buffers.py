"""Buffers the native runtime owns: an aligned scratch arena per compiled function, and the
addresses the native entry needs, computed once (reading `arr.ctypes.data` costs ~2 us a call).
"""
import ctypes
from sys import getrefcount

import numpy as np

ALIGN = 64


def aligned_empty(nbytes: int, align: int = ALIGN) -> np.ndarray:
    """A uint8 array of `nbytes` whose data address is a multiple of `align`."""
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes]


class Arena:
    """Scratch memory for intermediates of one compiled graph (offsets planned at compile
    time). Not shared between threads: each NativeFunction owns one."""

    def __init__(self, nbytes: int):
        self.array = aligned_empty(max(nbytes, ALIGN))
        self.address = self.array.ctypes.data


class Context:
    """Words the entry reads: the address of numpy's ndarray type (the exact-type guard), the
    number of threads large kernels may use (TRACEGRAD_NUM_THREADS, default all cores) and the
    address of the worker pool's run function (codegen/thread_pool.py; 0 until `start_pool`:
    threaded steps then run their pieces on the calling thread)."""

    def __init__(self):
        from ..codegen.threads import default_num_threads
        self.words = (ctypes.c_void_p * 3)(id(np.ndarray), default_num_threads(), 0)
        self.address = ctypes.addressof(self.words)

    def start_pool(self):
        """Compile the worker pool once (its threads start on the first threaded step)."""
        if not self.words[2]:
            from ..codegen.thread_pool import pool_address
            self.words[2] = pool_address()

    @property
    def num_threads(self) -> int:
        return int(self.words[1])

    @num_threads.setter
    def num_threads(self, n: int):
        if int(n) < 1:
            raise ValueError(f"num_threads must be >= 1, got {n}")
        self.words[1] = int(n)


# ---------------------------------------------------------------- output buffer pool
POOL_MIN_BYTES = 1 << 20    # smaller outputs come from malloc's free lists, already warm
POOL_DEPTH = 2              # arrays kept per output: a gradient and the one it replaces
# id(array) -> how many OutputPools hold it. Exact: while the count is positive a pool holds
# the array, so its id cannot be reused by another object
_HELD: dict = {}
POOL_HOLDS = _HELD    # (read-only for others: pool_refs without the call, on hot paths)


def pool_refs(array) -> int:
    """References to `array` that output pools hold (Variable.receive allows for them)."""
    return _HELD.get(id(array), 0)


def _unreferenced(arrays, baseline):
    """The first array of `arrays` that nothing but the list references, or None."""
    for a in arrays:
        if getrefcount(a) <= baseline:  # the list, the loop variable, getrefcount's argument
            return a
    return None


def _calibrate():
    """The baseline for _unreferenced, found with _unreferenced itself: the smallest count at
    which an array only its list holds counts as free and one with one more reference does
    not (so no change of interpreter can make the pool reuse a referenced array)."""
    for baseline in range(1, 16):
        alone = [np.empty(1)]
        if _unreferenced(alone, baseline) is None:
            continue
        held = [np.empty(1)]
        other = held[0]
        if _unreferenced(held, baseline) is not None or other is None:
            break
        return baseline
    raise ImportError("tracegrad.runtime.buffers: cannot tell a free array by its refcount "
                      "on this interpreter")


class OutputPool:
    """Output arrays of one large output of a compiled function, reused across calls.

    A fresh 2^24-element output costs page faults on every call (glibc hands out large
    blocks as new mmap'd pages), about as much time as the kernel's own memory traffic. The
    pool keeps the last POOL_DEPTH arrays it handed out and hands one out again only when
    nothing but the pool references it (sys.getrefcount): no NDArray, tape value, view
    (a view references its base), buffer export or DLPack capsule (both reference the array)
    can still see it, so a caller never gets memory that another live array aliases. Callers
    hold the function's lock, so two threads never take the same array.
    """
    __slots__ = ("shape", "dtype", "arrays", "next")

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.arrays, self.next = shape, dtype, [], 0

    def take(self) -> np.ndarray:
        arrays = self.arrays
        a = _unreferenced(arrays, _FREE)
        if a is not None:
            return a
        a = np.empty(self.shape, self.dtype)
        if len(arrays) < POOL_DEPTH:
            arrays.append(a)
        else:                       # all in use: the newest replaces the oldest
            _release(arrays[self.next])
            arrays[self.next] = a
            self.next = (self.next + 1) % POOL_DEPTH
        _HELD[id(a)] = _HELD.get(id(a), 0) + 1
        return a

    def clear(self):
        for a in self.arrays:
            _release(a)
        self.arrays = []

    def __del__(self):
        try:
            self.clear()
        except Exception:           # interpreter shutdown: module globals may be gone
            pass


def _release(a):
    k = _HELD.get(id(a), 0) - 1
    if k > 0:
        _HELD[id(a)] = k
    else:
        _HELD.pop(id(a), None)


_FREE = _calibrate()
