"""`mx.optimizer`: DCASGD, FTML, SGLD, Test and ccSGD, the rarely used rest of MXNet 1.9.1's
registry, with its formulas (python/mxnet/optimizer/optimizer.py; FTML's kernel in
src/operator/optimizer_op-inl.h).

Each follows optimizer.py's pattern: `update` on numpy arrays (weight and states written in
place) and the same formula in IR (`fused_rule`), so Trainer.step updates every parameter in
one native call. SGLD's noise is drawn from tracegrad's seeded generator (random.py) with one
key per parameter, taken in parameter order by `update` and by `fused_scalars` alike, so the
per-parameter and the fused update draw the same numbers.

Differences from MXNet: DCASGD with momentum works (MXNet's `if mom:` tests the truth of an
NDArray, which raises for more than one element); Test's state has the weight's dtype (MXNet
makes it float32); a negative clip_gradient means no clipping for DCASGD and SGLD too (as in
MXNet's kernels; their Python clip would swap the bounds).
"""
import math

import numpy as np

from . import random as _random
from .base import MXNetError
from .fused_update import key_scalars
from .ir.ops.random import RandomNormal
from .ir.types import dtype_name
from .optimizer import SGD, Optimizer, register
from .optimizer_more import _ClipIfSet


def _unit_interval(owner, name, value):
    """A float in [0, 1) (a decay rate of 1 divides by 1 - 1**t = 0)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MXNetError(f"{owner}: {name} must be a number in [0, 1), got {value!r}") \
            from None
    if not 0.0 <= x < 1.0:
        raise MXNetError(f"{owner}: {name} must be in [0, 1), got {value!r}")
    return x


@register
class DCASGD(Optimizer):
    """Delay-compensated SGD: step = -lr * (g + wd*w + lamda * g*g * (w - w_prev));
    mom = momentum*mom + step (or step itself without momentum); w_prev = w; w += mom.
    The state is (momentum, previous weight), or (previous weight,) without momentum."""

    def __init__(self, momentum=0.0, lamda=0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.lamda = float(momentum), float(lamda)
        self.weight_previous = {}

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return (weight.copy(),)
        return (np.zeros_like(weight), weight.copy())

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = self._scaled(grad)
        previous = state[-1]
        step = g + wd * weight
        step += self.lamda * g * g * (weight - previous)
        step *= -lr
        if len(state) == 2:
            mom = state[0]
            mom *= self.momentum
            mom += step
        else:
            mom = step
        previous[...] = weight
        weight += mom

    def fused_structure(self):
        return (self._clipping(),)

    fused_scalars_per_count = True

    def fused_scalars(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        return (lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.momentum,
                self.lamda)

    def fused_rule(self, b, weight, grad, states, s):
        lr, wd, rescale, clip, momentum, lamda = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        previous = states[-1]
        step = b.add(b.add(g, b.mul(wd, weight)),
                     b.mul(b.mul(b.mul(lamda, g), g), b.sub(weight, previous)))
        step = b.mul(step, b.neg(lr))
        if len(states) == 2:
            mom = b.add(b.mul(states[0], momentum), step)
            return b.add(weight, mom), [mom, weight]
        return b.add(weight, step), [weight]


@register
class FTML(_ClipIfSet, Optimizer):
    """Follow the Moving Leader: g = clip(rescale_grad*grad + wd*w);
    v = b2*v + (1-b2)*g^2; d_t = (1 - b1^t)/lr * (sqrt(v / (1 - b2^t)) + eps);
    z = b1*z + (1-b1)*g - (d_t - b1*d_(t-1))*w; w = -z/d_t. State (d, v, z)."""

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = _unit_interval("FTML", "beta1", beta1)
        self.beta2 = _unit_interval("FTML", "beta2", beta2)
        self.epsilon = float(epsilon)

    def create_state(self, index, weight):
        return tuple(np.zeros_like(weight) for _ in range(3))     # d, v, z

    def _numbers(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        if lr == 0:
            raise MXNetError(f"FTML: the learning rate of parameter {index} is 0 (FTML "
                             f"divides by it)")
        t = self._index_update_count[index]
        return lr, wd, 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t

    def update(self, index, weight, grad, state):
        lr, wd, corr1, corr2 = self._numbers(index)
        g = self._scaled_wd_clip_if_set(grad, weight, wd)
        d, v, z = state
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        d_t = corr1 / lr * (np.sqrt(v / corr2) + self.epsilon)
        z *= self.beta1
        z += (1.0 - self.beta1) * g
        z -= (d_t - self.beta1 * d) * weight
        d[...] = d_t
        np.divide(-z, d_t, out=weight)

    def _scaled_wd_clip_if_set(self, grad, weight, wd):
        g = grad * grad.dtype.type(self.rescale_grad)
        g += wd * weight
        if self._clipping():
            np.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return g

    def fused_structure(self):
        return (self._clipping(),)

    def fused_scalars(self, index):
        lr, wd, corr1, corr2 = self._numbers(index)
        return (corr1 / lr, wd, self.rescale_grad, self.clip_gradient or 0.0, self.beta1,
                1.0 - self.beta1, self.beta2, 1.0 - self.beta2, corr2, self.epsilon)

    def fused_rule(self, b, weight, grad, states, s):
        corr1_lr, wd, rescale, clip, beta1, one_m_b1, beta2, one_m_b2, corr2, eps = s
        g = b.add(b.mul(grad, rescale), b.mul(wd, weight))
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        d, v, z = states
        v = b.add(b.mul(v, beta2), b.mul(one_m_b2, b.mul(g, g)))
        d_t = b.mul(corr1_lr, b.add(b.sqrt(b.div(v, corr2)), eps))
        z = b.sub(b.add(b.mul(z, beta1), b.mul(one_m_b1, g)),
                  b.mul(b.sub(d_t, b.mul(beta1, d)), weight))
        return b.div(b.neg(z), d_t), [d_t, v, z]


@register
class SGLD(Optimizer):
    """Stochastic Gradient Langevin Dynamics: w += -lr/2 * (g + wd*w) + N(0, sqrt(lr)),
    g = clip(rescale_grad * grad). The noise comes from mx.random's seeded generator."""
    fused_keys = 1      # one random key per parameter (fused_update.random_key)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._counter_before = None

    def _numbers(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        if not lr >= 0:
            raise MXNetError(f"SGLD: the learning rate of parameter {index} is {lr}; it must "
                             f"be >= 0 (the noise's standard deviation is sqrt(lr))")
        return lr, wd

    def update(self, index, weight, grad, state):
        lr, wd = self._numbers(index)
        g = self._scaled(grad)
        g += wd * weight
        g *= -lr / 2
        weight += g
        key = np.array(_random._take_counter(), dtype=np.int64)
        noise = RandomNormal.impl(key, shape=weight.shape, dtype=dtype_name(weight.dtype))
        noise *= weight.dtype.type(math.sqrt(lr))
        weight += noise

    def fused_structure(self):
        return (self._clipping(),)

    def fused_scalars(self, index):
        lr, wd = self._numbers(index)
        return (-lr / 2, wd, self.rescale_grad, self.clip_gradient or 0.0, math.sqrt(lr),
                *key_scalars(*_random._take_counter()))

    def fused_scalar_vector(self, indices):
        self._counter_before = _random._counter_now()
        return super().fused_scalar_vector(indices)

    def uncount(self, indices, num_update):
        super().uncount(indices, num_update)
        # the call did not run: its draws are given back unless something drew since
        _random._give_back_counter(self._counter_before + len(indices), len(indices))

    def fused_rule(self, b, weight, grad, states, s):
        neg_half_lr, wd, rescale, clip, sqrt_lr, key = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        w = b.add(weight, b.mul(b.add(g, b.mul(wd, weight)), neg_half_lr))
        noise = b.random_normal(key, shape=tuple(weight.type.shape), dtype=weight.type.dtype)
        return b.add(w, b.mul(noise, sqrt_lr)), []


@register
class Test(Optimizer):
    """MXNet's test optimizer: w += rescale_grad * grad; the state is a copy of the new
    weight. It reads no learning rate and counts no updates."""

    def create_state(self, index, weight):
        return np.zeros_like(weight)

    def update(self, index, weight, grad, state):
        weight += grad * grad.dtype.type(self.rescale_grad)
        state[...] = weight

    def fused_structure(self):
        return ()

    def fused_scalars(self, index):
        return (self.rescale_grad,)

    def fused_rule(self, b, weight, grad, states, s):
        new = b.add(weight, b.mul(grad, s[0]))
        return new, [b.add(new, b.const(0.0, like=new))] if states else []


@register
class ccSGD(SGD):  # noqa: N801 - MXNet's name
    """[DEPRECATED] The same as SGD, kept for code that names it."""
