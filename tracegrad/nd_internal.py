"""mx.nd._internal: MXNet's internal operators by their registered names (`_plus`, `_mul`,
`_plus_scalar`, `_zeros`, ...), which 1.x code calls directly on NDArrays (tree_lstm's
ChildSumLSTMCell writes `F._internal._plus(a, b, name=...)` with F = mx.nd). Each name is
resolved as mx.sym resolves it when it loads a graph (symbol/ops.py), so the two agree."""
import inspect

from .op_kwargs import accepting_common_keywords


class _Internal:
    def __init__(self):
        self._ops = {}

    def __getattr__(self, name):
        if not name.startswith("_") or name.startswith("__"):
            raise AttributeError(name)
        fn = self._ops.get(name)
        if fn is None and name == "_sample_unique_zipfian":
            from .random_unique import _sample_unique_zipfian as fn
        if fn is None:
            from .symbol.ops import lookup
            spec = lookup(name)
            if spec is None or getattr(spec, "fn", None) is None:
                raise AttributeError(f"module 'tracegrad.ndarray._internal' has no attribute "
                                     f"{name!r}")
            fn = spec.fn
            if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters
                       .values()):
                fn = accepting_common_keywords(fn, f"nd._internal.{name}")
            self._ops[name] = fn
        return fn

    def __dir__(self):
        return sorted(self._ops)


_internal = _Internal()
