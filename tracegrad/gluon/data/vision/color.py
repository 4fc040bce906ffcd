"""Colour jitter transforms of MXNet 1.9.1 (its image_random operators) on HWC images:
RandomBrightness, RandomContrast, RandomSaturation, RandomHue, RandomColorJitter, RandomLighting.

Factors are drawn from tracegrad's random stream, so they stay random when hybridized.
Integer images (uint8, or int32 holding uint8 values) are saturated to [0, 255] and truncated, as MXNet's
uint8 cast does; float images are not clamped. Gray is 0.299 R + 0.587 G + 0.114 B.
(MXNet 1.9.1's saturation loop assigns where it means to sum, so its per-pixel gray is
0.114 B alone; here it is the full weighted sum, as its documentation describes.)
"""
import numpy as np

from .... import nd
from ...block import HybridBlock
from .transforms import _TakesNumpy

__all__ = ["RandomBrightness", "RandomContrast", "RandomSaturation", "RandomHue",
           "RandomColorJitter", "RandomLighting"]

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


# HLS sector table: which of (p2, p1, falling, rising) each of B, G, R takes, per 60 degrees
_SECTORS = ((1, 3, 0), (1, 0, 2), (3, 0, 1), (0, 2, 1), (0, 1, 3), (2, 1, 0))


def _pick(sector, tab, channel):
    out = tab[_SECTORS[5][channel]]
    for k in range(4, -1, -1):
        out = nd.where(sector == k, tab[_SECTORS[k][channel]], out)
    return out


def _hue(x, alpha):
    """Rotate the hue of RGB pixels by alpha * 360 degrees in HLS space (other channels of a
    1-channel image: unchanged)."""
    if x.shape[2] == 1:
        return x
    r, g, b = (nd.slice_axis(x, axis=2, begin=k, end=k + 1) / 255.0 for k in range(3))
    vmax = nd.maximum(nd.maximum(r, g), b)
    vmin = nd.minimum(nd.minimum(r, g), b)
    diff, total = vmax - vmin, vmax + vmin
    light = total * 0.5
    colored = diff > float(np.finfo(np.float32).eps)
    one = nd.ones_like(diff)
    sat = nd.where(light < 0.5, diff / nd.where(colored, total, one),
                   diff / nd.where(colored, 2.0 - total, one))
    sat = nd.where(colored, sat, nd.zeros_like(sat))
    k = 60.0 / nd.where(colored, diff, one)
    hue = nd.where(vmax == r, (g - b) * k,
                   nd.where(vmax == g, (b - r) * k + 120.0, (r - g) * k + 240.0))
    hue = nd.where(hue < 0, hue + 360.0, hue)
    hue = nd.where(colored, hue, nd.zeros_like(hue)) + alpha * 360.0
    p2 = nd.where(light <= 0.5, light * (1 + sat), light + sat - light * sat)
    p1 = 2 * light - p2
    h6 = hue / 60.0
    h6 = h6 - 6.0 * nd.floor(h6 / 6.0)
    sector = nd.minimum(nd.floor(h6), 5.0 * nd.ones_like(h6))
    frac = h6 - sector
    tab = (p2, p1, p1 + (p2 - p1) * (1 - frac), p1 + (p2 - p1) * frac)
    grey = sat == 0
    rgb = [nd.where(grey, light, _pick(sector, tab, ch)) for ch in (2, 1, 0)]
    return nd.concat(*rgb, nd.slice_axis(x, axis=2, begin=3, end=None) / 255.0, dim=2) * 255.0 \
        if x.shape[2] > 3 else nd.concat(*rgb, dim=2) * 255.0


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


class RandomHue(_Enhance):
    """Hue rotated by f * 360 degrees, f uniform in [max(0, 1 - hue), 1 + hue] (as MXNet 1.9.1
    draws it)."""
    _adjust = staticmethod(_hue)


class RandomColorJitter(_TakesNumpy, HybridBlock):
    """Brightness, contrast and saturation each scaled by 1 + uniform(-a, a), then the hue
    rotated by uniform(-hue, hue) * 360 degrees (those with an amount > 0). MXNet applies them
    in a random order; brightness, contrast and saturation commute in exact arithmetic (each
    is homogeneous and keeps the gray mean), so here they run in one order, hue last, and
    integer images are saturated once at the end."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        super().__init__()
        if min(brightness, contrast, saturation, hue) < 0:
            raise ValueError("RandomColorJitter: jitter amounts must be >= 0")
        self._args = (brightness, contrast, saturation, hue)

    def hybrid_forward(self, F, x):
        _check_hwc("RandomColorJitter", x)
        out = _float(x)
        for amount, adjust in zip(self._args[:3], (_brightness, _contrast, _saturation)):
            if amount > 0:
                out = adjust(out, 1.0 + _factor(-amount, amount))
        if self._args[3] > 0:
            out = _hue(out, _factor(-self._args[3], self._args[3]))
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
        a = nd.random.normal(0.0, float(self._alpha), shape=(3, 1)) if self._alpha > 0 else \
            nd.zeros((3, 1))     # (alpha 0: no lighting noise, as MXNet's kernel draws none)
        shift = nd.reshape(nd.dot(nd.array(_EIG), a), (1, 1, 3))
        return _back(_float(x) + shift, x)
