"""mx.metric as MXNet 1.9.1's test_metric.py exercises it: F1 / MCC macro and micro, PCC (the
docstring's numbers), PearsonCorrelation macro and micro (one correlation over all batches),
Perplexity with ignore_label, TopK, CrossEntropy / NLL, updates with lists of several arrays,
create() of names and lists; each against hand counts or numpy."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

RS = np.random.RandomState(7)


def test_f1_and_mcc_macro_average_updates_micro_pools_counts():
    pred = nd.array([[0.3, 0.7], [0.8, 0.2], [0.4, 0.6], [0.6, 0.4]])
    label = nd.array([1, 0, 0, 1])                  # tp 1, fp 1, fn 1, tn 1
    second = ([nd.array([1, 1])], [nd.array([[0, 1], [0, 1]])])   # tp 2
    f1 = mx.metric.F1()
    f1.update([label], [pred])
    assert f1.get() == ("f1", pytest.approx(0.5))
    f1.update(*second)
    assert f1.get()[1] == pytest.approx((0.5 + 1.0) / 2)
    micro = mx.metric.F1(average="micro")
    micro.update([label], [pred])
    micro.update(*second)
    assert micro.get()[1] == pytest.approx(2 * 0.75 * 0.75 / 1.5)     # tp 3 fp 1 fn 1
    mcc = mx.metric.MCC()
    preds5 = nd.array([[0.3, 0.7], [0.8, 0.2], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]])
    mcc.update([nd.array([1, 0, 0, 1, 1])], [preds5])
    tp, fp, fn, tn = 2, 1, 1, 1
    assert mcc.get()[1] == pytest.approx(
        (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))


def test_pcc_reproduces_mxnets_docstring_and_handles_more_classes():
    fp, fn, tp, tn = 1000, 1, 10000, 1
    preds = [nd.array([[.3, .7]] * fp + [[.7, .3]] * tn + [[.7, .3]] * fn + [[.3, .7]] * tp)]
    labels = [nd.array([0] * (fp + tn) + [1] * (fn + tp))]
    f1, pcc = mx.metric.F1(), mx.metric.create("pcc")
    f1.update(labels, preds)
    pcc.update(labels, preds)
    assert f1.get()[1] == pytest.approx(0.95233560306652054)
    assert pcc.get() == ("pcc", pytest.approx(0.01917751877733392))
    # three classes, predictions as class ids: the multiclass correlation from the confusion
    # matrix (rows predictions, columns labels)
    label = np.array([0, 1, 2, 2, 1, 0, 2])
    pred = np.array([0, 2, 2, 2, 1, 0, 1])
    m = mx.metric.PCC()
    m.update([nd.array(label[:3])], [nd.array(pred[:3])])
    m.update([nd.array(label[3:])], [nd.array(pred[3:])])
    c = np.zeros((3, 3))
    np.add.at(c, (pred, label), 1)
    n, x, y = c.sum(), c.sum(1), c.sum(0)
    want = (np.trace(c) * n - x @ y) / np.sqrt((n * n - x @ x) * (n * n - y @ y))
    assert m.get()[1] == pytest.approx(want) and m.num_inst == 2
    m.reset_local()
    assert np.isnan(m.get()[1]) and m.get_global()[1] == pytest.approx(want)


def test_pearson_correlation_macro_and_micro():
    a = RS.randn(12)
    b = a + RS.randn(12) * 0.7
    labels = [nd.array(a[:5]), nd.array(a[5:])]
    preds = [nd.array(b[:5]), nd.array(b[5:])]
    macro = mx.metric.PearsonCorrelation()
    macro.update(labels, preds)
    want = (np.corrcoef(a[:5], b[:5])[0, 1] + np.corrcoef(a[5:], b[5:])[0, 1]) / 2
    assert macro.get() == ("pearsonr", pytest.approx(want, rel=1e-5))
    micro = mx.metric.create("pearsonr", average="micro")
    micro.update(labels[:1], preds[:1])
    micro.update(labels[1:], preds[1:])
    assert micro.get()[1] == pytest.approx(np.corrcoef(a, b)[0, 1], rel=1e-5)
    micro.reset()
    assert np.isnan(micro.get()[1])
    with pytest.raises(ValueError):
        mx.metric.PearsonCorrelation(average="weighted")


def test_perplexity_topk_cross_entropy_and_nll():
    p = RS.rand(4, 3)
    p /= p.sum(1, keepdims=True)
    label = np.array([0, 2, 1, 1])
    picked = p[np.arange(4), label]
    m = mx.metric.Perplexity(ignore_label=None)
    m.update([nd.array(label)], [nd.array(p)])
    assert m.get()[1] == pytest.approx(np.exp(-np.log(picked).mean()), rel=1e-5)
    m = mx.metric.Perplexity(ignore_label=1)
    m.update([nd.array(label)], [nd.array(p)])
    keep = label != 1
    assert m.get()[1] == pytest.approx(np.exp(-np.log(picked[keep]).sum() / keep.sum()),
                                       rel=1e-5)
    top = mx.metric.TopKAccuracy(top_k=2)
    top.update([nd.array([2, 2, 0])], [nd.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1],
                                                 [0.2, 0.3, 0.5]])])
    assert top.get() == ("top_k_accuracy_2", pytest.approx(1 / 3))
    for metric, name in [(mx.metric.CrossEntropy(), "cross-entropy"),
                         (mx.metric.NegativeLogLikelihood(), "nll-loss")]:
        metric.update([nd.array(label[:2]), nd.array(label[2:])],
                      [nd.array(p[:2]), nd.array(p[2:])])
        assert metric.get() == (name, pytest.approx(-np.log(picked + 1e-12).mean(), rel=1e-5))


def test_create_lists_and_regression_metrics_with_1d_labels():
    comp = mx.metric.create(["acc", "mae", mx.metric.RMSE()])
    assert isinstance(comp, mx.metric.CompositeEvalMetric)
    comp.update([nd.array([1, 0])], [nd.array([[0.1, 0.9], [0.2, 0.8]])])
    names, values = comp.get()
    assert names == ["accuracy", "mae", "rmse"] and values[0] == 0.5
    mse = mx.metric.MSE()
    mse.update([nd.array([1, 2])], [nd.array([[2], [4]])])   # (2,) labels vs (2, 1) preds
    assert mse.get()[1] == pytest.approx(2.5)
    loss = mx.metric.Loss()
    loss.update(None, [nd.array([1, 2, 3]), nd.array([4])])
    assert loss.get() == ("loss", 2.5)
    custom = mx.metric.CustomMetric(lambda l, p: (np.abs(l - p).sum(), l.size), name="l1")
    custom.update([nd.array([1, 2])], [nd.array([1, 4])])
    assert custom.get() == ("l1", 1.0)
