"""cumsum: running sums along one axis. Its adjoint is the running sum taken the other way,
so the op is closed under differentiation (any order)."""
import numpy as np

from ..types import FLOATS, INTS
from . import INT_GRAD, SCAN, OpDef, fail


class Cumsum(OpDef):
    """out[i] = sum of x[j] for j <= i along `axis` (j >= i with reverse=True)."""
    name = "cumsum"
    traits = frozenset({SCAN, INT_GRAD})
    attr_names = frozenset({"axis"})
    defaults = {"reverse": False}

    def infer(x, *, axis, reverse=False):
        if x.ndim == 0 or not 0 <= axis < x.ndim:
            fail("cumsum", f"axis {axis} out of range for {x}")
        if x.dtype not in FLOATS + INTS:
            fail("cumsum", f"expects a numeric operand, got {x}")
        return x

    def impl(x, *, axis, reverse=False):
        if not reverse:
            return np.cumsum(x, axis=axis, dtype=x.dtype)
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)

    def vjp(b, g, out, x, *, axis, reverse=False):
        return (b.cumsum(g, axis=axis, reverse=not reverse),)
