"""ImageRecordDataset and ImageFolderDataset decode images with mx.image.imdecode / imread
(Pillow); a corrupt image raises MXNetError naming its file or record.

MNIST, FashionMNIST, CIFAR10 and CIFAR100 read from MXNet 1.9.1's file layout under `root`
(default $MXNET_HOME/datasets/<name>, MXNET_HOME defaulting to ~/.mxnet).

Nothing is downloaded: a missing file raises an error naming it and the URL to fetch it from.
Files are parsed with numpy (gzip idx for MNIST, CIFAR's binary records), every size is
checked before anything is kept, and nothing is unpickled. Sample i is (image, label): an
HWC uint8 NDArray and an int32 label, as MXNet's (under set_np both are mx.np arrays, the label
0-d, as MXNet gives them); `transform(image, label)` is applied when given.
"""
import gzip
import os
import warnings

import numpy as np

from ....base import data_dir
from .... import nd
from ....array import wrap
from ....numpy_api.ndarray import as_np
from ....util import is_np_array
from ..dataset import Dataset, RecordFileDataset, gather_rows

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "ImageRecordDataset",
           "ImageFolderDataset"]

_REPO = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/"


def _require(root, names, namespace, archive=None):
    paths = [os.path.join(root, n) for n in names]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        urls = [f"{_REPO}{namespace}/{archive}"] if archive else \
            [f"{_REPO}{namespace}/{os.path.basename(p)}" for p in missing]
        raise FileNotFoundError(
            f"{namespace}: missing {', '.join(missing)}; tracegrad does not download. Fetch "
            f"{' and '.join(urls)}{' and unpack it' if archive else ''} into {root}")
    return paths


class _FileDataset(Dataset):
    def __init__(self, root, transform):
        self._root = os.path.expanduser(root)
        self._transform = transform
        self._data, self._label = self._get_data()

    def __getitem__(self, idx):
        data, label = nd.array(self._data[idx], dtype=np.uint8), self._label[idx]
        if is_np_array():  # MXNet keeps images and labels as mx.np arrays under set_np
            data, label = as_np(data), as_np(wrap(np.asarray(label)))
        if self._transform is not None:
            return self._transform(data, label)
        return data, label

    def _rows(self, indices):
        """Without a transform, a batch read at once (Dataset._rows): the images as NDArray
        samples, the labels numpy (mx.np arrays under set_np)."""
        if self._transform is not None or type(self).__getitem__ is not \
                _FileDataset.__getitem__:
            return None
        data, label = gather_rows(self._data, indices), gather_rows(self._label, indices)
        if data is None or label is None:
            return None
        return [(data.astype(np.uint8), "nd"), (label, "nd" if is_np_array() else "np")], True

    def __len__(self):
        return len(self._label)


def _read_idx(path, magic, dims):
    """The uint8 array of an idx file (gzip-compressed when its name ends with .gz)."""
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    header = 4 * (1 + len(dims))
    if len(raw) < header:
        raise ValueError(f"{path}: {len(raw)} bytes is too short for an idx header")
    fields = np.frombuffer(raw[:header], dtype=">u4")
    if fields[0] != magic:
        raise ValueError(f"{path}: idx magic number {int(fields[0])}, expected {magic}")
    shape = tuple(int(v) for v in fields[1:])
    if any(d is not None and d != s for d, s in zip(dims, shape)):
        raise ValueError(f"{path}: idx dimensions {shape}, expected {dims}")
    if len(raw) - header != int(np.prod(shape)):
        raise ValueError(f"{path}: {len(raw) - header} data bytes for idx shape {shape}")
    return np.frombuffer(raw[header:], dtype=np.uint8).reshape(shape)


class MNIST(_FileDataset):
    """MNIST digits (http://yann.lecun.com/exdb/mnist): (28, 28, 1) uint8 images."""
    _namespace = "mnist"
    _files = {True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

    def __init__(self, root=os.path.join(data_dir(), "datasets", "mnist"), train=True,
                 transform=None):
        self._train = train
        super().__init__(root, transform)

    def _get_data(self):
        data_path, label_path = _require(self._root, self._files[bool(self._train)],
                                         self._namespace)
        labels = _read_idx(label_path, 2049, (None,))
        images = _read_idx(data_path, 2051, (len(labels), 28, 28))
        return images.reshape(len(labels), 28, 28, 1), labels.astype(np.int32)


class FashionMNIST(MNIST):
    """Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist), MNIST's format."""
    _namespace = "fashion-mnist"

    def __init__(self, root=os.path.join(data_dir(), "datasets", "fashion-mnist"), train=True,
                 transform=None):
        super().__init__(root, train, transform)


class CIFAR10(_FileDataset):
    """CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html) from its binary version:
    (32, 32, 3) uint8 images."""
    _namespace, _archive, _label_bytes = "cifar10", "cifar-10-binary.tar.gz", 1
    _files = {True: tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
              False: ("test_batch.bin",)}

    def __init__(self, root=os.path.join(data_dir(), "datasets", "cifar10"), train=True,
                 transform=None):
        self._train = train
        super().__init__(root, transform)

    def _label_column(self):
        return 0

    def _get_data(self):
        record = 3072 + self._label_bytes
        images, labels = [], []
        for path in _require(self._root, self._files[bool(self._train)], self._namespace,
                             self._archive):
            raw = np.fromfile(path, dtype=np.uint8)
            if raw.size == 0 or raw.size % record:
                raise ValueError(f"{path}: {raw.size} bytes is not a whole number of "
                                 f"{record}-byte CIFAR records")
            raw = raw.reshape(-1, record)
            images.append(raw[:, self._label_bytes:].reshape(-1, 3, 32, 32)
                          .transpose(0, 2, 3, 1))
            labels.append(raw[:, self._label_column()].astype(np.int32))
        return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


class CIFAR100(CIFAR10):
    """CIFAR-100, binary version; fine_label picks the 100 fine classes over the 20 coarse."""
    _namespace, _archive, _label_bytes = "cifar100", "cifar-100-binary.tar.gz", 2
    _files = {True: ("train.bin",), False: ("test.bin",)}

    def __init__(self, root=os.path.join(data_dir(), "datasets", "cifar100"),
                 fine_label=False, train=True, transform=None):
        self._fine_label = fine_label
        super().__init__(root, train, transform)

    def _label_column(self):
        return int(bool(self._fine_label))


class ImageRecordDataset(RecordFileDataset):
    """The (image, label) samples of a RecordIO file of pack_img records (im2rec's .rec and
    its .idx): the image decoded (flag 0 greyscale, 1 colour RGB), the label from the header
    (a float, or a float32 array for a multi-value label)."""

    def __init__(self, filename, flag=1, transform=None):
        super().__init__(filename)
        self._flag = flag
        self._transform = transform

    def __getitem__(self, idx):
        from .... import image, recordio
        from ....base import MXNetError
        header, img = recordio.unpack(super().__getitem__(idx))
        try:
            data = image.imdecode(img, self._flag)
        except MXNetError as e:
            raise MXNetError(f"ImageRecordDataset {self.filename}: record {idx}: {e}") from None
        if self._transform is not None:
            return self._transform(data, header.label)
        return data, header.label


class ImageFolderDataset(Dataset):
    """Images in one folder per class (root/car/0001.jpg, root/bus/0002.png, ...): the
    class folders sorted give `synsets` (label i is synsets[i]); `items` is the sorted
    (filename, label) list of .jpg/.jpeg/.png files. Other files are skipped with a warning,
    as MXNet does. Images are read on access (flag 0 greyscale, 1 colour RGB)."""

    def __init__(self, root, flag=1, transform=None):
        self._root = os.path.expanduser(root)
        self._flag = flag
        self._transform = transform
        self._exts = [".jpg", ".jpeg", ".png"]
        self._list_images(self._root)

    def _list_images(self, root):
        self.synsets, self.items = [], []
        for folder in sorted(os.listdir(root)):
            path = os.path.join(root, folder)
            if not os.path.isdir(path):
                warnings.warn(f"Ignoring {path}, which is not a directory.", stacklevel=3)
                continue
            label = len(self.synsets)
            self.synsets.append(folder)
            for name in sorted(os.listdir(path)):
                filename = os.path.join(path, name)
                ext = os.path.splitext(filename)[1]
                if ext.lower() not in self._exts:
                    warnings.warn(f"Ignoring {filename} of type {ext}. Only support "
                                  f"{', '.join(self._exts)}")
                    continue
                self.items.append((filename, label))

    def __getitem__(self, idx):
        from .... import image
        filename, label = self.items[idx]
        img = image.imread(filename, self._flag)
        if self._transform is not None:
            return self._transform(img, label)
        return img, label

    def __len__(self):
        return len(self.items)
