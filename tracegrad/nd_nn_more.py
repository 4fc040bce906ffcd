"""More of `mx.nd`'s neural-network operators under MXNet 1.9.1 names: softmin, LRN and the
legacy Crop. Each is a composite of registry primitives, so it records, compiles and
differentiates to any order. Imported into `nd`.
"""
import numpy as np

from .array import F
from .base import MXNetError
from .ir import composites as C
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["softmin", "LRN", "Crop"]


def softmin(data, axis=-1, temperature=None, dtype=None, use_length=False, **kwargs):
    """softmax(-data / temperature) along `axis` (MXNet's softmin); `dtype` ('float32' or
    'float64') is the result's dtype (computed in it)."""
    if kwargs:
        return _redo(softmin, locals())
    from .nd import _check_softmax_types
    _check_softmax_types("softmin", data, dtype)
    if use_length:
        raise MXNetError("softmin: use_length=True is not supported (no length input)")
    if not -data.ndim <= int(axis) < data.ndim:
        raise MXNetError(f"softmin: axis {axis} is out of range for input of shape "
                         f"{data.shape}")
    x = data
    if dtype is not None:
        x = F.cast(x, dtype=dtype_name(np.dtype(dtype)))
    return C.softmax(F, F.neg(x), axis=int(axis), temperature=temperature)


def LRN(data, alpha=1e-4, beta=0.75, knorm=2.0, nsize=None, **kwargs):
    """Local response normalization across channels of NCHW data (MXNet's LRN):
    out = data / (knorm + alpha / nsize * sum of data² over the nsize channels centred on
    each, clipped at the edges) ** beta; nsize must be odd."""
    if kwargs:
        return _redo(LRN, locals())
    if nsize is None:
        raise MXNetError("LRN: nsize (the window width in channels) is required")
    nsize = int(nsize)
    if nsize < 1 or nsize % 2 == 0:
        raise MXNetError(f"LRN: only supports odd values for nsize, got {nsize}")
    if data.ndim != 4:
        raise MXNetError(f"LRN: data must be 4-d (batch, channel, height, width), got shape "
                         f"{data.shape}")
    n, c, h, w = data.shape
    half = nsize // 2
    sq = F.mul(data, data)
    padded = F.pad(sq, pad_width=(0, 0, half, half, 0, 0, 0, 0), mode="constant",
                   constant_value=0.0)
    window = None
    for k in range(nsize):
        part = F.slice(padded, begin=(0, k, 0, 0), end=(n, k + c, h, w), step=(1, 1, 1, 1))
        window = part if window is None else F.add(window, part)
    norm = F.add(F.mul(window, float(alpha) / nsize), float(knorm))
    return F.mul(data, F.pow(norm, -float(beta)))


def Crop(*data, num_args=None, offset=(0, 0), h_w=(0, 0), center_crop=False, **kwargs):
    """The legacy Crop of NCHW data[0] to height and width h_w (one input) or to those of
    data[1] (two inputs, the crop_like, which gets a zero gradient), at `offset` (y, x) or
    centred (center_crop)."""
    if kwargs:
        return _redo(Crop, locals())
    if not 1 <= len(data) <= 2 or (num_args is not None and int(num_args) != len(data)):
        raise MXNetError(f"Crop: takes 1 or 2 inputs matching num_args, got {len(data)} "
                         f"inputs and num_args={num_args}")
    x = data[0]
    if x.ndim != 4:
        raise MXNetError(f"Crop: input data should be 4D in batch-num_filter-y-x, got shape "
                         f"{x.shape}")
    if len(data) == 2:
        like = data[1]
        if like.ndim != 4:
            raise MXNetError(f"Crop: crop_like must be 4-d, got shape {like.shape}")
        oh, ow = like.shape[2], like.shape[3]
    else:
        oh, ow = (int(v) for v in h_w)
        if not (1 <= oh <= x.shape[2] and 1 <= ow <= x.shape[3]):
            raise MXNetError(f"Crop: h_w {tuple(h_w)} must be within [1, height] x [1, width] "
                             f"of data of shape {x.shape}")
    if oh > x.shape[2] or ow > x.shape[3]:
        raise MXNetError(f"Crop: the crop ({oh}, {ow}) is larger than data of shape "
                         f"{x.shape}")
    if center_crop:
        oy, ox = (x.shape[2] - oh) // 2, (x.shape[3] - ow) // 2
    else:
        oy, ox = (int(v) for v in offset)
        if not (0 <= oy <= x.shape[2] - oh and 0 <= ox <= x.shape[3] - ow):
            raise MXNetError(f"Crop: offset {tuple(offset)} leaves the data of shape "
                             f"{x.shape} for a crop of ({oh}, {ow})")
    n, c = x.shape[:2]
    return F.slice(x, begin=(0, 0, oy, ox), end=(n, c, oy + oh, ox + ow), step=(1, 1, 1, 1))
