"""Index and length values that MXNet 1.9.1 leaves undefined, checked wherever the op runs.

MXNet's kernels truncate an index toward zero and then read or write with it; some clip or
wrap it (take, pick), others check it (gather_nd, take mode='raise') and the rest trust it
(SequenceLast, SequenceReverse, SequenceMask with a negative length, scatter_nd), reading or
writing out of bounds. Here such an op reads its index through the `check_index` primitive
(ir/ops/checks.py), so one check serves every way the op runs: an eager call (and the
interpreter) raises an MXNetError (an IndexError too) naming the op, the values and the
range before anything is computed; compiled code (jit, hybridize(), a captured step)
compares every value in its native call and, on one out of range, stops after that step
and raises an MXNetError naming the op, the operand's type, the range and the line the op
was traced at (the values are not kept). Outputs of such a call are never returned and no
parameter it would update is written (the check runs in the forward pass, before any
update). The ops reading the
checked index still clamp (or wrap) it into range, so no memory outside an array is touched.
Modes whose MXNet semantics are clip or wrap (take / pick mode='clip' or 'wrap', Embedding)
clamp silently, eagerly and compiled alike.
"""
from .array import F
from .base import MXNetIndexError, MXNetValueError
from .ir.ops import checks

# what check_index raises, per kind (ir imports nothing above it)
checks.ERROR.update(index=MXNetIndexError, value=MXNetValueError)


def check_truncated_range(op, what, arr, lo, hi, why):
    """`arr`, once every value of it, truncated toward zero as MXNet's kernels read it, is in
    [lo, hi] (hi None: no upper bound); NaN and infinities never are. The caller reads the
    returned array (the check is the op that makes it)."""
    return _check(arr, op, what, why, (int(lo),), (0 if hi is None else int(hi),),
                  upper=hi is not None, truncate=True)


def check_value_range(op, what, arr, lo, hi, why, kind="index"):
    """`arr`, once every value of it, compared as it is (MXNet's own bound checks compare the
    index in its dtype, so 2.5 is beyond 2), is in [lo, hi]; NaN never is. `kind` 'value':
    a value out of range is a ValueError (MXNetValueError), not an IndexError."""
    return _check(arr, op, what, why, (int(lo),), (int(hi),), upper=True, truncate=False,
                  kind=kind)


def check_rows(op, what, arr, lo, hi, why, truncate):
    """`arr`, once each row k along axis 0 is in [lo[k], hi[k]] (gather_nd's column k
    addresses axis k); `why` may name the row as '{k}'."""
    return _check(arr, op, what, why, tuple(int(v) for v in lo), tuple(int(v) for v in hi),
                  upper=True, truncate=truncate)


def _check(arr, op, what, why, lo, hi, upper, truncate, kind="index"):
    if arr.size == 0:
        return arr
    extra = {} if kind == "index" else {"kind": kind}   # (the default stays out of the key)
    return F.check_index(arr, of=op, what=what, why=why, lo=lo, hi=hi, upper=upper,
                         truncate=truncate, **extra)
