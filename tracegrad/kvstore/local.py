"""'local' and 'device': one process, one CPU; push sums a list of values, nothing crosses
process boundaries (the Trainer needs no reduction with such a store)."""
from .base import KVStore


class LocalKVStore(KVStore):
    """The single-process store."""
    _ONE_KEY_TYPE = True        # (MXNet's KVStoreLocal::SetKeyType)
