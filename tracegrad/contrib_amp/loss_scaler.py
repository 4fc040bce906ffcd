"""AMP's dynamic loss scaler (MXNet 1.9.1's mxnet.contrib.amp.loss_scaler.LossScaler).

The loss is multiplied by `loss_scale` before backward so that small float16 gradients do not
flush to zero; Trainer divides it out again through rescale_grad. A gradient that overflowed
(inf or NaN anywhere) makes Trainer skip that update and halves the scale; every
`_scale_seq_len` clean steps in a row double it, up to `_max_loss_scale`.

The new scale takes effect one check late, as in MXNet: has_overflow first adopts the scale the
previous check decided (`_next_loss_scale`), then decides the next one. So after an overflow,
`loss_scale` still reads the old value until the following step's check.
"""
import logging
import math

import numpy as np


class LossScaler:
    """Dynamic loss scaling: starts at 2**16, halves on overflow, doubles after 2000 clean
    steps, never above 2**24. The attributes are MXNet's (scripts and tests set them)."""

    def __init__(self):
        self._loss_scale = 2.0 ** 16
        self._next_loss_scale = self._loss_scale
        self._max_loss_scale = 2.0 ** 24
        self._scale_seq_len = 2000
        self._unskipped = 0

    @property
    def loss_scale(self):
        return self._loss_scale

    def has_overflow(self, params):
        """Whether any gradient of `params` (Parameters) holds inf or NaN; updates the scale
        as described in the module docstring."""
        overflow = not all(map(_finite, _gradients(params)))
        self._loss_scale = self._next_loss_scale
        if overflow:
            self._next_loss_scale = self._loss_scale / 2.0
            self._unskipped = 0
            logging.info("AMP: decreasing loss scale to %f", self._next_loss_scale)
        else:
            self._unskipped += 1
        if self._unskipped == self._scale_seq_len:
            self._unskipped = 0
            self._next_loss_scale = min(self._max_loss_scale, self._loss_scale * 2.0)
            logging.info("AMP: increasing loss scale to %f", self._next_loss_scale)
        return overflow


def _gradients(params):
    """The gradient buffer of each parameter that has one (its first copy's, as MXNet reads
    p._grad[0]: copies on other contexts hold the same sum after allreduce)."""
    for p in params:
        data = p._data
        if p.grad_req == "null" or data is None or data._var is None:
            continue
        grad = data._var.grad
        if grad is not None:
            yield grad


def _finite(grad):
    """One pass over the gradient: a float64 sum is finite exactly when every element is
    (inf and NaN propagate; finite float16/float32 values cannot overflow it)."""
    if grad.dtype.kind != "f":
        return True
    with np.errstate(over="ignore", invalid="ignore"):    # (inf - inf: NaN, as it should)
        return math.isfinite(np.add.reduce(grad, axis=None, dtype=np.float64))
