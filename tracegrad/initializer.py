"""`mx.init`: weight initializers, MXNet 1.x names and dispatch.

An initializer fills a parameter's buffer in place; `_init_weight(name, arr)` receives an
NDArray over that buffer, as in MXNet, so custom initializers can write `arr[:] = ...`.
Called with a parameter name it dispatches on the suffix as MXNet does (weight ->
_init_weight, bias -> _init_bias, gamma -> _init_gamma, ...: methods a custom initializer
overrides); a parameter's own `init` is applied through _init_weight. Random draws go through tracegrad.random, so mx.random.seed
makes initialization reproducible.
"""
import numpy as np

from . import random
from .array import NDArray, wrap
from .base import MXNetError

_REGISTRY = {}


def register(klass):
    """Register an Initializer subclass under its lower-case class name (for create('name'))."""
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def create(init):
    """An Initializer from an instance, a registered name ('xavier', 'zeros', ...) or None."""
    if init is None or isinstance(init, Initializer):
        return init
    if isinstance(init, str):
        name, kwargs = init, {}
        if init.lstrip().startswith("["):    # Initializer.dumps(): '["name", {kwargs}]'
            from .untrusted import parse_json
            spec = parse_json(init, "an initializer")
            if not (isinstance(spec, list) and spec and isinstance(spec[0], str)
                    and (len(spec) == 1 or isinstance(spec[1], dict))):
                raise MXNetError(f"an initializer's text must be '[name, {{kwargs}}]', "
                                 f"got {init!r}")
            name, kwargs = spec[0], (spec[1] if len(spec) > 1 else {})
        klass = _REGISTRY.get(name.lower())
        if klass is None:
            raise MXNetError(f"unknown initializer {name!r}; known: {sorted(_REGISTRY)}")
        return klass(**kwargs)
    raise TypeError(f"expected an Initializer or its name, got {init!r}")


class InitDesc(str):
    """A parameter name carrying attributes (MXNet passes `__init__` through it)."""

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


def _fill(arr, values):
    """Write `values` into `arr`'s buffer in place (cached pointers stay valid)."""
    np.copyto(arr._data if isinstance(arr, NDArray) else arr,
              values._data if isinstance(values, NDArray) else np.asarray(values),
              casting="unsafe")


def as_ndarray(arr):
    """An NDArray over `arr`'s buffer (no copy): what `_init_weight` receives."""
    return arr if isinstance(arr, NDArray) else wrap(arr)


# MXNet's Initializer.__call__ for an InitDesc: the first suffix that matches picks the
# method (a subclass overrides _init_bias etc. to change one kind of parameter);
# running_/moving_ statistics are tracegrad's additions (MXNet's backend gives BatchNorm's
# auxiliary states an __init__ attribute instead)
_DESC_SUFFIXES = (("weight", "_init_weight"), ("bias", "_init_bias"),
                  ("gamma", "_init_gamma"), ("beta", "_init_beta"),
                  ("running_mean", "_init_zero"), ("moving_mean", "_init_zero"),
                  ("running_var", "_init_one"), ("moving_var", "_init_one"),
                  ("min", "_init_zero"), ("max", "_init_one"))
# MXNet's _legacy_init (a plain name, not an InitDesc): its own order, bias before weight
_LEGACY_SUFFIXES = (("bias", "_init_bias"), ("gamma", "_init_gamma"),
                    ("beta", "_init_beta"), ("weight", "_init_weight"),
                    ("running_mean", "_init_zero"), ("moving_mean", "_init_zero"),
                    ("running_var", "_init_one"), ("moving_var", "_init_one"),
                    ("moving_inv_var", "_init_zero"), ("moving_avg", "_init_zero"),
                    ("min", "_init_zero"), ("max", "_init_one"))


class Initializer:
    """Base class: call it as init(desc, array) with a numpy array or NDArray to fill.

    As in MXNet, the parameter's name picks the method by its suffix: _init_weight (which
    subclasses implement), _init_bias / _init_beta / _init_zero (zeros), _init_gamma /
    _init_one (ones); a custom initializer overrides any of them. A plain-string name (not an
    InitDesc) follows MXNet's legacy order, where 'upsampling*' names get bilinear kernels."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log each initialized array with print_func(arr) (default: its norm / sqrt(size))."""
        self._verbose = verbose
        if print_func is None:
            def print_func(x):
                return str(float(np.linalg.norm(x.asnumpy().ravel())) / np.sqrt(x.size))
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if getattr(self, "_verbose", False) and getattr(self, "_print_func", None):
            import logging
            logging.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def __eq__(self, other):
        """MXNet: initializers of one type with the same arguments are equal."""
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = object.__hash__

    def __call__(self, desc, arr):
        arr = as_ndarray(arr)
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        own = desc.attrs.get("__init__")
        if own:
            create(own)._init_weight(desc, arr)
            self._verbose_print(desc, own, arr)
            return
        for suffix, method in _DESC_SUFFIXES:
            if desc.endswith(suffix):
                getattr(self, method)(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        if not isinstance(name, str):
            raise TypeError(f"an initializer's name must be a string, got "
                            f"{type(name).__name__}")
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
            return
        if name.startswith("stn_loc") and name.endswith(("weight", "bias")):
            (self._init_zero if name.endswith("weight") else self._init_loc_bias)(name, arr)
            return
        for suffix, method in _LEGACY_SUFFIXES:
            if name.endswith(suffix):
                getattr(self, method)(name, arr)
                return
        self._init_default(name, arr)

    def _init_bilinear(self, name, arr):
        Bilinear()._init_weight(name, arr)      # (imported at the end: it subclasses ours)

    def _init_loc_bias(self, name, arr):
        """A spatial transformer's localisation bias: the identity affine transform."""
        if tuple(arr.shape) != (6,):
            raise MXNetError(f"initializer: {name!r} (an stn_loc bias) must have shape (6,), "
                             f"got {tuple(arr.shape)}")
        _fill(arr, np.array([1.0, 0, 0, 0, 1.0, 0]))

    def _init_zero(self, name, arr):
        _fill(arr, 0.0)

    def _init_one(self, name, arr):
        _fill(arr, 1.0)

    def _init_bias(self, name, arr):
        _fill(arr, 0.0)

    def _init_gamma(self, name, arr):
        _fill(arr, 1.0)

    def _init_beta(self, name, arr):
        _fill(arr, 0.0)

    def _init_weight(self, name, arr):
        raise NotImplementedError(f"{type(self).__name__} must implement _init_weight")

    def _init_default(self, name, arr):
        raise MXNetError(
            f"unknown initialization pattern for parameter {name!r}: default initialization "
            f"covers names ending in weight, bias, gamma, beta, running_mean/var, min, max; "
            f"give the parameter an init= (e.g. mx.init.Zero())")

    def dumps(self):
        import json
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"


@register
class Zero(Initializer):
    """All zeros."""

    def _init_weight(self, name, arr):
        _fill(arr, 0.0)


@register
class One(Initializer):
    """All ones."""

    def _init_weight(self, name, arr):
        _fill(arr, 1.0)


_REGISTRY["zeros"], _REGISTRY["ones"] = Zero, One


@register
class Constant(Initializer):
    """Every element set to `value` (a scalar or an array broadcastable to the parameter)."""

    def __init__(self, value=0.0):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, name, arr):
        value = self.value._data if hasattr(self.value, "_data") else self.value
        _fill(arr, np.broadcast_to(np.asarray(value), arr.shape))

    def dumps(self):
        """MXNet's: an array value is written as nested lists (so the JSON loads back)."""
        value = self._kwargs["value"]
        if not np.isscalar(value):
            self._kwargs["value"] = np.asarray(
                value.asnumpy() if hasattr(value, "asnumpy") else value).tolist()
        return super().dumps()


@register
class Uniform(Initializer):
    """Uniform in [-scale, scale] (MXNet's default for Dense weights, scale=0.07)."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, name, arr):
        _fill(arr, random.uniform(-self.scale, self.scale, arr.shape, dtype=arr.dtype))


@register
class Normal(Initializer):
    """Normal with mean 0 and standard deviation sigma."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, name, arr):
        _fill(arr, random.normal(0.0, self.sigma, arr.shape, dtype=arr.dtype))


@register
class Xavier(Initializer):
    """Glorot: scale = sqrt(magnitude / factor), factor from fan_in / fan_out ('avg', 'in',
    'out'); uniform in [-scale, scale] or gaussian with std scale."""

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type, self.factor_type, self.magnitude = rnd_type, factor_type, float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise MXNetError(f"Xavier initializer cannot initialize {name!r} of shape {shape}: "
                             f"it needs at least 2 dimensions (use init= on that parameter)")
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        factors = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}
        if self.factor_type not in factors:
            raise MXNetError(f"Xavier: factor_type must be avg, in or out, got "
                             f"{self.factor_type!r}")
        scale = np.sqrt(self.magnitude / factors[self.factor_type])
        if self.rnd_type == "uniform":
            values = random.uniform(-scale, scale, shape, dtype=arr.dtype)
        elif self.rnd_type == "gaussian":
            values = random.normal(0.0, scale, shape, dtype=arr.dtype)
        else:
            raise MXNetError(f"Xavier: rnd_type must be uniform or gaussian, got "
                             f"{self.rnd_type!r}")
        _fill(arr, values)


@register
class MSRAPrelu(Xavier):
    """He initialization for PReLU nets: gaussian Xavier with magnitude 2 / (1 + slope^2)."""

    def __init__(self, factor_type="avg", slope=0.25):
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope ** 2))
        self._kwargs = {"factor_type": factor_type, "slope": slope}


from .initializer_special import Bilinear, FusedRNN, LSTMBias, Mixed, Orthogonal  # noqa: E402,F401
from .initializer_load import Load  # noqa: E402,F401
