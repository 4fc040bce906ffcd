"""`mx.random` / `mx.nd.random` gamma, poisson, negative_binomial and
generalized_negative_binomial, with MXNet 1.9.1's parameters and algorithms: Marsaglia and
Tsang's gamma (alpha < 1 boosted by U^(1/alpha)), Poisson by multiplying uniforms below
lambda 12 and by Numerical Recipes' Lorentzian rejection above, and the negative binomials as
Poisson(Gamma) mixtures.

Every draw reads keys from `random.next_key()`, so a seed fixes the samples and eager, traced
and compiled code draw the same numbers. Rejection loops become a fixed number of vectorized
rounds (the first accepted round is taken): they compile as straight-line code. The chance
that no round accepts is below 1e-15 per sample (then the last round's candidate is used),
and a Poisson count below lambda 12 is capped at 64 (P < 1e-20). Parameters may be numbers
(`shape` samples) or NDArrays of one shape (`shape` samples per parameter, appended), as in
MXNet; samples have no gradient.
"""
import math

import numpy as np

from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo

__all__ = ["gamma", "poisson", "negative_binomial", "generalized_negative_binomial"]

GAMMA_ROUNDS = 12          # Marsaglia-Tsang accepts > 95% per round: 0.05^12 ~ 2e-16
POISSON_SMALL_DRAWS = 64   # uniforms multiplied while lambda < 12
POISSON_ROUNDS = 52        # Lorentzian rejection accepts ~51% per round: 0.49^52 ~ 8e-17


def _params(op, params, shape, dtype, out=None):
    """(parameters as f64 arrays broadcast to the output shape, output shape, scalar values or
    None)."""
    from .array import F, NDArray
    arrays = [p for p in params if isinstance(p, NDArray)]
    if arrays and len(arrays) != len(params):
        raise MXNetError(f"{op}: distribution parameters must all be NDArrays or all numbers, "
                         f"got {[type(p).__name__ for p in params]}")
    draws = () if shape is None or shape == () else (
        (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape))
    if not arrays:
        try:
            values = [float(p) for p in params]
        except (TypeError, ValueError):
            raise MXNetError(f"{op}: distribution parameters must be either NDArray or "
                             f"numbers, got {[type(p).__name__ for p in params]}") from None
        out_shape = draws or (tuple(out.shape) if out is not None else (1,))
        return [F.constant(value=v, shape=out_shape, dtype="f64") for v in values], \
            out_shape, values
    lead = arrays[0].shape
    if any(a.shape != lead for a in arrays):
        raise MXNetError(f"{op}: parameter arrays must have one shape, got "
                         f"{[a.shape for a in arrays]}")
    out_shape = lead + draws
    wide = []
    for a in arrays:
        a = F.stop_gradient(F.cast(a, dtype="f64"))
        if draws:
            a = F.broadcast_to(F.reshape(a, shape=lead + (1,) * len(draws)), shape=out_shape)
        wide.append(a)
    return wide, out_shape, None


def _dtype(dtype):
    name = dtype_name(np.dtype(dtype or np.float32))
    if name not in ("f32", "f64", "f16"):
        raise MXNetError(f"random: dtype must be float16, float32 or float64, got {dtype!r}")
    return name


def _uniform(shape):
    from .array import F
    from .random import next_key
    return F.random_uniform(next_key(), shape=shape, dtype="f64")


def _normal(shape):
    from .array import F
    from .random import next_key
    return F.random_normal(next_key(), shape=shape, dtype="f64")


def _first_accepted(accept, candidates, rounds):
    """The candidate of the first round (axis 0) whose `accept` holds, else the last one."""
    from .array import F
    any_ok = F.max(F.cast(accept, dtype="i32"), axes=(0,), keepdims=True)
    first = F.argmax(F.cast(accept, dtype="i32"), axis=0, keepdims=True)
    pick = F.where(F.gt(any_ok, 0), first, rounds - 1)
    out = F.take_along_axis(candidates, pick, axis=0)
    return F.reshape(out, shape=candidates.shape[1:])


def _sample_gamma(alpha, beta, shape):
    """Gamma(alpha, scale beta) in f64, Marsaglia-Tsang as MXNet's SampleGamma."""
    from .array import F
    boosted = F.lt(alpha, 1.0)
    d = F.where(boosted, F.add(alpha, 2.0 / 3.0), F.sub(alpha, 1.0 / 3.0))
    k = F.sqrt(F.mul(d, 9.0))
    c = F.div(1.0, k)
    r = (GAMMA_ROUNDS,) + shape
    z = _normal(r)
    u = _uniform(r)
    x = F.add(F.mul(c, z), 1.0)
    v = F.mul(F.mul(x, x), x)
    safe_v = F.where(F.gt(v, 0.0), v, 1.0)
    bound = F.add(F.mul(F.mul(z, z), 0.5), F.mul(d, F.add(F.sub(1.0, v), F.log(safe_v))))
    accept = F.where(F.gt(z, F.neg(k)), F.lt(F.log1p(F.neg(u)), bound), False)
    sample = F.mul(_first_accepted(accept, F.mul(d, safe_v), GAMMA_ROUNDS), beta)
    boost = F.pow(_uniform(shape), F.div(1.0, F.where(boosted, alpha, 1.0)))
    return F.where(boosted, F.mul(sample, boost), sample)


def _sample_poisson(lam, shape, values=None, by_method=True):
    """Poisson(lam) counts in f64, by MXNet's two methods (each computed only where it may
    be chosen: for known scalar lambdas, just the one that applies; eagerly, unless not
    `by_method`, each on the elements whose lambda chooses it, from the same draws:
    _poisson_by_method)."""
    from .array import F, NDArray
    from .base import ANY_TRACE
    lam = F.cast(F.cast(lam, dtype="f32"), dtype="f64")   # MXNet computes in float
    small = large = True
    if values is not None:
        small, large = values[0] < 12.0, values[0] >= 12.0
    elif by_method and not ANY_TRACE[0] and type(lam) is NDArray:
        return _poisson_by_method(lam, shape)
    draws_small = _uniform((POISSON_SMALL_DRAWS,) + shape) if small else None
    draws_large = (_uniform((POISSON_ROUNDS,) + shape), _uniform((POISSON_ROUNDS,) + shape)) \
        if large else None
    out = None
    if small:
        out = _poisson_small(F, lam, draws_small)
    if large:
        counts = _poisson_large(F, lam, *draws_large)
        out = counts if out is None else F.where(F.lt(lam, 12.0), out, counts)
    return out


def _poisson_small(F, lam, u):
    """x = how many running products of the uniforms `u` (rounds on axis 0) stay above
    exp(-lam), for lam < 12."""
    logs = F.cumsum(F.log(u), axis=0)
    above = F.gt(logs, F.neg(F.where(F.lt(lam, 12.0), lam, 0.0)))
    return F.cast(F.sum(F.cast(above, dtype="i64"), axes=(0,)), dtype="f64")


def _poisson_large(F, lam, u_y, u_accept):
    """Lorentzian rejection (Numerical Recipes' method, as MXNet's), for lam >= 12: the first
    of the rounds (axis 0) of `u_y` / `u_accept` that accepts."""
    big = F.where(F.ge(lam, 12.0), lam, 12.0)
    sq = F.sqrt(F.mul(big, 2.0))
    loglam = F.log(big)
    g = F.sub(F.mul(big, loglam), _lgamma(F.add(big, 1.0)))
    y = F.tan(F.mul(u_y, math.pi))
    em = F.add(F.mul(sq, y), big)
    positive = F.ge(em, 0.0)
    em = F.floor(F.where(positive, em, 0.0))
    t = F.mul(F.mul(F.add(F.mul(y, y), 1.0), 0.9),
              F.exp(F.sub(F.sub(F.mul(em, loglam), _lgamma(F.add(em, 1.0))), g)))
    accept = F.where(positive, F.le(u_accept, t), False)
    return _first_accepted(accept, em, POISSON_ROUNDS)


def _poisson_by_method(lam, shape):
    """Eager _sample_poisson of an array of lambdas: the same keys drawn in the same order,
    but each method's arithmetic only on the columns (elements) whose lambda takes it. Every
    op is elementwise or along the rounds axis, so each element gets the value the whole
    graph gives it (tests/api/test_random_dists.py), at a cost in proportion to the elements
    of each kind: a negative binomial of 10^6 samples took 23 s computing both for all."""
    from .array import F, wrap
    u_small = _uniform((POISSON_SMALL_DRAWS,) + shape)
    u_y, u_accept = _uniform((POISSON_ROUNDS,) + shape), _uniform((POISSON_ROUNDS,) + shape)
    lam_flat = lam.asnumpy().reshape(-1)
    out = np.empty(lam_flat.shape, np.float64)
    chosen = lam_flat < 12.0
    for pick, rounds, method, draws in ((chosen, POISSON_SMALL_DRAWS, _poisson_small,
                                         (u_small,)),
                                        (~chosen, POISSON_ROUNDS, _poisson_large,
                                         (u_y, u_accept))):
        cols = np.flatnonzero(pick)
        if cols.size:
            sub = [wrap(np.ascontiguousarray(d.asnumpy().reshape(rounds, -1)[:, cols]))
                   for d in draws]
            out[cols] = method(F, wrap(lam_flat[cols]), *sub).asnumpy()
    return wrap(out.reshape(shape))


def _lgamma(x):
    """log Γ(x) for x >= 1 (all this module needs): Lanczos' series alone, without the
    reflection branch and special cases of nd.gammaln (a much smaller graph to compile)."""
    from .array import F
    from .ir import composites as C
    return C._lgamma_right(F, x)


def _finish(op, sample, dtype, out):
    from .array import F
    from .random import _out
    if dtype is None and out is not None:    # (MXNet: an unset dtype is out's)
        dtype = out.dtype
    return _out(f"random.{op}", F.cast(sample, dtype=_dtype(dtype)), out)


def gamma(alpha=1.0, beta=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Gamma samples with shape `alpha` and scale `beta` (mean alpha * beta)."""
    if kwargs:
        return _redo(gamma, locals())
    (a, b), out_shape, values = _params("gamma", (alpha, beta), shape, dtype, out)
    if values is not None and (values[0] <= 0 or values[1] <= 0):
        raise MXNetError(f"gamma: alpha and beta must be positive, got {values}")
    return _finish("gamma", _sample_gamma(a, b, out_shape), dtype, out)


def poisson(lam=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Poisson counts with mean `lam`, as floats (MXNet's default dtype float32)."""
    if kwargs:
        return _redo(poisson, locals())
    (lam_,), out_shape, values = _params("poisson", (lam,), shape, dtype, out)
    if values is not None and values[0] < 0:
        raise MXNetError(f"poisson: lam must be >= 0, got {values[0]}")
    return _finish("poisson", _sample_poisson(lam_, out_shape, values), dtype, out)


def negative_binomial(k=1, p=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Failures before the k-th success with success probability p: Poisson of a
    Gamma(k, (1 - p) / p) rate, as MXNet samples it."""
    if kwargs:
        return _redo(negative_binomial, locals())
    from .array import F
    (k_, p_), out_shape, values = _params("negative_binomial", (k, p), shape, dtype, out)
    if values is not None and (values[0] <= 0 or not 0 < values[1] <= 1):
        raise MXNetError(f"negative_binomial: needs k > 0 and 0 < p <= 1, got {values}")
    k_, p_ = (F.cast(F.cast(v, dtype="f32"), dtype="f64") for v in (k_, p_))
    rate = _sample_gamma(k_, F.div(F.sub(1.0, p_), p_), out_shape)
    return _finish("negative_binomial", _sample_poisson(rate, out_shape), dtype, out)


def generalized_negative_binomial(mu=1.0, alpha=1.0, shape=None, dtype=None, ctx=None, out=None,
                                  **kwargs):
    """Poisson of a Gamma(1 / alpha, alpha * mu) rate (mean mu, variance mu + alpha mu²);
    alpha = 0 is Poisson(mu)."""
    if kwargs:
        return _redo(generalized_negative_binomial, locals())
    from .array import F
    (mu_, a_), out_shape, values = _params("generalized_negative_binomial", (mu, alpha),
                                           shape, dtype, out)
    if values is not None and (values[0] < 0 or values[1] < 0):
        raise MXNetError(f"generalized_negative_binomial: needs mu >= 0 and alpha >= 0, got "
                         f"{values}")
    mu_, a_ = (F.cast(F.cast(v, dtype="f32"), dtype="f64") for v in (mu_, a_))
    zero = F.eq(a_, 0.0)
    safe = F.where(zero, 1.0, a_)
    rate = _sample_gamma(F.div(1.0, safe), F.mul(safe, mu_), out_shape)
    rate = F.where(zero, mu_, rate)
    return _finish("generalized_negative_binomial", _sample_poisson(rate, out_shape), dtype,
                   out)


def uniform_of_arrays(low, high, shape=None, dtype=None, out=None):
    """random.uniform with NDArray low and high: `shape` samples per pair, appended."""
    from .array import F
    from .random import next_key
    (lo, hi), out_shape, _ = _params("uniform", (low, high), shape, dtype, out)
    u = F.random_uniform(next_key(), shape=out_shape, dtype="f64")
    return _finish("uniform", F.add(lo, F.mul(u, F.sub(hi, lo))), dtype, out)


def normal_of_arrays(loc, scale, shape=None, dtype=None, out=None):
    """random.normal with NDArray loc and scale."""
    from .array import F
    (mu, sigma), out_shape, _ = _params("normal", (loc, scale), shape, dtype, out)
    return _finish("normal", F.add(mu, F.mul(sigma, _normal(out_shape))), dtype, out)


def exponential_of_rates(lam, shape=None, dtype=None, out=None):
    """Exponential samples with NDArray rates `lam` (mean 1 / lam): nd.sample_exponential,
    and random.exponential(scale=NDArray) with lam = 1 / scale, as MXNet passes it."""
    from .array import F
    (rate,), out_shape, _ = _params("exponential", (lam,), shape, dtype, out)
    return _finish("exponential", F.div(F.neg(F.log1p(F.neg(_uniform(out_shape)))), rate),
                   dtype, out)


def _sample(name, fn, params, shape, dtype, out):
    from .array import NDArray
    if not all(isinstance(p, NDArray) for p in params):
        raise MXNetError(f"sample_{name}: parameters must be NDArrays, got "
                         f"{[type(p).__name__ for p in params]}")
    return fn(*params, shape=shape, dtype=dtype, out=out)


# MXNet's nd.sample_<name>: the distribution with NDArray parameters, named as MXNet names
# them (nd.sample_normal(mu=..., sigma=...)); MXNet's common keywords through
# op_kwargs.accepting_common_keywords
def sample_uniform(low, high, shape=None, dtype=None, out=None):
    return _sample("uniform", uniform_of_arrays, (low, high), shape, dtype, out)


def sample_normal(mu, sigma, shape=None, dtype=None, out=None):
    return _sample("normal", normal_of_arrays, (mu, sigma), shape, dtype, out)


def sample_gamma(alpha, beta, shape=None, dtype=None, out=None):
    return _sample("gamma", gamma, (alpha, beta), shape, dtype, out)


def sample_exponential(lam, shape=None, dtype=None, out=None):
    return _sample("exponential", exponential_of_rates, (lam,), shape, dtype, out)


def sample_poisson(lam, shape=None, dtype=None, out=None):
    return _sample("poisson", poisson, (lam,), shape, dtype, out)


def sample_negative_binomial(k, p, shape=None, dtype=None, out=None):
    return _sample("negative_binomial", negative_binomial, (k, p), shape, dtype, out)


def sample_generalized_negative_binomial(mu, alpha, shape=None, dtype=None, out=None):
    return _sample("generalized_negative_binomial", generalized_negative_binomial,
                   (mu, alpha), shape, dtype, out)


def random_exponential(lam=1.0, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """MXNet's flat operator nd.random_exponential takes the rate `lam` (mean 1 / lam);
    nd.random.exponential takes the scale."""
    if kwargs:
        return _redo(random_exponential, locals())
    from . import random
    from .array import NDArray
    if isinstance(lam, NDArray):
        raise MXNetError("random_exponential: lam must be a number (nd.sample_exponential "
                         "takes an array of rates)")
    if not lam > 0:
        raise MXNetError(f"random_exponential: lam must be positive, got {lam}")
    return random.exponential(1.0 / lam, shape=shape, dtype=dtype, out=out)


def _nd_names():
    """mx.nd's flat names for these (nd.random_gamma, nd.sample_gamma, ...) and
    nd.sample_multinomial."""
    from . import random
    names = {}
    from .op_kwargs import accepting_common_keywords
    for name in ("gamma", "poisson", "negative_binomial", "generalized_negative_binomial"):
        names["random_" + name] = globals()[name]
    for name in ("uniform", "normal", "gamma", "exponential", "poisson", "negative_binomial",
                 "generalized_negative_binomial"):
        names["sample_" + name] = accepting_common_keywords(globals()["sample_" + name],
                                                            f"nd.sample_{name}")
    names["random_exponential"] = random_exponential
    names["random_randint"] = random.randint
    names["sample_multinomial"] = random.multinomial
    return names
