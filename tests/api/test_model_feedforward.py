"""mx.model.FeedForward (MXNet 1.x's deprecated model API, example/rnn/old): fit on numpy
data is SGD with rescale_grad 1 / batch, predict / score run the trained parameters, save /
load round-trip them; a symbol function of the bucket key trains through bucketing."""
import numpy as np
import pytest

import tracegrad as mx


def _softmax_fc():
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax")


def test_fit_is_one_sgd_step_per_batch_and_predict_score_use_the_result(tmp_path):
    rs = np.random.RandomState(0)
    x = rs.randn(4, 5).astype(np.float32)
    y = np.array([0, 2, 1, 2], np.float32)
    w0, b0 = rs.randn(3, 5).astype(np.float32) * 0.1, np.zeros(3, np.float32)
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward(_softmax_fc(), num_epoch=1, numpy_batch_size=4,
                                     learning_rate=0.1,
                                     arg_params={"fc_weight": mx.nd.array(w0),
                                                 "fc_bias": mx.nd.array(b0)})
    model.fit(x, y)
    z = x @ w0.T + b0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = p - np.eye(3)[y.astype(int)]
    np.testing.assert_allclose(model.arg_params["fc_weight"].asnumpy(),
                               w0 - 0.1 * (g.T @ x) / 4, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.arg_params["fc_bias"].asnumpy(), b0 - 0.1 * g.sum(0) / 4,
                               rtol=1e-5, atol=1e-6)
    w1, b1 = model.arg_params["fc_weight"].asnumpy(), model.arg_params["fc_bias"].asnumpy()
    z1 = x @ w1.T + b1
    want = np.exp(z1 - z1.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5)
    it = mx.io.NDArrayIter(x, y, batch_size=3)          # a padded last batch: cut off
    out, data, label = model.predict(it, return_data=True)
    np.testing.assert_allclose(out, want, rtol=1e-5)
    np.testing.assert_array_equal(data, x)
    np.testing.assert_array_equal(label, y)
    assert model.score(mx.io.NDArrayIter(x, y, batch_size=4)) == \
        np.mean(want.argmax(1) == y)
    model.save(str(tmp_path / "ff"))
    with pytest.warns(DeprecationWarning):
        loaded = mx.model.FeedForward.load(str(tmp_path / "ff"), 1)
    np.testing.assert_allclose(loaded.predict(x), want, rtol=1e-6)
    with pytest.raises(ValueError, match="y must be specified"):
        model.fit(x)


def test_a_symbol_function_trains_through_bucketing():
    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        emb = mx.sym.Embedding(data, input_dim=6, output_dim=4, name="embed")
        pooled = mx.sym.sum(emb, axis=1)
        return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(pooled, num_hidden=2, name="fc"),
                                    name="softmax")

    class Buckets(mx.io.DataIter):
        def __init__(self):
            super().__init__(batch_size=2)
            self.default_bucket_key = 3
            self.provide_data = [mx.io.DataDesc("data", (2, 3))]
            self.provide_label = [mx.io.DataDesc("softmax_label", (2,))]

        def __iter__(self):
            for key in (3, 2, 3):
                data = mx.nd.array(np.arange(2 * key).reshape(2, key) % 6)
                yield mx.io.DataBatch([data], [mx.nd.array([0, 1])], bucket_key=key,
                                      provide_data=[mx.io.DataDesc("data", (2, key))],
                                      provide_label=self.provide_label)

        def reset(self):
            pass

    mx.random.seed(7)       # (the initial weights: 6 updates learn the rows from these)
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward(sym_gen, num_epoch=2, learning_rate=0.5,
                                     initializer=mx.init.Xavier())
    model.fit(Buckets())
    assert set(model.arg_params) == {"embed_weight", "fc_weight", "fc_bias"}
    assert model.score(Buckets()) == 1.0     # two fixed rows, learned


def test_epoch_size_makes_epochs_of_that_many_batches_and_reads_on():
    # MXNet's _train_multi_device: an epoch is epoch_size batches; the iterator is reset when
    # it runs out within an epoch, and not at an epoch's end (the next one reads on). The
    # labels are the rows' numbers: a metric sees which rows each batch held
    x = np.ones((10, 5), np.float32)
    it = mx.io.NDArrayIter(x, np.arange(10, dtype=np.float32), batch_size=2,
                           label_name="softmax_label")
    rows, counts = [], []
    metric = mx.metric.CustomMetric(lambda label, pred: rows.append(int(label[0])) or 0.0)
    sym = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=10),
                               name="softmax")
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward(sym, num_epoch=3, epoch_size=3, learning_rate=0.0)
    model.fit(it, eval_metric=metric,
              batch_end_callback=lambda p: counts.append((p.epoch, p.nbatch)))
    assert rows == [0, 2, 4, 6, 8, 0, 2, 4, 6]     # 5 batches of data, 3 per epoch
    # (MXNet's FeedForward counts a batch done before its callback: 1, 2, 3)
    assert counts == [(e, n) for e in range(3) for n in (1, 2, 3)]


def test_epoch_size_must_be_a_positive_count():
    with pytest.warns(DeprecationWarning), pytest.raises(mx.MXNetError, match="epoch_size"):
        mx.model.FeedForward(_softmax_fc(), num_epoch=1, epoch_size=0)


def test_predict_does_not_read_the_iterators_labels(tmp_path):
    # kaggle-ndsb2/Train.py: predict on a CSVIter without label_csv (a dummy (batch, 1)
    # label) under LogisticRegressionOutput of width 4; MXNet binds the predictor on the data
    # shapes only (model.py _init_predictor), so the label shape is inferred, not read
    rs = np.random.RandomState(0)
    x = rs.rand(3, 5)
    np.savetxt(tmp_path / "d.csv", x, delimiter=",")
    w, b = rs.randn(4, 5).astype(np.float32), rs.randn(4).astype(np.float32)
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward(mx.sym.LogisticRegressionOutput(fc, name="softmax"),
                                     arg_params={"fc_weight": mx.nd.array(w),
                                                 "fc_bias": mx.nd.array(b)})
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(5,), batch_size=1)
    np.testing.assert_allclose(model.predict(it), 1 / (1 + np.exp(-(x @ w.T + b))),
                               rtol=1e-5)


def test_a_module_bound_without_label_shapes_ignores_the_batchs_labels():
    # MXNet's executor group has no label arrays then (executor_group.py forward loads
    # labels only into label_arrays): the label's shape is the one inferred at bind
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    mod = mx.mod.Module(mx.sym.LinearRegressionOutput(fc, name="lro"),
                        label_names=["lro_label"])
    mod.bind([("data", (2, 3))], None, for_training=False)
    mod.init_params(mx.init.One())
    batch = mx.io.DataBatch([mx.nd.ones((2, 3))], [mx.nd.zeros((2,))])
    mod.forward(batch)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), np.full((2, 2), 3.0))


def test_predict_on_an_iterator_without_labels():
    # kaggle-ndsb1/predict_dsb.py reads a test set without labels: the SoftmaxOutput's label
    # is an input of the graph all the same (its shape inferred from the data)
    rs = np.random.RandomState(1)
    w, b = rs.randn(3, 5).astype(np.float32), rs.randn(3).astype(np.float32)
    with pytest.warns(DeprecationWarning):
        model = mx.model.FeedForward(_softmax_fc(), arg_params={"fc_weight": mx.nd.array(w),
                                                                "fc_bias": mx.nd.array(b)})
    x = rs.randn(4, 5).astype(np.float32)
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(mx.io.NDArrayIter(x, batch_size=2)),
                               p / p.sum(1, keepdims=True), rtol=1e-5)
