"""Two MXNet 1.9.1 executor behaviours neural-style relies on: an elementwise op gives its
known input's shape to an input Variable of unknown shape (ElemwiseShape: `target - gram`
needs no shape for `target`), and Executor.backward may follow forward(is_train=False),
differentiating the values that forward computed."""
import numpy as np
import pytest

import tracegrad as mx


@pytest.mark.parametrize("combine", [lambda t, y: t - y, lambda t, y: y * t,
                                     lambda t, y: mx.sym.add_n(y, t, t),
                                     lambda t, y: mx.sym.maximum(t, y)])
def test_elementwise_op_gives_an_unknown_variable_its_peer_shape(combine):
    x, target = mx.sym.Variable("x"), mx.sym.Variable("target")
    y = mx.sym.FullyConnected(x, num_hidden=3, no_bias=True, name="fc")
    loss = mx.sym.sum(mx.sym.square(combine(target, y)))
    args, outs, _ = loss.infer_shape(x=(2, 4))
    shapes = dict(zip(loss.list_arguments(), args))
    assert shapes == {"x": (2, 4), "fc_weight": (3, 4), "target": (2, 3)}
    assert outs == [(1,)]


def test_broadcast_ops_do_not_guess_an_unknown_shape():
    x, target = mx.sym.Variable("x"), mx.sym.Variable("target")
    out = mx.sym.broadcast_sub(target, mx.sym.FullyConnected(x, num_hidden=3, name="fc"))
    assert out.infer_shape(x=(2, 4)) == (None, None, None)


def test_backward_after_an_inference_forward_uses_that_forward():
    # gram = x x^T through FullyConnected(x, x), loss = sum((target - gram)^2), as
    # neural-style's style loss; the gradient in x is -4 (target - gram) x (symmetric target)
    rs = np.random.RandomState(0)
    x = mx.sym.Variable("x")
    gram = mx.sym.FullyConnected(x, x, no_bias=True, num_hidden=3)
    loss = mx.sym.sum(mx.sym.square(mx.sym.Variable("target") - gram))
    xv = rs.randn(3, 5)
    t = rs.randn(3, 3)
    t = t + t.T
    args = {"x": mx.nd.array(xv), "target": mx.nd.array(t)}
    grad = {"x": mx.nd.zeros((3, 5))}
    exe = loss.bind(mx.cpu(), args=args, args_grad=grad, grad_req="write")
    for _ in range(4):        # (compiled from the 3rd forward)
        out = exe.forward()   # is_train=False, MXNet's default
        exe.backward([mx.nd.ones((1,)) * 0.5])
        g = xv @ xv.T
        np.testing.assert_allclose(out[0].asnumpy(), [np.sum((t - g) ** 2)], rtol=1e-5)
        np.testing.assert_allclose(grad["x"].asnumpy(), 0.5 * -4 * (t - g) @ xv, rtol=1e-4,
                                   atol=1e-4)
    # a second backward of that forward, with another head gradient (MXNet's graph stays)
    exe.backward([mx.nd.ones((1,))])
    np.testing.assert_allclose(grad["x"].asnumpy(), -4 * (t - g) @ xv, rtol=1e-4, atol=1e-4)
    # backward before any forward (MXNet reads its buffers as they are; test_repeat does it):
    # the forward runs first, so the gradient is the true one
    fresh = loss.bind(mx.cpu(), args=args, args_grad={"x": mx.nd.zeros((3, 5))})
    fresh.backward([mx.nd.ones((1,))])
    np.testing.assert_allclose(fresh.grad_dict["x"].asnumpy(), -4 * (t - g) @ xv, rtol=1e-4,
                               atol=1e-4)


def test_inference_forward_keeps_dropout_off_for_its_backward():
    x = mx.sym.Variable("x")
    out = mx.sym.sum(mx.sym.Dropout(x, p=0.5) * 3)
    grad = {"x": mx.nd.zeros((4, 4))}
    exe = out.bind(mx.cpu(), args={"x": mx.nd.ones((4, 4))}, args_grad=grad)
    exe.forward(is_train=False)
    exe.backward([mx.nd.ones((1,))])
    np.testing.assert_array_equal(grad["x"].asnumpy(), np.full((4, 4), 3.0))
