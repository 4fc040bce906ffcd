"""Gluon's composites (normalization, robust losses), written in primitives against `b`.

Like ir/composites.py, each takes `b` first: an ir.Builder while building IR, or the eager
dispatcher tracegrad.array.F (which records for autograd and tracing). No layer has backward
code: gradients of every order come from the primitives' vjp rules.
"""
from ..ir import activations as A, composites as C


def _stat_shape(x, axis):
    """(1, C, 1, 1)-style shape that broadcasts per-channel statistics against x."""
    return tuple(d if i == axis else 1 for i, d in enumerate(x.shape))


def moments(b, x, axes):
    """Mean and (biased) variance over `axes`, kept as size-1 dims so they broadcast."""
    mean = C.mean(b, x, axes, keepdims=True)
    centered = b.sub(x, mean)
    var = C.mean(b, b.mul(centered, centered), axes, keepdims=True)
    return mean, var


def normalize(b, x, mean, var, gamma, beta, eps):
    """(x - mean) / sqrt(var + eps) * gamma + beta; all operands broadcast against x."""
    scale = b.div(gamma, b.sqrt(b.add(var, eps)))
    return b.add(b.mul(b.sub(x, mean), scale), beta)


def batch_norm(b, x, gamma, beta, mean, var, axis, eps):
    """Normalize x with given per-channel mean/var (1-d, length x.shape[axis])."""
    shape = _stat_shape(x, axis)

    def chan(v):
        return b.reshape(v, shape=shape)
    return normalize(b, x, chan(mean), chan(var), chan(gamma), chan(beta), eps)


def batch_norm_train(b, x, gamma, beta, axis, eps):
    """Normalize x by its own batch statistics; returns (out, mean, var) with 1-d stats."""
    axes = tuple(i for i in range(len(x.shape)) if i != axis)
    mean, var = moments(b, x, axes)
    shape = _stat_shape(x, axis)
    out = normalize(b, x, mean, var, b.reshape(gamma, shape=shape),
                    b.reshape(beta, shape=shape), eps)
    flat = (x.shape[axis],)
    return out, b.reshape(mean, shape=flat), b.reshape(var, shape=flat)


def layer_norm(b, x, gamma, beta, axis, eps):
    """Normalize over `axis` per sample, then scale by gamma and shift by beta: nd.LayerNorm's
    composite (float16 computed in float32)."""
    return A.layer_norm(b, x, gamma, beta, axis, eps)


def huber(b, diff, rho):
    """|d| - rho/2 where |d| > rho, else d^2 / (2 rho): MXNet's HuberLoss per element."""
    if not rho > 0:  # (MXNet divides by it in Python: a ZeroDivisionError naming nothing)
        raise ValueError(f"HuberLoss: rho must be positive, got {rho}")
    a = b.abs(diff)
    return b.where(b.gt(a, rho), b.sub(a, 0.5 * rho), b.mul(b.mul(a, a), 0.5 / rho))
