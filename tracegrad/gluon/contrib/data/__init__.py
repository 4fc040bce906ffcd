"""`gluon.contrib.data` (MXNet 1.9.1): IntervalSampler. The text datasets (WikiText2/103),
which download their corpora, are not provided."""
from .sampler import IntervalSampler  # noqa: F401

__all__ = ["IntervalSampler"]
