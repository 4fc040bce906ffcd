"""d2l.ai chapter 8 (modern convolutional networks), MXNet edition, with shrunk channel counts
and inputs: AlexNet, VGG (vgg_block), NiN (nin_block), GoogLeNet (Inception), batch
normalization in a LeNet, ResNet (Residual) and DenseNet (conv_block, DenseBlock,
transition_block). Layer shapes as the book prints them, a few training steps lower the loss,
and the hybridized network computes and trains exactly as the eager one."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, init, np, npx
from tracegrad.gluon import nn

from d2l_book import BatchNorm, Residual, image_classes


def f64(a):
    return a.asnumpy().astype('f8')


# ------------------------------------------------------------------ the book's networks
def alexnet(seq=nn.Sequential):
    net = seq()
    net.add(nn.Conv2D(8, kernel_size=11, strides=4, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),
            nn.Conv2D(16, kernel_size=5, padding=2, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),
            nn.Conv2D(24, kernel_size=3, padding=1, activation='relu'),
            nn.Conv2D(24, kernel_size=3, padding=1, activation='relu'),
            nn.Conv2D(16, kernel_size=3, padding=1, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),
            nn.Dense(32, activation='relu'), nn.Dropout(0.5),
            nn.Dense(32, activation='relu'), nn.Dropout(0.5),
            nn.Dense(4))
    return net


def vgg_block(num_convs, num_channels, seq=nn.Sequential):
    blk = seq()
    for _ in range(num_convs):
        blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1, activation='relu'))
    blk.add(nn.MaxPool2D(pool_size=2, strides=2))
    return blk


def vgg(conv_arch, seq=nn.Sequential):
    net = seq()
    for (num_convs, num_channels) in conv_arch:
        net.add(vgg_block(num_convs, num_channels, seq))
    net.add(nn.Dense(32, activation='relu'), nn.Dropout(0.5),
            nn.Dense(32, activation='relu'), nn.Dropout(0.5),
            nn.Dense(4))
    return net


def nin_block(num_channels, kernel_size, strides, padding, seq=nn.Sequential):
    blk = seq()
    blk.add(nn.Conv2D(num_channels, kernel_size, strides, padding, activation='relu'),
            nn.Conv2D(num_channels, kernel_size=1, activation='relu'),
            nn.Conv2D(num_channels, kernel_size=1, activation='relu'))
    return blk


def nin(seq=nn.Sequential):
    net = seq()
    net.add(nin_block(8, kernel_size=5, strides=2, padding=0, seq=seq),
            nn.MaxPool2D(pool_size=3, strides=2),
            nin_block(12, kernel_size=3, strides=1, padding=1, seq=seq),
            nn.MaxPool2D(pool_size=3, strides=2),
            nn.Dropout(0.5),
            nin_block(4, kernel_size=3, strides=1, padding=1, seq=seq),
            nn.GlobalAvgPool2D(),
            nn.Flatten())
    return net


class Inception(nn.Block):
    """Four parallel paths concatenated on the channel axis (the book's Block version)."""

    def __init__(self, c1, c2, c3, c4, **kwargs):
        super().__init__(**kwargs)
        self.p1_1 = nn.Conv2D(c1, kernel_size=1, activation='relu')
        self.p2_1 = nn.Conv2D(c2[0], kernel_size=1, activation='relu')
        self.p2_2 = nn.Conv2D(c2[1], kernel_size=3, padding=1, activation='relu')
        self.p3_1 = nn.Conv2D(c3[0], kernel_size=1, activation='relu')
        self.p3_2 = nn.Conv2D(c3[1], kernel_size=5, padding=2, activation='relu')
        self.p4_1 = nn.MaxPool2D(pool_size=3, strides=1, padding=1)
        self.p4_2 = nn.Conv2D(c4, kernel_size=1, activation='relu')

    def forward(self, x):
        p1 = self.p1_1(x)
        p2 = self.p2_2(self.p2_1(x))
        p3 = self.p3_2(self.p3_1(x))
        p4 = self.p4_2(self.p4_1(x))
        return np.concatenate((p1, p2, p3, p4), axis=1)


class HybridInception(Inception, nn.HybridBlock):
    """The same paths as a HybridBlock (hybrid_forward with F), so that hybridize() compiles
    the concatenation too."""

    def hybrid_forward(self, F, x):
        p1 = self.p1_1(x)
        p2 = self.p2_2(self.p2_1(x))
        p3 = self.p3_2(self.p3_1(x))
        p4 = self.p4_2(self.p4_1(x))
        return F.np.concatenate((p1, p2, p3, p4), axis=1)

    forward = nn.HybridBlock.forward


def googlenet(inception=Inception, seq=nn.Sequential):
    b1 = seq()
    b1.add(nn.Conv2D(8, kernel_size=7, strides=2, padding=3, activation='relu'),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b2 = seq()
    b2.add(nn.Conv2D(8, kernel_size=1, activation='relu'),
           nn.Conv2D(16, kernel_size=3, padding=1, activation='relu'),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b3 = seq()
    b3.add(inception(4, (4, 8), (2, 4), 4),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    b5 = seq()
    b5.add(inception(8, (4, 8), (2, 4), 4), nn.GlobalAvgPool2D())
    net = seq()
    net.add(b1, b2, b3, b5, nn.Dense(4))
    return net


def conv_block(num_channels, seq=nn.Sequential):
    blk = seq()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=3, padding=1))
    return blk


class DenseBlock(nn.Block):
    def __init__(self, num_convs, num_channels, **kwargs):
        super().__init__(**kwargs)
        self.net = nn.Sequential()
        for _ in range(num_convs):
            self.net.add(conv_block(num_channels))

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            # concatenate the input and output of each block on the channel dimension
            X = np.concatenate((X, Y), axis=1)
        return X


class HybridDenseBlock(nn.HybridBlock):
    def __init__(self, num_convs, num_channels, **kwargs):
        super().__init__(**kwargs)
        self.net = nn.HybridSequential()
        for _ in range(num_convs):
            self.net.add(conv_block(num_channels, nn.HybridSequential))

    def hybrid_forward(self, F, X):
        for blk in self.net:
            Y = blk(X)
            X = F.np.concatenate((X, Y), axis=1)
        return X


def transition_block(num_channels, seq=nn.Sequential):
    blk = seq()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=1),
            nn.AvgPool2D(pool_size=2, strides=2))
    return blk


def densenet(dense=DenseBlock, seq=nn.Sequential):
    net = seq()
    net.add(nn.Conv2D(8, kernel_size=3, padding=1), nn.BatchNorm(), nn.Activation('relu'),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    num_channels, growth_rate = 8, 4
    num_convs_in_dense_blocks = [2, 1]
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        net.add(dense(num_convs, growth_rate))
        num_channels += num_convs * growth_rate
        if i != len(num_convs_in_dense_blocks) - 1:
            num_channels //= 2
            net.add(transition_block(num_channels, seq))
    net.add(nn.BatchNorm(), nn.Activation('relu'), nn.GlobalAvgPool2D(), nn.Dense(4))
    return net


def resnet(seq=nn.Sequential):
    def resnet_block(num_channels, num_residuals, first_block=False):
        blk = seq()
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.add(Residual(num_channels, use_1x1conv=True, strides=2))
            else:
                blk.add(Residual(num_channels))
        return blk

    net = seq()
    net.add(nn.Conv2D(8, kernel_size=7, strides=2, padding=3), nn.BatchNorm(),
            nn.Activation('relu'), nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    net.add(resnet_block(8, 1, first_block=True), resnet_block(16, 1))
    net.add(nn.GlobalAvgPool2D(), nn.Dense(4))
    return net


# ------------------------------------------------------------------ helpers
def layer_shapes(net, X):
    """The book's `for layer in net: X = layer(X); print(layer.name, X.shape)` loop."""
    shapes = []
    for layer in net:
        X = layer(X)
        shapes.append((type(layer).__name__, X.shape))
    return shapes


def batch(n, size, seed=0):
    X, y = image_classes(n, num_classes=4, shape=(1, size, size), seed=seed)
    return X, y


def train_steps(net, X, y, steps, lr, hybridize=False):
    """train_ch6's inner loop on one batch: Xavier init happened already; SGD, softmax CE."""
    if hybridize:
        net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr})
    losses = []
    for _ in range(steps):
        with autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(X.shape[0])
        losses.append(float(l.mean()))
    return losses


def copy_params(src, dst):
    """dst takes src's current values, parameter by parameter in registration order."""
    sp, dp = list(src.collect_params().values()), list(dst.collect_params().values())
    assert [p.shape for p in sp] == [p.shape for p in dp]
    for a, b in zip(sp, dp):
        b.set_data(a.data())


def eager_and_hybrid_agree(build_eager, build_hybrid, X, y, steps=2, lr=0.05, rtol=1e-4):
    """Two copies of one network with the same initial parameters (and the same dropout
    draws): the eager one and the hybridized one train to the same parameters and losses."""
    a, b = build_eager(), build_hybrid()
    a.initialize(init.Xavier())
    b.initialize(init.Xavier())
    a(X), b(X)  # deferred shapes
    copy_params(a, b)
    before = eval_loss(a, X, y)
    mx.random.seed(7)
    la = train_steps(a, X, y, steps, lr)
    mx.random.seed(7)
    lb = train_steps(b, X, y, steps, lr, hybridize=True)
    onp.testing.assert_allclose(lb, la, rtol=rtol, atol=1e-6)
    for pa, pb in zip(a.collect_params().values(), b.collect_params().values()):
        onp.testing.assert_allclose(f64(pb.data()), f64(pa.data()), rtol=rtol, atol=1e-5,
                                    err_msg=pa.name)
    onp.testing.assert_allclose(f64(b(X)), f64(a(X)), rtol=rtol, atol=1e-5)
    return before, eval_loss(a, X, y)


def eval_loss(net, X, y):
    """The mean loss in prediction mode (dropout off, batch norm's running statistics)."""
    return float(gluon.loss.SoftmaxCrossEntropyLoss()(net(X), y).mean())


# ------------------------------------------------------------------ AlexNet
def test_alexnet_shapes_and_training():
    net = alexnet()
    net.initialize(init.Xavier())
    X = np.random.uniform(size=(1, 1, 112, 112))
    assert layer_shapes(net, X) == [
        ('Conv2D', (1, 8, 26, 26)), ('MaxPool2D', (1, 8, 12, 12)),
        ('Conv2D', (1, 16, 12, 12)), ('MaxPool2D', (1, 16, 5, 5)),
        ('Conv2D', (1, 24, 5, 5)), ('Conv2D', (1, 24, 5, 5)), ('Conv2D', (1, 16, 5, 5)),
        ('MaxPool2D', (1, 16, 2, 2)), ('Dense', (1, 32)), ('Dropout', (1, 32)),
        ('Dense', (1, 32)), ('Dropout', (1, 32)), ('Dense', (1, 4))]
    X, y = batch(8, 112)
    losses = eager_and_hybrid_agree(alexnet, lambda: alexnet(nn.HybridSequential), X, y,
                                    steps=2, lr=0.1)
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ VGG
def test_vgg_blocks_shapes_and_training():
    conv_arch = ((1, 4), (1, 8), (2, 8))
    net = vgg(conv_arch)
    net.initialize()
    X = np.random.uniform(size=(1, 1, 32, 32))
    shapes = layer_shapes(net, X)
    assert shapes[:3] == [('Sequential', (1, 4, 16, 16)), ('Sequential', (1, 8, 8, 8)),
                          ('Sequential', (1, 8, 4, 4))]
    assert shapes[-1] == ('Dense', (1, 4))
    assert len(net[2]) == 3  # two convolutions and the pooling
    X, y = batch(8, 32, seed=1)
    losses = eager_and_hybrid_agree(lambda: vgg(conv_arch),
                                    lambda: vgg(conv_arch, nn.HybridSequential), X, y,
                                    steps=2, lr=0.1)
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ NiN
def test_nin_shapes_and_training():
    net = nin()
    net.initialize()
    X = np.random.uniform(size=(1, 1, 32, 32))
    assert layer_shapes(net, X) == [
        ('Sequential', (1, 8, 14, 14)), ('MaxPool2D', (1, 8, 6, 6)),
        ('Sequential', (1, 12, 6, 6)), ('MaxPool2D', (1, 12, 2, 2)),
        ('Dropout', (1, 12, 2, 2)), ('Sequential', (1, 4, 2, 2)),
        ('GlobalAvgPool2D', (1, 4, 1, 1)), ('Flatten', (1, 4))]
    X, y = batch(8, 32, seed=2)
    losses = eager_and_hybrid_agree(nin, lambda: nin(nn.HybridSequential), X, y,
                                    steps=2, lr=0.2)
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ GoogLeNet
def test_inception_block_concatenates_the_paths():
    blk = Inception(4, (3, 5), (2, 3), 2)
    blk.initialize()
    X = np.random.uniform(size=(2, 3, 6, 6))
    Y = blk(X)
    assert Y.shape == (2, 4 + 5 + 3 + 2, 6, 6)
    # the first path is the 1x1 convolution alone
    onp.testing.assert_allclose(f64(Y[:, :4]), f64(blk.p1_1(X)), rtol=1e-6)
    # the pooled path: max pooling of the input, then its 1x1 convolution
    onp.testing.assert_allclose(f64(Y[:, -2:]), f64(blk.p4_2(blk.p4_1(X))), rtol=1e-6)


def test_googlenet_shapes_and_training():
    net = googlenet()
    net.initialize(init.Xavier())
    X = np.random.uniform(size=(1, 1, 32, 32))
    assert layer_shapes(net, X) == [
        ('Sequential', (1, 8, 8, 8)), ('Sequential', (1, 16, 4, 4)),
        ('Sequential', (1, 4 + 8 + 4 + 4, 2, 2)), ('Sequential', (1, 24, 1, 1)),
        ('Dense', (1, 4))]
    X, y = batch(8, 32, seed=3)
    losses = eager_and_hybrid_agree(
        googlenet, lambda: googlenet(HybridInception, nn.HybridSequential), X, y,
        steps=2, lr=0.2)
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ batch normalization
@pytest.mark.parametrize("concise", [False, True])
def test_lenet_with_batch_norm_trains(concise):
    """The chapter's LeNet with BatchNorm after each convolution / dense layer, from scratch
    (the book's BatchNorm(num_features, num_dims)) and with nn.BatchNorm()."""
    def bn(n, dims):
        return nn.BatchNorm() if concise else BatchNorm(n, num_dims=dims)

    mx.random.seed(0)
    net = nn.Sequential()
    net.add(nn.Conv2D(4, kernel_size=5), bn(4, 4), nn.Activation('sigmoid'),
            nn.AvgPool2D(pool_size=2, strides=2),
            nn.Conv2D(8, kernel_size=5), bn(8, 4), nn.Activation('sigmoid'),
            nn.AvgPool2D(pool_size=2, strides=2),
            nn.Dense(16), bn(16, 2), nn.Activation('sigmoid'),
            nn.Dense(4))
    net.initialize(init.Xavier())
    X, y = batch(16, 20, seed=4)
    losses = train_steps(net, X, y, 2, lr=1.0)
    assert losses[-1] < losses[0], losses
    if concise:
        gamma = net[1].gamma.data()
        assert gamma.shape == (4,) and float(np.abs(gamma - 1).sum()) > 0
        rm = net[1].running_mean.data()
        assert float(np.abs(rm).sum()) > 0
    else:
        gamma = net[1].gamma.data()
        assert gamma.shape == (1, 4, 1, 1) and float(np.abs(gamma - 1).sum()) > 0
        assert net[9].moving_mean.shape == (1, 16)


# ------------------------------------------------------------------ ResNet
def test_resnet_shapes_and_training():
    net = resnet()
    net.initialize(init.Xavier())
    X = np.random.uniform(size=(1, 1, 24, 24))
    assert layer_shapes(net, X) == [
        ('Conv2D', (1, 8, 12, 12)), ('BatchNorm', (1, 8, 12, 12)),
        ('Activation', (1, 8, 12, 12)), ('MaxPool2D', (1, 8, 6, 6)),
        ('Sequential', (1, 8, 6, 6)), ('Sequential', (1, 16, 3, 3)),
        ('GlobalAvgPool2D', (1, 16, 1, 1)), ('Dense', (1, 4))]
    net = resnet()
    net.initialize(init.Xavier())
    X, y = batch(8, 24, seed=5)
    losses = train_steps(net, X, y, 2, lr=0.1)
    assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ DenseNet
def test_dense_block_and_transition_shapes():
    blk = DenseBlock(2, 10)
    blk.initialize()
    X = np.random.uniform(size=(4, 3, 8, 8))
    Y = blk(X)
    assert Y.shape == (4, 23, 8, 8)
    onp.testing.assert_array_equal(Y[:, :3].asnumpy(), X.asnumpy())  # the input passes on
    blk = transition_block(10)
    blk.initialize()
    assert blk(Y).shape == (4, 10, 4, 4)


def test_densenet_eager_and_hybridized_train_alike():
    X, y = batch(8, 16, seed=6)
    losses = eager_and_hybrid_agree(densenet,
                                    lambda: densenet(HybridDenseBlock, nn.HybridSequential),
                                    X, y, steps=2, lr=0.1)
    assert losses[-1] < losses[0], losses
    net = densenet(HybridDenseBlock, nn.HybridSequential)
    net.initialize()
    shapes = layer_shapes(net, np.random.uniform(size=(2, 1, 16, 16)))
    assert shapes[4] == ('HybridDenseBlock', (2, 16, 8, 8))
    assert shapes[5] == ('HybridSequential', (2, 8, 4, 4))
    assert shapes[6] == ('HybridDenseBlock', (2, 12, 4, 4))
    assert shapes[-1] == ('Dense', (2, 4))


def test_the_older_nd_edition_of_dense_block_and_inception():
    """The first edition wrote these with nd (nd.concat(..., dim=1), F.concat in
    hybrid_forward) and without set_np."""
    from tracegrad import nd
    npx.reset_np()
    try:
        class NDDenseBlock(nn.HybridBlock):
            def __init__(self, num_convs, num_channels, **kwargs):
                super().__init__(**kwargs)
                self.net = nn.HybridSequential()
                for _ in range(num_convs):
                    self.net.add(conv_block(num_channels, nn.HybridSequential))

            def hybrid_forward(self, F, X):
                for blk in self.net:
                    Y = blk(X)
                    X = F.concat(X, Y, dim=1)
                return X

        class NDInception(nn.Block):
            def __init__(self, c1, c4, **kwargs):
                super().__init__(**kwargs)
                self.p1_1 = nn.Conv2D(c1, kernel_size=1, activation='relu')
                self.p4_1 = nn.MaxPool2D(pool_size=3, strides=1, padding=1)
                self.p4_2 = nn.Conv2D(c4, kernel_size=1, activation='relu')

            def forward(self, x):
                return nd.concat(self.p1_1(x), self.p4_2(self.p4_1(x)), dim=1)

        X = nd.random.uniform(shape=(4, 3, 8, 8))
        blk = NDDenseBlock(2, 10)
        blk.initialize()
        eager = blk(X)
        assert isinstance(eager, nd.NDArray) and eager.shape == (4, 23, 8, 8)
        blk.hybridize()
        onp.testing.assert_allclose(blk(X).asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
        inc = NDInception(4, 2)
        inc.initialize()
        Y = inc(X)
        assert Y.shape == (4, 6, 8, 8)
        onp.testing.assert_allclose(Y[:, 4:].asnumpy(), inc.p4_2(inc.p4_1(X)).asnumpy(),
                                    rtol=1e-6)
    finally:
        npx.set_np()
