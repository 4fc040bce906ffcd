"""`mx.random` / `mx.nd.random`: seeded, counter-based random numbers.

Every draw takes a key [seed, counter] and the counter advances per draw, so a seed fixes the
whole sequence and eager, traced and compiled code draw the same numbers (ir/ops/random.py).
"""
import threading

import numpy as np

from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo
from .op_kwargs import write_out as _write_out

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


def _take_counter():
    """(seed, counter) of the next draw, the counter advanced: what next_key() holds, for a
    draw made outside any trace (an optimizer's noise, per parameter or in its fused update)."""
    with _lock:
        key = (_state["seed"], _state["counter"])
        _state["counter"] += 1
    return key


def _give_back_counter(after, count):
    """Undo the last `count` _take_counter() calls when nothing has drawn since (the counter
    is still `after`); True when undone."""
    with _lock:
        if _state["counter"] != after:
            return False
        _state["counter"] -= count
    return True


def _position():
    """(seed, counter): where the draws stand now (an executor keeps its forward's, so that a
    second backward recomputes that forward with the same draws)."""
    return _state["seed"], _state["counter"]


def _set_position(position):
    """Put the draws back at a `_position()`; returns the position they were at."""
    with _lock:
        prev = _state["seed"], _state["counter"]
        _state["seed"], _state["counter"] = position
    return prev


def _counter_now():
    with _lock:
        return _state["counter"]


def _shape(shape):
    if shape is None:   # MXNet's unset shape: one sample
        return (1,)
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _dt(dtype):
    return dtype_name(np.dtype(dtype or np.float32))


def _like_out(shape, dtype, out):
    """MXNet infers a sampler's unset shape and dtype from `out` (SampleOpType): the draws
    fill all of it, in its dtype."""
    if out is not None:
        if shape is None:
            shape = tuple(out.shape)
        if dtype is None:
            dtype = out.dtype
    return shape, dtype


def uniform(low=0.0, high=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Uniform samples in [low, high) (NDArray bounds: `shape` samples per pair)."""
    if kwargs:
        return _redo(uniform, locals())
    from .array import F, NDArray
    if isinstance(low, NDArray) or isinstance(high, NDArray):
        return _dists.uniform_of_arrays(low, high, shape, dtype, out)
    shape, dtype = _like_out(shape, dtype, out)
    if not float(low) <= float(high):
        raise MXNetError(f"random.uniform: low must be less or equal to high, got low={low}, "
                         f"high={high}")
    return _out("random.uniform", F.random_uniform(
        next_key(), shape=_shape(shape), dtype=_dt(dtype), low=float(low), high=float(high)), out)


def normal(loc=0.0, scale=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Normal samples with mean loc and standard deviation scale (NDArrays: `shape` samples
    per pair)."""
    if kwargs:
        return _redo(normal, locals())
    from .array import F, NDArray
    if isinstance(loc, NDArray) or isinstance(scale, NDArray):
        return _dists.normal_of_arrays(loc, scale, shape, dtype, out)
    shape, dtype = _like_out(shape, dtype, out)
    if not float(scale) > 0:      # (MXNet's check; NaN fails it too)
        raise MXNetError(f"random.normal: scale must be positive, got {scale}")
    return _out("random.normal", F.random_normal(
        next_key(), shape=_shape(shape), dtype=_dt(dtype), loc=float(loc), scale=float(scale)), out)


def randn(*shape, loc=0.0, scale=1.0, dtype=None, **kwargs):
    if kwargs:
        return _redo(randn, locals())
    return normal(loc, scale, shape or (1,), dtype)


def randint(low, high, shape=None, dtype=None, ctx=None, out=None):
    """Integers in [low, high), from uniform draws (ops on the drawn key, so a trace draws
    fresh integers on every call, as eager code does); int32 unless `out` says otherwise."""
    from .array import F
    shape, dtype = _like_out(shape, dtype, out)
    if np.dtype(dtype or "int32") not in (np.int32, np.int64):
        raise MXNetError(f"random.randint: the result's dtype must be int32 or int64, got "
                         f"{np.dtype(dtype).name}{' (out=)' if out is not None else ''}")
    u = uniform(0.0, 1.0, shape, dtype="float64")
    ints = F.floor(F.add(F.mul(u, float(high - low)), float(low)))
    return _out("random.randint", F.cast(ints, dtype=dtype_name(np.dtype(dtype or "int32"))),
                out)


def exponential(scale=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Exponential samples with mean `scale` (rate 1/scale): -scale * log(1 - u)."""
    if kwargs:
        return _redo(exponential, locals())
    from .array import F, NDArray
    if isinstance(scale, NDArray):
        return _dists.exponential_of_rates(F.div(1.0, scale), shape, dtype, out)
    shape, dtype = _like_out(shape, dtype, out)
    if not float(scale) > 0:      # (MXNet checks the rate 1 / scale)
        raise MXNetError(f"random.exponential: scale must be positive, got {scale}")
    # float16 draws in float32, as MXNet's kernel computes: a float16 u rounds to 1 about
    # once in 4096 draws, and -log(1 - u) is then inf
    name = _dt(dtype)
    wide = "f32" if name == "f16" else name
    u = F.random_uniform(next_key(), shape=_shape(shape), dtype=wide)
    sample = F.mul(F.neg(F.log1p(F.neg(u))), float(scale))
    if wide != name:
        sample = F.cast(sample, dtype=name)
    return _out("random.exponential", sample, out)


def shuffle(data, **kwargs):
    """`data` with its first axis randomly permuted (argsort of uniform draws, a gather)."""
    if kwargs:
        return _redo(shuffle, locals())
    from .array import F
    keys = F.random_uniform(next_key(), shape=(data.shape[0],), dtype="f64")
    return F.take(data, F.argsort(keys, axis=0), axis=0)


# the largest integer a float dtype holds exactly (a category index must be one)
_LARGEST_INDEX = {"float16": 2 ** 11, "float32": 2 ** 24, "float64": 2 ** 53}


def multinomial(data, shape=(), get_prob=False, out=None, dtype="int32", **kwargs):
    """Category indices drawn from the probabilities in `data`'s last axis; `shape` draws per
    distribution (result shape data.shape[:-1] + shape). get_prob=True also returns the log
    probability of each draw. By inverse CDF: the count of cumulative probabilities below u."""
    if kwargs:
        return _redo(multinomial, locals())
    from .array import F
    from .ir.types import dtype_name
    draws = _shape(shape) if shape not in ((), None) else ()
    lead, k = data.shape[:-1], data.shape[-1]
    out_dtype = np.dtype(dtype)
    largest = _LARGEST_INDEX.get(out_dtype.name)
    if largest is None and out_dtype.kind in "iu":
        largest = int(np.iinfo(out_dtype).max)
    if largest is not None and k > largest:     # (MXNet's check: the indices must fit)
        raise MXNetError(f"random.multinomial: {k} categories do not fit dtype "
                         f"{out_dtype.name}, whose largest exact integer is {largest}")
    cdf = F.cumsum(data, axis=data.ndim - 1)
    n = int(np.prod(draws)) if draws else 1
    u = F.random_uniform(next_key(), shape=lead + (n, 1), dtype=dtype_name(data._data.dtype))
    last = F.slice(cdf, begin=(0,) * (data.ndim - 1) + (k - 1,), end=lead + (k,),
                   step=(1,) * data.ndim)
    u = F.mul(u, F.expand_dims(last, axis=data.ndim - 1))  # probabilities need not sum to 1
    below = F.lt(F.expand_dims(cdf, axis=data.ndim - 1), u)  # (..., n, k)
    idx = F.sum(F.cast(below, dtype="i64"), axes=(data.ndim,))
    idx = F.minimum(idx, k - 1)
    samples = F.reshape(idx, shape=lead + draws) if draws else F.reshape(idx, shape=lead or (1,))
    result = F.cast(samples, dtype=dtype_name(np.dtype(dtype)))
    if get_prob:
        logp = F.log(F.take_along_axis(data, F.reshape(idx, shape=lead + (n,)),
                                       axis=data.ndim - 1))
        logp = F.reshape(logp, shape=samples.shape)
        return [_out("random.multinomial", result, out), logp]
    return _out("random.multinomial", result, out)


def _out(label, value, out):
    """MXNet's `out=`: the draws written into `out`, whose shape and dtype must be theirs."""
    return value if out is None else _write_out(label, value, out)


from . import random_dists as _dists  # noqa: E402
from .random_dists import (gamma, generalized_negative_binomial,  # noqa: E402,F401
                           negative_binomial, poisson)
from .random_like import SHORT as _LIKE  # noqa: E402  (nd.random.uniform_like, ...)
globals().update(_LIKE)
