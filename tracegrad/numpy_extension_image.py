"""`mx.npx.image`: MXNet 1.9.1's `_npx__image_*` operators on mx.np arrays.

to_tensor, normalize, resize and crop are nd.image's functions (3-d images or 4-d batches);
the flips, the colour jitters and the lighting ops take one HWC image of 1 or 3 channels, as
MXNet's image augmenters do (their shape check). The random ones draw their factors from
tracegrad's random stream (so mx.random.seed repeats them, and they stay random when compiled).
Results keep the input's dtype: uint8 is saturated to [0, 255] and truncated, other integer
types truncated toward zero (MXNet's saturate_cast); float images are not clamped.
Everything is made of nd ops, so it records and differentiates (the random factors are
constants of the gradient). The colour adjustments are gluon.data.vision's
(gluon/data/vision/color.py): saturation mixes with the weighted gray 0.299 R + 0.587 G +
0.114 B there (MXNet 1.9.1's loop keeps only the blue term), and random_color_jitter applies
brightness, contrast, saturation and hue in that fixed order where MXNet shuffles it."""
import numpy as onp

from . import nd
from . import nd_image as _image
from . import random as _random
from .array import NDArray
from .base import MXNetError
from .numpy_api.ndarray import as_nd, as_np, dtype_of

__all__ = ["to_tensor", "normalize", "resize", "crop", "flip_left_right", "flip_top_bottom",
           "random_flip_left_right", "random_flip_top_bottom", "random_brightness",
           "random_contrast", "random_saturation", "random_hue", "random_color_jitter",
           "adjust_lighting", "random_lighting"]


def _color():
    from .gluon.data.vision import color  # (late: gluon imports the numpy extension)
    return color


def _nd(who, data):
    if not isinstance(data, NDArray):
        raise TypeError(f"npx.image.{who}: expects an mx.np.ndarray image, got "
                        f"{type(data).__name__}")
    return as_nd(data)


def _hwc(who, data):
    """MXNet's image-augmenter check: one (height, width, channels) image, 1 or 3 channels."""
    x = _nd(who, data)
    if x.ndim != 3:
        raise MXNetError(f"npx.image.{who}: Input image must have shape (height, width, "
                         f"channels), but got {tuple(x.shape)}")
    if x.shape[2] not in (1, 3):
        raise MXNetError(f"npx.image.{who}: The last dimension of input image must be the "
                         f"channel dimension with either 1 or 3 elements, but got input with "
                         f"shape {tuple(x.shape)}")
    return x


def _float(x):
    return x if dtype_of(x).kind == "f" else nd.cast(x, "float32")


def _saturate(out, like):
    """out (float) back in like's dtype, as MXNet's saturate_cast stores it."""
    dt = dtype_of(like)
    if dt.kind == "f":
        return out if dtype_of(out) == dt else nd.cast(out, dt)
    if dt == onp.uint8:
        out = nd.clip(out, 0.0, 255.0)
    return nd.cast(nd.trunc(out), dt)


def _factor(who, low, high):
    low, high = float(low), float(high)
    if low < 0 or high < 0:
        raise MXNetError(f"npx.image.{who}: min_factor and max_factor must be >= 0, got "
                         f"{low}, {high}")
    if low > high:
        raise MXNetError(f"npx.image.{who}: min_factor ({low}) must not exceed max_factor "
                         f"({high})")
    return _random.uniform(low, high, shape=(1, 1, 1))


def to_tensor(data):
    """HWC (or NHWC) in [0, 255] -> CHW (or NCHW) float32 in [0, 1]."""
    return as_np(_image.to_tensor(_nd("to_tensor", data), who="npx.image.to_tensor"))


def normalize(data, mean=0.0, std=1.0):
    """(data - mean[c]) / std[c] per channel of a CHW image or NCHW batch of 1 or 3 channels;
    one value applies to every channel. (MXNet's defaults, 4-tuples of 0 and 1, mean the
    same.)"""
    x = _nd("normalize", data)
    if x.ndim in (3, 4) and x.shape[x.ndim - 3] not in (1, 3):
        raise MXNetError(f"npx.image.normalize: the channel dimension must have 1 or 3 "
                         f"elements, got input with shape {tuple(x.shape)}")
    return as_np(_image.normalize(x, mean=mean, std=std, who="npx.image.normalize"))


def resize(data, size=(), keep_ratio=False, interp=1):
    """HWC (or NHWC) resized to `size`: an int (square, or the short side with keep_ratio) or
    (width, height); interp 0 nearest, 1 bilinear, 2 bicubic."""
    if size is None or (not isinstance(size, (int, onp.integer)) and len(size) not in (1, 2)):
        raise MXNetError(f"npx.image.resize: size must be (width, height) or (size,), got "
                         f"{size!r}")
    if not isinstance(size, (int, onp.integer)) and len(size) == 1:
        size = int(size[0])
    x = _nd("resize", data)
    if dtype_of(x) == onp.float16:
        raise MXNetError("npx.image.resize: opencv image mat doesn't support fp16")
    return as_np(_image.resize(x, size, keep_ratio=keep_ratio, interp=interp))


def crop(data, x, y, width, height):
    """The width x height window of HWC (or NHWC) whose top-left pixel is (x, y)."""
    return as_np(_image.crop(_nd("crop", data), x, y, width, height))


def flip_left_right(data):
    """The width axis of an HWC image reversed."""
    return as_np(nd.flip(_hwc("flip_left_right", data), axis=1))


def flip_top_bottom(data):
    """The height axis of an HWC image reversed."""
    return as_np(nd.flip(_hwc("flip_top_bottom", data), axis=0))


def random_flip_left_right(data):
    """flip_left_right with probability 0.5."""
    return as_np(_image.random_flip("npx.image.random_flip_left_right",
                                    _hwc("random_flip_left_right", data), 2))


def random_flip_top_bottom(data):
    """flip_top_bottom with probability 0.5."""
    return as_np(_image.random_flip("npx.image.random_flip_top_bottom",
                                    _hwc("random_flip_top_bottom", data), 3))


def _random_color(fname, adjust, data, min_factor, max_factor):
    """One of the color transforms' `adjust` (x, f) with f uniform in [min, max], saturated
    back into the image's dtype."""
    x = _hwc(fname, data)
    f = _factor(fname, min_factor, max_factor)
    return as_np(_saturate(getattr(_color(), adjust)(_float(x), f), x))


def random_brightness(data, min_factor, max_factor):
    """x * f, f uniform in [min_factor, max_factor]."""
    return _random_color("random_brightness", "_brightness", data, min_factor, max_factor)


def random_contrast(data, min_factor, max_factor):
    """f * x + (1 - f) * the image's mean gray, f uniform in [min_factor, max_factor]."""
    return _random_color("random_contrast", "_contrast", data, min_factor, max_factor)


def random_saturation(data, min_factor, max_factor):
    """f * x + (1 - f) * gray(pixel), f uniform in [min_factor, max_factor]."""
    return _random_color("random_saturation", "_saturation", data, min_factor, max_factor)


def random_hue(data, min_factor, max_factor):
    """Hue rotated by f * 360 degrees in HLS space, f uniform in [min_factor, max_factor]."""
    return _random_color("random_hue", "_hue", data, min_factor, max_factor)


def random_color_jitter(data, brightness, contrast, saturation, hue):
    """Brightness, contrast and saturation each scaled by 1 + uniform(-a, a), then the hue
    rotated by uniform(-hue, hue) * 360 degrees, for each amount a > 0; integer images are
    saturated after every step, as MXNet stores each."""
    x = _hwc("random_color_jitter", data)
    color = _color()
    amounts = (float(brightness), float(contrast), float(saturation), float(hue))
    steps = (color._brightness, color._contrast, color._saturation, color._hue)
    out = x
    for k, (amount, adjust) in enumerate(zip(amounts, steps)):
        if amount > 0:
            f = _random.uniform(-amount, amount, shape=(1, 1, 1))
            out = _saturate(adjust(_float(out), f if k == 3 else 1.0 + f), x)
    return as_np(out if out is not x else nd.identity(x))


_EIG = onp.array([[55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009],
                  [55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140],
                  [55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203]], onp.float32)


def _lighting(x, alpha):
    if x.shape[2] == 1:      # MXNet leaves a 1-channel image as it is
        return nd.identity(x)
    shift = nd.reshape(nd.dot(nd.array(_EIG), alpha), (1, 1, 3))
    return _saturate(_float(x) + shift, x)


def adjust_lighting(data, alpha):
    """AlexNet's PCA lighting: EIG @ alpha (alpha the 3 R, G, B weights) added to every RGB
    pixel."""
    x = _hwc("adjust_lighting", data)
    a = onp.asarray(alpha, onp.float32).reshape(-1)
    if a.size != 3:
        raise MXNetError(f"npx.image.adjust_lighting: alpha must have 3 values (R, G, B), got "
                         f"{alpha!r}")
    return as_np(_lighting(x, nd.array(a.reshape(3, 1))))


def random_lighting(data, alpha_std=0.05):
    """adjust_lighting with alpha drawn from N(0, alpha_std) per channel."""
    x = _hwc("random_lighting", data)
    if alpha_std < 0:
        raise MXNetError(f"npx.image.random_lighting: alpha_std must be >= 0, got {alpha_std}")
    a = _random.normal(0.0, float(alpha_std), shape=(3, 1)) if alpha_std > 0 else \
        nd.zeros((3, 1))
    return as_np(_lighting(x, a))
