"""DLPack and numpy interchange without copies: `nd.from_dlpack`, `nd.to_dlpack_for_read`,
`nd.to_dlpack_for_write`, `nd.from_numpy` (NDArray itself implements `__dlpack__` and
`__dlpack_device__`, array.py). All CPU: the buffer is numpy's, so any DLPack consumer
(numpy, PyTorch, JAX) shares it.
"""
import numpy as np

from .array import NDArray, wrap
from .base import MXNetError
from .ir.types import dtype_name


class _Capsule:
    """Presents a bare DLPack capsule (what to_dlpack_* return) to np.from_dlpack."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, stream=None, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def _checked(data, what):
    try:
        dtype_name(data.dtype)
    except (TypeError, KeyError, ValueError):
        raise MXNetError(f"{what}: dtype {data.dtype} is not supported by tracegrad (float32, "
                         f"float64, float16, int32, int64, int8, uint8, bool)") from None
    return data


def from_dlpack(dlpack):
    """An NDArray sharing the memory of a DLPack capsule or of any object with __dlpack__."""
    source = _Capsule(dlpack) if type(dlpack).__name__ == "PyCapsule" else dlpack
    if not hasattr(source, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected a DLPack capsule or an object with "
                        f"__dlpack__, got {type(dlpack).__name__}")
    return wrap(_checked(np.from_dlpack(source), "from_dlpack"))


def to_dlpack_for_read(data):
    """A DLPack (1.0, versioned) capsule over `data`'s buffer (no copy), flagged read-only."""
    data._concretize("DLPack export")  # inside jit: a guard, so no stale buffer is frozen
    view = data._data.view()
    view.flags.writeable = False
    return view.__dlpack__(max_version=(1, 0))


def to_dlpack_for_write(data):
    """A DLPack (1.0, versioned) capsule over `data`'s buffer (no copy), writable: writes
    through the consumer's array change `data`."""
    data._check_writable("to_dlpack_for_write")
    data._concretize("DLPack export")
    return data._data.__dlpack__(max_version=(1, 0))


def from_numpy(ndarray, zero_copy=True):
    """An NDArray over a C-contiguous numpy array's memory, keeping its dtype. With zero_copy
    (the default) the memory is shared and, as in MXNet, the numpy array is made read-only so
    it cannot change under the NDArray; zero_copy=False copies."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}")
    _checked(ndarray, "from_numpy")
    if not zero_copy:
        return wrap(np.array(ndarray, order="C"))
    if not ndarray.flags.c_contiguous:
        raise ValueError("from_numpy: only C-contiguous arrays are supported for zero-copy "
                         "(pass zero_copy=False, or np.ascontiguousarray first)")
    if not ndarray.flags.writeable:
        # (read-only since an earlier from_numpy of it: MXNet's NDArray writes the shared
        # memory whatever numpy's flag says, so this wrapper must too; memory that is read-only
        # for good, a view of a read-only array or a read-only memmap, stays so: read, shared)
        try:
            ndarray.flags.writeable = True
        except ValueError:
            pass
    shared = ndarray.view()
    ndarray.flags.writeable = False
    return wrap(shared)


__all__ = ["from_dlpack", "to_dlpack_for_read", "to_dlpack_for_write", "from_numpy",
           "NDArray"]
