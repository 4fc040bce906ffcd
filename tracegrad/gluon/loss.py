"""`gluon.loss`: losses as HybridBlocks written in nd ops and composites.

MXNet semantics: the per-element loss is multiplied by sample_weight (if given) and by the
constructor's `weight`, then averaged over every axis except `batch_axis`, giving one loss per
sample. backward() on that vector sums it. TripletLoss and CTCLoss compute one value per
sample first and weight that (no mean); KLDivLoss sums over the non-batch axes (MXNet 1.9.1,
whose tutorials still describe the older mean); SDMLLoss is KLDivLoss on a batch-by-batch
matrix.
Every loss reads its inputs' shapes and dtypes only, never their data, so it compiles under
hybridize() and step capture defers it.
"""
import math
import numbers

import numpy as np

from ..array import F as _ops, NDArray
from ..base import MXNetError
from ..ir import composites as C
from ..ir.types import dtype_name
from . import functional
from .block import HybridBlock
from .symbolic_call import has_symbols
from ..nd_ctc import ctc_nll


def _apply_weighting(F, loss, weight=None, sample_weight=None):
    """MXNet's helper, which custom losses outside gluon import (`gluon.loss._apply_weighting`):
    loss times sample_weight (broadcast) and times the scalar weight, no mean."""
    if sample_weight is not None:
        loss = loss * sample_weight if hasattr(F, "npx") else F.broadcast_mul(loss, sample_weight)
    if weight is not None:
        if not isinstance(weight, (numbers.Number, np.generic)):
            raise AssertionError("weight must be a number")
        loss = loss * weight
    return loss


def _reshape_like(F, x, y):
    """MXNet's helper for custom losses: x reshaped to y's shape."""
    if isinstance(y, NDArray):
        return x.reshape(y.shape)
    return (F.npx if hasattr(F, "npx") else F).reshape_like(x, y)


def _describe(x):
    return f"{dtype_name(np.dtype(x.dtype))}[{','.join(map(str, x.shape))}]"


class Loss(HybridBlock):
    """Base of losses: weighting and the mean over non-batch axes."""

    def __init__(self, weight, batch_axis, **kwargs):
        super().__init__(**kwargs)
        self._weight, self._batch_axis = weight, batch_axis

    def _reshape_like(self, F, label, pred):
        """label reshaped to pred's shape (MXNet losses accept (N,) labels for (N, 1) preds).
        The reshape primitive itself: the shape is known, so nd.reshape's special codes (which
        would also read a 0 in an empty batch's shape as 'copy') are not wanted per step."""
        if not isinstance(pred, NDArray) and has_symbols((label, pred)):   # (mx.sym)
            return _same_size(self, "label", label, pred)
        if label.shape == pred.shape:
            return label
        if label.size != pred.size:
            raise MXNetError(f"label {_describe(label)} does not match prediction "
                             f"{_describe(pred)}")
        return _ops.reshape(label, shape=pred.shape)

    def _finish(self, F, loss, sample_weight, weight=None, reduce="mean"):
        if sample_weight is not None:
            loss = F.broadcast_mul(loss, sample_weight)
        weight = self._weight if weight is None else weight
        if weight is not None:
            if not isinstance(weight, (int, float)):
                raise MXNetError(f"{type(self).__name__}: weight must be a number, got "
                                 f"{weight!r}")
            loss = loss * weight
        return getattr(F, reduce)(loss, axis=self._batch_axis, exclude=True)

    def __repr__(self):
        return f"{type(self).__name__}(batch_axis={self._batch_axis}, w={self._weight})"


class L2Loss(Loss):
    """0.5 * weight * (pred - label)^2, averaged per sample."""

    def __init__(self, weight=1.0, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = self._reshape_like(F, label, pred)
        loss = F.square(label - pred)
        return self._finish(F, loss, sample_weight, self._weight / 2.0)


class L1Loss(Loss):
    """weight * |pred - label|, averaged per sample."""

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = self._reshape_like(F, label, pred)
        return self._finish(F, F.abs(label - pred), sample_weight)


class SoftmaxCrossEntropyLoss(Loss):
    """-log softmax(pred)[label] along `axis` (sparse_label) or -sum(label * log softmax(pred));
    from_logits=True means pred already holds log-probabilities."""

    def __init__(self, axis=-1, sparse_label=True, from_logits=False, weight=None,
                 batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis, self._sparse_label, self._from_logits = axis, sparse_label, from_logits

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        if self._sparse_label:
            want = tuple(d for i, d in enumerate(pred.shape) if i != self._axis % pred.ndim)
            if label.size != math.prod(want):
                raise MXNetError(f"sparse label {_describe(label)} "
                                 f"does not match prediction {_describe(pred)} without axis "
                                 f"{self._axis}")
            if label.shape != want:
                label = _ops.reshape(label, shape=want)
            loss = -F.pick(pred, label, axis=self._axis, keepdims=True)
        else:
            label = self._reshape_like(F, label, pred)
            loss = -F.sum(pred * label, axis=self._axis, keepdims=True)
        return self._finish(F, loss, sample_weight)


SoftmaxCELoss = SoftmaxCrossEntropyLoss


class SigmoidBinaryCrossEntropyLoss(Loss):
    """Binary cross-entropy on logits (stable form) or, with from_sigmoid, on probabilities."""

    def __init__(self, from_sigmoid=False, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = from_sigmoid

    def hybrid_forward(self, F, pred, label, sample_weight=None, pos_weight=None):
        label = self._reshape_like(F, label, pred)
        loss = C.sigmoid_bce(_ops, pred, label, from_sigmoid=self._from_sigmoid,
                             pos_weight=pos_weight)
        return self._finish(F, loss, sample_weight)


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


class HuberLoss(Loss):
    """|d| - rho/2 if |d| > rho else d^2 / (2 rho), with d = pred - label."""

    def __init__(self, rho=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._rho = rho

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = self._reshape_like(F, label, pred)
        loss = functional.huber(_ops, label - pred, float(self._rho))
        return self._finish(F, loss, sample_weight)


# ------------------------------------------------------------------ the rest of MXNet 1.9.1's
# gluon.loss. Written in nd ops on shapes and dtypes only (never on array data), so each one
# differentiates, compiles under hybridize() and is deferred by step capture.


def _same_size(loss, name, x, pred):
    """`x` reshaped to pred's shape, or a clear error naming the loss and both arrays. On
    mx.sym Symbols (a loss called on a network's Symbol for a Module), which have no
    shapes yet: reshape_like, as MXNet's _reshape_like emits."""
    if not isinstance(pred, NDArray) and has_symbols((x, pred)):
        from .. import symbol
        return symbol.reshape_like(x, pred)
    if x.shape == pred.shape:
        return x
    if x.size != pred.size:
        raise MXNetError(f"{type(loss).__name__}: {name} {_describe(x)} does not match "
                         f"prediction {_describe(pred)}")
    return _ops.reshape(x, shape=pred.shape)


class KLDivLoss(Loss):
    """label * (log(label + 1e-12) - pred), pred being log-probabilities (from_logits=True)
    or logits put through log_softmax along `axis`, summed over the non-batch axes: the
    divergence itself, as MXNet 1.9.1 gives it (its 1.x releases before the backport of
    #19356 averaged, which the kl_divergence tutorial still describes)."""

    def __init__(self, from_logits=True, axis=-1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits, self._axis = from_logits, axis

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        label = _same_size(self, "label", label, pred)
        loss = label * (F.log(label + 1e-12) - pred)
        return self._finish(F, loss, sample_weight, reduce="sum")


class HingeLoss(Loss):
    """max(0, margin - pred * label), labels -1 or 1."""

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _same_size(self, "label", label, pred)
        return self._finish(F, F.relu(self._margin - pred * label), sample_weight)


class SquaredHingeLoss(Loss):
    """max(0, margin - pred * label)^2, labels -1 or 1."""

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _same_size(self, "label", label, pred)
        return self._finish(F, F.square(F.relu(self._margin - pred * label)), sample_weight)


class LogisticLoss(Loss):
    """log(1 + exp(-pred * label)) for labels -1/1 (label_format='signed'), or the same loss
    on 0/1 labels ('binary'), computed in the stable form max(x, 0) - x z + log(1 + exp(-|x|))."""

    def __init__(self, weight=None, batch_axis=0, label_format='signed', **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        if label_format not in ("signed", "binary"):
            raise ValueError(f"label_format can only be signed or binary, received "
                             f"{label_format!r}")
        self._label_format = label_format

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _same_size(self, "label", label, pred)
        if self._label_format == "signed":
            label = (label + 1.0) / 2.0
        loss = F.relu(pred) - pred * label + F.log(1.0 + F.exp(-F.abs(pred)))
        return self._finish(F, loss, sample_weight)


class TripletLoss(Loss):
    """max(sum |positive - pred|^2 - sum |negative - pred|^2 + margin, 0) per sample (sums over
    every non-batch axis), then weighted; no mean."""

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, positive, negative, sample_weight=None):
        positive = _same_size(self, "positive", positive, pred)
        negative = _same_size(self, "negative", negative, pred)
        d = F.square(positive - pred) - F.square(negative - pred)
        loss = F.relu(F.sum(d, axis=self._batch_axis, exclude=True) + self._margin)
        return _weighted(self, F, loss, sample_weight)


def _weighted(loss_block, F, loss, sample_weight):
    """sample_weight and weight applied, without the mean (losses already one per sample)."""
    if sample_weight is not None:
        loss = F.broadcast_mul(loss, sample_weight)
    if loss_block._weight is not None:
        if not isinstance(loss_block._weight, (int, float)):
            raise MXNetError(f"{type(loss_block).__name__}: weight must be a number, got "
                             f"{loss_block._weight!r}")
        loss = loss * loss_block._weight
    return loss


class PoissonNLLLoss(Loss):
    """exp(pred) - target * pred (from_logits) or pred - target * log(pred + epsilon); with
    compute_full, plus Stirling's approximation of log(target!) where target > 1:
    target log(target) - target + 0.5 log(2 pi target). MXNet multiplies that term by
    (target > 1), which is NaN at target 0 (0 * log 0); it is selected here instead, so
    targets <= 1 add exactly 0, as the formula intends. The result is the mean over every
    element (MXNet's F.mean(loss)): one value for the batch, shape (1,)."""

    def __init__(self, weight=None, from_logits=True, batch_axis=0, compute_full=False,
                 **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits, self._compute_full = from_logits, compute_full

    def hybrid_forward(self, F, pred, target, sample_weight=None, epsilon=1e-08):
        target = _same_size(self, "target", target, pred)
        if self._from_logits:
            loss = F.exp(pred) - target * pred
        else:
            loss = pred - target * F.log(pred + epsilon)
        if self._compute_full:
            above = F.greater(target, 1)
            t = F.where(above, target, F.ones_like(target) * 2.0)   # log stays finite
            stirling = t * F.log(t) - t + 0.5 * F.log(2.0 * math.pi * t)
            loss = loss + F.where(above, stirling, F.zeros_like(stirling))
        # one number for the whole batch: MXNet 1.9.1 returns F.mean(loss) over every axis
        return F.mean(_weighted(self, F, loss, sample_weight))


class CosineEmbeddingLoss(Loss):
    """1 - cos(input1, input2) where label is 1, max(0, cos - margin) where it is -1, 0 for
    any other label; the cosine is taken along the last axis, its denominator at least
    1e-12. One loss per pair of shape (N, 1), weighted but not averaged: MXNet 1.9.1's
    formula, (1 - cos) * (label == 1) + max(0, (label == -1) * (cos - margin))."""

    def __init__(self, weight=None, batch_axis=0, margin=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, input1, input2, label, sample_weight=None):
        input1 = _same_size(self, "input1", input1, input2)
        norms = F.norm(input1, axis=-1) * F.norm(input2, axis=-1)
        dots = F.sum(input1 * input2, axis=-1)
        cos = F.reshape(dots / F.maximum(norms, 1e-12), shape=(-1, 1))
        label = _same_size(self, "label", label, cos)
        # the masks against ones_like: an mx.sym Symbol takes no number there; max(0, x) as
        # relu: MXNet's broadcast_maximum(0, x) passes no gradient at the tie either
        one = F.ones_like(label)
        loss = (1.0 - cos) * F.equal(label, one) + \
            F.relu(F.equal(label, -one) * (cos - self._margin))
        return _weighted(self, F, loss, sample_weight)


class CTCLoss(Loss):
    """Connectionist Temporal Classification: -log of the total probability of every
    alignment of `label` to softmax(pred) over time (Graves et al. 2006), one per sample.

    pred is unnormalized, (N, T, C) for layout 'NTC' or (T, N, C) for 'TNC'; the last class
    C-1 is the blank (MXNet's blank_label='last'). label holds 0-based classes, (N, L) for
    label_layout 'NT' or (L, N) for 'TN', padded with -1; without label_lengths a label ends at
    its first -1. pred_lengths (N,) limits the time steps each sample uses.

    The forward (alpha) recursion over the extended label (blank, l1, blank, l2, ..., blank)
    in log space, unrolled over the static T as nd ops: each step is a three-way logsumexp of
    the state, its left neighbour and (between different labels) the one two to the left.
    Every length mask comes from comparisons on arrays, never from reading them, so the loss
    compiles and its gradient is autodiff's."""

    def __init__(self, layout='NTC', label_layout='NT', weight=None, **kwargs):
        if layout not in ("NTC", "TNC"):
            raise MXNetError(f"CTCLoss: only 'NTC' and 'TNC' layouts for pred are supported, "
                             f"got {layout!r}")
        if label_layout not in ("NT", "TN"):
            raise MXNetError(f"CTCLoss: only 'NT' and 'TN' layouts for label are supported, "
                             f"got {label_layout!r}")
        self._layout, self._label_layout = layout, label_layout
        super().__init__(weight, label_layout.find("N"), **kwargs)

    def hybrid_forward(self, F, pred, label, pred_lengths=None, label_lengths=None,
                       sample_weight=None):
        if not isinstance(pred, NDArray) and has_symbols((pred, label)):
            # (mx.sym Symbols, for a Module: shapes come at bind, so the CTCLoss operator,
            # as MXNet's loss calls it, checks them there)
            if self._layout == "NTC":
                pred = F.swapaxes(pred, 0, 1)
            if self._batch_axis == 1:
                label = F.swapaxes(label, 0, 1)
            loss = F.CTCLoss(pred, label, pred_lengths, label_lengths,
                             use_data_lengths=pred_lengths is not None,
                             use_label_lengths=label_lengths is not None, blank_label="last")
            return _weighted(self, F, loss, sample_weight)
        if pred.ndim != 3 or label.ndim != 2:
            raise MXNetError(f"CTCLoss: pred must be 3-d ({self._layout}) and label 2-d "
                             f"({self._label_layout}), got pred {_describe(pred)}, label "
                             f"{_describe(label)}")
        if self._layout == "NTC":
            pred = F.swapaxes(pred, 0, 1)
        if self._batch_axis == 1:
            label = F.swapaxes(label, 0, 1)
        N = pred.shape[1]
        if label.shape[0] != N:
            raise MXNetError(f"CTCLoss: label {_describe(label)} ({self._label_layout}) has a "
                             f"batch of {label.shape[0]}, pred has {N}")
        for name, x in (("pred_lengths", pred_lengths), ("label_lengths", label_lengths)):
            if x is not None and x.size != N:
                raise MXNetError(f"CTCLoss: {name} {_describe(x)} must have one entry per "
                                 f"sample ({N})")
        loss = ctc_nll(F, pred, label, pred_lengths, label_lengths)
        return _weighted(self, F, loss, sample_weight)


def _const(F, values, dtype):
    """A constant array of the given values, made from shapes alone."""
    return F.array(np.ascontiguousarray(values), dtype=dtype)


class SDMLLoss(Loss):
    """Batchwise Smoothed Deep Metric Learning (Bonadiman et al. 2019): row i of x1 is paired
    with row i of x2 and every other row of x2 is a negative. The loss is KLDivLoss between
    log_softmax(-squared distances) over the batch and the identity smoothed to
    1 - smoothing_parameter on the diagonal (the rest spread evenly), one value per row.
    As in MXNet, `weight` is stored but not applied."""

    def __init__(self, smoothing_parameter=0.3, weight=1., batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self.kl_loss = KLDivLoss(from_logits=True)
        self.smoothing_parameter = smoothing_parameter

    def hybrid_forward(self, F, x1, x2):
        if x1.ndim != 2 or x1.shape != x2.shape or x1.shape[0] < 2:
            raise MXNetError(f"SDMLLoss: x1 and x2 must be (batch_size >= 2, dim) of one shape, "
                             f"got x1 {_describe(x1)}, x2 {_describe(x2)}")
        n = x1.shape[0]
        gold = np.eye(n)
        labels = gold * (1 - self.smoothing_parameter) \
            + (1 - gold) * self.smoothing_parameter / (n - 1)
        distances = F.sum(F.square(F.expand_dims(x1, axis=1) - F.expand_dims(x2, axis=0)),
                          axis=2)
        return self.kl_loss(F.log_softmax(-distances, axis=1), _const(F, labels, x1.dtype))
