"""MXNet 1.x's example/rnn/bucketing programs (lstm_bucketing.py, cudnn_rnn_bucketing.py),
as written there after `import tracegrad as mx`, on a small synthetic corpus: sentences
encoded with mx.rnn.encode_sentences, batched by length with mx.rnn.BucketSentenceIter, a
stacked mx.rnn.LSTMCell unrolled per bucket by sym_gen, trained by mx.mod.BucketingModule
with the Perplexity metric; the fused variant trains a FusedRNNCell, checkpoints it with
do_rnn_checkpoint and scores the unfused stack loaded with load_rnn_checkpoint."""
import logging
import random

import numpy as np

import tracegrad as mx

INVALID, START = 0, 1


def _corpus(n, seed):
    """Sentences of 3-8 words over 12 words where each word follows from the one before
    (a learnable language)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(12)]
    out = []
    for _ in range(n):
        length = int(rng.integers(3, 9))
        first = int(rng.integers(0, 12))
        out.append([words[(first + 5 * k) % 12] for k in range(length)])
    return out


def _seed(k):
    """BucketSentenceIter shuffles with Python's random and numpy's, as MXNet's does."""
    mx.random.seed(k)
    np.random.seed(k)
    random.seed(k)


class _Val:
    """The validation sentences; `fresh()` batches them the same way every time (the
    iterator shuffles its rows in place at every reset, so a reused one would not)."""

    def __init__(self, vocab, batch_size, buckets):
        self.sentences, _ = mx.rnn.encode_sentences(_corpus(64, 1), vocab=vocab,
                                                    start_label=START, invalid_label=INVALID)
        self.batch_size, self.buckets = batch_size, buckets

    def fresh(self):
        _seed(99)
        return mx.rnn.BucketSentenceIter([list(x) for x in self.sentences], self.batch_size,
                                         buckets=self.buckets, invalid_label=INVALID)


def _ppl(model, val):
    return dict(model.score(val.fresh(), mx.metric.Perplexity(INVALID)))["perplexity"]


def _data(batch_size, buckets):
    train, vocab = mx.rnn.encode_sentences(_corpus(256, 0), start_label=START,
                                           invalid_label=INVALID)
    it_train = mx.rnn.BucketSentenceIter(train, batch_size, buckets=buckets,
                                         invalid_label=INVALID)
    val = _Val(vocab, batch_size, buckets)
    return it_train, val, vocab


def test_lstm_bucketing_trains_and_perplexity_falls():
    _seed(0)
    batch_size, num_hidden, num_embed = 16, 16, 8
    buckets = [4, 8]
    data_train, data_val, vocab = _data(batch_size, buckets)
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=num_hidden, prefix=f"lstm_l{i}_"))

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=len(vocab) + 1,
                                 output_dim=num_embed, name="embed")
        stack.reset()
        outputs, states = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=len(vocab) + 1, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)

    model = mx.mod.BucketingModule(sym_gen=sym_gen,
                                   default_bucket_key=data_train.default_bucket_key,
                                   context=mx.cpu())
    before = None
    logged = []

    class Capture(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())
    handler = Capture()
    logging.getLogger().addHandler(handler)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    try:
        model.bind(data_train.provide_data, data_train.provide_label)
        model.init_params(initializer=mx.init.Xavier(factor_type="in", magnitude=2.34))
        before = _ppl(model, data_val)
        model.fit(train_data=data_train, eval_data=data_val.fresh(),
                  eval_metric=mx.metric.Perplexity(INVALID), optimizer="adam",
                  optimizer_params={"learning_rate": 0.03, "wd": 1e-5},
                  num_epoch=3,
                  batch_end_callback=mx.callback.Speedometer(batch_size, 10,
                                                             auto_reset=False))
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)
    after = _ppl(model, data_val)
    assert before > 8.0, before        # about the vocabulary size untrained
    assert after < 2.0, (before, after)  # each word determines the next
    assert any("Validation-perplexity" in m for m in logged), logged[-5:]
    # every bucket's module shares the default bucket's parameters
    arg, _ = model.get_params()
    assert arg["lstm_l0_i2h_weight"].shape == (4 * num_hidden, num_embed)
    assert len(model._buckets) == len(buckets)


def test_fused_cell_bucketing_checkpoints_and_scores_unfused(tmp_path, monkeypatch):
    # (the executors evaluate node by node here: the first test covers compiled buckets,
    # and this one's point is the checkpoint of unpacked weights)
    from tracegrad.symbol import executor
    monkeypatch.setattr(executor, "EAGER_FORWARDS", 10 ** 9)
    _seed(1)
    batch_size, num_hidden, num_embed = 16, 24, 16
    buckets = [4, 8]
    data_train, data_val, vocab = _data(batch_size, buckets)
    cell = mx.rnn.FusedRNNCell(num_hidden, num_layers=2, mode="lstm", prefix="lstm_")

    def sym_gen_for(rnn_cell):
        def sym_gen(seq_len):
            data = mx.sym.Variable("data")
            label = mx.sym.Variable("softmax_label")
            embed = mx.sym.Embedding(data=data, input_dim=len(vocab) + 1,
                                     output_dim=num_embed, name="embed")
            rnn_cell.reset()
            outputs, _ = rnn_cell.unroll(seq_len, inputs=embed, merge_outputs=True)
            pred = mx.sym.Reshape(outputs, shape=(-1, num_hidden))
            pred = mx.sym.FullyConnected(data=pred, num_hidden=len(vocab) + 1, name="pred")
            label = mx.sym.Reshape(label, shape=(-1,))
            pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
            return pred, ("data",), ("softmax_label",)
        return sym_gen

    prefix = str(tmp_path / "fused")
    model = mx.mod.BucketingModule(sym_gen=sym_gen_for(cell),
                                   default_bucket_key=data_train.default_bucket_key)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # the NTC-layout advice
        model.fit(train_data=data_train, eval_metric=mx.metric.Perplexity(INVALID),
                  optimizer="adam", optimizer_params={"learning_rate": 0.03},
                  initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
                  num_epoch=3, epoch_end_callback=mx.rnn.do_rnn_checkpoint(cell, prefix, 1))
        fused_ppl = _ppl(model, data_val)
    assert fused_ppl < 4.0, fused_ppl      # about 13 untrained

    # inference with the unfused stack, from the checkpoint of unpacked weights
    stack = cell.unfuse()
    _, arg_params, aux_params = mx.rnn.load_rnn_checkpoint(stack, prefix, 3)
    assert "lstm_l0_i2h_weight" in arg_params and "lstm_parameters" not in arg_params
    test_model = mx.mod.BucketingModule(sym_gen=sym_gen_for(stack),
                                        default_bucket_key=data_train.default_bucket_key)
    test_model.bind(data_train.provide_data, data_train.provide_label, for_training=False)
    test_model.set_params(arg_params, aux_params)
    unfused_ppl = _ppl(test_model, data_val)
    np.testing.assert_allclose(unfused_ppl, fused_ppl, rtol=1e-4)
