"""Which ops pass a gradient in an integer or bool dtype, and the error for the others.

MXNet 1.9.1 gives an integer array its gradient in its own dtype: attach_grad allocates an
integer buffer, the head gradient is integer ones, and an op's backward kernel runs in the
integer type (elemwise add/mul, sums, reshapes, gathers); Cast's backward (_backward_cast)
casts the gradient back to the input's dtype, so a float -> int -> float round trip is
straight-through. autodiff therefore lets integer (and bool) values carry cotangents and
asks each op's rule for them, but only an op whose rule is integer-exact (the INT_GRAD trait)
may receive or hand out an integer cotangent: a float rule (exp, div, matmul, ...) would give
a truncated number no one meant, so autodiff raises IntegerGradientError naming the op.
"""
from .ops import INT_GRAD
from .types import FLOATS


class IntegerGradientError(TypeError):
    """An integer gradient would flow through an op whose rule holds for floats only; the
    eager tape shows it as an MXNetError with the user's backward line."""


def active_results(op, int_operand):
    """The results of `op` (differentiable, an operand active) that carry cotangents: float
    ones, and integer ones when its rule is integer-exact or an active operand is an integer
    (`int_operand`: the refusal then names the op). An integer result of floats through any
    other op (a loop's trip count, a compiled call's indices) is an index: no gradient."""
    ints = int_operand or INT_GRAD in op.opdef.traits
    return [r for r in op.results if ints or r.type.dtype in FLOATS]


def check_cotangents(op, g):
    """Before `op`'s rule runs: refuse integer cotangents of its results unless INT_GRAD."""
    if INT_GRAD in op.opdef.traits:
        return
    gs = g if isinstance(g, tuple) else (g,)
    if any(c is not None and c.type.dtype not in FLOATS for c in gs):
        _refuse(op, "its integer result")


def check_operands(op, contributions, active):
    """After `op`'s rule ran: refuse a cotangent for an integer operand in `active` (the
    operand positions that take gradients) unless INT_GRAD."""
    if INT_GRAD in op.opdef.traits:
        return
    for i, (o, c) in enumerate(zip(op.operands, contributions)):
        if c is not None and i in active and o.type.dtype not in FLOATS:
            _refuse(op, f"its integer operand {i}")


def _refuse(op, what):
    """Raise, naming the op, its types and where it was recorded (a trace's ops know)."""
    types = ", ".join(str(o.type) for o in op.operands)
    results = ", ".join(str(r.type) for r in op.results)
    at = f" (recorded at {op.loc})" if op.loc else ""
    why = ("its gradient in integers would be a truncated float formula"
           if op.opdef.__module__.startswith(__package__) else
           "this call passes floating-point gradients only")
    raise IntegerGradientError(
        f"backward: op '{op.opdef.name}'({types}) -> {results}{at} has no integer gradient "
        f"({why}), but {what} is differentiated: an array with attach_grad() reaches it "
        f"through integer values. Cast to float before the op (x.astype('float32')), or "
        f"attach the integer array with grad_req='null'")
