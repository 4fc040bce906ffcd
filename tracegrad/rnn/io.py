"""`mx.rnn`'s data half: `encode_sentences` turns token lists into index lists and a vocabulary;
`BucketSentenceIter` batches them for a language model.

    sentences, vocab = mx.rnn.encode_sentences(lines, invalid_label=0, start_label=1)
    it = mx.rnn.BucketSentenceIter(sentences, 32, buckets=[10, 20, 30], invalid_label=0)
    for batch in it:   # batch.bucket_key: the padded length; label = data shifted one step left

Both follow MXNet 1.9.1 (python/mxnet/rnn/io.py), down to the random streams: reset() shuffles
the batch order with Python's `random` and each bucket's rows with numpy's global generator,
so a program seeding both gets MXNet's batches. Where MXNet fails with an unrelated error (no
bucket at all, a layout without 'N', text that was never encoded) an MXNetError says what was
wrong, of the exception type MXNet raised. One deliberate difference: `unknown_token` keeps one
index (MXNet's gives it a fresh index at every unknown token, so the unknown tokens encoded
before point at other words).
"""
import bisect
import random
import warnings
from numbers import Integral

import numpy as np

from .. import nd
from ..base import MXNetError
from ..io import DataBatch, DataDesc, DataIter

__all__ = ["encode_sentences", "BucketSentenceIter"]


class UnknownTokenError(MXNetError, AssertionError):
    """A token missing from a given vocab (an AssertionError, as MXNet's assert raised)."""


class SentenceDataError(MXNetError, ValueError):
    """Sentences, buckets, batch size or layout a BucketSentenceIter cannot use (a ValueError,
    what MXNet's own failures on such input were)."""


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key="\n", start_label=0,
                     unknown_token=None):
    """(encoded sentences, vocab): every token replaced by its integer index.

    Without `vocab` one is built: `invalid_key` -> `invalid_label`, then each new token takes
    the next index from `start_label` on (never `invalid_label`). A given `vocab` is fixed: a
    token it lacks is an error unless `unknown_token` is set; such tokens then encode as
    `unknown_token`, added to the vocab (with the next index) when missing. As in MXNet,
    `unknown_token` applies to every token not yet in the vocab, also while building one, and
    the vocab passed in is updated in place."""
    next_index = start_label

    def new_index():
        nonlocal next_index
        if next_index == invalid_label:
            next_index += 1
        next_index += 1
        return next_index - 1

    building = vocab is None
    if building:
        vocab = {invalid_key: invalid_label}
    encoded = []
    for n, sentence in enumerate(sentences):
        codes = []
        for token in sentence:
            if token not in vocab:
                if unknown_token:
                    if unknown_token not in vocab:
                        vocab[unknown_token] = new_index()
                    token = unknown_token
                elif building:
                    vocab[token] = new_index()
                else:
                    raise UnknownTokenError(
                        f"encode_sentences: token {token!r} of sentence {n} is not in the given "
                        f"vocab; pass unknown_token='<unk>' to encode such tokens as one "
                        f"unknown token, or vocab=None to build a vocabulary")
            codes.append(vocab[token])
        encoded.append(codes)
    return encoded, vocab


class BucketSentenceIter(DataIter):
    """Batches of encoded sentences for a language model, each from one bucket: a sentence goes
    to the smallest bucket at least as long, padded with `invalid_label`; the label of each step
    is the next step's token (`invalid_label` after the last). Sentences longer than the largest
    bucket are dropped (MXNet prints how many); `buckets=None` makes a bucket of every length
    that at least `batch_size` sentences have. Only full batches are made: a bucket's rows past
    its last multiple of `batch_size` are left out of the epoch (reshuffled in at each reset).
    `layout` 'NT' gives (batch, time) arrays, 'TN' (time, batch)."""

    def __init__(self, sentences, batch_size, buckets=None, invalid_label=-1, data_name="data",
                 label_name="softmax_label", dtype="float32", layout="NT"):
        super().__init__(batch_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) \
                or batch_size < 1:
            raise SentenceDataError(f"BucketSentenceIter: batch_size must be a positive "
                                    f"integer, got {batch_size!r}")
        major_axis = layout.find("N") if isinstance(layout, str) else -1
        if major_axis not in (0, 1):
            raise SentenceDataError(f"BucketSentenceIter: layout must be 'NT' (batch major) or "
                                    f"'TN' (time major), got {layout!r}")
        sentences = list(sentences)
        if not sentences:
            raise SentenceDataError("BucketSentenceIter: sentences is empty; there is nothing "
                                    "to batch")
        lengths = [len(s) for s in sentences]
        buckets = self._bucket_lengths(buckets, lengths, batch_size)

        members = [[] for _ in buckets]     # sentence numbers per bucket
        ndiscard = 0
        for n, length in enumerate(lengths):
            b = bisect.bisect_left(buckets, length)
            if b == len(buckets):
                ndiscard += 1
            else:
                members[b].append(n)
        print("WARNING: discarded %d sentences longer than the largest bucket." % ndiscard)
        used = [b for b, rows in enumerate(members) if rows]   # MXNet drops empty buckets
        if not used:
            raise SentenceDataError(f"BucketSentenceIter: all {len(sentences)} sentences are "
                                    f"longer than the largest bucket ({buckets[-1]})")
        if buckets[used[0]] == 0:
            raise SentenceDataError(f"BucketSentenceIter: {len(members[used[0]])} empty "
                                    f"sentences make a bucket of length 0, which has no step to "
                                    f"predict; drop the empty sentences")

        self.batch_size = int(batch_size)
        self.buckets = [buckets[b] for b in used]
        self.data = [self._padded(sentences, members[b], buckets[b], invalid_label, dtype)
                     for b in used]
        self.data_name, self.label_name = data_name, label_name
        self.dtype, self.invalid_label = dtype, invalid_label
        self.layout, self.major_axis = layout, major_axis
        self.default_bucket_key = max(self.buckets)
        shape = self._shape(self.batch_size, self.default_bucket_key)
        # DataDesc's default dtype (float32) whatever `dtype` is, as MXNet's
        self.provide_data = [DataDesc(data_name, shape, layout=layout)]
        self.provide_label = [DataDesc(label_name, shape, layout=layout)]

        # (bucket, first row) of every full batch
        self.idx = [(i, j) for i, rows in enumerate(self.data)
                    for j in range(0, len(rows) - self.batch_size + 1, self.batch_size)]
        if not self.idx:
            warnings.warn(f"BucketSentenceIter: no bucket holds batch_size={self.batch_size} "
                          f"sentences (the fullest holds {max(len(d) for d in self.data)}), "
                          f"so there are no batches", stacklevel=2)
        self.curr_idx = 0
        self.nddata, self.ndlabel = [], []
        self.reset()

    @staticmethod
    def _bucket_lengths(buckets, lengths, batch_size):
        """The sorted bucket lengths: the given ones, or every length `batch_size` sentences
        have."""
        if buckets:     # MXNet treats [] as None
            buckets = list(buckets)
            for b in buckets:
                if isinstance(b, bool) or not isinstance(b, Integral) or b < 0:
                    raise SentenceDataError(f"BucketSentenceIter: buckets must be sentence "
                                            f"lengths (non-negative integers), got {b!r} in "
                                            f"{buckets!r}")
            return sorted(int(b) for b in buckets)
        counts = np.bincount(lengths)
        found = [length for length, count in enumerate(counts) if count >= batch_size]
        if not found:
            common = int(np.argmax(counts))
            raise SentenceDataError(
                f"BucketSentenceIter: no sentence length occurs batch_size={batch_size} times, "
                f"so no bucket can be made (the most common length, {common}, occurs "
                f"{int(counts[common])} times); pass buckets= or a smaller batch_size")
        return found

    @staticmethod
    def _padded(sentences, numbers, length, invalid_label, dtype):
        """The sentences `numbers` as rows of one (n, length) array, padded with invalid_label."""
        rows = np.full((len(numbers), length), invalid_label, dtype=dtype)
        for r, n in enumerate(numbers):
            try:
                rows[r, :len(sentences[n])] = sentences[n]
            except (TypeError, ValueError) as e:
                raise SentenceDataError(
                    f"BucketSentenceIter: sentence {n} ({sentences[n]!r:.60}) is not a sequence "
                    f"of numbers ({e}); encode text with mx.rnn.encode_sentences first") from None
        return rows

    def _shape(self, batch, steps):
        return (batch, steps) if self.major_axis == 0 else (steps, batch)

    def reset(self):
        """Start a new epoch: batch order shuffled with Python's `random`, each bucket's rows
        with numpy's global generator (MXNet's streams, in MXNet's order)."""
        self.curr_idx = 0
        random.shuffle(self.idx)
        for rows in self.data:
            np.random.shuffle(rows)
        self.nddata, self.ndlabel = [], []
        for rows in self.data:
            label = np.empty_like(rows)
            label[:, :-1] = rows[:, 1:]
            label[:, -1] = self.invalid_label
            self.nddata.append(nd.array(rows, dtype=self.dtype))
            self.ndlabel.append(nd.array(label, dtype=self.dtype))

    def next(self):
        if self.curr_idx >= len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        data = self.nddata[i][j:j + self.batch_size]
        label = self.ndlabel[i][j:j + self.batch_size]
        if self.major_axis == 1:
            data, label = data.T, label.T
        return DataBatch([data], [label], pad=0, bucket_key=self.buckets[i],
                         provide_data=[DataDesc(self.data_name, data.shape, layout=self.layout)],
                         provide_label=[DataDesc(self.label_name, label.shape,
                                                 layout=self.layout)])
