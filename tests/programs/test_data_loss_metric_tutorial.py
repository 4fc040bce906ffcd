"""MXNet's data/datasets, loss and metric tutorials shortened to synthetic data: ArrayDataset,
transform_first, DataLoader batching (last_batch, batchify_fn), Gluon losses against numpy
formulas, metrics (Accuracy, TopK, F1, MAE, Composite) against hand counts."""
import numpy as np

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon.data.vision import transforms


def test_array_dataset_transforms_and_dataloader_batches():
    # (images as float32 0..255: uint8 arrays are another helper's work)
    X = (np.arange(10 * 4 * 4 * 3) % 256).astype(np.float32).reshape(10, 4, 4, 3)
    y = np.arange(10, dtype=np.float32)
    ds = gluon.data.ArrayDataset(nd.array(X), y)
    assert len(ds) == 10 and ds[3][1] == 3
    ds = ds.transform_first(transforms.Compose([transforms.ToTensor(),
                                                transforms.Normalize(0.5, 0.25)]))
    img, label = ds[2]
    assert img.shape == (3, 4, 4) and img.dtype == np.float32
    np.testing.assert_allclose(img.asnumpy(), (X[2].transpose(2, 0, 1) / 255.0 - 0.5) / 0.25,
                               rtol=1e-5)
    sizes = [b[0].shape[0] for b in gluon.data.DataLoader(ds, batch_size=4)]
    assert sizes == [4, 4, 2]
    assert [b[0].shape[0] for b in gluon.data.DataLoader(ds, 4, last_batch="discard")] == [4, 4]
    assert [b[0].shape[0] for b in gluon.data.DataLoader(ds, 4, last_batch="rollover")] == [4, 4]
    labels = np.concatenate([b[1].asnumpy() for b in gluon.data.DataLoader(ds, 3, shuffle=True)])
    assert sorted(labels.tolist()) == list(range(10))

    def pad_batchify(samples):
        longest = max(len(s) for s in samples)
        return nd.array([list(s) + [0] * (longest - len(s)) for s in samples])
    seqs = gluon.data.SimpleDataset([[1], [2, 3], [4, 5, 6]])
    (batch,) = list(gluon.data.DataLoader(seqs, batch_size=3, batchify_fn=pad_batchify))
    np.testing.assert_array_equal(batch.asnumpy(), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])


def test_losses_match_their_formulas():
    rs = np.random.RandomState(0)
    pred = rs.randn(4, 3).astype(np.float32)
    label = np.array([0, 2, 1, 2], dtype=np.float32)
    p, l = nd.array(pred), nd.array(label)
    logp = pred - np.log(np.exp(pred).sum(1, keepdims=True))
    np.testing.assert_allclose(gluon.loss.SoftmaxCrossEntropyLoss()(p, l).asnumpy(),
                               -logp[np.arange(4), label.astype(int)], rtol=1e-5)
    target = rs.randn(4, 3).astype(np.float32)
    t = nd.array(target)
    np.testing.assert_allclose(gluon.loss.L2Loss()(p, t).asnumpy(),
                               (0.5 * (pred - target) ** 2).mean(1), rtol=1e-5)
    np.testing.assert_allclose(gluon.loss.L1Loss()(p, t).asnumpy(),
                               np.abs(pred - target).mean(1), rtol=1e-5)
    z = (rs.rand(4, 3) > 0.5).astype(np.float32)
    bce = np.maximum(pred, 0) - pred * z + np.log1p(np.exp(-np.abs(pred)))
    np.testing.assert_allclose(gluon.loss.SigmoidBinaryCrossEntropyLoss()(p, nd.array(z))
                               .asnumpy(), bce.mean(1), rtol=1e-5)
    d = np.abs(pred - target)
    huber = np.where(d > 1, d - 0.5, 0.5 * d ** 2)
    np.testing.assert_allclose(gluon.loss.HuberLoss()(p, t).asnumpy(), huber.mean(1), rtol=1e-5)
    w = nd.array([[1.0], [0.0], [2.0], [1.0]])
    np.testing.assert_allclose(gluon.loss.L2Loss()(p, t, w).asnumpy(),
                               (0.5 * (pred - target) ** 2).mean(1) * [1, 0, 2, 1], rtol=1e-5)
    # KLDivLoss with from_logits=False, as the kl_divergence tutorial uses it
    q = np.array([[0.2, 0.5, 0.2, 0.1]], dtype=np.float32)
    pr = np.array([[0.3, 0.4, 0.1, 0.2]], dtype=np.float32)
    kl = gluon.loss.KLDivLoss(from_logits=False)(nd.array(np.log(pr)), nd.array(q))
    logsm = np.log(pr) - np.log(np.exp(np.log(pr)).sum())
    np.testing.assert_allclose(kl.asnumpy(), (q * (np.log(q + 1e-12) - logsm)).sum(1),
                               rtol=1e-5)


def test_metrics_count_like_mxnet():
    labels = nd.array([0, 1, 1, 0])
    preds = nd.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    acc = mx.metric.Accuracy()
    acc.update([labels], [preds])
    assert acc.get() == ("accuracy", 0.75)
    topk = mx.metric.TopKAccuracy(top_k=2)
    topk.update([nd.array([2, 0])], [nd.array([[0.1, 0.5, 0.4], [0.2, 0.3, 0.5]])])
    assert topk.get() == ("top_k_accuracy_2", 0.5)
    f1 = mx.metric.F1()
    f1.update([labels], [preds])
    # tp=1 fp=0 fn=1: precision 1, recall 0.5
    np.testing.assert_allclose(f1.get()[1], 2 * 1 * 0.5 / 1.5)
    mae = mx.metric.MAE()
    mae.update([nd.array([1.0, 2.0])], [nd.array([1.5, 1.0])])
    mae.update([nd.array([0.0])], [nd.array([2.0])])
    np.testing.assert_allclose(mae.get()[1], (0.75 + 2.0) / 2)    # mean of per-batch means
    comp = mx.metric.CompositeEvalMetric()
    comp.add(mx.metric.Accuracy())
    comp.add(mx.metric.create("ce"))
    comp.update([labels], [preds])
    names, values = comp.get()
    assert names == ["accuracy", "cross-entropy"]
    np.testing.assert_allclose(values[1], -np.log([0.7, 0.8, 0.4, 0.9]).mean(), rtol=1e-6)
    acc.reset()
    assert np.isnan(acc.get()[1])
