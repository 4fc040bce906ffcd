"""`mx.metric.MCC` and `mx.metric.PCC` (MXNet 1.9.1): the Matthews correlation coefficient of a
binary classifier (class 1 positive, scores argmax'ed over axis 1), from the counts F1 keeps,
and its multiclass form from a confusion matrix."""
import math

import numpy

from .metric import EvalMetric, _BinaryCounts, _numpy, check_label_shapes, register


def matthewscc(c):
    """(TP TN - FP FN) / sqrt of the product of the four margins, zero margins counted as 1;
    0 with no examples."""
    if not sum(c.values()):
        return 0.0
    tp, fp, fn, tn = (float(c[k]) for k in ("tp", "fp", "fn", "tn"))
    denom = 1.0
    for t in (tp + fp, tp + fn, tn + fp, tn + fn):
        if t != 0.0:
            denom *= t
    return (tp * tn - fp * fn) / math.sqrt(denom)


@register
class MCC(EvalMetric):
    """average='macro' averages the MCC of each update() call; 'micro' computes one MCC from
    the counts of all of them."""

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        self._average = average
        self._metrics = _BinaryCounts()
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self._metrics.update_binary_stats(label, pred)
        m = self._metrics
        if self._average == "macro":
            self.sum_metric += matthewscc(m.local)
            self.global_sum_metric += matthewscc(m.total)
            self.num_inst += 1
            self.global_num_inst += 1
            m.reset_stats()
        else:
            self.sum_metric = matthewscc(m.local) * m.total_examples
            self.global_sum_metric = matthewscc(m.total) * m.global_total_examples
            self.num_inst, self.global_num_inst = m.total_examples, m.global_total_examples

    def reset(self):
        super().reset()
        if hasattr(self, "_metrics"):
            self._metrics.reset_stats()

    def reset_local(self):
        super().reset_local()
        self._metrics.local_reset_stats()


@register
class PCC(EvalMetric):
    """The multiclass Matthews correlation (MXNet 1.9.1's `mx.metric.PCC`, 'pcc') from a K x K
    confusion matrix of (prediction, label) counts that grows with the largest class seen (K
    starts at 2). Predictions shaped like the labels are class ids, else argmax'ed over axis 1.
    Each update() counts one instance; get() is the coefficient of the local matrix."""

    def __init__(self, name="pcc", output_names=None, label_names=None, has_global_stats=True):
        self.k = 2
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=has_global_stats)

    def _grow(self, inc):
        pad = ((0, inc), (0, inc))
        self.lcm = numpy.pad(self.lcm, pad)
        self.gcm = numpy.pad(self.gcm, pad)
        self.k += inc

    @staticmethod
    def _calc_mcc(cmat):
        n = cmat.sum()
        x, y = cmat.sum(axis=1), cmat.sum(axis=0)
        cov_xx, cov_yy = numpy.sum(x * (n - x)), numpy.sum(y * (n - y))
        if cov_xx == 0 or cov_yy == 0:
            return float("nan")
        cov_xy = numpy.sum(cmat.diagonal() * n - x * y)
        return cov_xy / (cov_xx * cov_yy) ** 0.5

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _numpy(label).astype(numpy.int32)
            pred = _numpy(pred)
            pred = pred.argmax(axis=1) if pred.shape != label.shape else pred
            pred = pred.astype(numpy.int32)
            label, pred = label.ravel(), pred.ravel()
            if label.size and min(label.min(), pred.min()) < 0:
                raise ValueError("PCC: class ids must be >= 0")
            n = int(max(pred.max(), label.max())) if label.size else 0
            if n >= self.k:
                self._grow(n + 1 - self.k)
            counts = numpy.zeros((self.k, self.k))
            numpy.add.at(counts, (pred, label), 1)
            self.lcm += counts
            self.gcm += counts
        self.num_inst += 1
        self.global_num_inst += 1

    @property
    def sum_metric(self):
        return self._calc_mcc(self.lcm) * self.num_inst

    @sum_metric.setter
    def sum_metric(self, _):
        """The coefficient is computed from the matrix: assignments are ignored."""

    @property
    def global_sum_metric(self):
        return self._calc_mcc(self.gcm) * self.global_num_inst

    @global_sum_metric.setter
    def global_sum_metric(self, _):
        """The coefficient is computed from the matrix: assignments are ignored."""

    def reset(self):
        self.global_num_inst = 0
        self.gcm = numpy.zeros((self.k, self.k))
        self.reset_local()

    def reset_local(self):
        self.num_inst = 0
        self.lcm = numpy.zeros((self.k, self.k))
