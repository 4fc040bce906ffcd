"""pad (MXNet's Pad: constant, edge, reflect) and its adjoint pad_adjoint.

Padding is a gather: each output position reads one input position (or the constant), per axis
from an index map (np.pad of the axis' positions). Its adjoint sums the cotangent of every
output position into the input position it read; the adjoint of that is pad again with value 0.
"""
import numpy as np

from . import INDEXED, INT_GRAD, SCATTER, OpDef, fail

MODES = ("constant", "edge", "reflect")


def _pairs(opname, shape, pad_width, mode):
    if mode not in MODES:
        fail(opname, f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(pad_width) != 2 * len(shape) or any(int(p) < 0 for p in pad_width):
        fail(opname, f"pad_width needs two non-negative entries per axis of shape "
                     f"{list(shape)}, got {tuple(pad_width)}")
    pairs = [(int(pad_width[2 * i]), int(pad_width[2 * i + 1])) for i in range(len(shape))]
    for d, (lo, hi) in zip(shape, pairs):
        if mode == "edge" and d == 0 and lo + hi:
            fail(opname, f"edge padding of an empty axis in shape {list(shape)}")
        if mode == "reflect" and (lo or hi) and (lo >= d or hi >= d):
            fail(opname, f"reflect padding {lo, hi} must be smaller than the axis size {d} "
                         f"of shape {list(shape)}")
    return pairs


def _maps(shape, pairs, mode):
    return [np.pad(np.arange(d), p, mode=mode) for d, p in zip(shape, pairs)]


def _source(ctx, shape, pad_width, mode):
    """Pad's rule for the output position being computed (ctx.index): the input position it
    reads per axis (i - lo, reflected or clamped into range), and whether it lies inside the
    input (what constant mode fills instead)."""
    e, zero = ctx.e, ctx.e.const(0, dtype="i64")
    pos, inside = [], None
    for k, d in enumerate(shape):
        j = e.sub(ctx.index(k), e.const(int(pad_width[2 * k]), dtype="i64"))
        last = e.const(max(d - 1, 0), dtype="i64")
        ok = e.select(e.ge(j, zero), e.le(j, last), e.ge(j, zero))   # 0 <= j < d
        inside = ok if inside is None else e.select(inside, ok, inside)
        if mode == "reflect":
            j = e.select(e.lt(j, zero), e.neg(j), j)
            j = e.select(e.gt(j, last), e.sub(e.const(2 * (d - 1), dtype="i64"), j), j)
        pos.append(e.minimum(e.maximum(j, zero), last))
    return tuple(pos), inside


class Pad(OpDef):
    """x padded by pad_width = (before_0, after_0, before_1, after_1, ...)."""
    name = "pad"
    traits = frozenset({INDEXED, INT_GRAD})
    attr_names = frozenset({"pad_width"})
    defaults = {"mode": "constant", "constant_value": 0.0}

    def element(ctx, x, *, pad_width, mode="constant", constant_value=0.0):
        """The input position output position i reads, per axis: i - lo, reflected or
        clamped into range; outside the input in constant mode, the constant."""
        e = ctx.e
        fill = e.const(constant_value, dtype=x.dtype)
        if x.size == 0:
            return fill
        pos, inside = _source(ctx, x.shape, pad_width, mode)
        v = ctx.read(0, pos)
        return e.select(inside, v, fill) if mode == "constant" else v

    def infer(x, *, pad_width, mode="constant", constant_value=0.0):
        pairs = _pairs("pad", x.shape, pad_width, mode)
        return x.with_shape(tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, pairs)))

    def impl(x, *, pad_width, mode="constant", constant_value=0.0):
        pairs = _pairs("pad", x.shape, pad_width, mode)
        if mode == "constant":
            return np.pad(x, pairs, mode="constant", constant_values=constant_value)
        return np.pad(x, pairs, mode=mode)

    def vjp(b, g, out, x, *, pad_width, mode="constant", constant_value=0.0):
        return (b.pad_adjoint(g, pad_width=pad_width, mode=mode, shape=x.shape),)


class PadAdjoint(OpDef):
    """The transpose of pad: an array of `shape` where each position holds the sum of the
    cotangents of the padded positions that read it."""
    name = "pad_adjoint"
    traits = frozenset({SCATTER, INT_GRAD})
    attr_names = frozenset({"pad_width", "shape"})
    defaults = {"mode": "constant"}

    def scatter(ctx, g, *, pad_width, shape, mode="constant"):
        """Padded position i adds into the input position pad read it from (pad's rule)."""
        pos, inside = _source(ctx, shape, pad_width, mode)
        return pos, (inside if mode == "constant" else None)

    def infer(g, *, pad_width, shape, mode="constant"):
        pairs = _pairs("pad_adjoint", shape, pad_width, mode)
        padded = tuple(d + lo + hi for d, (lo, hi) in zip(shape, pairs))
        if tuple(g.shape) != padded:
            fail("pad_adjoint", f"{g} is not the padded shape {list(padded)}")
        return g.with_shape(tuple(shape))

    def impl(g, *, pad_width, shape, mode="constant"):
        pairs = _pairs("pad_adjoint", shape, pad_width, mode)
        if mode == "constant":
            return np.array(g[tuple(slice(lo, lo + d) for d, (lo, _) in zip(shape, pairs))])
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(out, np.ix_(*_maps(shape, pairs, mode)), g)
        return out

    def vjp(b, g, out, x, *, pad_width, shape, mode="constant"):
        return (b.pad(g, pad_width=pad_width, mode=mode, constant_value=0.0),)
