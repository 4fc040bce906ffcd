"""d2l.ai chapter 3 (linear networks), MXNet edition: linear regression from scratch (attach_grad
parameters, a shuffled minibatch iterator, in-place SGD) and concise (nn.Dense(1),
init.Normal(sigma=0.01), L2Loss, Trainer 'sgd'), the Fashion-MNIST loading path on synthetic
files, and softmax regression from scratch and concise."""
import gzip
import random

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, init, np
from tracegrad.gluon import nn
from tracegrad.gluon.data.vision import transforms

from d2l_book import (Accumulator, accuracy, cross_entropy, evaluate_accuracy, image_loaders,
                      linreg, load_array, sgd, softmax, squared_loss, synthetic_data,
                      train_epoch_ch3)

TRUE_W, TRUE_B = [2, -3.4], 4.2


def data_iter(batch_size, features, labels):
    """The book's scratch iterator: shuffled index lists gathered with an index array."""
    indices = list(range(len(features)))
    random.shuffle(indices)
    for i in range(0, len(features), batch_size):
        batch_indices = np.array(indices[i:min(i + batch_size, len(features))])
        yield features[batch_indices], labels[batch_indices]


def test_synthetic_data_shapes_and_fit():
    np.random.seed(0)
    features, labels = synthetic_data(np.array(TRUE_W), TRUE_B, 1000)
    assert features.shape == (1000, 2) and labels.shape == (1000, 1)
    X, y = features.asnumpy().astype('f8'), labels.asnumpy().astype('f8')
    coef, *_ = onp.linalg.lstsq(onp.c_[X, onp.ones(1000)], y[:, 0], rcond=None)
    onp.testing.assert_allclose(coef, TRUE_W + [TRUE_B], atol=2e-3)


def test_one_scratch_sgd_step_matches_numpy():
    np.random.seed(1)
    random.seed(1)      # (data_iter shuffles with Python's random)
    features, labels = synthetic_data(np.array(TRUE_W), TRUE_B, 20)
    w = np.random.normal(0, 0.01, (2, 1))
    b = np.zeros(1)
    w.attach_grad()
    b.attach_grad()
    X, y = next(data_iter(10, features, labels))
    w0, b0 = w.asnumpy().astype('f8'), b.asnumpy().astype('f8')
    with autograd.record():
        l = squared_loss(linreg(X, w, b), y)
    assert l.shape == (10, 1)
    l.backward()
    sgd([w, b], 0.03, 10)
    Xn, yn = X.asnumpy().astype('f8'), y.asnumpy().astype('f8')
    r = Xn @ w0 + b0 - yn
    # (float32 against a float64 reference: a weight near 0 after the step is a difference of
    # larger terms, so an absolute tolerance of their float32 rounding too)
    onp.testing.assert_allclose(w.asnumpy(), w0 - 0.03 * Xn.T @ r / 10, rtol=1e-5, atol=1e-7)
    onp.testing.assert_allclose(b.asnumpy(), b0 - 0.03 * r.sum(0) / 10, rtol=1e-5, atol=1e-7)


def test_linear_regression_from_scratch_learns_the_parameters():
    np.random.seed(2)
    random.seed(2)
    features, labels = synthetic_data(np.array(TRUE_W), TRUE_B, 1000)
    w = np.random.normal(0, 0.01, (2, 1))
    b = np.zeros(1)
    w.attach_grad()
    b.attach_grad()
    losses = []
    for _ in range(3):
        for X, y in data_iter(10, features, labels):
            with autograd.record():
                l = squared_loss(linreg(X, w, b), y)
            l.backward()
            sgd([w, b], 0.03, 10)
        losses.append(float(squared_loss(linreg(features, w, b), labels).mean()))
    assert losses[-1] < 1e-4  # noise variance 1e-4 / 2
    onp.testing.assert_allclose(w.asnumpy().reshape(-1), TRUE_W, atol=5e-3)
    assert abs(float(b) - TRUE_B) < 5e-3


def test_linear_regression_concise():
    np.random.seed(3)
    mx.random.seed(3)
    features, labels = synthetic_data(np.array(TRUE_W), TRUE_B, 1000)
    data = load_array((features, labels), 10)
    X, y = next(iter(data))
    assert isinstance(X, np.ndarray) and X.shape == (10, 2) and y.shape == (10, 1)
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.03})
    for _ in range(3):
        for X, y in data:
            with autograd.record():
                l = loss(net(X), y)
            l.backward()
            trainer.step(10)
    l = loss(net(features), labels)
    assert isinstance(l, np.ndarray) and l.shape == (1000,)
    assert float(l.mean()) < 1e-3
    w, b = net[0].weight.data(), net[0].bias.data()
    assert isinstance(w, np.ndarray) and w.shape == (1, 2) and b.shape == (1,)
    onp.testing.assert_allclose(w.asnumpy().reshape(-1), TRUE_W, atol=5e-3)
    assert abs(float(b) - TRUE_B) < 5e-3
    assert net[0].weight.grad().shape == (1, 2)


def test_init_normal_sigma():
    net = nn.Dense(200, in_units=300)
    net.initialize(init.Normal(sigma=0.01))
    w = net.weight.data().asnumpy()
    assert abs(w.std() - 0.01) < 5e-4 and abs(w.mean()) < 5e-4
    assert float(onp.abs(net.bias.data().asnumpy()).max()) == 0  # biases start at zero


def _write_idx(path, array, magic):
    header = onp.array([magic, *array.shape], dtype='>u4').tobytes()
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(onp.uint8).tobytes())


def test_fashion_mnist_loading_path(tmp_path):
    """load_data_fashion_mnist: the dataset, transform_first(ToTensor / Resize), and a
    shuffled DataLoader with worker processes requested."""
    rs = onp.random.RandomState(0)
    images, labels = rs.randint(0, 256, (40, 28, 28)), rs.randint(0, 10, 40)
    _write_idx(tmp_path / 'train-images-idx3-ubyte.gz', images, 2051)
    _write_idx(tmp_path / 'train-labels-idx1-ubyte.gz', labels, 2049)
    train = gluon.data.vision.FashionMNIST(root=str(tmp_path), train=True)
    assert len(train) == 40
    image, label = train[3]
    assert isinstance(image, np.ndarray) and image.shape == (28, 28, 1)
    assert isinstance(label, np.ndarray) and label.shape == () and int(label) == labels[3]
    onp.testing.assert_array_equal(image.asnumpy()[..., 0], images[3])
    X, y = train[:18]
    assert X.shape == (18, 28, 28, 1) and y.shape == (18,)
    trans = transforms.Compose([transforms.Resize(32), transforms.ToTensor()])
    loader = gluon.data.DataLoader(train.transform_first(trans), 16, shuffle=True,
                                   num_workers=4)
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [16, 16, 8]
    X, y = batches[0]
    assert isinstance(X, np.ndarray) and X.shape == (16, 1, 32, 32) and X.dtype == onp.float32
    assert y.dtype == onp.int32 and y.shape == (16,)
    assert 0 <= float(X.min()) and float(X.max()) <= 1
    plain = gluon.data.DataLoader(train.transform_first(transforms.ToTensor()), 40)
    X, y = next(iter(plain))
    onp.testing.assert_allclose(X.asnumpy()[:, 0], images / 255.0, rtol=1e-6)
    onp.testing.assert_array_equal(y.asnumpy(), labels)


def test_softmax_and_cross_entropy_pieces():
    X = np.random.normal(0, 1, (2, 5))
    P = softmax(X)
    onp.testing.assert_allclose(P.sum(1).asnumpy(), [1, 1], rtol=1e-6)
    y = np.array([0, 2])
    y_hat = np.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    picked = y_hat[[0, 1], y]
    onp.testing.assert_allclose(picked.asnumpy(), [0.1, 0.5], rtol=1e-6)
    onp.testing.assert_allclose(cross_entropy(y_hat, y).asnumpy(), -onp.log([0.1, 0.5]),
                                rtol=1e-6)
    assert accuracy(y_hat, y) / len(y) == 0.5
    acc = Accumulator(2)
    acc.add(1, 2)
    acc.add(np.array(3.0), 4)
    assert (acc[0], acc[1]) == (4.0, 6.0)


def test_softmax_regression_from_scratch_trains():
    mx.random.seed(0)
    np.random.seed(0)
    train_iter, test_iter = image_loaders(64, n_train=256, n_test=128, shape=(1, 8, 8))
    num_inputs, num_outputs = 64, 10
    W = np.random.normal(0, 0.01, (num_inputs, num_outputs))
    b = np.zeros(num_outputs)
    W.attach_grad()
    b.attach_grad()

    def net(X):
        return softmax(np.dot(X.reshape((-1, W.shape[0])), W) + b)

    before = evaluate_accuracy(net, test_iter)
    for _ in range(4):
        train_loss, train_acc = train_epoch_ch3(net, train_iter, cross_entropy,
                                                lambda n: sgd([W, b], 0.5, n))
    assert evaluate_accuracy(net, test_iter) > max(0.6, before + 0.3)
    assert train_loss < 2.0


@pytest.mark.parametrize("hybridize", [False, True])
def test_softmax_regression_concise(hybridize):
    mx.random.seed(1)
    np.random.seed(1)
    train_iter, test_iter = image_loaders(64, n_train=256, n_test=128, shape=(1, 8, 8))
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    if hybridize:
        net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
    losses = [train_epoch_ch3(net, train_iter, loss, trainer)[0] for _ in range(4)]
    assert losses[-1] < losses[0]
    assert evaluate_accuracy(net, test_iter) > 0.6
    X, _ = next(iter(test_iter))
    out = net(X)
    assert isinstance(out, np.ndarray) and out.shape == (64, 10)
