"""Datasets: Dataset (with transform, transform_first, filter, shard, take, sample),
SimpleDataset and ArrayDataset, as MXNet 1.9.1's gluon.data.dataset."""
import numpy as np

from ...array import NDArray, unobserved, wrap
from ...numpy_api.ndarray import as_np, ndarray
from ...util import is_np_array
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
        return self.transform(_TransformFirst(fn), lazy)

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


def gather_rows(array, indices):
    """array[indices] as one numpy gather, where that holds exactly the rows a per-sample read
    would give, stacked: a numeric numpy array, or an NDArray or mx.np ndarray while nothing
    observes eager ops (a row of a 1-d NDArray has shape (1,), as in MXNet; of an mx.np one,
    shape ()); every index in range. None otherwise (the caller reads sample by sample)."""
    if type(array) is np.ndarray:
        if array.dtype.kind not in "biufc" or not array.ndim:
            return None
        data = array
    elif (type(array) is NDArray or type(array) is ndarray) and \
            type(array._data) is np.ndarray and array._data.ndim and unobserved():
        data = array._data
    else:
        return None
    n = data.shape[0]
    if not indices or min(indices) < -n or max(indices) >= n:
        return None
    rows = data[indices]
    return rows[:, None] if rows.ndim == 1 and type(array) is NDArray else rows


def _field(array, indices):
    """One field of Dataset._rows: (rows, "nd" when its samples are NDArrays else "np")."""
    rows = gather_rows(array, indices)
    return None if rows is None else (rows, "nd" if isinstance(array, NDArray) else "np")


class SimpleDataset(Dataset):
    """A dataset over any sequence."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, idx):
        return self._data[idx]

    def _rows(self, indices):
        """The batch at `indices` read at once, or None (read it sample by sample): ([per
        field (rows, kind)], whether samples are tuples), the rows stacked in one numpy array
        and kind what the samples were: "np" numpy, "nd" NDArrays. dataloader.py batches
        them."""
        if type(self).__getitem__ is not SimpleDataset.__getitem__:
            return None
        field = _field(self._data, indices)
        return None if field is None else ([field], False)

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

    def _rows(self, indices):
        if type(self).__getitem__ is not ArrayDataset.__getitem__:
            return None
        fields = [_field(a, indices) for a in self._data]
        return None if None in fields else (fields, len(fields) > 1)

    def __len__(self):
        return len(self._data[0])


class _TransformFirst:
    """fn of a sample's first field, the others passed on (MXNet's _TransformFirstClosure: a
    sample that is not a tuple is fn(sample) itself)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, first, *rest):
        return (self.fn(first),) + rest if rest else self.fn(first)


class _Transformed(Dataset):
    def __init__(self, data, fn):
        self._data, self._fn = data, fn

    def __getitem__(self, idx):
        item = self._data[idx]
        return self._fn(*item) if isinstance(item, tuple) else self._fn(item)

    def _rows(self, indices):
        """A transform_first whose transform gives the same on a stacked batch
        (transforms.same_on_a_batch: ToTensor, Normalize, Cast) transforms the batch once."""
        from .vision.transforms import same_on_a_batch
        rows = getattr(self._data, "_rows", None)
        if type(self._fn) is not _TransformFirst or rows is None or \
                type(self).__getitem__ is not _Transformed.__getitem__:
            return None
        got = rows(indices)
        if got is None:
            return None
        (first, kind), rest = got[0][0], got[0][1:]
        if not unobserved() or not same_on_a_batch(self._fn.fn, first.ndim - 1):
            return None
        if kind == "nd":
            first = as_np(wrap(first)) if is_np_array() else wrap(first)
        try:
            out = self._fn.fn(first)
        except Exception:   # (read sample by sample: the error names the sample's shape)
            return None
        if not isinstance(out, NDArray) or type(out._data) is not np.ndarray:
            return None
        return [(out._data, "nd")] + rest, got[1]

    def __len__(self):
        return len(self._data)


class _Sampled(Dataset):
    def __init__(self, data, sampler):
        self._data, self._indices = data, list(sampler)

    def __getitem__(self, idx):
        return self._data[self._indices[idx]]

    def _rows(self, indices):
        rows = getattr(self._data, "_rows", None)
        if rows is None or type(self).__getitem__ is not _Sampled.__getitem__:
            return None
        try:
            return rows([self._indices[i] for i in indices])
        except IndexError:
            return None

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

