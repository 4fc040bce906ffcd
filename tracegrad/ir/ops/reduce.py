"""Reductions over axes: sum, max, min (primitives) and argmax (no gradient).

mean is a composite (sum times 1/n), not a primitive.
"""
import numpy as np

from ..types import TensorType
from . import (ARG_REDUCTION, INT_GRAD, NONDIFF, REDUCTION, OpDef, Reduce, fail,
               reduced_keepdims_shape)


def _no_bool(cls):
    base = cls.infer

    def infer(x, *, axes, keepdims=False):
        if x.dtype == "bool":
            fail(cls.name, f"cannot reduce a bool operand {x}; cast it first")
        return base(x, axes=axes, keepdims=keepdims)
    cls.infer = staticmethod(infer)
    return cls


SEQUENTIAL_MAX = 7      # (codegen/reduction.SEQUENTIAL_MAX: ir may not import codegen)


def _terms(shape, axes):
    n = 1
    for a in (range(len(shape)) if axes is None else axes):
        n *= shape[a]
    return n


def _expand(b, v, x, axes, keepdims):
    """Broadcast a reduction result (or its cotangent) back over x's shape."""
    if not keepdims:
        v = b.reshape(v, shape=reduced_keepdims_shape(x.shape, axes))
    return b.broadcast_to(v, shape=x.shape)


@_no_bool
class Sum(Reduce):
    """Sum over axes."""
    name = "sum"
    traits = frozenset({REDUCTION, INT_GRAD})
    accumulate = "add"

    def impl(x, *, axes, keepdims=False):
        if x.dtype == np.float32 and _terms(x.shape, axes) > SEQUENTIAL_MAX:
            # accumulated in float64 and rounded once, as compiled sums of more than
            # SEQUENTIAL_MAX terms are (codegen/reduction.py; fewer: a plain f32 loop in both,
            # as numpy's): eager and compiled agree, and a cancellation downstream (batch
            # norm's gradient on constant input) does not amplify numpy's f32 pairwise error
            return np.asarray(np.add.reduce(x, axis=axes, keepdims=keepdims,
                                            dtype=np.float64).astype(x.dtype))
        # dtype=x.dtype: numpy would widen int32 sums to int64
        return np.asarray(np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype))

    def vjp(b, g, out, x, *, axes, keepdims=False):
        return (_expand(b, g, x, axes, keepdims),)


class _Extremum(Reduce):
    """max/min: every element that attains the extremum gets the whole cotangent, as MXNet's
    backward computes (g * (x == out), broadcast_reduce_minmax_value.cc). Not a
    subgradient at a tie (the ties' gradients sum to more than g), but MXNet's numbers: a max
    over ReLU outputs or one-hot rows ties often."""
    traits = frozenset({REDUCTION, INT_GRAD})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        base = cls.infer

        def infer(x, *, axes, keepdims=False):
            out = base(x, axes=axes, keepdims=keepdims)
            if any(x.shape[a] == 0 for a in axes):
                fail(cls.name, f"reduction over a zero-size axis of {x} has no identity")
            return out
        cls.infer = staticmethod(infer)

    def vjp(b, g, out, x, *, axes, keepdims=False):
        hit = b.cast(b.eq(x, _expand(b, out, x, axes, keepdims)), dtype=x.dtype)
        return (b.mul(hit, _expand(b, g, x, axes, keepdims)),)


class Max(_Extremum):
    """Maximum over axes."""
    name = "max"
    accumulate = "max"

    def impl(x, *, axes, keepdims=False):
        return np.asarray(np.max(x, axis=axes, keepdims=keepdims))


class Min(_Extremum):
    """Minimum over axes."""
    name = "min"
    accumulate = "min"

    def impl(x, *, axes, keepdims=False):
        return np.asarray(np.min(x, axis=axes, keepdims=keepdims))


class Argmax(OpDef):
    """Index of the first maximum along one axis, as i64 (no gradient)."""
    name = "argmax"
    traits = frozenset({NONDIFF, ARG_REDUCTION})
    attr_names = frozenset({"axis"})
    defaults = {"keepdims": False}

    def infer(x, *, axis, keepdims=False):
        if not 0 <= axis < x.ndim:
            fail("argmax", f"axis {axis} out of range for {x}")
        shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape)
                      if keepdims or i != axis)
        return TensorType("i64", shape)

    def impl(x, *, axis, keepdims=False):
        return np.asarray(np.argmax(x, axis=axis, keepdims=keepdims), dtype=np.int64)
