"""A numpy ScalarEmitter: runs OpDef.scalar rules without LLVM, so rule bugs show up in tests.

It implements exactly the interface codegen/emitter.py promises (see the ops package docstring)
and is deliberately stricter where the interface is silent, so a rule that passes here is
portable to the LLVM emitter:
- `const` needs `like=` or `dtype=` (a bare Python number has no IR dtype);
- `select` and the comparisons need operands of one dtype (they are not promised to promote);
- float-only functions (exp, log, ...) reject integer operands.
Values are numpy arrays evaluated elementwise, which is what one loop iteration computes.
"""
import numpy as np

from tracegrad.ir.types import DTYPES, FLOATS, dtype_name, promote


class PyValue:
    """One emitted value: a numpy array plus its IR dtype."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = np.asarray(array)

    @property
    def dtype(self):
        return dtype_name(self.array.dtype)


def _binary(np_fn, int_fn=None):
    def method(self, x, y):
        dtype = promote(x.dtype, y.dtype)
        a, b = (v.array.astype(DTYPES[dtype]) for v in (x, y))
        fn = int_fn if int_fn is not None and dtype not in FLOATS else np_fn
        return self._out(fn(a, b), dtype)
    return method


def _float_unary(np_fn):
    def method(self, x):
        if x.dtype not in FLOATS:
            raise TypeError(f"{np_fn.__name__}: float operand expected, got {x.dtype}")
        return self._out(np_fn(x.array), x.dtype)
    return method


def _compare(np_fn):
    def method(self, x, y):
        self._same(x, y)
        return self._out(np_fn(x.array, y.array), "bool")
    return method


class PyEmitter:
    """ScalarEmitter over numpy; every result is checked to keep its declared dtype."""

    @staticmethod
    def _out(array, dtype):
        array = np.asarray(array)
        if dtype_name(array.dtype) != dtype:
            raise AssertionError(f"emitter produced {array.dtype}, expected {dtype}")
        return PyValue(array)

    @staticmethod
    def _same(x, y):
        if x.dtype != y.dtype:
            raise TypeError(f"operands differ in dtype: {x.dtype} vs {y.dtype}")

    def const(self, value, like=None, dtype=None):
        if like is None and dtype is None:
            raise TypeError("const needs like= or dtype=")
        dtype = like.dtype if like is not None else dtype
        return PyValue(np.asarray(value, dtype=DTYPES[dtype]))

    add = _binary(np.add)
    sub = _binary(np.subtract)
    mul = _binary(np.multiply)
    div = _binary(np.divide, np.floor_divide)
    pow = _binary(np.power)
    mod = _binary(np.mod)
    maximum = _binary(np.maximum)
    minimum = _binary(np.minimum)

    def neg(self, x):
        return self._out(np.negative(x.array), x.dtype)

    def abs(self, x):
        return self._out(np.abs(x.array), x.dtype)

    exp = _float_unary(np.exp)
    log = _float_unary(np.log)
    log1p = _float_unary(np.log1p)
    expm1 = _float_unary(np.expm1)
    sqrt = _float_unary(np.sqrt)
    tanh = _float_unary(np.tanh)
    sin = _float_unary(np.sin)
    cos = _float_unary(np.cos)
    erf = _float_unary(np.vectorize(__import__("math").erf, otypes=[np.float64]))
    floor = _float_unary(np.floor)

    lt = _compare(np.less)
    le = _compare(np.less_equal)
    gt = _compare(np.greater)
    ge = _compare(np.greater_equal)
    eq = _compare(np.equal)
    ne = _compare(np.not_equal)

    def select(self, c, a, b):
        if c.dtype != "bool":
            raise TypeError(f"select condition must be bool, got {c.dtype}")
        self._same(a, b)
        return self._out(np.where(c.array, a.array, b.array), a.dtype)

    def cast(self, x, dtype):
        return self._out(x.array.astype(DTYPES[dtype]), dtype)

    def logical_not(self, x):
        if x.dtype != "bool":
            raise TypeError(f"logical_not expects bool, got {x.dtype}")
        return self._out(np.logical_not(x.array), "bool")
