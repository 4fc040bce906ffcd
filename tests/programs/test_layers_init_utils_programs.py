"""Layer, initializer and utility programs from MXNet's tutorials and examples (blocks/init,
training/normalization, gluon/word_language_model, multi-device training): Conv2D/MaxPool/
BatchNorm against numpy, LSTM and GRU layers and unrolled cells agree, initializers'
statistics, split_and_load, clip_global_norm, random seeding."""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn, rnn


def _conv2d(x, w, b):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(h - kh + 1):
        for j in range(wd - kw + 1):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i:i + kh, j:j + kw], w)
    return out + b[None, :, None, None]


def test_conv_pool_batchnorm_match_numpy_eager_and_hybridized():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, kernel_size=3, in_channels=2), nn.MaxPool2D(2, 2),
            nn.BatchNorm(in_channels=4))
    net.initialize(mx.init.Xavier())
    bn = net[2]
    bn.running_mean.set_data(nd.array([0.1, -0.2, 0.3, 0.0]))
    bn.running_var.set_data(nd.array([1.5, 0.5, 2.0, 1.0]))
    x = nd.random.normal(shape=(2, 2, 6, 6))
    conv = _conv2d(x.asnumpy().astype(np.float64), net[0].weight.data().asnumpy(),
                   net[0].bias.data().asnumpy())
    pooled = conv.reshape(2, 4, 2, 2, 2, 2).max(axis=(3, 5))
    rm, rv = bn.running_mean.data().asnumpy(), bn.running_var.data().asnumpy()
    want = (pooled - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    eager = net(x).asnumpy()                               # inference: running statistics
    np.testing.assert_allclose(eager, want, rtol=1e-4, atol=1e-5)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    with autograd.record():                                # training: batch statistics
        train = net(x).asnumpy()
    mean, var = pooled.mean(axis=(0, 2, 3)), pooled.var(axis=(0, 2, 3))
    want_train = (pooled - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(train, want_train, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), 0.9 * rm + 0.1 * mean,
                               rtol=1e-4, atol=1e-6)


def test_lstm_layer_equals_its_unrolled_cell():
    mx.random.seed(0)
    layer = rnn.LSTM(5, num_layers=1, input_size=3)
    layer.initialize()
    cell = rnn.LSTMCell(5, input_size=3)
    cell.initialize()
    for name in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"):
        getattr(cell, name).set_data(getattr(layer, "l0_" + name).data())
    x = nd.random.normal(shape=(4, 2, 3))                    # TNC
    begin = layer.begin_state(batch_size=2)
    out, (h, c) = layer(x, begin)
    outs, (h2, c2) = cell.unroll(4, x, begin_state=cell.begin_state(batch_size=2),
                                 layout="TNC", merge_outputs=True)
    assert out.shape == (4, 2, 5) and h.shape == (1, 2, 5)
    np.testing.assert_allclose(outs.asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c2.asnumpy(), c.asnumpy()[0], rtol=1e-5, atol=1e-6)


def test_gru_language_model_step_reduces_loss():
    class RNNModel(gluon.Block):
        def __init__(self, vocab, **kw):
            super().__init__(**kw)
            with self.name_scope():
                self.encoder = nn.Embedding(vocab, 8)
                self.rnn = rnn.GRU(8, num_layers=2, input_size=8)
                self.decoder = nn.Dense(vocab, in_units=8, flatten=False)

        def forward(self, inputs, hidden):
            output, hidden = self.rnn(self.encoder(inputs), hidden)
            return self.decoder(output), hidden

    mx.random.seed(1)
    model = RNNModel(10)
    model.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 0.05})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    seq = nd.array(np.arange(12).reshape(6, 2) % 10)          # (T, N)
    target = nd.array((np.arange(12).reshape(6, 2) + 1) % 10)
    losses = []
    for _ in range(15):
        hidden = model.rnn.begin_state(batch_size=2)
        with autograd.record():
            out, hidden = model(seq, hidden)
            loss = loss_fn(out.reshape((-1, 10)), target.reshape((-1,)))
        loss.backward()
        grads = [p.grad() for p in model.collect_params().values()]
        norm = gluon.utils.clip_global_norm(grads, 1.0)
        assert np.isscalar(norm)      # MXNet: asscalar() of the norm (a numpy float32)
        trainer.step(1)
        losses.append(loss.mean().asscalar())
    assert losses[-1] < losses[0] * 0.5


def test_initializers_statistics():
    w = nd.zeros((200, 300))
    mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)("w_weight", w)
    bound = np.sqrt(3 / ((200 + 300) / 2))
    assert np.abs(w.asnumpy()).max() <= bound and np.abs(w.asnumpy()).max() > 0.9 * bound
    mx.init.MSRAPrelu(factor_type="in", slope=0.25)("w_weight", w)
    np.testing.assert_allclose(w.asnumpy().std(), np.sqrt(2 / (1 + 0.25 ** 2) / 300), rtol=0.05)
    params = gluon.ParameterDict("m_")
    bias, weight = params.get("bias", shape=(3,)), params.get("weight", shape=(3, 4))
    params.initialize(mx.init.Mixed([".*bias", ".*"], [mx.init.Constant(0.5), mx.init.One()]))
    np.testing.assert_array_equal(bias.data().asnumpy(), 0.5)
    np.testing.assert_array_equal(weight.data().asnumpy(), 1.0)
    net = nn.Dense(3, in_units=4)   # a parameter's own init wins over initialize()'s
    net.initialize(mx.init.Mixed([".*bias", ".*"], [mx.init.Constant(0.5), mx.init.One()]))
    np.testing.assert_array_equal(net.bias.data().asnumpy(), 0.0)
    net.initialize(mx.init.Normal(0.01), force_reinit=True)
    assert net.weight.data().asnumpy().std() < 0.05
    np.testing.assert_array_equal(net.bias.data().asnumpy(), 0.0)    # Dense: zeros bias init


def test_split_and_load_and_per_context_training():
    ctxs = [mx.cpu(0), mx.cpu(1)]
    data = nd.arange(10).reshape((5, 2))
    parts = gluon.utils.split_and_load(data, ctxs, even_split=False)
    assert [p.shape for p in parts] == [(3, 2), (2, 2)]
    assert [p.context for p in parts] == ctxs
    net = nn.Dense(1, in_units=2, use_bias=False)
    net.initialize(mx.init.One(), ctx=ctxs)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        losses = [net(p).sum() for p in parts]
    for l in losses:
        l.backward()
    trainer.step(5)
    want = 1 - 0.1 * data.asnumpy().sum(0) / 5
    for ctx in ctxs:
        np.testing.assert_allclose(net.weight.data(ctx).asnumpy()[0], want, rtol=1e-6)


def test_random_seed_reproduces_draws():
    mx.random.seed(128)
    a = nd.random.normal(shape=(3,)).asnumpy()
    b = nd.random.uniform(shape=(2,)).asnumpy()
    mx.random.seed(128)
    np.testing.assert_array_equal(nd.random.normal(shape=(3,)).asnumpy(), a)
    np.testing.assert_array_equal(nd.random.uniform(shape=(2,)).asnumpy(), b)
    assert mx.context.num_gpus() == 0 and mx.current_context() == mx.cpu()
