"""`mx.nd.contrib.quantize` / `dequantize` (MXNet 1.9.1's src/operator/quantization/
quantize-inl.h, dequantize-inl.h): float32 data to int8 (zero-centred: scale 127 /
max(|min_range|, |max_range|), rounded half away from zero, capped at +-127) or uint8 (affine:
scale 255 / (max_range - min_range), rounded half up), with the range the quantized values
stand for; and back. Written with nd operators, so it records and compiles; no gradient (as
MXNet: the outputs are integers). Imported into `nd.contrib`.
"""
import numpy as np

from .array import NDArray
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["quantize", "dequantize"]

_LIMIT = {"int8": 127.0, "uint8": 255.0}


def _check_ranges(op, data, min_range, max_range):
    if not isinstance(data, NDArray):
        raise MXNetError(f"{op}: data must be an NDArray, got {type(data).__name__}")
    for name, r in (("min_range", min_range), ("max_range", max_range)):
        if not isinstance(r, NDArray) or r.shape != (1,) or r.dtype != np.float32:
            got = (f"{r.shape} {np.dtype(r.dtype).name}" if isinstance(r, NDArray)
                   else type(r).__name__)
            raise MXNetError(f"{op}: {name} must be a float32 NDArray of shape (1,), got {got}")


def quantize(data, min_range, max_range, out_type="uint8", **kwargs):
    """(quantized data, min_output, max_output): int8 (zero-centred) or uint8 (affine) values
    of float32 `data` for the range [min_range, max_range]. uint8 values outside the range
    saturate at 0 / 255 (MXNet's cast leaves them undefined)."""
    if kwargs:
        return _redo(quantize, locals())
    from . import nd
    _check_ranges("quantize", data, min_range, max_range)
    if data.dtype != np.float32:
        raise MXNetError(f"quantize: data must be float32, got {np.dtype(data.dtype).name}")
    if out_type not in _LIMIT:
        raise MXNetError(f"quantize: out_type must be 'int8' or 'uint8', got {out_type!r}")
    limit = _LIMIT[out_type]
    if out_type == "int8":
        real = nd.maximum(nd.abs(min_range), nd.abs(max_range))
        scaled = nd.broadcast_mul(nd.abs(data), limit / real)
        q = nd.sign(data) * nd.minimum(scaled + 0.5, limit)
        return nd.cast(q, dtype="int8"), -real, real
    scale = limit / (max_range - min_range)
    q = nd.broadcast_mul(nd.broadcast_sub(data, min_range), scale) + 0.5
    q = nd.clip(q, 0.0, limit)
    return nd.cast(q, dtype="uint8"), min_range.copy(), max_range.copy()


def dequantize(data, min_range, max_range, out_type="float32", **kwargs):
    """float32 values of int8 / uint8 `data` quantized for [min_range, max_range]."""
    if kwargs:
        return _redo(dequantize, locals())
    from . import nd
    _check_ranges("dequantize", data, min_range, max_range)
    kind = np.dtype(data.dtype).name
    if kind not in _LIMIT:
        raise MXNetError(f"dequantize: data must be int8 or uint8, got {kind}")
    if out_type != "float32":
        raise MXNetError(f"dequantize: out_type must be 'float32', got {out_type!r}")
    x = nd.cast(data, dtype="float32")
    if kind == "int8":
        real = nd.maximum(nd.abs(min_range), nd.abs(max_range))
        return nd.broadcast_mul(x, real / _LIMIT[kind])
    scale = (max_range - min_range) / _LIMIT[kind]
    return nd.broadcast_add(nd.broadcast_mul(x, scale), min_range)
