"""MXNet's executor keeps its graph: backward() may run several times after one forward,
each computing the gradients again from that forward (grad_req='add' accumulates each)."""
import numpy as np
import pytest

import tracegrad as mx


def _loss():
    d, w = mx.sym.Variable("data"), mx.sym.Variable("w")
    out = mx.sym.FullyConnected(d, w, num_hidden=3, no_bias=True, name="fc")
    return mx.sym.MakeLoss(mx.sym.sum(out * out))


@pytest.mark.parametrize("req", ["write", "add"])
@pytest.mark.parametrize("is_train", [True, False])
def test_second_backward_repeats_the_gradient(req, is_train):
    rs = np.random.RandomState(1)
    x, w = rs.rand(4, 5).astype("float32"), rs.rand(3, 5).astype("float32")
    g = mx.nd.zeros((3, 5))
    exe = _loss().bind(mx.cpu(), {"data": mx.nd.array(x), "w": mx.nd.array(w)},
                       args_grad={"w": g}, grad_req={"w": req, "data": "null"})
    want = 2 * (x @ w.T).T @ x     # d sum((x w^T)^2) / dw, float64
    for step in range(5):          # eager forwards, then the compiled executor
        g[:] = 0
        exe.forward(is_train=is_train)
        exe.backward()
        np.testing.assert_allclose(g.asnumpy(), want, rtol=1e-5)
        exe.backward()
        np.testing.assert_allclose(g.asnumpy(), want * (2 if req == "add" else 1), rtol=1e-5)


def test_second_backward_sees_the_same_dropout_mask_and_keeps_running_stats():
    # the recomputation draws what the forward drew, and BatchNorm's moving statistics are
    # updated once per forward, not per backward: training with two backward calls per
    # batch (grad_req='write') is training with one
    rs = np.random.RandomState(0)
    X, Y = rs.rand(8, 5).astype("float32"), rs.randint(0, 3, 8).astype("float32")

    def build():
        n = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=6, name="fc1")
        n = mx.sym.Dropout(mx.sym.BatchNorm(n, name="bn"), p=0.3)
        n = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(n, num_hidden=3, name="fc2"),
                                 name="softmax")
        m = mx.mod.Module(n)
        m.bind([("data", (8, 5))], [("softmax_label", (8,))])
        m.init_params(mx.init.Uniform(0.5), force_init=True)
        m.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
        return m
    once, twice = build(), build()
    twice.set_params(*once.get_params())
    batch = mx.io.DataBatch([mx.nd.array(X)], [mx.nd.array(Y)])
    for i in range(8):
        for m, n in ((once, 1), (twice, 2)):
            mx.random.seed(i)
            m.forward(batch, is_train=True)
            for _ in range(n):
                m.backward()
            m.update()
    (a, aa), (b, bb) = once.get_params(), twice.get_params()
    for k in a:
        np.testing.assert_allclose(a[k].asnumpy(), b[k].asnumpy(), rtol=1e-5, atol=1e-6)
    for k in aa:
        np.testing.assert_allclose(aa[k].asnumpy(), bb[k].asnumpy(), rtol=1e-5, atol=1e-6)


def test_backward_of_an_executor_without_gradients_after_inference_still_refuses():
    exe = _loss().bind(mx.cpu(), {"data": mx.nd.ones((2, 5)), "w": mx.nd.ones((3, 5))})
    exe.forward(is_train=False)
    with pytest.raises(mx.MXNetError, match="call forward first"):
        exe.backward()
