"""nd.sgd_update & co., MXNet 1.9.1's optimizer operators: against the built-in optimizers
(written separately, from MXNet's Python optimizers) where the formulas coincide, against a
float64 transcription of each kernel otherwise; states in place, `out=` the weight."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

RS = np.random.RandomState(0)


def _arrays(n, shape=(3, 4)):
    return [RS.randn(*shape).astype(np.float32) for _ in range(n)]


def test_sgd_and_momentum_match_the_sgd_optimizer():
    w0, g0 = _arrays(2)
    for momentum in (0.0, 0.9):
        opt = mx.optimizer.SGD(learning_rate=0.1, momentum=momentum, wd=0.01,
                               rescale_grad=0.5, clip_gradient=0.3)
        w_ref, state = w0.copy(), opt.create_state(0, w0)
        w, mom = nd.array(w0), nd.zeros(w0.shape)
        for step in range(3):
            g = g0 * (step + 1)
            opt.update(0, w_ref, g, state)
            if momentum:
                got = nd.sgd_mom_update(w, nd.array(g), mom, lr=0.1, momentum=momentum,
                                        wd=0.01, rescale_grad=0.5, clip_gradient=0.3, out=w)
            else:
                got = nd.sgd_update(w, nd.array(g), lr=0.1, wd=0.01, rescale_grad=0.5,
                                    clip_gradient=0.3, out=w)
            assert got is w
            np.testing.assert_allclose(w.asnumpy(), w_ref, rtol=1e-6, atol=1e-7)
        if momentum:
            np.testing.assert_allclose(mom.asnumpy(), state, rtol=1e-6, atol=1e-7)


def test_adam_with_the_callers_bias_correction_matches_the_adam_optimizer():
    w0, g0 = _arrays(2)
    opt = mx.optimizer.Adam(learning_rate=0.01, wd=0.001, clip_gradient=1.0)
    w_ref, state = w0.copy(), opt.create_state(0, w0)
    w, mean, var = nd.array(w0), nd.zeros(w0.shape), nd.zeros(w0.shape)
    for t in range(1, 4):
        g = g0 * t
        opt.update(0, w_ref, g, state)
        lr = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        nd.adam_update(w, nd.array(g), mean, var, lr=lr, wd=0.001, clip_gradient=1.0, out=w)
        np.testing.assert_allclose(w.asnumpy(), w_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mean.asnumpy(), state[0], rtol=1e-6)
    np.testing.assert_allclose(var.asnumpy(), state[1], rtol=1e-6)


def test_nag_matches_the_nag_optimizer_in_weights():
    w0, g0 = _arrays(2)
    opt = mx.optimizer.NAG(learning_rate=0.05, momentum=0.9, wd=0.01)
    w_ref, state = w0.copy(), opt.create_state(0, w0)
    w, mom = nd.array(w0), nd.zeros(w0.shape)
    for step in range(4):
        g = g0 + step
        opt.update(0, w_ref, g, state)
        nd.nag_mom_update(w, nd.array(g), mom, lr=0.05, momentum=0.9, wd=0.01, out=w)
        np.testing.assert_allclose(w.asnumpy(), w_ref, rtol=1e-5, atol=1e-6)


def _kernel_reference(name, w, g, states, **p):
    """float64 transcriptions of MXNet 1.9.1's kernels (optimizer_op-inl.h)."""
    clip = lambda x, c: np.clip(x, -c, c) if c >= 0 else x  # noqa: E731
    if name == "rmsprop_update":
        (n,) = states
        gr = clip(p["rescale_grad"] * g + p["wd"] * w, p["clip_gradient"])
        n = (1 - p["gamma1"]) * gr * gr + p["gamma1"] * n
        return clip(w - p["lr"] * gr / np.sqrt(n + p["epsilon"]), p["clip_weights"]), [n]
    if name == "rmspropalex_update":
        n, gs, d = states
        gr = clip(p["rescale_grad"] * g + p["wd"] * w, p["clip_gradient"])
        n = (1 - p["gamma1"]) * gr * gr + p["gamma1"] * n
        gs = (1 - p["gamma1"]) * gr + p["gamma1"] * gs
        d = p["gamma2"] * d - p["lr"] * gr / np.sqrt(n - gs * gs + p["epsilon"])
        return clip(w + d, p["clip_weights"]), [n, gs, d]
    if name == "ftrl_update":
        z, n = states
        gr = clip(g * p["rescale_grad"], p["clip_gradient"])
        z = z + gr - (np.sqrt(n + gr * gr) - np.sqrt(n)) * w / p["lr"]
        n = n + gr * gr
        new = (np.sign(z) * p["lamda1"] - z) / ((p["beta"] + np.sqrt(n)) / p["lr"] + p["wd"])
        return new * (np.abs(z) > p["lamda1"]), [z, n]
    if name == "signum_update":
        (m,) = states
        m = p["momentum"] * m - (1 - p["momentum"]) * p["wd"] * w - \
            (1 - p["momentum"]) * clip(p["rescale_grad"] * g, p["clip_gradient"])
        return (1 - p["lr"] * p["wd_lh"]) * w + p["lr"] * np.sign(m), [m]
    if name == "signsgd_update":
        return (1 - p["lr"] * p["wd"]) * w - p["lr"] * np.sign(g), []
    raise AssertionError(name)


@pytest.mark.parametrize("name,n_states,params", [
    ("rmsprop_update", 1, dict(lr=0.01, gamma1=0.9, epsilon=1e-8, wd=0.01, rescale_grad=0.5,
                               clip_gradient=0.4, clip_weights=1.5)),
    ("rmspropalex_update", 3, dict(lr=0.01, gamma1=0.95, gamma2=0.9, epsilon=1e-4, wd=0.0,
                                   rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0)),
    ("ftrl_update", 2, dict(lr=0.1, lamda1=0.01, beta=1.0, wd=0.001, rescale_grad=1.0,
                            clip_gradient=2.0)),
    ("signum_update", 1, dict(lr=0.01, momentum=0.9, wd=0.01, rescale_grad=1.0,
                              clip_gradient=-1.0, wd_lh=0.001)),
    ("signsgd_update", 0, dict(lr=0.01, wd=0.01, rescale_grad=1.0, clip_gradient=-1.0)),
])
def test_other_updates_follow_mxnets_kernels(name, n_states, params):
    w0, g0 = _arrays(2)
    states0 = [np.abs(a) * 0.1 for a in _arrays(n_states)]
    if name == "rmspropalex_update":
        states0[1] *= 0.01       # g^2 below n: a real square root
    w, states = nd.array(w0), [nd.array(s) for s in states0]
    ref_w, ref_states = w0.astype(np.float64), [s.astype(np.float64) for s in states0]
    for step in range(3):
        g = g0 * (1 + step)
        new = getattr(nd, name)(w, nd.array(g), *states, **params)
        assert new is not w          # no out=: a new array, the weight untouched
        w = new
        ref_w, ref_states = _kernel_reference(name, ref_w, g.astype(np.float64), ref_states,
                                              **params)
        np.testing.assert_allclose(w.asnumpy(), ref_w, rtol=1e-5, atol=1e-6)
        for s, r in zip(states, ref_states):
            np.testing.assert_allclose(s.asnumpy(), r, rtol=1e-5, atol=1e-6)


def test_mismatched_arrays_are_named():
    with pytest.raises(mx.MXNetError, match=r"sgd_mom_update: weight, grad and states must "
                                            r"have one shape"):
        nd.sgd_mom_update(nd.ones((2, 3)), nd.ones((2, 3)), nd.zeros((3, 2)), lr=0.1)
    with pytest.raises(TypeError, match=r"nd.adam_update\(\) got an unexpected keyword "
                                        r"argument 'bias_correction'"):
        nd.adam_update(nd.ones(2), nd.ones(2), nd.zeros(2), nd.zeros(2), lr=0.1,
                       bias_correction=True)


def test_an_update_inside_a_trace_is_refused():
    with pytest.raises(mx.MXNetError, match="sgd_update: an optimizer update writes its "
                                            "states in place and runs eagerly"):
        mx.jit(lambda w, g: nd.sgd_update(w, g, lr=0.1))(nd.ones(3), nd.ones(3))
