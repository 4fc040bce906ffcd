"""What each op attribute may hold, checked whenever an op is built (Builder.emit, the parser,
the tape): an attribute read from a file is data from a stranger, and a type rule, a numpy impl
and the code generator must never see one they read differently (`transpose_a = 1` is truthy
to numpy but not `True` to codegen). Attribute names mean the same thing on every op, so the
rules are keyed by name; an attribute with no rule here must match the type of its default.
"""
import math
import numbers

from .types import DTYPES

MAX_DIM = 1 << 40        # no axis is this long; keeps every size product far from int64 overflow
MAX_RANK = 32


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _real(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v):
    return isinstance(v, str) and len(v) <= 1024


def _ints(v, low=None):
    return (isinstance(v, tuple) and len(v) <= MAX_RANK and all(
        _int(d) and abs(d) <= MAX_DIM and (low is None or d >= low) for d in v))


RULES = {
    "keepdims": (lambda v: isinstance(v, bool), "true or false"),
    "transpose_a": (lambda v: isinstance(v, bool), "true or false"),
    "transpose_b": (lambda v: isinstance(v, bool), "true or false"),
    "axis": (lambda v: _int(v) and abs(v) <= MAX_RANK, "an integer axis"),
    "size": (lambda v: _int(v) and 0 <= v <= MAX_DIM, "a non-negative integer"),
    "depth": (lambda v: _int(v) and 0 <= v <= MAX_DIM, "a non-negative integer"),
    "axes": (lambda v: _ints(v, 0), "a list of non-negative integers"),
    "perm": (lambda v: _ints(v, 0), "a list of non-negative integers"),
    "shape": (lambda v: _ints(v, 0), "a list of non-negative integers"),
    "begin": (_ints, "a list of integers"),
    "end": (_ints, "a list of integers"),
    "step": (lambda v: _ints(v) and 0 not in v, "a list of non-zero integers"),
    "dtype": (lambda v: isinstance(v, str) and v in DTYPES, f"one of {sorted(DTYPES)}"),
    "value": (lambda v: isinstance(v, (bool, int, float)), "a number or true/false"),
    "low": (lambda v: _real(v) and math.isfinite(v), "a finite number"),
    "high": (lambda v: _real(v) and math.isfinite(v), "a finite number"),
    "loc": (lambda v: _real(v) and math.isfinite(v), "a finite number"),
    "scale": (lambda v: _real(v) and math.isfinite(v), "a finite number"),
    "on_value": (lambda v: isinstance(v, (bool, int, float)), "a number"),
    "off_value": (lambda v: isinstance(v, (bool, int, float)), "a number"),
    "p": (lambda v: _real(v) and 0.0 <= v <= 1.0, "a probability in [0, 1]"),
    # windows (im2col / col2im): sizes and steps are positive; a window may end before the
    # input's edge (a negative high pad)
    "kernel": (lambda v: _ints(v, 1) and len(v) > 0, "a list of positive integers"),
    "stride": (lambda v: _ints(v, 1) and len(v) > 0, "a list of positive integers"),
    "dilate": (lambda v: _ints(v, 1) and len(v) > 0, "a list of positive integers"),
    "pad_lo": (_ints, "a list of integers"),
    "pad_hi": (_ints, "a list of integers"),
    "pad_width": (lambda v: _ints(v, 0) and len(v) % 2 == 0,
                  "a list of non-negative integers, two per axis"),
    # check_index (ir/ops/checks.py): the range, one bound or one per row, and the words of
    # its error message
    "lo": (lambda v: _ints(v) and len(v) > 0, "a non-empty list of integers"),
    "hi": (lambda v: _ints(v) and len(v) > 0, "a non-empty list of integers"),
    "of": (lambda v: _text(v), "a string of at most 1024 characters"),
    "what": (lambda v: _text(v), "a string of at most 1024 characters"),
    "why": (lambda v: _text(v), "a string of at most 1024 characters"),
}
# attributes only made at run time by tracegrad itself (never parsed from a file)
RUNTIME = frozenset({"entry", "fn", "grad_types", "in_types", "out_types"})


def check_attr(opdef, name, value):
    """Raise TypeError('<op>: attribute <name> = <value> must be ...') when value is not what
    the attribute may hold."""
    rule = RULES.get(name)
    if rule is not None:
        ok, want = rule[0](value), rule[1]
    elif name in RUNTIME:
        return
    elif name in opdef.defaults:
        ok, want = _like(value, opdef.defaults[name]), f"like its default {opdef.defaults[name]!r}"
    else:
        ok, want = _plain(value, 0), "a number, string, or list of them"
    if not ok:
        shown = repr(value)
        ints = value if isinstance(value, tuple) else (value,)
        if any(_int(d) and abs(d) > MAX_DIM for d in ints):  # say why a valid-looking one fails
            want += f", each at most 2**40 = {MAX_DIM} (no axis is longer)"
        raise TypeError(f"{opdef.name}: attribute {name} = "
                        f"{shown if len(shown) < 60 else shown[:57] + '...'} must be {want}")


def coerce_attr(opdef, name, value):
    """`value` as the attribute holds it when a caller passed MXNet's looser spellings: numpy
    integers and floats (a shape from np.prod, an axis from a numpy computation) as Python's,
    0 / 1 for a true-or-false flag (`keepdims=0`); then checked (check_attr's error if it
    still does not fit)."""
    import numpy as np
    if isinstance(value, (list, tuple)):
        value = tuple(v.item() if isinstance(v, np.generic) else v for v in value)
    elif isinstance(value, np.generic):
        value = value.item()
    rule = RULES.get(name)
    flag = rule is not None and rule[1] == "true or false" or (
        rule is None and isinstance(opdef.defaults.get(name), bool))
    if flag and _int(value) and value in (0, 1):
        value = bool(value)
    check_attr(opdef, name, value)
    return value


def _like(value, default):
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, numbers.Integral):
        return _int(value)
    if isinstance(default, numbers.Real):
        return _real(value)
    if isinstance(default, tuple):
        return isinstance(value, tuple) and _plain(value, 0)
    return default is None or type(value) is type(default)


def _plain(v, depth):
    if isinstance(v, (bool, str)) or _real(v) or v is None:
        return True
    return isinstance(v, tuple) and depth < 4 and len(v) <= 1024 and all(
        _plain(x, depth + 1) for x in v)
