"""Helpers for codegen tests: compile a batch of ops as ONE function (LLVM compiles cost),
run it natively and through the numpy interpreter, compare with dtype-aware tolerances."""
import numpy as np
import pytest

from tracegrad.ir import Builder, TensorType, type_of
from tracegrad.runtime.interpret import interpret
from tracegrad.runtime.native import NativeFunction

RTOL = {"f32": 1e-5, "f64": 1e-10}
ATOL = {"f32": 1e-6, "f64": 1e-12}


def build(cases, name="batch"):
    """cases: [(opname, args, attrs)]; array args become params, scalars stay literals."""
    b = Builder(name=name)
    inputs, outs = [], []
    for k, (opname, args, attrs) in enumerate(cases):
        operands = []
        for j, a in enumerate(args):
            if isinstance(a, np.ndarray):
                operands.append(b.param(type_of(a), f"a{k}_{j}"))
                inputs.append(a)
            else:
                operands.append(a)
        outs.append(b.emit(opname, *operands, **attrs))
    return b.ret(*outs), inputs


def assert_close(got, want, dtype, label="", exact=False):
    assert got.shape == want.shape, f"{label}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{label}: dtype {got.dtype} != {want.dtype}"
    if exact or dtype not in RTOL:
        np.testing.assert_array_equal(got, want, err_msg=label)
    else:
        np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=ATOL[dtype],
                                   equal_nan=True, err_msg=label)


def check_cases(cases, exact_ops=()):
    fn, inputs = build(cases)
    native = NativeFunction(fn)
    got = native(*inputs)
    with np.errstate(all="ignore"):
        want = interpret(fn, inputs)
    for (opname, args, attrs), g, w, o in zip(cases, got, want, fn.outputs):
        label = f"{opname}({', '.join(str(type_of(a)) if isinstance(a, np.ndarray) else repr(a) for a in args)}, {attrs})"
        assert_close(g, np.asarray(w), o.type.dtype, label, exact=opname in exact_ops)
    return native


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def tensor(dtype, shape):
    return TensorType(dtype, shape)
