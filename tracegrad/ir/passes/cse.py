"""cse: merges ops that compute the same thing (same op, operands and attributes), keeping the
first. Operands of COMMUTATIVE ops are compared as a set. Ops with the RANDOM trait are never
merged: two draws are different samples even with equal operands. Float literals and attributes
are compared by their bits, so 0.0 and -0.0 stay apart. Returns the input when nothing merged.
"""
from ..function import Builder, Function, Literal
from ..ops import COMMUTATIVE, RANDOM
from . import register_pass


def _key(v):
    """A hashable key equal only for identical attribute values (by type, and float bits)."""
    if isinstance(v, float):
        return ("float", v.hex())
    if isinstance(v, tuple):
        if all(type(x) is int for x in v):   # shapes, axes, bounds: a tenth of cse's time
            return ("ints", v)
        return ("tuple",) + tuple(_key(x) for x in v)
    return (type(v).__name__, v)


def _attrs_key(attrs):
    return tuple([(k, _key(v)) for k, v in attrs.items()])


@register_pass("cse")
def cse(fn: Function) -> Function:
    b = Builder(Function(fn.name, fn.params))
    env = {p: p for p in fn.params}
    number = {p: i for i, p in enumerate(fn.params)}  # value -> position, for operand keys
    seen, merged = {}, False
    for op in fn.ops:
        operands = [o if isinstance(o, Literal) else env[o] for o in op.operands]
        keys = [("lit", o.dtype, _key(o.value)) if isinstance(o, Literal) else ("val", number[o])
                for o in operands]
        if COMMUTATIVE in op.opdef.traits:
            keys.sort(key=repr)
        key = (op.opdef.name, tuple(keys), _attrs_key(op.attrs))
        if RANDOM not in op.opdef.traits and key in seen:
            for r, same in zip(op.results, seen[key]):
                env[r] = same
            merged = True
            continue
        b.loc = op.loc
        new = b.copy(op, operands, reuse=True)
        new = new if isinstance(new, tuple) else (new,)
        for r, n in zip(op.results, new):
            env[r] = n
            number[n] = len(number)
        seen[key] = new
    if not merged:
        return fn
    return b.ret(*[o if isinstance(o, Literal) else env[o] for o in fn.outputs])
