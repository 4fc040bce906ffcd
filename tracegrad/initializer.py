"""`mx.init`: weight initializers, MXNet 1.x names and dispatch.

An initializer fills a parameter's buffer in place; `_init_weight(name, arr)` receives an
NDArray over that buffer, as in MXNet, so custom initializers can write `arr[:] = ...`.
Called with a parameter name it dispatches on the suffix as MXNet does (weight ->
_init_weight, bias/beta/running_mean -> 0, gamma/running_var -> 1); a parameter's own `init` is
applied through _init_weight. Random draws go through tracegrad.random, so mx.random.seed
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


class Initializer:
    """Base class: call it as init(name, array) with a numpy array or NDArray to fill."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs

    def __eq__(self, other):
        """MXNet: initializers of one type with the same arguments are equal."""
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = object.__hash__

    def __call__(self, desc, arr):
        arr = as_ndarray(arr)
        own = getattr(desc, "attrs", {}).get("__init__")
        if own:
            create(own)._init_weight(desc, arr)
            return
        name = str(desc)
        if name.endswith("weight"):
            self._init_weight(name, arr)
        elif name.endswith(("bias", "beta", "running_mean", "moving_mean")):
            _fill(arr, 0.0)
        elif name.endswith(("gamma", "running_var", "moving_var")):
            _fill(arr, 1.0)
        else:
            self._init_default(name, arr)

    def _init_weight(self, name, arr):
        raise NotImplementedError(f"{type(self).__name__} must implement _init_weight")

    def _init_default(self, name, arr):
        raise MXNetError(
            f"unknown initialization pattern for parameter {name!r}: default initialization "
            f"covers names ending in weight, bias, gamma, beta, running_mean/var; give the "
            f"parameter an init= (e.g. mx.init.Zero())")

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
