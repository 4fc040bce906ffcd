"""`mx.metric`: evaluation metrics (update / get / reset) computed in numpy, off the graph."""
import numpy as np

from .base import MXNetError


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


class EvalMetric:
    """Base: accumulates sum_metric over num_inst; get() -> (name, sum_metric / num_inst)."""

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = name
        self.output_names, self.label_names = output_names, label_names
        self.reset()

    def reset(self):
        self.sum_metric, self.num_inst = 0.0, 0

    def get(self):
        if self.num_inst == 0:
            return self.name, float("nan")
        return self.name, self.sum_metric / self.num_inst

    def get_name_value(self):
        name, value = self.get()
        return [(name, value)]

    def update(self, labels, preds):
        raise NotImplementedError

    def __str__(self):
        return f"EvalMetric: {dict(self.get_name_value())}"


class Accuracy(EvalMetric):
    """Fraction of predictions equal to labels; class scores are argmax'ed along `axis`."""

    def __init__(self, axis=1, name="accuracy", **kwargs):
        super().__init__(name, **kwargs)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = _as_list(labels), _as_list(preds)
        if len(labels) != len(preds):
            raise MXNetError(f"Accuracy.update: {len(labels)} labels but {len(preds)} preds")
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if pred.shape != label.shape:
                pred = np.argmax(pred, axis=self.axis)
            pred, label = pred.astype(np.int64).ravel(), label.astype(np.int64).ravel()
            if pred.shape != label.shape:
                raise MXNetError(f"Accuracy.update: predictions of shape {pred.shape} do not "
                                 f"match labels of shape {label.shape}")
            self.sum_metric += float((pred == label).sum())
            self.num_inst += label.size


class Loss(EvalMetric):
    """Mean of the loss values passed as preds (labels are ignored)."""

    def __init__(self, name="loss", **kwargs):
        super().__init__(name, **kwargs)

    def update(self, _, preds):
        for pred in _as_list(preds):
            pred = _numpy(pred)
            self.sum_metric += float(pred.sum())
            self.num_inst += pred.size


class MSE(EvalMetric):
    """Mean squared error between labels and predictions, averaged per batch."""

    def __init__(self, name="mse", **kwargs):
        super().__init__(name, **kwargs)

    def update(self, labels, preds):
        for label, pred in zip(_as_list(labels), _as_list(preds)):
            label, pred = _numpy(label), _numpy(pred)
            self.sum_metric += float(np.mean((label.reshape(pred.shape) - pred) ** 2))
            self.num_inst += 1


_METRICS = {"acc": Accuracy, "accuracy": Accuracy, "loss": Loss, "mse": MSE}


def create(metric, **kwargs):
    """A metric by name ('acc', 'loss', 'mse') or instance."""
    if isinstance(metric, EvalMetric):
        return metric
    if metric not in _METRICS:
        raise MXNetError(f"unknown metric {metric!r}; known: {sorted(_METRICS)}")
    return _METRICS[metric](**kwargs)
