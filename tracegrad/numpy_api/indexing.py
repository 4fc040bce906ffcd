"""numpy indexing of mx.np arrays, in recorded ops.

Basic keys (integers, slices, None, Ellipsis) are a slice and a reshape (nd's indexing with
numpy's result shape: an integer index drops its axis, down to 0-d). Any other key (integer
arrays or lists, boolean masks, mixtures) is resolved with numpy on the positions
0..size-1, which gives the flat positions the key selects; the result is one `take` of the flat
array, so it differentiates like any gather. The key's values are read (a guard inside a trace):
a boolean mask decides the result's shape, as in numpy.
"""
import numpy as onp

from ..array import F, index_key, wrap
from ..base import MXNetError
from .ndarray import as_np


def _basic(key):
    keys = key if isinstance(key, tuple) else (key,)
    for k in keys:
        if not (k is None or k is Ellipsis or isinstance(k, (slice, int, onp.integer))) \
                or isinstance(k, (bool, onp.bool_)):
            return False
    return True


def _raw_key(key):
    """The key with arrays as numpy data (their values read; a float one, as mx.np.array of a
    list is in MXNet, as integers), lists and ranges as numpy arrays (array.index_key)."""
    return index_key(key, legacy=False)


def _result_shape(shape, key):
    """The shape numpy gives x[key] (on a zero-stride stand-in: no data is touched)."""
    stand_in = onp.lib.stride_tricks.as_strided(onp.zeros(1, onp.int8), shape=shape,
                                                strides=(0,) * len(shape))
    return stand_in[key].shape


def getitem(x, key):
    if _basic(key):
        try:
            shape = _result_shape(x.shape, key)
        except IndexError as e:
            raise IndexError(f"__getitem__: {e} (array of shape {x.shape})") from None
        if key is Ellipsis or (isinstance(key, tuple) and not key):  # not ==: numpy scalars
            return as_np(x)
        from ..nd import _getitem
        out = _getitem(x, key)
        if out.shape != shape:
            out = F.reshape(out, shape=shape)
        return as_np(out)
    raw = _raw_key(key)
    n = x.size
    try:
        positions = onp.arange(n, dtype=onp.int64).reshape(x.shape)[raw]
    except IndexError as e:
        raise IndexError(f"__getitem__: {e} (array of shape {x.shape})") from None
    flat = F.reshape(x, shape=(n,))
    out = F.take(flat, wrap(positions.reshape(-1)), axis=0)
    return as_np(F.reshape(out, shape=positions.shape))


def setitem_key(x, key):
    """The key of x[key] = value as numpy data (NDArray.__setitem__ writes with it, in place or
    as a recorded scatter) (a float index array read as integers, as in getitem)."""
    raw = _raw_key(key)
    try:
        _result_shape(x.shape, raw)
    except IndexError as e:
        raise IndexError(f"__setitem__: {e} (array of shape {x.shape})") from None
    if not isinstance(raw, tuple) and isinstance(raw, onp.ndarray) and raw.dtype == onp.bool_ \
            and raw.shape != x.shape[:raw.ndim]:
        raise MXNetError(f"__setitem__: boolean index of shape {raw.shape} does not match the "
                         f"array's shape {x.shape}")
    return raw
