"""nd.random_pdf_* / mx.sym.random_pdf_* (MXNet 1.9.1's pdf_op): every example of MXNet's
operator documentation, eagerly, hybridized (F.random_pdf_*) and bound as a symbol; is_log;
the gradients against finite differences, the discrete distributions' sample gradient 0 and
the parameter shape checks."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

SAMPLE_2 = [[-2, -1, 0, 1, 2], [-4, -2, 0, 2, 4]]
DIRICHLET = [[[1, 2, 3], [10, 20, 30], [100, 200, 300]],
             [[0.1, 0.2, 0.3], [0.01, 0.02, 0.03], [0.001, 0.002, 0.003]]]

# (distribution, sample, parameters by name, MXNet's documented output), as pdf_op.cc
# writes them
DOC_EXAMPLES = [
    ("uniform", [[1, 2, 3, 4]], {"low": [0], "high": [10]}, [[0.1, 0.1, 0.1, 0.1]]),
    ("uniform", [[[1, 2, 3], [1, 2, 3]], [[1, 2, 3], [1, 2, 3]]],
     {"low": [[0, 0], [0, 0]], "high": [[5, 10], [15, 20]]},
     [[[0.2, 0.2, 0.2], [0.1, 0.1, 0.1]], [[0.06667, 0.06667, 0.06667], [0.05, 0.05, 0.05]]]),
    ("normal", [[-2, -1, 0, 1, 2]], {"mu": [0], "sigma": [1]},
     [[0.05399097, 0.24197073, 0.3989423, 0.24197073, 0.05399097]]),
    # (the doc's "sample*2": its outputs are those of a first row -2..2 and a second -4..4)
    ("normal", SAMPLE_2, {"mu": [0, 0], "sigma": [1, 2]},
     [[0.05399097, 0.24197073, 0.3989423, 0.24197073, 0.05399097],
      [0.02699548, 0.12098537, 0.19947115, 0.12098537, 0.02699548]]),
    ("gamma", [[1, 2, 3, 4, 5]], {"alpha": [5], "beta": [1]},
     [[0.01532831, 0.09022352, 0.16803136, 0.19536681, 0.17546739]]),
    ("gamma", [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7]],
     {"alpha": [5, 6, 7], "beta": [1, 1, 1]},
     [[0.01532831, 0.09022352, 0.16803136, 0.19536681, 0.17546739],
      [0.03608941, 0.10081882, 0.15629345, 0.17546739, 0.16062315],
      [0.05040941, 0.10419563, 0.14622283, 0.16062315, 0.14900276]]),
    ("exponential", [[1, 2, 3]], {"lam": [1]}, [[0.36787945, 0.13533528, 0.04978707]]),
    ("exponential", [[1, 2, 3], [1, 2, 3], [1, 2, 3]], {"lam": [1, 0.5, 0.25]},
     [[0.36787945, 0.13533528, 0.04978707],
      [0.30326533, 0.18393973, 0.11156508],
      [0.1947002, 0.15163267, 0.11809164]]),
    ("poisson", [[0, 1, 2, 3]], {"lam": [1]},
     [[0.36787945, 0.36787945, 0.18393973, 0.06131324]]),
    ("poisson", [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]], {"lam": [1, 2, 3]},
     [[0.36787945, 0.36787945, 0.18393973, 0.06131324],
      [0.13533528, 0.27067056, 0.27067056, 0.18044704],
      [0.04978707, 0.14936121, 0.22404182, 0.22404182]]),
    ("negative_binomial", [[1, 2, 3, 4]], {"k": [1], "p": [0.5]},
     [[0.25, 0.125, 0.0625, 0.03125]]),
    ("negative_binomial", [[1, 2, 3, 4], [1, 2, 3, 4]], {"k": [1, 1.5], "p": [0.5, 0.5]},
     [[0.25, 0.125, 0.0625, 0.03125], [0.26516506, 0.16572815, 0.09667476, 0.05437956]]),
    ("generalized_negative_binomial", [[1, 2, 3, 4]], {"mu": [1], "alpha": [1]},
     [[0.25, 0.125, 0.0625, 0.03125]]),
    ("generalized_negative_binomial", [[1, 2, 3, 4], [1, 2, 3, 4]],
     {"mu": [1, 1.5], "alpha": [1, 0.6666]},
     [[0.25, 0.125, 0.0625, 0.03125], [0.26517063, 0.16573331, 0.09667706, 0.05437994]]),
    ("dirichlet", [[1, 2], [2, 3], [3, 4]], {"alpha": [2.5, 2.5]},
     [38.413498, 199.60245, 564.56085]),
    ("dirichlet", DIRICHLET, {"alpha": [0.1, 0.4, 0.9]},
     [[2.3257459e-02, 5.8420084e-04, 1.4674458e-05],
      [9.2589635e-01, 3.6860607e+01, 1.4674468e+03]]),
]


class _Pdf(gluon.HybridBlock):
    def __init__(self, distr, names, is_log=False):
        super().__init__()
        self._distr, self._names, self._is_log = distr, names, is_log

    def hybrid_forward(self, F, sample, *params):
        return getattr(F, f"random_pdf_{self._distr}")(
            sample, *params, is_log=self._is_log)


@pytest.mark.parametrize("distr,sample,params,want", DOC_EXAMPLES)
def test_documented_examples_eager_hybridized_and_symbolic(distr, sample, params, want):
    x = nd.array(sample)
    ps = {k: nd.array(v) for k, v in params.items()}
    fn = getattr(nd, f"random_pdf_{distr}")
    np.testing.assert_allclose(fn(x, **ps).asnumpy(), want, rtol=1e-4)
    np.testing.assert_allclose(fn(x, **ps, is_log=True).asnumpy(), np.log(want), rtol=1e-4,
                               atol=1e-5)
    block = _Pdf(distr, list(ps))
    block.hybridize()
    for _ in range(2):
        got = block(x, *ps.values()).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-4)
    variables = {k: mx.sym.var(k) for k in ps}
    y = getattr(mx.sym, f"random_pdf_{distr}")(sample=mx.sym.var("s"), **variables)
    assert y.tojson().count(f'"_random_pdf_{distr}"') == 1
    out = y.bind(mx.cpu(), {"s": x, **ps}).forward()[0]
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-4)


def _log_pdf_f64(distr, x, params):
    """log densities in float64 from the formulas of MXNet's pdf kernels."""
    lg = np.vectorize(math.lgamma)
    if distr == "normal":
        mu, s = params
        return -0.5 * ((x - mu) / s) ** 2 - np.log(s * math.sqrt(2 * math.pi))
    if distr == "gamma":
        a, b = params
        return a * np.log(b) + (a - 1) * np.log(x) - b * x - lg(a)
    if distr == "exponential":
        (lam,) = params
        return np.log(lam) - lam * x
    if distr == "poisson":
        (lam,) = params
        return x * np.log(lam) - lg(x + 1) - lam
    if distr == "negative_binomial":
        k, p = params
        return lg(x + k) - lg(x + 1) - lg(k) + k * np.log(p) + x * np.log(1 - p)
    raise AssertionError(distr)


@pytest.mark.parametrize("distr,params,discrete", [
    ("normal", [[0.3, -0.2], [0.8, 1.5]], False),
    ("gamma", [[2.5, 1.5], [1.2, 0.7]], False),
    ("exponential", [[0.9, 1.7]], False),
    ("poisson", [[1.5, 3.0]], True),
    ("negative_binomial", [[1.5, 2.5], [0.4, 0.7]], True),
])
@pytest.mark.parametrize("is_log", [False, True])
def test_gradients_match_finite_differences(distr, params, discrete, is_log):
    """d(sum of densities)/d(each input) against central differences of the float64 formula;
    a discrete distribution's sample gets 0, as MXNet's kernels give it."""
    rs = np.random.RandomState(7)
    x = rs.randint(0, 5, (2, 3)).astype(np.float64) if discrete else \
        rs.uniform(0.3, 2.0, (2, 3))
    ps = [np.array(p, np.float64) for p in params]

    def total(xv, pv):
        lp = _log_pdf_f64(distr, xv, [p[:, None] for p in pv])
        return (lp if is_log else np.exp(lp)).sum()

    arrays = [nd.array(x, dtype="float64")] + [nd.array(p, dtype="float64") for p in ps]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        out = getattr(nd, f"random_pdf_{distr}")(*arrays, is_log=is_log)
    out.backward()
    np.testing.assert_allclose(out.asnumpy().sum(), total(x, ps), rtol=1e-10)
    eps = 1e-6
    if discrete:
        np.testing.assert_array_equal(arrays[0].grad.asnumpy(), 0)
    else:
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            d = np.zeros_like(x)
            d[i] = eps
            num[i] = (total(x + d, ps) - total(x - d, ps)) / (2 * eps)
        np.testing.assert_allclose(arrays[0].grad.asnumpy(), num, rtol=1e-5, atol=1e-8)
    for k, p in enumerate(ps):
        num = np.zeros_like(p)
        for i in range(p.size):
            d = np.zeros_like(p)
            d[i] = eps
            plus = [q + d if j == k else q for j, q in enumerate(ps)]
            minus = [q - d if j == k else q for j, q in enumerate(ps)]
            num[i] = (total(x, plus) - total(x, minus)) / (2 * eps)
        np.testing.assert_allclose(arrays[k + 1].grad.asnumpy(), num, rtol=1e-5, atol=1e-8)


def test_dirichlet_gradient_and_a_single_vector_sample():
    x = nd.array([0.2, 0.3, 0.5], dtype="float64")
    alpha = nd.array([1.5, 2.0, 3.0], dtype="float64")
    x.attach_grad()
    alpha.attach_grad()
    with autograd.record():
        out = nd.random_pdf_dirichlet(x, alpha, is_log=True)
    out.backward()
    assert out.shape == (1,)
    a, v = alpha.asnumpy(), x.asnumpy()
    np.testing.assert_allclose(x.grad.asnumpy(), (a - 1) / v, rtol=1e-10)
    psi = np.vectorize(lambda t: (math.lgamma(t + 1e-6) - math.lgamma(t - 1e-6)) / 2e-6)
    np.testing.assert_allclose(alpha.grad.asnumpy(), np.log(v) + psi(a.sum()) - psi(a),
                               rtol=1e-6)


def test_parameter_shapes_are_checked():
    x = nd.ones((2, 3))
    with pytest.raises(MXNetError, match="random_pdf_normal"):
        nd.random_pdf_normal(x, nd.ones((3,)), nd.ones((3,)))
    with pytest.raises(MXNetError, match="one shape"):
        nd.random_pdf_gamma(x, nd.ones((2,)), nd.ones((1,)))
    with pytest.raises(MXNetError, match="random_pdf_dirichlet"):
        nd.random_pdf_dirichlet(nd.ones((2, 3)), nd.ones((2,)))


def test_out_and_unknown_keywords():
    out = nd.zeros((1, 3))
    got = nd.random_pdf_exponential(nd.array([[1, 2, 3]]), nd.array([1]), out=out)
    assert got is out
    np.testing.assert_allclose(out.asnumpy(), np.exp(-np.array([[1, 2, 3]])), rtol=1e-6)
    with pytest.raises(TypeError, match="bogus"):
        nd.random_pdf_normal(nd.ones((1, 2)), nd.ones((1,)), nd.ones((1,)), bogus=1)
