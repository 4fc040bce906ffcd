"""`mx.np.random`: numpy's sampling names over tracegrad's random stream (one key per draw, so
a seed reproduces eager and compiled draws alike). Array `loc`/`scale`/`low`/`high` broadcast
against `size` and are differentiated through (loc + scale * z)."""
import numpy as onp

from .. import random as _random
from ..array import F, NDArray, wrap
from ..base import MXNetError
from ..ir.types import dtype_name
from .ndarray import dtype_of
from .ndarray import _F32, as_np, binary, check_dtype, from_python

__all__ = ["seed", "normal", "uniform", "randint", "choice", "shuffle", "rand", "randn",
           "permutation", "multinomial"]


def seed(seed=None, ctx="all"):
    """Seed the random stream (the same seed gives the same draws, eager or compiled)."""
    _random.seed(0 if seed is None else int(seed))


def _size(fname, size, *params):
    shapes = [p.shape for p in params if isinstance(p, NDArray)]
    if size is None:
        return onp.broadcast_shapes(*shapes) if shapes else ()
    size = (int(size),) if isinstance(size, (int, onp.integer)) else tuple(int(s) for s in size)
    if shapes:
        try:
            if onp.broadcast_shapes(size, *shapes) != size:
                raise ValueError
        except ValueError:
            raise MXNetError(f"random.{fname}: parameters of shapes {shapes} do not broadcast "
                             f"to size {size}") from None
    return size


def _float_dtype(fname, dtype, *params):
    for p in params:
        if isinstance(p, NDArray) and dtype_of(p).kind == "f" and dtype is None:
            return dtype_of(p)
    dt = check_dtype(f"random.{fname}", dtype, _F32)
    if dt.kind != "f":
        raise MXNetError(f"random.{fname}: dtype must be floating, got {dt}")
    return dt


def _param(fname, p):
    if isinstance(p, (list, tuple, onp.ndarray)):
        return as_np(wrap(from_python(f"random.{fname}", p)))
    return p


def normal(loc=0.0, scale=1.0, size=None, dtype=None, ctx=None, out=None):
    loc, scale = _param("normal", loc), _param("normal", scale)
    shape = _size("normal", size, loc, scale)
    dt = _float_dtype("normal", dtype, loc, scale)
    if not isinstance(loc, NDArray) and not isinstance(scale, NDArray):
        return as_np(F.random_normal(_random.next_key(), shape=shape, dtype=dtype_name(dt),
                                     loc=float(loc), scale=float(scale)))
    z = as_np(F.random_normal(_random.next_key(), shape=shape, dtype=dtype_name(dt)))
    return binary("add", loc, binary("multiply", scale, z))


def uniform(low=0.0, high=1.0, size=None, dtype=None, ctx=None, out=None):
    low, high = _param("uniform", low), _param("uniform", high)
    shape = _size("uniform", size, low, high)
    dt = _float_dtype("uniform", dtype, low, high)
    if not isinstance(low, NDArray) and not isinstance(high, NDArray):
        return as_np(F.random_uniform(_random.next_key(), shape=shape, dtype=dtype_name(dt),
                                      low=float(low), high=float(high)))
    u = as_np(F.random_uniform(_random.next_key(), shape=shape, dtype=dtype_name(dt)))
    return binary("add", low, binary("multiply", binary("subtract", high, low), u))


def rand(*size, **kwargs):
    return uniform(size=size or None, **kwargs)


def randn(*size, **kwargs):
    return normal(size=size or None, **kwargs)


def randint(low, high=None, size=None, dtype=None, ctx=None, out=None):
    """Integers in [low, high) (int64 unless dtype says otherwise)."""
    if high is None:
        low, high = 0, low
    low, high = int(low), int(high)
    if high <= low:
        raise MXNetError(f"random.randint: low >= high ({low} >= {high})")
    dt = check_dtype("random.randint", dtype, onp.dtype(onp.int64))
    if dt.kind != "i":
        raise MXNetError(f"random.randint: dtype must be int32 or int64, got {dt}")
    shape = _size("randint", size)
    u = F.random_uniform(_random.next_key(), shape=shape, dtype="f64")
    ints = F.floor(F.add(F.mul(u, float(high - low)), float(low)))
    return as_np(F.cast(F.minimum(ints, float(high - 1)), dtype=dtype_name(dt)))


def permutation(x):
    if isinstance(x, (int, onp.integer)):
        keys = F.random_uniform(_random.next_key(), shape=(int(x),), dtype="f64")
        return as_np(F.argsort(keys, axis=0))
    return as_np(_random.shuffle(x))


def shuffle(x):
    """Permute x along its first axis, in place (as numpy's shuffle)."""
    if not isinstance(x, NDArray):
        raise MXNetError(f"random.shuffle: expected an mx.np.ndarray, got {type(x).__name__}")
    if x.ndim == 0:
        raise MXNetError("random.shuffle: cannot shuffle a 0-d array")
    x[:] = _random.shuffle(x)


def choice(a, size=None, replace=True, p=None, ctx=None, out=None):
    """Samples from arange(a) (a an int) or from the 1-d array a, with or without replacement,
    uniformly or with probabilities p."""
    if isinstance(a, (int, onp.integer)):
        n, pool = int(a), None
    else:
        pool = a if isinstance(a, NDArray) else as_np(wrap(from_python("random.choice", a)))
        if pool.ndim != 1:
            raise MXNetError(f"random.choice: a must be 1-dimensional, got shape {pool.shape}")
        n = pool.shape[0]
    if n <= 0:
        raise MXNetError("random.choice: a must be greater than 0 unless no samples are taken")
    shape = _size("choice", size)
    count = int(onp.prod(shape))
    if p is not None:
        p = p if isinstance(p, NDArray) else as_np(wrap(onp.asarray(p, dtype=onp.float64)))
        if p.shape != (n,):
            raise MXNetError(f"random.choice: p must have shape ({n},), got {p.shape}")
    if not replace:
        if count > n:
            raise MXNetError("random.choice: cannot take a larger sample than population when "
                             "replace=False")
        keys = F.random_uniform(_random.next_key(), shape=(n,), dtype="f64")
        if p is not None:  # weighted sampling without replacement: keys u^(1/p), largest first
            keys = F.pow(keys, F.div(1.0, F.cast(p, dtype="f64")))
        idx = F.argsort(keys, axis=0, is_ascend=p is None)
        begin = (0,)
        idx = F.slice(idx, begin=begin, end=(count,), step=(1,))
    elif p is None:
        u = F.random_uniform(_random.next_key(), shape=(count,), dtype="f64")
        idx = F.cast(F.minimum(F.floor(F.mul(u, float(n))), float(n - 1)), dtype="i64")
    else:
        cdf = F.cumsum(F.cast(p, dtype="f64"), axis=0)
        cdf = F.div(cdf, F.slice(cdf, begin=(n - 1,), end=(n,), step=(1,)))
        u = F.random_uniform(_random.next_key(), shape=(count, 1), dtype="f64")
        below = F.cast(F.lt(F.reshape(cdf, shape=(1, n)), u), dtype="i64")
        idx = F.minimum(F.sum(below, axes=(1,)), n - 1)
    idx = F.reshape(idx, shape=shape)
    return as_np(F.cast(idx, dtype="i64") if pool is None else F.take(pool, idx, axis=0))


def multinomial(n, pvals, size=None):
    """Counts of n draws over len(pvals) outcomes (int64, shape size + (len(pvals),)): n
    categorical draws per sample (choice with p), one-hot and summed."""
    n = int(n)
    if n < 0:
        raise MXNetError(f"random.multinomial: n must be non-negative, got {n}")
    p = pvals if isinstance(pvals, NDArray) else as_np(wrap(onp.asarray(pvals, onp.float64)))
    if p.ndim != 1:
        raise MXNetError(f"random.multinomial: pvals must be 1-d, got shape {p.shape}")
    if not isinstance(pvals, NDArray) and onp.asarray(pvals).sum() > 1.0 + 1e-8:
        raise MXNetError("random.multinomial: sum(pvals[:-1]) > 1.0")
    k = p.shape[0]
    shape = _size("multinomial", size)
    if n == 0:
        return as_np(wrap(onp.zeros(shape + (k,), onp.int64)))
    draws = choice(k, size=shape + (n,), p=p)
    hot = F.one_hot(draws, depth=k, dtype="i64")
    return as_np(F.sum(hot, axes=(len(shape),)))
