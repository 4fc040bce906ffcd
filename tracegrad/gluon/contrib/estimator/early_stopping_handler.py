"""EarlyStoppingHandler: stops training when a monitored metric stops improving."""
import warnings

import numpy as np

from ....metric import CompositeEvalMetric, EvalMetric
from .events import EpochEnd, TrainBegin, TrainEnd
from .monitor_mode import improvement_op, worst_value


class EarlyStoppingHandler(TrainBegin, EpochEnd, TrainEnd):
    """Stop after `patience` epochs in a row in which `monitor` did not improve by more than
    `min_delta` on the best value so far (or on `baseline`). mode: 'min', 'max' or 'auto'
    (greater for accuracy / F1, less otherwise)."""

    def __init__(self, monitor, min_delta=0, patience=0, mode="auto", baseline=None):
        if not isinstance(monitor, EvalMetric):
            raise ValueError("Please provide one of the metric objects from "
                             "estimator.train_metrics and estimator.val_metrics as monitor.")
        if isinstance(monitor, CompositeEvalMetric):
            raise ValueError("CompositeEvalMetric is not supported for EarlyStoppingHandler, "
                             "please specify a simple metric instead.")
        self.monitor, self.baseline = monitor, baseline
        self.patience = patience
        self.wait = self.stopped_epoch = self.current_epoch = 0
        self.stop_training = False
        self.monitor_op = improvement_op(mode, monitor, "EarlyStopping")
        # value - min_delta must beat the best: a positive min_delta makes improving harder
        self.min_delta = min_delta if self.monitor_op is np.greater else -min_delta
        self.best = None

    def train_begin(self, estimator, *args, **kwargs):
        self.wait = self.stopped_epoch = self.current_epoch = 0
        self.stop_training = False
        self.best = self.baseline if self.baseline is not None else worst_value(self.monitor_op)

    def epoch_end(self, estimator, *args, **kwargs):
        name, value = self.monitor.get()
        if np.isnan(value):
            warnings.warn(f"{name} is not updated, make sure you pass one of the metric "
                          f"objects from estimator.train_metrics and estimator.val_metrics "
                          f"as monitor.", RuntimeWarning)
        elif self.monitor_op(value - self.min_delta, self.best):
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = self.current_epoch
                self.stop_training = True
        self.current_epoch += 1
        return self.stop_training

    def train_end(self, estimator, *args, **kwargs):
        if self.stopped_epoch > 0:
            estimator.logger.info("[Epoch %d] EarlyStoppingHanlder: early stopping due to %s "
                                  "not improving", self.stopped_epoch, self.monitor.get()[0])
