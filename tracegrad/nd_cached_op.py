"""nd.CachedOp: MXNet's imperative handle on a Symbol graph (`op = nd.CachedOp(sym);
op(*inputs)`), the object hybridize() builds in MXNet.

The inputs are the graph's inputs in `sym.list_inputs()` order (arguments and auxiliary
states, as MXNet's CachedOp takes them). A call evaluates the graph with nd operators under
the caller's autograd state, so it records for backward inside record(); `out=` writes the
results into given arrays. flags (static_alloc, ...) are MXNet's memory-planning hints:
accepted and checked for form, with nothing to change here.
"""
from .array import NDArray
from .base import MXNetError
from .op_kwargs import write_out


class CachedOp:
    def __init__(self, sym, flags=(), thread_safe=False):
        from .symbol.symbol import Symbol
        if not isinstance(sym, Symbol):
            raise MXNetError(f"CachedOp: expects a Symbol, got {type(sym).__name__}")
        flags = dict(flags)
        if not all(isinstance(k, str) for k in flags):
            raise MXNetError(f"CachedOp: flags must be (name, value) pairs, got {flags!r}")
        self._sym, self._inputs = sym, sym.list_inputs()
        self._n_out = len(sym.list_outputs())

    def __call__(self, *args, out=None, default_ctx=None):
        from .symbol.symbol import evaluate
        if len(args) != len(self._inputs):
            raise MXNetError(f"CachedOp: the graph takes {len(self._inputs)} inputs "
                             f"{self._inputs}, got {len(args)}")
        for name, a in zip(self._inputs, args):
            if not isinstance(a, NDArray):
                raise TypeError(f"CachedOp: input '{name}' must be an NDArray, got "
                                f"{type(a).__name__}")
        heads = evaluate(self._sym, dict(zip(self._inputs, args)))
        result = heads[0] if self._n_out == 1 else list(heads)
        if out is None:
            return result
        if self._n_out == 1 and isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]
        return write_out("CachedOp", result, out)
