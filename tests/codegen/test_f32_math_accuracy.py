"""Compiled float32 transcendentals are at least as accurate as numpy's: every ROUNDED_ONCE op
(computed in f64 and rounded once, ir/ops/__init__.py) is compiled over a few thousand inputs
spanning its domain (near 0, subnormals, large), and its largest error in ulps against the
correctly rounded float32 value (the float64 reference rounded once) is at most numpy's on the
same inputs (at most 1 where numpy has no such function). Special values (NaN, ±inf, ±0,
domain edges) come out as numpy's."""
import math

import numpy as np
import pytest

from tracegrad.ir import Builder, TensorType
from tracegrad.ir.ops import REGISTRY, ROUNDED_ONCE
from tracegrad.runtime.native import NativeFunction

F32 = np.float32
TINY = float(np.finfo(F32).smallest_subnormal)
BIG = float(np.finfo(F32).max)


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def _erf(x):
    return np.array([math.erf(v) if not math.isnan(v) else math.nan for v in x])


def _erfinv(x):
    return REGISTRY["erfinv"].impl(np.asarray(x, np.float64))   # (scipy's, else Newton on erf)


# op: (domain (lo, hi) of the inputs, float64 reference, numpy's float32 function or None)
OPS = {
    "exp": ((-104.0, 89.0), np.exp, np.exp),
    "log": ((0.0, math.inf), np.log, np.log),
    "log1p": ((-1.0, math.inf), np.log1p, np.log1p),
    "expm1": ((-104.0, 89.0), np.expm1, np.expm1),
    "tanh": ((-math.inf, math.inf), np.tanh, np.tanh),
    "sigmoid": ((-math.inf, math.inf), _sigmoid, None),
    "sin": ((-math.inf, math.inf), np.sin, np.sin),
    "cos": ((-math.inf, math.inf), np.cos, np.cos),
    "tan": ((-1e5, 1e5), np.tan, np.tan),
    "arcsin": ((-1.0, 1.0), np.arcsin, np.arcsin),
    "arccos": ((-1.0, 1.0), np.arccos, np.arccos),
    "arctan": ((-math.inf, math.inf), np.arctan, np.arctan),
    "sinh": ((-90.0, 90.0), np.sinh, np.sinh),
    "cosh": ((-90.0, 90.0), np.cosh, np.cosh),
    "arcsinh": ((-math.inf, math.inf), np.arcsinh, np.arcsinh),
    "arccosh": ((1.0, math.inf), np.arccosh, np.arccosh),
    "arctanh": ((-1.0, 1.0), np.arctanh, np.arctanh),
    "erf": ((-math.inf, math.inf), _erf, None),
    "erfinv": ((-1.0, 1.0), _erfinv, None),
    "log2": ((0.0, math.inf), np.log2, np.log2),
    "log10": ((0.0, math.inf), np.log10, np.log10),
    "cbrt": ((-math.inf, math.inf), np.cbrt, np.cbrt),
    "rcbrt": ((-math.inf, math.inf), lambda v: 1.0 / np.cbrt(v), None),
    "rsqrt": ((0.0, math.inf), lambda v: 1.0 / np.sqrt(v), None),
}
SPECIALS = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, TINY,
            -TINY, 1e-40, -1e-40, 1e-30, -1e-30, BIG, -BIG, 88.7, 89.0, -103.9, -104.0, 9.1,
            1e5, 1e30, -1e30]


def samples(lo, hi, n=1500, seed=0):
    """Uniform over the domain (clipped to +-100), log-uniform magnitudes over every float32
    exponent (subnormals included) and values near 0, all inside [lo, hi]."""
    rng = np.random.default_rng(seed)
    mags = np.exp(rng.uniform(math.log(TINY), math.log(BIG), n))
    signed = np.concatenate([mags, -mags, np.exp(rng.uniform(math.log(TINY), -5.0, n // 3))])
    x = np.concatenate([rng.uniform(max(lo, -100.0), min(hi, 100.0), n), signed,
                        rng.uniform(-1e-3, 1e-3, n // 3) + (lo if lo >= 1 else 0.0)])
    x = x.astype(F32)
    return x[(x >= lo) & (x <= hi)]


def ulps(got, exact):
    """Distance in representable float32 values (ordered bit patterns; ±inf count as one past
    the largest finite value, ±0 as equal)."""
    def ordered(a):
        bits = np.asarray(a, F32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
    return np.abs(ordered(got) - ordered(exact))


@pytest.fixture(scope="module")
def compiled():
    """All ops in one function (one LLVM compile): inputs per op -> outputs."""
    inputs = {name: np.concatenate([samples(lo, hi, seed=k), np.array(SPECIALS, F32)])
              for k, (name, ((lo, hi), _, _)) in enumerate(OPS.items())}
    b = Builder(name="f32_math_accuracy")
    outs = [b.emit(name, b.param(TensorType("f32", x.shape), name)) for name, x in inputs.items()]
    results = NativeFunction(b.ret(*outs))(*inputs.values())
    return {name: (x, got) for (name, x), got in zip(inputs.items(), results)}


def test_every_rounded_once_op_is_measured():
    assert set(OPS) == {name for name, op in REGISTRY.items() if op.has(ROUNDED_ONCE)}


@pytest.mark.parametrize("name", sorted(OPS))
def test_max_ulp_error_at_most_numpys(compiled, name):
    x, got = compiled[name]
    _, reference, numpy_fn = OPS[name]
    with np.errstate(all="ignore"):
        exact = np.asarray(reference(x.astype(np.float64))).astype(F32)
        mine = np.where(np.isnan(exact), 0, ulps(got, exact))
        bound = 1
        if numpy_fn is not None:
            theirs = numpy_fn(x)
            bound = int(np.where(np.isnan(exact), 0, ulps(theirs, exact)).max())
    k = int(np.argmax(mine))
    assert mine[k] <= bound, \
        f"{name}: {mine[k]} ulp at x={x[k]!r} (got {got[k]!r}, correctly rounded " \
        f"{exact[k]!r}); numpy's largest error on these inputs is {bound} ulp"
    assert np.mean(mine > 0) < 0.01, f"{name}: {np.mean(mine > 0):.1%} not correctly rounded"


@pytest.mark.parametrize("name", sorted(OPS))
def test_special_values_like_numpy(compiled, name):
    x, got = compiled[name]
    _, reference, numpy_fn = OPS[name]
    n = len(SPECIALS)
    x, got = x[-n:], got[-n:]
    with np.errstate(all="ignore"):
        want = numpy_fn(x) if numpy_fn is not None else \
            np.asarray(reference(x.astype(np.float64))).astype(F32)
    assert np.array_equal(np.isnan(got), np.isnan(want)), \
        f"{name}: NaN at {x[np.isnan(got) != np.isnan(want)]}"
    edge = ~np.isnan(want) & ((want == 0) | np.isinf(want))
    for xi, g, w in zip(x[edge], got[edge], want[edge]):
        assert g == w and np.signbit(g) == np.signbit(w), f"{name}({xi!r}) = {g!r}, numpy {w!r}"
