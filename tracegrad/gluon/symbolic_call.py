"""A HybridBlock called on mx.sym Symbols, as MXNet 1.x allows: `net(mx.sym.var('data'))`
returns the block's graph as a Symbol (the hybridize tutorial prints and saves it; Module code
builds its network this way). Each block runs under its prefix (mx.name.Prefix, so an op named
'fwd' becomes `dense0_fwd`), its parameters enter as variables named as the Parameters, and a
1.x block's hybrid_forward gets F = mx.sym. The built-in layers whose eager forward checks
shapes in Python emit MXNet's own operator for the layer instead (_LAYER_OPS)."""
from ..base import MXNetError


def has_symbols(args):
    from ..symbol.symbol import Symbol
    return any(isinstance(a, Symbol) or (isinstance(a, (list, tuple)) and has_symbols(a))
               for a in args)


def symbolic_call(block, args):
    """The Symbol of `block` applied to `args` (Symbols, or numbers as static arguments)."""
    from .. import symbol as sym
    from ..name import Prefix
    from .block import HybridBlock
    params = {k: p.var() for k, p in block._reg_params.items()}
    emit = _layer_op(block)
    with Prefix(block.prefix):
        if emit is not None:
            return emit(block, sym, *args, **params)
        if type(block).forward is HybridBlock.forward:
            return block.hybrid_forward(sym, *args, **params)
        return block.forward(*args)      # a container (HybridSequential) or a 2.x forward


def _layer_op(block):
    from .nn import activations, basic_layers, conv_layers
    for cls in type(block).__mro__:
        if cls in (basic_layers.Dense, conv_layers._Conv, basic_layers.BatchNorm,
                   basic_layers.Dropout, basic_layers.Embedding, activations.Activation,
                   conv_layers._Pooling):
            return _LAYER_OPS[cls.__name__]
    return None


def _activated(block, out):
    return block.act(out) if block.act is not None else out


def _dense(block, F, x, weight, bias=None):
    out = F.FullyConnected(x, weight, bias, no_bias=bias is None, num_hidden=block._units,
                           flatten=block._flatten, name="fwd")
    return _activated(block, out)


def _conv(block, F, x, weight, bias=None):
    op = getattr(F, block._op_name)
    kwargs = dict(block._kwargs, name="fwd")
    out = op(x, weight, bias, **kwargs) if bias is not None else op(x, weight, **kwargs)
    return _activated(block, out)


def _batch_norm(block, F, x, gamma, beta, running_mean, running_var):
    return F.BatchNorm(x, gamma, beta, running_mean, running_var, axis=block._axis,
                       eps=block._eps, momentum=block._momentum,
                       fix_gamma=block.gamma.grad_req == "null",
                       use_global_stats=block._use_global_stats, name="fwd")


def _dropout(block, F, x):
    if block._rate <= 0:
        return F.identity(x)
    return F.Dropout(x, p=block._rate, axes=block._axes, name="fwd")


def _pooling(block, F, x):
    return F.Pooling(x, name="fwd", **block._kwargs)


def _activation(block, F, x):
    return F.Activation(x, act_type=block._act_type, name="fwd")


def _embedding(block, F, x, weight):
    return F.Embedding(x, weight, input_dim=block._input_dim, output_dim=block._output_dim,
                       name="fwd")


_LAYER_OPS = {"Dense": _dense, "_Conv": _conv, "BatchNorm": _batch_norm, "Dropout": _dropout,
              "Embedding": _embedding, "Activation": _activation, "_Pooling": _pooling}
