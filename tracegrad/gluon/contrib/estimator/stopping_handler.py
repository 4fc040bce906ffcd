"""StoppingHandler: ends fit() after max_epoch epochs or max_batch batches (fit adds one)."""
from .events import BatchEnd, EpochEnd, TrainBegin


class StoppingHandler(TrainBegin, BatchEnd, EpochEnd):
    """Stop training once `max_epoch` epochs or `max_batch` batches have run; both limits are
    read from the estimator at train begin (a resumed checkpoint may have lowered them)."""

    def __init__(self, max_epoch=None, max_batch=None):
        self.max_epoch, self.max_batch = max_epoch, max_batch
        self.current_batch = self.current_epoch = 0
        self.stop_training = False

    def train_begin(self, estimator, *args, **kwargs):
        self.max_epoch, self.max_batch = estimator.max_epoch, estimator.max_batch
        self.current_batch = self.current_epoch = 0

    def batch_end(self, estimator, *args, **kwargs):
        self.current_batch += 1
        if self.current_batch == self.max_batch:
            self.stop_training = True
        return self.stop_training

    def epoch_end(self, estimator, *args, **kwargs):
        self.current_epoch += 1
        if self.current_epoch == self.max_epoch:
            self.stop_training = True
        return self.stop_training
