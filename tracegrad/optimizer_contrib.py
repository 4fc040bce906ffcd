"""`mx.optimizer.contrib`: GroupAdaGrad, AdaGrad with one learning rate per row (MXNet
1.9.1's python/mxnet/optimizer/contrib.py, registered as 'groupadagrad').

Its state is one accumulated squared gradient per row (shape (rows, 1)), which the fused
update declares (`fused_state_shapes`), so Trainer.step still updates every parameter in one
native call.
"""
import numpy as np

from .base import MXNetError
from .optimizer import Optimizer, register

__all__ = ["GroupAdaGrad"]


@register
class GroupAdaGrad(Optimizer):
    """g = clip(rescale_grad * grad); history += mean(g^2, axis=1, keepdims=True);
    w -= lr * g / sqrt(history + eps). 2-D weights only; weight decay is not supported."""

    def __init__(self, eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = float(eps)

    def create_state(self, index, weight):
        if weight.ndim != 2:
            raise MXNetError(f"GroupAdaGrad: parameter {index} has shape {weight.shape}; only "
                             f"2-D weights have rows to share a learning rate")
        return np.zeros((weight.shape[0], 1), dtype=weight.dtype)

    def fused_state_shapes(self, weight_shape, n_states):
        return ((weight_shape[0], 1),) * n_states

    def _numbers(self, index):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        if wd != 0:
            raise MXNetError(f"GroupAdaGrad: weight decay is not supported (parameter {index} "
                             f"has wd {wd})")
        return lr

    def update(self, index, weight, grad, state):
        lr = self._numbers(index)
        g = self._scaled(grad)
        state += np.mean(g * g, axis=1, keepdims=True)
        weight -= lr * g / np.sqrt(state + self.float_stable_eps)

    def fused_structure(self):
        return (self._clipping(),)

    def fused_scalars(self, index):
        lr = self._numbers(index)
        return (lr, self.rescale_grad, self.clip_gradient or 0.0, self.float_stable_eps)

    def fused_rule(self, b, weight, grad, states, s):
        lr, rescale, clip, eps = s
        g = b.mul(grad, rescale)
        if self._clipping():
            g = self._fused_clip(b, g, clip)
        rows, cols = weight.type.shape
        mean = b.div(b.reshape(b.sum(b.mul(g, g), axes=(1,)), shape=(rows, 1)),
                     b.const(float(cols), like=g))
        history = b.add(states[0], mean)
        return b.sub(weight, b.div(b.mul(lr, g), b.sqrt(b.add(history, eps)))), [history]
