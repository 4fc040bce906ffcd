"""Estimator: fit() / evaluate() loops that raise events to handlers (MXNet 1.9.1).

One training batch is BatchProcessor.fit_batch (forward and loss under autograd.record, then
backward) followed by the batch-end handlers in priority order: GradientUpdateHandler's
trainer.step first (-2000), then the metrics (-1000), user handlers (0), logging (+inf). That
is the step users write by hand, so step capture compiles it like theirs."""
import copy
import logging
import sys
import warnings

from ....context import Context, cpu, gpu, num_gpus
from ....metric import Loss as LossMetric
from ...data import DataLoader
from ...loss import Loss as GluonLoss
from ...trainer import Trainer
from .batch_processor import BatchProcessor
from .events import (BatchBegin, BatchEnd, EpochBegin, EpochEnd, TrainBegin, TrainEnd,
                     _check_event_handlers)
from .gradient_update_handler import GradientUpdateHandler
from .logging_handler import LoggingHandler
from .metric_handler import MetricHandler
from .stopping_handler import StoppingHandler
from .utils import _check_handler_metric_ref, _check_metrics, _suggest_metric_for_loss
from .validation_handler import ValidationHandler

__all__ = ["Estimator"]

_NOT_A_LOADER = ("Estimator only support input as Gluon DataLoader. Alternatively, you can "
                 "transform your DataIter or any NDArray into Gluon DataLoader. Refer to "
                 "gluon.data.DataLoader")
_EVENTS = (TrainBegin, EpochBegin, BatchBegin, BatchEnd, EpochEnd, TrainEnd)


class Estimator:
    """Train `net` on `loss` with `trainer` (default: SGD, learning rate 0.001, with a
    warning), initializing the net first if it is not (with `initializer`).

    train_metrics default to the metric the loss suggests (Accuracy for softmax cross-entropy)
    plus a loss metric; their names get the prefix 'training ', and val_metrics (default:
    copies of train_metrics) the prefix 'validation '. val_net / val_loss default to net /
    loss. batch_processor replaces fit_batch / evaluate_batch. `logger` writes INFO and above
    to stdout."""

    logger = None

    def __init__(self, net, loss, train_metrics=None, val_metrics=None, initializer=None,
                 trainer=None, context=None, val_net=None, val_loss=None,
                 batch_processor=None):
        self.net = net
        self.loss = self._check_loss(loss)
        self._train_metrics = _check_metrics(train_metrics)
        self._val_metrics = _check_metrics(val_metrics)
        self._add_default_training_metrics()
        self._add_validation_metrics()
        self.val_loss = self.loss if val_loss is None else self._check_loss(val_loss)
        self.val_net = self.net if val_net is None else val_net
        self.logger = logging.Logger(name="Estimator", level=logging.INFO)
        self.logger.addHandler(logging.StreamHandler(sys.stdout))
        self.context = self._check_context(context)
        self._initialize(initializer)
        self.trainer = self._check_trainer(trainer)
        self.batch_processor = self._check_batch_processor(batch_processor)
        self.max_epoch = self.max_batch = None
        self.batch_axis = 0

    # ------------------------------------------------------------------ argument checks
    @staticmethod
    def _check_loss(loss):
        if not isinstance(loss, GluonLoss):
            raise ValueError(f"loss must be a Loss, refer to gluon.loss.Loss:{loss}")
        return loss

    @staticmethod
    def _check_context(context):
        available_gpus = [gpu(i) for i in range(num_gpus())]
        if not context:
            if available_gpus:
                if len(available_gpus) > 1:
                    warnings.warn("You have multiple GPUs, gpu(0) will be used by default.To "
                                  "utilize all your GPUs, specify context as a list of gpus, "
                                  "e.g. context=[mx.gpu(0), mx.gpu(1)] ")
                return [available_gpus[0]]
            return [cpu()]
        if isinstance(context, Context):
            context = [context]
        elif not (isinstance(context, list) and all(isinstance(c, Context) for c in context)):
            raise ValueError(f"context must be a Context or a list of Context, for example "
                             f"mx.cpu() or [mx.gpu(0), mx.gpu(1)], refer to "
                             f"mxnet.Context:{context}")
        for ctx in context:
            assert ctx in available_gpus or str(ctx).startswith("cpu"), \
                "%s is not available, please make sure your context is in one of: mx.cpu(), " \
                "%s" % (ctx, ", ".join(str(c) for c in available_gpus))
        return context

    @staticmethod
    def _check_batch_processor(batch_processor):
        if batch_processor is None:
            return BatchProcessor()
        if not (callable(getattr(batch_processor, "fit_batch", None))
                and callable(getattr(batch_processor, "evaluate_batch", None))):
            raise ValueError("Customized Batch Processor must contain fit_batch() and "
                             "evaluate_batch() methods")
        return batch_processor

    def _initialize(self, initializer):
        if not self._is_initialized():
            # initialize what is not; the default initializer when none is given
            if initializer:
                self.net.initialize(init=initializer, ctx=self.context)
            else:
                self.net.initialize(ctx=self.context)
        elif initializer:
            warnings.warn("Network already fully initialized, skipping initialization. You "
                          "don't need to pass initializer if you already initialized your "
                          "net. You can use net.initialize(init=your_initializer, "
                          "force_reinit=True)to force re-initialize.")

    def _check_trainer(self, trainer):
        if not trainer:
            warnings.warn("No trainer specified, default SGD optimizer with learning rate "
                          "0.001 is used.")
            return Trainer(self.net.collect_params(), "sgd", {"learning_rate": 0.001})
        if not isinstance(trainer, Trainer):
            raise ValueError(f"Trainer must be a Gluon Trainer instance, refer to "
                             f"gluon.Trainer:{trainer}")
        return trainer

    def _is_initialized(self):
        params = self.net.collect_params()
        for name in params:
            try:
                params[name].list_ctx()
            except RuntimeError:
                return False
        return True

    def _get_data_and_label(self, batch, ctx, batch_axis=0):
        return BatchProcessor._get_data_and_label(self, batch, ctx, batch_axis)

    # ------------------------------------------------------------------ metrics
    def _add_default_training_metrics(self):
        if not self._train_metrics:
            suggested = _suggest_metric_for_loss(self.loss)
            if suggested:
                self._train_metrics = [suggested]
            self._train_metrics.append(LossMetric(self.loss.name.rstrip("1234567890")))
        for metric in self._train_metrics:
            metric.name = "training " + metric.name

    def _add_validation_metrics(self):
        if not self._val_metrics:
            self._val_metrics = [copy.deepcopy(m) for m in self._train_metrics]
        for metric in self._val_metrics:
            if "training" in metric.name:
                metric.name = metric.name.replace("training", "validation")
            else:
                metric.name = "validation " + metric.name

    @property
    def train_metrics(self):
        return self._train_metrics

    @property
    def val_metrics(self):
        return self._val_metrics

    # ------------------------------------------------------------------ loops
    def evaluate(self, val_data, batch_axis=0, event_handlers=None):
        """Run val_net over val_data, updating val_metrics (a MetricHandler and a
        LoggingHandler on val_metrics are added unless event_handlers has them)."""
        if not isinstance(val_data, DataLoader):
            raise ValueError(_NOT_A_LOADER)
        for metric in self.val_metrics:
            metric.reset()
        handlers = self._prepare_default_validation_handlers(event_handlers)
        _, epoch_begin, batch_begin, batch_end, epoch_end, _ = \
            self._categorize_handlers(handlers)
        for handler in epoch_begin:
            handler.epoch_begin(self)
        for batch in val_data:
            for handler in batch_begin:
                handler.batch_begin(self, batch=batch)
            _, label, pred, loss = self.batch_processor.evaluate_batch(self, batch, batch_axis)
            for handler in batch_end:
                handler.batch_end(self, batch=batch, pred=pred, label=label, loss=loss)
        for handler in epoch_end:
            handler.epoch_end(self)

    def fit(self, train_data, val_data=None, epochs=None, event_handlers=None, batches=None,
            batch_axis=0):
        """Train for `epochs` epochs or `batches` batches (exactly one of them), validating on
        val_data after every epoch when it is given. Default handlers (stopping, gradient
        update, metrics, validation, logging) are added unless event_handlers has them."""
        if not isinstance(train_data, DataLoader):
            raise ValueError(_NOT_A_LOADER)
        if (not epochs) == (not batches):
            raise ValueError("Fit only support exactly one type of iteration, train by number "
                             "of epochs or number of batches.Please specify one and only one "
                             "of: epochs or batches.")
        self.max_epoch, self.max_batch = epochs, batches
        self.batch_axis = batch_axis
        handlers = self._prepare_default_handlers(val_data, event_handlers)
        train_begin, epoch_begin, batch_begin, batch_end, epoch_end, train_end = \
            self._categorize_handlers(handlers)
        for handler in train_begin:
            handler.train_begin(self)
        while True:
            for handler in epoch_begin:
                handler.epoch_begin(self)
            for batch in train_data:
                for handler in batch_begin:
                    handler.batch_begin(self, batch=batch)
                _, label, pred, loss = self.batch_processor.fit_batch(self, batch, batch_axis)
                # every handler sees the batch, then any of them may stop training
                stops = [handler.batch_end(self, batch=batch, pred=pred, label=label,
                                           loss=loss) for handler in batch_end]
                if any(stops):
                    break
            stops = [handler.epoch_end(self) for handler in epoch_end]
            if any(stops):
                break
        for handler in train_end:
            handler.train_end(self)

    # ------------------------------------------------------------------ handlers
    def _prepare_default_handlers(self, val_data, event_handlers):
        handlers = _check_event_handlers(event_handlers)
        added = [StoppingHandler(self.max_epoch, self.max_batch)]
        if not any(isinstance(h, GradientUpdateHandler) for h in handlers):
            added.append(GradientUpdateHandler())
        if not any(isinstance(h, MetricHandler) for h in handlers):
            added.append(MetricHandler(metrics=self.train_metrics))
        if val_data and not any(isinstance(h, ValidationHandler) for h in handlers):
            added.append(ValidationHandler(val_data=val_data, eval_fn=self.evaluate))
        if not any(isinstance(h, LoggingHandler) for h in handlers):
            added.append(LoggingHandler(metrics=self.train_metrics))
        mixing = bool(handlers) and bool(added)
        handlers.extend(added)
        if mixing:  # default and user handlers must report the same metric objects
            known = set(self.train_metrics + self.val_metrics)
            for handler in handlers:
                _check_handler_metric_ref(handler, known)
        handlers.sort(key=lambda h: getattr(h, "priority", 0))
        return handlers

    def _prepare_default_validation_handlers(self, event_handlers):
        handlers = _check_event_handlers(event_handlers)
        added = []
        if not any(isinstance(h, MetricHandler) for h in handlers):
            added.append(MetricHandler(metrics=self.val_metrics))
        if not any(isinstance(h, LoggingHandler) for h in handlers):
            added.append(LoggingHandler(metrics=self.val_metrics))
        mixing = bool(handlers) and bool(added)
        handlers.extend(added)
        if mixing:
            known = set(self.val_metrics)
            for handler in handlers:
                _check_handler_metric_ref(handler, known)
        handlers.sort(key=lambda h: getattr(h, "priority", 0))
        return handlers

    def _categorize_handlers(self, event_handlers):
        """Six lists (train begin, epoch begin, batch begin, batch end, epoch end, train end)
        of the handlers that react to each event."""
        return tuple([h for h in event_handlers if isinstance(h, event)] for event in _EVENTS)
