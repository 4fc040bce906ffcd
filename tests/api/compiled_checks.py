"""Checks shared by the nd op test files: gradients against finite differences to any order
(tests/grad/check.py's oracle on the traced function), and compiled (mx.jit) values and
gradients against eager ones."""
import pathlib
import sys

import numpy as np

import tracegrad as mx
from tracegrad import autograd
from tracegrad.tracing.trace import trace

from arrays import keep_dtype as array

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "grad"))
from check import check_grads  # noqa: E402  (tests/grad/check.py, the gradient oracle)


def _f64(x):
    """Float inputs in float64 (finite differences perturb them); integer ones (indices,
    masks) as they are, never perturbed."""
    x = np.asarray(x)
    return x if x.dtype.kind in "iub" else x.astype(np.float64)


def grads_ok(fn, *inputs, order=2, **tol):
    """fn's derivatives to `order` at these inputs (floats in float64) agree with finite
    differences."""
    tr = trace(fn, [array(_f64(x)) for x in inputs])
    check_grads(tr.function, [_f64(x) for x in inputs] + [v.data for v in tr.captured],
                order=order, **tol)


def compiled_values(fn, *inputs):
    """mx.jit(fn)'s result on the inputs, from its native call (the first call traces)."""
    compiled = mx.jit(fn)
    for _ in range(2):
        out = compiled(*[array(x) for x in inputs])
    return out


def jit_grads_match(fn, *inputs, rtol=1e-6, atol=1e-7):
    """The gradients of sum(fn(...)²) through mx.jit(fn) (its native call) equal the eager
    ones; returns the eager gradients."""
    compiled = mx.jit(fn)
    grads = []
    for f in (fn, compiled, compiled):
        xs = [array(x) for x in inputs]
        for x in xs:
            x.attach_grad()
        with autograd.record():
            y = f(*xs)
            (y * y).sum().backward()
        grads.append([x.grad.asnumpy() for x in xs])
    for eager, native in zip(grads[0], grads[2]):
        np.testing.assert_allclose(native, eager, rtol=rtol, atol=atol)
    return grads[0]
