"""`gluon.contrib.nn`: Concurrent / HybridConcurrent (children on one input, outputs
concatenated), Identity and PixelShuffle1D/2D/3D, as in MXNet 1.9.1."""
from ..block import HybridBlock
from ..nn.basic_layers import BatchNorm, Embedding, HybridSequential, Sequential


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
        from ...symbol.symbol import Symbol
        if isinstance(x, Symbol):   # called on mx.sym (a model zoo net built as a Symbol)
            from ... import symbol as F
        else:
            from ... import nd as F
        return F.concat(*[block(x) for block in self._children.values()], dim=self.axis)


class Identity(HybridBlock):
    """Returns its input."""

    def hybrid_forward(self, F, x):
        return x


from .pixel_shuffle import PixelShuffle1D, PixelShuffle2D, PixelShuffle3D  # noqa: E402

__all__ = ["Concurrent", "HybridConcurrent", "Identity", "SyncBatchNorm", "SparseEmbedding", "PixelShuffle1D", "PixelShuffle2D",
           "PixelShuffle3D"]


class SyncBatchNorm(BatchNorm):
    """MXNet's cross-device batch normalization: the statistics of the batch across the
    devices of one process. tracegrad computes on one CPU device, so that batch is this
    call's and SyncBatchNorm is BatchNorm (num_devices is accepted, as MXNet's default
    of one device per process here). Across distributed workers neither syncs, as in MXNet."""

    def __init__(self, in_channels=0, num_devices=None, momentum=0.9, epsilon=1e-5,
                 center=True, scale=True, use_global_stats=False, beta_initializer="zeros",
                 gamma_initializer="ones", running_mean_initializer="zeros",
                 running_variance_initializer="ones", **kwargs):
        super().__init__(axis=1, momentum=momentum, epsilon=epsilon, center=center,
                         scale=scale, use_global_stats=use_global_stats,
                         beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer,
                         running_mean_initializer=running_mean_initializer,
                         running_variance_initializer=running_variance_initializer,
                         in_channels=in_channels, **kwargs)
        self._num_devices = num_devices


class SparseEmbedding(Embedding):
    """Embedding(sparse_grad=True): its weight gradient is row_sparse, listing the rows
    looked up (sparse_rows.py)."""

    def __init__(self, input_dim, output_dim, dtype="float32", weight_initializer=None,
                 **kwargs):
        super().__init__(input_dim, output_dim, dtype=dtype,
                         weight_initializer=weight_initializer, sparse_grad=True, **kwargs)

