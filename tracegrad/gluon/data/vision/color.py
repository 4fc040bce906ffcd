"""Colour jitter transforms of MXNet 1.9.1 (its image_random operators) on HWC images:
RandomBrightness, RandomContrast, RandomSaturation, RandomColorJitter, RandomLighting.

Factors are drawn from tracegrad's random stream, so they stay random when hybridized.
Integer images (uint8 values; int32 here) are saturated to [0, 255] and truncated, as MXNet's
uint8 cast does; float images are not clamped. Gray is 0.299 R + 0.587 G + 0.114 B.
(MXNet 1.9.1's saturation loop assigns where it means to sum, so its per-pixel gray is
0.114 B alone; here it is the full weighted sum, as its documentation describes.)
"""
import numpy as np

from .... import nd
from ...block import HybridBlock
from .transforms import _TakesNumpy

__all__ = ["RandomBrightness", "RandomContrast", "RandomSaturation", "RandomColorJitter",
           "RandomLighting"]

_GRAY = np.array([0.299, 0.587, 0.114], np.float32)
# AlexNet's PCA lighting: eigenvectors (columns) scaled by their eigenvalues
_EIG = np.array([[55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009],
                 [55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140],
                 [55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203]], np.float32)


def _check_hwc(who, x):
    if x.ndim != 3:
        raise ValueError(f"{who}: expects an HWC image, got shape {tuple(x.shape)}")


def _float(x):
    return x if np.dtype(x.dtype).kind == "f" else nd.cast(x, "float32")


def _back(out, like):
    if np.dtype(like.dtype).kind == "f":
        return out
    return nd.cast(nd.floor(nd.clip(out, 0.0, 255.0)), np.dtype(like.dtype).name)


def _factor(low, high):
    return nd.random.uniform(low, high, shape=(1, 1, 1))


def _brightness(x, alpha):
    return x * alpha


def _contrast(x, alpha):
    h, w, c = x.shape
    gray = nd.sum(x * nd.array(_GRAY.reshape(1, 1, 3))) if c > 1 else nd.sum(x)
    return x * alpha + (1 - alpha) * nd.reshape(gray / float(h * w), (1, 1, 1))


def _saturation(x, alpha):
    if x.shape[2] == 1:
        return x
    gray = nd.sum(x * nd.array(_GRAY.reshape(1, 1, 3)), axis=2, keepdims=True)
    return x * alpha + (1 - alpha) * gray


class _Enhance(_TakesNumpy, HybridBlock):
    _adjust = None

    def __init__(self, amount):
        super().__init__()
        if amount < 0:
            raise ValueError(f"{type(self).__name__}: the jitter amount must be >= 0, got "
                             f"{amount}")
        self._args = (max(0.0, 1.0 - amount), 1.0 + amount)

    def hybrid_forward(self, F, x):
        _check_hwc(type(self).__name__, x)
        out = type(self)._adjust(_float(x), _factor(*self._args))
        return _back(out, x)


class RandomBrightness(_Enhance):
    """x * f, f uniform in [max(0, 1 - brightness), 1 + brightness]."""
    _adjust = staticmethod(_brightness)


class RandomContrast(_Enhance):
    """f * x + (1 - f) * mean gray, f uniform in [max(0, 1 - contrast), 1 + contrast]."""
    _adjust = staticmethod(_contrast)


class RandomSaturation(_Enhance):
    """f * x + (1 - f) * gray(x) per pixel, f uniform in [max(0, 1 - s), 1 + s]."""
    _adjust = staticmethod(_saturation)


class RandomColorJitter(_TakesNumpy, HybridBlock):
    """Brightness, contrast and saturation each jittered by 1 + uniform(-a, a) (those with
    a > 0). MXNet applies them in a random order; in exact arithmetic they commute (each is
    homogeneous and keeps the gray mean), so here they run in one order and integer images
    are saturated once at the end. Hue jitter is not implemented."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        super().__init__()
        if hue:
            raise NotImplementedError("RandomColorJitter: hue jitter is not implemented in "
                                      "tracegrad (brightness, contrast, saturation are)")
        if min(brightness, contrast, saturation) < 0:
            raise ValueError("RandomColorJitter: jitter amounts must be >= 0")
        self._args = (brightness, contrast, saturation)

    def hybrid_forward(self, F, x):
        _check_hwc("RandomColorJitter", x)
        out = _float(x)
        for amount, adjust in zip(self._args, (_brightness, _contrast, _saturation)):
            if amount > 0:
                out = adjust(out, 1.0 + _factor(-amount, amount))
        return _back(out, x)


class RandomLighting(_TakesNumpy, HybridBlock):
    """AlexNet PCA lighting noise: adds EIG @ a to every RGB pixel, a ~ N(0, alpha) in 3-d."""

    def __init__(self, alpha):
        super().__init__()
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        _check_hwc("RandomLighting", x)
        if x.shape[2] == 1:
            return x
        if x.shape[2] != 3:
            raise ValueError(f"RandomLighting: expects 1 or 3 channels, got shape "
                             f"{tuple(x.shape)}")
        a = nd.random.normal(0.0, float(self._alpha), shape=(3, 1))
        shift = nd.reshape(nd.dot(nd.array(_EIG), a), (1, 1, 3))
        return _back(_float(x) + shift, x)
