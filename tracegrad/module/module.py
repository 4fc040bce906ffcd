"""Module: a Symbol trained the MXNet 1.x way (mx.mod.Module).

The parameters are gluon Parameters named as the symbol's arguments (with the variables'
__lr_mult__ / __wd_mult__), bound into a symbol Executor; update() is a gluon.Trainer step,
so the numbers are exactly those of a Gluon loop with the same optimizer. As in MXNet the
optimizer's rescale_grad defaults to 1 / batch size (the loss layers' gradients are summed
over the batch).
"""
import logging
import warnings

import numpy as np

from .. import initializer as _init
from .. import nd
from ..array import NDArray
from ..base import MXNetError, MXNetTypeError, MXNetValueError
from ..context import cpu
from ..io import DataDesc
from ..model import load_checkpoint
from ..symbol.executor import Executor
from ..symbol.inference import infer
from .base_module import BaseModule


def _descs(shapes):
    if shapes is None:
        return []
    out = []
    for s in shapes:
        if isinstance(s, DataDesc):
            d = s
        elif isinstance(s, (tuple, list)) and 2 <= len(s) <= 4 and isinstance(s[0], str):
            # (name, shape[, dtype[, layout]]): MXNet makes DataDesc(*s)
            d = None if len(s) == 2 else DataDesc(*s)
        else:
            raise MXNetTypeError(f"bind: shapes must be DataDesc or (name, shape[, dtype[, "
                                 f"layout]]) tuples, got {s!r}")     # (MXNet: TypeError)
        shape = s[1] if d is None else d.shape
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in shape):
            raise TypeError(f"bind: the shape of '{s[0] if d is None else d.name}' must be a "
                            f"tuple of ints, got {type(shape).__name__} {shape!r}")
        out.append(d if d is not None else DataDesc(s[0], tuple(int(k) for k in shape)))
    return out


def _workers_store(kvstore):
    """The store init_optimizer trains through, as MXNet's _create_kvstore picks it: a KVStore
    as given, a distributed one made from its type; None for a local type (the Trainer sums
    several devices' gradients itself; `_kvstore` shows MXNet's store then)."""
    from .. import kvstore as kvs
    if isinstance(kvstore, kvs.KVStoreBase):
        return kvstore
    if kvstore is not None and not isinstance(kvstore, str):
        raise TypeError(f"init_optimizer: kvstore must be KVStore, str or None, got "
                        f"{type(kvstore).__name__}")
    return kvs.create(kvstore) if kvstore is not None and "dist" in kvstore else None


def _grad_reqs(grad_req, arg_names, param_names, data_names, fixed, inputs_need_grad):
    """{argument: grad_req} as MXNet's executor group resolves bind's grad_req: a str for
    every parameter not fixed and, with inputs_need_grad, every data input ('null' for the
    rest); a list by position; a dict over those defaults ('write')."""
    if isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(arg_names):
            raise MXNetError(f"bind: grad_req has {len(grad_req)} entries for the symbol's "
                             f"{len(arg_names)} arguments {arg_names}")
        return dict(zip(arg_names, grad_req))
    if not isinstance(grad_req, (str, dict)):
        raise MXNetValueError(f"bind: grad_req must be a str, list, tuple or dict, got "
                              f"{type(grad_req).__name__}")
    default = grad_req if isinstance(grad_req, str) else "write"
    reqs = {}
    for k in arg_names:
        if k in param_names:
            reqs[k] = "null" if k in fixed else default
        elif k in data_names:
            reqs[k] = default if inputs_need_grad else "null"
        else:
            reqs[k] = "null"
    if isinstance(grad_req, dict):
        reqs.update(grad_req)
    for k, r in reqs.items():
        if r not in ("write", "add", "null", "inplace"):
            raise MXNetValueError(f"bind: grad_req of '{k}' must be 'write', 'add' or "
                                  f"'null', got {r!r}")
    return {k: "write" if r == "inplace" else r for k, r in reqs.items()}


def check_input_names(who, args, label_names, **groups):
    """MXNet's check of a module's input names against its symbol's arguments: a data /
    state / fixed_param name that is not one is an error, a label that is not one is
    dropped with a warning. The label names kept."""
    for kind, names in groups.items():
        missing = [n for n in names if n not in args]
        if missing:
            raise ValueError(f"You created {who} with {kind}_names={names}, but input with "
                             f"name {missing[0]!r} is not found in symbol.list_arguments(). "
                             f"Did you mean one of: {args}?")
    absent = [n for n in label_names if n not in args]
    if absent:
        warnings.warn(f"{who}: label {absent} is not an argument of the symbol ({args}); it "
                      f"is ignored", stacklevel=3)
    return [n for n in label_names if n in args]


class Module(BaseModule):
    """Module(symbol, data_names=('data',), label_names=('softmax_label',), context=cpu())."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        self._symbol = symbol
        self._context = context if context is not None else cpu()
        self._work_load_list = list(work_load_list) if work_load_list is not None else None
        # (MXNet's group2ctxs: one {ctx_group: Context} per device, or one for all)
        self._group2ctx = group2ctxs[0] if isinstance(group2ctxs, (list, tuple)) and \
            group2ctxs else (group2ctxs or None)
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        args = symbol.list_arguments()
        label_names = check_input_names("Module", args, label_names, data=data_names,
                                        state=state_names)
        self._data_names, self._label_names = data_names, label_names
        self._state_names = state_names
        inputs = set(data_names + label_names + state_names)
        self._param_names = [n for n in args if n not in inputs]
        self._aux_names = symbol.list_auxiliary_states()
        self._fixed_param_names = list(fixed_param_names or [])
        self._output_names = symbol.list_outputs()
        self._params = None            # {name: gluon Parameter}, args then aux
        self._preloaded = None         # (arg_params, aux_params) of Module.load
        self._exec = None
        self._monitor = None           # the Monitor of install_monitor, kept across rebinds
        self._trainer = None
        self._data_shapes = self._label_shapes = None
        self._output_shapes = None
        self._grad_req = None          # bind's grad_req (MXNet's attribute)
        self._kvstore_type = None      # init_optimizer's kvstore; its store, when one is made
        self._kvstore_made = None

    # ------------------------------------------------------------------ properties
    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        """(name, shape) of each output, inferred at bind (known before any forward)."""
        if not self.binded:
            raise MXNetError("output_shapes: bind the module first")
        return list(self._output_shapes)

    # ------------------------------------------------------------------ binding
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Allocate the executor for these input shapes (parameters keep their values)."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        from ..gluon.parameter import Parameter
        data, label = _descs(data_shapes), _descs(label_shapes)
        if not for_training and inputs_need_grad:
            raise MXNetError("bind: inputs_need_grad needs for_training")
        names = [d.name for d in data]
        if sorted(names) != sorted(self._data_names):   # (any order: the batches' order)
            raise MXNetError(f"bind: data_shapes name {names}, the module's data_names are "
                             f"{self._data_names}")
        label = [d for d in label if d.name in self._label_names]
        known = {d.name: tuple(d.shape) for d in data + label}
        types = {d.name: np.dtype(getattr(d, "dtype", np.float32)) for d in data + label}
        (arg_shapes, out_shapes, aux_shapes), _, var_types = infer(self._symbol, known, types)
        if arg_shapes is None:
            (partial, _, _), _, _ = infer(self._symbol, known, types, partial=True)
            unknown = [k for k, s in zip(self._symbol.list_arguments(), partial)
                       if not s or not all(s)]
            raise MXNetError(f"bind: cannot infer the shapes of {unknown} from {known}")
        shapes = dict(zip(self._symbol.list_arguments(), arg_shapes))
        shapes.update(zip(self._aux_names, aux_shapes))
        attrs = self._symbol.attr_dict()
        old = self._params
        shared = self._shared_params(shared_module, shapes, var_types)
        params = {}
        wanted = _grad_reqs(grad_req if for_training else "null",
                            self._symbol.list_arguments(), self._param_names,
                            [d.name for d in data], self._fixed_param_names, inputs_need_grad)
        for name in self._param_names + self._aux_names:
            if shared is not None:
                params[name] = shared[name]   # (its grad_req is the shared module's)
                continue
            req = "null" if name in self._aux_names else wanted[name]
            if old is not None and name in old and old[name].shape == shapes[name]:
                params[name] = old[name]   # (a rebind keeps the values)
                if old[name].grad_req != req:
                    old[name].grad_req = req
                continue
            a = attrs.get(name, {})
            # a row_sparse weight (mx.sym.var(stype='row_sparse')) has a row_sparse gradient,
            # which SGD and Adam update lazily, as MXNet's kernels do
            sparse = a.get("__storage_type__") == "1"
            p = Parameter(name, grad_req=req, shape=shapes[name], dtype=var_types[name],
                          lr_mult=float(a.get("__lr_mult__", 1.0)),
                          wd_mult=float(a.get("__wd_mult__", 1.0)),
                          grad_stype="row_sparse" if sparse else "default",
                          stype="row_sparse" if sparse else "default")
            p.set_data(np.zeros(shapes[name], var_types[name]))
            if old is not None and name in old and old[name]._data is not None:
                raise MXNetError(f"bind: parameter '{name}' changes shape from "
                                 f"{old[name].shape} to {shapes[name]}")
            params[name] = p
        self._params = params
        args = {n: params[n]._nd_data() for n in self._param_names}
        grads = {n: params[n].grad() for n in self._param_names
                 if params[n].grad_req != "null"}
        reqs = {n: params[n].grad_req for n in self._param_names}
        for d in data + label:
            args[d.name] = nd.zeros(d.shape, dtype=var_types[d.name])
            reqs[d.name] = wanted[d.name] if d.name in self._data_names else "null"
            if reqs[d.name] != "null":
                grads[d.name] = nd.zeros(d.shape, dtype=var_types[d.name])
        for n in self._symbol.list_arguments():
            if n not in args:   # a label the iterator does not give (prediction)
                args[n] = nd.zeros(shapes[n], dtype=var_types[n])
                reqs[n] = "null"
        if self._group2ctx:
            # an input of a ctx_group (mx.AttrScope(ctx_group=...)) and its gradient live on
            # the group's context, as MXNet's executor group places them
            from ..array import on_context
            groups = {n.name: n.attrs.get("__ctx_group__") for n in self._symbol._order()
                      if n.op is None}
            for d in data + label:
                place = self._group2ctx.get(groups.get(d.name))
                if isinstance(place, (list, tuple)):    # (one per device: the first's)
                    place = place[0] if place else None
                if place is not None:
                    for arrays in (args, grads):
                        if arrays.get(d.name) is not None:
                            on_context(arrays[d.name], place)
        aux = {n: params[n]._nd_data() for n in self._aux_names}
        old_exec = self._exec
        self._exec = Executor(self._symbol, args, grads, reqs, aux)
        if self._monitor is not None:   # (a rebind: the monitor follows the new executor)
            self._monitor._replace(old_exec, self._exec)
        self._data_shapes, self._label_shapes = data, label
        self._output_shapes = [(n, tuple(s)) for n, s in zip(self._output_names, out_shapes)]
        self.binded, self.for_training = True, for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        if shared is not None:
            # the values are the shared module's; a checkpoint's would overwrite them
            self._preloaded = None
            self.params_initialized = True
            if shared_module.optimizer_initialized:
                self.borrow_optimizer(shared_module)
        elif self._preloaded is not None:
            self.set_params(*self._preloaded, allow_missing=False)
            self._preloaded = None

    def _shared_params(self, shared_module, shapes, var_types):
        """The shared module's Parameters for this module's parameters (MXNet's bucketing:
        one set of weights, each bucket's executor bound to them), or None. As MXNet's
        shared executor, every parameter must exist there with the same shape and dtype."""
        if shared_module is None:
            return None
        if not isinstance(shared_module, Module):
            raise MXNetError(f"bind: shared_module must be a Module, got "
                             f"{type(shared_module).__name__}")
        if not (shared_module.binded and shared_module.params_initialized):
            raise MXNetError("bind: shared_module must be bound and have its parameters "
                             "initialized")
        theirs = shared_module._params
        out = {}
        for name in self._param_names + self._aux_names:
            p = theirs.get(name)
            if p is None:
                raise MXNetError(
                    f"bind: parameter '{name}' is not in shared_module, which has "
                    f"{sorted(theirs)}; a module bound with a shared_module can only use its "
                    f"parameters (BucketingModule: the default bucket's symbol must hold every "
                    f"parameter of every bucket, so make the largest bucket the default)")
            if tuple(p.shape) != tuple(shapes[name]):
                raise MXNetError(f"bind: parameter '{name}' has shape {tuple(shapes[name])} "
                                 f"here and {tuple(p.shape)} in shared_module; a shared "
                                 f"parameter must keep its shape")
            if np.dtype(p.dtype) != np.dtype(var_types[name]):
                raise MXNetError(f"bind: parameter '{name}' has dtype "
                                 f"{np.dtype(var_types[name])} here and {np.dtype(p.dtype)} "
                                 f"in shared_module")
            out[name] = p
        return out

    def reshape(self, data_shapes, label_shapes=None):
        """Rebind for new input shapes, keeping the parameters and the optimizer (and a
        monitor callback set on the executor, as MXNet's executor reshape keeps it)."""
        old = self._exec
        self.bind(data_shapes, label_shapes, self.for_training, self.inputs_need_grad,
                  force_rebind=True)
        callback = getattr(old, "_monitor_callback", None)
        if callback is not None and self._monitor is None and self._exec is not old:
            self._exec.set_monitor_callback(callback, old._monitor_all)

    # ------------------------------------------------------------------ parameters
    def init_params(self, initializer=_init.Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Fill the parameters from arg_params / aux_params, else with the initializer (the
        variable's own __init__ first, MXNet's name rules: bias 0, gamma 1, ...)."""
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. init_params "
                          "call ignored.", stacklevel=2)
            return
        if not self.binded:
            raise MXNetError("init_params: call bind before initializing the parameters")
        from ..symbol.gluon_block import own_initializer
        nodes = {n.name: n for n in self._symbol._order() if n.op is None}
        # (names the module lacks are skipped, as MXNet's init_params reads only its own:
        # a sub-network bound with a whole checkpoint's set_params)
        plan = []
        for given, names in ((arg_params, self._param_names), (aux_params, self._aux_names)):
            for name in names:
                p = self._params[name]
                if given is not None and name in given:
                    v = given[name]
                    v = v.asnumpy() if isinstance(v, NDArray) else np.asarray(v)
                    if v.shape != p.shape:
                        raise MXNetError(f"init_params: '{name}' has shape {v.shape}, the "
                                         f"module {p.shape}")
                    plan.append((p, v, None))
                elif given is not None and not allow_missing:
                    raise MXNetError(f"init_params: '{name}' is not in the given parameters "
                                     f"(pass allow_missing=True to initialize it)")
                elif given is not None and initializer is None:
                    continue    # (MXNet: allowed missing, no initializer: left as it is)
                elif initializer is not None:
                    plan.append((p, None, name))
                else:
                    raise MXNetError(f"init_params: no value and no initializer for '{name}'")
        from ..tracing import capture as _capture
        _capture.before_write()
        for p, value, name in plan:
            arr = p._nd_data()
            if value is not None:
                np.copyto(arr._data, value, casting="unsafe")
                continue
            node = nodes.get(name)
            own = own_initializer(node) if node is not None else None
            if own is not None:   # the variable's init= (MXNet: desc.attrs['__init__']),
                # given the module's initializer as desc.global_init, as MXNet's
                # Initializer.__call__ does (FusedRNN's uses it for its weights)
                own._init_weight(_init.InitDesc(name, global_init=initializer), arr)
            else:
                attrs = {k: v for k, v in (node.attrs if node else {}).items()
                         if k != "__init__"}
                initializer(_init.InitDesc(name, attrs), arr)
        self.params_initialized = True

    def get_params(self):
        """(arg_params, aux_params): copies of the current values."""
        if not self.binded or not self.params_initialized:
            raise MXNetError("get_params: bind and initialize the parameters first")
        arg = {n: self._params[n]._nd_data().copy() for n in self._param_names}
        aux = {n: self._params[n]._nd_data().copy() for n in self._aux_names}
        # a variable declared row_sparse is a RowSparseNDArray, as MXNet's get_params pulls
        # it (every row present)
        attrs = self._symbol.attr_dict()
        for n in self._param_names:
            if attrs.get(n, {}).get("__storage_type__") == "1":
                arg[n] = nd.sparse.row_sparse_array((arg[n], np.arange(arg[n].shape[0])),
                                                    shape=arg[n].shape, dtype=arg[n].dtype)
        return arg, aux

    @property
    def _arg_params(self):
        """MXNet's {name: NDArray} of the argument parameters, which programs read (amp.md
        checks mod._arg_params['conv0_weight'].dtype after convert_model): the bound values,
        None until the parameters are initialized."""
        return self._param_arrays(self._param_names)

    @property
    def _aux_params(self):
        """MXNet's {name: NDArray} of the auxiliary states (BatchNorm's moving statistics)."""
        return self._param_arrays(self._aux_names)

    def _sync_params_from_devices(self):
        """MXNet copies the executors' parameter values into _arg_params / _aux_params
        (programs call it after update(), as example/reinforcement-learning's actor-critic
        does); here both are the same arrays already, so there is nothing to copy."""
        if not self.binded or not self.params_initialized:
            raise MXNetError("_sync_params_from_devices: bind and initialize the parameters "
                             "first")

    def _param_arrays(self, names):
        if self._params is None or not self.params_initialized:
            return None
        from ..sparse import RowSparseNDArray, _relabel
        out = {n: self._params[n]._nd_data() for n in names}
        for n in names:     # (a variable declared row_sparse: shown as one, the same array)
            if self._params[n]._stype == "row_sparse":
                out[n] = _relabel(out[n], RowSparseNDArray)
        return out

    @property
    def _total_exec_bytes(self):
        """MXNet's count of the bytes the bound executor holds: here its arguments,
        gradients and auxiliary states."""
        if not self.binded:
            return 0
        ex = self._exec
        return int(sum(a._data.nbytes for a in ex.arg_arrays + ex.grad_arrays + ex.aux_arrays
                       if a is not None))

    def _num_contexts(self):
        ctx = self._context
        return len(ctx) if isinstance(ctx, (list, tuple)) else 1

    @property
    def _kvstore(self):
        """MXNet's store of a Module (init_optimizer's kvstore), which updates the parameters:
        its _updater shows the Module's optimizer and states. A given or distributed store
        (_workers_store), else one made for several contexts; None for a local type on one
        context, or before init_optimizer."""
        if self._trainer is None or self._kvstore_type is None:
            return None
        if self._kvstore_made is None and self._num_contexts() == 1:
            return None
        if self._kvstore_made is None:
            from .. import kvstore as kvs
            from ..gluon.trainer import _attach_updater
            kv = kvs.create(self._kvstore_type)
            if kv.is_capable(kvs.KVStoreBase.OPTIMIZER):
                _attach_updater(kv, self._trainer)
            self._kvstore_made = kv
        return self._kvstore_made

    @property
    def _updater(self):
        """MXNet's updater of a Module that does not update on a store: its optimizer and
        its states by parameter index."""
        from ..kvstore import KVStoreBase
        kv = self._kvstore
        if self._trainer is None or (kv is not None and kv.is_capable(KVStoreBase.OPTIMIZER)):
            return None
        return self._trainer._updaters[0]

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        if not self.binded:
            self._preloaded = (arg_params, aux_params)
            self.params_initialized = True
            return
        if allow_missing and not allow_extra:   # (MXNet copies these into the executors)
            for given, names in ((arg_params, self._param_names),
                                 (aux_params, self._aux_names)):
                extra = [k for k in (given or {}) if k not in names]
                if extra:
                    raise MXNetValueError(f"set_params: {extra} are not parameters of the module "
                                     f"(pass allow_extra=True)")
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    # ------------------------------------------------------------------ optimizer
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """A gluon.Trainer over the parameters; rescale_grad defaults to 1 / batch size."""
        from .. import optimizer as opt
        from ..gluon.trainer import Trainer
        if not (self.binded and self.params_initialized):
            raise MXNetError("init_optimizer: bind and initialize the parameters first")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        store = _workers_store(kvstore)
        batch_size = self._data_shapes[0].shape[0]
        if store is not None and "dist" in store.type and "_sync" in store.type:
            batch_size *= store.num_workers     # (MXNet: the gradients are summed over them)
        rescale = 1.0 / batch_size
        trainable = [self._params[n] for n in self._param_names
                     if self._params[n].grad_req != "null"]
        made_here = isinstance(optimizer, str)
        if made_here:
            # MXNet's Module creates the optimizer with the symbol: its lr_mult / wd_mult
            # dicts hold the variables' __lr_mult__ / __wd_mult__ (and wd_mult 0 for names
            # not ending in _weight or _gamma), and they set the Parameters' multipliers below
            params = dict(optimizer_params or {})
            params.setdefault("rescale_grad", rescale)
            optimizer = opt.create(optimizer, sym=self._symbol,
                                   param_idx2name=dict(enumerate(self._param_names)), **params)
        if isinstance(optimizer, opt.Optimizer):
            if not made_here and optimizer.rescale_grad != rescale:
                warnings.warn(f"Optimizer created manually outside Module but rescale_grad is "
                              f"not normalized to 1.0/batch_size/num_workers "
                              f"({optimizer.rescale_grad} vs. {rescale}). Is this intended?",
                              stacklevel=2)
            # an Optimizer made outside the Module knows the symbol's __lr_mult__ /
            # __wd_mult__ only if it was made with sym=: its own multipliers by name decide
            if not made_here and not getattr(optimizer, "idx2name", None):
                # (MXNet gives an Optimizer made without param_idx2name the Module's names)
                optimizer.idx2name = dict(enumerate(self._param_names))
            lr_mults = getattr(optimizer, "lr_mult", None) or {}
            wd_mults = getattr(optimizer, "wd_mult", None) or {}
            for p in trainable:
                p.lr_mult = float(lr_mults.get(p.name, 1.0))
                p.wd_mult = float(wd_mults.get(p.name, 1.0))
            # (on one machine the Trainer sums the devices' gradients itself; across
            # workers it trains through the store, as MXNet's Module does)
            self._trainer = Trainer(trainable, optimizer,
                                    **({} if store is None else {"kvstore": store}))
            self._kvstore_type, self._kvstore_made = kvstore, store
        else:
            raise MXNetError(f"init_optimizer: optimizer must be a name or an Optimizer, got "
                             f"{type(optimizer).__name__}")
        states = getattr(self, "_preload_opt_states", None)
        if states is not None:
            self._trainer.load_states(states)
            self._preload_opt_states = None
        self.optimizer_initialized = True

    def borrow_optimizer(self, shared_module):
        """Update through shared_module's Trainer (MXNet's bucketing: one optimizer, with one
        state per parameter, for every bucket)."""
        if not shared_module.optimizer_initialized:
            raise MXNetError("borrow_optimizer: the shared module has no optimizer yet "
                             "(call its init_optimizer first)")
        self._trainer = shared_module._trainer
        self.optimizer_initialized = True

    @property
    def _exec_group(self):
        """MXNet's executor group as programs reach into it (SVRG, VAE-GAN):
        param_names, and per parameter a one-device list of its array / gradient."""
        if not self.binded:
            raise MXNetError("_exec_group: bind the module first")
        return _ExecGroup(self)

    @property
    def _optimizer(self):
        return self._trainer.optimizer if self._trainer is not None else None

    def install_monitor(self, mon):
        """Report this module's executor to mon (mx.mon.Monitor), also after a rebind."""
        if not self.binded:
            raise MXNetError("install_monitor: bind the module first")
        self._monitor = mon
        mon.install(self._exec)

    # ------------------------------------------------------------------ running
    def forward(self, data_batch, is_train=None):
        if not (self.binded and self.params_initialized):
            raise MXNetError("forward: bind and initialize the parameters first")
        if is_train is None:
            is_train = self.for_training
        data = list(data_batch.data)
        if len(data) != len(self._data_names):
            raise MXNetError(f"forward: the batch has {len(data)} data arrays, the module "
                             f"takes {self._data_names}")
        # (a batch without labels may lack the attribute: MXNet's deployment tutorials feed
        # a namedtuple('Batch', ['data']))
        labels = getattr(data_batch, "label", None) or []
        shapes = [tuple(d.shape) for d in data]
        data_names, label_names = self._bound_names()
        if shapes != [tuple(d.shape) for d in self._data_shapes]:
            self.reshape([DataDesc(n, s) for n, s in zip(data_names, shapes)],
                         [DataDesc(n, tuple(lb.shape)) for n, lb in
                          zip(label_names, labels) if self._label_shapes] or None)
        feed = dict(zip(data_names, data))
        if labels and self._label_shapes:
            # bound without label shapes (MXNet's executor group then has no label arrays) the
            # batch's labels are not read: FeedForward.predict on an iterator whose dummy labels
            # do not fit the loss layer
            feed.update(zip(label_names, labels))
        self._exec.forward(is_train=is_train, **feed)

    def backward(self, out_grads=None):
        if not self.for_training:
            raise MXNetError("backward: the module was bound with for_training=False")
        self._exec.backward(out_grads)

    def update(self):
        """One optimizer step on the gradients of the last backward."""
        if not self.optimizer_initialized:
            raise MXNetError("update: call init_optimizer first")
        # MXNet's Module updates every trainable parameter from its gradient buffer, whether
        # or not a backward wrote it since the last update (stochastic depth's module whose
        # gate stayed closed moves again with its last gradients and momentum): no gradient
        # is stale to the Trainer here
        for p in self._params.values():
            var = p._data._var if p._data is not None and p.grad_req != "null" else None
            if var is not None and hasattr(var, "fresh"):
                var.fresh = True
        self._trainer.step(1, ignore_stale_grad=True)

    def get_outputs(self, merge_multi_context=True):
        """The outputs; merge_multi_context=False: per output the list of its per-device
        arrays, as MXNet's executor group gives them (one executor runs the whole batch
        here: on several devices each gets its part of the batch, split along the output's
        layout, _per_device). One device's outputs are the executor's own arrays, which the
        next forward overwrites (as in MXNet)."""
        outs = list(self._exec.outputs)
        if not merge_multi_context:
            layouts = [self._symbol[k].attr("__layout__") for k in self._output_names]
            return [self._per_device(o, layout) for o, layout in zip(outs, layouts)]
        if isinstance(self._context, (list, tuple)) and len(self._context) > 1:
            # (MXNet merges several devices' outputs into new arrays: a copy the next forward
            # does not overwrite, as programs that keep them rely on)
            return [o.copy() for o in outs]
        return outs

    def get_states(self, merge_multi_context=True):
        """The state arrays (the inputs named by state_names, kept between forwards: an RNN's
        hidden state); merge_multi_context=False: per state the list of its per-device arrays
        (one executor runs the whole batch here, so each list holds one array)."""
        if not (self.binded and self.params_initialized):
            raise MXNetError("get_states: bind and initialize the parameters first")
        arrays = [self._exec.arg_dict[n] for n in self._state_names]
        return arrays if merge_multi_context else [[a] for a in arrays]

    def set_states(self, states=None, value=None):
        """Copy `states` (per state an array, or the list of its per-device arrays, as
        get_states / get_outputs(merge_multi_context=False) give them) into the state arrays,
        or fill every one with the scalar `value`: one of the two."""
        if not (self.binded and self.params_initialized):
            raise MXNetError("set_states: bind and initialize the parameters first")
        if (states is None) == (value is None):
            raise MXNetError("set_states: give exactly one of states and value")
        targets = [self._exec.arg_dict[n] for n in self._state_names]
        if value is not None:
            for dst in targets:
                dst[:] = value
            return
        if len(states) != len(targets):
            raise MXNetError(f"set_states: {len(states)} states given, the module has "
                             f"{len(targets)} ({self._state_names})")
        for name, src, dst in zip(self._state_names, states, targets):
            if isinstance(src, (list, tuple)):      # (per device: the batch's slices)
                src = src[0] if len(src) == 1 else nd.concat(*src, dim=0)
            if tuple(src.shape) != tuple(dst.shape):
                raise MXNetError(f"set_states: state '{name}' has shape {tuple(dst.shape)}, "
                                 f"got {tuple(src.shape)}")
            dst[:] = src

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True")
        grads = [self._exec.grad_dict.get(n) for n in self._bound_names()[0]]   # (None:
        if merge_multi_context:                                                 # grad_req null)
            return grads
        layouts = {d.name: getattr(d, "layout", None) for d in self._data_shapes}
        return [self._per_device(g, layouts.get(n))
                for g, n in zip(grads, self._bound_names()[0])]

    def _per_device(self, array, layout):
        """One device's part of a whole-batch array, as MXNet's executor group holds it per
        device: the batch split along the layout's N axis (MXNet's _split_input_slice, by
        work_load_list), each part on its device. One device, an array without the batch
        axis, or None: as it is."""
        from ..io import DataDesc
        ctxs = self._context if isinstance(self._context, (list, tuple)) else [self._context]
        axis = DataDesc.get_batch_axis(layout)
        batch = self._data_shapes[0].shape[
            DataDesc.get_batch_axis(getattr(self._data_shapes[0], "layout", None))]
        if array is None or len(ctxs) == 1 or axis < 0 or axis >= array.ndim or \
                array.shape[axis] != batch:
            return [array]
        loads = self._work_load_list or [1] * len(ctxs)
        counts = [int(round(w * batch / sum(loads))) for w in loads]
        counts[-1] += batch - sum(counts)
        parts, begin = [], 0
        for ctx, n in zip(ctxs, counts):
            end = min(begin + n, batch)
            if begin >= end:
                raise MXNetError(f"get_outputs: {len(ctxs)} devices for a batch of {batch}: "
                                 f"some splits are empty")
            parts.append(nd.slice_axis(array, axis=axis, begin=begin, end=end)
                         .as_in_context(ctx))
            begin = end
        return parts

    def _bound_names(self):
        """The data and label names in the order bind got their shapes: MXNet feeds a
        batch's arrays to them by position."""
        return ([d.name for d in self._data_shapes],
                [d.name for d in self._label_shapes] or self._label_names)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        labels = list(labels or [])
        eval_metric.update_dict(dict(zip(self._bound_names()[1], labels)),
                                dict(zip(self._output_names, self._exec.outputs)))

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        """prefix-symbol.json (amp_cast nodes kept with remove_amp_cast=False),
        prefix-%04d.params and, asked, the optimizer states."""
        self._symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
        param_name = f"{prefix}-{epoch:04d}.params"
        self.save_params(param_name)
        logging.info('Saved checkpoint to "%s"', param_name)
        if save_optimizer_states:
            state_name = f"{prefix}-{epoch:04d}.states"
            self.save_optimizer_states(state_name)
            logging.info('Saved optimizer state to "%s"', state_name)

    def save_optimizer_states(self, fname):
        """The optimizer's states (momenta, moments, update counts) to a file (MXNet's
        Module.save_optimizer_states; speech_recognition's bucketing module calls it on its
        current module)."""
        if not self.optimizer_initialized:
            raise MXNetError("save_optimizer_states: call init_optimizer first")
        self._trainer.save_states(fname)

    def load_optimizer_states(self, fname):
        """The optimizer's states from a file save_optimizer_states wrote."""
        if not self.optimizer_initialized:
            raise MXNetError("load_optimizer_states: call init_optimizer first")
        self._trainer.load_states(fname)

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module of a checkpoint; its parameters are set when it is bound."""
        sym, arg, aux = load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._preloaded = (arg, aux)
        mod.params_initialized = True
        if load_optimizer_states:
            mod._preload_opt_states = f"{prefix}-{epoch:04d}.states"
        return mod


class _ExecGroup:
    """A view of a bound Module shaped as MXNet's DataParallelExecutorGroup (one device)."""

    def __init__(self, module):
        ex = module._exec
        self.execs = [ex]
        self.param_names = list(module._param_names)
        self.aux_names = list(module._aux_names)
        self.data_names = [d.name for d in module._data_shapes]
        self.label_names = [d.name for d in module._label_shapes]
        self.batch_size = module._data_shapes[0].shape[0]
        self.param_arrays = [[ex.arg_dict[n]] for n in self.param_names]
        self.grad_arrays = [[ex.grad_dict.get(n)] for n in self.param_names]
        self.aux_arrays = [[ex.aux_dict[n]] for n in self.aux_names]
        self.data_arrays = [[(slice(0, self.batch_size), ex.arg_dict[n])]
                            for n in self.data_names]
