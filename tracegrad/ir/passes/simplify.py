"""simplify: algebraic rewrites from a table keyed by op name, swept until nothing changes.

A rule `(op, b) -> Value | None` sees an op whose operands are already rewritten; it returns a
value of exactly the op's result type (possibly emitted with `b`), or None for no match.
Only rules exact under IEEE-754 are here: x*0 and x-x are never folded for floats, and x+0.0
is kept (it turns -0.0 into +0.0); x+(-0.0) and x-(+0.0) are exact and do simplify. Ops left
unused by a rewrite are removed by `dce`. Returns the input when no rule fired.
"""
import math

from ..function import Builder, Function, Literal, Operation, Value
from ..ops import VIEW
from ..types import FLOATS, INTS
from . import register_pass
from .fold import reads_back

MAX_SWEEPS = 8
RULES: dict = {}


def rule(*opnames):
    """Register a rule for the named ops; rules for one op are tried in registration order."""
    def deco(fn):
        for name in opnames:
            RULES.setdefault(name, []).append(fn)
        return fn
    return deco


def scalar_of(v):
    """The Python scalar that `v` holds everywhere, if known: a Literal, a `constant`, or a
    `broadcast_to` of one; else None."""
    if isinstance(v, Literal):
        return v.value
    op = v.producer
    if op is None:
        return None
    if op.opdef.name == "constant":
        return Literal(op.attrs["value"], v.type.dtype).value
    if VIEW in op.opdef.traits and op.operands[0].type.size == 1:
        return scalar_of(op.operands[0])
    return None


def is_zero(v, sign):
    """v is a zero of the given sign (+1 or -1); the sign is ignored for ints and bools."""
    s = scalar_of(v)
    if s is None or s != 0:
        return False
    return not isinstance(s, float) or math.copysign(1.0, s) == sign


def is_one(v):
    s = scalar_of(v)
    return s is not None and s == 1


def passthrough(op, x):
    """x, if it can stand for op's result (a Value of the same type)."""
    return x if isinstance(x, Value) and x.type == op.results[0].type else None


# ---------------------------------------------------------------- identities

def drop_unit(op, is_unit, sides=(1, 0)):
    """The other operand when operand i (for i in `sides`) is a unit and it can stand for op."""
    for i in sides:
        if is_unit(op.operands[i]):
            kept = passthrough(op, op.operands[1 - i])
            if kept is not None:
                return kept
    return None


# mul(x, 1) -> x, mul(1, x) -> x
rule("mul")(lambda op, b: drop_unit(op, is_one))
# div(x, 1) -> x
rule("div")(lambda op, b: drop_unit(op, is_one, sides=(1,)))
# add(x, -0.0) -> x, add(-0.0, x) -> x (exact: -0.0 is the IEEE additive identity; 0 for ints)
rule("add")(lambda op, b: drop_unit(op, lambda v: is_zero(v, -1)))
# sub(x, +0.0) -> x (exact, also for x = -0.0)
rule("sub")(lambda op, b: drop_unit(op, lambda v: is_zero(v, +1), sides=(1,)))


@rule("neg")
def neg_neg(op, b):
    # neg(neg(x)) -> x
    x = op.operands[0]
    if isinstance(x, Value) and x.producer is not None and x.producer.opdef.name == "neg":
        return passthrough(op, x.producer.operands[0])
    return None


def _signed(t) -> bool:
    return t.dtype in FLOATS + INTS


@rule("mul")
def mul_minus_one(op, b):
    # mul(x, -1) -> neg(x), mul(-1, x) -> neg(x): exact (floats; ints wrap alike), and then
    # neg(mul(-1, x)) -> neg(neg(x)) -> x (an adjoint's sign flips cancel)
    t = op.results[0].type
    for i in (1, 0):
        s = scalar_of(op.operands[i])
        x = op.operands[1 - i]
        if (s is not None and not isinstance(s, bool) and s == -1 and isinstance(x, Value)
                and x.type == t and _signed(t)):
            return b.neg(x)
    return None


@rule("add")
def add_neg(op, b):
    # add(x, neg(y)) -> sub(x, y), add(neg(x), y) -> sub(y, x): exact (IEEE x - y is
    # x + (-y)); one pass instead of a negation and an add
    for i in (1, 0):
        n = _producer(op.operands[i], "neg")
        other = op.operands[1 - i]
        # (neg keeps its operand's type, so the sub's type is the add's)
        if n is not None and _signed(n.results[0].type) and \
                n.operands[0].type == n.results[0].type:
            return b.sub(other, n.operands[0])
    return None


@rule("sum", "max", "min", "prod")
def reduce_unit_axes(op, b):
    # reduce(x) over axes of length 1 -> reshape(x): the one term is the result (max, min,
    # prod, int sums); a float sum adds +0.0 first, as numpy's sum does (-0.0 -> +0.0)
    x, t = op.operands[0], op.results[0].type
    axes = op.attrs["axes"]
    if not axes or not isinstance(x, Value) or x.type.dtype != t.dtype or any(
            x.type.shape[a] != 1 for a in axes):
        return None
    if op.opdef.name == "sum" and t.dtype in FLOATS:
        x = b.add(x, Literal(0.0, t.dtype))
    return x if x.type == t else b.reshape(x, shape=t.shape)


# cast(x : T, dtype=T) -> x;  reshape(x, x.shape) -> x;  broadcast_to(x, x.shape) -> x
rule("cast", "reshape", "broadcast_to")(lambda op, b: passthrough(op, op.operands[0]))
# transpose(x, [0, 1, ..]) -> x
rule("transpose")(lambda op, b: passthrough(op, op.operands[0])
                  if list(op.attrs["perm"]) == sorted(op.attrs["perm"]) else None)
# sum(x, axes=[]) -> x
rule("sum")(lambda op, b: passthrough(op, op.operands[0]) if not op.attrs["axes"] else None)
# where(c, x, x) -> x
rule("where")(lambda op, b: passthrough(op, op.operands[1])
              if op.operands[1] is op.operands[2] else None)


# ---------------------------------------------------------------- layout chains

def _producer(v, name):
    op = v.producer if isinstance(v, Value) else None
    return op if op is not None and op.opdef.name == name else None


@rule("reshape")
def reshape_reshape(op, b):
    # reshape(reshape(x, s1), s2) -> reshape(x, s2)
    inner = _producer(op.operands[0], "reshape")
    return b.reshape(inner.operands[0], shape=op.attrs["shape"]) if inner else None


@rule("broadcast_to")
def broadcast_chain(op, b):
    # broadcast_to(broadcast_to(x, s1), s2) -> broadcast_to(x, s2)
    # broadcast_to(reshape(x, [1,..,1] + x.shape), s) -> broadcast_to(x, s) (leading 1s implied)
    x = op.operands[0]
    inner = _producer(x, "broadcast_to") or _producer(x, "reshape")
    if inner is None:
        return None
    y = inner.operands[0]
    lead = x.type.ndim - y.type.ndim
    if inner.opdef.name == "reshape" and (lead < 0 or x.type.shape != (1,) * lead + y.type.shape):
        return None
    return b.broadcast_to(y, shape=op.attrs["shape"])


@rule("transpose")
def transpose_transpose(op, b):
    # transpose(transpose(x, p1), p2) -> transpose(x, [p1[i] for i in p2])
    inner = _producer(op.operands[0], "transpose")
    if inner is None:
        return None
    p1 = inner.attrs["perm"]
    return b.transpose(inner.operands[0], perm=tuple(p1[i] for i in op.attrs["perm"]))


# ---------------------------------------------------------------- adjoints of splits

def _unit_step_scatter(v):
    op = _producer(v, "slice_scatter")
    return op if op is not None and all(s == 1 for s in op.attrs["step"]) else None


def _scatter_pieces(op, k):
    """The non-zero pieces of a unit-step slice_scatter along axis k: [(start, end, value)]
    (a concat on axis k is read as its operands; zero constants in it are gaps)."""
    x, at = op.operands[0], op.attrs["begin"][k]
    inner = _producer(x, "concat")
    parts = list(inner.operands) if inner is not None and inner.attrs["axis"] == k else [x]
    pieces = []
    for v in parts:
        n = v.type.shape[k]
        if not (_producer(v, "constant") is not None and scalar_of(v) == 0):
            pieces.append((at, at + n, v))
        at += n
    return pieces


@rule("add")
def add_disjoint_scatters(op, b):
    # add(slice_scatter(a, [i:j] on axis k), slice_scatter(c, [l:m] on axis k)), the ranges
    # disjoint and equal on every other axis -> one slice_scatter of concat(a, zeros, c, ...)
    # Splitting x into pieces has as adjoint a sum of one full-size scatter per piece; this
    # turns it into one concat (an RNN's T time steps, an LSTM's four gates).
    p, q = (_unit_step_scatter(o) for o in op.operands)
    t = op.results[0].type
    if p is None or q is None or p.results[0].type != t or q.results[0].type != t:
        return None
    (b1, e1), (b2, e2) = ((o.attrs["begin"], o.attrs["end"]) for o in (p, q))
    differ = [k for k in range(len(b1)) if (b1[k], e1[k]) != (b2[k], e2[k])]
    if len(differ) != 1:
        return None
    k = differ[0]
    pieces = sorted(_scatter_pieces(p, k) + _scatter_pieces(q, k), key=lambda pc: pc[0])
    if any(a[1] > c[0] for a, c in zip(pieces, pieces[1:])):
        return None                                   # overlapping pieces: a real sum
    lo, hi = min(b1[k], b2[k]), max(e1[k], e2[k])
    parts, at = [], lo
    for start, stop, v in pieces:
        if start > at:
            parts.append(_zeros_piece(b, v.type, k, start - at))
        parts.append(v)
        at = stop
    if at < hi:
        parts.append(_zeros_piece(b, pieces[-1][2].type, k, hi - at))
    begin, end = list(b1), list(e1)
    begin[k], end[k] = lo, hi
    x = b.concat(*parts, axis=k) if len(parts) > 1 else parts[0]
    return b.slice_scatter(x, shape=p.attrs["shape"], begin=tuple(begin), end=tuple(end),
                           step=p.attrs["step"])


def _zeros_piece(b, like, k, n):
    shape = list(like.shape)
    shape[k] = n
    zero = 0.0 if like.dtype.startswith("f") else (False if like.dtype == "bool" else 0)
    return b.constant(dtype=like.dtype, shape=tuple(shape), value=zero)


@rule("add")
def add_matmuls(op, b):
    # add(op(x1) @ op(y1), op(x2) @ op(y2)) -> [op(x1) op(x2)] @ [op(y1); op(y2)]   (2-d)
    # A weight used at every step of an unrolled loop gets one gradient product per step;
    # summed, they are one product over the stacked steps: one GEMM instead of T and T-1 adds.
    p, q = (_producer(o, "matmul") for o in op.operands)
    t = op.results[0].type
    if p is None or q is None or p.attrs != q.attrs or p.results[0].type != t \
            or q.results[0].type != t or t.ndim != 2:
        return None
    if any(v.type.ndim != 2 for v in p.operands + q.operands) or any(
            u.type.dtype != v.type.dtype for u, v in zip(p.operands, q.operands)):
        return None                                   # (concat needs one dtype)
    x_axis = 0 if p.attrs.get("transpose_a", False) else 1
    y_axis = 1 if p.attrs.get("transpose_b", False) else 0

    def stacked(u, v, axis):
        parts = []
        for w in (u, v):
            inner = _producer(w, "concat")
            parts += list(inner.operands) if inner and inner.attrs["axis"] == axis else [w]
        return b.concat(*parts, axis=axis)
    return b.matmul(stacked(p.operands[0], q.operands[0], x_axis),
                    stacked(p.operands[1], q.operands[1], y_axis), **p.attrs)


@rule("slice_scatter")
def whole_scatter(op, b):
    # slice_scatter(x) writing all of its shape -> x
    a = op.attrs
    if tuple(a["end"]) == tuple(a["shape"]) and all(s == 1 for s in a["step"]) \
            and all(v == 0 for v in a["begin"]):
        return passthrough(op, op.operands[0])
    return None


# ---------------------------------------------------------------- scalar operands

BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "where",
          "lt", "le", "gt", "ge", "eq", "ne")


@rule(*BINARY)
def scalar_operand(op, b):
    # f(constant(c), y) -> f(c, y) when c broadcasts to the same result (elementwise ops only)
    for i, o in enumerate(op.operands):
        s = None if isinstance(o, Literal) else scalar_of(o)
        if s is None:
            continue
        operands = list(op.operands)
        operands[i] = Literal(s, o.type.dtype)
        if not reads_back(operands):
            continue
        try:
            t = op.opdef.infer(*[v.type for v in operands], **op.attrs)
        except (TypeError, ValueError):
            continue
        if t == op.results[0].type:
            return b.copy(op, operands)
    return None


# ---------------------------------------------------------------- driver

def _sweep(fn: Function) -> Function:
    """One pass over the ops, applying the first matching rule to each."""
    b = Builder(Function(fn.name, fn.params))
    env = {p: p for p in fn.params}
    changed = False
    for op in fn.ops:
        operands = tuple([o if isinstance(o, Literal) else env[o] for o in op.operands])
        # (op itself while its operands are the same ones: ops are never changed once made)
        cand = op if operands == op.operands else \
            Operation(op.opdef, operands, op.attrs, [r.type for r in op.results], op.loc)
        b.loc = op.loc
        new = None
        for fn_rule in RULES.get(op.opdef.name, ()) if len(op.results) == 1 else ():
            new = fn_rule(cand, b)
            if new is not None:
                break
        if new is None:
            b.fn.ops.append(cand)
            env.update(zip(op.results, cand.results))
            continue
        if new.type != op.results[0].type:
            raise AssertionError(f"simplify: a {op.opdef.name} rule returned {new.type}, "
                                 f"expected {op.results[0].type}")
        env[op.results[0]], changed = new, True
    if not changed:
        return fn
    return b.ret(*[o if isinstance(o, Literal) else env[o] for o in fn.outputs])


@register_pass("simplify")
def simplify(fn: Function) -> Function:
    for _ in range(MAX_SWEEPS):
        new = _sweep(fn)
        if new is fn:
            break
        fn = new
    return fn
