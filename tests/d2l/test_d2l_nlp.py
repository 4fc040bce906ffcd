"""d2l.ai chapters 15-16 (NLP pretraining and applications), MXNet edition, on tiny synthetic
corpora: word2vec's skip-gram with negative sampling (nn.Embedding, npx.batch_dot, the masked
SigmoidBCELoss with the book's printed values, batchify through a DataLoader, Adam, cosine
neighbours with npx.topk), sentiment analysis with a bidirectional LSTM and with TextCNN
(corr1d, Conv1D, GlobalMaxPool1D, a frozen constant embedding via grad_req 'null'), and
BERT's pieces (PositionWiseFFN, AddNorm, TransformerEncoderBlock on MultiHeadAttention, the
BERTEncoder with a learned position Parameter, MaskLM, NextSentencePred, the pretraining loss
with masked-LM weights) trained a few Adam steps."""
import math
import random

import numpy as onp

import tracegrad as mx
from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn, rnn

from d2l_book import MultiHeadAttention


def f64(a):
    return a.asnumpy().astype('f8')


# ------------------------------------------------------------------ word2vec
def skip_gram(center, contexts_and_negatives, embed_v, embed_u):
    v = embed_v(center)
    u = embed_u(contexts_and_negatives)
    pred = npx.batch_dot(v, u.swapaxes(1, 2))
    return pred


def batchify(data):
    """Centers, padded contexts + negatives, masks and labels of one minibatch."""
    max_len = max(len(c) + len(n) for _, c, n in data)
    centers, contexts_negatives, masks, labels = [], [], [], []
    for center, context, negative in data:
        cur_len = len(context) + len(negative)
        centers += [center]
        contexts_negatives += [context + negative + [0] * (max_len - cur_len)]
        masks += [[1] * cur_len + [0] * (max_len - cur_len)]
        labels += [[1] * len(context) + [0] * (max_len - len(context))]
    return (np.array(centers).reshape((-1, 1)), np.array(contexts_negatives),
            np.array(masks), np.array(labels))


def test_embedding_skip_gram_shapes_and_the_masked_bce_loss():
    embed = nn.Embedding(input_dim=20, output_dim=4)
    embed.initialize()
    assert embed.weight.shape == (20, 4)
    x = np.array([[1, 2, 3], [4, 5, 6]])
    assert embed(x).shape == (2, 3, 4)
    onp.testing.assert_array_equal(embed(x)[1, 2].asnumpy(), embed.weight.data()[6].asnumpy())
    assert skip_gram(np.ones((2, 1)), np.ones((2, 4)), embed, embed).shape == (2, 1, 4)

    loss = gluon.loss.SigmoidBCELoss()
    pred = np.array([[1.1, -2.2, 3.3, -4.4]] * 2)
    label = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
    out = loss(pred, label, mask) * mask.shape[1] / mask.sum(axis=1)
    onp.testing.assert_allclose(out.asnumpy(), [0.93521017, 1.8462094], rtol=1e-5)

    def sigmd(x):
        return -math.log(1 / (1 + math.exp(-x)))

    onp.testing.assert_allclose(
        out.asnumpy(), [(sigmd(1.1) + sigmd(2.2) + sigmd(-3.3) + sigmd(4.4)) / 4,
                        (sigmd(-1.1) + sigmd(-2.2)) / 2], rtol=1e-5)

    x_1 = (1, [2, 2], [3, 3, 3, 3])
    x_2 = (1, [2, 2, 2], [3, 3])
    batch = batchify((x_1, x_2))
    names = ['centers', 'contexts_negatives', 'masks', 'labels']
    want = [[[1], [1]], [[2, 2, 3, 3, 3, 3], [2, 2, 2, 3, 3, 0]],
            [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], [[1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]]]
    for name, data, w in zip(names, batch, want):
        onp.testing.assert_array_equal(data.asnumpy(), w, err_msg=name)


def _corpus(num_groups=3, group_size=4, seed=0):
    """Token ids in groups that only co-occur within their group (the windows' contexts),
    with negatives drawn from the other groups, as (center, contexts, negatives) triples."""
    rng = random.Random(seed)
    triples = []
    vocab = num_groups * group_size
    for _ in range(96):
        g = rng.randrange(num_groups)
        words = [g * group_size + i for i in range(group_size)]
        center = rng.choice(words)
        contexts = rng.sample([w for w in words if w != center], rng.randint(1, 3))
        others = [w for w in range(vocab) if w // group_size != g]
        negatives = rng.choices(others, k=2 * len(contexts))
        triples.append((center, contexts, negatives))
    return triples, vocab, group_size


def test_word2vec_training_and_similar_tokens():
    mx.random.seed(0)
    triples, vocab_size, group_size = _corpus()
    data_iter = gluon.data.DataLoader(triples, batch_size=32, shuffle=True,
                                      batchify_fn=batchify)
    embed_size = 8
    net = nn.Sequential()
    net.add(nn.Embedding(input_dim=vocab_size, output_dim=embed_size),
            nn.Embedding(input_dim=vocab_size, output_dim=embed_size))
    loss = gluon.loss.SigmoidBCELoss()
    net.initialize(force_reinit=True)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.05})
    epoch_losses = []
    for epoch in range(4):
        total, n = 0.0, 0
        for i, batch in enumerate(data_iter):
            center, context_negative, mask, label = batch
            with autograd.record():
                pred = skip_gram(center, context_negative, net[0], net[1])
                l = (loss(pred.reshape(label.shape), label, mask) *
                     mask.shape[1] / mask.sum(axis=1))
            l.backward()
            trainer.step(center.shape[0])
            total += float(l.sum())
            n += l.size
        epoch_losses.append(total / n)
    assert epoch_losses[-1] < 0.8 * epoch_losses[0], epoch_losses

    def get_similar_tokens(query_token, k, embed):
        W = embed.weight.data()
        x = W[query_token]
        # cosine similarity, with 1e-9 for numerical stability
        cos = np.dot(W, x) / np.sqrt(np.sum(W * W, axis=1) * np.sum(x * x) + 1e-9)
        topk = npx.topk(cos, k=k + 1, ret_typ='indices').asnumpy().astype('int32')
        return [int(i) for i in topk[1:]], cos

    similar, cos = get_similar_tokens(1, 2, net[0])
    assert len(similar) == 2 and 1 not in similar
    c = cos.asnumpy()
    assert c[1] == c.max()
    order = onp.argsort(-c, kind='stable')
    assert set(similar) == set(int(i) for i in order[1:3])


# ------------------------------------------------------------------ sentiment analysis
def _reviews(n=48, steps=10, vocab=16, seed=1):
    """Token sequences whose label says whether 'positive' tokens (< vocab / 2) dominate."""
    rs = onp.random.RandomState(seed)
    y = rs.randint(0, 2, n)
    p = onp.where(y[:, None] == 1, 0.8, 0.2)
    pos = rs.rand(n, steps) < p
    X = onp.where(pos, rs.randint(1, vocab // 2, (n, steps)),
                  rs.randint(vocab // 2, vocab, (n, steps)))
    return np.array(X, dtype='int32'), np.array(y, dtype='int32'), vocab


def train_ch13(net, X, y, loss, trainer, steps):
    losses = []
    for _ in range(steps):
        with autograd.record():
            pred = net(X)
            l = loss(pred, y)
        l.backward()
        trainer.step(l.shape[0])
        losses.append(float(l.mean()))
    return losses


class BiRNN(nn.Block):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, **kwargs):
        super(BiRNN, self).__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.encoder = rnn.LSTM(num_hiddens, num_layers=num_layers, bidirectional=True,
                                input_size=embed_size)
        self.decoder = nn.Dense(2)

    def forward(self, inputs):
        embeddings = self.embedding(inputs.T)
        outputs = self.encoder(embeddings)
        encoding = np.concatenate((outputs[0], outputs[-1]), axis=1)
        outs = self.decoder(encoding)
        return outs


def test_sentiment_birnn_trains():
    mx.random.seed(1)
    X, y, vocab = _reviews()
    net = BiRNN(vocab, 6, 8, 2)
    net.initialize(init.Xavier())
    assert net(X).shape == (X.shape[0], 2)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.02})
    losses = train_ch13(net, X, y, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, 4)
    assert losses[-1] < losses[0], losses


def corr1d(X, K):
    w = K.shape[0]
    Y = np.zeros((X.shape[0] - w + 1))
    for i in range(Y.shape[0]):
        Y[i] = (X[i: i + w] * K).sum()
    return Y


def corr1d_multi_in(X, K):
    return sum(corr1d(x, k) for x, k in zip(X, K))


class TextCNN(nn.Block):
    def __init__(self, vocab_size, embed_size, kernel_sizes, num_channels, **kwargs):
        super(TextCNN, self).__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        # the embedding layer not to be trained
        self.constant_embedding = nn.Embedding(vocab_size, embed_size)
        self.dropout = nn.Dropout(0.5)
        self.decoder = nn.Dense(2)
        # the max-over-time pooling layer has no parameters: one instance is shared
        self.pool = nn.GlobalMaxPool1D()
        self.convs = nn.Sequential()
        for c, k in zip(num_channels, kernel_sizes):
            self.convs.add(nn.Conv1D(c, k, activation='relu'))

    def forward(self, inputs):
        embeddings = np.concatenate((self.embedding(inputs),
                                     self.constant_embedding(inputs)), axis=2)
        embeddings = embeddings.transpose(0, 2, 1)
        encoding = np.concatenate([np.squeeze(self.pool(conv(embeddings)), axis=-1)
                                   for conv in self.convs], axis=1)
        outputs = self.decoder(self.dropout(encoding))
        return outputs


def test_corr1d_matches_conv1d():
    X, K = np.array([0, 1, 2, 3, 4, 5, 6]), np.array([1, 2])
    onp.testing.assert_array_equal(corr1d(X, K).asnumpy(), [2, 5, 8, 11, 14, 17])
    X = np.array([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7, 8]])
    K = np.array([[1, 2], [3, 4], [-1, -3]])
    onp.testing.assert_array_equal(corr1d_multi_in(X, K).asnumpy(), [2, 8, 14, 20, 26, 32])
    conv = nn.Conv1D(1, 2, use_bias=False, in_channels=3)
    conv.initialize(init.Constant(K.reshape(1, 3, 2).astype('float32')))
    onp.testing.assert_array_equal(conv(X.reshape(1, 3, 7).astype('float32')).asnumpy(),
                                   [[[2, 8, 14, 20, 26, 32]]])
    pool = nn.GlobalMaxPool1D()
    assert pool(np.ones((2, 3, 5))).shape == (2, 3, 1)


def test_textcnn_with_a_frozen_embedding_trains():
    mx.random.seed(2)
    X, y, vocab = _reviews(seed=2)
    embed_size, kernel_sizes, nums_channels = 6, [3, 4, 5], [4, 4, 4]
    net = TextCNN(vocab, embed_size, kernel_sizes, nums_channels)
    net.initialize(init.Xavier())
    embeds = np.array(onp.random.RandomState(2).randn(vocab, embed_size), dtype='float32')
    net.embedding.weight.set_data(embeds)
    net.constant_embedding.weight.set_data(embeds)
    net.constant_embedding.collect_params().setattr('grad_req', 'null')
    assert net(X).shape == (X.shape[0], 2)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = train_ch13(net, X, y, loss, trainer, 4)
    assert losses[-1] < losses[0], losses
    onp.testing.assert_array_equal(net.constant_embedding.weight.data().asnumpy(),
                                   embeds.asnumpy())
    assert onp.abs(f64(net.embedding.weight.data()) - f64(embeds)).max() > 1e-4

    def predict_sentiment(net, tokens):
        sequence = np.array(tokens)
        label = np.argmax(net(sequence.reshape(1, -1)), axis=1)
        return 'positive' if label == 1 else 'negative'

    assert predict_sentiment(net, [1, 2, 3, 1, 2]) in ('positive', 'negative')


# ------------------------------------------------------------------ BERT
class PositionWiseFFN(nn.Block):
    def __init__(self, ffn_num_hiddens, ffn_num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = nn.Dense(ffn_num_hiddens, flatten=False, activation='relu')
        self.dense2 = nn.Dense(ffn_num_outputs, flatten=False)

    def forward(self, X):
        return self.dense2(self.dense1(X))


class AddNorm(nn.Block):
    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm()

    def forward(self, X, Y):
        return self.ln(self.dropout(Y) + X)


class TransformerEncoderBlock(nn.Block):
    def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(dropout)
        self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(dropout)

    def forward(self, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class BERTEncoder(nn.Block):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout,
                 max_len=1000, **kwargs):
        super(BERTEncoder, self).__init__(**kwargs)
        self.token_embedding = nn.Embedding(vocab_size, num_hiddens)
        self.segment_embedding = nn.Embedding(2, num_hiddens)
        self.blks = nn.Sequential()
        for _ in range(num_blks):
            self.blks.add(TransformerEncoderBlock(num_hiddens, ffn_num_hiddens, num_heads,
                                                  dropout, True))
        # in BERT, positional embeddings are learnable
        self.pos_embedding = self.params.get('pos_embedding', shape=(1, max_len, num_hiddens))

    def forward(self, tokens, segments, valid_lens):
        X = self.token_embedding(tokens) + self.segment_embedding(segments)
        X = X + self.pos_embedding.data(ctx=X.ctx)[:, :X.shape[1], :]
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X


class MaskLM(nn.Block):
    def __init__(self, vocab_size, num_hiddens, **kwargs):
        super(MaskLM, self).__init__(**kwargs)
        self.mlp = nn.Sequential()
        self.mlp.add(nn.Dense(num_hiddens, flatten=False, activation='relu'))
        self.mlp.add(nn.LayerNorm())
        self.mlp.add(nn.Dense(vocab_size, flatten=False))

    def forward(self, X, pred_positions):
        num_pred_positions = pred_positions.shape[1]
        pred_positions = pred_positions.reshape(-1)
        batch_size = X.shape[0]
        batch_idx = np.arange(0, batch_size)
        batch_idx = np.repeat(batch_idx, num_pred_positions)
        masked_X = X[batch_idx, pred_positions]
        masked_X = masked_X.reshape((batch_size, num_pred_positions, -1))
        mlm_Y_hat = self.mlp(masked_X)
        return mlm_Y_hat


class NextSentencePred(nn.Block):
    def __init__(self, **kwargs):
        super(NextSentencePred, self).__init__(**kwargs)
        self.output = nn.Dense(2)

    def forward(self, X):
        return self.output(X)


class BERTModel(nn.Block):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout,
                 max_len=1000):
        super(BERTModel, self).__init__()
        self.encoder = BERTEncoder(vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                                   num_blks, dropout, max_len)
        self.hidden = nn.Dense(num_hiddens, activation='tanh')
        self.mlm = MaskLM(vocab_size, num_hiddens)
        self.nsp = NextSentencePred()

    def forward(self, tokens, segments, valid_lens=None, pred_positions=None):
        encoded_X = self.encoder(tokens, segments, valid_lens)
        if pred_positions is not None:
            mlm_Y_hat = self.mlm(encoded_X, pred_positions)
        else:
            mlm_Y_hat = None
        nsp_Y_hat = self.nsp(self.hidden(encoded_X[:, 0, :]))
        return encoded_X, mlm_Y_hat, nsp_Y_hat


def get_tokens_and_segments(tokens_a, tokens_b=None):
    tokens = ['<cls>'] + tokens_a + ['<sep>']
    segments = [0] * (len(tokens_a) + 2)
    if tokens_b is not None:
        tokens += tokens_b + ['<sep>']
        segments += [1] * (len(tokens_b) + 1)
    return tokens, segments


def test_transformer_pieces():
    ffn = PositionWiseFFN(4, 8)
    ffn.initialize()
    out = ffn(np.ones((2, 3, 4)))
    assert out.shape == (2, 3, 8)
    onp.testing.assert_allclose(f64(out[0]), f64(out[1]), rtol=1e-6)  # position-wise
    add_norm = AddNorm(0.5)
    add_norm.initialize()
    rs = onp.random.RandomState(0)
    X, Y = rs.randn(2, 3, 4), rs.randn(2, 3, 4)
    Z = add_norm(np.array(X, dtype='float32'), np.array(Y, dtype='float32'))
    s = X + Y
    ref = (s - s.mean(-1, keepdims=True)) / onp.sqrt(s.var(-1, keepdims=True) + 1e-5)
    onp.testing.assert_allclose(f64(Z), ref, rtol=1e-4, atol=1e-5)
    X = np.ones((2, 100, 24))
    valid_lens = np.array([3, 2])
    blk = TransformerEncoderBlock(24, 48, 8, 0.5)
    blk.initialize()
    assert blk(X, valid_lens).shape == (2, 100, 24)
    tokens, segments = get_tokens_and_segments(['a', 'b'], ['c'])
    assert tokens == ['<cls>', 'a', 'b', '<sep>', 'c', '<sep>']
    assert segments == [0, 0, 0, 0, 1, 1]


def test_bert_shapes_and_pretraining_steps():
    mx.random.seed(3)
    vocab_size, num_hiddens, ffn_num_hiddens, num_heads = 30, 16, 32, 2
    num_blks, dropout = 2, 0.1
    encoder = BERTEncoder(vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks,
                          dropout, max_len=16)
    encoder.initialize()
    tokens = np.random.randint(0, vocab_size, (2, 8))
    segments = np.array([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1]])
    encoded_X = encoder(tokens, segments, None)
    assert encoded_X.shape == (2, 8, num_hiddens)
    assert encoder.pos_embedding.shape == (1, 16, num_hiddens)
    mlm = MaskLM(vocab_size, num_hiddens)
    mlm.initialize()
    mlm_positions = np.array([[1, 5, 2], [6, 1, 5]])
    mlm_Y_hat = mlm(encoded_X, mlm_positions)
    assert mlm_Y_hat.shape == (2, 3, vocab_size)
    # the masked positions' encodings go through the MLP: row (1, 0) is position 6 of item 1
    onp.testing.assert_allclose(f64(mlm_Y_hat[1, 0]), f64(mlm.mlp(encoded_X[1:2, 6:7]))[0, 0],
                                rtol=1e-4, atol=1e-5)
    loss = gluon.loss.SoftmaxCELoss()
    mlm_Y = np.array([[7, 8, 9], [10, 20, 30]])
    assert loss(mlm_Y_hat.reshape((-1, vocab_size)), mlm_Y.reshape(-1)).shape == (6,)
    nsp = NextSentencePred()
    nsp.initialize()
    assert nsp(encoded_X).shape == (2, 2)   # Dense flattens (2, 8, 16)

    # pretraining: masked LM (weights 0 on padded prediction slots) + next sentence
    rs = onp.random.RandomState(3)
    batch, steps, n_pred = 8, 8, 2
    net = BERTModel(vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout,
                    max_len=16)
    net.initialize(init.Xavier())
    tokens_X = np.array(rs.randint(5, vocab_size, (batch, steps)), dtype='float32')
    segments_X = np.array([[0] * 4 + [1] * 4] * batch, dtype='float32')
    valid_lens_x = np.array(rs.randint(5, steps + 1, batch), dtype='float32')
    pred_positions_X = np.array(rs.randint(1, 5, (batch, n_pred)), dtype='float32')
    mlm_weights_X = np.array(onp.where(rs.rand(batch, n_pred) < 0.8, 1.0, 0.0),
                             dtype='float32')
    mlm_Y = np.array(rs.randint(5, vocab_size, (batch, n_pred)), dtype='float32')
    nsp_y = np.array(rs.randint(0, 2, batch), dtype='float32')
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})
    ls = []
    for _ in range(4):
        with autograd.record():
            _, mlm_Y_hat, nsp_Y_hat = net(tokens_X, segments_X, valid_lens_x.reshape(-1),
                                          pred_positions_X)
            mlm_l = loss(mlm_Y_hat.reshape((-1, vocab_size)), mlm_Y.reshape(-1),
                         mlm_weights_X.reshape((-1, 1)))
            mlm_l = mlm_l.sum() / (mlm_weights_X.sum() + 1e-8)
            nsp_l = loss(nsp_Y_hat, nsp_y)
            nsp_l = nsp_l.mean()
            l = mlm_l + nsp_l
        l.backward()
        trainer.step(1)
        npx.waitall()
        ls.append((float(mlm_l), float(nsp_l)))
    assert ls[-1][0] < ls[0][0], ls
    assert ls[-1][0] + ls[-1][1] < ls[0][0] + ls[0][1], ls
    # the position embedding is trained (the slice read in forward reaches the Parameter)
    g = f64(net.encoder.pos_embedding.grad())
    assert onp.abs(g[0, :steps]).sum() > 0 and onp.abs(g[0, steps:]).sum() == 0
