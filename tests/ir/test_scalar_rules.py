"""Every ELEMENTWISE op's `scalar` rule, run by the numpy PyEmitter, equals its `impl`.

The fused loop broadcasts operands and calls the rule once per element; here the broadcast is
done up front and the rule runs on whole arrays, which is the same computation elementwise.
Scalar operands (shape ()) check the broadcasting of a literal or a 0-d tensor into the loop.
"""
import numpy as np
import pytest

from pyemitter import PyEmitter, PyValue
from tracegrad.ir.ops import ELEMENTWISE, REGISTRY, BinaryElementwise
from tracegrad.ir.types import DTYPES, FLOATS, type_of

RNG = np.random.default_rng(7)
SHAPES = [((3, 4), (3, 4)), ((3, 1), (4,)), ((2, 3), ()), ((), (5,))]

# which operand values an op's rule is meaningful on; others get "real" (-3..3)
DOMAIN = {"log": "pos", "sqrt": "pos", "log1p": "pos", "pow": "pow", "div": "nonzero",
          "mod": "nonzero", "arcsin": "unit", "arccos": "unit", "arctanh": "unit",
          "erfinv": "unit", "arccosh": "above1", "tan": "unit"}
INT_OK = {"neg", "relu", "abs", "sign", "add", "sub", "mul", "div", "maximum", "minimum",
          "lt", "le", "gt", "ge", "eq", "ne", "where", "cast", "stop_gradient", "logical_not",
          "pow", "mod"}
BOOL_OK = {"logical_not", "stop_gradient", "add", "mul", "maximum", "minimum", "eq", "ne", "lt",
           "cast", "where"}


def sample(shape, dtype, domain, position):
    """Random operand in the op's domain; ints are small, and a few exact ties for comparisons."""
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    lo, hi = {"pos": (0.1, 3.0), "nonzero": (0.5, 3.0), "real": (-3.0, 3.0),
              "unit": (-0.95, 0.95), "above1": (1.05, 4.0)}.get(domain, (-3.0, 3.0))
    if domain == "pow":
        lo, hi = (0.5, 2.0) if position == 0 else (0, 3)
    x = np.asarray(RNG.uniform(lo, hi, shape))
    if domain == "nonzero":
        x = x * RNG.choice([-1, 1], shape)
    if dtype not in FLOATS:
        x = np.array(np.round(x))
        if domain == "nonzero":
            x[x == 0] = 1
    return np.asarray(x, dtype=DTYPES[dtype])


def operand_dtypes(name, dtype):
    """Operand dtypes for one run: (cond, x, y) for where, one or two for the rest."""
    op = REGISTRY[name]
    if name == "where":
        return ["bool", dtype, dtype]
    if name == "constant":
        return []
    return [dtype] * (2 if issubclass(op, BinaryElementwise) else 1)


ELEMENTWISE_OPS = sorted(n for n, op in REGISTRY.items() if op.has(ELEMENTWISE))
CASES = [(n, d) for n in ELEMENTWISE_OPS for d in ("f32", "f64", "i32", "bool")
         if d in FLOATS or (d == "i32" and n in INT_OK) or (d == "bool" and n in BOOL_OK)]


def attrs_for(name, dtype):
    if name == "cast":
        return {"dtype": "f64" if dtype != "f64" else "i32"}
    if name == "constant":
        return {"value": 2.5, "shape": (3, 2), "dtype": dtype}
    return {}


def run_rule(name, arrays, attrs):
    """Broadcast operands as the fused loop would, run the rule, return (array, dtype)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else attrs["shape"]
    vals = [PyValue(np.broadcast_to(a, shape)) for a in arrays]
    out = REGISTRY[name].scalar(PyEmitter(), *vals, **attrs)
    return np.broadcast_to(out.array, shape), out.dtype


@pytest.mark.parametrize("name,dtype", CASES)
def test_scalar_rule_matches_impl(name, dtype):
    op = REGISTRY[name]
    dtypes = operand_dtypes(name, dtype)
    attrs = attrs_for(name, dtype)
    shape_sets = SHAPES if len(dtypes) >= 2 else [((3, 4),), ((),)]
    for shapes in shape_sets:
        shapes = (shapes[0], shapes[0], shapes[1]) if len(dtypes) == 3 else shapes
        arrays = [sample(s, d, DOMAIN.get(name), i)
                  for i, (s, d) in enumerate(zip(shapes, dtypes))]
        if name in ("maximum", "minimum", "eq", "ne", "le", "ge") and dtypes[1:] and \
                arrays[1].shape == arrays[0].shape:
            arrays[1][..., :1] = arrays[0][..., :1]  # exact ties exercise the boundary
        want = op.impl(*arrays, **attrs)
        got, got_dtype = run_rule(name, arrays, attrs)
        inferred = op.infer(*(type_of(a) for a in arrays), **attrs)
        assert got_dtype == inferred.dtype == type_of(want).dtype
        assert got.shape == want.shape == inferred.shape
        rtol = {"f32": 1e-5, "f64": 1e-12}.get(inferred.dtype, 0)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=f"{name} {shapes}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # exp overflows to inf on purpose
@pytest.mark.parametrize("name", ["sigmoid", "relu", "abs", "sign", "maximum", "minimum"])
def test_scalar_rule_extremes(name):
    """Overflow, signed zeros and nan: decomposed rules must still agree with impl (numpy's
    maximum/minimum propagate nan, so the emitter's must too)."""
    x = np.array([-1e4, -50.0, -0.0, 0.0, 50.0, 1e4, np.inf, -np.inf, np.nan, 1.0],
                 dtype=np.float32)
    arrays = [x, x[::-1].copy()] if name in ("maximum", "minimum") else [x]
    got, _ = run_rule(name, arrays, {})
    np.testing.assert_allclose(got, REGISTRY[name].impl(*arrays), rtol=1e-6, atol=0)


def test_where_and_compare_promote_mixed_dtypes():
    """where(c, f32, f64) and lt(i32, f64) infer f64; the rules must cast before select/compare."""
    c, x, y = RNG.random(5) < 0.5, sample(5, "f32", "real", 0), sample(5, "f64", "real", 0)
    got, dtype = run_rule("where", [c, x, y], {})
    assert dtype == "f64"
    np.testing.assert_array_equal(got, REGISTRY["where"].impl(c, x, y))
    i = sample(5, "i32", "real", 0)
    got, dtype = run_rule("lt", [i, y], {})
    assert dtype == "bool"
    np.testing.assert_array_equal(got, i < y)


def test_every_elementwise_op_is_run():
    """If an op is added with the ELEMENTWISE trait, it shows up in CASES with float dtypes."""
    covered = {n for n, d in CASES if d == "f64"}
    assert covered == set(ELEMENTWISE_OPS)
