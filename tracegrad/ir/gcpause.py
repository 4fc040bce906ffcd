"""`gc_paused()`: Python's cyclic garbage collector off while a compile builds its objects.

Passes and codegen allocate hundreds of thousands of objects that live until the stage ends
(ops, values, llvmlite instructions); their allocation made the collector walk the growing
heap again and again: 40% of the time of the IR passes and of emitting the LLVM IR of an
unrolled RNN. Reference counting still frees what it can; the young generations are collected
when the pause ends if a collection came due meanwhile (cycles left would keep arrays
referenced: fused_update's in-place test counts references). Pauses may nest and overlap
(threads): the collector is back on when the last one ends, unless it was off when the first
began.
"""
import contextlib
import gc
import threading

_lock = threading.Lock()
_active = 0
_turned_off = False


@contextlib.contextmanager
def gc_paused():
    global _active, _turned_off
    with _lock:
        if _active == 0:
            _turned_off = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            last = _active == 0 and _turned_off
            if last:
                _turned_off = False
                gc.enable()
        if last and gc.get_count()[0] > gc.get_threshold()[0]:
            gc.collect(1)   # what came due meanwhile (outside the lock: finalizers may compile)
