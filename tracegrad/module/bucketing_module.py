"""BucketingModule: one Module per bucket key over one set of parameters (mx.mod.BucketingModule).

Inputs of varying length (sentences) are grouped into buckets; `sym_gen(bucket_key)` gives
each bucket's symbol, and every bucket's Module is bound with the default bucket's Module as
shared_module: they use the default bucket's gluon Parameters themselves and its Trainer
(borrow_optimizer), so an update through any bucket is seen by all. The default bucket must
therefore hold every parameter (make it the largest). A bucket's update skips the parameters
its symbol does not use (their gradients are stale), as MXNet updates only the current
executor's parameters.
"""
import logging
import numbers
import warnings

import numpy as np

from .. import initializer as _init
from .. import nd
from ..base import MXNetError
from ..context import cpu
from ..io import DataDesc
from ..model import load_params
from ..name import NameManager
from .base_module import BaseModule
from .module import Module, check_input_names


class BucketingModule(BaseModule):
    """BucketingModule(sym_gen, default_bucket_key, context=cpu()); sym_gen(bucket_key) ->
    (symbol, data_names, label_names)."""

    def __init__(self, sym_gen, default_bucket_key=None, logger=logging, context=None,
                 work_load_list=None, fixed_param_names=None, state_names=None,
                 group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if default_bucket_key is None:
            raise MXNetError("BucketingModule: default_bucket_key is required (the key of the "
                             "largest bucket, whose symbol holds every parameter)")
        self._default_bucket_key = default_bucket_key
        self._sym_gen = sym_gen
        symbol, data_names, label_names = self._call_sym_gen(default_bucket_key)
        args = symbol.list_arguments()
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        check_input_names("BucketingModule (its default bucket)", args, label_names,
                          data=data_names, state=state_names, fixed_param=fixed_param_names)
        self._context = context if context is not None else cpu()
        self._module_kwargs = dict(logger=logger, context=self._context,
                                   work_load_list=work_load_list,
                                   fixed_param_names=fixed_param_names,
                                   state_names=state_names, group2ctxs=group2ctxs,
                                   compression_params=compression_params)
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None
        self._grad_req = "write"
        self._preloaded = None     # (arg_params, aux_params) of BucketingModule.load
        self._monitor = None       # installed on every bucket, also those bound later

    def _call_sym_gen(self, bucket_key):
        """sym_gen under a fresh NameManager: automatic names are the same in every call."""
        with NameManager():
            out = self._sym_gen(bucket_key)
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            raise MXNetError(f"BucketingModule: sym_gen({bucket_key!r}) must return (symbol, "
                             f"data_names, label_names), got {type(out).__name__}")
        return out

    def _new_module(self, bucket_key):
        symbol, data_names, label_names = self._call_sym_gen(bucket_key)
        return Module(symbol, data_names, label_names, **self._module_kwargs)

    def _check_bound(self, what, params=True):
        if not self.binded or (params and not self.params_initialized):
            raise MXNetError(f"{what}: call bind and init_params (or fit) first")

    @property
    def _default_module(self):
        return self._buckets[self._default_bucket_key]

    # ------------------------------------------------------------------ properties
    @property
    def data_names(self):
        if self.binded:
            return self._curr_module.data_names
        return list(self._call_sym_gen(self._default_bucket_key)[1])

    @property
    def output_names(self):
        if self.binded:
            return self._curr_module.output_names
        return self._call_sym_gen(self._default_bucket_key)[0].list_outputs()

    @property
    def data_shapes(self):
        self._check_bound("data_shapes", params=False)
        return self._curr_module.data_shapes

    @property
    def label_shapes(self):
        self._check_bound("label_shapes", params=False)
        return self._curr_module.label_shapes

    @property
    def output_shapes(self):
        self._check_bound("output_shapes", params=False)
        return self._curr_module.output_shapes

    @property
    def symbol(self):
        """The current bucket's symbol."""
        self._check_bound("symbol", params=False)
        return self._curr_module.symbol

    # ------------------------------------------------------------------ parameters
    def get_params(self):
        """(arg_params, aux_params): copies of the shared values (the default bucket holds
        them all, whichever bucket is current)."""
        if not self.params_initialized:
            raise MXNetError("get_params: initialize the parameters first")
        if not self.binded:
            if self._preloaded is None:
                raise MXNetError("get_params: bind the module first")
            arg, aux = self._preloaded
            return dict(arg), dict(aux)
        return self._default_module.get_params()

    def init_params(self, initializer=_init.Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialize the shared parameters (through the default bucket); a second call
        without force_init does nothing, as in MXNet."""
        if self.params_initialized and not force_init:
            return
        self._check_bound("init_params", params=False)
        self._default_module.init_params(initializer=initializer, arg_params=arg_params,
                                         aux_params=aux_params, allow_missing=allow_missing,
                                         force_init=True, allow_extra=allow_extra)
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        if not allow_missing:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=False, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. set_params "
                          "call ignored.", stacklevel=2)
            return
        self._check_bound("set_params", params=False)
        self._default_module.set_params(arg_params, aux_params, allow_missing=True,
                                        force_init=True, allow_extra=allow_extra)
        self.params_initialized = True

    # ------------------------------------------------------------------ binding
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Bind the default bucket's Module for these (the default bucket's) shapes; other
        buckets are bound when switch_bucket first meets them."""
        if shared_module is not None:
            raise MXNetError("bind: shared_module is not supported for BucketingModule")
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        default = self._buckets.get(self._default_bucket_key)
        if force_rebind:
            # the other buckets are bound again when met; the default bucket's Module is
            # rebound in place, keeping the Parameters and the Trainer
            self._buckets, self._curr_module, self._curr_bucket_key = {}, None, None
            self.binded = False
        if default is None:
            default = self._new_module(self._default_bucket_key)
        default.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                     force_rebind=default.binded, grad_req=grad_req)
        self._buckets[self._default_bucket_key] = default
        self._curr_module, self._curr_bucket_key = default, self._default_bucket_key
        self.for_training, self.inputs_need_grad = for_training, inputs_need_grad
        self._grad_req = grad_req
        self.binded = True
        if self._preloaded is not None:
            arg, aux = self._preloaded
            self._preloaded = None
            default.init_params(initializer=None, arg_params=arg, aux_params=aux,
                                force_init=True)
            self.params_initialized = True

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None):
        """Make bucket_key's Module the current one, creating and binding it (sharing the
        default bucket's parameters and optimizer) the first time the key is seen."""
        self._switch(bucket_key, data_shapes, label_shapes, None)

    def _switch(self, bucket_key, data_shapes, label_shapes, batch):
        if not self.binded:
            raise MXNetError("switch_bucket: call bind before switching bucket")
        module = self._buckets.get(bucket_key)
        if module is None:
            module = self._new_module(bucket_key)
        if not module.binded:
            if data_shapes is None and batch is not None:
                data_shapes = _shapes_of(module.data_names, batch.data)
            if label_shapes is None and batch is not None:
                label_shapes = _shapes_of(module.label_names, getattr(batch, "label", None))
            if data_shapes is None:
                raise MXNetError(f"switch_bucket: bucket {bucket_key!r} is not bound yet; "
                                 f"give its data_shapes")
            default = self._default_module
            module.bind(data_shapes, label_shapes, default.for_training,
                        default.inputs_need_grad, shared_module=default,
                        grad_req=self._grad_req)
            if self._monitor is not None:
                module.install_monitor(self._monitor)
            self._buckets[bucket_key] = module
        self._curr_module, self._curr_bucket_key = module, bucket_key

    def install_monitor(self, mon):
        """Install mon (mx.mon.Monitor) on every bound bucket and on each bucket bound
        later, as MXNet does."""
        self._check_bound("install_monitor", params=False)
        self._monitor = mon
        for module in self._buckets.values():
            if module.binded:
                module.install_monitor(mon)

    # ------------------------------------------------------------------ optimizer
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """One Trainer (on the default bucket), borrowed by every bucket."""
        self._check_bound("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        default = self._default_module
        default.init_optimizer(kvstore, optimizer, optimizer_params, force_init=force_init)
        for module in self._buckets.values():
            if module is not default and module.binded:
                module.borrow_optimizer(default)
        self.optimizer_initialized = True

    # ------------------------------------------------------------------ running
    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Bind the batch's bucket ahead of its forward (fit calls this with the next
        batch), then switch back to the current bucket."""
        self._check_bound("prepare")
        current = self._curr_bucket_key
        self._switch_to(data_batch)
        self._curr_module.prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
        self._switch(current, None, None, None)

    def _switch_to(self, data_batch):
        """Switch to the batch's bucket_key (the default bucket when it has none) with its
        provide_data / provide_label, or else the shapes of its arrays."""
        key = getattr(data_batch, "bucket_key", None)
        if key is None:
            key = self._default_bucket_key
        self._switch(key, getattr(data_batch, "provide_data", None),
                     getattr(data_batch, "provide_label", None), data_batch)

    def forward(self, data_batch, is_train=None):
        self._check_bound("forward")
        self._switch_to(data_batch)
        self._curr_module.forward(data_batch, is_train=is_train)

    def backward(self, out_grads=None):
        self._check_bound("backward")
        self._curr_module.backward(out_grads=out_grads)

    def update(self):
        """One optimizer step on the current bucket's gradients (its parameters only)."""
        self._check_bound("update")
        if not self.optimizer_initialized:
            raise MXNetError("update: call init_optimizer first")
        self._curr_module.update()

    def get_outputs(self, merge_multi_context=True):
        self._check_bound("get_outputs")
        return self._curr_module.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._check_bound("get_input_grads")
        return self._curr_module.get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._check_bound("update_metric")
        self._curr_module.update_metric(eval_metric, labels, pre_sliced)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, prefix, epoch, remove_amp_cast=False):
        """MXNet 1.9.1's bucketing checkpoint: prefix-%04d.params, each bound bucket's
        symbol as prefix-<key>-symbol.json and the keys (integers) in prefix.buckets."""
        if not self._buckets:
            raise MXNetError("save_checkpoint: Empty BucketingModule cannot be saved (bind it "
                             "first)")
        keys = list(self._buckets)
        bad = [k for k in keys if not isinstance(k, numbers.Integral)]
        if bad:
            raise MXNetError(f"save_checkpoint: bucket keys are saved as int32 in "
                             f"{prefix}.buckets (MXNet's format); {bad} are not integers")
        self.save_params(f"{prefix}-{epoch:04d}.params")
        for key, module in self._buckets.items():
            module.symbol.save(f"{prefix}-{key}-symbol.json", remove_amp_cast=remove_amp_cast)
        nd.save(f"{prefix}.buckets", nd.array(keys, dtype=np.int32))

    @staticmethod
    def load(prefix, epoch, sym_gen=None, default_bucket_key=None, **kwargs):
        """A BucketingModule of a save_checkpoint: each saved bucket's Module on its saved
        symbol (sym_gen gives the data / label names); the parameters are set at bind."""
        from ..symbol import load as load_symbol
        if sym_gen is None:
            raise MXNetError("BucketingModule.load: sym_gen is required for loading "
                             "BucketingModule")
        if default_bucket_key is None:
            raise MXNetError("BucketingModule.load: default_bucket_key is required for "
                             "loading BucketingModule")
        saved = nd.load(f"{prefix}.buckets")
        keys = [int(k) for k in saved[0].asnumpy().astype(np.int32).reshape(-1)]
        mod = BucketingModule(sym_gen, default_bucket_key, **kwargs)
        for key in keys:
            _, data_names, label_names = mod._call_sym_gen(key)
            symbol = load_symbol(f"{prefix}-{key}-symbol.json")
            mod._buckets[key] = Module(symbol, data_names, label_names,
                                       **mod._module_kwargs)
        mod._preloaded = load_params(f"{prefix}-{epoch:04d}.params")
        mod.params_initialized = True
        return mod


def _shapes_of(names, arrays):
    """DataDescs from a batch's arrays (a batch without provide_data / provide_label)."""
    if not arrays:
        return None
    return [DataDesc(n, tuple(a.shape), a.dtype) for n, a in zip(names, arrays)]
