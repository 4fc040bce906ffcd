"""`mx.util`: the switches MXNet code queries, and MXNet's numpy-interface switch (`set_np`).

With `set_np()` (MXNet's `npx.set_np`), Gluon blocks return `mx.np.ndarray`s, hybrid_forward
receives them, and `gluon.data.DataLoader` batches are `mx.np` arrays. Without it everything is
MXNet 1.x's `nd`. `mx.np` functions work in either mode.
"""
import functools
import os

_NP = {"shape": False, "array": False}


def set_np(shape=True, array=True, dtype=False):
    """Turn on numpy shape semantics and mx.np arrays in Gluon (dtype=True, float64 default
    arrays, is not supported: tracegrad's mx.np keeps MXNet's float32 default)."""
    if dtype:
        from .base import MXNetError
        raise MXNetError("set_np(dtype=True) (float64 as the default dtype) is not supported")
    if array and not shape:
        from .base import MXNetError
        raise MXNetError("set_np: numpy array semantics need numpy shape semantics "
                         "(shape=True)")
    _switch("shape", shape)
    _switch("array", array)


_LISTENERS = []     # called with the new 'array' setting when it changes (gluon/block.py)


def on_np_switch(listener):
    _LISTENERS.append(listener)


def _switch(key, value):
    value = bool(value)
    changed = _NP[key] != value
    _NP[key] = value
    if changed and key == "array":
        for listener in _LISTENERS:
            listener(value)


def reset_np():
    """Back to MXNet 1.x's nd semantics in Gluon."""
    set_np(shape=False, array=False)


def is_np_array():
    """Whether Gluon hands out mx.np arrays (set_np)."""
    return _NP["array"]


def is_np_shape():
    """Whether numpy shape semantics are on (set_np)."""
    return _NP["shape"]


def is_np_default_dtype():
    return False


class _scope:
    def __init__(self, key, active):
        self.key, self.active = key, bool(active)

    def __enter__(self):
        self.prev = _NP[self.key]
        _switch(self.key, self.active)

    def __exit__(self, *exc):
        _switch(self.key, self.prev)
        return False


class _NumpyArrayScope(_scope):
    """MXNet's name for np_array's scope (which scripts and MXNet's tests import); its
    `_is_np_array` says whether it turns mx.np arrays on."""

    def __init__(self, is_np_array):
        super().__init__("array", is_np_array)
        self._is_np_array = self.active


def np_array(active=True):
    """`with np_array():` mx.np arrays in Gluon within the block."""
    return _NumpyArrayScope(active)


def np_shape(active=True):
    """`with np_shape():` numpy shape semantics within the block."""
    return _scope("shape", active)


def set_np_shape(active):
    """Turns numpy shape semantics on or off; returns the previous setting (MXNet's)."""
    prev = _NP["shape"]
    _switch("shape", active)
    return prev


def use_np(func):
    """Decorator: a function runs (a class's methods run) with set_np semantics on."""
    if isinstance(func, type):
        for name in ("forward", "hybrid_forward", "__call__"):
            method = func.__dict__.get(name)
            if method is not None:
                setattr(func, name, use_np(method))
        if callable(getattr(func, "initialize", None)):
            # (MXNet wraps inherited methods too: a Block's initialize makes mx.np parameters)
            func.initialize = use_np(getattr(func, "initialize"))
        if "__call__" not in func.__dict__ and any("__call__" in base.__dict__
                                                    for base in func.__mro__[1:]):
            # an inherited call (a Block's): it too runs with set_np on, as MXNet wraps every
            # method, so the block is called in np mode (hybrid_forward's F is the np one,
            # its outputs mx.np arrays) whatever mode the caller is in; looked up per call, as
            # set_np swaps Block.__call__
            cls = func

            def __call__(self, *args, **kwargs):
                with np_shape(True), np_array(True):
                    return super(cls, self).__call__(*args, **kwargs)
            func.__call__ = __call__
        return func

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np_shape(True), np_array(True):
            return func(*args, **kwargs)
    return wrapper


use_np_array = use_np_shape = use_np


def getenv(name):
    """The value of environment variable `name`, or None (MXNet's reads its C runtime's
    environment; tracegrad has only the process's)."""
    return os.environ.get(name)


def setenv(name, value):
    """Set environment variable `name` to the str `value`; None unsets it."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)
