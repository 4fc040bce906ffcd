"""`mx.npx.random`: MXNet's numpy-extension samplers (seed, bernoulli, normal_n, uniform_n) over
tracegrad's random stream, so mx.random.seed / npx.random.seed reproduce them eagerly and
compiled. The `_n` forms put `batch_shape` before the parameters' broadcast shape (numpy's
`size` must instead broadcast with them)."""
import numpy as onp

from . import random as _random
from .array import F, NDArray, on_context
from .base import MXNetValueError
from .ir.types import dtype_name
from .numpy_api import random as _np_random
from .numpy_api.ndarray import _F32, as_np, check_dtype

__all__ = ["seed", "bernoulli", "normal_n", "uniform_n"]


def seed(seed, ctx="all"):
    """Seed the random stream (mx.random.seed)."""
    _random.seed(seed, ctx=ctx)


def bernoulli(prob=None, logit=None, size=None, dtype=None, ctx=None, out=None):
    """1 with probability `prob` (or sigmoid(`logit`)), else 0, in `dtype` (float32 by
    default): prob > u, or logit > log(u / (1 - u)), as MXNet compares. No gradient."""
    if (prob is None) == (logit is None):
        raise ValueError(f"Either `prob` or `logit` must be specified, but not both. "
                         f"Received prob={prob}, logit={logit}")
    param = prob if prob is not None else logit
    if out is not None and size is None:
        size = out.shape
    (param,), shape, _ = _np_random._setup("bernoulli", (param,), size, None)
    if prob is not None and not isinstance(param, NDArray) and not 0.0 <= float(param) <= 1.0:
        raise MXNetValueError(f"npx.random.bernoulli: expect probs >= 0 && probs <= 1, got "
                              f"{prob}")
    if prob is not None and isinstance(param, NDArray) and not _np_random._values_pending():
        v = param._data     # (MXNet checks an array prob's values too)
        if not onp.all((v >= 0) & (v <= 1)):
            raise MXNetValueError(f"npx.random.bernoulli: expect probs >= 0 && probs <= 1, "
                                  f"got {v[~((v >= 0) & (v <= 1))].ravel()[0]!r} in its "
                                  f"{param.dtype} array of shape {param.shape}")
    if out is not None and dtype is None:
        dtype = out.dtype
    dt = check_dtype("npx.random.bernoulli", dtype, _F32)
    u = _np_random._open_uniform(shape)
    threshold = u if prob is not None else F.sub(F.log(u), F.log1p(F.neg(u)))
    p = F.cast(F.stop_gradient(param), dtype="f64") if isinstance(param, NDArray) \
        else float(param)
    hit = F.lt(threshold, p)
    return _np_random._done("bernoulli", F.cast(hit, dtype=dtype_name(dt)), ctx, out)


def _batched(fname, params, batch_shape):
    """The sample shape batch_shape + the parameters' broadcast shape (MXNet's _n forms)."""
    params = [_np_random._param(fname, p) for p in params]
    shapes = [p.shape for p in params if isinstance(p, NDArray)]
    try:
        pshape = onp.broadcast_shapes(*shapes) if shapes else ()
    except ValueError:
        raise MXNetValueError(f"npx.random.{fname}: parameter shapes {shapes} do not "
                              f"broadcast") from None
    if batch_shape is None:
        batch = ()
    elif isinstance(batch_shape, (int, onp.integer)):
        batch = (int(batch_shape),)
    else:
        batch = tuple(int(s) for s in batch_shape)
    return params, batch + tuple(pshape)


def normal_n(loc=0.0, scale=1.0, batch_shape=None, dtype=None, ctx=None):
    """Normal samples of shape batch_shape + broadcast(loc, scale); differentiable in loc and
    scale, as MXNet's."""
    (loc, scale), shape = _batched("normal_n", (loc, scale), batch_shape)
    return on_context(as_np(_np_random.normal(loc, scale, size=shape, dtype=dtype)), ctx)


def uniform_n(low=0.0, high=1.0, batch_shape=None, dtype=None, ctx=None):
    """Uniform samples in [low, high) of shape batch_shape + broadcast(low, high)."""
    (low, high), shape = _batched("uniform_n", (low, high), batch_shape)
    return on_context(as_np(_np_random.uniform(low, high, size=shape, dtype=dtype)), ctx)
