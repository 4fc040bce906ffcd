"""`mx.nd.image`: MXNet 1.9.1's image operators as functions on NDArrays (the transforms of
gluon.data.vision are Blocks over these).

Images are HWC (or NHWC batches) until to_tensor makes them CHW float32 in [0, 1]. resize is
OpenCV's cv::resize as MXNet calls it: INTER_NEAREST (0) picks source pixel floor(i * in/out),
INTER_LINEAR (1) blends the two pixels around (i + 0.5) * in/out - 0.5, clamped at the
borders, INTER_CUBIC (2) the four around it with OpenCV's kernel (a = -0.75), INTER_LANCZOS4
(4) the eight around it (a windowed sinc, a = 4), the border replicated (integer images are
then saturated to [0, 255], as uint8); INTER_AREA (3) averages the input pixels each output
pixel covers when neither axis grows, and otherwise blends two pixels with OpenCV's area
weights. It is written as one
interpolation matrix per axis, so it compiles and differentiates. Integer results are
rounded to nearest (OpenCV's fixed-point weights can differ from this by 1 in the last unit).
Every function here is made of nd ops: each runs eagerly, under jit / hybridize (F.image),
and differentiates.
"""
import math

import numpy as np

from . import nd, random
from .array import NDArray
from .base import MXNetValueError

__all__ = ["to_tensor", "normalize", "resize", "flip_left_right", "flip_top_bottom",
           "random_flip_left_right", "random_flip_top_bottom", "crop"]

_INTERPOLATIONS = {0: "nearest", 1: "bilinear", 2: "bicubic", 3: "area", 4: "lanczos4"}
_CUBIC_A = -0.75  # OpenCV's bicubic kernel parameter



def _size_wh(who, size):
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise MXNetValueError(f"{who}: size must be a positive int or (width, height), got "
                              f"{size}")
    return size


def _cubic_weights(t):
    """OpenCV's 4 bicubic weights for the taps at floor - 1 .. floor + 2, fraction t."""
    a = _CUBIC_A
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return (w0, w1, w2, 1 - w0 - w1 - w2)


def _lanczos4_weights(t):
    """OpenCV's 8 Lanczos weights (sinc(x) sinc(x / 4), normalized to sum 1) for the taps at
    floor - 3 .. floor + 4, fraction t."""
    if t < np.finfo(np.float32).eps:
        return (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    w = []
    for k in range(8):
        x = math.pi * (t + 3 - k)
        w.append(math.sin(x) * math.sin(x / 4) / (x * x / 4))
    total = sum(w)
    return tuple(v / total for v in w)


def _area_down(n_in, n_out):
    """(n_out, n_in) INTER_AREA weights when shrinking: each output pixel the mean of the
    input it covers, [i, i + 1) * in/out, partly covered pixels in proportion."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = 1.0 / (n_out / n_in)
    for i in range(n_out):
        lo, hi = i * scale, min((i + 1) * scale, n_in)
        for j in range(int(math.floor(lo)), min(int(math.ceil(hi)), n_in)):
            m[i, j] = (min(hi, j + 1) - max(lo, j)) / scale
    return m


def interpolation_matrix(n_in, n_out, interpolation, shrinking=None):
    """(n_out, n_in) weights of cv::resize along one axis (0 nearest, 1 bilinear, 2 bicubic,
    3 area, 4 Lanczos, border pixels replicated). `shrinking` (area): whether no axis of the
    image grows, which picks OpenCV's averaging (default: this axis does not grow)."""
    if interpolation == 3 and (n_out <= n_in if shrinking is None else shrinking):
        return _area_down(n_in, n_out)
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = 1.0 / (n_out / n_in)    # (OpenCV's 1 / inv_scale: floors land where its do)
    for i in range(n_out):
        if interpolation == 0:
            m[i, min(int(math.floor(i * scale)), n_in - 1)] = 1.0
            continue
        if interpolation == 3:     # (an image that grows: OpenCV's area blend of two)
            lo = int(math.floor(i * scale))
            frac = float(np.float32((i + 1) - (lo + 1) * (n_out / n_in)))
            frac = 0.0 if frac <= 0 else frac - math.floor(frac)
        else:       # (the source position in float32, as cv::resize computes it)
            pos = float(np.float32((i + 0.5) * scale - 0.5))
            lo = int(math.floor(pos))
            frac = pos - lo
        if interpolation in (2, 4):
            taps, first = (_cubic_weights(frac), lo - 1) if interpolation == 2 else \
                (_lanczos4_weights(frac), lo - 3)
            for k, wt in enumerate(taps):
                m[i, min(max(first + k, 0), n_in - 1)] += wt
            continue
        if lo < 0:
            lo, frac = 0, 0.0
        if lo >= n_in - 1:
            lo, frac = n_in - 1, 0.0
        m[i, lo] += 1.0 - frac
        m[i, min(lo + 1, n_in - 1)] += frac
    return m


def _along(x, matrix, axis):
    """matrix (n_out, n_in) applied along `axis` of x."""
    moved = nd.swapaxes(x, 0, axis) if axis else x
    rest = moved.shape[1:]
    out = nd.dot(matrix, nd.reshape(moved, (moved.shape[0], -1)))
    out = nd.reshape(out, (matrix.shape[0],) + tuple(rest))
    return nd.swapaxes(out, 0, axis) if axis else out


def _resize(x, width, height, interpolation=1):
    """Resize an HWC or NHWC image to (height, width) as cv::resize does."""
    if interpolation not in _INTERPOLATIONS:
        raise MXNetValueError(f"Resize: interpolation {interpolation} is not supported (0 "
                              f"nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos)")
    h_axis = x.ndim - 3
    h, w = x.shape[h_axis], x.shape[h_axis + 1]
    dtype = x.dtype
    out = nd.cast(x, "float32") if np.dtype(dtype) != np.float64 else x
    fdtype = "float64" if np.dtype(dtype) == np.float64 else "float32"
    shrinking = height <= h and width <= w     # (area: OpenCV averages only then)
    if height != h:
        out = _along(out, nd.array(interpolation_matrix(h, height, interpolation, shrinking),
                                   dtype=fdtype), h_axis)
    if w != width:
        out = _along(out, nd.array(interpolation_matrix(w, width, interpolation, shrinking),
                                   dtype=fdtype), h_axis + 1)
    if np.dtype(dtype).kind in "iu":
        out = nd.round(out)  # a linear blend of pixels stays within their range
        if interpolation in (2, 4):  # cubic and Lanczos overshoot: saturate as uint8 does
            out = nd.clip(out, 0.0, 255.0)
    return nd.cast(out, np.dtype(dtype).name) if np.dtype(dtype).name != fdtype else out


def resized_size(h, w, size, keep_ratio):
    """(height, width) of MXNet's image resize: an int size with keep_ratio sets the short
    side and scales the other with integer division."""
    if isinstance(size, (int, np.integer)):
        if size <= 0:
            raise MXNetValueError(f"Resize: size must be positive, got {size}")
        if not keep_ratio:
            return int(size), int(size)
        if h > w:
            return h * int(size) // w, int(size)
        return int(size), w * int(size) // h
    width, height = _size_wh("Resize", size)
    return height, width


def check_image(who, x, layouts="HWC or NHWC"):
    """An image of 3 or 4 dims, or a ValueError naming `who` and the shape."""
    if not isinstance(x, NDArray):
        raise TypeError(f"{who}: expects an NDArray image, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise MXNetValueError(f"{who}: expects an image of {layouts} (3 or 4 dims), got "
                              f"shape {tuple(x.shape)}")


def to_tensor(data, who="to_tensor"):
    """HWC (or NHWC) in [0, 255] -> CHW (or NCHW) float32 in [0, 1]."""
    check_image(who, data)
    axes = (2, 0, 1) if data.ndim == 3 else (0, 3, 1, 2)
    return nd.transpose(nd.cast(data, "float32"), axes=axes) / 255.0


def _per_channel(who, name, value, x):
    c = x.shape[-3]
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    if values.size not in (1, c):
        raise MXNetValueError(f"{who}: {name} has {values.size} values for an input of {c} "
                              f"channels (shape {tuple(x.shape)})")
    if name == "std" and np.any(values == 0):
        raise MXNetValueError(f"{who}: std must be non-zero, got {value}")
    shape = (-1, 1, 1) if x.ndim == 3 else (1, -1, 1, 1)
    return nd.array(np.broadcast_to(values, (c,)).reshape(shape), dtype=x.dtype)


def normalize(data, mean=(0.0,), std=(1.0,), who="normalize"):
    """(data - mean[c]) / std[c] per channel of CHW (or NCHW); one value applies to all.
    (The tuple defaults let mx.sym.image.normalize take per-channel tuples, as MXNet's.)"""
    check_image(who, data, "CHW or NCHW")
    if np.dtype(data.dtype).kind != "f":
        data = nd.cast(data, "float32")
    return nd.broadcast_div(nd.broadcast_sub(data, _per_channel(who, "mean", mean, data)),
                            _per_channel(who, "std", std, data))


def resize(data, size, keep_ratio=False, interp=1):
    """Resize HWC (or NHWC) to `size`: an int (square, or the short side with keep_ratio) or
    (width, height); interp 0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos."""
    check_image("resize", data)
    h, w = data.shape[data.ndim - 3], data.shape[data.ndim - 2]
    height, width = resized_size(h, w, size, keep_ratio)
    return _resize(data, width, height, interp)


def _flip(who, data, axis_from_end):
    check_image(who, data)
    return nd.flip(data, axis=data.ndim - axis_from_end)


def flip_left_right(data):
    """The W axis of HWC (or NHWC) reversed."""
    return _flip("flip_left_right", data, 2)


def flip_top_bottom(data):
    """The H axis of HWC (or NHWC) reversed."""
    return _flip("flip_top_bottom", data, 3)


def random_flip(who, data, axis_from_end):
    """Flipped along one image axis with probability 0.5: a draw of the random stream (a
    random op compiles and stays random under jit / hybridize)."""
    check_image(who, data)
    coin = random.uniform(0.0, 1.0, shape=(1,) * data.ndim) < 0.5
    flipped = nd.flip(data, axis=data.ndim - axis_from_end)
    return nd.where(nd.broadcast_to(coin, data.shape), flipped, data)


def random_flip_left_right(data):
    """flip_left_right with probability 0.5."""
    return random_flip("random_flip_left_right", data, 2)


def random_flip_top_bottom(data):
    """flip_top_bottom with probability 0.5."""
    return random_flip("random_flip_top_bottom", data, 3)


def crop(data, x, y, width, height):
    """The width x height window of HWC (or NHWC) whose top-left pixel is (x, y)."""
    check_image("crop", data)
    h_axis = data.ndim - 3
    h, w = data.shape[h_axis], data.shape[h_axis + 1]
    if min(x, y) < 0 or width <= 0 or height <= 0 or x + width > w or y + height > h:
        raise MXNetValueError(f"crop: the window x={x}, y={y}, width={width}, height={height} "
                              f"is not inside an image of height {h} and width {w} (shape "
                              f"{tuple(data.shape)})")
    out = nd.slice_axis(data, axis=h_axis, begin=y, end=y + height)
    return nd.slice_axis(out, axis=h_axis + 1, begin=x, end=x + width)
