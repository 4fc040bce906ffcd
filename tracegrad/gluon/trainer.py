"""gluon.Trainer: applies an optimizer to a set of Parameters.

step(batch_size) = _allreduce_grads() (the point where gradients are complete: a KVStore sums
them there) then _update: rescale_grad = scale / batch_size (MXNet's normalization), and every
live parameter updated in one native call (fused_update.py; the built-in optimizers), or per
parameter by optimizer.update for an optimizer without a fused form. A parameter whose gradient
backward has not written since the last step is stale: step raises unless
ignore_stale_grad=True, which skips it.
"""
import numpy as np

from ..tracing import capture as _capture
from ..tracing import update_fusion as _update_fusion
from .. import fused_update
from .. import optimizer as opt
from ..array import HOOKS, NDArray, SideEffect, wrap
from ..base import ANY_TRACE, MXNetError
from ..nd import load_arrays, save_arrays
from ..optimizer_updater import Updater
from ..sparse_rows import listed_rows
from . import contexts as _contexts
from .parameter import Parameter, ParameterDict, _GradVar

_CAPTURE_STATE = _capture._STATE   # (per thread: a threading.local)


class Trainer:
    """Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'momentum': 0.9})."""

    # mx.contrib.amp.init_trainer's dynamic loss scaler: with one, an update is skipped when
    # a gradient overflowed (_update), and the step is not fused into backward (whose call
    # would write the weights before the check)
    _amp_loss_scaler = None

    def __init__(self, params, optimizer, optimizer_params=None, kvstore="device",
                 compression_params=None, update_on_kvstore=None):
        if isinstance(params, (dict, ParameterDict)):
            params = list(params.values())
        if not isinstance(params, (list, tuple)):
            raise ValueError(f"First argument must be a list or dict of Parameters, got "
                             f"{type(params).__name__}")
        self._params, seen = [], set()
        for p in params:
            if not isinstance(p, Parameter):
                raise ValueError(f"First argument must be a list or dict of Parameters, got a "
                                 f"list containing {type(p).__name__}")
            if id(p) not in seen:
                seen.add(id(p))
                self._params.append(p)
                p._set_trainer(self)
        self._kvstore_params = {"kvstore": kvstore, "update_on_kvstore": update_on_kvstore}
        optimizer_params = dict(optimizer_params or {})
        param_dict = dict(enumerate(self._params))
        if isinstance(optimizer, opt.Optimizer):
            if optimizer_params:
                raise MXNetError("optimizer_params must be None when optimizer is an Optimizer "
                                 "instance (set them on the instance)")
            self._optimizer = optimizer
            optimizer.param_dict = param_dict
        else:
            self._optimizer = opt.create(optimizer, param_dict=param_dict, **optimizer_params)
        # step(batch_size) rescales by this / batch_size: an instance's own rescale_grad too
        self._scale = float(self._optimizer.rescale_grad)
        self._states = {}
        self._sync = _kvstore_sync(kvstore, self._params)
        self._reset_kvstore()
        # every parameter in one native call, unless the optimizer has no fused form
        self._fused = fused_update.supports(self._optimizer)
        # the last step's parameters bound to their fused call (see _update_bound)
        self._bound = None

    @property
    def _updaters(self):
        """MXNet's per-device updaters, which scripts read (`trainer._updaters[0].states`,
        `.optimizer`): one, sharing this trainer's optimizer and its states by index."""
        return [_StoreUpdater(self)]

    def _reset_kvstore(self):
        """MXNet's kvstore bookkeeping, which programs read: an LR finder checks
        _kv_initialized and calls _init_kvstore() before save_states; scripts branch on
        _update_on_kvstore. It stays unset until the first step, update or state save, and
        is unset again when a parameter updated on the kvstore gets new data (set_data, a
        load), as MXNet drops its kvstore then."""
        kv = getattr(self, "_kvstore", None)
        if kv is not None and "dist" in kv.type:
            raise RuntimeError("Cannot reset distributed KVStore.")
        self._kv_initialized = False
        self._kvstore = self._update_on_kvstore = self._distributed = None

    @property
    def _params_to_init(self):
        """MXNet's parameters not yet placed on the kvstore: all of them before the kvstore
        is made, then those whose initialization is still deferred (none without a
        kvstore)."""
        if not self._kv_initialized:
            return list(self._params)
        if self._kvstore is None:
            return []
        return [p for p in self._params if p._data is None]

    def _init_kvstore(self):
        """The kvstore MXNet's Trainer makes and whether it updates on it
        (_update_on_kvstore), by MXNet's rules: none for one context (unless a KVStore
        object is given, or a weight is sparse); for several contexts the named store,
        updating on it unless update_on_kvstore=False, MXNET_UPDATE_ON_KVSTORE=0, a sparse
        gradient, or a store that cannot run an optimizer. The updates themselves are this
        Trainer's in every case (the same sums and updates as MXNet's local stores); a
        store updating on itself shows the Trainer's optimizer and states as its _updater.
        A distributed store sums gradients across workers and each worker updates its own
        weights (update_on_kvstore False)."""
        self._check_sparse_weights()
        sync = self._sync
        if sync is not None:
            self._kvstore, self._update_on_kvstore = sync.kv, False
            self._distributed = "dist" in sync.kv.type
        else:
            kv, on_kvstore = self._local_kvstore()
            if kv is not None and on_kvstore:
                _attach_updater(kv, self)
            self._kvstore = kv
            self._update_on_kvstore = bool(on_kvstore) if kv is not None else None
            self._distributed = False
        self._kv_initialized = True

    def _local_kvstore(self):
        """(store or None, update on it) for one process, as MXNet's _init_kvstore."""
        from ..kvstore import KVStore, KVStoreBase, create
        config = self._kvstore_params
        kvstore, wanted = config["kvstore"], config["update_on_kvstore"]
        if any(p._stype != "default" for p in self._params):
            kv = kvstore if isinstance(kvstore, KVStoreBase) else create(kvstore)
            if not kv.is_capable(KVStoreBase.OPTIMIZER):
                raise ValueError(f"KVStore with sparse weight requires optimizer support. "
                                 f"However, {type(kv).__name__} does not support optimizer.")
            return kv, True
        kv, on_kvstore = self._create_kvstore(kvstore)
        if any(p._grad_stype != "default" for p in self._params):
            on_kvstore = False if wanted is None else wanted
            if kv is not None and not isinstance(kv, KVStore):
                raise ValueError(f"Cannot use {type(kv)} for multi-device training with "
                                 f"sparse gradients")
            return kv, on_kvstore
        if wanted is not None:
            on_kvstore = wanted
        if kv is not None and on_kvstore and not kv.is_capable(KVStoreBase.OPTIMIZER):
            if wanted:
                raise ValueError(f"Please set update_on_kvstore=False when training with "
                                 f"{type(kv)}")
            on_kvstore = False
        return kv, on_kvstore

    def _create_kvstore(self, kvstore):
        """MXNet's model._create_kvstore: (store or None, update on it by default)."""
        import os
        from ..kvstore import KVStoreBase, create
        on_kvstore = bool(int(os.getenv("MXNET_UPDATE_ON_KVSTORE", "1")))
        if kvstore is None or kvstore is False:
            return None, False
        if isinstance(kvstore, KVStoreBase):
            kv = kvstore
        elif isinstance(kvstore, str):
            if _num_contexts(self._params) == 1 and "dist" not in kvstore:
                return None, False      # one device: no store needed
            kv = create(kvstore)
            sizes = [int(np.prod(p.shape)) for p in self._params
                     if p.shape is not None and all(d > 0 for d in p.shape)]
            if kvstore == "local" and sizes and max(sizes) > 1024 * 1024 * 16:
                on_kvstore = False
        else:
            raise TypeError("kvstore must be KVStore, str or None")
        return kv, on_kvstore and kv.is_capable(KVStoreBase.OPTIMIZER)

    def _check_sparse_weights(self):
        """MXNet's _init_kvstore with a sparse weight (stype='row_sparse'): the weight lives
        on a kvstore (given as a KVStore or its name) that updates it."""
        sparse = [p.name for p in self._params if p._stype != "default"]
        if not sparse:
            return
        from ..kvstore.base import KVStore
        config = self._kvstore_params
        kvstore = config["kvstore"]
        if not isinstance(kvstore, (str, KVStore)):
            raise TypeError(f"Cannot create '{kvstore}' KVStore with row_sparse parameters. "
                            f"The type must be KVStore or str.")
        if config["update_on_kvstore"] is False:
            raise ValueError("Cannot set update_on_kvstore=False when sparse weights are "
                             "present.")

    @property
    def optimizer(self):
        return self._optimizer

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    def set_learning_rate(self, lr):
        self._optimizer.set_learning_rate(lr)

    def step(self, batch_size, ignore_stale_grad=False):
        """One update with gradients normalized by 1/batch_size."""
        if ANY_TRACE[0] and HOOKS.compiling:  # (in a jit trace: compiled code would not update)
            raise SideEffect("trainer.step()")
        if not self._kv_initialized:
            self._init_kvstore()
        optimizer = self._optimizer
        optimizer.rescale_grad = self._scale / batch_size
        bound = self._bound
        if bound is not None and self._sync is None and self._amp_loss_scaler is None:
            held = _CAPTURE_STATE.step      # a captured step held for this Binding
            fusion = held.held if held is not None else None
            if fusion is not None and fusion.binding is bound:
                # (the run the fusion keeps for this trainer: update_fusion.fast_run)
                fast = fusion.fast_run if fusion.fast_for is self else \
                    _update_fusion.fast_run(fusion, self)
                if fast(fusion, self, held, optimizer, self._states):
                    if optimizer.rescales_grad_in_place:
                        leave_rescaled(optimizer, bound.vars, bound.weights)
                    return      # the captured step and this update were one native call
        _capture.before_write()  # a forward still deferred must see the weights before the update
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self):
        """Sum the gradients across workers (a distributed kvstore); else nothing to do."""
        if not self._kv_initialized:
            self._init_kvstore()
        assert not (self._kvstore and self._update_on_kvstore), \
            "allreduce_grads() when parameters are updated on kvstore is not supported. " \
            "Try setting `update_on_kvstore` to False when creating trainer."
        self._allreduce_grads()

    def _allreduce_grads(self):
        """The hook where every gradient is ready and not yet used: a distributed KVStore sums
        them across workers here."""
        if _contexts.ACTIVE[0]:   # parameters on several contexts: sum their copies' gradients
            _contexts.sum_gradients(self._params)
        if self._sync is not None:
            self._sync.allreduce_grads()

    def update(self, batch_size, ignore_stale_grad=False):
        """The update half of step (after allreduce_grads)."""
        if HOOKS.compiling:
            raise SideEffect("trainer.update()")
        if not self._kv_initialized:
            self._init_kvstore()
        assert not (self._kvstore and self._update_on_kvstore), \
            "update() when parameters are updated on kvstore is not supported. Try " \
            "setting `update_on_kvstore` to False when creating trainer."
        self._optimizer.rescale_grad = self._scale / batch_size
        _capture.before_write()
        self._update(ignore_stale_grad)

    def _update_bound(self):
        """The hot path: every parameter as in the last step (the same weight NDArray and
        gradient Variable, or still grad_req='null'), every live gradient fresh, the same
        optimizer structure: one fused call through the step's Binding. False: take the
        general path (which raises or skips stale gradients, and binds again)."""
        bound = self._bound
        if not self._bound_holds(fresh=True) or not bound(self._optimizer, self._states):
            return False
        for var in bound.vars:
            var.fresh = False
        if self._optimizer.rescales_grad_in_place:
            leave_rescaled(self._optimizer, bound.vars, bound.weights)
        if self._sync is None and self._amp_loss_scaler is None:
            _update_fusion.note(bound)
        return True

    def _bound_holds(self, fresh):
        """Whether the Binding still describes the parameters: the same weight NDArrays and
        gradient Variables (and, with `fresh`, every live gradient written since the last
        step), the same optimizer structure."""
        optimizer = self._optimizer
        structure = self._bound.structure
        if not self._fused or structure[0] is not type(optimizer) or \
                structure[1] != optimizer.fused_structure():
            return False
        for p, data, var in self._bound_params:
            d = p._data
            if d is not data or (d is not None and d._var is not var) or (
                    fresh and var is not None and not var.fresh):
                return False
        return len(self._params) == len(self._bound_params)

    def _update(self, ignore_stale_grad):
        scaler = self._amp_loss_scaler
        if scaler is not None and scaler.has_overflow(self._params):
            return      # AMP: a gradient overflowed; weights and states stay as they are
        if self._bound is not None:
            if self._update_bound():
                return
            self._bound = None
        live = []
        stale = []
        for i, p in enumerate(self._params):
            if p._grad_req == "null":
                continue
            data = p._data
            if data is None:
                if ignore_stale_grad:
                    continue
                p.data()  # raises the uninitialized / deferred error
            if getattr(data._var, "fresh", True) and (not p._copies or _contexts.all_fresh(p)):
                live.append((i, p))
            elif ignore_stale_grad:
                continue
            else:
                stale.append(p.name)
        if stale:
            raise UserWarning(
                f"Gradient of Parameter(s) {stale} has not been updated by backward since the "
                f"last `step`. This could mean a bug in your model that made it only use a "
                f"subset of the Parameters (Blocks) for this iteration. If you are "
                f"intentionally only using a subset, call step with ignore_stale_grad=True to "
                f"suppress this warning and skip updating of Parameters with stale gradient")
        optimizer, states = self._optimizer, self._states
        by_ndarray = optimizer.takes_ndarrays   # the user's own update(), as MXNet calls it
        for i, p in live:
            if i not in states:
                states[i] = self._new_state(i, p)
        lazy = _lazy_params(optimizer, live, states)
        if lazy:
            live = [(i, p) for i, p in live if i not in lazy]
            for i, p in lazy.values():
                _update_present_rows(optimizer, i, p, states, by_ndarray)
            if _contexts.ACTIVE[0]:
                self._to_every_context(list(lazy.values()))
        if live and not by_ndarray and self._fused and fused_update.apply(
                optimizer, [(i, p._data, p._data._var.grad) for i, p in live], states):
            for _, p in live:
                var = p._data._var
                if type(var) is _GradVar:
                    var.fresh = False
            if optimizer.rescales_grad_in_place:
                leave_rescaled(optimizer, [p._data._var for _, p in live],
                               [p._data for _, p in live])
            if _contexts.ACTIVE[0]:
                self._to_every_context(live)
            elif len(live) == sum(p._grad_req != "null" for p in self._params) and all(
                    type(p._data._var) is _GradVar for _, p in live):
                self._bound = fused_update.bind(
                    optimizer, [(i, p._data, p._data._var) for i, p in live], states)
                self._bound_params = [(p, p._data, p._data._var if p._data is not None
                                       else None) for p in self._params]
            return
        update = optimizer.update_multi_precision if by_ndarray else optimizer.update
        for i, p in live:
            var = p._data._var
            if by_ndarray:
                update(i, p._data, wrap(var.grad), states[i])
            else:
                update(i, p._data._data, var.grad, states[i])
                if optimizer.rescales_grad_in_place:
                    leave_rescaled(optimizer, [var], [p._data])
            if type(var) is _GradVar:
                var.fresh = False
        if _contexts.ACTIVE[0]:
            self._to_every_context(live)

    @staticmethod
    def _to_every_context(live):
        """The updated first copies' values into every other copy (MXNet's pull to each
        device); their gradients are used."""
        params = [p for _, p in live if p._copies]
        _contexts.broadcast_data(params)
        for p in params:
            _contexts.mark_used(p)

    def _new_state(self, i, p):
        """Parameter i's optimizer state: made on its NDArray by an optimizer written the
        MXNet way (takes_ndarrays), on its buffer by the built-in ones."""
        optimizer = self._optimizer
        if optimizer.takes_ndarrays:
            return optimizer.create_state_multi_precision(i, p._data)
        return optimizer.create_state(i, p._data._data)
            # else: the user re-attached a plain gradient to the data

    def save_states(self, fname):
        """Optimizer states (momenta, moments) to an .npz file."""
        if not self._kv_initialized:
            self._init_kvstore()
        arrays = {}
        for i, state in self._states.items():
            parts = _saved_parts(state)
            for k, s in enumerate(parts):
                if s is not None:
                    arrays[f"{i}:{k}"] = s.asnumpy() if isinstance(s, NDArray) else s
        arrays["__num_update__"] = np.array(self._optimizer.num_update)
        # each parameter's update count (Adam's, FTML's, LAMB's bias corrections): MXNet's
        # saved optimizer carries them too
        counts = self._optimizer._index_update_count
        if counts and all(type(k) is int for k in counts):
            arrays["__index_update_count__"] = np.array(sorted(counts.items()), dtype=np.int64)
        save_arrays(fname, arrays)

    def load_states(self, fname):
        if not self._kv_initialized:
            self._init_kvstore()
        arrays = load_arrays(fname)
        counts = arrays.pop("__index_update_count__", None)
        if counts is not None and (counts.ndim != 2 or counts.shape[1:] != (2,) or
                                   counts.dtype.kind not in "iu"):
            raise MXNetError(f"Trainer.load_states: '{fname}' holds update counts of shape "
                             f"{counts.shape} ({counts.dtype}), not (n, 2) integers")
        self._optimizer.num_update = int(arrays.pop("__num_update__", 0))
        if counts is not None:
            self._optimizer._index_update_count = {int(i): int(c) for i, c in counts}
        for i, p in enumerate(self._params):
            if p._data is None or p.grad_req == "null":
                continue
            state = self._new_state(i, p)
            parts = _saved_parts(state)
            for k, s in enumerate(parts):
                if s is not None and f"{i}:{k}" in arrays:
                    if isinstance(s, NDArray):
                        s[:] = arrays[f"{i}:{k}"]
                    else:
                        np.copyto(s, arrays[f"{i}:{k}"])
            self._states[i] = state


def _saved_parts(state):
    """A state's arrays in the order save_states keeps them (a float16 weight's master copy
    first, whichever layout its optimizer holds it in: MasterState.flat)."""
    if type(state) is opt.MasterState:
        return state.flat()
    return state if isinstance(state, (tuple, list)) else (state,)


def _lazy_params(optimizer, live, states):
    """{index: (index, parameter)} of the live parameters whose row_sparse gradient
    (Embedding(sparse_grad=True), grad_stype='row_sparse') the optimizer updates on the rows
    the gradient holds only, as MXNet's sparse kernels do (Optimizer.updates_rows: SGD and
    Adam with lazy_update, AdaGrad, Ftrl of a row_sparse weight). An optimizer state of
    another kind than arrays is updated densely."""
    return {i: (i, p) for i, p in live if p._grad_stype == "row_sparse"
            and p._data._data.ndim >= 1 and optimizer.updates_rows(i, p._stype)
            and _row_state(states[i])}


def _row_state(state):
    """Whether every part of an optimizer state is an array with one row per weight row
    (or None)."""
    if state is None or isinstance(state, (np.ndarray, NDArray)):
        return True
    return isinstance(state, (tuple, list)) and all(map(_row_state, state))


def _update_present_rows(optimizer, i, p, states, by_ndarray):
    """Parameter i's update on the rows its gradient lists (those the batch looked up, even
    where their gradient is zero, and any other nonzero row: sparse_rows.py); the other rows
    and their states are left as they are. The update is counted as any other."""
    var = p._data._var
    grad, weight = var.grad, p._data._data
    rows = listed_rows(grad, [d._var for d in p._every_copy()])
    w, g, st = weight[rows], grad[rows], opt.state_rows(states[i], rows)
    if by_ndarray:
        w_nd = wrap(w)
        optimizer.update_multi_precision(i, w_nd, wrap(g), st)
        w = w_nd._data
    else:
        optimizer.update(i, w, g, st)
    weight[rows] = w
    opt.write_state_rows(states[i], st, rows)
    if type(var) is _GradVar:
        var.fresh = False


def _num_contexts(params):
    """How many contexts the parameters live on (those of the first placed one)."""
    for p in params:
        if p._data is not None or p._deferred_init:
            return len(p.list_ctx())
    return 1


def _shown(state):
    """A state as MXNet's updaters hold it: NDArrays over the state buffers."""
    if isinstance(state, np.ndarray):
        return wrap(state)
    if isinstance(state, (tuple, list)):
        return type(state)(_shown(s) for s in state)
    return state


def _hidden(state):
    """A state as the Trainer holds it: the buffers under NDArrays."""
    if isinstance(state, NDArray):
        return state._data
    if isinstance(state, (tuple, list)):
        return type(state)(_hidden(s) for s in state)
    return state


def _attach_updater(kv, trainer):
    """MXNet's kvstore.set_optimizer for a Trainer that updates on the store: one of
    tracegrad's stores shows the Trainer's optimizer and states as its _updater (the
    Trainer does the updates); another store is given the optimizer."""
    from ..kvstore import KVStore
    if isinstance(kv, KVStore):
        kv._optimizer = trainer._optimizer
        kv._updater = _StoreUpdater(trainer)
        kv._states = trainer._states
    else:
        kv.set_optimizer(trainer._optimizer)


class _StoreUpdater(Updater):
    """The _updater of a store a Trainer updates on (MXNet's kvstore._updater): its
    optimizer and states (by parameter index) are the Trainer's own, so
    `trainer._kvstore._updater.states` and `.optimizer` read what the Trainer updates.
    Called as the store calls an updater, (key, pushed, stored), it updates with them."""

    def __init__(self, trainer):      # (no Updater.__init__: nothing of its own to keep)
        self._trainer = trainer
        self.states_synced = {}
        self.aggregate_updates = trainer._optimizer.aggregate_num > 0

    @property
    def optimizer(self):
        return self._trainer._optimizer

    @optimizer.setter
    def optimizer(self, optimizer):
        trainer = self._trainer
        optimizer.param_dict = dict(enumerate(trainer._params))
        trainer._optimizer = optimizer
        trainer._fused = fused_update.supports(optimizer)
        trainer._bound = None

    @property
    def states(self):
        return {i: _shown(s) for i, s in self._trainer._states.items()}

    @states.setter
    def states(self, states):
        held = self._trainer._states
        as_held = (lambda s: s) if self._trainer._optimizer.takes_ndarrays else _hidden
        held.clear()
        held.update((i, as_held(s)) for i, s in states.items())
        self._trainer._bound = None

    def __call__(self, index, grad, weight):
        as_nd = lambda x: [as_nd(v) for v in x] if isinstance(x, (list, tuple)) else (
            wrap(x) if isinstance(x, np.ndarray) else x)
        updater = Updater(self._trainer._optimizer)
        updater.states = self._trainer._states
        updater(index, as_nd(grad), as_nd(weight))


def _kvstore_sync(kvstore, params):
    """A GradientSync for a distributed kvstore (object or type name); None for one process.
    With N workers, step(batch_size) wants the global batch: see docs/distributed.md."""
    from .. import kvstore as kv
    if kvstore is None or kvstore is False:
        return None
    store = kv.create(kvstore)
    if store.num_workers == 1 and "dist" not in store.type:
        return None
    from ..kvstore.trainer_sync import GradientSync
    return GradientSync(store, params)


def leave_rescaled(optimizer, variables, weights):
    """What MXNet's Trainer leaves in the gradients after an update by an optimizer whose
    update() rescales the gradient it is given in place (AdaDelta: `grad *= rescale_grad`):
    Trainer gives it each parameter's own gradient, so p.grad() then holds grad * rescale_grad
    (and grad_req='add' adds onto that). Every path of Trainer.step updates from the
    gradient as it was, then leaves it so (optimizer.rescale_in_place)."""
    opt.rescale_in_place(optimizer, [wrap(var.grad) for var in variables], weights)
