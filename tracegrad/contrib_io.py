"""`mx.contrib.io` (`from mxnet.contrib.io import DataLoaderIter`): a gluon DataLoader as an
mx.io DataIter, so a Module can fit on it, as MXNet 1.9.1's contrib/io.py."""
from . import nd
from .io import DataDesc, DataIter

__all__ = ["DataLoaderIter"]


class DataLoaderIter(DataIter):
    """Batches of `loader` ((data, label) pairs) cast to `dtype`; the batch size is the first
    batch's, and a shorter last batch is completed with zero rows that `pad` counts (MXNet
    leaves them uninitialized)."""

    def __init__(self, loader, data_name="data", label_name="softmax_label", dtype="float32"):
        super().__init__()
        self._loader = loader
        self._iter = iter(self._loader)
        data, label = next(self._iter)
        self.batch_size = data.shape[0]
        self.dtype = dtype
        self.provide_data = [DataDesc(data_name, data.shape, dtype)]
        self.provide_label = [DataDesc(label_name, label.shape, dtype)]
        self._current_batch = None
        self.reset()

    def reset(self):
        self._iter = iter(self._loader)

    def iter_next(self):
        try:
            self._current_batch = next(self._iter)
        except StopIteration:
            self._current_batch = None
        return self._current_batch is not None

    def _padded(self, arr):
        if not self.getpad():
            return [arr.astype(self.dtype)]
        ret = nd.zeros((self.batch_size,) + tuple(arr.shape[1:]), dtype=self.dtype)
        ret[:arr.shape[0]] = arr.astype(self.dtype)
        return [ret]

    def getdata(self):
        return self._padded(self._current_batch[0])

    def getlabel(self):
        return self._padded(self._current_batch[1])

    def getpad(self):
        return self.batch_size - self._current_batch[0].shape[0]

    def getindex(self):
        return None
