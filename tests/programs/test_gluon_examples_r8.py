"""MXNet 1.9.1's example/gluon programs, shortened to a few synthetic steps:
embedding_learning (MarginNet with DistanceWeightedSampling, a MarginLoss built on
gluon.loss._apply_weighting and called with the class-specific `beta` Parameter itself);
sn_gan (an ArrayDataset of NDArray images whose transform resizes them with mx.image)."""
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
