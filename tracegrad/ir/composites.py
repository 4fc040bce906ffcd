"""Composite functions written in primitives, so they differentiate (to any order) and fuse free.

Each takes `b` first: an ir.Builder while tracing, or the eager dispatcher (nd's `F`), which
exposes the same op methods and runs them at once. Operands need only `.shape` and `.type`.
"""
from .types import normalize_axes


def _axes(x, axis):
    return normalize_axes(axis, len(x.shape))


def mean(b, x, axis=None, keepdims=False):
    """Mean over axes (all by default) = sum * (1/n); over no axes, x itself. The mean of
    no elements is NaN, as in numpy and IEEE (0 * NaN)."""
    axes = _axes(x, axis)
    if not axes:
        return x
    n = 1
    for a in axes:
        n *= x.shape[a]
    return b.mul(b.sum(x, axes=axes, keepdims=keepdims), 1.0 / n if n else float("nan"))


def square(b, x):
    return b.mul(x, x)


def reciprocal(b, x):
    return b.div(1.0, x)


def clip(b, x, a_min, a_max):
    """min(max(x, a_min), a_max); the gradient passes only strictly inside the range's ties."""
    return b.minimum(b.maximum(x, a_min), a_max)


def softmax(b, x, axis=-1, temperature=None):
    """exp(x - max) / sum(exp(x - max)) along `axis`."""
    axes = _axes(x, axis)
    if temperature is not None and temperature != 1.0:
        x = b.div(x, float(temperature))
    e = b.exp(b.sub(x, b.stop_gradient(b.max(x, axes=axes, keepdims=True))))
    return b.div(e, b.sum(e, axes=axes, keepdims=True))


def log_softmax(b, x, axis=-1, temperature=None):
    """(x - max) - log(sum(exp(x - max))) along `axis`."""
    if temperature is not None and temperature != 1.0:
        x = b.div(x, float(temperature))
    axes = _axes(x, axis)
    shifted = b.sub(x, b.stop_gradient(b.max(x, axes=axes, keepdims=True)))
    return b.sub(shifted, b.log(b.sum(b.exp(shifted), axes=axes, keepdims=True)))


def pick(b, x, index, axis=-1, keepdims=False, mode="clip"):
    """x[..., index[...], ...] along `axis` (MXNet's pick), as a one-hot masked sum. The index
    is read as MXNet's kernel reads it: truncated toward zero, then clipped into the axis
    (mode 'clip') or wrapped around it ('wrap')."""
    axis = _axes(x, axis)[0]
    n = x.shape[axis]
    if mode == "wrap":
        hot = b.one_hot(b.mod(b.cast(index, dtype="i64"), n), depth=n, dtype=x.type.dtype)
    else:  # one_hot clamps the index itself: one op on the label, not four
        hot = b.one_hot(index, depth=n, dtype=x.type.dtype, clip=True)
    if axis != len(x.shape) - 1:
        perm = list(range(len(x.shape) - 1))
        perm.insert(axis, len(x.shape) - 1)
        hot = b.transpose(hot, perm=tuple(perm))
    return b.sum(b.mul(x, hot), axes=(axis,), keepdims=keepdims)


def softrelu(b, x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for large |x|."""
    return b.add(b.relu(x), b.log1p(b.exp(b.neg(b.abs(x)))))


def softsign(b, x):
    return b.div(x, b.add(b.abs(x), 1.0))


def sigmoid_bce(b, pred, label, from_sigmoid=False):
    """Binary cross-entropy per element, MXNet's SigmoidBinaryCrossEntropyLoss formula."""
    if not from_sigmoid:
        # relu(x) - x*z + log(1 + exp(-|x|))
        return b.add(b.sub(b.relu(pred), b.mul(pred, label)),
                     b.log1p(b.exp(b.neg(b.abs(pred)))))
    eps = 1e-12
    return b.neg(b.add(b.mul(b.log(b.add(pred, eps)), label),
                       b.mul(b.log(b.add(b.sub(1.0, pred), eps)), b.sub(1.0, label))))


def dropout(b, x, key, rate, axes=()):
    """x * mask / (1 - rate) with mask ~ Bernoulli(1 - rate), shared along `axes`."""
    if rate <= 0.0:
        return x
    mask_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    keep = 1.0 - rate
    mask = b.bernoulli(key, shape=mask_shape, p=keep, dtype=x.type.dtype)
    return b.mul(x, b.mul(mask, 1.0 / keep))


def flatten(b, x):
    """Keep the first axis, collapse the rest (MXNet's Flatten)."""
    n = 1
    for d in x.shape[1:]:
        n *= d
    return b.reshape(x, shape=(x.shape[0], n) if x.shape else (1, 1))
