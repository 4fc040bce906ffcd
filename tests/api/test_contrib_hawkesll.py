"""nd.contrib.hawkesll: MXNet 1.9's marked Hawkes log-likelihood, against an event-by-event walk
written after its kernels (src/operator/contrib/hawkes_ll-inl.h), eager, compiled and as a
symbol; gradients for lda, alpha, beta are its backward's."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError

NAMES = ("lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time")


def reference(lda, alpha, beta, state, lags, marks, valid, max_time):
    """Event by event, as MXNet's kernels: log-likelihood, out_state, and each sample's
    log-likelihood's gradients for lda, alpha, beta (d state / d beta carried along)."""
    N, T = lags.shape
    K = lda.shape[1]
    ll = np.zeros(N)
    out = np.array(state, dtype=np.float64)
    g_lda, g_alpha, g_beta = np.zeros((N, K)), np.zeros((N, K)), np.zeros((N, K))
    for n in range(N):
        t, last, s, ds = 0.0, np.zeros(K), out[n], np.zeros(K)
        for j in range(int(np.ceil(valid[n]))):
            k = marks[n, j]
            t += lags[n, j]
            d = t - last[k]
            e = np.exp(-beta[k] * d)
            rate = lda[n, k] + alpha[k] * beta[k] * s[k] * e
            ll[n] += np.log(rate) - lda[n, k] * d - alpha[k] * s[k] * (1 - e)
            g_lda[n, k] += 1 / rate - d
            g_alpha[n, k] += beta[k] * s[k] * e / rate - s[k] * (1 - e)
            g_beta[n, k] += alpha[k] * e * (s[k] * (1 - beta[k] * d) + beta[k] * ds[k]) / rate \
                - alpha[k] * (ds[k] * (1 - e) + s[k] * d * e)
            ds[k] = e * (ds[k] - d * s[k])
            s[k] = 1 + s[k] * e
            last[k] = t
        for k in range(K):
            d = max_time[n] - last[k]
            e = np.exp(-beta[k] * d)
            ll[n] -= lda[n, k] * d + alpha[k] * s[k] * (1 - e)
            g_lda[n, k] -= d
            g_alpha[n, k] -= s[k] * (1 - e)
            g_beta[n, k] -= alpha[k] * (ds[k] * (1 - e) + s[k] * d * e)
            s[k] *= e
    return ll, out, g_lda, g_alpha, g_beta


def problem(seed, N=3, T=6, K=2):
    R = np.random.default_rng(seed)
    lags = R.uniform(0.1, 2.0, (N, T))
    return dict(lda=R.uniform(0.5, 2.0, (N, K)), alpha=R.uniform(0.1, 0.8, K),
                beta=R.uniform(0.5, 3.0, K), state=R.uniform(0.0, 1.0, (N, K)), lags=lags,
                marks=R.integers(0, K, (N, T)).astype(np.int32),
                valid_length=np.array([T, T // 2, 0] + [T] * (N - 3), dtype=np.float64)[:N],
                max_time=lags.sum(axis=1) + 1.0)


def arrays(p, dtype):
    return [nd.array(p[n], dtype="int32" if n == "marks" else dtype) for n in NAMES]


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_values_and_gradients_match_the_event_by_event_walk(dtype, rtol):
    p = problem(0)
    ll, out, g_lda, g_alpha, g_beta = reference(*[p[n] for n in NAMES])
    xs = arrays(p, dtype)
    for x in xs[:4]:
        x.attach_grad()
    with autograd.record():
        loglike, out_state = nd.contrib.hawkesll(*xs)
        (loglike * nd.array([1.0, 2.0, 3.0], dtype=dtype) + out_state.sum()).backward()
    assert loglike.dtype == np.dtype(dtype) and out_state.shape == (3, 2)
    np.testing.assert_allclose(loglike.asnumpy(), ll, rtol=rtol)
    np.testing.assert_allclose(out_state.asnumpy(), out, rtol=rtol, atol=1e-12)
    head = np.array([[1.0], [2.0], [3.0]])   # MXNet scales by the log-likelihood's head
    np.testing.assert_allclose(xs[0].grad.asnumpy(), g_lda * head, rtol=rtol * 10)
    np.testing.assert_allclose(xs[1].grad.asnumpy(), (g_alpha * head).sum(0), rtol=rtol * 10)
    np.testing.assert_allclose(xs[2].grad.asnumpy(), (g_beta * head).sum(0), rtol=rtol * 10)
    # MXNet's backward writes no gradient for state; out_state's head gradient is unused
    np.testing.assert_array_equal(xs[3].grad.asnumpy(), np.zeros((3, 2)))


def test_beta_gradient_of_one_sample_is_mxnets():
    p = problem(1, N=1, T=5, K=3)
    _, _, _, _, g_beta = reference(*[p[n] for n in NAMES])
    xs = arrays(p, "float64")
    xs[2].attach_grad()
    with autograd.record():
        loglike, _ = nd.contrib.hawkesll(*xs)
    loglike.backward()
    np.testing.assert_allclose(xs[2].grad.asnumpy(), g_beta[0], rtol=1e-10, atol=1e-14)


def test_compiled_agrees_with_eager():
    f = mx.jit(lambda *xs: nd.contrib.hawkesll(*xs))
    for seed in (2, 3):       # the second call runs the compiled code on new values
        xs = arrays(problem(seed), "float32")
        got, want = f(*xs), nd.contrib.hawkesll(*xs)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.asnumpy(), w.asnumpy(), rtol=1e-5, atol=1e-6)


def test_symbol_infers_types_and_shapes_and_runs():
    sym = mx.sym.contrib.hawkesll(*[mx.sym.var(n) for n in NAMES])
    assert sym.list_outputs() == ["_contrib_hawkesll0_output", "_contrib_hawkesll0_out_state"]
    N, T, K = 3, 6, 2
    shapes = dict(lda=(N, K), alpha=(K,), beta=(K,), state=(N, K), lags=(N, T),
                  marks=(N, T), valid_length=(N,), max_time=(N,))
    _, outs, _ = sym.infer_shape(**shapes)
    assert outs == [(N,), (N, K)]
    args, outs, _ = sym.infer_type(lda="float64")
    assert args[5] == np.int32 and args[0] == np.float64 and outs == [np.float64] * 2
    p = problem(4)
    ex = sym.bind(mx.cpu(), dict(zip(NAMES, arrays(p, "float64"))))
    ll, out = ex.forward()
    want = reference(*[p[n] for n in NAMES])
    np.testing.assert_allclose(ll.asnumpy(), want[0], rtol=1e-12)
    np.testing.assert_allclose(out.asnumpy(), want[1], rtol=1e-12, atol=1e-15)


def test_bad_shapes_and_types_are_named():
    xs = arrays(problem(5), "float32")
    with pytest.raises(MXNetError, match=r"hawkesll: with lags \(N, T\) = \(3, 6\).*'alpha'"
                                         r": \(2,\)"):
        nd.contrib.hawkesll(*xs[:1], nd.ones((3,)), *xs[2:])
    with pytest.raises(MXNetError, match=r"hawkesll: marks must be integers.*'marks': "
                                         r"'float32'"):
        nd.contrib.hawkesll(*xs[:5], xs[5].astype("float32"), *xs[6:])
    with pytest.raises(MXNetError, match=r"'beta': 'float64'"):
        nd.contrib.hawkesll(*xs[:2], xs[2].astype("float64"), *xs[3:])
    with pytest.raises(MXNetError, match="hawkesll: expects lda"):
        nd.contrib.hawkesll(nd.ones((6,)), *xs[1:])
