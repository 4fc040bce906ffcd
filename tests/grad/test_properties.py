"""Property tests (hypothesis): random broadcast shapes and random elementwise chains.

Every generated function is differentiated to second order against finite differences, and
compiled to native code and compared with the interpreter, so broadcasting, unbroadcasting
and fusion are checked on shapes nobody wrote down. Examples are derandomized: CI sees the
same ones every run.
"""
import numpy as np
from check import check_grads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction

UNARY = ["tanh", "sigmoid", "sin", "cos", "neg"]  # bounded: chains never overflow
BINARY = ["add", "sub", "mul", "maximum"]


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: drop leading dims and set some dims to 1 in each."""
    full = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    def variant():
        lead = draw(st.integers(0, len(full)))
        return tuple(1 if draw(st.booleans()) else d for d in full[lead:])
    return variant(), variant()


@st.composite
def chain(draw):
    """A random expression over two broadcast operands: a list of (kind, op) steps."""
    steps = draw(st.lists(st.tuples(st.sampled_from(["u", "b"]),
                                    st.integers(0, 3)), min_size=1, max_size=5))
    return steps


def _build(shapes, steps, dtype="f64"):
    b = Builder(name="prop")
    x = b.param(TensorType(dtype, shapes[0]), "x")
    y = b.param(TensorType(dtype, shapes[1]), "y")
    v = b.mul(x, y)
    for kind, k in steps:
        if kind == "u":
            v = getattr(b, UNARY[k % len(UNARY)])(v)
        else:
            v = getattr(b, BINARY[k % len(BINARY)])(v, x if k % 2 else y)
    axes = tuple(range(len(v.type.shape)))
    return b.ret(b.sum(b.mul(v, v), axes=axes) if axes else b.mul(v, v))


def _inputs(shapes, dtype, seed):
    rs = np.random.RandomState(seed)
    return [(rs.uniform(-1.5, 1.5, s)).astype(dtype) for s in shapes]


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(broadcast_pair(), chain(), st.integers(0, 1000))
def test_second_order_gradients_of_random_broadcast_chains(shapes, steps, seed):
    fn = _build(shapes, steps)
    check_grads(fn, _inputs(shapes, np.float64, seed), order=2, rtol=1e-4, atol=1e-6)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(broadcast_pair(), chain(), st.integers(0, 1000))
def test_compiled_random_chains_match_the_interpreter(shapes, steps, seed):
    fn = _build(shapes, steps, "f32")
    args = _inputs(shapes, np.float32, seed)
    want = interpret(fn, args)[0]
    got = NativeFunction(fn)(*args)[0]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
