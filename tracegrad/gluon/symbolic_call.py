"""A HybridBlock called on mx.sym Symbols, as MXNet 1.x allows: `net(mx.sym.var('data'))`
returns the block's graph as a Symbol (the hybridize tutorial prints and saves it; Module code
builds its network this way). Each block runs under its prefix (mx.name.Prefix, so an op named
'fwd' becomes `dense0_fwd`), its parameters enter as variables named as the Parameters, and a
1.x block's hybrid_forward gets F = mx.sym. The built-in layers whose eager forward checks
shapes in Python emit MXNet's own operator for the layer instead (_LAYER_OPS; the recurrent
layers MXNet's RNN op, their begin states zeros whose batch the graph gives)."""
import contextlib
import threading

# this thread's blocks in the order their symbolic calls began, while a caller collects them
# (`.blocks`, a list; else None): the order an eager call would meet them in
# (symbolic_shapes initializes by it)
CALL_ORDER = threading.local()


def has_symbols(args):
    from ..symbol.symbol import Symbol
    return any(isinstance(a, Symbol) or (isinstance(a, (list, tuple)) and has_symbols(a))
               for a in args)


def symbolic_call(block, args):
    """The Symbol of `block` applied to `args` (Symbols, or numbers as static arguments).
    Under set_np the parameters' variables and the outputs are numpy symbols (mx.sym.np's
    _Symbol), as MXNet's Parameter.var() and npx layers give them."""
    from ..util import is_np_array
    out = _symbolic_call(block, args)
    if not is_np_array():
        return out
    from ..symbol.numpy_symbols import as_np_symbol
    from ..symbol.symbol import Symbol
    if isinstance(out, (list, tuple)):
        return type(out)(as_np_symbol(o) if isinstance(o, Symbol) else o for o in out)
    return as_np_symbol(out) if isinstance(out, Symbol) else out


def _symbolic_call(block, args):
    from .. import symbol as sym
    from ..name import Prefix
    from .block import HybridBlock
    order = getattr(CALL_ORDER, "blocks", None)
    if order is not None:
        order.append(block)
    params = {k: p.var() for k, p in block._reg_params.items()}
    emit = _layer_op(block)
    # (a block made with prefix='' names its nodes in its caller's scope, counting on from
    # its siblings' names, as MXNet's name_scope() does: a ResNet stage's residual blocks
    # give stage1_activation0, stage1_activation1, ..., not one name each)
    with contextlib.nullcontext() if block._empty_prefix else Prefix(block.prefix):
        if emit is not None:
            return emit(block, sym, *args, **params)
        symbolic = getattr(block, "_symbolic_forward", None)   # (a recurrent cell's step)
        if symbolic is not None:
            return symbolic(sym, *args, **params)
        if type(block).forward is HybridBlock.forward:
            return block.hybrid_forward(sym, *args, **params)
        return block.forward(*args)      # a container (HybridSequential) or a 2.x forward


def _layer_op(block):
    from . import loss
    from .nn import activations, basic_layers, conv_layers, norm_layers
    from .rnn import rnn_layer
    if type(block) in (loss.L2Loss, loss.L1Loss, loss.SoftmaxCrossEntropyLoss,
                       loss.SigmoidBinaryCrossEntropyLoss, loss.HuberLoss):
        return _LOSS_OPS[type(block).__name__]
    for cls in type(block).__mro__:
        if cls in (basic_layers.Dense, conv_layers._Conv, basic_layers.BatchNorm,
                   basic_layers.Dropout, basic_layers.Embedding, activations.Activation,
                   conv_layers._Pooling, rnn_layer._RNNLayer, basic_layers.LayerNorm,
                   norm_layers.InstanceNorm, norm_layers.GroupNorm):
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


def _rnn(block, F, x, *rest, **params):
    """MXNet's _RNNLayer._forward_kernel: one RNN op on the parameters flattened and joined
    (weights then biases; by layer, direction, i2h before h2h); the output then the states."""
    n = 2 if block._mode == "lstm" else 1
    if block._layout == "NTC":
        x = F.swapaxes(x, 0, 1)
    flat = [params[f"{d}{layer}_{g}_{t}"].reshape(-1) for t in ("weight", "bias")
            for layer in range(block._num_layers) for d in "lr"[:block._dir]
            for g in ("i2h", "h2h")]
    out = F.RNN(x, F._internal._rnn_param_concat(*flat, dim=0), *rest,
                use_sequence_length=block._use_sequence_length, state_size=block._hidden_size,
                num_layers=block._num_layers, bidirectional=block._dir == 2,
                p=block._dropout, state_outputs=True, mode=block._mode)
    outputs = out[0]
    if block._layout == "NTC":
        outputs = F.swapaxes(outputs, 0, 1)
    return F.Group([outputs] + [out[i] for i in range(1, n + 1)])


def _layer_norm(block, F, x, gamma, beta):
    return F.LayerNorm(x, gamma, beta, axis=block._axis, eps=block._eps, name="fwd")


def _instance_norm(block, F, x, gamma, beta):
    """(MXNet's InstanceNorm normalizes axis 1: another axis is swapped there and back)"""
    if block._axis == 1:
        return F.InstanceNorm(x, gamma, beta, eps=block._epsilon, name="fwd")
    x = F.swapaxes(x, 1, block._axis)
    return F.swapaxes(F.InstanceNorm(x, gamma, beta, eps=block._epsilon, name="fwd"), 1,
                      block._axis)


def _group_norm(block, F, x, gamma, beta):
    return F.GroupNorm(x, gamma, beta, num_groups=block._num_groups, eps=block._epsilon,
                       name="fwd")


_LAYER_OPS = {"Dense": _dense, "_Conv": _conv, "BatchNorm": _batch_norm, "Dropout": _dropout,
              "Embedding": _embedding, "Activation": _activation, "_Pooling": _pooling,
              "_RNNLayer": _rnn, "LayerNorm": _layer_norm, "InstanceNorm": _instance_norm,
              "GroupNorm": _group_norm}


# the common losses in MXNet's symbolic form (gluon/loss.py's eager forms read shapes in
# Python): `loss = gluon.loss.L2Loss()(out_sym, mx.sym.var('label'))` for mx.mod.Module
def _weighted_mean(block, F, loss, sample_weight, weight):
    if sample_weight is not None:
        loss = F.broadcast_mul(loss, sample_weight)
    if weight is not None:
        loss = loss * weight
    return F.mean(loss, axis=block._batch_axis, exclude=True)


def _l2_loss(block, F, pred, label, sample_weight=None):
    loss = F.square(F.reshape_like(label, pred) - pred)
    return _weighted_mean(block, F, loss, sample_weight, block._weight / 2.0)


def _l1_loss(block, F, pred, label, sample_weight=None):
    loss = F.abs(F.reshape_like(label, pred) - pred)
    return _weighted_mean(block, F, loss, sample_weight, block._weight)


def _softmax_ce_loss(block, F, pred, label, sample_weight=None):
    if not block._from_logits:
        pred = F.log_softmax(pred, axis=block._axis)
    if block._sparse_label:
        loss = -F.pick(pred, label, axis=block._axis, keepdims=True)
    else:
        loss = -F.sum(pred * F.reshape_like(label, pred), axis=block._axis, keepdims=True)
    return _weighted_mean(block, F, loss, sample_weight, block._weight)


def _huber_loss(block, F, pred, label, sample_weight=None):
    loss = F.abs(F.reshape_like(label, pred) - pred)
    rho = block._rho
    loss = F.where(loss > rho, loss - 0.5 * rho, (0.5 / rho) * F.square(loss))
    return _weighted_mean(block, F, loss, sample_weight, block._weight)


def _sigmoid_bce_loss(block, F, pred, label, sample_weight=None, pos_weight=None):
    label = F.reshape_like(label, pred)
    if not block._from_sigmoid:
        soft = F.Activation(-F.abs(pred), act_type="softrelu")
        if pos_weight is None:      # max(x, 0) - x z + log(1 + exp(-|x|))
            loss = F.relu(pred) - pred * label + soft
        else:
            log_weight = 1 + F.broadcast_mul(pos_weight - 1, label)
            loss = pred - pred * label + log_weight * (soft + F.relu(-pred))
    else:
        eps = 1e-12
        positive = F.log(pred + eps) * label
        if pos_weight is not None:
            positive = F.broadcast_mul(positive, pos_weight)
        loss = -(positive + F.log(1.0 - pred + eps) * (1.0 - label))
    return _weighted_mean(block, F, loss, sample_weight, block._weight)


_LOSS_OPS = {"L2Loss": _l2_loss, "L1Loss": _l1_loss,
             "SoftmaxCrossEntropyLoss": _softmax_ce_loss,
             "SigmoidBinaryCrossEntropyLoss": _sigmoid_bce_loss, "HuberLoss": _huber_loss}
