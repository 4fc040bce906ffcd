"""`mx.image.imrotate` and `mx.image.random_rotate` (MXNet 1.9.1): rotation of float32 CHW
images or NCHW batches about the image centre.

Output pixel (i, j) reads the input bilinearly (nd.BilinearSampler, zeros outside) at
x = cx + s * ((j - cx) cos a - (i - cy) sin a), y = cy + s * ((j - cx) sin a + (i - cy) cos a),
with (cx, cy) = ((W - 1) / 2, (H - 1) / 2), a the angle in radians and s the zoom: 1, or the
scale that shows the whole rotated image (zoom_out) or no empty corner (zoom_in), from MXNet's
corner formula. Built from nd ops in float32 as MXNet's is, so it records for autograd and jit.
"""
from numbers import Number

import numpy as np

from . import nd
from .array import NDArray

__all__ = ["imrotate", "random_rotate"]


def _plain(a):
    """An mx.np array as the mx.nd view the nd ops below expect."""
    if type(a) is not NDArray and isinstance(a, NDArray):
        from .numpy_api.ndarray import as_nd
        return as_nd(a)
    return a


def _angles(rotation_degrees, n):
    """The angles as a float32 (n,) NDArray: a scalar repeated, or one per image."""
    if isinstance(rotation_degrees, Number):
        return nd.array([float(rotation_degrees)] * n, dtype="float32")
    if isinstance(rotation_degrees, NDArray):
        angles = _plain(rotation_degrees)
    elif isinstance(rotation_degrees, (list, tuple, np.ndarray)):
        angles = nd.array(np.asarray(rotation_degrees, dtype=np.float64), dtype="float32")
    else:
        raise TypeError(f"imrotate: rotation_degrees must be a number or an array of one angle "
                        f"per image, got {type(rotation_degrees).__name__}")
    if angles.ndim != 1 or angles.shape[0] != n:
        raise ValueError("The number of images must be equal to the number of rotation angles "
                         f"({n} images, rotation_degrees of shape {tuple(angles.shape)})")
    return angles.astype("float32") if np.dtype(angles.dtype) != np.float32 else angles


def _zoom(rad, h, w, zoom_out):
    """(n, 1, 1, 1) grid scale: > 1 (zoom_out) samples beyond the image so the rotated
    corners fit; < 1 (zoom_in) samples inside so no zero-filled corner shows."""
    hh, ww = nd.array([h], dtype="float32"), nd.array([w], dtype="float32")
    radius = nd.sqrt(hh * hh + ww * ww)
    corner = nd.arctan(hh / ww)
    turn = nd.abs(rad)
    ext_x = nd.maximum(nd.abs(nd.broadcast_mul(radius, nd.cos(nd.broadcast_add(corner, turn)))),
                       nd.abs(nd.broadcast_mul(radius, nd.cos(nd.broadcast_sub(corner, turn)))))
    ext_y = nd.maximum(nd.abs(nd.broadcast_mul(radius, nd.sin(nd.broadcast_add(corner, turn)))),
                       nd.abs(nd.broadcast_mul(radius, nd.sin(nd.broadcast_sub(corner, turn)))))
    if zoom_out:
        scale = nd.maximum(nd.broadcast_div(ext_x, ww), nd.broadcast_div(ext_y, hh))
    else:
        scale = nd.minimum(nd.broadcast_div(ww, ext_x), nd.broadcast_div(hh, ext_y))
    return nd.expand_dims(scale, axis=3)


def imrotate(src, rotation_degrees, zoom_in=False, zoom_out=False):
    """Rotate a float32 CHW image by a scalar angle in degrees (counter-clockwise as
    displayed), or an NCHW batch by a scalar or one angle per image, about the centre, the
    uncovered area zero. zoom_out keeps the whole image in view, zoom_in leaves no empty
    corner; not both. H and W must be at least 2 (the grid is normalized by (size - 1) / 2)."""
    if zoom_in and zoom_out:
        raise ValueError("`zoom_in` and `zoom_out` cannot be both True")
    if not isinstance(src, NDArray) or np.dtype(src.dtype) != np.float32:
        raise TypeError("Only `float32` images are supported by this function (got "
                        f"{getattr(src, 'dtype', type(src).__name__)})")
    data = _plain(src)
    single = data.ndim == 3
    if single:
        if not isinstance(rotation_degrees, Number):
            raise TypeError("When a single image is passed the rotation angle is required to "
                            "be a scalar.")
        data = nd.expand_dims(data, axis=0)
    elif data.ndim != 4:
        raise ValueError(f"Only 3D and 4D are supported by this function (got {data.ndim}D)")
    n, _, h, w = data.shape
    if h < 2 or w < 2:
        raise ValueError(f"imrotate: images must be at least 2x2 to rotate, got {h}x{w}")
    rad = nd.reshape(_angles(rotation_degrees, n) * np.pi / 180, shape=(n, 1, 1))
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys = nd.array(np.broadcast_to(np.arange(h, dtype=np.float32)[:, None] - np.float32(cy),
                                  (1, h, w)), dtype="float32")
    xs = nd.array(np.broadcast_to(np.arange(w, dtype=np.float32)[None, :] - np.float32(cx),
                                  (1, h, w)), dtype="float32")
    cos, sin = nd.cos(rad), nd.sin(rad)
    # rotate the centred pixel grid first, then normalize each axis to [-1, 1]: normalizing
    # first would rotate in a squashed frame and shear a non-square image
    gx = nd.broadcast_sub(nd.broadcast_mul(xs, cos), nd.broadcast_mul(ys, sin)) / cx
    gy = nd.broadcast_add(nd.broadcast_mul(xs, sin), nd.broadcast_mul(ys, cos)) / cy
    grid = nd.concat(nd.expand_dims(gx, axis=1), nd.expand_dims(gy, axis=1), dim=1)
    if zoom_in or zoom_out:
        grid = nd.broadcast_mul(grid, _zoom(rad, h, w, zoom_out))
    out = nd.BilinearSampler(data, grid)
    if single:
        out = out[0]
    from .image import _like
    return _like(out, src)


def random_rotate(src, angle_limits, zoom_in=False, zoom_out=False):
    """imrotate by angles drawn uniformly from angle_limits (low, high) degrees with numpy's
    global RandomState, as MXNet does: one for an image, one per image of a batch."""
    low, high = angle_limits
    if getattr(src, "ndim", None) == 3:
        angles = np.random.uniform(low, high)
    else:
        angles = nd.array(np.random.uniform(low, high, size=src.shape[0]), dtype="float32")
    return imrotate(src, angles, zoom_in=zoom_in, zoom_out=zoom_out)
