"""Ops that call out of the graph (custom, custom_grad, compiled_call, compiled_adjoint) name
their Python object by a handle: it prints and parses back, runs while the object lives, and
is released with it (compiled variants are freed once nothing can call them)."""
import gc

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.ir.function import Function
from tracegrad.runtime import handles, tape
from tracegrad.runtime.interpret import Program


def test_compiled_entries_are_released_when_the_function_and_its_graphs_are_gone():
    gc.collect()
    before = handles.live_count()
    f = mx.jit(lambda x: nd.sum(nd.tanh(x) * x))
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = f(x)
    y.backward()
    assert handles.live_count() > before
    del f, y
    gc.collect()
    assert handles.live_count() == before


def test_a_printed_graph_with_a_compiled_call_parses_back_and_runs_while_its_entry_lives():
    f = mx.jit(lambda x: nd.exp(x) * 2)
    x = nd.array([0.5, 1.0])
    x.attach_grad()
    with autograd.record():
        y = f(x) + 1  # a training variant: its call is a compiled_call op on the tape
    leaves, ops = tape.collect([y._value])
    g = Function("g", leaves, ops, [y._value])
    text = str(g)
    assert "compiled_call" in text
    parsed = mx.ir.parse(text)
    assert str(parsed) == text
    (out,) = Program(parsed)([x.asnumpy()])[:1]
    np.testing.assert_allclose(out, np.exp([0.5, 1.0]) * 2 + 1, rtol=1e-6)
    del f, g, y, ops
    gc.collect()
    with pytest.raises(RuntimeError, match="compiled_call: handle .* names no live object"):
        Program(parsed)([x.asnumpy()])


def test_custom_function_handles_are_stable_per_instance_and_released():
    class Double(autograd.Function):
        def forward(self, x):
            return x * 2

        def backward(self, dy):
            return dy * 2
    gc.collect()
    before = handles.live_count()
    op = Double()
    x = nd.array([1.0])
    x.attach_grad()
    with autograd.record():
        y = op(x) + op(x)
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), [4.0])
    assert handles.live_count() == before + 1
    del op, y
    gc.collect()
    assert handles.live_count() == before
