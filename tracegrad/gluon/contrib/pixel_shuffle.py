"""PixelShuffle1D/2D/3D (MXNet 1.9.1's gluon.contrib.nn): upsampling by regrouping channels.

(N, f1*...*fd*C, S1, ..., Sd) -> (N, C, S1*f1, ..., Sd*fd): the channel axis is split into
(C, f1, ..., fd) and each factor is interleaved after its spatial axis. A reshape, one
transpose and a reshape, so it hybridizes and differentiates to any order.
"""
import math

from ... import nd
from ..block import HybridBlock


class _PixelShuffle(HybridBlock):
    _dims = None

    def __init__(self, factor):
        super().__init__()
        try:
            factors = (int(factor),) * self._dims
        except TypeError:
            factors = tuple(int(f) for f in factor)
        if len(factors) != self._dims or min(factors) < 1:
            raise ValueError(f"{type(self).__name__}: factor must be a positive int or "
                             f"{self._dims} positive ints, got {factor!r}")
        self._factors = factors

    def hybrid_forward(self, F, x):
        d, name = self._dims, type(self).__name__
        if x.ndim != d + 2:
            raise ValueError(f"{name}: expects (N, C, {d} spatial axes), got shape "
                             f"{tuple(x.shape)}")
        n, channels, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
        group = math.prod(self._factors)
        if channels % group:
            raise ValueError(f"{name}: {channels} channels are not divisible by the product "
                             f"of the factors {self._factors} ({group}), input shape "
                             f"{tuple(x.shape)}")
        c = channels // group
        x = nd.reshape(x, (n, c) + self._factors + spatial)
        # (N, C, f1..fd, S1..Sd) -> (N, C, S1, f1, ..., Sd, fd)
        perm = (0, 1) + sum(((2 + d + k, 2 + k) for k in range(d)), ())
        x = nd.transpose(x, axes=perm)
        return nd.reshape(x, (n, c) + tuple(s * f for s, f in zip(spatial, self._factors)))

    def __repr__(self):
        factors = self._factors[0] if self._dims == 1 else self._factors
        return f"{type(self).__name__}({factors})"


class PixelShuffle1D(_PixelShuffle):
    """(N, f*C, W) -> (N, C, W*f)."""
    _dims = 1


class PixelShuffle2D(_PixelShuffle):
    """(N, f1*f2*C, H, W) -> (N, C, H*f1, W*f2)."""
    _dims = 2


class PixelShuffle3D(_PixelShuffle):
    """(N, f1*f2*f3*C, D, H, W) -> (N, C, D*f1, H*f2, W*f3)."""
    _dims = 3
