"""`gluon.utils`: helpers MXNet training loops call: splitting a batch across devices and
clipping gradients by their global norm."""
import warnings

import numpy as np


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """Split `data` into `num_slice` slices along `batch_axis`. With even_split=False the first
    size % num_slice slices get one extra element, as in MXNet."""
    from .. import nd
    size = data.shape[batch_axis]
    if even_split and size % num_slice:
        raise ValueError(
            f"data with shape {data.shape} cannot be evenly split into {num_slice} slices along "
            f"axis {batch_axis}. Use a batch size that's multiple of {num_slice} or set "
            f"even_split=False to allow uneven partitioning of data.")
    each, extras = divmod(size, num_slice)
    bounds = np.cumsum([0] + [each + 1] * extras + [each] * (num_slice - extras))
    if batch_axis == 0:  # a view of each batch, as MXNet's data[lo:hi]
        return [data[int(lo):int(hi)] for lo, hi in zip(bounds[:-1], bounds[1:])]
    return [nd.slice_axis(data, batch_axis, int(lo), int(hi))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


def split_and_load(data, ctx_list, batch_axis=0, even_split=True):
    """Split `data` along `batch_axis` into one slice per context in `ctx_list` (a numpy array
    is made an NDArray first)."""
    from .. import nd
    if not isinstance(data, nd.NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [s.as_in_context(ctx) for s, ctx in zip(slices, ctx_list)]


def clip_global_norm(arrays, max_norm, check_isfinite=True):
    """Scale `arrays` in place so that the 2-norm of all of them together is at most max_norm;
    returns that norm before scaling (a float, or an NDArray when check_isfinite=False)."""
    from .. import nd
    if len(arrays) == 0:
        raise ValueError("clip_global_norm: no arrays given")
    total = None
    for arr in arrays:
        flat = arr.reshape((-1,))
        sq = nd.dot(flat, flat)
        total = sq if total is None else total + sq
    total_norm = nd.sqrt(total)
    if check_isfinite and not np.isfinite(total_norm.asscalar()):
        warnings.warn(UserWarning("nan or inf is detected. Clipping results will be undefined."),
                      stacklevel=2)
    scale = max_norm / (total_norm + 1e-8)
    scale = nd.min(nd.concat(scale, nd.ones(1, dtype=scale.dtype), dim=0))
    for arr in arrays:
        arr *= scale.astype(arr.dtype)
    return total_norm.asscalar() if check_isfinite else total_norm
