"""Iterating image records (.rec) or image lists (.lst / imglist) into NCHW float32 batches:
`mx.image.ImageIter` (MXNet 1.9.1's Python iterator, augmenters from CreateAugmenter) and
`mx.io.ImageRecordIter` (the C++ iterator's parameters, on ImageIter's reading and batching).

Images are decoded with Pillow (image_codec.py): PNG pixels are exact, JPEG within a few
levels of OpenCV's. Decoding runs in the calling thread (MXNet uses worker threads).
"""
import os
import random
import warnings

import numpy as np

from . import nd, recordio
from .array import NDArray
from .base import MXNetError
from .io import DataBatch, DataDesc, DataIter, OneArrayGetters
from .util import is_np_array

__all__ = ["ImageIter", "ImageRecordIter"]

_LABEL_DTYPES = ("int32", "float32", "int64", "float64")


def _image():
    from . import image      # image.py imports this module at its end
    return image


def _existing(path, what, who):
    """`path` as a str, or MXNetError when the file is not there (before opening it)."""
    path = str(path)
    if not os.path.isfile(path):
        raise MXNetError(f"{who}: {what} {path!r} does not exist or is not a file")
    return path


def _output(arr):
    """An NDArray of a batch array (an mx.np array under set_np, as MXNet gives)."""
    res = nd.array(arr, dtype=arr.dtype)
    if is_np_array():
        from .numpy_api.ndarray import as_np
        res = as_np(res)
    return res


# augmentation options of the C++ iterator at values where they change nothing (their
# defaults): passing them (example/image-classification's data.py passes every one) is fine
_NO_EFFECT = {
    **{k: (0, 0.0, False) for k in ("brightness", "contrast", "saturation", "pca_noise",
                                    "random_h", "random_s", "random_l", "pad",
                                    "max_rotate_angle", "max_shear_ratio", "max_aspect_ratio",
                                    "random_resized_crop")},
    **{k: (1, 1.0) for k in ("max_random_scale", "min_random_scale", "max_random_area",
                             "min_random_area")},
    "min_crop_size": (-1,), "max_crop_size": (-1,), "min_aspect_ratio": (None,),
    "fill_value": tuple(range(256)),
}


class _ScannedRecordIO(recordio.MXRecordIO):
    """A .rec file read by record number, the offsets found by one pass over it: MXNet's C++
    ImageRecordIter shuffles and splits a file that has no .idx."""

    def __init__(self, uri):
        super().__init__(uri, "r")
        self.idx = {}
        while True:
            pos = self.handle.tell()
            if self.read() is None:
                break
            self.idx[len(self.idx)] = pos
        self.keys = list(self.idx)
        self.reset()

    def read_idx(self, idx):
        self._check(False)
        self.handle.seek(self.idx[idx])
        return self.read()


class ImageIter(DataIter):
    """MXNet 1.9.1's ImageIter: images from a .rec file (`path_imgrec`, with `path_imgidx` for
    shuffling and parts) or a .lst file / `imglist` of files under `path_root`, augmented by
    `aug_list` (default CreateAugmenter(data_shape, **kwargs)), as (batch, C, H, W) float32
    data and (batch,) or (batch, label_width) float32 labels. last_batch_handle: 'pad' (the
    last batch completed from the start, `pad` counting the repeats), 'discard', or
    'roll_over' (the incomplete batch is finished with the next epoch's first images; as in
    MXNet that batch still reports `pad`)."""
    _index_by_scanning = False    # (MXNet's ImageIter needs the .idx to shuffle or split)

    def __init__(self, batch_size, data_shape, label_width=1, path_imgrec=None,
                 path_imglist=None, path_root=None, path_imgidx=None, shuffle=False,
                 part_index=0, num_parts=1, aug_list=None, imglist=None, data_name="data",
                 label_name="softmax_label", dtype="float32", last_batch_handle="pad",
                 **kwargs):
        super().__init__(batch_size)
        who = type(self).__name__
        if not (path_imgrec or path_imglist or isinstance(imglist, list)):
            raise MXNetError(f"{who}: give path_imgrec, path_imglist or imglist (a list)")
        if dtype not in _LABEL_DTYPES:
            raise MXNetError(f"{who}: label dtype {dtype!r} is not supported, use one of "
                             f"{', '.join(_LABEL_DTYPES)}")
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError(f"{who}: last_batch_handle must be 'pad', 'discard' or "
                             f"'roll_over', got {last_batch_handle!r}")
        if int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"{who}: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        data_shape = tuple(int(d) for d in data_shape)
        self.check_data_shape(data_shape)
        self.imgrec, self.imgidx = None, None
        if path_imgrec:
            rec = _existing(path_imgrec, "path_imgrec", who)
            if path_imgidx:
                idx = _existing(path_imgidx, "path_imgidx", who)
                self.imgrec = recordio.MXIndexedRecordIO(idx, rec, "r")
                self.imgidx = list(self.imgrec.keys)
            elif (shuffle or num_parts > 1) and self._index_by_scanning:
                self.imgrec = _ScannedRecordIO(rec)
                self.imgidx = list(self.imgrec.keys)
            else:
                self.imgrec = recordio.MXRecordIO(rec, "r")
        imgkeys = None
        if path_imglist:
            self.imglist, imgkeys = self._read_list(
                _existing(path_imglist, "path_imglist", who), dtype, who)
        elif isinstance(imglist, list):
            self.imglist, imgkeys = {}, []
            for n, item in enumerate(imglist, 1):
                if len(item) > 2:
                    label = np.array(item[:-1], dtype=dtype)
                elif isinstance(item[0], (int, float, np.number)):
                    label = np.array([item[0]], dtype=dtype)
                else:
                    label = np.array(item[0], dtype=dtype)
                self.imglist[str(n)] = (label, item[-1])
                imgkeys.append(str(n))
        else:
            self.imglist = None
        self.path_root = path_root
        self.batch_size, self.data_shape = int(batch_size), data_shape
        self.label_width, self.shuffle = int(label_width), shuffle
        self.provide_data = [(data_name, (self.batch_size,) + data_shape)]
        self.provide_label = [(label_name, (self.batch_size, self.label_width)
                               if self.label_width > 1 else (self.batch_size,))]
        if self.imgrec is None:
            self.seq = imgkeys
        elif shuffle or num_parts > 1 or path_imgidx:
            if self.imgidx is None:
                raise MXNetError(f"{who}: shuffle and num_parts > 1 need path_imgidx (the "
                                 f".idx file beside {path_imgrec!r})")
            self.seq = self.imgidx
        else:
            self.seq = None
        if num_parts > 1:
            if not 0 <= part_index < num_parts:
                raise MXNetError(f"{who}: part_index {part_index} is not in [0, {num_parts})")
            size = len(self.seq) // num_parts
            self.seq = self.seq[part_index * size:(part_index + 1) * size]
        self.auglist = _image().CreateAugmenter(data_shape, **kwargs) if aug_list is None \
            else aug_list
        self.cur, self._allow_read = 0, True
        self.last_batch_handle = last_batch_handle
        self.num_image = len(self.seq) if self.seq is not None else None
        self._cache_data = self._cache_label = self._cache_idx = None
        self.reset()

    @staticmethod
    def _read_list(path, dtype, who):
        """{key: (label array, relative path)} and the keys in file order, from a .lst file
        (index<TAB>label(s)<TAB>path lines)."""
        imglist, keys = {}, []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.strip().split("\t")
                if len(fields) < 3:
                    raise MXNetError(f"{who}: {path!r} line {n} is not "
                                     f"'index<TAB>label(s)<TAB>path': {line.strip()!r}")
                try:
                    key, label = int(fields[0]), np.array(fields[1:-1]).astype(dtype)
                except ValueError as e:
                    raise MXNetError(f"{who}: {path!r} line {n}: {e}") from None
                imglist[key] = (label, fields[-1])
                keys.append(key)
        return imglist, keys

    def reset(self):
        """Back to the start (reshuffled with Python's random when shuffle is set); under
        'roll_over' a kept incomplete batch is not thrown away."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.last_batch_handle != "roll_over" or self._cache_data is None:
            if self.imgrec is not None:
                self.imgrec.reset()
            self.cur, self._allow_read = 0, True

    def hard_reset(self):
        """reset() that also drops a rolled-over incomplete batch."""
        self._cache_data = self._cache_label = self._cache_idx = None
        self.reset()

    def next_sample(self):
        """(label, encoded image bytes) of the next image; StopIteration at the end (which
        rewinds unless last_batch_handle is 'discard')."""
        if not self._allow_read:
            raise StopIteration
        if self.seq is None:
            s = self.imgrec.read()
            if s is None:
                if self.last_batch_handle != "discard":
                    self.imgrec.reset()
                raise StopIteration
            header, img = recordio.unpack(s)
            return header.label, img
        if self.cur >= self.num_image:
            if self.last_batch_handle != "discard":
                self.cur = 0
            raise StopIteration
        idx = self.seq[self.cur]
        self.cur += 1
        if self.imgrec is not None:
            header, img = recordio.unpack(self.imgrec.read_idx(idx))
            return (header.label if self.imglist is None else self.imglist[idx][0]), img
        label, fname = self.imglist[idx]
        return label, self.read_image(fname)

    def read_image(self, fname):
        """The bytes of image file `fname` under path_root."""
        path = os.path.join(self.path_root or "", fname)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise MXNetError(f"{type(self).__name__}: cannot read image {path!r}: "
                             f"{e.strerror or e}") from None

    def imdecode(self, s):
        """Decoded HWC RGB image of record / file bytes; RuntimeError naming the image."""
        try:
            return _image().imdecode(s)
        except Exception as e:  # noqa: BLE001 - reported with the image's place, as MXNet
            raise RuntimeError(f"Broken image {self._where()}, {e}") from None

    def _where(self):
        if self.seq is None:
            return "(record read sequentially)"
        idx = self.seq[(self.cur - 1) % max(self.num_image, 1)]
        if self.imglist is not None and idx in self.imglist:
            return f"filename: {self.imglist[idx][1]}"
        return f"index: {idx}"

    def check_data_shape(self, data_shape):
        if len(data_shape) != 3:
            raise ValueError("data_shape should have length 3, with dimensions CxHxW")
        if data_shape[0] != 3:
            raise ValueError("This iterator expects inputs to have 3 channels.")

    def augmentation_transform(self, data):
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum):
        """HWC -> CHW."""
        return nd.transpose(datum, axes=(2, 0, 1))

    def _batchify(self, batch_data, batch_label, start=0):
        """Fill rows start.. of the numpy batch; the number of rows filled (StopIteration
        when none could be)."""
        i = start
        try:
            while i < self.batch_size:
                label, s = self.next_sample()
                datum = self.postprocess_data(self.augmentation_transform(self.imdecode(s)))
                datum = datum.asnumpy() if isinstance(datum, NDArray) else np.asarray(datum)
                if datum.shape != batch_data.shape[1:]:
                    raise MXNetError(f"{type(self).__name__}: an augmented image has shape "
                                     f"{datum.shape}, the batch wants {batch_data.shape[1:]}")
                batch_data[i] = datum
                label = label.asnumpy() if isinstance(label, NDArray) else np.asarray(label)
                if label.size != int(np.prod(batch_label.shape[1:])):
                    raise MXNetError(f"{type(self).__name__}: an image has {label.size} "
                                     f"label values, label_width is {self.label_width}")
                batch_label[i] = label.reshape(batch_label.shape[1:])
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self):
        if self._cache_data is not None:
            batch_data, batch_label, i = self._cache_data, self._cache_label, self._cache_idx
        else:
            batch_data = np.zeros((self.batch_size,) + self.data_shape, np.float32)
            batch_label = np.zeros(self.provide_label[0][1], np.float32)
            i = self._batchify(batch_data, batch_label)
        pad = self.batch_size - i
        if pad:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache_data is None:
                self._cache_data, self._cache_label, self._cache_idx = batch_data, batch_label, i
                raise StopIteration
            self._batchify(batch_data, batch_label, i)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache_data = self._cache_label = self._cache_idx = None
        return DataBatch([_output(batch_data)], [_output(batch_label)], pad=pad)


class ImageRecordIter(ImageIter):
    """mx.io.ImageRecordIter: a .rec file as NCHW float32 batches, with the C++ iterator's
    default augmentation: decode, resize of the shorter side to `resize` (bilinear, when not
    -1), centre crop to data_shape (a random place with rand_crop), left-right flip (always
    with mirror, with probability 1/2 with rand_mirror), then (x - mean) * scale / std per
    channel. data_shape's C is 3 (RGB) or 1 (greyscale). round_batch completes the last batch
    from the start of the file (`pad` counts those) and the next epoch begins after them;
    without it the missing rows keep the previous batch's values and pad is 0, as MXNet's.

    Differences from MXNet: random crops, flips and shuffling come from numpy's RandomState
    seeded with `seed`, so they are reproducible but not MXNet's streams; shuffle reorders
    images, not chunks, and num_parts splits by image count, not bytes (a file without
    path_imgidx is scanned once for its records' places); decoding is Pillow in the calling thread
    (preprocess_threads is accepted). An image smaller than data_shape raises MXNetError.
    mean_img names a file of the mean image (C, H, W), subtracted pixel by pixel instead of
    mean_r/g/b: read when it exists (nd.save format), else computed as MXNet's does, the
    average of every image as the iterator would give it without it, and saved there (key
    'mean_img'). Other C++ options (max_rotate_angle, max_random_scale, pad, fill_value, dtype
    other than float32, ...) are accepted, and ignored with a warning when set to a value
    that would change the images."""
    _index_by_scanning = True

    def __init__(self, path_imgrec, data_shape, batch_size, label_width=1, shuffle=False,
                 seed=0, rand_crop=False, rand_mirror=False, mirror=False, mean_r=0.0,
                 mean_g=0.0, mean_b=0.0, std_r=1.0, std_g=1.0, std_b=1.0, scale=1.0,
                 resize=-1, inter_method=1, round_batch=True, data_name="data",
                 label_name="softmax_label", path_imgidx=None, part_index=0, num_parts=1,
                 preprocess_threads=4, mean_img=None, **kwargs):
        ignored = sorted(k for k, v in kwargs.items()
                         if k not in ("verbose", "prefetch_buffer", "ctx")
                         and not (k in _NO_EFFECT and v in _NO_EFFECT[k]))
        if kwargs.get("dtype") in (None, "float32"):
            ignored = [k for k in ignored if k != "dtype"]
        if ignored:
            warnings.warn(f"ImageRecordIter: {', '.join(ignored)} not supported by tracegrad, "
                          f"ignored", stacklevel=2)
        if not path_imgrec:
            raise MXNetError("ImageRecordIter: path_imgrec is required")
        self._rng = np.random.RandomState(seed)
        self._overflow, self.round_batch = False, bool(round_batch)
        self.current_batch = None
        self._rand_crop, self._rand_mirror, self._mirror = rand_crop, rand_mirror, mirror
        self._resize, self._inter = int(resize), inter_method
        channels = int(tuple(data_shape)[0]) if len(tuple(data_shape)) == 3 else 0
        mean = np.array([mean_r, mean_g, mean_b][:channels], np.float32)
        self._mean = mean
        self._mult = (np.float32(scale) / np.array([std_r, std_g, std_b][:channels],
                                                    np.float32)).astype(np.float32)
        self._prev = self._mean_img = None
        super().__init__(batch_size, data_shape, label_width=label_width,
                         path_imgrec=path_imgrec, path_imgidx=path_imgidx, shuffle=shuffle,
                         part_index=part_index, num_parts=num_parts, aug_list=[],
                         data_name=data_name, label_name=label_name, last_batch_handle="pad")
        self.provide_data = [DataDesc(n, s) for n, s in self.provide_data]
        self.provide_label = [DataDesc(n, s) for n, s in self.provide_label]
        if mean_img:
            self._mean_img = self._load_or_make_mean(str(mean_img))

    def _load_or_make_mean(self, path):
        """The mean image (H, W, C) of the file `path`, made and saved first when missing."""
        if os.path.exists(path):
            saved = nd.load(path)
            arrays = list(saved.values()) if isinstance(saved, dict) else list(saved)
            if len(arrays) != 1 or tuple(arrays[0].shape) != tuple(self.data_shape):
                raise MXNetError(f"ImageRecordIter: mean_img {path!r} must hold one array of "
                                 f"data_shape {tuple(self.data_shape)}, got "
                                 f"{[tuple(a.shape) for a in arrays]}")
            mean = arrays[0].asnumpy().astype(np.float32)
        else:
            total, count = None, 0
            for batch in self:
                rows = batch.data[0].asnumpy()[:self.batch_size - batch.pad]
                part = rows.astype(np.float64).sum(0)
                total = part if total is None else total + part
                count += len(rows)
            mean = (total / count).astype(np.float32)
            nd.save(path, {"mean_img": nd.array(mean)})
            self._overflow, self._prev = False, None   # (MXNet's BeforeFirst: from the top)
            self.reset()
        return mean.transpose(1, 2, 0)

    def check_data_shape(self, data_shape):
        if len(data_shape) != 3 or data_shape[0] not in (1, 3):
            raise MXNetError(f"ImageRecordIter: data_shape must be (C, H, W) with C 1 or 3, "
                             f"got {data_shape}")

    def reset(self):
        """Back to the start; after a round_batch wrap the next epoch begins after the
        wrapped images (the C++ iterator's behaviour)."""
        if self._overflow:
            self._overflow, self._allow_read = False, True
            return
        if self.seq is not None and self.shuffle:
            self._rng.shuffle(self.seq)
        if self.imgrec is not None:
            self.imgrec.reset()
        self.cur, self._allow_read = 0, True

    def imdecode(self, s):
        gray = self.data_shape[0] == 1
        img = _image().image_codec.decode(s, "gray" if gray else "color", "an image record",
                                          "ImageRecordIter")
        return img[:, :, None] if gray else img

    def augmentation_transform(self, data):
        c, h, w = self.data_shape
        if self._resize != -1:
            data = _image().resize_short(nd.array(data, dtype="uint8"), self._resize,
                                         self._inter).asnumpy()
        rows, cols = data.shape[:2]
        if rows < h or cols < w:
            raise MXNetError(f"ImageRecordIter: an image of {rows}x{cols} is smaller than "
                             f"data_shape's {h}x{w} (set resize)")
        if self._rand_crop:
            y0, x0 = self._rng.randint(0, rows - h + 1), self._rng.randint(0, cols - w + 1)
        else:
            y0, x0 = (rows - h) // 2, (cols - w) // 2
        data = data[y0:y0 + h, x0:x0 + w]
        # the mean image is taken at the unflipped place, then the result flipped (MXNet)
        mean = self._mean if self._mean_img is None else self._mean_img
        data = (data.astype(np.float32) - mean) * self._mult
        if self._mirror or (self._rand_mirror and self._rng.randint(0, 2)):
            data = data[:, ::-1]
        return data

    def postprocess_data(self, datum):
        return np.ascontiguousarray(datum.transpose(2, 0, 1))

    def next(self):
        batch = super().next()
        if batch.pad and self.round_batch:
            self._overflow = True
        elif batch.pad:
            # MXNet's C++ iterator leaves these rows as the previous batch had them, pad 0
            data, label = batch.data[0].asnumpy(), batch.label[0].asnumpy()
            keep = self.batch_size - batch.pad
            prev = self._prev or (np.zeros_like(data), np.zeros_like(label))
            data[keep:], label[keep:] = prev[0][keep:], prev[1][keep:]
            batch = DataBatch([_output(data)], [_output(label)], pad=0)
        self._prev = (batch.data[0].asnumpy(), batch.label[0].asnumpy())
        self.current_batch = batch
        return batch

    # (one array each, as MXNet's C++ iterator gives them)
    getdata, getlabel = OneArrayGetters.getdata, OneArrayGetters.getlabel
