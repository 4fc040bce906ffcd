"""Index and length values that MXNet 1.9.1 leaves undefined, checked where they are known.

MXNet's kernels truncate an index toward zero and then read or write with it; some clip or
wrap it (take, pick), others check it (gather_nd, take mode='raise') and the rest trust it
(SequenceLast, SequenceReverse, SequenceMask with a negative length, scatter_nd), reading or
writing out of bounds. Here an eager call with such values raises an MXNetError naming the
op, the values and the range. Inside a trace (jit / hybridize) or a captured step the values
are not known when the graph is built, and a later call brings others: the ops then clamp
(or wrap) every index into range, so compiled code never reads or writes outside an array.
"""
import numpy as np

from .array import HOOKS, NDArray
from .base import MXNetError


def known_values(arr):
    """arr's values as a numpy array when they exist now (an eager array), else None."""
    if HOOKS.tracing or type(arr) is not NDArray:
        return None
    return arr._data


def _show(values):
    values = np.unique(values)
    shown = ", ".join(str(v) for v in values[:5])
    return shown + (", ..." if values.size > 5 else "")


def check_truncated_range(op, what, arr, lo, hi, why):
    """Every value of `arr`, truncated toward zero as MXNet's kernels read it, in [lo, hi]
    (hi None: no upper bound); NaN and infinities never are."""
    values = known_values(arr)
    if values is None or values.size == 0:
        return
    v = np.asarray(values)
    top = np.inf if hi is None else hi
    if v.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(v) | (np.trunc(v) < lo) | (np.trunc(v) > top)
    else:
        bad = (v < lo) | (v > top)
    if bad.any():
        span = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise MXNetError(f"{op}: {what} must be {span} ({why}), got {_show(v[bad])}")


def check_value_range(op, what, arr, lo, hi, why):
    """Every value of `arr`, compared as it is (MXNet's own bound checks compare the index
    in its dtype, so 2.5 is beyond 2), in [lo, hi]; NaN never is."""
    values = known_values(arr)
    if values is None or values.size == 0:
        return
    v = np.asarray(values)
    with np.errstate(invalid="ignore"):
        bad = ~((v >= lo) & (v <= hi))
    if bad.any():
        raise MXNetError(f"{op}: {what} must be in [{lo}, {hi}] ({why}), got "
                         f"{_show(v[bad])}")
