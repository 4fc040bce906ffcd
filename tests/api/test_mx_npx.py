"""mx.npx (MXNet's numpy extension) against nd and numpy, set_np, and Gluon with mx.np arrays:
d2l-style models (linear regression, an MLP softmax regression) eager and hybridized, trained
end to end against the same model written with nd."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd, np, npx
from tracegrad.gluon import nn
from np_checks import close

R = onp.random.default_rng(1)



def test_set_np_switch():
    assert not npx.is_np_array()
    npx.set_np()
    assert npx.is_np_array() and mx.util.is_np_shape()
    npx.reset_np()
    assert not mx.util.is_np_array()

    @mx.util.use_np
    def f():
        return npx.is_np_array()
    assert f() and not npx.is_np_array()


def test_activations_and_softmax():
    x = R.standard_normal((3, 5))
    a = np.array(x, dtype="float64")
    close(npx.relu(a), onp.maximum(x, 0))
    close(npx.sigmoid(a), 1 / (1 + onp.exp(-x)))
    e = onp.exp(x - x.max(axis=-1, keepdims=True))
    close(npx.softmax(a), e / e.sum(-1, keepdims=True))
    close(npx.log_softmax(a, axis=-1), onp.log(e / e.sum(-1, keepdims=True)))
    close(npx.activation(a, act_type="tanh"), onp.tanh(x))
    m = np.array([[1, 1, 0, 0, 1]] * 3, dtype="bool")
    ms = npx.masked_softmax(a, m)
    em = onp.where(m.asnumpy(), onp.exp(x - x.max(-1, keepdims=True)), 0)
    close(ms, em / em.sum(-1, keepdims=True))


def test_layers_ops():
    x, w, b = R.standard_normal((4, 3)), R.standard_normal((2, 3)), R.standard_normal(2)
    out = npx.fully_connected(np.array(x, dtype="float64"), np.array(w, dtype="float64"),
                              np.array(b, dtype="float64"), num_hidden=2)
    close(out, x @ w.T + b)
    idx = np.array([0, 2, 1], dtype="int32")
    close(npx.one_hot(idx, 3), onp.eye(3)[[0, 2, 1]])
    close(npx.pick(np.array(x, dtype="float64"), np.array([0, 2, 1, 0]), axis=1),
          x[range(4), [0, 2, 1, 0]])
    top = npx.topk(np.array(x, dtype="float64"), k=2, ret_typ="value")
    close(top, -onp.sort(-x, axis=-1)[:, :2])
    emb = R.standard_normal((5, 2))
    close(npx.embedding(np.array([4, 0], dtype="int32"), np.array(emb, dtype="float64"), 5, 2),
          emb[[4, 0]])
    s = R.standard_normal((3, 2, 4))
    close(npx.sequence_mask(np.array(s, dtype="float64"), np.array([1, 3]),
                            use_sequence_length=True, value=-1.0),
          onp.where(onp.arange(3)[:, None, None] < onp.array([1, 3])[None, :, None], s, -1.0))
    u, v = R.standard_normal((2, 3, 4)), R.standard_normal((2, 4, 5))
    close(npx.batch_dot(np.array(u, dtype="float64"), np.array(v, dtype="float64")), u @ v)
    close(npx.batch_flatten(np.array(u)), u.reshape(2, 12), rtol=1e-6)
    img, k = R.standard_normal((1, 2, 5, 5)), R.standard_normal((3, 2, 3, 3))
    conv = npx.convolution(np.array(img), np.array(k), kernel=(3, 3), num_filter=3, no_bias=True)
    assert conv.shape == (1, 3, 3, 3) and isinstance(conv, np.ndarray)
    close(conv, nd.Convolution(nd.array(img), nd.array(k), kernel=(3, 3), num_filter=3,
                               no_bias=True).asnumpy(), rtol=1e-5)
    pool = npx.pooling(np.array(img), kernel=(2, 2), stride=(2, 2), pool_type="max")
    close(pool, img[:, :, :4, :4].reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)), rtol=1e-6)
    assert (npx.dropout(np.ones((4,)), p=0.5) == 1).all().item()   # not training: identity


@pytest.mark.parametrize("src,codes,expect", [
    ((2, 3, 4), (-1,), (24,)), ((2, 3, 4), (-2, -1), (2, 12)), ((2, 1, 4), (-2, -3, -2), (2, 4)),
    ((2, 3, 4), (-4,), (2, 3, 4)), ((2, 3, 4), (-5, -2), (6, 4)), ((2, 3, 4), (-2, -5), (2, 12)),
    ((6, 4), (-6, 2, -1, -2), (2, 3, 4)), ((2, 3, 4), (4, -4), None),
])
def test_npx_reshape_codes(src, codes, expect):
    a = np.arange(int(onp.prod(src))).reshape(src)
    if expect is None:
        with pytest.raises(mx.MXNetError, match="npx.reshape"):
            npx.reshape(a, codes)
        return
    out = npx.reshape(a, codes)
    assert out.shape == expect
    close(out, onp.arange(int(onp.prod(src)), dtype=onp.float32).reshape(expect))


def test_npx_reshape_reverse():
    a = np.zeros((10, 5, 4))
    assert npx.reshape(a, (-1, 0 + 20), reverse=True).shape == (10, 20)


# ---------------------------------------------------------------------- Gluon with set_np
def _synthetic(n=200):
    true_w, true_b = onp.array([2.0, -3.4]), 4.2
    X = R.standard_normal((n, 2)).astype(onp.float32)
    y = (X @ true_w + true_b + 0.01 * R.standard_normal(n)).astype(onp.float32)
    return X, y.reshape(-1, 1)


def _train_linreg(X, y, use_np, hybridize):
    if use_np:
        npx.set_np()
    try:
        mx.random.seed(3)
        net = nn.HybridSequential()
        net.add(nn.Dense(1))
        net.initialize(mx.init.Normal(sigma=0.01))
        if hybridize:
            net.hybridize()
        data = (np.array(X), np.array(y)) if use_np else (nd.array(X), nd.array(y))
        loader = gluon.data.DataLoader(gluon.data.ArrayDataset(*data), batch_size=20)
        loss = gluon.loss.L2Loss()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        losses = []
        for epoch in range(3):
            for Xb, yb in loader:
                assert isinstance(Xb, np.ndarray) == use_np
                with autograd.record():
                    l = loss(net(Xb), yb)
                assert isinstance(l, np.ndarray) == use_np
                l.backward()
                trainer.step(Xb.shape[0])
            losses.append(float(loss(net(data[0]), data[1]).mean()))
        return net, losses
    finally:
        npx.reset_np()


@pytest.mark.parametrize("hybridize", [False, True])
def test_d2l_linear_regression_matches_nd(hybridize):
    X, y = _synthetic()
    net_np, losses = _train_linreg(X, y, True, hybridize)
    net_nd, losses_nd = _train_linreg(X, y, False, hybridize)
    assert losses[2] < losses[1] < losses[0] and losses[-1] < 0.05 * losses[0]
    onp.testing.assert_allclose(losses, losses_nd, rtol=1e-5)
    for p, q in zip(net_np.collect_params().values(), net_nd.collect_params().values()):
        onp.testing.assert_allclose(p.data().asnumpy(), q.data().asnumpy(), rtol=1e-6)
    w = net_np[0].weight.data()
    assert float(np.abs(np.array([2.0, -3.4]) - w.reshape((2,))).max()) < 0.3


class MLP(nn.HybridBlock):
    """d2l's MLP written with F.npx / F.np inside hybrid_forward."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = nn.Dense(16)
        self.out = nn.Dense(3)

    def hybrid_forward(self, F, x):
        assert isinstance(x, np.ndarray)
        h = F.npx.relu(self.hidden(x))
        assert isinstance(h, np.ndarray)
        return self.out(h - F.np.mean(h, axis=1, keepdims=True))


def test_mlp_softmax_regression_eager_vs_hybridized(np_mode):
    X = np.array(R.standard_normal((30, 4)))
    y = np.array(R.integers(0, 3, 30), dtype="int32")
    mx.random.seed(5)
    net = MLP()
    net.initialize(mx.init.Xavier())
    eager = net(X)
    assert isinstance(eager, np.ndarray) and eager.shape == (30, 3)
    net.hybridize()
    compiled = net(X)
    assert isinstance(compiled, np.ndarray)
    onp.testing.assert_allclose(compiled.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    first = None
    for _ in range(30):
        with autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(30)
        first = first if first is not None else l.mean().item()
    assert l.mean().item() < 0.7 * first
    acc = (net(X).argmax(axis=1) == y.astype("int64")).mean().item()
    assert acc > 0.6


def test_gradients_through_np_and_npx(np_mode):
    x = np.array(R.standard_normal((3, 4)), dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = (npx.softmax(x) * np.arange(4)).sum()
    y.backward()
    s = onp.exp(x.asnumpy())
    s /= s.sum(1, keepdims=True)
    c = onp.arange(4.0)
    ref = s * (c - (s * c).sum(1, keepdims=True))
    close(x.grad, ref)


def test_hostile_npx_inputs():
    with pytest.raises(mx.MXNetError, match="npx.reshape"):
        npx.reshape(np.ones((2, 3)), (-1, -1))
    with pytest.raises(mx.MXNetError, match="npx.reshape"):
        npx.reshape(np.ones((2, 3)), (-3, -1))
    with pytest.raises(mx.MXNetError):
        npx.fully_connected(np.ones((2, 3)), np.ones((4, 5)), None, num_hidden=4)
    with pytest.raises(mx.MXNetError, match="set_np"):
        npx.set_np(dtype=True)


def test_d2l_softmax_regression_from_scratch(np_mode):
    """d2l's softmax regression from scratch: np.dot, exp, keepdims sums, the
    `y_hat[range(len(y_hat)), y]` pick and the in-place sgd `param[:] = ...`; the gradients
    equal the closed form (softmax - one_hot) of the cross-entropy."""
    np.random.seed(0)
    W, b = np.random.normal(0, 0.01, (4, 3)), np.zeros(3)
    W.attach_grad()
    b.attach_grad()
    X = np.random.normal(0, 1, (8, 4))
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1], dtype="int32")

    def net(X):
        e = np.exp(np.dot(X.reshape((-1, W.shape[0])), W) + b)
        return e / e.sum(1, keepdims=True)

    first = None
    for _ in range(40):
        with autograd.record():
            y_hat = net(X)
            l = -np.log(y_hat[range(len(y_hat)), y])
        l.backward()
        p = y_hat.asnumpy() - onp.eye(3)[y.asnumpy()]
        onp.testing.assert_allclose(W.grad.asnumpy(), X.asnumpy().T @ p, rtol=1e-4, atol=1e-5)
        onp.testing.assert_allclose(b.grad.asnumpy(), p.sum(0), rtol=1e-4, atol=1e-5)
        for param in (W, b):
            param[:] = param - 0.5 * param.grad / 8
        first = first if first is not None else float(l.mean())
    assert float(l.mean()) < 0.7 * first
    assert float((net(X).argmax(axis=1).astype(y.dtype) == y).sum()) >= 4


def test_batchnorm_dropout_net_eager_equals_hybridized(np_mode):
    """Dense, BatchNorm (running statistics), Dropout (same seed, same masks) on mx.np input:
    five SGD steps eager and hybridized give the same losses, running statistics and
    weights."""
    X = np.random.normal(size=(4, 6))
    y = np.array([0, 1, 2, 0], dtype="int32")
    results = []
    for hybridize in (False, True):
        mx.random.seed(0)
        net = nn.HybridSequential()
        net.add(nn.Dense(8), nn.BatchNorm(), nn.Activation("relu"), nn.Dropout(0.3),
                nn.Dense(3))
        net.initialize()
        if hybridize:
            net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        for _ in range(5):
            with autograd.record():
                l = gluon.loss.SoftmaxCrossEntropyLoss()(net(X), y)
            l.backward()
            trainer.step(4)
        assert isinstance(l, np.ndarray)
        results.append([l.asnumpy()] + [p.data().asnumpy()
                                        for p in net.collect_params().values()])
    for a, b in zip(*results):
        onp.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_parameters_under_set_np_are_np_views(np_mode):
    net = nn.Dense(2, in_units=3)
    net.initialize()
    w = net.weight.data()
    assert isinstance(w, np.ndarray) and w.shape == (2, 3)
    x = np.ones((4, 3))
    with autograd.record():
        l = net(x).sum()
    l.backward()
    g = net.weight.grad()
    assert isinstance(g, np.ndarray)
    close(g, onp.full((2, 3), 4.0))
    w[:] = 0                     # writes the parameter's buffer, as in MXNet
    close(net(x), onp.broadcast_to(net.bias.data().asnumpy(), (4, 2)))
    npx.reset_np()      # MXNet: a parameter keeps the array type it was initialized with
    assert type(net.weight.data()) is np.ndarray and type(net.weight.grad()) is np.ndarray
    late = nn.Dense(2, in_units=3)
    late.initialize()
    assert type(late.weight.data()) is mx.nd.NDArray
    npx.set_np()


def test_a_jitted_function_returns_np_arrays_as_it_did_eagerly(np_mode):
    """Under set_np the compiled call returns mx.np arrays where the function returned them
    (it returned mx.nd arrays before: `y.sum()` then had nd's shape (1,), not ())."""
    def f(x):
        return (x * x).sum(), {"rows": x.mean(axis=0)}, [x == 2]

    jf = mx.jit(f)
    x64 = onp.array([[1.0, 2.0], [3.0, 4.0]])
    for _ in range(2):
        x = np.array(x64)
        x.attach_grad()
        with autograd.record():
            total, rest, (mask,) = jf(x)
        total.backward()
        eager_total, eager_rest, (eager_mask,) = f(np.array(x64))
        for got, want in ((total, eager_total), (rest["rows"], eager_rest["rows"]),
                          (mask, eager_mask)):
            assert type(got) is type(want) is np.ndarray
            assert got.shape == want.shape and got.dtype == want.dtype
            onp.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6)
        onp.testing.assert_allclose(x.grad.asnumpy(), 2 * x64, rtol=1e-6)
    assert jf.counts["native"] == 2
