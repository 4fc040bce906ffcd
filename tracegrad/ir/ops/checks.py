"""check_index: an index or length operand passed on unchanged once its values are in range.

MXNet raises (or would read and write out of bounds) for some index values: take with
mode='raise', gather_nd, scatter_nd, index_copy, the sequence lengths of SequenceMask /
SequenceLast / SequenceReverse. Those ops read their index through this op, so the check
exists wherever the op does: eagerly and in the interpreter `impl` raises naming the values,
and compiled code (codegen/index_errors.py) copies the operand while it compares every
value, and sets the module's index-error flag: the native entry then stops after that step
and the caller raises with `message` (the values are gone by then; the range is not). The
op that consumes the result still clamps its index, so no memory outside an array is touched
even in the step that finds the bad value.

Attributes: `of` (the op's name), `what` (the operand's name), `why` (what the range is;
'{k}' is row k), `lo` / `hi` (one bound each, or one per row along axis 0 of the operand:
gather_nd's column k addresses axis k), `upper` (False: no upper bound), `truncate`
(compare the value truncated toward zero, as MXNet's kernels read a float index; NaN and
infinities never pass; otherwise compare the value as it is, as MXNet's own bound checks
do, so 2.5 is beyond 2), `kind` ('index': an index out of its axis, an IndexError; 'value':
a value MXNet rejects with a ValueError, npx.constraint_check's).
"""
import threading

import numpy as np

from ..types import FLOATS, INTS
from . import CHECK, INT_GRAD, OpDef, fail

# kind -> the exception the check raises: the top layer installs tracegrad's MXNetError
# subclasses here (index_checks.py), since ir imports nothing above itself
ERROR = {"index": IndexError, "value": ValueError}


class _ShapesOnly(threading.local):
    on = False


# set while mx.sym's shape inference runs ops on zero arrays for their result shapes
# (symbol/inference.py): zeros are no one's values, so a value check would refuse a graph
# (SequenceLast of lengths) that runs with real data
SHAPES_ONLY = _ShapesOnly()


def bounds(x_shape, lo, hi):
    """[(row or None, lo, hi)]: one entry for the whole operand, or one per row along axis 0."""
    if len(lo) == 1:
        return [(None, lo[0], hi[0])]
    return [(k, lo[k], hi[k]) for k in range(x_shape[0])]


def message(opname, what, why, lo, hi, upper, row, got):
    """The error text, as index_checks worded it eagerly: `got` the bad values shown, or
    None when they are not known (compiled code)."""
    name = what if row is None else f"{what}[{row}]"
    span = f"in [{lo}, {hi}]" if upper else f">= {lo}"
    shown = got if got is not None else "a value outside that range (checked in compiled code)"
    return f"{opname}: {name} must be {span} ({why.replace('{k}', str(row))}), got {shown}"


def _show(values):
    values = np.unique(values)
    shown = ", ".join(str(v) for v in values[:5])
    return shown + (", ..." if values.size > 5 else "")


def bad_values(v, lo, hi, upper, truncate):
    """The mask of `v`'s values outside the range, as the compiled check compares them."""
    top = hi if upper else np.inf
    with np.errstate(invalid="ignore"):
        if v.dtype.kind == "f":
            t = np.trunc(v) if truncate else v
            return ~((t >= lo) & (t <= top) & np.isfinite(v if truncate else 0.0))
        return ~((v >= lo) & (v <= top))


class CheckIndex(OpDef):
    """x itself, once every value of x is in its range; else an error naming the op, the
    operand, the range and the values."""
    name = "check_index"
    traits = frozenset({CHECK, INT_GRAD})
    attr_names = frozenset({"of", "what", "why", "lo", "hi"})
    defaults = {"upper": True, "truncate": False, "kind": "index"}

    def infer(x, *, of, what, why, lo, hi, upper=True, truncate=False, kind="index"):
        if x.dtype not in FLOATS + INTS + ("bool",):
            fail("check_index", f"{of}: {what} must be numeric, got {x}")
        if kind not in ERROR:
            fail("check_index", f"{of}: kind must be one of {sorted(ERROR)}, got {kind!r}")
        if len(lo) != len(hi) or not lo or (len(lo) != 1 and (
                x.ndim == 0 or x.shape[0] != len(lo))):
            fail("check_index", f"{of}: {len(lo)} lower and {len(hi)} upper bounds for "
                                f"{what} {x} (one, or one per row along axis 0)")
        return x

    def impl(x, *, of, what, why, lo, hi, upper=True, truncate=False, kind="index"):
        if x.size and not SHAPES_ONLY.on:
            for row, a, z in bounds(x.shape, lo, hi):
                v = x if row is None else x[row]
                bad = bad_values(v, a, z, upper, truncate)
                if bad.any():
                    raise ERROR[kind](message(of, what, why, a, z, upper, row,
                                              _show(v[bad])))
        return x

    def vjp(b, g, out, x, **attrs):
        return (g,)
