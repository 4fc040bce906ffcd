"""example/rnn/bucketing/cudnn_rnn_bucketing.py: train a FusedRNNCell language model in a
BucketingModule, save it with do_rnn_checkpoint, then (its --test path) load the weights into
the unfused cells and score, in float32 and, with --dtype float16, through
amp.convert_bucketing_module."""
import json
import random

import numpy as np
import pytest

import tracegrad as mx
from tracegrad.contrib import amp

BUCKETS = [4, 8]


def _sentences(n, seed):
    rng = np.random.RandomState(seed)
    words = ["w%d" % i for i in range(8)]
    return [[words[(s + j) % 8] for j in range(rng.randint(3, 9))]
            for s in rng.randint(0, 8, n)]


def _val_iter(sentences):
    """A fresh iterator (reset shuffles the rows in place): same seeds, same batches."""
    random.seed(0)
    np.random.seed(0)
    return mx.rnn.BucketSentenceIter(sentences, 8, buckets=BUCKETS, invalid_label=0,
                                     layout='NT')


def _score(model, sentences):
    return model.score(_val_iter(sentences), mx.metric.Perplexity(0))[0][1]


def _sym_gen_for(cell, vocab, num_hidden, layout):
    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        embed = mx.sym.Embedding(data=data, input_dim=len(vocab), output_dim=4, name='embed')
        if layout == 'TNC':
            output, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True, layout='TNC')
        else:
            cell.reset()
            output, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(output, shape=(-1, num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=len(vocab), name='pred')
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name='softmax')
        return pred, ('data',), ('softmax_label',)
    return sym_gen


def test_fused_training_then_unfused_scoring_in_float32_and_float16(tmp_path):
    mx.random.seed(0)
    train_sent, vocab = mx.rnn.encode_sentences(_sentences(48, 0), invalid_label=0,
                                                start_label=1)
    val_sent, _ = mx.rnn.encode_sentences(_sentences(32, 1), vocab=vocab, invalid_label=0,
                                          start_label=1)
    data_train = mx.rnn.BucketSentenceIter(train_sent, 8, buckets=BUCKETS, invalid_label=0,
                                           layout='TN')
    cell = mx.rnn.FusedRNNCell(6, num_layers=1, mode='lstm')
    model = mx.mod.BucketingModule(sym_gen=_sym_gen_for(cell, vocab, 6, 'TNC'),
                                   default_bucket_key=data_train.default_bucket_key,
                                   context=mx.cpu(0))
    prefix = str(tmp_path / "lstm")
    model.fit(train_data=data_train, eval_metric=mx.metric.Perplexity(0), optimizer='sgd',
              optimizer_params={'learning_rate': 0.5, 'wd': 1e-5, 'momentum': 0.0},
              initializer=mx.init.Xavier(factor_type="in", magnitude=2.34), num_epoch=1,
              epoch_end_callback=mx.rnn.do_rnn_checkpoint(cell, prefix, 1))

    # --test: the fused weights unpacked into LSTMCells (layout NT)
    data_val = _val_iter(val_sent)
    stack = mx.rnn.FusedRNNCell(6, num_layers=1, mode='lstm').unfuse()
    test_model = mx.mod.BucketingModule(sym_gen=_sym_gen_for(stack, vocab, 6, 'NTC'),
                                        default_bucket_key=data_val.default_bucket_key,
                                        context=mx.cpu(0))
    test_model.bind(data_val.provide_data, data_val.provide_label, for_training=False)
    _, arg_params, aux_params = mx.rnn.load_rnn_checkpoint(stack, prefix, 1)
    test_model.set_params(arg_params, aux_params)
    ppl32 = _score(test_model, val_sent)
    assert 1 < ppl32 < 2 * len(vocab)

    half = amp.convert_bucketing_module(test_model, target_dtype="float16")
    assert isinstance(half, mx.mod.BucketingModule) and half is not test_model
    half.bind(data_val.provide_data, data_val.provide_label, for_training=False)
    nodes = json.loads(half.symbol.tojson(remove_amp_cast=False))['nodes']
    ops = [n['op'] for n in nodes]
    assert 'amp_cast' in ops
    ppl16 = _score(half, val_sent)
    assert ppl16 != ppl32 and abs(ppl16 - ppl32) < 0.01 * ppl32
    # the float32 model is left as it was
    assert _score(test_model, val_sent) == pytest.approx(ppl32)

    with pytest.raises(mx.base.MXNetError, match="bucketing module"):
        amp.convert_bucketing_module(mx.mod.Module(mx.sym.var('data'), label_names=None))
    empty = mx.mod.BucketingModule(sym_gen=_sym_gen_for(stack, vocab, 6, 'NTC'),
                                   default_bucket_key=8)
    with pytest.raises(mx.base.MXNetError, match="empty"):
        amp.convert_bucketing_module(empty)
