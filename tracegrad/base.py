"""Errors and the user-code locator shared by every layer (MXNet's `mxnet.base`)."""
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class MXNetError(RuntimeError):
    """The error type MXNet code catches; tracegrad raises it (or a subclass) for misuse."""


class DeferredInitializationError(MXNetError):
    """A Parameter's data was requested before its shape was known (first forward pending)."""


def user_frame(skip_tests=False):
    """The innermost stack frame outside the tracegrad package: where the user called us."""
    f = sys._getframe(1)
    while f is not None:
        fname = os.path.abspath(f.f_code.co_filename)
        if not fname.startswith(_PACKAGE_DIR + os.sep):
            return f
        f = f.f_back
    return None


def user_location() -> str:
    """'file.py:12 in fn: <source line>' for the user's frame, or '' when none is found."""
    f = user_frame()
    if f is None:
        return ""
    import linecache
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}" + (
        f": {line}" if line else "")


def op_error(opname, operands, attrs, cause) -> MXNetError:
    """An MXNetError naming the op, its operand types and attributes, and the user's line."""
    types = ", ".join(_describe(o) for o in operands)
    shown = ", ".join(f"{k}={v}" for k, v in attrs.items()) if attrs else ""
    msg = f"{opname}({types}{'; ' + shown if shown else ''}): {cause}"
    where = user_location()
    return MXNetError(msg + (f"\n  at {where}" if where else ""))


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
