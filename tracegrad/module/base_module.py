"""BaseModule: MXNet 1.x's training and evaluation loops over bind / forward / backward /
update (fit, score, predict, iter_predict), written against the methods Module provides."""
import logging
import time

import numpy as np

from .. import metric as _metric
from .. import nd
from ..array import NDArray
from ..base import MXNetError, _as_list
from ..initializer import Uniform
from ..model import BatchEndParam, load_params, save_params


class BaseModule:
    """The loops; subclasses implement bind, init_params, init_optimizer, forward, backward,
    update, get_outputs, update_metric, get_params / set_params."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = self.for_training = self.inputs_need_grad = False
        self.params_initialized = self.optimizer_initialized = False
        self._symbol = None

    @property
    def symbol(self):
        return self._symbol

    def forward_backward(self, data_batch):
        self.forward(data_batch, is_train=True)
        self.backward()

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Nothing to prefetch on the CPU."""

    def install_monitor(self, mon):
        """Report the module's executors to mon (mx.mon.Monitor); each module kind says how."""
        raise MXNetError(f"install_monitor: {type(self).__name__} does not support a Monitor")

    def save_params(self, fname):
        """The parameters to an MXNet .params file ('arg:<name>' / 'aux:<name>')."""
        arg, aux = self.get_params()
        save_params(fname, arg, aux)

    def load_params(self, fname):
        """The parameters of a .params file (MXNet's or save_params')."""
        arg, aux = load_params(fname)
        self.set_params(arg, aux)

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None):
        """The metric's (name, value) pairs over eval_data (inference mode)."""
        if not (self.binded and self.params_initialized):
            raise MXNetError("score: bind and initialize the parameters first")
        if reset:
            eval_data.reset()
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        actual = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            self.update_metric(eval_metric, batch.label)
            if batch_end_callback is not None:
                param = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                      locals=locals())
                for cb in _as_list(batch_end_callback):
                    cb(param)
            actual = nbatch
        if score_end_callback:
            param = BatchEndParam(epoch=epoch, nbatch=actual, eval_metric=eval_metric,
                                  locals=locals())
            for cb in _as_list(score_end_callback):
                cb(param)
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yields (outputs without the padded rows, batch index, batch)."""
        if not (self.binded and self.params_initialized):
            raise MXNetError("iter_predict: bind and initialize the parameters first")
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            pad = batch.pad or 0
            outputs = [out[0:out.shape[0] - pad].copy() for out in self.get_outputs()]
            yield outputs, nbatch, batch

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        """The outputs over eval_data (an iterator, or an array taken as one batch)."""
        if isinstance(eval_data, (NDArray, np.ndarray)):
            if isinstance(eval_data, np.ndarray):
                eval_data = nd.array(eval_data)
            self.forward(_OneBatch([eval_data]), is_train=False)
            return self.get_outputs()[0]
        if not hasattr(eval_data, "reset"):
            raise MXNetError(f"predict: eval_data must be a DataIter or an array, got "
                             f"{type(eval_data).__name__}")
        outputs = [outs for outs, _, _ in self.iter_predict(eval_data, num_batch, reset)]
        if not outputs:
            return []
        if merge_batches:
            n = len(outputs[0])
            for outs in outputs:
                if len(outs) != n:
                    raise MXNetError("predict: batches have different numbers of outputs; "
                                     "pass merge_batches=False")
            merged = [nd.concat(*[outs[i] for outs in outputs], dim=0) for i in range(n)]
            if n == 1 and not always_output_list:
                return merged[0]
            return merged
        return outputs

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=Uniform(0.01), arg_params=None,
            aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
            begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
            sparse_row_id_fn=None):
        """Train for num_epoch epochs: bind, init_params, init_optimizer, then per batch
        forward_backward, update and the metric, as MXNet 1.x's BaseModule.fit; a monitor
        (mx.mon.Monitor) is installed after bind and ticks before each forward_backward, its
        toc_print logging after the update."""
        if num_epoch is None:
            raise MXNetError("fit: please specify number of epochs (num_epoch)")
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        self.init_params(initializer=initializer, arg_params=arg_params,
                         aux_params=aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        if validation_metric is None:
            validation_metric = eval_metric
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            self._begin_epoch(epoch, train_data)
            nbatch = 0
            data_iter = iter(train_data)
            end_of_batch = False
            next_batch = next(data_iter)
            while not end_of_batch:
                batch = next_batch
                if monitor is not None:
                    monitor.tic()
                self.forward_backward(batch)
                self.update()
                self.update_metric(eval_metric, batch.label)
                try:
                    next_batch = next(data_iter)
                    self.prepare(next_batch)
                except StopIteration:
                    end_of_batch = True
                if monitor is not None:
                    monitor.toc_print()
                if end_of_batch:   # the epoch's value, before a Speedometer resets the local
                    eval_name_vals = eval_metric.get_global_name_value()
                if batch_end_callback is not None:
                    param = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                          locals=locals())
                    for cb in _as_list(batch_end_callback):
                        cb(param)
                nbatch += 1
            for name, val in eval_name_vals:
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
            arg_params, aux_params = self.get_params()
            if epoch_end_callback is not None:
                for cb in _as_list(epoch_end_callback):
                    cb(epoch, self.symbol, arg_params, aux_params)
            if eval_data:
                res = self.score(eval_data, validation_metric,
                                 score_end_callback=eval_end_callback,
                                 batch_end_callback=eval_batch_end_callback, epoch=epoch)
                for name, val in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)
            train_data.reset()

    def _begin_epoch(self, epoch, train_data):
        """What a module does at the start of each fit epoch (SVRGModule: full gradients)."""


class _OneBatch:
    """A DataBatch of arrays with no label (predict on an array)."""

    def __init__(self, data):
        self.data, self.label, self.pad = data, None, 0
