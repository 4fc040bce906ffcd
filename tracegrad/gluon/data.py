"""`gluon.data`: Dataset, ArrayDataset, SimpleDataset and DataLoader, as training loops use them.

Batches are stacked into NDArrays (numbers into float32 arrays like MXNet's default batchify);
shuffling draws from numpy's global generator, so `np.random.seed` fixes the order.
"""
import numpy as np

from .. import nd
from ..array import NDArray, wrap
from .split_sampler import SplitSampler

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset", "DataLoader", "default_batchify_fn",
           "SplitSampler"]


class Dataset:
    """An indexable collection of samples."""

    def __getitem__(self, idx):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def transform(self, fn, lazy=True):
        """A dataset of fn(*sample) (fn(sample) when samples are not tuples)."""
        return _Transformed(self, fn)

    def transform_first(self, fn, lazy=True):
        """Apply fn to the first element of each sample only (e.g. the image, not the label)."""
        return _Transformed(self, lambda first, *rest: (fn(first),) + rest)


class SimpleDataset(Dataset):
    """A dataset over any sequence."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, idx):
        return self._data[idx]

    def __len__(self):
        return len(self._data)


class ArrayDataset(Dataset):
    """Zips arrays of equal length: sample i is (a[i], b[i], ...), or a[i] for one array."""

    def __init__(self, *args):
        if not args:
            raise ValueError("ArrayDataset needs at least one array")
        lengths = {len(a) for a in args}
        if len(lengths) != 1:
            raise ValueError(f"ArrayDataset: arrays have different lengths "
                             f"{[len(a) for a in args]}")
        self._data = [a.asnumpy() if isinstance(a, NDArray) else a for a in args]

    def __getitem__(self, idx):
        if len(self._data) == 1:
            return self._data[0][idx]
        return tuple(a[idx] for a in self._data)

    def __len__(self):
        return len(self._data[0])


class _Transformed(Dataset):
    def __init__(self, data, fn):
        self._data, self._fn = data, fn

    def __getitem__(self, idx):
        item = self._data[idx]
        return self._fn(*item) if isinstance(item, tuple) else self._fn(item)

    def __len__(self):
        return len(self._data)


def default_batchify_fn(samples):
    """Stack samples into an NDArray; tuples of fields into a tuple of NDArrays."""
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(default_batchify_fn(list(field)) for field in zip(*samples))
    if isinstance(first, NDArray):
        return nd.stack(*samples)
    arr = np.asarray([s.asnumpy() if isinstance(s, NDArray) else s for s in samples])
    if arr.dtype == np.float64 or arr.dtype.kind in "iub" and arr.ndim == 1:
        arr = arr.astype(np.float32)  # MXNet batches numbers and labels as float32
    return wrap(np.ascontiguousarray(arr))


class DataLoader:
    """Iterates a Dataset in mini-batches.

    last_batch: 'keep' (a short final batch), 'discard' (drop it) or 'rollover' (carry its
    samples into the next epoch)."""

    def __init__(self, dataset, batch_size=None, shuffle=False, sampler=None, last_batch=None,
                 batch_sampler=None, batchify_fn=None, num_workers=0, **kwargs):
        if batch_sampler is None and batch_size is None:
            raise ValueError("DataLoader needs batch_size (or a batch_sampler)")
        last_batch = last_batch or "keep"
        if last_batch not in ("keep", "discard", "rollover"):
            raise ValueError(f"last_batch must be 'keep', 'discard' or 'rollover', got "
                             f"{last_batch!r}")
        self._dataset, self._batch_size, self._shuffle = dataset, batch_size, shuffle
        self._sampler, self._batch_sampler, self._last = sampler, batch_sampler, last_batch
        self._batchify = batchify_fn or default_batchify_fn
        self._carry = []

    def _batches(self):
        if self._batch_sampler is not None:
            yield from self._batch_sampler
            return
        order = list(self._sampler) if self._sampler is not None else (
            list(np.random.permutation(len(self._dataset))) if self._shuffle
            else list(range(len(self._dataset))))
        order = self._carry + order
        self._carry = []
        n = self._batch_size
        for lo in range(0, len(order), n):
            batch = order[lo:lo + n]
            if len(batch) < n and self._last != "keep":
                if self._last == "rollover":
                    self._carry = batch
                return
            yield batch

    def __iter__(self):
        for batch in self._batches():
            yield self._batchify([self._dataset[int(i)] for i in batch])

    def __len__(self):
        if self._batch_sampler is not None:
            return len(self._batch_sampler)
        total = len(self._dataset) + len(self._carry)
        full, rest = divmod(total, self._batch_size)
        return full + (1 if rest and self._last == "keep" else 0)
