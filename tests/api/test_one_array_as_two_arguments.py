"""One array passed as two arguments (f(x, x)), a parameter's own array passed as an argument,
an argument the function also reads from its closure or a block attribute: compiled code made
on such a call must never serve a later call with other arrays wrongly (f(x, y), f(d)). A trace
gives fn a stand-in per argument (one array passed twice is two inputs, so that code holds for
every call) and sees an argument read as itself (that signature then runs eagerly). Before,
f(x, y) returned f(y, y), and f(d) for f = jit(lambda a: a * c) traced on c returned d * d."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd

pytestmark = pytest.mark.usefixtures("fresh_capture")

X = nd.array(np.arange(8.0).reshape(2, 4))
Y = nd.array(np.full((2, 4), 10.0))


class Two(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        mx.random.seed(0)
        self.dense = gluon.nn.Dense(4, in_units=4)

    def hybrid_forward(self, F, a, b):
        return self.dense(a) * 2 + F.sin(b)


def _want(net, a, b):
    w, bias = net.dense.weight.data().asnumpy(), net.dense.bias.data().asnumpy()
    return (a.asnumpy() @ w.T + bias) * 2 + np.sin(b.asnumpy())


def test_jit_of_one_array_twice_then_two_arrays():
    f = mx.jit(lambda a, b: a * 2 + nd.sin(b))
    for _ in range(3):
        np.testing.assert_allclose(f(X, X).asnumpy(), X.asnumpy() * 2 + np.sin(X.asnumpy()))
    for _ in range(2):
        np.testing.assert_allclose(f(X, Y).asnumpy(), X.asnumpy() * 2 + np.sin(Y.asnumpy()),
                                   rtol=1e-6)
        np.testing.assert_allclose(f(Y, X).asnumpy(), Y.asnumpy() * 2 + np.sin(X.asnumpy()),
                                   rtol=1e-6)
    assert f.counts["traces"] == 1      # (the code traced on f(X, X) serves every call)


@pytest.mark.parametrize("recording", [False, True])
def test_a_hybridized_block_outside_and_inside_record(recording):
    net = Two()
    net.initialize()
    net.hybridize()
    for args in [(X, X)] * 4 + [(X, Y)] * 3 + [(Y, Y), (X, Y)]:
        if recording:
            with autograd.record():
                out = net(*args)
            out.backward()
        else:
            out = net(*args)
        np.testing.assert_allclose(out.asnumpy(), _want(net, *args), rtol=1e-5, atol=1e-6)


def test_the_usual_step_learned_on_one_array_twice():
    net = Two()
    net.initialize()
    net.hybridize()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    label = nd.zeros((2, 4))
    for args in [(X, X)] * 8 + [(X, Y)] * 3:
        want = _want(net, *args)
        with autograd.record():
            out = net(*args)
            loss = loss_fn(out, label)
        loss.backward()
        trainer.step(2)
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-6)
    assert mx.stats()["captured_steps"] > 0


def test_a_parameter_s_array_passed_as_an_argument():
    net = Two()
    net.initialize()
    net.hybridize()
    w = net.dense.weight.data()
    z = nd.array(np.random.RandomState(0).rand(4, 4))
    for args in [(w, z)] * 3 + [(z, w)] * 2 + [(z * 2, z)] * 2:
        np.testing.assert_allclose(net(*args).asnumpy(), _want(net, *args), rtol=1e-5, atol=1e-6)


def test_gradients_of_one_variable_twice_then_two_variables():
    f = mx.jit(lambda a, b: nd.sum(a * nd.sin(b)))
    x, y = X.copy(), Y.copy()
    x.attach_grad()
    y.attach_grad()
    for a, b in [(x, x)] * 3 + [(x, y)] * 2:
        with autograd.record():
            out = f(a, b)
        out.backward()
        av, bv = a.asnumpy(), b.asnumpy()
        if a is b:
            np.testing.assert_allclose(x.grad.asnumpy(), np.sin(av) + av * np.cos(av),
                                       rtol=1e-6)
        else:
            np.testing.assert_allclose(x.grad.asnumpy(), np.sin(bv), rtol=1e-6)
            np.testing.assert_allclose(y.grad.asnumpy(), av * np.cos(bv), rtol=1e-6)


def test_an_argument_also_read_from_the_closure_or_a_block_attribute():
    c, d = nd.array([1.0, 2.0]), nd.array([10.0, 20.0])
    f = mx.jit(lambda a: a * c + 1)
    with pytest.warns(UserWarning, match="also read from its closure"):
        np.testing.assert_allclose(f(c).asnumpy(), c.asnumpy() * c.asnumpy() + 1)
    for a in (d, c, d):
        np.testing.assert_allclose(f(a).asnumpy(), a.asnumpy() * c.asnumpy() + 1)

    class Scaled(gluon.HybridBlock):
        def __init__(self, k):
            super().__init__()
            self.k = k

        def hybrid_forward(self, F, a):
            return a * self.k + 1
    net = Scaled(c)
    net.hybridize()
    with pytest.warns(UserWarning, match="also read from its closure"):
        net(c)
    for a in (d, c, d):
        np.testing.assert_allclose(net(a).asnumpy(), a.asnumpy() * c.asnumpy() + 1)
    # an argument read only through its parameter compiles as usual
    g = mx.jit(lambda a: a * 2 + 1)
    for a in (c, d, c):
        np.testing.assert_allclose(g(a).asnumpy(), a.asnumpy() * 2 + 1)
    assert g.counts["native"] >= 2


def test_gradients_through_an_argument_also_read_from_the_closure():
    w, x = nd.array([1.0, 2.0, 3.0]), nd.array([0.5, -1.0, 2.0])
    f = mx.jit(lambda x, ww: nd.sum(nd.tanh(x * w)) + nd.sum(ww * ww))

    def step():
        x.attach_grad()
        w.attach_grad()
        with autograd.record():
            y = f(x, w)
        y.backward()
        xv, wv = x.asnumpy(), w.asnumpy()
        t = 1 - np.tanh(xv * wv) ** 2
        np.testing.assert_allclose(w.grad.asnumpy(), t * xv + 2 * wv, rtol=1e-6)
        np.testing.assert_allclose(x.grad.asnumpy(), t * wv, rtol=1e-6)
    with pytest.warns(UserWarning, match="also read from its closure"):
        step()
    step()
    step()
