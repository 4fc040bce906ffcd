"""dce: removes ops none of whose results reach the outputs. Parameters are never removed
(they are the function's interface). Returns the input object when nothing was removed."""
from ..function import Function, Value
from . import register_pass


@register_pass("dce")
def dce(fn: Function) -> Function:
    live = {o for o in fn.outputs if isinstance(o, Value)}
    keep = []
    for op in reversed(fn.ops):
        if any(r in live for r in op.results):
            keep.append(op)
            live.update(o for o in op.operands if isinstance(o, Value))
    if len(keep) == len(fn.ops):
        return fn
    keep.reverse()
    return Function(fn.name, fn.params, keep, fn.outputs)
