"""`mx.np.random`: numpy's sampling names over tracegrad's random stream (one key per draw, so
a seed reproduces eager and compiled draws alike). Array `loc`/`scale`/`low`/`high` broadcast
against `size` and are differentiated through (loc + scale * z).

The other distributions (MXNet 1.9.1's, plus laplace and f from its later numpy interface) are
transforms of uniform draws (inverse CDFs, differentiable in their parameters as MXNet's
reparameterized samplers are), gamma-based (no gradient, as MXNet's gamma / beta / chisquare)
or, for multivariate_normal, mean + L z with L the Cholesky factor of cov."""
import numpy as onp

from .. import random as _random
from .. import random_dists as _dists
from ..array import F, NDArray, on_context, wrap
from ..base import ANY_TRACE, MXNetError, MXNetValueError
from ..ir.types import dtype_name
from ..op_kwargs import write_out as _write_out
from .ndarray import dtype_of
from .ndarray import _F32, as_np, binary, check_dtype, from_python

__all__ = ["seed", "normal", "uniform", "randint", "choice", "shuffle", "rand", "randn",
           "permutation", "multinomial", "multivariate_normal", "logistic", "gumbel", "f",
           "laplace", "gamma", "beta", "chisquare", "exponential", "lognormal", "weibull",
           "pareto", "power", "rayleigh"]


def seed(seed=None, ctx="all"):
    """Seed the random stream (the same seed gives the same draws, eager or compiled)."""
    _random.seed(0 if seed is None else int(seed))


def _size(fname, size, *params):
    shapes = [p.shape for p in params if isinstance(p, NDArray)]
    if size is None:
        return onp.broadcast_shapes(*shapes) if shapes else ()
    size = (int(size),) if isinstance(size, (int, onp.integer)) else tuple(int(s) for s in size)
    if shapes:
        try:
            if onp.broadcast_shapes(size, *shapes) != size:
                raise ValueError
        except ValueError:
            raise MXNetError(f"random.{fname}: parameters of shapes {shapes} do not broadcast "
                             f"to size {size}") from None
    return size


def _float_dtype(fname, dtype, *params):
    for p in params:
        if isinstance(p, NDArray) and dtype_of(p).kind == "f" and dtype is None:
            return dtype_of(p)
    dt = check_dtype(f"random.{fname}", dtype, _F32)
    if dt.kind != "f":
        raise MXNetError(f"random.{fname}: dtype must be floating, got {dt}")
    return dt


def _param(fname, p):
    if isinstance(p, (list, tuple, onp.ndarray)):
        return as_np(wrap(from_python(f"random.{fname}", p)))
    return p


def normal(loc=0.0, scale=1.0, size=None, dtype=None, ctx=None, out=None):
    loc, scale = _param("normal", loc), _param("normal", scale)
    shape = _size("normal", size, loc, scale)
    dt = _float_dtype("normal", dtype, loc, scale)
    if not isinstance(loc, NDArray) and not isinstance(scale, NDArray):
        return as_np(F.random_normal(_random.next_key(), shape=shape, dtype=dtype_name(dt),
                                     loc=float(loc), scale=float(scale)))
    z = as_np(F.random_normal(_random.next_key(), shape=shape, dtype=dtype_name(dt)))
    return binary("add", loc, binary("multiply", scale, z))


def uniform(low=0.0, high=1.0, size=None, dtype=None, ctx=None, out=None):
    low, high = _param("uniform", low), _param("uniform", high)
    shape = _size("uniform", size, low, high)
    dt = _float_dtype("uniform", dtype, low, high)
    if not isinstance(low, NDArray) and not isinstance(high, NDArray):
        return as_np(F.random_uniform(_random.next_key(), shape=shape, dtype=dtype_name(dt),
                                      low=float(low), high=float(high)))
    u = as_np(F.random_uniform(_random.next_key(), shape=shape, dtype=dtype_name(dt)))
    return binary("add", low, binary("multiply", binary("subtract", high, low), u))


def rand(*size, **kwargs):
    return uniform(size=size or None, **kwargs)


def randn(*size, **kwargs):
    return normal(size=size or None, **kwargs)


def randint(low, high=None, size=None, dtype=None, ctx=None, out=None):
    """Integers in [low, high) (int64 unless dtype says otherwise)."""
    if high is None:
        low, high = 0, low
    low, high = int(low), int(high)
    if high <= low:
        raise MXNetError(f"random.randint: low >= high ({low} >= {high})")
    dt = check_dtype("random.randint", dtype, onp.dtype(onp.int64))
    if dt.kind != "i":
        raise MXNetError(f"random.randint: dtype must be int32 or int64, got {dt}")
    shape = _size("randint", size)
    u = F.random_uniform(_random.next_key(), shape=shape, dtype="f64")
    ints = F.floor(F.add(F.mul(u, float(high - low)), float(low)))
    return as_np(F.cast(F.minimum(ints, float(high - 1)), dtype=dtype_name(dt)))


def permutation(x):
    if isinstance(x, (int, onp.integer)):
        keys = F.random_uniform(_random.next_key(), shape=(int(x),), dtype="f64")
        return as_np(F.argsort(keys, axis=0))
    return as_np(_random.shuffle(x))


def shuffle(x):
    """Permute x along its first axis, in place (as numpy's shuffle)."""
    if not isinstance(x, NDArray):
        raise MXNetError(f"random.shuffle: expected an mx.np.ndarray, got {type(x).__name__}")
    if x.ndim == 0:
        raise MXNetError("random.shuffle: cannot shuffle a 0-d array")
    x[:] = _random.shuffle(x)


def choice(a, size=None, replace=True, p=None, ctx=None, out=None):
    """Samples from arange(a) (a an int) or from the 1-d array a, with or without replacement,
    uniformly or with probabilities p."""
    if isinstance(a, (int, onp.integer)):
        n, pool = int(a), None
    else:
        pool = a if isinstance(a, NDArray) else as_np(wrap(from_python("random.choice", a)))
        if pool.ndim != 1:
            raise MXNetError(f"random.choice: a must be 1-dimensional, got shape {pool.shape}")
        n = pool.shape[0]
    if n <= 0:
        raise MXNetError("random.choice: a must be greater than 0 unless no samples are taken")
    shape = _size("choice", size)
    count = int(onp.prod(shape))
    if p is not None:
        p = p if isinstance(p, NDArray) else as_np(wrap(onp.asarray(p, dtype=onp.float64)))
        if p.shape != (n,):
            raise MXNetError(f"random.choice: p must have shape ({n},), got {p.shape}")
    if not replace:
        if count > n:
            raise MXNetError("random.choice: cannot take a larger sample than population when "
                             "replace=False")
        keys = F.random_uniform(_random.next_key(), shape=(n,), dtype="f64")
        if p is not None:  # weighted sampling without replacement: keys u^(1/p), largest first
            keys = F.pow(keys, F.div(1.0, F.cast(p, dtype="f64")))
        idx = F.argsort(keys, axis=0, is_ascend=p is None)
        begin = (0,)
        idx = F.slice(idx, begin=begin, end=(count,), step=(1,))
    elif p is None:
        u = F.random_uniform(_random.next_key(), shape=(count,), dtype="f64")
        idx = F.cast(F.minimum(F.floor(F.mul(u, float(n))), float(n - 1)), dtype="i64")
    else:
        cdf = F.cumsum(F.cast(p, dtype="f64"), axis=0)
        cdf = F.div(cdf, F.slice(cdf, begin=(n - 1,), end=(n,), step=(1,)))
        u = F.random_uniform(_random.next_key(), shape=(count, 1), dtype="f64")
        below = F.cast(F.lt(F.reshape(cdf, shape=(1, n)), u), dtype="i64")
        idx = F.minimum(F.sum(below, axes=(1,)), n - 1)
    idx = F.reshape(idx, shape=shape)
    return as_np(F.cast(idx, dtype="i64") if pool is None else F.take(pool, idx, axis=0))


def multinomial(n, pvals, size=None):
    """Counts of n draws over len(pvals) outcomes (int64, shape size + (len(pvals),)): n
    categorical draws per sample (choice with p), one-hot and summed."""
    n = int(n)
    if n < 0:
        raise MXNetError(f"random.multinomial: n must be non-negative, got {n}")
    p = pvals if isinstance(pvals, NDArray) else as_np(wrap(onp.asarray(pvals, onp.float64)))
    if p.ndim != 1:
        raise MXNetError(f"random.multinomial: pvals must be 1-d, got shape {p.shape}")
    if not isinstance(pvals, NDArray) and onp.asarray(pvals).sum() > 1.0 + 1e-8:
        raise MXNetError("random.multinomial: sum(pvals[:-1]) > 1.0")
    k = p.shape[0]
    shape = _size("multinomial", size)
    if n == 0 or k == 0 or 0 in shape:  # MXNet: empty pvals or size give an empty result
        return as_np(wrap(onp.zeros(shape + (k,), onp.int64)))
    draws = choice(k, size=shape + (n,), p=p)
    hot = F.one_hot(draws, depth=k, dtype="i64")
    return as_np(F.sum(hot, axes=(len(shape),)))


# ---------------------------------------------------------------------- more distributions
def _setup(fname, params, size, dtype, out=None):
    """(parameters as numbers or mx.np arrays, sample shape, sample dtype). MXNet's size=() is
    None (the parameters' broadcast shape); an unset size and dtype are `out`'s."""
    if out is not None:
        if not isinstance(out, NDArray):
            raise TypeError(f"random.{fname}: out must be an mx.np.ndarray, got "
                            f"{type(out).__name__}")
        size = out.shape if size is None else size
        dtype = out.dtype if dtype is None else dtype
    params = [_param(fname, p) for p in params]
    for p in params:
        if not isinstance(p, NDArray):
            try:
                float(p)
            except (TypeError, ValueError):
                raise TypeError(f"random.{fname}: distribution parameters must be numbers or "
                                f"mx.np.ndarrays, got {type(p).__name__}") from None
    size = None if size is not None and not isinstance(size, (int, onp.integer)) and \
        tuple(size) == () else size
    return params, _size(fname, size, *params), _float_dtype(fname, dtype, *params)


def _values_pending():
    """Whether array values are not known yet without running something: inside a trace, or
    with a captured step pending (reading a parameter would run it: the step is dropped)."""
    from ..tracing import capture
    return ANY_TRACE[0] or capture.pending()


def _check(fname, params, names, strict):
    """MXNet's checks of number parameters (> 0 when strict, else >= 0), as ValueError."""
    for p, name in zip(params, names):
        if isinstance(p, NDArray):  # MXNet checks array parameters' values too; read them
            if _values_pending():
                continue
            v = p._data
            if onp.all(v > 0 if strict else v >= 0):
                continue
            bad = v[~(v > 0 if strict else v >= 0)]
            raise MXNetValueError(f"random.{fname}: expect {name} {'>' if strict else '>='} "
                                  f"0, got {bad.ravel()[0]!r} in its {p.dtype} array of shape "
                                  f"{p.shape}")
        if not (float(p) > 0 if strict else float(p) >= 0):
            raise MXNetValueError(f"random.{fname}: expect {name} {'>' if strict else '>='} 0, "
                                  f"got {p}")


def _open_uniform(shape):
    """float64 uniforms strictly inside (0, 1): the 32-bit draws moved up half a step, so no
    log of a transform below ever sees 0."""
    return F.add(F.random_uniform(_random.next_key(), shape=shape, dtype="f64"), 2.0 ** -33)


def _combine(noise, dt, fn, params):
    """fn(noise, *params): for number parameters in float64, rounded once to dt; with array
    parameters in dt, so that the sample differentiates in them (d sample / d param)."""
    if not any(isinstance(p, NDArray) for p in params):
        return F.cast(fn(noise, *[float(p) for p in params]), dtype=dtype_name(dt))
    name = dtype_name(dt)
    ps = [F.cast(p, dtype=name) if isinstance(p, NDArray) and dtype_of(p) != dt else
          p if isinstance(p, NDArray) else float(p) for p in params]
    return fn(F.cast(noise, dtype=name), *ps)


def _done(fname, result, ctx, out):
    result = on_context(as_np(result), ctx)
    return result if out is None else as_np(_write_out(f"random.{fname}", result, out))


def _location_scale(fname, loc, scale, size, dtype, ctx, out, z_of_u):
    (loc, scale), shape, dt = _setup(fname, (loc, scale), size, dtype, out)
    _check(fname, (scale,), ("scale",), False)
    z = z_of_u(_open_uniform(shape))
    sample = _combine(z, dt, lambda z, m, s: F.add(F.mul(z, s), m), (loc, scale))
    return _done(fname, sample, ctx, out)


def logistic(loc=0.0, scale=1.0, size=None, ctx=None, out=None):
    """loc + scale * log(u / (1 - u)): differentiable in loc and scale, as MXNet's."""
    return _location_scale("logistic", loc, scale, size, None, ctx, out,
                           lambda u: F.sub(F.log(u), F.log1p(F.neg(u))))


def gumbel(loc=0.0, scale=1.0, size=None, ctx=None, out=None):
    """loc - scale * log(-log(u)): differentiable in loc and scale, as MXNet's."""
    return _location_scale("gumbel", loc, scale, size, None, ctx, out,
                           lambda u: F.neg(F.log(F.neg(F.log(u)))))


def laplace(loc=0.0, scale=1.0, size=None, dtype=None, ctx=None, out=None):
    """loc + scale * (log(2u) below the median, -log(2 (1 - u)) above it), MXNet 2's inverse
    CDF; differentiable in loc and scale."""
    def z_of_u(u):
        return F.where(F.lt(u, 0.5), F.log(F.mul(u, 2.0)),
                       F.neg(F.log(F.mul(F.sub(1.0, u), 2.0))))
    return _location_scale("laplace", loc, scale, size, dtype, ctx, out, z_of_u)


def lognormal(mean=0.0, sigma=1.0, size=None, dtype=None, ctx=None, out=None):
    """exp(mean + sigma * z), z standard normal: differentiable in mean and sigma."""
    (mean, sigma), shape, dt = _setup("lognormal", (mean, sigma), size, dtype, out)
    _check("lognormal", (sigma,), ("sigma",), False)
    z = F.random_normal(_random.next_key(), shape=shape, dtype="f64")
    sample = _combine(z, dt, lambda z, m, s: F.exp(F.add(F.mul(z, s), m)), (mean, sigma))
    return _done("lognormal", sample, ctx, out)


def _scaled(fname, scale, size, ctx, out, e_of_u):
    (scale,), shape, dt = _setup(fname, (scale,), size, None, out)
    _check(fname, (scale,), ("scale",), False)
    sample = _combine(e_of_u(_open_uniform(shape)), dt, F.mul, (scale,))
    return _done(fname, sample, ctx, out)


def exponential(scale=1.0, size=None, ctx=None, out=None):
    """scale * -log(u) (mean `scale`): differentiable in scale, as MXNet's."""
    return _scaled("exponential", scale, size, ctx, out, lambda u: F.neg(F.log(u)))


def rayleigh(scale=1.0, size=None, ctx=None, out=None):
    """scale * sqrt(-2 log(u)): differentiable in scale, as MXNet's."""
    return _scaled("rayleigh", scale, size, ctx, out,
                   lambda u: F.sqrt(F.mul(F.log(u), -2.0)))


def _shaped(fname, a, size, ctx, out, e_of_u, fn):
    (a,), shape, dt = _setup(fname, (a,), size, None, out)
    _check(fname, (a,), ("a",), True)
    return _done(fname, _combine(e_of_u(_open_uniform(shape)), dt, fn, (a,)), ctx, out)


def _recip(a):
    return F.div(1.0, a) if isinstance(a, NDArray) else 1.0 / a


def weibull(a, size=None, ctx=None, out=None):
    """(-log(u))^(1/a): differentiable in a, as MXNet's."""
    return _shaped("weibull", a, size, ctx, out, lambda u: F.neg(F.log(u)),
                   lambda e, a: F.pow(e, _recip(a)))


def pareto(a, size=None, ctx=None, out=None):
    """exp(-log(u) / a) - 1 (numpy's Lomax form of Pareto II): differentiable in a, as
    MXNet's."""
    return _shaped("pareto", a, size, ctx, out, lambda u: F.neg(F.log(u)),
                   lambda e, a: F.sub(F.exp(F.div(e, a)), 1.0))


def power(a, size=None):
    """(1 - u)^(1/a), on [0, 1] with density a x^(a - 1). Differentiable in a (the path's
    derivative; MXNet 1.9.1 gives zeros)."""
    return _shaped("power", a, size, None, None, lambda u: F.sub(1.0, u),
                   lambda v, a: F.pow(v, _recip(a)))


def _gamma64(shape_p, scale_p, out_shape):
    """Gamma(shape, scale) draws in float64 (random_dists' Marsaglia-Tsang sampler, MXNet's),
    parameters broadcast to out_shape; no gradient, as MXNet's gamma."""
    def wide(p):
        if not isinstance(p, NDArray):
            return F.constant(value=float(p), shape=out_shape, dtype="f64")
        return F.broadcast_to(F.cast(F.stop_gradient(p), dtype="f64"), shape=out_shape)
    return _dists._sample_gamma(wide(shape_p), wide(scale_p), out_shape)


def gamma(shape, scale=1.0, size=None, dtype=None, ctx=None, out=None):
    """Gamma samples with shape k and scale theta (mean k * theta). No gradient (MXNet's has
    none)."""
    (k, theta), out_shape, dt = _setup("gamma", (shape, scale), size, dtype, out)
    _check("gamma", (k, theta), ("shape", "scale"), True)
    sample = F.cast(_gamma64(k, theta, out_shape), dtype=dtype_name(dt))
    return _done("gamma", sample, ctx, out)


def beta(a, b, size=None, dtype=None, ctx=None):
    """X / (X + Y), X ~ Gamma(a, 1), Y ~ Gamma(b, 1) in float64 (MXNet's construction)."""
    (a, b), shape, dt = _setup("beta", (a, b), size, dtype)
    _check("beta", (a, b), ("a", "b"), True)
    x, y = _gamma64(a, 1.0, shape), _gamma64(b, 1.0, shape)
    return _done("beta", F.cast(F.div(x, F.add(x, y)), dtype=dtype_name(dt)), ctx, None)


def chisquare(df, size=None, dtype=None, ctx=None):
    """Gamma(df / 2, scale 2) (mean df). MXNet 1.9.1 passes scale 1/2 (mean df / 4), a bug
    its later versions fix; this is the chi-square distribution numpy and they draw."""
    (df,), shape, dt = _setup("chisquare", (df,), size, dtype)
    _check("chisquare", (df,), ("df",), True)
    half = F.mul(df, 0.5) if isinstance(df, NDArray) else float(df) / 2
    return _done("chisquare", F.cast(_gamma64(half, 2.0, shape),
                                     dtype=dtype_name(dt)), ctx, None)


def f(dfnum, dfden, size=None, ctx=None):
    """(X / dfnum) / (Y / dfden), X and Y chi-square with dfnum and dfden degrees of freedom
    (MXNet 2's np.random.f), drawn in float64."""
    (dfnum, dfden), shape, dt = _setup("f", (dfnum, dfden), size, None)
    _check("f", (dfnum, dfden), ("dfnum", "dfden"), True)

    def half(p):
        return F.mul(p, 0.5) if isinstance(p, NDArray) else float(p) / 2

    def wide(p):
        if not isinstance(p, NDArray):
            return float(p)
        return F.cast(F.stop_gradient(p), dtype="f64")
    x = _gamma64(half(dfnum), 2.0, shape)
    y = _gamma64(half(dfden), 2.0, shape)
    ratio = F.div(F.mul(x, wide(dfden)), F.mul(y, wide(dfnum)))
    return _done("f", F.cast(ratio, dtype=dtype_name(dt)), ctx, None)


def multivariate_normal(mean, cov, size=None, check_valid=None, tol=None):
    """mean + L z, L the lower Cholesky factor of cov (MXNet's construction, with its later
    fix: 1.9.1 multiplied by L^T, giving covariance L^T L). mean (..., N) and cov (..., N, N)
    broadcast their batch axes; the result is size + broadcast(mean.shape, cov.shape[:-1]).
    Differentiable in mean and cov (MXNet 1.9.1 has no gradient)."""
    if check_valid is not None:
        raise NotImplementedError("Parameter `check_valid` is not supported")
    if tol is not None:
        raise NotImplementedError("Parameter `tol` is not supported")
    mean, cov = _param("multivariate_normal", mean), _param("multivariate_normal", cov)
    if not isinstance(mean, NDArray) or not isinstance(cov, NDArray):
        raise TypeError("random.multivariate_normal: mean and cov must be arrays")
    if mean.ndim < 1:
        raise MXNetError("random.multivariate_normal: mean must be at least 1 dimensional")
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise MXNetError(f"random.multivariate_normal: cov must be (..., N, N), got shape "
                         f"{cov.shape}")
    if cov.shape[-1] != mean.shape[-1]:
        raise MXNetError(f"random.multivariate_normal: mean and cov must have the same length, "
                         f"got shapes {mean.shape} and {cov.shape}")
    try:
        batch = onp.broadcast_shapes(mean.shape, cov.shape[:-1])
    except ValueError:
        raise MXNetError(f"random.multivariate_normal: shapes {mean.shape} and {cov.shape} "
                         f"of mean and cov do not broadcast") from None
    draws = () if size is None else (int(size),) if isinstance(size, (int, onp.integer)) \
        else tuple(int(s) for s in size)
    shape = draws + batch
    dt = dtype_of(mean) if dtype_of(mean).kind == "f" else _F32
    name = dtype_name(dt)
    cov = cov if dtype_of(cov) == dt else F.cast(cov, dtype=name)
    mean = mean if dtype_of(mean) == dt else F.cast(mean, dtype=name)
    if dt == onp.float16:
        low = F.cast(F.potrf(F.cast(cov, dtype="f32")), dtype=name)
    else:
        low = F.potrf(cov)
    z = F.random_normal(_random.next_key(), shape=shape + (1,), dtype=name)
    spread = F.reshape(F.matmul(low, z), shape=shape)
    return as_np(F.add(spread, mean))
