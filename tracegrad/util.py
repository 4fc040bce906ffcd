"""`mx.util`: the switches MXNet 1.x code queries. tracegrad implements MXNet's NDArray (1.x)
semantics, not the numpy-compatible `mx.np` interface, so both modes are off."""


def is_np_array():
    """Whether arrays follow the numpy interface (mx.np): never, in tracegrad."""
    return False


def is_np_shape():
    """Whether zero-size and scalar shapes follow numpy's semantics: never, in tracegrad."""
    return False
