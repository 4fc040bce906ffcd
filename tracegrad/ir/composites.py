"""Composite functions written in primitives, so they differentiate (to any order) and fuse free.

Each takes `b` first: an ir.Builder while tracing, or the eager dispatcher (nd's `F`), which
exposes the same op methods and runs them at once. Operands need only `.shape` and `.type`.
"""
import functools
import sys

from .types import normalize_axes, promote


def half_in_single(fn):
    """A float16 composite computed in float32 and rounded to float16 once, at the end, as
    numpy's half ufuncs and MXNet's half kernels compute: a chain of float16 roundings drifts
    by several ulps (hypot's scaled form was off by one ulp on 9 draws in 10). Differentiates
    through the two casts."""
    @functools.wraps(fn)
    def wrapped(b, *args, **kwargs):
        dtypes = {_dtype(a) for a in args if _dtype(a) is not None}
        if dtypes != {"f16"}:       # (mixed operands promote as they would)
            return fn(b, *args, **kwargs)
        wide = [b.cast(a, dtype="f32") if _dtype(a) is not None else a for a in args]
        out = fn(b, *wide, **kwargs)
        if isinstance(out, (tuple, list)):      # (a layer's statistics beside its output)
            return type(out)(b.cast(o, dtype="f16") for o in out)
        return b.cast(out, dtype="f16")
    return wrapped


def _dtype(x):
    """x's dtype name if x is an array operand, else None (a Python number, None)."""
    return getattr(getattr(x, "type", None), "dtype", None)


def _axes(x, axis):
    """normalize_axes; a bad axis is refused naming the composite that asked (its function
    name is the op's: softmax, pick, ...) and the operand's shape."""
    try:
        return normalize_axes(axis, len(x.shape))
    except ValueError as e:
        raise ValueError(f"{sys._getframe(1).f_code.co_name}: {e} of shape "
                         f"{tuple(x.shape)}") from None


def mean(b, x, axis=None, keepdims=False):
    """Mean over axes (all by default) = sum / n, divided as numpy and MXNet do (times 1/n
    rounds twice); over no axes, x itself. The mean of no elements is NaN (0 / 0)."""
    axes = _axes(x, axis)
    if not axes:
        return x
    n = 1
    for a in axes:
        n *= x.shape[a]
    return b.div(b.sum(x, axes=axes, keepdims=keepdims), float(n))


def square(b, x):
    return b.mul(x, x)


def reciprocal(b, x):
    return b.div(1.0, x)


def clip(b, x, a_min, a_max):
    """min(max(x, a_min), a_max); the gradient passes only strictly inside the range's ties."""
    return b.minimum(b.maximum(x, a_min), a_max)


def _empty_along(x, axes):
    """A (log-)softmax over an empty axis has no element to normalize: the empty result, as
    MXNet gives (the max that shifts x has no identity over no elements)."""
    return any(x.shape[a] == 0 for a in axes)


@half_in_single
def softmax(b, x, axis=-1, temperature=None):
    """exp(x - max) / sum(exp(x - max)) along `axis`."""
    axes = _axes(x, axis)
    if _empty_along(x, axes):
        return x
    if temperature is not None and temperature != 1.0:
        x = b.div(x, float(temperature))
    e = b.exp(b.sub(x, b.stop_gradient(b.max(x, axes=axes, keepdims=True))))
    return b.div(e, b.sum(e, axes=axes, keepdims=True))


@half_in_single
def log_softmax(b, x, axis=-1, temperature=None):
    """(x - max) - log(sum(exp(x - max))) along `axis`."""
    if temperature is not None and temperature != 1.0:
        x = b.div(x, float(temperature))
    axes = _axes(x, axis)
    if _empty_along(x, axes):
        return x
    shifted = b.sub(x, b.stop_gradient(b.max(x, axes=axes, keepdims=True)))
    return b.sub(shifted, b.log(b.sum(b.exp(shifted), axes=axes, keepdims=True)))


def pick(b, x, index, axis=-1, keepdims=False, mode="clip"):
    """x[..., index[...], ...] along `axis` (MXNet's pick), as a gather (the `pick` op): only
    the picked element is read, as MXNet's kernel reads it. (A one-hot masked sum read
    every element: an inf or NaN elsewhere in the row, such as a masked class's -inf
    log-probability, made the pick NaN, and a row of 2000 classes cost 2000 reads.) The
    index is read as MXNet's kernel reads it: truncated toward zero, then clipped into the
    axis (mode 'clip') or wrapped around it ('wrap'). Its gradient scatters the cotangent
    into the picked element (scatter_add_along_axis)."""
    axis = _axes(x, axis)[0]
    n = x.shape[axis]
    if keepdims and len(index.shape) == len(x.shape) and index.shape[axis] == 1:
        # with keepdims MXNet takes the index in the result's shape (size 1 along axis)
        index = b.reshape(index, shape=index.shape[:axis] + index.shape[axis + 1:])
    kept = x.shape[:axis] + x.shape[axis + 1:]
    if n == 0:          # nothing to pick from: zeros, as the masked sum over no terms gave
        out = b.constant(value=0, shape=kept, dtype=x.type.dtype)
        return b.reshape(out, shape=x.shape[:axis] + (1,) + x.shape[axis + 1:]) \
            if keepdims else out
    if mode == "wrap":
        index = b.mod(b.cast(index, dtype="i64"), n)
    elif index.type.dtype == "bool":        # (the gather reads integer or float indices)
        index = b.cast(index, dtype="i64")
    index = b.broadcast_to(index, shape=kept) if tuple(index.shape) != kept else index
    out = b.pick(x, index, axis=axis)
    return b.reshape(out, shape=x.shape[:axis] + (1,) + x.shape[axis + 1:]) if keepdims \
        else out


@half_in_single
def softrelu(b, x):
    """log(1 + exp(x)): x + log1p(exp(-x)) for x > 0, log1p(exp(x)) elsewhere, so exp never
    overflows. Each branch sees its own side only (double where): the gradient is sigmoid(x)
    everywhere, 1/2 at 0 as MXNet's softrelu_grad gives (max(x, 0) + log1p(exp(-|x|)) would
    differentiate to 0 there: relu's and abs's slopes at the kink are both 0)."""
    pos = b.gt(x, 0.0)
    xp = b.where(pos, x, 0.0)
    xn = b.where(pos, 0.0, x)
    return b.where(pos, b.add(xp, b.log1p(b.exp(b.neg(xp)))), b.log1p(b.exp(xn)))


@half_in_single
def softsign(b, x):
    return b.div(x, b.add(b.abs(x), 1.0))


@half_in_single
def sigmoid_bce(b, pred, label, from_sigmoid=False, pos_weight=None):
    """Binary cross-entropy per element, MXNet's SigmoidBinaryCrossEntropyLoss formula;
    pos_weight (broadcast) multiplies the positive term: on logits
    x - x*z + (1 + (pos_weight - 1) z) (log(1 + exp(-|x|)) + max(-x, 0))."""
    if not from_sigmoid:
        tail = b.log1p(b.exp(b.neg(b.abs(pred))))
        if pos_weight is None:
            # relu(x) - x*z + log(1 + exp(-|x|))
            return b.add(b.sub(b.relu(pred), b.mul(pred, label)), tail)
        log_weight = b.add(b.mul(b.sub(pos_weight, 1.0), label), 1.0)
        return b.add(b.sub(pred, b.mul(pred, label)),
                     b.mul(log_weight, b.add(tail, b.relu(b.neg(pred)))))
    eps = 1e-12
    positive = b.mul(b.log(b.add(pred, eps)), label)
    if pos_weight is not None:
        positive = b.mul(positive, pos_weight)
    return b.neg(b.add(positive,
                       b.mul(b.log(b.add(b.sub(1.0, pred), eps)), b.sub(1.0, label))))


def dropout(b, x, key, rate, axes=()):
    """x * mask / (1 - rate) with mask ~ Bernoulli(1 - rate), shared along `axes`."""
    if rate <= 0.0:
        return x
    mask_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    keep = 1.0 - rate
    mask = b.bernoulli(key, shape=mask_shape, p=keep, dtype=x.type.dtype)
    # (rate 1 keeps nothing: 0 * inf, NaN everywhere, as MXNet's kernel gives it)
    return b.mul(x, b.mul(mask, 1.0 / keep if keep > 0 else float("inf")))


def flatten(b, x):
    """Keep the first axis, collapse the rest (MXNet's Flatten)."""
    n = 1
    for d in x.shape[1:]:
        n *= d
    return b.reshape(x, shape=(x.shape[0], n) if x.shape else (1, 1))


# ---------------------------------------------------------------- special functions
# Composites with guarded branches: each branch computes on inputs replaced by a harmless value
# where it is not chosen (the "double where"), so its unused cotangent is 0 * finite, never
# 0 * inf = NaN, and the gradient is exact wherever the function is differentiable.

def _both(b, p, q):
    """p and q for bool tensors (where(p, q, p)), broadcast."""
    return b.where(p, q, p)


def _either(b, p, q):
    """p or q for bool tensors (where(p, p, q)), broadcast."""
    return b.where(p, p, q)


def _const(b, dtype, value):
    """A 0-d constant of `dtype` (a Python float beside only literals would pick f32)."""
    return b.constant(value=float(value), shape=(), dtype=dtype)


def sign_bit(b, x):
    """True where x is negative, -0.0 and -inf included: 1/x tells the zeros apart."""
    return b.lt(b.where(b.eq(x, 0.0), b.div(1.0, x), x), 0.0)


@half_in_single
def hypot(b, x, y):
    """sqrt(x² + y²) without overflow or underflow: both are scaled by m = max(|x|, |y|)
    first. m is held constant (stop_gradient): m * sqrt((x/m)² + (y/m)²) equals sqrt(x² + y²)
    for every positive m, so every derivative order is exact without m's. hypot(0, 0) = 0,
    its gradient (x, y) / hypot NaN there, as MXNet's and PyTorch's (0 / 0: MXNet 1.9.1's
    test_sparse_operator asserts it); an infinite operand gives inf even beside NaN (IEEE,
    numpy)."""
    ax, ay = b.abs(x), b.abs(y)
    inf = float("inf")
    infinite = _either(b, b.eq(ax, inf), b.eq(ay, inf))
    m = b.stop_gradient(b.maximum(ax, ay))
    zero = b.eq(m, 0.0)
    safe_m = b.where(_either(b, zero, infinite), 1.0, m)
    x = b.where(infinite, 0.0, x)
    y = b.where(infinite, 0.0, y)
    xs, ys = b.div(x, safe_m), b.div(y, safe_m)
    inner = b.where(zero, 1.0, b.add(b.mul(xs, xs), b.mul(ys, ys)))
    # at the origin sqrt(x² + y²) itself: 0, differentiating to sqrt'(0) * 2x = inf * 0
    xz, yz = b.where(zero, x, 1.0), b.where(zero, y, 1.0)
    origin = b.sqrt(b.add(b.mul(xz, xz), b.mul(yz, yz)))
    out = b.where(zero, origin, b.mul(safe_m, b.sqrt(inner)))
    return b.where(infinite, inf, out)


@half_in_single
def arctan2(b, y, x):
    """The angle of (x, y) in [-pi, pi], as C's atan2: atan(y/x) where |y| <= |x| (moved by
    ±pi when x is negative), ±pi/2 - atan(x/y) elsewhere, so no quotient exceeds 1 in size.
    Both zero: ±0 or ±pi by the zeros' signs; both infinite: ±pi/4 or ±3pi/4. The gradient
    is (x, -y) / (x² + y²) (zero at the origin, where it is undefined)."""
    import math
    ay, ax = b.abs(y), b.abs(x)
    both_zero = b.eq(b.add(ay, ax), 0.0)
    both_inf = b.eq(b.minimum(ay, ax), float("inf"))
    special = _either(b, both_zero, both_inf)
    flat = b.le(ay, ax)                      # false for NaN: the other branch passes it on
    steep = b.logical_not(flat)
    use_flat = _both(b, flat, b.logical_not(special))
    y_neg, x_neg = sign_bit(b, y), sign_bit(b, x)
    dtype = promote(y.type.dtype, x.type.dtype)
    pi = _const(b, dtype, math.pi)
    half_pi = _const(b, dtype, math.pi / 2)
    signed_pi = b.where(y_neg, b.neg(pi), pi)
    flat_angle = b.arctan(b.div(b.where(use_flat, y, 0.0), b.where(use_flat, x, 1.0)))
    flat_angle = b.where(x_neg, b.add(flat_angle, signed_pi), flat_angle)
    steep_angle = b.sub(b.where(y_neg, b.neg(half_pi), half_pi),
                        b.arctan(b.div(b.where(steep, x, 0.0), b.where(steep, y, 1.0))))
    out = b.where(flat, flat_angle, steep_angle)
    corner = b.where(x_neg, _const(b, dtype, 0.75 * math.pi), _const(b, dtype, 0.25 * math.pi))
    edge = b.where(both_zero, b.where(x_neg, pi, _const(b, dtype, 0.0)), corner)
    return b.where(special, b.where(y_neg, b.neg(edge), edge), out)


# Lanczos' approximation (g = 7, 9 terms; Godfrey's coefficients): ~1e-15 relative in float64.
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)


def _lgamma_right(b, x):
    """log Γ(x) for x >= 0.5 by Lanczos: Γ(z+1) = sqrt(2π) t^(z+1/2) e^-t A(z), t = z+g+1/2."""
    import math
    z = b.sub(x, 1.0)
    series = _LANCZOS[0]
    for i, c in enumerate(_LANCZOS[1:], start=1):
        series = b.add(b.div(c, b.add(z, float(i))), series)
    t = b.add(z, _LANCZOS_G + 0.5)
    return b.add(b.sub(b.mul(b.add(z, 0.5), b.log(t)), t),
                 b.add(b.log(series), 0.5 * math.log(2 * math.pi)))


def _gamma_parts(b, x):
    """(log|Γ(x)|, Γ(x) < 0, pole) on guarded branches: x >= 0.5 directly; x < 0.5 by the
    reflection Γ(x) Γ(1-x) = π / sin(πx), with sin(πx) taken of x mod 2 (exact), so its sign
    and size stay right far from zero. Poles: 0, the negative integers and -inf."""
    import math
    inf = float("inf")
    pole = _both(b, b.le(x, 0.0), b.eq(b.floor(x), x))
    right = _both(b, b.ge(x, 0.5), b.lt(x, inf))
    left = _both(b, b.lt(x, 0.5), b.logical_not(pole))
    xr = b.where(right, x, 1.0)
    xl = b.where(left, x, 0.25)
    sine = b.sin(b.mul(b.mod(xl, 2.0), math.pi))
    reflected = b.sub(b.sub(math.log(math.pi), b.log(b.abs(sine))),
                      _lgamma_right(b, b.sub(1.0, xl)))
    log_abs = b.where(right, _lgamma_right(b, xr), reflected)
    # exactly 0 at the roots 1 and 2 (as C's lgamma; Γ = 1 there), the gradient kept
    root = _either(b, b.eq(x, 1.0), b.eq(x, 2.0))
    log_abs = b.where(root, b.sub(log_abs, b.stop_gradient(log_abs)), log_abs)
    negative = _both(b, left, b.lt(sine, 0.0))
    return log_abs, negative, pole


def gammaln(b, x):
    """log|Γ(x)| (C's lgamma): +inf at the poles and at ±inf, NaN stays NaN."""
    log_abs, _, pole = _gamma_parts(b, x)
    inf = float("inf")
    out = b.where(_either(b, pole, b.eq(x, inf)), inf, log_abs)
    return b.where(b.ne(x, x), x, out)


def gamma(b, x):
    """Γ(x) (C's tgamma) = ±exp(log|Γ(x)|): ±inf at ±0, NaN at the negative integers and -inf,
    +inf at +inf; the sign alternates between the negative poles."""
    log_abs, negative, pole = _gamma_parts(b, x)
    inf = float("inf")
    size = b.exp(log_abs)
    out = b.where(negative, b.neg(size), size)
    out = b.where(pole, float("nan"), out)
    out = b.where(b.eq(x, 0.0), b.where(sign_bit(b, x), -inf, inf), out)
    out = b.where(b.eq(x, inf), inf, out)
    return b.where(b.ne(x, x), x, out)
