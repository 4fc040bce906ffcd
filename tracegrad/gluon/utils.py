"""`gluon.utils`: helpers MXNet training loops call (single CPU device here)."""
from ..base import MXNetError


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """Split data into num_slice pieces along batch_axis."""
    from .. import nd
    size = data.shape[batch_axis]
    if even_split and size % num_slice:
        raise MXNetError(f"split_data: data of shape {data.shape} cannot be split evenly into "
                         f"{num_slice} slices along axis {batch_axis}")
    step = size // num_slice
    return [nd.slice_axis(data, batch_axis, i * step,
                          size if i == num_slice - 1 else (i + 1) * step)
            for i in range(num_slice)]


def split_and_load(data, ctx_list, batch_axis=0, even_split=True):
    """One slice per context; with one context (the CPU) the data itself."""
    from .. import nd
    if not isinstance(data, nd.NDArray):
        data = nd.array(data)
    if len(ctx_list) == 1:
        return [data]
    return split_data(data, len(ctx_list), batch_axis, even_split)
