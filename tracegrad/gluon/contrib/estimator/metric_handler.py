"""MetricHandler: updates the metrics from each batch's predictions, labels and losses."""
from ....metric import Loss as LossMetric
from .events import BatchEnd, EpochBegin
from .utils import _check_metrics


class MetricHandler(EpochBegin, BatchEnd):
    """Reset `metrics` at epoch begin; at batch end update each with (label, pred), or a loss
    metric (mx.metric.Loss) with the batch's losses. Priority -1000: before the handlers that
    read the metrics."""

    def __init__(self, metrics, priority=-1000):
        self.metrics = _check_metrics(metrics)
        self.priority = priority

    def epoch_begin(self, estimator, *args, **kwargs):
        for metric in self.metrics:
            metric.reset()

    def batch_end(self, estimator, *args, **kwargs):
        pred, label, loss = kwargs["pred"], kwargs["label"], kwargs["loss"]
        for metric in self.metrics:
            if isinstance(metric, LossMetric):
                metric.update(0, loss)
            else:
                metric.update(label, pred)
