"""SequentialModule: modules chained output to input (mx.mod.SequentialModule).

Each module is bound on the previous one's output shapes and, when training, with
inputs_need_grad (all but the first), so backward hands each module's input gradients to the
module before it as its out_grads: the chain computes the gradients of the one symbol that
composes them. A module added with take_labels=True gets the batch's labels (and updates the
metric); auto_wiring=True renames the incoming arrays to the module's own data_names.
"""
import copy
import logging

from .. import initializer as _init
from ..base import MXNetError
from ..io import DataDesc
from .base_module import BaseModule
from .module import _descs


class SequentialModule(BaseModule):
    """SequentialModule(); add(module, take_labels=False, auto_wiring=False) chains modules."""

    META_TAKE_LABELS = "take_labels"
    META_AUTO_WIRING = "auto_wiring"

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules = []
        self._metas = []
        self._data_shapes = self._label_shapes = None

    def add(self, module, take_labels=False, auto_wiring=False):
        """Append module to the chain (returns self, so adds chain); the chain must be bound
        and initialized again, as in MXNet."""
        if not isinstance(module, BaseModule):
            raise MXNetError(f"SequentialModule.add: expected a module (mx.mod.Module, "
                             f"BucketingModule, ...), got {type(module).__name__}")
        if module is self or any(m is module for m in self._modules):
            raise MXNetError("SequentialModule.add: this module is already in the chain")
        self._modules.append(module)
        self._metas.append({self.META_TAKE_LABELS: bool(take_labels),
                            self.META_AUTO_WIRING: bool(auto_wiring)})
        self.binded = self.params_initialized = self.optimizer_initialized = False
        return self

    def _check(self, what, params=True, optimizer=False):
        if not self._modules:
            raise MXNetError(f"SequentialModule.{what}: the chain is empty; add() modules "
                             f"first")
        if not self.binded:
            raise MXNetError(f"SequentialModule.{what}: call bind first")
        if params and not self.params_initialized:
            raise MXNetError(f"SequentialModule.{what}: call init_params first")
        if optimizer and not self.optimizer_initialized:
            raise MXNetError(f"SequentialModule.{what}: call init_optimizer first")

    def _takes_labels(self, i):
        return self._metas[i][self.META_TAKE_LABELS]

    # ------------------------------------------------------------------ properties
    @property
    def data_names(self):
        return list(self._modules[0].data_names) if self._modules else []

    @property
    def label_names(self):
        """The label names of the modules that take labels (they all get the batch's)."""
        names = []
        for i, module in enumerate(self._modules):
            if self._takes_labels(i):
                names.extend(n for n in module.label_names if n not in names)
        return names

    @property
    def output_names(self):
        return list(self._modules[-1].output_names) if self._modules else []

    @property
    def data_shapes(self):
        self._check("data_shapes", params=False)
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        """The bound label shapes, None when no module takes labels."""
        self._check("label_shapes", params=False)
        return self._label_shapes

    @property
    def output_shapes(self):
        self._check("output_shapes", params=False)
        return self._modules[-1].output_shapes

    # ------------------------------------------------------------------ binding
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Bind each module on the previous one's output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if not self._modules:
            raise MXNetError("SequentialModule.bind: the chain is empty; add() modules before "
                             "binding")
        if shared_module is not None:
            raise MXNetError("SequentialModule.bind: shared_module is not supported")
        if inputs_need_grad and not for_training:
            raise MXNetError("SequentialModule.bind: inputs_need_grad needs for_training")
        labels = _descs(label_shapes)
        descs = _descs(data_shapes)
        for i, module in enumerate(self._modules):
            names = [d.name for d in descs]
            want = list(module.data_names)
            if self._metas[i][self.META_AUTO_WIRING]:
                if len(want) != len(descs):
                    raise MXNetError(
                        f"SequentialModule.bind: module {i} takes {len(want)} data arrays "
                        f"{want}, but {self._source(i)} gives {len(descs)} {names}")
                descs = [DataDesc(n, tuple(d.shape), d.dtype) for n, d in zip(want, descs)]
            elif names != want:
                raise MXNetError(
                    f"SequentialModule.bind: module {i} takes data {want}, but {self._source(i)} "
                    f"gives {names}; name its data after those (data_names=...) or add it with "
                    f"auto_wiring=True")
            module.bind(data_shapes=descs,
                        label_shapes=labels if self._takes_labels(i) else None,
                        for_training=for_training,
                        inputs_need_grad=bool(inputs_need_grad or (for_training and i > 0)),
                        force_rebind=force_rebind, shared_module=None, grad_req=grad_req)
            descs = _descs(module.output_shapes)
        self._label_shapes = labels if any(self._takes_labels(i)
                                           for i in range(len(self._modules))) else None
        self.binded = True
        self.for_training, self.inputs_need_grad = for_training, inputs_need_grad

    def _source(self, i):
        return "the data_shapes" if i == 0 else f"module {i - 1}'s outputs"

    # ------------------------------------------------------------------ parameters
    def init_params(self, initializer=_init.Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialize every module's parameters (each takes its own from arg_params /
        aux_params); parameter names must be unique across the chain."""
        if self.params_initialized and not force_init:
            return
        self._check("init_params", params=False)
        for module in self._modules:
            # (each module sees the whole dicts; what no module uses is checked below)
            module.init_params(initializer=initializer, arg_params=arg_params,
                               aux_params=aux_params, allow_missing=allow_missing,
                               force_init=force_init, allow_extra=True)
        self._check_names(arg_params, aux_params, allow_extra)
        self.params_initialized = True

    def _check_names(self, arg_params, aux_params, allow_extra):
        owners = ({}, {})
        for i, module in enumerate(self._modules):
            for known, names in zip(owners, module.get_params()):
                for name in names:
                    if name in known:
                        raise MXNetError(
                            f"SequentialModule: duplicated parameter name '{name}': module "
                            f"{i} ({type(module).__name__}) and module {known[name]} both have "
                            f"it; give the modules' variables distinct names")
                    known[name] = i
        if allow_extra:
            return
        for kind, given, known in (("arg_params", arg_params, owners[0]),
                                   ("aux_params", aux_params, owners[1])):
            extra = sorted(k for k in (given or {}) if k not in known)
            if extra:
                raise MXNetError(f"SequentialModule.init_params: {kind} {extra} are not "
                                 f"parameters of any module (pass allow_extra=True)")

    def get_params(self):
        """(arg_params, aux_params) of every module, merged."""
        self._check("get_params")
        arg, aux = {}, {}
        for module in self._modules:
            a, x = module.get_params()
            arg.update(a)
            aux.update(x)
        return arg, aux

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Set the modules' parameters from the merged dicts (as init_params without an
        initializer)."""
        self._check("set_params", params=False)
        for module in self._modules:
            module.set_params(arg_params, aux_params, allow_missing=allow_missing,
                              force_init=force_init, allow_extra=True)
        self._check_names(arg_params, aux_params, allow_extra)
        self.params_initialized = True

    # ------------------------------------------------------------------ optimizer
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """One optimizer per module (an Optimizer instance is copied for each module after
        the first: a Trainer keys its parameters by position, which would clash)."""
        self._check("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        for module, opt in zip(self._modules, _per_module(optimizer, len(self._modules))):
            module.init_optimizer(kvstore=kvstore, optimizer=opt,
                                  optimizer_params=optimizer_params, force_init=force_init)
        self.optimizer_initialized = True

    # ------------------------------------------------------------------ running
    def forward(self, data_batch, is_train=None):
        """Each module's outputs are the next module's data batch (labels unchanged)."""
        self._check("forward")
        batch = data_batch
        last = len(self._modules) - 1
        for i, module in enumerate(self._modules):
            module.forward(batch, is_train=is_train)
            if i == last:
                break
            outputs = module.get_outputs()
            if self._metas[i + 1][self.META_AUTO_WIRING]:
                names = list(self._modules[i + 1].data_names)
            else:
                names = [n for n, _ in _pairs(module.output_shapes)]
            batch = _next_batch(data_batch, outputs, names)

    def backward(self, out_grads=None):
        """Backward through the chain, last module first; each module's input gradients are
        the previous module's out_grads."""
        self._check("backward")
        if not self.for_training:
            raise MXNetError("SequentialModule.backward: bound with for_training=False")
        for i in range(len(self._modules) - 1, -1, -1):
            self._modules[i].backward(out_grads=out_grads)
            if i:
                out_grads = self._modules[i].get_input_grads()

    def update(self):
        self._check("update", optimizer=True)
        for module in self._modules:
            module.update()

    def get_outputs(self, merge_multi_context=True):
        self._check("get_outputs")
        return self._modules[-1].get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._check("get_input_grads")
        if not self.inputs_need_grad:
            raise MXNetError("SequentialModule.get_input_grads: bind with "
                             "inputs_need_grad=True")
        return self._modules[0].get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """The metric on the outputs of each module that takes labels."""
        self._check("update_metric")
        for i, module in enumerate(self._modules):
            if self._takes_labels(i):
                module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        """Install mon (mx.mon.Monitor) on every module."""
        self._check("install_monitor", params=False)
        for module in self._modules:
            module.install_monitor(mon)


def _pairs(shapes):
    return [(d.name, tuple(d.shape)) if isinstance(d, DataDesc) else (d[0], tuple(d[1]))
            for d in shapes]


class _Batch:
    """The batch a module after the first sees when the original cannot be copied and
    changed (a namedtuple)."""

    def __init__(self, data, label, pad, provide_data, provide_label, bucket_key):
        self.data, self.label, self.pad = data, label, pad
        self.provide_data, self.provide_label = provide_data, provide_label
        self.bucket_key = bucket_key


def _next_batch(original, outputs, names):
    """A shallow copy of the original batch (labels, pad, bucket_key kept) whose data are
    the outputs, named for the next module."""
    provide = [DataDesc(n, tuple(o.shape), o.dtype) for n, o in zip(names, outputs)]
    try:
        batch = copy.copy(original)
        batch.data = list(outputs)
        if hasattr(batch, "provide_data"):
            batch.provide_data = provide
        return batch
    except (AttributeError, TypeError):
        return _Batch(list(outputs), getattr(original, "label", None),
                      getattr(original, "pad", 0), provide,
                      getattr(original, "provide_label", None),
                      getattr(original, "bucket_key", None))


def _per_module(optimizer, n):
    """The optimizer for each of n modules: a name for all, or the instance for the first and
    copies (without its Parameters) for the others."""
    from .. import optimizer as opt
    if not isinstance(optimizer, opt.Optimizer) or n == 1:
        return [optimizer] * n
    held = optimizer.param_dict
    optimizer.param_dict = {}
    try:
        return [optimizer] + [copy.deepcopy(optimizer) for _ in range(n - 1)]
    finally:
        optimizer.param_dict = held
