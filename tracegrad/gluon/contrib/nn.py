"""`gluon.contrib.nn`: Concurrent / HybridConcurrent (children on one input, outputs
concatenated), Identity and PixelShuffle1D/2D/3D, as in MXNet 1.9.1."""
from ..block import HybridBlock
from ..nn.basic_layers import HybridSequential, Sequential


class Concurrent(Sequential):
    """Runs every child on the same input and concatenates their outputs along `axis`."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def forward(self, x):
        from ... import nd
        return nd.concat(*[block(x) for block in self._children.values()], dim=self.axis)


class HybridConcurrent(HybridSequential):
    """Concurrent of HybridBlocks (hybridizable)."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def forward(self, x):
        from ... import nd
        return nd.concat(*[block(x) for block in self._children.values()], dim=self.axis)


class Identity(HybridBlock):
    """Returns its input."""

    def hybrid_forward(self, F, x):
        return x


from .pixel_shuffle import PixelShuffle1D, PixelShuffle2D, PixelShuffle3D  # noqa: E402

__all__ = ["Concurrent", "HybridConcurrent", "Identity", "PixelShuffle1D", "PixelShuffle2D",
           "PixelShuffle3D"]
