"""A bound Executor compiles its graph after EAGER_FORWARDS forwards: from then on every
forward / backward must give what node-by-node evaluation gives (outputs, gradients for
grad_req write / add / null, head gradients, BatchNorm's auxiliary states), on new data each
time, checked against the same executor with compiling disabled."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.symbol import executor as executor_module


def _conv_bn():
    data = mx.sym.var("data")
    c = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv")
    b = mx.sym.BatchNorm(c, name="bn", fix_gamma=False)
    p = mx.sym.Pooling(mx.sym.Activation(b, act_type="relu"), kernel=(2, 2), stride=(2, 2),
                       pool_type="max")
    out = mx.sym.FullyConnected(mx.sym.flatten(p), num_hidden=3, name="fc")
    return mx.sym.SoftmaxOutput(out, name="softmax"), {"data": (2, 2, 6, 6),
                                                       "softmax_label": (2,)}


def _two_heads():
    x, w = mx.sym.var("x"), mx.sym.var("w")
    y = mx.sym.FullyConnected(x, weight=w, no_bias=True, num_hidden=5, name="fc")
    return mx.sym.Group([mx.sym.tanh(y), mx.sym.sum(y * y, axis=1)]), {"x": (3, 4),
                                                                        "w": (5, 4)}


def _lstm():
    cell = mx.rnn.GRUCell(4, prefix="g_")
    out, _ = cell.unroll(3, mx.sym.var("data"), merge_outputs=True)
    return mx.sym.MakeLoss(mx.sym.mean(out * out)), {"data": (2, 3, 5)}


def _run(make, req, compiled, monkeypatch, rounds=5):
    sym, shapes = make()
    if not compiled:
        monkeypatch.setattr(executor_module, "EAGER_FORWARDS", 10 ** 9)
    try:
        ex = sym.simple_bind(mx.cpu(), grad_req=req, **shapes)
    finally:
        monkeypatch.undo()
    if not compiled:
        monkeypatch.setattr(executor_module, "EAGER_FORWARDS", 10 ** 9)
    rng = np.random.default_rng(0)
    for k, v in ex.arg_dict.items():
        v[:] = rng.integers(0, 3, v.shape) if k.endswith("label") else \
            rng.uniform(-1, 1, v.shape)
    for g in ex.grad_dict.values():
        if g is not None:
            g[:] = 0.5
    got = []
    for r in range(rounds):
        feed = {k: nd.array(rng.uniform(-1, 1, shapes[k])) for k in shapes
                if not k.endswith("label") and k not in ("w",)}
        outs = ex.forward(is_train=True, **feed)
        heads = [nd.array(rng.uniform(-1, 1, o.shape)) for o in outs]
        ex.backward(heads)
        got.append([o.asnumpy().copy() for o in outs]
                   + [g.asnumpy().copy() for g in ex.grad_arrays if g is not None]
                   + [a.asnumpy().copy() for a in ex.aux_arrays])
        ex.forward(is_train=False, **feed)
        got.append([o.asnumpy().copy() for o in ex.outputs])
    monkeypatch.undo()
    return got, ex._jit is not None


@pytest.mark.parametrize("make", [_conv_bn, _two_heads, _lstm])
@pytest.mark.parametrize("req", ["write", "add"])
def test_compiled_executor_equals_node_by_node(make, req, monkeypatch):
    ref, ref_compiled = _run(make, req, False, monkeypatch)
    got, compiled = _run(make, req, True, monkeypatch)
    assert compiled and not ref_compiled
    for r, (a, b) in enumerate(zip(got, ref)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6, err_msg=f"round {r}")


def test_compiled_executor_follows_a_null_grad_req_and_a_monitor(monkeypatch):
    sym, shapes = _two_heads()
    ex = sym.simple_bind(mx.cpu(), grad_req={"x": "null", "w": "write"}, **shapes)
    ex.arg_dict["w"][:] = 0.3
    seen = []
    for r in range(4):
        x = nd.array(np.full(shapes["x"], 0.1 * (r + 1), np.float32))
        ex.forward(is_train=True, x=x)
        ex.backward([nd.ones((3, 5)), nd.ones(3)])
        y = x.asnumpy() @ np.full((4, 5), 0.3)
        want = (1 - np.tanh(y) ** 2 + 2 * y).T @ x.asnumpy()
        np.testing.assert_allclose(ex.grad_dict["w"].asnumpy(), want, rtol=1e-5)
    assert ex._jit is not None and ex.grad_dict.get("x") is None
    ex.set_monitor_callback(lambda name, arr: seen.append(name))
    ex.forward(is_train=False, x=x)     # a monitored forward runs node by node
    assert "fc_output" in seen


class _Square(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])


@mx.operator.register("executor_square")
class _SquareProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=True)

    def list_arguments(self):
        return ["data"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return in_shape, in_shape, []

    def create_operator(self, ctx, shapes, dtypes):
        return _Square()


def test_an_executor_whose_graph_cannot_compile_runs_node_by_node_without_warnings():
    """A custom operator keeps jit eager; the user asked for no compiling, so no warning."""
    import warnings
    x = mx.sym.var("data")
    y = mx.sym.sum(mx.sym.Custom(mx.sym.FullyConnected(x, num_hidden=3, name="fc"),
                                 op_type="executor_square"))
    ex = y.simple_bind(mx.cpu(), data=(2, 4))
    ex.arg_dict["fc_weight"][:] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(5):
            out = ex.forward(is_train=True, data=nd.ones((2, 4)) * i)
            ex.backward(nd.ones(1))
            h = 0.5 * 4 * i + ex.arg_dict["fc_bias"].asnumpy()   # every fc output
            np.testing.assert_allclose(out[0].asnumpy(), [6 * h[0] ** 2], rtol=1e-6)
            np.testing.assert_allclose(ex.grad_dict["fc_weight"].asnumpy(),
                                       np.full((3, 4), 2 * h[0] * 2 * i), rtol=1e-6)
