"""d2l.ai chapters 9-10 (encoder-decoder, attention), MXNet edition: npx.sequence_mask, the
masked softmax, additive / scaled dot-product / multi-head attention (npx.batch_dot), the
sinusoidal positional encoding, Nadaraya-Watson kernel regression (boolean-mask indexing,
batch_dot, a trained scalar parameter), the masked softmax cross-entropy of seq2seq, and a GRU
encoder-decoder trained on a copy task with teacher forcing."""
import math

import numpy as onp

import tracegrad as mx
from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn, rnn

from d2l_book import (AdditiveAttention, DotProductAttention, MaskedSoftmaxCELoss,
                      MultiHeadAttention, PositionalEncoding, masked_softmax, transpose_output,
                      transpose_qkv)


def f64(a):
    return a.asnumpy().astype('f8')


def test_sequence_mask():
    X = np.array([[1, 2, 3], [4, 5, 6]])
    out = npx.sequence_mask(X, np.array([1, 2]), True, axis=1)
    onp.testing.assert_array_equal(out.asnumpy(), [[1, 0, 0], [4, 5, 0]])
    X = np.ones((2, 3, 4))
    out = npx.sequence_mask(X, np.array([1, 2]), True, value=-1, axis=1)
    want = onp.ones((2, 3, 4))
    want[0, 1:] = -1
    want[1, 2:] = -1
    onp.testing.assert_array_equal(out.asnumpy(), want)
    # axis 0 (time-major, the default): lengths index the batch axis 1
    out = npx.sequence_mask(np.ones((3, 2)), np.array([2, 1]), use_sequence_length=True)
    onp.testing.assert_array_equal(out.asnumpy(), [[1, 1], [1, 0], [0, 0]])


def _softmax_ref(x, lens):
    x = x.copy()
    out = onp.zeros_like(x)
    for idx in onp.ndindex(x.shape[:-1]):
        n = int(lens[idx])
        e = onp.exp(x[idx][:n] - x[idx][:n].max())
        out[idx][:n] = e / e.sum()
    return out


def test_masked_softmax_with_1d_and_2d_valid_lengths():
    X = np.random.uniform(size=(2, 2, 4))
    out = masked_softmax(X, np.array([2, 3]))
    lens = onp.array([[2, 2], [3, 3]])
    onp.testing.assert_allclose(f64(out), _softmax_ref(f64(X), lens), rtol=1e-5, atol=1e-7)
    lens2 = onp.array([[1, 3], [2, 4]])
    out = masked_softmax(X, np.array(lens2))
    onp.testing.assert_allclose(f64(out), _softmax_ref(f64(X), lens2), rtol=1e-5, atol=1e-7)
    onp.testing.assert_allclose(f64(masked_softmax(X, None)), _softmax_ref(
        f64(X), onp.full((2, 2), 4)), rtol=1e-5)
    # npx.masked_softmax with a boolean mask gives the same
    mask = np.array(onp.arange(4)[None, None, :] < lens2[..., None])
    onp.testing.assert_allclose(f64(npx.masked_softmax(X, mask)), _softmax_ref(f64(X), lens2),
                                rtol=1e-5, atol=1e-7)


def _qkv():
    queries = np.random.normal(0, 1, (2, 1, 20))
    keys = np.ones((2, 10, 2))
    values = np.arange(40).reshape(1, 10, 4).repeat(2, axis=0)
    return queries, keys, values, np.array([2, 6])


def test_additive_attention():
    queries, keys, values, valid_lens = _qkv()
    attention = AdditiveAttention(num_hiddens=8, dropout=0.1)
    attention.initialize()
    out = attention(queries, keys, values, valid_lens)
    assert out.shape == (2, 1, 4)
    # identical keys: uniform weights over the valid positions (dropout is off outside record)
    v = f64(values)
    onp.testing.assert_allclose(f64(out), [v[0, :2].mean(0, keepdims=True),
                                           v[1, :6].mean(0, keepdims=True)], rtol=1e-5)
    w = f64(attention.attention_weights)
    onp.testing.assert_allclose(w[0, 0], [0.5] * 2 + [0] * 8, rtol=1e-6, atol=1e-7)


def test_dot_product_attention():
    queries, keys, values, valid_lens = _qkv()
    queries = np.random.normal(0, 1, (2, 1, 2))
    attention = DotProductAttention(dropout=0.5)
    attention.initialize()
    out = attention(queries, keys, values, valid_lens)
    v = f64(values)
    onp.testing.assert_allclose(f64(out), [v[0, :2].mean(0, keepdims=True),
                                           v[1, :6].mean(0, keepdims=True)], rtol=1e-5)
    # general queries and keys against numpy
    rs = onp.random.RandomState(0)
    q, k, vv = rs.randn(3, 4, 5), rs.randn(3, 6, 5), rs.randn(3, 6, 2)
    lens = onp.array([6, 3, 1])
    out = attention(np.array(q), np.array(k), np.array(vv), np.array(lens))
    scores = onp.einsum('bqd,bkd->bqk', q, k) / math.sqrt(5)
    w = _softmax_ref(scores, onp.repeat(lens[:, None], 4, axis=1))
    onp.testing.assert_allclose(f64(out), onp.einsum('bqk,bkv->bqv', w, vv), rtol=1e-4,
                                atol=1e-6)


def test_multi_head_attention_shapes_and_head_reshapes():
    num_hiddens, num_heads = 100, 5
    attention = MultiHeadAttention(num_hiddens, num_heads, 0.5)
    attention.initialize()
    batch_size, num_queries, num_kvpairs = 2, 4, 6
    valid_lens = np.array([3, 2])
    X = np.ones((batch_size, num_queries, num_hiddens))
    Y = np.ones((batch_size, num_kvpairs, num_hiddens))
    out = attention(X, Y, Y, valid_lens)
    assert out.shape == (batch_size, num_queries, num_hiddens)
    assert attention.attention.attention_weights.shape == (batch_size * num_heads, num_queries,
                                                           num_kvpairs)
    Z = np.random.normal(size=(2, 3, 20))
    split = transpose_qkv(Z, 4)
    assert split.shape == (8, 3, 5)
    onp.testing.assert_array_equal(f64(split)[1], f64(Z)[0, :, 5:10])
    onp.testing.assert_array_equal(transpose_output(split, 4).asnumpy(), Z.asnumpy())
    with autograd.record():
        l = attention(X, Y, Y, valid_lens).sum()
    l.backward()
    assert float(np.abs(attention.W_q.weight.grad()).sum()) > 0


def test_positional_encoding():
    encoding_dim, num_steps = 32, 60
    pos = PositionalEncoding(encoding_dim, 0)
    pos.initialize()
    X = pos(np.zeros((1, num_steps, encoding_dim)))
    P = f64(X)[0]
    i = onp.arange(num_steps)[:, None] / onp.power(10000, onp.arange(0, encoding_dim, 2)
                                                    / encoding_dim)
    onp.testing.assert_allclose(P[:, 0::2], onp.sin(i), atol=2e-6)
    onp.testing.assert_allclose(P[:, 1::2], onp.cos(i), atol=2e-6)


def test_nadaraya_watson_regression():
    np.random.seed(0)
    n_train = 30
    x_train = np.sort(np.random.rand(n_train) * 5)

    def f(x):
        return 2 * np.sin(x) + x ** 0.8

    y_train = f(x_train) + np.random.normal(0.0, 0.5, (n_train,))
    x_test = np.arange(0, 5, 0.1)
    X_repeat = x_test.repeat(n_train).reshape((-1, n_train))
    weights = npx.softmax(-(X_repeat - x_train) ** 2 / 2)
    y_hat = np.dot(weights, y_train)
    xt, xr, yr = f64(x_test), f64(x_train), f64(y_train)
    w = onp.exp(-(xt[:, None] - xr[None]) ** 2 / 2)
    w /= w.sum(1, keepdims=True)
    onp.testing.assert_allclose(f64(y_hat), w @ yr, rtol=1e-4)

    class NWKernelRegression(nn.Block):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = self.params.get('w', shape=(1,))

        def forward(self, queries, keys, values):
            queries = queries.repeat(keys.shape[1]).reshape((-1, keys.shape[1]))
            self.attention_weights = npx.softmax(
                -((queries - keys) * self.w.data()) ** 2 / 2)
            return npx.batch_dot(np.expand_dims(self.attention_weights, 1),
                                 np.expand_dims(values, -1)).reshape(-1)

    X_tile = np.tile(x_train, (n_train, 1))
    Y_tile = np.tile(y_train, (n_train, 1))
    off_diagonal = (1 - np.eye(n_train)).astype('bool')
    keys = X_tile[off_diagonal].reshape((n_train, -1))
    values = Y_tile[off_diagonal].reshape((n_train, -1))
    assert keys.shape == (n_train, n_train - 1)
    onp.testing.assert_array_equal(f64(keys)[1], onp.delete(xr, 1))
    net = NWKernelRegression()
    net.initialize()
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
    losses = []
    for _ in range(5):
        with autograd.record():
            l = loss(net(x_train, keys, values), y_train)
        l.backward()
        trainer.step(1)
        losses.append(float(l.sum()))
    assert losses[-1] < losses[0]


def test_masked_softmax_ce_loss():
    loss = MaskedSoftmaxCELoss()
    out = loss(np.ones((3, 4, 10)), np.ones((3, 4)), np.array([4, 2, 0]))
    onp.testing.assert_allclose(out.asnumpy(), [math.log(10), math.log(10) / 2, 0], rtol=1e-5)


class Seq2SeqEncoder(nn.Block):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn.GRU(num_hiddens, num_layers, dropout=dropout)

    def forward(self, X, *args):
        X = self.embedding(X).swapaxes(0, 1)
        state = self.rnn.begin_state(batch_size=X.shape[1], ctx=X.ctx)
        output, state = self.rnn(X, state)
        return output, state


class Seq2SeqDecoder(nn.Block):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn.GRU(num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Dense(vocab_size, flatten=False)

    def init_state(self, enc_outputs, *args):
        return enc_outputs[1]

    def forward(self, X, state):
        X = self.embedding(X).swapaxes(0, 1)
        context = state[0][-1]
        context = np.broadcast_to(context, (X.shape[0], context.shape[0], context.shape[1]))
        output, state = self.rnn(np.concatenate((X, context), 2), state)
        return self.dense(output).swapaxes(0, 1), state


class EncoderDecoder(nn.Block):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def forward(self, enc_X, dec_X, *args):
        enc_outputs = self.encoder(enc_X, *args)
        return self.decoder(dec_X, self.decoder.init_state(enc_outputs, *args))


def test_seq2seq_shapes():
    encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    encoder.initialize()
    X = np.zeros((4, 7))
    output, state = encoder(X)
    assert output.shape == (7, 4, 16) and len(state) == 1 and state[0].shape == (2, 4, 16)
    decoder = Seq2SeqDecoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    decoder.initialize()
    out, state = decoder(X, decoder.init_state(encoder(X)))
    assert out.shape == (4, 7, 10) and state[0].shape == (2, 4, 16)


def test_seq2seq_training_loss_decreases():
    """The book's train_seq2seq step (teacher forcing with <bos>, masked loss, clipping) on a
    copy task."""
    mx.random.seed(2)
    rs = onp.random.RandomState(2)
    vocab, steps, batch = 8, 5, 16
    src = rs.randint(3, vocab, (batch, steps))
    valid = rs.randint(2, steps + 1, batch)
    for i, n in enumerate(valid):
        src[i, n:] = 1  # <pad>
    X, X_valid_len = np.array(src), np.array(valid)
    Y, Y_valid_len = X, X_valid_len
    net = EncoderDecoder(Seq2SeqEncoder(vocab, 8, 16, 1), Seq2SeqDecoder(vocab, 8, 16, 1))
    net.initialize(init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.02})
    loss = MaskedSoftmaxCELoss()
    losses = []
    for _ in range(6):
        with autograd.record():
            bos = np.array([2] * Y.shape[0]).reshape(-1, 1)
            dec_input = np.concatenate([bos, Y[:, :-1]], 1)
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len)
        l.backward()
        num_tokens = float(Y_valid_len.sum())
        trainer.step(num_tokens)
        losses.append(float(l.sum()) / num_tokens)
    assert losses[-1] < 0.9 * losses[0], losses
