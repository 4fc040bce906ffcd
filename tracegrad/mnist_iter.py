"""`mx.io.MNISTIter`: MXNet 1.x's C++ iterator over the MNIST idx files.

As src/io/iter_mnist.cc: the images (idx3, uint8) are read into float32 scaled by 1/256, the
labels (idx1) into float32; with `shuffle` the examples are permuted once, when the iterator
is made (seeded by `seed`), not at every reset; `num_parts` / `part_index` keep one contiguous
share; the last incomplete batch is dropped. A batch's data is (batch_size, 1, rows, cols),
or (batch_size, rows * cols) with `flat`; its label (batch_size,) (MXNet's C API makes the
(batch_size, 1) labels of its C++ iterators 1-d). `data_shape` and other unknown arguments
are ignored, as the C++ iterator ignores them.
"""
import sys

import numpy as np

from . import nd
from .io import DataBatch, DataDesc, DataIter, _check_batch_size, _FromCurrentBatch


def _part(count, num_parts, part_index):
    """[start, end) of part `part_index` of `num_parts` (iter_mnist.cc's GetPart)."""
    return (int(count / num_parts * part_index), int(count / num_parts * (part_index + 1)))


class MNISTIter(_FromCurrentBatch, DataIter):
    """MNISTIter(image, label, batch_size=128, shuffle=True, flat=False, seed=0,
    silent=False, num_parts=1, part_index=0, dtype=None)."""

    def __init__(self, image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte",
                 batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
                 part_index=0, dtype=None, data_name="data", label_name="softmax_label",
                 **kwargs):
        super().__init__(batch_size)
        who = "MNISTIter"
        _check_batch_size(batch_size, who)
        if not 0 <= part_index < num_parts:
            raise ValueError(f"{who}: part_index {part_index} is not in [0, {num_parts})")
        from .gluon.data.vision.datasets import _read_idx
        images = _read_idx(image, 2051, (None, None, None))
        labels = _read_idx(label, 2049, (None,))
        images = images[slice(*_part(images.shape[0], num_parts, part_index))]
        labels = labels[slice(*_part(labels.shape[0], num_parts, part_index))]
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{who}: {image!r} has {images.shape[0]} images but {label!r} "
                             f"has {labels.shape[0]} labels")
        images = images.astype(np.float32) * np.float32(1.0 / 256.0)
        labels = labels.astype(np.float32)
        if shuffle:
            order = np.random.RandomState(seed).permutation(images.shape[0])
            images, labels = images[order], labels[order]
        n, rows, cols = images.shape
        images = images.reshape(n, rows * cols) if flat else images.reshape(n, 1, rows, cols)
        dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
        self._images, self._labels = images.astype(dtype), labels.astype(dtype)
        self.batch_size = int(batch_size)
        self.provide_data = [DataDesc(data_name, (self.batch_size,) + images.shape[1:], dtype)]
        self.provide_label = [DataDesc(label_name, (self.batch_size,), dtype)]
        self._cursor, self.current_batch = 0, None
        if not silent:      # (MXNet's C++ LOG(INFO) writes to stderr, not to `logging`)
            shape = ",".join(map(str, self.provide_data[0].shape))
            sys.stderr.write(f"MNISTIter: load {n} images, shuffle={int(bool(shuffle))}, "
                             f"shape=({shape})\n")

    def reset(self):
        self._cursor = 0

    def iter_next(self):
        start, bs = self._cursor, self.batch_size
        if start + bs > self._images.shape[0]:
            return False
        self._cursor += bs
        self.current_batch = DataBatch(
            [nd.array(self._images[start:start + bs], dtype=self._images.dtype)],
            [nd.array(self._labels[start:start + bs], dtype=self._labels.dtype)], pad=0)
        return True
