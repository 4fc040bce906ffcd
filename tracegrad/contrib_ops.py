"""`nd.contrib` array operators with MXNet 1.9.1's names and semantics: boolean_mask,
index_copy, arange_like, BilinearResize2D, MultiBoxPrior, quadratic, index_array and allclose (also
`F.contrib.*` inside hybrid_forward, where F is nd).

Each is a composite of registry primitives (take, where, iota, argsort, ...), so it records,
differentiates to any order and compiles. boolean_mask's result has a data-dependent length:
under jit / hybridize the number of selected rows is read as a guard (as Python reading a
value is), so every count seen gets its own compiled variant and the selection itself runs
inside the compiled code; MXNet's hybridized (non-static) graphs likewise allow this op.
"""
import numpy as np

from .array import F, NDArray
from .base import MXNetError
from .index_checks import check_truncated_range
from .ir.types import dtype_name
from .contrib_nms import box_nms, box_non_maximum_suppression  # noqa: F401
from .contrib_multibox import MultiBoxDetection, MultiBoxTarget  # noqa: F401
from .contrib_proposal import MultiProposal, Proposal  # noqa: F401
from .nd_roi import ROIAlign  # noqa: F401  (nd.contrib.ROIAlign)
from .nd_deformable_psroi import DeformablePSROIPooling  # noqa: F401
from .nd_legacy import SyncBatchNorm  # noqa: F401  (nd.contrib.SyncBatchNorm)
from .op_kwargs import redo as _redo
from .sparse import getnnz  # noqa: F401  (nd.contrib.getnnz)
from .sparse_storage import following_storage

__all__ = ["boolean_mask", "index_copy", "arange_like", "BilinearResize2D", "MultiBoxPrior",
           "MultiBoxTarget", "MultiBoxDetection", "Proposal", "MultiProposal", "ROIAlign",
           "box_nms", "box_non_maximum_suppression", "div_sqrt_dim", "quadratic",
           "index_array", "isinf", "isfinite", "isnan", "rand_zipfian", "allclose",
           "SyncBatchNorm", "getnnz", "DeformablePSROIPooling"]


def _as_array(x, what, op):
    if not isinstance(x, NDArray):
        raise MXNetError(f"{op}: {what} must be an NDArray, got {type(x).__name__}")
    return x


def boolean_mask(data, index, axis=0, **kwargs):
    """The slices of `data` along `axis` where the 1-d `index` is non-zero (NaN counts as
    non-zero), in order; the gradient flows back to those slices (zero elsewhere).
    MXNet 1.9.1 supports only axis=0; any axis works here."""
    if kwargs:
        return _redo(boolean_mask, locals())
    data, index = _as_array(data, "data", "boolean_mask"), _as_array(index, "index",
                                                                     "boolean_mask")
    if data.ndim == 0:
        raise MXNetError("boolean_mask: data must have at least one axis, got a 0-d array")
    if not -data.ndim <= int(axis) < data.ndim:
        raise MXNetError(f"boolean_mask: axis {axis} is out of range for data of shape "
                         f"{data.shape}")
    axis = int(axis) % data.ndim
    if index.ndim != 1 or index.shape[0] != data.shape[axis]:
        raise MXNetError(f"boolean_mask: index must be 1-d with data.shape[{axis}] = "
                         f"{data.shape[axis]} elements, got index of shape {index.shape} for "
                         f"data of shape {data.shape}")
    keep = F.ne(index, 0) if index.dtype != np.bool_ else index
    # the count fixes the result's shape: a concrete value (a guard under jit / hybridize)
    count = int(F.sum(F.cast(keep, dtype="i64"), axes=(0,)).asscalar())
    # a stable sort of "dropped" puts the kept positions first, in their order
    order = F.argsort(F.cast(F.logical_not(keep), dtype="i32"), axis=0, is_ascend=True)
    chosen = F.slice(order, begin=(0,), end=(count,), step=(1,))
    return F.take(data, chosen, axis=axis)


def index_copy(old_tensor, index_vector, new_tensor, **kwargs):
    """old_tensor with row index_vector[i] replaced by new_tensor[i] (rows along axis 0; the
    index is truncated toward zero). When an index repeats, the last row written wins, as in
    MXNet's sequential CPU kernel. Gradients: old_tensor's rows that were replaced get none,
    new_tensor's rows get the output's gradient at the row they landed in (a row that a later
    duplicate overwrote gets none; MXNet passes it the same gradient as the winner)."""
    if kwargs:
        return _redo(index_copy, locals())
    old = _as_array(old_tensor, "old_tensor", "index_copy")
    idx = _as_array(index_vector, "index_vector", "index_copy")
    new = _as_array(new_tensor, "new_tensor", "index_copy")
    shapes = (f"old_tensor {old.shape}, index_vector {idx.shape}, new_tensor {new.shape}")
    if idx.ndim != 1:
        raise MXNetError(f"index_copy: index_vector must be 1-d ({shapes})")
    if old.ndim != new.ndim or old.ndim == 0:
        raise MXNetError(f"index_copy: old_tensor and new_tensor must have the same rank, "
                         f"at least 1 ({shapes})")
    if old.shape[1:] != new.shape[1:] or old.shape[0] < new.shape[0]:
        raise MXNetError(f"index_copy: new_tensor's shape must equal old_tensor's except "
                         f"for a first axis no longer than old_tensor's ({shapes})")
    if idx.shape[0] != new.shape[0]:
        raise MXNetError(f"index_copy: index_vector needs one entry per row of new_tensor "
                         f"({shapes})")
    if np.dtype(new.dtype) != np.dtype(old.dtype):
        raise MXNetError(f"index_copy: new_tensor's dtype {np.dtype(new.dtype)} differs from "
                         f"old_tensor's {np.dtype(old.dtype)}")
    m, n = old.shape[0], new.shape[0]
    idx = check_truncated_range("index_copy", "index_vector", idx, 0, m - 1,
                                f"rows of old_tensor {old.shape}")
    if n == 0:
        return F.cast(old, dtype=old.type.dtype)     # a new array, as MXNet's op gives
    rows = F.cast(idx, dtype="i64")
    hits = F.eq(F.reshape(rows, shape=(n, 1)), F.iota(shape=(n, m), axis=1))
    # for each row of the result, the last i writing it (-1: none)
    writer = F.max(F.where(hits, F.iota(shape=(n, m), axis=0), -1), axes=(0,))
    written = F.reshape(F.ge(writer, 0), shape=(m,) + (1,) * (old.ndim - 1))
    return F.where(written, F.take(new, F.maximum(writer, 0), axis=0), old)


def arange_like(data, start=0.0, step=1.0, repeat=1, ctx=None, axis=None, **kwargs):
    """start + (i // repeat) * step for i = 0, 1, ... in data's shape (or, with `axis`, a 1-d
    array as long as that axis), in data's dtype, computed in that dtype as MXNet does; no
    gradient reaches data."""
    if kwargs:
        return _redo(arange_like, locals())
    data = _as_array(data, "data", "arange_like")
    repeat = int(repeat)
    if repeat < 1:
        raise MXNetError(f"arange_like: repeat must be >= 1, got {repeat}")
    if axis is None:
        shape = data.shape
    else:
        if not -data.ndim <= int(axis) < data.ndim:
            raise MXNetError(f"arange_like: axis {axis} is out of range for data of shape "
                             f"{data.shape}")
        shape = (data.shape[int(axis) % data.ndim],)
    dtype = np.dtype(data.dtype)
    name = dtype_name(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    i = F.iota(shape=(size,), axis=0)
    if repeat != 1:
        i = F.div(i, repeat)   # floors: i >= 0
    as_dtype = (lambda v: float(np.asarray(v).astype(dtype))) if dtype.kind == "f" else (
        lambda v: int(np.asarray(v).astype(dtype)))
    scaled = F.mul(F.cast(i, dtype=name), F.constant(value=as_dtype(step), shape=(),
                                                     dtype=name))
    out = F.add(scaled, F.constant(value=as_dtype(start), shape=(), dtype=name))
    return F.reshape(out, shape=shape) if shape != (size,) else out


_RESIZE_MODES = ("size", "odd_scale", "like", "to_even_down", "to_even_up", "to_odd_down",
                 "to_odd_up")


def _resize_size(data, like, height, width, scale_height, scale_width, mode):
    h, w = data.shape[2], data.shape[3]
    if mode == "size":
        if scale_height is not None:
            if scale_width is None:
                raise MXNetError("BilinearResize2D: scale_height needs scale_width too")
            return int(scale_height * h), int(scale_width * w)
        return int(height), int(width)
    if mode == "odd_scale":
        if scale_height is None or scale_width is None:
            raise MXNetError("BilinearResize2D: mode 'odd_scale' needs scale_height and "
                             "scale_width")
        return (int(h * scale_height) if h % 2 == 0 else int((h - 1) * scale_height) + 1,
                int(w * scale_width) if w % 2 == 0 else int((w - 1) * scale_width) + 1)
    if mode == "like":
        if like is None or like.ndim != 4:
            raise MXNetError(f"BilinearResize2D: mode 'like' needs a 4-d second input, got "
                             f"{None if like is None else like.shape}")
        return like.shape[2], like.shape[3]
    even, up = mode.startswith("to_even"), mode.endswith("_up")
    fix = (lambda d: d if (d % 2 == 0) == even else d + (1 if up else -1))
    return fix(h), fix(w)


def _resize_matrix(size_in, size_out, align_corners, dtype):
    """(size_out, size_in): row j holds the two weights MXNet's CPU kernel gives output j
    (source positions and lambdas computed in float32, as there)."""
    f32 = np.float32
    m = np.zeros((size_out, size_in), np.float64)
    if size_out > 1:
        scale = (f32(size_in - 1) / f32(size_out - 1)) if align_corners else (
            f32(size_in) / f32(size_out))
    else:
        scale = f32(0)
    for j in range(size_out):
        # (the kernel's float scale times a float index, or times j + 0.5 in double)
        src = f32(scale * f32(j)) if align_corners else f32(np.float64(scale) * (j + 0.5) - 0.5)
        src = max(src, f32(0))
        i = int(src)
        step = 1 if i < size_in - 1 else 0
        lam = np.dtype(dtype).type(src - f32(i))
        m[j, i] += 1 - lam
        m[j, i + step] += lam
    return m.astype(dtype)


def BilinearResize2D(data, like=None, height=1, width=1, scale_height=None, scale_width=None,
                     mode="size", align_corners=True, **kwargs):
    """Bilinear resize of NCHW data to (height, width), or by the scales, or like the second
    input (mode 'like'), or to the nearest even/odd size (modes 'to_even_down', ...), with
    MXNet's source positions (align_corners=True: corners map to corners). Written as two
    products with constant interpolation matrices (rows, then columns), so it compiles and
    differentiates; `like` gets no gradient."""
    if kwargs:
        return _redo(BilinearResize2D, locals())
    data = _as_array(data, "data", "BilinearResize2D")
    if mode not in _RESIZE_MODES:
        raise MXNetError(f"BilinearResize2D: mode must be one of {_RESIZE_MODES}, got {mode!r}")
    if data.ndim != 4:
        raise MXNetError(f"BilinearResize2D: data must be 4-d (N, C, H, W), got shape "
                         f"{data.shape}")
    oh, ow = _resize_size(data, like, height, width, scale_height, scale_width, mode)
    if oh < 1 or ow < 1:
        raise MXNetError(f"BilinearResize2D: output size ({oh}, {ow}) must be positive, for "
                         f"data of shape {data.shape}")
    n, c, h, w = data.shape
    if (oh, ow) == (h, w):
        return F.cast(data, dtype=data.type.dtype)   # MXNet copies
    dtype = np.dtype(data.dtype)
    from .nd import array
    rows = array(_resize_matrix(h, oh, align_corners, dtype), dtype=dtype)
    cols = array(_resize_matrix(w, ow, align_corners, dtype), dtype=dtype)
    x = F.matmul(F.reshape(data, shape=(n * c * h, w)), cols, transpose_b=True)  # (NCH, OW)
    x = F.transpose(F.reshape(x, shape=(n * c, h, ow)), perm=(0, 2, 1))         # (NC, OW, H)
    x = F.matmul(F.reshape(x, shape=(n * c * ow, h)), rows, transpose_b=True)    # (NC OW, OH)
    return F.transpose(F.reshape(x, shape=(n, c, ow, oh)), perm=(0, 1, 3, 2))


def MultiBoxPrior(data, sizes=(1.0,), ratios=(1.0,), clip=False, steps=(-1.0, -1.0),
                  offsets=(0.5, 0.5), **kwargs):
    """SSD anchor boxes for every position of NCHW data's feature map: (1, H*W*(len(sizes) +
    len(ratios) - 1), 4) corners (xmin, ymin, xmax, ymax), normalized; per position first the
    sizes at ratios[0], then ratios[1:] at sizes[0], computed in float32 as MXNet's kernel
    (steps -1: 1/H and 1/W). No gradient reaches data."""
    if kwargs:
        return _redo(MultiBoxPrior, locals())
    data = _as_array(data, "data", "MultiBoxPrior")
    if data.ndim < 4 or data.shape[2] < 1 or data.shape[3] < 1:
        raise MXNetError(f"MultiBoxPrior: data should be 4D batch-channel-y-x, got shape "
                         f"{data.shape}")
    f32 = np.float32
    sizes = [f32(s) for s in ((sizes,) if np.isscalar(sizes) else sizes)]
    ratios = [f32(r) for r in ((ratios,) if np.isscalar(ratios) else ratios)]
    steps, offsets = [f32(s) for s in steps], [f32(o) for o in offsets]
    if not sizes or not ratios or len(steps) != 2 or len(offsets) != 2:
        raise MXNetError(f"MultiBoxPrior: needs sizes and ratios, and two steps and offsets, "
                         f"got {sizes}, {ratios}, {steps}, {offsets}")
    if any(s <= 0 for s in sizes) or any(r <= 0 for r in ratios) or \
            not all(0 <= o <= 1 for o in offsets) or steps[0] * steps[1] < 0:
        raise MXNetError(f"MultiBoxPrior: sizes and ratios must be positive, offsets in [0, 1] "
                         f"and both steps given (or both -1), got sizes {sizes}, ratios "
                         f"{ratios}, offsets {offsets}, steps {steps}")
    h, w = data.shape[2], data.shape[3]
    if steps[0] <= 0 or steps[1] <= 0:
        steps = [f32(1.0) / f32(h), f32(1.0) / f32(w)]
    shapes = [(s, np.sqrt(ratios[0])) for s in sizes] + [(sizes[0], np.sqrt(r))
                                                          for r in ratios[1:]]
    half = np.array([(s * f32(h) / f32(w) * q / f32(2), s / q / f32(2)) for s, q in shapes],
                    f32)                                                    # (A, 2)
    cy = (np.arange(h, dtype=f32) + offsets[0]) * steps[0]
    cx = (np.arange(w, dtype=f32) + offsets[1]) * steps[1]
    centres = np.stack(np.broadcast_arrays(cx[None, :, None], cy[:, None, None]), -1)
    boxes = np.concatenate([centres - half, centres + half], axis=-1)      # (H, W, A, 4)
    if clip:
        boxes = np.clip(boxes, 0, 1)
    from .nd import array
    dtype = np.dtype(data.dtype)
    return array(boxes.reshape(1, -1, 4).astype(dtype), dtype=dtype)


def div_sqrt_dim(data, **kwargs):
    """data / sqrt(data.shape[-1]): the scaling of dot-product attention scores."""
    if kwargs:
        return _redo(div_sqrt_dim, locals())
    import math
    from .array import F
    if data.ndim == 0:
        raise MXNetError("div_sqrt_dim: data must have at least one axis, got a 0-d array")
    return F.div(data, math.sqrt(data.shape[-1]))



def quadratic(data, a=0.0, b=0.0, c=0.0, **kwargs):
    """a * data^2 + b * data + c elementwise, evaluated as MXNet does: data * (a * data + b) + c
    (gradient (2 a data + b) times the output's)."""
    if kwargs:
        return _redo(quadratic, locals())
    data = _as_array(data, "data", "quadratic")
    return F.add(F.mul(data, F.add(F.mul(data, float(a)), float(b))), float(c))


quadratic = following_storage(quadratic, "quadratic")   # (csr with c = 0: csr, as MXNet's)


def index_array(data, axes=None, **kwargs):
    """int64 array of shape data.shape + (m,) whose [i_1, ..., i_n, j] entry is i_{axes[j]}
    (all n axes in order when axes is None; negative axes count from the end). Only data's
    shape is read: no gradient reaches it. An axis outside [-n, n) raises (MXNet wraps it
    around modulo n)."""
    if kwargs:
        return _redo(index_array, locals())
    data = _as_array(data, "data", "index_array")
    n = data.ndim
    if axes is None:
        axes = tuple(range(n))
    else:
        axes = (int(axes),) if isinstance(axes, (int, np.integer)) else tuple(int(a)
                                                                           for a in axes)
        bad = [a for a in axes if not -n <= a < n]
        if bad:
            raise MXNetError(f"index_array: axes {bad} are out of range for data of shape "
                             f"{data.shape}")
    shape = tuple(data.shape) + (1,)
    if not axes:
        return F.constant(value=0, shape=tuple(data.shape) + (0,), dtype="i64")
    parts = [F.iota(shape=shape, axis=a % n) for a in axes]
    return parts[0] if len(parts) == 1 else F.concat(*parts, axis=n)


def isinf(data):
    """1 where data is +-inf, else 0, in data's dtype (MXNet: data.abs() == inf)."""
    data = _as_array(data, "data", "isinf")
    return data.abs() == np.inf


def isfinite(data):
    """1 where data is neither inf nor nan, else 0, in data's dtype."""
    data = _as_array(data, "data", "isfinite")
    return (data.abs() != np.inf) * (data == data)


def isnan(data):
    """1 where data is nan, else 0, in data's dtype."""
    data = _as_array(data, "data", "isnan")
    return data != data


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """num_sampled classes drawn with replacement from the log-uniform (Zipfian) distribution
    over [0, range_max), P(c) = log((c + 2) / (c + 1)) / log(range_max + 1), with the
    expected counts of the true and of the sampled classes (P(c) * num_sampled): int64,
    float64, float64, as MXNet's python function computes them."""
    import math
    from . import random
    true_classes = _as_array(true_classes, "true_classes", "rand_zipfian")
    log_range = math.log(range_max + 1)
    draw = random.uniform(0, log_range, shape=(int(num_sampled),), dtype="float64")
    sampled = F.mod(F.cast(F.sub(F.exp(draw), 1.0), dtype="i64"), int(range_max))

    def expected(classes):
        c = F.cast(classes, dtype="f64")
        return F.mul(F.div(F.log(F.div(F.add(c, 2.0), F.add(c, 1.0))), log_range),
                     float(num_sampled))
    return sampled, expected(true_classes), expected(sampled)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=True, **kwargs):
    """1 (uint8, shape ()) when every |a - b| <= atol + rtol * |b|, else 0: MXNet 1.9.1's
    _contrib_allclose. As its kernel computes it: a == b is close (inf with inf), NaNs are
    close only to NaNs and only with equal_nan (True by default, unlike numpy), rtol and atol
    are float32 numbers, the bound is computed in float32 (float64 for float64 arrays), so
    an infinite b allows any finite a. a and b must have one shape and one dtype."""
    if kwargs:
        return _redo(allclose, locals())
    a, b = _as_array(a, "a", "allclose"), _as_array(b, "b", "allclose")
    if tuple(a.shape) != tuple(b.shape):
        raise MXNetError(f"allclose: a and b must have one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if np.dtype(a.dtype) != np.dtype(b.dtype):
        raise MXNetError(f"allclose: a and b must have one dtype, got {np.dtype(a.dtype)} "
                         f"and {np.dtype(b.dtype)}")
    wide = "f64" if np.dtype(a.dtype) == np.float64 else "f32"
    rtol, atol = float(np.float32(rtol)), float(np.float32(atol))
    same = F.eq(a, b)
    a0, b0 = F.where(same, 0, a), F.where(same, 0, b)     # (inf - inf never computed)
    diff = F.where(F.gt(a0, b0), F.sub(a0, b0), F.sub(b0, a0))
    bound = F.add(F.mul(F.abs(F.cast(b, dtype=wide)), rtol), atol)
    close = F.maximum(F.cast(same, dtype="u8"),
                      F.cast(F.le(F.cast(diff, dtype=wide), bound), dtype="u8"))
    if np.dtype(a.dtype).kind == "f":
        nan_a, nan_b = F.ne(a, a), F.ne(b, b)
        either = F.maximum(F.cast(nan_a, dtype="u8"), F.cast(nan_b, dtype="u8"))
        nan_close = F.cast(F.eq(nan_a, nan_b), dtype="u8") if equal_nan else \
            F.mul(close, 0)
        close = F.where(F.cast(either, dtype="bool"), nan_close, close)
    if not a.size:
        return F.constant(value=1, shape=(), dtype="u8")
    return F.min(close, axes=tuple(range(a.ndim)))
