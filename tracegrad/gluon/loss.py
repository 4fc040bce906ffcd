"""`gluon.loss`: losses as HybridBlocks written in nd ops and composites.

MXNet semantics: the per-element loss is multiplied by sample_weight (if given) and by the
constructor's `weight`, then averaged over every axis except `batch_axis`, giving one loss per
sample. backward() on that vector sums it.
"""
import math

import numpy as np

from ..array import F as _ops
from ..base import MXNetError
from ..ir import composites as C
from ..ir.types import dtype_name
from . import functional
from .block import HybridBlock


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
        if label.shape == pred.shape:
            return label
        if label.size != pred.size:
            raise MXNetError(f"label {_describe(label)} does not match prediction "
                             f"{_describe(pred)}")
        return _ops.reshape(label, shape=pred.shape)

    def _finish(self, F, loss, sample_weight, weight=None):
        if sample_weight is not None:
            loss = F.broadcast_mul(loss, sample_weight)
        weight = self._weight if weight is None else weight
        if weight is not None:
            if not isinstance(weight, (int, float)):
                raise MXNetError(f"{type(self).__name__}: weight must be a number, got "
                                 f"{weight!r}")
            loss = loss * weight
        return F.mean(loss, axis=self._batch_axis, exclude=True)

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

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = self._reshape_like(F, label, pred)
        loss = C.sigmoid_bce(_ops, pred, label, from_sigmoid=self._from_sigmoid)
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
