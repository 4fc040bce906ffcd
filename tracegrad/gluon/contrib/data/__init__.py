"""`gluon.contrib.data` (MXNet 1.9.1): IntervalSampler and the `text` datasets (WikiText2/103,
read from files already on disk: nothing is downloaded)."""
from . import text
from .sampler import IntervalSampler  # noqa: F401

__all__ = ["IntervalSampler", "text"]
