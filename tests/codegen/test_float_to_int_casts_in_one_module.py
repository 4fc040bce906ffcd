"""f32 and f64 converted to an integer in one compiled function: each conversion calls the
llvm.fptosi.sat intrinsic of its own source type (named by both types). Before, the second
reused the first's declaration and LLVM IR emission failed (float != double)."""
import numpy as np

import tracegrad as mx


def test_f32_and_f64_to_int64_in_one_function():
    @mx.jit
    def f(a, b):
        return a.astype("int64") * 10 + b.astype("int64")
    a = mx.nd.array([1.5, -2.7, 3e9], dtype="float32")
    b = mx.nd.array([3.9, -4.1, 7.0], dtype="float64")
    want = a.asnumpy().astype(np.int64) * 10 + b.asnumpy().astype(np.int64)
    np.testing.assert_array_equal(f(a, b).asnumpy(), want)
    np.testing.assert_array_equal((a.astype("int64") * 10 + b.astype("int64")).asnumpy(), want)
