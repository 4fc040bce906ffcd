"""`mx.model.FeedForward`: MXNet 1.x's deprecated model API (example/rnn/old and other older
programs train with it), run on mx.mod.Module (BucketingModule when the symbol is a
function of the bucket key), as MXNet's own FeedForward is the older form of the same loop.

fit / predict / score take a DataIter or numpy / NDArray data (with labels for training,
wrapped in an NDArrayIter of numpy_batch_size rows); the trained parameters are kept in
arg_params / aux_params; save / load write and read checkpoints. epoch_size, as MXNet's
_train_multi_device, makes every epoch exactly that many batches: the iterator is reset when
it runs out within an epoch, and an epoch that ends before the iterator does leaves it where
it is for the next one."""
import logging
import warnings

import numpy as np

from .array import NDArray
from .base import MXNetError
from .initializer import Uniform


class FeedForward:
    """A symbol (or a function bucket_key -> symbol) with its parameters and how to train
    them: the optimizer's name and its keyword arguments (learning_rate, momentum, wd, ...),
    the initializer and the number of epochs."""

    def __init__(self, symbol, ctx=None, num_epoch=None, epoch_size=None, optimizer="sgd",
                 initializer=Uniform(0.01), numpy_batch_size=128, arg_params=None,
                 aux_params=None, allow_extra_params=False, begin_epoch=0, **kwargs):
        from .symbol.symbol import Symbol
        warnings.warn("mxnet.model.FeedForward has been deprecated. Please use "
                      "mxnet.mod.Module instead.", DeprecationWarning, stacklevel=2)
        if isinstance(symbol, Symbol):
            self.symbol, self.sym_gen = symbol, None
        elif callable(symbol):
            self.symbol, self.sym_gen = None, symbol
        else:
            raise TypeError(f"FeedForward: symbol must be a Symbol or a function of the "
                            f"bucket key, got {type(symbol).__name__}")
        if epoch_size is not None and (int(epoch_size) != epoch_size or epoch_size < 1):
            raise MXNetError(f"FeedForward: epoch_size must be a positive number of batches, "
                             f"got {epoch_size!r}")
        self.ctx = ctx
        self.num_epoch, self.epoch_size = num_epoch, epoch_size
        self.optimizer, self.initializer = optimizer, initializer
        self.numpy_batch_size = numpy_batch_size
        self.arg_params, self.aux_params = arg_params, aux_params
        self.allow_extra_params = allow_extra_params
        self.begin_epoch = begin_epoch
        self.kwargs = kwargs.copy()
        self._pred_exec = None

    # ------------------------------------------------------------------ data
    def _init_iter(self, X, y, is_train):
        from . import io
        if isinstance(X, (np.ndarray, NDArray)):
            if y is None:
                if is_train:
                    raise ValueError("y must be specified when X is numpy.ndarray")
                y = np.zeros(X.shape[0])
            if not isinstance(y, (np.ndarray, NDArray)):
                raise TypeError("y must be ndarray when X is numpy.ndarray")
            if X.shape[0] != y.shape[0]:
                raise ValueError("The numbers of data points and labels not equal")
            if y.ndim == 2 and y.shape[1] == 1:
                y = y.reshape((y.shape[0],))
            if y.ndim != 1:
                raise ValueError("Label must be 1D or 2D (with 2nd dimension being 1)")
            batch = min(X.shape[0], self.numpy_batch_size)
            if is_train:
                return io.NDArrayIter(X, y, batch, shuffle=True, last_batch_handle="roll_over")
            return io.NDArrayIter(X, y, batch, shuffle=False)
        if not isinstance(X, io.DataIter):
            raise TypeError("X must be DataIter, NDArray or numpy.ndarray")
        return X

    def _init_eval_iter(self, eval_data):
        from . import io
        if eval_data is None:
            return None
        if isinstance(eval_data, (tuple, list)) and len(eval_data) == 2:
            if eval_data[0] is None:
                raise ValueError("Eval data is NONE")
            if eval_data[1] is None and isinstance(eval_data[0], io.DataIter):
                return eval_data[0]
            data, label = (np.array(d) if isinstance(d, list) else d for d in eval_data)
            return self._init_iter(data, label, is_train=True)
        if not isinstance(eval_data, io.DataIter):
            raise TypeError("Eval data must be DataIter, or NDArray/numpy.ndarray/list pair "
                            "(i.e. tuple/list of length 2)")
        return eval_data

    def _module(self, data):
        """A Module (BucketingModule for a sym_gen) over data's names."""
        from . import module
        data_names = [d[0] for d in data.provide_data]
        label_names = [d[0] for d in (data.provide_label or [])]
        ctx = self.ctx if self.ctx is not None else None
        kwargs = {} if ctx is None else {"context": ctx}
        if self.sym_gen is not None:
            gen = self.sym_gen

            def sym_gen(key):
                return gen(key), data_names, label_names
            return module.BucketingModule(sym_gen, default_bucket_key=data.default_bucket_key,
                                          **kwargs)
        return module.Module(self.symbol, data_names=data_names, label_names=label_names,
                             **kwargs)

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", logger=None, work_load_list=None,
            monitor=None, eval_end_callback=None, eval_batch_end_callback=None):
        """Train num_epoch epochs from begin_epoch; the parameters given at construction (if
        any) start the training, the others come from the initializer."""
        data = self._init_iter(X, y, is_train=True)
        eval_data = self._init_eval_iter(eval_data)
        if self.num_epoch is None:
            raise MXNetError("FeedForward.fit: give num_epoch when constructing the model")
        mod = self._module(data)
        if self.epoch_size is not None:
            data = _Epochs(data, int(self.epoch_size), logger)
        params = dict(self.kwargs)
        params.setdefault("rescale_grad", 1.0 / data.batch_size)
        old_logger = getattr(mod, "logger", None)
        if logger is not None:
            mod.logger = logger
        mod.fit(data, eval_data=eval_data, eval_metric=eval_metric,
                epoch_end_callback=epoch_end_callback,
                batch_end_callback=_counted_from_one(batch_end_callback),
                kvstore=kvstore, optimizer=self.optimizer, optimizer_params=params,
                eval_end_callback=eval_end_callback,
                eval_batch_end_callback=eval_batch_end_callback,
                initializer=self.initializer, arg_params=self.arg_params,
                aux_params=self.aux_params, allow_missing=True,
                begin_epoch=self.begin_epoch, num_epoch=self.num_epoch, monitor=monitor)
        if logger is not None:
            mod.logger = old_logger
        self.arg_params, self.aux_params = mod.get_params()
        if self.sym_gen is not None:
            self.symbol = self.sym_gen(data.default_bucket_key)
        return self

    # ------------------------------------------------------------------ inference
    def _predict_module(self, data):
        from . import module
        if self.arg_params is None:
            raise MXNetError("FeedForward: the model has no parameters: fit or load it first")
        symbol = self.symbol if self.symbol is not None else \
            self.sym_gen(data.default_bucket_key)
        data_names = [d[0] for d in data.provide_data]
        # the inputs that are neither data nor parameters: the loss layers' labels, whether
        # or not the iterator provides them (an NDArrayIter without labels)
        args = symbol.list_arguments()
        label_names = [n for n in args if n not in data_names and n not in self.arg_params]
        mod = module.Module(symbol, data_names=data_names, label_names=label_names,
                            **({} if self.ctx is None else {"context": self.ctx}))
        # MXNet's FeedForward binds the predictor on the data shapes only (model.py
        # _init_predictor): the loss layer's label shape is inferred from the data, the
        # iterator's labels are not read (CSVIter's dummy (batch, 1) label beside a
        # LogisticRegressionOutput of (batch, 600)); they are bound only when the data alone
        # leaves a label's shape unknown
        label_shapes = [d for d in (data.provide_label or []) if d[0] in label_names]
        inferred = symbol.infer_shape_partial(**dict(data.provide_data))[0]
        known = {n for n, s in zip(args, inferred or []) if s and 0 not in s}
        if all(n in known for n in label_names):
            label_shapes = None
        mod.bind(data.provide_data, label_shapes or None, for_training=False)
        mod.set_params(self.arg_params, self.aux_params or {}, allow_missing=False,
                       allow_extra=True)
        return mod

    def predict(self, X, num_batch=None, return_data=False, reset=True):
        """The outputs on X (numpy; a list when the symbol has several outputs), the padding
        of the last batch removed; with return_data also the data and labels read."""
        X = self._init_iter(X, None, is_train=False)
        if reset:
            X.reset()
        mod = self._predict_module(X)
        outputs, datas, labels = None, [], []
        for i, batch in enumerate(X):
            if num_batch is not None and i == num_batch:
                break
            mod.forward(batch, is_train=False)
            keep = X.batch_size - (batch.pad or 0)
            outs = [o.asnumpy()[:keep] for o in mod.get_outputs()]
            outputs = [[] for _ in outs] if outputs is None else outputs
            for acc, o in zip(outputs, outs):
                acc.append(o)
            if return_data:
                datas.append([d.asnumpy()[:keep] for d in batch.data])
                labels.append([lb.asnumpy()[:keep] for lb in (batch.label or [])])
        outputs = [np.concatenate(o) for o in (outputs or [])]
        if len(outputs) == 1:
            outputs = outputs[0]
        if not return_data:
            return outputs
        data = [np.concatenate(d) for d in zip(*datas)] if datas else []
        label = [np.concatenate(lb) for lb in zip(*labels)] if labels and labels[0] else []
        if len(data) == 1:
            data = data[0]
        if len(label) == 1:
            label = label[0]
        return outputs, data, label

    def score(self, X, eval_metric="acc", num_batch=None, batch_end_callback=None, reset=True):
        """eval_metric's value over X (its first value when it has several)."""
        from . import metric
        eval_metric = metric.create(eval_metric)
        X = self._init_iter(X, None, is_train=False)
        if reset:
            X.reset()
        self._predict_module(X).score(X, eval_metric, num_batch=num_batch,
                                      batch_end_callback=batch_end_callback, reset=False)
        return eval_metric.get()[1]

    # ------------------------------------------------------------------ files
    def save(self, prefix, epoch=None, remove_amp_cast=True):
        """prefix-symbol.json and prefix-%04d.params (epoch: num_epoch by default)."""
        from .model import save_checkpoint
        if epoch is None:
            epoch = self.num_epoch
        if epoch is None:
            raise MXNetError("FeedForward.save: give the epoch (the model has no num_epoch)")
        save_checkpoint(prefix, epoch, self.symbol, self.arg_params, self.aux_params or {},
                        remove_amp_cast=remove_amp_cast)

    @staticmethod
    def load(prefix, epoch, ctx=None, **kwargs):
        """The model a save (or save_checkpoint) wrote, to predict with or train on from
        `epoch`."""
        from .model import load_checkpoint
        symbol, arg_params, aux_params = load_checkpoint(prefix, epoch)
        return FeedForward(symbol, ctx=ctx, arg_params=arg_params, aux_params=aux_params,
                           begin_epoch=epoch, **kwargs)

    @staticmethod
    def create(symbol, X, y=None, ctx=None, num_epoch=None, epoch_size=None, optimizer="sgd",
               initializer=Uniform(0.01), eval_data=None, eval_metric="acc",
               epoch_end_callback=None, batch_end_callback=None, kvstore="local",
               logger=None, work_load_list=None, eval_end_callback=None,
               eval_batch_end_callback=None, **kwargs):
        """A FeedForward model, trained on X at once."""
        model = FeedForward(symbol, ctx=ctx, num_epoch=num_epoch, epoch_size=epoch_size,
                            optimizer=optimizer, initializer=initializer, **kwargs)
        model.fit(X, y, eval_data=eval_data, eval_metric=eval_metric,
                  epoch_end_callback=epoch_end_callback, batch_end_callback=batch_end_callback,
                  kvstore=kvstore, logger=logger, work_load_list=work_load_list,
                  eval_end_callback=eval_end_callback,
                  eval_batch_end_callback=eval_batch_end_callback)
        return model


def _counted_from_one(callbacks):
    """Training batch callbacks as MXNet's FeedForward calls them: nbatch counts the batches
    done in the epoch (1 after the first; Module.fit's count starts at 0)."""
    if callbacks is None:
        return None
    callbacks = callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]

    def each(param):
        param = param._replace(nbatch=param.nbatch + 1)
        for cb in callbacks:
            cb(param)
    return each


class _Epochs:
    """A training iterator whose epochs are `epoch_size` batches (MXNet's FeedForward loop):
    when the data runs out within an epoch it is reset and read on; the epoch's end (the
    reset Module.fit makes) leaves the data where it is. Everything else is the iterator's."""

    def __init__(self, data, epoch_size, logger):
        self._data, self._size, self._logger = data, epoch_size, logger
        self._count = 0
        data.reset()                # (MXNet resets once before the first epoch)

    def __getattr__(self, name):
        return getattr(self._data, name)

    def __iter__(self):
        return self

    def reset(self):
        self._count = 0

    def next(self):
        if self._count >= self._size:
            raise StopIteration
        try:
            batch = self._data.next()
        except StopIteration:
            (self._logger or logging).info("Resetting Data Iterator")
            self._data.reset()
            batch = self._data.next()   # (an empty iterator: StopIteration, no epoch)
        self._count += 1
        return batch

    __next__ = next
