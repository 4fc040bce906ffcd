"""`gluon.utils`: helpers MXNet training loops call: splitting a batch across devices,
clipping gradients by their global norm, downloads, shape_is_known, replace_file, HookHandle."""
import warnings

import numpy as np


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """Split `data` into `num_slice` slices along `batch_axis`. With even_split=False the first
    size % num_slice slices get one extra element, as in MXNet."""
    from .. import nd
    size = data.shape[batch_axis]
    if num_slice < 1 or size < num_slice:  # MXNet refuses empty slices (an empty batch)
        raise ValueError(f"Too many slices for data with shape {data.shape}. Arguments are "
                         f"num_slice={num_slice} and batch_axis={batch_axis}.")
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
    if all(a._value is None for a in arrays):  # plain buffers (gradients): no graph to keep
        return _clip_buffers(arrays, max_norm, check_isfinite)
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


def check_sha1(filename, sha1_hash):
    """Whether the SHA-1 digest of the file's content equals `sha1_hash` (hex)."""
    import hashlib
    sha1 = hashlib.sha1()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    return sha1.hexdigest() == sha1_hash


def download(url, path=None, overwrite=False, sha1_hash=None, retries=5, verify_ssl=True):
    """Fetch `url` to `path` (a file, or a directory to put it in; the URL's last component in
    the current directory by default) unless a file already there passes `sha1_hash`. The data
    goes to a temporary file renamed into place, so a failed download leaves nothing behind.
    Returns the file name; after retries + 1 failed attempts the last error is raised (a
    UserWarning for a SHA-1 mismatch, as in MXNet)."""
    import os
    import shutil
    import ssl
    import tempfile
    import urllib.request
    fname = url.split("/")[-1]
    if path is not None:
        path = os.path.expanduser(path)
        fname = os.path.join(path, fname) if os.path.isdir(path) else path
    if not fname:
        raise ValueError(f"download: cannot derive a file name from {url!r}; pass path=")
    if not overwrite and os.path.exists(fname) and (sha1_hash is None or
                                                     check_sha1(fname, sha1_hash)):
        return fname
    if retries < 0:
        raise ValueError(f"download: retries must be >= 0, got {retries}")
    folder = os.path.dirname(os.path.abspath(fname))
    os.makedirs(folder, exist_ok=True)
    context = None if verify_ssl else ssl._create_unverified_context()
    error = None
    for _ in range(retries + 1):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, context=context) as r:
                shutil.copyfileobj(r, out)
            if sha1_hash and not check_sha1(tmp, sha1_hash):
                raise UserWarning(f"download: file from {url} does not match the expected "
                                  f"SHA-1 {sha1_hash}; the content may be corrupt or changed")
            os.replace(tmp, fname)
            return fname
        except Exception as e:  # noqa: BLE001 - retried; the last error is raised, as MXNet
            error = e
            if os.path.exists(tmp):
                os.remove(tmp)
    raise error


def _clip_buffers(arrays, max_norm, check_isfinite):
    """clip_global_norm on arrays outside any graph, straight on their numpy buffers, with the
    same float arithmetic as the NDArray path (dots and sums in the arrays' dtype)."""
    from .. import nd
    dtype = arrays[0]._data.dtype
    total = dtype.type(0)
    for arr in arrays:
        flat = arr._data.reshape(-1)
        total = (total + np.dot(flat, flat)).astype(dtype)
    total_norm = np.sqrt(total)
    if check_isfinite and not np.isfinite(total_norm):
        warnings.warn(UserWarning("nan or inf is detected. Clipping results will be undefined."),
                      stacklevel=3)
    scale = min(dtype.type(max_norm) / (total_norm + dtype.type(1e-8)), dtype.type(1.0))
    if scale < 1.0:
        for arr in arrays:
            arr *= scale.astype(arr._data.dtype)
    return total_norm if check_isfinite else nd.array([total_norm], dtype=dtype)


def shape_is_known(shape):
    """Whether every dim of `shape` is known: unknown is 0 in MXNet 1.x's legacy shape
    semantics and -1 under numpy semantics (set_np), where () is a known scalar shape."""
    from ..util import is_np_shape
    if shape is None:
        return False
    unknown = -1 if is_np_shape() else 0
    if len(shape) == 0:
        return unknown == -1
    for dim in shape:
        if dim == unknown:
            return False
        if dim < unknown:
            raise ValueError(f"shape_is_known: a dimension cannot be less than {unknown}, got "
                             f"{dim} in {tuple(shape)}")
    return True


def replace_file(src, dst):
    """Move src over dst atomically (os.replace), as MXNet's helper for downloads."""
    import os
    os.replace(src, dst)


from .hooks import HookHandle  # noqa: E402,F401  (MXNet keeps it in gluon.utils)
