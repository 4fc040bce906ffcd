"""The eager backward of a structure not yet hot walks the graph op by op (runtime/
op_adjoints.py). It must give bitwise the gradients of the structure's whole adjoint
(ir.autodiff.vjp) interpreted, on random programs and on the cases the walk treats apart:
fan-out and one value read twice, broadcasting, multi-result ops with unused results, lifted
and kept literals, non-differentiable ops, several heads (one not differentiable), wrt
leaves the heads do not reach, second derivatives, and real layers (LSTMCell, Dense with a
softmax cross-entropy). The fan-out, multi-result and literal cases are also checked
against float64 finite differences, the second derivative against its closed form."""
import os
import sys
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tracegrad import autograd, gluon, nd
from tracegrad.runtime import tape

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fuzz"))
from programs import gradients, program_fn, programs  # noqa: E402


@pytest.fixture
def adjoints(monkeypatch):
    """A fresh adjoint cache; structures never turn hot, programs are never compiled.
    Returns `whole()`: a context in which every adjoint is derived whole (not walked)."""
    monkeypatch.setattr(tape, "_ADJOINTS", OrderedDict())
    monkeypatch.setattr(tape, "HOT_AFTER", 10 ** 6)
    monkeypatch.setattr(tape, "NATIVE_AFTER", 0)
    real = tape.adjoint_for

    class Whole:
        def __enter__(self):
            tape._ADJOINTS.clear()
            monkeypatch.setattr(tape, "adjoint_for",
                                lambda heads, wrt=None, whole=False: real(heads, wrt, True))

        def __exit__(self, *exc):
            monkeypatch.setattr(tape, "adjoint_for", real)
            tape._ADJOINTS.clear()
    return Whole


def _walked_then_whole(adjoints, grads_of):
    """(gradients by the op-by-op walk, by the whole adjoint) of `grads_of()` (a list of
    numpy arrays or None), checking the first really walked (create_graph's backward
    derives its adjoint whole: a backward of its result is walked)."""
    walked = grads_of()
    assert any(a.program is None and a.cold is not None for a in tape._ADJOINTS.values())
    with adjoints():
        whole = grads_of()
    assert len(walked) == len(whole)
    for a, b in zip(walked, whole):
        if a is None or b is None:
            assert a is None and b is None
        else:
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    return walked


SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@SETTINGS
@given(programs())
def test_random_programs_walked_give_the_whole_adjoints_gradients(adjoints, prog):
    tape._ADJOINTS.clear()
    _walked_then_whole(adjoints, lambda: gradients(prog, program_fn(prog)))


def _grads(f, *arrays, heads=None):
    """Gradients of f(*xs) (summed heads) wrt each x, via backward()."""
    xs = [nd.array(a, dtype=a.dtype) for a in arrays]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        outs = f(*xs)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    autograd.backward(outs)
    return [x.grad.asnumpy() for x in xs]


def _fd(f, arrays, k, eps=1e-6, seed=0):
    """(directional derivative of sum(f) along a random t in input k by finite differences,
    in float64)."""
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(arrays[k].shape)

    def total(delta):
        xs = [nd.array(a.astype(np.float64) + (delta * t if i == k else 0), dtype=np.float64)
              for i, a in enumerate(arrays)]
        outs = f(*xs)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return sum(float(o.asnumpy().sum()) for o in outs)
    return (total(eps) - total(-eps)) / (2 * eps), t


def _check(adjoints, f, *arrays, rtol=1e-5):
    got = _walked_then_whole(adjoints, lambda: _grads(f, *arrays))
    wide = _grads(f, *[a.astype(np.float64) for a in arrays])
    for k, g in enumerate(wide):
        fd, t = _fd(f, arrays, k)
        assert abs(float((g * t).sum()) - fd) <= rtol * max(1.0, abs(fd)), (k, fd)
    return got


RS = np.random.RandomState(7)


def _a(*shape):
    return RS.randn(*shape).astype(np.float32)


def test_fan_out_a_value_read_twice_and_broadcasting(adjoints):
    def f(x, b):
        h = nd.tanh(x) * x + b           # x read by two ops, and twice by one; b broadcast
        return (h * h).sum() + nd.sin(h).sum()
    _check(adjoints, f, _a(3, 4), _a(1, 4))


def test_multi_result_op_with_results_nobody_reads(adjoints):
    def f(x):
        a, b, c = nd.split(x, num_outputs=3, axis=1)
        return (nd.exp(a) * 2.0).sum() + (c * c).sum()     # b unused
    _check(adjoints, f, _a(2, 6))


def test_lifted_and_kept_literals(adjoints):
    def f(x):
        return (x * 0.37 + 1.5).sum() + (x ** 3).sum() + nd.clip(x, -0.5, 0.5).sum()
    _check(adjoints, f, _a(5))


def test_non_differentiable_paths_give_zeros_and_unreached_leaves_none(adjoints):
    xs = [nd.array(_a(4, 3)), nd.array(_a(4, 3)), nd.array(_a(2))]
    for x in xs:
        x.attach_grad()

    def grads():
        with autograd.record():
            idx = nd.argmax(xs[1], axis=1)           # xs[1]: in the graph, no gradient
            y = (xs[0] * 2.0).sum() + nd.pick(xs[0], idx, axis=1).sum()
        return [g if g is None else g.asnumpy()
                for g in autograd.grad(y, xs[:2])] + [None]
    g = _walked_then_whole(adjoints, grads)
    np.testing.assert_array_equal(g[1], np.zeros((4, 3), np.float32))
    # a leaf the heads do not reach at all: backward leaves its gradient untouched
    with autograd.record():
        z = (xs[0] * 3.0).sum()
    xs[2].grad[:] = 5.0
    z.backward()
    np.testing.assert_array_equal(xs[2].grad.asnumpy(), 5.0)


def test_several_heads_one_not_differentiable(adjoints):
    def grads():
        x = nd.array(np.array([1.0, -2.0, 3.0], np.float32))
        w = nd.array(np.array([0.5, 0.25, 2.0], np.float32))
        x.attach_grad()
        w.attach_grad()
        with autograd.record():
            y = x * w
            n = nd.argmax(y, axis=0).astype("float32")     # a head with no gradient
            z = nd.sin(x).sum()
        autograd.backward([y, z, n])
        return [x.grad.asnumpy(), w.grad.asnumpy()]
    g = _walked_then_whole(adjoints, grads)
    x = np.array([1.0, -2.0, 3.0], np.float32)
    np.testing.assert_allclose(g[0], np.array([0.5, 0.25, 2.0]) + np.cos(x), rtol=1e-6)


def test_second_derivatives_on_a_walked_structure(adjoints):
    x = nd.array(_a(6), dtype=np.float64)
    x.attach_grad()

    def grads():
        with autograd.record():
            y = (nd.sin(x) * x).sum()
            (g,) = autograd.grad(y, [x], create_graph=True)
            z = (g * g).sum()
        z.backward()
        return [x.grad.asnumpy()]
    (h,) = _walked_then_whole(adjoints, grads)
    a = x.asnumpy()
    g = np.cos(a) * a + np.sin(a)
    np.testing.assert_allclose(h, 2 * g * (2 * np.cos(a) - a * np.sin(a)), rtol=1e-10)


def test_real_layers_lstm_cell_and_dense_with_cross_entropy(adjoints):
    cell = gluon.rnn.LSTMCell(8, input_size=5)
    dense = gluon.nn.Dense(3, in_units=8)
    for block in (cell, dense):
        block.initialize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    xs = _a(4, 2, 5)
    label = nd.array(np.array([0, 2]))

    def grads():
        params = list(cell.collect_params().values()) + list(dense.collect_params().values())
        with autograd.record():
            state = cell.begin_state(batch_size=2)
            for t in range(len(xs)):
                out, state = cell(nd.array(xs[t]), state)
            loss = loss_fn(dense(out), label)
        loss.backward()
        return [p.grad().asnumpy() for p in params]
    walked = _walked_then_whole(adjoints, grads)
    assert any(np.abs(g).sum() > 0 for g in walked)
