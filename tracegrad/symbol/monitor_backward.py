"""The backward entries an executor's monitor callback reports, as MXNet's graph executor
does: its backward is a graph of nodes run one by one, and the callback sees each one's
outputs. tracegrad's backward is one adjoint, so on a monitored step the executor replays
that graph here from the forward's recorded node arrays (each node re-run on copies, at its
forward's random position, and differentiated alone).

What is reported follows MXNet 1.9.1's gradient pass (src/nnvm/gradient.cc and the graph
executor's AggregateGradient): only the nodes a requested gradient (grad_req != 'null')
depends on; a node's backward outputs, one per non-auxiliary input, named
``<node>_backward_output`` (``..._output<i>`` with several inputs); ``sum_grad_output`` where
an entry gets gradients from several consumers (``sum_grad_<i>_output`` ...
``sum_grad_final_output`` from 8 on); ``zeros_without_dtype_output`` for an output nothing
consumes; and the zero gradients of ops that pass none (BlockGrad, comparisons, argmax):
``<node>_backward_output`` / ``<node>_in<i>_backward_output``, where those zeros are used
(an entry's zero contributions are dropped beside real ones). With monitor_all a backward
node's inputs are reported as its output gradients (``<node>_backward_input<k>``); MXNet also
lists the forward values each op's backward reads, which differ per op.
"""
import warnings

import numpy as np

from .. import autograd, nd
from .. import random as _random
from ..base import MXNetError
from .ops import NONDIFF_INPUTS, canonical

# ops whose gradient is MXNet's MakeZeroGradNodes: zeros_like of each input
_ZERO_GRAD = frozenset({
    "BlockGrad", "argmax", "argmin", "argmax_channel", "shape_array", "size_array",
    "_contrib_index_array", "_equal", "_not_equal", "_greater", "_greater_equal",
    "_lesser", "_lesser_equal", "_logical_and", "_logical_or", "_logical_xor",
    "logical_not", "broadcast_equal", "broadcast_not_equal", "broadcast_greater",
    "broadcast_greater_equal", "broadcast_lesser", "broadcast_lesser_equal",
    "broadcast_logical_and", "broadcast_logical_or", "broadcast_logical_xor",
    "_equal_scalar", "_not_equal_scalar", "_greater_scalar", "_greater_equal_scalar",
    "_lesser_scalar", "_lesser_equal_scalar"})
# ops whose gradient is MXNet's MakeGradNode (or a legacy op's backward): their backward node
# runs even when every output gradient is a zeros node; the others (MakeNonlossGradNode, the
# elementwise families) then give zeros nodes instead
_ALWAYS_BACKWARD = frozenset({
    "FullyConnected", "Convolution", "Deconvolution", "BatchNorm", "LayerNorm",
    "InstanceNorm", "GroupNorm", "Pooling", "Activation", "LeakyReLU", "Dropout",
    "Embedding", "softmax", "log_softmax", "SoftmaxActivation", "SoftmaxOutput",
    "LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput", "SVMOutput",
    "MakeLoss", "RNN", "LRN", "Concat", "UpSampling", "ROIPooling", "_contrib_Proposal",
    "_contrib_MultiProposal", "Custom"})
_SUM_CAP = 8    # MXNET_EXEC_INPLACE_GRAD_SUM_CAP: from here on a chain of _grad_add

# ops MXNet 1.9.1 registers without FListInputNames (the unary, scalar and reduction macros,
# Activation, the shape ops): monitor_all names their inputs `<node>_input<i>`
UNNAMED_INPUTS = frozenset((
    "Activation SoftmaxActivation Reshape Flatten transpose expand_dims slice slice_axis "
    "clip relu sigmoid hard_sigmoid softsign _copy BlockGrad make_loss shape_array "
    "size_array Cast negative abs sign round rint ceil floor trunc fix erf erfinv gamma "
    "gammaln logical_not sum mean nansum prod nanprod max min norm broadcast_axis "
    "broadcast_to argmax argmin argmax_channel topk sort argsort softmin sin cos tan arcsin "
    "arccos arctan degrees radians sinh cosh tanh arcsinh arccosh arctanh reciprocal square "
    "sqrt rsqrt cbrt rcbrt exp log log10 log2 log1p expm1 _plus_scalar _minus_scalar "
    "_rminus_scalar _mul_scalar _div_scalar _rdiv_scalar _power_scalar _rpower_scalar "
    "_maximum_scalar _minimum_scalar _mod_scalar _rmod_scalar _hypot_scalar _equal_scalar "
    "_not_equal_scalar _greater_scalar _greater_equal_scalar _lesser_scalar "
    "_lesser_equal_scalar").split())


class _Trail(list):
    """(node, input arrays, output arrays, random position before it) of each operator node
    of a monitored forward, in execution order."""
    __slots__ = ("position",)

    def __init__(self):
        super().__init__()
        self.position = _random._position()

    def add(self, node, args, outs):
        self.append((node, list(args), list(outs), self.position))
        self.position = _random._position()


def entries(exe, trail, head_grads, is_train, monitor_all, wanted=None):
    """[(name, array)] of the backward nodes MXNet would run for exe's last forward (the
    trail), given each output's head gradient (None: ones / a loss layer's own). When
    `wanted(name)` refuses every name nothing is computed (a Monitor's pattern)."""
    if wanted is not None:
        names = _walk(exe, trail, head_grads, is_train, monitor_all, compute=False)
        if not any(wanted(n) for n, _ in names):
            return []
    return _walk(exe, trail, head_grads, is_train, monitor_all, compute=True)


def _walk(exe, trail, head_grads, is_train, monitor_all, compute):
    symbol = exe._symbol
    requested = {k for k, g in exe.grad_dict.items()
                 if g is not None and exe._grad_req.get(k, "write") != "null"}
    aux = set(symbol.list_auxiliary_states())
    need = {}
    for node, _, _, _ in trail:
        need[id(node)] = any(_needed(c, requested, need) for c, _ in node.inputs)
    # (id(node), output) -> [(array or None, is_zero, the zeros node's entries)]: a zeros
    # node runs (is reported) only when its gradient survives the aggregation
    contrib = {}
    for i, (node, k) in enumerate(symbol._outputs):
        if node.op is not None:
            contrib.setdefault((id(node), k), []).append((head_grads[i], False, ()))
    out = []
    for node, args, outs, position in reversed(trail):
        if not need.get(id(node)):
            continue
        loss = node.spec.head_loss and not node.params.get("out_grad", False)
        pre, ograds, all_zero = [], [], bool(outs)
        for k, o in enumerate(outs):
            cs = contrib.pop((id(node), k), [])
            if not cs:
                all_zero = False
                g = _zeros(o) if compute else None
                pre.append(("zeros_without_dtype_output", g))
            else:
                all_zero = all_zero and all(c[1] for c in cs)
                g = _aggregate(cs, o, pre, monitor_all, compute)
            ograds.append(None if loss else g)
        op = canonical(node.op)
        if op in _ZERO_GRAD or (all_zero and op not in _ALWAYS_BACKWARD):
            _zero_nodes(node, args, requested, need, contrib, monitor_all, compute)
            continue
        out.extend(pre)
        if monitor_all:
            for k, g in enumerate(ograds):
                out.append((f"{node.name}_backward_input{k}",
                            _ones(outs[k]) if compute and g is None else g))
        slots = [i for i, (c, _) in enumerate(node.inputs)
                 if not (c.op is None and c.name in aux)]
        grads = _node_vjp(node, args, ograds, slots, is_train, position) if compute \
            else [None] * len(slots)
        if grads is None:
            return out      # (a node that cannot be replayed: the rest is not reported)
        for j, (i, g) in enumerate(zip(slots, grads)):
            suffix = "" if len(slots) == 1 else str(j)
            out.append((f"{node.name}_backward_output{suffix}", g))
            child, ci = node.inputs[i]
            if _needed(child, requested, need):
                contrib.setdefault((id(child), ci), []).append((g, False, ()))
    for node in symbol._order():
        if node.op is None and node.name in requested and (id(node), 0) in contrib:
            _aggregate(contrib[(id(node), 0)], None, out, monitor_all, compute)
    return out


def _needed(child, requested, need):
    """Whether a requested gradient depends on the backward of this input entry."""
    return child.name in requested if child.op is None else need.get(id(child), False)


def _aggregate(cs, like, out, monitor_all, compute):
    """One gradient from the consumers' contributions `cs`, as MXNet's AggregateGradient:
    zeros nodes' left out unless all are (then the first), several summed by an
    ElementWiseSum 'sum_grad' (from the cap on, a chain of _grad_add ending in an identity
    'sum_grad_final'); reported to out."""
    used = [c for c in cs if not c[1]] or cs[:1]
    for c in used:
        out.extend(c[2])
    arrays = [(_ones(like) if a is None and compute else a) for a, _, _ in used]
    if len(arrays) == 1:
        return arrays[0]
    if len(arrays) < _SUM_CAP:
        total = nd.add_n(*arrays) if compute else None
        if monitor_all:
            out.extend((f"sum_grad_arg{i}", a) for i, a in enumerate(arrays))
        out.append(("sum_grad_output", total))
        return total
    acc = arrays[0]
    for i in range(1, len(arrays)):
        if monitor_all:
            out.extend(((f"sum_grad_{i}_lhs", acc), (f"sum_grad_{i}_rhs", arrays[i])))
        acc = acc + arrays[i] if compute else None
        out.append((f"sum_grad_{i}_output", acc))
    if monitor_all:
        out.append(("sum_grad_final_data", acc))
    out.append(("sum_grad_final_output", acc))
    return acc


def _zero_nodes(node, args, requested, need, contrib, monitor_all, compute):
    """MXNet's MakeZeroGradNodes: a zeros_like node per input a requested gradient needs
    (reported where its zeros are used: _aggregate)."""
    n = len(node.inputs)
    for i, ((child, ci), arr) in enumerate(zip(node.inputs, args)):
        if not _needed(child, requested, need):
            continue
        name = f"{node.name}_backward" if n == 1 else f"{node.name}_in{i}_backward"
        pending = []
        if monitor_all:
            if child.op is None:
                pending.append((child.name, arr))
            pending.append((f"{name}_data", arr))
        z = _zeros(arr) if compute else None
        pending.append((f"{name}_output", z))
        contrib.setdefault((id(child), ci), []).append((z, True, pending))


def _zeros(like):
    with autograd.pause():
        return nd.zeros(like.shape, ctx=like.context, dtype=like.dtype)


def _ones(like):
    with autograd.pause():
        return nd.ones(like.shape, ctx=like.context, dtype=like.dtype)


def _node_vjp(node, args, ograds, slots, is_train, position):
    """The gradients of one node's inputs `slots` for its output gradients (None: ones), the
    node re-run alone on copies of its forward inputs at that forward's random position (so
    Dropout draws its mask again and BatchNorm's moving statistics stay as they are)."""
    blocked = NONDIFF_INPUTS.get(canonical(node.op), ())
    with autograd.pause():
        xs = [a.copy() for a in args]
    # (a loss layer's backward writes its data's gradient only: the label's stays 0)
    diff = [i for i in slots
            if np.dtype(xs[i].dtype).kind == "f" and not (node.spec.head_loss and i > 0)
            and (node.input_names[i] if i < len(node.input_names) else None) not in blocked]
    for i in diff:
        xs[i].attach_grad()
    prev = _random._set_position(position)
    try:
        with autograd.record(train_mode=is_train):
            res = node.spec.fn(*xs, **node.params)
        res = list(res) if isinstance(res, (list, tuple)) else [res]
        heads = [(o, g) for o, g in zip(res, ograds) if o._value is not None]
        got = {}
        if heads and diff:
            grads = autograd.grad([o for o, _ in heads], [xs[i] for i in diff],
                                  head_grads=[g for _, g in heads], train_mode=is_train)
            got = dict(zip(diff, grads))
    except (MXNetError, TypeError, ValueError) as e:
        warnings.warn(f"monitor: the backward of node '{node.name}' (op {node.op}) cannot be "
                      f"reported node by node ({e}); its entries and those after it are "
                      f"left out", stacklevel=4)
        return None
    finally:
        _random._set_position(prev)
    return [got[i] if i in got else _zeros(args[i]) for i in slots]
