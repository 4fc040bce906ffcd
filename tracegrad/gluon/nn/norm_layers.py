"""GroupNorm and InstanceNorm layers (MXNet 1.9.1 gluon.nn): per-sample normalization over
groups of channels and the spatial axes, through nd.GroupNorm / nd.InstanceNorm."""
from ...base import MXNetError
from ..block import HybridBlock


def affine_params(block, size, center, scale, beta_initializer, gamma_initializer):
    """The `gamma` and `beta` (shape (size,), 0 = inferred at the first forward) of a
    normalization layer; a scale or shift that is off keeps its initial value (grad_req
    'null'), as MXNet's."""
    get = block.params.get
    with block.name_scope():
        block.gamma = get("gamma", grad_req="write" if scale else "null", shape=(size,),
                          init=gamma_initializer, allow_deferred_init=True)
        block.beta = get("beta", grad_req="write" if center else "null", shape=(size,),
                         init=beta_initializer, allow_deferred_init=True)


class GroupNorm(HybridBlock):
    """Splits the channels of (N, C, ...) into `num_groups` groups and normalizes each sample's
    group; gamma and beta have one entry per group, as in MXNet 1.x."""

    def __init__(self, num_groups=1, epsilon=1e-5, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self._num_groups, self._epsilon = num_groups, epsilon
        affine_params(self, num_groups, center, scale, beta_initializer, gamma_initializer)

    def hybrid_forward(self, F, x, gamma, beta):
        if x.ndim < 2 or x.shape[1] % self._num_groups:
            raise MXNetError(f"GroupNorm: input of shape {x.shape} does not have channels "
                             f"divisible into {self._num_groups} groups on axis 1")
        return F.GroupNorm(x, gamma, beta, num_groups=self._num_groups, eps=self._epsilon)

    def __repr__(self):
        return f"GroupNorm(num_groups={self._num_groups}, eps={self._epsilon})"


class InstanceNorm(HybridBlock):
    """Normalizes each (sample, channel) over the other axes; gamma and beta per channel
    (`axis`). MXNet's default scale=False leaves gamma at its initial ones, not learned."""

    def __init__(self, axis=1, epsilon=1e-5, center=True, scale=False,
                 beta_initializer="zeros", gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self._axis, self._epsilon = axis, epsilon
        affine_params(self, in_channels, center, scale, beta_initializer, gamma_initializer)

    def infer_shape(self, x, *args):
        self.gamma.shape = self.beta.shape = (x.shape[self._axis],)

    def hybrid_forward(self, F, x, gamma, beta):
        if x.shape[self._axis] != gamma.shape[0]:
            raise MXNetError(f"InstanceNorm: input of shape {x.shape} has {x.shape[self._axis]} "
                             f"channels on axis {self._axis}, expected {gamma.shape[0]}")
        if self._axis % x.ndim == 1:
            return F.InstanceNorm(x, gamma, beta, eps=self._epsilon)
        x = F.swapaxes(x, 1, self._axis)
        return F.swapaxes(F.InstanceNorm(x, gamma, beta, eps=self._epsilon), 1, self._axis)

    def __repr__(self):
        return f"InstanceNorm(axis={self._axis}, eps={self._epsilon})"
