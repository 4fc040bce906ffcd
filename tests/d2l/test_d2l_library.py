"""What the d2l.ai library module (d2l/mxnet.py) itself needs from MXNet: its import line
(`from mxnet import autograd, context, gluon, image, init, np, npx`), the mx.image crop and
resize helpers its vision code calls, f-string formatting of 0-d results, np.genfromtxt (the
optimization chapter's data), and the optimizers train_concise_ch11 builds by name."""
import io
import random

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, init, np


def test_the_library_import_line():
    from tracegrad import autograd, context, gluon, image, init, np, npx  # noqa: F401
    from tracegrad.gluon import nn, rnn  # noqa: F401
    from tracegrad.gluon.data.vision import transforms  # noqa: F401
    assert mx.img is mx.image
    assert npx.cpu() == context.cpu()


def test_image_crop_and_resize_helpers():
    rs = onp.random.RandomState(0)
    pixels = rs.randint(0, 256, (12, 16, 3))
    src = np.array(pixels, dtype='int32')
    assert mx.image.scale_down((640, 480), (720, 120)) == (640, 106)
    crop = mx.image.fixed_crop(src, 2, 3, 5, 4)
    onp.testing.assert_array_equal(crop.asnumpy(), pixels[3:7, 2:7])
    out, rect = mx.image.center_crop(src, (8, 6))
    assert rect == (4, 3, 8, 6)
    onp.testing.assert_array_equal(out.asnumpy(), pixels[3:9, 4:12])
    random.seed(1)
    out, (x0, y0, w, h) = mx.image.random_crop(src, (5, 5))
    assert (w, h) == (5, 5) and 0 <= x0 <= 11 and 0 <= y0 <= 7
    onp.testing.assert_array_equal(out.asnumpy(), pixels[y0:y0 + 5, x0:x0 + 5])
    # a crop larger than the image: as large as fits, resized up
    out, rect = mx.image.center_crop(src, (32, 24))
    assert rect == (0, 0, 16, 12) and out.shape == (24, 32, 3)
    short = mx.image.resize_short(src, 6)
    assert isinstance(short, np.ndarray) and short.shape == (6, 8, 3)
    resized = mx.image.imresize(src, 8, 6, interp=1)
    same = gluon.data.vision.transforms.Resize((8, 6))(src)
    onp.testing.assert_array_equal(resized.asnumpy(), same.asnumpy())
    img = np.array(pixels, dtype='float32')
    normed = mx.image.color_normalize(img, np.array([10.0, 20.0, 30.0]), np.array([2.0, 4, 8]))
    onp.testing.assert_allclose(normed.asnumpy(), (pixels - [10, 20, 30]) / [2, 4, 8],
                                rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="banana.jpg.*couldn't open file"):
        mx.image.imread('banana.jpg')      # (no such file here: the error names it)


def test_zero_d_arrays_format_like_numbers():
    loss = np.array(0.123456)
    assert f'{loss:.3f}' == '0.123' and f'{np.array(7.0):f}' == '7.000000'
    assert f'{np.ones(2)}' == str(np.ones(2))
    with pytest.raises(TypeError, match="format_spec"):
        f'{np.ones(2):.2f}'


def test_genfromtxt():
    text = '1\t2.5\t3\n4\t5\t6.25\n'
    a = np.genfromtxt(io.StringIO(text), dtype=np.float32, delimiter='\t')
    assert isinstance(a, np.ndarray) and a.dtype == onp.float32 and a.shape == (2, 3)
    onp.testing.assert_array_equal(a.asnumpy(), [[1, 2.5, 3], [4, 5, 6.25]])
    b = np.genfromtxt(io.StringIO(text), delimiter='\t')
    assert b.dtype == onp.float64


@pytest.mark.parametrize("name, hyperparams", [
    ('sgd', {'learning_rate': 0.05}),
    ('sgd', {'learning_rate': 0.05, 'momentum': 0.9}),
    ('adagrad', {'learning_rate': 0.1}),
    ('rmsprop', {'learning_rate': 0.01, 'gamma1': 0.9}),
    ('adadelta', {'rho': 0.9}),
    ('adam', {'learning_rate': 0.01}),
])
def test_train_concise_ch11_optimizers(name, hyperparams):
    """The optimization chapter's concise loop: a linear model, L2Loss, an optimizer by name."""
    rs = onp.random.RandomState(0)
    A = rs.rand(200, 5)
    y = A @ rs.randn(5) + 0.5
    features, labels = np.array(A), np.array(y.reshape(-1, 1))
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(features, labels), 10, shuffle=True)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    trainer = gluon.Trainer(net.collect_params(), name, hyperparams)
    loss = gluon.loss.L2Loss()

    def full_loss():
        return float(loss(net(features), labels).mean())

    net(features)
    start = full_loss()
    for _ in range(2):
        for X, y_ in data:
            with autograd.record():
                l = loss(net(X), y_)
            l.backward()
            trainer.step(X.shape[0])
    assert full_loss() < 0.8 * start
