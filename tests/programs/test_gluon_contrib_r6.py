"""gluon.contrib pieces MXNet 1.x programs import: contrib.nn HybridConcurrent / Concurrent /
Identity (an Inception-style block, eager == hybridized == numpy), SyncBatchNorm on one
device (BatchNorm's numbers and running statistics), PixelShuffle1D/3D against numpy
reshapes, and contrib.data.IntervalSampler's order (word-language-model batching)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn
from tracegrad.gluon.contrib import data as contrib_data
from tracegrad.gluon.contrib import nn as contrib_nn

RS = np.random.RandomState(4)


def test_hybrid_concurrent_inception_block_eager_hybridized_numpy():
    net = contrib_nn.HybridConcurrent(axis=1)
    with net.name_scope():
        net.add(nn.Dense(3, in_units=4))
        net.add(nn.Dense(2, in_units=4, activation="relu"))
        net.add(contrib_nn.Identity())
    net.initialize()
    x = RS.randn(2, 4).astype(np.float32)
    w = [(d.weight.data().asnumpy(), d.bias.data().asnumpy()) for d in (net[0], net[1])]
    want = np.concatenate([x @ w[0][0].T + w[0][1], np.maximum(x @ w[1][0].T + w[1][1], 0), x],
                          axis=1)
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), want, rtol=1e-5, atol=1e-6)
    net.hybridize()
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), want, rtol=1e-5, atol=1e-6)
    eager = contrib_nn.Concurrent(axis=-1)
    eager.add(nn.Dense(3, in_units=4), contrib_nn.Identity())
    eager.initialize()
    assert eager(nd.array(x)).shape == (2, 7)


def test_sync_batch_norm_on_one_device_is_batch_norm():
    bn = contrib_nn.SyncBatchNorm(in_channels=3, num_devices=1, momentum=0.8)
    bn.initialize()
    x = RS.randn(4, 3, 2, 2).astype(np.float32)
    with autograd.record():
        y = bn(nd.array(x))
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    np.testing.assert_allclose(y.asnumpy(), (x - mean[:, None, None]) /
                               np.sqrt(var[:, None, None] + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), 0.2 * mean, rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(bn.running_var.data().asnumpy(), 0.8 + 0.2 * var, rtol=1e-4)
    np.testing.assert_allclose(bn(nd.array(x)).asnumpy(),          # inference: running stats
                               (x - 0.2 * mean[:, None, None]) /
                               np.sqrt(0.8 + 0.2 * var[:, None, None] + 1e-5), rtol=1e-4,
                               atol=1e-5)


def test_pixel_shuffle_1d_and_3d_are_reshapes():
    x = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)
    np.testing.assert_array_equal(contrib_nn.PixelShuffle1D(2)(nd.array(x)).asnumpy(),
                                  x.reshape(2, 3, 2, 3).transpose(0, 1, 3, 2).reshape(2, 3, 6))
    v = np.arange(8 * 8, dtype=np.float32).reshape(1, 8, 2, 2, 2)
    want = v.reshape(1, 1, 2, 2, 2, 2, 2, 2).transpose(0, 1, 5, 2, 6, 3, 7, 4)
    np.testing.assert_array_equal(contrib_nn.PixelShuffle3D((2, 2, 2))(nd.array(v)).asnumpy(),
                                  want.reshape(1, 1, 4, 4, 4))


def test_interval_sampler_order_length_and_data_loader():
    assert list(contrib_data.IntervalSampler(10, 3)) == [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]
    no_roll = contrib_data.IntervalSampler(10, 3, rollover=False)
    assert list(no_roll) == [0, 3, 6, 9] and len(no_roll) == 10     # MXNet's len
    with pytest.raises(ValueError, match="smaller than length"):
        contrib_data.IntervalSampler(3, 3)
    ds = gluon.data.ArrayDataset(nd.arange(6))
    loader = gluon.data.DataLoader(ds, batch_size=2,
                                   sampler=mx.gluon.contrib.data.IntervalSampler(6, 2))
    assert [b.asnumpy().tolist() for b in loader] == [[0, 2], [4, 1], [3, 5]]
