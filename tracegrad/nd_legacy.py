"""The capitalised operator names MXNet 1.x code calls (`nd.Concat`, `nd.SoftmaxOutput`,
`nd.BatchNorm`, ...), with their arguments and defaults, as composites of nd's operators.

The *Output heads (SoftmaxOutput, LinearRegressionOutput, LogisticRegressionOutput,
MAERegressionOutput, SVMOutput) and MakeLoss return the prediction in the forward pass and, as
in MXNet, the gradient of their loss with respect to `data` in the backward pass (MakeLoss:
grad_scale, normalized). Each is built as stop_gradient(pred) + (h - stop_gradient(h)) with h
a per-element share of that loss, so the value is the prediction and `backward()` with its
default head gradient of ones gives exactly MXNet's gradient; the label gets no gradient.
MXNet ignores the head gradient entirely; here a head gradient g scales each sample's loss
gradient by the mean of g over that sample (the Executor feeds ones to every such head,
whatever `backward(out_grads)` says, as MXNet does).
"""
import numpy as np

from . import nd
from .array import F, assign_state
from .base import MXNetError
from .ir import activations as A, composites as C
from .ir.types import dtype_name
from .nd_shape import _axis as _check_axis
from .runtime.tape import STATE
from .op_kwargs import redo as _redo


def Concat(*data, dim=1, num_args=None, **kwargs):
    """Join arrays along `dim` (default 1, as MXNet's Concat)."""
    if kwargs:
        return _redo(Concat, locals())
    return nd.concat(*data, dim=dim)


def Reshape(data, shape=None, reverse=False, target_shape=None, keep_highest=False, **kwargs):
    """nd.reshape under its legacy name (shape codes 0, -1, -2, -3, -4 included). The
    deprecated target_shape (used when no shape is given) means what it meant in MXNet: its
    one 0 is the dim inferred from the others (not a copied dim), and keep_highest keeps the
    data's first dim."""
    if kwargs:
        return _redo(Reshape, locals())
    if shape is None or tuple(shape) == ():
        if target_shape is None or tuple(target_shape) == ():
            raise MXNetError("Reshape: give shape (or the deprecated target_shape)")
        return nd.reshape(data, _legacy_target(tuple(target_shape), tuple(data.shape),
                                               keep_highest))
    return nd.reshape(data, shape, reverse=reverse)


def _legacy_target(target, dshape, keep_highest):
    """MXNet's ReshapeShape for target_shape: the first dim kept with keep_highest, a single
    0 (after it) inferred from the size."""
    out = list(target)
    start = 1 if keep_highest else 0
    if keep_highest and out:
        out[0] = dshape[0]
    zeros = [i for i in range(start, len(out)) if out[i] == 0]
    size = int(np.prod(dshape))
    if len(zeros) == 1:
        rest = int(np.prod([d for i, d in enumerate(out) if i != zeros[0]]))
        out[zeros[0]] = size // rest if rest else 0
    if int(np.prod(out)) != size:
        raise MXNetError(f"Reshape: target_shape {target} does not fit data of shape "
                         f"{dshape} ({size} elements)")
    return tuple(out)


def _head(pred, loss_share):
    """pred in the forward pass; d(sum of loss_share)/d data in the backward pass. The
    zero-valued difference that carries the gradient is taken only where loss_share is
    finite: inf - inf would turn an infinite loss (a CTC label no alignment fits, under
    MakeLoss) into nan, where MXNet's forward passes the value through."""
    finite = F.ne(F.abs(F.stop_gradient(loss_share)), float("inf"))
    zero = F.constant(value=0.0, shape=tuple(loss_share.shape),
                      dtype=dtype_name(np.dtype(loss_share.dtype)))
    share = F.where(finite, loss_share, zero)
    return F.add(F.stop_gradient(pred), F.sub(share, F.stop_gradient(share)))


def _per_sample(x, multi_output=False):
    """Elements per gradient unit: MXNet normalises regression heads by outputs per sample."""
    return int(np.prod(x.shape[1:])) if x.ndim > 1 else 1


def SoftmaxOutput(data, label, grad_scale=1.0, ignore_label=-1.0, multi_output=False,
                  use_ignore=False, preserve_shape=False, normalization="null",
                  out_grad=False, smooth_alpha=0.0, **kwargs):
    """Softmax in the forward pass; grad_scale * (softmax - one_hot(label)) in the backward
    pass (normalization 'batch' divides by the batch size, 'valid' by the number of labels not
    equal to ignore_label). multi_output: softmax over axis 1 of (n, c, ...) with labels
    (n, ...) or (n, prod(...)), the gradient also divided by the positions prod(...) unless
    'valid' (as MXNet's kernel); preserve_shape: softmax over the last axis. A label shaped
    like the data is a probability target: grad_scale * (softmax - label), unnormalized.
    out_grad=True multiplies the gradient by the head gradient element by element."""
    if kwargs:
        return _redo(SoftmaxOutput, locals())
    if normalization not in ("null", "batch", "valid"):
        raise MXNetError(f"SoftmaxOutput: normalization must be 'null', 'batch' or 'valid', "
                         f"got {normalization!r}")
    nd._check_softmax_types("SoftmaxOutput", data, None, dtype_arg=False)
    axis = 1 if multi_output else -1
    x = data if (multi_output or preserve_shape or data.ndim <= 2) else nd.flatten(data)
    pred = C.softmax(F, x, axis=axis)
    logp = C.log_softmax(F, x, axis=axis)
    classes = x.shape[axis]
    if tuple(label.shape) == tuple(data.shape):
        # MXNet: a label shaped like the data holds probabilities; the gradient is
        # grad_scale * (softmax - label), never normalized
        target = F.reshape(label, shape=x.shape)
        share = F.mul(_ce_share(x, logp, target, axis), float(grad_scale))
        if out_grad:
            share = F.mul(x, F.stop_gradient(F.mul(F.sub(pred, target), float(grad_scale))))
        out = _head(pred, share)
        return F.reshape(out, shape=data.shape) if out.shape != data.shape else out
    if multi_output and x.ndim > 2 and label.ndim == 2 and x.ndim != 3:
        label = F.reshape(label, shape=(x.shape[0],) + tuple(x.shape[2:]))  # (n, H*W) form
    hot = nd.one_hot(label, classes, dtype=np.dtype(x.dtype).name)
    if multi_output and x.ndim > 2:  # labels (n, ...) -> one-hot (n, ..., c) -> (n, c, ...)
        perm = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
        hot = F.transpose(hot, perm=perm)
    hot = F.reshape(hot, shape=x.shape)
    if smooth_alpha:
        hot = F.add(F.mul(hot, 1.0 - smooth_alpha - smooth_alpha / (classes - 1)),
                    smooth_alpha / (classes - 1))
    ce = _ce_share(x, logp, hot, axis)
    grad = F.sub(pred, hot) if out_grad else None   # the gradient itself, for out_grad
    if use_ignore:
        keep = F.cast(F.ne(label, float(ignore_label)), dtype=dtype_name(np.dtype(x.dtype)))
        keep = F.reshape(keep, shape=tuple(
            1 if i == (1 if multi_output else x.ndim - 1) else d for i, d in enumerate(x.shape)))
        ce = F.mul(ce, keep)
        grad = F.mul(grad, keep) if out_grad else None
    scale = float(grad_scale)
    if normalization == "batch":
        scale /= x.shape[0]
    if multi_output and normalization != "valid":   # MXNet divides by the positions too
        scale /= max(int(np.prod(x.shape[2:])), 1) if x.ndim > 2 else 1
    ce = F.mul(ce, scale) if scale != 1.0 else ce
    grad = F.mul(grad, scale) if out_grad and scale != 1.0 else grad
    if normalization == "valid":  # labels not equal to ignore_label (use_ignore or not, as
        # MXNet counts them), at least 1; a graph value: stays right under hybridize
        dt = dtype_name(np.dtype(x.dtype))
        valid = F.sum(F.cast(F.ne(label, float(ignore_label)), dtype=dt),
                      axes=tuple(range(label.ndim)))
        ce = F.div(ce, F.stop_gradient(F.maximum(valid, 1.0)))
        grad = F.div(grad, F.stop_gradient(F.maximum(valid, 1.0))) if out_grad else None
    if out_grad:   # MXNet multiplies the gradient by the head gradient, element by element
        ce = F.mul(x, F.stop_gradient(grad))
    out = _head(pred, ce)
    return F.reshape(out, shape=data.shape) if out.shape != data.shape else out


Softmax = SoftmaxOutput


def _ce_share(x, logp, target, axis):
    """Per element, a loss whose gradient in x is exactly softmax - target at every position,
    whatever the target sums to (an all-zero one-hot row of an out-of-range label gives the
    softmax, as MXNet's kernel): logsumexp / classes - target * x, where logsumexp is the
    row's mean of x - logp (each of its entries is the same value)."""
    axis = axis % x.ndim
    classes = x.shape[axis]
    lse = C.mean(F, F.sub(x, logp), (axis,), keepdims=True)
    return F.sub(F.div(lse, float(classes)), F.mul(target, x))


def MakeLoss(data, grad_scale=1.0, valid_thresh=0.0, normalization="null", **kwargs):
    """data in the forward pass; grad_scale (divided by the batch size for 'batch', by the
    number of entries above valid_thresh for 'valid') as its gradient."""
    if kwargs:
        return _redo(MakeLoss, locals())
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
        return _redo(make_loss, locals())
    return MakeLoss(data)


def LinearRegressionOutput(data, label, grad_scale=1.0, **kwargs):
    """data forward; grad_scale * (data - label) / (outputs per sample) backward."""
    if kwargs:
        return _redo(LinearRegressionOutput, locals())
    diff = F.sub(data, F.reshape(label, shape=data.shape))
    share = F.mul(F.mul(diff, diff), 0.5 * grad_scale / _per_sample(data))
    return _head(data, share)


def LogisticRegressionOutput(data, label, grad_scale=1.0, **kwargs):
    """sigmoid(data) forward; grad_scale * (sigmoid(data) - label) / (outputs per sample)
    backward."""
    if kwargs:
        return _redo(LogisticRegressionOutput, locals())
    label = F.reshape(label, shape=data.shape)
    share = F.mul(C.sigmoid_bce(F, data, label), grad_scale / _per_sample(data))
    return _head(F.sigmoid(data), share)


def MAERegressionOutput(data, label, grad_scale=1.0, **kwargs):
    """data forward; grad_scale * sign(data - label) / (outputs per sample) backward."""
    if kwargs:
        return _redo(MAERegressionOutput, locals())
    diff = F.sub(data, F.reshape(label, shape=data.shape))
    return _head(data, F.mul(F.abs(diff), grad_scale / _per_sample(data)))


def SVMOutput(data, label, margin=1.0, regularization_coefficient=1.0, use_linear=False,
              **kwargs):
    """data forward; backward the gradient of MXNet's SVM kernels (classes on the last axis,
    labels the data's shape without it; r the regularization coefficient, m the margin):
    L2 (default) -2r·max(m - x, 0) at the label, 2r·max(m + x, 0) elsewhere; use_linear (L1)
    -r·[x < m] at the label, r·[x > -m] elsewhere. Not normalized by the batch size."""
    if kwargs:
        return _redo(SVMOutput, locals())
    dt = dtype_name(np.dtype(data.dtype))
    x = F.stop_gradient(data)
    label = F.reshape(F.stop_gradient(label), shape=tuple(data.shape[:-1]))
    hot = nd.one_hot(label, data.shape[-1], dtype=np.dtype(data.dtype).name)
    other = F.neg(F.sub(hot, 1.0))                              # 1 - hot
    m, r = float(margin), float(regularization_coefficient)
    if use_linear:
        at_label = F.cast(F.lt(x, m), dtype=dt)
        elsewhere = F.cast(F.gt(x, -m), dtype=dt)
        scale = r
    else:
        at_label = F.relu(F.add(F.neg(x), m))                   # max(m - x, 0)
        elsewhere = F.relu(F.add(x, m))                         # max(m + x, 0)
        scale = 2.0 * r
    grad = F.mul(F.sub(F.mul(other, elsewhere), F.mul(hot, at_label)), scale)
    return _head(data, F.mul(data, F.stop_gradient(grad)))


def SoftmaxActivation(data, mode="instance", **kwargs):
    """Softmax over the last axis of each instance ('instance') or over axis 1 ('channel')."""
    if kwargs:
        return _redo(SoftmaxActivation, locals())
    nd._check_softmax_types("SoftmaxActivation", data, None, dtype_arg=False)
    if mode == "channel":
        return C.softmax(F, data, axis=1)
    return F.reshape(C.softmax(F, nd.flatten(data), axis=-1), shape=data.shape)


def _per_channel(opname, data, axis, **params):
    """Each of `params` must hold one value per entry of data's `axis`."""
    for name, p in params.items():
        if tuple(p.shape) != (data.shape[axis],):
            raise MXNetError(f"{opname}: {name} of shape {tuple(p.shape)} does not match axis "
                             f"{axis} of data of shape {tuple(data.shape)}: expected "
                             f"({data.shape[axis]},)")


def BatchNorm(data, gamma, beta, moving_mean, moving_var, eps=1e-3, momentum=0.9,
              fix_gamma=True, use_global_stats=False, output_mean_var=False, axis=1,
              cudnn_off=False, **kwargs):
    """MXNet's legacy BatchNorm operator: batch statistics in training (autograd.record with
    train_mode), updating moving_mean/moving_var in place; the moving statistics otherwise.
    fix_gamma=True (the default here, as in MXNet) uses gamma = 1. output_mean_var adds the
    mean and the inverse std 1 / sqrt(var + eps) of the statistics used, without gradients
    (MXNet's saved statistics)."""
    if kwargs:
        return _redo(BatchNorm, locals())
    return _batch_norm(data, gamma, beta, moving_mean, moving_var, eps, momentum, fix_gamma,
                       use_global_stats, output_mean_var, axis, invstd=True)


def _batch_norm(data, gamma, beta, moving_mean, moving_var, eps, momentum, fix_gamma,
                use_global_stats, output_mean_var, axis, invstd):
    """BatchNorm's computation; `invstd`: its statistics output is 1 / sqrt(var + eps)
    (BatchNorm's) rather than the variance (BatchNorm_v1's and SyncBatchNorm's)."""
    axis = _check_axis("BatchNorm", axis, data.ndim, shape=data.shape)
    _per_channel("BatchNorm", data, axis, gamma=gamma, beta=beta, moving_mean=moving_mean,
                 moving_var=moving_var)
    shape = tuple(d if i == axis else 1 for i, d in enumerate(data.shape))
    half = np.dtype(data.dtype) == np.float16
    if half:   # MXNet: float16 data is normalized in float32 (its parameters' type), then cast
        data = F.cast(data, dtype="f32")
        gamma, beta = (p if np.dtype(p.dtype) == np.float32 else F.cast(p, dtype="f32")
                       for p in (gamma, beta))
    g = F.mul(F.stop_gradient(gamma), 0.0) if fix_gamma else gamma
    g = F.add(g, 1.0) if fix_gamma else g
    if STATE.training and not use_global_stats:
        axes = tuple(i for i in range(data.ndim) if i != axis)
        mean = C.mean(F, data, axes, keepdims=True)
        centered = F.sub(data, mean)
        var = C.mean(F, F.mul(centered, centered), axes, keepdims=True)
        flat = (data.shape[axis],)
        for running, batch in ((moving_mean, mean), (moving_var, var)):
            # running + (1 - m)(batch - running) = m running + (1 - m) batch, with every op on
            # the batch: under jit a closure array's ops alone are constants of the trace, so
            # m * running would be frozen at its trace-time value while running changes
            batch = F.stop_gradient(F.reshape(batch, shape=flat))
            new = F.add(running, F.mul(F.sub(batch, running), 1.0 - momentum))
            assign_state(running, F.cast(new, dtype=dtype_name(np.dtype(running.dtype))))
    else:
        mean, var = F.reshape(moving_mean, shape=shape), F.reshape(moving_var, shape=shape)
        if half:
            mean, var = (m if np.dtype(m.dtype) == np.float32 else F.cast(m, dtype="f32")
                         for m in (mean, var))
    scale = F.div(F.reshape(g, shape=shape), F.sqrt(F.add(var, eps)))
    out = F.add(F.mul(F.sub(data, mean), scale), F.reshape(beta, shape=shape))
    if half:
        out = F.cast(out, dtype="f16")
    if output_mean_var:
        flat = (data.shape[axis],)
        stat = F.div(1.0, F.sqrt(F.add(var, eps))) if invstd else var
        return [out, F.stop_gradient(F.reshape(mean, shape=flat)),
                F.stop_gradient(F.reshape(stat, shape=flat))]
    return out


def LayerNorm(data, gamma, beta, axis=-1, eps=1e-5, output_mean_var=False, **kwargs):
    """Normalise each sample over `axis`, then gamma * x + beta."""
    if kwargs:
        return _redo(LayerNorm, locals())
    axis = _check_axis("LayerNorm", axis, data.ndim, shape=data.shape)
    _per_channel("LayerNorm", data, axis, gamma=gamma, beta=beta)
    if output_mean_var:
        return list(A.layer_norm(F, data, gamma, beta, axis, float(eps), stats=True))
    return A.layer_norm(F, data, gamma, beta, axis, float(eps))


def UpSampling(*data, scale=1, sample_type="nearest", num_args=1, num_filter=0,
               multi_input_mode="concat", workspace=512, **kwargs):
    """Upsample NCHW input by an integer `scale` on H and W, as MXNet's UpSampling.

    'nearest' takes one or more inputs: the output is the first input's size times `scale`,
    each input repeated by whatever factor brings it to that size (it must divide it), then
    concatenated on channels ('concat') or summed ('sum'). 'bilinear' takes (data, weight) and
    is MXNet's depthwise Deconvolution: kernel 2*scale - scale % 2, stride scale, pad
    ceil((scale - 1) / 2), num_filter groups (weight (num_filter, 1, k, k), e.g. from
    mx.init.Bilinear)."""
    if kwargs:
        return _redo(UpSampling, locals())
    if int(scale) < 1:
        raise MXNetError(f"UpSampling: scale must be a positive integer, got {scale}")
    scale = int(scale)
    if sample_type == "bilinear":
        if len(data) != 2:
            raise MXNetError(f"UpSampling: sample_type 'bilinear' takes (data, weight), got "
                             f"{len(data)} inputs")
        kernel, pad = 2 * scale - scale % 2, scale // 2   # pad = ceil((scale - 1) / 2)
        return nd.Deconvolution(data[0], data[1], kernel=(kernel, kernel), stride=(scale, scale),
                                pad=(pad, pad), num_filter=int(num_filter),
                                num_group=int(num_filter), no_bias=True)
    if sample_type != "nearest":
        raise MXNetError(f"UpSampling: sample_type must be 'nearest' or 'bilinear', got "
                         f"{sample_type!r}")
    if multi_input_mode not in ("concat", "sum"):
        raise MXNetError(f"UpSampling: multi_input_mode must be 'concat' or 'sum', got "
                         f"{multi_input_mode!r}")
    if not data:
        raise MXNetError("UpSampling: needs at least one input")
    for x in data:
        if x.ndim != 4:
            raise MXNetError(f"UpSampling: expects NCHW input, got shape {x.shape}")
    oh, ow = data[0].shape[2] * scale, data[0].shape[3] * scale
    outs = []
    for x in data:
        n, c, h, w = x.shape
        if oh % h or ow % w:
            raise MXNetError(f"UpSampling: input of shape {x.shape} does not divide the "
                             f"output size ({oh}, {ow})")
        sh, sw = oh // h, ow // w
        y = F.reshape(x, shape=(n, c, h, 1, w, 1))
        y = F.broadcast_to(y, shape=(n, c, h, sh, w, sw))
        outs.append(F.reshape(y, shape=(n, c, oh, ow)))
    if multi_input_mode == "sum":
        if len({o.shape for o in outs}) != 1:
            raise MXNetError(f"UpSampling: multi_input_mode 'sum' needs the same number of "
                             f"channels in every input, got {[x.shape for x in data]}")
        total = outs[0]
        for o in outs[1:]:
            total = F.add(total, o)
        return total
    return outs[0] if len(outs) == 1 else nd.concat(*outs, dim=1)


def Pad(data, mode="constant", pad_width=(), constant_value=0.0, **kwargs):
    """nd.pad under its legacy name."""
    if kwargs:
        return _redo(Pad, locals())
    from .nd_math import pad
    return pad(data, mode=mode, pad_width=pad_width, constant_value=constant_value)


Activation = nd.Activation
FullyConnected = nd.FullyConnected
Dropout = nd.Dropout
Flatten = nd.Flatten
SliceChannel = nd.SliceChannel
SwapAxis = nd.SwapAxis
Embedding = nd.Embedding
Cast = nd.Cast
LeakyReLU = nd.LeakyReLU
BlockGrad = nd.BlockGrad
Transpose = nd.transpose
ExpandDims = nd.expand_dims


def L2Normalization(data, eps=1e-10, mode="instance", **kwargs):
    """data / sqrt(sum(data²) + eps) over all axes but the first ('instance'), over the
    channel axis 1 ('channel') or over the spatial axes 2... ('spatial')."""
    if kwargs:
        return _redo(L2Normalization, locals())
    if mode == "instance":
        axes = tuple(range(1, data.ndim))
    elif mode == "channel":
        axes = (1,)
    elif mode == "spatial":
        axes = tuple(range(2, data.ndim))
    else:
        raise MXNetError(f"L2Normalization: mode must be instance, channel or spatial, got "
                         f"{mode!r}")
    norm = F.sqrt(F.add(F.sum(F.mul(data, data), axes=axes, keepdims=True), eps))
    return F.div(data, norm)


def BatchNorm_v1(data, gamma, beta, moving_mean, moving_var, eps=1e-3, momentum=0.9,  # noqa: N802
                 fix_gamma=True, use_global_stats=False, output_mean_var=False, **kwargs):
    """MXNet's first BatchNorm operator, kept for old graphs: BatchNorm over axis 1, whose
    output_mean_var gives the variance (BatchNorm's gives the inverse std)."""
    if kwargs:
        return _redo(BatchNorm_v1, locals())
    return _batch_norm(data, gamma, beta, moving_mean, moving_var, eps, momentum, fix_gamma,
                       use_global_stats, output_mean_var, 1, invstd=False)


def SyncBatchNorm(data, gamma, beta, moving_mean, moving_var, eps=1e-3, momentum=0.9,  # noqa: N802
                  fix_gamma=True, use_global_stats=False, output_mean_var=False, ndev=1,
                  key="", **kwargs):
    """MXNet's contrib SyncBatchNorm (nd.contrib / sym.contrib): the batch statistics across
    the `ndev` devices of one process. tracegrad computes on one device, so they are this
    call's batch's, and it is BatchNorm over axis 1 (as gluon.contrib.nn.SyncBatchNorm); its
    output_mean_var gives the variance, as MXNet's."""
    if kwargs:
        return _redo(SyncBatchNorm, locals())
    if int(ndev) < 1:
        raise MXNetError(f"SyncBatchNorm: ndev must be >= 1, got {ndev}")
    return _batch_norm(data, gamma, beta, moving_mean, moving_var, eps, momentum, fix_gamma,
                       use_global_stats, output_mean_var, 1, invstd=False)


__all__ = ["BatchNorm_v1", "Concat", "Reshape", "SoftmaxOutput", "Softmax", "LinearRegressionOutput",
           "LogisticRegressionOutput", "MAERegressionOutput", "SVMOutput", "SoftmaxActivation",
           "BatchNorm", "LayerNorm", "UpSampling", "Pad", "Activation", "FullyConnected",
           "Dropout", "Flatten", "SliceChannel", "SwapAxis", "Embedding", "Cast", "LeakyReLU",
           "BlockGrad", "Transpose", "ExpandDims", "L2Normalization", "MakeLoss", "make_loss"]
