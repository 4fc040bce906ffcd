"""nd.contrib's AdamW updates (MXNet 1.9.1 src/operator/contrib/adamw): adamw_update,
mp_adamw_update and their multi-tensor forms, as GluonNLP's BERT optimizer calls them.

    g = clip(rescale_grad * grad)                       (clip_gradient < 0: no clipping)
    mean = beta1 * mean + (1 - beta1) * g
    var = beta2 * var + (1 - beta2) * g^2
    w = w - eta * (lr * mean / (sqrt(var) + epsilon) + wd * w)

rescale_grad is an NDArray (a number is made one): when it is 0, NaN or infinite the update
is skipped and nothing is written (the loss scaler's overflow step). The mp_ forms update the
float32 master copy weight32 and write the weight as its rounding; the states are float32.
The kernels write their states in place and run eagerly (optimizer code, not a graph).
"""
import numpy as np

from . import nd
from .array import NDArray
from .base import MXNetError
from .nd_optimizer_ops import _buffers, _check_outs, _mp_buffers, _result, _store, _tuple
from .op_kwargs import redo as _redo

__all__ = ["adamw_update", "mp_adamw_update", "multi_adamw_update", "multi_mp_adamw_update"]

_F32 = np.dtype(np.float32)


def _scale(op, rescale_grad):
    """rescale_grad as a float32 number, None when MXNet skips the update (0, NaN, inf)."""
    if isinstance(rescale_grad, NDArray):
        if rescale_grad.size != 1:
            raise MXNetError(f"{op}: rescale_grad must hold one number, got shape "
                             f"{tuple(rescale_grad.shape)}")
        rescale_grad = rescale_grad.asnumpy().reshape(())
    scale = np.float32(rescale_grad)
    return None if scale == 0 or not np.isfinite(scale) else scale


def _step(w, g, mean, var, scale, lr, eta, wd, beta1, beta2, epsilon, clip_gradient):
    """The new (weight, mean, var) in float32, as MXNet's kernel computes them."""
    lr, eta, wd, beta1, beta2, epsilon, clip_gradient = (
        np.float32(x) for x in (lr, eta, wd, beta1, beta2, epsilon, clip_gradient))
    g = scale * g.astype(np.float32)
    if clip_gradient >= 0:
        g = np.clip(g, -clip_gradient, clip_gradient)
    mean = beta1 * mean + (np.float32(1) - beta1) * g
    var = beta2 * var + (np.float32(1) - beta2) * g * g
    w = w - eta * (lr * mean / (np.sqrt(var) + epsilon) + wd * w)
    return w, mean, var


def _unchanged(op, weight, out):
    """A skipped update: the weight as it is (written into `out` when another array)."""
    if out is None:
        return weight.copy()
    if out is not weight:
        out[:] = weight
    return out


def adamw_update(weight, grad, mean, var, rescale_grad, lr, eta, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, wd=0.0, clip_gradient=-1.0, out=None, name=None, **kwargs):
    if kwargs:
        return _redo(adamw_update, locals())
    op = "adamw_update"
    w, g, m, v = _buffers(op, weight, grad, mean, var)     # (one dtype, as MXNet's kernel)
    scale = _scale(op, rescale_grad)
    if scale is None:
        return _unchanged(op, weight, out)
    w, m, v = _step(w.astype(np.float32), g, m.astype(np.float32), v.astype(np.float32),
                    scale, lr, eta, wd, beta1, beta2, epsilon, clip_gradient)
    _store(mean, m.astype(mean.dtype))
    _store(var, v.astype(var.dtype))
    return _result(op, weight, w, out)


def mp_adamw_update(weight, grad, mean, var, weight32, rescale_grad, lr, eta, beta1=0.9,
                    beta2=0.999, epsilon=1e-8, wd=0.0, clip_gradient=-1.0, out=None, name=None,
                    **kwargs):
    if kwargs:
        return _redo(mp_adamw_update, locals())
    op = "mp_adamw_update"
    _, g, m, v, w32 = _mp_buffers(op, ("mean", "var", "weight32"), weight, grad, mean, var,
                                  weight32)
    scale = _scale(op, rescale_grad)
    if scale is None:
        return _unchanged(op, weight, out)
    w32, m, v = _step(w32, g, m, v, scale, lr, eta, wd, beta1, beta2, epsilon, clip_gradient)
    _store(mean, m)
    _store(var, v)
    _store(weight32, w32)
    return _result(op, weight, w32, out)


def _multi(op, single, weights, grads, mean, var, weights32, rescale_grad, lrs, wds, etas,
           out, size, options):
    n = len(weights) if not size else int(size)
    groups = [weights, grads, mean, var] + ([weights32] if weights32 is not None else [])
    if any(not isinstance(x, (list, tuple)) or len(x) != n for x in groups):
        raise MXNetError(f"{op}: weights, grads, mean, var{', weights32' * bool(weights32)} "
                         f"must be lists of {n} NDArrays")
    lrs, wds, etas = (_tuple(op, k, v, n) for k, v in (("lrs", lrs), ("wds", wds),
                                                       ("etas", etas)))
    outs = _check_outs(op, weights, out)
    scale = rescale_grad if isinstance(rescale_grad, NDArray) else nd.array([rescale_grad])
    results = []
    for i in range(n):
        extra = (weights32[i],) if weights32 is not None else ()
        results.append(single(weights[i], grads[i], mean[i], var[i], *extra, scale, lr=lrs[i],
                              eta=etas[i], wd=wds[i], out=outs[i] if outs else None, **options))
    return results


def multi_adamw_update(weights, grads, mean, var, rescale_grad, lrs, wds, etas, beta1=0.9,
                       beta2=0.999, epsilon=1e-8, clip_gradient=-1.0, out=None, name=None,
                       size=0, **kwargs):
    """adamw_update of each weight, with its own lr, wd and eta."""
    if kwargs:
        return _redo(multi_adamw_update, locals())
    return _multi("multi_adamw_update", adamw_update, weights, grads, mean, var, None,
                  rescale_grad, lrs, wds, etas, out, size,
                  dict(beta1=beta1, beta2=beta2, epsilon=epsilon, clip_gradient=clip_gradient))


def multi_mp_adamw_update(weights, grads, mean, var, weights32, rescale_grad, lrs, wds, etas,
                          beta1=0.9, beta2=0.999, epsilon=1e-8, clip_gradient=-1.0, out=None,
                          name=None, size=0, **kwargs):
    """mp_adamw_update of each weight, with its own lr, wd and eta."""
    if kwargs:
        return _redo(multi_mp_adamw_update, locals())
    return _multi("multi_mp_adamw_update", mp_adamw_update, weights, grads, mean, var,
                  weights32, rescale_grad, lrs, wds, etas, out, size,
                  dict(beta1=beta1, beta2=beta2, epsilon=epsilon, clip_gradient=clip_gradient))
