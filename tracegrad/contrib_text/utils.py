"""`mx.contrib.text.utils`: token counting for building a Vocabulary (MXNet 1.9.1's
python/mxnet/contrib/text/utils.py)."""
import collections
import re

__all__ = ["count_tokens_from_str"]


def count_tokens_from_str(source_str, token_delim=' ', seq_delim='\n', to_lower=False,
                          counter_to_update=None):
    """Count the tokens of `source_str`, split at either delimiter (both are regular
    expressions, as in MXNet, so escape special characters: '\\*'); empty tokens are dropped.

    Updates `counter_to_update` in place and returns it when given, else a new Counter."""
    pieces = re.split(token_delim + '|' + seq_delim, source_str)
    tokens = [t.lower() if to_lower else t for t in pieces if t]
    if counter_to_update is None:
        return collections.Counter(tokens)
    counter_to_update.update(tokens)
    return counter_to_update
