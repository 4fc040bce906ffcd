"""MXNet's loss-layer ops as a symbolic graph uses them, beside nd's *Output heads.

A loss layer's backward ignores the gradient that arrives at its output: SoftmaxOutput gives
grad_scale * (softmax - one_hot(label)) / normalization, MakeLoss gives grad_scale /
normalization. nd builds them as composites whose value is the forward result and whose
gradient under a head gradient of ones is exactly MXNet's (nd_legacy._head), so they
differentiate and compile like any composite; the Executor (symbol/executor.py) therefore
feeds ones to every head whose op is a loss layer, whatever `backward(out_grads)` says, which
is what MXNet does.
"""
import numpy as np

from ..array import F
from ..base import MXNetError
from ..ir.types import dtype_name
from ..nd_legacy import _head


def MakeLoss(data, grad_scale=1.0, valid_thresh=0.0, normalization="null", **kwargs):
    """data in the forward pass; grad_scale (divided by the batch size for 'batch', by the
    number of entries above valid_thresh for 'valid') as its gradient."""
    if kwargs:
        from ..op_kwargs import redo
        return redo(MakeLoss, locals())
    if normalization not in ("null", "batch", "valid"):
        raise MXNetError(f"MakeLoss: normalization must be 'null', 'batch' or 'valid', got "
                         f"{normalization!r}")
    share = F.mul(data, float(grad_scale))
    if normalization == "batch":
        share = F.div(share, float(data.shape[0]))
    elif normalization == "valid":
        dt = dtype_name(np.dtype(data.dtype))
        valid = F.cast(F.gt(F.stop_gradient(data), float(valid_thresh)), dtype=dt)
        count = F.sum(valid, axes=tuple(range(data.ndim)))
        share = F.div(share, F.stop_gradient(F.maximum(count, 1.0)))
    return _head(data, share)


def make_loss(data, **kwargs):
    """MXNet's make_loss: MakeLoss with its defaults (gradient ones)."""
    if kwargs:
        from ..op_kwargs import redo
        return redo(make_loss, locals())
    return MakeLoss(data)
