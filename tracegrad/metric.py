"""`mx.metric`: evaluation metrics (update / get / reset), computed in numpy off the graph.

MXNet 1.x semantics throughout, including its averaging conventions: Accuracy, TopKAccuracy,
CrossEntropy and Perplexity average over samples; MAE, MSE and RMSE average the per-batch
means (one instance per (label, pred) pair); F1 averages per-update scores ("macro") or pools
the counts ("micro"). Metrics built with global statistics also keep `global_sum_metric` /
`global_num_inst`, which `reset_local()` leaves alone (`get_global()` reads them).
"""
import math
from collections import OrderedDict

import numpy

from .base import MXNetError

_REGISTRY = {}


def register(klass):
    """Register an EvalMetric subclass under its lower-case class name."""
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def alias(*names):
    """Register a metric under further names ('acc', 'ce', ...)."""
    def reg(klass):
        for name in names:
            _REGISTRY[name.lower()] = klass
        return klass
    return reg


def _numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else numpy.asarray(x)


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Raise ValueError unless labels and preds agree in length (or shape); with wrap, a single
    array becomes a one-element list."""
    a, b = (labels.shape, preds.shape) if shape else (len(labels), len(preds))
    if a != b:
        raise ValueError(f"Shape of labels {a} does not match shape of predictions {b}")
    if wrap:
        labels = [labels] if hasattr(labels, "asnumpy") else labels
        preds = [preds] if hasattr(preds, "asnumpy") else preds
    return labels, preds


class EvalMetric:
    """Base: accumulates sum_metric over num_inst; get() -> (name, sum_metric / num_inst)."""

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names, self.label_names = output_names, label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self):
        """Arguments that recreate this metric with create(**config)."""
        config = dict(self._kwargs)
        config.update(metric=type(self).__name__, name=self.name,
                      output_names=self.output_names, label_names=self.label_names)
        return config

    def update_dict(self, label, pred):
        """update() with name -> array dicts, picking output_names / label_names if set."""
        pred = [pred[n] for n in self.output_names] if self.output_names is not None \
            else list(pred.values())
        label = [label[n] for n in self.label_names] if self.label_names is not None \
            else list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        raise NotImplementedError(f"{type(self).__name__} must implement update")

    def _add(self, value, count):
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def reset(self):
        self.num_inst, self.sum_metric = 0, 0.0
        self.global_num_inst, self.global_sum_metric = 0, 0.0

    def reset_local(self):
        """Reset the local statistics only (global ones keep accumulating)."""
        self.num_inst, self.sum_metric = 0, 0.0

    def get(self):
        if self.num_inst == 0:
            return self.name, float("nan")
        return self.name, self.sum_metric / self.num_inst

    def get_global(self):
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return self.name, float("nan")
        return self.name, self.global_sum_metric / self.global_num_inst

    def get_name_value(self):
        return _zip_name_value(*self.get())

    def get_global_name_value(self):
        return _zip_name_value(*self.get_global())


def _zip_name_value(name, value):
    name = name if isinstance(name, list) else [name]
    value = value if isinstance(value, list) else [value]
    return list(zip(name, value))


def create(metric, *args, **kwargs):
    """A metric from a name ('acc', 'f1', 'rmse', ...), an EvalMetric, a callable
    feval(label, pred) (a CustomMetric), or a list of those (a CompositeEvalMetric)."""
    if isinstance(metric, EvalMetric):
        return metric
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    if isinstance(metric, dict):
        return create(**metric)
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a name, an EvalMetric, a callable or a list, got "
                        f"{metric!r}")
    if metric.startswith(("{", "[")):   # MXNet's registry: a JSON config (get_config's dump)
        config = _json_config(metric, args, kwargs)
        return create(config[0], **config[1]) if isinstance(config, tuple) else \
            create(**config)
    klass = _REGISTRY.get(metric.lower())
    if klass is None:
        raise MXNetError(f"unknown metric {metric!r}; known: {sorted(_REGISTRY)}")
    return klass(*args, **kwargs)


def _json_config(text, args, kwargs):
    """'{"metric": name, ...}' -> its keywords; '[name, {...}]' -> (name, keywords as a
    dict): MXNet's registry forms, which take nothing else beside them."""
    from .untrusted import parse_json
    if args or kwargs:
        raise MXNetError("metric.create: a JSON config takes no other arguments")
    config = parse_json(text, "metric.create's JSON config")
    if isinstance(config, dict) and isinstance(config.get("metric"), str):
        return config
    if isinstance(config, list) and len(config) == 2 and isinstance(config[0], str) and \
            isinstance(config[1], dict):
        return (config[0], config[1])
    raise MXNetError(f"metric.create: a JSON config is {{\"metric\": name, ...}} or "
                     f"[name, {{...}}], got {text!r}")


@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; get() returns (list of names, list of values)."""

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric):
        self.metrics.append(create(metric))

    def get_metric(self, index):
        try:
            return self.metrics[index]
        except IndexError:
            raise ValueError(f"Metric index {index} is out of range 0 and "
                             f"{len(self.metrics)}") from None

    def update_dict(self, labels, preds):
        if self.label_names is not None:
            labels = OrderedDict(i for i in labels.items() if i[0] in self.label_names)
        if self.output_names is not None:
            preds = OrderedDict(i for i in preds.items() if i[0] in self.output_names)
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        for metric in getattr(self, "metrics", ()):
            metric.reset()

    def reset_local(self):
        for metric in self.metrics:
            metric.reset_local()

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            names.extend(name if isinstance(name, list) else [name])
            values.extend(value if isinstance(value, list) else [value])
        return names, values

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def get_config(self):
        config = super().get_config()
        config.update(metrics=[m.get_config() for m in self.metrics])
        return config


# ------------------------------------------------------------------ classification
@register
@alias("acc")
class Accuracy(EvalMetric):
    """Fraction of predictions equal to labels; class scores are argmax'ed along `axis`."""

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if pred.shape != label.shape:
                pred = numpy.argmax(pred, axis=self.axis)
            pred, label = pred.astype(numpy.int32).ravel(), label.astype(numpy.int32).ravel()
            check_label_shapes(label, pred)
            self._add(int((pred == label).sum()), label.size)


@register
@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the `top_k` highest scores (rows of a 2-d
    prediction); named 'top_k_accuracy_<k>'."""

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.top_k = top_k
        if top_k <= 1:
            raise ValueError("TopKAccuracy: please use Accuracy if top_k is no more than 1")
        self.name += f"_{top_k}"

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred = _numpy(pred).astype(numpy.float32)
            if pred.ndim > 2:
                raise ValueError(f"TopKAccuracy: predictions should be no more than 2-d, got "
                                 f"shape {pred.shape}")
            label = _numpy(label).astype(numpy.int32)
            check_label_shapes(label, pred)
            if pred.ndim == 1:
                correct = int((pred.astype(numpy.int32) == label.ravel()).sum())
            else:
                k = min(pred.shape[1], self.top_k)
                top = numpy.argsort(pred, axis=1, kind="stable")[:, pred.shape[1] - k:]
                correct = int((top == label.reshape(-1, 1)).any(axis=1).sum())
            self._add(correct, pred.shape[0])


class _BinaryCounts:
    """True/false positive/negative counts of a binary classifier, local and global."""

    def __init__(self):
        self.reset_stats()

    def update_binary_stats(self, label, pred):
        pred, label = _numpy(pred), _numpy(label).astype(numpy.int32)
        pred_label = numpy.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise ValueError(f"{type(self).__name__}: F1 currently only supports binary "
                             f"classification.")
        pred_true, label_true = pred_label == 1, label.ravel() == 1
        counts = {"tp": pred_true & label_true, "fp": pred_true & ~label_true,
                  "fn": ~pred_true & label_true, "tn": ~pred_true & ~label_true}
        for key, hits in counts.items():
            n = int(hits.sum())
            self.local[key] += n
            self.total[key] += n

    @staticmethod
    def _fscore(c):
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] > 0 else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] > 0 else 0.0
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.0

    @property
    def fscore(self):
        return self._fscore(self.local)

    @property
    def global_fscore(self):
        return self._fscore(self.total)

    @property
    def total_examples(self):
        return sum(self.local.values())

    @property
    def global_total_examples(self):
        return sum(self.total.values())

    def local_reset_stats(self):
        self.local = dict.fromkeys(("tp", "fp", "fn", "tn"), 0)

    def reset_stats(self):
        self.local_reset_stats()
        self.total = dict.fromkeys(("tp", "fp", "fn", "tn"), 0)


@register
class F1(EvalMetric):
    """F1 = 2 precision recall / (precision + recall) of a binary classifier (class 1 is
    positive; scores are argmax'ed over axis 1). average='macro' averages the F1 of each
    update() call; 'micro' computes one F1 from all counts."""

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        self.average = average
        self.metrics = _BinaryCounts()
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred)
        m = self.metrics
        if self.average == "macro":
            self._add(m.fscore, 1)
            self.global_sum_metric += m.global_fscore - m.fscore  # global: pooled counts
            m.reset_stats()
        else:
            self.sum_metric = m.fscore * m.total_examples
            self.global_sum_metric = m.global_fscore * m.global_total_examples
            self.num_inst, self.global_num_inst = m.total_examples, m.global_total_examples

    def reset(self):
        super().reset()
        self.metrics.reset_stats()

    def reset_local(self):
        super().reset_local()
        self.metrics.local_reset_stats()


@register
class Perplexity(EvalMetric):
    """exp(-mean log p(label)) over all labels not equal to `ignore_label` (None counts all);
    probabilities are picked along `axis` and floored at 1e-10."""

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None,
                 label_names=None):
        super().__init__(name, ignore_label=ignore_label, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label, self.axis = ignore_label, axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        loss, num = 0.0, 0
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if label.size != pred.size // pred.shape[self.axis]:
                raise ValueError(f"Perplexity: shape mismatch: {label.shape} vs. {pred.shape}")
            label = label.reshape(-1)
            probs = numpy.moveaxis(pred, self.axis, -1).reshape(label.size, -1)
            picked = probs[numpy.arange(label.size),
                           numpy.clip(label.astype(numpy.int32), 0, probs.shape[1] - 1)]
            if self.ignore_label is not None:
                ignore = (label == self.ignore_label).astype(picked.dtype)
                num -= int(ignore.sum())
                picked = picked * (1 - ignore) + ignore
            loss -= float(numpy.log(numpy.maximum(picked.dtype.type(1e-10), picked)).sum())
            num += picked.size
        self._add(loss, num)

    def get(self):
        if self.num_inst == 0:
            return self.name, float("nan")
        return self.name, math.exp(self.sum_metric / self.num_inst)

    def get_global(self):
        if self.global_num_inst == 0:
            return self.name, float("nan")
        return self.name, math.exp(self.global_sum_metric / self.global_num_inst)


# ------------------------------------------------------------------ regression
class _PerBatchRegression(EvalMetric):
    """Adds one per-batch value per (label, pred) pair; 1-d arrays are read as columns."""

    def __init__(self, name, output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    @staticmethod
    def batch_value(diff):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if label.ndim == 1:
                label = label.reshape(label.shape[0], 1)
            if pred.ndim == 1:
                pred = pred.reshape(pred.shape[0], 1)
            self._add(float(self.batch_value(label - pred)), 1)


@register
class MAE(_PerBatchRegression):
    """Mean absolute error, averaged over batches."""

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    @staticmethod
    def batch_value(diff):
        return numpy.abs(diff).mean()


@register
class MSE(_PerBatchRegression):
    """Mean squared error, averaged over batches."""

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    @staticmethod
    def batch_value(diff):
        return (diff ** 2.0).mean()


@register
class RMSE(_PerBatchRegression):
    """Root mean squared error of each batch, averaged over batches."""

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    @staticmethod
    def batch_value(diff):
        return numpy.sqrt((diff ** 2.0).mean())


@register
@alias("ce")
class CrossEntropy(EvalMetric):
    """Mean over samples of -log(p[label] + eps), p the predicted class probabilities."""

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label).ravel(), _numpy(pred)
            if label.shape[0] != pred.shape[0]:
                raise ValueError(f"{type(self).__name__}: {label.shape[0]} labels for "
                                 f"{pred.shape[0]} predictions")
            prob = pred[numpy.arange(label.shape[0]), numpy.int64(label)]
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@register
@alias("nll_loss")
class NegativeLogLikelihood(CrossEntropy):
    """CrossEntropy under the name 'nll-loss'."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of flattened labels and predictions. average='macro' (the default)
    averages each pair's correlation; 'micro' computes one correlation over everything seen
    since the last reset, from running means, sums of squares and co-deviations (Welford)."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        if average not in ("macro", "micro"):
            raise ValueError(f"PearsonCorrelation: average must be 'macro' or 'micro', got "
                             f"{average!r}")
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def reset(self):
        super().reset()
        self._count, self._mean_l, self._mean_p = 0, 0.0, 0.0
        self._sse_l, self._sse_p, self._co = 0.0, 0.0, 0.0

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            check_label_shapes(label, pred, False, True)
            label = label.ravel().astype(numpy.float64)
            pred = pred.ravel().astype(numpy.float64)
            if self.average == "macro":
                self._add(float(numpy.corrcoef(pred, label)[0, 1]), 1)
                continue
            self.num_inst += 1
            self.global_num_inst += 1
            self._count += label.size
            delta_l = label - self._mean_l
            self._mean_l += float(numpy.sum(delta_l / self._count))
            self._sse_l += float(numpy.sum(delta_l * (label - self._mean_l)))
            # co-deviation against the new label mean and the old prediction mean
            self._co += float(numpy.sum((label - self._mean_l) * (pred - self._mean_p)))
            delta_p = pred - self._mean_p
            self._mean_p += float(numpy.sum(delta_p / self._count))
            self._sse_p += float(numpy.sum(delta_p * (pred - self._mean_p)))

    def get(self):
        if self.average == "macro":
            return super().get()
        if self.num_inst == 0:
            return self.name, float("nan")
        return self.name, self._co / numpy.sqrt(self._sse_p * self._sse_l)

    def get_global(self):
        """'micro' keeps one set of running sums (reset_local keeps them, as MXNet's): the
        global value is the correlation over everything since reset()."""
        if self.average == "macro" or self.global_num_inst == 0:
            return super().get_global()
        return self.name, self._co / numpy.sqrt(self._sse_p * self._sse_l)


@register
class Loss(EvalMetric):
    """Mean of the loss values passed as preds (labels are ignored)."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _, preds):
        preds = [preds] if hasattr(preds, "asnumpy") else preds
        for pred in preds:
            pred = _numpy(pred)
            self._add(float(pred.sum()), pred.size)


@register
class CustomMetric(EvalMetric):
    """A metric from feval(label, pred) on numpy arrays, returning a value per batch or a
    (sum_metric, num_inst) pair."""

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if name is None:
            name = feval.__name__
            if "<" in name:
                name = f"custom({name})"
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self._feval, self._allow_extra_outputs = feval, allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        for pred, label in zip(preds, labels):
            value = self._feval(_numpy(label), _numpy(pred))
            if isinstance(value, tuple):
                self._add(*value)
            else:
                self._add(value, 1)


def np_metric(numpy_feval, name=None, allow_extra_outputs=False):
    """A CustomMetric from a numpy function feval(label, pred) (MXNet's `mx.metric.np`)."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)


np = np_metric  # MXNet's name: mx.metric.np(feval)
from .metric_mcc import MCC, PCC  # noqa: E402,F401
