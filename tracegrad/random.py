"""`mx.random` / `mx.nd.random`: seeded, counter-based random numbers.

Every draw takes a key [seed, counter] and the counter advances per draw, so a seed fixes the
whole sequence and eager, traced and compiled code draw the same numbers (ir/ops/random.py).
"""
import threading

import numpy as np

from .ir.types import dtype_name

_lock = threading.Lock()
_state = {"seed": int(np.random.SeedSequence().entropy % (1 << 63)), "counter": 0}


def seed(seed_state, ctx="all"):
    """Seed the generator: the same seed gives the same draws, eager or compiled."""
    with _lock:
        _state["seed"], _state["counter"] = int(seed_state) & ((1 << 63) - 1), 0


def next_key():
    """The key for the next draw (an i64[2] NDArray: seed, counter)."""
    from .array import HOOKS, wrap
    with _lock:
        key = np.array([_state["seed"], _state["counter"]], dtype=np.int64)
        _state["counter"] += 1
    hook = HOOKS.random_key
    return hook(key) if hook is not None else wrap(key)


def _shape(shape):
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _dt(dtype):
    return dtype_name(np.dtype(dtype or np.float32))


def uniform(low=0.0, high=1.0, shape=(1,), dtype=None, ctx=None, out=None, **kwargs):
    """Uniform samples in [low, high)."""
    from .array import F
    return _out(F.random_uniform(next_key(), shape=_shape(shape), dtype=_dt(dtype),
                                 low=float(low), high=float(high)), out)


def normal(loc=0.0, scale=1.0, shape=(1,), dtype=None, ctx=None, out=None, **kwargs):
    """Normal samples with mean loc and standard deviation scale."""
    from .array import F
    return _out(F.random_normal(next_key(), shape=_shape(shape), dtype=_dt(dtype),
                                loc=float(loc), scale=float(scale)), out)


def randn(*shape, loc=0.0, scale=1.0, dtype=None, **kwargs):
    return normal(loc, scale, shape or (1,), dtype)


def randint(low, high, shape=(1,), dtype="int32", ctx=None, out=None):
    """Integers in [low, high), from uniform draws (ops on the drawn key, so a trace draws
    fresh integers on every call, as eager code does)."""
    from .array import F
    u = uniform(0.0, 1.0, shape, dtype="float64")
    ints = F.floor(F.add(F.mul(u, float(high - low)), float(low)))
    return _out(F.cast(ints, dtype=dtype_name(np.dtype(dtype))), out)


def _out(value, out):
    if out is not None:
        out[:] = value
        return out
    return value
