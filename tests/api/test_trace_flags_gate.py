"""base.ANY_TRACE counts the traces running in any thread: the hot paths read the thread-local
trace flags (HOOKS.tracing, .compiling, .call_recorded, LOCATING.on, in_hybrid_call) only while
it is non-zero. It must be non-zero inside every trace and back to zero after every one,
including traces that fail, or a trace's checks would be skipped."""
import queue
import threading

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.array import HOOKS
from tracegrad.base import ANY_TRACE, LOCATING


def _seen(queue):
    out = []
    while not queue.empty():
        out.append(queue.get())
    return out


def test_inside_a_jit_trace_the_count_is_up_and_after_it_back_to_zero():
    seen = queue.SimpleQueue()     # (not a list: jit puts back what a trace appends to one)

    @mx.jit
    def f(x):
        seen.put((ANY_TRACE[0], HOOKS.tracing, HOOKS.compiling, LOCATING.on))
        return x * 2

    assert ANY_TRACE[0] == 0
    for _ in range(2):
        np.testing.assert_allclose(f(nd.array([1.0, 2.0])).asnumpy(), [2.0, 4.0])
    rows = _seen(seen)
    assert rows and all(n > 0 and tracing and compiling and on
                        for n, tracing, compiling, on in rows)
    assert ANY_TRACE[0] == 0


def test_a_trace_that_raises_leaves_the_count_at_zero():
    @mx.jit
    def f(x):
        raise ValueError("user error in the traced function")

    with pytest.raises(ValueError, match="user error"):
        f(nd.array([1.0]))
    assert ANY_TRACE[0] == 0


def test_a_hybridized_call_inside_a_trace_is_inlined_and_counted():
    seen = queue.SimpleQueue()

    class Probe(gluon.HybridBlock):
        def forward(self, x):
            seen.put(ANY_TRACE[0])
            return x + 1

    probe = Probe()
    probe.hybridize()
    f = mx.jit(lambda x: probe(x) * 2)
    np.testing.assert_allclose(f(nd.array([1.0])).asnumpy(), [4.0])
    rows = _seen(seen)
    assert rows and all(n > 0 for n in rows)
    assert ANY_TRACE[0] == 0


def test_trainer_step_inside_a_jit_trace_still_runs_eagerly():
    """The gated check in Trainer.step: inside a trace it is a side effect (compiled code
    would not update), so the jitted step moves the weights exactly as the eager one."""
    x, y = nd.array([[0.3, 0.5]]), nd.array([[1.5]])
    results = []
    for jitted in (False, True):
        mx.random.seed(3)
        net = gluon.nn.Dense(1, in_units=2)
        net.initialize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})

        def step(x, y, net=net, trainer=trainer):
            with autograd.record():
                loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            trainer.step(1)
            return loss
        run = mx.jit(step) if jitted else step
        for _ in range(3):
            run(x, y)
        results.append(net.weight.data().asnumpy().copy())
        assert ANY_TRACE[0] == 0
    assert not np.array_equal(results[0], np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)


def test_a_trace_in_another_thread_leaves_this_threads_flags_alone():
    """While one thread traces, the count is up for every thread; each still reads its own
    flags, which hold their defaults where nothing traces."""
    inside, release = threading.Event(), threading.Event()

    @mx.jit
    def slow(x):
        inside.set()
        release.wait(10)
        return x + 1

    worker = threading.Thread(target=lambda: slow(nd.array([1.0])))
    worker.start()
    try:
        assert inside.wait(10)
        assert ANY_TRACE[0] > 0
        assert not HOOKS.tracing and not HOOKS.compiling and not LOCATING.on
        x = nd.array([2.0])
        x.attach_grad()
        with autograd.record():     # (reads call_recorded: this thread's, the default)
            z = x * 3
        z.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), [3.0])
    finally:
        release.set()
        worker.join(10)
    assert ANY_TRACE[0] == 0
