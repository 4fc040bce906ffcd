"""Checks the Estimator and its handlers share: metric arguments, the metrics a handler refers
to, and the metric a loss suggests (MXNet 1.9.1's estimator/utils.py names)."""
from ....metric import Accuracy, CompositeEvalMetric, EvalMetric
from ...loss import SoftmaxCrossEntropyLoss


def _check_metrics(metrics):
    """A list of metrics from None, one metric, a list, or a CompositeEvalMetric (flattened)."""
    if isinstance(metrics, CompositeEvalMetric):
        return [m for child in metrics.metrics for m in _check_metrics(child)]
    if isinstance(metrics, EvalMetric):
        return [metrics]
    metrics = list(metrics or [])
    if not all(isinstance(m, EvalMetric) for m in metrics):
        raise ValueError("metrics must be a Metric or a list of Metric, refer to "
                         f"mxnet.metric.EvalMetric: {metrics}")
    return metrics


def _check_handler_metric_ref(handler, known_metrics):
    """Every metric a handler holds (attributes named like '*metric*') must be one of the
    estimator's own, or default and user handlers would report different numbers."""
    for attribute in dir(handler):
        if "metric" not in attribute:
            continue
        reference = getattr(handler, attribute)
        if not reference:
            continue
        for metric in reference if isinstance(reference, list) else [reference]:
            _check_metric_known(handler, metric, known_metrics)


def _check_metric_known(handler, metric, known_metrics):
    if metric not in known_metrics:
        raise ValueError(f"Event handler {type(handler).__name__} refers to a metric instance "
                         f"{metric} outside of the known training and validation metrics. "
                         f"Please use the metrics from estimator.train_metrics and "
                         f"estimator.val_metrics instead.")


def _suggest_metric_for_loss(loss):
    """Accuracy for a softmax cross-entropy loss, else nothing."""
    return Accuracy() if isinstance(loss, SoftmaxCrossEntropyLoss) else None
