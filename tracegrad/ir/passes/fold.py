"""fold: evaluates, at compile time with OpDef.impl, every op whose operands are all known
(Literals, `constant` ops, or earlier folded results) and whose result is uniform (one value
repeated). A folded scalar becomes a Literal operand of its users when the text reads it back
with the same dtype; otherwise, and for tensors, a `constant` op is emitted where first needed.
Non-uniform results (an `iota`), RANDOM ops and results over MAX_ELEMENTS stay as they are.
Never mutates its input; returns it unchanged when nothing was folded.
"""
import numpy as np

from ..function import Builder, Function, Literal, Value, literal_dtype
from ..ops import RANDOM
from . import register_pass

MAX_ELEMENTS = 1 << 20  # evaluating bigger uniform tensors costs more than it saves


def uniform_value(arr):
    """The repeated element of `arr` as a Python scalar, or None; compared bitwise (NaN, -0.0)."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.size == 0 or flat[:1].tobytes() * flat.size != flat.tobytes():
        return None
    return flat[0].item()


def evaluate(op, known):
    """The op's value as an array if its operands are all known and the result is uniform."""
    if RANDOM in op.opdef.traits or len(op.results) != 1:
        return None
    t = op.results[0].type
    if t.size > MAX_ELEMENTS or not all(isinstance(o, Literal) or o in known
                                        for o in op.operands):
        return None
    args = [o.array() if isinstance(o, Literal) else known[o] for o in op.operands]
    try:
        with np.errstate(all="ignore"):
            arr = np.asarray(op.opdef.impl(*args, **op.attrs))
    except Exception:  # NOTE: an op that fails on these values is left for run time to report
        return None
    arr = arr.astype(t.np_dtype, copy=False)
    if arr.shape != t.shape or uniform_value(arr) is None:
        return None
    return arr


def reads_back(operands) -> bool:
    """Whether every Literal among `operands` gets its own dtype back when the text is parsed
    (function.literal_dtype looks at the non-literal operands)."""
    values = [o for o in operands if not isinstance(o, Literal)]
    return all(literal_dtype(o.value, values) == o.dtype
               for o in operands if isinstance(o, Literal))


def with_literals(operands, known):
    """`operands` with known scalars as Literals, if the text reads them all back; else None."""
    new = [Literal(known[o].item(), o.type.dtype)
           if isinstance(o, Value) and o in known and o.type.shape == () else o
           for o in operands]
    if new == list(operands) or not reads_back(new):
        return None
    return new


@register_pass("fold")
def fold(fn: Function) -> Function:
    b = Builder(Function(fn.name, fn.params))
    env = {p: p for p in fn.params}
    known, changed = {}, False

    def value_of(v):
        """The new Value for old `v`, emitting a `constant` for a folded one on first use."""
        if v not in env:
            arr = known[v]
            env[v] = b.constant(value=arr.reshape(-1)[0].item(), shape=arr.shape,
                                dtype=v.type.dtype)
        return env[v]

    for op in fn.ops:
        if op.opdef.name == "constant":
            known[op.results[0]] = op.opdef.impl(**op.attrs)
        else:
            arr = evaluate(op, known)
            if arr is not None:
                known[op.results[0]] = arr
                changed = True
                continue
        operands = with_literals(op.operands, known)
        changed = changed or operands is not None
        operands = [o if isinstance(o, Literal) else value_of(o)
                    for o in operands or op.operands]
        b.loc = op.loc
        new = b.copy(op, operands, reuse=True)
        for r, n in zip(op.results, new if isinstance(new, tuple) else (new,)):
            env[r] = n
    if not changed:
        return fn
    return b.ret(*[o if isinstance(o, Literal) else value_of(o) for o in fn.outputs])
