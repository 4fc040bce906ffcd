"""`mx.engine`: MXNet's execution-engine settings. tracegrad runs ops synchronously, and a
captured training step is one native call whatever the bulk size, so the size is kept and
reported back, as MXNet's `set_bulk_size` returns the previous one."""
import contextlib

_BULK_SIZE = [15]        # MXNet's default (MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN)


def set_bulk_size(size):
    """Set the bulk size; returns the previous one."""
    if int(size) != size or size < 0:
        raise ValueError(f"set_bulk_size: size must be a non-negative integer, got {size!r}")
    prev, _BULK_SIZE[0] = _BULK_SIZE[0], int(size)
    return prev


@contextlib.contextmanager
def bulk(size):
    """`with mx.engine.bulk(size):` the bulk size inside the block."""
    prev = set_bulk_size(size)
    try:
        yield
    finally:
        set_bulk_size(prev)
