"""A Dense layer's forward product C = X . W^T with a small batch is computed column-major and
transposed, eager and compiled (ir/ops/linalg.py `column_major_is_faster`: OpenBLAS is twice
as fast that way at batch 8). The numbers must not depend on the layout taken: each side of
the bounds is checked against a float64 reference and against numpy, in a compiled function,
eagerly, and in a hybridized layer's forward and gradients (eager and finite differences)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.ir.ops.linalg import column_major_is_faster
from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

SHAPES = [(2, 256, 256), (8, 300, 257), (64, 256, 784), (64, 255, 784), (65, 256, 256),
          (8, 256, 255), (3, 1024, 300)]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_dense_forward_product_either_layout(m, n, k, dtype):
    b = Builder(name="dense_forward")
    x = b.param(TensorType(dtype, (m, k)), "x")
    w = b.param(TensorType(dtype, (n, k)), "w")
    f = NativeFunction(b.ret(b.matmul(x, w, transpose_a=False, transpose_b=True)))
    column = column_major_is_faster(m, n, k)
    assert ("malloc" in f.llvm_ir) == column          # (the layout the bounds pick)
    npdt = np.float32 if dtype == "f32" else np.float64
    rs = np.random.RandomState(m * n + k)
    xa, wa = rs.randn(m, k).astype(npdt), rs.randn(n, k).astype(npdt)
    got = f(xa, wa)
    got = np.asarray(got[0] if isinstance(got, (list, tuple)) else got)
    want = xa.astype(np.float64) @ wa.astype(np.float64).T
    tol = 2e-5 if dtype == "f32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    np.testing.assert_allclose(got, xa @ wa.T, rtol=tol, atol=tol * np.abs(want).max())
    assert got.flags.c_contiguous and got.shape == (m, n)


def test_a_hybridized_dense_layer_on_a_small_batch_agrees_with_eager_and_differences():
    """Dense(256) on a batch of 8 takes the column-major product: output and gradients as
    eager computes them, and the gradient of one weight against central differences in
    float64."""
    rs = np.random.RandomState(0)
    x = nd.array(rs.randn(8, 300).astype(np.float32))
    results = []
    for hybridize in (False, True):
        mx.random.seed(1)
        net = gluon.nn.Dense(256, in_units=300, activation="tanh")
        net.initialize(mx.init.Xavier())
        if hybridize:
            net.hybridize()
        for _ in range(2):      # (the second call runs the compiled code, not the trace)
            with autograd.record():
                y = net(x)
                loss = (y * y).sum()
            loss.backward()
        results.append((y.asnumpy(), net.weight.grad().asnumpy(), net.bias.grad().asnumpy()))
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    w = net.weight.data().asnumpy().astype(np.float64)
    bias = net.bias.data().asnumpy().astype(np.float64)
    xd = x.asnumpy().astype(np.float64)

    def loss64(w_):
        return (np.tanh(xd @ w_.T + bias) ** 2).sum()
    for (i, j) in ((0, 0), (100, 299), (255, 17)):
        e = np.zeros_like(w)
        e[i, j] = 1e-6
        fd = (loss64(w + e) - loss64(w - e)) / 2e-6
        np.testing.assert_allclose(results[1][1][i, j], fd, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_the_eager_product_takes_the_same_layout(m, n, k, dtype):
    """ir/ops/linalg.py's impl: nd.dot(x, w, transpose_b=True) and FullyConnected, as the
    compiled code computes them, against float64; the result is a C-contiguous array."""
    rs = np.random.RandomState(n + k)
    xa, wa = rs.randn(m, k).astype(dtype), rs.randn(n, k).astype(dtype)
    want = xa.astype(np.float64) @ wa.astype(np.float64).T
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for got in (nd.dot(nd.array(xa, dtype=dtype), nd.array(wa, dtype=dtype), transpose_b=True),
                nd.FullyConnected(nd.array(xa, dtype=dtype), nd.array(wa, dtype=dtype),
                                  no_bias=True, num_hidden=n)):
        a = got.asnumpy()
        assert a.dtype == dtype and a.shape == (m, n) and got._data.flags.c_contiguous
        np.testing.assert_allclose(a, want, rtol=tol, atol=tol * np.abs(want).max())
