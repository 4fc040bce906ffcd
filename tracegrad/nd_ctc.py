"""Connectionist Temporal Classification (Graves et al. 2006): MXNet's CTCLoss operator
(`nd.CTCLoss`, also named `ctc_loss`, `nd.contrib.CTCLoss` and `nd.contrib.ctc_loss`) and
the alpha recursion it shares with `gluon.loss.CTCLoss`.

The recursion runs over the extended label (blank, l1, blank, l2, ..., blank) in log space,
unrolled over the static number of time steps as primitives: each step is a three-way
logsumexp of a state, its left neighbour and (between different labels) the one two to the
left. Every length mask comes from comparisons on arrays, never from reading them, so the
loss compiles and its gradient is autodiff's (MXNet's CTCLoss backward is the same gradient,
softmax minus the posterior, scaled by the head gradient).
"""
import numpy as np

from .array import F as _ops
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["CTCLoss", "ctc_loss"]

_IMPOSSIBLE = -1e30   # log-probability of a CTC state no path reaches (finite: no inf - inf)


def ctc_nll(F, pred, label, pred_lengths=None, label_lengths=None):
    """-log p(label | pred), one per sample: pred (T, N, C) unnormalized with the blank at
    C-1, label (N, L) of 0-based classes padded with negatives (without label_lengths a
    label ends at its first negative); pred_lengths (N,) limits each sample's time steps."""
    T, N, C = pred.shape
    L = label.shape[1]
    dt, S = pred.dtype, 2 * L + 1
    # classes, lengths and positions are int32: exact, and never perturbed as data
    label = F.cast(label, "int32")
    padding = F.lesser(label, 0)
    positions = _const(F, np.broadcast_to(np.arange(L), (N, L)), "int32")
    if label_lengths is None:   # up to the first -1
        lengths = F.min(F.where(padding, positions, F.ones_like(positions) * L), axis=1)
    else:
        lengths = F.reshape(F.cast(label_lengths, "int32"), shape=(N,))
    blank = F.ones_like(label) * (C - 1)
    label = F.where(padding, blank, label)
    ext = F.concat(F.reshape(F.stack(blank, label, axis=2), shape=(N, 2 * L)),
                   _const(F, np.full((N, 1), C - 1), "int32"), dim=1)        # (N, S)
    if pred_lengths is not None:
        # steps past a sample's length are never read: zeros there, so what they hold (NaN
        # padding) reaches neither the loss nor, through log_softmax's backward, the gradient
        steps = _const(F, np.arange(T).reshape(T, 1, 1), "int32")
        lengths_t = F.reshape(F.cast(pred_lengths, "int32"), shape=(1, N, 1))
        pred = F.where(F.broadcast_to(F.lesser(steps, lengths_t), shape=(T, N, C)), pred,
                       F.zeros_like(pred))
    # log-probabilities of the extended label's classes at each time: (N, T, S)
    logp = F.log_softmax(F.swapaxes(pred, 0, 1), axis=-1)
    emit = F.batch_dot(logp, F.one_hot(ext, C, dtype=dt), transpose_b=True)
    before2 = F.concat(_const(F, np.full((N, 2), -2), "int32"),
                       _slice_axis(ext, 1, 0, S - 2), dim=1)
    skip = F.not_equal(ext, C - 1) * F.not_equal(ext, before2)   # may go s-2 -> s
    impossible = _const(F, np.full((N, S), _IMPOSSIBLE), dt)
    start = np.full((N, S), _IMPOSSIBLE)
    start[:, :2] = 0.0
    alpha = _emission(F, emit, 0, N, S) + _const(F, start, dt)
    if pred_lengths is not None:
        pred_lengths = F.reshape(F.cast(pred_lengths, "int32"), shape=(N, 1))
    for t in range(1, T):
        a1 = _shift(F, alpha, 1, N, S, dt)
        a2 = F.where(skip, _shift(F, alpha, 2, N, S, dt), impossible)
        top = F.stop_gradient(F.maximum(alpha, F.maximum(a1, a2)))
        new = top + F.log(F.exp(alpha - top) + F.exp(a1 - top) + F.exp(a2 - top)) \
            + _emission(F, emit, t, N, S)
        if pred_lengths is not None:   # a sample past its length keeps its alpha
            running = F.broadcast_to(F.greater(pred_lengths, t), shape=(N, S))
            alpha = F.where(running, new, alpha)
        else:
            alpha = new
    ends = F.one_hot(2 * lengths, S, dtype=dt) + F.one_hot(2 * lengths - 1, S, dtype=dt)
    final = F.where(ends, alpha, impossible)
    top = F.stop_gradient(F.max(final, axis=1, keepdims=True))
    loss = -(F.reshape(top, shape=(N,)) + F.log(F.sum(F.exp(final - top), axis=1)))
    # a label no alignment fits in the time steps (repeats need blanks between them) has
    # probability 0: its loss is inf, and its gradient 0 rather than a huge number
    never = F.greater(loss, -0.5 * _IMPOSSIBLE)
    loss = F.where(never, _const(F, np.full(N, np.inf), dt), loss)
    return loss


def _const(F, values, dtype):
    """A constant array of the given values, made from shapes alone."""
    return F.array(np.ascontiguousarray(values), dtype=dtype)


def _slice_axis(x, axis, begin, end):
    """x[begin:end] along axis, as the slice primitive: nd.slice_axis copies a view into a
    buffer of its own, which reads the data (and so runs a captured step eagerly)."""
    begins = tuple(begin if i == axis else 0 for i in range(x.ndim))
    ends = tuple(end if i == axis else d for i, d in enumerate(x.shape))
    return _ops.slice(x, begin=begins, end=ends, step=(1,) * x.ndim)


def _emission(F, emit, t, N, S):
    return F.reshape(_slice_axis(emit, 1, t, t + 1), shape=(N, S))


def _shift(F, alpha, k, N, S, dtype):
    """alpha moved k states right along the extended label; the first k become impossible."""
    return F.concat(_const(F, np.full((N, k), _IMPOSSIBLE), dtype),
                    _slice_axis(alpha, 1, 0, S - k), dim=1)


def CTCLoss(data, label, data_lengths=None, label_lengths=None, use_data_lengths=False,
            use_label_lengths=False, blank_label="first", **kwargs):
    """MXNet's CTCLoss operator: data (sequence_length, batch_size, alphabet_size) holds
    unnormalized scores, label (batch_size, label_sequence_length) the classes; the result is
    the negative log-likelihood per sample, shape (batch_size,).

    blank_label='first': class 0 is the blank, labels are 1..C-1 and 0 pads them;
    'last': class C-1 is the blank, labels are 0..C-2 and -1 pads them. Without
    use_label_lengths a label ends at its first padding value; data_lengths /
    label_lengths (batch_size,) are read only with use_data_lengths / use_label_lengths."""
    if kwargs:
        return _redo(CTCLoss, locals())
    from . import nd
    if blank_label not in ("first", "last"):
        raise MXNetError(f"CTCLoss: blank_label must be 'first' or 'last', got {blank_label!r}")
    for flag, name, x in ((use_data_lengths, "data_lengths", data_lengths),
                          (use_label_lengths, "label_lengths", label_lengths)):
        if bool(flag) != (x is not None):
            raise MXNetError(f"CTCLoss: {name} must be given exactly when "
                             f"use_{name}=True (got use_{name}={flag}, {name}="
                             f"{'None' if x is None else tuple(x.shape)})")
    if data.ndim != 3 or label.ndim != 2 or label.shape[0] != data.shape[1]:
        raise MXNetError(f"CTCLoss: data must be (sequence_length, batch_size, alphabet_size) "
                         f"and label (batch_size, label_sequence_length), got data "
                         f"{tuple(data.shape)}, label {tuple(label.shape)}")
    T, N, C = data.shape
    for name, x in (("data_lengths", data_lengths), ("label_lengths", label_lengths)):
        if x is not None and x.shape != (N,):
            raise MXNetError(f"CTCLoss: {name} must have shape ({N},), got {tuple(x.shape)}")
    if not np.issubdtype(np.dtype(data.dtype), np.floating):
        raise MXNetError(f"CTCLoss: data must be floating point, got {np.dtype(data.dtype).name}")
    if label.shape[1] >= T + 1:
        raise MXNetError(f"CTCLoss: the max number of labels ({label.shape[1]}) cannot exceed "
                         f"the maximum sequence length of the data ({T})")
    if blank_label == "first":   # the recursion's blank is the last class: rotate it there
        data = nd.concat(_slice_axis(data, 2, 1, C), _slice_axis(data, 2, 0, 1), dim=2)
        label = nd.cast(label, "int32") - 1      # 1..C-1 -> 0..C-2, padding 0 -> -1
    return ctc_nll(nd, data, label, data_lengths, label_lengths)


ctc_loss = CTCLoss
