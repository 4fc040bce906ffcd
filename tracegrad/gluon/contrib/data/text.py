"""`gluon.contrib.data.text` (MXNet 1.9.1): the WikiText-2 and WikiText-103 language-model
datasets that example/gluon/word_language_model trains on.

Like the vision datasets nothing is downloaded: the segment's tokens file must already be in
`root` (MXNet's layout once its archive is unpacked) and a missing one raises an error naming
it and the archive to fetch. The SHA-1 is not checked, so a corpus of one's own in that layout
(one sentence a line, tokens split by spaces) loads the same way.

Sample i is (data, label): int32 NDArrays of `seq_len` token indices, label shifted by one.
Every line gets an '<eos>' token; the tail that does not fill a whole row is dropped."""
import os

import numpy as np

from ....base import data_dir
from .... import nd
from ....contrib_text import utils as _text_utils
from ....contrib_text import vocab as _text_vocab
from ...data.dataset import Dataset

__all__ = ["WikiText2", "WikiText103"]

EOS_TOKEN = "<eos>"
_REPO = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/"
_SEGMENTS = {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens",
             "test": "wiki.test.tokens"}


class _WikiText(Dataset):
    _namespace = None

    def __init__(self, root, segment, vocab, seq_len):
        if segment not in _SEGMENTS:
            raise ValueError(f"{type(self).__name__}: segment must be one of "
                             f"{sorted(_SEGMENTS)}, got {segment!r}")
        self._root = os.path.expanduser(root)
        self._segment = segment
        self._seq_len = seq_len
        self._vocab = vocab
        self._counter = None
        self._data, self._label = self._get_data()

    @property
    def vocabulary(self):
        """The Vocabulary indexing the tokens (built from this segment unless given)."""
        return self._vocab

    @property
    def frequencies(self):
        """collections.Counter of this segment's tokens."""
        return self._counter

    def _get_data(self):
        path = os.path.join(self._root, _SEGMENTS[self._segment])
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{self._namespace}: missing {path}; tracegrad does not download. Fetch "
                f"{_REPO}{self._namespace}/{self._namespace}-v1.zip and unpack its "
                f"wiki.*.tokens files into {self._root}")
        with open(path, "r", encoding="utf8") as fin:
            content = fin.read()
        self._counter = _text_utils.count_tokens_from_str(content)
        if self._vocab is None:
            self._vocab = _text_vocab.Vocabulary(counter=self._counter,
                                                 reserved_tokens=[EOS_TOKEN])
        tokens = []
        for line in content.splitlines():
            words = line.split()
            if words:
                tokens.extend(words)
                tokens.append(EOS_TOKEN)
        ids = np.asarray(self._vocab.to_indices(tokens), dtype=np.int32)
        rows = (len(ids) - 1) // self._seq_len
        if rows == 0:   # MXNet's reshape fails the same way on a corpus shorter than a row
            raise ValueError(f"{self._namespace}: {path} has {len(ids)} tokens, fewer than "
                             f"seq_len + 1 = {self._seq_len + 1}")
        n = rows * self._seq_len
        return (nd.array(ids[:n].reshape(rows, self._seq_len), dtype=np.int32),
                nd.array(ids[1:n + 1].reshape(rows, self._seq_len), dtype=np.int32))

    def __getitem__(self, idx):
        return self._data[idx], self._label[idx]

    def __len__(self):
        return len(self._label)


class WikiText2(_WikiText):
    """WikiText-2 (Salesforce research): `segment` 'train', 'validation' or 'test'; `vocab`
    a contrib.text Vocabulary to index with (built from the segment when None)."""
    _namespace = "wikitext-2"

    def __init__(self, root=os.path.join(data_dir(), "datasets", "wikitext-2"),
                 segment="train", vocab=None, seq_len=35):
        super().__init__(root, segment, vocab, seq_len)


class WikiText103(_WikiText):
    """WikiText-103, as WikiText2 with the larger corpus."""
    _namespace = "wikitext-103"

    def __init__(self, root=os.path.join(data_dir(), "datasets", "wikitext-103"),
                 segment="train", vocab=None, seq_len=35):
        super().__init__(root, segment, vocab, seq_len)
