"""mx.rtc: MXNet's CUDA runtime compilation (CudaModule / CudaKernel). tracegrad runs on the
CPU, as a CPU build of MXNet does, so making a CudaModule raises MXNet's own error for that
build instead of an AttributeError (numpy-ops/custom_softmax_rtc.py calls it in its op's
constructor)."""
from .base import MXNetError

__all__ = ["CudaModule", "CudaKernel"]

_NO_RTC = ("Compile with USE_CUDA=1 and ENABLE_CUDA_RTC=1 to have CUDA runtime compilation. "
           "(tracegrad runs on the CPU only)")


class CudaModule:
    """CUDA source compiled at run time: unavailable without CUDA (MXNetError)."""

    def __init__(self, source, options=(), exports=()):
        raise MXNetError(f"mx.rtc.CudaModule: {_NO_RTC}")

    def get_kernel(self, name, signature):
        raise MXNetError(f"mx.rtc.CudaModule.get_kernel: {_NO_RTC}")


class CudaKernel:
    """A kernel of a CudaModule (never made without CUDA)."""

    def __init__(self, handle, name, is_ndarray, dtypes):
        raise MXNetError(f"mx.rtc.CudaKernel: {_NO_RTC}")

    def launch(self, args, ctx, grid_dims, block_dims, shared_mem=0):
        raise MXNetError(f"mx.rtc.CudaKernel.launch: {_NO_RTC}")
