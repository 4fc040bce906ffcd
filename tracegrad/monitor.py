"""mx.mon.Monitor: statistics of a bound executor's arrays every `interval` batches, for
debugging a Module's training (MXNet 1.x's python/mxnet/monitor.py).

install(exe) sets the executor's monitor callback, so each forward reports its operator
nodes' outputs (and with monitor_all their inputs) by name, and each backward the outputs of
MXNet's backward nodes (fc1_backward_output1, sum_grad_output: symbol/monitor_backward.py,
computed only while this monitor collects and its pattern can match); toc() adds the executor's
arguments and auxiliary states as they are after the step. Only names matching `pattern`
(re.match, from the start) are kept, and only on the batches tic() activates: the first, then
every interval-th one. The statistics are computed as the arrays are reported, so a collected
training step reads its values mid-step and runs eagerly; the other steps are captured as
usual (MXNet similarly stops bulking ops while a monitor is installed).
"""
import logging
import math
import numbers
import re

from .array import NDArray
from .base import MXNetError


def _norm_stat(x):
    """MXNet's default statistic: the 2-norm over sqrt(size), a root mean square."""
    from . import nd
    return nd.norm(x) / math.sqrt(x.size)


class Monitor:
    """Monitor(interval, stat_func=None, pattern='.*', sort=False, monitor_all=False).

    stat_func(NDArray) -> NDArray (or a list of them); the default is norm(x) / sqrt(size).
    """

    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        if isinstance(interval, bool) or not isinstance(interval, numbers.Integral) \
                or interval < 1:
            raise MXNetError(f"Monitor: interval must be a positive number of batches, got "
                             f"{interval!r}")
        if stat_func is not None and not callable(stat_func):
            raise MXNetError(f"Monitor: stat_func must be callable, got "
                             f"{type(stat_func).__name__}")
        try:
            self.re_prog = re.compile(pattern)
        except re.error as e:
            raise MXNetError(f"Monitor: pattern {pattern!r} is not a regular expression: "
                             f"{e}") from None
        self.stat_func = stat_func if stat_func is not None else _norm_stat
        self.interval = int(interval)
        self.sort = sort
        self.monitor_all = monitor_all
        self.activated = False
        self.queue = []     # (step, name, stat) collected since tic()
        self.step = 0
        self.exes = []

    def stat_helper(self, name, array):
        """The executor callback: keep the statistic of a matching array while active."""
        if not self.activated or not self.re_prog.match(name):
            return
        self.queue.append((self.step, name, self.stat_func(array)))

    def install(self, exe):
        """Report exe's arrays to this monitor (several executors may be installed)."""
        if not hasattr(exe, "set_monitor_callback"):
            raise MXNetError(f"Monitor.install: expected an Executor (Symbol.bind / "
                             f"simple_bind), got {type(exe).__name__}; install a Module's "
                             f"executors with module.install_monitor(mon)")
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        if not any(e is exe for e in self.exes):
            self.exes.append(exe)

    def _replace(self, old, new):
        """A Module rebound its executor: report the new one instead of the old."""
        self.exes = [e for e in self.exes if e is not old]
        self.install(new)

    def tic(self):
        """Start a batch (call before forward): collects when step % interval == 0."""
        if self.step % self.interval == 0:
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """End the batch: [(step, name, stat string)] of what was collected since tic() plus
        the installed executors' matching arguments and auxiliary states; [] when inactive."""
        if not self.activated:
            return []
        for exe in self.exes:
            sym = exe._symbol
            for names, arrays in ((sym.list_arguments(), exe.arg_arrays),
                                  (sym.list_auxiliary_states(), exe.aux_arrays)):
                for name, array in zip(names, arrays):
                    if self.re_prog.match(name):
                        self.queue.append((self.step, name, self.stat_func(array)))
        self.activated = False
        queue, self.queue = self.queue, []
        if self.sort:
            queue.sort(key=lambda item: item[1])
        return [(step, name, self._format(name, stat)) for step, name, stat in queue]

    @staticmethod
    def _format(name, stat):
        """MXNet's text of a statistic: a scalar for shape (1,), else the array; each
        followed by a tab."""
        values = stat if isinstance(stat, list) else [stat]
        text = ""
        for v in values:
            if not isinstance(v, NDArray):
                raise MXNetError(f"Monitor: stat_func must return an NDArray or a list of "
                                 f"NDArrays, got {type(v).__name__} for '{name}'")
            text += (str(v.asscalar()) if v.shape == (1,) else str(v.asnumpy())) + "\t"
        return text

    def toc_print(self):
        """toc(), logged at INFO as MXNet's 'Batch: <step> <name> <stat>' lines."""
        for step, name, stat in self.toc():
            logging.info("Batch: {:7d} {:30s} {:s}".format(step, name, stat))
