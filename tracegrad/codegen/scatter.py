"""The one kernel of every SCATTER op (scatter_add, scatter_add_along_axis, scatter_nd_add,
pad_adjoint, slice_scatter): zeros, then one loop nest over operand 0 that asks the op's
`scatter` rule (ir/ops/__init__.py) where each element goes and adds or stores it there.

Rules clip or wrap their indices exactly as the numpy impls do, so no store leaves the output.
The loop runs in operand order on one thread: repeated positions accumulate in a fixed order.
"""
from .emitter import ScalarEmitter, SVal
from .loops import for_range, linear_index, loop_nest
from .views import contiguous_strides


class ScatterContext:
    """What a `scatter` rule sees: the loop index over operand 0 and reads of any operand."""

    def __init__(self, sf, views, op, e, index):
        self.sf, self.views, self.op, self.e, self._index = sf, views, op, e, index

    def index(self, axis) -> SVal:
        return SVal(self._index[axis], "i64")

    def read(self, i, idx) -> SVal:
        return self.sf.read(self.views[self.op.operands[i]], tuple(v.v for v in idx))


def emit_scatter(sf, op, views, out_key):
    x, out = op.operands[0], op.results[0].type
    e = ScalarEmitter(sf.b)
    with for_range(sf.b, out.size, "zero") as i:
        sf.store(out_key, i, e.const(0, dtype=out.dtype))
    if x.type.size == 0:
        return
    add = op.opdef.scatter_mode == "add"
    types = [o.type for o in op.operands]
    with loop_nest(sf.b, x.type.shape, "sc") as at:
        pos, valid = op.opdef.scatter(ScatterContext(sf, views, op, e, at), *types, **op.attrs)
        where = linear_index(sf.b, tuple(p.v for p in pos), contiguous_strides(out.shape))
        v = sf.read(views[x], at)
        if valid is not None:
            if not add:
                raise NotImplementedError(f"codegen: {op.name} stores with a condition")
            v = e.select(valid, v, e.const(0, dtype=out.dtype))
        sf.store(out_key, where, e.add(sf.load(out_key, where), v) if add else v)
