"""Buffers the native runtime owns: an aligned scratch arena per compiled function, and the
addresses the native entry needs, computed once (reading `arr.ctypes.data` costs ~2 us a call).
"""
import ctypes

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
    """Words the entry reads: the address of numpy's ndarray type (the exact-type guard) and
    the number of threads large kernels may use (TRACEGRAD_NUM_THREADS, default all cores)."""

    def __init__(self):
        from ..codegen.threads import default_num_threads
        self.words = (ctypes.c_void_p * 2)(id(np.ndarray), default_num_threads())
        self.address = ctypes.addressof(self.words)

    @property
    def num_threads(self) -> int:
        return int(self.words[1])

    @num_threads.setter
    def num_threads(self, n: int):
        if int(n) < 1:
            raise ValueError(f"num_threads must be >= 1, got {n}")
        self.words[1] = int(n)
