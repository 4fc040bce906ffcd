"""Rotate and RandomRotation (MXNet 1.9.1's transforms over image.imrotate): CHW or NCHW
float32 images turned about their centre, sampled bilinearly with zeros outside, optionally
zoomed in (no empty corners) or out (the whole image kept). The rotation is mx.image's
imrotate (image_rotate.py: BilinearSampler on the rotated grid), so the result differentiates
with respect to the image and its memory grows with the image, not its square.
"""
import numpy as np

from ....image_rotate import imrotate
from ...block import Block
from .transforms import _TakesNumpy

__all__ = ["Rotate", "RandomRotation", "imrotate"]


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
