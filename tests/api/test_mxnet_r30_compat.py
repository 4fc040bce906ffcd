"""MXNet 1.9.1 behaviours found by running its unit tests (helper 85, session 30): writes
inside `autograd.record()` are refused exactly where MXNet's RecordOp refuses them."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd

IN_GRAPH = ("Assigning to NDArrays that are already in a computational graph will cause "
            "undefined behavior when evaluating gradients")
READS_TARGET = "Inplace operations (+=, -=, x[:]=, etc) are not supported when recording"


def _refused(start, fn):
    with pytest.raises(mx.MXNetError) as e:
        fn()
    assert str(e.value).startswith(start), str(e.value)


def test_writes_into_a_marked_variable_are_refused_while_recording():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        _refused(IN_GRAPH, lambda: x.__iadd__(1))
        _refused(IN_GRAPH, lambda: x.__setitem__(1, 5.0))
        _refused(IN_GRAPH, lambda: x.__setitem__(slice(None), 0.0))
        _refused(IN_GRAPH, lambda: nd.relu(x, out=x))
    x += 1                  # outside record() a variable is written as any array
    x[0] = 7
    np.testing.assert_array_equal(x.asnumpy(), [7.0, 3.0, 4.0])


def test_writes_into_a_recorded_result_are_refused_until_backward_frees_it():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = x * 2
        _refused(IN_GRAPH, lambda: y.__iadd__(1))
        _refused(IN_GRAPH, lambda: y.__setitem__(0, 5.0))
        _refused(IN_GRAPH, lambda: nd.relu(y, out=y))
        _refused(IN_GRAPH, lambda: nd.ones(3).copyto(y))
        loss = y.sum()
    loss.backward()
    with autograd.record():     # the graph is freed: y is an ordinary array again
        y += 1
        y[0] = 0
    np.testing.assert_array_equal(y.asnumpy(), [0.0, 5.0, 7.0])
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 2.0, 2.0])


def test_a_write_that_reads_an_untracked_target_refuses_recorded_values():
    w = nd.array([1.0, 2.0, 3.0])
    w.attach_grad()
    x = nd.zeros(3)
    with autograd.record():
        _refused(READS_TARGET, lambda: x.__setitem__(slice(1, None), w[:2]))
        _refused(READS_TARGET, lambda: x.__setitem__(slice(None, None, -1), w))
        _refused(READS_TARGET, lambda: x.__setitem__([0, 1, 2], w))
        _refused(READS_TARGET, lambda: x.__iadd__(w))
        _refused(READS_TARGET, lambda: nd.broadcast_add(x, w, out=x))
        x += 1              # nothing recorded is involved: written in place
        x[1:] = 4.0
    np.testing.assert_array_equal(x.asnumpy(), [1.0, 4.0, 4.0])


def test_a_whole_array_write_of_recorded_values_is_recorded():
    w = nd.array([1.0, 2.0, 3.0])
    w.attach_grad()
    x, z = nd.zeros(3), nd.zeros((1, 3))
    with autograd.record():
        x[:] = w * w            # MXNet's copyto: the target is not read
        z[0] = w                # an integer on an axis of 1 still covers the whole array
        out = nd.zeros(3)
        nd.relu(w * 3, out=out)
        loss = (x + z.reshape((3,)) + out).sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad.asnumpy(), [2 + 1 + 3, 4 + 1 + 3, 6 + 1 + 3])


def test_a_numpy_array_copied_over_a_variable_keeps_it_a_variable():
    """MXNet copies a numpy array over a whole NDArray without an op: nothing to refuse."""
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        x[:] = np.array([4.0, 5.0, 6.0])
        _refused(IN_GRAPH, lambda: x.__setitem__(slice(1, None), np.zeros(2)))
        loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [8.0, 10.0, 12.0])
