"""Deferred parameter shapes of a custom 1.x HybridBlock found the way MXNet finds them: its
hybrid_forward run once on mx.sym variables (the inputs with their shapes, each parameter with
its partly known shape, 0 for unknown) and the graph's shape inference read back. MXNet's
extend/custom_layer tutorial declares `shape=(hidden_units, 0)` and lets the FullyConnected in
hybrid_forward fill in the 0; layers whose rule is not in the graph still define infer_shape."""
from ..array import NDArray


def infer_shapes_symbolically(block, args):
    """Set the unknown shapes of `block`'s own parameters from inputs `args`; whether every one
    became known (False when hybrid_forward cannot run on symbols, e.g. a 2.x forward)."""
    from .. import symbol as sym
    from .block import HybridBlock
    if type(block).forward is not HybridBlock.forward:
        return False
    pending = [p for p in block._reg_params.values() if p._data is None]
    known, inputs = {}, []
    for i, a in enumerate(args):
        if isinstance(a, NDArray):
            name = f"__tg_input{i}"
            known[name] = a.shape
            inputs.append(sym.var(name, shape=a.shape, dtype=a.dtype))
        else:
            inputs.append(a)
    params = {k: sym.var(p.name, shape=p.shape, dtype=p.dtype)
              for k, p in block._reg_params.items()}
    try:
        out = block.hybrid_forward(sym, *inputs, **params)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        graph = sym.Group(outs) if len(outs) > 1 else outs[0]
        arg_shapes, _, aux_shapes = graph.infer_shape_partial(**known)
    except Exception:     # noqa: BLE001  (an op or a child block with no symbolic form)
        return False
    found = dict(zip(graph.list_arguments(), arg_shapes or ()))
    found.update(zip(graph.list_auxiliary_states(), aux_shapes or ()))
    for p in pending:
        shape = found.get(p.name)
        if shape and all(shape):
            p.shape = tuple(shape)
    return all(p.shape and all(p.shape) for p in pending)
