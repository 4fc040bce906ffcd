"""d2l.ai chapter 10 (modern recurrent networks), MXNet edition: GRU and LSTM from scratch
(RNNModelScratch, attach_grad parameters, gradient clipping, d2l.sgd), the same cells via
rnn.GRU / rnn.LSTM (the scratch LSTM with the layer's weights computes the layer's outputs; the
GRU layer follows MXNet's gate formula), deep and bidirectional layers (state shapes, the
backward direction is the forward one on the reversed sequence), and the seq2seq
encoder-decoder: MaskedSoftmaxCELoss training with clipping and the greedy prediction loop."""
import math

import numpy as onp

import tracegrad as mx
from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn, rnn

from d2l_book import MaskedSoftmaxCELoss, RNNModel, grad_clipping, sgd

VOCAB, HIDDEN, STEPS, BATCH = 7, 6, 5, 4


def f64(a):
    return a.asnumpy().astype('f8')


def sigmoid(x):
    return 1 / (1 + onp.exp(-x))


# ------------------------------------------------------------------ from scratch
def normal(shape):
    return np.random.normal(scale=0.3, size=shape)


def three():
    return normal((VOCAB, HIDDEN)), normal((HIDDEN, HIDDEN)), np.zeros(HIDDEN)


def get_gru_params():
    W_xz, W_hz, b_z = three()  # update gate
    W_xr, W_hr, b_r = three()  # reset gate
    W_xh, W_hh, b_h = three()  # candidate hidden state
    W_hq, b_q = normal((HIDDEN, VOCAB)), np.zeros(VOCAB)
    params = [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.attach_grad()
    return params


def init_gru_state(batch_size, num_hiddens):
    return (np.zeros(shape=(batch_size, num_hiddens)), )


def gru(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        Z = npx.sigmoid(np.dot(X, W_xz) + np.dot(H, W_hz) + b_z)
        R = npx.sigmoid(np.dot(X, W_xr) + np.dot(H, W_hr) + b_r)
        H_tilda = np.tanh(np.dot(X, W_xh) + np.dot(R * H, W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        Y = np.dot(H, W_hq) + b_q
        outputs.append(Y)
    return np.concatenate(outputs, axis=0), (H,)


def get_lstm_params():
    W_xi, W_hi, b_i = three()  # input gate
    W_xf, W_hf, b_f = three()  # forget gate
    W_xo, W_ho, b_o = three()  # output gate
    W_xc, W_hc, b_c = three()  # candidate memory cell
    W_hq, b_q = normal((HIDDEN, VOCAB)), np.zeros(VOCAB)
    params = [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]
    for param in params:
        param.attach_grad()
    return params


def init_lstm_state(batch_size, num_hiddens):
    return (np.zeros((batch_size, num_hiddens)), np.zeros((batch_size, num_hiddens)))


def lstm(inputs, state, params):
    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = params
    (H, C) = state
    outputs = []
    for X in inputs:
        I = npx.sigmoid(np.dot(X, W_xi) + np.dot(H, W_hi) + b_i)
        F = npx.sigmoid(np.dot(X, W_xf) + np.dot(H, W_hf) + b_f)
        O = npx.sigmoid(np.dot(X, W_xo) + np.dot(H, W_ho) + b_o)
        C_tilda = np.tanh(np.dot(X, W_xc) + np.dot(H, W_hc) + b_c)
        C = F * C + I * C_tilda
        H = O * np.tanh(C)
        Y = np.dot(H, W_hq) + b_q
        outputs.append(Y)
    return np.concatenate(outputs, axis=0), (H, C)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params()
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = npx.one_hot(X.T, self.vocab_size)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size):
        return self.init_state(batch_size, self.num_hiddens)


def sequences(seed, n=BATCH, steps=STEPS):
    """A learnable language: each next token is (token + 1) mod VOCAB."""
    rs = onp.random.RandomState(seed)
    start = rs.randint(0, VOCAB, (n, 1))
    toks = (start + onp.arange(steps + 1)) % VOCAB
    return np.array(toks[:, :-1]), np.array(toks[:, 1:])


def train_epoch_scratch(net, X, Y, lr, steps):
    """train_epoch_ch8 with random sampling: a fresh state each minibatch, clipping at 1,
    d2l.sgd(params, lr, 1) on the mean loss."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    perplexities = []
    for _ in range(steps):
        state = net.begin_state(batch_size=X.shape[0])
        y = Y.T.reshape(-1)
        with autograd.record():
            y_hat, state = net(X, state)
            l = loss(y_hat, y).mean()
        l.backward()
        grad_clipping(net, 1)
        sgd(net.params, lr, batch_size=1)
        perplexities.append(math.exp(float(l)))
    return perplexities


def test_scratch_gru_and_lstm_shapes_and_training():
    mx.random.seed(0)
    X, Y = sequences(0)
    for get_params, init_state, fn, n_state in [(get_gru_params, init_gru_state, gru, 1),
                                                (get_lstm_params, init_lstm_state, lstm, 2)]:
        net = RNNModelScratch(VOCAB, HIDDEN, get_params, init_state, fn)
        state = net.begin_state(X.shape[0])
        Yh, new_state = net(X, state)
        assert Yh.shape == (STEPS * BATCH, VOCAB)
        assert len(new_state) == n_state and new_state[0].shape == (BATCH, HIDDEN)
        ppl = train_epoch_scratch(net, X, Y, lr=2.0, steps=5)
        assert ppl[-1] < 0.95 * ppl[0], (fn.__name__, ppl)


def test_scratch_gru_gradient_matches_finite_differences():
    mx.random.seed(1)
    net = RNNModelScratch(VOCAB, HIDDEN, get_gru_params, init_gru_state, gru)
    X, Y = sequences(1, n=2, steps=3)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    y = Y.T.reshape(-1)

    def value():
        return float(loss(net(X, net.begin_state(2))[0], y).sum())

    with autograd.record():
        l = loss(net(X, net.begin_state(2))[0], y).sum()
    l.backward()
    W_hh = net.params[7]  # the candidate's recurrent weight (reached through R * H)
    analytic = W_hh.grad.asnumpy().copy()
    eps = 1e-2
    for (i, j) in [(0, 0), (2, 3), (5, 1)]:
        old = float(W_hh[i, j])
        W_hh[i, j] = old + eps
        up = value()
        W_hh[i, j] = old - eps
        down = value()
        W_hh[i, j] = old
        onp.testing.assert_allclose((up - down) / (2 * eps), analytic[i, j], rtol=2e-2,
                                    atol=2e-4)


# ------------------------------------------------------------------ the Gluon layers
def layer_params(layer):
    """{'l0_i2h_weight': array, ...} whatever the layer's prefix."""
    return {name.split('_', 1)[1]: p for name, p in layer.collect_params().items()}


def test_scratch_lstm_with_the_layers_weights_computes_rnn_lstm():
    layer = rnn.LSTM(HIDDEN)
    layer.initialize(init.Normal(0.3))
    X = np.random.normal(size=(STEPS, BATCH, VOCAB))
    state = layer.begin_state(batch_size=BATCH)
    assert [s.shape for s in state] == [(1, BATCH, HIDDEN)] * 2
    out, (H, C) = layer(X, state)
    p = {k: f64(v.data()) for k, v in layer_params(layer).items()}
    # MXNet orders the four gates i, f, g (candidate), o in the fused weights
    Wi = onp.split(p['l0_i2h_weight'], 4)
    Wh = onp.split(p['l0_h2h_weight'], 4)
    b = onp.split(p['l0_i2h_bias'] + p['l0_h2h_bias'], 4)
    params = []
    for g in (0, 1, 3, 2):   # the book's order: input, forget, output, candidate
        params += [np.array(Wi[g].T), np.array(Wh[g].T), np.array(b[g])]
    params += [np.array(onp.eye(HIDDEN)), np.zeros(HIDDEN)]   # W_hq = I: Y is H
    Ys, (H2, C2) = lstm(X, init_lstm_state(BATCH, HIDDEN), params)
    onp.testing.assert_allclose(f64(Ys).reshape(STEPS, BATCH, HIDDEN), f64(out), rtol=1e-4,
                                atol=1e-5)
    onp.testing.assert_allclose(f64(H2), f64(H[0]), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(f64(C2), f64(C[0]), rtol=1e-4, atol=1e-5)


def test_rnn_gru_follows_mxnets_gate_formula():
    layer = rnn.GRU(HIDDEN, input_size=VOCAB)
    layer.initialize(init.Uniform(0.5))
    x = onp.random.RandomState(3).randn(STEPS, BATCH, VOCAB).astype('f4')
    out, (H,) = layer(np.array(x), layer.begin_state(batch_size=BATCH))
    p = {k: f64(v.data()) for k, v in layer_params(layer).items()}
    h = onp.zeros((BATCH, HIDDEN))
    outs = []
    for t in range(STEPS):
        i2h_r, i2h_z, i2h_n = onp.split(x[t] @ p['l0_i2h_weight'].T + p['l0_i2h_bias'], 3, 1)
        h2h_r, h2h_z, h2h_n = onp.split(h @ p['l0_h2h_weight'].T + p['l0_h2h_bias'], 3, 1)
        r, z = sigmoid(i2h_r + h2h_r), sigmoid(i2h_z + h2h_z)
        n = onp.tanh(i2h_n + r * h2h_n)
        h = (1 - z) * n + z * h
        outs.append(h)
    onp.testing.assert_allclose(f64(out), onp.stack(outs), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(f64(H[0]), h, rtol=1e-4, atol=1e-5)


def test_deep_rnn_state_shapes_and_training():
    mx.random.seed(2)
    X, Y = sequences(2)
    for layer, n_states in [(rnn.GRU(HIDDEN, num_layers=2), 1),
                            (rnn.LSTM(HIDDEN, num_layers=2), 2)]:
        net = RNNModel(layer, VOCAB)
        net.initialize(init.Xavier())
        state = net.begin_state(batch_size=BATCH)
        assert len(state) == n_states and state[0].shape == (2, BATCH, HIDDEN)
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 1.0})
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        ppl = []
        for _ in range(4):
            state = net.begin_state(batch_size=BATCH)
            with autograd.record():
                y_hat, state = net(X, state)
                l = loss(y_hat, Y.T.reshape(-1)).mean()
            l.backward()
            grad_clipping(net, 1)
            trainer.step(1)
            ppl.append(math.exp(float(l)))
        assert state[0].shape == (2, BATCH, HIDDEN)
        assert ppl[-1] < ppl[0], ppl


def test_bidirectional_lstm_is_forward_and_reversed_forward():
    bi = rnn.LSTM(HIDDEN, num_layers=1, bidirectional=True, input_size=VOCAB)
    bi.initialize(init.Uniform(0.4))
    X = np.random.normal(size=(STEPS, BATCH, VOCAB))
    out, state = bi(X, bi.begin_state(batch_size=BATCH))
    assert out.shape == (STEPS, BATCH, 2 * HIDDEN)
    assert [s.shape for s in state] == [(2, BATCH, HIDDEN)] * 2
    p = layer_params(bi)
    fwd, bwd = rnn.LSTM(HIDDEN, input_size=VOCAB), rnn.LSTM(HIDDEN, input_size=VOCAB)
    for uni, d in [(fwd, 'l0'), (bwd, 'r0')]:
        uni.initialize()
        for k, v in layer_params(uni).items():
            v.set_data(p[d + k[2:]].data())
    of, _ = fwd(X, fwd.begin_state(batch_size=BATCH))
    ob, _ = bwd(X[::-1], bwd.begin_state(batch_size=BATCH))
    onp.testing.assert_allclose(f64(out[:, :, :HIDDEN]), f64(of), rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(f64(out[:, :, HIDDEN:]), f64(ob[::-1]), rtol=1e-5, atol=1e-6)


def test_deep_bidirectional_gru_hybridized_equals_eager():
    class Tagger(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = nn.Embedding(VOCAB, 4)
            self.rnn = rnn.GRU(HIDDEN, num_layers=2, bidirectional=True)
            self.dense = nn.Dense(VOCAB, flatten=False)

        def hybrid_forward(self, F, X):
            return self.dense(self.rnn(self.embedding(X.T)))

    X, Y = sequences(4)
    nets = [Tagger(), Tagger()]
    for net in nets:
        net.initialize(init.Xavier())
        net(X)
    for a, b in zip(nets[0].collect_params().values(), nets[1].collect_params().values()):
        b.set_data(a.data())
    nets[1].hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    runs = []
    for net in nets:
        trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.05})
        losses = []
        for _ in range(2):
            with autograd.record():
                l = loss(net(X), Y.T)
            l.backward()
            trainer.step(X.shape[0])
            losses.append(float(l.mean()))
        runs.append((losses, net(X)))
    assert runs[0][1].shape == (STEPS, BATCH, VOCAB)
    onp.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-5)
    onp.testing.assert_allclose(f64(runs[1][1]), f64(runs[0][1]), rtol=1e-4, atol=1e-5)
    assert float(loss(runs[0][1], Y.T).mean()) < runs[0][0][0]


# ------------------------------------------------------------------ seq2seq
class Seq2SeqEncoder(nn.Block):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn.LSTM(num_hiddens, num_layers, dropout=dropout)

    def forward(self, X, *args):
        X = self.embedding(X)
        X = X.swapaxes(0, 1)
        state = self.rnn.begin_state(batch_size=X.shape[1], ctx=X.ctx)
        output, state = self.rnn(X, state)
        return output, state


class Seq2SeqDecoder(nn.Block):
    """The newer edition's decoder: the state carries the encoder's outputs, so the context
    stays the encoder's last hidden state while the decoder steps."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn.LSTM(num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Dense(vocab_size, flatten=False)

    def init_state(self, enc_all_outputs, *args):
        return enc_all_outputs

    def forward(self, X, state):
        embs = self.embedding(X.T.astype(np.int32))
        enc_output, hidden_state = state
        context = enc_output[-1]
        context = np.tile(context, (embs.shape[0], 1, 1))
        embs_and_context = np.concatenate((embs, context), -1)
        outputs, hidden_state = self.rnn(embs_and_context, hidden_state)
        outputs = self.dense(outputs).swapaxes(0, 1)
        return outputs, [enc_output, hidden_state]


class EncoderDecoder(nn.Block):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def forward(self, enc_X, dec_X, *args):
        enc_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_outputs, *args)
        return self.decoder(dec_X, dec_state)


PAD, BOS, EOS = 0, 1, 2


def predict_seq2seq(net, src_tokens, num_steps):
    """The book's greedy loop: encode, then feed each argmax back as the next input."""
    src_tokens = src_tokens + [EOS]
    enc_valid_len = np.array([len(src_tokens)])
    src_tokens = (src_tokens + [PAD] * num_steps)[:num_steps]  # truncate_pad
    enc_X = np.expand_dims(np.array(src_tokens), axis=0)
    enc_outputs = net.encoder(enc_X, enc_valid_len)
    dec_state = net.decoder.init_state(enc_outputs, enc_valid_len)
    dec_X = np.expand_dims(np.array([BOS]), axis=0)
    output_seq = []
    for _ in range(num_steps):
        Y, dec_state = net.decoder(dec_X, dec_state)
        dec_X = Y.argmax(axis=2)
        pred = dec_X.squeeze(axis=0).astype('int32').item()
        if pred == EOS:
            break
        output_seq.append(pred)
    return output_seq


def bleu(pred_seq, label_seq, k):
    len_pred, len_label = len(pred_seq), len(label_seq)
    score = math.exp(min(0, 1 - len_label / max(len_pred, 1)))
    for n in range(1, k + 1):
        num_matches, label_subs = 0, {}
        for i in range(len_label - n + 1):
            key = tuple(label_seq[i: i + n])
            label_subs[key] = label_subs.get(key, 0) + 1
        for i in range(len_pred - n + 1):
            key = tuple(pred_seq[i: i + n])
            if label_subs.get(key, 0) > 0:
                num_matches += 1
                label_subs[key] -= 1
        score *= math.pow(num_matches / max(len_pred - n + 1, 1), math.pow(0.5, n))
    return score


def test_seq2seq_lstm_training_and_greedy_prediction():
    mx.random.seed(5)
    rs = onp.random.RandomState(5)
    vocab, num_steps, batch = 9, 6, 16
    src = onp.full((batch, num_steps), PAD)
    valid = rs.randint(2, num_steps, batch)
    for i, n in enumerate(valid):
        src[i, :n - 1] = rs.randint(3, vocab, n - 1)
        src[i, n - 1] = EOS
    X, X_valid_len = np.array(src), np.array(valid)
    Y, Y_valid_len = X, X_valid_len   # the copy task
    net = EncoderDecoder(Seq2SeqEncoder(vocab, 8, 16, 2), Seq2SeqDecoder(vocab, 8, 16, 2))
    net.initialize(init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.02})
    loss = MaskedSoftmaxCELoss()
    losses = []
    for _ in range(5):
        with autograd.record():
            bos = np.array([BOS] * Y.shape[0]).reshape(-1, 1)
            dec_input = np.concatenate([bos, Y[:, :-1]], 1)  # teacher forcing
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len)
        l.backward()
        grad_clipping(net, 1)
        num_tokens = float(Y_valid_len.sum())
        trainer.step(num_tokens)
        losses.append(float(l.sum()) / num_tokens)
    assert Y_hat.shape == (batch, num_steps, vocab)
    assert losses[-1] < losses[0], losses
    # greedy decoding one token at a time (carrying the LSTM state) == decoding the whole
    # predicted prefix in one call from the encoder's state
    src_tokens = [int(t) for t in src[0, :valid[0] - 1]]
    pred = predict_seq2seq(net, src_tokens, num_steps)
    assert len(pred) <= num_steps and all(0 <= t < vocab and t != EOS for t in pred)
    enc_X = np.array([(src_tokens + [EOS] + [PAD] * num_steps)[:num_steps]])
    state = net.decoder.init_state(net.encoder(enc_X))
    dec_in = np.array([[BOS] + pred])
    full, _ = net.decoder(dec_in, state)
    onp.testing.assert_array_equal(full.argmax(axis=2).asnumpy()[0, :len(pred)], pred)
    assert bleu([3, 4, 5, 6], [3, 4, 5, 6], 2) == 1.0
    assert bleu([3, 4, 5], [3, 4, 5, 6], 2) < 1.0
