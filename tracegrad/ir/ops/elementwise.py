"""Elementwise primitives beyond unary ones (those are in unary.py): arithmetic, comparisons,
where, cast, constant.

Every op here has the ELEMENTWISE trait and a `scalar` rule, so any chain of them fuses into
one loop. `scalar` rules see only a ScalarEmitter `e` (codegen/emitter.py), never LLVM.
"""
import math

import numpy as np

from ..types import DTYPES, FLOATS, TensorType, broadcast_shapes, promote
from . import (COMMUTATIVE, ELEMENTWISE, EXACT, INT_GRAD, NONDIFF, NUMERIC, BinaryElementwise,
               OpDef, fail)


def same_dtype(e, *xs):
    """Cast emitter values to their promoted dtype, for emitter calls that do not promote
    (select, comparisons), so a rule sees the types its op's infer computed."""
    dtype = promote(*(x.dtype for x in xs))
    return [x if x.dtype == dtype else e.cast(x, dtype) for x in xs]


_INT_RANGE = {}  # (float dtype, int dtype) -> (lo, hi, by_magnitude): see _int_range
_MAX, _MIN = np.maximum.reduce, np.minimum.reduce  # x.max() without its Python wrapper


def _int_range(fdt, dtype):
    """The floats strictly between lo and hi truncate into `dtype` as they are; lo and hi are
    its limits rounded into the float type (2**63 for int64: the first float above). For a
    signed type -lo >= hi, so |x| < hi alone proves x inside (by_magnitude)."""
    info = np.iinfo(dtype)
    with np.errstate(invalid="ignore", over="ignore"):   # float16 has no 2**63: inf
        hi = np.asarray(info.max).astype(fdt)[()]
        lo = np.asarray(info.min).astype(fdt)[()]
    rng = _INT_RANGE[(fdt, dtype)] = (lo, hi, bool(info.min < 0 and -lo >= hi))
    return rng


_F16 = np.dtype(np.float16)
_I32 = np.dtype(np.int32)


def saturating_int(x, dtype=np.int64):
    """Floats to integers as compiled code converts them (llvm.fptosi.sat): toward zero,
    values beyond the integer range to its nearest end, NaN to 0. numpy's astype leaves those
    to the platform (x86 gives the minimum for NaN and for +inf), so an out-of-range index
    would pick another element eagerly than compiled. Labels are cast every training step, so
    the common case (every value inside the range) costs one reduction and the astype; the
    range per dtype pair is computed once."""
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if x.dtype.kind != "f":
        return x.astype(dtype)
    rng = _INT_RANGE.get((x.dtype, dtype))
    lo, hi, by_magnitude = rng if rng is not None else _int_range(x.dtype, dtype)
    if x.size == 0:
        return x.astype(dtype)
    if by_magnitude:   # one reduction decides; NaN fails the test too
        if _MAX(np.abs(x), axis=None) < hi:
            return x.astype(dtype)
    elif lo < _MIN(x, axis=None) and _MAX(x, axis=None) < hi:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    with np.errstate(invalid="ignore"):
        out = np.where(np.isnan(x) | (x >= hi) | (x <= lo), 0, x).astype(dtype)
    out[x >= hi] = info.max
    out[x <= lo] = info.min
    return out


# ---------------------------------------------------------------- binary


class Add(BinaryElementwise):
    """x + y with broadcasting."""
    name = "add"
    traits = frozenset({ELEMENTWISE, COMMUTATIVE, INT_GRAD})

    def impl(x, y):
        return np.add(x, y)

    def vjp(b, g, out, x, y):
        return g, g

    def scalar(e, x, y):
        return e.add(x, y)


class Sub(BinaryElementwise):
    """x - y with broadcasting (numpy has no bool - bool)."""
    name = "sub"
    traits = frozenset({ELEMENTWISE, INT_GRAD})
    dtypes = NUMERIC

    def impl(x, y):
        return np.subtract(x, y)

    def vjp(b, g, out, x, y):
        return g, b.neg(g)

    def scalar(e, x, y):
        return e.sub(x, y)


class Mul(BinaryElementwise):
    """Elementwise product with broadcasting."""
    name = "mul"
    traits = frozenset({ELEMENTWISE, COMMUTATIVE, INT_GRAD})

    def impl(x, y):
        return np.multiply(x, y)

    def vjp(b, g, out, x, y):
        return b.mul(g, y), b.mul(g, x)

    def scalar(e, x, y):
        return e.mul(x, y)


class Div(BinaryElementwise):
    """x / y: true division for floats, floor division for ints (numpy's //), no bool / bool."""
    name = "div"
    dtypes = NUMERIC

    def impl(x, y):
        if np.result_type(x, y).kind in "iub":
            return np.floor_divide(x, y)
        return np.divide(x, y)

    def vjp(b, g, out, x, y):
        gx = b.div(g, y)
        return gx, b.neg(b.mul(gx, out))

    def scalar(e, x, y):
        return e.div(x, y)


class Mod(BinaryElementwise):
    """x % y as numpy's mod (Python's): the result takes the sign of y; x % 0 is 0, float
    too (MXNet's mod kernel; numpy gives NaN). d/dx is 1 and d/dy is -floor(x / y), away
    from the jumps where y divides x. Integer mods pass no gradient (MXNet's mod_grad and
    mod_rgrad are 0 but for floats, in nd and np alike)."""
    name = "mod"
    traits = frozenset({ELEMENTWISE, INT_GRAD})
    dtypes = NUMERIC

    def impl(x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.mod(x, y)
        if out.dtype.kind == "f":
            out = np.where(np.asarray(y) == 0, out.dtype.type(0), out)
        return out

    def vjp(b, g, out, x, y):
        if out.dtype not in FLOATS:
            return None, None
        return g, b.neg(b.mul(g, b.floor(b.div(x, y))))

    def scalar(e, x, y):
        return e.mod(x, y)


class Pow(BinaryElementwise):
    """x ** y. The vjp guards the points where the textbook formula gives 0 * inf = nan but
    the true derivative is 0: d/dx at y == 0 and d/dy at x == 0 (as JAX does). Integer
    powers differentiate in integers (MXNet's _backward_power_scalar), their y - 1 clipped at
    0 where y == 0 masks it: an integer to a negative power is an error, even masked."""
    name = "pow"
    traits = frozenset({ELEMENTWISE, INT_GRAD})
    dtypes = NUMERIC
    #: (operand, its name, lowest value, why): with every operand an integer, the dispatcher reads
    #: this array operand through a range check (index_checks: an op, so a trace keeps it);
    #: numpy refuses a negative exponent, and compiled code would answer 0
    integer_operand_floor = (1, "exponent", 0,
                             "Integers to negative integer powers are not allowed")

    def impl(x, y):
        return np.power(x, y)

    def vjp(b, g, out, x, y):
        less = b.sub(y, 1)
        if out.dtype not in FLOATS:
            less = b.maximum(less, 0)
        dx = b.where(b.eq(y, 0), 0, b.mul(y, b.pow(x, less)))
        log_x = b.log(b.where(b.eq(x, 0), 1.0, x))  # 1.0: an int base still logs
        return b.mul(g, dx), b.mul(g, b.mul(out, log_x))

    def scalar(e, x, y):
        return e.pow(x, y)


class Maximum(BinaryElementwise):
    """Elementwise max; ties send the gradient to x."""
    name = "maximum"
    traits = frozenset({ELEMENTWISE, COMMUTATIVE, INT_GRAD})

    def impl(x, y):
        return np.maximum(x, y)

    def vjp(b, g, out, x, y):
        pick_x = b.ge(x, y)
        return b.where(pick_x, g, 0), b.where(pick_x, 0, g)

    def scalar(e, x, y):
        return e.maximum(x, y)


class Minimum(BinaryElementwise):
    """Elementwise min; ties send the gradient to x."""
    name = "minimum"
    traits = frozenset({ELEMENTWISE, COMMUTATIVE, INT_GRAD})

    def impl(x, y):
        return np.minimum(x, y)

    def vjp(b, g, out, x, y):
        pick_x = b.le(x, y)
        return b.where(pick_x, g, 0), b.where(pick_x, 0, g)

    def scalar(e, x, y):
        return e.minimum(x, y)


class Compare(BinaryElementwise):
    """Comparisons give bool and have no gradient."""
    traits = frozenset({ELEMENTWISE, NONDIFF})
    result_dtype = "bool"


def _comparison(opname, np_fn):
    def impl(x, y):
        return np_fn(x, y)

    def scalar(e, x, y):
        return getattr(e, opname)(*same_dtype(e, x, y))
    doc = f"x {opname} y elementwise, a bool result (no gradient)."
    return type(opname.capitalize(), (Compare,),
                {"name": opname, "__doc__": doc, "impl": impl, "scalar": scalar})


Lt = _comparison("lt", np.less)
Le = _comparison("le", np.less_equal)
Gt = _comparison("gt", np.greater)
Ge = _comparison("ge", np.greater_equal)
Eq = _comparison("eq", np.equal)
Ne = _comparison("ne", np.not_equal)


# ---------------------------------------------------------------- other


def _select(c, x, y):
    """np.where, branch-free: numpy's where mispredicts on random masks (12x slower than a
    multiply here), so large selects blend the bit patterns with an all-ones/zeros mask."""
    dt = np.result_type(x, y)
    shape = c.shape if c.shape == x.shape == y.shape else \
        np.broadcast_shapes(c.shape, x.shape, y.shape)
    if dt.kind not in "fiu" or math.prod(shape) < 4096:
        return np.where(c, x, y)
    bits = np.dtype(f"u{dt.itemsize}")
    if c.shape != shape:
        c = np.broadcast_to(c, shape)
    mask = np.subtract(0, c, dtype=bits)  # True -> all ones, in one pass
    xs, ys = x.astype(dt, copy=False).view(bits), y.astype(dt, copy=False).view(bits)
    if not ys.any():  # all-zero bits (+0.0): the select is a mask
        out = np.bitwise_and(np.broadcast_to(xs, shape), mask, out=mask)
    elif not xs.any():
        out = np.bitwise_and(np.broadcast_to(ys, shape), np.invert(mask, out=mask), out=mask)
    else:
        out = np.bitwise_and(np.broadcast_to(xs, shape), mask)
        out |= np.bitwise_and(np.broadcast_to(ys, shape), np.invert(mask, out=mask), out=mask)
    return out.view(dt)


def _weak_scalars(x, y):
    """x, y as arrays, a Python scalar taking the dtype the type rule gives it (literal_dtype:
    the other operand's float dtype), not float64: where(c, f32 x, 0.0) is f32 as traced.
    Numpy scalars keep their own dtype, as their IR type does."""
    weak = [type(a) in (bool, int, float) for a in (x, y)]
    arrays = [a if w else np.asarray(a) for a, w in zip((x, y), weak)]
    ref = next((a.dtype for a, w in zip(arrays, weak) if not w and a.dtype != np.bool_), None)
    out = []
    for a, w in zip(arrays, weak):
        if w:
            if type(a) is bool:
                dt = ref if ref is not None else np.bool_
            elif type(a) is float:
                dt = ref if ref is not None and ref.kind == "f" else (
                    np.float64 if ref is not None else np.float32)
            else:
                dt = ref if ref is not None else np.int64
            a = np.asarray(a, dtype=dt)
        out.append(a)
    return out


class Where(OpDef):
    """cond ? x : y with broadcasting of all three."""
    name = "where"
    traits = frozenset({ELEMENTWISE, INT_GRAD})

    def infer(c, x, y):
        if c.dtype != "bool":
            fail("where", f"condition must be bool, got {c}")
        try:
            shape = broadcast_shapes(c.shape, x.shape, y.shape)
        except ValueError:
            fail("where", f"shapes {c}, {x}, {y} do not broadcast")
        return TensorType(promote(x.dtype, y.dtype), shape)

    def impl(c, x, y):
        return _select(np.asarray(c), *_weak_scalars(x, y))

    def vjp(b, g, out, c, x, y):
        return None, b.where(c, g, 0), b.where(c, 0, g)

    def scalar(e, c, x, y):
        return e.select(c, *same_dtype(e, x, y))


class Cast(OpDef):
    """Convert to `dtype`; the gradient is cast back to x's dtype, whatever the two dtypes
    (MXNet's _backward_cast: float -> int -> float is straight-through, truncated on the way
    back through the integer); a bool x gets none."""
    name = "cast"
    traits = frozenset({ELEMENTWISE, EXACT, INT_GRAD})
    attr_names = frozenset({"dtype"})

    def infer(x, *, dtype):
        if dtype not in DTYPES:
            fail("cast", f"unknown dtype {dtype!r}")
        return x.with_dtype(dtype)

    def impl(x, *, dtype):
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        target = DTYPES[dtype]
        if x.dtype.kind == "f" and target.kind in "iu":
            if target.itemsize < 4:
                # MXNet's static_cast<uint8_t/int8_t>(float) goes through int32 on x86 and
                # keeps the low bits: its cast doc's [300, -1, -3] -> uint8 [44, 255, 253].
                # (Narrow dtypes never compile, so eager and compiled still agree.)
                return saturating_int(x, _I32).astype(target)
            return saturating_int(x, target)
        if target is _F16:
            with np.errstate(over="ignore"):   # past 65504: inf, as MXNet's cast gives
                return x.astype(target)
        return x.astype(target)

    def vjp(b, g, out, x, *, dtype):
        return (b.cast(g, dtype=x.dtype),)

    def scalar(e, x, *, dtype):
        return e.cast(x, dtype)


class Constant(OpDef):
    """A tensor filled with one scalar `value`."""
    name = "constant"
    traits = frozenset({ELEMENTWISE, NONDIFF})
    attr_names = frozenset({"value", "shape", "dtype"})

    def infer(*, value, shape, dtype):
        if dtype not in DTYPES:
            fail("constant", f"unknown dtype {dtype!r}")
        return TensorType(dtype, shape)

    def impl(*, value, shape, dtype):
        return np.full(shape, value, dtype=DTYPES[dtype])

    def scalar(e, *, value, shape, dtype):
        return e.const(value, dtype=dtype)
