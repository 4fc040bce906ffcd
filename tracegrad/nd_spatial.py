"""`nd.GridGenerator`, `nd.BilinearSampler` and `nd.SpatialTransformer` (MXNet 1.9.1): sampling
grids from affine matrices or optical flow, and bilinear sampling of NCHW data at a grid of
normalized coordinates (x then y in [-1, 1]; points outside read zeros). Written as products
with constant grids and gathers (take) of the four neighbours, so they compile and
differentiate with respect to both the data and the grid (MXNet's piecewise-linear weights).
Imported into `nd`.
"""
import numpy as np

from .array import F
from .base import MXNetError
from .op_kwargs import redo as _redo

__all__ = ["GridGenerator", "BilinearSampler", "SpatialTransformer"]


def _target(op, target_shape):
    try:
        h, w = (int(v) for v in target_shape)
    except (TypeError, ValueError):
        raise MXNetError(f"{op}: target_shape must be (height, width), got "
                         f"{target_shape!r}") from None
    if h < 2 or w < 2:
        raise MXNetError(f"{op}: target_shape {(h, w)} must be at least (2, 2) (the grid "
                         f"spans [-1, 1] in steps of 2 / (size - 1))")
    return h, w


def _affine_grid(loc, h, w, dst):
    """loc (N, 6) as N 2x3 matrices times the (3, h*w) target grid dst: (N, 2, h, w)."""
    from .nd import array
    n = loc.shape[0]
    dst = array(dst.astype(np.dtype(loc.dtype)), dtype=np.dtype(loc.dtype))
    out = F.matmul(F.reshape(loc, shape=(n * 2, 3)), dst)
    return F.reshape(out, shape=(n, 2, h, w))


def GridGenerator(data, transform_type="affine", target_shape=(0, 0), **kwargs):
    """'affine': data (N, 6) holds 2x3 matrices mapping the target grid (x, y, 1), x and y
    spaced evenly over [-1, 1] on target_shape, to source coordinates: (N, 2, H, W).
    'warp': data (N, 2, H, W) is a flow in pixels added to each pixel's own position, then
    normalized to [-1, 1]."""
    if kwargs:
        return _redo(GridGenerator, locals())
    if transform_type == "affine":
        if data.ndim != 2 or data.shape[1] != 6:
            raise MXNetError(f"GridGenerator: affine data must be (batch, 6), got shape "
                             f"{data.shape}")
        h, w = _target("GridGenerator", target_shape)
        dt = np.dtype(data.dtype).type
        i = np.arange(h * w)
        # as MXNet's kernel: in the data's dtype, with steps 2 / (size - 1) rounded to it
        xs = dt(-1.0) + (i % w).astype(dt) * dt(2.0 / (w - 1))
        ys = dt(-1.0) + (i // w).astype(dt) * dt(2.0 / (h - 1))
        return _affine_grid(data, h, w, np.stack([xs, ys, np.ones_like(xs)]))
    if transform_type == "warp":
        if data.ndim != 4 or data.shape[1] != 2:
            raise MXNetError(f"GridGenerator: warp data must be (batch, 2, H, W), got shape "
                             f"{data.shape}")
        from .nd import array
        _, _, h, w = data.shape
        dt = np.dtype(data.dtype)
        own = np.stack([np.broadcast_to(np.arange(w, dtype=dt), (h, w)),
                        np.broadcast_to(np.arange(h, dtype=dt)[:, None], (h, w))])
        scale = np.array([(dt.type(w) - 1.0) / 2.0, (dt.type(h) - 1.0) / 2.0],
                         dt).reshape(1, 2, 1, 1)
        moved = F.add(data, array(own[None], dtype=dt))
        return F.sub(F.div(moved, array(scale, dtype=dt)), 1.0)
    raise MXNetError(f"GridGenerator: transform_type must be 'affine' or 'warp', got "
                     f"{transform_type!r}")


def BilinearSampler(data, grid, cudnn_off=None, **kwargs):
    """out[n, c, h, w] = data[n, c] sampled bilinearly at (x, y) = grid[n, :, h, w] in
    normalized coordinates (-1 the first pixel, 1 the last); neighbours outside read 0."""
    if kwargs:
        return _redo(BilinearSampler, locals())
    if data.ndim != 4 or grid.ndim != 4 or grid.shape[1] != 2 or \
            grid.shape[0] != data.shape[0]:
        raise MXNetError(f"BilinearSampler: data must be (N, C, H, W) and grid (N, 2, H', W'),"
                         f" got data {data.shape} and grid {grid.shape}")
    if np.dtype(data.dtype) != np.dtype(grid.dtype):
        raise MXNetError(f"BilinearSampler: data ({np.dtype(data.dtype)}) and grid "
                         f"({np.dtype(grid.dtype)}) must have one dtype")
    return _sample(data, grid)


def _sample(data, grid):
    n, c, h, w = data.shape
    oh, ow = grid.shape[2], grid.shape[3]
    m = oh * ow
    gx = F.reshape(F.slice(grid, begin=(0, 0, 0, 0), end=(n, 1, oh, ow), step=(1, 1, 1, 1)),
                   shape=(n, m))
    gy = F.reshape(F.slice(grid, begin=(0, 1, 0, 0), end=(n, 2, oh, ow), step=(1, 1, 1, 1)),
                   shape=(n, m))
    # as MXNet's kernel: (g + 1) * (size - 1) / 2 in the data's dtype
    x = F.div(F.mul(F.add(gx, 1.0), float(w - 1)), 2.0)
    y = F.div(F.mul(F.add(gy, 1.0), float(h - 1)), 2.0)
    # every spatial position of every image is one row of (N*H*W, C)
    rows = F.reshape(F.transpose(F.reshape(data, shape=(n, c, h * w)), perm=(0, 2, 1)),
                     shape=(n * h * w, c))
    base = F.mul(F.iota(shape=(n, m), axis=0), h * w)
    out = bilinear_rows(rows, base, y, x, h, w)                    # (N, M, C)
    return F.reshape(F.transpose(out, perm=(0, 2, 1)), shape=(n, c, oh, ow))


def bilinear_rows(rows, base, y, x, h, w):
    """Bilinear samples of h x w images stored as rows (R, C), one row per pixel: at pixel
    coordinates (y, x) (arrays of one shape S) of the image whose first row is `base` (same
    shape), the four neighbours' rows weighted by MXNet's piecewise-linear weights, a
    neighbour outside the image reading 0. Returns S + (C,). (BilinearSampler and the
    deformable convolutions: differentiable in the rows and the coordinates.)"""
    shape, c = tuple(y.shape), rows.shape[1]
    count = 1
    for d in shape:
        count *= d
    y0, x0 = F.floor(y), F.floor(x)
    wy, wx = F.sub(1.0, F.sub(y, y0)), F.sub(1.0, F.sub(x, x0))     # the top-left weights
    # clamped only so the cast cannot overflow: a corner below -1 clamped to -1 would put its
    # right/bottom neighbour at 0, inside; at -2 both neighbours stay outside, as in MXNet
    y0i = F.cast(F.maximum(F.minimum(y0, float(h)), -2.0), dtype="i64")
    x0i = F.cast(F.maximum(F.minimum(x0, float(w)), -2.0), dtype="i64")

    def corner(dy, dx):
        yi, xi = F.add(y0i, dy), F.add(x0i, dx)
        inside = F.where(F.where(F.ge(xi, 0), F.le(xi, w - 1), False),
                         F.where(F.ge(yi, 0), F.le(yi, h - 1), False), False)
        flat = F.add(base, F.add(F.mul(F.maximum(F.minimum(yi, h - 1), 0), w),
                                 F.maximum(F.minimum(xi, w - 1), 0)))
        picked = F.reshape(F.take(rows, F.reshape(flat, shape=(count,)), axis=0),
                           shape=shape + (c,))
        return F.where(F.reshape(inside, shape=shape + (1,)), picked, 0.0)

    def weight(v):
        return F.reshape(v, shape=shape + (1,))
    uy, ux = F.sub(1.0, wy), F.sub(1.0, wx)
    out = F.mul(F.mul(corner(0, 0), weight(wy)), weight(wx))
    out = F.add(out, F.mul(F.mul(corner(0, 1), weight(wy)), weight(ux)))
    out = F.add(out, F.mul(F.mul(corner(1, 0), weight(uy)), weight(wx)))
    return F.add(out, F.mul(F.mul(corner(1, 1), weight(uy)), weight(ux)))


def SpatialTransformer(data, loc, target_shape=(0, 0), transform_type="affine",
                       sampler_type="bilinear", cudnn_off=None, **kwargs):
    """BilinearSampler(data, the affine grid of loc (N, 6) on target_shape): MXNet's
    SpatialTransformer (its target grid computed in double, then rounded to the dtype)."""
    if kwargs:
        return _redo(SpatialTransformer, locals())
    if transform_type != "affine" or sampler_type != "bilinear":
        raise MXNetError(f"SpatialTransformer: supports transform_type 'affine' and "
                         f"sampler_type 'bilinear', got {transform_type!r}, {sampler_type!r}")
    if data.ndim != 4 or loc.ndim != 2 or loc.shape != (data.shape[0], 6):
        raise MXNetError(f"SpatialTransformer: data must be (N, C, H, W) and loc (N, 6), got "
                         f"data {data.shape} and loc {loc.shape}")
    h, w = _target("SpatialTransformer", target_shape)
    i = np.arange(h * w)
    xs = -1.0 + (i % w) * 2.0 / (w - 1)
    ys = -1.0 + (i // w) * 2.0 / (h - 1)
    grid = _affine_grid(loc, h, w, np.stack([xs, ys, np.ones_like(xs)]))
    return BilinearSampler(data, grid)
