"""Rotate and RandomRotation (MXNet 1.9.1's transforms over image.imrotate): CHW or NCHW
float32 images turned about their centre, sampled bilinearly with zeros outside, optionally
zoomed in (no empty corners) or out (the whole image kept).

Each output pixel's source point is MXNet's: the centred grid rotated by the angle, scaled,
then read as BilinearSampler does; here that is one (H*W, H*W) sampling matrix per angle
applied with a matrix product, so the result differentiates with respect to the image.
"""
from numbers import Number

import numpy as np

from .... import nd
from ...block import Block
from .transforms import _TakesNumpy

__all__ = ["Rotate", "RandomRotation", "imrotate", "rotation_matrix"]


def _zoom(h, w, rad, zoom_in, zoom_out):
    if not (zoom_in or zoom_out):
        return 1.0
    rho, corner = np.sqrt(h * h + w * w), np.arctan(h / w)
    c1x, c1y = abs(rho * np.cos(corner + abs(rad))), abs(rho * np.sin(corner + abs(rad)))
    c2x, c2y = abs(rho * np.cos(corner - abs(rad))), abs(rho * np.sin(corner - abs(rad)))
    max_x, max_y = max(c1x, c2x), max(c1y, c2y)
    if zoom_out:
        return max(max_x / w, max_y / h)
    return min(w / max_x, h / max_y)


def rotation_matrix(h, w, degrees, zoom_in=False, zoom_out=False):
    """(h*w, h*w) weights: output pixel k reads the input pixels its source point blends."""
    rad = np.pi * degrees / 180.0
    hs, ws = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h) - hs, np.arange(w) - ws, indexing="ij")
    scale = _zoom(float(h), float(w), rad, zoom_in, zoom_out)
    src_x = (xx * np.cos(rad) - yy * np.sin(rad)) * scale + ws
    src_y = (xx * np.sin(rad) + yy * np.cos(rad)) * scale + hs
    x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    fx, fy = src_x - x0, src_y - y0
    m = np.zeros((h * w, h * w))
    rows = np.arange(h * w)
    for dy, dx, wt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                       (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        ys, xs = (y0 + dy).ravel(), (x0 + dx).ravel()
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        np.add.at(m, (rows[inside], (ys * w + xs)[inside]), wt.ravel()[inside])
    return m


def imrotate(src, rotation_degrees, zoom_in=False, zoom_out=False):
    """Rotate a CHW image by a scalar angle, or an NCHW batch by one angle or one per image
    (degrees, counter-clockwise as MXNet's)."""
    if zoom_in and zoom_out:
        raise ValueError("`zoom_in` and `zoom_out` cannot be both True")
    if np.dtype(src.dtype) != np.float32:
        raise TypeError(f"Only `float32` images are supported by this function, got "
                        f"{np.dtype(src.dtype).name}")
    if src.ndim == 3:
        if not isinstance(rotation_degrees, Number):
            raise TypeError("When a single image is passed the rotation angle is required "
                            "to be a scalar.")
        return imrotate(nd.expand_dims(src, axis=0), rotation_degrees, zoom_in, zoom_out)[0]
    if src.ndim != 4:
        raise ValueError(f"Only 3D and 4D are supported by this function, got shape "
                         f"{tuple(src.shape)}")
    n, c, h, w = src.shape
    if min(h, w) < 2:
        raise ValueError(f"imrotate: images need at least 2 rows and columns, got shape "
                         f"{tuple(src.shape)}")
    angles = [float(rotation_degrees)] * n if isinstance(rotation_degrees, Number) else \
        [float(a) for a in np.asarray(getattr(rotation_degrees, "asnumpy",
                                              lambda: rotation_degrees)()).ravel()]
    if len(angles) != n:
        raise ValueError("The number of images must be equal to the number of rotation "
                         "angles")
    outs = []
    for k, angle in enumerate(angles):
        m = nd.array(rotation_matrix(h, w, angle, zoom_in, zoom_out).T, dtype="float32")
        flat = nd.reshape(src[k], (c, h * w))
        outs.append(nd.reshape(nd.dot(flat, m), (c, h, w)))
    return nd.stack(*outs)


class Rotate(_TakesNumpy, Block):
    """Rotate CHW (or NCHW) float32 images by rotation_degrees."""

    def __init__(self, rotation_degrees, zoom_in=False, zoom_out=False):
        super().__init__()
        self._args = (rotation_degrees, zoom_in, zoom_out)

    def forward(self, x):
        if np.dtype(x.dtype) != np.float32:
            raise TypeError("This transformation only supports float32. Consider calling it "
                            "after ToTensor")
        return imrotate(x, *self._args)


class RandomRotation(_TakesNumpy, Block):
    """With probability rotate_with_proba, rotate by an angle uniform in angle_limits (one
    per image of a batch), drawn from numpy's global generator."""

    def __init__(self, angle_limits, zoom_in=False, zoom_out=False, rotate_with_proba=1.0):
        super().__init__()
        lower, upper = angle_limits
        if lower >= upper:
            raise ValueError("`angle_limits` must be an ordered tuple")
        if not 0 <= rotate_with_proba <= 1:
            raise ValueError("Probability of rotating the image should be between 0 and 1")
        self._args = (angle_limits, zoom_in, zoom_out)
        self._rotate_with_proba = rotate_with_proba

    def forward(self, x):
        if np.random.random() > self._rotate_with_proba:
            return x
        if np.dtype(x.dtype) != np.float32:
            raise TypeError("This transformation only supports float32. Consider calling it "
                            "after ToTensor")
        limits, zoom_in, zoom_out = self._args
        angles = np.random.uniform(*limits) if x.ndim == 3 else \
            np.random.uniform(*limits, size=x.shape[0])
        return imrotate(x, angles, zoom_in, zoom_out)
