"""More of MXNet's example/gluon programs, shortened to a few synthetic steps: the VAE
(a HybridBlock drawing F.random_normal, KL term, hybridized Adam training over NDArrayIter),
word_language_model (Embedding -> LSTM -> Dense with tied weights, begin_state, detached
hidden states, clip_global_norm, perplexity) and a DCGAN generator of Conv2DTranspose layers
(shapes, one adversarial round with fake.detach())."""
import math

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn, rnn


class VAE(gluon.HybridBlock):
    def __init__(self, n_hidden=8, n_latent=2, n_output=6, batch_size=4, **kwargs):
        super().__init__(**kwargs)
        self.soft_zero, self.n_latent, self.batch_size = 1e-10, n_latent, batch_size
        self.output = self.mu = None
        with self.name_scope():
            self.encoder = nn.HybridSequential(prefix="encoder")
            self.encoder.add(nn.Dense(n_hidden, activation="tanh"))
            self.encoder.add(nn.Dense(n_latent * 2, activation=None))
            self.decoder = nn.HybridSequential(prefix="decoder")
            self.decoder.add(nn.Dense(n_hidden, activation="tanh"))
            self.decoder.add(nn.Dense(n_output, activation="sigmoid"))

    def hybrid_forward(self, F, x):
        h = self.encoder(x)
        mu_lv = F.split(h, axis=1, num_outputs=2)
        mu, lv = mu_lv[0], mu_lv[1]
        self.mu = mu
        eps = F.random_normal(loc=0, scale=1, shape=(self.batch_size, self.n_latent))
        z = mu + F.exp(0.5 * lv) * eps
        y = self.decoder(z)
        self.output = y
        kl = 0.5 * F.sum(1 + lv - mu * mu - F.exp(lv), axis=1)
        logloss = F.sum(x * F.log(y + self.soft_zero) + (1 - x) * F.log(1 - y + self.soft_zero),
                        axis=1)
        return -logloss - kl


def test_vae_loss_is_reconstruction_plus_kl_and_training_lowers_it():
    mx.random.seed(1)
    x = nd.array((np.random.RandomState(0).rand(16, 6) > 0.5).astype(np.float32))
    net = VAE()
    net.initialize(mx.init.Xavier())
    loss = net(x[:4]).asnumpy()
    h = net.encoder(x[:4]).asnumpy().astype(np.float64)
    mu, lv = h[:, :2], h[:, 2:]
    y, xs = net.output.asnumpy().astype(np.float64), x[:4].asnumpy()
    np.testing.assert_allclose(net.mu.asnumpy(), mu, rtol=1e-6)
    want = -(xs * np.log(y + 1e-10) + (1 - xs) * np.log(1 - y + 1e-10)).sum(1) \
        - 0.5 * (1 + lv - mu * mu - np.exp(lv)).sum(1)
    np.testing.assert_allclose(loss, want, rtol=1e-5)

    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    it = mx.io.NDArrayIter(data={"data": x}, batch_size=4, shuffle=True)
    totals = []
    for _ in range(6):
        it.reset()
        total = 0.0
        for batch in it:
            with autograd.record():
                loss = net(batch.data[0])
            loss.backward()
            trainer.step(batch.data[0].shape[0])
            total += nd.sum(loss).asscalar()
        totals.append(total)
    assert totals[-1] < totals[0] and all(math.isfinite(t) for t in totals)


class RNNModel(gluon.Block):
    def __init__(self, mode, vocab_size, num_embed, num_hidden, num_layers, dropout=0.5,
                 tie_weights=False, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(vocab_size, num_embed,
                                        weight_initializer=mx.init.Uniform(0.1))
            layer = rnn.LSTM if mode == "lstm" else rnn.GRU
            self.rnn = layer(num_hidden, num_layers, dropout=dropout, input_size=num_embed)
            if tie_weights:
                self.decoder = nn.Dense(vocab_size, in_units=num_hidden,
                                        params=self.encoder.params)
            else:
                self.decoder = nn.Dense(vocab_size, in_units=num_hidden)
            self.num_hidden = num_hidden

    def forward(self, inputs, hidden):
        emb = self.drop(self.encoder(inputs))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output.reshape((-1, self.num_hidden)))
        return decoded, hidden

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)


def _detach(hidden):
    if isinstance(hidden, (tuple, list)):
        return [_detach(h) for h in hidden]
    return hidden.detach()


def test_word_language_model_tied_lstm_trains_with_clipping():
    mx.random.seed(2)
    vocab, bptt, batch = 12, 4, 3
    corpus = nd.array(np.random.RandomState(1).randint(0, vocab, (bptt * 3 + 1, batch)))
    for mode, tied in [("lstm", True)]:     # (each variant compiles its own step: one)
        model = RNNModel(mode, vocab, 6, 6, 2, 0.2, tied)
        model.initialize(mx.init.Xavier())
        if tied:
            assert model.decoder.weight is model.encoder.weight
        trainer = gluon.Trainer(model.collect_params(), "sgd",
                                {"learning_rate": 1.0, "momentum": 0, "wd": 0})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        epoch_ppl = []
        for _ in range(2):
            total, count = 0.0, 0
            hidden = model.begin_state(func=mx.nd.zeros, batch_size=batch, ctx=mx.cpu())
            for i in range(0, corpus.shape[0] - 1, bptt):
                data, target = corpus[i:i + bptt], corpus[i + 1:i + 1 + bptt]
                hidden = _detach(hidden)
                with autograd.record():
                    output, hidden = model(data, hidden)
                    loss = loss_fn(output, target.reshape((-1,)))
                    loss.backward()
                grads = [p.grad(mx.cpu()) for p in model.collect_params().values()]
                norm = gluon.utils.clip_global_norm(grads, 0.25 * bptt * batch)
                after = math.sqrt(sum((g.asnumpy().astype(np.float64) ** 2).sum()
                                      for g in grads))
                assert after <= max(norm, 0.25 * bptt * batch) * (1 + 1e-5)
                trainer.step(batch)
                total += nd.sum(loss).asscalar()
                count += loss.size
            epoch_ppl.append(math.exp(total / count))
        assert epoch_ppl[1] < epoch_ppl[0] < vocab * 2, (mode, epoch_ppl)
        hidden = model.begin_state(func=mx.nd.zeros, batch_size=batch)
        out, hidden = model(corpus[:bptt], hidden)
        assert out.shape == (bptt * batch, vocab)
        assert [h.shape for h in hidden] == [(2, batch, 6)] * (2 if mode == "lstm" else 1)


def test_dcgan_generator_of_transposed_convolutions_and_an_adversarial_round():
    mx.random.seed(3)
    ngf, ndf, nz, batch = 4, 4, 3, 2
    net_g = nn.Sequential()
    with net_g.name_scope():
        net_g.add(nn.Conv2DTranspose(ngf * 2, 4, 1, 0, use_bias=False), nn.BatchNorm(),
                  nn.Activation("relu"))
        net_g.add(nn.Conv2DTranspose(ngf, 4, 2, 1, use_bias=False), nn.BatchNorm(),
                  nn.Activation("relu"))
        net_g.add(nn.Conv2DTranspose(1, 4, 2, 1, use_bias=False), nn.Activation("tanh"))
    net_d = nn.Sequential()
    with net_d.name_scope():
        net_d.add(nn.Conv2D(ndf, 4, 2, 1, use_bias=False), nn.LeakyReLU(0.2))
        net_d.add(nn.Conv2D(ndf * 2, 4, 2, 1, use_bias=False), nn.BatchNorm(),
                  nn.LeakyReLU(0.2))
        net_d.add(nn.Conv2D(1, 4, 1, 0, use_bias=False))
    net_g.initialize(mx.init.Normal(0.02))
    net_d.initialize(mx.init.Normal(0.02))
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    trainer_g = gluon.Trainer(net_g.collect_params(), "adam",
                              {"learning_rate": 0.0002, "beta1": 0.5})
    trainer_d = gluon.Trainer(net_d.collect_params(), "adam",
                              {"learning_rate": 0.0002, "beta1": 0.5})
    real, fake_label = nd.ones((batch,)), nd.zeros((batch,))
    data = nd.array(np.random.RandomState(2).rand(batch, 1, 16, 16) * 2 - 1)
    noise = mx.nd.random.normal(0, 1, shape=(batch, nz, 1, 1))
    with autograd.record():
        err_real = loss(net_d(data).reshape((-1, 1)), real)
        fake = net_g(noise)
        err_fake = loss(net_d(fake.detach()).reshape((-1, 1)), fake_label)
        (err_real + err_fake).backward()
    assert fake.shape == (batch, 1, 16, 16) and np.abs(fake.asnumpy()).max() <= 1
    assert all(p.grad_req == "null" or np.all(p.grad().asnumpy() == 0)
               for p in net_g.collect_params().values())    # detach kept G out
    g_before = net_g[0].weight.data().asnumpy().copy()
    trainer_d.step(batch)
    with autograd.record():
        err_g = loss(net_d(net_g(noise)).reshape((-1, 1)), real)
    err_g.backward()
    trainer_g.step(batch)
    assert not np.allclose(net_g[0].weight.data().asnumpy(), g_before)
    assert np.isfinite(err_g.asnumpy()).all()
