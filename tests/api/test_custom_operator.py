"""mx.operator: Python custom operators written for MXNet 1.x run through nd.Custom, eagerly,
recorded for autograd and inside hybridized blocks; their gradients are what backward()
assigns, checked against central differences."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from numeric import central_differences


class ScaledSigmoid(mx.operator.CustomOp):
    def __init__(self, scale):
        self.scale = scale

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0].asnumpy()
        y = self.scale / (1.0 + np.exp(-x))
        self.assign(out_data[0], req[0], mx.nd.array(y, dtype=in_data[0].dtype))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        y = out_data[0].asnumpy() / self.scale
        dy = out_grad[0].asnumpy()
        self.assign(in_grad[0], req[0], mx.nd.array(dy * self.scale * y * (1 - y),
                                                    dtype=in_data[0].dtype))


@mx.operator.register("scaled_sigmoid")
class ScaledSigmoidProp(mx.operator.CustomOpProp):
    def __init__(self, scale="1.0"):
        super().__init__(need_top_grad=True)
        self.scale = float(scale)         # MXNet passes keyword arguments as strings

    def create_operator(self, ctx, shapes, dtypes):
        return ScaledSigmoid(self.scale)


class PairSum(mx.operator.CustomOp):
    """Two arguments, two outputs, and an auxiliary counter it updates in place."""

    def forward(self, is_train, req, in_data, out_data, aux):
        a, b = in_data
        self.assign(out_data[0], req[0], a + b)
        self.assign(out_data[1], req[1], a * b)
        if is_train:
            aux[0][:] = aux[0] + 1

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        a, b = in_data
        self.assign(in_grad[0], req[0], out_grad[0] + out_grad[1] * b)
        self.assign(in_grad[1], req[1], out_grad[0] + out_grad[1] * a)


@mx.operator.register("pair_sum")
class PairSumProp(mx.operator.CustomOpProp):
    def list_arguments(self):
        return ["a", "b"]

    def list_outputs(self):
        return ["sum", "product"]

    def list_auxiliary_states(self):
        return ["count"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0], in_shape[0]], [(1,)]

    def create_operator(self, ctx, shapes, dtypes):
        return PairSum()


def test_forward_and_gradient_match_the_formula_and_central_differences():
    x64 = np.random.RandomState(0).randn(3, 4)
    x = nd.array(x64, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.Custom(x, op_type="scaled_sigmoid", scale=2.5)
        loss = nd.sum(y * y)
    loss.backward()
    np.testing.assert_allclose(y.asnumpy(), 2.5 / (1 + np.exp(-x64)), rtol=1e-12)
    f = lambda: float(np.sum((2.5 / (1 + np.exp(-x64))) ** 2))  # noqa: E731
    (want,) = central_differences(f, [x64])
    np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-6)


def test_several_arguments_outputs_and_an_auxiliary_state():
    a, b = nd.array([1.0, 2.0]), nd.array([3.0, 5.0])
    a.attach_grad()
    b.attach_grad()
    count = nd.zeros((1,))
    with autograd.record():
        s, p = nd.Custom(a, b, count, op_type="pair_sum")
        total = nd.sum(s * 2 + p)
    total.backward()
    np.testing.assert_array_equal(s.asnumpy(), [4.0, 7.0])
    np.testing.assert_array_equal(p.asnumpy(), [3.0, 10.0])
    np.testing.assert_array_equal(a.grad.asnumpy(), [2 + 3.0, 2 + 5.0])
    np.testing.assert_array_equal(b.grad.asnumpy(), [2 + 1.0, 2 + 2.0])
    assert count.asscalar() == 1.0          # is_train: recorded in training mode
    with autograd.predict_mode():
        nd.Custom(a, b, count, op_type="pair_sum")
    assert count.asscalar() == 1.0


def test_inside_a_hybridized_block_and_a_training_loop():
    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(3, in_units=4)

        def hybrid_forward(self, F, x):
            return F.Custom(self.dense(x), op_type="scaled_sigmoid", scale=2)

    def train(hybridize):
        mx.random.seed(3)
        net = Net()
        net.initialize()
        if hybridize:
            net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
        x, y = nd.array(np.random.RandomState(1).randn(6, 4)), nd.ones((6, 3))
        for _ in range(5):
            with autograd.record():
                loss = gluon.loss.L2Loss()(net(x), y)
            loss.backward()
            trainer.step(6)
        if hybridize:   # (the eager signature traced once: the arrays its trace held die
            # later, and that is no scope change)
            assert net.__dict__["_tg_jit"].rebinds == 0
        return net.dense.weight.data().asnumpy()
    np.testing.assert_allclose(train(True), train(False), rtol=1e-5, atol=1e-6)


def test_unknown_operator_and_wrong_inputs_are_named():
    with pytest.raises(mx.MXNetError, match="no operator registered as 'nope'"):
        nd.Custom(nd.ones(2), op_type="nope")
    with pytest.raises(mx.MXNetError, match=r"takes 2 arguments \['a', 'b'\] and 1 "
                                            r"auxiliary states"):
        nd.Custom(nd.ones(2), op_type="pair_sum")
    # (MXNet lists its operators there, custom ones all under "Custom"; the op_types
    # registered: mx.operator.registered_custom_ops)
    assert "Custom" in mx.operator.get_all_registered_operators()
    assert "scaled_sigmoid" in mx.operator.registered_custom_ops()


# ---------------------------------------------------------------- mx.sym.Custom
class NumpySoftmax(mx.operator.CustomOp):
    """MXNet's custom softmax example: a loss head that ignores its head gradient."""

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0].asnumpy()
        y = np.exp(x - x.max(axis=1, keepdims=True))
        self.assign(out_data[0], req[0], mx.nd.array(y / y.sum(axis=1, keepdims=True)))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        label = in_data[1].asnumpy().ravel().astype(int)
        y = out_data[0].asnumpy()
        y[np.arange(label.shape[0]), label] -= 1.0
        self.assign(in_grad[0], req[0], mx.nd.array(y))


@mx.operator.register("numpy_softmax")
class NumpySoftmaxProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=False)

    def list_arguments(self):
        return ["data", "label"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][0],)], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return NumpySoftmax()


def _mlp(head):
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=6)
    fc2 = mx.sym.FullyConnected(mx.sym.Activation(fc1, act_type="relu"), name="fc2",
                                num_hidden=3)
    return head(fc2)


def test_symbolic_custom_op_is_a_graph_node_like_mxnets():
    custom = _mlp(lambda x: mx.sym.Custom(data=x, name="softmax", op_type="numpy_softmax"))
    builtin = _mlp(lambda x: mx.sym.SoftmaxOutput(x, name="softmax"))
    # the label is a variable named after the node, as MXNet makes it; shapes from the prop
    assert custom.list_arguments() == builtin.list_arguments()
    assert custom.list_arguments()[-1] == "softmax_label"
    assert custom.infer_shape(data=(4, 5)) == builtin.infer_shape(data=(4, 5))
    rs = np.random.RandomState(0)
    args = {"data": rs.randn(4, 5), "fc1_weight": rs.randn(6, 5) * 0.5,
            "fc1_bias": rs.randn(6) * 0.1, "fc2_weight": rs.randn(3, 6) * 0.5,
            "fc2_bias": rs.randn(3) * 0.1, "softmax_label": np.array([0, 2, 1, 2])}

    def grads(sym):
        arrays = {k: nd.array(v) for k, v in args.items()}
        g = {k: nd.zeros(v.shape) for k, v in args.items() if k != "softmax_label"}
        exe = sym.bind(mx.cpu(), args=arrays, args_grad=g)
        exe.forward(is_train=True)
        exe.backward()
        return exe.outputs[0].asnumpy(), {k: v.asnumpy() for k, v in g.items()}
    (out_c, g_c), (out_b, g_b) = grads(custom), grads(builtin)
    np.testing.assert_allclose(out_c, out_b, rtol=1e-6)
    for k in g_b:
        np.testing.assert_allclose(g_c[k], g_b[k], rtol=1e-5, atol=1e-7)
    # through JSON and back: the same graph
    back = mx.sym.load_json(custom.tojson())
    assert back.list_arguments() == custom.list_arguments()
    out_back, g_back = grads(back)
    np.testing.assert_allclose(out_back, out_c, rtol=1e-6)
    np.testing.assert_allclose(g_back["fc1_weight"], g_c["fc1_weight"], rtol=1e-6)


def test_module_trains_a_custom_head_as_it_trains_softmax_output():
    rs = np.random.RandomState(1)
    x, y = rs.rand(40, 5).astype(np.float32), rs.randint(0, 3, 40).astype(np.float32)
    init = {"fc1_weight": rs.randn(6, 5) * 0.3, "fc1_bias": np.zeros(6),
            "fc2_weight": rs.randn(3, 6) * 0.3, "fc2_bias": np.zeros(3)}
    trained = []
    for head in (lambda s: mx.sym.Custom(s, name="softmax", op_type="numpy_softmax"),
                 lambda s: mx.sym.SoftmaxOutput(s, name="softmax")):
        mod = mx.mod.Module(_mlp(head), context=mx.cpu())
        it = mx.io.NDArrayIter(x, y, batch_size=10, label_name="softmax_label")
        mod.fit(it, num_epoch=3, optimizer="sgd", optimizer_params={"learning_rate": 0.1},
                arg_params={k: nd.array(v) for k, v in init.items()}, force_init=True)
        trained.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    for k in init:
        np.testing.assert_allclose(trained[0][k], trained[1][k], rtol=1e-5, atol=1e-6)
        assert not np.allclose(trained[0][k], init[k])


def test_symbolic_custom_op_errors_name_the_op_type():
    with pytest.raises(mx.MXNetError, match="no operator registered as 'not_registered'"):
        mx.sym.Custom(mx.sym.var("x"), op_type="not_registered")
    with pytest.raises(mx.MXNetError, match="needs op_type"):
        mx.sym.Custom(mx.sym.var("x"))
    doc = mx.sym.Custom(mx.sym.var("x"), op_type="numpy_softmax", name="s").tojson()
    with pytest.raises(mx.MXNetError, match="not_registered"):
        mx.sym.load_json(doc.replace("numpy_softmax", "not_registered"))


class RowwiseSquare(mx.operator.CustomOp):
    """Records the storage types forward / backward see."""
    seen = []

    def forward(self, is_train, req, in_data, out_data, aux):
        RowwiseSquare.seen.append(("forward", in_data[0].stype, out_data[0].stype))
        self.assign(out_data[0], req[0], in_data[0] * in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        RowwiseSquare.seen.append(("backward", out_grad[0].stype, in_data[0].stype,
                                   in_grad[0].stype))
        self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])


@mx.operator.register("rowwise_square")
class RowwiseSquareProp(mx.operator.CustomOpProp):
    """Keeps a row_sparse input's storage; infer_shape returns two lists (no aux)."""

    def infer_shape(self, in_shape):
        return [in_shape[0]], [in_shape[0]]

    def infer_storage_type(self, in_stype):
        return in_stype, in_stype, []

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        return in_stype, in_stype, out_stype, ['default'], []

    def create_operator(self, ctx, shapes, dtypes):
        return RowwiseSquare()


def test_storage_inference_decides_what_forward_and_backward_see():
    dense = np.array([[0, 0, 0], [1, -2, 3], [0, 0, 0], [4, 0.5, 0]], np.float32)
    x = nd.sparse.row_sparse_array(dense)
    x.attach_grad()
    RowwiseSquare.seen.clear()
    with autograd.record():
        y = nd.Custom(x, op_type="rowwise_square")
    y.backward(nd.ones((4, 3)))
    assert y.stype == "row_sparse" and y.indices.asnumpy().tolist() == [1, 3]
    np.testing.assert_allclose(y.asnumpy(), dense ** 2)
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * dense)
    assert RowwiseSquare.seen == [("forward", "row_sparse", "row_sparse"),
                                  ("backward", "row_sparse", "row_sparse", "default")]
    # dense in, dense out; two shape lists are MXNet's form without auxiliary states
    assert nd.Custom(nd.array(dense), op_type="rowwise_square").stype == "default"


def test_default_storage_inference_refuses_a_sparse_input_as_mxnet_asserts():
    x = nd.sparse.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(mx.base.MXNetError, match="default implementation takes only default"):
        nd.Custom(x, op_type="scaled_sigmoid", scale=2.0)
    with pytest.raises(mx.base.MXNetError, match="infer_storage_type"):
        mx.sym.Custom(mx.sym.var("x", stype="csr"), op_type="scaled_sigmoid").simple_bind(
            mx.cpu(), x=(3, 3))
