"""`gluon.data`: datasets, samplers and the DataLoader (MXNet 1.9.1's gluon.data), and
`gluon.data.vision` (image datasets and transforms)."""
from ..split_sampler import SplitSampler
from . import dataloader, dataset, sampler
from .dataloader import DataLoader, default_batchify_fn
from .dataset import ArrayDataset, Dataset, RecordFileDataset, SimpleDataset
from .sampler import (BatchSampler, FilterSampler, RandomSampler, Sampler,
                      SequentialSampler)
from . import vision  # noqa: E402  (its datasets subclass Dataset)

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset", "RecordFileDataset", "DataLoader",
           "default_batchify_fn", "SplitSampler", "Sampler", "SequentialSampler",
           "RandomSampler", "FilterSampler", "BatchSampler", "sampler", "dataset", "dataloader",
           "vision"]
