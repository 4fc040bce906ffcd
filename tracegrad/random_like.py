"""Samplers shaped like an array: MXNet 1.9.1's _random_*_like operators, as
nd.random.uniform_like(data, low, high), the flat nd.random_uniform_like and
mx.sym.random.uniform_like. Each draws its distribution (the same draws as the plain sampler
with shape=data.shape) in data's shape and dtype; data's values are not read. MXNet's
samplers' parameters and defaults."""
from .op_kwargs import redo as _redo


def _like(sampler, data, params, out):
    from .base import MXNetError
    if data is None or not hasattr(data, "shape"):
        raise MXNetError(f"random {sampler.__name__}_like: data must be an array, got "
                         f"{type(data).__name__}")
    return sampler(*params, shape=tuple(data.shape), dtype=data.dtype, out=out)


def random_uniform_like(data=None, low=0.0, high=1.0, out=None, **kwargs):
    if kwargs:
        return _redo(random_uniform_like, locals())
    from . import random
    return _like(random.uniform, data, (low, high), out)


def random_normal_like(data=None, loc=0.0, scale=1.0, out=None, **kwargs):
    if kwargs:
        return _redo(random_normal_like, locals())
    from . import random
    return _like(random.normal, data, (loc, scale), out)


def random_gamma_like(data=None, alpha=1.0, beta=1.0, out=None, **kwargs):
    if kwargs:
        return _redo(random_gamma_like, locals())
    from . import random_dists
    return _like(random_dists.gamma, data, (alpha, beta), out)


def random_exponential_like(data=None, lam=1.0, out=None, **kwargs):
    """The rate `lam` (mean 1 / lam), as MXNet's operator takes it."""
    if kwargs:
        return _redo(random_exponential_like, locals())
    from . import random_dists
    return _like(random_dists.random_exponential, data, (lam,), out)


def random_poisson_like(data=None, lam=1.0, out=None, **kwargs):
    if kwargs:
        return _redo(random_poisson_like, locals())
    from . import random_dists
    return _like(random_dists.poisson, data, (lam,), out)


def random_negative_binomial_like(data=None, k=1, p=1.0, out=None, **kwargs):
    if kwargs:
        return _redo(random_negative_binomial_like, locals())
    from . import random_dists
    return _like(random_dists.negative_binomial, data, (k, p), out)


def random_generalized_negative_binomial_like(data=None, mu=1.0, alpha=1.0, out=None,
                                              **kwargs):
    if kwargs:
        return _redo(random_generalized_negative_binomial_like, locals())
    from . import random_dists
    return _like(random_dists.generalized_negative_binomial, data, (mu, alpha), out)


FLAT = {name: fn for name, fn in globals().items()
        if name.startswith("random_") and name.endswith("_like")}
# nd.random.uniform_like / mx.sym.random.uniform_like
SHORT = {name[len("random_"):]: fn for name, fn in FLAT.items()}
