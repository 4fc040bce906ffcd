"""Reverse-mode autodiff as an IR -> IR transform: `vjp(fn, wrt)` builds the adjoint Function.

Only the OpDef.vjp rules know calculus; this file walks the ops backwards, feeds each rule its
output cotangent, and owns the three things the rules never do:
- unbroadcasting: a cotangent is summed down to its operand's shape here, once, for every op;
- accumulation: fan-out adds cotangents;
- symbolic zeros: a missing cotangent is None, never a tensor of zeros, and chains that do not
  reach a requested input are never emitted (the final dce drops any rule-side leftovers).
The adjoint is plain IR, so `vjp` of an adjoint gives second and higher derivatives.
"""
from .function import Builder, Function, Literal, Value
from .int_grads import active_results, check_cotangents, check_operands
from .ops import NONDIFF
from .types import FLOATS


def active_values(fn: Function, wrt_params) -> set:
    """Values that depend differentiably on the given parameters: float and integer ones
    (MXNet differentiates integer arrays in their dtype: int_grads.py), never bool."""
    active = set(wrt_params)
    for op in fn.ops:
        if NONDIFF in op.opdef.traits:
            continue
        reached = [o for o in op.operands if isinstance(o, Value) and o in active]
        if reached:
            active.update(active_results(op, any(o.type.dtype not in FLOATS for o in reached)))
    return active


def unbroadcast(b, c, target):
    """Sum cotangent `c` down to the type `target` (the operand's), undoing numpy broadcasting."""
    shape = c.type.shape
    if shape != target.shape:
        lead = len(shape) - len(target.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(target.shape) if d == 1 and shape[lead + i] != 1)
        if axes and c.type.dtype == "bool":    # (a bool sum is an or: MXNet's bool kernels)
            c = b.cast(b.sum(b.cast(c, dtype="i32"), axes=axes), dtype="bool")
        elif axes:
            c = b.sum(c, axes=axes)
        if c.type.shape != target.shape:
            c = b.reshape(c, shape=target.shape)
    if c.type.dtype != target.dtype:  # after summing: fewer elements, and summed in the wider type
        c = b.cast(c, dtype=target.dtype)
    return c


def vjp(fn: Function, wrt=None, *, recompute=False, residuals=None, name=None) -> Function:
    """The adjoint of `fn` with respect to the parameters at indices `wrt` (default: all float;
    integer ones may be asked for: their gradients are integers, int_grads.py).

    Its parameters are the saved forward values, then one cotangent per output of `fn`; its
    outputs are the gradients, in `wrt` order. With `recompute=False` the saved values are the
    forward values the rules read (appended to `residuals` if a list is given, so a caller can
    feed them); with `recompute=True` they are all of `fn`'s parameters and the forward ops are
    re-emitted inside, which makes the result a self-contained function of the forward inputs —
    the form to differentiate again.
    """
    if wrt is None:
        wrt = [i for i, p in enumerate(fn.params) if p.type.dtype in FLOATS]
    for i in wrt:
        if not -len(fn.params) <= i < len(fn.params):
            raise TypeError(f"vjp: no parameter {i} to differentiate with respect to "
                            f"(@{fn.name} has {len(fn.params)})")
    wrt_params = [fn.params[i] for i in wrt]
    active = active_values(fn, wrt_params)
    b = Builder(name=name or f"{fn.name}_vjp")
    saved, fwd = [], {}

    if recompute:
        for p in fn.params:
            fwd[p] = b.param(p.type, p.name_hint)
            saved.append(p)
        copy_ops(b, fn.ops, fwd)

    def get(v):
        if isinstance(v, Literal):
            return v
        w = fwd.get(v)
        if w is None:
            w = fwd[v] = b.param(v.type, v.name_hint)
            saved.append(v)
        return w

    cot_params = [Value(o.type, None, 0, f"g{i}" if len(fn.outputs) > 1 else "g")
                  for i, o in enumerate(fn.outputs)]
    ct = {}

    def accumulate(v, c):
        prev = ct.get(v)
        ct[v] = c if prev is None else b.add(prev, c)

    for o, g in zip(fn.outputs, cot_params):
        if isinstance(o, Value) and o in active:
            accumulate(o, g)
    for op in reversed(fn.ops):
        if len(op.results) == 1:
            if op.results[0] not in ct:
                continue
            g, out = ct.pop(op.results[0]), get(op.results[0])
        else:  # multi-result rules get tuples, with None for results nobody differentiates
            g = tuple(ct.pop(r, None) for r in op.results)
            if all(c is None for c in g):
                continue
            out = tuple(get(r) for r in op.results)
        b.loc = op.loc  # an adjoint op is located where the op it differentiates was
        check_cotangents(op, g)
        cts = op.opdef.vjp(b, g, out, *[get(o) for o in op.operands], **op.attrs)
        check_operands(op, cts, [i for i, o in enumerate(op.operands)
                                 if isinstance(o, Value) and o in active])
        for operand, c in zip(op.operands, cts):
            if c is not None and isinstance(operand, Value) and operand in active:
                accumulate(operand, unbroadcast(b, c, operand.type))

    outs = []
    for p in wrt_params:
        c = ct.get(p)
        if c is None:
            c = b.constant(value=0.0, shape=p.type.shape, dtype=p.type.dtype)
        outs.append(c)
    adj = b.ret(*outs)
    adj.params = adj.params + cot_params
    adj = _prune(adj, saved, recompute)
    if residuals is not None:
        residuals.extend(saved)
    return adj


def op_vjp(op, active, cts, params):
    """The adjoint of one op of a larger graph, as vjp would emit it there: (Function, saved,
    targets). The eager tape's backward of a graph structure it has not seen before walks the
    graph with these (runtime/op_adjoints.py) instead of deriving the whole adjoint.

    `active`: the operand positions that depend differentiably on a differentiated input;
    `cts`: the result positions that receive a cotangent; `params`: the operand positions
    that are parameters even when they are Literals (the tape's lifted scalars). The
    Function's parameters are the forward values the rule reads (`saved`: ("operand", i) or
    ("result", j)), then one cotangent per result in `cts`; its outputs are the contributions
    to the operands at positions `targets` (the active ones the rule gives one for), each
    summed down to its operand's type. Accumulating them over the graph's ops in reverse, in
    that order, adds exactly what vjp's adjoint adds, with the same ops."""
    b = Builder(name=f"{op.opdef.name}_vjp")
    saved, made = [], {}

    def get(kind, i, v):
        w = made.get((kind, i))
        if w is None:
            w = made[(kind, i)] = b.param(v.type, f"{kind[0]}{i}")
            saved.append((kind, i))
        return w

    operands = [o if type(o) is Literal and i not in params else get("operand", i, o)
                for i, o in enumerate(op.operands)]
    cot_params = [Value(op.results[j].type, None, 0, f"g{j}") for j in cts]
    given = dict(zip(cts, cot_params))
    if len(op.results) == 1:
        g, out = cot_params[0], get("result", 0, op.results[0])
    else:
        g = tuple(given.get(j) for j in range(len(op.results)))
        out = tuple(get("result", j, r) for j, r in enumerate(op.results))
    b.loc = op.loc
    check_cotangents(op, g)
    contributions = op.opdef.vjp(b, g, out, *operands, **op.attrs)
    check_operands(op, contributions, active)
    targets, outs = [], []
    for i, (operand, c) in enumerate(zip(op.operands, contributions)):
        if c is not None and i in active:
            targets.append(i)
            outs.append(unbroadcast(b, c, operand.type))
    adj = b.ret(*outs)
    adj.params = adj.params + cot_params
    return _prune(adj, saved, False), saved, targets


def copy_ops(b, ops, env):
    """Re-emit `ops` into builder `b`, mapping operands through `env` (updated with results)."""
    outer = b.loc
    for op in ops:
        operands = [o if isinstance(o, Literal) else env[o] for o in op.operands]
        b.loc = op.loc or outer
        new = b.copy(op, operands)
        for r, n in zip(op.results, new if isinstance(new, tuple) else (new,)):
            env[r] = n
    b.loc = outer


def _prune(adj: Function, saved: list, keep_all_saved: bool) -> Function:
    """Dead-code-eliminate the adjoint and drop saved parameters nobody reads."""
    from .passes.dce import dce
    adj = dce(adj)
    if not keep_all_saved:
        used = {o for op in adj.ops for o in op.operands} | set(adj.outputs)
        n_saved = len(saved)
        keep = [i for i in range(n_saved) if adj.params[i] in used]
        saved[:] = [saved[i] for i in keep]
        adj.params = [adj.params[i] for i in keep] + adj.params[n_saved:]
    for i, p in enumerate(adj.params):
        p.index = i
    return adj
