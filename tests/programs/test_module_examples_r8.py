"""Patterns of MXNet 1.9.1's example programs (symbolic API, Module API and others): the
example/module scripts (mnist_mlp.py, python_loss.py, sequential_module.py: MNISTIter,
PythonLossModule in a SequentialModule), example/svm_mnist, example/restricted-boltzmann-machine,
example/svrg_module, example/capsnet, example/cnn_text_classification,
example/deep-embedded-clustering, example/nce-loss, example/neural_collaborative_filtering,
example/recommenders, example/vae-gan, example/bayesian-methods, example/autoencoder,
example/adversary, example/multi-task and example/bi-lstm-sort, each cut to a few synthetic
batches and checked against numpy statements of MXNet's formulas."""
import struct

import numpy as np
import pytest

import tracegrad as mx


def _write_mnist(tmp_path, n, seed=0):
    rs = np.random.RandomState(seed)
    img = rs.randint(0, 256, (n, 28, 28)).astype(np.uint8)
    lab = rs.randint(0, 10, n).astype(np.uint8)
    (tmp_path / "img").write_bytes(struct.pack(">iiii", 2051, n, 28, 28) + img.tobytes())
    (tmp_path / "lab").write_bytes(struct.pack(">ii", 2049, n) + lab.tobytes())
    return str(tmp_path / "img"), str(tmp_path / "lab"), img, lab


def test_mnist_iter_reads_idx_files_scaled_by_1_over_256_and_drops_the_last_batch(tmp_path):
    image, label, img, lab = _write_mnist(tmp_path, 250)
    it = mx.io.MNISTIter(image=image, label=label, data_shape=(784,), batch_size=100,
                         shuffle=False, flat=True, silent=True)
    assert it.provide_data[0].name == "data" and it.provide_data[0].shape == (100, 784)
    assert it.provide_label[0].name == "softmax_label" and it.provide_label[0].shape == (100,)
    batches = list(it)
    assert len(batches) == 2                        # 250 images: the last 50 are dropped
    np.testing.assert_array_equal(batches[1].data[0].asnumpy(),
                                  img[100:200].reshape(100, 784).astype(np.float32) / 256)
    np.testing.assert_array_equal(batches[1].label[0].asnumpy(), lab[100:200])
    it.reset()
    assert len(list(it)) == 2
    square = mx.io.MNISTIter(image=image, label=label, batch_size=50, silent=True, seed=10)
    assert square.provide_data[0].shape == (50, 1, 28, 28)     # flat=False by default
    first = [b.label[0].asnumpy() for b in square]
    square.reset()                                  # shuffled once, at creation
    assert all((a == b.label[0].asnumpy()).all() for a, b in zip(first, square))
    assert sorted(np.concatenate(first).tolist()) == sorted(lab.astype(float).tolist())
    part = mx.io.MNISTIter(image=image, label=label, batch_size=25, shuffle=False,
                           num_parts=2, part_index=1, silent=True)
    np.testing.assert_array_equal(next(part).label[0].asnumpy(), lab[125:150])


def test_csv_iter_labels_of_width_one_are_one_dimensional(tmp_path):
    np.savetxt(tmp_path / "d.csv", np.arange(12).reshape(6, 2), delimiter=",")
    np.savetxt(tmp_path / "l.csv", np.arange(6), delimiter=",")
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(2,),
                       label_csv=str(tmp_path / "l.csv"), batch_size=3)
    assert it.provide_label[0].shape == (3,)
    assert next(it).label[0].shape == (3,)


def test_python_loss_module_gives_grad_func_to_the_module_before_it():
    # example/module/python_loss.py: an MLP module, then a PythonLossModule (hinge gradient)
    rs = np.random.RandomState(0)
    x = rs.rand(4, 5).astype(np.float32)
    y = np.array([0, 2, 1, 2], np.float32)

    def hinge_grad(scores, labels):
        scores, labels = scores.asnumpy(), labels.asnumpy().astype(int)
        grad = np.zeros_like(scores)
        for i in range(scores.shape[0]):
            score = 1 + scores[i] - scores[i, labels[i]]
            score[labels[i]] = 0
            grad[i, labels[i]] -= 1
            grad[i, score.argmax()] += 1
        return grad

    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc", num_hidden=3)
    mlp = mx.mod.Module(fc, label_names=None)
    loss = mx.mod.PythonLossModule(grad_func=hinge_grad)
    mod = mx.mod.SequentialModule().add(mlp).add(loss, take_labels=True, auto_wiring=True)
    it = mx.io.NDArrayIter(x, y, batch_size=4)
    mod.bind(it.provide_data, it.provide_label)
    w0 = rs.randn(3, 5).astype(np.float32)
    mod.init_params(arg_params={"fc_weight": mx.nd.array(w0), "fc_bias": mx.nd.zeros(3)})
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    assert mod.output_shapes == [("pyloss_output", (4, 3))]
    batch = next(it)
    mod.forward(batch)
    scores = x @ w0.T
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), scores, rtol=1e-5)
    mod.backward()
    mod.update()
    g = hinge_grad(mx.nd.array(scores), mx.nd.array(y))
    want = w0 - 0.1 * (g.T @ x) / 4                 # rescale_grad = 1 / batch_size
    np.testing.assert_allclose(mod.get_params()[0]["fc_weight"].asnumpy(), want, rtol=1e-5)
    metric = mx.metric.create("acc")
    mod.update_metric(metric, batch.label)
    assert metric.get()[1] == np.mean(scores.argmax(1) == y)


def _svm_grad(x, y, margin, reg, linear):
    """MXNet's L1_SVM / L2_SVM kernels (src/operator/svm_output.cc), in float64."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if j == int(y[i]):
                g[i, j] = (-float(margin > x[i, j]) * reg if linear
                           else -reg * 2 * (margin - x[i, j]) * (margin > x[i, j]))
            else:
                g[i, j] = (float(margin > -x[i, j]) * reg if linear
                           else 2 * reg * (margin + x[i, j]) * (margin > -x[i, j]))
    return g


def test_svm_output_is_the_identity_with_mxnets_svm_gradients():
    # example/svm_mnist: SVMOutput(fc3, name='svm_l2'), SVMOutput(..., use_linear=True)
    rs = np.random.RandomState(0)
    x = (rs.randn(6, 4) * 1.5).astype(np.float32)
    y = np.array([0, 3, 1, 2, 2, 0], np.float32)
    for linear in (False, True):
        net = mx.sym.SVMOutput(mx.sym.Variable("data"), name="svm", margin=0.7,
                               regularization_coefficient=0.3, use_linear=linear)
        assert net.list_arguments() == ["data", "svm_label"]
        assert net.infer_shape(data=(6, 4))[0] == [(6, 4), (6,)]
        ex = net.simple_bind(mx.cpu(), data=(6, 4))
        ex.arg_dict["data"][:] = x
        ex.arg_dict["svm_label"][:] = y
        np.testing.assert_array_equal(ex.forward(is_train=True)[0].asnumpy(), x)
        ex.backward()
        np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(),
                                   _svm_grad(x, y, 0.7, 0.3, linear), rtol=1e-6, atol=1e-7)
        a = mx.nd.array(x)
        a.attach_grad()
        with mx.autograd.record():
            out = mx.nd.SVMOutput(a, mx.nd.array(y), use_linear=linear)
        out.backward()
        np.testing.assert_allclose(a.grad.asnumpy(), _svm_grad(x, y, 1.0, 1.0, linear),
                                   rtol=1e-6, atol=1e-7)


def test_trainer_and_module_rescale_by_an_optimizer_instances_rescale_grad():
    # MXNet's Trainer keeps the optimizer's rescale_grad as its scale (step divides it by the
    # batch size); a Module given an Optimizer instance updates with its rescale_grad as is
    w0 = np.array([[1.0, -2.0]], np.float32)
    x = np.array([[0.5, 1.5], [2.0, -1.0]], np.float32)
    p = mx.gluon.Parameter("w", shape=(1, 2))
    p.initialize(mx.init.Constant(0))
    p.set_data(mx.nd.array(w0))
    trainer = mx.gluon.Trainer([p], mx.optimizer.SGD(learning_rate=0.1, rescale_grad=0.5))
    with mx.autograd.record():
        loss = mx.nd.dot(mx.nd.array(x), p.data().T).sum()
    loss.backward()
    trainer.step(2)
    np.testing.assert_allclose(p.data().asnumpy(), w0 - 0.1 * 0.5 / 2 * x.sum(0), rtol=1e-6)

    net = mx.sym.LinearRegressionOutput(
        mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc", num_hidden=1, no_bias=True),
        name="lro")
    mod = mx.mod.Module(net, label_names=["lro_label"])
    it = mx.io.NDArrayIter(x, np.zeros(2, np.float32), batch_size=2, label_name="lro_label")
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(arg_params={"fc_weight": mx.nd.array(w0)})
    mod.init_optimizer(optimizer=mx.optimizer.SGD(learning_rate=0.1, rescale_grad=0.5))
    mod.forward_backward(next(it))
    mod.update()
    grad = (x @ w0.T).T @ x                          # d/dw of sum((x w^T - 0)^2) / 2
    np.testing.assert_allclose(mod.get_params()[0]["fc_weight"].asnumpy(),
                               w0 - 0.1 * 0.5 * grad, rtol=1e-6)


def test_svrg_module_fit_matches_mxnets_variance_reduced_sgd():
    # example/svrg_module: SVRGModule(symbol=lro, ..., update_freq=2).fit(di, optimizer='sgd')
    from tracegrad.contrib.svrg_optimization.svrg_module import SVRGModule
    rs = np.random.RandomState(0)
    X = rs.randint(1, 5, (10, 2)).astype(np.float32)
    y = X @ np.array([1.0, 2.0], np.float32) + 0.5
    data = mx.sym.Variable("data")
    weight = mx.sym.Variable("fc_weight", shape=(1, 2))
    bias = mx.sym.Variable("fc_bias", shape=(1,), wd_mult=0.0, lr_mult=10.0)
    net = mx.sym.broadcast_plus(mx.sym.dot(data, weight.transpose()), bias)
    net = mx.sym.LinearRegressionOutput(data=net, label=mx.sym.Variable("label"))
    di = mx.io.NDArrayIter(X, y, batch_size=4, label_name="label")     # last batch: pad 2
    mod = SVRGModule(symbol=net, data_names=["data"], label_names=["label"], update_freq=2)
    w0, b0 = np.array([[0.1, -0.2]], np.float32), np.array([0.05], np.float32)
    lr, wd, bs = 0.01, 0.1, 4
    mod.fit(di, eval_metric="mse", optimizer="sgd", num_epoch=3,
            arg_params={"fc_weight": mx.nd.array(w0), "fc_bias": mx.nd.array(b0)},
            optimizer_params=(("learning_rate", lr), ("wd", wd)))

    # float64 numpy: MXNet's update_full_grads (the sum starts from the previous average),
    # g(w) - g(snapshot) + full, SGD with rescale 1/4, wd on the weight only, lr_mult ignored
    rows = np.concatenate([np.arange(10), np.arange(2)]).reshape(3, 4)

    def grads(w, b, r):
        err = X[r].astype(np.float64) @ w[0] + b[0] - y[r]
        return err[None] @ X[r], np.array([err.sum()])

    w, b = w0.astype(np.float64), b0.astype(np.float64)
    full = [np.zeros((1, 2)), np.zeros(1)]
    for epoch in range(3):
        if epoch % 2 == 0:
            snap = (w.copy(), b.copy())
            for r in rows:
                gw, gb = grads(*snap, r)
                full = [full[0] + gw, full[1] + gb]
            full = [f / (3 - 2 / 4) for f in full]
        for r in rows:
            gw, gb = grads(w, b, r)
            sw, sb = grads(*snap, r)
            w = w - lr * ((gw - sw + full[0]) / bs + wd * w)
            b = b - lr * (gb - sb + full[1]) / bs
    arg = mod.get_params()[0]
    np.testing.assert_allclose(arg["fc_weight"].asnumpy(), w, rtol=1e-5)
    np.testing.assert_allclose(arg["fc_bias"].asnumpy(), b, rtol=1e-5)


def test_module_weight_decay_applies_to_weight_and_gamma_parameters():
    # MXNet's Optimizer.set_wd_mult: wd_mult 0 for names ending neither in _weight nor _gamma
    data = mx.sym.Variable("data")
    out = mx.sym.FullyConnected(data, weight=mx.sym.Variable("fc_gamma"), num_hidden=1,
                                name="fc")
    net = mx.sym.LinearRegressionOutput(out, name="lro")
    mod = mx.mod.Module(net, label_names=["lro_label"])
    it = mx.io.NDArrayIter(np.zeros((2, 3), np.float32), np.zeros(2, np.float32),
                           batch_size=2, label_name="lro_label")
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(arg_params={"fc_gamma": mx.nd.ones((1, 3)), "fc_bias": mx.nd.ones(1)})
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "wd": 0.5})
    mod.forward_backward(next(it))
    mod.update()
    arg = mod.get_params()[0]
    # gradients: fc_gamma 0 (zero data), fc_bias sum(1 - 0) / 2 = 1
    np.testing.assert_allclose(arg["fc_gamma"].asnumpy(), np.full((1, 3), 1 - 0.1 * 0.5))
    np.testing.assert_allclose(arg["fc_bias"].asnumpy(), [1 - 0.1 * 1.0], rtol=1e-6)


def test_symbol_ops_take_attributes_positionally_and_scalar_maximum():
    # example/capsnet: mx.sym.sum(mx.sym.square(digitcaps), 2) and margin_loss's
    # mx.sym.maximum(0., 0.9 - y_pred)
    caps = mx.sym.Variable("caps")
    out_caps = mx.sym.sqrt(data=mx.sym.sum(mx.sym.square(caps), 2))
    assert out_caps.infer_shape(caps=(2, 10, 16))[1] == [(2, 10)]
    y_true, y_pred = mx.sym.Variable("y_true"), mx.sym.Variable("y_pred")
    loss = y_true * mx.sym.square(mx.sym.maximum(0., 0.9 - y_pred)) + \
        0.5 * (1 - y_true) * mx.sym.square(mx.sym.maximum(0., y_pred - 0.1))
    loss = mx.sym.mean(data=mx.sym.sum(loss, 1))
    rs = np.random.RandomState(0)
    t = np.eye(4, dtype=np.float32)[[0, 3, 1]]
    p = rs.rand(3, 4).astype(np.float32)
    got = loss.eval(y_true=mx.nd.array(t), y_pred=mx.nd.array(p))[0].asnumpy()
    want = (t * np.maximum(0, 0.9 - p) ** 2 + 0.5 * (1 - t) * np.maximum(0, p - 0.1) ** 2)
    np.testing.assert_allclose(got, [want.sum(1).mean()], rtol=1e-6)
    x = mx.sym.Variable("x")
    v = mx.nd.array([[0.5, 3.0]])
    np.testing.assert_allclose(mx.sym.minimum(x, 2.0).eval(x=v)[0].asnumpy(), [[0.5, 2.0]])
    np.testing.assert_allclose(mx.sym.pow(2.0, x).eval(x=v)[0].asnumpy(), [[2 ** 0.5, 8.0]],
                               rtol=1e-6)
    np.testing.assert_allclose(mx.sym.power(x, 2).eval(x=v)[0].asnumpy(), [[0.25, 9.0]])
    assert mx.sym.maximum(3, 2) == 3 and mx.sym.pow(3, 2) == 9
    fc = mx.sym.FullyConnected(x, mx.sym.Variable("w"), mx.sym.Variable("b"), 7)
    assert fc.infer_shape(x=(2, 3))[1] == [(2, 7)]




class _DECLoss(mx.operator.NumpyOp):
    """example/deep-embedded-clustering's DECLoss (Student's t soft assignment)."""

    def __init__(self, num_centers, alpha):
        super().__init__(need_top_grad=False)
        self.num_centers, self.alpha = num_centers, alpha

    def forward(self, in_data, out_data):
        z, mu, q = in_data[0], in_data[1], out_data[0]
        d2 = ((z[:, None, :] - mu[None]) ** 2).sum(-1)
        self.mask = 1.0 / (1.0 + d2 / self.alpha)
        q[:] = self.mask ** ((self.alpha + 1.0) / 2.0)
        q[:] = (q.T / q.sum(axis=1)).T

    def backward(self, out_grad, in_data, out_data, in_grad):
        q, z, mu, p = out_data[0], in_data[0], in_data[1], in_data[2]
        self.mask *= (self.alpha + 1.0) / self.alpha * (p - q)
        in_grad[0][:] = (z.T * self.mask.sum(axis=1)).T - self.mask.dot(mu)
        in_grad[1][:] = (mu.T * self.mask.sum(axis=0)).T - self.mask.T.dot(z)

    def infer_shape(self, in_shape):
        n, d = in_shape[0]
        return [in_shape[0], (self.num_centers, d), (n, self.num_centers)], \
            [(n, self.num_centers)]

    def list_arguments(self):
        return ["data", "mu", "label"]


def test_numpy_op_is_a_symbol_node_running_the_objects_forward_and_backward():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        op = _DECLoss(3, 1.0)
    loss = op(data=mx.sym.Variable("data"), label=mx.sym.Variable("label"), name="dec")
    assert loss.list_arguments() == ["data", "dec_mu", "label"]
    assert loss.list_outputs() == ["dec_output"]
    assert loss.infer_shape(data=(5, 2))[:2] == ([(5, 2), (3, 2), (5, 3)], [(5, 3)])
    rs = np.random.RandomState(0)
    z, mu = rs.randn(5, 2), rs.randn(3, 2)
    p = rs.dirichlet(np.ones(3), 5)
    grads = {"data": mx.nd.zeros((5, 2)), "dec_mu": mx.nd.zeros((3, 2))}
    exe = loss.bind(mx.cpu(), args={"data": mx.nd.array(z), "dec_mu": mx.nd.array(mu),
                                    "label": mx.nd.array(p)}, args_grad=grads)
    exe.forward(is_train=True)
    exe.backward()
    d2 = ((z[:, None] - mu[None]) ** 2).sum(-1)
    q = 1 / (1 + d2)
    q = q / q.sum(1, keepdims=True)
    m = 1 / (1 + d2) * 2 * (p - q)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), q, rtol=1e-5)
    np.testing.assert_allclose(grads["data"].asnumpy(), z * m.sum(1)[:, None] - m @ mu,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["dec_mu"].asnumpy(), mu * m.sum(0)[:, None] - m.T @ z,
                               rtol=1e-4, atol=1e-6)


def test_executor_outputs_exist_after_bind_and_forward_writes_into_them():
    # example/deep-embedded-clustering's Solver: bind with every model argument (extra names
    # are ignored), keep exe.outputs in a dict before the loop, copy them after each forward
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, name="enc", num_hidden=2)
    w = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    args = {"data": mx.nd.zeros((1, 2)), "enc_weight": mx.nd.array(w),
            "enc_bias": mx.nd.zeros(2), "dec_weight": mx.nd.ones((7, 7))}
    exe = net.bind(mx.cpu(), args=args, args_grad={"enc_weight": mx.nd.zeros((2, 2))})
    kept = dict(zip(net.list_outputs(), exe.outputs))
    assert list(kept) == ["enc_output"] and kept["enc_output"].shape == (1, 2)
    for x in ([1.0, 0.0], [0.5, 2.0]):
        mx.nd.array([x]).copyto(args["data"])
        exe.forward(is_train=True)
        exe.backward(mx.nd.ones((1, 2)))
        np.testing.assert_allclose(kept["enc_output"].asnumpy(), [w @ np.array(x)], rtol=1e-6)
        assert exe.outputs[0] is kept["enc_output"]
    np.testing.assert_allclose(exe.grad_dict["enc_weight"].asnumpy(), [[0.5, 2.0]] * 2)


def test_module_feeds_batch_arrays_in_the_order_bind_got_their_shapes():
    # example/neural_collaborative_filtering: Module(data_names=['user', 'item']) bound with
    # provide_data [item, user] and fed DataBatch(data=[item_id, user_id])
    user, item = mx.sym.Variable("user"), mx.sym.Variable("item")
    net = mx.sym.MakeLoss(user * 10 + item, name="out")
    mod = mx.mod.Module(net, data_names=["user", "item"], label_names=None)
    mod.bind(data_shapes=[mx.io.DataDesc(name="item", shape=(3,)),
                          mx.io.DataDesc(name="user", shape=(3,))], inputs_need_grad=True)
    mod.init_params()
    items, users = mx.nd.array([1, 2, 3]), mx.nd.array([4, 5, 6])
    mod.forward(mx.io.DataBatch(data=[items, users]), is_train=True)
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), [41, 52, 63])
    mod.backward()
    grads = [g.asnumpy() for g in mod.get_input_grads()]      # item's, then user's
    np.testing.assert_array_equal(grads, [[1, 1, 1], [10, 10, 10]])


def test_gpu_context_exists_without_a_gpu_and_fails_only_when_used():
    # example/recommenders/matrix_fact.py: def train(..., ctx=mx.gpu(0), ...) at import time
    ctx = mx.gpu(0)
    assert str(ctx) == "gpu(0)" and ctx.device_type == "gpu" and ctx != mx.cpu()
    with pytest.raises(mx.MXNetError, match="CPU only"):
        mx.nd.ones((2,), ctx=ctx)


def test_recurrent_layers_called_on_symbols_emit_mxnets_rnn_op():
    # example/recommenders/demo2-dssm: a block holding gluon.rnn.LSTM called on mx.sym.var's
    rs = np.random.RandomState(0)
    x = mx.nd.array(rs.rand(2, 3, 5))
    for layer in (mx.gluon.rnn.LSTM(4, 2, layout="NTC", bidirectional=True),
                  mx.gluon.rnn.GRU(3, 1)):
        layer.initialize(mx.init.Xavier())
        want = layer(x).asnumpy()
        out = layer(mx.sym.var("data"))
        assert [a for a in out.list_arguments() if a != "data"] == \
            sorted(layer.collect_params(), key=out.list_arguments().index)
        values = {k: p.data() for k, p in layer.collect_params().items()}
        got = out.eval(data=x, **values)[0].asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    h0 = layer.begin_state(3)
    _, want_states = layer(x, h0)
    out, states = layer(mx.sym.var("data"), [mx.sym.var("h")])
    got = mx.sym.Group([out] + states).eval(data=x, h=h0[0], **values)[1].asnumpy()
    np.testing.assert_allclose(got, want_states[0].asnumpy(), rtol=1e-5, atol=1e-6)


def test_vae_gan_patterns_exec_group_grads_and_a_data_only_iterator():
    # example/vae-gan: a DataIter writing iter_next and getdata only (MXNet's base getters
    # give None), and gradients read through module._exec_group.grad_arrays
    class RandIter(mx.io.DataIter):
        def __init__(self, batch_size, ndim):
            self.batch_size, self.ndim = batch_size, ndim
            self.provide_data = [("rand", (batch_size, ndim, 1, 1))]
            self.provide_label = []

        def iter_next(self):
            return True

        def getdata(self):
            return [mx.nd.ones((self.batch_size, self.ndim, 1, 1))]

    batch = RandIter(2, 3).next()
    assert batch.label is None and batch.pad is None and batch.data[0].shape == (2, 3, 1, 1)
    net = mx.sym.MakeLoss(mx.sym.sum(mx.sym.FullyConnected(
        mx.sym.Flatten(mx.sym.Variable("rand")), num_hidden=2, name="g") ** 2))
    mod = mx.mod.Module(net, data_names=("rand",), label_names=None)
    mod.bind(data_shapes=[("rand", (2, 3, 1, 1))])
    w = np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 1.0]], np.float32)
    mod.init_params(arg_params={"g_weight": mx.nd.array(w), "g_bias": mx.nd.zeros(2)})
    mod.forward(batch, is_train=True)
    mod.backward()
    group = mod._exec_group
    assert group.param_names == ["g_weight", "g_bias"]
    y = np.ones((2, 3)) @ w.T                        # d sum(y^2) / dW = 2 y^T x
    np.testing.assert_allclose(group.grad_arrays[0][0].asnumpy(), 2 * y.T @ np.ones((2, 3)),
                               rtol=1e-6)
    np.testing.assert_allclose(group.param_arrays[0][0].asnumpy(), w)


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
def test_recurrent_layers_on_symbols_infer_their_deferred_weights(layer, num_layers,
                                                                   bidirectional):
    # demo2-dssm plots its network: infer_shape must size the first layer's input weights
    # (deferred: `(4*H, 0)`) backwards from the RNN op's parameters, as MXNet's
    # _rnn_param_concat and Reshape do; a bidirectional layer's two share the rest
    net = getattr(mx.gluon.rnn, layer)(6, num_layers, layout="NTC", bidirectional=bidirectional)
    net.initialize()
    out = net(mx.sym.var("data"))
    arg_shapes, out_shapes, _ = out.infer_shape(data=(2, 5, 3))
    got = dict(zip(out.list_arguments(), arg_shapes))
    want = net(mx.nd.ones((2, 5, 3)))       # (eager: the deferred shapes now known)
    assert {k: got[k] for k in net.collect_params()} == \
        {k: p.shape for k, p in net.collect_params().items()}
    assert out_shapes == [want.shape]


def test_a_concatenation_that_cannot_hold_the_parameters_is_reported():
    w = mx.sym.var("w", shape=(4, 0))
    b = mx.sym.var("b", shape=(5,))
    flat = mx.sym._internal._rnn_param_concat(mx.sym.reshape(w, shape=-1), b, dim=0)
    with pytest.raises(mx.MXNetError, match="cannot hold"):
        mx.sym.RNN(mx.sym.var("data"), flat, mx.sym.var("s"), state_size=2, num_layers=1,
                   mode="rnn_tanh").infer_shape(data=(3, 2, 3), s=(1, 2, 2))


def test_bind_with_malformed_data_shapes_raises_type_error_as_mxnet():
    """MXNet's test_contrib_svrg_module passes data_shapes=['data', array] and expects a
    TypeError; tracegrad's error is also an MXNetError naming bind."""
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=1)
    mod = mx.mod.Module(net, data_names=["data"], label_names=None)
    with pytest.raises(TypeError, match="bind: shapes must be DataDesc") as info:
        mod.bind(data_shapes=["data", mx.nd.zeros((2, 1))])
    assert isinstance(info.value, mx.base.MXNetError)
    mod.bind(data_shapes=[("data", (2, 1))])
    assert mod.binded
