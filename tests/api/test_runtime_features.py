"""mx.runtime.Features(): MXNet's feature names and API, answered for this library."""
import importlib.util
import platform

import pytest

import tracegrad as mx


def test_features_answer_as_mxnets_api():
    features = mx.runtime.Features()
    assert list(features)[:5] == ["CUDA", "CUDNN", "NCCL", "CUDA_RTC", "TENSORRT"]
    assert len(features) == len(mx.runtime.feature_list()) == 32    # (MXNet 1.9.1's libinfo)
    assert list(features)[23:28] == ["OPENCV", "CAFFE", "PROFILER", "DIST_KVSTORE", "CXX14"]
    assert mx.runtime.Features() is features      # (one instance, as MXNet's)
    assert features.is_enabled("PROFILER") and not features.is_enabled("CAFFE")
    assert features.is_enabled("cuda") is False          # (names are case-insensitive)
    assert features.is_enabled("CUDNN") is False
    assert features.is_enabled("BLAS_OPEN") and features.is_enabled("INT64_TENSOR_SIZE")
    assert features.is_enabled("DIST_KVSTORE") == (importlib.util.find_spec("mpi4py")
                                                   is not None)
    assert features.is_enabled("CPU_SSE2") == (platform.machine().lower() in
                                               ("x86_64", "amd64"))  # (all x86-64)
    assert features["CUDA"].name == "CUDA" and not features["CUDA"].enabled
    assert repr(features["CUDA"]) == "✖ CUDA" and repr(features["BLAS_OPEN"]) == "✔ BLAS_OPEN"
    with pytest.raises(RuntimeError, match="Feature 'NOPE' is unknown"):
        features.is_enabled("nope")


def test_the_usual_device_choice_picks_the_cpu():
    ctx = mx.gpu() if mx.runtime.Features().is_enabled("CUDA") else mx.cpu()
    assert ctx == mx.cpu()
