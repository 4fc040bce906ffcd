"""ScalarEmitter: the dtype-aware scalar instruction set that `OpDef.scalar` rules are written
against. It wraps an llvmlite IRBuilder; values are `SVal`s (an LLVM value plus an IR dtype).

Semantics follow numpy on one element: binary methods promote operands with `ir.types.promote`;
int `div` is floor division (x // 0 gives 0, never UB); float maximum/minimum propagate NaN;
`ne` is unordered (NaN != NaN). Float transcendentals are inline polynomials (codegen/mathfuns),
so loops that use them vectorise; f32 ones compute in f64 and round once, and f64 ones computed
for an f32 result (`rounds_to`, set by ir.ops.rounded_once) use the shorter series that needs;
fast-math flags only when asked for (codegen/fastmath.py).
Imports only ir.types and
codegen siblings.
"""
from llvmlite import ir

from ..ir.function import literal_dtype
from ..ir.types import FLOATS, INTS, promote
from . import mathfuns

LLTYPES = {"f32": ir.FloatType(), "f64": ir.DoubleType(), "i32": ir.IntType(32),
           "i64": ir.IntType(64), "bool": ir.IntType(1)}
MEMTYPES = dict(LLTYPES, bool=ir.IntType(8))     # numpy stores bool as one byte
_FCMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=="}


class SVal:
    """One scalar: `v` is the LLVM value, `dtype` its IR dtype name."""
    __slots__ = ("v", "dtype")

    def __init__(self, v, dtype):
        self.v, self.dtype = v, dtype

    def __repr__(self):
        return f"<SVal {self.dtype}>"


class ScalarEmitter:
    """The only object scalar rules see. `b` is the IRBuilder positioned in a loop body."""

    def __init__(self, builder: ir.IRBuilder, flags=()):
        self.b = builder
        self.math = mathfuns.MathLib(builder)
        self.flags = tuple(flags)    # LLVM fast-math flags for float arithmetic (codegen/fastmath)
        self.rounds_to = None        # the dtype f64 values are computed for (ir.ops.rounded_once)

    # ------------------------------------------------------------ constants and conversions
    def const(self, value, like=None, dtype=None) -> SVal:
        if dtype is None:
            dtype = like.dtype if like is not None else literal_dtype(value, ())
        if dtype in FLOATS:
            value = float(value)
        else:
            value = int(bool(value)) if dtype == "bool" else int(value)
        return SVal(ir.Constant(LLTYPES[dtype], value), dtype)

    def cast(self, x: SVal, dtype: str) -> SVal:
        """numpy astype on one element; float->int saturates (no poison), NaN->int gives 0."""
        src, b, ty = x.dtype, self.b, LLTYPES[dtype]
        if src == dtype:
            return x
        if dtype == "bool":
            if src in FLOATS:
                return SVal(b.fcmp_unordered("!=", x.v, ir.Constant(x.v.type, 0.0)), dtype)
            return SVal(b.icmp_unsigned("!=", x.v, ir.Constant(x.v.type, 0)), dtype)
        if src == "bool":
            return SVal(b.uitofp(x.v, ty) if dtype in FLOATS else b.zext(x.v, ty), dtype)
        if src in FLOATS and dtype in FLOATS:
            grow = ty.intrinsic_name == "f64"
            return SVal(b.fpext(x.v, ty) if grow else b.fptrunc(x.v, ty), dtype)
        if src in FLOATS:
            # named by both types (llvm.fptosi.sat.i64.f64): one module may convert f32 and f64
            fn = self.math.intrinsic("llvm.fptosi.sat", ty, [x.v.type], suffix=[ty, x.v.type])
            return SVal(b.call(fn, [x.v]), dtype)
        if dtype in FLOATS:
            return SVal(b.sitofp(x.v, ty), dtype)
        wider = ty.width > x.v.type.width
        return SVal(b.sext(x.v, ty) if wider else b.trunc(x.v, ty), dtype)

    def _promote(self, x: SVal, y: SVal):
        if x.dtype == y.dtype:
            return x, y, x.dtype
        dt = promote(x.dtype, y.dtype)
        return self.cast(x, dt), self.cast(y, dt), dt

    # ------------------------------------------------------------ arithmetic
    def _arith(self, x, y, fop, iop, bop):
        x, y, dt = self._promote(x, y)
        if dt in FLOATS:
            return SVal(getattr(self.b, fop)(x.v, y.v, flags=self.flags), dt)
        name = iop if dt in INTS else bop
        return SVal(getattr(self.b, name)(x.v, y.v), dt)

    def add(self, x, y):
        return self._arith(x, y, "fadd", "add", "or_")

    def sub(self, x, y):
        return self._arith(x, y, "fsub", "sub", "xor")

    def mul(self, x, y):
        return self._arith(x, y, "fmul", "mul", "and_")

    def div(self, x, y):
        x, y, dt = self._promote(x, y)
        if dt in FLOATS:
            return SVal(self.b.fdiv(x.v, y.v, flags=self.flags), dt)
        if dt == "bool":
            return SVal(self.b.and_(x.v, y.v), dt)
        return SVal(self.math.floor_div(x.v, y.v), dt)

    def mod(self, x, y):
        """numpy mod: the remainder takes the divisor's sign, a zero one too; x % 0 gives 0
        (MXNet's kernel, float too; int never UB)."""
        x, y, dt = self._promote(x, y)
        b = self.b
        if dt == "bool":
            return SVal(b.and_(x.v, b.not_(y.v)), dt)
        if dt in FLOATS:
            zero = ir.Constant(x.v.type, 0.0)
            r = b.frem(x.v, y.v)
            fix = b.and_(b.fcmp_ordered("!=", r, zero),
                         b.xor(b.fcmp_ordered("<", r, zero), b.fcmp_ordered("<", y.v, zero)))
            r = b.select(fix, b.fadd(r, y.v), r)
            # a zero remainder is a zero of the divisor's sign (numpy's copysign(0, y))
            signed_zero = b.select(b.fcmp_ordered("<", y.v, zero), ir.Constant(x.v.type, -0.0),
                                   zero)
            r = b.select(b.fcmp_ordered("==", r, zero), signed_zero, r)
            return SVal(b.select(b.fcmp_ordered("==", y.v, zero), zero, r), dt)
        return SVal(self.math.floor_mod(x.v, y.v), dt)

    def pow(self, x, y):
        x, y, dt = self._promote(x, y)
        if dt in FLOATS:
            return SVal(self.math.pow(x.v, y.v), dt)
        if dt == "bool":
            return SVal(self.b.or_(x.v, self.b.not_(y.v)), dt)
        return SVal(self.math.int_pow(x.v, y.v), dt)

    def maximum(self, x, y):
        return self._extremum(x, y, ">")

    def minimum(self, x, y):
        return self._extremum(x, y, "<")

    def _extremum(self, x, y, cmp):
        x, y, dt = self._promote(x, y)
        b = self.b
        if dt in FLOATS:
            keep_x = b.or_(b.fcmp_ordered(cmp, x.v, y.v), b.fcmp_unordered("uno", x.v, x.v))
        elif dt in INTS:
            keep_x = b.icmp_signed(cmp, x.v, y.v)
        else:
            keep_x = b.icmp_unsigned(cmp, x.v, y.v)
        return SVal(b.select(keep_x, x.v, y.v), dt)

    def neg(self, x):
        if x.dtype in FLOATS:
            return SVal(self.b.fneg(x.v), x.dtype)
        if x.dtype == "bool":
            return self.logical_not(x)
        return SVal(self.b.neg(x.v), x.dtype)

    def abs(self, x):
        if x.dtype in FLOATS:
            return SVal(self.math.call("llvm.fabs", x.v), x.dtype)
        if x.dtype == "bool":
            return x
        is_neg = self.b.icmp_signed("<", x.v, ir.Constant(x.v.type, 0))
        return SVal(self.b.select(is_neg, self.b.neg(x.v), x.v), x.dtype)

    def floor(self, x):
        if x.dtype not in FLOATS:
            return x
        return SVal(self.math.call("llvm.floor", x.v), x.dtype)

    def sqrt(self, x):
        if x.dtype not in FLOATS:
            x = self.cast(x, "f64")
        return SVal(self.math.sqrt(x.v), x.dtype)

    def _float_fn(self, name, x, **kwargs):
        """MathLib's `name` on x: an f32 operand is computed in f64 and rounded once; an f64
        one with f32-sized series while `rounds_to` says its result will be rounded."""
        if x.dtype not in FLOATS:
            x = self.cast(x, "f64")
        single = self.rounds_to is not None
        return SVal(getattr(self.math, name)(x.v, single=single, **kwargs), x.dtype)

    def exp(self, x):
        return self._float_fn("exp", x)

    def log(self, x):
        return self._float_fn("log", x)

    def log1p(self, x):
        return self._float_fn("log1p", x)

    def expm1(self, x):
        return self._float_fn("expm1", x)

    def tanh(self, x):
        return self._float_fn("tanh", x)

    def sin(self, x, bounded=False):
        """bounded: |x| < 2^19 for sure (mathfuns.MathLib._trig)."""
        return self._float_fn("sin", x, bounded=bounded)

    def cos(self, x, bounded=False):
        return self._float_fn("cos", x, bounded=bounded)

    def erf(self, x):
        return self._float_fn("erf", x)

    # ------------------------------------------------------------ comparisons and logic
    def _compare(self, x, y, op):
        x, y, dt = self._promote(x, y)
        b = self.b
        if dt in FLOATS:
            v = b.fcmp_unordered("!=", x.v, y.v, flags=self.flags) if op == "ne" else \
                b.fcmp_ordered(_FCMP[op], x.v, y.v, flags=self.flags)
        else:
            cmp = {"ne": "!="}.get(op) or _FCMP[op]
            icmp = b.icmp_signed if dt in INTS else b.icmp_unsigned
            v = icmp(cmp, x.v, y.v)
        return SVal(v, "bool")

    def lt(self, x, y):
        return self._compare(x, y, "lt")

    def le(self, x, y):
        return self._compare(x, y, "le")

    def gt(self, x, y):
        return self._compare(x, y, "gt")

    def ge(self, x, y):
        return self._compare(x, y, "ge")

    def eq(self, x, y):
        return self._compare(x, y, "eq")

    def ne(self, x, y):
        return self._compare(x, y, "ne")

    def select(self, c, x, y):
        c = self.cast(c, "bool")
        x, y, dt = self._promote(x, y)
        return SVal(self.b.select(c.v, x.v, y.v), dt)

    def logical_not(self, x):
        return SVal(self.b.not_(self.cast(x, "bool").v), "bool")
