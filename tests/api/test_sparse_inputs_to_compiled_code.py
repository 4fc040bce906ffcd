"""Hybridized blocks and tracegrad.jit functions called with csr / row_sparse arrays: compiled
code is dense-only, so such a call runs the graph eagerly, and its outputs keep the storage
types MXNet's CachedOp infers (dot(csr, dense) dense, csr * 2 csr, retain row_sparse), with
values and gradients as numpy computes them. Counted and explained."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.gluon import nn

DENSE = np.array([[0, 1, 0], [2, 0, 0], [0, 0, 3], [0, 0, 0]], "float32")


class Dot(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.w = self.params.get("w", shape=(3, 2))

    def hybrid_forward(self, F, x, w):
        return F.sparse.dot(x, w)


class Twice(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        return x * 2


class Retain(nn.HybridBlock):
    def hybrid_forward(self, F, x, idx):
        return F.sparse.retain(x, idx)


def test_hybridized_block_outputs_keep_mxnet_storage_types():
    csr = nd.array(DENSE).tostype("csr")
    rsp = nd.array(DENSE).tostype("row_sparse")
    dot = Dot()
    dot.initialize()
    twice, retain = Twice(), Retain()
    for b in (dot, twice, retain):
        b.hybridize()
    w = dot.w.data().asnumpy()
    before = mx.stats()["sparse_eager_calls"]
    for _ in range(3):
        out = dot(csr)
        assert out.stype == "default"
        np.testing.assert_allclose(out.asnumpy(), DENSE @ w, rtol=1e-6)
        for a, stype in ((csr, "csr"), (rsp, "row_sparse")):
            out = twice(a)
            assert out.stype == stype
            np.testing.assert_array_equal(out.asnumpy(), DENSE * 2)
        out = retain(rsp, nd.array([0, 2]))
        assert out.stype == "row_sparse"
        want = DENSE.copy()
        want[[1, 3]] = 0
        np.testing.assert_array_equal(out.asnumpy(), want)
    assert mx.stats()["sparse_eager_calls"] - before == 12
    assert "sparse calls 6" in twice._tg_jit.explain()
    assert "csr input" in dot._tg_jit.explain()


def test_dense_calls_of_the_same_block_stay_compiled():
    twice = Twice()
    twice.hybridize()
    x = nd.array(DENSE)
    twice(x)
    jf = twice._tg_jit
    native = jf.counts["native"]
    twice(nd.array(DENSE).tostype("csr"))
    out = twice(x)
    assert out.stype == "default" and jf.counts["native"] == native + 1
    np.testing.assert_array_equal(out.asnumpy(), DENSE * 2)


def test_gradient_through_a_sparse_call_of_a_hybridized_block():
    rs = np.random.RandomState(0)
    dot = Dot()
    dot.initialize()
    dot.hybridize()
    csr = nd.array(DENSE).tostype("csr")
    head = rs.rand(4, 2).astype("float32")
    for _ in range(3):
        with autograd.record():
            y = dot(csr)
        y.backward(nd.array(head))
        np.testing.assert_allclose(dot.w.grad().asnumpy(), DENSE.T @ head, rtol=1e-6)


def test_jit_function_with_sparse_arguments():
    rs = np.random.RandomState(1)
    f = mx.jit(lambda x, w: nd.sparse.dot(x, w) * 3)
    g = mx.jit(lambda x: x * 2)
    w = nd.array(rs.rand(3, 2).astype("float32"))
    w.attach_grad()
    csr = nd.array(DENSE).tostype("csr")
    for _ in range(3):
        with autograd.record():
            y = f(csr, w)
        assert y.stype == "default"
        y.backward()
        np.testing.assert_allclose(y.asnumpy(), 3 * DENSE @ w.asnumpy(), rtol=1e-6)
        np.testing.assert_allclose(w.grad.asnumpy(), 3 * DENSE.T @ np.ones((4, 2)), rtol=1e-6)
        out = g(csr)
        assert out.stype == "csr"
        np.testing.assert_array_equal(out.asnumpy(), DENSE * 2)
    assert f.counts["sparse_calls"] == 3 and f.counts["native"] == 0
    assert "dense-only" in f.explain()


def test_a_deferred_dense_layer_first_called_with_csr():
    # the first call infers the weight's shape from the csr input (eagerly, as any first
    # call of a deferred block), then every sparse call runs eagerly too
    net = nn.Dense(2)
    net.initialize()
    net.hybridize()
    for _ in range(3):
        out = net(nd.array(DENSE).tostype("csr"))
        w, b = net.weight.data().asnumpy(), net.bias.data().asnumpy()
        assert out.stype == "default"
        np.testing.assert_allclose(out.asnumpy(), DENSE @ w.T + b, rtol=1e-6, atol=1e-7)
    assert net._tg_jit.counts["native"] == 0
