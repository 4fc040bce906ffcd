"""`mx.nd.CTCLoss` (aliases ctc_loss, contrib.CTCLoss, contrib.ctc_loss): MXNet 1.9.1's
Connectionist Temporal Classification operator (src/operator/nn/ctc_loss-inl.h), and the
alpha recursion gluon.loss.CTCLoss shares with it.

-log of the total probability of every alignment of a label to softmax(data) over time
(Graves et al. 2006), one value per sample. The forward (alpha) recursion over the extended
label (blank, l1, blank, l2, ..., blank) runs in log space, unrolled over the static T as
array ops: each step is a three-way logsumexp of the state, its left neighbour and (between
different labels) the one two to the left. Every length mask comes from comparisons on arrays,
never from reading them, so the loss compiles and its gradient (softmax minus the alignment
posterior, as MXNet's kernel computes) is autodiff's."""
import numpy as np

from .array import F as _ops
from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["CTCLoss", "ctc_loss"]

_IMPOSSIBLE = -1e30   # log-probability of a CTC state no path reaches (finite: no inf - inf)


def _describe(x):
    return f"{dtype_name(np.dtype(x.dtype))}[{','.join(map(str, x.shape))}]"


def ctc_nll(F, acts, label, blank, pad_value=None, data_lengths=None, label_lengths=None):
    """The CTC loss of (T, N, C) activations `acts` (unnormalized) and (N, L) labels, F the
    nd or sym namespace. `blank` is the blank class (0 or C-1); a label ends at its first
    `pad_value` (any negative entry when pad_value is None) unless label_lengths (N,) is
    given; data_lengths (N,) limits the time steps each sample uses."""
    T, N, C = acts.shape
    L = label.shape[1]
    dt, S = acts.dtype, 2 * L + 1
    # classes, lengths and positions are int32: exact, and never perturbed as data
    label = F.cast(label, "int32")
    padding = F.lesser(label, 0) if pad_value is None else \
        F.equal(label, F.ones_like(label) * int(pad_value))
    positions = _const(F, np.broadcast_to(np.arange(L), (N, L)), "int32")
    if label_lengths is None:   # up to the first padding entry
        lengths = F.min(F.where(padding, positions, F.ones_like(positions) * L), axis=1)
    else:
        lengths = F.reshape(F.cast(label_lengths, "int32"), shape=(N,))
    blanks = F.ones_like(label) * blank
    label = F.where(padding, blanks, label)
    ext = F.concat(F.reshape(F.stack(blanks, label, axis=2), shape=(N, 2 * L)),
                   _const(F, np.full((N, 1), blank), "int32"), dim=1)        # (N, S)
    # log-probabilities of the extended label's classes at each time: (N, T, S)
    logp = F.log_softmax(F.swapaxes(acts, 0, 1), axis=-1)
    emit = F.batch_dot(logp, F.one_hot(ext, C, dtype=dt), transpose_b=True)
    before2 = F.concat(_const(F, np.full((N, 2), -2), "int32"),
                       _slice_axis(ext, 1, 0, S - 2), dim=1)
    skip = F.not_equal(ext, blank) * F.not_equal(ext, before2)   # may go s-2 -> s
    impossible = _const(F, np.full((N, S), _IMPOSSIBLE), dt)
    start = np.full((N, S), _IMPOSSIBLE)
    start[:, :2] = 0.0
    alpha = _emission(F, emit, 0, N, S) + _const(F, start, dt)
    if data_lengths is not None:
        data_lengths = F.reshape(F.cast(data_lengths, "int32"), shape=(N, 1))
    for t in range(1, T):
        a1 = _shift(F, alpha, 1, N, S, dt)
        a2 = F.where(skip, _shift(F, alpha, 2, N, S, dt), impossible)
        top = F.stop_gradient(F.maximum(alpha, F.maximum(a1, a2)))
        new = top + F.log(F.exp(alpha - top) + F.exp(a1 - top) + F.exp(a2 - top)) \
            + _emission(F, emit, t, N, S)
        if data_lengths is not None:   # a sample past its length keeps its alpha
            running = F.broadcast_to(F.greater(data_lengths, t), shape=(N, S))
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
    return F.where(never, _const(F, np.full(N, np.inf), dt), loss)


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
    """MXNet's CTCLoss operator: data (T, N, C) unnormalized activations (softmax is applied
    inside), label (N, L). blank_label 'first': class 0 is the blank, labels are 1..C-1 and
    a label ends at its first 0; 'last': class C-1 is the blank, labels 0..C-2, padded with
    -1. data_lengths / label_lengths (N,) are read only with use_data_lengths /
    use_label_lengths. Returns the (N,) negative log-likelihoods."""
    if kwargs:
        return _redo(CTCLoss, locals())
    from . import nd
    if blank_label not in ("first", "last"):
        raise MXNetError(f"CTCLoss: blank_label must be 'first' or 'last', got {blank_label!r}")
    if data.ndim != 3 or label.ndim != 2:
        raise MXNetError(f"CTCLoss: data must be 3-d (sequence, batch, alphabet) and label "
                         f"2-d (batch, label length), got data {_describe(data)}, label "
                         f"{_describe(label)}")
    T, N, C = data.shape
    if label.shape[0] != N:
        raise MXNetError(f"CTCLoss: label {_describe(label)} has a batch of {label.shape[0]}, "
                         f"data {_describe(data)} has {N}")
    lengths = {}
    for name, x, used in (("data_lengths", data_lengths, use_data_lengths),
                          ("label_lengths", label_lengths, use_label_lengths)):
        if not used:
            continue
        if x is None:
            raise MXNetError(f"CTCLoss: use_{name}=True needs the {name} input")
        if x.size != N:
            raise MXNetError(f"CTCLoss: {name} {_describe(x)} must have one entry per sample "
                             f"({N})")
        lengths[name] = x
    first = blank_label == "first"
    return ctc_nll(nd, data, label, blank=0 if first else C - 1, pad_value=0 if first else None,
                   data_lengths=lengths.get("data_lengths"),
                   label_lengths=lengths.get("label_lengths"))


ctc_loss = CTCLoss
