"""Tracebacks that end in the user's code: tracegrad's own frames are dropped from an uncaught
exception's traceback when it is printed (sys.excepthook), since the error message already
names the op, the types and the user's line. TRACEGRAD_FULL_TRACEBACKS=1 keeps every frame.
The previous hook is chained, so other tools' hooks still run."""
import os
import sys
import types

from .base import _PACKAGE_DIR

_installed = False


def _internal(frame) -> bool:
    return os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep)


def trim(tb):
    """The traceback without tracegrad's frames (the original when every frame is ours)."""
    kept = []
    t = tb
    while t is not None:
        if not _internal(t.tb_frame):
            kept.append(t)
        t = t.tb_next
    if not kept or len(kept) == _length(tb):
        return tb
    chain = None
    for t in reversed(kept):
        chain = types.TracebackType(chain, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return chain


def _length(tb):
    n = 0
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


def install():
    """Wrap sys.excepthook once (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if os.environ.get("TRACEGRAD_FULL_TRACEBACKS", "") in ("", "0"):
            trimmed = trim(tb)
            if trimmed is not tb:
                exc = exc.with_traceback(trimmed)
                tb = trimmed
                sys.stderr.write("(tracegrad's internal frames are hidden; "
                                 "TRACEGRAD_FULL_TRACEBACKS=1 shows them)\n")
        previous(exc_type, exc, tb)
    sys.excepthook = hook
