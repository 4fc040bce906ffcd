"""sin/cos: the vectorised loop reduces ordinary arguments inline and calls a vector variant
of the large-argument function, which returns at once when no lane is large; lanes that are
large (anywhere: vector body or scalar remainder) still get the accurate Payne-Hanek result."""
import re

import numpy as np
import pytest

from tracegrad.ir import Builder, TensorType
from tracegrad.runtime.native import NativeFunction

NP = {"f32": np.float32, "f64": np.float64}


def _trig(dtype, n, name):
    b = Builder(name=f"trig_{name}_{dtype}_{n}")
    p = b.param(TensorType(dtype, (n,)), "x")
    return NativeFunction(b.ret(b.emit(name, p)))


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_vector_loop_calls_the_variant_not_the_scalar_reduction(dtype):
    from tracegrad.codegen import compile_function
    b = Builder(name=f"trig_ir_{dtype}")
    p = b.param(TensorType(dtype, (4099,)), "x")
    module = compile_function(b.ret(b.sin(p)), use_cache=False)
    text = module.optimized_ir
    called = set(re.findall(r'call [^@]*@"?(tg_trig_large\w*)', text))
    assert any(re.fullmatch(r"tg_trig_large_0[fd]_v\d", c) for c in called), called
    assert "tailrecurse" not in text        # the variants never call themselves


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_a_few_large_lanes_among_ordinary_ones(dtype, name):
    n = 1037                                 # not a multiple of the vector width
    rng = np.random.default_rng(1)
    x = rng.uniform(-10, 10, n).astype(NP[dtype])
    for i, v in zip((0, 5, 511, 1032, 1036), (1e6, -3e7, 2.0 ** 19, 1e30, -7e5)):
        x[i] = v
    x[9], x[10], x[11] = np.inf, np.nan, -0.0
    got = _trig(dtype, n, name)(x)[0]
    with np.errstate(invalid="ignore"):
        want = getattr(np, name)(x.astype(np.float64))
    fin = np.isfinite(x)
    ulp = np.spacing(np.abs(want[fin]).astype(NP[dtype])).astype(np.float64)
    err = np.abs(got[fin].astype(np.float64) - want[fin]) / ulp
    assert err.max() <= (1 if dtype == "f32" else 3), (err.max(), x[fin][np.argmax(err)])
    assert np.isnan(got[9]) and np.isnan(got[10])
    if name == "sin":
        assert got[11] == 0 and np.signbit(got[11])
