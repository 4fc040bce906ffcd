"""TracedScalar: what `asscalar()` of a float array returns while jit / hybridize traces.

Eager code gets a numpy scalar, and Python then computes with it: the tutorial's
`math.floor(1 / (1 - x.asscalar()))` only needs the integer at the end. Guarding the float
itself would compile one variant per value of x. Instead the float stays symbolic while Python
does arithmetic with plain numbers (+ - * /, negation, abs): each step computes the eager value
with numpy's own scalar rules and records the same op on the traced array. The first use that
needs a concrete value records the guard on the expression built so far:

- a comparison is a truth-value guard (two outcomes);
- floor / ceil / int / round give an integer and guard that integer's expression;
- anything else (float(), formatting, hashing, numpy, an nd op) guards the value itself and
  returns the eager numpy scalar.

Every way out of the proxy goes through a guard, so no value is baked into compiled code
unguarded. Integer and bool arrays are not proxied (their arithmetic differs from the IR's).
"""
import math
import operator

import numpy as np

from ..array import F


class TracedScalar:
    """A float Python computes with, standing for a size-1 traced array (see module doc)."""
    __slots__ = ("array", "value", "guard")

    def __init__(self, array, value, guard):
        # guard(array, why) records a guard on `array` (the jit trace's concretize hook)
        self.array, self.value, self.guard = array, value, guard

    # ------------------------------------------------------------------ ways out
    def concrete(self, why="asscalar()"):
        """The eager value, guarded: compiled code specializes on it."""
        self.guard(self.array, why)
        return self.value

    def _compare(self, opname, o):
        other = _operand(o)
        if other is None:  # Python's operator, so an NDArray's reflected method takes over
            return getattr(operator, opname)(self.concrete(), _plain(o))
        cmp = F.cast(getattr(F, opname)(self.array, other), dtype="f32")
        self.guard(cmp, "bool()")
        return np.bool_(cmp._data.reshape(-1)[0])  # what numpy's comparison returns

    def __lt__(self, o):
        return self._compare("lt", o)

    def __le__(self, o):
        return self._compare("le", o)

    def __gt__(self, o):
        return self._compare("gt", o)

    def __ge__(self, o):
        return self._compare("ge", o)

    def __eq__(self, o):
        return self._compare("eq", o)

    def __ne__(self, o):
        return self._compare("ne", o)

    def _integer(self, array, value, why):
        self.guard(array, why)
        return value

    def __floor__(self):
        return self._integer(F.floor(self.array), math.floor(self.value), "math.floor()")

    def __ceil__(self):
        return self._integer(F.neg(F.floor(F.neg(self.array))), math.ceil(self.value),
                             "math.ceil()")

    def __int__(self):
        a = self.array
        return self._integer(F.mul(F.sign(a), F.floor(F.abs(a))), int(self.value), "int()")

    def __trunc__(self):
        return math.trunc(self.concrete())

    def __round__(self, ndigits=None):
        if ndigits is not None:
            return round(self.concrete(), ndigits)
        return round(self.concrete())  # banker's rounding: guard the value itself

    def __bool__(self):
        return bool(self.concrete("bool()"))

    def __float__(self):
        return float(self.concrete())

    def __complex__(self):
        return complex(self.concrete())

    def __hash__(self):
        return hash(self.concrete())

    def __repr__(self):
        return repr(self.concrete())

    def __str__(self):
        return str(self.concrete())

    def __format__(self, spec):
        return format(self.concrete(), spec)

    def __array__(self, dtype=None, copy=None):
        v = np.asarray(self.concrete())
        return v if dtype is None else v.astype(dtype)

    def __getattr__(self, name):  # .item(), .dtype, .astype(...): the numpy scalar's
        return getattr(self.concrete(), name)

    def __reduce__(self):
        return (_identity, (self.concrete(),))

    # ------------------------------------------------------------------ arithmetic
    def _arith(self, opname, other, reflected=False):
        o = _operand(other)
        if o is None:  # not a plain number: the numpy scalar takes over
            return _numpy_op(opname, self.concrete(), _plain(other), reflected)
        other_value = other.value if isinstance(other, TracedScalar) else other
        value = _numpy_op(opname, self.value, other_value, reflected)
        a, b = (o, self.array) if reflected else (self.array, o)
        array = getattr(F, opname)(a, b)
        if not isinstance(value, np.floating) or array._data.dtype != np.dtype(type(value)):
            return _numpy_op(opname, self.concrete(), _plain(other), reflected)
        return TracedScalar(array, value, self.guard)

    def __add__(self, o):
        return self._arith("add", o)

    def __radd__(self, o):
        return self._arith("add", o, True)

    def __sub__(self, o):
        return self._arith("sub", o)

    def __rsub__(self, o):
        return self._arith("sub", o, True)

    def __mul__(self, o):
        return self._arith("mul", o)

    def __rmul__(self, o):
        return self._arith("mul", o, True)

    def __truediv__(self, o):
        return self._arith("div", o)

    def __rtruediv__(self, o):
        return self._arith("div", o, True)

    def __neg__(self):
        return TracedScalar(F.neg(self.array), -self.value, self.guard)

    def __pos__(self):
        return self

    def __abs__(self):
        return TracedScalar(F.abs(self.array), abs(self.value), self.guard)

    # every other operator: the numpy scalar, guarded
    def __floordiv__(self, o):
        return self.concrete() // _plain(o)

    def __rfloordiv__(self, o):
        return _plain(o) // self.concrete()

    def __mod__(self, o):
        return self.concrete() % _plain(o)

    def __rmod__(self, o):
        return _plain(o) % self.concrete()

    def __divmod__(self, o):
        return divmod(self.concrete(), _plain(o))

    def __rdivmod__(self, o):
        return divmod(_plain(o), self.concrete())

    def __pow__(self, o, mod=None):
        return pow(self.concrete(), _plain(o)) if mod is None else pow(
            self.concrete(), _plain(o), mod)

    def __rpow__(self, o):
        return _plain(o) ** self.concrete()


def _identity(x):
    return x


_PYTHON_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
               "div": operator.truediv}


def _numpy_op(opname, a, b, reflected):
    """The eager result: Python's operator on the numpy scalar, exactly as eager code runs it
    (float32 stays float32; an NDArray operand takes over through its reflected method)."""
    if reflected:
        a, b = b, a
    return _PYTHON_OPS[opname](a, b)


def _operand(other):
    """What the traced op takes for `other`: a plain Python number as itself, another
    TracedScalar as its array; None for anything else (bool, numpy scalars, arrays)."""
    if isinstance(other, TracedScalar):
        return other.array
    if type(other) in (int, float):
        return other
    return None


def _plain(other):
    return other.concrete() if isinstance(other, TracedScalar) else other


def materialize(args):
    """apply()'s arguments with every TracedScalar replaced by its guarded numpy value."""
    return [a.concrete() if type(a) is TracedScalar else a for a in args]
