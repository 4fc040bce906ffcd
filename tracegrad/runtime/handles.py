"""Handles: how ops that call out of the graph (a custom Function's Python code, a compiled
variant's native forward / adjoint) name the Python object they call.

A handle is a small integer attribute, never reused within a process, so a graph holding such
an op prints and parses back like any other. It names its object only while something else
keeps the object alive (the tape values a recorded call produced, a jit variant): the
registry holds weak references, so compiled code is released once nothing can call it, and
running a parsed graph whose object is gone raises a clear error instead of calling another.
"""
import itertools
import weakref

from ..ir.ops import OpDef

_LIVE = weakref.WeakValueDictionary()
_NEXT = itertools.count(1)


def register(obj) -> int:
    """A fresh handle naming `obj` for as long as `obj` lives."""
    handle = next(_NEXT)
    _LIVE[handle] = obj
    return handle


def resolve(handle, opname):
    """The object `handle` names; a released or unknown handle is an error naming the op."""
    obj = _LIVE.get(handle)
    if obj is None:
        raise RuntimeError(f"{opname}: handle {handle} names no live object (it was released "
                           f"when nothing held it any more, or the graph comes from another "
                           f"process); re-record or re-trace to call it")
    return obj


def lookup(handle):
    """The object `handle` names, or None when it names none (no error: a caller's check)."""
    return _LIVE.get(handle)


def live_count() -> int:
    """How many handles still name an object (for tests and explain())."""
    return len(_LIVE)


class OutCall(OpDef):
    """The op family that calls out of the graph: its object is named by the `handle_attr`
    attribute (see module docstring). Subclasses: custom, custom_grad, compiled_call,
    compiled_adjoint."""
    handle_attr = None

    @classmethod
    def target(cls, attrs):
        return resolve(attrs[cls.handle_attr], cls.name)

    @classmethod
    def structure_key(cls, attrs):
        """What the op computes, independent of which handle names its object: the object's
        own `structure_key()` when it has one (a loop body's IR), else the handle."""
        obj = _LIVE.get(attrs[cls.handle_attr])
        key = getattr(obj, "structure_key", None)
        return key() if key is not None else attrs[cls.handle_attr]
