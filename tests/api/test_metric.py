"""mx.metric against MXNet 1.x's documented examples and formulas."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

PRED = [nd.array([[0.3, 0.7], [0, 1.0], [0.4, 0.6]])]
LABEL = [nd.array([0, 1, 1])]


def test_documented_examples():
    """The values in MXNet 1.x's metric docstrings."""
    def run(metric):
        metric.update(LABEL, PRED)
        return metric.get()
    assert run(mx.metric.Accuracy()) == ("accuracy", pytest.approx(2 / 3))
    assert run(mx.metric.F1()) == ("f1", pytest.approx(0.8))
    assert run(mx.metric.Perplexity(ignore_label=None)) == (
        "perplexity", pytest.approx(1.7710976285155853, rel=1e-6))
    assert run(mx.metric.CrossEntropy()) == ("cross-entropy",
                                             pytest.approx(0.57159948348999023, rel=1e-6))
    reg_pred = [nd.array(np.array([3, -0.5, 2, 7]).reshape(4, 1))]
    reg_label = [nd.array(np.array([2.5, 0.0, 2, 8]).reshape(4, 1))]
    for metric, value in ((mx.metric.MAE(), 0.5), (mx.metric.MSE(), 0.375),
                          (mx.metric.RMSE(), 0.612372457981)):
        metric.update(reg_label, reg_pred)
        assert metric.get()[1] == pytest.approx(value, rel=1e-6)
    composite = mx.metric.CompositeEvalMetric()
    for child in (mx.metric.Accuracy(), mx.metric.F1()):
        composite.add(child)
    composite.update(labels=LABEL, preds=PRED)
    names, values = composite.get()
    assert names == ["accuracy", "f1"] and values == pytest.approx([2 / 3, 0.8])


def test_regression_metrics_average_per_batch_means():
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal(n), rng.standard_normal(n)) for n in (3, 7)]
    mae, mse, rmse = mx.metric.MAE(), mx.metric.MSE(), mx.metric.RMSE()
    for label, pred in batches:
        for m in (mae, mse, rmse):
            m.update([nd.array(label)], [nd.array(pred)])
    diffs = [(l.astype(np.float32) - p.astype(np.float32)) for l, p in batches]
    assert mae.get()[1] == pytest.approx(np.mean([np.abs(d).mean() for d in diffs]), rel=1e-6)
    assert mse.get()[1] == pytest.approx(np.mean([(d ** 2).mean() for d in diffs]), rel=1e-6)
    assert rmse.get()[1] == pytest.approx(np.mean([np.sqrt((d ** 2).mean()) for d in diffs]),
                                          rel=1e-6)


def test_top_k_accuracy():
    rng = np.random.default_rng(3)
    scores = rng.random((10, 10))
    labels = rng.integers(0, 10, 10)
    acc = mx.metric.TopKAccuracy(top_k=3)
    assert acc.name == "top_k_accuracy_3"
    acc.update([nd.array(labels)], [nd.array(scores)])
    top3 = np.argsort(-scores, axis=1)[:, :3]
    want = np.mean([labels[i] in top3[i] for i in range(10)])
    assert acc.get()[1] == pytest.approx(want)
    with pytest.raises(ValueError, match="Accuracy"):
        mx.metric.TopKAccuracy(top_k=1)


def test_f1_macro_and_micro_over_batches():
    b1 = (nd.array([1, 1, 0, 0]), nd.array([[0, 1], [1, 0], [0, 1], [1, 0]]))  # tp fn fp tn
    b2 = (nd.array([1, 1, 1, 0]), nd.array([[0, 1], [0, 1], [0, 1], [1, 0]]))  # tp tp tp tn
    macro, micro = mx.metric.F1(), mx.metric.F1(average="micro")
    for label, pred in (b1, b2):
        macro.update([label], [pred])
        micro.update([label], [pred])
    assert macro.get()[1] == pytest.approx((0.5 + 1.0) / 2)
    p, r = 4 / 5, 4 / 5  # pooled: tp 4, fp 1, fn 1
    assert micro.get()[1] == pytest.approx(2 * p * r / (p + r))
    with pytest.raises(ValueError, match="binary"):
        mx.metric.F1().update([nd.array([0, 1, 2])], [nd.array(np.eye(3))])


def test_perplexity_ignores_label_and_reads_3d_predictions():
    rng = np.random.default_rng(1)
    probs = rng.random((2, 3, 4))
    probs /= probs.sum(-1, keepdims=True)
    labels = np.array([[0, 3, 1], [2, -1, -1]])
    perp = mx.metric.Perplexity(ignore_label=-1)
    perp.update([nd.array(labels)], [nd.array(probs)])
    keep = labels.ravel() != -1
    picked = probs.reshape(6, 4)[np.arange(6), np.clip(labels.ravel(), 0, 3)][keep]
    assert perp.get()[1] == pytest.approx(math.exp(-np.log(picked).mean()), rel=1e-5)


def test_create_with_names_lists_and_callables():
    assert isinstance(mx.metric.create("acc"), mx.metric.Accuracy)
    assert isinstance(mx.metric.create("ce"), mx.metric.CrossEntropy)
    assert isinstance(mx.metric.create("top_k_accuracy", top_k=5), mx.metric.TopKAccuracy)
    assert isinstance(mx.metric.create("Perplexity", ignore_label=None), mx.metric.Perplexity)

    def abs_err(label, pred):
        return np.abs(label - pred.argmax(axis=1)).mean()
    comp = mx.metric.create(["acc", mx.metric.F1(), abs_err])
    assert isinstance(comp, mx.metric.CompositeEvalMetric)
    comp.update(LABEL, PRED)
    names, values = comp.get()
    assert names == ["accuracy", "f1", "abs_err"]
    assert values == pytest.approx([2 / 3, 0.8, 1 / 3])
    custom = mx.metric.create(lambda l, p: (float((l == p.argmax(1)).sum()), l.size))
    custom.update(LABEL, PRED)
    assert custom.name.startswith("custom(") and custom.get()[1] == pytest.approx(2 / 3)
    np_metric = mx.metric.np(abs_err)
    np_metric.update(LABEL, PRED)
    assert np_metric.get() == ("abs_err", pytest.approx(1 / 3))
    with pytest.raises(mx.MXNetError, match="unknown metric"):
        mx.metric.create("nope")


def test_local_and_global_statistics():
    acc = mx.metric.Accuracy()
    acc.update(LABEL, PRED)
    acc.reset_local()
    assert math.isnan(acc.get()[1]) and acc.get_global()[1] == pytest.approx(2 / 3)
    acc.update([nd.array([0])], [nd.array([[1.0, 0.0]])])
    assert acc.get()[1] == 1.0 and acc.get_global()[1] == pytest.approx(3 / 4)
    acc.reset()
    assert math.isnan(acc.get_global()[1])
    ce = mx.metric.CrossEntropy()
    assert ce.get_name_value()[0][0] == "cross-entropy"
