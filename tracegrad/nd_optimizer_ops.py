"""MXNet 1.x's optimizer update operators (`nd.sgd_update`, `nd.adam_update`, ...), which
optimizers written for MXNet call from their update():

    mx.nd.sgd_mom_update(weight, grad, mom, lr=lr, momentum=0.9, wd=wd, out=weight)

Each follows its kernel in MXNet 1.9.1's src/operator/optimizer_op-inl.h: the states (mom,
mean, var, n, ...) are updated in place, the new weight is returned (or written into `out`,
usually the weight itself); a clip_gradient < 0 means no clipping. They compute in the
arrays' dtype with numpy, outside autograd (an optimizer step is not differentiated), and
write through NDArray assignment, so a pending captured step sees the old values first.
"""
import numpy as np

from .array import HOOKS, NDArray, wrap
from .base import MXNetError
from .op_kwargs import redo as _redo
from .op_kwargs import write_out

__all__ = ["sgd_update", "sgd_mom_update", "nag_mom_update", "adam_update", "rmsprop_update",
           "rmspropalex_update", "ftrl_update", "signsgd_update", "signum_update"]


def _buffers(op, weight, grad, *states):
    """The numpy buffers of weight, grad and states, after checking they line up."""
    if HOOKS.compiling or HOOKS.tracing:
        raise MXNetError(f"{op}: an optimizer update writes its states in place and runs "
                         f"eagerly; call it outside jit / hybridize")
    arrays = (weight, grad) + states
    for a in arrays:
        if not isinstance(a, NDArray):
            raise TypeError(f"{op}: expects NDArrays, got {type(a).__name__}")
    shapes = {tuple(a.shape) for a in arrays}
    dtypes = {np.dtype(a.dtype) for a in arrays}
    if len(shapes) != 1 or len(dtypes) != 1:
        raise MXNetError(f"{op}: weight, grad and states must have one shape and dtype, got "
                         f"{[f'{np.dtype(a.dtype).name}{list(a.shape)}' for a in arrays]}")
    if np.dtype(weight.dtype).kind != "f":
        raise MXNetError(f"{op}: needs float arrays, got {np.dtype(weight.dtype).name}")
    return [a.asnumpy() for a in arrays]


def _clip(g, clip_gradient):
    return np.clip(g, -clip_gradient, clip_gradient) if clip_gradient >= 0 else g


def _result(op, weight, new_weight, out):
    """The new weight in the weight's dtype (a numpy float64 hyperparameter would promote
    it; MXNet's kernels compute in the weight's type), or written into `out`."""
    new_weight = wrap(np.asarray(new_weight, dtype=weight.dtype))
    return new_weight if out is None else write_out(op, new_weight, out)


def _store(state, value):
    state[:] = value


def sgd_update(weight, grad, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
               lazy_update=True, out=None, **kwargs):
    """weight = (1 - lr*wd) * weight - lr * clip(rescale_grad * grad)."""
    if kwargs:
        return _redo(sgd_update, locals())
    w, g = _buffers("sgd_update", weight, grad)
    g = _clip(rescale_grad * g, clip_gradient)
    return _result("sgd_update", weight, (1 - lr * wd) * w - lr * g, out)


def sgd_mom_update(weight, grad, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                   clip_gradient=-1.0, lazy_update=True, out=None, **kwargs):
    """mom = momentum*mom - lr*wd*weight - lr*clip(rescale_grad*grad); weight += mom."""
    if kwargs:
        return _redo(sgd_mom_update, locals())
    w, g, m = _buffers("sgd_mom_update", weight, grad, mom)
    m = momentum * m - lr * wd * w - lr * _clip(rescale_grad * g, clip_gradient)
    _store(mom, m)
    return _result("sgd_mom_update", weight, w + m, out)


def nag_mom_update(weight, grad, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                   clip_gradient=-1.0, out=None, **kwargs):
    """Nesterov momentum: with g = clip(rescale_grad*grad) + wd*weight and m = momentum*mom,
    weight = weight - m + (momentum + 1) * (m - lr*g); mom = m - lr*g."""
    if kwargs:
        return _redo(nag_mom_update, locals())
    w, g, m = _buffers("nag_mom_update", weight, grad, mom)
    g = _clip(rescale_grad * g, clip_gradient) + wd * w
    m = momentum * m
    new = w - m + (momentum + 1) * (m - lr * g)
    _store(mom, m - lr * g)
    return _result("nag_mom_update", weight, new, out)


def adam_update(weight, grad, mean, var, lr, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.0,
                rescale_grad=1.0, clip_gradient=-1.0, lazy_update=True, out=None, **kwargs):
    """g = clip(rescale_grad*grad + wd*weight); mean, var: moving moments of g;
    weight -= lr * mean / (sqrt(var) + epsilon) (no bias correction: the caller's lr)."""
    if kwargs:
        return _redo(adam_update, locals())
    w, g, m, v = _buffers("adam_update", weight, grad, mean, var)
    g = _clip(rescale_grad * g + wd * w, clip_gradient)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    _store(mean, m)
    _store(var, v)
    return _result("adam_update", weight, w - lr * m / (np.sqrt(v) + epsilon), out)


def rmsprop_update(weight, grad, n, lr, gamma1=0.95, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
                   clip_gradient=-1.0, clip_weights=-1.0, out=None, **kwargs):
    """Tieleman & Hinton: n = (1-gamma1)*g^2 + gamma1*n; weight -= lr*g/sqrt(n + epsilon)."""
    if kwargs:
        return _redo(rmsprop_update, locals())
    w, g, s = _buffers("rmsprop_update", weight, grad, n)
    g = _clip(rescale_grad * g + wd * w, clip_gradient)
    s = (1 - gamma1) * (g * g) + gamma1 * s
    _store(n, s)
    new = w - lr * (g / np.sqrt(s + epsilon))
    return _result("rmsprop_update", weight, _clip(new, clip_weights), out)


def rmspropalex_update(weight, grad, n, g, delta, lr, gamma1=0.95, gamma2=0.9, epsilon=1e-8,
                       wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0,
                       out=None, **kwargs):
    """Graves' centred RMSProp: n and g moving moments, delta = gamma2*delta -
    lr*grad/sqrt(n - g^2 + epsilon); weight += delta."""
    if kwargs:
        return _redo(rmspropalex_update, locals())
    w, gr, s_n, s_g, d = _buffers("rmspropalex_update", weight, grad, n, g, delta)
    gr = _clip(rescale_grad * gr + wd * w, clip_gradient)
    s_n = (1 - gamma1) * gr * gr + gamma1 * s_n
    s_g = (1 - gamma1) * gr + gamma1 * s_g
    d = gamma2 * d - lr * gr / np.sqrt(s_n - s_g * s_g + epsilon)
    _store(n, s_n)
    _store(g, s_g)
    _store(delta, d)
    return _result("rmspropalex_update", weight, _clip(w + d, clip_weights), out)


def ftrl_update(weight, grad, z, n, lr, lamda1=0.01, beta=1.0, wd=0.0, rescale_grad=1.0,
                clip_gradient=-1.0, out=None, **kwargs):
    """FTRL-proximal: z += g - (sqrt(n + g^2) - sqrt(n)) * weight / lr; n += g^2;
    weight = (sign(z)*lamda1 - z) / ((beta + sqrt(n))/lr + wd) where |z| > lamda1, else 0."""
    if kwargs:
        return _redo(ftrl_update, locals())
    w, g, zz, nn = _buffers("ftrl_update", weight, grad, z, n)
    g = _clip(g * rescale_grad, clip_gradient)
    zz = zz + g - (np.sqrt(nn + g * g) - np.sqrt(nn)) * w / lr
    nn = nn + g * g
    _store(z, zz)
    _store(n, nn)
    new = (np.sign(zz) * lamda1 - zz) / ((beta + np.sqrt(nn)) / lr + wd) * \
        (np.abs(zz) > lamda1).astype(w.dtype)
    return _result("ftrl_update", weight, new, out)


def signsgd_update(weight, grad, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, out=None,
                   **kwargs):
    """weight = (1 - lr*wd) * weight - lr * sign(grad) (rescaling and clipping keep the
    sign, so MXNet's kernel ignores them)."""
    if kwargs:
        return _redo(signsgd_update, locals())
    w, g = _buffers("signsgd_update", weight, grad)
    return _result("signsgd_update", weight, (1 - lr * wd) * w - lr * np.sign(g), out)


def signum_update(weight, grad, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                  clip_gradient=-1.0, wd_lh=0.0, out=None, **kwargs):
    """mom = momentum*mom - (1-momentum)*(wd*weight + clip(rescale_grad*grad));
    weight = (1 - lr*wd_lh) * weight + lr * sign(mom)."""
    if kwargs:
        return _redo(signum_update, locals())
    w, g, m = _buffers("signum_update", weight, grad, mom)
    m = momentum * m - (1 - momentum) * wd * w - \
        (1 - momentum) * _clip(rescale_grad * g, clip_gradient)
    _store(mom, m)
    return _result("signum_update", weight, (1 - lr * wd_lh) * w + lr * np.sign(m), out)
