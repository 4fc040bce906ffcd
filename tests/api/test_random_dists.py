"""nd.random.gamma / poisson / negative_binomial / generalized_negative_binomial and the flat
nd.random_* / nd.sample_* names (MXNet 1.9.1 parameters): seeded samples against the
distributions' exact probabilities (computed here in float64 from their formulas) and
moments, compiled (mx.jit) draws equal to eager ones under the same seed, per-parameter
sampling shapes, and bad parameters raising errors that name the op."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError

N = 10000


def _poisson_pmf(k, lam):
    return np.exp(k * np.log(lam) - lam - np.array([math.lgamma(v + 1) for v in k]))


def _nb_pmf(x, k, p):
    return np.exp(np.array([math.lgamma(v + k) - math.lgamma(k) - math.lgamma(v + 1)
                            for v in x]) + k * np.log(p) + x * np.log1p(-p))


def _frequencies_match(samples, pmf, support):
    """Observed counts of each value in `support` within 5 standard deviations of N pmf."""
    assert np.array_equal(samples, np.floor(samples)) and samples.min() >= 0
    counts = np.array([(samples == v).sum() for v in support])
    want = len(samples) * pmf
    assert np.all(np.abs(counts - want) <= 5 * np.sqrt(want + 1)), (counts, want.round())


@pytest.mark.parametrize("lam", [0.7, 4.0, 11.5, 12.0, 40.0])
def test_poisson_frequencies(lam):
    mx.random.seed(3)
    s = nd.random.poisson(lam, shape=(N,))
    assert s.dtype == np.float32 and s.shape == (N,)
    support = np.arange(max(0, int(lam - 4 * lam ** 0.5)), int(lam + 4 * lam ** 0.5) + 2)
    _frequencies_match(s.asnumpy(), _poisson_pmf(support, lam), support)


def test_gamma_moments_and_distribution():
    mx.random.seed(4)
    for alpha, beta in ((2.5, 2.0), (0.4, 1.5), (9.0, 0.1)):
        s = nd.random.gamma(alpha, beta, shape=(N,), dtype="float64").asnumpy()
        assert s.dtype == np.float64 and (s > 0).all()
        m, v = alpha * beta, alpha * beta ** 2
        assert abs(s.mean() - m) < 5 * math.sqrt(v / N)
        assert abs(s.var() - v) < 0.1 * v
        # the CDF at the median of Gamma(alpha): P(X <= x) from the regularized incomplete
        # gamma by its series, in float64
        x = m

        def cdf(x):
            z = x / beta
            term = total = 1.0 / alpha
            for n in range(1, 500):
                term *= z / (alpha + n)
                total += term
            return math.exp(alpha * math.log(z) - z - math.lgamma(alpha)) * total
        assert abs((s <= x).mean() - cdf(x)) < 0.015


def test_negative_binomials():
    mx.random.seed(5)
    k, p = 3.0, 0.4
    s = nd.random.negative_binomial(k, p, shape=(N,)).asnumpy()
    support = np.arange(0, 15)
    _frequencies_match(s, _nb_pmf(support, k, p), support)
    mu, alpha = 4.0, 0.5
    g = nd.random.generalized_negative_binomial(mu, alpha, shape=(N,)).asnumpy()
    # NB with k = 1 / alpha and p = 1 / (1 + alpha mu)
    _frequencies_match(g, _nb_pmf(support, 1 / alpha, 1 / (1 + alpha * mu)), support)
    z = nd.random.generalized_negative_binomial(6.0, 0.0, shape=(N,)).asnumpy()  # Poisson
    _frequencies_match(z, _poisson_pmf(np.arange(1, 14), 6.0), np.arange(1, 14))


def test_array_parameters_shapes_and_flat_names():
    mx.random.seed(6)
    lam = nd.array([[1.0, 20.0], [3.0, 100.0]])
    s = nd.random.poisson(lam, shape=(4000,))
    assert s.shape == (2, 2, 4000)
    np.testing.assert_allclose(s.asnumpy().mean(axis=-1), lam.asnumpy(), rtol=0.06)
    a, b = nd.array([1.0, 5.0]), nd.array([2.0, 0.5])
    g = nd.sample_gamma(a, b, shape=(3000,))
    assert g.shape == (2, 3000)
    np.testing.assert_allclose(g.asnumpy().mean(axis=-1), [2.0, 2.5], rtol=0.08)
    assert nd.random.gamma(a, b).shape == (2,)
    assert nd.random_poisson(2.0, shape=(2, 3)).shape == (2, 3)
    assert nd.random.poisson(2.0).shape == (1,)
    assert nd.sample_negative_binomial(nd.array([2.0]), nd.array([0.5]), shape=2).shape == (1, 2)
    assert nd.sample_multinomial(nd.array([[0.0, 1.0]]), shape=3).asnumpy().tolist() == [[1] * 3]
    out = nd.zeros((5,))
    assert nd.random.gamma(1.0, 1.0, shape=(5,), out=out) is out and out.asnumpy().min() > 0


def test_seeded_and_compiled_draws_agree():
    def draw(lam, k):
        return nd.random.poisson(lam, shape=(50,)) + nd.random.gamma(k, k, shape=(50,))
    lam = nd.array([3.0, 30.0])
    k = nd.array([0.5, 2.0])
    mx.random.seed(9)
    first = nd.random.negative_binomial(2.0, 0.3, shape=(50,))
    mx.random.seed(9)
    np.testing.assert_array_equal(nd.random.negative_binomial(2.0, 0.3, shape=(50,)).asnumpy(),
                                  first.asnumpy())
    compiled = mx.jit(draw)
    mx.random.seed(9)
    want = [draw(lam, k).asnumpy() for _ in range(3)]
    mx.random.seed(9)
    got = [compiled(lam, k).asnumpy() for _ in range(3)]   # traced, then native
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    assert not np.array_equal(got[1], got[2])   # fresh draws every call


def test_bad_parameters():
    with pytest.raises(MXNetError, match="gamma: alpha and beta must be positive"):
        nd.random.gamma(-1.0, 1.0)
    with pytest.raises(MXNetError, match="poisson: lam must be >= 0"):
        nd.random.poisson(-2.0)
    with pytest.raises(MXNetError, match="negative_binomial: needs k > 0 and 0 < p <= 1"):
        nd.random.negative_binomial(2.0, 1.5)
    with pytest.raises(MXNetError, match="gamma: distribution parameters must all be"):
        nd.random.gamma(nd.array([1.0]), 2.0)
    with pytest.raises(MXNetError, match=r"generalized_negative_binomial: parameter arrays "
                                         r"must have one shape"):
        nd.random.generalized_negative_binomial(nd.array([1.0]), nd.array([1.0, 2.0]))


def test_uniform_normal_exponential_with_array_parameters():
    mx.random.seed(12)
    low, high = nd.array([0.0, 10.0]), nd.array([1.0, 14.0])
    u = nd.random.uniform(low, high, shape=(3000,))
    assert u.shape == (2, 3000)
    v = u.asnumpy()
    assert (v[0] >= 0).all() and (v[0] < 1).all() and (v[1] >= 10).all() and (v[1] < 14).all()
    np.testing.assert_allclose(v.mean(axis=1), [0.5, 12.0], rtol=0.03)
    z = nd.random.normal(nd.array([[1.0], [-5.0]]), nd.array([[2.0], [0.5]]), shape=4000)
    assert z.shape == (2, 1, 4000)
    np.testing.assert_allclose(z.asnumpy().mean(axis=-1).ravel(), [1.0, -5.0], atol=0.1)
    np.testing.assert_allclose(z.asnumpy().std(axis=-1).ravel(), [2.0, 0.5], rtol=0.05)
    e = nd.random.exponential(nd.array([1.0, 3.0]), shape=(4000,))      # scale: the mean
    np.testing.assert_allclose(e.asnumpy().mean(axis=1), [1.0, 3.0], rtol=0.06)
    r = nd.sample_exponential(nd.array([2.0]), shape=(4000,))            # lam: the rate
    np.testing.assert_allclose(r.asnumpy().mean(), 0.5, rtol=0.06)
    assert nd.sample_uniform(low, high).shape == (2,)
    assert nd.sample_normal(low, high, shape=(2, 3)).shape == (2, 2, 3)
    out = nd.zeros((4, 5))       # no shape: out's (MXNet), every element drawn
    nd.random.uniform(0, 1, out=out)
    assert len(np.unique(out.asnumpy())) == 20
    with pytest.raises(MXNetError, match="sample_normal: parameters must be NDArrays"):
        nd.sample_normal(0.0, 1.0)


def test_out_sets_unset_shape_and_dtype_and_is_checked():
    """MXNet's samplers infer an unset shape and dtype from `out` and refuse an `out` that
    does not match (SampleOpType): never draws broadcast into a bigger array."""
    ints = nd.zeros((3, 4), dtype="int64")
    assert nd.random.randint(0, 1000, out=ints) is ints
    assert ints.dtype == np.int64 and len(np.unique(ints.asnumpy())) > 6
    assert nd.random.randint(0, 5).dtype == np.int32 and nd.random.randint(0, 5).shape == (1,)
    wide = nd.zeros((2, 3), dtype="float64")
    nd.random.normal(0, 1, out=wide)
    assert len(np.unique(wide.asnumpy())) == 6
    nd.random.gamma(2.0, 1.0, out=wide)      # the array-parameter family too
    assert wide.asnumpy().min() > 0 and len(np.unique(wide.asnumpy())) == 6
    per_pair = nd.zeros((2, 3))
    nd.random.uniform(nd.zeros((2,)), nd.ones((2,)), shape=3, out=per_pair)
    assert len(np.unique(per_pair.asnumpy())) == 6
    with pytest.raises(ValueError, match=r"random.uniform\(\): out is float32\[2, 3\].*\[3\]"):
        nd.random.uniform(shape=(3,), out=nd.zeros((2, 3)))
    with pytest.raises(ValueError, match="random.normal"):
        nd.random.normal(0, 1, dtype="float32", out=nd.zeros((2,), dtype="float64"))
    with pytest.raises(MXNetError, match="random.randint: .* int32 or int64, got float32"):
        nd.random.randint(0, 3, shape=(5,), out=nd.zeros((5,)))


def test_scalar_parameters_checked_as_mxnet_checks_them():
    with pytest.raises(MXNetError, match="random.normal: scale must be positive, got -1"):
        nd.random.normal(0, -1, shape=(2,))
    with pytest.raises(MXNetError, match="random.uniform: low must be less or equal to high"):
        nd.random.uniform(2, 1, shape=(2,))
    with pytest.raises(MXNetError, match="random.exponential: scale must be positive"):
        nd.random.exponential(0.0, shape=(2,))
    assert nd.random.uniform(1, 1, shape=(2,)).asnumpy().tolist() == [1.0, 1.0]


def test_eager_poisson_of_array_rates_computes_each_method_on_its_elements_only():
    """The eager path (each method on the elements whose rate takes it) gives, bit for bit,
    what the whole graph (both methods everywhere, then a select) gives."""
    from tracegrad import random_dists
    rng = np.random.default_rng(0)
    lam = nd.array(np.concatenate([rng.uniform(0, 12, 300), rng.uniform(12, 80, 300),
                                   [0.0, 11.999, 12.0]]).reshape(3, 201), dtype="float64")
    mx.random.seed(5)
    split = random_dists._sample_poisson(lam, (3, 201)).asnumpy()
    mx.random.seed(5)
    whole = random_dists._sample_poisson(lam, (3, 201), by_method=False).asnumpy()
    np.testing.assert_array_equal(split, whole)
    assert split[lam.asnumpy() >= 12].mean() > 12 > split[lam.asnumpy() < 12].mean()
    for only in (np.full((4,), 3.0), np.full((4,), 40.0)):       # one method only
        mx.random.seed(6)
        a = random_dists._sample_poisson(nd.array(only, dtype="float64"), (4,)).asnumpy()
        mx.random.seed(6)
        b = random_dists._sample_poisson(nd.array(only, dtype="float64"), (4,),
                                         by_method=False).asnumpy()
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,params", [
    ("uniform", dict(low=-1.5, high=3.0)), ("normal", dict(loc=10.0, scale=0.5)),
    ("gamma", dict(alpha=9.0, beta=0.5)), ("poisson", dict(lam=4.0)),
    ("negative_binomial", dict(k=3, p=0.4)),
    ("generalized_negative_binomial", dict(mu=2.0, alpha=0.3))])
def test_like_samplers_draw_the_plain_samplers_draws_in_datas_shape_and_dtype(name, params):
    data = nd.ones((40, 30), dtype="float64")
    mx.random.seed(7)
    like = getattr(nd.random, f"{name}_like")(data, **params)
    mx.random.seed(7)
    flat = getattr(nd, f"random_{name}_like")(data=data, **params)
    mx.random.seed(7)
    plain = getattr(nd.random, name)(*params.values(), shape=(40, 30), dtype="float64")
    assert like.dtype == np.float64 and like.shape == (40, 30)
    np.testing.assert_array_equal(like.asnumpy(), plain.asnumpy())
    np.testing.assert_array_equal(flat.asnumpy(), plain.asnumpy())
    x = mx.sym.Variable("x")
    graph = getattr(mx.sym.random, f"{name}_like")(data=mx.sym.ones((40, 30)), **params) + x
    out = graph.bind(mx.cpu(), {"x": nd.zeros((40, 30))}).forward()[0].asnumpy()
    assert out.shape == (40, 30) and abs(out.mean() - plain.asnumpy().mean()) < \
        5 * plain.asnumpy().std() / np.sqrt(out.size)


def test_exponential_like_takes_the_rate_and_symbols_ignore_ctx():
    mx.random.seed(2)
    draws = nd.random.exponential_like(nd.ones((100, 100)), lam=4.0).asnumpy()
    assert abs(draws.mean() - 0.25) < 0.02 and draws.dtype == np.float32
    g = mx.sym.random.uniform(0, 1, shape=(3,), ctx=mx.cpu())      # (imperative-only)
    assert g.eval()[0].shape == (3,)
    with pytest.raises(MXNetError, match="data must be an array"):
        nd.random.normal_like(None)


def test_symbol_parameters_draw_per_row_as_mxnet():
    mu, sigma = mx.sym.Variable("mu"), mx.sym.Variable("sigma")
    graph = mx.sym.random.normal(mu, sigma, shape=(2000,))
    values = {"mu": nd.array([0.0, 10.0]), "sigma": nd.array([1.0, 0.5])}
    mx.random.seed(8)
    got = graph.eval(**values)[0].asnumpy()
    mx.random.seed(8)
    want = nd.sample_normal(values["mu"], values["sigma"], shape=(2000,)).asnumpy()
    assert got.shape == (2, 2000)
    np.testing.assert_array_equal(got, want)
    rate = mx.sym.random.exponential(mx.sym.Variable("scale"), shape=(4000,))
    draws = rate.eval(scale=nd.array([0.5, 2.0]))[0].asnumpy()
    np.testing.assert_allclose(draws.mean(axis=1), [0.5, 2.0], rtol=0.1)
    with pytest.raises(MXNetError, match="all Symbols or all numbers"):
        mx.sym.random.normal(mu, 1.0)


def test_multinomial_refuses_more_categories_than_its_dtype_counts():
    """MXNet's bound check: the category count must not pass the dtype's largest exact
    integer (255 for uint8, as MXNet's MaxIntegerValue)."""
    for dtype, k in (("uint8", 255), ("float16", 2 ** 11)):
        nd.random.multinomial(nd.ones((k,)) / k, dtype=dtype)        # the largest that fits
        with pytest.raises(MXNetError, match="do not fit dtype"):
            nd.random.multinomial(nd.ones((k + 1,)) / (k + 1), dtype=dtype)
    draws = nd.random.multinomial(nd.array([[0.0, 1.0]]), shape=3, dtype="float32")
    assert draws.asnumpy().tolist() == [[1, 1, 1]]
