"""Indexing defects found by scripts/fuzz_indexing.py (helper 94), each checked eagerly and
compiled where it ran compiled: MXNet 1.9.1's legacy NDArray rules for nd (its gather_nd for
index arrays, its view rule for basic slices), numpy's for mx.np."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

X = np.array([10., 11., 12.], dtype=np.float32)


class Index(gluon.HybridBlock):
    def hybrid_forward(self, F, a, i):
        return a[i] * 1


@pytest.mark.parametrize("key, want", [
    (nd.array([-1]), [12.]), ([-1, 0], [12., 10.]), (np.array([2, -3]), [12., 10.]),
    (nd.array([-1.5]), [12.])])     # (a float index truncated toward zero, then wrapped)
def test_an_index_array_counts_negative_positions_from_the_end(key, want):
    # (x[array] clipped its indices: x[nd.array([-1])] was x[0], silently)
    np.testing.assert_array_equal(nd.array(X)[key].asnumpy(), want)


@pytest.mark.parametrize("key", [[5], nd.array([3]), [-4], np.array([0, 9])])
def test_an_index_array_past_the_axis_raises(key):
    with pytest.raises(IndexError, match="__getitem__: index must be in \\[-3, 2\\]"):
        nd.array(X)[key]


def test_index_array_gradient_and_compiled_reads_follow_the_same_rule():
    x = nd.array(X)
    x.attach_grad()
    with autograd.record():
        y = x[nd.array([-1, -1, 0])]
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1., 0., 2.])
    for f in (mx.jit(lambda a, i: a[i] * 1), Index()):
        if isinstance(f, Index):
            f.hybridize()
        for key, want in (([-1], [12.]), ([1], [11.]), ([-3, 2], [10., 12.])):
            got = f(nd.array(X), nd.array(key, dtype="int64"))
            np.testing.assert_array_equal(got.asnumpy(), want)
        with pytest.raises(IndexError, match="index must be in"):
            f(nd.array(X), nd.array([3, 0], dtype="int64")).asnumpy()


def _write(x, key, value):
    x[key] = value
    return x


def test_setitem_takes_a_float_index_array_as_positions():
    # (MXNet's default dtype: nd.array([0, 2]) is float32; it raised numpy's IndexError)
    got = _write(nd.zeros((4,)), nd.array([0, 2]), 1)
    np.testing.assert_array_equal(got.asnumpy(), [1, 0, 1, 0])


@pytest.mark.parametrize("hybrid", [False, True])
def test_compiled_setitem_reads_the_index_of_each_call(hybrid):
    # (the index array's values were baked into the compiled code: later calls wrote where
    # the first call's index pointed)
    def f(a, i):
        b = a.copy()
        b[i] = 100
        return b

    class Block(gluon.HybridBlock):
        def hybrid_forward(self, F, a, i):
            return f(a, i)
    g = Block() if hybrid else mx.jit(f)
    if hybrid:
        g.hybridize()
    x = nd.array([0., 1., 2., 3.])
    for k in (0, 2, 3, 2):
        want = np.array([0., 1., 2., 3.])
        want[k] = 100
        np.testing.assert_array_equal(g(x, nd.array([k], dtype="int64")).asnumpy(), want)


@pytest.mark.parametrize("make, key, value", [
    (lambda: nd.zeros((2, 3)), slice(None), nd.array(np.arange(6).reshape(3, 2))),
    (lambda: nd.zeros((2, 3)), [0, 1], np.arange(6).reshape(3, 2)),
    (lambda: mx.np.zeros((2, 3)), (0, slice(None)), mx.np.array([[1.], [2.], [3.]]))])
def test_a_value_of_the_right_size_but_another_shape_is_refused(make, key, value):
    # (it was reshaped into place: numpy and MXNet raise)
    with pytest.raises(ValueError, match="cannot assign a value of shape"):
        _write(make(), key, value)


def test_values_that_numpy_assigns_still_assign():
    np.testing.assert_array_equal(_write(nd.zeros((3,)), 0, nd.array([5.])).asnumpy(),
                                  [5, 0, 0])
    np.testing.assert_array_equal(_write(nd.zeros((2, 3)), 0, nd.array([[5.]])).asnumpy(),
                                  [[5, 5, 5], [0, 0, 0]])
    np.testing.assert_array_equal(_write(nd.zeros((2, 3)), 1, [1, 2, 3]).asnumpy(),
                                  [[0, 0, 0], [1, 2, 3]])


@pytest.mark.parametrize("value", [nd.array([[5.]]), nd.array([[[5., 6., 7.]]])])
def test_compiled_setitem_drops_a_values_leading_unit_axes_as_numpy(value):
    # (compiled and recorded writes broadcast without dropping them: an MXNetError)
    def f(a, v):
        b = a.copy()
        b[0] = v
        return b
    want = f(nd.zeros((2, 3)), value).asnumpy()
    np.testing.assert_array_equal(mx.jit(f)(nd.zeros((2, 3)), value).asnumpy(), want)
    np.testing.assert_array_equal(mx.jit(f)(nd.zeros((2, 3)), value).asnumpy(), want)
    w = nd.ones((1, 1))     # (a whole write under record() is recorded, as a scatter)
    w.attach_grad()
    z = nd.zeros((2, 3))
    with autograd.record():
        z[:] = w * 2
    z.backward()
    np.testing.assert_array_equal(z.asnumpy(), np.full((2, 3), 2.))
    np.testing.assert_array_equal(w.grad.asnumpy(), [[12.]])


def test_nd_setitem_refuses_a_boolean_mask_as_its_getitem_does():
    # (it wrote through the mask; MXNet 1.x reads a boolean array as positions 0 and 1)
    with pytest.raises(MXNetError, match="boolean mask is not supported"):
        _write(nd.array([0., 1., 2.]), np.array([True, False, True]), 5)
    got = _write(mx.np.array([0., 1., 2.]), mx.np.array([True, False, True], dtype=bool), 5)
    np.testing.assert_array_equal(got.asnumpy(), [5, 1, 5])     # (mx.np: numpy's mask)


def test_mx_np_empty_list_index_is_an_integer_index():
    assert mx.np.zeros((0, 3))[[]].shape == (0, 3)
    np.testing.assert_array_equal(_write(mx.np.zeros((2, 3)), [], 1).asnumpy(),
                                  np.zeros((2, 3)))


def test_a_reversed_slice_of_one_element_is_a_view_as_in_mxnet():
    x = nd.array([0., 1., 2.])
    y = x[2:0:-2]
    y[:] = 9
    np.testing.assert_array_equal(x.asnumpy(), [0, 1, 9])
    np.testing.assert_array_equal(mx.jit(lambda a: a[2:0:-2] * 2)(nd.array(X)).asnumpy(), [24])


def test_recorded_whole_write_of_a_numpy_value_keeps_the_keys_new_axes_for_mx_np():
    # (under record() the key was dropped: each row took one value, or numpy's ValueError)
    x = mx.np.zeros((2, 3))
    with autograd.record():
        x[..., None] = np.array([[[1.]], [[2.]]])
    np.testing.assert_array_equal(x.asnumpy(), [[1, 1, 1], [2, 2, 2]])
    y = mx.np.zeros((3, 3))
    with autograd.record():
        y[..., None] = np.array([1., 2., 3.]).reshape(1, 3, 1)
    np.testing.assert_array_equal(y.asnumpy(), np.tile([1., 2., 3.], (3, 1)))
