"""ValidationHandler: runs an evaluation function every few epochs (or batches)."""
from .events import BatchEnd, EpochEnd, TrainBegin


class ValidationHandler(TrainBegin, BatchEnd, EpochEnd):
    """Call eval_fn(val_data=, batch_axis=, event_handlers=) every `epoch_period` epochs and,
    when given, every `batch_period` batches. fit() adds one calling estimator.evaluate when
    val_data is given. Priority -1000: validation metrics are fresh for later handlers."""

    def __init__(self, val_data, eval_fn, epoch_period=1, batch_period=None, priority=-1000,
                 event_handlers=None):
        self.val_data, self.eval_fn = val_data, eval_fn
        self.epoch_period, self.batch_period = epoch_period, batch_period
        self.current_batch = self.current_epoch = 0
        self.priority = priority
        self.event_handlers = event_handlers

    def train_begin(self, estimator, *args, **kwargs):
        self.current_batch = self.current_epoch = 0

    def _validate(self, estimator):
        self.eval_fn(val_data=self.val_data, batch_axis=estimator.batch_axis,
                     event_handlers=self.event_handlers)

    def batch_end(self, estimator, *args, **kwargs):
        self.current_batch += 1
        if self.batch_period and self.current_batch % self.batch_period == 0:
            self._validate(estimator)

    def epoch_end(self, estimator, *args, **kwargs):
        self.current_epoch += 1
        if self.epoch_period and self.current_epoch % self.epoch_period == 0:
            self._validate(estimator)
