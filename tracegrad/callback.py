"""mx.callback: what Module.fit calls at the end of batches and epochs (MXNet 1.x names)."""
import logging
import time

from . import model


def do_checkpoint(prefix, period=1):
    """An epoch_end_callback saving a checkpoint every `period` epochs (as epoch + 1)."""
    period = int(max(1, period))

    def _callback(iter_no, sym, arg, aux):
        if (iter_no + 1) % period == 0:
            model.save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    return _callback


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    return _callback


def log_train_metric(period, auto_reset=False):
    """A batch_end_callback logging the training metric every `period` batches."""
    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch,
                             name, value)
            if auto_reset:
                param.eval_metric.reset_local()
    return _callback


class Speedometer:
    """Logs samples per second (and the metric) every `frequent` batches."""

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size, self.frequent, self.auto_reset = batch_size, frequent, auto_reset
        self.init, self.tic, self.last_count = False, 0, 0

    def __call__(self, param):
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count
        if self.init:
            if count % self.frequent == 0:
                elapsed = max(time.time() - self.tic, 1e-12)
                speed = self.frequent * self.batch_size / elapsed
                if param.eval_metric is not None:
                    pairs = param.eval_metric.get_name_value()
                    if self.auto_reset:
                        param.eval_metric.reset_local()
                    msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec"
                    msg += "\t%s=%f" * len(pairs)
                    logging.info(msg, param.epoch, count - self.frequent, count, speed,
                                 *sum(pairs, ()))
                else:
                    logging.info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec", param.epoch,
                                 count, speed)
                self.tic = time.time()
        else:
            self.init = True
            self.tic = time.time()


class ProgressBar:
    """Prints a text progress bar of `total` batches."""

    def __init__(self, total, length=80):
        self.bar_len, self.total = length, total

    def __call__(self, param):
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percents = round(100.0 * count / float(self.total), 1)
        logging.info("[%s] %s%s\r", "=" * filled + "-" * (self.bar_len - filled), percents,
                     "%")


__all__ = ["do_checkpoint", "module_checkpoint", "log_train_metric", "Speedometer",
           "ProgressBar"]
