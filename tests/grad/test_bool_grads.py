"""A bool array with attach_grad() gets MXNet 1.9.1's gradient: computed in bool by each op's
backward (True wherever a nonzero gradient reaches it; a sum of bools is an or), through
shape ops, concat, where, gathers and bool arithmetic; a cast to float passes the gradient
straight through (_backward_cast: nonzero is True); an mx.np mixed-precision op never writes
the bool input's gradient; grad_req='add' ors into it. Eager, hybridized and jit agree."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

CASES = {
    "reshape": (lambda F, x: F.reshape(x, shape=(3, 1)), [[1, 0, 1]]),
    "used twice": (lambda F, x: F.concat(x, x, dim=0), [[1, 0, 1]]),
    "broadcast": (lambda F, x, y: F.broadcast_mul(x, y), [[1, 0, 1]], [[1], [0]]),
    "where": (lambda F, c, x, y: F.where(c, x, y), [1, 0, 1], [1, 1, 0], [0, 1, 1]),
    "cast, scaled": (lambda F, x: F.cast(x, dtype="float32") * 3, [1, 0]),
    "cast, times zero": (lambda F, x: F.cast(x, dtype="float32") * 0, [1, 0]),
    "gather": (lambda F, x: F.take(x, F.array([0, 0, 2]) if F is nd else None), [1, 0, 1]),
    "logical_not": (lambda F, x: F.logical_not(x), [1, 0]),
}
EXPECTED = {     # MXNet 1.9.1's gradients for a head gradient of ones
    "reshape": [[[True, True, True]]],
    "used twice": [[[True, True, True]]],
    "broadcast": [[[True, True, True]], [[True], [True]]],
    "where": [[False, False, False], [True, False, True], [False, True, False]],
    "cast, scaled": [[True, True]],
    "cast, times zero": [[False, False]],
    "gather": [[True, False, True]],
    "logical_not": [[False, False]],
}


class _Net(gluon.HybridBlock):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def hybrid_forward(self, F, *args):
        return self.fn(F, *args)


def _grads(name, hybridize, req="write", steps=1):
    fn, *inputs = CASES[name]
    net = _Net(fn)
    if hybridize:
        net.hybridize()
    xs = [nd.array(x, dtype="bool") for x in inputs]
    for x in xs:
        x.attach_grad(req)
    for _ in range(steps):
        with autograd.record():
            y = net(*xs)
        y.backward()
    return [x.grad for x in xs]


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if n != "gather"])
@pytest.mark.parametrize("hybridize", [False, True])
def test_bool_gradient_is_mxnets(name, hybridize):
    for _ in range(3):      # (the hybridized block's first, traced and compiled calls)
        grads = _grads(name, hybridize)
        for g, want in zip(grads, EXPECTED[name]):
            assert g.dtype == np.bool_
            np.testing.assert_array_equal(g.asnumpy(), np.array(want, dtype=bool))
            assert g.asnumpy().view(np.uint8).max() <= 1    # (a true bool byte, never 2)


def test_bool_gradient_through_a_gather():
    x = nd.array([1, 0, 1], dtype="bool")
    x.attach_grad()
    with autograd.record():
        y = nd.take(x, nd.array([0, 0, 2]))
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [True, False, True])


@pytest.mark.parametrize("hybridize", [False, True])
def test_bool_gradient_add_is_an_or(hybridize):
    for _ in range(3):
        (g,) = _grads("cast, scaled", hybridize, req="add", steps=2)
        np.testing.assert_array_equal(g.asnumpy(), [True, True])
        assert g.asnumpy().view(np.uint8).max() == 1


def test_bool_gradient_under_jit_matches_eager():
    def f(x):
        with autograd.record():
            y = nd.concat(x, x, dim=0) * nd.array([[1], [0]], dtype="bool")
        return autograd.grad(y, [x], create_graph=False)[0]
    x = nd.array([[1, 0, 1]], dtype="bool")
    x.attach_grad()
    want = f(x).asnumpy()
    np.testing.assert_array_equal(want, [[True, True, True]])
    np.testing.assert_array_equal(mx.jit(f)(x).asnumpy(), want)


def test_np_mixed_precision_never_writes_the_bool_gradient():
    mx.npx.set_np()
    try:
        a = mx.np.array([1, 0, 1], dtype="bool")
        b = mx.np.array([0.5, 1.0, 2.0])
        a.attach_grad()
        b.attach_grad()
        with autograd.record():
            y = a * b
        y.backward()
        np.testing.assert_array_equal(a.grad.asnumpy(), [False, False, False])
        np.testing.assert_allclose(b.grad.asnumpy(), [1.0, 0.0, 1.0])
        with autograd.record():      # bool with bool stays bool: MXNet's bool kernel
            z = mx.np.concatenate([a, a])
        z.backward()
        np.testing.assert_array_equal(a.grad.asnumpy(), [True, True, True])
    finally:
        mx.npx.reset_np()

