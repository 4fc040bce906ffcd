"""nd.contrib.adamw_update / mp_adamw_update / multi_(mp_)adamw_update against MXNet's
formula in float64, the skip on a 0 / NaN / inf rescale_grad, and the checks."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

KW = dict(beta1=0.9, beta2=0.99, epsilon=1e-6, clip_gradient=0.7)


def _ref(w, g, m, v, scale, lr, eta, wd, beta1, beta2, epsilon, clip_gradient):
    g = np.clip(scale * g, -clip_gradient, clip_gradient)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return w - eta * (lr * m / (np.sqrt(v) + epsilon) + wd * w), m, v


def _arrays(rs, shape=(3, 4)):
    return [rs.uniform(-1, 1, shape), rs.uniform(-2, 2, shape), rs.uniform(-.5, .5, shape),
            rs.uniform(0, 1, shape)]


def test_adamw_update_matches_the_formula():
    rs = np.random.RandomState(0)
    w, g, m, v = _arrays(rs)
    W, G, M, V = (nd.array(a) for a in (w, g, m, v))
    out = mx.nd.contrib.adamw_update(W, G, M, V, 3.0, lr=0.1, eta=0.5, wd=0.01, out=W, **KW)
    want = _ref(w, g, m, v, 3.0, 0.1, 0.5, 0.01, **KW)
    assert out is W
    for got, ref in zip((W, M, V), want):
        np.testing.assert_allclose(got.asnumpy(), ref, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("scale", [0.0, np.nan, np.inf])
def test_adamw_update_skips_a_bad_rescale(scale):
    rs = np.random.RandomState(1)
    arrays = [nd.array(a) for a in _arrays(rs)]
    before = [a.asnumpy().copy() for a in arrays]
    mx.nd.contrib.adamw_update(*arrays, nd.array([scale]), lr=0.1, eta=1.0, out=arrays[0])
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a.asnumpy(), b)


def test_mp_adamw_update_writes_the_master_copy_and_its_rounding():
    rs = np.random.RandomState(2)
    w, g, m, v = _arrays(rs)
    w16, g16 = nd.array(w, dtype="float16"), nd.array(g, dtype="float16")
    w32 = nd.array(w16.asnumpy().astype(np.float32))
    M, V = nd.array(m), nd.array(v)
    mx.nd.contrib.mp_adamw_update(w16, g16, M, V, w32, nd.array([2.0]), lr=0.05, eta=1.0,
                                  wd=0.1, out=w16, **KW)
    master = w.astype(np.float16).astype(np.float64)     # (what w32 held before)
    want_w, want_m, want_v = _ref(master, g16.asnumpy().astype(np.float64), m, v, 2.0, 0.05,
                                  1.0, 0.1, **KW)
    np.testing.assert_allclose(w32.asnumpy(), want_w, rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(w16.asnumpy(), w32.asnumpy().astype(np.float16))
    np.testing.assert_allclose(M.asnumpy(), want_m, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(V.asnumpy(), want_v, rtol=2e-6, atol=1e-7)


def test_multi_adamw_update_uses_each_weights_hyperparameters():
    rs = np.random.RandomState(3)
    groups = [_arrays(rs, s) for s in ((2, 3), (4,), (1, 5))]
    weights, grads, means, vars_ = ([nd.array(gr[k]) for gr in groups] for k in range(4))
    lrs, wds, etas = (0.1, 0.2, 0.3), (0.0, 0.01, 0.02), (1.0, 0.5, 0.25)
    mx.nd.contrib.multi_adamw_update(weights, grads, means, vars_, 1.5, lrs=lrs, wds=wds,
                                     etas=etas, out=weights, **KW)
    for k, (w, g, m, v) in enumerate(groups):
        want = _ref(w, g, m, v, 1.5, lrs[k], etas[k], wds[k], **KW)
        for got, ref in zip((weights[k], means[k], vars_[k]), want):
            np.testing.assert_allclose(got.asnumpy(), ref, rtol=2e-6, atol=1e-7)


def test_adamw_update_refuses_mismatched_arrays_and_unknown_keywords():
    w = nd.ones((2, 3))
    with pytest.raises(mx.MXNetError, match="adamw_update"):
        mx.nd.contrib.adamw_update(w, nd.ones((3, 2)), nd.zeros((2, 3)), nd.zeros((2, 3)), 1.0,
                                   lr=0.1, eta=1.0)
    with pytest.raises(TypeError, match="momentum"):
        mx.nd.contrib.multi_adamw_update([w], [w], [w], [w], 1.0, lrs=[1], wds=[0], etas=[1],
                                         momentum=0.9)
