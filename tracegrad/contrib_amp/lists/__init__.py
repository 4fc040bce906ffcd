"""AMP's operator lists (MXNet's mxnet.contrib.amp.lists)."""
from . import symbol_fp16

__all__ = ["symbol_fp16"]
