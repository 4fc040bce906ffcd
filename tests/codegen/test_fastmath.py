"""Fast-math is opt-in per LLVM flag through jit()/hybridize(); strict IEEE by default;
reassoc only on reduction accumulators; nnan with a NaN test warns."""
import re
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.codegen import compile_function, fastmath
from tracegrad.ir import Builder, TensorType

FLAG_RE = re.compile(r"= (fadd|fsub|fmul|fdiv|fcmp) ((?:nnan |ninf |nsz |arcp |contract |afn "
                     r"|reassoc |fast )+)")


def flags_in(text):
    return {f for m in FLAG_RE.finditer(text) for f in m.group(2).split()}


def graph(n=5):
    b = Builder(name=f"fm{n}")
    x = b.param(TensorType("f32", (3, n)), "x")
    y = b.add(b.mul(b.exp(x), x), 1.0)
    return b.ret(y, b.sum(y, axes=(1,)))


def test_strict_by_default():
    assert flags_in(compile_function(graph()).llvm_ir) == set()


def test_each_flag_reaches_elementwise_arithmetic_but_not_reassoc():
    text = compile_function(graph(), fastmath=("contract", "nsz", "arcp")).llvm_ir
    assert flags_in(text) == {"contract", "nsz", "arcp"}
    assert "reassoc" not in text


def test_reassoc_only_on_reduction_accumulators():
    text = compile_function(graph(), fastmath=("reassoc",)).llvm_ir
    lines = [ln for ln in text.splitlines() if "reassoc" in ln]
    assert lines and all(" fadd " in ln for ln in lines), lines
    # the accumulator is the only fadd with the flag: an `add` member and exp's own
    # arithmetic keep exact IEEE semantics
    assert len(lines) == 1, lines


def test_unknown_flag_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown flag.*'fastest'"):
        mx.jit(lambda x: x * 2, fastmath=("fastest",))
    assert fastmath.normalize("fast") == frozenset(fastmath.FLAGS)


def test_nnan_with_a_nan_test_warns():
    b = Builder(name="nantest")
    x = b.param(TensorType("f32", (4,)), "x")
    fn = b.ret(b.ne(x, x))
    with pytest.warns(RuntimeWarning, match="nnan"):
        compile_function(fn, fastmath=("nnan",), use_cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile_function(fn, fastmath=("contract",), use_cache=False)


def test_jit_and_hybridize_results_close_to_strict():
    xv = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    f = lambda x: nd.sum(nd.tanh(x) * nd.sigmoid(x) + 0.5 * x * x, axis=1)  # noqa: E731
    strict = mx.jit(f)(nd.array(xv)).asnumpy()
    fast = mx.jit(f, fastmath="fast")
    got = fast(nd.array(xv)).asnumpy()
    np.testing.assert_allclose(got, strict, rtol=1e-5)
    assert "contract" in fast.llvm_ir()
    net = mx.gluon.nn.Dense(4, activation="tanh", in_units=16)
    net.initialize()
    ref = net(nd.array(xv)).asnumpy()
    net.hybridize(fastmath=("contract", "nsz"))
    np.testing.assert_allclose(net(nd.array(xv)).asnumpy(), ref, rtol=1e-5, atol=1e-6)
    assert flags_in(net.llvm_ir()) == {"contract", "nsz"}
