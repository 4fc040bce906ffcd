"""nd.linalg.gelqf / mx.sym.linalg.gelqf (MXNet 1.9.1's LQ factorization and its
gelqf_backward) and nd.contrib.allclose / mx.sym.contrib.allclose (its allclose_op kernel)."""
import pathlib
import sys

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.array import F
from tracegrad.gradcheck import gradcheck

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "ir"))
from linalg_refs import householder_lq  # noqa: E402

RNG = np.random.default_rng(9)


# ---------------------------------------------------------------- gelqf


def wide(*shape):
    return RNG.uniform(-1, 1, shape) + 2.0 * np.eye(shape[-2], shape[-1])


def test_gelqf_matches_mxnet_doc_examples():
    a = nd.array([[[1., 2., 3.], [4., 5., 6.]], [[7., 8., 9.], [10., 11., 12.]]])
    q, low = nd.linalg.gelqf(a)
    np.testing.assert_allclose(q.asnumpy(), [[[-0.26726124, -0.53452248, -0.80178373],
                                              [0.87287156, 0.21821789, -0.43643578]],
                                             [[-0.50257071, -0.57436653, -0.64616234],
                                              [0.7620735, 0.05862104, -0.64483142]]],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(low.asnumpy(), [[[-3.74165739, 0.], [-8.55235974, 1.96396101]],
                                               [[-13.92838828, 0.],
                                                [-19.09768702, 0.52758934]]],
                               rtol=1e-5, atol=1e-5)
    assert q.dtype == low.dtype == np.float32
    # the flat name is the same function
    q2, l2 = nd.linalg_gelqf(a)
    np.testing.assert_array_equal(q2.asnumpy(), q.asnumpy())


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 4), (2, 1, 3, 6), (1, 7)])
def test_gelqf_float64_against_householder(shape):
    a = RNG.standard_normal(shape)
    q, low = (o.asnumpy() for o in nd.linalg.gelqf(nd.array(a, dtype="float64")))
    assert q.shape == shape and low.shape == shape[:-1] + (shape[-2],)
    m = shape[-2]
    for i, mat in enumerate(a.reshape(-1, *shape[-2:])):
        want_q, want_l = householder_lq(mat)
        np.testing.assert_allclose(q.reshape(-1, *shape[-2:])[i], want_q, atol=1e-10)
        np.testing.assert_allclose(low.reshape(-1, m, m)[i], want_l, atol=1e-10)
    np.testing.assert_allclose(low @ q, a, atol=1e-12)
    np.testing.assert_allclose(q @ np.swapaxes(q, -1, -2), np.broadcast_to(np.eye(m), low.shape),
                               atol=1e-12)
    assert np.all(np.triu(low, 1) == 0)


def test_gelqf_refuses_tall_matrices_and_integers():
    with pytest.raises(mx.MXNetError, match=r"gelqf.*x <= y.*\(4, 3\)"):
        nd.linalg.gelqf(nd.ones((4, 3)))
    with pytest.raises(mx.MXNetError, match="gelqf.*float32 and float64.*int32"):
        nd.linalg.gelqf(nd.ones((2, 3), dtype="int32"))
    with pytest.raises(mx.MXNetError, match="gelqf"):
        nd.linalg.gelqf(nd.ones((3,)))
    with pytest.raises(mx.MXNetError, match="gelqf"):     # the primitives check it too
        F.gelqf_q(nd.ones((3, 2)))


def test_gelqf_backward_is_mxnets_formula_and_finite_differences():
    """dA = L^-T (dQ + copyLTU(M) Q), M = L^T dL - dQ Q^T (gelqf_backward), in float64;
    the upper triangle of dL does not reach dA."""
    a0 = wide(2, 3, 5)
    w_q, w_l = RNG.standard_normal(a0.shape), RNG.standard_normal((2, 3, 3))
    a = nd.array(a0, dtype="float64")
    a.attach_grad()
    with mx.autograd.record():
        q, low = nd.linalg.gelqf(a)
        loss = (q * nd.array(w_q, dtype="float64")).sum() + \
            (low * nd.array(w_l, dtype="float64")).sum()
    loss.backward()
    qn, ln = q.asnumpy(), low.asnumpy()
    m = ln.transpose(0, 2, 1) @ w_l - w_q @ qn.transpose(0, 2, 1)
    sym = np.tril(m) + np.swapaxes(np.tril(m, -1), -1, -2)
    want = np.linalg.solve(ln.transpose(0, 2, 1), w_q + sym @ qn)
    np.testing.assert_allclose(a.grad.asnumpy(), want, atol=1e-10)
    gradcheck(lambda x: nd.linalg.gelqf(x), [wide(3, 4)], order=2)
    gradcheck(lambda x: nd.linalg.gelqf(x)[1], [wide(2, 2, 2)])


class _LQ(mx.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        q, low = F.linalg.gelqf(x)
        return F.sum(q * q * 0.5) + F.sum(low * x.slice_axis(axis=-1, begin=0, end=3))


def test_gelqf_hybridized_and_symbolic_agree_with_eager():
    a0 = wide(2, 3, 4).astype(np.float32)
    grads = []
    for hybrid in (False, True):
        net = _LQ()
        if hybrid:
            net.hybridize()
        for _ in range(2):
            x = nd.array(a0)
            x.attach_grad()
            with mx.autograd.record():
                y = net(x)
            y.backward()
        grads.append((y.asnumpy(), x.grad.asnumpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-5)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-5)

    s = mx.sym.linalg.gelqf(mx.sym.var("A"))
    assert len(s.list_outputs()) == 2 and s.list_arguments() == ["A"]
    assert len(mx.sym.linalg_gelqf(mx.sym.var("A")).list_outputs()) == 2
    arg_shapes, out_shapes, _ = s.infer_shape(A=(2, 3, 4))
    assert out_shapes == [(2, 3, 4), (2, 3, 3)]
    dq, dl = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 3))
    ex = s.bind(mx.cpu(), {"A": nd.array(a0)}, args_grad={"A": nd.zeros(a0.shape)})
    outs = ex.forward(is_train=True)
    ex.backward([nd.array(dq), nd.array(dl)])
    x = nd.array(a0)
    x.attach_grad()
    with mx.autograd.record():
        q, low = nd.linalg.gelqf(x)
    mx.autograd.backward([q, low], [nd.array(dq), nd.array(dl)])
    np.testing.assert_allclose(outs[0].asnumpy(), q.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(outs[1].asnumpy(), low.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(ex.grad_arrays[0].asnumpy(), x.grad.asnumpy(), rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------- allclose
def mxnet_allclose(a, b, rtol, atol, equal_nan):
    """allclose_forward per element, in the arithmetic its kernel uses: the difference in
    the arrays' dtype, the bound in float (double for float64) with float32 tolerances."""
    wide_t = np.float64 if a.dtype == np.float64 else np.float32
    r, t = wide_t(np.float32(rtol)), wide_t(np.float32(atol))
    ok = []
    for x, y in zip(a.ravel(), b.ravel()):
        if a.dtype.kind == "f" and (np.isnan(x) or np.isnan(y)):
            ok.append(equal_nan and np.isnan(x) == np.isnan(y))
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            diff = x - y if x > y else y - x
            ok.append(bool(x == y or wide_t(diff) <= t + (r * wide_t(y) if y > 0
                                                           else -r * wide_t(y))))
    return int(all(ok))


def test_allclose_matches_mxnet_doc_examples_shape_and_dtype():
    out = nd.contrib.allclose(nd.array([1e10, 1e-7]), nd.array([1.00001e10, 1e-8]))
    assert out.shape == () and out.dtype == np.uint8 and int(out.asnumpy()) == 0
    # the second example is close in float64; in float32 1.00001e10 rounds to 10000100352,
    # 352 beyond the bound 100001 (the kernel compares in the arrays' precision)
    b = [1.00001e10, 1e-9]
    out = nd.contrib.allclose(nd.array([1e10, 1e-8], dtype="float64"), nd.array(b, dtype="float64"))
    assert int(out.asnumpy()) == 1
    assert int(nd.contrib.allclose(nd.array([1e10, 1e-8]), nd.array(b)).asnumpy()) == 0


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "uint8"])
def test_allclose_against_the_kernels_formula(dtype):
    for trial in range(12):
        a = RNG.uniform(-3, 3, (3, 4))
        b = a + RNG.standard_normal((3, 4)) * 10.0 ** -RNG.integers(2, 9)
        if dtype in ("int32", "uint8"):
            a, b = np.abs(a * 20), np.abs(a * 20) + RNG.integers(0, 2, (3, 4))
        a, b = a.astype(dtype), b.astype(dtype)
        rtol, atol = 10.0 ** -RNG.integers(1, 7), [0.0, 1e-8, 1e-3][trial % 3]
        got = nd.contrib.allclose(nd.array(a, dtype=dtype), nd.array(b, dtype=dtype),
                                  rtol=rtol, atol=atol)
        assert int(got.asnumpy()) == mxnet_allclose(a, b, rtol, atol, True), (a, b, rtol)


def test_allclose_nan_inf_and_defaults():
    nan = nd.array([np.nan, 1.0])
    assert int(nd.contrib.allclose(nan, nan).asnumpy()) == 1              # equal_nan=True
    assert int(nd.contrib.allclose(nan, nan, equal_nan=False).asnumpy()) == 0
    assert int(nd.contrib.allclose(nan, nd.array([1.0, 1.0])).asnumpy()) == 0
    inf = nd.array([np.inf, -np.inf])
    assert int(nd.contrib.allclose(inf, inf).asnumpy()) == 1
    # the bound atol + rtol |b| is infinite for an infinite b: any finite a is close
    assert int(nd.contrib.allclose(nd.array([1.0]), nd.array([np.inf])).asnumpy()) == 1
    assert int(nd.contrib.allclose(nd.array([np.inf]), nd.array([1.0])).asnumpy()) == 0
    # positional rtol, atol, equal_nan as test_utils.assert_almost_equal passes them
    assert int(nd.contrib.allclose(nd.array([1.0]), nd.array([1.1]), 0.2, 0.0,
                                   True).asnumpy()) == 1
    with pytest.raises(mx.MXNetError, match="allclose.*shape"):
        nd.contrib.allclose(nd.ones((2, 3)), nd.ones((3, 2)))
    with pytest.raises(mx.MXNetError, match="allclose.*dtype"):
        nd.contrib.allclose(nd.ones((2,)), nd.ones((2,), dtype="float64"))
    with pytest.raises(TypeError, match="allclose"):
        nd.contrib.allclose(nd.ones((2,)), nd.ones((2,)), tolerance=1)


class _Close(mx.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return F.contrib.allclose(x, y, rtol=1e-3, atol=0.0)


def test_allclose_hybridized_and_symbolic():
    net = _Close()
    net.hybridize()
    x = RNG.standard_normal((2, 5)).astype(np.float32)
    for scale, want in ((1.0005, 1), (1.01, 0), (1.0, 1)):
        got = net(nd.array(x), nd.array(x * scale))
        assert got.dtype == np.uint8 and int(got.asnumpy()) == want
    s = mx.sym.contrib.allclose(mx.sym.var("a"), mx.sym.var("b"), rtol=1e-3, atol=0.0)
    assert s.list_arguments() == ["a", "b"]
    assert s.infer_type(a=np.float32, b=np.float32)[1] == [np.uint8]
    for scale, want in ((1.0005, 1), (1.01, 0)):
        ex = s.bind(mx.cpu(), {"a": nd.array(x), "b": nd.array(x * scale)})
        out = ex.forward()[0]
        assert out.dtype == np.uint8 and int(out.asnumpy()) == want
