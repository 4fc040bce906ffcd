"""Fast-math opt-in: which LLVM fast-math flags compiled code may use (strict IEEE by default).

`jit(f, fastmath=("contract", "nnan"))` / `block.hybridize(fastmath=...)` pass a set of the
LLVM flag names below ("fast" means all of them). Where they apply:

- the float arithmetic and comparisons of elementwise ops (scalar rules) get every requested
  flag except `reassoc`;
- `reassoc` goes to reduction accumulators only, never to the inline math functions, whose
  range reductions (Cody-Waite) rely on exact operation order;
- the inline math functions (exp, log, tanh, ...) keep their documented accuracy in any case.

With `nnan`, LLVM may assume no NaN reaches an op, so a NaN test in the graph (an op with the
NAN_TEST trait, or a comparison of a value with itself) may fold away: a warning says so.
The flags are part of the compiled-object cache key.
"""
import warnings

from ..ir.function import Value

FLAGS = ("nnan", "ninf", "nsz", "arcp", "contract", "afn", "reassoc")


def normalize(flags) -> frozenset:
    """A frozenset of valid flag names from None, "fast", a name, or an iterable of names."""
    if not flags:
        return frozenset()
    if isinstance(flags, str):
        flags = FLAGS if flags == "fast" else (flags,)
    flags = frozenset(flags)
    unknown = sorted(flags - set(FLAGS))
    if unknown:
        raise ValueError(f"fastmath: unknown flag(s) {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(FLAGS)} or 'fast'")
    return flags


def elementwise_flags(flags) -> tuple:
    return tuple(f for f in FLAGS if f in flags and f != "reassoc")


def warn_nan_tests(fn, flags):
    """Warn when `nnan` is on and the graph tests for NaN (that test may be folded away)."""
    from ..ir.ops import NAN_TEST
    if "nnan" not in flags:
        return
    for op in fn.ops:
        self_compare = (len(op.operands) == 2 and isinstance(op.operands[0], Value)
                        and op.operands[0] is op.operands[1]
                        and op.results[0].type.dtype == "bool")
        if NAN_TEST in op.opdef.traits or self_compare:
            warnings.warn(f"tracegrad: fastmath 'nnan' is on in @{fn.name}, which tests for NaN "
                          f"('{op.name}'); with nnan that test may be folded away",
                          RuntimeWarning, stacklevel=4)
            return
