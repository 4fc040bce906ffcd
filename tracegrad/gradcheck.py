"""`tracegrad.gradcheck`: check a function's gradients (to third order) against float64 finite
differences, eagerly and compiled. For users' own `autograd.Function`s and functions of nd ops.

For f and its inputs x (made float64 variables), with a fixed random output weighting c:
  F0(x) = sum_k <c_k, f(x)_k>,  F1(x) = <u1, grad F0(x)>,  F2(x) = <u2, grad F1(x)>, ...
(u random). Order n checks grad F0 .. grad F{n-1}, each computed by reverse mode (create_graph
for the inner gradients) against central differences of that F along random directions, per
input, and reports the worst element when a check fails.
"""
import numpy as np

from . import autograd
from .array import NDArray, wrap
from .base import MXNetError


class GradcheckError(AssertionError):
    """A gradient that disagrees with finite differences (the message says where)."""


def gradcheck(fn, inputs, order=1, modes=("eager", "hybrid"), eps=1e-6, rtol=1e-4,
              atol=1e-6, seed=0, directions=2):
    """Raise GradcheckError unless fn's reverse-mode derivatives up to `order` (1, 2 or 3)
    agree with finite differences in every mode ('eager': fn as is; 'hybrid': through
    tracegrad.jit). `fn` takes NDArrays and returns an NDArray or a tuple of them; `inputs`
    are NDArrays or numpy arrays (used as float64 copies). Call a custom Function through a
    fresh instance per call: `gradcheck(lambda x: MyFunction()(x), [x])`. Returns True."""
    from .tracing.jit import jit
    if order not in (1, 2, 3):
        raise ValueError(f"gradcheck: order must be 1, 2 or 3, got {order!r}")
    unknown = set(modes) - {"eager", "hybrid"}
    if unknown:
        raise ValueError(f"gradcheck: unknown modes {sorted(unknown)} (use 'eager', 'hybrid')")
    base = [np.array(x.asnumpy() if isinstance(x, NDArray) else x, dtype=np.float64)
            for x in inputs]
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, base)
    weights = [rng.standard_normal(o.shape) for o in outs]
    probes = [[rng.standard_normal(x.shape) for x in base] for _ in range(order - 1)]
    for mode in modes:
        f = fn if mode == "eager" else jit(fn)
        if mode == "hybrid":
            _same_outputs(f, base, outs)
        for level in range(order):
            _check_level(f, base, weights, probes[:level], level, mode, eps, rtol, atol, rng,
                         directions)
    return True


def _outputs(fn, base):
    outs = fn(*[wrap(x.copy()) for x in base])
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    for o in outs:
        if not isinstance(o, NDArray):
            raise TypeError(f"gradcheck: fn must return NDArrays, got {type(o).__name__}")
    return [o.asnumpy().astype(np.float64) for o in outs]


def _same_outputs(f, base, want):
    got = _outputs(f, base)
    for k, (g, w) in enumerate(zip(got, want)):
        if not np.allclose(g, w, rtol=1e-10, atol=1e-12, equal_nan=True):
            raise GradcheckError(f"gradcheck[hybrid]: output {k} differs from eager by "
                                 f"{np.max(np.abs(g - w))}")


def _scalar(f, xs, weights, probes):
    """F_level(xs) as a recorded scalar NDArray (inner gradients with create_graph)."""
    outs = f(*xs)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    total = None
    for o, c in zip(outs, weights):
        term = (o * wrap(c)).sum()
        total = term if total is None else total + term
    for u in probes:
        grads = autograd.grad(total, xs, create_graph=True, retain_graph=True)
        total = None
        for g, p in zip(grads, u):
            term = (g * wrap(p)).sum()
            total = term if total is None else total + term
    return total


def _value(f, base, weights, probes):
    xs = _variables(base)
    with autograd.record():
        return float(_scalar(f, xs, weights, probes).asnumpy().reshape(-1)[0])


def _variables(base):
    xs = [wrap(x.copy()) for x in base]
    for x in xs:
        x.attach_grad()
    return xs


def _analytic(f, base, weights, probes):
    xs = _variables(base)
    with autograd.record():
        total = _scalar(f, xs, weights, probes)
    return [g.asnumpy() for g in autograd.grad(total, xs)]


def _check_level(f, base, weights, probes, level, mode, eps, rtol, atol, rng, directions):
    try:
        grads = _analytic(f, base, weights, probes)
    except MXNetError as e:
        raise GradcheckError(f"gradcheck[{mode}, order {level + 1}]: {e}") from None
    for i, (x, g) in enumerate(zip(base, grads)):
        for _ in range(directions):
            t = rng.standard_normal(x.shape)
            fd = _directional(f, base, weights, probes, i, t, eps)
            want = float(np.sum(g * t))
            if not abs(fd - want) <= atol + rtol * max(abs(fd), abs(want)):
                raise GradcheckError(_report(f, base, weights, probes, i, g, eps, mode,
                                             level, fd, want))


def _directional(f, base, weights, probes, i, t, eps):
    def at(sign):
        moved = [x + sign * eps * t if j == i else x for j, x in enumerate(base)]
        return _value(f, moved, weights, probes)
    return (at(1.0) - at(-1.0)) / (2 * eps)


def _report(f, base, weights, probes, i, g, eps, mode, level, fd, want):
    msg = (f"gradcheck[{mode}, order {level + 1}]: input {i} {base[i].shape}: directional "
           f"derivative {want:.8g} by reverse mode, {fd:.8g} by finite differences")
    if base[i].size <= 256:  # find the worst element
        worst, where, pair = -1.0, None, None
        for idx in np.ndindex(base[i].shape):
            e = np.zeros(base[i].shape)
            e[idx] = 1.0
            num = _directional(f, base, weights, probes, i, e, eps)
            err = abs(num - g[idx])
            if err > worst:
                worst, where, pair = err, idx, (g[idx], num)
        msg += (f"; worst element {where}: {pair[0]:.8g} (reverse mode) vs {pair[1]:.8g} "
                f"(finite differences)")
    return msg
