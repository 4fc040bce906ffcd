"""MXNet 1.9.1's example/gluon programs, shortened to a few synthetic steps:
embedding_learning (MarginNet with DistanceWeightedSampling, a MarginLoss built on
gluon.loss._apply_weighting and called with the class-specific `beta` Parameter itself);
sn_gan (an ArrayDataset of NDArray images whose transform resizes them with mx.image);
tree_lstm (a child-sum tree LSTM Block whose forward takes F = mx.nd and recurses over a
Python tree, combining states with F._internal._plus / _mul); image_classification.py with
--dataset mnist (test_utils.get_mnist_iterator's mx.io.MNISTIter over ./data's idx files, and
data.py's `from mxnet.contrib.io import DataLoaderIter`); mnist/mnist.py (vision.MNIST with a
transformer through DataLoader: labels batch in their own dtype, int32); image_classification.py
--dtype float16 (half-precision products)."""
import gzip
import os
import struct

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd


class MarginLoss(gluon.loss.Loss):
    """embedding_learning/model.py's loss, as written there."""

    def __init__(self, margin=0.2, nu=0.0, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin, self._nu = margin, nu

    def hybrid_forward(self, F, anchors, positives, negatives, beta_in, a_indices=None):
        if a_indices is not None:
            beta = beta_in.data()[a_indices]
            beta_reg_loss = F.sum(beta) * self._nu
        else:
            beta = beta_in
            beta_reg_loss = 0.0
        d_ap = F.sqrt(F.sum(F.square(positives - anchors), axis=1) + 1e-8)
        d_an = F.sqrt(F.sum(F.square(negatives - anchors), axis=1) + 1e-8)
        pos_loss = F.maximum(d_ap - beta + self._margin, 0.0)
        neg_loss = F.maximum(beta - d_an + self._margin, 0.0)
        pair_cnt = F.sum((pos_loss > 0.0) + (neg_loss > 0.0))
        if pair_cnt == 0.0:
            loss = F.sum(pos_loss + neg_loss)
        else:
            loss = (F.sum(pos_loss + neg_loss) + beta_reg_loss) / pair_cnt
        return gluon.loss._apply_weighting(F, loss, self._weight, None)


def test_margin_loss_takes_the_beta_parameter_and_its_gradient_is_numpys():
    rs = np.random.RandomState(0)
    a, p, n = (rs.randn(6, 4) * 0.5 for _ in range(3))
    classes = np.array([0, 0, 2, 2, 3, 3], dtype=np.float32)
    beta = gluon.Parameter("beta", shape=(5,))
    beta.initialize(mx.init.Constant(1.2))
    beta.set_data(nd.array([1.2, 0.3, 1.0, 0.8, 1.5]))
    loss = MarginLoss(margin=0.2, nu=0.1)
    with autograd.record():
        L = loss(nd.array(a), nd.array(p), nd.array(n), beta, nd.array(classes))
    L.backward()

    b = np.array([1.2, 0.3, 1.0, 0.8, 1.5])[classes.astype(int)]
    d_ap = np.sqrt(((p - a) ** 2).sum(1) + 1e-8)
    d_an = np.sqrt(((n - a) ** 2).sum(1) + 1e-8)
    pos, neg = np.maximum(d_ap - b + 0.2, 0), np.maximum(b - d_an + 0.2, 0)
    cnt = (pos > 0).sum() + (neg > 0).sum()
    assert cnt > 0
    want = ((pos + neg).sum() + 0.1 * b.sum()) / cnt
    np.testing.assert_allclose(L.asnumpy(), [want], rtol=1e-5)
    grad = np.zeros(5)
    np.add.at(grad, classes.astype(int), (-(pos > 0).astype(float) + (neg > 0) + 0.1) / cnt)
    np.testing.assert_allclose(beta.grad().asnumpy(), grad, rtol=1e-5, atol=1e-7)

    # the constant-beta branch: a Python float and None as inputs
    L2 = loss(nd.array(a), nd.array(p), nd.array(n), 1.2, None)
    b = np.full(6, 1.2)
    pos, neg = np.maximum(d_ap - b + 0.2, 0), np.maximum(b - d_an + 0.2, 0)
    np.testing.assert_allclose(L2.asnumpy(), [(pos + neg).sum() / ((pos > 0).sum() +
                                                                  (neg > 0).sum())], rtol=1e-5)


def test_apply_weighting_and_reshape_like_are_mxnets_helpers():
    loss = nd.array([[1.0, 2.0], [3.0, 4.0]])
    out = gluon.loss._apply_weighting(nd, loss, 0.5, nd.array([[2.0], [10.0]]))
    np.testing.assert_allclose(out.asnumpy(), [[1.0, 2.0], [15.0, 20.0]])
    assert gluon.loss._apply_weighting(nd, loss) is loss
    np.testing.assert_array_equal(
        gluon.loss._reshape_like(nd, nd.arange(4), loss).asnumpy(), [[0, 1], [2, 3]])


def test_array_dataset_of_nd_images_yields_ndarrays_to_its_transform():
    """sn_gan/data.py: transformer(data, label) calls mx.image.imresize and nd.transpose on
    each sample; MXNet's ArrayDataset turns only 1-D NDArrays into numpy."""
    rs = np.random.RandomState(1)
    imgs = rs.randint(0, 255, (6, 4, 4, 3)).astype(np.uint8)

    def transformer(data, label):
        assert isinstance(data, nd.NDArray) and not isinstance(label, nd.NDArray)
        data = mx.image.imresize(data, 8, 8)
        data = nd.transpose(data, (2, 0, 1))
        return data.astype(np.float32) / 128.0 - 1, label

    ds = gluon.data.ArrayDataset(nd.array(imgs, dtype=np.uint8), nd.arange(6))
    assert isinstance(ds[2][0], nd.NDArray) and ds[2][0].dtype == np.uint8
    assert isinstance(ds[2][1], np.float32)
    loader = gluon.data.DataLoader(ds.transform(transformer), batch_size=4,
                                   last_batch="discard")
    batches = list(loader)
    assert len(batches) == 1
    data, label = batches[0]
    assert data.shape == (4, 3, 8, 8) and data.dtype == np.float32
    # nearest-pixel doubling by bilinear resize keeps the corner pixels exactly
    np.testing.assert_allclose(data.asnumpy()[:, :, 0, 0],
                               imgs[:4, 0, 0, :].astype(np.float32) / 128.0 - 1, rtol=1e-6)
    np.testing.assert_array_equal(label.asnumpy(), [0, 1, 2, 3])


class _Tree:
    def __init__(self, idx, children=()):
        self.idx, self.children = idx, list(children)


class ChildSumLSTMCell(gluon.Block):
    """tree_lstm/tree_lstm.py's cell, as written there (names passed to every op)."""

    def __init__(self, hidden_size, input_size):
        super().__init__()
        with self.name_scope():
            self._hidden_size = hidden_size
            self.i2h_weight = self.params.get("i2h_weight", shape=(4 * hidden_size, input_size))
            self.hs2h_weight = self.params.get("hs2h_weight", shape=(3 * hidden_size,
                                                                     hidden_size))
            self.hc2h_weight = self.params.get("hc2h_weight", shape=(hidden_size, hidden_size))
            self.i2h_bias = self.params.get("i2h_bias", shape=(4 * hidden_size,),
                                            init="zeros")
            self.hs2h_bias = self.params.get("hs2h_bias", shape=(3 * hidden_size,),
                                            init="zeros")
            self.hc2h_bias = self.params.get("hc2h_bias", shape=(hidden_size,),
                                            init="zeros")

    def forward(self, F, inputs, tree):
        children_outputs = [self.forward(F, inputs, child) for child in tree.children]
        children_states = list(zip(*children_outputs))[1] if children_outputs else None
        with inputs.context as ctx:
            return self.node_forward(F, F.expand_dims(inputs[tree.idx], axis=0),
                                     children_states, *[p.data(ctx) for p in (
                                         self.i2h_weight, self.hs2h_weight, self.hc2h_weight,
                                         self.i2h_bias, self.hs2h_bias, self.hc2h_bias)])

    def node_forward(self, F, inputs, children_states, i2h_weight, hs2h_weight, hc2h_weight,
                     i2h_bias, hs2h_bias, hc2h_bias):
        name = "cell_"
        i2h = F.FullyConnected(data=inputs, weight=i2h_weight, bias=i2h_bias,
                               num_hidden=self._hidden_size * 4, name="%si2h" % name)
        i2h_slices = F.split(i2h, num_outputs=4, name="%siuo_slice" % name)
        i2h_iuo = F.concat(*[i2h_slices[i] for i in [0, 2, 3]], dim=1)
        if children_states:
            hs = F.add_n(*[state[0] for state in children_states], name="%shs" % name)
            hc = F.concat(*[F.expand_dims(state[0], axis=1) for state in children_states],
                          dim=1, name="%shc")
            cs = F.concat(*[F.expand_dims(state[1], axis=1) for state in children_states],
                          dim=1, name="%scs")
            f_act = i2h_slices[1] + hc2h_bias + F.dot(hc, hc2h_weight)
            forget_gates = F.Activation(f_act, act_type="sigmoid", name="%sf" % name)
        else:
            hs = F.zeros_like(i2h_slices[0])
        hs2h_iuo = F.FullyConnected(data=hs, weight=hs2h_weight, bias=hs2h_bias,
                                    num_hidden=self._hidden_size * 3, name="%shs2h" % name)
        i2h_iuo = i2h_iuo + hs2h_iuo
        iuo = F.SliceChannel(i2h_iuo, num_outputs=3, name="%sslice" % name)
        in_gate = F.Activation(iuo[0], act_type="sigmoid", name="%si" % name)
        in_transform = F.Activation(iuo[1], act_type="tanh", name="%sc" % name)
        out_gate = F.Activation(iuo[2], act_type="sigmoid", name="%so" % name)
        next_c = in_gate * in_transform
        if children_states:
            next_c = F._internal._plus(F.sum(forget_gates * cs, axis=1), next_c,
                                       name="%sstate" % name)
        next_h = F._internal._mul(out_gate, F.Activation(next_c, act_type="tanh"),
                                  name="%sout" % name)
        return next_h, [next_h, next_c]


def _np_node(x, children, W, C):
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    wi, ws, wc, bi, bs, bc = W
    i2h = x @ wi.T + bi
    sl = np.split(i2h, 4, axis=1)
    hs = sum(h for h, _ in children) if children else np.zeros((1, C))
    iuo = np.concatenate([sl[0], sl[2], sl[3]], axis=1) + hs @ ws.T + bs
    i, u, o = np.split(iuo, 3, axis=1)
    c = sig(i) * np.tanh(u)
    for h_k, c_k in children:
        c = c + sig(sl[1] + bc + h_k @ wc) * c_k
    h = sig(o) * np.tanh(c)
    return h, c


def test_tree_lstm_cell_with_nd_internal_ops_matches_numpy():
    C, E = 3, 4
    cell = ChildSumLSTMCell(C, E)
    cell.initialize(mx.init.Xavier(magnitude=2.24))
    rs = np.random.RandomState(3)
    for p in (cell.i2h_bias, cell.hs2h_bias, cell.hc2h_bias):
        p.set_data(nd.array(rs.randn(*p.shape) * 0.5))
    emb = rs.randn(5, E)
    tree = _Tree(0, [_Tree(1, [_Tree(3), _Tree(4)]), _Tree(2)])
    inputs = nd.array(emb)
    inputs.attach_grad()
    with autograd.record():
        h, (h2, c) = cell(nd, inputs, tree)
        c.sum().backward()

    W = [p.data().asnumpy().astype(np.float64) for p in (
        cell.i2h_weight, cell.hs2h_weight, cell.hc2h_weight, cell.i2h_bias, cell.hs2h_bias,
        cell.hc2h_bias)]

    def run(e, t):
        kids = [run(e, k) for k in t.children]
        return _np_node(e[t.idx:t.idx + 1], kids, W, C)
    want_h, want_c = run(emb, tree)
    np.testing.assert_allclose(h.asnumpy(), want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.asnumpy(), want_c, rtol=1e-5, atol=1e-6)
    # d sum(c) / d inputs by central differences of the float64 statement
    eps, grad = 1e-6, np.zeros_like(emb)
    for idx in np.ndindex(*emb.shape):
        d = np.zeros_like(emb)
        d[idx] = eps
        grad[idx] = (run(emb + d, tree)[1].sum() - run(emb - d, tree)[1].sum()) / (2 * eps)
    np.testing.assert_allclose(inputs.grad.asnumpy(), grad, rtol=1e-4, atol=1e-5)


def test_nd_internal_names_mxnets_internal_ops():
    a, b = nd.array([1.0, 2.0]), nd.array([3.0, 5.0])
    np.testing.assert_array_equal(nd._internal._plus(a, b, name="s").asnumpy(), [4, 7])
    np.testing.assert_array_equal(nd._internal._mul(a, b).asnumpy(), [3, 10])
    np.testing.assert_array_equal(nd._internal._minus(a, b).asnumpy(), [-2, -3])
    np.testing.assert_array_equal(nd._internal._plus_scalar(a, scalar=2.0).asnumpy(), [3, 4])
    np.testing.assert_array_equal(nd._internal._rminus_scalar(a, scalar=1.0).asnumpy(), [0, -1])
    np.testing.assert_array_equal(nd._internal._div_scalar(a, scalar=4.0).asnumpy(),
                                  [0.25, 0.5])


def _write_idx(path, images, labels):
    with open(path + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 2051, *images.shape) + images.tobytes())
    with open(path + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def test_mnist_iterator_reads_idx_files_as_mxnets_mnistiter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("data")
    rs = np.random.RandomState(0)
    train_x = rs.randint(0, 256, (10, 28, 28)).astype(np.uint8)
    train_y = rs.randint(0, 10, 10).astype(np.uint8)
    _write_idx("data/train", train_x, train_y)
    _write_idx("data/t10k", train_x[:7], train_y[:7])
    train, val = mx.test_utils.get_mnist_iterator(4, (1, 28, 28))
    assert train.provide_data[0].name == "data" and train.provide_data[0].shape == (4, 1, 28, 28)
    assert train.provide_label[0].name == "softmax_label"
    assert train.provide_label[0].shape == (4,)

    seen = []
    for batch in train:
        x, y = batch.data[0], batch.label[0]
        assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and batch.pad == 0
        assert y.shape == (4,) and y.dtype == np.float32
        for img, lab in zip(x.asnumpy(), y.asnumpy()):
            k = int(np.flatnonzero((train_x / 256.0 == img[0]).all(axis=(1, 2)))[0])
            assert lab == train_y[k]
            seen.append(k)
    # two full batches of 10 rows (no padded third), each row once
    assert len(seen) == 8 and len(set(seen)) == 8
    train.reset()
    again = [int(np.flatnonzero((train_x / 256.0 == img[0]).all(axis=(1, 2)))[0])
             for batch in train for img in batch.data[0].asnumpy()]
    assert again == seen        # MXNet shuffles once, when the iterator is made

    flat, _ = mx.test_utils.get_mnist_iterator(5, (784,))
    batch = next(iter(flat))
    assert batch.data[0].shape == (5, 784)
    assert len(list(val)) == 1

    part = mx.io.MNISTIter(image="data/train-images-idx3-ubyte",
                           label="data/train-labels-idx1-ubyte", batch_size=2, shuffle=False,
                           flat=True, num_parts=3, part_index=1, silent=True)
    rows = [b.data[0].asnumpy() for b in part]
    # rows [int(10/3), int(20/3)) = [3, 6): one batch of two
    assert len(rows) == 1
    np.testing.assert_array_equal(rows[0], train_x[3:5].reshape(2, 784) / np.float32(256))


def test_contrib_io_dataloader_iter_pads_the_last_batch():
    from tracegrad.contrib.io import DataLoaderIter
    X = np.arange(20, dtype=np.float32).reshape(5, 4)
    y = np.arange(5, dtype=np.float32)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(X, y), batch_size=2)
    it = DataLoaderIter(loader, dtype="float32")
    assert it.batch_size == 2
    assert it.provide_data[0].shape == (2, 4) and it.provide_label[0].shape == (2,)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 1]
    np.testing.assert_array_equal(batches[2].data[0].asnumpy()[0], X[4])
    assert batches[2].data[0].shape == (2, 4) and batches[2].label[0].shape == (2,)
    it.reset()
    assert len(list(it)) == 3


def test_mnist_loader_batches_keep_the_labels_dtype(tmp_path):
    """mnist.py: MXNet's default_batchify_fn is nd.array(np.asarray(samples), dtype=its dtype),
    and returns a list for (data, label) samples."""
    rs = np.random.RandomState(2)
    images = rs.randint(0, 256, (6, 28, 28)).astype(np.uint8)
    labels = rs.randint(0, 10, 6).astype(np.uint8)
    with gzip.open(str(tmp_path / "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 2051, 6, 28, 28) + images.tobytes())
    with gzip.open(str(tmp_path / "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 2049, 6) + labels.tobytes())

    def transformer(data, label):
        data = data.reshape((-1,)).astype(np.float32) / 255
        return data, label

    loader = gluon.data.DataLoader(
        gluon.data.vision.MNIST(str(tmp_path), train=True, transform=transformer),
        batch_size=4, shuffle=False, last_batch="discard")
    batches = list(loader)
    assert len(batches) == 1 and isinstance(batches[0], list)
    data, label = batches[0]
    assert data.dtype == np.float32 and data.shape == (4, 784)
    np.testing.assert_allclose(data.asnumpy(), images[:4].reshape(4, -1) / np.float32(255),
                               rtol=1e-6)
    assert label.dtype == np.int32
    np.testing.assert_array_equal(label.asnumpy(), labels[:4])
    # Python numbers: int64 and float64, as np.asarray makes them
    assert next(iter(gluon.data.DataLoader([1, 2, 3], batch_size=3))).dtype == np.int64
    assert next(iter(gluon.data.DataLoader([0.5, 1.5], batch_size=2))).dtype == np.float64


def test_float16_products_accumulate_in_float32():
    """net.cast('float16') (image_classification.py --dtype float16): a half-precision product
    is the float32 product rounded once to half, as MXNet's pseudo-fp16 GEMM computes it (and
    fast: numpy's own half matmul is an unblocked loop)."""
    rs = np.random.RandomState(4)
    a = rs.randn(64, 1500).astype(np.float16)
    b = rs.randn(1500, 48).astype(np.float16)
    want = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16)
    got = nd.dot(nd.array(a, dtype=np.float16), nd.array(b, dtype=np.float16))
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.asnumpy(), want)
    dense = gluon.nn.Dense(48, in_units=1500, use_bias=False)
    dense.initialize()
    dense.cast("float16")
    dense.weight.set_data(nd.array(b.T, dtype=np.float16))
    np.testing.assert_array_equal(dense(nd.array(a, dtype=np.float16)).asnumpy(), want)
