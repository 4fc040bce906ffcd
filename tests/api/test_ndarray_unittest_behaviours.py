"""Behaviours MXNet 1.9.1's tests/python/unittest/test_ndarray.py relies on (crop assign,
basic-indexing views, list values, NaN through relu's gradient, np_shape in saved files,
pickling, the oldest file layout), each checked here on its own."""

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError


def test_crop_assign_and_slice_assign_write_the_region_through_out():
    x = nd.ones((2, 3, 4))
    z = nd.array(np.arange(6).reshape(2, 1, 3))
    got = nd._internal._crop_assign(x, z, begin=(0, 1, 0), end=(2, 2, 3), out=x)
    want = np.ones((2, 3, 4), np.float32)
    want[:, 1:2, 0:3] = np.arange(6).reshape(2, 1, 3)
    assert got is x
    np.testing.assert_array_equal(x.asnumpy(), want)
    y = nd._internal._slice_assign(nd.zeros((4,)), nd.array([7.0, 8.0]), begin=(3,),
                                   end=(None,), step=(-2,))
    np.testing.assert_array_equal(y.asnumpy(), [0, 8, 0, 7])
    x = nd.ones((2, 3))
    nd._internal._crop_assign_scalar(x, scalar=5, begin=(None, 1), end=(None, 3), out=x)
    np.testing.assert_array_equal(x.asnumpy(), [[1, 5, 5], [1, 5, 5]])
    with pytest.raises(MXNetError, match=r"_slice_assign: rhs of shape \(3,\).*\(2,\)"):
        nd._internal._slice_assign(nd.zeros((4,)), nd.ones((3,)), begin=(0,), end=(2,))


def test_slice_assign_differentiates_into_both_inputs():
    x, v = nd.array([1.0, 2.0, 3.0, 4.0]), nd.array([10.0, 20.0])
    x.attach_grad(), v.attach_grad()
    with autograd.record():
        y = nd._internal._slice_assign(x, v, begin=(1,), end=(3,))
        loss = (y * nd.array([1.0, 2.0, 3.0, 4.0])).sum()
    loss.backward()
    np.testing.assert_array_equal(y.asnumpy(), [1, 10, 20, 4])
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 0, 0, 4])
    np.testing.assert_array_equal(v.grad.asnumpy(), [2, 3])


@pytest.mark.parametrize("key,contiguous", [
    ((slice(None), slice(1, 2), slice(None)), False),
    ((slice(1, 2), slice(1, 3), slice(None)), True),
    ((slice(0, 1), slice(0, 1), slice(None, None, -1)), False),
    ((slice(2, 3), slice(1, 2), slice(3, 4)), True),
    ((slice(None), slice(None), slice(None, None, 2)), False),
])
def test_basic_indexing_slice_is_contiguous_says_when_a_view_is_returned(key, contiguous):
    shape = (3, 4, 5)
    assert nd.NDArray._basic_indexing_slice_is_contiguous(key, shape) is contiguous
    assert np.arange(60).reshape(shape)[key].flags.contiguous is contiguous
    x = nd.array(np.arange(60).reshape(shape))
    x[key][:] = -1
    assert bool((x.asnumpy()[key] == -1).all()) is contiguous


def test_setitem_with_a_list_value_fills_one_element():
    x = nd.array(np.arange(24).reshape(2, 3, 4), dtype="int32")
    x[1, 2, 3] = [-7]
    x[0, 1] = [1, 2, 3, 4]
    assert x.asnumpy()[1, 2, 3] == -7
    np.testing.assert_array_equal(x.asnumpy()[0, 1], [1, 2, 3, 4])


def test_relu_gradient_passes_nan_through():
    x = nd.array([np.nan, -1.0, 0.0, 2.0, -np.inf, np.inf])
    x.attach_grad()
    with autograd.record():
        y = nd.relu(x)
    y.backward(nd.array([3.0] * 6))
    np.testing.assert_array_equal(y.asnumpy(), [np.nan, 0, 0, 2, 0, np.inf])
    np.testing.assert_array_equal(x.grad.asnumpy(), [np.nan, 0, 0, 3, 0, 3])


def test_relu_gradient_nan_compiled_agrees_with_eager():
    class Net(mx.gluon.nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.relu(x) * 2
    net = Net()
    net.hybridize()
    for _ in range(2):
        x = nd.array([np.nan, -1.0, 0.5])
        x.attach_grad()
        with autograd.record():
            y = net(x)
        y.backward()
        np.testing.assert_array_equal(x.grad.asnumpy(), [np.nan, 0, 2])
