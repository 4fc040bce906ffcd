"""The kernels of a captured MLP training step (issue 8): bias + relu after each product, a
log-softmax cross-entropy over 10 classes (short row sums), its adjoint with masks and axis-0
bias-gradient sums, after the cleanup passes. Compiled (f32) against the interpreter (numpy,
the eager path) in f32, against a float64 reference, and the f64 function's gradients
against finite differences."""
import pathlib
import sys

import numpy as np
import pytest

from tracegrad.ir import Builder, TensorType, vjp
from tracegrad.ir.passes import run_pipeline
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402  (tests/grad/check.py, the gradient oracle)

SHAPES = [(64, 48, 32), (17, 20, 12)]     # batch, inputs, hidden; 10 classes


def mlp_loss(dtype, batch, n_in, hidden, classes=10):
    """loss[i] = -sum_k onehot[i,k] * log_softmax(mlp(x))[i,k], as the captured step writes it."""
    b = Builder(name="mlp_loss")
    t = lambda *s: TensorType(dtype, s)  # noqa: E731
    x = b.param(t(batch, n_in), "x")
    w1, b1 = b.param(t(hidden, n_in), "w1"), b.param(t(hidden), "b1")
    w2, b2 = b.param(t(classes, hidden), "w2"), b.param(t(classes), "b2")
    y = b.param(t(batch, classes), "y")
    h = b.relu(b.add(b.matmul(x, w1, transpose_b=True), b1))
    o = b.add(b.matmul(h, w2, transpose_b=True), b2)
    m = b.stop_gradient(b.max(o, axes=(1,), keepdims=True))
    z = b.sub(o, m)
    lse = b.log(b.sum(b.exp(z), axes=(1,), keepdims=True))
    ce = b.neg(b.sum(b.mul(b.sub(z, lse), y), axes=(1,), keepdims=True))
    return b.ret(b.sum(ce, axes=(1,)))


def step_fn(dtype, shape):
    """loss and all gradients in one function, cleaned up as a captured step is."""
    fn = mlp_loss(dtype, *shape)
    adj = vjp(fn, wrt=[0, 1, 2, 3, 4], recompute=True)
    return run_pipeline(adj, "fold,simplify,cse,dce", verify=True)


def inputs(dtype, shape, seed=0):
    batch, n_in, hidden = shape
    rng = np.random.default_rng(seed)
    arrays = [rng.random((batch, n_in)), rng.uniform(-0.3, 0.3, (hidden, n_in)),
              rng.uniform(-0.1, 0.1, hidden), rng.uniform(-0.3, 0.3, (10, hidden)),
              rng.uniform(-0.1, 0.1, 10), np.eye(10)[rng.integers(0, 10, batch)],
              rng.normal(size=batch)]          # the last one: the loss cotangent
    return [a.astype(dtype) for a in arrays]


@pytest.mark.parametrize("shape", SHAPES)
def test_compiled_against_eager_and_float64(shape):
    fn32, fn64 = step_fn("f32", shape), step_fn("f64", shape)
    args32 = inputs(np.float32, shape)
    got = NativeFunction(fn32)(*args32)
    eager = interpret(fn32, args32)
    ref = interpret(fn64, [a.astype(np.float64) for a in args32])
    for g, e, r in zip(got, eager, ref):
        assert g.dtype == np.float32 and g.shape == r.shape
        scale = np.abs(r).max() + 1e-30
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("shape", SHAPES)
def test_compiled_f64_matches_interpreter(shape):
    fn64 = step_fn("f64", shape)
    args = inputs(np.float64, shape, seed=1)
    got = NativeFunction(fn64)(*args)
    for g, r in zip(got, interpret(fn64, args)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


def test_gradients_against_finite_differences():
    """Small enough that no pre-activation lies within a finite-difference step of the
    relu's kink (checked), so central differences are exact to O(eps^2)."""
    shape = SHAPES[1]
    args = inputs(np.float64, shape, seed=2)[:-1]
    pre = args[0] @ args[1].T + args[2]
    assert np.abs(pre).min() > 1e-3
    check_grads(mlp_loss("f64", *shape), args, order=1)


def test_in_place_masked_adjoint_is_plain_vector_code():
    """where(mask, g, 0) written over g (its buffer dies there): right values, and no masked
    stores (x86 folds store(select(c, 0, load p), p) into vmaskmovps, 4x slower on AMD)."""
    from tracegrad.codegen import compile_function
    from tracegrad.ir.parser import parse
    fn = parse("""func @f(%m: bool[64,256], %x: f32[64,10], %w: f32[10,256]) -> (f32[64,10], f32[256]) {
  %0 = matmul %x, %w : f32[64,256]
  %1 = where %m, %0, 0.0 : f32[64,256]
  %2 = sum %1 {axes = [0]} : f32[256]
  %3 = matmul %1, %w {transpose_b = true} : f32[64,10]
  return %3, %2
}""")
    module = compile_function(fn, use_cache=False)
    assert module.memory_plan()["in_place"] >= 1
    assert "vmaskmov" not in module.assembly()
    rng = np.random.default_rng(3)
    m, x, w = rng.random((64, 256)) > 0.5, rng.normal(size=(64, 10)), rng.normal(size=(10, 256))
    x, w = x.astype(np.float32), w.astype(np.float32)
    got = NativeFunction(module)(m, x, w)
    g = np.where(m, x.astype(np.float64) @ w, 0.0)
    np.testing.assert_allclose(got[1], g.sum(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[0], g @ w.T.astype(np.float64), rtol=1e-4, atol=1e-3)
    eager = interpret(fn, [m, x, w])
    np.testing.assert_allclose(got[0], eager[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], eager[1], rtol=1e-5, atol=1e-5)
