"""Fusion contracts on the optimized IR and on the compiled plan's loop nests (steps):
the issue's workload and its gradient, and Dense + bias + ReLU."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.tracing import compiled
from tracegrad.codegen import entry


def loop_nests(fn):
    """(fused loop nests, kernel calls) of the compiled plan of `fn`."""
    steps = [s for s, _ in entry.make_plan(fn).steps]
    return (sum(s.kind == "fused" for s in steps), sum(s.kind == "kernel" for s in steps))


def test_workload_and_gradient_in_at_most_two_loop_nests():
    f = mx.jit(lambda x: nd.sum(nd.tanh(x) * nd.sigmoid(x) + 0.5 * x * x))
    xv = np.random.default_rng(0).normal(size=4096).astype(np.float32)
    x = nd.array(xv)
    x.attach_grad()
    for _ in range(4):                     # the third call on runs the fused training step
        with autograd.record():
            loss = f(x)
        loss.backward()
    e = f.last                             # the compiled training entry of that signature
    fwd, adj = loop_nests(e.forward_fn), loop_nests(e.adjoint)
    assert fwd[1] == adj[1] == 0
    assert fwd[0] + adj[0] <= 2, (fwd, adj)
    step = compiled.fused_step(e)
    assert loop_nests(step) == (1, 0)      # forward, loss and gradient: x is read once
    x64 = xv.astype(np.float64)
    s = 1 / (1 + np.exp(-x64))
    t = np.tanh(x64)
    grad = (1 - t * t) * s + t * s * (1 - s) + x64
    np.testing.assert_allclose(x.grad.asnumpy(), grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.asscalar(), (t * s + 0.5 * x64 * x64).sum(), rtol=1e-6)


def test_dense_bias_relu_forward_is_one_gemm_and_one_loop():
    net = mx.gluon.nn.Dense(32, activation="relu", in_units=16)
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.default_rng(1).normal(size=(8, 16)).astype(np.float32))
    y = net(x)
    fn = net.ir("optimized")
    assert loop_nests(fn) == (1, 1), fn
    w, b = net.weight.data().asnumpy(), net.bias.data().asnumpy()
    np.testing.assert_allclose(y.asnumpy(), np.maximum(x.asnumpy() @ w.T + b, 0),
                               rtol=1e-5, atol=1e-6)


def test_mlp_backward_relu_derivative_fused_between_gemms():
    """Each hidden layer's backward: the ReLU derivative and the bias-gradient sum are one
    loop nest reading the upstream GEMM's output and writing the next GEMM's input."""
    from tracegrad import ir
    from tracegrad.ir import Builder, TensorType
    b = Builder(name="mlp_bwd")
    t = lambda *s: TensorType("f32", s)  # noqa: E731
    x = b.param(t(32, 20), "x")
    ws = [b.param(t(20, 16), "w0"), b.param(t(16, 16), "w1"), b.param(t(16, 4), "w2")]
    bs = [b.param(t(16), "b0"), b.param(t(16), "b1"), b.param(t(4), "b2")]
    h = x
    for k in range(3):
        h = b.add(b.matmul(h, ws[k]), bs[k])
        if k < 2:
            h = b.relu(h)
    adj = ir.vjp(b.ret(b.sum(b.mul(h, h), axes=(0, 1))), wrt=[1, 2, 3, 4, 5, 6])
    steps = [s for s, _ in entry.make_plan(adj).steps]
    hidden = [s for s in steps if s.kind == "fused" and s.shape == (32, 16)]
    assert len(hidden) == 2, [(s.kind, s.shape, [op.name for op in s.ops]) for s in steps]
    for s in hidden:
        names = [op.name for op in s.ops]
        assert "sum" in names, names                    # the bias gradient in the same loop
        inputs = {o.producer.name for op in s.ops for o in op.operands
                  if getattr(o, "producer", None) is not None and o.producer not in s.ops}
        assert "matmul" in inputs, inputs               # reads the upstream GEMM's output
