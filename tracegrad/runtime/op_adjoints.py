"""The backward of a graph structure not yet hot: op by op, each op's adjoint cached code.

Deriving a whole graph's adjoint (ir.autodiff.vjp: building its IR, then flattening it into a
Program) costs about 30 us per op. Eager code whose graph changes every batch (a sequence
length drawn per batch, a tree, a search) paid that on every backward: an LSTMCell loop took
7x PyTorch's step, whose engine runs each op's backward formula directly.

So a structure's backward passes, until it is hot (tape.Adjoint: HOT_AFTER passes close
together, when its whole adjoint is derived and optimized), walk its ops in reverse and run
each op's own adjoint: ir.autodiff.op_vjp's Function for that op as straight-line code
(interpret.straight_line), cached here by what its ops depend on (the op, its attributes,
its operands' types or literal keys, which operands receive gradients and which results
give them). A structure's walk (`ColdPlan`: per op, its
adjoint and where its inputs come from and its outputs go) is made once from that cache and
kept on its Adjoint, so running it again costs only the adjoints.

The rules emit the same ops as inside vjp's whole adjoint, the walk visits ops in the same
order and adds contributions in the same order with the same add, so the gradients are
bitwise those of the whole adjoint interpreted (tests/grad/test_cold_backward.py).
"""
from ..ir.autodiff import op_vjp
from ..ir.int_grads import active_results
from ..ir.function import Literal
from ..ir.ops import NONDIFF, REGISTRY
from ..ir.types import INTS
from .interpret import straight_line

CACHE_SIZE = 4096
_CACHE: dict = {}       # op key -> (its adjoint's run, saved, targets)
_ADD = REGISTRY["add"].impl
_CONSTANT = REGISTRY["constant"].impl


class ColdPlan:
    """One structure's reverse walk: `steps` [(op adjoint's run, input sources, cotangent ids,
    target value ids)] in the order vjp visits ops, and the heads' value ids (None: a head
    nothing differentiable depends on, whose cotangent vjp drops). An input source below
    n_values is a graph value (its data), else lifted literal `source - n_values`."""
    __slots__ = ("steps", "heads", "n_values")

    def __init__(self, ops, index, n_values, heads, wrt_leaves, lifted, attrs_key):
        """`index`: graph value -> its id (tape._walk's); `lifted(opdef, literal)`: whether a
        literal operand is one of the backward's scalar inputs, numbered in ops order as
        _walk lists them; `attrs_key(attrs)`: the attributes' part of an op's key."""
        active = [False] * n_values
        for leaf in wrt_leaves:
            i = index.get(leaf)
            if i is not None:
                active[i] = True
        lit_ids, k = {}, n_values
        for pos, op in enumerate(ops):
            for i, o in enumerate(op.operands):
                if type(o) is Literal and lifted(op.opdef, o):
                    lit_ids[pos, i] = k
                    k += 1
            if NONDIFF not in op.opdef.traits:
                reached = [o for o in op.operands if type(o) is not Literal and active[index[o]]]
                if reached:
                    for r in active_results(op, any(o.type.dtype in INTS for o in reached)):
                        active[index[r]] = True
        self.n_values = n_values
        self.heads = [index[h] if active[index[h]] else None for h in heads]
        has_ct = [False] * n_values
        for i in self.heads:
            if i is not None:
                has_ct[i] = True
        steps = self.steps = []
        no_params = frozenset()
        literal = Literal
        for pos in range(len(ops) - 1, -1, -1):
            op = ops[pos]
            results = op.results
            if len(results) == 1:
                r = index[results[0]]
                if not has_ct[r]:
                    continue
                cts, ct_ids = (0,), (r,)
            else:
                cts = tuple(j for j, r in enumerate(results) if has_ct[index[r]])
                if not cts:
                    continue
                ct_ids = tuple(index[results[j]] for j in cts)
            operands = op.operands
            ids = [None if type(o) is literal else index[o] for o in operands]
            takes = tuple(i for i, v in enumerate(ids) if v is not None and active[v])
            params = frozenset(i for i in range(len(operands)) if (pos, i) in lit_ids) \
                if lit_ids else no_params
            adjoint, saved, targets = _op_adjoint(op, takes, cts, params, attrs_key)
            if not targets:
                continue
            sources = tuple((lit_ids[pos, i] if i in params else ids[i]) if kind == "operand"
                            else index[results[i]] for kind, i in saved)
            target_ids = tuple(ids[i] for i in targets)
            for t in target_ids:
                has_ct[t] = True
            steps.append((adjoint, sources, ct_ids, target_ids))

    def run(self, values, scalars, cots):
        """Every graph value's cotangent (None: it receives none): `values` the graph's (their
        data is read), `scalars` the lifted literals' arrays, `cots` one per head."""
        n = self.n_values
        ct = [None] * n
        for i, c in zip(self.heads, cots):
            if i is not None:
                prev = ct[i]
                ct[i] = c if prev is None else _ADD(prev, c)
        for adjoint, sources, ct_ids, targets in self.steps:
            args = [values[i].data if i < n else scalars[i - n] for i in sources]
            for j in ct_ids:
                args.append(ct[j])
                ct[j] = None        # (final: every consumer of a result comes later in ops)
            for t, c in zip(targets, adjoint(args)):
                prev = ct[t]
                ct[t] = c if prev is None else _ADD(prev, c)
        return ct


def zeros(t):
    """vjp's gradient of an input the heads do not depend on differentiably."""
    return _CONSTANT(value=0.0, shape=t.shape, dtype=t.dtype)


def _op_adjoint(op, takes, cts, params, attrs_key):
    """(run, saved, targets) of op_vjp for `op` (run: its Function as straight-line code),
    from the cache when an op with the same key was differentiated before."""
    attrs = op.attrs
    if params:
        kinds = tuple(("scalar", o.type.dtype) if i in params else o.key() if type(o) is Literal
                      else o.type for i, o in enumerate(op.operands))
    else:
        kinds = tuple([o.key() if type(o) is Literal else o.type for o in op.operands])
    key = (op.opdef, attrs_key(attrs) if attrs else 0, takes, cts, params, kinds)
    hit = _CACHE.get(key)
    if hit is None:
        fn, saved, targets = op_vjp(op, frozenset(takes), cts, params)
        hit = (straight_line(fn), tuple(saved), tuple(targets))
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = hit
    return hit
