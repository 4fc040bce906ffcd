"""`mx.image`'s object-detection API (MXNet 1.9.1 image/detection.py, also `mx.image.detection`
and `mx.image.det`): augmenters that move the boxes with the pixels, and ImageDetIter.

A detection label is (objects, width) with rows [class, xmin, ymin, xmax, ymax, extra...],
coordinates normalized to [0, 1]. Stored raw (a .rec header's label array, a .lst line's
numbers, an imglist item's numbers) it is [header width A, object width B, A - 2 more header
values, then the objects' B values each]. Batches pad the missing objects with rows of -1.

The augmenters draw from Python's `random` (and numpy's, through the borrowed colour ones) in
the order MXNet's do, with MXNet's arithmetic, so a seeded run crops, pads and flips as
MXNet's does. Augmenters take and return (HWC image, label numpy array); the flip changes the
label it is given in place, as MXNet's.
"""
import logging
import random
import warnings
from math import sqrt
from numbers import Number

import numpy as np

from . import nd
from .array import NDArray
from .base import MXNetError
from .image_aug import (Augmenter, CastAug, ColorJitterAug, ColorNormalizeAug, ForceResizeAug,
                        HueJitterAug, LightingAug, RandomGrayAug, ResizeAug)
from .image_iter import ImageIter

__all__ = ["DetAugmenter", "DetBorrowAug", "DetRandomSelectAug", "DetHorizontalFlipAug",
           "DetRandomCropAug", "DetRandomPadAug", "CreateMultiRandCropAugmenter",
           "CreateDetAugmenter", "ImageDetIter"]

_log = logging.getLogger(__name__)


def _image():
    from . import image      # image.py imports this module at its end
    return image


class DetAugmenter:
    """Base of the detection augmenters: called as aug(src, label) -> (src, label). Not an
    Augmenter, so DetBorrowAug can tell the two kinds apart."""
    __init__ = Augmenter.__init__     # keeps the arguments (arrays as lists) for dumps()
    dumps = Augmenter.dumps

    def __call__(self, src, label):
        raise NotImplementedError(f"{type(self).__name__}.__call__")


class DetBorrowAug(DetAugmenter):
    """A classification Augmenter applied to the image only, for the ones that leave boxes
    where they are (resizes, colour, casts)."""

    def __init__(self, augmenter):
        if not isinstance(augmenter, Augmenter):
            raise TypeError(f"Borrowing from invalid Augmenter: DetBorrowAug wraps an "
                            f"mx.image.Augmenter, got {type(augmenter).__name__}")
        super().__init__(augmenter=augmenter.dumps())
        self.augmenter = augmenter

    def dumps(self):
        return [type(self).__name__.lower(), self.augmenter.dumps()]

    def __call__(self, src, label):
        return self.augmenter(src), label


class DetRandomSelectAug(DetAugmenter):
    """One of aug_list, picked at random (the list is shuffled in place, as MXNet's), or,
    with probability skip_prob, none; an empty list always skips."""

    def __init__(self, aug_list, skip_prob=0):
        super().__init__(skip_prob=skip_prob)
        if not isinstance(aug_list, (list, tuple)):
            aug_list = [aug_list]
        for aug in aug_list:
            if not isinstance(aug, DetAugmenter):
                raise ValueError(f"Allow DetAugmenter in list only: DetRandomSelectAug got a "
                                 f"{type(aug).__name__}")
        self.aug_list = aug_list
        self.skip_prob = skip_prob if aug_list else 1

    def dumps(self):
        return [type(self).__name__.lower(), [a.dumps() for a in self.aug_list]]

    def __call__(self, src, label):
        if random.random() < self.skip_prob:
            return src, label
        random.shuffle(self.aug_list)
        return self.aug_list[0](src, label)


class DetHorizontalFlipAug(DetAugmenter):
    """With probability p, flip the image left-right and mirror the boxes (x -> 1 - x, xmin
    and xmax swapping), in the given label array."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src, label):
        if random.random() < self.p:
            src = nd.flip(src, axis=1)
            self._flip_label(label)
        return src, label

    def _flip_label(self, label):
        left = 1.0 - label[:, 3]
        label[:, 3] = 1.0 - label[:, 1]
        label[:, 1] = left


def _pair(value, what, who):
    """A (low, high) range; a single number stands for (number, number)."""
    if isinstance(value, (tuple, list)):
        return value
    if not isinstance(value, Number):
        raise TypeError(f"{who}: {what} must be a number or a (low, high) pair, got "
                        f"{type(value).__name__}")
    _log.info("Using fixed %s: %s in %s", what, value, who)
    return (value, value)


def _areas(boxes):
    """Areas of (n, 4+) boxes [xmin, ymin, xmax, ymax, ...], 0 for an empty one."""
    return np.maximum(0, boxes[:, 3] - boxes[:, 1]) * np.maximum(0, boxes[:, 2] - boxes[:, 0])


class DetRandomCropAug(DetAugmenter):
    """Crop a random region (area a fraction of the image in area_range, width / height in
    aspect_ratio_range, in whole pixels) that covers more than min_object_covered of every
    box it touches (boxes over 2 pixels, at least one touched); the boxes are moved into the
    crop and clipped to it, and a box keeping no more than min_eject_coverage of its area
    is dropped. After max_attempts proposals that fail (or drop every box), the image and
    label are returned unchanged. Invalid ranges disable it with a warning."""

    def __init__(self, min_object_covered=0.1, aspect_ratio_range=(0.75, 1.33),
                 area_range=(0.05, 1.0), min_eject_coverage=0.3, max_attempts=50):
        who = type(self).__name__
        aspect_ratio_range = _pair(aspect_ratio_range, "aspect ratio", who)
        area_range = _pair(area_range, "area range", who)
        super().__init__(min_object_covered=min_object_covered,
                         aspect_ratio_range=aspect_ratio_range, area_range=area_range,
                         min_eject_coverage=min_eject_coverage, max_attempts=max_attempts)
        self.min_object_covered = min_object_covered
        self.min_eject_coverage = min_eject_coverage
        self.max_attempts = max_attempts
        self.aspect_ratio_range = aspect_ratio_range
        self.area_range = area_range
        self.enabled = False
        if area_range[1] <= 0 or area_range[0] > area_range[1]:
            warnings.warn(f"Skip DetRandomCropAug due to invalid area_range: {area_range}",
                          stacklevel=2)
        elif aspect_ratio_range[0] > aspect_ratio_range[1] or aspect_ratio_range[0] <= 0:
            warnings.warn(f"Skip DetRandomCropAug due to invalid aspect_ratio_range: "
                          f"{aspect_ratio_range}", stacklevel=2)
        else:
            self.enabled = True

    def __call__(self, src, label):
        crop = self._random_crop_proposal(label, src.shape[0], src.shape[1])
        if crop:
            x, y, w, h, label = crop
            src = _image().fixed_crop(src, x, y, w, h, None)
        return src, label

    def _check_satisfy_constraints(self, label, xmin, ymin, xmax, ymax, width, height):
        """Whether the pixel box (xmin, ymin)-(xmax, ymax) is a crop MXNet accepts."""
        if (xmax - xmin) * (ymax - ymin) < 2:
            return False
        objects = label[:, 1:]
        areas = _areas(objects)
        big = np.where(areas * width * height > 2)[0]
        if big.size < 1:
            return False
        boxes = objects[big]
        left = np.maximum(boxes[:, 0], float(xmin) / width)
        top = np.maximum(boxes[:, 1], float(ymin) / height)
        right = np.minimum(boxes[:, 2], float(xmax) / width)
        bottom = np.minimum(boxes[:, 3], float(ymax) / height)
        meets = np.logical_and(left < right, top < bottom)
        inter = np.where(meets, np.maximum(0, bottom - top) * np.maximum(0, right - left), 0)
        coverage = inter / areas[big]
        coverage = coverage[coverage > 0]
        return coverage.size > 0 and np.amin(coverage) > self.min_object_covered

    def _update_labels(self, label, crop_box, height, width):
        """The label in the crop's coordinates, clipped, without the ejected boxes; None
        when no box is left."""
        x0, y0 = float(crop_box[0]) / width, float(crop_box[1]) / height
        cw, ch = float(crop_box[2]) / width, float(crop_box[3]) / height
        out = label.copy()
        out[:, (1, 3)] -= x0
        out[:, (2, 4)] -= y0
        out[:, (1, 3)] /= cw
        out[:, (2, 4)] /= ch
        out[:, 1:5] = np.minimum(1, np.maximum(0, out[:, 1:5]))
        with np.errstate(divide="ignore", invalid="ignore"):   # (a zero-area box: dropped)
            kept = _areas(out[:, 1:]) * cw * ch / _areas(label[:, 1:])
        keep = (out[:, 3] > out[:, 1]) & (out[:, 4] > out[:, 2]) & \
            (kept > self.min_eject_coverage)
        if not keep.any():
            return None
        return out[keep]

    def _random_crop_proposal(self, label, height, width):
        """(x, y, w, h, new label) of an accepted crop, or () after max_attempts."""
        if not self.enabled or height <= 0 or width <= 0:
            return ()
        min_area = self.area_range[0] * height * width
        max_area = self.area_range[1] * height * width
        for _ in range(self.max_attempts):
            ratio = random.uniform(*self.aspect_ratio_range)
            if ratio <= 0:
                continue
            h = int(round(sqrt(min_area / ratio)))
            max_h = int(round(sqrt(max_area / ratio)))
            if round(max_h * ratio) > width:
                max_h = int((width + 0.4999999) / ratio)   # the tallest whose width fits
            max_h = min(max_h, height)
            h = min(h, max_h)
            if h < max_h:
                h = random.randint(h, max_h)
            w = int(round(h * ratio))
            # rounding can leave the area just outside the range: one row more or less
            if w * h < min_area:
                h += 1
                w = int(round(h * ratio))
            if w * h > max_area:
                h -= 1
                w = int(round(h * ratio))
            if not (min_area <= w * h <= max_area and 0 <= w <= width and 0 <= h <= height):
                continue
            y = random.randint(0, max(0, height - h))
            x = random.randint(0, max(0, width - w))
            if self._check_satisfy_constraints(label, x, y, x + w, y + h, width, height):
                new_label = self._update_labels(label, (x, y, w, h), height, width)
                if new_label is not None:
                    return (x, y, w, h, new_label)
        return ()


def _pad_image(src, top, bottom, left, right, value):
    """src (HWC) inside a border filled with value (one per channel, or one for all), as
    OpenCV's constant copyMakeBorder (rounded and saturated for integer images)."""
    data = src.asnumpy() if isinstance(src, NDArray) else np.asarray(src)
    h, w, c = data.shape
    fill = np.asarray(value, dtype=np.float64).ravel()
    if fill.size == 1:
        fill = np.repeat(fill, c)
    if fill.size < c:
        raise ValueError(f"DetRandomPadAug: pad_val {value!r} has {fill.size} values for an "
                         f"image of {c} channels")
    fill = fill[:c]
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        fill = np.clip(np.rint(fill), info.min, info.max)
    out = np.empty((h + top + bottom, w + left + right, c), data.dtype)
    out[...] = fill.astype(data.dtype)
    out[top:top + h, left:left + w] = data
    res = nd.array(out, dtype=out.dtype)
    return _image()._like(res, src) if isinstance(src, NDArray) else res


class DetRandomPadAug(DetAugmenter):
    """Place the image at a random spot of a larger canvas (area area_range times the
    image's, width / height in aspect_ratio_range, at least 2 pixels wider and taller)
    filled with pad_val, and shrink the boxes to match. After max_attempts proposals too
    small to pad, nothing changes. Invalid ranges disable it with a warning."""

    def __init__(self, aspect_ratio_range=(0.75, 1.33), area_range=(1.0, 3.0),
                 max_attempts=50, pad_val=(128, 128, 128)):
        who = type(self).__name__
        if not isinstance(pad_val, (list, tuple)) and not isinstance(pad_val, Number):
            raise TypeError(f"{who}: pad_val must be a number or one per channel, got "
                            f"{type(pad_val).__name__}")
        aspect_ratio_range = _pair(aspect_ratio_range, "aspect ratio", who)
        area_range = _pair(area_range, "area range", who)
        super().__init__(aspect_ratio_range=aspect_ratio_range, area_range=area_range,
                         max_attempts=max_attempts, pad_val=pad_val)
        self.pad_val = pad_val
        self.aspect_ratio_range = aspect_ratio_range
        self.area_range = area_range
        self.max_attempts = max_attempts
        self.enabled = False
        if area_range[1] <= 1.0 or area_range[0] > area_range[1]:
            warnings.warn(f"Skip DetRandomPadAug due to invalid parameters: {area_range}",
                          stacklevel=2)
        elif aspect_ratio_range[0] <= 0 or aspect_ratio_range[0] > aspect_ratio_range[1]:
            warnings.warn(f"Skip DetRandomPadAug due to invalid aspect_ratio_range: "
                          f"{aspect_ratio_range}", stacklevel=2)
        else:
            self.enabled = True

    def __call__(self, src, label):
        height, width, _ = src.shape
        pad = self._random_pad_proposal(label, height, width)
        if pad:
            x, y, w, h, label = pad
            src = _pad_image(src, y, h - y - height, x, w - x - width, self.pad_val)
        return src, label

    def _update_labels(self, label, pad_box, height, width):
        out = label.copy()
        out[:, (1, 3)] = (out[:, (1, 3)] * width + pad_box[0]) / pad_box[2]
        out[:, (2, 4)] = (out[:, (2, 4)] * height + pad_box[1]) / pad_box[3]
        return out

    def _random_pad_proposal(self, label, height, width):
        """(x, y, w, h, new label): the image's place (x, y) on a w x h canvas, or ()."""
        if not self.enabled or height <= 0 or width <= 0:
            return ()
        min_area = self.area_range[0] * height * width
        max_area = self.area_range[1] * height * width
        for _ in range(self.max_attempts):
            ratio = random.uniform(*self.aspect_ratio_range)
            if ratio <= 0:
                continue
            h = int(round(sqrt(min_area / ratio)))
            max_h = int(round(sqrt(max_area / ratio)))
            if round(h * ratio) < width:
                h = int((width + 0.499999) / ratio)        # wide enough to hold the image
            h = max(h, height)
            h = min(h, max_h)
            if h < max_h:
                h = random.randint(h, max_h)
            w = int(round(h * ratio))
            if h - height < 2 or w - width < 2:
                continue                                   # a marginal border is no use
            y = random.randint(0, max(0, h - height))
            x = random.randint(0, max(0, w - width))
            return (x, y, w, h, self._update_labels(label, (x, y, w, h), height, width))
        return ()


def CreateMultiRandCropAugmenter(min_object_covered=0.1, aspect_ratio_range=(0.75, 1.33),
                                 area_range=(0.05, 1.0), min_eject_coverage=0.3,
                                 max_attempts=50, skip_prob=0):
    """DetRandomSelectAug over DetRandomCropAugs: each argument given as a list holds one
    value per crop augmenter (a tuple is one range, not a list), the others are shared."""
    params = [min_object_covered, aspect_ratio_range, area_range, min_eject_coverage,
              max_attempts]
    params = [p if isinstance(p, list) else [p] for p in params]
    num = max(len(p) for p in params)
    for k, p in enumerate(params):
        if len(p) != num:
            if len(p) != 1:
                raise ValueError(f"CreateMultiRandCropAugmenter: the list arguments have "
                                 f"lengths {sorted({len(q) for q in params})}; give one "
                                 f"length (or single values)")
            params[k] = p * num
    augs = [DetRandomCropAug(min_object_covered=moc, aspect_ratio_range=arr, area_range=ar,
                             min_eject_coverage=mec, max_attempts=ma)
            for moc, arr, ar, mec, ma in zip(*params)]
    return DetRandomSelectAug(augs, skip_prob=skip_prob)


_MEAN = (123.68, 116.28, 103.53)
_STD = (58.395, 57.12, 57.375)


def _stats(value, default, what):
    """mean / std as CreateDetAugmenter takes them: True for ImageNet's, or 1 or 3 values."""
    if value is True:
        return np.array(default)
    if value is not None and not (isinstance(value, (np.ndarray, NDArray)) and
                                  value.shape[0] in (1, 3)):
        raise ValueError(f"CreateDetAugmenter: {what} must be True or an array of 1 or 3 "
                         f"values")
    return value


def CreateDetAugmenter(data_shape, resize=0, rand_crop=0, rand_pad=0, rand_gray=0,
                       rand_mirror=False, mean=None, std=None, brightness=0, contrast=0,
                       saturation=0, pca_noise=0, hue=0, inter_method=2, min_object_covered=0.1,
                       aspect_ratio_range=(0.75, 1.33), area_range=(0.05, 3.0),
                       min_eject_coverage=0.3, max_attempts=50, pad_val=(127, 127, 127)):
    """MXNet's detection augmenter list for a (C, H, W) data_shape, in its order: resize of
    the shorter edge, random crop (probability rand_crop; list arguments make several crop
    augmenters, one picked), mirror, random pad (probability rand_pad, up to area_range[1]
    times the area), forced resize to (W, H), cast to float32, colour jitter, hue, PCA noise,
    gray, normalization. Padding happens before normalization, so pad_val is in pixels."""
    augs = []
    if resize > 0:
        augs.append(DetBorrowAug(ResizeAug(resize, inter_method)))
    if rand_crop > 0:
        augs.append(CreateMultiRandCropAugmenter(min_object_covered, aspect_ratio_range,
                                                 area_range, min_eject_coverage, max_attempts,
                                                 skip_prob=1 - rand_crop))
    if rand_mirror > 0:
        augs.append(DetHorizontalFlipAug(0.5))
    if rand_pad > 0:    # as late as possible: everything before works on fewer pixels
        pad = DetRandomPadAug(aspect_ratio_range, (1.0, area_range[1]), max_attempts, pad_val)
        augs.append(DetRandomSelectAug([pad], 1 - rand_pad))
    augs.append(DetBorrowAug(ForceResizeAug((data_shape[2], data_shape[1]), inter_method)))
    augs.append(DetBorrowAug(CastAug()))
    if brightness or contrast or saturation:
        augs.append(DetBorrowAug(ColorJitterAug(brightness, contrast, saturation)))
    if hue:
        augs.append(DetBorrowAug(HueJitterAug(hue)))
    if pca_noise > 0:
        eigval = np.array([55.46, 4.794, 1.148])
        eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                           [-0.5836, -0.6948, 0.4203]])
        augs.append(DetBorrowAug(LightingAug(pca_noise, eigval, eigvec)))
    if rand_gray > 0:
        augs.append(DetBorrowAug(RandomGrayAug(rand_gray)))
    mean, std = _stats(mean, _MEAN, "mean"), _stats(std, _STD, "std")
    if mean is not None or std is not None:
        augs.append(DetBorrowAug(ColorNormalizeAug(mean, std)))
    return augs


class ImageDetIter(ImageIter):
    """MXNet 1.9.1's ImageDetIter: ImageIter's sources, shuffling, parts and last-batch
    handling, with detection labels. Batches are (batch, C, H, W) float32 data and
    (batch, objects, width) float32 labels, label_shape = (objects, width) the most objects
    of any image (read from every label when the iterator is made) and the object width;
    rows past an image's objects are -1. Each label is parsed (boxes with xmax <= xmin or
    ymax <= ymin dropped), augmented with aug_list (default CreateDetAugmenter(data_shape,
    **kwargs); kwargs are ignored when aug_list is given, as in MXNet) and checked; an image
    whose label is malformed or keeps no valid box (class >= 0, positive size) is skipped,
    as is one an augmenter raises a RuntimeError for.

    Differences from MXNet: with no images at all, label_shape is (0, 5) and iteration stops
    at once (MXNet fails with an UnboundLocalError); an MXNetError from an augmenter (an op
    that failed, e.g. interpolation 3 or 4, which tracegrad's imresize lacks) is raised, not
    taken for a bad image and skipped as MXNet would; reshape(data_shape) also re-makes the
    default augmenters for the new size (MXNet's keep resizing to the old one, so its next
    batch fails); draw_next draws with numpy (and Pillow for class names) instead of
    OpenCV, and shows the images only when OpenCV is installed."""

    def __init__(self, batch_size, data_shape, path_imgrec=None, path_imglist=None,
                 path_root=None, path_imgidx=None, shuffle=False, part_index=0, num_parts=1,
                 aug_list=None, imglist=None, data_name="data", label_name="label",
                 last_batch_handle="pad", **kwargs):
        super().__init__(batch_size=batch_size, data_shape=data_shape,
                         path_imgrec=path_imgrec, path_imglist=path_imglist,
                         path_root=path_root, path_imgidx=path_imgidx, shuffle=shuffle,
                         part_index=part_index, num_parts=num_parts, aug_list=[],
                         imglist=imglist, data_name=data_name, label_name=label_name,
                         last_batch_handle=last_batch_handle)
        self._aug_kwargs = kwargs
        self._own_augs = CreateDetAugmenter(self.data_shape, **kwargs) if aug_list is None \
            else None
        self.auglist = self._own_augs if aug_list is None else aug_list
        self.label_shape = self._estimate_label_shape()
        self.provide_label = [(label_name, (self.batch_size,) + self.label_shape)]

    def _raw_labels(self):
        """Every image's raw label in an epoch, without reading the images when the labels
        come from a list."""
        if self.imglist is not None and self.seq is not None:
            for key in self.seq:
                yield self.imglist[key][0]
            return
        try:
            while True:
                yield self.next_sample()[0]
        except StopIteration:
            return

    def _estimate_label_shape(self):
        """(most objects in a parsed label, object width), over the whole data."""
        count, width = 0, None
        self.reset()
        for raw in self._raw_labels():
            label = self._parse_label(raw)
            count, width = max(count, label.shape[0]), label.shape[1]
        self.reset()
        return (count, 5 if width is None else width)

    def _parse_label(self, label):
        """The (objects, width) array of a raw label (header width, object width, rest of
        the header, objects), boxes of no size dropped; RuntimeError when malformed."""
        if isinstance(label, NDArray):
            label = label.asnumpy()
        raw = np.asarray(label).ravel()
        if raw.size < 7:
            raise RuntimeError(f"Label shape is invalid: {raw.shape} (a detection label is "
                               f"header width, object width, ..., then objects of 5+ values)")
        header_width, obj_width = int(raw[0]), int(raw[1])
        if header_width < 2 or obj_width < 5:
            raise RuntimeError(f"Label header width {header_width} (2 or more) or object "
                               f"width {obj_width} (5 or more) is invalid")
        if (raw.size - header_width) % obj_width != 0:
            raise RuntimeError(f"Label shape {raw.shape} inconsistent with annotation width "
                               f"{obj_width}.")
        out = raw[header_width:].reshape(-1, obj_width)
        valid = (out[:, 3] > out[:, 1]) & (out[:, 4] > out[:, 2])
        if not valid.any():
            raise RuntimeError("Encounter sample with no valid label.")
        return out[valid]

    def _check_valid_label(self, label):
        if len(label.shape) != 2 or label.shape[1] < 5:
            raise RuntimeError(f"Label with shape (1+, 5+) required, {label.shape} received.")
        valid = (label[:, 0] >= 0) & (label[:, 3] > label[:, 1]) & (label[:, 4] > label[:, 2])
        if not valid.any():
            raise RuntimeError("Invalid label occurs.")

    def check_valid_image(self, data):
        if len(data[0].shape) == 0:
            raise RuntimeError("Data shape is wrong")

    def reshape(self, data_shape=None, label_shape=None):
        """A new data_shape (C, H, W) and / or label_shape (objects, width): objects may only
        grow and the width must stay (sync_label_shape uses this)."""
        if data_shape is not None:
            data_shape = tuple(int(d) for d in data_shape)
            self.check_data_shape(data_shape)
            self.provide_data = [(self.provide_data[0][0], (self.batch_size,) + data_shape)]
            self.data_shape = data_shape
            if self._own_augs is not None and self.auglist is self._own_augs:
                self.auglist = self._own_augs = CreateDetAugmenter(data_shape,
                                                                   **self._aug_kwargs)
        if label_shape is not None:
            label_shape = tuple(int(d) for d in label_shape)
            self.check_label_shape(label_shape)
            self.provide_label = [(self.provide_label[0][0],
                                   (self.batch_size,) + label_shape)]
            self.label_shape = label_shape

    def check_label_shape(self, label_shape):
        if len(label_shape) != 2:
            raise ValueError("label_shape should have length 2")
        if label_shape[0] < self.label_shape[0]:
            raise ValueError(f"Attempts to reduce label count from {self.label_shape[0]} to "
                             f"{label_shape[0]}, not allowed.")
        if label_shape[1] != self.provide_label[0][1][2]:
            raise ValueError(f"label_shape object width inconsistent: "
                             f"{self.provide_label[0][1][2]} vs {label_shape[1]}.")

    def augmentation_transform(self, data, label):
        """The augmenters applied in turn to (image, label): boxes move with the pixels."""
        for aug in self.auglist:
            data, label = aug(data, label)
        return data, label

    def _batchify(self, batch_data, batch_label, start=0):
        """ImageIter's batch filling with detection labels. ImageIter.next hands over fresh
        arrays at start 0 (a rolled-over batch continues at its count), so that is when the
        label rows no image fills are set to -1, as MXNet's."""
        if start == 0:
            batch_label[:] = -1
        rows, width = batch_label.shape[1:]
        i = start
        try:
            while i < self.batch_size:
                raw, s = self.next_sample()
                data = self.imdecode(s)
                try:
                    self.check_valid_image([data])
                    label = self._parse_label(raw)
                    data, label = self.augmentation_transform(data, label)
                    self._check_valid_label(label)
                except MXNetError:
                    # an op failed (say an interpolation tracegrad lacks): no bad sample
                    raise
                except RuntimeError as e:
                    _log.debug("Invalid image, skipping: %s", e)
                    continue
                datum = self.postprocess_data(data)
                datum = datum.asnumpy() if isinstance(datum, NDArray) else np.asarray(datum)
                if datum.shape != batch_data.shape[1:]:
                    raise MXNetError(f"ImageDetIter: an augmented image has shape "
                                     f"{datum.shape}, the batch wants {batch_data.shape[1:]}")
                if label.shape[0] > rows or label.shape[1] != width:
                    raise MXNetError(f"ImageDetIter: an augmented label has shape "
                                     f"{label.shape}, label_shape is {(rows, width)}")
                batch_data[i] = datum
                batch_label[i, :label.shape[0]] = label
                batch_label[i, label.shape[0]:] = -1
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def draw_next(self, color=None, thickness=2, mean=None, std=None, clip=True,
                  waitKey=None, window_name="draw_next", id2labels=None):
        """Yield the next images, augmented, as HWC uint8 BGR (OpenCV's order) numpy arrays
        with their boxes drawn: color (RGB) or a random one per box, lines `thickness`
        wide (negative: filled), class names from id2labels written in white. mean / std
        (True for ImageNet's, or arrays) undo a normalization first; clip keeps [0, 255].
        With waitKey set, each image is also shown for waitKey ms if OpenCV is installed."""
        std = _stats(std, _STD, "std")
        mean = _stats(mean, _MEAN, "mean")
        bgr = None if not color else tuple(color)[::-1]
        show = None
        if waitKey is not None:
            try:
                import cv2
                show = cv2
            except ImportError:
                warnings.warn("draw_next: OpenCV (cv2) is not installed, the images are not "
                              "shown, only yielded", stacklevel=2)
        while True:
            try:
                raw, s = self.next_sample()
            except StopIteration:
                return
            data = self.imdecode(s)
            try:
                self.check_valid_image([data])
                label = self._parse_label(raw)
            except RuntimeError as e:
                _log.debug("Invalid image, skipping: %s", e)
                continue
            data, label = self.augmentation_transform(data, label)
            image = data.asnumpy() if isinstance(data, NDArray) else np.asarray(data)
            image = image.astype(np.float32)
            if std is not None:
                image *= np.asarray(std.asnumpy() if isinstance(std, NDArray) else std)
            if mean is not None:
                image += np.asarray(mean.asnumpy() if isinstance(mean, NDArray) else mean)
            image = image[:, :, ::-1]
            if clip:
                image = np.clip(image, 0, 255)
            image = np.ascontiguousarray(image.astype(np.uint8))
            _draw_boxes(image, label, bgr, thickness, id2labels)
            if show is not None:
                show.imshow(window_name, image)
                show.waitKey(waitKey)
            yield image

    def sync_label_shape(self, it, verbose=False):
        """Give this iterator and `it` (another ImageDetIter, e.g. validation) the larger
        label_shape of the two; returns `it`."""
        if not isinstance(it, ImageDetIter):
            raise TypeError(f"Synchronize with invalid iterator: sync_label_shape takes an "
                            f"ImageDetIter, got {type(it).__name__}")
        mine, theirs = self.label_shape, it.label_shape
        if mine[1] != theirs[1]:
            raise ValueError(f"object width mismatch: {mine[1]} vs {theirs[1]}")
        most = max(mine[0], theirs[0])
        if most > mine[0]:
            self.reshape(None, (most, mine[1]))
        if most > theirs[0]:
            it.reshape(None, (most, theirs[1]))
        if verbose and most > min(mine[0], theirs[0]):
            _log.info("Resized label_shape to (%d, %d).", most, mine[1])
        return it


def _draw_boxes(image, label, bgr, thickness, id2labels):
    """Rectangles (and class names) of the label's boxes drawn into the uint8 BGR image."""
    height, width = image.shape[:2]
    names = []
    for row in label:
        x1 = int(row[1] * width)
        if x1 < 0:
            continue
        y1, x2, y2 = int(row[2] * height), int(row[3] * width), int(row[4] * height)
        c = np.random.rand(3) * 255 if bgr is None else np.asarray(bgr, dtype=np.float64)
        c = np.clip(np.rint(c), 0, 255).astype(np.uint8)
        t = int(thickness)
        if t < 0:
            image[max(y1, 0):max(y2 + 1, 0), max(x1, 0):max(x2 + 1, 0)] = c
        else:
            lo, hi = (max(t, 1) - 1) // 2, max(t, 1) // 2
            for ya, yb, xa, xb in ((y1 - lo, y1 + hi, x1 - lo, x2 + hi),
                                   (y2 - lo, y2 + hi, x1 - lo, x2 + hi),
                                   (y1 - lo, y2 + hi, x1 - lo, x1 + hi),
                                   (y1 - lo, y2 + hi, x2 - lo, x2 + hi)):
                image[max(ya, 0):max(yb + 1, 0), max(xa, 0):max(xb + 1, 0)] = c
        if id2labels is not None and int(row[0]) in id2labels:
            names.append(((x1 + 5, y1 + 5), str(id2labels[int(row[0])])))
    if names:
        from .image_codec import pillow
        from PIL import ImageDraw
        canvas = pillow("draw_next").fromarray(image)
        draw = ImageDraw.Draw(canvas)
        for place, text in names:
            draw.text(place, text, fill=(255, 255, 255))
        image[...] = np.asarray(canvas)
