"""'teststore': the example store MXNet 1.9 registers with `KVStoreBase.register`, showing what
a user-defined store must provide. It keeps nothing: broadcast copies the value to the outs and
pushpull sums a list of values (each device's) into the outs; it cannot run an optimizer."""
from ..array import NDArray
from .base import KVStoreBase


def _outs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@KVStoreBase.register
class TestStore(KVStoreBase):
    """A stateless store for tests of the registry (mx.kv.create('teststore'))."""

    def broadcast(self, key, value, out, priority=0):
        for o in _outs(out):
            o[:] = value

    def pushpull(self, key, value, out=None, priority=0):
        """One value is copied to out as it is; a list is summed on its first value's
        context and written to out, or back into every value when out is None."""
        if isinstance(value, NDArray):
            total, targets = value, _outs(out) if out is not None else []
        else:
            ctx = value[0].context
            total = value[0].as_in_context(ctx).copy()
            for v in value[1:]:
                total += v.as_in_context(ctx)
            targets = _outs(out) if out is not None else list(value)
        for o in targets:
            o[:] = total

    @staticmethod
    def is_capable(capability):
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return False
        raise ValueError(f"TestStore.is_capable: unknown capability {capability!r}")

    @property
    def type(self):
        return "teststore"

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1
