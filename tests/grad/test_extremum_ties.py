"""max / min give every tied element the whole cotangent, as MXNet 1.9.1's _backward_max /
_backward_min compute (g * (x == out)): eager, under jit and in a hybridized block."""
import numpy as np
import pytest
from numeric import central_differences

import tracegrad as mx
from tracegrad import autograd, gluon, nd


def mxnet_rule(x, out, g, axis):
    """MXNet's formula in float64: the head gradient broadcast back where x equals out."""
    out = np.expand_dims(out, axis) if axis is not None else out
    g = np.expand_dims(g, axis) if axis is not None else g
    return np.where(x == out, 1.0, 0.0) * g


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ties_get_the_whole_cotangent_eager(op, dtype):
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [-1, 5, 0, 5], [0, 0, 0, -4]], dtype=dtype)
    g = np.array([1.5, -2.0, 0.25, 3.0], dtype=dtype)
    a = nd.array(x, dtype=dtype)
    a.attach_grad()
    with autograd.record():
        y = getattr(nd, op)(a, axis=1)
    y.backward(nd.array(g, dtype=dtype))
    want = mxnet_rule(x, getattr(np, op)(x, axis=1), g, 1)
    np.testing.assert_array_equal(a.grad.asnumpy(), want)
    # three tied maxima of row 1 each get all of g: the row's gradients sum to 4 g
    assert a.grad.asnumpy()[1].sum() == pytest.approx(4 * g[1])


@pytest.mark.parametrize("op", ["max", "min"])
def test_ties_compiled_match_eager(op):
    """jit and a hybridized block give eager's gradients, ties included (a max over ReLU
    outputs: whole rows of zeros)."""
    rng = np.random.default_rng(7)
    x = np.maximum(rng.standard_normal((6, 5)), 0).astype("float32")
    x[2] = 0.0
    x[4, 1] = x[4, 3] = x[4].max() + 1.0

    def f(a):
        return getattr(nd, op)(nd.relu(a), axis=1) * nd.arange(1, 7)

    def grads(fn):
        a = nd.array(x)
        a.attach_grad()
        with autograd.record():
            y = fn(a)
        y.backward()
        return a.grad.asnumpy()

    eager = grads(f)
    r = np.maximum(x, 0).astype(np.float64)
    out = getattr(np, op)(r, axis=1)
    # (relu passes the gradient only where x > 0)
    want = mxnet_rule(r, out, np.arange(1, 7, dtype=np.float64), 1) * (x > 0)
    np.testing.assert_array_equal(eager, want.astype("float32"))
    np.testing.assert_array_equal(grads(mx.jit(f)), eager)

    class Net(gluon.HybridBlock):
        def hybrid_forward(self, F, a):
            return getattr(F, op)(F.relu(a), axis=1) * F.arange(1, 7)
    net = Net()
    net.hybridize()
    for _ in range(2):      # (the traced call and the cached one)
        np.testing.assert_array_equal(grads(net), eager)


def test_integer_and_full_reduction_ties():
    a = nd.array([[4, 1, 4], [4, 0, 2]], dtype="int32")
    a.attach_grad()
    with autograd.record():
        y = nd.max(a)
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), [[1, 0, 1], [1, 0, 0]])
    b = nd.array([[4, 1, 4], [4, 0, 2]], dtype="float32")
    b.attach_grad()
    with autograd.record():
        y = nd.max(b) * 3
    y.backward()
    np.testing.assert_array_equal(b.grad.asnumpy(), [[3, 0, 3], [3, 0, 0]])


def test_no_tie_gradient_matches_finite_differences():
    """Away from ties the rule is the derivative."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 7))
    a = nd.array(x, dtype="float64")
    a.attach_grad()
    with autograd.record():
        y = (nd.max(a, axis=0) ** 2).sum() + nd.min(a, axis=1).sum()
    y.backward()

    fd, = central_differences(lambda: (x.max(axis=0) ** 2).sum() + x.min(axis=1).sum(), [x])
    np.testing.assert_allclose(a.grad.asnumpy(), fd, atol=1e-6)


def unpool_max_reference(x, kernel, stride, pad, g):
    """MXNet 1.9.1's max pooling backward (pool.h unpool_max_2d_nchw_cpu), in float64: each
    window's gradient goes to its first element equal to the window's max."""
    n, c, h, w = x.shape
    oh, ow = g.shape[2:]
    grad = np.zeros(x.shape)
    for b in range(n):
        for ch in range(c):
            for ph in range(oh):
                for pw in range(ow):
                    hs, ws = ph * stride[0] - pad[0], pw * stride[1] - pad[1]
                    he, we = min(hs + kernel[0], h), min(ws + kernel[1], w)
                    hs, ws = max(hs, 0), max(ws, 0)
                    window = x[b, ch, hs:he, ws:we]
                    i, j = np.unravel_index(np.argmax(window == window.max()), window.shape)
                    grad[b, ch, hs + i, ws + j] += g[b, ch, ph, pw]
    return grad


@pytest.mark.parametrize("kernel,stride,pad", [
    ((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1)),        # chains of maximum
    ((4, 4), (4, 4), (0, 0)), ((4, 4), (2, 2), (0, 0)),        # tiled, im2col
    ((5, 5), (1, 1), (1, 1)), ((8, 8), (1, 1), (0, 0))])       # im2col with padding; global
@pytest.mark.parametrize("hybridize", [False, True])
def test_max_pooling_ties_go_to_the_first_maximum(kernel, stride, pad, hybridize):
    """ReLU zeros and quantized values tie: MXNet's pooling gives the first one all of it."""
    rng = np.random.default_rng(sum(kernel) + sum(stride))
    x = rng.integers(0, 3, size=(2, 3, 8, 8)).astype("float32")   # many ties
    pool = gluon.nn.MaxPool2D(pool_size=kernel, strides=stride, padding=pad)
    if hybridize:
        pool.hybridize()
    a = nd.array(x)
    a.attach_grad()
    with autograd.record():
        y = pool(a)
    g = rng.standard_normal(y.shape).astype("float32")
    y.backward(nd.array(g))
    want = unpool_max_reference(x.astype(np.float64), kernel, stride, pad, g.astype(np.float64))
    np.testing.assert_allclose(a.grad.asnumpy(), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer,shape", [(gluon.nn.GlobalMaxPool1D, (2, 3, 7)),
                                         (gluon.nn.GlobalMaxPool2D, (2, 3, 4, 5))])
def test_global_max_pooling_ties(layer, shape):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=shape).astype("float32")
    x[0, 1] = 0.0                               # a whole channel tied
    g = rng.standard_normal(shape[:2]).astype("float32")
    flat = x.reshape(shape[0], shape[1], -1)
    want = np.zeros_like(flat)
    for b in range(shape[0]):
        for c in range(shape[1]):
            want[b, c, np.argmax(flat[b, c])] = g[b, c]
    for hybridize in (False, True):
        net = layer()
        if hybridize:
            net.hybridize()
        a = nd.array(x)
        a.attach_grad()
        with autograd.record():
            y = net(a)
        y.backward(nd.array(g.reshape(y.shape)))
        np.testing.assert_array_equal(a.grad.asnumpy(), want.reshape(shape))
        np.testing.assert_array_equal(y.asnumpy().reshape(shape[:2]), flat.max(axis=2))


def test_first_max_gradient_matches_finite_differences_without_ties():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 6, 6))
    pool = gluon.nn.MaxPool2D(pool_size=(4, 4), strides=(2, 2))
    a = nd.array(x, dtype="float64")
    a.attach_grad()
    with autograd.record():
        y = (pool(a) ** 2).sum()
    y.backward()
    fd, = central_differences(
        lambda: (pool(nd.array(x, dtype="float64")) ** 2).sum().asscalar(), [x])
    np.testing.assert_allclose(a.grad.asnumpy(), fd, atol=1e-6)


def test_roi_pooling_ties_go_to_the_first_maximum():
    x = np.zeros((1, 1, 4, 4), dtype="float32")
    x[0, 0, 1, 1] = x[0, 0, 1, 3] = 2.0             # the second bin row ties at 2 and 0
    a = nd.array(x)
    a.attach_grad()
    with autograd.record():
        y = nd.ROIPooling(a, nd.array([[0, 0, 0, 3, 3]]), pooled_size=(2, 2),
                          spatial_scale=1.0)
    y.backward(nd.ones_like(y))
    want = np.zeros((4, 4))
    want[1, 1] = want[1, 3] = 1.0                   # the bins holding a 2
    want[2, 0] = want[2, 2] = 1.0                   # all-zero bins: their first element
    np.testing.assert_array_equal(a.grad.asnumpy()[0, 0], want)


def test_global_max_pooling_of_only_minus_infinity_is_the_lowest_finite_value():
    """As MXNet's pooling kernels start the max there (and the windowed max here)."""
    x = nd.array([[[-np.inf, -np.inf], [2.0, -np.inf]]])
    for layer in (gluon.nn.GlobalMaxPool1D(), gluon.nn.MaxPool1D(pool_size=2)):
        np.testing.assert_array_equal(layer(x).asnumpy().ravel(),
                                      [np.finfo(np.float32).min, 2.0])
