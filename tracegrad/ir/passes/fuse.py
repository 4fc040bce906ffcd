"""Fusion grouping: partitions a Function's ops into groups that codegen emits as one loop nest.

A *fused* group holds ops of one iteration shape computed element by element (ops with the
ELEMENTWISE or INDEXED trait) and at most one REDUCTION of a member; elementwise ops that do not
read the reduction's result may join after it (a forward sum and its adjoint's elementwise
work then share one pass over memory). VIEW ops
belong to no group: codegen reads through them as strided views. Everything else (matmul,
argmax, concat, ...) is a *kernel* group alone. Only traits are read, never op names.
Guarantee: a group reads only values made by groups created before it (or its own members), so
creation order is a valid schedule; the `fuse` pass reorders ops into that schedule (values and
semantics unchanged) and returns its input object when the order already matches.
"""
from ..function import Function, Value
from ..ops import INDEXED, REDUCTION, VIEW
from . import register_pass


class Group:
    """Ops emitted together. `kind` is 'fused' or 'kernel'; `shape` is the iteration shape."""
    __slots__ = ("index", "ops", "kind", "shape", "closed", "reduction")

    def __init__(self, index, kind, shape):
        self.index, self.ops, self.kind, self.shape = index, [], kind, shape
        self.closed = False      # takes no more members (kernels)
        self.reduction = None    # its REDUCTION op, if any

    def __repr__(self):
        return f"<Group {self.index} {self.kind} {list(self.shape)}: " \
               f"{', '.join(op.name for op in self.ops)}>"


def is_fusible(op) -> bool:
    return op.opdef.fusible()


class _Grouper:
    def __init__(self):
        self.groups = []
        self.member = {}     # Value -> Group that computes it element by element
        self.root = {}       # view Value -> the non-view Value it reads

    def new_group(self, kind, shape, op, closed=False, reduction=None):
        g = Group(len(self.groups), kind, shape)
        g.closed, g.reduction = closed, reduction
        self.groups.append(g)
        self.add(g, op)
        return g

    def add(self, g, op):
        g.ops.append(op)
        for r in op.results:
            self.member[r] = g

    def source_group(self, v):
        """The group whose materialised output `v` reads (None for params and literals)."""
        if not isinstance(v, Value):
            return None
        return self.member.get(self.root.get(v, v))

    def can_join(self, g, op) -> bool:
        if g.kind != "fused" or g.closed or g.shape != op.results[0].type.shape:
            return False
        if g.reduction is not None and g.reduction.results[0] in op.operands:
            return False               # the reduction is complete only after the loop nest
        if INDEXED in op.opdef.traits and any(self.member.get(o) is g for o in op.operands):
            return False               # indexed ops read operands at other indices: need memory
        for o in op.operands:
            src = self.source_group(o)
            if src is g and self.member.get(o) is not g:
                return False           # a view of our own member: needs it materialised first
            if src is not None and src is not g and src.index > g.index:
                return False           # would read a newer group: schedule would break
        return True

    def place(self, op):
        traits = op.opdef.traits
        if VIEW in traits:
            src = op.operands[0]
            self.root[op.results[0]] = self.root.get(src, src)
            return
        if REDUCTION in traits:
            x = op.operands[0]
            g = self.member.get(x)
            if (g is not None and g.kind == "fused" and not g.closed and g.reduction is None
                    and g.shape == x.type.shape):
                self.add(g, op)
                g.reduction = op
            else:
                self.new_group("fused", x.type.shape, op, reduction=op)
            return
        if not is_fusible(op):
            self.new_group("kernel", op.results[0].type.shape, op, closed=True)
            return
        owners = [self.member[o] for o in op.operands
                  if isinstance(o, Value) and o in self.member]
        if owners:
            g = max(owners, key=lambda grp: grp.index)
            if self.can_join(g, op):
                self.add(g, op)
                return
        # otherwise the newest open loop nest of the same shape that may read our operands
        # takes it: independent chains of one shape (an LSTM's gates, each from its own slice
        # of the pre-activations) and ops reading only parameters share one pass over memory
        for g in reversed(self.groups[-8:]):
            if self.can_join(g, op):
                self.add(g, op)
                return
        self.new_group("fused", op.results[0].type.shape, op)


def fusion_groups(fn: Function) -> list:
    """The groups of `fn` in a valid emission order (see module docstring)."""
    grouper = _Grouper()
    for op in fn.ops:
        grouper.place(op)
    return grouper.groups


@register_pass("fuse")
def fuse(fn: Function) -> Function:
    """Reorder ops so each fusion group is contiguous; view ops follow their source."""
    groups = fusion_groups(fn)
    in_group = {op for g in groups for op in g.ops}
    produced = {v for v in fn.params}
    pending = [op for op in fn.ops if op not in in_group]
    order = []

    def flush_views():
        progress = True
        while progress:
            progress = False
            for op in list(pending):
                if all(not isinstance(o, Value) or o in produced for o in op.operands):
                    order.append(op)
                    produced.update(op.results)
                    pending.remove(op)
                    progress = True

    flush_views()
    for g in groups:
        for op in g.ops:
            order.append(op)
            produced.update(op.results)
        flush_views()
    if order == fn.ops:
        return fn
    return Function(fn.name, fn.params, order, fn.outputs)
