"""`mx.contrib.text.vocab.Vocabulary`: token <-> index maps in MXNet 1.9.1's order
(python/mxnet/contrib/text/vocab.py): the unknown token at 0, the reserved tokens next, then
the counter's keys by descending frequency, ties in sorted token order."""
import collections
from numbers import Integral

from ..base import MXNetError

__all__ = ["Vocabulary", "VocabularyError", "InvalidTokenIndexError"]

UNKNOWN_IDX = 0  # every unknown token maps here (embeddings keep its vector in row 0)


class VocabularyError(MXNetError, AssertionError):
    """Arguments a Vocabulary cannot be built from (an AssertionError, as MXNet's asserts)."""


class InvalidTokenIndexError(MXNetError, ValueError):
    """An index to_tokens cannot map back (a ValueError, as MXNet raises)."""


class Vocabulary(object):
    """Indexes the unknown token, `reserved_tokens` and the keys of `counter` (a
    collections.Counter) seen at least `min_freq` times, at most `most_freq_count` of them
    (reserved tokens not counted). Tokens may be any hashable of one type (str, int, tuple)."""

    def __init__(self, counter=None, most_freq_count=None, min_freq=1, unknown_token='<unk>',
                 reserved_tokens=None):
        if not min_freq > 0:
            raise VocabularyError("Vocabulary: `min_freq` must be set to a positive value, got "
                                  "%r." % (min_freq,))
        if reserved_tokens is not None:
            if unknown_token in set(reserved_tokens):
                raise VocabularyError("Vocabulary: `reserved_tokens` %r cannot contain "
                                      "`unknown_token` %r." % (reserved_tokens, unknown_token))
            if len(set(reserved_tokens)) != len(reserved_tokens):
                raise VocabularyError("Vocabulary: `reserved_tokens` %r cannot contain "
                                      "duplicate reserved tokens." % (reserved_tokens,))
        self._unknown_token = unknown_token
        self._reserved_tokens = None if reserved_tokens is None else list(reserved_tokens)
        self._idx_to_token = [unknown_token] + list(reserved_tokens or [])
        self._token_to_idx = {t: i for i, t in enumerate(self._idx_to_token)}
        if counter is not None:
            self._index_counter(counter, most_freq_count, min_freq)

    def _index_counter(self, counter, most_freq_count, min_freq):
        """Append the counter's keys: frequent first, equal counts in token order (MXNet sorts
        by token, then stably by count), skipping the tokens already indexed."""
        if not isinstance(counter, collections.Counter):
            raise VocabularyError("Vocabulary: `counter` must be an instance of "
                                  "collections.Counter, got %s." % type(counter).__name__)
        special = set(self._idx_to_token)
        ranked = sorted(sorted(counter.items(), key=lambda kv: kv[0]),
                        key=lambda kv: kv[1], reverse=True)
        added = 0
        for token, freq in ranked:
            # a negative most_freq_count never matches, so (as in MXNet) it caps nothing
            if freq < min_freq or (most_freq_count is not None and added == most_freq_count):
                break
            if token in special:
                continue
            self._token_to_idx[token] = len(self._idx_to_token)
            self._idx_to_token.append(token)
            added += 1

    def __len__(self):
        return len(self._idx_to_token)

    @property
    def token_to_idx(self):
        """dict: each indexed token to its index."""
        return self._token_to_idx

    @property
    def idx_to_token(self):
        """list: the indexed tokens, position = index."""
        return self._idx_to_token

    @property
    def unknown_token(self):
        """The token every unknown token is indexed as (index 0)."""
        return self._unknown_token

    @property
    def reserved_tokens(self):
        """list or None: the tokens indexed right after the unknown token."""
        return self._reserved_tokens

    def to_indices(self, tokens):
        """Index of a token, or list of indices of a list of tokens; unknown tokens give 0."""
        if not isinstance(tokens, list):
            return self._token_to_idx.get(tokens, UNKNOWN_IDX)
        return [self._token_to_idx.get(t, UNKNOWN_IDX) for t in tokens]

    def to_tokens(self, indices):
        """Token of an index, or list of tokens of a list of indices (ValueError for an index
        past the end or not an integer)."""
        single = not isinstance(indices, list)
        out = []
        n = len(self._idx_to_token)
        for idx in [indices] if single else indices:
            if not isinstance(idx, Integral) or not -n <= idx < n:
                raise InvalidTokenIndexError(
                    "Vocabulary.to_tokens: token index %r in the provided `indices` is invalid "
                    "(the vocabulary has %d tokens)." % (idx, n))
            out.append(self._idx_to_token[int(idx)])
        return out[0] if single else out
