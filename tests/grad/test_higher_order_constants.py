"""Gradients of order 2 and 3 through compiled code keep float64 where a constant meets only
constants (found by scripts/fuzz_higher_order.py): differentiated with create_graph, a
compiled call's adjoint runs through the recording dispatcher, which took each constant as a
Python number, so `log(3.0)` (d/dx 3**x) and `1.3 - 1` (d/dx x**1.3) came out in float32 and
a float64 second derivative was off by ~1e-8 relative."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

CASES = {   # f, its first, second and third derivatives (float64 references)
    "3**x": (lambda x: 3.0 ** x, lambda x: np.log(3.0) * 3.0 ** x,
             lambda x: np.log(3.0) ** 2 * 3.0 ** x, lambda x: np.log(3.0) ** 3 * 3.0 ** x),
    "x**1.3": (lambda x: x ** 1.3, lambda x: 1.3 * x ** 0.3, lambda x: 1.3 * 0.3 * x ** -0.7,
               lambda x: 1.3 * 0.3 * -0.7 * x ** -1.7),
    "0.5**x*x**-0.3": (lambda x: 0.5 ** x * x ** -0.3, None, None, None),
    # (a constant reaching the tape as a 0-d array was typed by its neighbours: an infinite
    # one beside integers failed to record, "cannot convert float infinity to integer")
    "gelu(gamma(x))": (lambda x: nd.LeakyReLU(nd.gamma(x), act_type="gelu"), None, None, None),
}
X0 = np.array([0.5, 1.25, 2.0])


class Block(gluon.HybridBlock):
    def __init__(self, f, **kwargs):
        super().__init__(**kwargs)
        self.f = f

    def hybrid_forward(self, F, x):
        return self.f(x)


def derivatives(f, x0, order, create_last):
    x = nd.array(x0, dtype="float64")
    x.attach_grad()
    outs = []
    with autograd.record():
        y = f(x).sum()
        for k in range(order):
            (y,) = autograd.grad(y, [x], create_graph=create_last or k + 1 < order)
            outs.append(y.asnumpy())
            y = y.sum()
    return outs


def modes(f):
    block = Block(f)
    block.hybridize()
    return {"eager": f, "jit": mx.jit(f), "hybridized": block}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("create_last", [False, True])
def test_compiled_higher_order_gradients_agree_with_eager_in_float64(name, create_last):
    f, *refs = CASES[name]
    eager = derivatives(f, X0, 3, create_last)
    for mode, g in modes(f).items():
        for call in range(2):   # (the second call runs the compiled code the first made)
            got = derivatives(g, X0 + 0.1 * call, 3, create_last)
            want = eager if call == 0 else derivatives(f, X0 + 0.1 * call, 3, create_last)
            for order, (a, b) in enumerate(zip(got, want), 1):
                assert a.dtype == np.float64
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=0,
                                           err_msg=f"{mode}, order {order}, call {call}")
    for order, ref in enumerate(refs, 1):
        if ref is not None:
            np.testing.assert_allclose(eager[order - 1], ref(X0), rtol=1e-13, atol=0)


def test_finite_differences_of_the_compiled_second_derivative():
    f, *_ = CASES["x**1.3"]
    jitted = mx.jit(f)
    eps = 1e-6
    second = derivatives(jitted, X0, 2, True)[1]
    third = derivatives(jitted, X0, 3, True)[2]
    fd = (derivatives(f, X0 + eps, 2, False)[1] - derivatives(f, X0 - eps, 2, False)[1]) / (2 * eps)
    np.testing.assert_allclose(third, fd, rtol=1e-6)
    np.testing.assert_allclose(second, 1.3 * 0.3 * X0 ** -0.7, rtol=1e-13)
