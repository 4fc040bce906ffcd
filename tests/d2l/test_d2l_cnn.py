"""d2l.ai chapters 6-7 (convolutional networks), MXNet edition: corr2d from scratch (element
writes Y[i, j] = ...), learning an edge kernel with nn.Conv2D, multi-channel and 1x1
convolutions, pooling, LeNet trained with train_ch6, batch normalization from scratch (moving
statistics) against nn.BatchNorm, and a ResNet residual block (eager == hybridized)."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, init, np
from tracegrad.gluon import nn

from d2l_book import BatchNorm, Residual, batch_norm, corr2d, image_loaders, train_ch6


def f64(a):
    return a.asnumpy().astype('f8')


def _corr2d_ref(X, K):
    h, w = K.shape
    return onp.array([[(X[i:i + h, j:j + w] * K).sum() for j in range(X.shape[1] - w + 1)]
                      for i in range(X.shape[0] - h + 1)])


def test_corr2d_from_scratch():
    X = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    onp.testing.assert_array_equal(corr2d(X, K).asnumpy(), [[19, 25], [37, 43]])
    Xr = onp.random.RandomState(0).randn(6, 7)
    Kr = onp.random.RandomState(1).randn(2, 3)
    onp.testing.assert_allclose(f64(corr2d(np.array(Xr), np.array(Kr))), _corr2d_ref(Xr, Kr),
                                rtol=1e-5, atol=1e-6)


def test_edge_detection_and_learning_the_kernel():
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    K = np.array([[1.0, -1.0]])
    Y = corr2d(X, K)
    want = onp.zeros((6, 7))
    want[:, 1], want[:, 5] = 1, -1
    onp.testing.assert_array_equal(Y.asnumpy(), want)
    onp.testing.assert_array_equal(corr2d(X.T, K).asnumpy(), onp.zeros((8, 5)))
    conv2d = nn.Conv2D(1, kernel_size=(1, 2), use_bias=False)
    conv2d.initialize()
    X, Y = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)
    for _ in range(10):
        with autograd.record():
            l = (conv2d(X) - Y) ** 2
        l.backward()
        conv2d.weight.data()[:] -= 3e-2 * conv2d.weight.grad()
    onp.testing.assert_allclose(conv2d.weight.data().reshape((1, 2)).asnumpy(), [[1, -1]],
                                atol=0.1)


def test_multi_channel_and_1x1_convolutions():
    rs = onp.random.RandomState(2)
    X = np.array(rs.randn(3, 5, 5))
    K = np.array(rs.randn(2, 3, 1, 1))

    def corr2d_multi_in(X, K):
        return sum(corr2d(x, k) for x, k in zip(X, K))

    def corr2d_multi_in_out(X, K):
        return np.stack([corr2d_multi_in(X, k) for k in K], 0)

    def corr2d_multi_in_out_1x1(X, K):
        c_i, h, w = X.shape
        c_o = K.shape[0]
        return np.dot(K.reshape((c_o, c_i)), X.reshape((c_i, h * w))).reshape((c_o, h, w))

    Y1, Y2 = corr2d_multi_in_out_1x1(X, K), corr2d_multi_in_out(X, K)
    ref = onp.einsum('oi,ihw->ohw', f64(K).reshape(2, 3), f64(X))
    onp.testing.assert_allclose(f64(Y1), ref, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(f64(Y2), ref, rtol=1e-5, atol=1e-6)
    conv = nn.Conv2D(2, kernel_size=1, use_bias=False, in_channels=3)
    conv.initialize()
    conv.weight.set_data(K)
    onp.testing.assert_allclose(f64(conv(X.reshape(1, 3, 5, 5))[0]), ref, rtol=1e-5, atol=1e-6)


def test_padding_strides_and_pooling_shapes():
    X = np.random.uniform(size=(1, 1, 8, 8))
    for conv, shape in [(nn.Conv2D(1, kernel_size=3, padding=1), (8, 8)),
                        (nn.Conv2D(1, kernel_size=(5, 3), padding=(2, 1)), (8, 8)),
                        (nn.Conv2D(1, kernel_size=3, padding=1, strides=2), (4, 4)),
                        (nn.Conv2D(1, kernel_size=(3, 5), padding=(0, 1), strides=(3, 4)),
                         (2, 2))]:
        conv.initialize()
        assert conv(X).shape[2:] == shape
    X = np.arange(16, dtype=np.float32).reshape((1, 1, 4, 4))
    onp.testing.assert_array_equal(nn.MaxPool2D(3)(X).asnumpy(), [[[[10]]]])
    onp.testing.assert_array_equal(nn.MaxPool2D(3, padding=1, strides=2)(X).asnumpy(),
                                   [[[[5, 7], [13, 15]]]])
    onp.testing.assert_array_equal(nn.AvgPool2D(2)(X).asnumpy(), [[[[2.5, 4.5], [10.5, 12.5]]]])


def _lenet():
    net = nn.Sequential()
    net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2, activation='sigmoid'),
            nn.AvgPool2D(pool_size=2, strides=2),
            nn.Conv2D(channels=16, kernel_size=5, activation='sigmoid'),
            nn.AvgPool2D(pool_size=2, strides=2),
            nn.Dense(120, activation='sigmoid'),
            nn.Dense(84, activation='sigmoid'),
            nn.Dense(10))
    return net


def test_lenet_layer_shapes():
    net = _lenet()
    net.initialize()
    X = np.random.uniform(size=(1, 1, 28, 28))
    shapes = []
    for layer in net:
        X = layer(X)
        shapes.append(X.shape)
    assert shapes == [(1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5),
                      (1, 120), (1, 84), (1, 10)]


def test_lenet_trains_with_train_ch6():
    mx.random.seed(0)
    np.random.seed(0)
    # 2 batches x 3 epochs: fewer backward passes than make eager code compile its adjoint
    train_iter, _ = image_loaders(32, n_train=64, n_test=16, num_classes=4, shape=(1, 28, 28))
    net = nn.Sequential()
    net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2, activation='relu'),
            nn.AvgPool2D(pool_size=2, strides=2),
            nn.Dense(32, activation='relu'), nn.Dense(4))
    losses = train_ch6(net, train_iter, 3, 0.2)
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.95 * losses[0], losses


def test_batch_norm_from_scratch_matches_nn_batchnorm():
    rs = onp.random.RandomState(3)
    Xn = rs.randn(4, 3, 5, 5) * 2 + 1
    X = np.array(Xn)
    gamma, beta = np.ones((1, 3, 1, 1)), np.zeros((1, 3, 1, 1))
    mm, mv = np.zeros((1, 3, 1, 1)), np.ones((1, 3, 1, 1))
    with autograd.record():
        Y, mm2, mv2 = batch_norm(X, gamma, beta, mm, mv, eps=1e-5, momentum=0.9)
    x = f64(X)
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    onp.testing.assert_allclose(f64(Y), (x - mean) / onp.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(f64(mm2), 0.1 * mean, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(f64(mv2), 0.9 + 0.1 * var, rtol=1e-5)
    bn = nn.BatchNorm(momentum=0.9, epsilon=1e-5, in_channels=3)
    bn.initialize()
    with autograd.record():
        Ybn = bn(X)
    onp.testing.assert_allclose(f64(Ybn), f64(Y), rtol=1e-4, atol=1e-5)
    # MXNet's running variance uses the biased batch variance, like the book's code
    onp.testing.assert_allclose(f64(bn.running_mean.data()), f64(mm2).reshape(3), rtol=1e-5,
                                atol=1e-6)
    onp.testing.assert_allclose(f64(bn.running_var.data()), f64(mv2).reshape(3), rtol=1e-5)
    # prediction: the moving statistics
    onp.testing.assert_allclose(
        f64(bn(X)), (x - f64(mm2)) / onp.sqrt(f64(mv2) + 1e-5), rtol=1e-4, atol=1e-5)
    # 2-d input (after a Dense layer): statistics per feature
    Z = np.array(rs.randn(6, 4))
    out, m, v = batch_norm(Z, np.ones((1, 4)), np.zeros((1, 4)), np.zeros((1, 4)),
                           np.ones((1, 4)), 1e-5, 0.9)  # not training: the moving ones
    onp.testing.assert_allclose(f64(out), f64(Z) / onp.sqrt(1 + 1e-5), rtol=1e-5)


def test_scratch_batchnorm_layer_updates_moving_mean_and_trains():
    mx.random.seed(1)
    np.random.seed(1)
    train_iter, _ = image_loaders(32, n_train=64, n_test=16, num_classes=4, shape=(1, 12, 12))
    net = nn.Sequential()
    net.add(nn.Conv2D(4, kernel_size=3), BatchNorm(4, num_dims=4), nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(16), BatchNorm(16, num_dims=2), nn.Activation('sigmoid'),
            nn.Dense(4))
    losses = train_ch6(net, train_iter, 3, 1.0)
    assert losses[-1] < losses[0], losses
    mm = net[1].moving_mean
    assert isinstance(mm, np.ndarray) and mm.shape == (1, 4, 1, 1)
    assert float(np.abs(mm).sum()) > 0  # moved from its zeros
    assert net[1].gamma.data().shape == (1, 4, 1, 1)


@pytest.mark.parametrize("use_1x1, strides, shape", [(False, 1, (4, 3, 6, 6)),
                                                     (True, 2, (4, 6, 3, 3))])
def test_residual_block(use_1x1, strides, shape):
    blk = Residual(3 if not use_1x1 else 6, use_1x1conv=use_1x1, strides=strides)
    blk.initialize()
    X = np.random.uniform(size=(4, 3, 6, 6))
    Y = blk(X)
    assert Y.shape == shape
    assert float(Y.min()) >= 0


def test_resnet_stage_hybridized_equals_eager():
    class HybridResidual(nn.HybridBlock):
        def __init__(self, channels, **kwargs):
            super().__init__(**kwargs)
            self.conv1 = nn.Conv2D(channels, kernel_size=3, padding=1)
            self.conv2 = nn.Conv2D(channels, kernel_size=3, padding=1)
            self.bn1, self.bn2 = nn.BatchNorm(), nn.BatchNorm()

        def hybrid_forward(self, F, X):
            Y = F.npx.relu(self.bn1(self.conv1(X)))
            return F.npx.relu(self.bn2(self.conv2(Y)) + X)

    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, kernel_size=3, padding=1), HybridResidual(4),
            nn.GlobalAvgPool2D(), nn.Dense(3))
    net.initialize(init.Xavier())
    X = np.random.uniform(size=(2, 1, 8, 8))
    with autograd.record():
        train_eager = net(X)   # batch statistics (and one running-statistics update)
    eager = net(X)             # the running statistics
    net.hybridize()
    onp.testing.assert_allclose(net(X).asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    with autograd.record():
        train_hybrid = net(X)
    assert isinstance(train_hybrid, np.ndarray)
    onp.testing.assert_allclose(train_hybrid.asnumpy(), train_eager.asnumpy(), rtol=1e-5,
                                atol=1e-6)
