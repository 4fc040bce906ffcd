"""`mx.runtime.Features()`: MXNet 1.x's compile-time feature list, answered for this library.

Programs ask it before choosing a device or a path (`Features().is_enabled('CUDA')`), so the
names are MXNet's, in its order, and each says what tracegrad really has: no GPU libraries,
the host CPU's SIMD extensions (as LLVM reports them to the compiler), numpy's OpenBLAS and
LAPACK, 64-bit tensor sizes, and a distributed kvstore when mpi4py is installed.
"""
import collections
import importlib.util

# MXNet 1.9.1's feature names (src/libinfo.cc), in its order
NAMES = ("CUDA", "CUDNN", "NCCL", "CUDA_RTC", "TENSORRT", "CPU_SSE", "CPU_SSE2", "CPU_SSE3",
         "CPU_SSE4_1", "CPU_SSE4_2", "CPU_SSE4A", "CPU_AVX", "CPU_AVX2", "OPENMP", "SSE", "F16C",
         "JEMALLOC", "BLAS_OPEN", "BLAS_ATLAS", "BLAS_MKL", "BLAS_APPLE", "LAPACK", "MKLDNN",
         "OPENCV", "CAFFE", "PROFILER", "DIST_KVSTORE", "CXX14", "INT64_TENSOR_SIZE",
         "SIGNAL_HANDLER", "DEBUG", "TVM_OP")
# feature -> the LLVM host feature that decides it
_CPU = {"CPU_SSE": "sse", "SSE": "sse", "CPU_SSE2": "sse2", "CPU_SSE3": "sse3",
        "CPU_SSE4_1": "sse4.1", "CPU_SSE4_2": "sse4.2", "CPU_SSE4A": "sse4a", "CPU_AVX": "avx",
        "CPU_AVX2": "avx2", "F16C": "f16c"}
_ALWAYS = {"BLAS_OPEN", "LAPACK", "INT64_TENSOR_SIZE", "PROFILER"}  # (mx.profiler)


class Feature:
    """One feature: its name and whether this build has it."""
    __slots__ = ("name", "enabled")

    def __init__(self, name, enabled):
        self.name, self.enabled = name, bool(enabled)

    def __repr__(self):
        return ("✔ " if self.enabled else "✖ ") + self.name


def _enabled(name, host_features) -> bool:
    if name in _CPU:
        return "+" + _CPU[name] in host_features
    if name == "DIST_KVSTORE":
        return importlib.util.find_spec("mpi4py") is not None
    return name in _ALWAYS


def feature_list() -> list:
    """[Feature] in MXNet's order."""
    from ..codegen import target
    host = set(target.host()[1].split(","))
    return [Feature(n, _enabled(n, host)) for n in NAMES]


class Features(collections.OrderedDict):
    """name -> Feature, as MXNet's: one instance per process (Features() is Features()), filled
    once; is_enabled raises RuntimeError for an unknown name."""
    instance = None

    def __new__(cls):
        if cls.instance is None:
            cls.instance = super().__new__(cls)
            collections.OrderedDict.__init__(cls.instance,
                                             ((f.name, f) for f in feature_list()))
        return cls.instance

    def __init__(self):     # (filled in __new__: a second Features() must not refill it)
        pass

    def __repr__(self):
        return str(list(self.values()))

    def is_enabled(self, feature_name):
        name = str(feature_name).upper()
        if name not in self:
            raise RuntimeError(f"Feature '{name}' is unknown, known features are: "
                               f"{list(self.keys())}")
        return self[name].enabled
