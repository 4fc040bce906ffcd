"""The op registry: one `OpDef` class block per primitive, holding its four rules side by side.

- `infer(*types, **attrs)`: type rule (TensorType or tuple of them); raises TypeError naming the op.
- `impl(*arrays, **attrs)`: the numpy implementation, the living definition of the op.
- `vjp(b, g, out, *xs, **attrs)`: cotangents per operand as IR built with Builder `b`, written
  shape-naively (autodiff sums them back to each operand's shape); None = no gradient.
- `scalar(e, *xs, **attrs)`: for ELEMENTWISE ops, one element's computation on a ScalarEmitter.
- `element(ctx, *types, **attrs)`: for INDEXED ops, the element at the current loop index, from
  an IndexContext: `ctx.e` (the ScalarEmitter), `ctx.index(axis)` (i64 SVal of the iteration
  index), `ctx.read(i, idx)` (operand i at index tuple `idx` of its own shape, i64 SVals),
  `ctx.uniform(i, word, dtype)` (a float in [0, 1) from Philox word `word` of key operand i).
- `view(offset, strides, in_shape, *, out_shape, **attrs)`: for VIEW ops, the (offset, strides)
  in elements of the result given the operand's, or None when no strided view exists.
- `scatter(ctx, *types, **attrs)`: for SCATTER ops, where the element of operand 0 at the
  current loop index (over operand 0's shape; same `ctx` interface as `element`) goes: (index
  tuple into the result as i64 SVals, bool SVal or None). The result starts as zeros; with
  `scatter_mode = 'add'` the element is added there (counted only where the bool is true),
  with 'store' it is written (positions must be distinct; no bool).

Traits say what kind of op it is; passes and codegen read them, never lists of op names:
ELEMENTWISE (fuses, `scalar`), VIEW (no code, `view`), REDUCTION (over `axes`, combined by
`accumulate`: 'add' | 'max' | 'min'; fuses as the trailing op of a loop nest), INDEXED (fuses,
`element`), RANDOM (reads a key; INDEXED too), SCATTER (one generic loop over operand 0,
`scatter`), and the kernel families with their own loop code in codegen, found by trait: CALL
(an external routine: BLAS matmul), SORT (argsort), SCAN (cumsum), WINDOW (im2col / col2im),
ARG_REDUCTION (argmax), JOIN (concat), CHECK (check_index: its values' range checked). An op
has exactly one of these kinds. ROUNDED_ONCE (every FloatUnary but sqrt): the rule sees f32/f16
operands widened to f64 and its result is rounded once (see `rounded_once`). INT_GRAD: the
vjp also holds for integer values (sums, products, moves, casts: what MXNet's integer backward
computes); autodiff refuses an integer gradient through any other op (ir/int_grads.py).

The ScalarEmitter interface (codegen/emitter.py; tests/ir/pyemitter.py) is all a rule may use.
Values carry `.dtype` ('f32', 'f64', 'i32', 'i64', 'bool'). Methods: const(value, like=None,
dtype=None) (rules always pass like= or dtype=); add sub mul div mod pow maximum minimum
(promote both operands; int div floors; mod takes the divisor's sign, int x % 0 is 0); neg abs
exp log log1p expm1 sqrt tanh sin cos erf floor; lt le gt ge eq ne (-> bool); select(c, a, b);
cast(x, dtype); logical_not(x). Rules cast to one dtype before select and comparisons, which
are not promised to promote. `e.rounds_to`: None, or while a ROUNDED_ONCE rule runs on widened
operands the dtype its f64 result will be rounded to; the emitter's exp/log/... then stop their
series at f32 accuracy, and rules with series of their own may too (`single_target(e)`).

Subclassing registers the op under `name` and generates the Builder method `b.<name>(...)`.
"""
import inspect

import numpy as np

from ..function import Builder
from ..types import FLOATS, INTS, TensorType, broadcast_shapes, promote

ELEMENTWISE = "elementwise"  # one output element depends only on the same element of inputs
COMMUTATIVE = "commutative"
NONDIFF = "nondiff"          # no vjp: integer, boolean or random results
RANDOM = "random"            # reads a key operand; never folded or CSE'd across keys
VIEW = "view"                # layout only: a strided view of its operand, costs no code
REDUCTION = "reduction"      # reduces `axes` with `accumulate`; the tail of a fused loop nest
INDEXED = "indexed"          # computed per element from the loop index (`element` rule)
CALL = "call"                # lowered to a call of an external routine (BLAS)
NAN_TEST = "nan_test"        # tests for NaN (isnan-like): fast-math nnan warns about it
EXACT = "exact"              # compiled, computes exactly what its impl does for every value and
#                              no value makes it raise: it may run later (step capture hoists it)
SCATTER = "scatter"          # zeros, then each element of operand 0 added/stored (`scatter`)
SORT = "sort"                # kernel families with their own loops (codegen/kernels.py)
SCAN = "scan"
WINDOW = "window"
ARG_REDUCTION = "arg_reduction"
JOIN = "join"
LOOP = "loop"                # runs IR regions natively (codegen/control.py): a loop, a branch
BRANCH = "branch"
CHECK = "check"              # passes its operand on once its values are in range (checks.py)
ROUNDED_ONCE = "rounded_once"  # float rule run in f64 for f32/f16 operands, rounded once
INT_GRAD = "int_grad"        # vjp valid on integer operands and cotangents (MXNet's backward
#                              kernel runs in the integer dtype); other ops refuse them
VALUE_ERRORS = "value_errors"  # its impl raises on some operand values (a singular matrix): a
#                              trace computes it at once, where the user's line is known
KERNEL_FAMILIES = frozenset({CALL, SCATTER, SORT, SCAN, WINDOW, ARG_REDUCTION, JOIN, LOOP,
                             BRANCH, CHECK})
FUSIBLE = frozenset({ELEMENTWISE, INDEXED})

REGISTRY: dict = {}
RULES = ("infer", "impl", "vjp", "scalar", "element", "view", "scatter")
NUMERIC = FLOATS + INTS


def fail(opname, message):
    raise TypeError(f"{opname}: {message}")


class OpDef:
    """Base of every primitive. Rules are written as plain functions; they become static."""
    name: str = None
    traits = frozenset()
    defaults: dict = {}              # optional attributes with their defaults
    attr_names = frozenset()         # required attributes
    nresults = 1
    accumulate = None                # REDUCTION ops: 'add', 'max' or 'min'
    scatter_mode = "add"             # SCATTER ops: 'add' or 'store'

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for rule in RULES:
            fn = cls.__dict__.get(rule)
            if inspect.isfunction(fn):
                setattr(cls, rule, staticmethod(_array_result(fn) if rule == "impl" else fn))
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

    @classmethod
    def fusible(cls) -> bool:
        """Computed element by element inside a fused loop nest (ELEMENTWISE or INDEXED)."""
        return not FUSIBLE.isdisjoint(cls.traits)


def _array_result(impl):
    """numpy ufuncs and indexing return numpy scalars for 0-d results, but every consumer of an
    impl (interpreter, folding, native marshalling) relies on an np.ndarray, so wrap once here."""
    def run(*args, **attrs):
        r = impl(*args, **attrs)
        if type(r) is np.ndarray:
            return r
        if type(r) is tuple:  # multi-result ops
            return tuple(a if type(a) is np.ndarray else np.asarray(a) for a in r)
        return np.asarray(r)
    run.__name__, run.__doc__, run.__wrapped__ = impl.__name__, impl.__doc__, impl
    return run


def _builder_method(name):
    def method(self, *operands, **attrs):
        return self.emit(name, *operands, **attrs)
    method.__name__ = name
    method.__doc__ = f"Emit `{name}` (see tracegrad.ir.ops.REGISTRY[{name!r}])."
    return method


class UnaryElementwise(OpDef):
    """One operand, same type out. `dtypes` lists the operand dtypes numpy's impl accepts."""
    traits = frozenset({ELEMENTWISE})
    dtypes = None  # None: any dtype

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "infer" not in cls.__dict__:
            cls.infer = staticmethod(_unary_infer(cls))


def _unary_infer(cls):
    def infer(x):
        if cls.dtypes is not None and x.dtype not in cls.dtypes:
            fail(cls.name, f"expects a {'/'.join(cls.dtypes)} operand, got {x}")
        return x
    return infer


class FloatUnary(UnaryElementwise):
    """Transcendentals: defined on floats only. Compiled f32 results are at least as accurate
    as numpy's: the rule runs in f64 and rounds once (ROUNDED_ONCE; an op whose f32 rule is
    exact, as sqrt, leaves the trait out)."""
    traits = frozenset({ELEMENTWISE, ROUNDED_ONCE})
    dtypes = FLOATS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        rule = cls.__dict__.get("scalar")
        if rule is not None and ROUNDED_ONCE in cls.traits:
            cls.scalar = staticmethod(rounded_once(rule.__func__))


def rounded_once(rule):
    """`rule` for f32/f16 operands evaluated in f64 and rounded once at the end: composed in
    the operand's own precision, each step rounds (arctan from divisions, square roots and a
    series was 4 ulp off), where numpy's libm is within 1. With `e.rounds_to` set meanwhile,
    series stop at the accuracy the rounding needs (~2^-35 relative), not f64's."""
    def scalar(e, x, **attrs):
        if x.dtype not in FLOATS or x.dtype == "f64":
            return rule(e, x, **attrs)
        outer = getattr(e, "rounds_to", None)
        e.rounds_to = x.dtype
        try:
            out = rule(e, e.cast(x, "f64"), **attrs)
        finally:
            e.rounds_to = outer
        return e.cast(out, x.dtype)
    scalar.__name__, scalar.__doc__, scalar.__wrapped__ = rule.__name__, rule.__doc__, rule
    return scalar


def single_target(e) -> bool:
    """True while a ROUNDED_ONCE rule computes, in f64, a value that will be rounded to
    f32/f16: its series may stop at ~2^-35 relative truncation."""
    return getattr(e, "rounds_to", None) is not None


class BinaryElementwise(OpDef):
    """Two operands with numpy broadcasting and dtype promotion."""
    traits = frozenset({ELEMENTWISE})
    result_dtype = None  # fixed result dtype (bool for comparisons), else promoted
    dtypes = None        # allowed promoted operand dtypes (numpy rejects bool - bool), None: any

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
        dtype = promote(x.dtype, y.dtype)
        if cls.dtypes is not None and dtype not in cls.dtypes:
            fail(cls.name, f"operands {x} and {y} promote to {dtype}; expected "
                           f"{'/'.join(cls.dtypes)}")
        return TensorType(cls.result_dtype or dtype, shape)
    return infer


class Reduce(OpDef):
    """Reduction over `axes` (sorted, non-negative), optionally keeping reduced dims as 1."""
    traits = frozenset({REDUCTION})
    attr_names = frozenset({"axes"})
    defaults = {"keepdims": False}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "infer" not in cls.__dict__:
            cls.infer = staticmethod(_reduce_infer(cls))


def _reduce_infer(cls):
    def infer(x, *, axes, keepdims=False):
        if (not isinstance(axes, (tuple, list)) or list(axes) != sorted(set(axes))
                or not all(0 <= a < x.ndim for a in axes)):
            fail(cls.name, f"axes {axes} must be sorted, unique and in range for {x}")
        return x.with_shape(tuple(1 if i in axes else d for i, d in enumerate(x.shape)
                                  if keepdims or i not in axes))
    return infer


def reduced_keepdims_shape(dims, axes):
    """The shape of a reduction's result with keepdims=True."""
    return tuple(1 if i in axes else d for i, d in enumerate(dims))


# importing the families registers their ops
from . import conv, elementwise, linalg, random, reduce, shape, unary  # noqa: E402,F401
from . import cumulative, index, lapack, pad, product, sorting, special, trig  # noqa: E402,F401
from . import lapack_svd_eig  # noqa: E402,F401
from . import checks  # noqa: E402,F401
