"""tracegrad.gradcheck on functions of nd ops and on users' custom autograd.Functions: correct
gradients pass to third order, eager and compiled; wrong ones fail naming the mode, order,
input and worst element."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd

RNG = np.random.default_rng(11)
X = RNG.uniform(0.5, 1.5, (3, 4))
W = RNG.normal(size=(4, 2))


class Square(autograd.Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        x, = self.saved_tensors
        return 2 * g * x


class WrongSquare(Square):
    def backward(self, g):
        x, = self.saved_tensors
        return 3 * g * x


class TwoOutputs(autograd.Function):
    """sin(x) * y and x + y: two inputs, two outputs."""
    def forward(self, x, y):
        self.save_for_backward(x, y)
        return nd.sin(x) * y, x + y

    def backward(self, ga, gb):
        x, y = self.saved_tensors
        return ga * nd.cos(x) * y + gb, ga * nd.sin(x) + gb


@pytest.mark.parametrize("order", [1, 2, 3])
def test_nd_functions_pass_to_third_order(order):
    assert mx.gradcheck(lambda x, w: nd.tanh(nd.dot(nd.log(x), w)) * 2.0, [X, W], order=order)


def test_tuple_outputs_and_broadcasting():
    fn = lambda x, b: (nd.softmax(x * b), nd.sum(nd.exp(-x) * b, axis=1))  # noqa: E731
    assert mx.gradcheck(fn, [X, RNG.normal(size=(4,))], order=2)


@pytest.mark.filterwarnings("ignore:tracegrad.jit")
def test_custom_function_passes_first_order_eager_and_hybrid():
    assert mx.gradcheck(lambda x: Square()(x), [X])
    assert mx.gradcheck(lambda x, y: TwoOutputs()(x, y), [X, X.T.copy().T * 0.5])


@pytest.mark.filterwarnings("ignore:tracegrad.jit")
@pytest.mark.parametrize("mode", ["eager", "hybrid"])
def test_wrong_custom_backward_is_caught_with_its_worst_element(mode):
    with pytest.raises(mx.GradcheckError, match=rf"gradcheck\[{mode}, order 1\]: input 0 "
                                                r"\(3, 4\).*worst element"):
        mx.gradcheck(lambda x: WrongSquare()(x), [X], modes=(mode,))


def test_second_order_through_a_custom_function_is_an_error_not_a_zero():
    with pytest.raises(mx.GradcheckError, match=r"order 2.*Square.backward is Python code"):
        mx.gradcheck(lambda x: Square()(x) * x, [X], order=2, modes=("eager",))
    x = nd.array(X)
    x.attach_grad()
    with autograd.record():
        y = Square()(x)
        g, = autograd.grad(nd.sum(y), [x], create_graph=True)
        total = nd.sum(g)
    with pytest.raises(mx.MXNetError, match="no derivative"):
        total.backward()


def test_a_wrong_second_derivative_is_caught():
    """A custom op written in nd ops inside its backward is still checked at order 2 via a
    composite: here a function whose true second derivative differs from a frozen one."""
    def frozen(x):
        return x * x * x.detach()   # first derivative 2x * x0 != 3x^2 at order 1 already
    with pytest.raises(mx.GradcheckError, match="order 1"):
        mx.gradcheck(frozen, [X], modes=("eager",))


def test_bad_arguments():
    with pytest.raises(ValueError, match="order"):
        mx.gradcheck(nd.exp, [X], order=4)
    with pytest.raises(ValueError, match="modes"):
        mx.gradcheck(nd.exp, [X], modes=("gpu",))


@pytest.mark.filterwarnings("ignore:tracegrad.jit")
def test_custom_function_under_jit_keeps_each_calls_saved_tensors():
    f = mx.jit(lambda x: Square()(x))
    a, b = nd.array([1.0, 2.0]), nd.array([5.0, 7.0])
    a.attach_grad()
    b.attach_grad()
    for _ in range(3):
        with autograd.record():
            total = nd.sum(f(a)) + nd.sum(f(b))
        total.backward()
        np.testing.assert_allclose(a.grad.asnumpy(), [2.0, 4.0])
        np.testing.assert_allclose(b.grad.asnumpy(), [10.0, 14.0])
