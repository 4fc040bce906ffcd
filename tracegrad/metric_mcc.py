"""`mx.metric.MCC` (MXNet 1.9.1): the Matthews correlation coefficient of a binary classifier
(class 1 positive, scores argmax'ed over axis 1), from the counts F1 keeps."""
import math

from .metric import EvalMetric, _BinaryCounts, check_label_shapes, register


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
