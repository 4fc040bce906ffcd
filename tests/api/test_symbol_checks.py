"""mx.test_utils' symbolic checks (check_numeric_gradient, check_symbolic_forward /
backward, numeric_grad, simple_forward), as MXNet's operator tests and users' custom-op
tests call them: they pass on correct operators and fail on a wrong forward or backward."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.test_utils import (check_consistency, check_numeric_gradient,
                                  check_symbolic_backward,
                                  check_symbolic_forward, numeric_grad, simple_forward)


def _fc():
    data = mx.sym.var("data")
    return mx.sym.tanh(mx.sym.FullyConnected(data, num_hidden=3, name="fc"))


def test_numeric_gradient_of_builtin_ops_passes():
    rs = np.random.RandomState(0)
    sym = _fc()
    loc = {"data": rs.randn(2, 4), "fc_weight": rs.randn(3, 4) * 0.3, "fc_bias": rs.randn(3)}
    check_numeric_gradient(sym, loc)
    check_numeric_gradient(sym, [loc["data"], loc["fc_weight"], loc["fc_bias"]],
                           grad_nodes=["fc_weight"], dtype=np.float64, numeric_eps=1e-6,
                           rtol=1e-6, atol=1e-8)
    # grad_req 'add' and 'null' per node
    check_numeric_gradient(sym, loc, grad_nodes={"data": "add", "fc_weight": "null",
                                                 "fc_bias": "write"})


def test_numeric_gradient_catches_a_wrong_backward():
    class Square(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0] * in_data[0])

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], out_grad[0] * in_data[0])   # (2x is right)

    @mx.operator.register("symbol_checks_bad_square")
    class SquareProp(mx.operator.CustomOpProp):
        def list_arguments(self):
            return ["data"]

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Square()

    sym = mx.sym.Custom(mx.sym.var("data"), op_type="symbol_checks_bad_square")
    x = np.random.RandomState(1).rand(3, 2) + 0.5
    check_symbolic_forward(sym, [x], [x * x], rtol=1e-5)
    with pytest.raises(AssertionError, match="NUMERICAL_data"):
        check_numeric_gradient(sym, [x])
    with pytest.raises(AssertionError, match="EXPECTED_data"):
        check_symbolic_backward(sym, [x], [np.ones_like(x)], [2 * x])


def test_symbolic_forward_and_backward_with_expected_arrays():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    sym = mx.sym.dot(a, b)
    m1, m2 = np.array([[1.0, 2], [3, 4]]), np.array([[5.0, 6], [7, 8]])
    outs = check_symbolic_forward(sym, [m1, m2], [m1 @ m2])
    np.testing.assert_allclose(outs[0].asnumpy(), m1 @ m2)
    with pytest.raises(AssertionError, match="EXPECTED_"):
        check_symbolic_forward(sym, {"a": m1, "b": m2}, [m1 @ m2 + 1])
    og = np.ones((2, 2))
    grads = check_symbolic_backward(sym, [m1, m2], [og], [og @ m2.T, m1.T @ og])
    np.testing.assert_allclose(grads["a"].asnumpy(), og @ m2.T)
    # 'add' adds to what the gradient array held; 'null' leaves it
    check_symbolic_backward(sym, [m1, m2], [og], {"a": og @ m2.T, "b": m1.T @ og},
                            grad_req={"a": "add", "b": "null"})
    with pytest.raises(ValueError, match="location"):
        check_symbolic_forward(sym, {"a": m1}, [m1])


def test_symbolic_forward_with_aux_states_and_simple_forward():
    data = mx.sym.var("data")
    bn = mx.sym.BatchNorm(data, name="bn", fix_gamma=False)
    x = np.random.RandomState(2).randn(4, 3)
    mean, var = np.array([0.5, -0.5, 0.0]), np.array([2.0, 1.0, 0.5])
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    want = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    check_symbolic_forward(bn, [x, gamma, beta], [want], aux_states=[mean, var], rtol=1e-5,
                           atol=1e-6)
    y = simple_forward(mx.sym.exp(data) * 2, data=x)
    np.testing.assert_allclose(y, np.exp(x.astype(np.float32)) * 2, rtol=1e-6)


def test_numeric_grad_is_central_differences_of_the_output_sum():
    data = mx.sym.var("data")
    exe = (data ** 3).bind(None, args={"data": nd.zeros((3,), dtype="float64")})
    x = np.array([0.5, -1.0, 2.0])
    g = numeric_grad(exe, {"data": x}, eps=1e-6, dtype=np.float64)["data"]
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-7)
    np.testing.assert_array_equal(exe.arg_dict["data"].asnumpy(), x)   # (left at x)


def test_check_consistency_compares_dtypes_and_finds_a_difference():
    np.random.seed(0)
    sym = mx.sym.FullyConnected(mx.sym.Activation(mx.sym.var("data"), act_type="tanh"),
                                num_hidden=3, name="fc")
    ctx_list = [{"ctx": mx.cpu(0), "data": (4, 5), "type_dict": {"data": t}}
                for t in (np.float64, np.float32)]
    truth = check_consistency(sym, ctx_list)
    assert truth["fc_output"].dtype == np.float64 and truth["fc_weight"].shape == (3, 5)
    assert truth["data"].shape == (4, 5)     # (the input gradient is compared too)
    x = np.random.randn(4, 5)
    ref = check_consistency(sym, ctx_list, arg_params={"data": x, "fc_weight": np.ones((3, 5)),
                                                       "fc_bias": np.zeros(3)},
                            grad_req="null")
    np.testing.assert_allclose(ref["fc_output"].asnumpy(),
                               np.tanh(x).sum(axis=1, keepdims=True) * np.ones((1, 3)),
                               rtol=1e-12)
    other = mx.sym.FullyConnected(mx.sym.Activation(mx.sym.var("data"), act_type="sigmoid"),
                                  num_hidden=3, name="fc")
    with pytest.raises(AssertionError, match="fc_output"):
        check_consistency([sym, other], ctx_list)
    with pytest.raises(ValueError, match="at least two"):
        check_consistency(sym, ctx_list[:1])
