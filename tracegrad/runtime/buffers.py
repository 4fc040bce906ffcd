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
    """Constants the entry reads: the address of numpy's ndarray type (the exact-type guard)."""

    def __init__(self):
        self.words = (ctypes.c_void_p * 1)(id(np.ndarray))
        self.address = ctypes.addressof(self.words)
