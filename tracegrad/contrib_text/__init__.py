"""mx.contrib.text: MXNet 1.9.1's text indexing and embedding (mxnet.contrib.text).

    from mxnet.contrib import text       # import tracegrad as mx; mx.contrib.text
    counter = text.utils.count_tokens_from_str(corpus)
    vocab = text.vocab.Vocabulary(counter, min_freq=2, reserved_tokens=['<pad>'])
    glove = text.embedding.create('glove', pretrained_file_name='glove.6B.50d.txt',
                                  vocabulary=vocab)   # reads ~/.mxnet/embeddings/glove/...

utils.py: token counting; vocab.py: Vocabulary; embedding.py: the embeddings and their
registry. Pretrained files are never downloaded: put the unpacked file where MXNet caches it.
"""
from . import utils, vocab, embedding

__all__ = ["utils", "vocab", "embedding"]
