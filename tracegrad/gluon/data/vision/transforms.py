"""`gluon.data.vision.transforms`, as in MXNet 1.9.1: image transforms as Blocks, composed
with Compose and applied to datasets with `dataset.transform_first(...)`.

Images are HWC (or NHWC batches) until ToTensor makes them CHW float32 in [0, 1]. Resize is
OpenCV's cv::resize as MXNet calls it (nd_image.py: nearest, bilinear, bicubic, area,
Lanczos), one interpolation matrix per axis, so it hybridizes and differentiates. Integer
results are rounded to nearest (a blend of in-range pixels stays in
range; OpenCV's fixed-point weights can differ from this by 1 in the last unit). Samples given
as numpy arrays (as ArrayDataset yields them) are taken as NDArrays of their dtype (uint8
images stay uint8, as the datasets here yield them).
"""
import random

import numpy as np

from .... import nd
from ....nd_image import _INTERPOLATIONS, _size_wh, interpolation_matrix, resized_size  # noqa: F401
from ....nd_image import _resize as resize
from .... import nd_image
from ....nd_image import check_image as _check_image
from ....array import NDArray
from ....base import MXNetValueError
from ...block import Block, HybridBlock
from ...nn.basic_layers import HybridSequential, Sequential

__all__ = ["Compose", "Cast", "ToTensor", "Normalize", "RandomResizedCrop", "CenterCrop",
           "Resize", "RandomFlipLeftRight", "RandomFlipTopBottom", "CropResize", "RandomApply",
           "HybridCompose", "HybridRandomApply", "RandomCrop", "RandomGray"]

def _as_nd(x):
    """An NDArray of x in its dtype (uint8 images, as decoders give them, stay uint8); the
    integer dtypes tracegrad does not hold (int16, uint16, uint32...) widen to int32/int64."""
    if isinstance(x, NDArray):
        return x
    x = np.asarray(x)
    if x.dtype.kind in "iu" and x.dtype not in (np.int32, np.int64, np.uint8, np.int8):
        x = x.astype(np.int32 if x.dtype.itemsize < 4 else np.int64)
    return nd.array(x, dtype=x.dtype)


def same_on_a_batch(fn, sample_ndim) -> bool:
    """Whether fn applied to samples of sample_ndim dimensions stacked along a new first axis
    gives exactly the stack of fn(sample) (so the DataLoader may transform a whole batch):
    Cast, ToTensor and Normalize of 3-d images (they read a 4-d input as NHWC / NCHW), and
    compositions of them. Nothing random: a random transform draws once per sample."""
    kind = type(fn)
    if kind is Cast:
        return True
    if kind is ToTensor or kind is Normalize:
        return sample_ndim == 3
    if kind in (Compose, HybridCompose, HybridSequential, Sequential):
        return all(same_on_a_batch(child, sample_ndim) for child in fn._children.values())
    return False


class _TakesNumpy:
    """Transforms accept numpy images too (datasets yield them)."""

    def __call__(self, x, *args):
        return super().__call__(_as_nd(x), *args)


class Compose(Sequential):
    """Applies transforms in order; runs of consecutive HybridBlocks are grouped in a
    hybridized HybridSequential, as MXNet does."""

    def __init__(self, transforms):
        super().__init__()
        hybrid = []
        for t in list(transforms) + [None]:
            if isinstance(t, HybridBlock):
                hybrid.append(t)
                continue
            if len(hybrid) == 1:
                self.add(hybrid[0])
            elif len(hybrid) > 1:
                chain = HybridSequential()
                chain.add(*hybrid)
                chain.hybridize()
                self.add(chain)
            hybrid = []
            if t is not None:
                self.add(t)

    def __call__(self, x, *args):
        return super().__call__(_as_nd(x), *args)


class Cast(_TakesNumpy, HybridBlock):
    """Casts to dtype (default float32)."""

    def __init__(self, dtype="float32"):
        super().__init__()
        self._dtype = dtype

    def hybrid_forward(self, F, x):
        return nd.cast(x, self._dtype)


class ToTensor(_TakesNumpy, HybridBlock):
    """HWC (or NHWC) in [0, 255] -> CHW (or NCHW) float32 in [0, 1] (nd.image.to_tensor)."""

    def hybrid_forward(self, F, x):
        return nd_image.to_tensor(x, "ToTensor")


class Normalize(_TakesNumpy, HybridBlock):
    """(x - mean[c]) / std[c] per channel of CHW (or NCHW); a scalar applies to all
    (nd.image.normalize)."""

    def __init__(self, mean=0.0, std=1.0):
        super().__init__()
        self._mean, self._std = mean, std

    def hybrid_forward(self, F, x):
        return nd_image.normalize(x, self._mean, self._std, "Normalize")


class Resize(_TakesNumpy, HybridBlock):
    """Resize HWC (or NHWC) to size: an int (square, or the short side with keep_ratio) or
    (width, height)."""

    def __init__(self, size, keep_ratio=False, interpolation=1):
        super().__init__()     # (a bad size or interpolation is refused when called, as MXNet)
        self._size, self._keep, self._interpolation = size, keep_ratio, interpolation

    def hybrid_forward(self, F, x):
        _check_image("Resize", x)
        h, w = x.shape[x.ndim - 3], x.shape[x.ndim - 2]
        height, width = resized_size(h, w, self._size, self._keep)
        return resize(x, width, height, self._interpolation)


def _fixed_crop(x, x0, y0, w, h, size, interpolation):
    out = x[y0:y0 + h, x0:x0 + w]
    if size is not None and (w, h) != tuple(size):
        out = resize(out, size[0], size[1], interpolation)
    return out


def center_crop(x, size, interpolation=1):
    """MXNet's image.center_crop: the largest centred crop of size's aspect ratio that fits
    (shrunk when the image is smaller), resized to size; returns (out, (x0, y0, w, h))."""
    h, w = x.shape[0], x.shape[1]
    cw, ch = size
    if h < ch:
        cw, ch = float(cw * h) / ch, h
    if w < cw:
        cw, ch = w, float(ch * w) / cw
    cw, ch = int(cw), int(ch)
    x0, y0 = int((w - cw) / 2), int((h - ch) / 2)
    return _fixed_crop(x, x0, y0, cw, ch, size, interpolation), (x0, y0, cw, ch)


class CenterCrop(_TakesNumpy, Block):
    """Centre crop of an HWC image to size (int or (width, height)), upsampling if smaller."""

    def __init__(self, size, interpolation=1):
        super().__init__()
        self._size, self._interpolation = _size_wh("CenterCrop", size), interpolation

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"CenterCrop: expects an HWC image, got shape {tuple(x.shape)}")
        return center_crop(x, self._size, self._interpolation)[0]


class RandomResizedCrop(_TakesNumpy, Block):
    """A crop of random area (scale of the image's) and aspect ratio (log-uniform in ratio),
    resized to size; after 10 misses, a centre crop. Draws from Python's `random`."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=1):
        super().__init__()
        self._size = _size_wh("RandomResizedCrop", size)
        if isinstance(scale, (int, float)):
            scale = (scale, 1.0)
        self._scale, self._ratio, self._interpolation = tuple(scale), tuple(ratio), interpolation

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"RandomResizedCrop: expects an HWC image, got shape "
                             f"{tuple(x.shape)}")
        h, w = x.shape[0], x.shape[1]
        for _ in range(10):
            area = random.uniform(*self._scale) * h * w
            aspect = np.exp(random.uniform(np.log(self._ratio[0]), np.log(self._ratio[1])))
            cw = int(round(np.sqrt(area * aspect)))
            ch = int(round(np.sqrt(area / aspect)))
            if cw <= w and ch <= h:
                x0, y0 = random.randint(0, w - cw), random.randint(0, h - ch)
                return _fixed_crop(x, x0, y0, cw, ch, self._size, self._interpolation)
        return center_crop(x, self._size, self._interpolation)[0]


class CropResize(_TakesNumpy, HybridBlock):
    """The (width x height) crop at (x, y) of an HWC (or NHWC) image, resized to size
    ((width, height) or an int) when given."""

    def __init__(self, x, y, width, height, size=None, interpolation=None):
        super().__init__()      # (a bad box or size is refused when called, as MXNet)
        self._box = (int(x), int(y), int(width), int(height))
        self._size = size
        self._interpolation = 1 if interpolation is None else interpolation

    def hybrid_forward(self, F, x):
        _check_image("CropResize", x)
        x0, y0, w, h = self._box
        rows, cols = x.shape[x.ndim - 3], x.shape[x.ndim - 2]
        if min(x0, y0) < 0 or min(w, h) <= 0 or x0 + w > cols or y0 + h > rows:
            raise MXNetValueError(f"CropResize: the box x={x0}, y={y0}, width={w}, height={h} "
                                  f"does not fit an image of {rows}x{cols} (HxW)")
        size = None if self._size is None else _size_wh("CropResize", self._size)
        out = x[y0:y0 + h, x0:x0 + w] if x.ndim == 3 else x[:, y0:y0 + h, x0:x0 + w]
        if size is not None:
            out = resize(out, size[0], size[1], self._interpolation)
        return out


class RandomApply(_TakesNumpy, Sequential):
    """Applies `transforms` with probability p (Python's `random` decides, per call)."""

    def __init__(self, transforms, p=0.5):
        super().__init__()
        self.transforms = transforms
        self.p = p

    def forward(self, x):
        if self.p < random.random():
            return x
        return self.transforms(x)


class HybridCompose(HybridSequential):
    """Compose of HybridBlocks only, hybridized (MXNet 1.9.1's HybridCompose)."""

    def __init__(self, transforms):
        super().__init__()
        for t in transforms:
            if not isinstance(t, HybridBlock):
                raise ValueError(f"{t} is not a HybridBlock, try use `Compose` instead")
            self.add(t)
        self.hybridize()

    def __call__(self, x, *args):
        return super().__call__(_as_nd(x), *args)


class HybridRandomApply(_TakesNumpy, HybridBlock):
    """Applies the HybridBlock `transforms` with probability p: a draw of the random stream
    picks the transformed or the original image, so it stays random hybridized (the
    transforms must keep the image's shape and dtype, as MXNet's cond needs)."""

    def __init__(self, transforms, p=0.5):
        super().__init__()
        if not isinstance(transforms, HybridBlock):
            raise ValueError(f"HybridRandomApply: {transforms} is not a HybridBlock, use "
                             f"RandomApply instead")
        self.transforms, self.p = transforms, p

    def hybrid_forward(self, F, x):
        out = self.transforms(x)
        if tuple(out.shape) != tuple(x.shape) or out.dtype != x.dtype:
            raise ValueError(f"HybridRandomApply: the transforms turn {tuple(x.shape)} "
                             f"{np.dtype(x.dtype).name} into {tuple(out.shape)} "
                             f"{np.dtype(out.dtype).name}; they must keep both")
        keep = nd.random.uniform(0.0, 1.0, shape=(1,) * x.ndim) > self.p
        return nd.where(nd.broadcast_to(keep, x.shape), x, out)


class RandomCrop(_TakesNumpy, Block):
    """A random (width x height) window of an HWC image (size an int or (width, height)),
    after padding it with pad_value: `pad` an int (top, bottom, left and right) or (top,
    bottom, left, right). An image smaller than the window is resized up to it. The corner
    is drawn from Python's `random`, as RandomResizedCrop's."""

    def __init__(self, size, pad=None, pad_value=0, interpolation=1):
        super().__init__()
        self._size = _size_wh("RandomCrop", size)
        if pad is None:
            self._pad = None
        elif isinstance(pad, (int, np.integer)):
            self._pad = (int(pad),) * 4
        elif len(pad) >= 4:
            self._pad = tuple(int(v) for v in pad[:4])
        else:
            raise ValueError(f"RandomCrop: pad must be an int or (top, bottom, left, right), "
                             f"got {pad}")
        if self._pad is not None and min(self._pad) < 0:
            raise ValueError(f"RandomCrop: pad must be >= 0, got {pad}")
        self._pad_value, self._interpolation = pad_value, interpolation

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"RandomCrop: expects an HWC image, got shape {tuple(x.shape)}")
        if self._pad is not None and any(self._pad):
            top, bottom, left, right = self._pad
            wide = nd.pad(nd.expand_dims(nd.expand_dims(nd.cast(x, "float32"), 0), 0),
                          mode="constant", pad_width=(0, 0, 0, 0, top, bottom, left, right,
                                                      0, 0),
                          constant_value=float(self._pad_value))
            x = nd.cast(nd.reshape(wide, shape=wide.shape[2:]), np.dtype(x.dtype).name)
        h, w = x.shape[0], x.shape[1]
        cw, ch = self._size
        if w < cw or h < ch:
            return resize(x, cw, ch, self._interpolation)
        x0, y0 = random.randint(0, w - cw), random.randint(0, h - ch)
        return x[y0:y0 + ch, x0:x0 + cw]


class RandomGray(_TakesNumpy, HybridBlock):
    """With probability p, MXNet 1.9.1's gray: float32 dot(x, M) with every row of M
    (0.2989, 0.587, 0.114), so channel j is weight j times R + G + B (MXNet's matrix; not the
    luma replicated); otherwise x as float32."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def hybrid_forward(self, F, x):
        if x.ndim < 3 or x.shape[-1] != 3:
            raise ValueError(f"RandomGray: expects (..., H, W, 3) images, got shape "
                             f"{tuple(x.shape)}")
        x = nd.cast(x, "float32")
        mat = nd.array(np.tile([[0.2989, 0.5870, 0.114]], (3, 1)), dtype="float32")
        gray = nd.dot(x, mat)
        keep = nd.random.uniform(0.0, 1.0, shape=(1,) * x.ndim) > self.p
        return nd.where(nd.broadcast_to(keep, x.shape), x, gray)


class _RandomFlip(_TakesNumpy, HybridBlock):
    """Flips along one image axis with probability 0.5 (nd_image.random_flip: a draw of the
    random stream, so it stays random when hybridized)."""
    _axis_from_end = None

    def hybrid_forward(self, F, x):
        return nd_image.random_flip(type(self).__name__, x, self._axis_from_end)


class RandomFlipLeftRight(_RandomFlip):
    """Flips HWC images left-right (the W axis) with probability 0.5."""
    _axis_from_end = 2


class RandomFlipTopBottom(_RandomFlip):
    """Flips HWC images top-bottom (the H axis) with probability 0.5."""
    _axis_from_end = 3


from .color import (RandomBrightness, RandomColorJitter, RandomContrast,  # noqa: E402,F401
                    RandomHue, RandomLighting, RandomSaturation)

from .rotate import RandomRotation, Rotate  # noqa: E402,F401

__all__ += ["Rotate", "RandomRotation", "RandomBrightness", "RandomContrast", "RandomSaturation",
            "RandomHue", "RandomColorJitter", "RandomLighting"]
