"""Eager rejection samplers (gamma, poisson, the negative binomials) draw round r only for the
elements every earlier round rejected, and give, bit for bit, the samples of the vectorized
fixed rounds that traced code compiles."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd, random_dists
from tracegrad.ir.ops import random as random_ops


def draw_both(monkeypatch, fn, *args, **kwargs):
    """(eager rounds, vectorized rounds run eagerly) from the same seed."""
    mx.random.seed(21)
    fast = getattr(nd.random, fn)(*args, **kwargs).asnumpy()
    with monkeypatch.context() as m:
        m.setattr(random_dists, "_eager", lambda: False)
        mx.random.seed(21)
        whole = getattr(nd.random, fn)(*args, **kwargs).asnumpy()
    return fast, whole


@pytest.mark.parametrize("fn,args", [
    ("gamma", (2.0, 1.5)), ("gamma", (0.3, 2.0)), ("gamma", (1.0, 1.0)),
    ("poisson", (4.0,)), ("poisson", (0.0,)), ("poisson", (11.999,)), ("poisson", (12.0,)),
    ("poisson", (250.0,)), ("negative_binomial", (3, 0.4)), ("negative_binomial", (1, 1.0)),
    ("generalized_negative_binomial", (2.0, 0.5)),
    ("generalized_negative_binomial", (6.0, 0.0))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scalar_parameters_bit_for_bit(monkeypatch, fn, args, dtype):
    fast, whole = draw_both(monkeypatch, fn, *args, shape=(3, 700), dtype=dtype)
    np.testing.assert_array_equal(fast, whole)
    assert fast.dtype == np.dtype(dtype) and fast.shape == (3, 700)


def test_array_parameters_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(4)
    alpha = nd.array(np.concatenate([rng.uniform(0.05, 1, 20), rng.uniform(1, 30, 20)]))
    beta = nd.array(rng.uniform(0.1, 3, 40))
    fast, whole = draw_both(monkeypatch, "gamma", alpha, beta, shape=(2, 60))
    np.testing.assert_array_equal(fast, whole)
    lam = nd.array(np.concatenate([[0.0, 11.999, 12.0], rng.uniform(0, 12, 30),
                                   rng.uniform(12, 200, 30)]))
    fast, whole = draw_both(monkeypatch, "poisson", lam, shape=(50,))
    np.testing.assert_array_equal(fast, whole)
    assert fast.shape == (63, 50)
    assert fast[:3].mean() < 13 < fast[-30:].mean()
    k, p = nd.array([0.5, 2.0, 40.0]), nd.array([0.2, 0.5, 0.9])
    fast, whole = draw_both(monkeypatch, "negative_binomial", k, p, shape=(400,))
    np.testing.assert_array_equal(fast, whole)


def test_rounds_are_drawn_only_for_rejected_elements(monkeypatch):
    """The words drawn: about one round per gamma sample (Marsaglia-Tsang accepts > 95%),
    about lambda + 1 uniforms per small-lambda Poisson count; the vectorized rounds draw 12
    and 64 per sample."""
    drawn = []
    real = random_ops.philox_at

    def counting(seed, counter, at, count=4):
        drawn.append(np.asarray(at).size)
        return real(seed, counter, at, count)
    monkeypatch.setattr(random_ops, "philox_at", counting)
    n = 20000
    nd.random.gamma(3.0, 1.0, shape=(n,)).asnumpy()
    assert sum(drawn) < 2 * 1.1 * n          # normals and uniforms: ~1.02 rounds each
    drawn.clear()
    nd.random.poisson(4.0, shape=(n,)).asnumpy()
    assert sum(drawn) < 5.3 * n              # mean 5 uniforms per count at lambda 4
    drawn.clear()
    nd.random.poisson(100.0, shape=(n,)).asnumpy()
    assert sum(drawn) < 2 * 3 * n            # two uniforms a round, ~2 rounds on average


def test_moments_at_scale():
    mx.random.seed(3)
    g = nd.random.gamma(2.5, 2.0, shape=(200000,)).asnumpy()
    assert abs(g.mean() - 5.0) < 0.05 and abs(g.var() - 10.0) < 0.2
    p = nd.random.poisson(7.0, shape=(200000,)).asnumpy()
    assert abs(p.mean() - 7.0) < 0.05 and abs(p.var() - 7.0) < 0.15
    q = nd.random.poisson(30.0, shape=(200000,)).asnumpy()
    assert abs(q.mean() - 30.0) < 0.1 and abs(q.var() - 30.0) < 0.6


@pytest.mark.parametrize("n", [5, 100, 5000])
def test_philox_at_is_philox_at_those_elements(monkeypatch, n):
    from tracegrad import codegen
    codegen.philox_fill.install()      # (the native fill; importing codegen installs it)
    whole = random_ops.philox(77, 2 ** 40 + 3, 3 * n, 4)
    at = np.random.default_rng(n).integers(0, 3 * n, size=n).astype(np.int64)
    for native in (random_ops.NATIVE_WORDS_AT, None):
        monkeypatch.setattr(random_ops, "NATIVE_WORDS_AT", native)
        for count in (1, 2, 4):
            got = random_ops.philox_at(77, 2 ** 40 + 3, at, count)
            for w in range(count):
                np.testing.assert_array_equal(np.asarray(got[w], np.uint64),
                                              np.asarray(whole[w], np.uint64)[at])


def test_compiled_draws_match_eager_rounds():
    """jit compiles the vectorized rounds; eager draws round by round: the same samples."""
    def draw(k):
        return nd.random.gamma(k, k * 0 + 1, shape=(300,)) + nd.random.poisson(k * 9, shape=(300,))
    k = nd.array([0.4, 3.0])
    mx.random.seed(8)
    want = draw(k).asnumpy()
    compiled = mx.jit(draw)
    mx.random.seed(8)
    got = compiled(k).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_recorded_draws_keep_the_vectorized_rounds(monkeypatch):
    """Under record() (a step capture may compile the draw whole) the vectorized rounds run:
    the same samples, and nothing is read back."""
    drawn = []
    real = random_ops.philox_at
    monkeypatch.setattr(random_ops, "philox_at",
                        lambda *a, **k: drawn.append(1) or real(*a, **k))
    from tracegrad import autograd
    mx.random.seed(30)
    with autograd.record():
        recorded = nd.random.gamma(2.0, 1.0, shape=(500,)) + nd.random.poisson(5.0, shape=(500,))
    assert not drawn
    mx.random.seed(30)
    plain = nd.random.gamma(2.0, 1.0, shape=(500,)) + nd.random.poisson(5.0, shape=(500,))
    assert drawn
    np.testing.assert_array_equal(recorded.asnumpy(), plain.asnumpy())
