"""Behaviours MXNet 1.9.1's tests/python/unittest/test_ndarray.py relies on (crop assign,
basic-indexing views, list values, NaN through relu's gradient, np_shape in saved files,
pickling, the oldest file layout), each checked here on its own."""

import pickle
import struct

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
    with pytest.raises(MXNetError, match="begin and end are required"):
        nd._internal._slice_assign_scalar(x, scalar=1)
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


def test_saved_np_shape_semantics_must_match_at_load(tmp_path):
    path = str(tmp_path / "arrays")
    with mx.np_shape(True):
        nd.save(path, [nd.array(np.float32(2.5)), nd.zeros((0, 3)), nd.arange(2)])
        got = nd.load(path)
    assert [g.shape for g in got] == [(), (0, 3), (2,)]
    assert float(got[0].asnumpy()) == 2.5
    with pytest.raises(MXNetError, match="saved in np_shape semantics and are loaded out"):
        nd.load(path)
    nd.save(path, {"a": nd.arange(3)})
    np.testing.assert_array_equal(nd.load(path)["a"].asnumpy(), [0, 1, 2])
    with mx.np_shape(True):
        with pytest.raises(MXNetError, match="saved out of np_shape semantics"):
            nd.load(path)
        with pytest.raises(MXNetError, match="only dense arrays"):
            nd.save(path, [nd.array([[0, 1.0]]).tostype("csr")])


def _records_file(magic, arrays):
    """An MXNet list file of dense float32 records with the given magic (V2 or V3)."""
    out = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for a in arrays:
        out += struct.pack("<IiI", magic, 0, a.ndim) + b"".join(struct.pack("<q", d)
                                                                 for d in a.shape)
        out += struct.pack("<iii", 1, 0, 0) + a.astype("<f4").tobytes()
    return out + struct.pack("<Q", 0)


def test_mxnet_v3_files_hold_scalars_and_load_only_under_np_shape(tmp_path):
    path = tmp_path / "v3.nd"
    path.write_bytes(_records_file(0xF993FACA, [np.float32(4.0), np.ones((2, 0))]))
    with mx.np_shape(True):
        got = nd.load(str(path))
    assert got[0].shape == () and float(got[0].asnumpy()) == 4.0 and got[1].shape == (2, 0)
    with pytest.raises(MXNetError, match="saved in np_shape"):
        nd.load(str(path))
    path.write_bytes(_records_file(0xF993FAC9, [np.ones(3)]))
    with mx.np_shape(True), pytest.raises(MXNetError, match="saved without np_shape"):
        nd.load(str(path))


def test_oldest_layout_before_v1_loads(tmp_path):
    """legacy_ndarray.v0: each record starts with a u32 rank and u32 dims, then the context,
    the dtype code and the data."""
    rec = struct.pack("<II", 1, 128) + struct.pack("<iii", 1, 0, 0)
    rec += np.arange(128, dtype="<f4").tobytes()
    path = tmp_path / "legacy.v0"
    path.write_bytes(struct.pack("<QQQ", 0x112, 0, 6) + rec * 6 + struct.pack("<Q", 0))
    got = nd.load(str(path))
    assert len(got) == 6
    for g in got:
        np.testing.assert_array_equal(g.asnumpy(), np.arange(128, dtype=np.float32))


def test_pickle_state_is_mxnets_raw_bytes():
    a = nd.array([[1.5, -2.0]], dtype="float64")
    state = a.__getstate__()
    assert list(state) == ["handle"] and isinstance(state["handle"], bytearray)
    assert bytes(state["handle"][:4]) == struct.pack("<I", 0xF993FAC9)
    b = pickle.loads(pickle.dumps(a))
    assert b.dtype == np.float64
    np.testing.assert_array_equal(b.asnumpy(), [[1.5, -2.0]])
    # MXNet's test_load_saved_gpu_array_when_no_gpus_are_present: a GPU array's state
    # (mx.nd.arange(1, ctx=mx.gpu()).__getstate__()) loads on the CPU
    gpu = bytearray(struct.pack("<IiIqiii", 0xF993FAC9, 0, 1, 1, 2, 0, 0) + bytes(4))
    c = nd.arange(5)
    c.__setstate__({"handle": gpu})
    assert c.shape == (1,) and c.asnumpy()[0] == 0
    assert c.context == mx.cpu(0)
    d = pickle.loads(pickle.dumps(nd.arange(3, ctx=mx.cpu(2))))   # (the context kept)
    assert d.context == mx.cpu(2) and d.asnumpy().tolist() == [0, 1, 2]
    with pytest.raises(MXNetError, match="pickled NDArray"):
        c.__setstate__({"handle": gpu[:-1]})
    with pytest.raises(MXNetError, match="raw bytes"):
        c.__setstate__({"data": [1, 2]})
