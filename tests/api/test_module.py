"""mx.mod.Module: fit / update reach the parameters of a hand-written Gluon loop with the same
init and optimizer; predict / score with padded batches; checkpoints in MXNet's formats."""
import contextlib
import logging

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, mxnet_format, nd


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] * X[:, 2]) > 0).astype(np.float32)
    return X, y


def _mlp_sym():
    data = mx.sym.var("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=8, name="fc1"),
                          act_type="tanh")
    out = mx.sym.FullyConnected(h, num_hidden=2, name="fc2")
    return mx.sym.SoftmaxOutput(out, name="softmax")


def _init_params(seed=1):
    rng = np.random.default_rng(seed)
    return {"fc1_weight": rng.standard_normal((8, 6)).astype(np.float32) * 0.5,
            "fc1_bias": rng.standard_normal(8).astype(np.float32) * 0.1,
            "fc2_weight": rng.standard_normal((2, 8)).astype(np.float32) * 0.5,
            "fc2_bias": np.zeros(2, np.float32)}


def test_fit_reaches_the_parameters_of_the_same_gluon_loop():
    X, y = _data()
    init = _init_params()
    opt = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3}
    mod = mx.mod.Module(_mlp_sym(), data_names=("data",), label_names=("softmax_label",))
    it = mx.io.NDArrayIter(X, y, batch_size=8)
    mod.fit(it, num_epoch=3, optimizer="sgd", optimizer_params=opt,
            arg_params={k: nd.array(v) for k, v in init.items()}, eval_metric="acc")
    got, aux = mod.get_params()
    assert aux == {}

    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation="tanh", in_units=6), gluon.nn.Dense(2, in_units=8))
    net.initialize()
    for layer, name in zip(net, ("fc1", "fc2")):
        layer.weight.set_data(init[f"{name}_weight"])
        layer.bias.set_data(init[f"{name}_bias"])
        # Module's optimizer, made by name with the symbol, decays only *_weight (MXNet's
        # Optimizer.set_wd_mult); Gluon decays every parameter with wd_mult 1
        layer.bias.wd_mult = 0.0
    trainer = gluon.Trainer(net.collect_params(), "sgd", opt)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(3):
        for i in range(0, 40, 8):
            xb, yb = nd.array(X[i:i + 8]), nd.array(y[i:i + 8])
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(8)
    for layer, name in zip(net, ("fc1", "fc2")):
        np.testing.assert_allclose(got[f"{name}_weight"].asnumpy(),
                                   layer.weight.data().asnumpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[f"{name}_bias"].asnumpy(),
                                   layer.bias.data().asnumpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got["fc1_weight"].asnumpy(), init["fc1_weight"])


def test_module_decays_only_weights_unless_a_variable_sets_wd_mult():
    """MXNet: an optimizer Module creates by name gets wd_mult 0 for every parameter not named
    *_weight (biases, gammas, custom names), unless its variable has __wd_mult__."""
    data = mx.sym.var("data")
    scale = mx.sym.var("scale", wd_mult=2.0, shape=(1, 3), init=mx.init.One())
    shift = mx.sym.var("shift", shape=(1, 3), init=mx.init.One())
    out = mx.sym.broadcast_add(mx.sym.broadcast_mul(data, scale), shift)
    out = mx.sym.MakeLoss(mx.sym.sum(out * 0))       # no gradient: only decay moves them
    mod = mx.mod.Module(out, data_names=("data",), label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))])
    mod.init_params(mx.init.Zero())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5, "wd": 0.1,
                                                          "rescale_grad": 1.0})
    batch = mx.io.DataBatch([nd.ones((4, 3))], [])
    mod.forward_backward(batch)
    mod.update()
    arg, _ = mod.get_params()
    np.testing.assert_allclose(arg["scale"].asnumpy(), 1 - 0.5 * 0.1 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(arg["shift"].asnumpy(), 1.0)


def test_step_by_step_api_and_lr_mult_fixed_params():
    X, y = _data(16)
    data = mx.sym.var("data")
    w = mx.sym.var("fc_weight", lr_mult=0.0)
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(data, weight=w, num_hidden=1,
                                                                name="fc"), name="lro")
    mod = mx.mod.Module(net, label_names=("lro_label",))
    assert mod.data_names == ["data"] and mod.output_names == ["lro_output"]
    mod.bind(data_shapes=[("data", (16, 6))], label_shapes=[("lro_label", (16, 1))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    before, _ = mod.get_params()
    batch = mx.io.DataBatch([nd.array(X)], [nd.array(y.reshape(16, 1))])
    mod.forward(batch, is_train=True)
    out = mod.get_outputs()[0].asnumpy()
    w0, b0 = before["fc_weight"].asnumpy(), before["fc_bias"].asnumpy()
    np.testing.assert_allclose(out, X @ w0.T + b0, rtol=1e-5, atol=1e-6)
    mod.backward()
    mod.update()
    after, _ = mod.get_params()
    np.testing.assert_array_equal(after["fc_weight"].asnumpy(), w0)   # lr_mult 0
    # LinearRegressionOutput: grad (out - label), summed over the batch, rescale 1/16
    want = b0 - 0.5 * (out[:, 0] - y).sum() / 16
    np.testing.assert_allclose(after["fc_bias"].asnumpy(), want, rtol=1e-5)

    fixed = mx.mod.Module(net, label_names=("lro_label",), fixed_param_names=["fc_bias"])
    fixed.bind(data_shapes=[("data", (16, 6))], label_shapes=[("lro_label", (16, 1))])
    fixed.init_params(arg_params=after)
    fixed.init_optimizer(optimizer_params={"learning_rate": 0.5})
    fixed.forward(batch)
    fixed.backward()
    fixed.update()
    np.testing.assert_array_equal(fixed.get_params()[0]["fc_bias"].asnumpy(),
                                  after["fc_bias"].asnumpy())


def test_predict_and_score_drop_padding():
    X, y = _data(10)
    mod = mx.mod.Module(_mlp_sym())
    it = mx.io.NDArrayIter(X, y, batch_size=4, last_batch_handle="pad")
    mod.bind(it.provide_data, it.provide_label, for_training=False)
    mod.init_params(arg_params={k: nd.array(v) for k, v in _init_params().items()})
    pred = mod.predict(it)
    assert pred.shape == (10, 2)
    p = _init_params()
    z = np.tanh(X @ p["fc1_weight"].T + p["fc1_bias"]) @ p["fc2_weight"].T + p["fc2_bias"]
    ref = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(pred.asnumpy(), ref, rtol=1e-5, atol=1e-6)
    ((name, acc),) = mod.score(it, "acc")
    # as MXNet's score: the padded rows of the last batch are counted
    rows = np.concatenate([np.arange(10), np.arange(2)])
    assert name == "accuracy"
    assert acc == pytest.approx((ref[rows].argmax(1) == y[rows]).mean())
    outs = list(mod.iter_predict(it))
    assert [o[0][0].shape[0] for o in outs] == [4, 4, 2]
    # a different batch size rebinds, keeping the parameters
    one = mod.predict(nd.array(X[:3]))
    np.testing.assert_allclose(one.asnumpy(), ref[:3], rtol=1e-5, atol=1e-6)
    # rebound for training, the same parameters now learn
    mod.bind(it.provide_data, it.provide_label, for_training=True, force_rebind=True)
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    it.reset()
    mod.forward_backward(next(it))
    mod.update()
    assert not np.allclose(mod.get_params()[0]["fc2_weight"].asnumpy(), p["fc2_weight"])


def test_checkpoints_are_mxnet_files_and_load_back(tmp_path):
    X, y = _data(16)
    data = mx.sym.var("data")
    bn = mx.sym.BatchNorm(mx.sym.FullyConnected(data, num_hidden=4, name="fc"), name="bn",
                          fix_gamma=False)
    net = mx.sym.SoftmaxOutput(bn, name="softmax")
    mod = mx.mod.Module(net)
    it = mx.io.NDArrayIter(X, y, batch_size=8)
    prefix = str(tmp_path / "ck")
    mod.fit(it, num_epoch=2, initializer=mx.init.Xavier(),
            optimizer_params={"learning_rate": 0.1},
            epoch_end_callback=mx.callback.do_checkpoint(prefix))
    arg, aux = mod.get_params()
    assert sorted(aux) == ["bn_moving_mean", "bn_moving_var"]
    assert not np.allclose(aux["bn_moving_mean"].asnumpy(), 0)   # training updated them
    assert mxnet_format.is_mxnet_file(f"{prefix}-0002.params")
    _, keys = mxnet_format.read(f"{prefix}-0002.params")
    assert sorted(keys) == sorted([f"arg:{k}" for k in arg] + [f"aux:{k}" for k in aux])
    sym, arg2, aux2 = mx.model.load_checkpoint(prefix, 2)
    assert sym.tojson() == net.tojson()
    for k in arg:
        np.testing.assert_array_equal(arg2[k].asnumpy(), arg[k].asnumpy())
    for k in aux:
        np.testing.assert_array_equal(aux2[k].asnumpy(), aux[k].asnumpy())
    loaded = mx.mod.Module.load(prefix, 2)
    loaded.bind(it.provide_data, it.provide_label, for_training=False)
    np.testing.assert_allclose(loaded.predict(it).asnumpy(), mod.predict(it).asnumpy(),
                               rtol=1e-6)
    mod.save_checkpoint(str(tmp_path / "m"), 7)
    s2, a2, x2 = mx.model.load_checkpoint(str(tmp_path / "m"), 7)
    assert sorted(a2) == sorted(arg) and sorted(x2) == sorted(aux)
    with pytest.raises(mx.MXNetError, match="not 'arg:<name>'"):
        mxnet_format.write(str(tmp_path / "bad-0001.params"), [np.zeros(2)], ["w"])
        (tmp_path / "bad-symbol.json").write_text(net.tojson())
        mx.model.load_checkpoint(str(tmp_path / "bad"), 1)


def test_init_params_errors_and_callbacks(caplog):
    X, y = _data(16)
    mod = mx.mod.Module(_mlp_sym())
    it = mx.io.NDArrayIter(X, y, batch_size=4)
    with pytest.raises(mx.MXNetError, match="bind"):
        mod.init_params()
    mod.bind(it.provide_data, it.provide_label)
    with pytest.raises(mx.MXNetError, match="'fc1_bias' is not in the given"):
        mod.init_params(arg_params={"fc1_weight": nd.zeros((8, 6))})
    with pytest.raises(mx.MXNetError, match="shape"):
        mod.init_params(arg_params={"fc1_weight": nd.zeros((3, 3))}, allow_missing=True)
    mod.init_params(mx.init.Uniform(0.01))
    arg, _ = mod.get_params()
    np.testing.assert_array_equal(arg["fc1_bias"].asnumpy(), 0)   # MXNet's name rule
    assert 0 < np.abs(arg["fc1_weight"].asnumpy()).max() <= 0.01
    with pytest.raises(ValueError, match="not found"):
        mx.mod.Module(_mlp_sym(), data_names=("x",))
    seen = []
    with caplog.at_level(logging.INFO):
        mod2 = mx.mod.Module(_mlp_sym())
        mod2.fit(it, num_epoch=1, batch_end_callback=[mx.callback.Speedometer(4, 2),
                                                      lambda p: seen.append(p.nbatch)],
                 eval_data=it)
    assert seen == [0, 1, 2, 3]
    assert any("samples/sec" in r.getMessage() for r in caplog.records)
    assert any("Validation-accuracy" in r.getMessage() for r in caplog.records)


def test_makeloss_module_without_labels():
    X, _ = _data(8)
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=1, name="fc")
    loss = mx.sym.MakeLoss(mx.sym.square(fc), normalization="batch")
    mod = mx.mod.Module(loss, label_names=None)
    mod.bind(data_shapes=[("data", (8, 6))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "rescale_grad": 1.0})
    params = mod.get_params()[0]
    w, b = params["fc_weight"].asnumpy(), params["fc_bias"].asnumpy()
    mod.forward(mx.io.DataBatch([nd.array(X)]), is_train=True)
    fc_out = X.astype(np.float64) @ w.T.astype(np.float64) + b
    # (atol: an output near 0 is a float32 sum that cancelled; its error is absolute)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), fc_out ** 2, rtol=1e-5, atol=1e-6)
    mod.backward()
    mod.update()
    # MakeLoss(normalization='batch'): d/dfc = 2 fc / 8, summed over the batch for the bias
    # (atol: the new bias is a float32 difference that can cancel to near 0)
    np.testing.assert_allclose(mod.get_params()[0]["fc_bias"].asnumpy(),
                               b - 0.1 * (2 * fc_out).sum() / 8, rtol=1e-5, atol=1e-7)


def test_variable_init_attribute_wins_over_the_module_initializer():
    data = mx.sym.var("data")
    w = mx.sym.var("fc_weight", init=mx.init.Constant(0.5))
    net = mx.sym.FullyConnected(data, weight=w, num_hidden=3, name="fc")
    assert w.attr("__init__") == mx.init.Constant(0.5).dumps()
    mod = mx.mod.Module(net, label_names=None)
    mod.bind(data_shapes=[("data", (2, 4))], for_training=False)
    mod.init_params(mx.init.Uniform(0.01))
    arg, _ = mod.get_params()
    np.testing.assert_array_equal(arg["fc_weight"].asnumpy(), np.full((3, 4), 0.5))
    np.testing.assert_array_equal(arg["fc_bias"].asnumpy(), np.zeros(3))


def _lstm_module_fit(compiled):
    """A Module over an unrolled mx.rnn LSTM (Adam, weight decay), 3 epochs of 5 batches:
    (its parameters, the native calls it made, whether its executor compiled)."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 7, (40, 4)).astype(np.float32)
    y = (X.sum(1) % 3).astype(np.float32)
    cell = mx.rnn.LSTMCell(6, prefix="l_")
    emb = mx.sym.Embedding(mx.sym.var("data"), input_dim=7, output_dim=5, name="emb")
    outs, _ = cell.unroll(4, emb, merge_outputs=False)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(outs[-1], num_hidden=3, name="fc"),
                               name="softmax")
    mod = mx.mod.Module(net)
    init = {"emb_weight": rng.uniform(-.5, .5, (7, 5)),
            "l_i2h_weight": rng.uniform(-.5, .5, (24, 5)), "l_i2h_bias": np.zeros(24),
            "l_h2h_weight": rng.uniform(-.5, .5, (24, 6)), "l_h2h_bias": np.zeros(24),
            "fc_weight": rng.uniform(-.5, .5, (3, 6)), "fc_bias": np.zeros(3)}
    it = mx.io.NDArrayIter(X, y, batch_size=8)
    before = mx.stats()["native_calls"]
    with (contextlib.nullcontext() if compiled else mx.capture.paused()):
        mod.fit(it, num_epoch=3, optimizer="adam",
                optimizer_params={"learning_rate": 0.05, "wd": 1e-3},
                arg_params={k: nd.array(v) for k, v in init.items()}, eval_metric="acc")
    return (mod.get_params()[0], mx.stats()["native_calls"] - before,
            mod._exec._jit is not None)


def test_module_executor_compiles_its_graph_and_trains_as_node_by_node(monkeypatch):
    """After EAGER_FORWARDS forwards the executor runs its graph as one compiled call (with
    step capture paused and compiling disabled, the same fit runs op by op)."""
    from tracegrad.symbol import executor
    monkeypatch.setattr(executor, "EAGER_FORWARDS", 10 ** 9)
    off, _, compiled_off = _lstm_module_fit(compiled=False)
    monkeypatch.undo()
    on, calls, compiled_on = _lstm_module_fit(compiled=True)
    assert not compiled_off and compiled_on
    assert calls >= 2 * 12, calls     # forward + adjoint, and the update, per compiled step
    for k in off:
        np.testing.assert_allclose(on[k].asnumpy(), off[k].asnumpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=k)


def test_an_optimizer_object_ignores_the_symbols_lr_mult_as_in_mxnet():
    """MXNet's Module hands an Optimizer made outside it only idx2name: the variable's
    __lr_mult__ reaches an optimizer made by name (created with sym=), not an object made
    without sym, which updates the weight as if no multiplier were set."""
    def weight_after_one_update(optimizer, **attrs):
        data = mx.sym.var("data")
        w = mx.sym.var("fc_weight", **attrs)
        out = mx.sym.LinearRegressionOutput(
            mx.sym.FullyConnected(data, weight=w, num_hidden=1, name="fc"), name="lro")
        mod = mx.mod.Module(out, data_names=["data"], label_names=["lro_label"])
        mod.bind(data_shapes=[("data", (4, 3))], label_shapes=[("lro_label", (4, 1))])
        mod.init_params(mx.init.Constant(0.5))
        mod.init_optimizer(optimizer=optimizer, optimizer_params=(
            {"learning_rate": 0.1} if isinstance(optimizer, str) else None))
        batch = mx.io.DataBatch([mx.nd.array(np.arange(12).reshape(4, 3) / 10)],
                                [mx.nd.ones((4, 1))])
        mod.forward(batch, is_train=True)
        mod.backward()
        mod.update()
        return mod.get_params()[0]["fc_weight"].asnumpy()

    plain = weight_after_one_update("sgd")
    assert not np.allclose(plain, 0.5)
    np.testing.assert_array_equal(weight_after_one_update("sgd", lr_mult=0.0), 0.5)
    sgd = mx.optimizer.SGD(learning_rate=0.1, rescale_grad=0.25)
    np.testing.assert_allclose(weight_after_one_update(sgd, lr_mult=0.0), plain, rtol=1e-6)


def test_update_without_a_new_backward_applies_the_buffered_gradient_again():
    """MXNet's Module.update reads every gradient buffer, fresh or not: a second update with
    no backward in between (stochastic depth's module whose gate stayed closed) moves the
    weight again with the last gradient and the momentum."""
    net = mx.sym.LinearRegressionOutput(
        mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=1, name="fc"), name="lro")
    x = np.random.RandomState(0).rand(4, 3).astype(np.float32)
    it = mx.io.NDArrayIter(x, np.ones((4, 1), np.float32), 4, label_name="lro_label")
    mod = mx.mod.Module(net, label_names=["lro_label"])
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Constant(0.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                          "momentum": 0.9})
    mod.forward_backward(next(iter(it)))
    # (the bias starts at 0: MXNet initializers give every *_bias zeros)
    g = (x.astype(np.float64) @ np.full((3, 1), 0.1) - 1).T @ x / 4   # rescale 1/4
    w, mom = np.full((1, 3), 0.1), np.zeros((1, 3))
    for _ in range(3):
        mod.update()
        mom = 0.9 * mom - 0.1 * g
        w = w + mom
        np.testing.assert_allclose(mod.get_params()[0]["fc_weight"].asnumpy(), w, rtol=1e-5)


def test_get_params_gives_a_row_sparse_variable_as_a_row_sparse_array():
    """MXNet's Module keeps a parameter declared mx.sym.var(stype='row_sparse') as a
    RowSparseNDArray; get_params pulls every row of it."""
    x = mx.sym.Variable("data", stype="csr")
    w = mx.sym.Variable("w_weight", shape=(5, 2), stype="row_sparse")
    out = mx.sym.LinearRegressionOutput(mx.sym.dot(x, w), mx.sym.var("label"))
    mod = mx.mod.Module(out, label_names=["label"])
    mod.bind([("data", (2, 5))], [("label", (2, 2))])
    mod.init_params(mx.init.Uniform(0.5))
    arg = mod.get_params()[0]["w_weight"]
    assert arg.stype == "row_sparse" and arg.indices.asnumpy().tolist() == [0, 1, 2, 3, 4]
    mod.set_params({"w_weight": arg * 2}, {})
    np.testing.assert_allclose(mod.get_params()[0]["w_weight"].asnumpy(), arg.asnumpy() * 2)


def test_fit_logs_the_epochs_train_metric_though_a_speedometer_resets_it(caplog):
    """MXNet 1.9.1's fit logs `Train-acc` from get_global_name_value() taken after the last
    batch (base_module.py:546): a Speedometer's auto_reset only resets the local count, so
    the epoch's value covers every batch even when the last batch was just logged."""
    X, y = _data(n=30)
    arg = {k: nd.array(v) for k, v in _init_params().items()}
    mod = mx.mod.Module(_mlp_sym())
    train = mx.io.NDArrayIter(X, y, batch_size=10)
    with caplog.at_level(logging.INFO):
        mod.fit(train, num_epoch=1, arg_params=arg, optimizer_params={"learning_rate": 0.0},
                eval_metric="acc", batch_end_callback=mx.callback.Speedometer(10, 1))
    logged = [r.getMessage() for r in caplog.records if "Train-accuracy" in r.getMessage()]
    h = np.tanh(X @ _init_params()["fc1_weight"].T + _init_params()["fc1_bias"])
    pred = (h @ _init_params()["fc2_weight"].T).argmax(1)
    assert logged == [f"Epoch[0] Train-accuracy={(pred == y).mean():f}"]


def test_unmerged_outputs_and_input_grads_are_per_device_lists():
    """merge_multi_context=False gives, per output (per input gradient), the list of its
    per-device arrays (MXNet's DataParallelExecutorGroup.get_outputs / get_input_grads)."""
    X, y = _data(n=4)
    mod = mx.mod.Module(_mlp_sym())
    mod.bind([("data", (4, 6))], [("softmax_label", (4,))], inputs_need_grad=True)
    mod.init_params(arg_params={k: nd.array(v) for k, v in _init_params().items()})
    mod.forward(mx.io.DataBatch([nd.array(X)], [nd.array(y)]), is_train=True)
    mod.backward()
    merged, per_device = mod.get_outputs(), mod.get_outputs(merge_multi_context=False)
    assert len(per_device) == 1 and len(per_device[0]) == 1
    np.testing.assert_array_equal(per_device[0][0].asnumpy(), merged[0].asnumpy())
    grads = mod.get_input_grads(merge_multi_context=False)
    assert len(grads) == 1 and grads[0][0].shape == (4, 6)
    np.testing.assert_array_equal(grads[0][0].asnumpy(), mod.get_input_grads()[0].asnumpy())


def test_set_params_of_a_sub_network_takes_its_own_from_a_whole_checkpoint():
    """MXNet's init_params reads only the module's own names, so set_params with a whole
    model's arg_params binds a feature extractor (get_internals()[...]); with allow_missing
    the arrays go to the executors directly, where an extra name is an error unless
    allow_extra."""
    X, _ = _data(n=4)
    init = _init_params()
    feats = _mlp_sym().get_internals()["fc1_output"]
    mod = mx.mod.Module(feats, label_names=None)
    mod.bind([("data", (4, 6))], for_training=False)
    whole = {k: nd.array(v) for k, v in init.items()}
    mod.set_params(whole, {})
    mod.forward(mx.io.DataBatch([nd.array(X)], []), is_train=False)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(),
                               X @ init["fc1_weight"].T + init["fc1_bias"], rtol=1e-5)
    with pytest.raises(mx.base.MXNetError, match=r"fc2_weight.*allow_extra"):
        mod.set_params(whole, {}, allow_missing=True)
    mod.set_params(whole, {}, allow_missing=True, allow_extra=True)
    with pytest.raises(mx.base.MXNetError, match="fc1_bias"):
        mod.set_params({"fc1_weight": whole["fc1_weight"]}, {})


def test_save_and_load_optimizer_states_continue_the_same_adam_run(tmp_path):
    # MXNet's Module.save_optimizer_states / load_optimizer_states (speech_recognition's
    # STTBucketingModule.save_checkpoint calls the first on its _curr_module)
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    net = mx.sym.LinearRegressionOutput(fc, name="lro")
    rs = np.random.RandomState(0)
    batch = mx.io.DataBatch([mx.nd.array(rs.randn(4, 3))], [mx.nd.array(rs.randn(4, 2))])

    def module():
        mod = mx.mod.Module(net, label_names=["lro_label"])
        mod.bind([("data", (4, 3))], [("lro_label", (4, 2))])
        return mod

    a = module()
    with pytest.raises(mx.MXNetError, match="save_optimizer_states: call init_optimizer"):
        a.save_optimizer_states(str(tmp_path / "s"))
    a.init_params(mx.init.Uniform(0.5))
    a.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.1})
    for _ in range(2):
        a.forward_backward(batch)
        a.update()
    a.save_optimizer_states(str(tmp_path / "adam.states"))
    b = module()
    b.set_params(*a.get_params())
    b.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.1})
    b.load_optimizer_states(str(tmp_path / "adam.states"))
    for mod in (a, b):                   # the third step: moments and the count carried over
        mod.forward_backward(batch)
        mod.update()
    for k, v in a.get_params()[0].items():
        np.testing.assert_allclose(b.get_params()[0][k].asnumpy(), v.asnumpy(), rtol=1e-6)
    fresh = module()
    fresh.set_params(*a.get_params())
    fresh.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.1})
    fresh.forward_backward(batch)
    fresh.update()                        # (without the states the step differs)
    a.forward_backward(batch)
    a.update()
    assert not np.allclose(fresh.get_params()[0]["fc_bias"].asnumpy(),
                           a.get_params()[0]["fc_bias"].asnumpy())


def test_set_params_allowing_missing_leaves_the_missing_ones_as_they_are():
    # (fine-tuning from a checkpoint without the new head: MXNet's init_params copies what it
    # is given and, with no initializer, leaves the rest)
    data = mx.sym.var("data")
    net = mx.sym.FullyConnected(mx.sym.FullyConnected(data, num_hidden=4, name="body"),
                                num_hidden=2, name="head")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind(data_shapes=[("data", (3, 5))])
    mod.init_params(mx.init.Uniform(0.5))
    head_before = mod.get_params()[0]["head_weight"].asnumpy().copy()
    body = {"body_weight": nd.ones((4, 5)), "body_bias": nd.zeros((4,))}
    mod.set_params(body, {}, allow_missing=True, force_init=True)
    arg, _ = mod.get_params()
    np.testing.assert_array_equal(arg["body_weight"].asnumpy(), np.ones((4, 5)))
    np.testing.assert_array_equal(arg["head_weight"].asnumpy(), head_before)
    with pytest.raises(mx.MXNetError, match="'head_weight' is not in the given parameters"):
        mod.set_params(body, {}, force_init=True)


def test_states_carry_an_rnn_state_between_forwards_and_are_set_by_value_or_arrays():
    """state_names inputs (MXNet's stateful modules): set_states(value=) fills them,
    set_states(states=) copies outputs in (per device lists, as get_outputs gives them), and
    the next forward reads them; merged outputs of a several-device module are copies the
    next forward does not overwrite, as MXNet's merge makes them."""
    data, s = mx.sym.var("data"), mx.sym.var("s")
    h = mx.sym.tanh(mx.sym.FullyConnected(data, num_hidden=3, name="fc") + s)
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    x = np.ones((2, 4), np.float32)
    for contexts in (mx.cpu(), [mx.cpu(0), mx.cpu(1)]):
        mod = mx.mod.Module(h, ("data",), None, context=contexts, state_names=["s"])
        mod.bind([("data", (2, 4))], for_training=False)
        mod.init_params(arg_params={"fc_weight": nd.array(w), "fc_bias": nd.zeros(3)})
        batch = mx.io.DataBatch([nd.array(x)], [])
        mod.set_states(value=1)
        np.testing.assert_array_equal(mod.get_states()[0].asnumpy(), np.ones((2, 3)))
        mod.forward(batch)
        first = mod.get_outputs()[0]
        want1 = np.tanh(x @ w.T + 1)
        np.testing.assert_allclose(first.asnumpy(), want1, rtol=1e-6)
        mod.set_states(states=mod.get_outputs(merge_multi_context=False))
        np.testing.assert_allclose(mod.get_states(merge_multi_context=False)[0][0].asnumpy(),
                                   want1, rtol=1e-6)
        mod.forward(batch)
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), np.tanh(x @ w.T + want1),
                                   rtol=1e-6)
        if isinstance(contexts, list):
            np.testing.assert_allclose(first.asnumpy(), want1, rtol=1e-6)
        with pytest.raises(mx.MXNetError, match="exactly one"):
            mod.set_states()
        with pytest.raises(mx.MXNetError, match="state 's' has shape"):
            mod.set_states(states=[nd.ones((3, 3))])


def test_bind_refuses_a_shape_that_is_not_ints_and_set_params_extra_is_a_value_error():
    mod = mx.mod.Module(_mlp_sym())
    with pytest.raises(TypeError, match="'data' must be a tuple of ints"):
        mod.bind([("data", nd.array([4, 6]))], [("softmax_label", (4,))])
    assert not mod.binded
    mod.bind([("data", (4, 6))], [("softmax_label", (4,))])
    mod.init_params()
    extra = {k: nd.array(v) for k, v in _init_params().items()}
    extra["fc3_weight"] = nd.ones((2, 2))
    with pytest.raises(ValueError, match=r"\['fc3_weight'\] are not parameters"):
        mod.set_params(extra, {}, allow_missing=True, allow_extra=False, force_init=True)
    mod.set_params(extra, {}, allow_missing=True, allow_extra=True, force_init=True)
    np.testing.assert_array_equal(mod.get_params()[0]["fc1_weight"].asnumpy(),
                                  _init_params()["fc1_weight"])
    assert mx.sym.var("b", shape=1).attr("__shape__") == "(1,)"


def test_bind_grad_req_as_mxnet_resolves_it():
    """grad_req as a str reaches the parameters not fixed and, with inputs_need_grad, the
    data ('null': no input gradient, get_input_grads gives None); a dict overrides those
    defaults per argument; a list goes by position; anything else is refused."""
    X, _ = _data(n=4)
    batch = mx.io.DataBatch([nd.array(X)], [nd.array(np.zeros(4))])
    arg = {k: nd.array(v) for k, v in _init_params().items()}
    mod = mx.mod.Module(_mlp_sym())
    mod.bind([("data", (4, 6))], [("softmax_label", (4,))], inputs_need_grad=True,
             grad_req="null")
    mod.init_params(arg_params=arg)
    mod.forward(batch, is_train=True)
    mod.backward()
    assert mod.get_input_grads() == [None]
    mod = mx.mod.Module(_mlp_sym())
    mod.bind([("data", (4, 6))], [("softmax_label", (4,))], inputs_need_grad=True,
             grad_req={"fc1_weight": "null", "data": "write"})
    mod.init_params(arg_params=arg)
    mod.forward(batch, is_train=True)
    mod.backward()
    assert mod.get_input_grads()[0].shape == (4, 6)
    assert mod._params["fc1_weight"].grad_req == "null"
    assert mod._params["fc2_weight"].grad_req == "write"
    with pytest.raises(ValueError, match="grad_req of 'data'"):
        mx.mod.Module(_mlp_sym()).bind([("data", (4, 6))], [("softmax_label", (4,))],
                                       grad_req={"data": "sometimes"})
    args = _mlp_sym().list_arguments()
    mod = mx.mod.Module(_mlp_sym())
    mod.bind([("data", (4, 6))], [("softmax_label", (4,))],
             grad_req=["add" if a == "fc2_bias" else "write" for a in args])
    assert mod._params["fc2_bias"].grad_req == "add"
