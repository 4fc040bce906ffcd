"""Compiling a large captured step in a thread, while the steps go on as they ran before.

A ResNet-50's captured step (forward, loss, adjoint and, later, the update in one graph)
takes LLVM 5-13 s of CPU; compiled in the training loop's thread, that is a pause at the step
it was learned. `Compiling(fn)` compiles in a thread of its own instead: the loop keeps running
the step the way it already does (the net's compiled calls, eager ops, the per-parameter
update) on another core, and capture installs the result at a later backward(), in the
loop's own thread (capture.observe, update_fusion.note). Only graphs of BACKGROUND_OPS ops or
more whose object is not cached go there (a cached object loads at once); smaller ones stay
synchronous, so that a program's first captured step is where it always was.

Threads and processes:
- LLVM (llvmlite) serializes its calls on one lock and releases the GIL inside them, so the
  compile takes a second core while the loop runs.
- The thread is not a daemon: an exiting interpreter waits for it, rather than tearing LLVM
  down under a running compile.
- Before a fork (DataLoader workers), the forking thread takes llvmlite's lock, so no LLVM
  call is half done in the child's copy of the process; both sides release it after.
"""
import os
import threading
import time
import weakref

from llvmlite.binding import ffi as _llvm_ffi

BACKGROUND_OPS = 800    # a graph this large (and not in the cache) compiles in a thread
_RUNNING = weakref.WeakSet()    # the compile threads started (until they are collected)


class Compiling:
    """`compile_callable(fn, donate=...)` running in a thread: `done()`, then `result()`
    (the callable, or the compile's exception raised); `seconds`: the thread's CPU time."""
    __slots__ = ("thread", "seconds", "_result", "_error")

    def __init__(self, fn, donate=None):
        from .segments import compile_callable
        self._result = self._error = None
        self.seconds = 0.0

        def work():
            start = time.thread_time()
            try:
                self._result = compile_callable(fn, donate=donate)
            except BaseException as e:  # noqa: BLE001 - handed to the owner's thread
                self._error = e
            self.seconds = time.thread_time() - start
        self.thread = threading.Thread(target=work, name=f"tracegrad compile {fn.name}")
        _RUNNING.add(self.thread)
        self.thread.start()

    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self):
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def wait_all():
    """Until every background compile started so far has ended (their results are still
    installed by their owners' next backward())."""
    for thread in list(_RUNNING):
        thread.join()
        _RUNNING.discard(thread)


def busy() -> bool:
    """Whether a background compile is running: a compile that is only an optimization
    (tape.Adjoint's, after NATIVE_AFTER runs) waits for a later run rather than for
    llvmlite's lock, which the background compile holds for seconds at a time."""
    return any(t.is_alive() for t in list(_RUNNING))


def wanted(fn, donate=None) -> bool:
    """Whether fn should compile in the background: large, and its object not cached."""
    if BACKGROUND_OPS is None or len(fn.ops) < BACKGROUND_OPS:
        return False
    from ..codegen import is_cached
    return not is_cached(fn, donate=donate)


def _llvm_lock():
    return _llvm_ffi.lib._lock


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: _llvm_lock().__enter__(),
                        after_in_parent=lambda: _llvm_lock().__exit__(None, None, None),
                        after_in_child=lambda: _llvm_lock().__exit__(None, None, None))
