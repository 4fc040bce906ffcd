"""`mx.io.MNISTIter`, as MXNet 1.9.1's C++ iterator (src/io/iter_mnist.cc) reads the
uncompressed idx files: pixels divided by 256 (not 255) as float32, images (batch, 1, 28, 28)
or with `flat` (batch, 784), labels float32 of shape (batch,) (the C API's "make label 1D").
`num_parts` / `part_index` keep the rows [n*k/parts, n*(k+1)/parts). With `shuffle` the rows
are permuted once, when the iterator is made (every epoch then sees that order; the
permutation is numpy's from `seed`, not std::shuffle's). A last batch smaller than
batch_size is never given (no padding)."""
import numpy as np

from . import nd
from .gluon.data.vision.datasets import _read_idx
from .io import DataBatch, DataDesc, DataIter


class MNISTIter(DataIter):
    """Batches of MNIST's idx files (`image`, `label`) for Module and gluon loops."""

    def __init__(self, image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte",
                 batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
                 part_index=0, data_name="data", label_name="softmax_label", dtype=None,
                 **kwargs):
        super().__init__(int(batch_size))
        who = "MNISTIter"
        if int(batch_size) < 1:
            raise ValueError(f"{who}: batch_size must be at least 1, got {batch_size!r}")
        if not 0 <= int(part_index) < int(num_parts):
            raise ValueError(f"{who}: part_index {part_index} is not in [0, {num_parts})")
        images = _read_idx(image, 2051, (None, None, None))
        labels = _read_idx(label, 2049, (None,))

        def part(n):
            return (int(n / num_parts * part_index), int(n / num_parts * (part_index + 1)))
        lo, hi = part(images.shape[0])
        images = images[lo:hi].astype(np.float32) * np.float32(1.0 / 256.0)
        lo, hi = part(labels.shape[0])
        labels = labels[lo:hi].astype(np.float32)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{who}: {image!r} holds {images.shape[0]} images but {label!r} "
                             f"{labels.shape[0]} labels")
        if shuffle:
            order = np.random.RandomState(int(seed)).permutation(labels.shape[0])
            images, labels = images[order], labels[order]
        rows, cols = images.shape[1:]
        self._images = images.reshape(-1, rows * cols) if flat else \
            images.reshape(-1, 1, rows, cols)
        self._labels = labels
        self._dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
        bs = self.batch_size
        self.provide_data = [DataDesc(data_name, (bs,) + self._images.shape[1:], self._dtype)]
        self.provide_label = [DataDesc(label_name, (bs,), self._dtype)]
        self._cursor, self._batch = 0, None
        if not silent:
            _log_load(images.shape[0], shuffle, self.provide_data[0].shape)

    def reset(self):
        self._cursor = 0

    def iter_next(self):
        start, bs = self._cursor, self.batch_size
        if start + bs > self._images.shape[0]:
            return False
        self._cursor += bs
        self._batch = (nd.array(self._images[start:start + bs], dtype=self._dtype),
                       nd.array(self._labels[start:start + bs], dtype=self._dtype))
        return True

    def next(self):
        if self.iter_next():
            return DataBatch(data=[self._batch[0]], label=[self._batch[1]], pad=0,
                             index=self.getindex())
        raise StopIteration

    def getdata(self):      # (one array, as MXNet's C++ iterators give: io.OneArrayGetters)
        return None if self._batch is None else self._batch[0]

    def getlabel(self):
        return None if self._batch is None else self._batch[1]

    def getpad(self):
        return 0

    def getindex(self):
        return np.zeros(self.batch_size, dtype=np.uint64)


def _log_load(count, shuffle, shape):
    """MXNet's C++ iterator logs its load line with dmlc's LOG(INFO): straight to stderr, never
    through Python's logging. A logging.info call here would configure the root logger (an
    implicit basicConfig at WARNING), silencing the logging.basicConfig(level=...) that example
    scripts call after making their iterators, so Module.fit's epoch lines would vanish."""
    import sys
    import time
    dims = ",".join(str(int(d)) for d in shape)
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] src/io/iter_mnist.cc:110: MNISTIter: "
                     f"load {int(count)} images, shuffle={int(bool(shuffle))}, "
                     f"shape=({dims})\n")
