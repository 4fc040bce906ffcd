"""`mx.image` (also `mx.img`): MXNet 1.9.1's image helpers on HWC arrays: imresize,
resize_short, scale_down, fixed_crop, random_crop, center_crop, color_normalize, and
imread / imdecode.

Resizing is nd.image's cv::resize arithmetic (0 nearest, 1 bilinear, 2 bicubic; 9 picks one
from the sizes as MXNet does, 10 draws one). Decoding uses Pillow where MXNet links OpenCV
(image_codec.py: PNG exact, JPEG within a few levels); Pillow is imported only when an image is
decoded, so programs that only crop and resize arrays need no Pillow. Results are mx.np arrays
when the image is one (imread / imdecode: under set_np).
"""
import random

import numpy as np

from . import image_codec, nd_image
from .array import NDArray
from .base import MXNetError, MXNetValueError
from .util import is_np_array

__all__ = ["imread", "imdecode", "imresize", "copyMakeBorder", "scale_down", "resize_short",
           "fixed_crop", "random_crop", "center_crop", "color_normalize"]


def _check_flag(who, flag):
    if int(flag) != flag or flag < 0:
        raise MXNetError(f"image.{who}: flag must be 0 (greyscale) or 1 (colour), got {flag!r}")
    return int(flag)


def _to_array(who, pixels, flag, to_rgb, out):
    """The decoded pixels as MXNet returns them: HWC uint8, RGB unless to_rgb is false,
    (H, W, 1) for flag 0, written into `out` when given; an mx.np array under set_np."""
    if flag == 0:
        pixels = pixels[:, :, None]
    elif not to_rgb:
        pixels = pixels[:, :, ::-1]
    if out is not None:
        return _into(who, pixels, out)
    from . import nd
    res = nd.array(pixels, dtype="uint8")
    if is_np_array():
        from .numpy_api.ndarray import as_np
        res = as_np(res)
    return res


def imdecode(buf, flag=1, to_rgb=True, out=None):
    """Decode an image (JPEG, PNG, BMP, PPM, TIFF, WebP bytes) to an HWC uint8 array:
    RGB, BGR (OpenCV's order) when to_rgb is false, (H, W, 1) greyscale for flag 0.
    Decoded with Pillow (image_codec); JPEG pixels may differ from OpenCV's by a few levels."""
    flag = _check_flag("imdecode", flag)
    if isinstance(buf, NDArray):
        if buf.dtype != np.uint8:
            raise MXNetError(f"image.imdecode: an NDArray buffer must be uint8, got {buf.dtype}")
        data = buf.asnumpy().tobytes()
    elif isinstance(buf, (bytes, bytearray, np.ndarray)):
        data = np.frombuffer(buf, dtype=np.uint8).tobytes() if isinstance(buf, np.ndarray) \
            else bytes(buf)
    else:
        raise ValueError("buf must be of type bytes, bytearray or numpy.ndarray, if you would "
                         f"like to input type str, please convert to bytes (got "
                         f"{type(buf).__name__})")
    pixels = image_codec.decode(data, "gray" if flag == 0 else "color",
                                f"the buffer of {len(data)} bytes", "image.imdecode")
    return _to_array("imdecode", pixels, flag, to_rgb, out)


def imread(filename, flag=1, to_rgb=True, out=None):
    """Read and decode an image file (see imdecode)."""
    flag = _check_flag("imread", flag)
    try:
        with open(filename, "rb") as f:
            data = f.read()
    except OSError as e:
        raise MXNetError(f"image.imread: {str(filename)!r} couldn't open file: "
                         f"{e.strerror or e}") from None
    pixels = image_codec.decode(data, "gray" if flag == 0 else "color", f"file {filename!r}",
                                "image.imread")
    return _to_array("imread", pixels, flag, to_rgb, out)


def _like(out, src):
    if type(src) is not NDArray and isinstance(src, NDArray):   # an mx.np array in, out
        from .numpy_api.ndarray import as_np
        return as_np(out)
    return out


def _interp(interp, sizes=()):
    """MXNet's _get_interp_method: 9 chooses by the sizes, 10 draws one of 0-4."""
    if interp == 9:
        if sizes:
            oh, ow, nh, nw = sizes
            if nh > oh and nw > ow:
                return 2
            if nh < oh and nw < ow:
                return 3
            return 1
        return 2
    if interp == 10:
        return random.randint(0, 4)
    if interp not in (0, 1, 2, 3, 4):
        raise MXNetValueError(f"Unknown interp method {interp}")
    return interp


def _into(who, result, out):
    """`result`, or written into `out` (MXNet's out=) and `out` returned."""
    if out is None:
        return result
    if tuple(out.shape) != tuple(result.shape):
        raise MXNetError(f"image.{who}: out has shape {tuple(out.shape)}, the result is "
                         f"{tuple(result.shape)}")
    out[:] = result
    return out


def imresize(src, w, h, interp=1, out=None):
    """Resize an HWC image to width w, height h (written into `out` when given)."""
    nd_image.check_image("imresize", src, "HWC")
    interp = _interp(interp, (src.shape[0], src.shape[1], h, w))
    return _into("imresize", _like(nd_image._resize(src, int(w), int(h), interp), src), out)


# cv::copyMakeBorder's border types by OpenCV's codes (MXNet passes `type` through to it)
_BORDERS = {0: "constant", 1: "edge", 2: "symmetric", 3: "wrap", 4: "reflect"}


def copyMakeBorder(src, top, bot, left, right, type=0, value=0.0, values=(),  # noqa: N802
                   out=None):
    """An HWC image with `top` / `bot` rows and `left` / `right` columns added, as OpenCV's
    copyMakeBorder: 0 constant (`values` per channel, else `value`), 1 replicate, 2 reflect
    (fedcba|abcdef), 3 wrap, 4 reflect_101 (gfedcb|abcdefg). Not differentiated (MXNet's
    is an OpenCV call)."""
    nd_image.check_image("copyMakeBorder", src, "HWC")
    pads = [int(top), int(bot), int(left), int(right)]
    if min(pads) < 0:
        raise MXNetError(f"image.copyMakeBorder: margins must be >= 0, got {pads}")
    mode = _BORDERS.get(type)
    if mode is None:
        raise MXNetError(f"image.copyMakeBorder: type must be one of {sorted(_BORDERS)} "
                         f"(OpenCV's border codes), got {type!r}")
    img = src.asnumpy()
    width = ((pads[0], pads[1]), (pads[2], pads[3]), (0, 0))
    if mode != "constant":
        if mode in ("symmetric", "reflect", "wrap") and min(img.shape[:2]) == 0:
            raise MXNetError(f"image.copyMakeBorder: an empty image of shape {img.shape} "
                             f"cannot be reflected or wrapped")
        padded = np.pad(img, width, mode=mode)
    else:
        # (MXNet's colour: `values` per channel, else `value` in the first three, as
        # cv::Scalar(value, value, value))
        vals = [float(v) for v in values] if values else [float(value)] * 3
        if len(vals) > 4:
            raise MXNetError(f"image.copyMakeBorder: values holds at most 4 channels, got "
                             f"{len(vals)}")
        fill = np.zeros(img.shape[2], np.float64)
        k = min(len(vals), img.shape[2])
        fill[:k] = vals[:k]
        padded = np.empty((img.shape[0] + pads[0] + pads[1], img.shape[1] + pads[2] + pads[3],
                           img.shape[2]), img.dtype)
        padded[...] = fill.astype(img.dtype) if img.dtype.kind == "f" else \
            np.clip(np.round(fill), 0, 255).astype(img.dtype)
        padded[pads[0]:pads[0] + img.shape[0], pads[2]:pads[2] + img.shape[1]] = img
    from . import nd
    return _into("copyMakeBorder", _like(nd.array(padded, dtype=img.dtype), src), out)


def scale_down(src_size, size):
    """A crop size (w, h) shrunk, aspect kept, to fit in an image of src_size (w, h)."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def resize_short(src, size, interp=2):
    """Resize so that the shorter edge is `size` (the other scaled, integer division)."""
    h, w, _ = src.shape
    if h > w:
        new_h, new_w = size * h // w, size
    else:
        new_h, new_w = size, size * w // h
    return imresize(src, new_w, new_h, interp=_interp(interp, (h, w, new_h, new_w)))


def fixed_crop(src, x0, y0, w, h, size=None, interp=2):
    """src[y0:y0+h, x0:x0+w], resized to size (w, h) when given and different."""
    out = src[y0:y0 + h, x0:x0 + w]
    if size is not None and (w, h) != tuple(size):
        out = imresize(out, size[0], size[1], interp=_interp(interp, (h, w, size[1], size[0])))
    return out


def random_crop(src, size, interp=2):
    """A crop of size (w, h) at a random place (Python's random, as MXNet); an image smaller
    than size is cropped as large as fits and resized. Returns (out, (x0, y0, w, h))."""
    h, w, _ = src.shape
    new_w, new_h = scale_down((w, h), size)
    x0 = random.randint(0, w - new_w)
    y0 = random.randint(0, h - new_h)
    return fixed_crop(src, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)


def center_crop(src, size, interp=2):
    """The centred crop of size (w, h) (shrunk to fit, then resized). Returns
    (out, (x0, y0, w, h))."""
    h, w, _ = src.shape
    new_w, new_h = scale_down((w, h), size)
    x0, y0 = int((w - new_w) / 2), int((h - new_h) / 2)
    return fixed_crop(src, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)


def color_normalize(src, mean, std=None):
    """(src - mean) / std, in place as MXNet does it (src is modified and returned)."""
    if mean is not None:
        src -= mean
    if std is not None:
        src /= std
    return src


from .image_aug import *  # noqa: E402,F401,F403  (the augmenters and CreateAugmenter)
from .image_aug import __all__ as _AUGS  # noqa: E402
__all__ += _AUGS
from .image_iter import ImageIter  # noqa: E402,F401  (iterating records / lists into batches)
from .image_rotate import imrotate, random_rotate  # noqa: E402,F401
from .image_detection import *  # noqa: E402,F401,F403  (object detection: ImageDetIter, ...)
from .image_detection import __all__ as _DETS  # noqa: E402
from . import image_detection as detection  # noqa: E402  (MXNet's mx.image.detection / det)
from . import image  # noqa: E402,F401  (this module: MXNet's tests call mx.image.image.imread)
det = detection
__all__ += ["imrotate", "random_rotate"]
__all__ += _DETS
