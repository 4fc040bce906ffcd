"""MXNet 1.9.1's `random_pdf_*` operators (src/operator/random/pdf_op.h): the density of each
sample (its log with `is_log=True`) under distributions whose parameter arrays have the
leading shape of the samples (`sample.shape[:params.ndim]`: one distribution per leading
index, its samples along the remaining axes). Dirichlet's samples and parameters are vectors
along the last axis, which the density consumes.

Written as composites of recorded ops, so they trace, compile and differentiate. As in
MXNet's kernels: uniform's density does not check the support, gamma's beta is a rate, and
the discrete distributions (poisson, the negative binomials) give the sample no gradient.
Imported into `nd`; `out=` and MXNet's other common keywords go through op_kwargs.
"""
import math

from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["random_pdf_uniform", "random_pdf_normal", "random_pdf_gamma",
           "random_pdf_exponential", "random_pdf_poisson", "random_pdf_negative_binomial",
           "random_pdf_generalized_negative_binomial", "random_pdf_dirichlet"]


def _nd():
    from . import nd
    return nd


def _spread(who, sample, params, vector=False):
    """The parameters, checked against the sample as PdfOpShape checks them, in the sample's
    dtype and reshaped to broadcast over its trailing sample axes."""
    nd = _nd()
    first = tuple(params[0].shape)
    for p in params[1:]:
        if tuple(p.shape) != first:
            raise MXNetError(f"{who}: the parameter arrays must have one shape, got "
                             f"{[tuple(q.shape) for q in params]}")
    s = tuple(sample.shape)
    if not first or len(first) > len(s):
        raise MXNetError(f"{who}: the parameters' shape {first} must be the leading part of "
                         f"the sample's {s} (with at least one axis)")
    want = s[:len(first)]
    if vector:
        want = want[:-1] + s[-1:]
    if first != want:
        raise MXNetError(f"{who}: the parameters' shape {first} does not match the sample's "
                         f"{s} (expected {want})")
    extra = len(s) - len(first)
    if vector:
        shape = first[:-1] + (1,) * extra + first[-1:]
    else:
        shape = first + (1,) * extra
    return [nd.reshape(p.astype(sample.dtype, copy=False), shape) for p in params]


def _finish(log_density, is_log):
    return log_density if is_log else _nd().exp(log_density)


def random_pdf_uniform(sample, low, high, is_log=False, **kwargs):
    """1 / (high - low) for every sample (the support is not checked, as in MXNet)."""
    if kwargs:
        return _redo(random_pdf_uniform, locals())
    nd = _nd()
    lo, hi = _spread("random_pdf_uniform", sample, [low, high])
    width = nd.broadcast_to(hi - lo, tuple(sample.shape))
    return -nd.log(width) if is_log else 1.0 / width


def random_pdf_normal(sample, mu, sigma, is_log=False, **kwargs):
    """exp(-(x - mu)^2 / (2 sigma^2)) / (sqrt(2 pi) sigma)."""
    if kwargs:
        return _redo(random_pdf_normal, locals())
    nd = _nd()
    m, s = _spread("random_pdf_normal", sample, [mu, sigma])
    z = (sample - m) / s
    return _finish(-0.5 * z * z - nd.log(s * math.sqrt(2 * math.pi)), is_log)


def random_pdf_gamma(sample, alpha, beta, is_log=False, **kwargs):
    """beta^alpha x^(alpha - 1) exp(-beta x) / Gamma(alpha) (beta a rate, as MXNet's kernel)."""
    if kwargs:
        return _redo(random_pdf_gamma, locals())
    nd = _nd()
    a, b = _spread("random_pdf_gamma", sample, [alpha, beta])
    lpdf = a * nd.log(b) + (a - 1) * nd.log(sample) - b * sample - nd.gammaln(a)
    return _finish(lpdf, is_log)


def random_pdf_exponential(sample, lam, is_log=False, **kwargs):
    """lam exp(-lam x)."""
    if kwargs:
        return _redo(random_pdf_exponential, locals())
    nd = _nd()
    (rate,) = _spread("random_pdf_exponential", sample, [lam])
    return _finish(nd.log(rate) - rate * sample, is_log)


def random_pdf_poisson(sample, lam, is_log=False, **kwargs):
    """lam^x exp(-lam) / x!; the sample gets no gradient."""
    if kwargs:
        return _redo(random_pdf_poisson, locals())
    nd = _nd()
    (rate,) = _spread("random_pdf_poisson", sample, [lam])
    x = nd.stop_gradient(sample)
    return _finish(x * nd.log(rate) - nd.gammaln(x + 1) - rate, is_log)


def _negative_binomial_log(nd, x, k, p):
    return (nd.gammaln(x + k) - nd.gammaln(x + 1) - nd.gammaln(k)) + k * nd.log(p) + \
        x * nd.log(1 - p)


def random_pdf_negative_binomial(sample, k, p, is_log=False, **kwargs):
    """Gamma(x + k) / (x! Gamma(k)) p^k (1 - p)^x: x failures before the k-th success of
    probability p; the sample gets no gradient."""
    if kwargs:
        return _redo(random_pdf_negative_binomial, locals())
    nd = _nd()
    limit, prob = _spread("random_pdf_negative_binomial", sample, [k, p])
    return _finish(_negative_binomial_log(nd, nd.stop_gradient(sample), limit, prob), is_log)


def random_pdf_generalized_negative_binomial(sample, mu, alpha, is_log=False, **kwargs):
    """The negative binomial of mean mu and dispersion alpha: k = 1 / alpha,
    p = 1 / (1 + alpha mu); the sample gets no gradient."""
    if kwargs:
        return _redo(random_pdf_generalized_negative_binomial, locals())
    nd = _nd()
    m, a = _spread("random_pdf_generalized_negative_binomial", sample, [mu, alpha])
    limit, prob = 1.0 / a, 1.0 / (m * a + 1.0)
    return _finish(_negative_binomial_log(nd, nd.stop_gradient(sample), limit, prob), is_log)


def random_pdf_dirichlet(sample, alpha, is_log=False, **kwargs):
    """Gamma(sum alpha) / prod Gamma(alpha_j) * prod x_j^(alpha_j - 1) over the last axis
    (the samples are not checked to lie on the simplex, as in MXNet). A single vector sample
    gives shape (1,)."""
    if kwargs:
        return _redo(random_pdf_dirichlet, locals())
    nd = _nd()
    (a,) = _spread("random_pdf_dirichlet", sample, [alpha], vector=True)
    lpdf = nd.sum((a - 1) * nd.log(sample), axis=-1) + \
        (nd.gammaln(nd.sum(a, axis=-1)) - nd.sum(nd.gammaln(a), axis=-1))
    if sample.ndim == 1:
        lpdf = nd.reshape(lpdf, (1,))
    return _finish(lpdf, is_log)
