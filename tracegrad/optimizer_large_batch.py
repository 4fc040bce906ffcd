"""`mx.optimizer`: LARS and LBSGD, SGD with a learning rate scaled per layer for large batches.

Both follow optimizer.py's pattern: `update` on numpy arrays (weight and states written in
place) and the same formula in IR (`fused_rule`) with its per-step numbers from
`fused_scalars`, so Trainer.step updates every parameter in one native call. The layer's norms
(LARS's trust ratio, LBSGD's 'lars' warmup) are reductions inside that call.

MXNet 1.9.1's formulas (python/mxnet/optimizer/optimizer.py, src/operator/optimizer_op-inl.h,
src/operator/contrib/multi_lars-inl.h), with these differences, each a choice where MXNet's
result depends on how its Updater happens to group parameters or on a bug:
- LARS's momentum correction scales the momentum by lr(this step) / lr(last step) for every
  parameter of the step; MXNet computes the ratio once per group of
  MXNET_OPTIMIZER_AGGREGATION_SIZE parameters, so its later groups of a step see a ratio of 1.
- LBSGD accumulates a copy of each gradient (MXNet keeps a reference to the first gradient of
  a macro-batch, which the next backward overwrites) and rejects an unknown warmup_strategy
  (MXNet silently uses a multiplier of 1).
"""
import math

import numpy as np

from .base import MXNetError
from .optimizer import Optimizer, register
from .optimizer_more import _ClipIfSet


def _number(owner, name, value, low=None, integral=False, low_open=False):
    """`value` as a float checked against `low` (a clear error naming the optimizer)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MXNetError(f"{owner}: {name} must be a number, got {value!r}") from None
    if math.isnan(x) or (low is not None and (x < low or (low_open and x == low))) or (
            integral and x != int(x)):
        kind = "an integer" if integral else "a number"
        bound = "" if low is None else f" {'>' if low_open else '>='} {low}"
        raise MXNetError(f"{owner}: {name} must be {kind}{bound}, got {value!r}")
    return x


def _sum_sq(x):
    """sum(x*x) in x's dtype (MXNet's multi_sum_sq / l2 norm, squared)."""
    x = x.ravel()
    return float(np.dot(x, x))


@register
class LARS(_ClipIfSet, Optimizer):
    """SGD (momentum, weight decay) whose learning rate per layer is scaled by the trust ratio
    eta * ||w|| / (||g|| * rescale_grad + wd * ||w|| + eps) (unless either norm is 0, or the
    parameter's name ends in gamma, beta or bias). With momentum_correction the momentum is
    scaled by lr_t / lr_(t-1) when a schedule changes the learning rate."""
    master_last = True      # (MXNet's LARS: (momentum, master copy))

    def __init__(self, momentum=0.0, lazy_update=True, eta=0.001, eps=0,
                 momentum_correction=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = _number("LARS", "momentum", momentum)
        self.lazy_update = lazy_update
        self.momentum_correction = bool(momentum_correction)
        self.eta = _number("LARS", "eta", eta, low=0.0)
        self.eps = _number("LARS", "eps", eps, low=0.0)
        self.aggregate_num = 4      # MXNet's Updater hands LARS lists of parameters
        self.last_lr = self.cur_lr = None
        self._lr_step = None        # the num_update cur_lr was read at
        self._saved = None          # the step's lr bookkeeping before fused_scalar_vector

    def _no_decay(self, name):
        """LARS's set_wd_mult: only names ending in _weight keep their weight decay."""
        return not name.endswith("_weight")

    def create_state(self, index, weight):
        return np.zeros_like(weight) if self.momentum != 0.0 else None

    def _scaled_layer(self, index):
        """Whether the trust ratio applies: not to gamma, beta or bias (by param_idx2name,
        else the index as a string, as MXNet names them)."""
        name = self.idx2name.get(index, str(index))
        return not (name.endswith("gamma") or name.endswith("beta") or name.endswith("bias"))

    def _numbers(self, index):
        """Count the update; (lr, wd, momentum) of this update, the step's learning rates
        (cur_lr, last_lr) advanced once per num_update."""
        self._update_count(index)
        lr = self.learning_rate
        if self._lr_step != self.num_update:
            self.last_lr = lr if self.cur_lr is None else self.cur_lr
            self.cur_lr, self._lr_step = lr, self.num_update
        momentum = 0.0
        if self.momentum > 0:
            momentum = self.momentum
            if self.momentum_correction and self.last_lr != 0:
                momentum = self.momentum * (self.cur_lr / self.last_lr)
        return self._get_lr(index), self._get_wd(index), momentum

    def _trust(self, lr, wd, w_sq, g_sq):
        w_norm = math.sqrt(w_sq)
        if w_norm > 0.0 and g_sq > 0.0:
            return lr * self.eta * w_norm / (math.sqrt(g_sq) * self.rescale_grad
                                             + wd * w_norm + self.eps)
        return lr

    def update(self, index, weight, grad, state):
        lr, wd, momentum = self._numbers(index)
        if self._scaled_layer(index):
            lr = self._trust(lr, wd, _sum_sq(weight), _sum_sq(grad))
        g = self._scaled(grad)
        g *= lr
        if state is None:
            state = (-(lr * wd)) * weight
        else:
            state *= momentum
            state -= (lr * wd) * weight
        state -= g
        weight += state

    def fused_structure(self):
        return (self._clipping(),)

    def fused_scalars(self, index):
        lr, wd, momentum = self._numbers(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, momentum,
                1.0 if self._scaled_layer(index) else 0.0, self.eta, self.eps)

    def fused_scalar_vector(self, indices):
        self._saved = (self.last_lr, self.cur_lr, self._lr_step)
        return super().fused_scalar_vector(indices)

    def uncount(self, indices, num_update):
        super().uncount(indices, num_update)
        self.last_lr, self.cur_lr, self._lr_step = self._saved

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, momentum, scaled, eta, eps = s
        axes = tuple(range(len(weight.type.shape)))
        w_norm = b.sqrt(b.sum(b.mul(weight, weight), axes=axes))
        g_sq = b.sum(b.mul(grad, grad), axes=axes)
        zero = b.const(0.0, like=w_norm)
        trust = b.div(b.mul(b.mul(lr, eta), w_norm),
                      b.add(b.add(b.mul(b.sqrt(g_sq), rescale), b.mul(wd, w_norm)), eps))
        valid = b.mul(b.mul(b.cast(b.gt(w_norm, zero), dtype=w_norm.type.dtype),
                            b.cast(b.gt(g_sq, zero), dtype=w_norm.type.dtype)), scaled)
        lr = b.where(b.gt(valid, zero), trust, lr)
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        decay = b.mul(b.mul(lr, wd), weight)
        if states:
            mom = b.sub(b.sub(b.mul(states[0], momentum), decay), b.mul(g, lr))
        else:
            mom = b.sub(b.neg(decay), b.mul(g, lr))
        return b.add(weight, mom), ([mom] if states else [])


_STRATEGIES = ("linear", "power2", "sqrt", "lars")


@register
class LBSGD(_ClipIfSet, Optimizer):
    """Large-batch SGD: gradients of `batch_scale` updates are averaged into one SGD step
    (the updates in between leave the weight alone), its learning rate multiplied by a warmup
    that grows from 1 to batch_scale over warmup_epochs * updates_per_epoch updates
    ('linear', 'power2', 'sqrt'), or by the layer's clipped ratio
    sqrt(||w||^2 / (||g||^2 + wd*||w||^2)) ('lars')."""

    def __init__(self, momentum=0.0, multi_precision=False, warmup_strategy="linear",
                 warmup_epochs=5, batch_scale=1, updates_per_epoch=32, begin_epoch=0,
                 num_epochs=60, **kwargs):
        super().__init__(multi_precision=multi_precision, **kwargs)
        if warmup_strategy not in _STRATEGIES:
            raise MXNetError(f"LBSGD: warmup_strategy must be one of {list(_STRATEGIES)}, "
                             f"got {warmup_strategy!r}")
        self.momentum = _number("LBSGD", "momentum", momentum)
        self.warmup_strategy = warmup_strategy
        self.warmup_epochs = _number("LBSGD", "warmup_epochs", warmup_epochs, low=0)
        self.batch_scale = int(_number("LBSGD", "batch_scale", batch_scale, low=1,
                                       integral=True))
        self.updates_per_epoch = int(_number("LBSGD", "updates_per_epoch", updates_per_epoch,
                                             low=1, integral=True))
        begin_epoch = int(_number("LBSGD", "begin_epoch", begin_epoch, low=0, integral=True))
        self.init_updates = begin_epoch * self.updates_per_epoch
        self.num_epochs = num_epochs
        self.num_cums = {}          # index -> updates seen (from init_updates)
        self._saved = None          # num_cums before fused_scalar_vector

    def create_state(self, index, weight):
        """The momentum (when momentum != 0); with batch_scale > 1 a tuple ending in the
        gradient accumulated over the macro-batch."""
        mom = np.zeros_like(weight) if self.momentum != 0.0 else None
        if self.batch_scale == 1:
            return mom
        return (np.zeros_like(weight),) if mom is None else (mom, np.zeros_like(weight))

    def _get_lbmult(self, nup):
        """The warmup multiplier at update `nup` (MXNet's _get_lbmult)."""
        nwup = self.warmup_epochs * self.updates_per_epoch
        maxmult = float(self.batch_scale)
        if nup >= nwup:
            return maxmult
        if nwup <= 1:
            return 1.0
        if self.warmup_strategy == "linear":
            return 1.0 + (maxmult - 1) * nup / nwup
        if self.warmup_strategy == "power2":
            return 1.0 + (maxmult - 1) * (nup * nup) / (nwup * nwup)
        if self.warmup_strategy == "sqrt":
            return 1.0 + (maxmult - 1) * math.sqrt(float(nup) / nwup)
        return 1.0

    @staticmethod
    def _lars(w_sq, g_sq, wd):
        return min(max(math.sqrt(w_sq / (g_sq + wd * w_sq + 1e-18)), 0.01), 100.0)

    def _numbers(self, index):
        """(lr, wd, fires, multiplier) of this update; lr and wd are read before the update
        is counted, as MXNet's LBSGD does."""
        lr, wd = self._get_lr(index), self._get_wd(index)
        self._update_count(index)
        nup = self.num_cums[index] = self.num_cums.get(index, self.init_updates) + 1
        fires = nup % self.batch_scale == 0
        mult = self._get_lbmult(nup) if self.warmup_strategy != "lars" else 1.0
        return lr, wd, fires, mult

    def _momentum(self):
        return self.momentum if self.momentum > 0 else 0.0

    def update(self, index, weight, grad, state):
        lr, wd, fires, mult = self._numbers(index)
        # create_state's layout: the momentum or None (batch_scale 1), else a tuple ending in
        # the accumulated gradient
        accumulates = isinstance(state, tuple)
        mom = (state[0] if len(state) == 2 else None) if accumulates else state
        if accumulates:
            cum = state[-1]
            cum += grad
            if not fires:
                return
            g = cum / cum.dtype.type(self.batch_scale)
            cum[...] = 0
        else:
            g = grad
        if self.warmup_strategy == "lars":
            mult = self._lars(_sum_sq(weight), _sum_sq(g), wd)
        lr *= mult
        g = self._scaled(g)
        if mom is None:
            g *= lr
            weight *= 1.0 - lr * wd
            weight -= g
        else:
            mom *= self._momentum()
            mom -= (lr * wd) * weight
            g *= lr
            mom -= g
            weight += mom

    def fused_structure(self):
        return (self._clipping(), self.batch_scale > 1, self.warmup_strategy == "lars",
                self.momentum != 0.0)

    def fused_scalars(self, index):
        lr, wd, fires, mult = self._numbers(index)
        return (lr * mult, wd, self.rescale_grad, self.clip_gradient or 0.0,
                self._momentum(), 1.0 if fires else 0.0, float(self.batch_scale))

    def fused_scalar_vector(self, indices):
        self._saved = dict(self.num_cums)
        return super().fused_scalar_vector(indices)

    def uncount(self, indices, num_update):
        super().uncount(indices, num_update)
        self.num_cums = self._saved

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, momentum, fires, batch_scale = s
        # create_state's layout: [momentum] (batch_scale 1) or [momentum,] accumulated grad
        accumulates = self.batch_scale > 1
        mom = states[0] if len(states) == 1 + accumulates else None
        g = grad
        if accumulates:
            cum = b.add(states[-1], grad)
            g = b.div(cum, batch_scale)
        if self.warmup_strategy == "lars":
            axes = tuple(range(len(weight.type.shape)))
            w_sq = b.sum(b.mul(weight, weight), axes=axes)
            g_sq = b.sum(b.mul(g, g), axes=axes)
            ratio = b.sqrt(b.div(w_sq, b.add(b.add(g_sq, b.mul(wd, w_sq)),
                                              b.const(1e-18, like=w_sq))))
            ratio = b.minimum(b.maximum(ratio, b.const(0.01, like=w_sq)),
                              b.const(100.0, like=w_sq))
            lr = b.mul(lr, ratio)
        g = b.mul(g, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        g = b.mul(g, lr)
        if mom is None:
            new_w = b.sub(b.mul(weight, b.sub(b.const(1.0, like=weight), b.mul(lr, wd))), g)
            new_states = []
        else:
            mom = b.sub(b.sub(b.mul(mom, momentum), b.mul(b.mul(lr, wd), weight)), g)
            new_w = b.add(weight, mom)
            new_states = [mom]
        if not accumulates:
            return new_w, new_states
        fire = b.gt(fires, b.const(0.0, like=fires))
        keep = [b.where(fire, new, old) for new, old in zip([new_w, *new_states],
                                                            [weight, *states[:-1]])]
        cum = b.where(fire, b.const(0.0, like=cum), cum)
        return keep[0], keep[1:] + [cum]
