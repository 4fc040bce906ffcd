"""The rows a row_sparse gradient of Embedding(sparse_grad=True) lists are the rows the forward
looked up (MXNet's SparseEmbeddingOpBackwardRspImpl), even where the gradient is zero: a
padding token whose loss is masked out. Lazy SGD / Adam update exactly those rows, so the
padding row still gets weight decay and its momentum / moments, eagerly, hybridized and in a
captured step alike; a row never looked up stays as it was. Also mx.nd.contrib /
mx.sym.contrib.SparseEmbedding, MXNet's deprecated alias of Embedding(sparse_grad=True)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.base import MXNetError

pytestmark = pytest.mark.usefixtures("fresh_capture")

VOCAB, DIM, PAD = 7, 3, 0
# every batch holds the padding token 0 (masked out of the loss); row 6 is never looked up
BATCHES = [[[1, 2, 0], [3, 0, 0]], [[2, 2, 4], [0, 5, 0]], [[1, 0, 0], [4, 3, 0]],
           [[5, 1, 0], [2, 0, 0]], [[3, 4, 5], [1, 0, 0]], [[2, 3, 0], [0, 0, 0]]]
MODES = [("eager", True), ("hybridized", True), ("eager", False), ("hybridized", False)]


def _masked_loss(emb_out, x):
    """sum over the non-padding tokens of |e|^2: row r's gradient is 2 w[r] times its count
    of real tokens, so the padding row's is exactly zero."""
    mask = (x != PAD).expand_dims(axis=2)
    return ((emb_out ** 2) * mask).sum()


def _train(mode, capture_on, optimizer, params):
    """(initial weight, final weight, gradient indices seen per step, captured steps)."""
    capture.set_enabled(capture_on)
    try:
        mx.random.seed(4)
        emb = gluon.nn.Embedding(VOCAB, DIM, sparse_grad=True)
        emb.initialize(mx.init.Uniform(0.5))
        if mode == "hybridized":
            emb.hybridize()
        w0 = emb.weight.data().asnumpy().copy()
        trainer = gluon.Trainer(emb.collect_params(), optimizer, dict(params))
        before = mx.stats()["captured_steps"]
        seen = []
        for batch in BATCHES:
            x = nd.array(batch)
            with autograd.record():
                loss = _masked_loss(emb(x), x)
            loss.backward()
            trainer.step(2)
            seen.append(emb.weight.grad().indices.asnumpy().tolist())
        captured = mx.stats()["captured_steps"] - before
        return w0, emb.weight.data().asnumpy(), seen, captured
    finally:
        capture.set_enabled(True)


def _reference(w0, update):
    """The weight after BATCHES in float64: `update(t, rows, w, g)` on the looked-up rows."""
    w = w0.astype(np.float64)
    for t, batch in enumerate(BATCHES, 1):
        idx = np.array(batch).ravel()
        g = np.zeros_like(w)
        for k in idx[idx != PAD]:
            g[k] += 2 * w[k]
        update(t, np.unique(idx), w, g / 2)      # rescale_grad = 1 / batch_size
    return w


def _sgd_momentum(lr, momentum, wd):
    state = {}

    def update(t, rows, w, g):
        m = state.setdefault("m", np.zeros_like(w))
        m[rows] = momentum * m[rows] - lr * (g[rows] + wd * w[rows])
        w[rows] += m[rows]
    return update


def _adam(lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    state = {}

    def update(t, rows, w, g):
        m = state.setdefault("m", np.zeros_like(w))
        v = state.setdefault("v", np.zeros_like(w))
        grad = g[rows] + wd * w[rows]
        m[rows] = b1 * m[rows] + (1 - b1) * grad
        v[rows] = b2 * v[rows] + (1 - b2) * grad ** 2
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w[rows] -= lr_t * m[rows] / (np.sqrt(v[rows]) + eps)
    return update


@pytest.mark.parametrize("optimizer, params, reference", [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.05}, _sgd_momentum(0.1, 0.9, 0.05)),
    ("adam", {"learning_rate": 0.05, "wd": 0.02}, _adam(0.05, 0.02)),
], ids=["sgd_momentum_wd", "adam_wd"])
def test_the_masked_padding_row_is_updated_as_mxnet_updates_it(optimizer, params, reference):
    runs = {m: _train(*m, optimizer, params) for m in MODES}
    w0 = runs[MODES[0]][0]
    want = _reference(w0, reference)
    for (mode, on), (w0_m, got, seen, captured) in runs.items():
        np.testing.assert_array_equal(w0_m, w0)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=f"{mode} {on}")
        # the gradient lists the looked-up rows, the zero-gradient padding row among them
        assert seen == [sorted(set(np.ravel(b).tolist())) for b in BATCHES], (mode, on)
        np.testing.assert_array_equal(got[6], w0[6])        # never looked up: untouched
        assert not np.allclose(got[PAD], w0[PAD])           # wd and momentum moved it
        if on:
            assert captured >= 2, (mode, captured)


def test_attach_grad_row_sparse_lists_the_rows_nd_embedding_looked_up():
    w = nd.array(np.random.RandomState(0).rand(5, 2))
    w.attach_grad(stype="row_sparse")
    x = nd.array([[4, 1], [1, 4]])
    with autograd.record():
        out = nd.Embedding(x, w, input_dim=5, output_dim=2, sparse_grad=True)
        loss = (out * nd.array([[[0, 0], [1, 1]], [[1, 1], [0, 0]]])).sum()   # row 4: 0
    loss.backward()
    g = w.grad
    assert g.stype == "row_sparse" and g.indices.asnumpy().tolist() == [1, 4]
    np.testing.assert_array_equal(g.data.asnumpy(), [[2, 2], [0, 0]])
    # without sparse_grad the gradient lists its nonzero rows only (as a dense one cast)
    w.attach_grad(stype="row_sparse")
    with autograd.record():
        loss = (nd.Embedding(x, w, input_dim=5, output_dim=2) *
                nd.array([[[0, 0], [1, 1]], [[1, 1], [0, 0]]])).sum()
    loss.backward()
    assert w.grad.indices.asnumpy().tolist() == [1]


@pytest.mark.parametrize("hybridize", [False, True])
def test_each_record_scope_lists_its_own_lookups_and_calls_outside_add_none(hybridize):
    emb = gluon.nn.Embedding(8, 2, sparse_grad=True)
    emb.initialize()
    if hybridize:
        emb.hybridize()
    for batch, want in (([1, 2], [1, 2]), ([5, 2], [2, 5]), ([7], [7])):
        with autograd.record():
            loss = (emb(nd.array(batch)) * 0).sum()     # every gradient value is zero
        loss.backward()
        emb(nd.array([3, 4]))       # a forward outside record(): no gradient, no rows
        assert emb.weight.grad().indices.asnumpy().tolist() == want
    # two lookups in one graph: the union
    with autograd.record():
        loss = (emb(nd.array([6])) * 0).sum() + (emb(nd.array([0, 6])) * 0).sum()
    loss.backward()
    assert emb.weight.grad().indices.asnumpy().tolist() == [0, 6]


class _TwoLookups(gluon.HybridBlock):
    """One embedding looked up twice in one call (shared source / target vocabulary)."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.emb = gluon.nn.Embedding(8, 2, sparse_grad=True)

    def hybrid_forward(self, F, a, b):
        return (self.emb(a) * 0).sum() + (self.emb(b) * 0).sum()


@pytest.mark.parametrize("hybridize", [False, True])
def test_two_lookups_in_one_compiled_call_list_both(hybridize):
    net = _TwoLookups()
    net.initialize()
    if hybridize:
        net.hybridize()
    for step in range(5):
        with autograd.record():
            loss = net(nd.array([1, 2]), nd.array([5, 6 + step % 2]))
        loss.backward()
        assert net.emb.weight.grad().indices.asnumpy().tolist() == [1, 2, 5, 6 + step % 2]


@pytest.mark.parametrize("hybridize", [False, True])
def test_an_index_out_of_range_raises_with_sparse_grad_while_recording(hybridize):
    """MXNet's sparse backward: "Embedding input contains data out of bound"; a forward
    outside record() clips as Embedding always does."""
    emb = gluon.nn.Embedding(4, 2, sparse_grad=True)
    emb.initialize()
    if hybridize:
        emb.hybridize()
    with pytest.raises(MXNetError, match="Embedding"):
        with autograd.record():
            loss = emb(nd.array([1, 4])).sum()
        loss.backward()
    np.testing.assert_array_equal(emb(nd.array([9])).asnumpy(),
                                  emb.weight.data().asnumpy()[[3]])


def _weight():
    return np.arange(20, dtype=np.float32).reshape(4, 5)


def test_nd_contrib_sparse_embedding_is_embedding_with_a_row_sparse_gradient():
    x = nd.array([[1, 3], [0, 2]])
    w = nd.array(_weight())
    out = nd.contrib.SparseEmbedding(x, w, input_dim=4, output_dim=5)
    np.testing.assert_array_equal(out.asnumpy(), nd.Embedding(x, w, 4, 5).asnumpy())
    np.testing.assert_array_equal(out.asnumpy(), _weight()[[[1, 3], [0, 2]]])
    w.attach_grad(stype="row_sparse")
    head = np.random.RandomState(2).rand(2, 2, 5).astype(np.float32)
    head[0, 1] = 0                  # row 3's only lookup gets a zero gradient
    with autograd.record():
        y = nd.contrib.SparseEmbedding(nd.array([[1, 3], [0, 1]]), w, 4, 5)
    y.backward(nd.array(head))
    want = np.zeros((4, 5), np.float32)
    np.add.at(want, [1, 3, 0, 1], head.reshape(4, 5))
    assert w.grad.indices.asnumpy().tolist() == [0, 1, 3]
    np.testing.assert_allclose(w.grad.asnumpy(), want, rtol=1e-6)
    with pytest.raises(MXNetError, match="sparse_grad"):
        nd.contrib.SparseEmbedding(x, w, input_dim=4, output_dim=5, sparse_grad=True)


def test_sym_contrib_sparse_embedding_infers_the_weight_and_matches_embedding():
    data = mx.sym.var("data")
    sparse = mx.sym.contrib.SparseEmbedding(data, input_dim=4, output_dim=5, name="emb")
    dense = mx.sym.Embedding(data, input_dim=4, output_dim=5, name="emb")
    assert sparse.list_arguments() == dense.list_arguments() == ["data", "emb_weight"]
    args, outs, _ = sparse.infer_shape(data=(2, 2))
    assert args == [(2, 2), (4, 5)] and outs == [(2, 2, 5)]
    feed = {"data": nd.array([[1, 3], [0, 2]]), "emb_weight": nd.array(_weight())}
    got = sparse.eval(ctx=mx.cpu(), **feed)[0].asnumpy()
    np.testing.assert_array_equal(got, dense.eval(ctx=mx.cpu(), **feed)[0].asnumpy())


@pytest.mark.parametrize("op", ["Embedding", "SparseEmbedding"])
def test_a_module_updates_the_rows_its_symbolic_embedding_looked_up(op):
    """mx.mod.Module with a row_sparse weight: the same per-row updates as the Trainer."""
    data, mask = mx.sym.var("data"), mx.sym.var("mask")
    weight = mx.sym.var("embed_weight", stype="row_sparse")
    emb = mx.sym.Embedding(data, weight, input_dim=VOCAB, output_dim=DIM, sparse_grad=True) \
        if op == "Embedding" else \
        mx.sym.contrib.SparseEmbedding(data, weight, input_dim=VOCAB, output_dim=DIM)
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.broadcast_mul(mx.sym.sum(emb * emb, axis=2),
                                                           mask)))
    mod = mx.mod.Module(loss, data_names=["data", "mask"], label_names=None)
    mod.bind(data_shapes=[("data", (2, 3)), ("mask", (2, 3))])
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                          "momentum": 0.9, "wd": 0.05})
    w0 = mod.get_params()[0]["embed_weight"].asnumpy()
    for batch in BATCHES:
        x = np.array(batch, np.float32)
        mod.forward(mx.io.DataBatch([nd.array(x), nd.array(x != PAD)], None), is_train=True)
        mod.backward()
        mod.update()
    got = mod.get_params()[0]["embed_weight"].asnumpy()
    want = _reference(w0, _sgd_momentum(0.1, 0.9, 0.05))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    np.testing.assert_array_equal(got[6], w0[6])


# ------------------------------------------------------------------ AdaGrad and Ftrl
def _adagrad_rows(w, h, g, rows, lr, eps):
    """MXNet's sparse adagrad_update in float64: only the listed rows."""
    w, h = w.copy(), h.copy()
    h[rows] += g[rows] ** 2
    w[rows] -= lr * g[rows] / np.sqrt(h[rows] + eps)
    return w, h


@pytest.mark.parametrize("mode", ["eager", "hybridized"])
def test_adagrad_updates_only_the_looked_up_rows_and_refuses_wd(mode):
    mx.random.seed(4)
    emb = gluon.nn.Embedding(VOCAB, DIM, sparse_grad=True)
    emb.initialize(mx.init.Uniform(0.5))
    if mode == "hybridized":
        emb.hybridize()
    trainer = gluon.Trainer(emb.collect_params(), "adagrad", {"learning_rate": 0.1})
    w = emb.weight.data().asnumpy().astype(np.float64)
    h = np.zeros_like(w)
    for batch in BATCHES:
        x = nd.array(batch)
        with autograd.record():
            loss = _masked_loss(emb(x), x)
        loss.backward()
        g = emb.weight.grad().asnumpy().astype(np.float64)
        trainer.step(1)
        w, h = _adagrad_rows(w, h, g, np.unique(batch), 0.1, 1e-7)
        np.testing.assert_allclose(emb.weight.data().asnumpy(), w, rtol=1e-5, atol=1e-6)
    assert np.array_equal(emb.weight.data().asnumpy()[6], w[6])   # never looked up
    trainer = gluon.Trainer(emb.collect_params(), "adagrad", {"learning_rate": 0.1, "wd": 0.01})
    with autograd.record():
        loss = _masked_loss(emb(x), x)
    loss.backward()
    with pytest.raises(MXNetError, match="adagrad_update does not support wd"):
        trainer.step(1)


def _ftrl(w, z, n, g, lr, l1, beta):
    """ftrl_update in float64 on every row given."""
    z = z + g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
    n = n + g * g
    w = (np.sign(z) * l1 - z) / ((beta + np.sqrt(n)) / lr) * (np.abs(z) > l1)
    return w, z, n


def test_ftrl_updates_the_rows_of_a_row_sparse_module_weight_only():
    # sparse/wide_deep with --optimizer ftrl: MXNet's ftrl_update of an all-row_sparse
    # weight, gradient and states touches the gradient's rows; the others keep their values
    data = mx.sym.var("data")
    weight = mx.sym.var("emb_weight", shape=(VOCAB, DIM), stype="row_sparse")
    out = mx.sym.make_loss(mx.sym.sum(mx.sym.Embedding(data, weight, input_dim=VOCAB,
                                                       output_dim=DIM, sparse_grad=True) ** 2))
    mod = mx.mod.Module(out, data_names=["data"], label_names=None)
    mod.bind(data_shapes=[("data", (2, 3))])
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer="ftrl", optimizer_params={"learning_rate": 0.1,
                                                           "lamda1": 0.001})
    w = mod.get_params()[0]["emb_weight"].asnumpy().astype(np.float64)
    z, n = np.zeros_like(w), np.zeros_like(w)
    for batch in BATCHES[:4]:
        mod.forward(mx.io.DataBatch([nd.array(batch)]), is_train=True)
        mod.backward()
        rows = np.unique(batch)
        g = np.zeros_like(w)
        # (Module's rescale_grad is 1 / batch size)
        np.add.at(g, np.asarray(batch).ravel(), 2 * w[np.asarray(batch).ravel()] / 2)
        mod.update()
        w[rows], z[rows], n[rows] = _ftrl(w[rows], z[rows], n[rows], g[rows], 0.1, 0.001, 1)
        np.testing.assert_allclose(mod.get_params()[0]["emb_weight"].asnumpy(), w, rtol=1e-5,
                                   atol=1e-6)
    assert np.abs(w[6]).sum() > 0       # the row never looked up kept its initial values


def test_ftrl_of_a_dense_weight_updates_every_row_as_mxnets_fallback():
    # gluon's Embedding(sparse_grad=True) has a dense weight: MXNet's ftrl_update falls back
    # to the dense kernel, where a row with z = 0 becomes 0
    emb = gluon.nn.Embedding(VOCAB, DIM, sparse_grad=True)
    emb.initialize(mx.init.Uniform(0.5))
    trainer = gluon.Trainer(emb.collect_params(), "ftrl", {"learning_rate": 0.1})
    x = nd.array(BATCHES[0])
    with autograd.record():
        loss = _masked_loss(emb(x), x)
    loss.backward()
    trainer.step(1)
    assert np.array_equal(emb.weight.data().asnumpy()[6], np.zeros(DIM, np.float32))


def test_adagrad_by_hand_with_a_row_sparse_gradient_updates_its_rows():
    opt = mx.optimizer.AdaGrad(learning_rate=0.1)
    w = nd.array(np.arange(12, dtype=np.float32).reshape(4, 3))
    state = opt.create_state(0, w)
    g = nd.sparse.row_sparse_array((np.ones((1, 3), np.float32), [2]), shape=(4, 3))
    before = w.asnumpy().copy()
    opt.update(0, w, g, state)
    got = w.asnumpy()
    assert np.array_equal(got[[0, 1, 3]], before[[0, 1, 3]])
    np.testing.assert_allclose(got[2], before[2] - 0.1 / np.sqrt(1 + 1e-7), rtol=1e-6)
    with pytest.raises(MXNetError, match="does not support wd"):
        mx.optimizer.AdaGrad(learning_rate=0.1, wd=0.1).update(0, w, g, state)
