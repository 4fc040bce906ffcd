"""The op registry: one `OpDef` class block per primitive, holding its four rules side by side.

- `infer(*types, **attrs)`: type rule (TensorType or tuple of them); raises TypeError naming the op.
- `impl(*arrays, **attrs)`: the numpy implementation, the living definition of the op.
- `vjp(b, g, out, *xs, **attrs)`: cotangents per operand as IR built with Builder `b`, written
  shape-naively (autodiff sums them back to each operand's shape); None = no gradient.
- `scalar(e, *xs, **attrs)`: for ELEMENTWISE ops, one element's computation on a ScalarEmitter.

Subclassing registers the op under `name` and generates the Builder method `b.<name>(...)`.
"""
import inspect

import numpy as np

from ..function import Builder
from ..types import FLOATS, TensorType, broadcast_shapes, normalize_axes, promote

ELEMENTWISE = "elementwise"  # one output element depends only on the same element of inputs
COMMUTATIVE = "commutative"
NONDIFF = "nondiff"          # no vjp: integer, boolean or random results
RANDOM = "random"            # reads a key operand; never folded or CSE'd across keys

REGISTRY: dict = {}
RULES = ("infer", "impl", "vjp", "scalar")


def fail(opname, message):
    raise TypeError(f"{opname}: {message}")


class OpDef:
    """Base of every primitive. Rules are written as plain functions; they become static."""
    name: str = None
    traits = frozenset()
    defaults: dict = {}              # optional attributes with their defaults
    attr_names = frozenset()         # required attributes
    nresults = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for rule in RULES:
            fn = cls.__dict__.get(rule)
            if inspect.isfunction(fn):
                setattr(cls, rule, staticmethod(fn))
        name = cls.__dict__.get("name")
        if name is None:
            return
        if name in REGISTRY:
            raise ValueError(f"op {name!r} registered twice ({REGISTRY[name].__qualname__}, "
                             f"{cls.__qualname__})")
        REGISTRY[name] = cls
        setattr(Builder, name, _builder_method(name))

    @classmethod
    def has(cls, trait) -> bool:
        return trait in cls.traits


def _builder_method(name):
    def method(self, *operands, **attrs):
        return self.emit(name, *operands, **attrs)
    method.__name__ = name
    method.__doc__ = f"Emit `{name}` (see tracegrad.ir.ops.REGISTRY[{name!r}])."
    return method


class UnaryElementwise(OpDef):
    """One operand, same type out."""
    traits = frozenset({ELEMENTWISE})

    def infer(x):
        return x


class FloatUnary(UnaryElementwise):
    """Transcendentals: defined on floats only."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "infer" not in cls.__dict__:
            cls.infer = staticmethod(_float_unary_infer(cls))


def _float_unary_infer(cls):
    def infer(x):
        if x.dtype not in FLOATS:
            fail(cls.name, f"expects a floating-point operand, got {x}")
        return x
    return infer


class BinaryElementwise(OpDef):
    """Two operands with numpy broadcasting and dtype promotion."""
    traits = frozenset({ELEMENTWISE})
    result_dtype = None  # fixed result dtype (bool for comparisons), else promoted

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "infer" not in cls.__dict__:
            cls.infer = staticmethod(_binary_infer(cls))


def _binary_infer(cls):
    def infer(x, y):
        try:
            shape = broadcast_shapes(x.shape, y.shape)
        except ValueError:
            fail(cls.name, f"operand shapes {x} and {y} do not broadcast")
        return TensorType(cls.result_dtype or promote(x.dtype, y.dtype), shape)
    return infer


class Reduce(OpDef):
    """Reduction over `axes` (sorted, non-negative), optionally keeping reduced dims as 1."""
    attr_names = frozenset({"axes"})
    defaults = {"keepdims": False}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "infer" not in cls.__dict__:
            cls.infer = staticmethod(_reduce_infer(cls))


def _reduce_infer(cls):
    def infer(x, *, axes, keepdims=False):
        if tuple(normalize_axes(axes, x.ndim)) != tuple(axes):
            fail(cls.name, f"axes {axes} must be sorted, unique and in range for {x}")
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)
                      if keepdims or i not in axes)
        return x.with_shape(shape)
    return infer


def reduced_keepdims_shape(shape, axes):
    """The shape of a reduction's result with keepdims=True."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def as_array(x, dtype):
    """numpy array of exactly `dtype` (impls return numpy scalars for 0-d results)."""
    return np.asarray(x, dtype=dtype)


# importing the families registers their ops
from . import elementwise, linalg, random, reduce, shape  # noqa: E402,F401
