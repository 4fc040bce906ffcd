"""`nd.SequenceMask`, `nd.SequenceLast`, `nd.SequenceReverse` (MXNet 1.x semantics).

Batches of variable-length sequences, the time axis `axis` (0: (T, N, ...), 1: (N, T, ...)),
lengths in `sequence_length` (N,) when use_sequence_length. Written as composites of
comparisons against a time ramp, `where`, `sum` and `take`, so the lengths may be traced
values: hybridize compiles them and gradients reach `data` to any order.

A length is read as MXNet's kernels read it: truncated toward zero. Lengths MXNet would read
or write out of bounds with (SequenceMask: negative; SequenceLast: outside [1, T];
SequenceReverse: outside [0, T]; NaN or infinite anywhere) raise an MXNetError, eagerly and
in compiled code alike (index_checks.py); the steps are then clamped into that range, so no
compiled step reads outside the array.
"""
import numpy as np

from .array import F, NDArray, wrap
from .base import MXNetError
from .index_checks import check_truncated_range


def _check(op, data, sequence_length, use_sequence_length, axis, axes=(0, 1)):
    if not isinstance(data, NDArray) or data.ndim < 2:
        raise MXNetError(f"{op}: data must be an NDArray of at least 2 dims, got "
                         f"{getattr(data, 'shape', data)!r}")
    if axis not in axes:
        raise MXNetError(f"{op}: axis must be one of {axes}, got {axis}")
    if not use_sequence_length:
        return None
    if not isinstance(sequence_length, NDArray):
        raise MXNetError(f"{op}: use_sequence_length=True needs sequence_length as an NDArray")
    batch = data.shape[1 - axis]
    if sequence_length.shape != (batch,):
        raise MXNetError(f"{op}: sequence_length must have shape ({batch},) for data "
                         f"{data.shape} with axis={axis}, got {sequence_length.shape}")
    if sequence_length.dtype == np.bool_:
        raise MXNetError(f"{op}: sequence_length must be numeric, got bool")
    return sequence_length


def _steps(op, data, length, axis, lo, hi=None):
    """The lengths as int64 steps: truncated toward zero (as MXNet reads them), checked
    against [lo, hi] (hi None: no upper bound) and clamped into [lo, hi or T]."""
    T = data.shape[axis]
    why = (f"data has {T} steps along axis {axis}" if hi is not None else
           "a negative length has no steps to keep")
    length = check_truncated_range(op, "sequence_length", length, lo, hi, why)
    steps = F.cast(length, dtype="i64")
    return F.minimum(F.maximum(steps, lo), T if hi is None else hi)


def _time_ramp(data, axis):
    """t (int64) shaped to broadcast against the lengths along the batch axis."""
    T = data.shape[axis]
    shape = (T, 1) if axis == 0 else (1, T)
    return wrap(np.arange(T, dtype=np.int64).reshape(shape))


def _lengths(steps, axis):
    n = steps.shape[0]
    return F.reshape(steps, shape=(1, n) if axis == 0 else (n, 1))


def _over_data(mask, data):
    """A (T, N) or (N, T) mask broadcast over data's trailing axes."""
    return F.reshape(mask, shape=mask.shape + (1,) * (data.ndim - 2))


def SequenceMask(data, sequence_length=None, use_sequence_length=False, value=0.0, axis=0):
    """data with the steps at t >= sequence_length[n] replaced by `value`."""
    length = _check("SequenceMask", data, sequence_length, use_sequence_length, axis)
    if length is None:
        return data
    steps = _steps("SequenceMask", data, length, axis, 0)
    valid = F.lt(_time_ramp(data, axis), _lengths(steps, axis))
    return F.where(_over_data(valid, data), data, float(value))


def SequenceLast(data, sequence_length=None, use_sequence_length=False, axis=0):
    """The last valid step of each sequence: data[sequence_length[n] - 1, n] (axis=0)."""
    length = _check("SequenceLast", data, sequence_length, use_sequence_length, axis)
    T = data.shape[axis]
    if length is None:
        begin = tuple(T - 1 if i == axis else 0 for i in range(data.ndim))
        last = F.slice(data, begin=begin, end=data.shape, step=(1,) * data.ndim)
        return F.reshape(last, shape=data.shape[:axis] + data.shape[axis + 1:])
    steps = _steps("SequenceLast", data, length, axis, 1, T)
    pick = F.eq(F.add(_time_ramp(data, axis), 1), _lengths(steps, axis))
    picked = F.where(_over_data(pick, data), data, 0.0)
    return F.sum(picked, axes=(axis,), keepdims=False)


def SequenceReverse(data, sequence_length=None, use_sequence_length=False, axis=0):
    """Each sequence's first sequence_length[n] steps reversed; steps after it kept."""
    length = _check("SequenceReverse", data, sequence_length, use_sequence_length, axis,
                    axes=(0,))
    T, N = data.shape[0], data.shape[1]
    if length is None:
        return F.take(data, wrap(np.arange(T - 1, -1, -1, dtype=np.int64)), axis=0)
    ramp = _time_ramp(data, 0)                                              # (T, 1)
    lens = _lengths(_steps("SequenceReverse", data, length, 0, 0, T), 0)    # (1, N)
    source = F.where(F.lt(ramp, lens), F.sub(F.sub(lens, 1), ramp), ramp)   # (T, N)
    batch = wrap(np.arange(N, dtype=np.int64).reshape(1, N))
    flat_index = F.add(F.mul(source, N), batch)
    rows = F.reshape(data, shape=(T * N,) + data.shape[2:])
    out = F.take(rows, F.reshape(flat_index, shape=(T * N,)), axis=0)
    return F.reshape(out, shape=data.shape)
