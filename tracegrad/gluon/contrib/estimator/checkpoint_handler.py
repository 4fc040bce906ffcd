"""CheckpointHandler: saves parameters and trainer states during training, and resumes.

Files in model_dir, as MXNet names them: '{prefix}-epoch{E}batch{B}.params' / '.states' for
every checkpoint (the newest `max_checkpoints` kept), '{prefix}-best.params' / '.states' with
save_best, and '{prefix}-symbol.json' once after the first batch when the net is hybridized.
E is the 0-based epoch, B the number of batches trained at an epoch-end save and the 0-based
index of the batch at a batch-period save."""
import os
import re
import warnings

import numpy as np

from ....base import MXNetError
from ....metric import EvalMetric
from .events import BatchEnd, EpochEnd, TrainBegin
from .monitor_mode import improvement_op, worst_value

_FORMAT_ERROR = ("Error parsing checkpoint file, please check your checkpoints have the format: "
                 "{model_name}-epoch{epoch_number}batch{batch_number}.params, there should also "
                 "be a .states file for each .params file ")


class CheckpointHandler(TrainBegin, BatchEnd, EpochEnd):
    """Save net parameters and trainer states every `epoch_period` epochs (or `batch_period`
    batches), keep the newest `max_checkpoints`, with save_best also the best by `monitor`;
    resume_from_checkpoint=True loads the newest checkpoint at train begin and trains only the
    epochs (or batches) that remain."""

    def __init__(self, model_dir, model_prefix="model", monitor=None, verbose=0,
                 save_best=False, mode="auto", epoch_period=1, batch_period=None,
                 max_checkpoints=5, resume_from_checkpoint=False):
        self.monitor, self.verbose = monitor, verbose
        os.makedirs(model_dir, exist_ok=True)
        self.model_dir, self.model_prefix = model_dir, model_prefix
        self.save_best = save_best
        if save_best and not isinstance(monitor, EvalMetric):
            raise ValueError("To save best model only, please provide one of the metric objects "
                             "from estimator.train_metrics and estimator.val_metrics as monitor.")
        self.epoch_period, self.batch_period = epoch_period, batch_period
        self.current_batch = self.current_epoch = 0
        self.max_checkpoints = max_checkpoints
        self.resume_from_checkpoint = resume_from_checkpoint
        self.saved_checkpoints = []
        self.trained_epoch = self.trained_batch = -1
        if save_best:
            self.monitor_op = improvement_op(mode, monitor, "ModelCheckpoint")
            self.best = worst_value(self.monitor_op)

    def train_begin(self, estimator, *args, **kwargs):
        self.current_epoch = self.current_batch = 0
        if self.save_best:
            self.best = worst_value(self.monitor_op)
        if self.resume_from_checkpoint:
            error_msg = ("To use resume from checkpoint, you must only specify the same type of "
                         "period you used for training. For example, if you are training based "
                         "on number of epochs, you must save only based on epochs, and set "
                         "batch_period to None.")
            if estimator.max_batch:
                assert self.batch_period and not self.epoch_period, error_msg
            if estimator.max_epoch:
                assert self.epoch_period and not self.batch_period, error_msg
            self._resume_from_checkpoint(estimator)

    def batch_end(self, estimator, *args, **kwargs):
        if self.current_batch == 0:
            self._save_symbol(estimator)
        if self.batch_period and (self.current_batch + 1) % self.batch_period == 0:
            self._save_checkpoint(estimator)
        self.current_batch += 1

    def epoch_end(self, estimator, *args, **kwargs):
        if self.epoch_period and (self.current_epoch + 1) % self.epoch_period == 0:
            self._save_checkpoint(estimator)
        self.current_epoch += 1

    # ------------------------------------------------------------------ saving
    def _save_checkpoint(self, estimator):
        if self.resume_from_checkpoint:  # numbers continue those of the resumed checkpoint
            epoch = self.current_epoch + self.trained_epoch + 1
            batch = self.current_batch + self.trained_batch + (0 if estimator.max_epoch else 1)
        else:
            epoch, batch = self.current_epoch, self.current_batch
        prefix = "%s-epoch%dbatch%d" % (self.model_prefix, epoch, batch)
        self._save_params_and_trainer(estimator, prefix)
        if self.verbose > 0:
            estimator.logger.info("[Epoch %d] CheckpointHandler: trained total %d batches, "
                                  "saving model at %s with prefix: %s", self.current_epoch,
                                  self.current_batch + 1, self.model_dir, prefix)
        if self.save_best:
            self._save_if_best(estimator)

    def _save_if_best(self, estimator):
        name, value = self.monitor.get()
        if np.isnan(value):
            warnings.warn(f"Skipping save best because {name} is not updated, make sure you "
                          f"pass one of the metric objects estimator.train_metrics and "
                          f"estimator.val_metrics as monitor", RuntimeWarning)
            return
        if self.monitor_op(value, self.best):
            prefix = self.model_prefix + "-best"
            self._save_params_and_trainer(estimator, prefix)
            if self.verbose > 0:
                estimator.logger.info("[Epoch %d] CheckpointHandler: %s improved from %0.5f to "
                                      "%0.5f, updating best model at %s with prefix: %s",
                                      self.current_epoch, name, self.best, value,
                                      self.model_dir, prefix)
            self.best = value
        elif self.verbose > 0:
            estimator.logger.info("[Epoch %d] CheckpointHandler: %s did not improve from "
                                  "%0.5f, skipping updating best model", self.current_epoch,
                                  name, self.best)

    def _save_symbol(self, estimator):
        symbol_file = os.path.join(self.model_dir, self.model_prefix + "-symbol.json")
        net = estimator.net
        if getattr(net, "_cached_args", None) is not None:
            from ...symbol_block import write_symbol
            try:
                write_symbol(net, symbol_file)
            except MXNetError as e:  # e.g. Python control flow on data: training goes on
                estimator.logger.info("Model architecture(symbol file) is not saved: %s", e)
        else:
            estimator.logger.info("Model architecture(symbol file) is not saved, please use "
                                  "HybridBlock to construct your model, and call "
                                  "net.hybridize() before passing to Estimator in order to "
                                  "save model architecture as %s.", symbol_file)

    def _save_params_and_trainer(self, estimator, file_prefix):
        path = os.path.join(self.model_dir, file_prefix)
        estimator.net.save_parameters(path + ".params")
        estimator.trainer.save_states(path + ".states")
        if file_prefix.endswith("-best"):  # the best checkpoint is not counted
            return
        self.saved_checkpoints.append(file_prefix)
        while len(self.saved_checkpoints) > self.max_checkpoints:
            old = self.saved_checkpoints.pop(0)
            for ext in (".params", ".states"):
                if os.path.exists(os.path.join(self.model_dir, old + ext)):
                    os.remove(os.path.join(self.model_dir, old + ext))

    # ------------------------------------------------------------------ resuming
    def _checkpoints_on_disk(self):
        """(epoch, batch) of every '{prefix}-epoch{E}batch{B}.params' in model_dir, sorted."""
        start = self.model_prefix + "-epoch"
        pattern = re.compile(re.escape(start) + r"(\d+)batch(\d+)\.params$")
        found = []
        for fname in os.listdir(self.model_dir):
            if fname.startswith(start) and fname.endswith(".params"):
                match = pattern.match(fname)
                if match is None:
                    raise ValueError(_FORMAT_ERROR)
                found.append((int(match.group(1)), int(match.group(2))))
        return sorted(found)

    def _resume_from_checkpoint(self, estimator):
        found = self._checkpoints_on_disk()
        self.saved_checkpoints = ["%s-epoch%dbatch%d" % ((self.model_prefix,) + eb)
                                  for eb in found]
        self.trained_epoch, self.trained_batch = found[-1] if found else (-1, -1)
        if not found:
            what = ("%d batches" % estimator.max_batch if estimator.max_batch
                    else "%d epochs" % estimator.max_epoch)
            estimator.logger.info("CheckpointHandler: No checkpoint found, training from "
                                  "scratch for " + what)
            return
        msg = ("CheckpointHandler: Checkpoint resumed from epoch %d batch %d, continue to "
               "train for " % (self.trained_epoch, self.trained_batch))
        if estimator.max_epoch:
            if self.trained_epoch >= estimator.max_epoch - 1:
                raise ValueError("Found checkpoint with maximum number of epoch %d reached, "
                                 "please specify resume_from_checkpoint=False (default value) "
                                 "if you wan to train from scratch." % estimator.max_epoch)
            estimator.max_epoch = estimator.max_epoch - self.trained_epoch - 1
            msg += "%d epochs " % estimator.max_epoch
        if estimator.max_batch:
            if self.trained_batch >= estimator.max_batch - 1:
                raise ValueError("Found checkpoint with maximum number of batch %d reached, "
                                 "please specify resume_from_checkpoint=False (default value) "
                                 "if you wan to train from scratch." % self.trained_batch)
            estimator.max_batch = estimator.max_batch - self.trained_batch - 1
            msg += "%d batches " % estimator.max_batch
        path = os.path.join(self.model_dir, "%s-epoch%dbatch%d" % (
            self.model_prefix, self.trained_epoch, self.trained_batch))
        for ext in (".params", ".states"):
            assert os.path.exists(path + ext), \
                "Failed to load checkpoint, %s does not exist" % (path + ext)
        estimator.net.load_parameters(path + ".params", ctx=estimator.context)
        estimator.trainer.load_states(path + ".states")
        estimator.logger.warning(msg)
