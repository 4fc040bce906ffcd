"""mx.rtc on a CPU-only build: making a CudaModule raises MXNet's MXNetError (not an
AttributeError), as a CPU build of MXNet 1.9.1 does."""
import pytest

import tracegrad as mx
from tracegrad.base import MXNetError


def test_cuda_module_raises_mxnets_cpu_build_error():
    with pytest.raises(MXNetError, match="USE_CUDA=1 and ENABLE_CUDA_RTC=1"):
        mx.rtc.CudaModule("extern \"C\" __global__ void f() {}", exports=["f"])
