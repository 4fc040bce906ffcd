"""A trace records float ops without computing them (tracing/lazy_values.py); whatever reads
a value gets eager's own, to the bit, at the moment it reads it.

Each case compares what the user sees under jit / hybridize with the same code run eagerly,
and counts the values the trace computed after all (stats()["trace_values_computed"]): none
when nothing reads them."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd, npx
from tracegrad import np as mnp
from tracegrad.tracing.lazy_values import SMALL, LazyArray


def _computed():
    return mx.stats()["trace_values_computed"]


def _cnn():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, padding=1), gluon.nn.BatchNorm(), gluon.nn.Activation("relu"),
            gluon.nn.MaxPool2D(2), gluon.nn.Flatten(), gluon.nn.Dense(3))
    return net


def test_a_hybridized_training_step_traces_without_computing_and_agrees_with_eager():
    x = nd.array(np.random.RandomState(0).rand(2, 3, 8, 8).astype(np.float32))
    y = nd.array([0, 2])
    params = {}
    for hybridize in (False, True):
        mx.random.seed(1)
        net = _cnn()
        net.initialize()
        if hybridize:
            net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        before = _computed()
        for _ in range(3):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(2)
        if hybridize:
            assert _computed() == before    # (the trace's forward was never computed)
        params[hybridize] = [p.data().asnumpy() for p in net.collect_params().values()]
    for a, b in zip(params[False], params[True]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_python_branch_reads_the_eager_value_bit_for_bit():
    """The guard's value is computed when Python reads it, by eager's own op calls: the
    value read inside the trace is eager's to the bit, and each branch is taken as eager
    takes it."""
    read = []

    def f(x):
        h = nd.tanh(x * 1.7) + nd.exp(-x)
        total = h.sum()
        read.append(total.asnumpy())
        if float(total.asscalar()) > 3.0:
            return h * 2
        return h - 1
    g = mx.jit(f)
    for seed in range(6):
        x = nd.array(np.random.RandomState(seed).randn(5, 3).astype(np.float32))
        want = f(x).asnumpy()
        del read[:]
        got = g(x).asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        if read:        # (traced on this call: the value it read)
            np.testing.assert_array_equal(read[0], nd.sum(nd.tanh(x * 1.7) + nd.exp(-x))
                                          .asnumpy())


class _Keeps(gluon.HybridBlock):
    """Keeps an intermediate and its output on itself while it runs."""
    def __init__(self):
        super().__init__()
        self.dense = gluon.nn.Dense(4, in_units=3)

    def hybrid_forward(self, F, x):
        h = F.relu(self.dense(x)) * 3.0
        self.kept = h
        self.kept_flat = F.flatten(h.reshape((0, 2, 2)))    # (its own buffer, as eager's)
        out = F.sigmoid(h)
        self.kept_out = out
        return out


def test_arrays_kept_past_the_trace_hold_the_values_of_their_call():
    """An intermediate (or output) the user's forward stored: computed when the trace ends,
    so a later in-place write to the input does not reach it."""
    net = _Keeps()
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.RandomState(3).rand(2, 3).astype(np.float32))
    with autograd.record():
        net(x)
    assert type(net.kept) is nd.NDArray and type(net.kept_out) is nd.NDArray
    want_h = (nd.relu(net.dense(x)) * 3.0).asnumpy()
    kept, kept_out, flat = net.kept, net.kept_out, net.kept_flat
    x[:] = 100.0
    np.testing.assert_array_equal(kept.asnumpy(), want_h)
    np.testing.assert_array_equal(kept_out.asnumpy(), nd.sigmoid(nd.array(want_h)).asnumpy())
    flat[:] = -1.0
    np.testing.assert_array_equal(kept.asnumpy(), want_h)     # (flatten gave a new array)


def test_a_pending_array_answers_its_type_and_becomes_plain_when_read():
    seen = {}

    def f(x):
        h = x * 2.0 + 1.0
        seen["type"] = type(h)
        seen["meta"] = (h.shape, h.dtype, h.ndim, h.size, len(h))
        seen["read"] = h.asnumpy()          # (a read: computed here, by eager's ops)
        seen["after"] = type(h)
        small = nd.ones((2, 2)) * 3.0       # (small, on computed operands: computed at once)
        seen["small"] = type(small)
        return h.sum() + small.sum()

    x = nd.array(np.arange(SMALL * 2, dtype=np.float32).reshape(2, SMALL))
    out = mx.jit(f)(x)
    assert seen["type"] is LazyArray
    assert seen["meta"] == ((2, SMALL), np.float32, 2, 2 * SMALL, 2)
    np.testing.assert_array_equal(seen["read"], x.asnumpy() * 2 + 1)
    assert seen["after"] is nd.NDArray and seen["small"] is nd.NDArray
    assert out.asscalar() == float((x.asnumpy().astype(np.float64) * 2 + 1).sum() + 12)


def test_numpy_mode_views_stay_pending_and_agree():
    npx.set_np()
    try:
        class Net(gluon.HybridBlock):
            def __init__(self):
                super().__init__()
                self.dense = gluon.nn.Dense(5)

            def hybrid_forward(self, F, x):
                h = F.np.tanh(self.dense(x))
                self.seen = (type(h).__name__, h.dtype, h.shape)
                return h * 2 + F.np.sum(x)

        net = Net()
        net.initialize()
        x = mnp.array(np.random.RandomState(4).rand(3, SMALL).astype(np.float32))
        eager = net(x).asnumpy()
        net.hybridize()
        before = _computed()
        for _ in range(2):
            np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-6, atol=1e-6)
        assert _computed() == before
        assert net.seen == ("LazyNpArray", np.dtype(np.float32), (3, 5))  # (numpy's dtype)

    finally:
        npx.reset_np()


def test_a_python_branch_on_a_small_value_computes_only_what_it_reads():
    """A guard read in a trace computes its value's pending ancestors, nothing more."""
    def f(x):
        h = nd.exp(x * 0.5)                         # pending (large)
        s = nd.sum(h)
        if s.asscalar() > 0:                        # reads s: h and s are computed
            return nd.tanh(x) * 2.0                 # pending, never read
        return x
    x = nd.array(np.random.RandomState(7).rand(2, SMALL).astype(np.float32))
    before, traces = _computed(), mx.stats()["traces"]
    np.testing.assert_allclose(mx.jit(f)(x).asnumpy(), np.tanh(x.asnumpy()) * 2.0,
                               rtol=1e-6, atol=1e-6)
    traced = mx.stats()["traces"] - traces
    # mul, exp, sum and the guard's scalar per trace; never tanh and its product
    assert traced >= 1 and _computed() - before == 4 * traced


def test_a_write_into_a_traced_array_and_a_backward_inside_the_trace():
    """x[...] = inside the trace rebinds a pending array; autograd.grad inside a jit
    function walks the trace's tape, computing what it reads."""
    def f(x):
        h = x * 3.0
        h[0] = 7.0
        with autograd.record():
            z = nd.sum(h * h)
        return h + 1.0, z

    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    for got, want in zip(mx.jit(f)(x), f(x)):
        np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())

    def g(x):
        x.attach_grad()
        with autograd.record():
            y = nd.sum(nd.tanh(x * 2.0))
        return autograd.grad(y, [x], create_graph=True)[0] * 1.5

    x = nd.array([0.1, -0.4, 0.8])
    want = 1.5 * 2.0 * (1 - np.tanh(2.0 * x.asnumpy()) ** 2)
    np.testing.assert_allclose(mx.jit(g)(nd.array(x.asnumpy())).asnumpy(), want, rtol=1e-6)


def test_value_errors_and_integer_promotions_are_raised_at_the_trace():
    """Ops whose eager run refuses some values or dtypes are computed at once in a trace, so
    their errors still name the user's line (a singular matrix, bool + 2.5 in float64)."""
    from tracegrad.array import F
    a = np.triu(np.ones((1, 3, 3), np.float32))
    a[0, 1, 1] = 0.0
    f = mx.jit(lambda a, b: nd.linalg_trsm(a * 1.0, b, rightside=True, lower=False))
    with pytest.raises(mx.MXNetError, match="singular"):
        f(nd.array(a), nd.ones((1, 2, 3)))
    g = mx.jit(lambda b: F.add(b, 2.5) * 2.0)
    with pytest.raises(mx.MXNetError, match="float64"):
        g(nd.array([1, 0], dtype="bool"))


def test_max_pooling_of_a_bool_mask_stays_pending():
    """where(bool mask, x, -inf) probes its dtype on one element (numpy agrees): not computed."""
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(2, 3), gluon.nn.MaxPool2D(2, padding=1))
    net.initialize()
    x = nd.array(np.random.RandomState(5).rand(1, 1, 6, 6).astype(np.float32))
    eager = net(x).asnumpy()
    net.hybridize()
    before = _computed()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-6, atol=1e-7)
    assert _computed() == before


def test_gathers_by_integer_indices_stay_pending_and_integer_arithmetic_agrees():
    """A bidirectional GRU reverses its sequence with take(int64 indices): pending, as the
    result is its float operand's dtype. Integer arithmetic beside it keeps eager's types."""
    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.rnn = gluon.rnn.GRU(6, bidirectional=True)
            self.out = gluon.nn.Dense(3, flatten=False)

        def hybrid_forward(self, F, x, k):
            steps = (k * 3 + 1) % 4                     # (int32 arithmetic)
            return self.out(self.rnn(x)) + steps.astype("float32").reshape((1, 1, 1))

    net = Net()
    net.initialize()
    x = nd.array(np.random.RandomState(6).rand(4, 2, 5).astype(np.float32))
    k = nd.array([5], dtype="int32")
    eager = net(x, k).asnumpy()
    net.hybridize()
    before = _computed()
    for _ in range(2):
        np.testing.assert_allclose(net(x, k).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    assert _computed() == before


def test_a_pending_output_read_after_its_trace_released_the_graph():
    """A trace that read a value (so computed some of its graph) releases the computed
    intermediates when it ends, but not those its pending outputs are computed from: an
    output read later (as export reads its trace's outputs) is still eager's value."""
    from tracegrad.tracing.trace import trace

    from tracegrad.runtime import tape
    released = []
    release = tape.release

    def spy(ops, keep):
        released.append(release(ops, keep))
        return released[-1]

    def f(x):
        h = nd.exp(x * 0.5)
        s = nd.sum(h)
        if s.asscalar() > 0:                        # (a read: mul, exp, sum computed)
            return nd.tanh(h) * s                   # (pending; reads h and s)
        return h

    x = nd.array(np.random.RandomState(8).rand(2, SMALL).astype(np.float32))
    tape.release = spy
    try:
        tr = trace(f, [x])
    finally:
        tape.release = release
    assert released == [True] and type(tr.outputs[0]) is LazyArray
    np.testing.assert_array_equal(tr.outputs[0].asnumpy(), f(x).asnumpy())
