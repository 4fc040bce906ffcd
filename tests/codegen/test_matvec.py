"""Compiled products with one output row or column run as BLAS gemv (numpy's choice too, and
about 4x faster than a gemm at batch 1): every transpose, batch and strided-operand combination
against numpy in float64, on a second call."""
import itertools

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

SHAPES = [(1, 7, 5), (6, 7, 1), (1, 7, 1), (1, 1, 1), (5, 1, 1), (4, 3, 5)]


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("batch", [(), (3,)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_products_match_numpy(ta, tb, batch, dtype):
    rng = np.random.default_rng(len(batch) + 2 * ta + 4 * tb)
    for m, k, n in SHAPES:
        xs = batch + ((k, m) if ta else (m, k))
        ys = batch + ((n, k) if tb else (k, n))
        # strided operands: column slices of wider arrays
        f = mx.jit(lambda a, b: nd.linalg.gemm2(a[..., :xs[-1]], b[..., 1:ys[-1] + 1],
                                                transpose_a=ta, transpose_b=tb))
        wide_y = rng.normal(size=ys[:-1] + (ys[-1] + 3,))
        f(nd.array(rng.normal(size=xs[:-1] + (xs[-1] + 2,)), dtype=dtype),
          nd.array(wide_y, dtype=dtype))
        wide_x = rng.normal(size=xs[:-1] + (xs[-1] + 2,))
        got = f(nd.array(wide_x, dtype=dtype), nd.array(wide_y, dtype=dtype)).asnumpy()
        a = wide_x[..., :xs[-1]].astype(dtype)
        b = wide_y[..., 1:ys[-1] + 1].astype(dtype)
        want = (np.swapaxes(a, -1, -2) if ta else a) @ (np.swapaxes(b, -1, -2) if tb else b)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12,
                                   atol=1e-5 if dtype == "float32" else 1e-12)


def test_batch_one_dense_calls_gemv():
    net = mx.gluon.nn.Dense(5, in_units=7)
    net.initialize()
    net.hybridize()
    net(nd.ones((1, 7)))
    text = net.llvm_ir()
    assert "tracegrad_sgemv" in text and "tracegrad_sgemm" not in text
