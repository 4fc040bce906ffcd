"""mx.nd._internal: MXNet's internal operators by their registered names (`_plus`, `_mul`,
`_plus_scalar`, `_zeros`, ...), which 1.x code calls directly on NDArrays (tree_lstm's
ChildSumLSTMCell writes `F._internal._plus(a, b, name=...)` with F = mx.nd). Each name is
resolved as mx.sym resolves it when it loads a graph (symbol/ops.py), so the two agree."""
import inspect

from .op_kwargs import accepting_common_keywords


def _backward_gather_nd(data, indices, shape):
    """MXNet's gather_nd gradient as an operator of its own: zeros of `shape` with `data`
    summed at the positions `indices` names (repeats add up, as gather_nd's gradient must),
    which is scatter_nd's rule here."""
    from .nd_math import scatter_nd
    return scatter_nd(data, indices, shape)


#: internal operators nd._internal has that mx.sym does not resolve by name
_ND_ONLY = {"_backward_gather_nd": _backward_gather_nd}


class _Internal:
    def __init__(self):
        self._ops = {}

    def __getattr__(self, name):
        if not name.startswith("_") or name.startswith("__"):
            raise AttributeError(name)
        fn = self._ops.get(name)
        if fn is None and name in _ND_ONLY:
            fn = accepting_common_keywords(_ND_ONLY[name], f"nd._internal.{name}")
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
