"""Errors and the user-code locator shared by every layer (MXNet's `mxnet.base`)."""
import os
import sys
import threading

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class MXNetError(RuntimeError):
    """The error type MXNet code catches; tracegrad raises it (or a subclass) for misuse.

    Its message ends with the user's line (the innermost frame outside tracegrad) unless it
    names one already, so every check, wherever in tracegrad it sits, says where it fired."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str) and "\n  at " not in args[0]:
            where = user_location()
            if where:
                args = (f"{args[0]}\n  at {where}",)
        super().__init__(*args)


class MXNetValueError(MXNetError, ValueError):
    """A bad value MXNet 1.9.1 reports as ValueError (its C++ checks prefixed "ValueError:",
    e.g. a reshape to another size): caught as either."""


class MXNetTypeError(MXNetError, TypeError):
    """An argument an operator does not take: MXNet 1.9.1 raises MXNetError ("Cannot find
    argument"), Python a TypeError for an unexpected keyword; caught as either."""


class MXNetIndexError(MXNetError, IndexError):
    """An index out of its axis's range (an op's index check, eager or compiled): MXNet
    1.9.1 raises IndexError for gather_nd's, and numpy for its own; caught as either."""


class NotImplementedForSymbol(MXNetError):
    """An NDArray-only method called on a Symbol (asnumpy, bool(), +=, ...), as MXNet names
    it: the function, its operator alias and the argument types."""

    def __init__(self, function, alias, *args):
        self.function = getattr(function, "__name__", str(function))
        self.alias = alias
        self.arg_types = [str(type(a)) for a in args]
        super().__init__(str(self))

    def __str__(self):
        msg = f"Function {self.function}"
        if self.alias:
            msg += f' (namely operator "{self.alias}")'
        if self.arg_types:
            msg += f" with arguments ({', '.join(self.arg_types)})"
        return msg + " is not implemented for Symbol and only available in NDArray."


class DeferredInitializationError(MXNetError):
    """A Parameter's data was requested before its shape was known (first forward pending)."""


def user_frame(skip_tests=False):
    """The innermost stack frame outside the tracegrad package: where the user called us.
    (A trace stamps every op with it: each file's verdict is computed once.)"""
    f = sys._getframe(1)
    ours = _OURS
    while f is not None:
        fname = f.f_code.co_filename
        inside = ours.get(fname)
        if inside is None:
            if len(ours) > 4096:
                ours.clear()
            inside = ours[fname] = os.path.abspath(fname).startswith(_PACKAGE_DIR + os.sep)
        if not inside:
            return f
        f = f.f_back
    return None


_OURS: dict = {}     # co_filename -> whether it is a file of the tracegrad package


class _Locating(threading.local):
    """While a trace runs (jit, hybridize, make_ir) every recorded op is stamped with the
    user's line and the Gluon blocks being called (`blocks`, outermost first)."""
    on = False

    def __init__(self):
        self.blocks = []


LOCATING = _Locating()


# How many traces (jit, hybridize, make_ir, a block's inlined hybrid call) run in any thread.
# While none does, every thread's trace flags (HOOKS.tracing, .compiling, .call_recorded,
# LOCATING.on, a block's in_hybrid_call) hold their defaults, so the hot paths test
# ANY_TRACE[0] before reading them (a thread-local read costs ~40 ns; a step reads several).
ANY_TRACE = [0]
_ANY_TRACE_LOCK = threading.Lock()


class tracing_somewhere:
    """Entered around every change of a trace flag: counts the trace in ANY_TRACE."""
    __slots__ = ()

    def __enter__(self):
        with _ANY_TRACE_LOCK:
            ANY_TRACE[0] += 1

    def __exit__(self, *exc):
        with _ANY_TRACE_LOCK:
            ANY_TRACE[0] -= 1


def block_path() -> str:
    """'hybridsequential0.0.dense0'-style path of the blocks being traced, or ''."""
    blocks = LOCATING.blocks
    if not blocks:
        return ""
    parts = [blocks[0].name or type(blocks[0]).__name__.lower()]
    for parent, child in zip(blocks, blocks[1:]):
        key = next((k for k, c in getattr(parent, "_children", {}).items() if c is child),
                   None)
        parts.append(key if key is not None else (child.name or type(child).__name__))
    return ".".join(parts)


def op_location() -> str:
    """'file.py:12 (block.path)' for an op recorded now (tracing only; it walks the stack)."""
    f = user_frame()
    where = f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}" if f is not None else "?"
    path = block_path()
    return f"{where} ({path})" if path else where


def user_location() -> str:
    """'file.py:12 in fn: <source line>' for the user's frame, or '' when none is found; the
    Gluon block path is added while a block is traced."""
    f = user_frame()
    if f is None:
        return ""
    import linecache
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    path = block_path()
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}" + (
        f" (block {path})" if path else "") + (f": {line}" if line else "")


def op_error(opname, operands, attrs, cause) -> MXNetError:
    """An MXNetError naming the op, its operand types and attributes, and the user's line
    (an MXNetIndexError when the cause is an IndexError: an index out of range stays one).
    A cause that is already an MXNetError named its op and the user's line itself (an index
    check's): it is the error as it is."""
    if isinstance(cause, MXNetError):
        return cause
    types = ", ".join(_describe(o) for o in operands)
    shown = ", ".join(f"{k}={v}" for k, v in attrs.items()) if attrs else ""
    msg = f"{opname}({types}{'; ' + shown if shown else ''}): {cause}"
    where = user_location()
    error = MXNetIndexError if isinstance(cause, IndexError) else MXNetError
    return error(msg + (f"\n  at {where}" if where else ""))


def _describe(o):
    shape = getattr(o, "shape", None)
    dtype = getattr(o, "dtype", None)
    if shape is None:
        return repr(o)
    from .ir.types import dtype_name
    try:
        d = dtype_name(dtype)
    except TypeError:
        d = str(dtype)
    return f"{d}[{','.join(map(str, shape))}]"


# the type tuples MXNet 1.x code imports from mxnet.base
numeric_types = (float, int, np.generic)
integer_types = (int, np.integer)
string_types = (str,)
mx_real_t = np.float32      # MXNet's default real type


def data_dir_default():
    """Where MXNet keeps downloads when $MXNET_HOME is unset: ~/.mxnet (%APPDATA%\\mxnet on
    Windows)."""
    if os.name == "nt":
        return os.path.join(os.environ.get("APPDATA", os.path.expanduser("~")), "mxnet")
    return os.path.join(os.path.expanduser("~"), ".mxnet")


def data_dir():
    """MXNet's data directory (datasets, model weights, embeddings): $MXNET_HOME, else
    data_dir_default()."""
    return os.getenv("MXNET_HOME", data_dir_default())


def _as_list(obj):
    """`obj` if it is a list or tuple, else [obj] (MXNet's helper, imported by user code)."""
    return obj if isinstance(obj, (list, tuple)) else [obj]


def py_str(x):
    """MXNet's mx.base.py_str: bytes from the C API as a str (a str passes through)."""
    return x.decode("utf-8") if isinstance(x, bytes) else x

