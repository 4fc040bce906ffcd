"""Gluon layers and losses: forward vs numpy, gradients vs central differences, and the
hybridized block giving the same outputs and gradients as the eager one."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn
from arrays import keep_dtype
from numeric import central_differences


RTOL = 1e-5


def _run(block, inputs, cot, training, seed):
    """Forward + backward of sum(out * cot): (output, input grads, param grads by name)."""
    xs = [keep_dtype(x) for x in inputs]
    for x in xs:
        if x.dtype == np.float64:
            x.attach_grad()
    mx.random.seed(seed)
    with autograd.record(train_mode=training):
        out = block(*xs)
        head = (out * keep_dtype(cot)).sum()
    head.backward()
    pgrads = {k: p.grad().asnumpy() for k, p in block.collect_params().items()
              if p.grad_req != "null"}
    return out.asnumpy(), [x.grad.asnumpy() for x in xs if x.dtype == np.float64], pgrads


def check_block(block, inputs, reference=None, training=False, seed=0, fd=True):
    """The whole oracle for one block (inputs are float64 numpy arrays or int indices)."""
    rng = np.random.default_rng(1)
    block.initialize(mx.init.Xavier(magnitude=2.0))
    mx.random.seed(seed)
    with autograd.train_mode() if training else autograd.predict_mode():
        block(*[keep_dtype(x) for x in inputs])  # deferred shapes
    block.cast("float64")
    params = [p for p in block.collect_params().values() if p.grad_req != "null"]
    for p in params:  # Xavier is fine, but avoid accidental symmetry in 1-d params
        if p.data().ndim == 1:
            p.set_data(rng.standard_normal(p.shape) * 0.5 + 1.0)
    out0 = block(*[keep_dtype(x) for x in inputs]) if not training else None
    cot = rng.standard_normal(
        (out0 if out0 is not None else _run(block, inputs, 0.0, training, seed)[0]).shape)
    out, xgrads, pgrads = _run(block, inputs, cot, training, seed)
    if reference is not None:
        np.testing.assert_allclose(out, reference(*inputs), rtol=RTOL, atol=1e-9)
    if fd:
        float_inputs = [x for x in inputs if x.dtype == np.float64]
        datas = [p.data()._data for p in params]

        def f():
            mx.random.seed(seed)
            with autograd.train_mode() if training else autograd.predict_mode():
                o = block(*[keep_dtype(x) for x in inputs])
            return float((o.asnumpy() * cot).sum())
        numeric = central_differences(f, float_inputs + datas)
        analytic = xgrads + [pgrads[p.name] for p in params]
        for a, n in zip(analytic, numeric):
            np.testing.assert_allclose(a, n, rtol=RTOL, atol=1e-6)
    block.hybridize()
    _run(block, inputs, cot, training, seed)  # NOTE: a first (tracing) call draws an extra key
    h_out, h_xgrads, h_pgrads = _run(block, inputs, cot, training, seed)
    block.hybridize(False)
    np.testing.assert_allclose(h_out, out, rtol=RTOL, atol=1e-12)
    for a, b in zip(h_xgrads, xgrads):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12)
    for k in pgrads:
        np.testing.assert_allclose(h_pgrads[k], pgrads[k], rtol=RTOL, atol=1e-12)
    return out


@pytest.fixture
def x34(rng):
    return rng.standard_normal((3, 4))


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("flatten", [True, False])
def test_dense(rng, flatten):
    x = rng.standard_normal((2, 3, 4))
    net = nn.Dense(5, flatten=flatten, activation="tanh")

    def ref(x):
        w, b = net.weight.data().asnumpy(), net.bias.data().asnumpy()
        return np.tanh((x.reshape(2, -1) if flatten else x) @ w.T + b)
    check_block(net, [x], ref)
    assert net.weight.shape == ((5, 12) if flatten else (5, 4))


def test_dense_no_bias(x34):
    net = nn.Dense(2, use_bias=False, in_units=4)
    assert net.bias is None and len(net.collect_params()) == 1
    check_block(net, [x34], lambda x: x @ net.weight.data().asnumpy().T)


@pytest.mark.parametrize("act,ref", [
    ("relu", lambda x: np.maximum(x, 0)),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", np.tanh),
    ("softrelu", lambda x: np.log1p(np.exp(x))),
    ("softsign", lambda x: x / (1 + np.abs(x)))])
def test_activation(x34, act, ref):
    check_block(nn.Activation(act), [x34], ref)


def test_leaky_relu(x34):
    check_block(nn.LeakyReLU(0.1), [x34], lambda x: np.where(x > 0, x, 0.1 * x))


def test_flatten_and_lambdas(rng):
    x = rng.standard_normal((2, 3, 2))
    check_block(nn.Flatten(), [x], lambda x: x.reshape(2, 6))
    check_block(nn.HybridLambda(lambda F, x: F.exp(x) * 2), [x], lambda x: np.exp(x) * 2)
    check_block(nn.HybridLambda("tanh"), [x], np.tanh)
    np.testing.assert_allclose(nn.Lambda("exp")(keep_dtype(x)).asnumpy(), np.exp(x), rtol=1e-6)


def test_layer_norm(rng):
    x = rng.standard_normal((3, 5))
    net = nn.LayerNorm()

    def ref(x):
        g, b = net.gamma.data().asnumpy(), net.beta.data().asnumpy()
        m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-5) * g + b
    check_block(net, [x], ref)


def _bn_ref(x, g, b, m, v, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * g.reshape(
        shape) + b.reshape(shape)


def test_batch_norm_training(rng):
    x = rng.standard_normal((4, 3, 2)) * 2 + 1
    net = nn.BatchNorm()
    out = check_block(net, [x], training=True)
    g, b = net.gamma.data().asnumpy(), net.beta.data().asnumpy()
    m, v = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    np.testing.assert_allclose(out, _bn_ref(x, g, b, m, v), rtol=RTOL)


def test_batch_norm_inference_and_running_stats(rng):
    x = rng.standard_normal((8, 3)) * 2 + 1
    net = nn.BatchNorm(momentum=0.9, in_channels=3)
    net.initialize()
    y = net(keep_dtype(x)).asnumpy()  # inference: running stats 0 / 1, unchanged
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-5)
    np.testing.assert_array_equal(net.running_mean.data().asnumpy(), 0)
    with autograd.record():
        y = net(keep_dtype(x))
    np.testing.assert_allclose(y.asnumpy(), _bn_ref(x, np.ones(3), np.zeros(3), x.mean(0),
                                                    x.var(0)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.running_mean.data().asnumpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(net.running_var.data().asnumpy(), 0.9 + 0.1 * x.var(0),
                               rtol=1e-5)
    rm, rv = net.running_mean.data().asnumpy(), net.running_var.data().asnumpy()
    y = net(keep_dtype(x)).asnumpy()
    np.testing.assert_allclose(y, _bn_ref(x, np.ones(3), np.zeros(3), rm, rv), rtol=1e-5)
    check_block(nn.BatchNorm(in_channels=3), [x])  # inference gradients
    with pytest.raises(mx.MXNetError, match=r"batchnorm\d+ \(BatchNorm\).*4 channels"):
        net(nd.ones((2, 4)))


def test_embedding(rng):
    idx = np.array([[0, 3], [2, 3]], dtype=np.int64)
    net = nn.Embedding(5, 3)
    check_block(net, [idx], lambda i: net.weight.data().asnumpy()[i])
    w = net.weight.grad().asnumpy()
    assert np.all(w[[1, 4]] == 0) and np.all(w[3] != 0)


def test_dropout_gradients_and_modes(x34):
    net = nn.Dropout(0.5)
    np.testing.assert_array_equal(net(keep_dtype(x34)).asnumpy(), x34)  # inference: identity
    out = check_block(net, [x34], training=True, seed=3)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2 * x34[kept])
    assert 0 < kept.sum() < kept.size


def test_dropout_statistics():
    rate = 0.3
    net = nn.Dropout(rate)
    mx.random.seed(7)
    with autograd.record():
        y = net(nd.ones((300, 300))).asnumpy()
    assert abs((y == 0).mean() - rate) < 0.01
    np.testing.assert_array_equal(np.unique(y), np.array([0, 1 / (1 - rate)], np.float32))
    with autograd.record():
        y = nn.Dropout(0.5, axes=(1,))(nd.ones((50, 4))).asnumpy()
    assert np.all(y == y[:, :1])  # mask shared along axis 1


def test_sequential_chain_deferred(rng):
    x = rng.standard_normal((2, 6))
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(4, activation="relu"), nn.Dense(3), nn.Dense(2, flatten=False))
    check_block(net, [x])
    assert [p.shape for p in net.collect_params().values()] == [
        (4, 6), (4,), (3, 4), (3,), (2, 3), (2,)]


# ------------------------------------------------------------------ losses
def _loss_check(loss, pred, label, ref, **kw):
    def fn(p, lab):
        return ref(p, lab)
    check_block(_Bind(loss, label), [pred], lambda p: fn(p, label), **kw)


class _Bind(gluon.HybridBlock):
    """A loss with its label fixed, so check_block differentiates w.r.t. the prediction."""

    def __init__(self, loss, label):
        super().__init__()
        self.loss, self._label = loss, label

    def forward(self, pred):
        return self.loss(pred, keep_dtype(self._label))


def test_l2_l1_huber(rng):
    p, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    _loss_check(gluon.loss.L2Loss(), p, y, lambda p, y: 0.5 * ((p - y) ** 2).mean(1))
    _loss_check(gluon.loss.L2Loss(weight=3.0), p, y, lambda p, y: 1.5 * ((p - y) ** 2).mean(1))
    _loss_check(gluon.loss.L1Loss(), p, y, lambda p, y: np.abs(p - y).mean(1))
    d = np.abs(p - y)
    assert np.all(np.abs(d - 0.7) > 1e-3)
    _loss_check(gluon.loss.HuberLoss(rho=0.7), p, y,
                lambda p, y: np.where(d > 0.7, d - 0.35, d ** 2 / 1.4).mean(1))


def test_l2_loss_label_shape_and_sample_weight():
    loss = gluon.loss.L2Loss()
    out = loss(nd.array([[1.0], [2.0]]), nd.array([0.0, 0.0]), nd.array([[1.0], [0.5]]))
    np.testing.assert_allclose(out.asnumpy(), [0.5, 1.0])
    with pytest.raises(mx.MXNetError, match=r"l2loss\d+ \(L2Loss\).*label f32\[3\].*f32\[2,1\]"):
        loss(nd.array([[1.0], [2.0]]), nd.array([0.0, 0.0, 1.0]))


def _log_softmax(p, axis=-1):
    m = p.max(axis, keepdims=True)
    return p - m - np.log(np.exp(p - m).sum(axis, keepdims=True))


def test_softmax_cross_entropy(rng):
    p = rng.standard_normal((4, 5))
    lab = np.array([0, 4, 2, 2], dtype=np.float64)
    ce = gluon.loss.SoftmaxCrossEntropyLoss
    ref = -_log_softmax(p)[np.arange(4), lab.astype(int)]
    _loss_check(ce(), p, lab, lambda p, y: -_log_softmax(p)[np.arange(4), y.astype(int)])
    out = ce()(keep_dtype(p), keep_dtype(lab)).asnumpy()
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    dense = np.eye(5)[lab.astype(int)] * 0.7 + 0.06
    _loss_check(ce(sparse_label=False), p, dense,
                lambda p, y: -(_log_softmax(p) * y).sum(1))
    _loss_check(ce(from_logits=True), p, lab, lambda p, y: -p[np.arange(4), y.astype(int)])
    p3 = rng.standard_normal((2, 3, 2))
    lab3 = np.array([[0, 2], [1, 1]], dtype=np.float64)
    _loss_check(ce(axis=1), p3, lab3, lambda p, y: -np.take_along_axis(
        _log_softmax(p, 1), y.astype(int)[:, None], 1).reshape(2, 2).mean(1))


def test_sigmoid_bce(rng):
    p, y = rng.standard_normal((3, 4)), (rng.random((3, 4)) > 0.5).astype(np.float64)
    s = 1 / (1 + np.exp(-p))
    ref = -(y * np.log(s) + (1 - y) * np.log(1 - s)).mean(1)
    _loss_check(gluon.loss.SigmoidBinaryCrossEntropyLoss(), p, y, lambda p, y: ref)
    _loss_check(gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True), s, y,
                lambda p, y: ref)
