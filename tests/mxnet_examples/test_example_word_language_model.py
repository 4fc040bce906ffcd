"""example/gluon/word_language_model run as its train.py runs it: WikiText2 from
gluon.contrib.data.text (here read from small tokens files in MXNet's layout), batches by
IntervalSampler, the RNNModel hybridized, and `--export-model`, which exports a block whose
forward takes a nested [h, c] state."""
import collections
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon
from tracegrad.gluon import contrib, nn, rnn


class RNNModel(gluon.HybridBlock):
    """The example's model.py (LSTM mode only)."""

    def __init__(self, mode, vocab_size, num_embed, num_hidden,
                 num_layers, dropout=0.5, tie_weights=False, **kwargs):
        super(RNNModel, self).__init__(**kwargs)
        with self.name_scope():
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(vocab_size, num_embed,
                                        weight_initializer=mx.init.Uniform(0.1))
            self.rnn = rnn.LSTM(num_hidden, num_layers, dropout=dropout,
                                input_size=num_embed)
            if tie_weights:
                self.decoder = nn.Dense(vocab_size, in_units=num_hidden,
                                        params=self.encoder.params)
            else:
                self.decoder = nn.Dense(vocab_size, in_units=num_hidden)
            self.num_hidden = num_hidden

    def hybrid_forward(self, F, inputs, hidden):
        emb = self.drop(self.encoder(inputs))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output.reshape((-1, self.num_hidden)))
        return decoded, hidden

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)


def _write_corpus(root):
    rng = np.random.RandomState(0)
    words = ["w%d" % i for i in range(12)]
    for name, n in (("train", 40), ("valid", 12), ("test", 12)):
        with open(root / ("wiki.%s.tokens" % name), "w", encoding="utf8") as f:
            for i in range(n):
                start, k = rng.randint(0, 12), rng.randint(3, 7)
                f.write(" " + " ".join(words[(start + j) % 12] for j in range(k)) + " \n")
                if i % 5 == 0:
                    f.write(" \n")      # blank lines get no <eos>


def test_wikitext2_reads_mxnet_layout_and_indexes_by_frequency(tmp_path):
    _write_corpus(tmp_path)
    train = contrib.data.text.WikiText2(str(tmp_path), "train", seq_len=5)
    vocab = train.vocabulary
    text = (tmp_path / "wiki.train.tokens").read_text()
    counts = collections.Counter(text.split())
    assert train.frequencies == counts
    # <unk> then the reserved <eos>, then the tokens by count (ties by token)
    assert vocab.idx_to_token[:2] == ["<unk>", "<eos>"]
    ranked = sorted(sorted(counts.items()), key=lambda kv: kv[1], reverse=True)
    assert vocab.idx_to_token[2:] == [t for t, _ in ranked]
    stream = []
    for line in text.splitlines():
        if line.split():
            stream += [vocab.token_to_idx[w] for w in line.split()] + [1]
    rows = (len(stream) - 1) // 5
    assert len(train) == rows
    data, label = train[3]
    assert data.dtype == np.int32 and data.shape == (5,)
    np.testing.assert_array_equal(data.asnumpy(), stream[15:20])
    np.testing.assert_array_equal(label.asnumpy(), stream[16:21])
    val = contrib.data.text.WikiText2(str(tmp_path), "validation", vocab=vocab, seq_len=5)
    assert val.vocabulary is vocab
    with pytest.raises(FileNotFoundError, match="wiki.test.tokens"):
        contrib.data.text.WikiText2(str(tmp_path / "nowhere"), "test")
    with pytest.raises(ValueError, match="segment"):
        contrib.data.text.WikiText2(str(tmp_path), "dev")


def test_train_loop_learns_and_export_keeps_the_nested_state(tmp_path):
    _write_corpus(tmp_path)
    mx.random.seed(0)
    bptt, batch_size = 5, 2
    train_dataset = contrib.data.text.WikiText2(str(tmp_path), "train", seq_len=bptt)
    vocab = train_dataset.vocabulary
    nbatch_train = len(train_dataset) // batch_size
    train_data = gluon.data.DataLoader(
        train_dataset, batch_size=batch_size,
        sampler=contrib.data.IntervalSampler(len(train_dataset), nbatch_train),
        last_batch="discard")
    model = RNNModel("lstm", len(vocab), 8, 8, 1, 0.0, True)
    model.hybridize()
    model.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(model.collect_params(), "sgd",
                            {"learning_rate": 2.0, "momentum": 0, "wd": 0})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for epoch in range(4):
        total_L, n = 0.0, 0
        hidden = model.begin_state(func=mx.nd.zeros, batch_size=batch_size)
        for data, target in train_data:
            data, target = data.T, target.T.reshape((-1, 1))
            hidden = [h.detach() for h in hidden]
            with autograd.record():
                output, hidden = model(data, hidden)
                L = loss(output, target) / (bptt * batch_size)
                L.backward()
            grads = [p.grad() for p in model.collect_params().values()]
            gluon.utils.clip_global_norm(grads, 0.25 * bptt * batch_size)
            trainer.step(1)
            total_L += mx.nd.sum(L).asscalar()
            n += 1
        losses.append(total_L / n)
    assert losses[-1] < losses[0] - 0.2, losses
    assert math.exp(losses[-1]) < len(vocab)

    # --export-model: data0 = tokens, data1 / data2 = the [h, c] state, outputs flattened
    hidden = model.begin_state(func=mx.nd.zeros, batch_size=batch_size)
    out, (h, c) = model(data, hidden)
    prefix = str(tmp_path / "model")
    model.export(prefix)
    imported = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data0", "data1", "data2"],
                                         prefix + "-0000.params")
    got = imported(data, *hidden)
    assert len(got) == 3
    for g, want in zip(got, (out, h, c)):
        np.testing.assert_allclose(g.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6)
