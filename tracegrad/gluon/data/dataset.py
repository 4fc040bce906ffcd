"""Datasets: Dataset (with transform, transform_first, filter, shard, take, sample),
SimpleDataset and ArrayDataset, as MXNet 1.9.1's gluon.data.dataset."""
from ...array import NDArray
from .sampler import FilterSampler, Sampler, SequentialSampler

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset", "RecordFileDataset"]


class Dataset:
    """An indexable collection of samples."""

    def __getitem__(self, idx):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def transform(self, fn, lazy=True):
        """A dataset of fn(*sample) (fn(sample) when samples are not tuples); lazy=False
        transforms every sample now (a stochastic fn is then fixed for all epochs)."""
        trans = _Transformed(self, fn)
        return trans if lazy else SimpleDataset([trans[i] for i in range(len(trans))])

    def transform_first(self, fn, lazy=True):
        """Apply fn to the first element of each sample only (e.g. the image, not the label)."""
        return self.transform(lambda first, *rest: (fn(first),) + rest, lazy)

    def filter(self, fn):
        """The samples for which fn(sample) is true."""
        return _Sampled(self, FilterSampler(fn, self))

    def shard(self, num_shards, index):
        """Contiguous part `index` of `num_shards` near-equal parts (the first len % num_shards
        parts one sample longer)."""
        if num_shards <= 0 or not 0 <= index < num_shards:
            raise ValueError(f"shard: index must be in [0, num_shards), num_shards > 0; got "
                             f"index={index}, num_shards={num_shards}")
        size, rest = divmod(len(self), num_shards)
        start = size * index + min(index, rest)
        return _Sampled(self, SequentialSampler(size + (index < rest), start))

    def take(self, count):
        """The first `count` samples (all of them for None or a larger count)."""
        count = len(self) if count is None or count > len(self) else count
        return _Sampled(self, SequentialSampler(count))

    def sample(self, sampler):
        """The samples at the indices `sampler` yields."""
        if not isinstance(sampler, Sampler):
            raise TypeError(f"Invalid sampler type: {type(sampler)}. Expected "
                            f"gluon.data.Sampler instead.")
        return _Sampled(self, sampler)


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
        # MXNet turns only 1-D NDArrays (labels) into numpy: a sample of a 2-D+ NDArray is an
        # NDArray, which a transform then works on with nd / mx.image functions
        self._data = [a.asnumpy() if isinstance(a, NDArray) and a.ndim == 1 else a
                      for a in args]

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


class _Sampled(Dataset):
    def __init__(self, data, sampler):
        self._data, self._indices = data, list(sampler)

    def __getitem__(self, idx):
        return self._data[self._indices[idx]]

    def __len__(self):
        return len(self._indices)


class RecordFileDataset(Dataset):
    """The records of a RecordIO file (raw bytes), by position, through its index file
    (the same name with .idx, as im2rec writes it)."""

    def __init__(self, filename):
        import os
        from ...recordio import MXIndexedRecordIO
        self.idx_file = os.path.splitext(filename)[0] + ".idx"
        self.filename = filename
        self._record = MXIndexedRecordIO(self.idx_file, self.filename, "r")

    def __getitem__(self, idx):
        return self._record.read_idx(self._record.keys[idx])

    def __len__(self):
        return len(self._record.keys)

