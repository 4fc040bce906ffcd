"""A hybridized net's first call leaves nothing large for the garbage collector: the trace's
recorded intermediates (a convolution's im2col matrix) are dropped once its Function is
made (tape.release), and a compiled entry is no reference cycle, so a dropped net's native
code and scratch arena go with it (compiled.Entry keeps a flag, not bound methods)."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from tracegrad import autograd, gluon, nd
from tracegrad.runtime.native import NativeFunction


@pytest.fixture
def collector_off():
    gc.collect()
    gc.disable()
    yield
    gc.enable()
    gc.collect()


def _net():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(16, 3, padding=1, in_channels=16), gluon.nn.BatchNorm(in_channels=16),
            gluon.nn.MaxPool2D())
    net.initialize()
    net.hybridize()
    return net


def test_the_traces_intermediates_are_freed_without_the_collector(collector_off):
    x = nd.array(np.random.RandomState(0).rand(4, 16, 64, 64).astype(np.float32))  # 1 MB
    _net()(x)                                  # (compiles what the measured call reuses)
    tracemalloc.start()
    try:
        net = _net()
        y = net(x)
        del net, y
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the im2col matrix alone is 16*9 x 4*64*64 floats (9.4 MB); the trace held it, and the
    # conv's output, until a collection
    assert held < 4e6, f"{held / 1e6:.1f} MB still held after the net was dropped"


def test_a_dropped_hybridized_nets_native_code_is_freed_without_the_collector(collector_off):
    """(the inference memo, tracing/serving.py, held its entry and was held by it)"""
    x = nd.ones((2, 16, 8, 8))
    for recording in (False, True):
        before = {id(o) for o in gc.get_objects() if type(o) is NativeFunction}
        net = _net()
        if recording:
            with autograd.record():
                y = net(x)
            y.backward()
        y = net(x)
        y = net(x)            # (outside record(): the inference memo)
        made = [weakref.ref(o) for o in gc.get_objects()
                if type(o) is NativeFunction and id(o) not in before]
        assert made
        del net, y
        assert [r for r in made if r() is not None] == [], recording


def _bytes_left_by_a_recorded_step(make_net, x):
    """Bytes still allocated after a net made by make_net() ran a recorded forward and
    backward on x and was dropped (tracemalloc; the caller turns the collector off)."""
    tracemalloc.start()
    try:
        net = make_net()
        with autograd.record():
            y = net(x)
        y.backward()
        del net, y
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_a_backward_frees_the_inputs_of_ops_off_the_losss_path(collector_off):
    """BatchNorm's running-statistics ops are not on the loss's path, so backward does not
    walk them; they used to keep, through their operands, every ancestor's array (the conv's
    im2col matrix) until a collection."""
    x = nd.array(np.random.RandomState(1).rand(4, 16, 64, 64).astype(np.float32))

    def make():
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Conv2D(16, 3, padding=1, in_channels=16),
                gluon.nn.BatchNorm(in_channels=16))
        net.initialize()
        return net
    held = _bytes_left_by_a_recorded_step(make, x)
    assert held < 4e6, f"{held / 1e6:.1f} MB still held after backward and the net dropped"
    with pytest.raises(Exception, match="freed"):     # (a freed graph still says so)
        net2 = gluon.nn.Dense(2, in_units=3)
        net2.initialize()
        w = nd.ones((1, 3))
        with autograd.record():
            z = net2(w) * 2
        z.backward()
        z.backward()


def test_a_hybridized_nets_first_recorded_step_is_freed_without_the_collector(collector_off):
    """The first call of a hybridized net under record() traces it; the trace's graph ends in
    BatchNorm's running-statistics update (add, cast). tape.release refused to drop it while a
    loop variable of its own still named the last op's operand: every intermediate waited
    for a collection (640 MB per net in bench/bench_memory.py's `hr` row)."""
    x = nd.array(np.random.RandomState(2).rand(4, 16, 64, 64).astype(np.float32))
    with autograd.record():
        _net()(x).backward()                 # (compiles what the measured call reuses)
    held = _bytes_left_by_a_recorded_step(_net, x)
    assert held < 4e6, f"{held / 1e6:.1f} MB still held after a recorded step, net dropped"


def test_release_leaves_a_graph_something_else_holds():
    """tape.release drops a trace's intermediates only when nothing outside holds one: an
    array of a live graph keeps the whole graph as it was."""
    from tracegrad.runtime import tape
    x = nd.ones((3,))
    x.attach_grad()
    with autograd.record():
        a = x * 2
        b = a + 1
    ops = tape.collect([b._value])[1]
    assert tape.release(ops, [b._value]) is False       # `a` holds its value
    assert a._value.data is not None and a._value.producer.results
    kept = a._value
    del a
    assert tape.release(ops, [b._value]) is False       # (so does `kept`, here)
    del kept
    assert tape.release(ops, [b._value]) is True
    assert b._value.data is not None                     # the head is the caller's
    assert all(op.results == () for op in ops)
