"""Patterns of MXNet 1.9.1's gluon example programs, each cut to a few synthetic steps (the
programs' own code, their data loading replaced, sizes shrunk) and checked against numpy
statements of the formulas: example/gluon/style_transfer (net.py, utils.py),
example/gluon/lipnet (models/network.py, trainer.py) and example/gluon/audio
(urban_sounds/model.py, transforms.py). (house_prices, lstm_crf, and the style layers'
numpy checks: test_mxnet_examples_r9a.py.)"""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import Block, nn, rnn

from ctc_reference import ctc_nll
from test_mxnet_examples_r9a import (  # style_transfer's net.py layers
    ConvLayer, InstanceNorm, Inspiration, ReflectancePadding, UpsampleConvLayer,
    gram_matrix)


# --------------------------------------------------------------------------- style_transfer
class Bottleneck(Block):
    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=InstanceNorm):
        super(Bottleneck, self).__init__()
        self.expansion = 4
        self.downsample = downsample
        if self.downsample is not None:
            self.residual_layer = nn.Conv2D(in_channels=inplanes,
                                            channels=planes * self.expansion,
                                            kernel_size=1, strides=(stride, stride))
        self.conv_block = nn.Sequential()
        with self.conv_block.name_scope():
            self.conv_block.add(norm_layer(in_channels=inplanes))
            self.conv_block.add(nn.Activation('relu'))
            self.conv_block.add(nn.Conv2D(in_channels=inplanes, channels=planes, kernel_size=1))
            self.conv_block.add(norm_layer(in_channels=planes))
            self.conv_block.add(nn.Activation('relu'))
            self.conv_block.add(ConvLayer(planes, planes, kernel_size=3, stride=stride))
            self.conv_block.add(norm_layer(in_channels=planes))
            self.conv_block.add(nn.Activation('relu'))
            self.conv_block.add(nn.Conv2D(in_channels=planes, channels=planes * self.expansion,
                                          kernel_size=1))

    def forward(self, x):
        residual = self.residual_layer(x) if self.downsample is not None else x
        return residual + self.conv_block(x)


class UpBottleneck(Block):
    def __init__(self, inplanes, planes, stride=2, norm_layer=InstanceNorm):
        super(UpBottleneck, self).__init__()
        self.expansion = 4
        self.residual_layer = UpsampleConvLayer(inplanes, planes * self.expansion,
                                                kernel_size=1, stride=1, upsample=stride)
        self.conv_block = nn.Sequential()
        with self.conv_block.name_scope():
            self.conv_block.add(norm_layer(in_channels=inplanes))
            self.conv_block.add(nn.Activation('relu'))
            self.conv_block.add(nn.Conv2D(in_channels=inplanes, channels=planes, kernel_size=1))
            self.conv_block.add(norm_layer(in_channels=planes))
            self.conv_block.add(nn.Activation('relu'))
            self.conv_block.add(UpsampleConvLayer(planes, planes, kernel_size=3, stride=1,
                                                  upsample=stride))
            self.conv_block.add(norm_layer(in_channels=planes))
            self.conv_block.add(nn.Activation('relu'))
            self.conv_block.add(nn.Conv2D(in_channels=planes, channels=planes * self.expansion,
                                          kernel_size=1))

    def forward(self, x):
        return self.residual_layer(x) + self.conv_block(x)


class GramMatrix(Block):
    def forward(self, x):
        return gram_matrix(x)


class StyleNet(Block):
    """net.py's Net (the model1 widths scaled down by `width`)."""

    def __init__(self, input_nc=3, output_nc=3, ngf=4, norm_layer=InstanceNorm, n_blocks=1,
                 width=8):
        super(StyleNet, self).__init__()
        self.gram = GramMatrix()
        block, upblock, expansion = Bottleneck, UpBottleneck, 4
        with self.name_scope():
            self.model1 = nn.Sequential()
            self.ins = Inspiration(ngf * expansion)
            self.model = nn.Sequential()
            self.model1.add(ConvLayer(input_nc, width, kernel_size=7, stride=1))
            self.model1.add(norm_layer(in_channels=width))
            self.model1.add(nn.Activation('relu'))
            self.model1.add(block(width, 2, 2, 1, norm_layer))
            self.model1.add(block(2 * expansion, ngf, 2, 1, norm_layer))
            self.model.add(self.model1)
            self.model.add(self.ins)
            for i in range(n_blocks):
                self.model.add(block(ngf * expansion, ngf, 1, None, norm_layer))
            self.model.add(upblock(ngf * expansion, 2, 2, norm_layer))
            self.model.add(upblock(2 * expansion, 2, 2, norm_layer))
            self.model.add(norm_layer(in_channels=2 * expansion))
            self.model.add(nn.Activation('relu'))
            self.model.add(ConvLayer(2 * expansion, output_nc, kernel_size=7, stride=1))

    def set_target(self, Xs):
        self.ins.set_target(self.gram(self.model1(Xs)))

    def forward(self, input):
        return self.model(input)


class Vgg16(Block):
    """net.py's Vgg16 structure (relu1_2 .. relu4_3), channel widths divided by 16."""

    def __init__(self, c=4):
        super(Vgg16, self).__init__()
        conv = lambda i, o: nn.Conv2D(in_channels=i, channels=o, kernel_size=3, strides=1,
                                      padding=1)
        self.conv1_1, self.conv1_2 = conv(3, c), conv(c, c)
        self.conv2_1, self.conv2_2 = conv(c, 2 * c), conv(2 * c, 2 * c)
        self.conv3_1, self.conv3_2, self.conv3_3 = conv(2 * c, 4 * c), conv(4 * c, 4 * c), \
            conv(4 * c, 4 * c)
        self.conv4_1, self.conv4_2, self.conv4_3 = conv(4 * c, 8 * c), conv(8 * c, 8 * c), \
            conv(8 * c, 8 * c)

    def forward(self, X):
        F = nd
        h = F.Activation(self.conv1_1(X), act_type='relu')
        h = F.Activation(self.conv1_2(h), act_type='relu')
        relu1_2 = h
        h = F.Pooling(h, pool_type='max', kernel=(2, 2), stride=(2, 2))
        h = F.Activation(self.conv2_1(h), act_type='relu')
        h = F.Activation(self.conv2_2(h), act_type='relu')
        relu2_2 = h
        h = F.Pooling(h, pool_type='max', kernel=(2, 2), stride=(2, 2))
        h = F.Activation(self.conv3_1(h), act_type='relu')
        h = F.Activation(self.conv3_2(h), act_type='relu')
        h = F.Activation(self.conv3_3(h), act_type='relu')
        relu3_3 = h
        h = F.Pooling(h, pool_type='max', kernel=(2, 2), stride=(2, 2))
        h = F.Activation(self.conv4_1(h), act_type='relu')
        h = F.Activation(self.conv4_2(h), act_type='relu')
        h = F.Activation(self.conv4_3(h), act_type='relu')
        return [relu1_2, relu2_2, relu3_3, h]


def subtract_imagenet_mean_batch(batch):
    batch = nd.swapaxes(batch, 0, 1)
    (r, g, b) = nd.split(batch, num_outputs=3, axis=0)
    batch = nd.concat(r - 123.680, g - 116.779, b - 103.939, dim=0)
    return nd.swapaxes(batch, 0, 1)


def subtract_imagenet_mean_preprocess_batch(batch):
    batch = nd.swapaxes(batch, 0, 1)
    (r, g, b) = nd.split(batch, num_outputs=3, axis=0)
    batch = nd.concat(b - 103.939, g - 116.779, r - 123.680, dim=0)
    return nd.swapaxes(batch, 0, 1)


def add_imagenet_mean_batch(batch):
    batch = nd.swapaxes(batch, 0, 1)
    (b, g, r) = nd.split(batch, num_outputs=3, axis=0)
    batch = nd.concat(b + 103.939, g + 116.779, r + 123.680, dim=0)
    return nd.swapaxes(batch, 0, 1)


def preprocess_batch(batch):
    batch = nd.swapaxes(batch, 0, 1)
    (r, g, b) = nd.split(batch, num_outputs=3, axis=0)
    return nd.swapaxes(nd.concat(b, g, r, dim=0), 0, 1)


def test_style_transfer_layers_against_numpy():
    rs = np.random.RandomState(0)
    x = rs.rand(2, 3, 5, 6).astype(np.float32)
    # gram matrix: F F^T / (C H W)
    f = x.reshape(2, 3, 30).astype(np.float64)
    np.testing.assert_allclose(gram_matrix(nd.array(x)).asnumpy(),
                               f @ f.transpose(0, 2, 1) / 90, rtol=1e-5)
    # reflect padding of H and W
    pad = ReflectancePadding(pad_width=(0, 0, 0, 0, 2, 2, 2, 2))
    np.testing.assert_array_equal(pad(nd.array(x)).asnumpy(),
                                  np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect"))
    # the example's InstanceNorm: per sample and channel, gamma 1 and beta 0 (not learnt)
    norm = InstanceNorm(in_channels=3)
    norm.initialize()
    mu, var = x.mean((2, 3), keepdims=True), x.var((2, 3), keepdims=True)
    np.testing.assert_allclose(norm(nd.array(x)).asnumpy(), (x - mu) / np.sqrt(var + 1e-5),
                               rtol=1e-4, atol=1e-5)
    assert norm.gamma.grad_req == "null" and norm.beta.grad_req == "write"
    # Inspiration: P = W G (W broadcast over the target batch), out = P^T X per sample
    C = 3
    ins = Inspiration(C)
    ins.initialize()
    target = rs.rand(1, C, C).astype(np.float32)
    ins.set_target(nd.array(target))
    w = ins.weight.data().asnumpy()[0]
    P = w @ target[0]
    want = np.einsum("ji,bjk->bik", P, x.reshape(2, C, 30)).reshape(x.shape)
    np.testing.assert_allclose(ins(nd.array(x)).asnumpy(), want, rtol=1e-5, atol=1e-6)
    # nearest upsampling before the conv doubles H and W
    up = UpsampleConvLayer(3, 4, kernel_size=3, stride=1, upsample=2)
    up.initialize()
    assert up(nd.array(x)).shape == (2, 4, 10, 12)
    # utils: BGR swap and mean subtraction; add_imagenet_mean undoes it up to the swap
    img = rs.rand(2, 3, 4, 4).astype(np.float32) * 255
    mean = np.array([123.680, 116.779, 103.939], np.float32).reshape(1, 3, 1, 1)
    sub = subtract_imagenet_mean_preprocess_batch(nd.array(img)).asnumpy()
    np.testing.assert_allclose(sub, (img - mean)[:, ::-1], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(subtract_imagenet_mean_batch(nd.array(img)).asnumpy(),
                               img - mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(add_imagenet_mean_batch(nd.array(sub)).asnumpy(),
                               img[:, ::-1], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(preprocess_batch(nd.array(img)).asnumpy(), img[:, ::-1])


def test_style_transfer_msg_net_training_step_and_checkpoint(tmp_path):
    # main.py train(): content and style losses through the VGG features, adam on the
    # MSG-Net; evaluate(): reload the parameters and stylize
    mx.random.seed(0)
    rs = np.random.RandomState(0)
    style_model = StyleNet(ngf=4, n_blocks=1)
    style_model.initialize(init=mx.initializer.MSRAPrelu())
    vgg = Vgg16()
    vgg.initialize()
    for param in vgg.collect_params().values():
        param.grad_req = 'null'
    trainer = gluon.Trainer(style_model.collect_params(), 'adam', {'learning_rate': 1e-3})
    mse_loss = gluon.loss.L2Loss()
    batch_size, content_weight, style_weight = 2, 1.0, 5.0
    x = nd.array(rs.rand(batch_size, 3, 16, 16) * 255)
    style_image = nd.array(rs.rand(1, 3, 16, 16) * 255)
    style_v = subtract_imagenet_mean_preprocess_batch(style_image.copy())
    style_image = preprocess_batch(style_image)
    gram_style = [gram_matrix(y) for y in vgg(style_v)]
    assert [g.shape for g in gram_style] == [(1, 4, 4), (1, 8, 8), (1, 16, 16), (1, 32, 32)]
    xc = subtract_imagenet_mean_preprocess_batch(x.copy())
    f_xc_c = vgg(xc)[1]
    losses = []
    agg_content_loss = agg_style_loss = 0.
    firsts = []
    for step in range(2):
        with autograd.record():
            style_model.set_target(style_image)
            y = style_model(x)
            assert y.shape == x.shape
            features_y = vgg(subtract_imagenet_mean_batch(y))
            content_loss = 2 * content_weight * mse_loss(features_y[1], f_xc_c)
            style_loss = 0.
            for m in range(len(features_y)):
                gram_y = gram_matrix(features_y[m])
                _, C, _ = gram_style[m].shape
                gram_s = nd.expand_dims(gram_style[m], 0).broadcast_to((batch_size, 1, C, C))
                style_loss = style_loss + 2 * style_weight * \
                    mse_loss(gram_y, gram_s[:batch_size, :, :])
            total_loss = content_loss + style_loss
            total_loss.backward()
        if step == 0:
            # L2Loss reshapes the (B, 1, C, C) target to the (B, C, C) gram
            gy, gs = gram_matrix(features_y[3]).asnumpy(), gram_style[3].asnumpy()
            np.testing.assert_allclose(
                mse_loss(gram_matrix(features_y[3]), gram_s[:batch_size]).asnumpy(),
                0.5 * ((gy - gs) ** 2).mean((1, 2)), rtol=1e-4)
        trainer.step(batch_size)
        losses.append(total_loss.sum().asscalar())
        firsts.append(total_loss.asnumpy()[0])
        # the program's running sums: x[0] of a 1-d NDArray is a (1,) NDArray in MXNet 1.x
        agg_content_loss += content_loss[0]
        agg_style_loss += style_loss[0]
    assert losses[-1] < losses[0]
    assert agg_content_loss.shape == (1,)
    np.testing.assert_allclose((agg_content_loss + agg_style_loss).asnumpy()[0],
                               sum(firsts), rtol=1e-5)
    assert all(p.grad_req == "null" for p in vgg.collect_params().values())
    style_model.save_parameters(str(tmp_path / "msg.params"))
    loaded = StyleNet(ngf=4, n_blocks=1)
    loaded.load_parameters(str(tmp_path / "msg.params"), ctx=mx.cpu())
    style_model.set_target(style_image)
    loaded.set_target(style_image)
    np.testing.assert_allclose(loaded(x).asnumpy(), style_model(x).asnumpy(), rtol=1e-5,
                               atol=1e-4)


def test_style_transfer_optimizes_an_image_parameter_and_saves_it(tmp_path):
    # main.py optimize(): the image itself is the gluon Parameter the Trainer updates;
    # utils.tensor_save_bgrimage / tensor_load_rgbimage write and read it through PIL
    from PIL import Image
    rs = np.random.RandomState(1)
    vgg = Vgg16()
    vgg.initialize()
    content_image = subtract_imagenet_mean_preprocess_batch(nd.array(rs.rand(1, 3, 8, 8) * 255))
    f_xc_c = vgg(content_image)[1]
    output = gluon.Parameter('output', shape=content_image.shape)
    output.initialize(ctx=mx.cpu())
    output.set_data(nd.array(rs.rand(1, 3, 8, 8) * 255))
    trainer = gluon.Trainer([output], 'adam', {'learning_rate': 1.0, 'beta1': 0.5})
    mse_loss = gluon.loss.L2Loss()
    losses = []
    for e in range(4):
        with autograd.record():
            content_loss = 2 * mse_loss(vgg(output.data())[1], f_xc_c)
            content_loss.backward()
        trainer.step(1)
        losses.append(content_loss.asnumpy()[0])
    assert losses[-1] < losses[0]
    out = add_imagenet_mean_batch(output.data())
    # tensor_save_bgrimage: BGR -> RGB, clip to [0, 255], uint8, HWC
    (b, g, r) = nd.split(out[0], num_outputs=3, axis=0)
    rgb = nd.clip(nd.concat(r, g, b, dim=0), 0, 255).asnumpy()
    Image.fromarray(rgb.transpose(1, 2, 0).astype('uint8')).save(str(tmp_path / "out.png"))
    # tensor_load_rgbimage (no resize)
    img = np.array(Image.open(str(tmp_path / "out.png")).convert('RGB')).transpose(2, 0, 1)
    loaded = nd.expand_dims(nd.array(img.astype(float)), 0)
    want = np.clip(out.asnumpy()[0][::-1], 0, 255).astype(np.uint8)
    assert loaded.shape == (1, 3, 8, 8) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.asnumpy()[0], want)


# --------------------------------------------------------------------------- lipnet
class LipNet(nn.HybridBlock):
    """models/network.py's LipNet, channel and GRU widths shrunk."""

    def __init__(self, dr_rate, c=(4, 4, 4), hidden=8, **kwargs):
        super(LipNet, self).__init__(**kwargs)
        with self.name_scope():
            self.conv1 = nn.Conv3D(c[0], kernel_size=(3, 5, 5), strides=(1, 2, 2),
                                   padding=(1, 2, 2))
            self.bn1 = nn.InstanceNorm(in_channels=c[0])
            self.dr1 = nn.Dropout(dr_rate, axes=(1, 2))
            self.pool1 = nn.MaxPool3D((1, 2, 2), (1, 2, 2))
            self.conv2 = nn.Conv3D(c[1], kernel_size=(3, 5, 5), strides=(1, 1, 1),
                                   padding=(1, 2, 2))
            self.bn2 = nn.InstanceNorm(in_channels=c[1])
            self.dr2 = nn.Dropout(dr_rate, axes=(1, 2))
            self.pool2 = nn.MaxPool3D((1, 2, 2), (1, 2, 2))
            self.conv3 = nn.Conv3D(c[2], kernel_size=(3, 3, 3), strides=(1, 1, 1),
                                   padding=(1, 2, 2))
            self.bn3 = nn.InstanceNorm(in_channels=c[2])
            self.dr3 = nn.Dropout(dr_rate, axes=(1, 2))
            self.pool3 = nn.MaxPool3D((1, 2, 2), (1, 2, 2))
            self.gru1 = rnn.GRU(hidden, bidirectional=True)
            self.gru2 = rnn.GRU(hidden, bidirectional=True)
            self.dense = nn.Dense(27 + 1, flatten=False)

    def hybrid_forward(self, F, x):
        out = self.pool1(self.dr1(F.relu(self.bn1(self.conv1(x)))))
        out = self.pool2(self.dr2(F.relu(self.bn2(self.conv2(out)))))
        out = self.pool3(self.dr3(F.relu(self.bn3(self.conv3(out)))))
        out = F.transpose(out, (2, 0, 1, 3, 4))
        out = out.reshape((0, 0, -1))
        out = self.gru2(self.gru1(out))
        out = self.dense(out)
        out = F.log_softmax(out, axis=2)
        return F.transpose(out, (1, 0, 2))


def test_lipnet_conv3d_bigru_ctc_trainer_pattern(tmp_path):
    mx.random.seed(0)
    rs = np.random.RandomState(0)
    ctx = [mx.cpu()]
    net = LipNet(0.5)
    net.initialize(ctx=ctx)       # (trained imperatively here; hybridized for inference below)
    loss_fn = gluon.loss.CTCLoss()
    trainer = gluon.Trainer(net.collect_params(), optimizer='SGD',
                            optimizer_params={'learning_rate': 0.05})
    x = nd.array(rs.rand(2, 3, 5, 16, 16))
    label = nd.array([[1, 2, 2, -1], [4, 5, -1, -1]])   # -1 pads (CTCLoss padding_mask)
    out = net(x)
    assert out.shape == (2, 5, 28)
    logp = out.asnumpy().astype(np.float64)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1, rtol=1e-5)
    want = [ctc_nll(logp[0], [1, 2, 2], 27), ctc_nll(logp[1], [4, 5], 27)]
    np.testing.assert_allclose(loss_fn(out, label).asnumpy(), want, rtol=1e-4)
    # trainer.py's train(): split_and_load, one loss per context, mx.nd.array(loss), len(loss)
    history = []
    for it in range(2):
        data = gluon.utils.split_and_load(x, ctx, even_split=False)
        lab = gluon.utils.split_and_load(label, ctx, even_split=False)
        sum_losses, len_losses = 0, 0
        with autograd.record():
            losses = [loss_fn(net(X), Y) for X, Y in zip(data, lab)]
        for loss in losses:
            sum_losses += mx.nd.array(loss).sum().asscalar()
            len_losses += len(loss)
            loss.backward()
        trainer.step(2)
        history.append(sum_losses / len_losses)
    assert len_losses == 2 and history[-1] < history[0]
    # inference (dropout off): the hybridized net computes what the imperative one did;
    # the checkpoint round-trips
    imperative = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), imperative, rtol=1e-4, atol=1e-5)
    net.save_parameters(str(tmp_path / "epoches_0_loss_1.0"))
    other = LipNet(0.5)
    other.initialize(ctx=ctx)
    other.load_parameters(str(tmp_path / "epoches_0_loss_1.0"))
    np.testing.assert_allclose(other(x).asnumpy(), imperative, rtol=1e-5, atol=1e-6)
    # char_beam_search's input: softmax over the classes of one sample's (T, 28) scores
    probs = out[0].softmax().asnumpy()
    np.testing.assert_allclose(probs, np.exp(logp[0]), rtol=1e-4, atol=1e-7)


def test_lipnet_dropout_with_axes_shares_the_mask_along_them():
    # nn.Dropout(rate, axes=(1, 2)): one keep/drop decision per (sample, ..., W) position,
    # broadcast along the channel and time axes, kept values scaled by 1 / (1 - rate)
    drop = nn.Dropout(0.5, axes=(1, 2))
    x = nd.ones((3, 4, 5, 6, 7))
    with autograd.record():
        y = drop(x).asnumpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :1], y.shape))
    assert 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(drop(x).asnumpy(), x.asnumpy())   # predict: identity


# --------------------------------------------------------------------------- audio
class Scale(Block):
    def __init__(self, scale_factor=2 ** 31):
        self.scale_factor = scale_factor          # (set before Block.__init__, as there)
        super(Scale, self).__init__()

    def forward(self, x):
        if self.scale_factor == 0:
            return x
        if isinstance(x, np.ndarray):
            return nd.array(x / self.scale_factor)
        return x / self.scale_factor


class PadTrim(Block):
    def __init__(self, max_len, fill_value=0):
        self._max_len = max_len
        self._fill_value = fill_value
        super(PadTrim, self).__init__()

    def forward(self, x):
        if isinstance(x, np.ndarray):
            x = nd.array(x)
        if self._max_len > x.size:
            pad = nd.ones((self._max_len - x.size,)) * self._fill_value
            x = nd.concat(x, pad, dim=0)
        elif self._max_len < x.size:
            x = x[:self._max_len]
        return x


def test_urban_sounds_transforms_mlp_and_adadelta(tmp_path):
    # transforms.py's docstring examples
    np.testing.assert_array_equal(Scale(scale_factor=2)(nd.array([2, 3, 4])).asnumpy(),
                                  [1, 1.5, 2])
    np.testing.assert_array_equal(Scale(scale_factor=2)(np.array([2., 3., 4.])).asnumpy(),
                                  [1, 1.5, 2])
    np.testing.assert_array_equal(PadTrim(max_len=9, fill_value=0)(
        nd.array([1, 2, 3, 4, 5])).asnumpy(), [1, 2, 3, 4, 5, 0, 0, 0, 0])
    np.testing.assert_array_equal(PadTrim(max_len=3)(np.arange(5.)).asnumpy(), [0, 1, 2])

    def get_net(num_labels=10):
        net = gluon.nn.Sequential()
        with net.name_scope():
            net.add(gluon.nn.Dense(16, activation="relu"))
            net.add(gluon.nn.Dense(16, activation="relu"))
            net.add(gluon.nn.Dense(num_labels))
        net.collect_params().initialize(mx.init.Xavier())
        return net

    def evaluate_accuracy(data_iterator, net):
        acc = mx.metric.Accuracy()
        for data, label in data_iterator:
            predictions = nd.argmax(net(data), axis=1).reshape((-1, 1))
            acc.update(preds=predictions, labels=label)
        return acc.get()[1]

    rs = np.random.RandomState(0)
    n_labels, n = 3, 12
    audio = (rs.randn(n, 20) * 2 ** 30).astype(np.float32)
    labels = np.arange(n) % n_labels
    dataset = gluon.data.ArrayDataset(audio, labels).transform_first(Scale())
    loader = gluon.data.DataLoader(dataset, batch_size=4, shuffle=True)
    net = get_net(n_labels)
    softmax_loss = gluon.loss.SoftmaxCELoss(from_logits=False, sparse_label=True)
    trainer = gluon.Trainer(net.collect_params(), 'adadelta')
    # one AdaDelta step (rho 0.9, epsilon 1e-5, no learning rate) on the output bias
    data, label = next(iter(loader))
    np.testing.assert_allclose(data.asnumpy().std(), (audio / 2 ** 31).std(), rtol=0.5)
    b0 = net[2].bias.data().asnumpy().copy()
    with autograd.record():
        output = net(data)
        loss = softmax_loss(output, label)
    loss.backward()
    z = output.asnumpy().astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(n_labels)[label.asnumpy().astype(int)]).sum(0) / 4
    trainer.step(4)
    acc_g = 0.1 * g * g
    delta = np.sqrt(1e-5) / np.sqrt(acc_g + 1e-5) * g
    np.testing.assert_allclose(net[2].bias.data().asnumpy(), b0 - delta, rtol=1e-4)
    cumulative = []
    for epoch in range(3):
        total = 0.
        for data, label in loader:
            with autograd.record():
                loss = softmax_loss(net(data), label)
            loss.backward()
            trainer.step(4)
            total += mx.nd.sum(loss).asscalar()
        cumulative.append(total / n)
    assert cumulative[-1] < cumulative[0]
    # evaluate_accuracy's (B, 1) predictions beside (B,) labels: Accuracy takes the argmax
    # over axis 1 of the predictions first (all 0), so it counts the labels equal to 0
    ordered = gluon.data.DataLoader(dataset, batch_size=4)
    assert evaluate_accuracy(ordered, net) == pytest.approx(np.mean(labels == 0))
    net.save_parameters(str(tmp_path / "net.params"))
    other = get_net(n_labels)
    other.load_parameters(str(tmp_path / "net.params"))
    np.testing.assert_array_equal(other(nd.array(audio[:2])).asnumpy(),
                                  net(nd.array(audio[:2])).asnumpy())
