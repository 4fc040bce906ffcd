"""mx.sym.random (MXNet 1.9.1 symbol/random.py): distribution nodes with MXNet's positional
argument order, built on the random_* operators (uniform, normal, gamma, exponential,
poisson, negative_binomial, generalized_negative_binomial, randint) and on
sample_multinomial / shuffle for the ops that take a Symbol. Distribution parameters given as
Symbols take MXNet's per-row form (sample_*: `shape` draws per element of the parameters)."""
from ..base import MXNetError
from .symbol import Symbol, make_op

__all__ = ["uniform", "normal", "randn", "gamma", "exponential", "poisson", "negative_binomial",
           "generalized_negative_binomial", "randint", "multinomial", "shuffle"]


def _random(op, params, shape, dtype, kwargs):
    kwargs.pop("ctx", None)     # (MXNet: "only used for imperative calls")
    given = [isinstance(v, Symbol) for v in params.values()]
    if any(given):      # MXNet's per-row form: `shape` draws for each element of the params
        if not all(given):
            raise MXNetError(f"mx.sym.random.{op}: the parameters {list(params)} must be all "
                             f"Symbols or all numbers, got "
                             f"{[type(v).__name__ for v in params.values()]}")
        attrs = dict(kwargs)
        if shape is not None:
            attrs["shape"] = shape
        if dtype is not None:
            attrs["dtype"] = dtype
        return make_op(f"sample_{op}")(*params.values(), **attrs)
    attrs = dict(params, **kwargs)
    if shape is not None:
        attrs["shape"] = shape
    if dtype is not None:
        attrs["dtype"] = dtype
    return make_op(f"random_{op}")(**attrs)


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
    return _random("uniform", {"low": low, "high": high}, shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
    return _random("normal", {"loc": loc, "scale": scale}, shape, dtype, kwargs)


def randn(*shape, loc=0, scale=1, dtype=None, **kwargs):
    return normal(loc, scale, shape, dtype, **kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, **kwargs):
    return _random("gamma", {"alpha": alpha, "beta": beta}, shape, dtype, kwargs)


def exponential(scale=1, shape=None, dtype=None, **kwargs):
    """Rate 1 / scale, as MXNet's (its operators, per-row ones too, take lam)."""
    return _random("exponential", {"lam": 1.0 / scale}, shape, dtype, kwargs)


def poisson(lam=1, shape=None, dtype=None, **kwargs):
    return _random("poisson", {"lam": lam}, shape, dtype, kwargs)


def negative_binomial(k=1, p=1, shape=None, dtype=None, **kwargs):
    return _random("negative_binomial", {"k": k, "p": p}, shape, dtype, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, **kwargs):
    return _random("generalized_negative_binomial", {"mu": mu, "alpha": alpha}, shape, dtype,
                   kwargs)


def randint(low, high, shape=None, dtype=None, **kwargs):
    return _random("randint", {"low": low, "high": high}, shape, dtype, kwargs)


def multinomial(data, shape=None, get_prob=False, dtype="int32", **kwargs):
    if shape is not None:
        kwargs["shape"] = shape
    return make_op("sample_multinomial")(data, get_prob=get_prob, dtype=dtype, **kwargs)


def shuffle(data, **kwargs):
    return make_op("shuffle")(data, **kwargs)


def _like_op(name):
    def sample(data=None, *args, **kwargs):
        kwargs.pop("ctx", None)
        return make_op(f"random_{name}_like")(data, *args, **kwargs)
    sample.__name__ = f"{name}_like"
    sample.__doc__ = f"{name} draws in data's shape and dtype (MXNet's _random_{name}_like)."
    return sample


for _name in ("uniform", "normal", "gamma", "exponential", "poisson", "negative_binomial",
              "generalized_negative_binomial"):
    globals()[f"{_name}_like"] = _like_op(_name)
    __all__.append(f"{_name}_like")
