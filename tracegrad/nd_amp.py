"""`nd.amp_cast` and `nd.amp_multicast` (MXNet 1.9.1's AMP casts). They convert only between
the AMP float types (float16, float32) and leave every other dtype as it is.

A cast to float16 is a real float16 array (numpy's conversion: ties to even, ±inf past 65504,
subnormals); its gradient is cast back to the input's dtype, as MXNet's amp_cast backward.
float16 ops have no native lowering, so compiled code runs them through numpy (see
codegen/entry.py check_lowerable): the same values as eager.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["amp_cast", "amp_multicast"]

_AMP_FLOATS = (np.dtype(np.float16), np.dtype(np.float32))


def _target(dtype):
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name in ("bfloat16",):
        raise MXNetError("amp_cast: bfloat16 is not supported (tracegrad has no bfloat16 "
                         "arrays)")
    return dtype_name(np.dtype(name))


def amp_cast(data, dtype, **kwargs):
    """data cast to `dtype` when data is float32 or float16; data of any other dtype comes
    back unchanged (a new array), as MXNet's amp_cast."""
    if kwargs:
        return _redo(amp_cast, locals())
    if not isinstance(data, NDArray):
        raise MXNetError(f"amp_cast: data must be an NDArray, got {type(data).__name__}")
    target = _target(dtype)
    src = np.dtype(data.dtype)
    if src not in _AMP_FLOATS:
        return F.cast(data, dtype=dtype_name(src))
    with np.errstate(over="ignore"):    # past float16's 65504: inf, as MXNet's cast
        return F.cast(data, dtype=target)


def amp_multicast(*data, num_outputs=None, cast_narrow=False, **kwargs):
    """Each float16/float32 input cast to the widest of those types among the inputs
    (cast_narrow: the narrowest); other dtypes unchanged (copies). A list (one NDArray for
    one input)."""
    if kwargs:
        return _redo(amp_multicast, locals())
    if num_outputs is None or int(num_outputs) != len(data):
        raise MXNetError(f"amp_multicast: num_outputs ({num_outputs}) must equal the number "
                         f"of inputs ({len(data)})")
    amp = [np.dtype(d.dtype) for d in data if np.dtype(d.dtype) in _AMP_FLOATS]
    to = None
    if amp:
        to = min(amp, key=lambda t: t.itemsize) if cast_narrow else \
            max(amp, key=lambda t: t.itemsize)
    outs = []
    for d in data:
        src = np.dtype(d.dtype)
        with np.errstate(over="ignore"):
            outs.append(F.cast(d, dtype=dtype_name(to if src in _AMP_FLOATS else src)))
    return outs if len(outs) > 1 else outs[0]
