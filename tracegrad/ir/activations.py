"""MXNet's LeakyReLU family and layer/group/instance normalization, written in primitives.

Each takes `b` first (an ir.Builder or the eager dispatcher), so they differentiate to any order
and fuse into one loop when compiled.
"""
import math

from .composites import half_in_single

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def leaky(b, x, slope):
    """x where x > 0, else slope * x."""
    return b.where(b.gt(x, 0.0), x, b.mul(x, slope))


def prelu(b, x, gamma):
    """leaky with a learned slope `gamma` (broadcast against x)."""
    return b.where(b.gt(x, 0.0), x, b.mul(x, gamma))


@half_in_single
def elu(b, x, alpha):
    """x where x > 0, else alpha * (exp(x) - 1); the exponent is clamped at 0 so the branch
    that is not taken never overflows."""
    return b.where(b.gt(x, 0.0), x, b.mul(b.expm1(b.minimum(x, 0.0)), alpha))


@half_in_single
def selu(b, x):
    return b.mul(elu(b, x, SELU_ALPHA), SELU_LAMBDA)


@half_in_single
def gelu(b, x):
    """0.5 x (1 + erf(x / sqrt 2)): MXNet's LeakyReLU act_type='gelu'."""
    return b.mul(b.mul(x, 0.5), b.add(b.erf(b.mul(x, 1.0 / math.sqrt(2.0))), 1.0))


@half_in_single
def layer_norm(b, x, gamma, beta, axis, eps, stats=False):
    """Normalize over `axis` per sample, then scale by gamma and shift by beta (1-d, along
    `axis`). stats: also the mean and sqrt(var + eps), kept as size-1 dims (LayerNorm's
    output_mean_var). float16 computes in float32, as MXNet's half kernel accumulates."""
    shape = tuple(d if i == axis else 1 for i, d in enumerate(x.shape))
    n = x.shape[axis]
    mean = b.div(b.sum(x, axes=(axis,), keepdims=True), float(n))
    centered = b.sub(x, mean)
    var = b.div(b.sum(b.mul(centered, centered), axes=(axis,), keepdims=True), float(n))
    std = b.sqrt(b.add(var, eps))
    out = b.add(b.mul(b.div(centered, std), b.reshape(gamma, shape=shape)),
                b.reshape(beta, shape=shape))
    return (out, mean, std) if stats else out


@half_in_single
def group_norm(b, x, gamma, beta, groups, eps, stats=False):
    """Normalize (N, C, ...) over each sample's groups of C / groups channels and the spatial
    axes; gamma and beta have one entry per group (MXNet 1.x GroupNorm; InstanceNorm is
    groups = C). stats: also each (sample, group)'s mean and sqrt(var + eps), (N, groups)
    (GroupNorm's output_mean_var)."""
    n, c = x.shape[:2]
    xg = b.reshape(x, shape=(n, groups, math.prod(x.shape[1:]) // groups))
    mean = b.mul(b.sum(xg, axes=(2,), keepdims=True), 1.0 / xg.shape[2])
    centered = b.sub(xg, mean)
    var = b.mul(b.sum(b.mul(centered, centered), axes=(2,), keepdims=True), 1.0 / xg.shape[2])
    std = b.sqrt(b.add(var, eps))
    normed = b.div(centered, std)
    out = b.add(b.mul(normed, b.reshape(gamma, shape=(1, groups, 1))),
                b.reshape(beta, shape=(1, groups, 1)))
    out = b.reshape(out, shape=tuple(x.shape))
    if not stats:
        return out
    return out, b.reshape(mean, shape=(n, groups)), b.reshape(std, shape=(n, groups))
