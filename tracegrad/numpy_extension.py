"""`mx.npx`: MXNet's numpy extension, the neural-network operators of the numpy interface
(`npx.relu`, `npx.softmax`, `npx.fully_connected`, ...) and the `set_np` switch. Each takes and
returns mx.np arrays and is the nd operator of the same meaning (so it records, differentiates
and compiles as nd code does); `npx.reshape` has the numpy extension's own special codes."""
import numpy as onp

from . import nd
from .array import F, NDArray
from .base import MXNetError
from .context import cpu, cpu_pinned, current_context, gpu, num_gpus  # noqa: F401
from .numpy_api.ndarray import as_np, dtype_of, ndarray
from .util import (is_np_array, is_np_shape, np_array, np_shape, reset_np,  # noqa: F401
                   set_np, use_np)

current_device = current_context


def waitall():
    """Nothing to wait for: tracegrad computes synchronously."""


def _np(fn, name):
    def wrapper(*args, **kwargs):
        return as_np(fn(*args, **kwargs))
    wrapper.__name__ = name
    wrapper.__doc__ = f"MXNet's npx.{name} (the nd operator {fn.__name__} on mx.np arrays)."
    return wrapper


relu = _np(nd.relu, "relu")
sigmoid = _np(nd.sigmoid, "sigmoid")
batch_dot = _np(nd.batch_dot, "batch_dot")
pick = _np(nd.pick, "pick")
topk = _np(nd.topk, "topk")
layer_norm = _np(nd.LayerNorm, "layer_norm")
leaky_relu = _np(nd.LeakyReLU, "leaky_relu")
gamma = _np(nd.gamma, "gamma")
gammaln = _np(nd.gammaln, "gammaln")
erf = _np(nd.erf, "erf")
erfinv = _np(nd.erfinv, "erfinv")
stop_gradient = _np(nd.stop_gradient, "stop_gradient")
# the detection operators MXNet 1.9.1 also registers under npx names
multibox_prior = _np(nd.contrib.MultiBoxPrior, "multibox_prior")
multibox_detection = _np(nd.contrib.MultiBoxDetection, "multibox_detection")
box_nms = _np(nd.contrib.box_nms, "box_nms")
box_iou = _np(nd.contrib.box_iou, "box_iou")
roi_align = _np(nd.contrib.ROIAlign, "roi_align")
roi_pooling = _np(nd.ROIPooling, "roi_pooling")


def multibox_target(*args, **kwargs):
    """MXNet's npx.multibox_target (nd.contrib.MultiBoxTarget on mx.np arrays): [loc_target,
    loc_mask, cls_target]."""
    return [as_np(x) for x in nd.contrib.MultiBoxTarget(*args, **kwargs)]


def bipartite_matching(data, is_ascend=False, threshold=None, topk=-1):
    """MXNet's npx.bipartite_matching (nd.contrib.bipartite_matching on mx.np arrays)."""
    rows, cols = nd.contrib.bipartite_matching(data, is_ascend=is_ascend, threshold=threshold,
                                               topk=topk)
    return as_np(rows), as_np(cols)


def softmax(data, axis=-1, length=None, temperature=None, use_length=False, dtype=None):
    return as_np(nd.softmax(data, length=length, axis=axis, temperature=temperature,
                            dtype=dtype, use_length=use_length))


def log_softmax(data, axis=-1, length=None, temperature=None, use_length=False, dtype=None):
    return as_np(nd.log_softmax(data, length=length, axis=axis, temperature=temperature,
                                dtype=dtype, use_length=use_length))


def masked_softmax(data, mask, axis=-1, temperature=1.0, normalize=True):
    """softmax over the positions where mask is true (0 elsewhere)."""
    m = mask if dtype_of(mask) == onp.bool_ else F.ne(mask, 0)
    m = F.broadcast_to(m, shape=data.shape) if m.shape != data.shape else m
    low = F.where(m, data, float(onp.finfo(dtype_of(data)).min))
    out = nd.softmax(low, axis=axis, temperature=temperature)
    return as_np(F.where(m, out, 0.0))


def activation(data, act_type="relu"):
    return as_np(nd.Activation(data, act_type=act_type))


def fully_connected(x, weight, bias=None, num_hidden=None, no_bias=False, flatten=True):
    if num_hidden is None:
        num_hidden = weight.shape[0]
    return as_np(nd.FullyConnected(x, weight, bias, num_hidden=num_hidden,
                                   no_bias=no_bias or bias is None, flatten=flatten))


def convolution(data=None, weight=None, bias=None, kernel=None, stride=None, dilate=None,
                pad=None, num_filter=1, num_group=1, workspace=1024, no_bias=False,
                cudnn_tune=None, cudnn_off=False, layout=None):
    if kernel is None:
        kernel = weight.shape[2:]
    return as_np(nd.Convolution(data, weight, bias, kernel=kernel, stride=stride,
                                dilate=dilate, pad=pad, num_filter=num_filter,
                                num_group=num_group, no_bias=no_bias or bias is None,
                                layout=layout))


def deconvolution(data=None, weight=None, bias=None, **kwargs):
    return as_np(nd.Deconvolution(data, weight, bias, **kwargs))


def pooling(data=None, kernel=None, stride=None, pad=None, pool_type="max",
            pooling_convention="valid", global_pool=False, cudnn_off=False, p_value=None,
            count_include_pad=None, layout=None):
    return as_np(nd.Pooling(data, kernel=kernel, pool_type=pool_type, global_pool=global_pool,
                            pooling_convention=pooling_convention, stride=stride, pad=pad,
                            p_value=p_value, count_include_pad=count_include_pad,
                            layout=layout))


def batch_norm(x, gamma, beta, running_mean, running_var, eps=1e-3, momentum=0.9,
               fix_gamma=True, use_global_stats=False, output_mean_var=False, axis=1,
               cudnn_off=False, min_calib_range=None, max_calib_range=None):
    return as_np(nd.BatchNorm(x, gamma, beta, running_mean, running_var, eps=eps,
                              momentum=momentum, fix_gamma=fix_gamma,
                              use_global_stats=use_global_stats,
                              output_mean_var=output_mean_var, axis=axis))


def dropout(data, p=0.5, mode="training", axes=None, cudnn_off=True):
    return as_np(nd.Dropout(data, p=p, mode=mode, axes=tuple(axes or ())))


def one_hot(data, depth=None, on_value=1.0, off_value=0.0, dtype="float32"):
    if depth is None:
        raise MXNetError("one_hot: depth is required")
    return as_np(nd.one_hot(data, depth, on_value=on_value, off_value=off_value, dtype=dtype))


def sequence_mask(data, sequence_length=None, use_sequence_length=False, value=0.0, axis=0):
    return as_np(nd.SequenceMask(data, sequence_length, use_sequence_length, value, axis))


def embedding(data, weight, input_dim=None, output_dim=None, dtype="float32",
              sparse_grad=False):
    if input_dim is None or output_dim is None:
        input_dim, output_dim = weight.shape
    return as_np(nd.Embedding(data, weight, input_dim=input_dim, output_dim=output_dim,
                              sparse_grad=sparse_grad))


def batch_flatten(x):
    return as_np(F.reshape(x, shape=(x.shape[0], int(onp.prod(x.shape[1:])))))


def arange_like(data, start=0.0, step=1.0, repeat=1, axis=None):
    n = data.size if axis is None else data.shape[axis]
    vals = onp.repeat(start + step * onp.arange(-(-n // repeat)), repeat)[:n]
    shape = data.shape if axis is None else (n,)
    return ndarray(vals.reshape(shape).astype(data.dtype))


def _reshape_shape(src, newshape, reverse):
    """The target shape of npx.reshape's codes: -1 infer one, -2 copy this input axis, -3 drop
    an input axis of size 1, -4 copy all remaining input axes, -5 merge two input axes, -6 split
    one input axis into the next two values (one may be -1)."""
    src, codes = list(src), list(newshape)
    if reverse:
        src, codes = src[::-1], codes[::-1]
        # a -6 split's two values come after it: keep them after it once reversed
        i = 0
        while i < len(codes):
            if i + 2 < len(codes) and codes[i + 2] == -6:
                codes[i], codes[i + 2] = codes[i + 2], codes[i]
                codes[i + 1], codes[i + 2] = codes[i + 2], codes[i + 1]
                i += 3
            else:
                i += 1
    out, i, j, infer = [], 0, 0, None
    while j < len(codes):
        c = codes[j]
        if c >= 0:
            out.append(c)
            i += 1
        elif c == -1:
            if infer is not None:
                raise MXNetError(f"npx.reshape: more than one -1 in {tuple(newshape)}")
            infer = len(out)
            out.append(-1)
            i += 1
        elif c == -2:
            out.append(src[i])
            i += 1
        elif c == -3:
            if i >= len(src) or src[i] != 1:
                raise MXNetError(f"npx.reshape: -3 needs an input axis of size 1 (shape "
                                 f"{tuple(src)}, codes {tuple(newshape)})")
            i += 1
        elif c == -4:
            out.extend(src[i:])
            i = len(src)
        elif c == -5:
            out.append(src[i] * src[i + 1])
            i += 2
        elif c == -6:
            a, b = codes[j + 1], codes[j + 2]
            d = src[i]
            if a == -1:
                a = d // b
            if b == -1:
                b = d // a
            if a * b != d:
                raise MXNetError(f"npx.reshape: -6 cannot split {d} into {a} x {b}")
            out.extend([a, b])
            i += 1
            j += 2
        else:
            raise MXNetError(f"npx.reshape: unknown code {c} in {tuple(newshape)}")
        j += 1
    if i > len(src):
        raise MXNetError(f"npx.reshape: codes {tuple(newshape)} use more axes than the input "
                         f"shape {tuple(src[::-1] if reverse else src)} has")
    size = int(onp.prod(src))
    if infer is not None:
        known = int(onp.prod([d for k, d in enumerate(out) if k != infer]))
        if known == 0 or size % known:
            raise MXNetError(f"npx.reshape: cannot infer -1 for shape {tuple(src)} with codes "
                             f"{tuple(newshape)}")
        out[infer] = size // known
    if int(onp.prod(out)) != size:
        raise MXNetError(f"npx.reshape: cannot reshape {tuple(src)} into {tuple(out)} (codes "
                         f"{tuple(newshape)})")
    return tuple(out[::-1] if reverse else out)


def reshape(a, newshape, reverse=False, order="C"):
    """Reshape with the numpy extension's codes (see _reshape_shape)."""
    if not isinstance(a, NDArray):
        raise TypeError(f"npx.reshape: expected an mx.np.ndarray, got {type(a).__name__}")
    newshape = (newshape,) if isinstance(newshape, int) else tuple(newshape)
    shape = _reshape_shape(a.shape, newshape, reverse)
    return as_np(F.reshape(a, shape=shape) if shape != a.shape else a)


def save(file, arr):
    nd.save(file, as_nd_all(arr))


def load(file):
    out = nd.load(file)
    return {k: as_np(v) for k, v in out.items()} if isinstance(out, dict) else as_np(out)


def as_nd_all(x):
    from .numpy_api.ndarray import as_nd
    if isinstance(x, dict):
        return {k: as_nd(v) for k, v in x.items()}
    return as_nd(x)


def from_numpy(ndarray_, zero_copy=True):
    return as_np(nd.from_numpy(ndarray_, zero_copy))


from . import numpy_extension_random as _random_module  # noqa: E402
random = _random_module  # npx.random: seed, bernoulli, normal_n, uniform_n
from .numpy_extension_ops import (cast, constraint_check, gather_nd, nonzero,  # noqa: E402,F401
                                  reshape_like, rnn, shape_array, slice, smooth_l1)
from . import numpy_extension_image as image  # noqa: E402  (npx.image)
