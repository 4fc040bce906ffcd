"""prod: the product over axes.

Its vjp is exact at zeros (no out / x): along the reduced axes, the product of the other
elements is p / x where x has no zero, the product of the non-zeros at the single zero, and 0
everywhere once two zeros are present. It is written with prod itself (of x with its zeros
replaced by 1), where and div on a zero-free divisor, so it differentiates again: second
derivatives are exact wherever no reduced slice contains a zero. (At an exact zero the
branches are frozen: the cross terms d²/dx_i dx_j with x_i = 0 come out 0.)
"""
import numpy as np

from . import Reduce, fail, reduced_keepdims_shape


def _expand(b, v, x, axes, keepdims):
    if not keepdims:
        v = b.reshape(v, shape=reduced_keepdims_shape(x.shape, axes))
    return b.broadcast_to(v, shape=x.shape)


class Prod(Reduce):
    """Product over axes (1 over an empty axis)."""
    name = "prod"
    accumulate = "mul"

    def infer(x, *, axes, keepdims=False):
        if (not isinstance(axes, (tuple, list)) or list(axes) != sorted(set(axes))
                or not all(0 <= a < x.ndim for a in axes)):
            fail("prod", f"axes {axes} must be sorted, unique and in range for {x}")
        if x.dtype == "bool":
            fail("prod", f"cannot reduce a bool operand {x}; cast it first")
        return x.with_shape(tuple(1 if i in axes else d for i, d in enumerate(x.shape)
                                  if keepdims or i not in axes))

    def impl(x, *, axes, keepdims=False):
        return np.asarray(np.prod(x, axis=axes, keepdims=keepdims, dtype=x.dtype))

    def vjp(b, g, out, x, *, axes, keepdims=False):
        zero = b.eq(x, 0)
        safe = b.where(zero, 1, x)
        nonzero_prod = b.broadcast_to(b.prod(safe, axes=axes, keepdims=True), shape=x.shape)
        zeros = b.broadcast_to(b.sum(b.cast(zero, dtype=x.type.dtype), axes=axes,
                                     keepdims=True), shape=x.shape)
        at_zero = b.where(b.eq(zeros, 1), nonzero_prod, 0)
        elsewhere = b.where(b.eq(zeros, 0), b.div(nonzero_prod, safe), 0)
        others = b.where(zero, at_zero, elsewhere)
        return (b.mul(_expand(b, g, x, axes, keepdims), others),)
