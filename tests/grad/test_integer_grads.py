"""Gradients through dtype casts and of integer arrays, as MXNet 1.9.1 computes them.

MXNet's rules (src/operator/tensor/elemwise_unary_op_basic.cc: Cast's FGradient is
_backward_cast, a cast of the head gradient back to the input's dtype; NDArray.astype records
_copyto, whose backward is _copyto again, src/ndarray/ndarray.cc; attach_grad's buffer is
zeros_like(x), so an integer array's gradient is integer; the backward kernels of mul, sums,
broadcasts, gathers, max run in the integer dtype (MSHADOW_TYPE_SWITCH); argmax / argsort /
topk / comparisons / floor / round / ceil / sign / one_hot have zero gradients, MakeZeroGradNodes
or sign_grad = 0):
- float -> int -> float is straight-through, each gradient truncated toward zero where it
  passes back through the integer;
- an integer variable gets its gradient in its own dtype, accumulated there with
  grad_req='add';
- an op whose integer gradient would be a truncated float formula (division), and any bool
  variable, are refused with an error naming the op, its types and the user's line.
Each case is checked against a float64 numpy reference worked out from those rules, eagerly
(the op-by-op walk, the derived adjoint, the native one), hybridized, under jit and captured
as a step; finite differences where the function is differentiable.
"""
import numpy as np
import pytest
from numeric import central_differences

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad import np as mnp

W = np.array([[0.5, 1.7, -2.3], [3.9, -0.4, 1.0]])        # the head gradient of every case
X = np.array([[1.7, -2.2, 3.9], [0.6, -4.3, 2.4]])        # (no rounding jump within 1e-3)
TABLE = nd.array([10.0, 20.0, 30.0, 40.0, 50.0])

# name -> (f(F, x), x's dtype, reference gradient of sum(W * f(x)) at X, smooth)
FLOAT_CASES = {
    # int(x) * 3: the head gradient W passes back through i32 as trunc(W), times 3
    "cast_roundtrip": (lambda F, x: (x.astype("int32") * 3).astype("float32"),
                       "float32", 3 * np.trunc(W), False),
    # (a + 1) * a with a = int(x): trunc(W) * (2a + 1)
    "integer_chain": (lambda F, x: ((x.astype("int32") + 1) * x.astype("int32"))
                      .astype("float32"), "float32",
                      np.trunc(W) * (2 * np.trunc(X) + 1), False),
    # an integer value also used as a float: both paths add up
    "integer_and_float": (lambda F, x: x.astype("int64").astype("float32") * x, "float32",
                          np.trunc(W * X) + W * np.trunc(X), False),
    # float casts are exact on the way back: d/dx (x^2 in f64, back to f32) = 2x
    "float_casts": (lambda F, x: (x.astype("float64") * x.astype("float64"))
                    .astype("float32"), "float32", 2 * X * W, True),
    # through float16 the gradient is rounded to float16
    "float16": (lambda F, x: x.astype("float16").astype("float32") * 2, "float32",
                (2 * W).astype(np.float16).astype(np.float64), False),
    # the zero-gradient ops: indices, comparisons, rounding; only x's own terms remain
    "zero_gradient_ops": (lambda F, x: F.argmax(x, axis=1).reshape((2, 1)) * x
                          + F.argsort(x, axis=1) + (x > 1)
                          + F.floor(x) + F.round(x) + F.ceil(x) + F.sign(x),
                          "float32", W * np.argmax(X, axis=1)[:, None], True),
    "topk_indices": (lambda F, x: F.topk(x, axis=1, k=3, ret_typ="indices") + x * 2,
                     "float32", 2 * W, True),
    # a float computed into an integer index: the index gets no gradient (take's backward)
    "index_from_float": (lambda F, x: F.take(TABLE, F.abs(x).astype("int32")) * x,
                         "float32", W * (10.0 * (np.trunc(np.abs(X)) + 1)), False),
}

# name -> (f(F, x), x's dtype, reference integer gradient of sum(WI * f(x)) at XI)
WI = np.array([[2, -1, 3], [1, 4, -2]])
XI = np.array([[1, 2, 3], [4, 5, 6]])
ROW = WI.sum(axis=1, keepdims=True)
INT_CASES = {
    "mul_scalar": (lambda F, x: x * 2, "int32", 2 * WI),
    "square": (lambda F, x: x * x, "int32", 2 * XI * WI),
    "pow_scalar": (lambda F, x: 2 * x ** 2, "int64", 4 * XI * WI),
    "broadcast_sum": (lambda F, x: F.broadcast_add(x, F.sum(x, axis=1, keepdims=True)),
                      "int32", WI + ROW),
    # MXNet's _backward_mean in integers: the row's gradient / 3, truncated
    "mean": (lambda F, x: F.broadcast_add(F.mean(x, axis=1, keepdims=True), x), "int32",
             WI + np.trunc(ROW / 3)),
    # MXNet's _backward_max: g * (x == max)
    "max": (lambda F, x: F.broadcast_mul(F.max(x, axis=1, keepdims=True), x), "int32",
            WI * XI.max(axis=1, keepdims=True)
            + (XI == XI.max(axis=1, keepdims=True)) * (WI * XI).sum(axis=1, keepdims=True)),
    "reshape_transpose_slice": (lambda F, x: F.concat(x.T.reshape((2, 3)), x[:, :1] * 5,
                                                      dim=1)[:, :3], "int32",
                                WI.reshape(3, 2).T),
    "uint8": (lambda F, x: x * 3, "uint8", 3 * np.abs(WI)),
    "cast_to_float": (lambda F, x: x.astype("float32") * 2.5, "int32", np.trunc(2.5 * WI)),
    # MXNet's mod_grad / mod_rgrad are 0 for integers: only the x * 2 term remains
    "mod": (lambda F, x: x % 4 + F.broadcast_mod(7 * x, x + 1) + x * 2, "int32", 2 * WI),
}


class _Net(gluon.HybridBlock):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def hybrid_forward(self, F, x):
        return self.f(F, x)


def _paths(f):
    """(name, callable of x) for eager, hybridized and jit."""
    net = _Net(f)
    net.hybridize()
    return [("eager", lambda x: f(nd, x)), ("hybridized", net),
            ("jit", mx.jit(lambda x: f(nd, x)))]


@pytest.mark.parametrize("name", sorted(FLOAT_CASES))
def test_float_input_through_casts(name):
    f, dtype, want, _ = FLOAT_CASES[name]
    x = nd.array(X, dtype=dtype)
    with capture.paused():
        for path, call in _paths(f):
            for step in range(10):   # the walk, the derived adjoint, then native code
                x.attach_grad()
                with autograd.record():
                    y = call(x)
                y.backward(nd.array(W, dtype=y.dtype))
                np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-6, atol=1e-6,
                                           err_msg=f"{name} {path} step {step}")


@pytest.mark.parametrize("name", sorted(n for n, c in FLOAT_CASES.items() if c[3]))
def test_float_cases_match_finite_differences(name):
    f, _, want, _ = FLOAT_CASES[name]
    eps = 1e-4

    def value(a):
        return float((f(nd, nd.array(a, dtype="float64")).asnumpy().astype(np.float64)
                      * W).sum())
    x = X.copy()
    fd, = central_differences(lambda: value(x), [x], eps)
    np.testing.assert_allclose(fd, want, rtol=1e-3, atol=1e-3)


# (float16 has no native code; a step with topk's indices is never captured, as before)
@pytest.mark.parametrize("name", sorted(set(FLOAT_CASES) - {"float16", "topk_indices"}))
def test_float_input_through_casts_in_a_captured_step(name, fresh_capture):
    f, dtype, want, _ = FLOAT_CASES[name]
    x = nd.array(X, dtype=dtype)
    x.attach_grad()
    before = mx.stats()["captured_steps"]
    for step in range(8):
        with autograd.record():
            loss = (f(nd, x) * nd.array(W, dtype="float32")).sum()
        loss.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-6, atol=1e-6,
                                   err_msg=f"{name} step {step}")
    assert mx.stats()["captured_steps"] > before


@pytest.mark.parametrize("name", sorted(INT_CASES))
def test_integer_variable_gets_an_integer_gradient(name):
    f, dtype, want = INT_CASES[name]
    x = nd.array(XI, dtype=dtype)
    with capture.paused():
        for step in range(10):
            x.attach_grad()
            with autograd.record():
                y = f(nd, x)
            head = WI if np.dtype(dtype).kind != "u" else np.abs(WI)
            y.backward(nd.array(head, dtype=y.dtype))
            assert x.grad.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(x.grad.asnumpy(), want, err_msg=f"step {step}")


@pytest.mark.parametrize("name", ["mul_scalar", "square", "broadcast_sum", "max"])
def test_integer_variable_in_a_captured_step(name, fresh_capture):
    f, dtype, want = INT_CASES[name]
    x = nd.array(XI, dtype=dtype)
    x.attach_grad()
    before = mx.stats()["captured_steps"]
    for step in range(8):
        with autograd.record():
            loss = (f(nd, x) * nd.array(WI, dtype=dtype)).sum()
        loss.backward()
        assert x.grad.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(x.grad.asnumpy(), want, err_msg=f"step {step}")
    assert mx.stats()["captured_steps"] > before


@pytest.mark.parametrize("name", ["square", "mod"])
@pytest.mark.parametrize("path", ["hybridized", "jit"])
def test_integer_variable_through_compiled_code(path, name):
    """(mod: MXNet's integer mod passes no gradient, compiled as eagerly)"""
    f, dtype, want = INT_CASES[name]
    call = dict(_paths(f))[path]
    for _ in range(3):      # (the first call traces; the later ones run the compiled code)
        x = nd.array(XI, dtype=dtype)
        x.attach_grad()
        with autograd.record():
            y = call(x)
        y.backward(nd.array(WI, dtype=dtype))
        np.testing.assert_array_equal(x.grad.asnumpy(), want)


def test_integer_output_of_compiled_code():
    jf = mx.jit(lambda v: v.astype("int32") * 3)
    x = nd.array(X)
    x.attach_grad()
    with autograd.record():
        y = jf(x).astype("float32")
    y.backward(nd.array(W))
    np.testing.assert_allclose(x.grad.asnumpy(), 3 * np.trunc(W))


def test_add_accumulates_in_the_integer_dtype():
    x = nd.array([1, 2, 3], dtype="int32")
    x.attach_grad(grad_req="add")
    for _ in range(3):
        with autograd.record():
            y = (x * x).sum()
        y.backward()
    assert x.grad.dtype == np.int32
    np.testing.assert_array_equal(x.grad.asnumpy(), 3 * 2 * np.array([1, 2, 3]))


def test_numpy_arrays_astype_and_integer_variables():
    x = mnp.array([1.7, -2.2, 3.9])
    x.attach_grad()
    with autograd.record():
        y = (x.astype("int32") * 3).astype("float32") * mnp.array([0.5, 1.5, -2.5])
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 3, -6])
    i = mnp.array([1, 2, 3], dtype="int64")
    i.attach_grad()
    with autograd.record():
        z = mnp.cumsum(i * i)
    z.backward()
    assert i.grad.dtype == np.int64
    np.testing.assert_array_equal(i.grad.asnumpy(), 2 * np.array([1, 2, 3]) * [3, 2, 1])


def test_numpy_promotion_of_an_integer_passes_no_gradient():
    """mx.np's int * float: MXNet's mixed-precision backward never writes the integer input's
    gradient (NumpyBinaryBackwardUseIn); an explicit astype is straight-through."""
    i = mnp.array([1, 2, 3], dtype="int32")
    f = mnp.array([1.5, 2.5, -3.5])
    for path, call in [("eager", lambda i, f: i * f + i.astype("float32") * 2),
                       ("jit", mx.jit(lambda i, f: i * f + i.astype("float32") * 2))]:
        # (compiled code refuses integer variables: tracing/guards.py)
        i.attach_grad(grad_req="write" if path == "eager" else "null")
        f.attach_grad()
        with autograd.record():
            y = call(i, f)
        y.backward()
        np.testing.assert_array_equal(f.grad.asnumpy(), [1, 2, 3], err_msg=path)
        if path == "eager":
            np.testing.assert_array_equal(i.grad.asnumpy(), [2, 2, 2])


def test_amp_cast_is_straight_through():
    x = nd.array([1.0, 2.0, -3.0])
    x.attach_grad()
    with autograd.record():
        y = nd.amp_cast(x, dtype="float16") * nd.array([2.0, 0.5, 1.0], dtype="float16")
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 0.5, 1.0])


def test_autograd_grad_and_higher_order_in_integers():
    x = nd.array([1, 2, -3], dtype="int32")
    x.attach_grad()
    with autograd.record():
        y = x * x * x
        (gx,) = autograd.grad(y, [x], create_graph=True)
    assert gx.dtype == np.int32
    np.testing.assert_array_equal(gx.asnumpy(), [3, 12, 27])
    gx.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [6, 12, -18])


def test_second_derivative_through_a_cast():
    """y = float(2 int(x^2)) * x: dy/dx = 2 int(x^2) + 2x * 2 trunc(x) (the head gradient x
    truncated on its way back through the integer); its derivative, recorded, is
    4x + 2 * 2 trunc(x) + 4x (every cast straight-through)."""
    x = nd.array([1.5, 2.5, -1.5])
    xs = x.asnumpy().astype(np.float64)
    x.attach_grad()
    with autograd.record():
        y = ((x * x).astype("int32") * 2).astype("float32") * x
        (g,) = autograd.grad(y, [x], create_graph=True)
        s = g.sum()
    s.backward()
    np.testing.assert_allclose(g.asnumpy(), 2 * np.trunc(xs * xs) + 2 * xs * 2 * np.trunc(xs))
    np.testing.assert_allclose(x.grad.asnumpy(), 4 * xs + 4 * np.trunc(xs) + 4 * xs)


def test_division_of_integers_is_refused_by_name():
    x = nd.array([4, 6], dtype="int32")
    x.attach_grad()
    with autograd.record():
        y = x * 3 / 2
    with pytest.raises(mx.MXNetError) as e:
        y.backward()
    text = str(e.value)
    assert "'div'(i32[2], i32[]) -> i32[2]" in text and "no integer gradient" in text
    assert "test_integer_grads.py" in text and "y.backward()" in text


def test_bool_variable_gets_mxnets_straight_through_gradient():
    """MXNet's _backward_cast casts the float gradient to bool: nonzero is True
    (tests/grad/test_bool_grads.py has the rest)."""
    x = nd.array([1, 0], dtype="bool")
    x.attach_grad()
    with autograd.record():
        y = x.astype("float32") * 2
    y.backward()
    assert x.grad.dtype == np.bool_
    np.testing.assert_array_equal(x.grad.asnumpy(), [True, True])


def test_integer_variable_with_null_grad_req_is_a_constant():
    x = nd.array([1, 2], dtype="int32")
    x.attach_grad(grad_req="null")
    w = nd.array([1.5, 2.0])
    w.attach_grad()
    with autograd.record():
        y = (x / 2 * w.astype("int32")).astype("float32") + w
    y.backward()
    # int(w)'s gradient is x / 2 = [0, 1]: division is refused only when x wants a gradient
    np.testing.assert_array_equal(w.grad.asnumpy(), [1, 2])


def test_compiled_integer_output_eager_would_refuse():
    """A hybridized block's integer output made by an op with no integer rule (an integer
    division): differentiating its float output works; a gradient reaching the integer one
    is refused by name at the user's backward line, as eager refuses it."""
    class Both(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x.astype("int32") / 2, x * 2

    for hybridize in (False, True):
        block = Both()
        if hybridize:
            block.hybridize()
        x = nd.array([1.5, 3.7])
        x.attach_grad()
        with autograd.record():
            i, y = block(x)
        y.backward()
        np.testing.assert_array_equal(x.grad.asnumpy(), [2, 2])
        np.testing.assert_array_equal(i.asnumpy(), [0, 1])
        with autograd.record():
            i, y = block(x)
            z = i.astype("float32") + y
        with pytest.raises(mx.MXNetError, match="'div'"):
            z.backward()
