"""mx.rnn's data half (tracegrad/rnn/io.py, tracegrad/rnn/checkpoint.py) against MXNet 1.9.1's
python/mxnet/rnn/io.py and rnn.py: encode_sentences, BucketSentenceIter and the RNN
checkpoint functions."""
import random
import warnings
from collections import Counter

import numpy as np
import pytest

import tracegrad as mx
from tracegrad.base import MXNetError
from tracegrad.rnn.checkpoint import do_rnn_checkpoint, load_rnn_checkpoint, save_rnn_checkpoint
from tracegrad.rnn.io import BucketSentenceIter, encode_sentences


def _seed(seed):
    random.seed(seed)
    np.random.seed(seed)


def _iter(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # none expected unless a test asks for it
        return BucketSentenceIter(*args, **kwargs)


# --- encode_sentences ------------------------------------------------------------------------

def test_encode_sentences_builds_a_vocab_from_start_label_skipping_invalid_label():
    sentences = [["a", "b", "\n"], ["b", "c"]]
    encoded, vocab = encode_sentences(sentences)
    assert encoded == [[0, 1, -1], [1, 2]]
    assert vocab == {"\n": -1, "a": 0, "b": 1, "c": 2}
    # MXNet's language-model example: invalid_label=0, start_label=1
    encoded, vocab = encode_sentences(sentences, invalid_label=0, start_label=1)
    assert encoded == [[1, 2, 0], [2, 3]]
    # an index equal to invalid_label is skipped
    encoded, vocab = encode_sentences([["x", "y"]], invalid_label=1, start_label=1)
    assert encoded == [[2, 3]] and vocab == {"\n": 1, "x": 2, "y": 3}


def test_encode_sentences_invalid_key_names_the_end_of_sentence_token():
    encoded, vocab = encode_sentences([["a", "<eos>", "a"]], invalid_key="<eos>")
    assert encoded == [[0, -1, 0]]
    assert vocab == {"<eos>": -1, "a": 0}
    assert "\n" not in vocab


def test_encode_sentences_with_a_vocab_keeps_it_and_refuses_unknown_tokens():
    vocab = {"\n": -1, "the": 0, "cat": 1}
    encoded, out = encode_sentences([["the", "cat", "\n"]], vocab=vocab)
    assert encoded == [[0, 1, -1]]
    assert out is vocab and vocab == {"\n": -1, "the": 0, "cat": 1}
    with pytest.raises(MXNetError, match=r"'dog' of sentence 1 is not in the given vocab") as e:
        encode_sentences([["the"], ["dog"]], vocab=vocab)
    assert isinstance(e.value, AssertionError)      # MXNet's assert raised AssertionError
    assert "unknown_token" in str(e.value)


def test_encode_sentences_unknown_token_encodes_every_unknown_token_as_one_index():
    # MXNet's own test (tests/python/unittest/test_rnn.py, test_encode_sentences)
    vocab = {"a": 1, "b": 2, "c": 3}
    encoded, vocab = encode_sentences([["a", "b", "c"], ["b", "c", "d"]], vocab=vocab,
                                      unknown_token="UNK")
    assert vocab == {"a": 1, "b": 2, "c": 3, "UNK": 0}
    assert encoded == [[1, 2, 3], [2, 3, 0]]
    # further unknown tokens share that index (MXNet gave each a new one)
    encoded, vocab = encode_sentences([["e", "a", "f", "d"]], vocab=vocab, unknown_token="UNK")
    assert encoded == [[0, 1, 0, 0]] and vocab["UNK"] == 0 and len(vocab) == 4
    # an unknown_token already in the vocab keeps its index
    encoded, vocab = encode_sentences([["zz", "a"]], vocab={"a": 0, "<unk>": 7},
                                      unknown_token="<unk>")
    assert encoded == [[7, 0]] and vocab == {"a": 0, "<unk>": 7}


# --- BucketSentenceIter ----------------------------------------------------------------------

def _sentences():
    """Four sentences each of lengths 2, 3 and 5, one of length 9; token values tell them
    apart (sentence k holds 10 * k + 1, 10 * k + 2, ...)."""
    lengths = [2] * 4 + [3] * 4 + [5] * 4 + [9]
    return [[10 * k + t + 1 for t in range(n)] for k, n in enumerate(lengths)]


def test_batches_are_padded_to_their_bucket_with_the_label_shifted_left(capsys):
    _seed(0)
    it = _iter(_sentences(), 2, buckets=[3, 6], invalid_label=0)
    assert capsys.readouterr().out == \
        "WARNING: discarded 1 sentences longer than the largest bucket.\n"
    assert it.buckets == [3, 6] and it.default_bucket_key == 6
    batches = list(it)
    assert sorted(b.bucket_key for b in batches) == [3, 3, 3, 3, 6, 6]
    for b in batches:
        data, label = b.data[0].asnumpy(), b.label[0].asnumpy()
        assert data.shape == label.shape == (2, b.bucket_key)
        assert data.dtype == np.float32 and b.pad == 0 and b.index is None
        np.testing.assert_array_equal(label[:, :-1], data[:, 1:])
        np.testing.assert_array_equal(label[:, -1], [0, 0])
        for row in data:
            n = int((row != 0).sum())
            assert n in (2, 3, 5)                   # a whole sentence, then padding only
            np.testing.assert_array_equal(row[:n], row[0] + np.arange(n))
            assert (row[n:] == 0).all()
        assert b.provide_data == [mx.io.DataDesc("data", (2, b.bucket_key))]
        assert b.provide_data[0].layout == "NT"
        assert b.provide_label[0].name == "softmax_label"
        assert b.provide_label[0].shape == (2, b.bucket_key)
    assert [(d.name, d.shape, d.layout) for d in it.provide_data] == [("data", (2, 6), "NT")]
    assert [(d.name, d.shape) for d in it.provide_label] == [("softmax_label", (2, 6))]


def test_automatic_buckets_are_the_lengths_batch_size_sentences_have(capsys):
    sentences = _sentences() + [[1, 2, 3, 4]]     # one of length 4: padded into bucket 5
    _seed(1)
    it = _iter(sentences, 4)
    assert "discarded 1 sentences" in capsys.readouterr().out    # the one of length 9
    assert it.buckets == [2, 3, 5] and it.default_bucket_key == 5
    rows = Counter()
    for b in it:
        for row in b.data[0].asnumpy():
            rows[tuple(int(v) for v in row if v != -1)] += 1
    # bucket 5 holds five sentences: one batch of four, one sentence left out this epoch
    assert sum(rows.values()) == 12
    expected = Counter(tuple(s) for s in sentences if len(s) <= 5)
    assert all(expected[r] >= c for r, c in rows.items())


def test_empty_buckets_are_dropped_and_the_default_key_is_the_largest_bucket_used():
    _seed(2)
    it = _iter(_sentences()[:8], 2, buckets=[1, 2, 3, 10, 20])
    assert it.buckets == [2, 3]
    assert it.default_bucket_key == 3
    assert it.provide_data[0].shape == (2, 3)


def test_layout_tn_gives_time_major_batches_of_the_same_data():
    _seed(3)
    nt = [(b.bucket_key, b.data[0].asnumpy(), b.label[0].asnumpy())
          for b in _iter(_sentences(), 2, buckets=[3, 6])]
    _seed(3)
    it = _iter(_sentences(), 2, buckets=[3, 6], layout="TN")
    assert it.provide_data[0].shape == (6, 2) and it.provide_data[0].layout == "TN"
    assert it.provide_label[0].shape == (6, 2)
    tn = list(it)
    assert len(tn) == len(nt) == 6
    for b, (key, data, label) in zip(tn, nt):
        assert b.bucket_key == key
        assert b.data[0].shape == (key, 2)
        np.testing.assert_array_equal(b.data[0].asnumpy(), data.T)
        np.testing.assert_array_equal(b.label[0].asnumpy(), label.T)
        assert b.provide_data[0].shape == (key, 2) and b.provide_data[0].layout == "TN"


def _epoch(it):
    return [(b.bucket_key, [tuple(r) for r in b.data[0].asnumpy().astype(int)]) for b in it]


def test_reset_reshuffles_batches_and_rows_yet_covers_the_same_sentences():
    _seed(4)
    it = _iter(_sentences(), 2, buckets=[2, 3, 5])
    epochs = []
    for _ in range(3):
        epochs.append(_epoch(it))
        it.reset()
    covered = [Counter(r for _, rows in e for r in rows) for e in epochs]
    expected = Counter(tuple(s + [-1] * (max(2, len(s)) - len(s)))
                       for s in _sentences() if len(s) <= 5)
    assert covered[0] == covered[1] == covered[2] == expected
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]      # the order changes


def test_iterating_twice_needs_a_reset():
    _seed(5)
    it = _iter(_sentences(), 2, buckets=[3, 6])
    assert len(list(it)) == 6
    assert list(it) == []
    with pytest.raises(StopIteration):
        it.next()
    it.reset()
    assert len(list(it)) == 6


def test_shuffles_use_pythons_random_for_batch_order_and_numpys_for_rows():
    _seed(6)
    first = _epoch(_iter(_sentences(), 2, buckets=[3, 6]))
    _seed(6)
    assert _epoch(_iter(_sentences(), 2, buckets=[3, 6])) == first
    # the batch order comes from `random` alone: same python seed, another numpy seed
    random.seed(6)
    np.random.seed(99)
    other = _epoch(_iter(_sentences(), 2, buckets=[3, 6]))
    assert [k for k, _ in other] == [k for k, _ in first]
    assert other != first                           # the rows come from numpy's generator
    # the batch order is random.shuffle of MXNet's (bucket, first row) list
    order = [(0, 0), (0, 2), (0, 4), (0, 6), (1, 0), (1, 2)]
    random.seed(6)
    random.shuffle(order)
    assert [k for k, _ in first] == [[3, 6][i] for i, _ in order]


def test_dtype_and_names_reach_the_batches():
    _seed(7)
    it = _iter(_sentences(), 4, buckets=[3, 5], dtype="int32", data_name="words",
               label_name="next_words")
    b = it.next()
    assert b.data[0].dtype == np.int32 and b.label[0].dtype == np.int32
    assert b.provide_data[0].name == "words" and b.provide_label[0].name == "next_words"
    assert it.provide_data[0].dtype == np.float32    # DataDesc's default, as MXNet's


# --- bad input ---------------------------------------------------------------------------------

def test_an_empty_sentence_list_is_an_error():
    with pytest.raises(MXNetError, match="sentences is empty") as e:
        BucketSentenceIter([], 2)
    assert isinstance(e.value, ValueError)
    with pytest.raises(MXNetError, match="sentences is empty"):
        BucketSentenceIter([], 2, buckets=[5])


def test_a_batch_larger_than_any_bucket():
    # automatic buckets: none can be made (MXNet fails in max())
    with pytest.raises(MXNetError, match=r"no sentence length occurs batch_size=5 times.*"
                                         r"most common length, 2, occurs 4 times") as e:
        BucketSentenceIter(_sentences(), 5)
    assert isinstance(e.value, ValueError)
    # given buckets: MXNet's iterator has no batches; ours says so
    with pytest.warns(UserWarning, match="no bucket holds batch_size=10 sentences"):
        it = BucketSentenceIter(_sentences(), 10, buckets=[3, 10])
    assert list(it) == []


def test_a_layout_without_a_leading_batch_or_time_axis_is_an_error():
    for layout in ("TC", "CTN", "nt", None):
        with pytest.raises(MXNetError, match="layout must be 'NT'.*or 'TN'") as e:
            BucketSentenceIter(_sentences(), 2, layout=layout)
        assert isinstance(e.value, ValueError)
    # MXNet reads only where 'N' is: its old default 'NTC' is batch major
    _seed(8)
    assert _iter(_sentences(), 2, buckets=[3], layout="NTC").next().data[0].shape == (2, 3)


def test_other_bad_input_is_named():
    with pytest.raises(MXNetError, match="batch_size must be a positive integer"):
        BucketSentenceIter(_sentences(), 0)
    with pytest.raises(MXNetError, match="batch_size must be a positive integer"):
        BucketSentenceIter(_sentences(), 2.5)
    with pytest.raises(MXNetError, match="all 2 sentences are longer than the largest "
                                         r"bucket \(3\)"):
        BucketSentenceIter([[1, 2, 3, 4], [1, 2, 3, 4, 5]], 1, buckets=[3])
    with pytest.raises(MXNetError, match=r"sentence 1 .*encode_sentences"):
        BucketSentenceIter([[1, 2], ["a", "b"]], 1, buckets=[2])
    with pytest.raises(MXNetError, match="buckets must be sentence lengths"):
        BucketSentenceIter(_sentences(), 2, buckets=[3, "5"])
    with pytest.raises(MXNetError, match="2 empty sentences make a bucket of length 0"):
        BucketSentenceIter([[], [], [1, 2], [3, 4]], 2)


# --- checkpoints -------------------------------------------------------------------------------

class _FakeCell:
    """Packs `<prefix>w0` and `<prefix>w1` into one `<prefix>parameters` vector, as a fused
    cell keeps its weights."""

    def __init__(self, prefix):
        self.prefix = prefix

    def unpack_weights(self, args):
        args = dict(args)
        packed = args.pop(self.prefix + "parameters").asnumpy()
        args[self.prefix + "w0"] = mx.nd.array(packed[:2])
        args[self.prefix + "w1"] = mx.nd.array(packed[2:])
        return args

    def pack_weights(self, args):
        args = dict(args)
        parts = [args.pop(self.prefix + "w0").asnumpy(), args.pop(self.prefix + "w1").asnumpy()]
        args[self.prefix + "parameters"] = mx.nd.array(np.concatenate(parts))
        return args


def _model():
    sym = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    args = {"l0_parameters": mx.nd.array([1, 2, 3, 4, 5]),
            "l1_parameters": mx.nd.array([6, 7, 8]),
            "fc_weight": mx.nd.ones((2, 3))}
    aux = {"bn_moving_mean": mx.nd.array([0.5, 0.25])}
    return sym, args, aux


def _same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k].asnumpy(), b[k].asnumpy())


def test_rnn_checkpoints_are_saved_unpacked_and_loaded_packed(tmp_path):
    sym, args, aux = _model()
    cells = [_FakeCell("l0_"), _FakeCell("l1_")]
    prefix = str(tmp_path / "lm")
    save_rnn_checkpoint(cells, prefix, 3, sym, args, aux)
    assert sorted(args) == ["fc_weight", "l0_parameters", "l1_parameters"]  # caller's intact
    _, on_disk, _ = mx.model.load_checkpoint(prefix, 3)
    assert sorted(on_disk) == ["fc_weight", "l0_w0", "l0_w1", "l1_w0", "l1_w1"]
    np.testing.assert_array_equal(on_disk["l0_w1"].asnumpy(), [3, 4, 5])
    sym2, args2, aux2 = load_rnn_checkpoint(cells, prefix, 3)
    assert sym2.tojson() == sym.tojson()
    _same(args2, args)
    _same(aux2, aux)
    # a single cell, not in a list
    save_rnn_checkpoint(_FakeCell("l0_"), prefix, 4, sym, {"l0_parameters": args["l0_parameters"]},
                        {})
    _, one, _ = load_rnn_checkpoint(_FakeCell("l0_"), prefix, 4)
    _same(one, {"l0_parameters": args["l0_parameters"]})


def test_do_rnn_checkpoint_saves_every_period_epochs(tmp_path):
    sym, args, aux = _model()
    cells = [_FakeCell("l0_"), _FakeCell("l1_")]
    prefix = str(tmp_path / "cb")
    callback = do_rnn_checkpoint(cells, prefix, period=2)
    for epoch in range(4):
        callback(epoch, sym, args, aux)
    assert sorted(p.name for p in tmp_path.glob("cb-*.params")) == \
        ["cb-0002.params", "cb-0004.params"]
    _, loaded, _ = load_rnn_checkpoint(cells, prefix, 4)
    _same(loaded, args)
    do_rnn_checkpoint(cells, str(tmp_path / "p0"), period=0)(0, sym, args, aux)  # period >= 1
    assert (tmp_path / "p0-0001.params").exists()


def test_checkpoint_functions_name_what_is_not_a_cell(tmp_path):
    sym, args, aux = _model()
    with pytest.raises(MXNetError, match="int in cells has no unpack_weights"):
        save_rnn_checkpoint([_FakeCell("l0_"), 3], str(tmp_path / "x"), 1, sym, args, aux)
    with pytest.raises(MXNetError, match="cells must be an RNN cell or a list of them"):
        do_rnn_checkpoint(None, str(tmp_path / "x"))
