"""mx.mod.BucketingModule: buckets of different sequence lengths train one shared set of
parameters with one optimizer (checked against the same SGD steps in numpy), a parameter only
the long bucket uses is left alone by the short bucket's steps, fit / score / predict over an
iterator of bucketed batches, and MXNet 1.9.1's bucketing checkpoints."""
import types

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.io import DataDesc

V, E, C, B = 10, 4, 3, 4      # vocabulary, embedding size, classes, batch size
LONG = 6                       # the default (largest) bucket


def _sym_gen(seq_len):
    """(batch, seq_len) tokens -> Embedding -> sum over time -> FullyConnected ->
    SoftmaxOutput; the long bucket adds a second FullyConnected ('fc_long') to the logits."""
    data = mx.sym.var("data")
    emb = mx.sym.Embedding(data, input_dim=V, output_dim=E, name="embed")
    h = mx.sym.sum(emb, axis=1)
    out = mx.sym.FullyConnected(h, num_hidden=C, name="fc")
    if seq_len >= LONG:
        out = out + mx.sym.FullyConnected(h, num_hidden=C, name="fc_long")
    return mx.sym.SoftmaxOutput(out, name="softmax"), ("data",), ("softmax_label",)


def _init(seed=1):
    rng = np.random.default_rng(seed)
    return {"embed_weight": rng.standard_normal((V, E)).astype(np.float32) * 0.3,
            "fc_weight": rng.standard_normal((C, E)).astype(np.float32) * 0.3,
            "fc_bias": rng.standard_normal(C).astype(np.float32) * 0.1,
            "fc_long_weight": rng.standard_normal((C, E)).astype(np.float32) * 0.3,
            "fc_long_bias": rng.standard_normal(C).astype(np.float32) * 0.1}


def _batches(keys, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, (B, k)).astype(np.float32),
             rng.integers(0, C, B).astype(np.float32), k) for k in keys]


def _batch(x, y, key):
    return mx.io.DataBatch([nd.array(x)], [nd.array(y)], pad=0, bucket_key=key,
                           provide_data=[DataDesc("data", x.shape)],
                           provide_label=[DataDesc("softmax_label", y.shape)])


def _logits(w, x, key):
    h = w["embed_weight"][x.astype(int)].sum(1)
    z = h @ w["fc_weight"].T + w["fc_bias"]
    if key >= LONG:
        z = z + h @ w["fc_long_weight"].T + w["fc_long_bias"]
    return h, z


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _reference_sgd(init, batches, lr, momentum):
    """MXNet's SGD with momentum on SoftmaxOutput's gradient (rescale_grad 1 / batch), in
    float64; a batch of the short bucket does not touch fc_long (no gradient, no momentum)."""
    w = {k: v.astype(np.float64) for k, v in init.items()}
    mom = {k: np.zeros_like(v) for k, v in w.items()}
    for x, y, key in batches:
        h, z = _logits(w, x, key)
        dz = _softmax(z)
        dz[np.arange(B), y.astype(int)] -= 1
        dz /= B
        g = {"fc_weight": dz.T @ h, "fc_bias": dz.sum(0)}
        dh = dz @ w["fc_weight"]
        if key >= LONG:
            g["fc_long_weight"], g["fc_long_bias"] = dz.T @ h, dz.sum(0)
            dh = dh + dz @ w["fc_long_weight"]
        ge = np.zeros_like(w["embed_weight"])
        idx = x.astype(int)
        np.add.at(ge, idx, np.broadcast_to(dh[:, None, :], idx.shape + (E,)))
        g["embed_weight"] = ge
        for k, gk in g.items():
            mom[k] = momentum * mom[k] - lr * gk
            w[k] = w[k] + mom[k]
    return w


def _bound_module(init, lr=0.5, momentum=0.9, sym_gen=_sym_gen):
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=LONG)
    mod.bind(data_shapes=[("data", (B, LONG))], label_shapes=[("softmax_label", (B,))])
    mod.init_params(arg_params={k: nd.array(v) for k, v in init.items()})
    mod.init_optimizer(optimizer="sgd",
                       optimizer_params={"learning_rate": lr, "momentum": momentum})
    return mod


def _assert_params(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k], rtol=1e-4, atol=1e-5,
                                   err_msg=k)


def test_buckets_train_one_shared_set_of_parameters():
    init = _init()
    # runs of one bucket (long enough for step capture) and alternations
    keys = [LONG, 3, 3, 3, 3, LONG, LONG, LONG, LONG, 3, LONG, 3, 3, LONG]
    batches = _batches(keys)
    mod = _bound_module(init)
    for x, y, key in batches:
        mod.forward(_batch(x, y, key), is_train=True)
        mod.backward()
        mod.update()
    got, aux = mod.get_params()
    assert aux == {}
    _assert_params(got, _reference_sgd(init, batches, 0.5, 0.9))
    assert not np.allclose(got["embed_weight"].asnumpy(), init["embed_weight"])


def test_a_parameter_the_short_bucket_does_not_use_is_left_alone():
    init = _init()
    batches = _batches([LONG, 3, 3, 3, LONG, 3])
    mod = _bound_module(init)
    seen = []
    for x, y, key in batches:
        mod.forward(_batch(x, y, key))
        mod.backward()
        mod.update()
        arg, _ = mod.get_params()
        seen.append({k: v.asnumpy() for k, v in arg.items()})
        assert mod.symbol.list_arguments() == _sym_gen(key)[0].list_arguments()
    for i, (_, _, key) in enumerate(batches[1:], 1):
        changed = not np.array_equal(seen[i]["fc_long_weight"], seen[i - 1]["fc_long_weight"])
        assert changed == (key == LONG), (i, key)     # momentum not applied either
        assert not np.array_equal(seen[i]["fc_weight"], seen[i - 1]["fc_weight"])
    _assert_params(mod.get_params()[0], _reference_sgd(init, batches, 0.5, 0.9))


def test_switch_bucket_binds_each_key_once_and_shares_parameters():
    calls = []

    def counting(key):
        calls.append(key)
        return _sym_gen(key)

    mod = mx.mod.BucketingModule(counting, default_bucket_key=LONG)
    assert mod.data_names == ["data"] and mod.output_names == ["softmax_output"]
    mod.bind([("data", (B, LONG))], [("softmax_label", (B,))])
    mod.init_params(mx.init.Xavier())
    calls.clear()
    for _ in range(3):
        mod.switch_bucket(3, [("data", (B, 3))], [("softmax_label", (B,))])
        assert mod.data_shapes[0].shape == (B, 3)
        mod.switch_bucket(LONG, None)
        assert mod.data_shapes[0].shape == (B, LONG)
    assert calls == [3]
    mod.switch_bucket(3, None)
    assert "fc_long_weight" not in mod.symbol.list_arguments()
    assert mod.output_shapes == [("softmax_output", (B, C))]
    short, long_ = mod._buckets[3], mod._buckets[LONG]
    for name in ("embed_weight", "fc_weight", "fc_bias"):
        assert short._params[name] is long_._params[name]
    # the optimizer is installed after the short bucket exists: it borrows the same Trainer
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    assert short._trainer is long_._trainer and short.optimizer_initialized
    # a value set through the BucketingModule is what every bucket computes with
    x, y, _ = _batches([3])[0]
    init = _init()
    mod.set_params({k: nd.array(v) for k, v in init.items()}, {})
    mod.forward(_batch(x, y, 3), is_train=False)
    want = _softmax(_logits({k: v.astype(np.float64) for k, v in init.items()}, x, 3)[1])
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), want, rtol=1e-5, atol=1e-6)
    assert calls == [3]


class _BucketIter(mx.io.DataIter):
    """Batches of several sequence lengths; provide_data is the default bucket's."""

    def __init__(self, batches):
        super().__init__(B)
        self._batches, self._i = batches, 0
        self.provide_data = [DataDesc("data", (B, LONG))]
        self.provide_label = [DataDesc("softmax_label", (B,))]

    def reset(self):
        self._i = 0

    def next(self):
        if self._i == len(self._batches):
            raise StopIteration
        x, y, key = self._batches[self._i]
        self._i += 1
        return _batch(x, y, key)


def test_fit_over_bucketed_batches_matches_the_same_sgd_steps():
    init = _init(3)
    batches = _batches([3, LONG, 4, 3, LONG, 4], seed=5)
    it = _BucketIter(batches)
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=LONG)
    seen, epochs = [], []
    mod.fit(it, num_epoch=2, optimizer="sgd",
            optimizer_params={"learning_rate": 0.3, "momentum": 0.9},
            arg_params={k: nd.array(v) for k, v in init.items()},
            batch_end_callback=lambda p: seen.append(p.nbatch),
            epoch_end_callback=lambda e, sym, arg, aux: epochs.append((e, sorted(arg))))
    assert seen == [0, 1, 2, 3, 4, 5] * 2
    assert epochs == [(0, sorted(init)), (1, sorted(init))]
    assert sorted(mod._buckets) == [3, 4, LONG]
    _assert_params(mod.get_params()[0], _reference_sgd(init, batches * 2, 0.3, 0.9))


def test_score_and_predict_switch_buckets():
    init = _init(2)
    batches = _batches([3, LONG, 4], seed=7)
    it = _BucketIter(batches)
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=LONG)
    mod.bind(it.provide_data, it.provide_label, for_training=False)
    mod.init_params(arg_params={k: nd.array(v) for k, v in init.items()})
    w = {k: v.astype(np.float64) for k, v in init.items()}
    want = np.concatenate([_softmax(_logits(w, x, k)[1]) for x, _, k in batches])
    pred = mod.predict(it)
    assert pred.shape == (3 * B, C)
    np.testing.assert_allclose(pred.asnumpy(), want, rtol=1e-5, atol=1e-6)
    ((name, acc),) = mod.score(it, "acc")
    labels = np.concatenate([y for _, y, _ in batches])
    assert name == "accuracy"
    assert acc == pytest.approx((want.argmax(1) == labels).mean())
    # a batch without provide_data / provide_label: its arrays give the new bucket's shapes
    x, y, _ = _batches([5], seed=9)[0]
    bare = types.SimpleNamespace(data=[nd.array(x)], label=[nd.array(y)], bucket_key=5, pad=0)
    mod.forward(bare)
    assert mod.data_shapes[0].shape == (B, 5)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), _softmax(_logits(w, x, 5)[1]),
                               rtol=1e-5, atol=1e-6)
    # a batch without a bucket_key runs in the default bucket
    xl, yl, _ = _batches([LONG], seed=11)[0]
    mod.forward(mx.io.DataBatch([nd.array(xl)], [nd.array(yl)]))
    assert mod.symbol.list_arguments() == _sym_gen(LONG)[0].list_arguments()
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(),
                               _softmax(_logits(w, xl, LONG)[1]), rtol=1e-5, atol=1e-6)
    # rebound for training: the parameters are kept and now learn through every bucket
    mod.bind(it.provide_data, it.provide_label, for_training=True, force_rebind=True)
    _assert_params(mod.get_params()[0], w)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    x3, y3, _ = batches[0]
    mod.forward_backward(_batch(x3, y3, 3))
    mod.update()
    _assert_params(mod.get_params()[0], _reference_sgd(init, batches[:1], 0.5, 0.0))


def test_save_checkpoint_and_load_round_trip(tmp_path):
    init = _init(4)
    batches = _batches([LONG, 3, 4], seed=3)
    mod = _bound_module(init, lr=0.2, momentum=0.0)
    for x, y, key in batches:
        mod.forward_backward(_batch(x, y, key))
        mod.update()
    prefix = str(tmp_path / "bk")
    mod.save_checkpoint(prefix, 3)
    for key in (3, 4, LONG):
        assert (tmp_path / f"bk-{key}-symbol.json").exists()
    assert sorted(nd.load(f"{prefix}.buckets")[0].asnumpy().tolist()) == [3, 4, LONG]
    arg, aux = mod.get_params()
    arg2, aux2 = mx.model.load_params(f"{prefix}-0003.params")
    assert sorted(arg2) == sorted(arg) and aux2 == {}
    for k in arg:
        np.testing.assert_array_equal(arg2[k].asnumpy(), arg[k].asnumpy())
    _assert_params(arg, _reference_sgd(init, batches, 0.2, 0.0))

    loaded = mx.mod.BucketingModule.load(prefix, 3, sym_gen=_sym_gen, default_bucket_key=LONG)
    assert loaded.params_initialized
    it = _BucketIter(_batches([4, LONG, 3], seed=8))
    loaded.bind(it.provide_data, it.provide_label, for_training=False)
    for k, v in loaded.get_params()[0].items():
        np.testing.assert_array_equal(v.asnumpy(), arg[k].asnumpy())
    np.testing.assert_allclose(loaded.predict(it).asnumpy(), mod.predict(it).asnumpy(),
                               rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="sym_gen is required"):
        mx.mod.BucketingModule.load(prefix, 3, default_bucket_key=LONG)
    with pytest.raises(mx.MXNetError, match="Empty BucketingModule"):
        mx.mod.BucketingModule(_sym_gen, LONG).save_checkpoint(prefix, 1)


def test_errors():
    # the default bucket must hold every parameter: here the short one is the default
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=3)
    x, y, _ = _batches([LONG])[0]
    with pytest.raises(mx.MXNetError, match="bind"):
        mod.forward(_batch(x, y, LONG))
    mod.bind([("data", (B, 3))], [("softmax_label", (B,))])
    with pytest.raises(mx.MXNetError, match="init_params"):
        mod.forward(_batch(x, y, LONG))
    mod.init_params(mx.init.Xavier())
    with pytest.raises(mx.MXNetError, match="'fc_long_weight' is not in shared_module.*"
                                            "largest bucket"):
        mod.forward(_batch(x, y, LONG))

    def widening(key):   # a parameter whose shape depends on the bucket
        data = mx.sym.var("data")
        fc = mx.sym.FullyConnected(data, num_hidden=key, name="fc")
        return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)

    wide = mx.mod.BucketingModule(widening, default_bucket_key=5)
    wide.bind([("data", (B, 5))], [("softmax_label", (B,))])
    wide.init_params()
    with pytest.raises(mx.MXNetError, match="'fc_weight' has shape \\(4, 3\\) here and "
                                            "\\(5, 5\\) in shared_module"):
        wide.switch_bucket(4, [("data", (B, 3))], [("softmax_label", (B,))])
    with pytest.raises(mx.MXNetError, match="default_bucket_key is required"):
        mx.mod.BucketingModule(_sym_gen)
    with pytest.raises(ValueError, match="not found"):
        mx.mod.BucketingModule(lambda k: (_sym_gen(k)[0], ("x",), ()), default_bucket_key=3)
    with pytest.raises(mx.MXNetError, match="shared_module is not supported"):
        mx.mod.BucketingModule(_sym_gen, LONG).bind([("data", (B, LONG))],
                                                    shared_module=wide)
    unopt = _bound_module(_init())
    unopt.optimizer_initialized = False
    unopt._buckets[LONG].optimizer_initialized = False
    with pytest.raises(mx.MXNetError, match="no optimizer"):
        mx.mod.Module(_sym_gen(3)[0]).borrow_optimizer(unopt._buckets[LONG])


def test_module_bind_with_shared_module_shares_parameters_and_optimizer():
    init = _init()
    big = mx.mod.Module(_sym_gen(LONG)[0])
    big.bind([("data", (B, LONG))], [("softmax_label", (B,))])
    big.init_params(arg_params={k: nd.array(v) for k, v in init.items()})
    big.init_optimizer(optimizer_params={"learning_rate": 0.5})
    small = mx.mod.Module(_sym_gen(3)[0])
    small.bind([("data", (B, 3))], [("softmax_label", (B,))], shared_module=big)
    assert small.params_initialized and small.optimizer_initialized
    x, y, _ = _batches([3])[0]
    small.forward_backward(mx.io.DataBatch([nd.array(x)], [nd.array(y)]))
    small.update()
    want = _reference_sgd(init, [(x, y, 3)], 0.5, 0.0)
    _assert_params(big.get_params()[0], want)
    np.testing.assert_array_equal(big.get_params()[0]["fc_long_weight"].asnumpy(),
                                  init["fc_long_weight"])
