"""`cond` as one op in compiled code: both branches are IR Functions (regions) over the same
captured arrays, and codegen lowers the op to a native branch (codegen/control.py), so a
predicate that flips between calls neither retraces nor leaves native code.

nd.contrib.cond emits it while jit / hybridize traces (contrib.py). Operands: the one-element
predicate, then the captured arrays; results: the taken branch's outputs (both branches give
the same types, checked when traced). Its adjoint is a cond of the same kind on the same
predicate whose branches are the two branches' own adjoints (IR), so the gradient is the
taken branch's, and differentiating again is the same rule.
"""
import numpy as np

from ..ir.autodiff import vjp
from ..ir.printer import print_function
from ..ir.ops import BRANCH
from ..ir.types import FLOATS, parse_type
from ..runtime.handles import OutCall, register, resolve
from ..runtime.segments import compile_callable


class CondBody:
    """then_fn(captured) and else_fn(captured), outputs of equal types; `keep`: what their ops
    name (nested loops and conds) and must live as long as this."""

    def __init__(self, then_fn, else_fn, keep=()):
        self.then_fn, self.else_fn, self.keep = then_fn, else_fn, list(keep)
        self._compiled, self._adjoint = {}, None
        self.handle = register(self)

    def regions(self):
        return [self.then_fn, self.else_fn]

    def region_key(self) -> str:
        return "cond\n" + "\n".join(print_function(f) for f in self.regions())

    def structure_key(self):
        return self.region_key()

    def run(self, pred, caps):
        taken = self.then_fn if bool(np.asarray(pred).reshape(-1)[0]) else self.else_fn
        native = self._compiled.get(taken.name)
        if native is None:
            native = self._compiled[taken.name] = compile_callable(taken)
        return native(*caps)

    def adjoint(self):
        """The CondBody of the adjoint: each branch's vjp (recomputing its forward) with
        respect to the float captured arrays; params: captured, then one cotangent per
        output."""
        if self._adjoint is None:
            wrt = [i for i, p in enumerate(self.then_fn.params) if p.type.dtype in FLOATS]
            self._adjoint = CondBody(vjp(self.then_fn, wrt, recompute=True),
                                     vjp(self.else_fn, wrt, recompute=True), keep=self.keep)
            self._adjoint.wrt = wrt
        return self._adjoint


class Cond(OutCall):
    """The taken branch's outputs: `then` when the one-element predicate is nonzero."""
    name = "cond"
    attr_names = frozenset({"body", "out_types"})
    handle_attr = "body"
    runs_native = True
    traits = frozenset({BRANCH})

    def infer(*types, body, out_types):
        ts = tuple(parse_type(t) for t in out_types)
        return ts if len(ts) != 1 else ts[0]

    def impl(pred, *caps, body, out_types):
        outs = resolve(body, "cond").run(pred, caps)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def vjp(b, g, out, pred, *caps, body, out_types):
        adj = resolve(body, "cond").adjoint()
        g, out = (g, out) if isinstance(g, tuple) else ((g,), (out,))
        if not adj.wrt:
            return (None,) * (1 + len(caps))
        cots = [c if c is not None else b.constant(value=0.0, shape=o.type.shape,
                                                   dtype=o.type.dtype)
                for c, o in zip(g, out)]
        types = tuple(str(o.type) for o in adj.then_fn.outputs)
        res = b.cond(pred, *caps, *cots, body=adj.handle, out_types=types)
        res = res if isinstance(res, tuple) else (res,)
        grads = [None] * (1 + len(caps))
        for i, r in zip(adj.wrt, res):
            grads[1 + i] = r
        return tuple(grads)

    @classmethod
    def regions(cls, attrs):
        return resolve(attrs["body"], cls.name).regions()

    @classmethod
    def region_key(cls, attrs):
        return resolve(attrs["body"], cls.name).region_key()

    @classmethod
    def cond_body(cls, attrs):
        """The CondBody codegen lowers (codegen/control.py)."""
        return resolve(attrs["body"], cls.name)
