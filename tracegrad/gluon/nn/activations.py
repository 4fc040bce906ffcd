"""Activation layers: Activation(relu | sigmoid | tanh | softrelu | softsign) and LeakyReLU."""
from ...base import MXNetError
from ..block import HybridBlock

_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softrelu", "softsign")


class Activation(HybridBlock):
    """Applies an elementwise activation; its name prefix is the activation (relu0_)."""

    def __init__(self, activation, **kwargs):
        if activation not in _ACTIVATIONS:
            raise MXNetError(f"Activation: unknown activation {activation!r}; expected one of "
                             f"{', '.join(_ACTIVATIONS)}")
        self._act_type = activation
        super().__init__(**kwargs)

    def _alias(self):
        return self._act_type

    def hybrid_forward(self, F, x):
        return F.Activation(x, act_type=self._act_type)

    def __repr__(self):
        return f"Activation({self._act_type})"


class LeakyReLU(HybridBlock):
    """x for x > 0, alpha * x otherwise."""

    def __init__(self, alpha, **kwargs):
        if alpha < 0:
            raise MXNetError(f"LeakyReLU: alpha must be >= 0, got {alpha}")
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="leaky", slope=self._alpha)

    def __repr__(self):
        return f"LeakyReLU({self._alpha})"
