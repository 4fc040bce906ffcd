"""`mx.random` / `mx.nd.random` gamma, poisson, negative_binomial and
generalized_negative_binomial, with MXNet 1.9.1's parameters and algorithms: Marsaglia and
Tsang's gamma (alpha < 1 boosted by U^(1/alpha)), Poisson by multiplying uniforms below
lambda 12 and by Numerical Recipes' Lorentzian rejection above, and the negative binomials as
Poisson(Gamma) mixtures.

Every draw reads keys from `random.next_key()`, so a seed fixes the samples and eager, traced
and compiled code draw the same numbers. A rejection loop is a fixed number of rounds (the
first accepted round is taken; round r of element i draws the counter-based generator's
element r * n + i): traced, the rounds are vectorized and compile as straight-line code;
eagerly, round r is drawn and computed only for the elements every earlier round rejected
(`_eager_rounds`), the same numbers at the cost of the rounds used (1M gamma draws: 2.3 s
-> 0.1 s). The chance that no round accepts is below 1e-15 per sample (then the last round's
candidate is used), and a Poisson count below lambda 12 is capped at 64 (P < 1e-20).
Parameters may be numbers (`shape` samples) or NDArrays of one shape (`shape` samples per
parameter, appended), as in MXNet; samples have no gradient.
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


def _eager():
    """Whether draws run now (not traced, no hook refusing draws, not recorded: a recorded
    step may be captured and compiled whole, and reading values would end that): the
    rejection samplers then draw each round only for the elements still rejected."""
    from .array import HOOKS
    from .base import ANY_TRACE
    from .runtime.tape import STATE
    return not ANY_TRACE[0] and HOOKS.random_key is None and not STATE.recording


def _eager_rounds(rounds, draws, params, n, one_round, out=None, at=None):
    """The first accepted candidate of each element, eagerly: round r draws its numbers (the
    elements r * n + i of each of `draws`, (seed, counter, kind) with kind 'uniform' or
    'normal') and runs `one_round(F, *params, *drawn)` -> (accept, candidate) only for the
    elements `at` (flat indices, default all n) that every earlier round rejected; the last
    round's candidate where none accepts. Each op is elementwise, so every element gets the
    value the vectorized rounds give it. `params`: f64 numpy arrays over `at`. Returns f64 `out`
    (size n) with the elements `at` filled."""
    from .array import F, wrap
    out = np.empty(n, np.float64) if out is None else out
    pending = np.arange(n, dtype=np.int64) if at is None else np.asarray(at, np.int64)
    rows = np.arange(pending.size)            # each pending element's row in `params`
    for r in range(rounds):
        if not pending.size:
            break
        drawn = [wrap(_drawn(key, pending + r * n)) for key in draws]
        accept, candidate = one_round(F, *(wrap(p[rows]) for p in params), *drawn)
        accept = accept.asnumpy().astype(bool) if r < rounds - 1 else \
            np.ones(pending.size, bool)
        out[pending[accept]] = candidate.asnumpy()[accept]
        pending, rows = pending[~accept], rows[~accept]
    return out


def _drawn(key, at):
    """The f64 draws of key (seed, counter, 'uniform' or 'normal') at the elements `at`: what
    random_uniform / random_normal of that key give there."""
    from .ir.ops.random import normal_from_words, philox_at, uniform_from_words
    seed, counter, kind = key
    if kind == "normal":
        return normal_from_words(philox_at(seed, counter, at, 2), "f64")
    return uniform_from_words(philox_at(seed, counter, at, 1), "f64")


def _keys(kinds):
    """(seed, counter, kind) of one next_key() per kind, in order (the draws' order)."""
    from .random import next_key
    keys = []
    for kind in kinds:
        seed, counter = (int(v) for v in next_key().asnumpy())
        keys.append((seed, counter, kind))
    return keys


def _gamma_round(F, d, k, c, z, u):
    """Marsaglia-Tsang's round from normals z and uniforms u: (accepted, candidate)."""
    x = F.add(F.mul(c, z), 1.0)
    v = F.mul(F.mul(x, x), x)
    safe_v = F.where(F.gt(v, 0.0), v, 1.0)
    bound = F.add(F.mul(F.mul(z, z), 0.5), F.mul(d, F.add(F.sub(1.0, v), F.log(safe_v))))
    accept = F.where(F.gt(z, F.neg(k)), F.lt(F.log1p(F.neg(u)), bound), False)
    return accept, F.mul(d, safe_v)


def _sample_gamma(alpha, beta, shape):
    """Gamma(alpha, scale beta) in f64, Marsaglia-Tsang as MXNet's SampleGamma."""
    from .array import F, wrap
    boosted = F.lt(alpha, 1.0)
    d = F.where(boosted, F.add(alpha, 2.0 / 3.0), F.sub(alpha, 1.0 / 3.0))
    k = F.sqrt(F.mul(d, 9.0))
    c = F.div(1.0, k)
    if _eager():
        n = int(np.prod(shape))
        params = [a.asnumpy().reshape(-1) for a in (d, k, c)]
        first = _eager_rounds(GAMMA_ROUNDS, _keys(("normal", "uniform")), params, n,
                              _gamma_round)
        first = wrap(first.reshape(shape))
    else:
        r = (GAMMA_ROUNDS,) + shape
        accept, candidate = _gamma_round(F, d, k, c, _normal(r), _uniform(r))
        first = _first_accepted(accept, candidate, GAMMA_ROUNDS)
    sample = F.mul(first, beta)
    boost = F.pow(_uniform(shape), F.div(1.0, F.where(boosted, alpha, 1.0)))
    return F.where(boosted, F.mul(sample, boost), sample)


def _sample_poisson(lam, shape, values=None, by_method=True):
    """Poisson(lam) counts in f64, by MXNet's two methods (each computed only where it may
    be chosen: for known scalar lambdas, just the one that applies; eagerly, unless not
    `by_method`, each on the elements whose lambda chooses it, round by round:
    _poisson_eager)."""
    from .array import F
    lam = F.cast(F.cast(lam, dtype="f32"), dtype="f64")   # MXNet computes in float
    small = large = True
    if values is not None:
        small, large = values[0] < 12.0, values[0] >= 12.0
    if by_method and _eager():
        return _poisson_eager(lam, shape, small, large)
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
    above = F.gt(logs, _poisson_small_floor(F, lam))
    return F.cast(F.sum(F.cast(above, dtype="i64"), axes=(0,)), dtype="f64")


def _poisson_small_floor(F, lam):
    return F.neg(F.where(F.lt(lam, 12.0), lam, 0.0))


def _poisson_large_setup(F, lam):
    """(lambda clamped to the method's range, sqrt(2 lambda), log lambda, the log-density
    offset) of the Lorentzian rejection."""
    big = F.where(F.ge(lam, 12.0), lam, 12.0)
    loglam = F.log(big)
    return big, F.sqrt(F.mul(big, 2.0)), loglam, F.sub(F.mul(big, loglam),
                                                       _lgamma(F.add(big, 1.0)))


def _poisson_large_round(F, big, sq, loglam, g, u_y, u_accept):
    """One Lorentzian rejection round (Numerical Recipes' method, as MXNet's): (accepted,
    candidate count)."""
    y = F.tan(F.mul(u_y, math.pi))
    em = F.add(F.mul(sq, y), big)
    positive = F.ge(em, 0.0)
    em = F.floor(F.where(positive, em, 0.0))
    t = F.mul(F.mul(F.add(F.mul(y, y), 1.0), 0.9),
              F.exp(F.sub(F.sub(F.mul(em, loglam), _lgamma(F.add(em, 1.0))), g)))
    return F.where(positive, F.le(u_accept, t), False), em


def _poisson_large(F, lam, u_y, u_accept):
    """The first of the rounds (axis 0) of `u_y` / `u_accept` that accepts, for lam >= 12."""
    accept, em = _poisson_large_round(F, *_poisson_large_setup(F, lam), u_y, u_accept)
    return _first_accepted(accept, em, POISSON_ROUNDS)


def _poisson_eager(lam, shape, small=True, large=True):
    """Eager _sample_poisson: the keys taken as the vectorized rounds take them (the methods
    that may apply), each method's rounds computed only on the elements whose lambda takes it
    and, round by round, only on those still undecided (the uniforms' running log-sum still
    above -lambda; the rejection not yet accepted). Every op is elementwise or along the
    rounds, so each element gets the value the whole graph gives it
    (tests/api/test_random_dists.py), at the cost of the rounds it uses: 10^6 draws at
    lambda 4 took 4 s over all 64 rounds."""
    from .array import F, wrap
    n = int(np.prod(shape))
    key_small = _keys(("uniform",))[0] if small else None
    keys_large = _keys(("uniform", "uniform")) if large else None
    lam_flat = lam.asnumpy().reshape(-1)
    out = np.zeros(n, np.float64)
    chosen = lam_flat < 12.0
    cols = np.flatnonzero(chosen) if small else np.empty(0, np.int64)
    if cols.size:       # counts of running log-sums of uniforms above -lambda
        floor = _poisson_small_floor(F, wrap(lam_flat[cols])).asnumpy()
        total = np.zeros(cols.size, np.float64)
        rows = np.arange(cols.size)
        pending = cols
        for r in range(POISSON_SMALL_DRAWS):
            if not pending.size:
                break
            step = F.log(wrap(_drawn(key_small, pending + r * n))).asnumpy()
            total[rows] = step if r == 0 else total[rows] + step   # (cumsum's order)
            above = total[rows] > floor[rows]
            out[pending[above]] += 1.0
            pending, rows = pending[above], rows[above]
    cols = np.flatnonzero(~chosen) if large else np.empty(0, np.int64)
    if cols.size:
        params = [p.asnumpy() for p in _poisson_large_setup(F, wrap(lam_flat[cols]))]
        _eager_rounds(POISSON_ROUNDS, keys_large, params, n, _poisson_large_round, out=out,
                      at=cols)
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
