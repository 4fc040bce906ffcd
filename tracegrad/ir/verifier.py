"""The IR verifier: the invariants every Function must keep, checked after each pass in tests.

Definitions come before uses, each value is defined once, every op is the registered op of its
name, every result type equals what the op's type rule infers, and the outputs are defined.
A `VerifyError` names the problem and shows the printed function with the failing line marked.
Imports only `ir`.
"""
from .function import Literal, Value, canonical_attrs
from .ops import REGISTRY
from .printer import print_function

CONTEXT = 2  # printed lines shown on each side of the failing one


class VerifyError(ValueError):
    """An invariant broken by a Function; `problem` is the one-line reason, `op` the culprit."""

    def __init__(self, problem, fn, op=None):
        self.problem, self.op = problem, op
        super().__init__(f"{problem}\n{_excerpt(fn, op)}")


def verify(fn):
    """Check `fn`; returns it unchanged so calls chain, raises VerifyError on the first problem."""
    defined = set()
    for i, p in enumerate(fn.params):
        if p in defined:
            raise VerifyError(f"parameter {i + 1} is listed twice", fn)
        defined.add(p)
    producers = {r for op in fn.ops for r in op.results}
    for op in fn.ops:
        _check_op(fn, op, defined, producers)
        defined.update(op.results)
    for i, o in enumerate(fn.outputs):
        if isinstance(o, Value) and o not in defined:
            raise VerifyError(f"return: value {i + 1} ({o.type}) is not defined in "
                              f"@{fn.name}", fn, "return")
    return fn


def _check_op(fn, op, defined, producers):
    name = op.opdef.name
    if REGISTRY.get(name) is not op.opdef:
        raise VerifyError(f"{name}: not a registered op", fn, op)
    for i, o in enumerate(op.operands):
        if isinstance(o, Literal):
            continue
        if not isinstance(o, Value):
            raise VerifyError(f"{name}: operand {i + 1} is {o!r}, not a Value or Literal", fn, op)
        if o not in defined:
            where = "used before its definition" if o in producers else "never defined"
            raise VerifyError(f"{name}: operand {i + 1} ({o.type}) is {where}", fn, op)
    for i, r in enumerate(op.results):
        if r in defined:
            raise VerifyError(f"{name}: result {i + 1} ({r.type}) is already defined "
                              f"(single assignment)", fn, op)
        if r.producer is not op or r.index != i:
            raise VerifyError(f"{name}: result {i + 1} does not point back at its op", fn, op)
    _check_types(fn, op)


def _check_types(fn, op):
    """Result types must be exactly what the type rule infers from the operand types."""
    name = op.opdef.name
    try:
        canonical_attrs(op.opdef, op.attrs)
        inferred = op.opdef.infer(*[o.type for o in op.operands], **op.attrs)
    except (TypeError, ValueError, KeyError, IndexError) as e:
        msg = str(e) if str(e).startswith(name + ":") else f"{name}: {e}"
        raise VerifyError(msg, fn, op) from None
    inferred = inferred if isinstance(inferred, tuple) else (inferred,)
    if len(inferred) != len(op.results):
        raise VerifyError(f"{name}: has {len(op.results)} results, its type rule gives "
                          f"{len(inferred)}", fn, op)
    for i, (r, t) in enumerate(zip(op.results, inferred)):
        if r.type != t:
            operands = ", ".join(str(o.type) for o in op.operands)
            raise VerifyError(f"{name}: result {i + 1} has type {r.type}, expected {t} "
                              f"(inferred from operands {operands or 'none'})", fn, op)


def _excerpt(fn, op) -> str:
    """The printed function around the marked line: header, context, closing brace."""
    lines = print_function(fn, mark=op if op != "return" else None).split("\n")
    if op == "return":
        lines[-2] += "  // <-- here"
    at = next((i for i, line in enumerate(lines) if line.endswith("// <-- here")), None)
    if at is None:
        return "\n".join(lines)
    lo, hi = max(1, at - CONTEXT), min(len(lines) - 1, at + CONTEXT + 1)
    shown = [lines[0]] + (["  ..."] if lo > 1 else []) + lines[lo:hi]
    shown += (["  ..."] if hi < len(lines) - 1 else []) + [lines[-1]]
    return "\n".join(shown)
