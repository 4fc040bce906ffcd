"""Registry-driven gradient checks: every differentiable primitive through `check_grads`.

DOMAINS is the per-op input table (JAX's lax_autodiff_test grad_test_spec): each case lists its
operands as `real(shape)`, `pos(shape)`, ... generators plus the op's attributes, and an order.
Piecewise ops (relu, abs, maximum, minimum, max, min) get order 1 and inputs kept away from
their kinks, where finite differences straddle two pieces. Everything is float64.
"""
import numpy as np
import pytest

from check import check_grads
from tracegrad.ir import Builder, TensorType, vjp
from tracegrad.ir.ops import NONDIFF, REGISTRY
from tracegrad.runtime.interpret import interpret


def real(*shape):
    return lambda rng: rng.uniform(-2.0, 2.0, shape)


def pos(*shape, lo=0.3, hi=2.0):
    return lambda rng: rng.uniform(lo, hi, shape)


def away(*shape):
    """Magnitudes in [0.2, 2] with random signs: away from the kink at 0."""
    return lambda rng: rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(*shape):
    """A shuffled grid spaced 0.1 apart: no ties for max/min, reached by a step of 1e-4."""
    return lambda rng: rng.permutation(np.arange(int(np.prod(shape))) * 0.1 - 1.0).reshape(shape)


def frac(*shape):
    """Values in [k + 0.2, k + 0.8]: away from the jumps of floor."""
    return lambda rng: rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)


def index(*shape, high):
    """i64 indices in [0, high), with repeats, so scatter_add has to accumulate."""
    return lambda rng: rng.integers(0, high, shape).astype(np.int64)


def mod_pair(*shape):
    """(x, y) generators for x % y with y near 3 and x / y kept away from integers (the jumps)."""
    return (lambda rng: rng.integers(-3, 3, shape) * 3.0 + rng.uniform(0.5, 2.5, shape),
            lambda rng: rng.uniform(2.9, 3.1, shape))


def mask(*shape):
    return lambda rng: rng.random(shape) < 0.5


def spd(*shape):
    """Well-conditioned symmetric positive definite matrices (potrf's domain)."""
    def gen(rng):
        m = rng.uniform(-1.0, 1.0, shape)
        return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])
    return gen


def sym(*shape):
    """Symmetric matrices with well separated eigenvalues (syevd's gradient needs gaps)."""
    def gen(rng):
        m = rng.uniform(-0.3, 0.3, shape) + np.diag(3.0 * np.arange(shape[-1]))
        return m + np.swapaxes(m, -1, -2)
    return gen


def wide(*shape):
    """Full-rank (x, y) matrices, x <= y, with diagonals away from zero (gelqf's L stays
    invertible and its signs do not flip under a finite-difference step)."""
    return lambda rng: rng.uniform(-0.5, 0.5, shape) + 2.0 * np.eye(shape[-2], shape[-1])


def tri(*shape):
    """Triangular solves stay well conditioned: a dominant diagonal."""
    return lambda rng: rng.uniform(-0.5, 0.5, shape) + 3.0 * np.eye(shape[-1])


def general(*shape):
    """Well-conditioned general square matrices, some with a negative determinant (a row swap
    in every other matrix)."""
    def gen(rng):
        m = rng.uniform(-1.0, 1.0, shape) + 2.0 * np.eye(shape[-1])
        return m[..., [1, 0] + list(range(2, shape[-1])), :] if rng.random() < 0.5 else m
    return gen


def perm_index(*shape, axis):
    """A permutation of range(shape[axis]) along `axis` (as argsort returns)."""
    return lambda rng: np.argsort(rng.random(shape), axis=axis).astype(np.int64)


def case(*operands, order=2, **attrs):
    return operands, attrs, order


def near(x_gen):
    """y = x + a nonzero offset: maximum/minimum operands that never tie."""
    return lambda rng: x_gen(rng) + away()(rng)


WIN = {"kernel": (2, 3), "stride": (2, 1), "dilate": (1, 1)}
MM = {"transpose_a": False, "transpose_b": False}
DOMAINS = {
    "neg": [case(real(3, 4))],
    "exp": [case(real(3, 4))],
    "log": [case(pos(3, 4))],
    "log1p": [case(pos(3, 4, lo=-0.7, hi=2.0))],
    "expm1": [case(real(3, 4))],
    "tanh": [case(real(3, 4))],
    "sigmoid": [case(real(3, 4))],
    "sqrt": [case(pos(3, 4))],
    "sin": [case(real(3, 4))],
    "cos": [case(real(3, 4))],
    "relu": [case(away(3, 4), order=1)],
    "abs": [case(away(3, 4), order=1)],
    "sign": [case(away(3, 4))],
    "floor": [case(frac(3, 4))],
    "tan": [case(pos(3, 4, lo=-1.2, hi=1.2))],
    "arcsin": [case(pos(3, 4, lo=-0.9, hi=0.9))],
    "arccos": [case(pos(3, 4, lo=-0.9, hi=0.9))],
    "arctan": [case(real(3, 4))],
    "sinh": [case(real(3, 4))],
    "cosh": [case(real(3, 4))],
    "arcsinh": [case(real(3, 4))],
    "arccosh": [case(pos(3, 4, lo=1.2, hi=3.0))],
    "arctanh": [case(pos(3, 4, lo=-0.9, hi=0.9))],
    "erf": [case(real(3, 4))],
    "erfinv": [case(pos(3, 4, lo=-0.9, hi=0.9))],
    "log2": [case(pos(3, 4))],
    "log10": [case(pos(3, 4))],
    "cbrt": [case(away(3, 4))],
    "rcbrt": [case(away(3, 4))],
    "rsqrt": [case(pos(3, 4))],
    "add": [case(real(3, 1), real(4)), case(real(2, 3), real())],
    "sub": [case(real(3, 1), real(4)), case(real(), real(2, 3))],
    "mul": [case(real(3, 1), real(4)), case(real(2, 3), real(2, 3))],
    "div": [case(real(3, 1), away(4)), case(real(2, 3), away())],
    "mod": [case(*mod_pair(3, 4)), case(mod_pair(2, 3)[0], mod_pair()[1])],
    "pow": [case(pos(3, 1, lo=0.5), real(4)), case(pos(2, 3, lo=0.5), real())],
    "maximum": [case(distinct(3, 4), distinct(3, 4), order=1),
                case(distinct(3, 1), real(4), order=1)],
    "minimum": [case(distinct(3, 4), distinct(3, 4), order=1),
                case(distinct(3, 1), real(4), order=1)],
    "where": [case(mask(3, 1), real(4), real(3, 4)), case(mask(2, 3), real(), real(2, 3))],
    "cast": [case(real(2, 3), dtype="f64")],
    "sum": [case(real(2, 3, 4), axes=(1,)), case(real(2, 3, 4), axes=(0, 2), keepdims=True),
            case(real(2, 3), axes=(0, 1))],
    "max": [case(distinct(3, 4), axes=(1,), order=1),
            case(distinct(2, 3, 2), axes=(0, 2), keepdims=True, order=1)],
    "min": [case(distinct(3, 4), axes=(0,), order=1),
            case(distinct(2, 3), axes=(0, 1), order=1)],
    "broadcast_to": [case(real(3, 1), shape=(2, 3, 4)), case(real(), shape=(2, 2))],
    "reshape": [case(real(2, 6), shape=(3, 4)), case(real(1, 3), shape=(3,))],
    "transpose": [case(real(2, 3, 4), perm=(2, 0, 1))],
    "expand_dims": [case(real(2, 3), axis=1), case(real(2, 3), axis=2)],
    "slice": [case(real(5, 6), begin=(1, 0), end=(5, 6), step=(2, 3)),
              case(real(4, 3), begin=(3, 1), end=(1, 3), step=(1, 1))],
    "slice_scatter": [case(real(2, 2), shape=(5, 6), begin=(1, 0), end=(5, 6), step=(2, 3))],
    "concat": [case(real(2, 1), real(2, 3), real(2, 2), axis=1),
               case(real(1, 3), real(2, 3), axis=0)],
    "take": [case(real(5, 3), index(2, 4, high=5), axis=0),
             case(real(2, 4, 3), index(5, high=4), axis=1)],
    "scatter_add": [case(real(2, 6, 4), index(6, high=3), axis=1, size=3),
                    case(real(2, 3, 4), index(2, 3, high=5), axis=0, size=5)],
    "matmul": [case(real(3, 4), real(4, 2), **MM),
               case(real(4, 3), real(4, 2), **{**MM, "transpose_a": True}),
               case(real(3, 4), real(2, 4), **{**MM, "transpose_b": True}),
               case(real(2, 4, 3), real(2, 4), transpose_a=True, transpose_b=True),
               case(real(2, 1, 3, 4), real(5, 4, 2), **MM),
               case(real(3, 4), real(2, 4, 2), **MM)],
    "take_along_axis": [case(real(3, 4), perm_index(3, 4, axis=1), axis=1),
                        case(real(4, 3), index(2, 3, high=4), axis=0)],
    "pick": [case(real(3, 4), index(3, high=4), axis=1),
             case(real(4, 3, 2), index(3, 2, high=4), axis=0)],
    "scatter_add_along_axis": [case(real(2, 3), index(2, 3, high=4), axis=0, size=4)],
    "cumsum": [case(real(3, 4), axis=1), case(real(3, 4), axis=0, reverse=True)],
    "prod": [case(real(3, 4), axes=(1,)), case(real(2, 3, 2), axes=(0, 2), keepdims=True),
             case(lambda rng: np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0], [1.2, 0.7, -0.5]]),
                  axes=(1,), order=1)],  # exact zeros: first order only (see product.py)
    "gather_nd": [case(real(4, 3, 2), index(2, 5, high=3)),
                  case(real(3, 4), index(1, 2, 2, high=3))],
    "scatter_nd_add": [case(real(5, 2), index(2, 5, high=3), shape=(3, 3, 2))],
    "check_index": [case(real(3, 4), of="t", what="x", why="w", lo=(-3,), hi=(3,)),
                    case(real(2, 3), of="t", what="x", why="w", lo=(-3, -2), hi=(3, 2),
                         truncate=True)],
    "pad": [case(real(2, 3, 4), pad_width=(0, 0, 1, 2, 2, 1), mode=m) for m in
            ("constant", "edge", "reflect")],
    "pad_adjoint": [case(real(2, 6, 7), pad_width=(0, 0, 1, 2, 2, 1), shape=(2, 3, 4), mode=m)
                    for m in ("constant", "edge", "reflect")],
    "potrf": [case(spd(3, 3)), case(spd(2, 4, 4), order=1)],
    "inverse": [case(general(3, 3)), case(general(2, 4, 4), order=1)],
    "logabsdet": [case(general(3, 3)), case(general(2, 3, 3))],
    "syevd_vectors": [case(sym(3, 3)), case(sym(2, 3, 3), order=1)],
    "syevd_values": [case(sym(3, 3)), case(sym(2, 4, 4), order=1)],
    "gesvd_ut": [case(wide(3, 4)), case(wide(2, 2, 3), order=1)],
    "gesvd_l": [case(wide(3, 4)), case(wide(2, 2, 3), order=1)],
    "gesvd_v": [case(wide(3, 4)), case(wide(2, 3, 3), order=1)],
    "gelqf_q": [case(wide(3, 4)), case(wide(2, 2, 3), order=1)],
    "gelqf_l": [case(wide(3, 4)), case(wide(2, 3, 3), order=1)],
    "trsm": [case(tri(3, 3), real(3, 2)),
             case(tri(3, 3), real(2, 3), rightside=True, transpose=True, alpha=0.5),
             case(tri(2, 3, 3), real(2, 3, 4), lower=False, transpose=True, order=1),
             case(tri(3, 3), real(4, 3), rightside=True, lower=False, alpha=-2.0, order=1)],
    "im2col": [case(real(2, 2, 5, 4), **WIN, pad_lo=(1, 0), pad_hi=(2, 1)),
               case(real(2, 1, 7), kernel=(2,), stride=(3,), dilate=(2,), pad_lo=(1,),
                    pad_hi=(-1,))],
    "col2im": [case(real(2, 2, 3, 1, 4, 3), shape=(1, 2, 5, 4), **WIN, pad_lo=(1, 0),
                    pad_hi=(2, 1))],
    # the one op whose vjp deliberately disagrees with finite differences: checked below
    "stop_gradient": [],
}

# primitives of the registry package; ops registered elsewhere (autograd's "custom", which runs
# user Python) are outside this table
DIFFERENTIABLE = sorted(n for n, op in REGISTRY.items()
                        if op.__module__.startswith("tracegrad.ir.ops") and not op.has(NONDIFF))
CASES = [pytest.param(n, i, id=f"{n}-{i}") for n in DIFFERENTIABLE
         for i in range(len(DOMAINS.get(n, ())))]


def build(name, arrays, attrs):
    b = Builder(name=name)
    params = [b.param(TensorType(_dtype(a), a.shape), f"x{i}") for i, a in enumerate(arrays)]
    return b.ret(b.emit(name, *params, **attrs))


def _dtype(a):
    return {np.dtype(np.float64): "f64", np.dtype(np.int64): "i64", np.dtype(bool): "bool"}[
        a.dtype]


@pytest.mark.parametrize("name,i", CASES)
def test_op_gradients(name, i):
    operands, attrs, order = DOMAINS[name][i]
    rng = np.random.default_rng(sum(map(ord, name)) + i)
    arrays = [np.asarray(gen(rng)) for gen in operands]
    check_grads(build(name, arrays, attrs), arrays, order=order)


def test_every_differentiable_op_has_a_domain():
    """Adding a differentiable op without a DOMAINS entry fails here, so coverage can't shrink."""
    missing = set(DIFFERENTIABLE) - set(DOMAINS)
    assert not missing, f"add gradient test domains for {sorted(missing)}"
    assert not set(DOMAINS) - set(DIFFERENTIABLE), "DOMAINS names ops that are not differentiable"
    empty = {n for n, cases in DOMAINS.items() if not cases} - {"stop_gradient"}
    assert not empty


def test_stop_gradient_blocks_exactly_its_path():
    """f = x * stop_gradient(x): forward is x², the gradient is stop_gradient(x) = x, not 2x."""
    b = Builder(name="f")
    x = b.param(TensorType("f64", (4,)), "x")
    fn = b.ret(b.mul(x, b.stop_gradient(x)))
    xs = np.array([-1.5, 0.5, 2.0, 3.0])
    g = np.array([1.0, -2.0, 0.5, 1.0])
    np.testing.assert_array_equal(interpret(fn, [xs])[0], xs * xs)
    (gx,) = interpret(vjp(fn, recompute=True), [xs, g])
    np.testing.assert_allclose(gx, g * xs)


def test_third_order_of_polynomial_and_transcendental():
    """d³/dx³ x³ = 6 everywhere; then check_grads(order=3) on sin(x)·exp(x) + x³."""
    b = Builder(name="cube")
    x = b.param(TensorType("f64", (3,)), "x")
    cube = b.ret(b.mul(b.mul(x, x), x))
    f, xs = cube, np.array([-1.2, 0.3, 2.0])
    for _ in range(3):  # each step: adjoint of (params..., one cotangent) with cotangent ones
        f = vjp(f, wrt=[0], recompute=True)
    ones = np.ones(3)
    (d3,) = interpret(f, [xs, ones, ones, ones])
    np.testing.assert_allclose(d3, 6.0 * np.ones(3), rtol=1e-12)

    b = Builder(name="mix")
    x = b.param(TensorType("f64", (3,)), "x")
    fn = b.ret(b.add(b.mul(b.sin(x), b.exp(x)), b.pow(x, 3.0)))
    check_grads(fn, [xs], order=3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the discarded textbook branch
def test_pow_gradient_at_zero_base_and_zero_exponent():
    """At x = 0 the exponent's gradient is 0 (not 0·log 0 = nan); at y = 0 the base's is 0."""
    b = Builder(name="p")
    x, y = b.param(TensorType("f64", (3,)), "x"), b.param(TensorType("f64", (3,)), "y")
    fn = b.ret(b.pow(x, y))
    xs, ys = np.array([0.0, 0.0, 2.0]), np.array([2.0, 0.0, 0.0])
    gx, gy = interpret(vjp(fn, recompute=True), [xs, ys, np.ones(3)])
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(gy, [0.0, 0.0, np.log(2.0)])


def test_check_grads_catches_a_wrong_rule(monkeypatch):
    """The oracle itself must fail on a wrong vjp (sin's rule with the sign flipped)."""
    sin_vjp = REGISTRY["sin"].vjp
    monkeypatch.setattr(REGISTRY["sin"], "vjp",
                        staticmethod(lambda b, g, out, x: (b.neg(sin_vjp(b, g, out, x)[0]),)))
    b = Builder(name="s")
    x = b.param(TensorType("f64", (3,)), "x")
    fn = b.ret(b.sin(x))
    with pytest.raises(AssertionError):
        check_grads(fn, [np.array([0.1, 0.7, -1.3])], order=1)


def test_f32_cast_gradient_keeps_operand_dtype():
    """cast f32 -> f64: the cotangent comes back as f32 (cast's vjp plus central unbroadcast)."""
    b = Builder(name="c")
    x = b.param(TensorType("f32", (2, 3)), "x")
    fn = b.ret(b.mul(b.cast(x, dtype="f64"), 3.0))
    (gx,) = interpret(vjp(fn, recompute=True), [np.ones((2, 3), np.float32), np.ones((2, 3))])
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, np.full((2, 3), 3.0, np.float32))
