"""MXNet 1.x's optimizer update operators (`nd.sgd_update`, `nd.adam_update`, ...), which
optimizers written for MXNet call from their update():

    mx.nd.sgd_mom_update(weight, grad, mom, lr=lr, momentum=0.9, wd=wd, out=weight)

Each follows its kernel in MXNet 1.9.1's src/operator/optimizer_op-inl.h: the states (mom,
mean, var, n, ...) are updated in place, the new weight is returned (or written into `out`,
usually the weight itself); a clip_gradient < 0 means no clipping. They compute in the
arrays' dtype with numpy, outside autograd (an optimizer step is not differentiated), and
write through NDArray assignment, so a pending captured step sees the old values first.

The mixed-precision kernels (`mp_*`, `multi_mp_*`) take a float16 weight and a float32 master
copy `weight32`, compute in float32, update weight32 (and the float32 states) in place and
return the weight's dtype. The multi-tensor kernels (`multi_*`, `preloaded_multi_*`) take
their arrays interleaved (weight_0, grad_0[, mom_0][, weight32_0], weight_1, ...) and return
the `num_weights` new weights (one NDArray when num_weights is 1), or write them into `out`
(a list, usually the weights) and return `out` itself, as MXNet's generated functions do.
`all_finite`, `multi_sum_sq`, `multi_lars` and `reset_arrays` are the helpers MXNet's AMP loss
scaler, LARS optimizer and Gluon's zero_grad call. None of them runs inside a trace.
"""
import numpy as np

from .array import HOOKS, NDArray, wrap
from .base import MXNetError
from .op_kwargs import redo as _redo
from .op_kwargs import write_out

__all__ = ["sgd_update", "sgd_mom_update", "nag_mom_update", "adam_update", "rmsprop_update",
           "rmspropalex_update", "ftrl_update", "signsgd_update", "signum_update",
           "all_finite", "multi_all_finite", "multi_sum_sq", "multi_lars", "reset_arrays",
           "mp_sgd_update", "mp_sgd_mom_update", "mp_nag_mom_update",
           "multi_sgd_update", "multi_sgd_mom_update", "multi_mp_sgd_update",
           "multi_mp_sgd_mom_update", "preloaded_multi_sgd_update",
           "preloaded_multi_sgd_mom_update", "preloaded_multi_mp_sgd_update",
           "preloaded_multi_mp_sgd_mom_update", "ftml_update", "lamb_update_phase1",
           "lamb_update_phase2", "mp_lamb_update_phase1", "mp_lamb_update_phase2"]


def _eager(op, arrays):
    """Refuses a trace (the kernels write in place, with numpy) and anything not an NDArray."""
    if HOOKS.compiling or HOOKS.tracing:
        raise MXNetError(f"{op}: an optimizer update writes its states in place and runs "
                         f"eagerly; call it outside jit / hybridize")
    for a in arrays:
        if not isinstance(a, NDArray):
            raise TypeError(f"{op}: expects NDArrays, got {type(a).__name__}")


def _desc(arrays):
    return [f"{np.dtype(a.dtype).name}{list(a.shape)}" for a in arrays]


def _buffers(op, weight, grad, *states):
    """The numpy buffers of weight, grad and states, after checking they line up."""
    arrays = (weight, grad) + states
    _eager(op, arrays)
    shapes = {tuple(a.shape) for a in arrays}
    dtypes = {np.dtype(a.dtype) for a in arrays}
    if len(shapes) != 1 or len(dtypes) != 1:
        raise MXNetError(f"{op}: weight, grad and states must have one shape and dtype, got "
                         f"{_desc(arrays)}")
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
    """Nesterov momentum: with g = clip(rescale_grad*grad) and m = momentum*mom,
    weight' = weight - m + (momentum + 1) * (m - lr*(g + wd*weight)); mom = m - lr*(g +
    wd*w), w the weight the kernel reads then: weight' when out is the weight itself (MXNet's
    kernel writes it in place first, as its NAG optimizer calls it), else weight."""
    if kwargs:
        return _redo(nag_mom_update, locals())
    w, g, m = _buffers("nag_mom_update", weight, grad, mom)
    g = _clip(rescale_grad * g, clip_gradient)
    m = momentum * m
    new = w - m + (momentum + 1) * (m - lr * (g + wd * w))
    _store(mom, m - lr * (g + wd * (new if out is weight else w)))
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


# ----------------------------------------------------------------- shared by the kernels below

_F32 = np.dtype(np.float32)


def _required(op, **params):
    """MXNet's parameters without a default (t, wd, ...): None means the caller left it out."""
    for name, value in params.items():
        if value is None:
            raise MXNetError(f"{op}: the parameter {name} is required")


def _count(op, arrays, num, what="num_arrays"):
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise MXNetError(f"{op}: {what} must be a positive int, got {num!r}")
    if len(arrays) != num:
        raise MXNetError(f"{op}: {what}={num} but {len(arrays)} arrays were given")


def _floats(op, arrays):
    for a in arrays:
        if np.dtype(a.dtype).kind != "f":
            raise MXNetError(f"{op}: needs float arrays, got {_desc([a])[0]}")


def _f32(*values):
    return tuple(np.float32(v) for v in values)


def _scalars(dtype, *values):
    """Hyperparameters as scalars of the arrays' dtype (MXNet's kernels cast them so)."""
    return tuple(np.dtype(dtype).type(v) for v in values)


def _mp_buffers(op, names, weight, grad, *fp32):
    """weight and grad (one float dtype) and the float32 arrays `names` (states, master
    weight), all of one shape: their numpy buffers."""
    arrays = (weight, grad) + fp32
    _eager(op, arrays)
    if len({tuple(a.shape) for a in arrays}) != 1 \
            or np.dtype(weight.dtype) != np.dtype(grad.dtype) \
            or np.dtype(weight.dtype).kind != "f" \
            or any(np.dtype(a.dtype) != _F32 for a in fp32):
        raise MXNetError(f"{op}: weight and grad must share a shape and a float dtype, and "
                         f"{', '.join(names)} be float32 of that shape; got (weight, grad, "
                         f"{', '.join(names)}) = {_desc(arrays)}")
    return [a.asnumpy() for a in arrays]


# ------------------------------------------------------------- finiteness, norms, LARS, reset

def _finite_flag(op, arrays, init_output, out):
    """1 (or out's value when init_output is False) unless an element of `arrays` is not
    finite as a float32, then 0: a (1,) float32 array."""
    _eager(op, arrays)
    _floats(op, arrays)
    flag = np.float32(1.0)
    if out is not None:
        if not isinstance(out, NDArray):
            raise TypeError(f"nd.{op}(): out must be an NDArray, got {type(out).__name__}")
        if tuple(out.shape) != (1,) or np.dtype(out.dtype) != _F32:
            raise ValueError(f"nd.{op}(): out is {_desc([out])[0]} but the result is "
                             f"float32[1]")
        if not init_output:
            flag = out.asnumpy()[0]
    with np.errstate(over="ignore", invalid="ignore"):
        # (MXNet tests each element cast to float: a float64 beyond float32's range counts)
        if not all(np.isfinite(a.asnumpy().astype(np.float32)).all() for a in arrays):
            flag = np.float32(0.0)
    result = wrap(np.array([flag], dtype=np.float32))
    return result if out is None else write_out(f"nd.{op}", result, out)


def all_finite(data, init_output=True, out=None, **kwargs):
    """[1.] if every element of `data` is finite, else [0.] (float32, shape (1,)). With
    init_output=False the output starts from `out`'s value (a 0 from an earlier call stays);
    MXNet leaves a fresh output uninitialised there, tracegrad starts it at 1."""
    if kwargs:
        return _redo(all_finite, locals())
    return _finite_flag("all_finite", (data,), init_output, out)


def multi_all_finite(*arrays, num_arrays=1, init_output=True, out=None, **kwargs):
    """all_finite over all `num_arrays` arrays at once (AMP's overflow check). Each array is
    read in its own dtype (MXNet reads them all as the first one's)."""
    if kwargs:
        return _redo(multi_all_finite, locals())
    _count("multi_all_finite", arrays, num_arrays)
    return _finite_flag("multi_all_finite", arrays, init_output, out)


def multi_sum_sq(*arrays, num_arrays, **kwargs):
    """The sum of squares of each array: float32, shape (num_arrays,). The squares are
    taken in the arrays' dtype (one float dtype for all), summed in float32."""
    if kwargs:
        return _redo(multi_sum_sq, locals())
    op = "multi_sum_sq"
    _eager(op, arrays)
    _count(op, arrays, num_arrays)
    if len({np.dtype(a.dtype) for a in arrays}) != 1:
        raise MXNetError(f"{op}: the arrays must have one dtype, got {_desc(arrays)}")
    _floats(op, arrays[:1])
    with np.errstate(over="ignore", invalid="ignore"):
        sums = [np.square(a.asnumpy()).astype(np.float32).sum(dtype=np.float32)
                for a in arrays]
    return wrap(np.array(sums, dtype=np.float32))


def multi_lars(lrs, weights_sum_sq, grads_sum_sq, wds, eta, eps, rescale_grad=1.0, out=None,
               **kwargs):
    """LARS learning rates: lr * eta * |w| / (|g| * rescale_grad + wd * |w| + eps) where both
    norms (square roots of the given sums of squares) are positive, else lr. Four float32
    arrays of one shape."""
    if kwargs:
        return _redo(multi_lars, locals())
    op = "multi_lars"
    arrays = (lrs, weights_sum_sq, grads_sum_sq, wds)
    _eager(op, arrays)
    if len({tuple(a.shape) for a in arrays}) != 1 \
            or any(np.dtype(a.dtype) != _F32 for a in arrays):
        raise MXNetError(f"{op}: lrs, weights_sum_sq, grads_sum_sq and wds must be float32 "
                         f"arrays of one shape, got {_desc(arrays)}")
    lr, w_sq, g_sq, wd = [a.asnumpy() for a in arrays]
    eta, eps, rescale_grad = _f32(eta, eps, rescale_grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_norm = np.sqrt(w_sq)
        scaled = lr * eta * w_norm / (np.sqrt(g_sq) * rescale_grad + wd * w_norm + eps)
        new = np.where((w_norm > 0) & (g_sq > 0), scaled, lr)
    return _result(op, lrs, new, out)


def reset_arrays(*arrays, num_arrays, **kwargs):
    """Zeros each of the `num_arrays` float arrays in place (Gluon's zero_grad); returns []
    (the operator has no outputs)."""
    if kwargs:
        return _redo(reset_arrays, locals())
    op = "reset_arrays"
    _eager(op, arrays)
    _count(op, arrays, num_arrays)
    _floats(op, arrays)
    for a in arrays:
        _store(a, 0)
    return []


# ------------------------------------------------------------------ mixed-precision SGD / NAG

def mp_sgd_update(weight, grad, weight32, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                  lazy_update=True, out=None, **kwargs):
    """sgd_update on the float32 master copy: weight32 = (1 - lr*wd) * weight32 -
    lr * clip(rescale_grad*grad); weight32 in place, the new weight in weight's dtype."""
    if kwargs:
        return _redo(mp_sgd_update, locals())
    op = "mp_sgd_update"
    _, g, w32 = _mp_buffers(op, ("weight32",), weight, grad, weight32)
    lr, wd, rescale_grad, clip_gradient = _f32(lr, wd, rescale_grad, clip_gradient)
    w32 = (1 - lr * wd) * w32 - lr * _clip(rescale_grad * g.astype(np.float32), clip_gradient)
    _store(weight32, w32)
    return _result(op, weight, w32, out)


def mp_sgd_mom_update(weight, grad, mom, weight32, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                      clip_gradient=-1.0, lazy_update=True, out=None, **kwargs):
    """sgd_mom_update in float32 on the master copy: mom = momentum*mom - lr*wd*weight32 -
    lr*clip(rescale_grad*grad); weight32 += mom (mom and weight32 float32, in place)."""
    if kwargs:
        return _redo(mp_sgd_mom_update, locals())
    op = "mp_sgd_mom_update"
    _, g, m, w32 = _mp_buffers(op, ("mom", "weight32"), weight, grad, mom, weight32)
    lr, momentum, wd, rescale_grad, clip_gradient = _f32(lr, momentum, wd, rescale_grad,
                                                         clip_gradient)
    m = momentum * m - lr * wd * w32 - \
        lr * _clip(rescale_grad * g.astype(np.float32), clip_gradient)
    w32 = w32 + m
    _store(mom, m)
    _store(weight32, w32)
    return _result(op, weight, w32, out)


def mp_nag_mom_update(weight, grad, mom, weight32, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                      clip_gradient=-1.0, out=None, **kwargs):
    """nag_mom_update in float32 on the master copy. As in MXNet's kernel, the momentum's
    weight-decay term uses the weight already updated: with g = clip(rescale_grad*grad) and
    m = momentum*mom, w = w - m + (momentum+1) * (m - lr*(g + wd*w)); mom = m - lr*(g +
    wd*w_new)."""
    if kwargs:
        return _redo(mp_nag_mom_update, locals())
    op = "mp_nag_mom_update"
    _, g, m, w32 = _mp_buffers(op, ("mom", "weight32"), weight, grad, mom, weight32)
    lr, momentum, wd, rescale_grad, clip_gradient = _f32(lr, momentum, wd, rescale_grad,
                                                         clip_gradient)
    g = _clip(rescale_grad * g.astype(np.float32), clip_gradient)
    m = momentum * m
    w32 = w32 - m + (momentum + 1) * (m - lr * (g + wd * w32))
    m = m - lr * (g + wd * w32)
    _store(mom, m)
    _store(weight32, w32)
    return _result(op, weight, w32, out)


# ----------------------------------------------------------------------- multi-tensor SGD

_GROUPS = {   # kernel -> (names of each weight's arrays after weight and grad, mixed precision)
    "multi_sgd_update": ((), False),
    "multi_sgd_mom_update": (("mom",), False),
    "multi_mp_sgd_update": (("weight32",), True),
    "multi_mp_sgd_mom_update": (("mom", "weight32"), True),
}


def _tuple(op, name, values, num_weights):
    """lrs / wds: a sequence (or one number) of num_weights floats."""
    if isinstance(values, (int, float, np.number)) and not isinstance(values, bool):
        values = (values,)
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise MXNetError(f"{op}: {name} must be a tuple of {num_weights} numbers, got "
                         f"{values!r}") from None
    if len(values) != num_weights:
        raise MXNetError(f"{op}: {len(values)} {name} given for num_weights={num_weights}")
    return values


def _check_outs(op, weights, out):
    """`out` as a list lined up with the weights (checked before anything is written)."""
    if out is None:
        return None
    outs = [out] if isinstance(out, NDArray) else out
    if not isinstance(outs, (list, tuple)) or len(outs) != len(weights):
        raise TypeError(f"nd.{op}(): out must be a list of {len(weights)} NDArrays (one per "
                        f"weight), got {type(out).__name__}")
    for o, w in zip(outs, weights):
        if not isinstance(o, NDArray):
            raise TypeError(f"nd.{op}(): out must hold NDArrays, got {type(o).__name__}")
        if tuple(o.shape) != tuple(w.shape) or np.dtype(o.dtype) != np.dtype(w.dtype):
            raise ValueError(f"nd.{op}(): out holds {_desc([o])[0]} for a weight "
                             f"{_desc([w])[0]}")
    return outs


def _multi_sgd(kernel, op, data, lrs, wds, momentum, rescale_grad, clip_gradient, num_weights,
               out, preloaded):
    """The multi-tensor SGD kernels (MXNet's MultiSGDKernel / PreloadedMultiSGDKernel):
    per weight, mom = momentum*mom - lr*wd*w - lr*clip(rescale_grad*grad); w += mom."""
    states, mixed_precision = _GROUPS[kernel]
    stride = 2 + len(states)
    _eager(op, data)
    if isinstance(num_weights, bool) or not isinstance(num_weights, (int, np.integer)) \
            or num_weights < 1:
        raise MXNetError(f"{op}: num_weights must be a positive int, got {num_weights!r}")
    layout = ", ".join(("weight", "grad") + states)
    expected = stride * num_weights + (2 if preloaded else 0)
    if len(data) != expected:
        raise MXNetError(f"{op}: num_weights={num_weights} needs {expected} arrays (" +
                         f"{layout} per weight" + (", then lrs and wds" if preloaded else "") +
                         f"), got {len(data)}")
    if preloaded:
        lr_arr, wd_arr = data[-2:]
        for name, a in (("lrs", lr_arr), ("wds", wd_arr)):
            if np.dtype(a.dtype) != _F32 or a.size != num_weights:
                raise MXNetError(f"{op}: {name} must be a float32 array of num_weights="
                                 f"{num_weights} elements, got {_desc([a])[0]}")
        lrs, wds = lr_arr.asnumpy().ravel(), wd_arr.asnumpy().ravel()
    else:
        lrs = _tuple(op, "lrs", lrs, num_weights)
        wds = _tuple(op, "wds", wds, num_weights)
    groups = [data[i * stride:(i + 1) * stride] for i in range(num_weights)]
    dtype = np.dtype(groups[0][0].dtype)
    if dtype.kind != "f":
        raise MXNetError(f"{op}: needs float weights, got {_desc(groups[0][:1])[0]}")
    state_dtype = _F32 if mixed_precision else dtype
    for i, group in enumerate(groups):
        if len({tuple(a.shape) for a in group}) != 1 \
                or any(np.dtype(a.dtype) != dtype for a in group[:2]) \
                or any(np.dtype(a.dtype) != state_dtype for a in group[2:]):
            raise MXNetError(f"{op}: weight {i}'s ({layout}) must have one shape, weight and "
                             f"grad {dtype.name} (the first weight's dtype), "
                             + (f"{', '.join(states)} float32" if mixed_precision and states
                                else f"the states {dtype.name}")
                             + f"; got {_desc(group)}")
    outs = _check_outs(op, [g[0] for g in groups], out)
    # MXNet computes in float32 for the mp kernels, in the weights' dtype otherwise; an mp
    # kernel given float32 weights updates them directly and leaves weight32 untouched
    master = mixed_precision and dtype != _F32
    compute = _F32 if mixed_precision else dtype
    momentum, rescale_grad, clip_gradient = _scalars(compute, momentum, rescale_grad,
                                                     clip_gradient)
    news, writes = [], []
    for i, group in enumerate(groups):
        w, g, *st = [a.asnumpy() for a in group]
        lr, wd = _scalars(compute, lrs[i], wds[i])
        w = st[-1] if master else w.astype(compute)
        m = st[0] if "mom" in states else compute.type(0)
        m = momentum * m - lr * wd * w - \
            lr * _clip(rescale_grad * g.astype(compute), clip_gradient)
        w = w + m
        if "mom" in states:
            writes.append((group[2], m))
        if master:
            writes.append((group[-1], w))
        news.append(wrap(np.asarray(w, dtype=dtype)))
    for state, value in writes:
        _store(state, value)
    if outs is None:
        return news[0] if num_weights == 1 else news
    for new, o in zip(news, outs):
        write_out(f"nd.{op}", new, o)
    return out


def multi_sgd_update(*data, lrs, wds, rescale_grad=1.0, clip_gradient=-1.0, num_weights=1,
                     out=None, **kwargs):
    """sgd_update of num_weights weights at once: data = weight_0, grad_0, weight_1, ...;
    lrs and wds one number per weight."""
    if kwargs:
        return _redo(multi_sgd_update, locals())
    return _multi_sgd("multi_sgd_update", "multi_sgd_update", data, lrs, wds, 0.0,
                      rescale_grad, clip_gradient, num_weights, out, False)


def multi_sgd_mom_update(*data, lrs, wds, momentum=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                         num_weights=1, out=None, **kwargs):
    """sgd_mom_update of num_weights weights: data = weight_0, grad_0, mom_0, weight_1, ...
    (each mom updated in place)."""
    if kwargs:
        return _redo(multi_sgd_mom_update, locals())
    return _multi_sgd("multi_sgd_mom_update", "multi_sgd_mom_update", data, lrs, wds,
                      momentum, rescale_grad, clip_gradient, num_weights, out, False)


def multi_mp_sgd_update(*data, lrs, wds, rescale_grad=1.0, clip_gradient=-1.0, num_weights=1,
                        out=None, **kwargs):
    """mp_sgd_update of num_weights weights: data = weight_0, grad_0, weight32_0, ..."""
    if kwargs:
        return _redo(multi_mp_sgd_update, locals())
    return _multi_sgd("multi_mp_sgd_update", "multi_mp_sgd_update", data, lrs, wds, 0.0,
                      rescale_grad, clip_gradient, num_weights, out, False)


def multi_mp_sgd_mom_update(*data, lrs, wds, momentum=0.0, rescale_grad=1.0,
                            clip_gradient=-1.0, num_weights=1, out=None, **kwargs):
    """mp_sgd_mom_update of num_weights weights: data = weight_0, grad_0, mom_0,
    weight32_0, ..."""
    if kwargs:
        return _redo(multi_mp_sgd_mom_update, locals())
    return _multi_sgd("multi_mp_sgd_mom_update", "multi_mp_sgd_mom_update", data, lrs, wds,
                      momentum, rescale_grad, clip_gradient, num_weights, out, False)


def preloaded_multi_sgd_update(*data, rescale_grad=1.0, clip_gradient=-1.0, num_weights=1,
                               out=None, **kwargs):
    """multi_sgd_update with the learning rates and weight decays as the last two inputs
    (float32 arrays of num_weights elements)."""
    if kwargs:
        return _redo(preloaded_multi_sgd_update, locals())
    return _multi_sgd("multi_sgd_update", "preloaded_multi_sgd_update", data, None, None,
                      0.0, rescale_grad, clip_gradient, num_weights, out, True)


def preloaded_multi_sgd_mom_update(*data, momentum=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                                   num_weights=1, out=None, **kwargs):
    """multi_sgd_mom_update with lrs and wds as the last two (float32) inputs."""
    if kwargs:
        return _redo(preloaded_multi_sgd_mom_update, locals())
    return _multi_sgd("multi_sgd_mom_update", "preloaded_multi_sgd_mom_update", data, None,
                      None, momentum, rescale_grad, clip_gradient, num_weights, out, True)


def preloaded_multi_mp_sgd_update(*data, rescale_grad=1.0, clip_gradient=-1.0, num_weights=1,
                                  out=None, **kwargs):
    """multi_mp_sgd_update with lrs and wds as the last two (float32) inputs."""
    if kwargs:
        return _redo(preloaded_multi_mp_sgd_update, locals())
    return _multi_sgd("multi_mp_sgd_update", "preloaded_multi_mp_sgd_update", data, None,
                      None, 0.0, rescale_grad, clip_gradient, num_weights, out, True)


def preloaded_multi_mp_sgd_mom_update(*data, momentum=0.0, rescale_grad=1.0,
                                      clip_gradient=-1.0, num_weights=1, out=None, **kwargs):
    """multi_mp_sgd_mom_update with lrs and wds as the last two (float32) inputs."""
    if kwargs:
        return _redo(preloaded_multi_mp_sgd_mom_update, locals())
    return _multi_sgd("multi_mp_sgd_mom_update", "preloaded_multi_mp_sgd_mom_update", data,
                      None, None, momentum, rescale_grad, clip_gradient, num_weights, out,
                      True)


# ------------------------------------------------------------------------------ FTML, LAMB

def ftml_update(weight, grad, d, v, z, lr, beta1=0.6, beta2=0.999, epsilon=1e-8, t=None,
                wd=0.0, rescale_grad=1.0, clip_grad=-1.0, out=None, **kwargs):
    """Follow the Moving Leader (t: the update count, required; note MXNet's name clip_grad):
    g = clip(rescale_grad*grad + wd*weight); v = beta2*v + (1-beta2)*g^2;
    d_t = (1 - beta1^t)/lr * (sqrt(v/(1 - beta2^t)) + epsilon);
    z = beta1*z + (1-beta1)*g - (d_t - beta1*d)*weight; d = d_t; weight = -z/d_t."""
    if kwargs:
        return _redo(ftml_update, locals())
    op = "ftml_update"
    _required(op, t=t)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0.0 <= beta <= 1.0:
            raise MXNetError(f"{op}: {name} must be in [0, 1], got {beta}")
    w, g, d_, v_, z_ = _buffers(op, weight, grad, d, v, z)
    lr, beta1, beta2, epsilon, t, wd, rescale_grad, clip_grad = _scalars(
        w.dtype, lr, beta1, beta2, epsilon, t, wd, rescale_grad, clip_grad)
    g = _clip(rescale_grad * g + wd * w, clip_grad)
    v_ = beta2 * v_ + (1 - beta2) * (g * g)
    d_t = (1 - beta1 ** t) / lr * (np.sqrt(v_ / (1 - beta2 ** t)) + epsilon)
    z_ = beta1 * z_ + (1 - beta1) * g - (d_t - beta1 * d_) * w
    _store(d, d_t)
    _store(v, v_)
    _store(z, z_)
    return _result(op, weight, -z_ / d_t, out)


def _lamb_direction(g, m, v, w, beta1, beta2, epsilon, t, bias_correction, wd, rescale_grad,
                    clip_gradient):
    """LAMB phase 1 on buffers (all in one dtype): the new mean, var and the direction."""
    g = _clip(g * rescale_grad, clip_gradient)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    if bias_correction:
        one = m.dtype.type(1)
        direction = (m / (one - beta1 ** t)) / (np.sqrt(v / (one - beta2 ** t)) + epsilon)
    else:
        direction = m / (np.sqrt(v) + epsilon)
    return m, v, direction + wd * w


def lamb_update_phase1(weight, grad, mean, var, beta1=0.9, beta2=0.999, epsilon=1e-6, t=None,
                       bias_correction=True, wd=None, rescale_grad=1.0, clip_gradient=-1.0,
                       out=None, **kwargs):
    """LAMB's step direction (t and wd required): g = clip(rescale_grad*grad); mean and var
    its moving moments (in place); returns mean_hat/(sqrt(var_hat) + epsilon) + wd*weight,
    the hats bias-corrected by 1 - beta^t when bias_correction."""
    if kwargs:
        return _redo(lamb_update_phase1, locals())
    op = "lamb_update_phase1"
    _required(op, t=t, wd=wd)
    w, g, m, v = _buffers(op, weight, grad, mean, var)
    beta1, beta2, epsilon, t, wd, rescale_grad, clip_gradient = _scalars(
        w.dtype, beta1, beta2, epsilon, t, wd, rescale_grad, clip_gradient)
    m, v, direction = _lamb_direction(g, m, v, w, beta1, beta2, epsilon, t, bias_correction,
                                      wd, rescale_grad, clip_gradient)
    _store(mean, m)
    _store(var, v)
    return _result(op, weight, direction, out)


def _trust_lr(lr, r1, r2, lower_bound, upper_bound, dtype):
    """lr * r1/r2 with r1 clamped to [lower_bound, upper_bound] (a bound < 0: none), or lr
    when the clamped r1 or r2 is 0 (MXNet's maximum/minimum: a > b ? a : b)."""
    lr, lower_bound, upper_bound = _scalars(dtype, lr, lower_bound, upper_bound)
    r1, r2 = r1.reshape(-1)[0], r2.reshape(-1)[0]
    if lower_bound >= 0:
        r1 = r1 if r1 > lower_bound else lower_bound
    if upper_bound >= 0:
        r1 = r1 if r1 < upper_bound else upper_bound
    return lr if r1 == 0 or r2 == 0 else lr * r1 / r2


def _check_norms(op, r1, r2):
    for name, r in (("r1", r1), ("r2", r2)):
        if r.ndim < 1 or r.shape[0] != 1:
            raise MXNetError(f"{op}: {name} (a norm) must have shape (1,), got "
                             f"{_desc([r])[0]}")


def lamb_update_phase2(weight, g, r1, r2, lr, lower_bound=-1.0, upper_bound=-1.0, out=None,
                       **kwargs):
    """LAMB's layer-wise step: weight - lr * r1/r2 * g, r1 (the weight's norm) clamped to
    [lower_bound, upper_bound] (a bound < 0: none), plain lr when r1 or r2 is 0."""
    if kwargs:
        return _redo(lamb_update_phase2, locals())
    op = "lamb_update_phase2"
    arrays = (weight, g, r1, r2)
    _eager(op, arrays)
    _check_norms(op, r1, r2)
    if tuple(weight.shape) != tuple(g.shape) or len({np.dtype(a.dtype) for a in arrays}) != 1:
        raise MXNetError(f"{op}: weight and g must have one shape, and all four arrays one "
                         f"dtype; got (weight, g, r1, r2) = {_desc(arrays)}")
    _floats(op, arrays[:1])
    w, gg, a1, a2 = [a.asnumpy() for a in arrays]
    lr = _trust_lr(lr, a1, a2, lower_bound, upper_bound, w.dtype)
    return _result(op, weight, w - lr * gg, out)


def mp_lamb_update_phase1(weight, grad, mean, var, weight32, beta1=0.9, beta2=0.999,
                          epsilon=1e-6, t=None, bias_correction=True, wd=None, rescale_grad=1.0,
                          clip_gradient=-1.0, out=None, **kwargs):
    """lamb_update_phase1 for a float16 weight and grad, in float32 with the master copy
    weight32 in the weight decay term: mean, var (float32) in place, a float32 result."""
    if kwargs:
        return _redo(mp_lamb_update_phase1, locals())
    op = "mp_lamb_update_phase1"
    _required(op, t=t, wd=wd)
    _, g, m, v, w32 = _mp_buffers(op, ("mean", "var", "weight32"), weight, grad, mean, var,
                                  weight32)
    if np.dtype(weight.dtype) != np.float16:
        raise MXNetError(f"{op}: weight and grad must be float16, got "
                         f"{_desc([weight, grad])}")
    beta1, beta2, epsilon, t, wd, rescale_grad, clip_gradient = _f32(
        beta1, beta2, epsilon, t, wd, rescale_grad, clip_gradient)
    m, v, direction = _lamb_direction(g.astype(np.float32), m, v, w32, beta1, beta2, epsilon,
                                      t, bias_correction, wd, rescale_grad, clip_gradient)
    _store(mean, m)
    _store(var, v)
    return _result(op, mean, direction, out)      # (float32, as mean is)


def mp_lamb_update_phase2(weight, g, r1, r2, weight32, lr, lower_bound=-1.0, upper_bound=-1.0,
                          out=None, **kwargs):
    """lamb_update_phase2 from the master copy: weight32 - lr * r1/r2 * g in float32, returned
    in weight's dtype. As MXNet 1.9.1's kernel does, weight32 itself is left unchanged."""
    if kwargs:
        return _redo(mp_lamb_update_phase2, locals())
    op = "mp_lamb_update_phase2"
    arrays = (weight, g, r1, r2, weight32)
    _eager(op, arrays)
    _check_norms(op, r1, r2)
    if len({tuple(a.shape) for a in (weight, g, weight32)}) != 1 \
            or np.dtype(weight.dtype).kind != "f" \
            or any(np.dtype(a.dtype) != _F32 for a in arrays[1:]):
        raise MXNetError(f"{op}: weight, g and weight32 must have one shape, g, r1, r2 and "
                         f"weight32 be float32; got (weight, g, r1, r2, weight32) = "
                         f"{_desc(arrays)}")
    gg, a1, a2, w32 = [a.asnumpy() for a in arrays[1:]]
    lr = _trust_lr(lr, a1, a2, lower_bound, upper_bound, _F32)
    return _result(op, weight, w32 - lr * gg, out)
