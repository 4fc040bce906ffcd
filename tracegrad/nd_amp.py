"""`nd.amp_cast` and `nd.amp_multicast` (MXNet 1.9.1's AMP casts). They convert only between
low-precision floats and float32 and leave every other dtype as it is.

tracegrad holds no float16 arrays (nd.array stores float16 data as float32), so a cast to
float16 gives float32 values rounded to the nearest float16 (ties to even, ±inf past 65504,
subnormals on the 2^-24 grid), which is what float16 would hold; its gradient passes straight
through, as MXNet's cast-back gradient does. The rounding is a composite (add and subtract a
binade's magic constant in float32), so it compiles and differentiates like every nd op.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["amp_cast", "amp_multicast"]

_HALF_MAX = 65504.0


def _target(dtype):
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name in ("bfloat16",):
        raise MXNetError("amp_cast: bfloat16 is not supported (tracegrad has no bfloat16 "
                         "arrays)")
    np_dtype = np.dtype(name)
    return "half" if np_dtype == np.float16 else dtype_name(np_dtype)


def round_to_half(x):
    """float32 x rounded to the nearest float16 value, held in float32; gradient 1."""
    a = F.abs(x)
    magic = F.constant(value=0.75, shape=(), dtype="f32")      # binades below 2^-13
    for e in range(-13, 16):   # binade [2^e, 2^(e+1)): the float16 grid step is 2^(e-10)
        magic = F.where(F.ge(a, 2.0 ** e), 1.5 * 2.0 ** (e + 13), magic)
    magic = F.stop_gradient(magic)
    r = F.sub(F.add(x, magic), magic)          # rounds x to a multiple of the grid step
    r = F.where(F.eq(r, 0.0), F.mul(x, 0.0), r)   # a zero keeps x's sign
    r = F.where(F.gt(r, _HALF_MAX), float("inf"), F.where(F.lt(r, -_HALF_MAX), float("-inf"),
                                                           r))
    r = F.stop_gradient(r)
    finite = F.where(F.lt(a, float("inf")), x, 0.0)
    return F.sub(r, F.sub(F.stop_gradient(finite), finite))   # value r, gradient 1


def amp_cast(data, dtype, **kwargs):
    """data cast to `dtype` when data is float32 (float16 as above); data of any other dtype
    comes back unchanged (a new array), as MXNet's amp_cast."""
    if kwargs:
        return _redo(amp_cast, locals())
    if not isinstance(data, NDArray):
        raise MXNetError(f"amp_cast: data must be an NDArray, got {type(data).__name__}")
    target = _target(dtype)
    src = np.dtype(data.dtype)
    if src != np.float32:
        return F.cast(data, dtype=dtype_name(src))
    if target == "half":
        with np.errstate(invalid="ignore"):    # inf * 0 (a zero's sign), discarded
            return round_to_half(data)
    return F.cast(data, dtype=target)


def amp_multicast(*data, num_outputs=None, cast_narrow=False, **kwargs):
    """Each input cast to the widest float type among them (cast_narrow: the narrowest),
    counting only float16/float32; other dtypes unchanged. With tracegrad's dtypes (no float16)
    every input keeps its dtype: the results are copies. A list (one NDArray for one input)."""
    if kwargs:
        return _redo(amp_multicast, locals())
    if num_outputs is None or int(num_outputs) != len(data):
        raise MXNetError(f"amp_multicast: num_outputs ({num_outputs}) must equal the number "
                         f"of inputs ({len(data)})")
    outs = [F.cast(d, dtype=dtype_name(np.dtype(d.dtype))) for d in data]
    return outs if len(outs) > 1 else outs[0]
