"""The KVStore semantics shared by the local and the MPI store.

A store maps keys (ints or strings) to arrays. `push` sums the values given for a key (a list
stands for several devices; in a distributed store every worker's push is summed too) and then
either replaces the stored value with the sum or, after `set_optimizer`, applies the optimizer
to the stored value with the sum as gradient. `pull` copies the stored value out. The stores
differ only in `_reduce` (sum across workers, in place) and `_bcast` (rank 0's values to all).
"""
import warnings

import numpy as np

from ..array import NDArray
from ..base import MXNetError


def _as_list(x):
    return (list(x), True) if isinstance(x, (list, tuple)) else ([x], False)


def _buffer(v, what):
    if isinstance(v, NDArray):
        return v._data
    if isinstance(v, np.ndarray):
        return v
    raise TypeError(f"kvstore.{what}: values must be NDArrays, got {type(v).__name__}")


def _write_out(x, value, what, key):
    """Copy value into out array x; a shape mismatch is an error, never a broadcast."""
    buf = _buffer(x, what)
    if buf.shape != value.shape:
        raise MXNetError(f"kvstore.{what}: key {key!r} holds shape {value.shape}, out has "
                         f"shape {buf.shape}")
    np.copyto(buf, value, casting="unsafe")


def _flat(key, vals):
    """[(key, array)] for every array, as MXNet's _ctype_key_value pairs them: one key with an
    array or a list of arrays; a list of keys, each with its own array or list."""
    if isinstance(key, (list, tuple)):
        if not isinstance(vals, (list, tuple)) or len(vals) != len(key):
            raise MXNetError(f"kvstore: {len(key)} keys need a list of {len(key)} values, got "
                             f"{type(vals).__name__}")
        return [p for k, v in zip(key, vals) for p in _flat(k, v)]
    return [(key, v) for v in vals] if isinstance(vals, (list, tuple)) else [(key, vals)]


class KVStoreBase:
    """MXNet 1.9's abstract store: what a Trainer and user code may call on any store. A
    subclass made known with `KVStoreBase.register` is what `mx.kv.create` builds for its
    lowercased class name, before the built-in types are looked at."""
    OPTIMIZER = "optimizer"
    kv_registry = {}

    @staticmethod
    def register(klass):
        """Class decorator: `mx.kv.create(klass.__name__.lower())` makes a klass(). A name
        registered again is replaced, with a warning (as MXNet's)."""
        if not isinstance(klass, type):
            raise TypeError(f"KVStoreBase.register: expects a class, got {type(klass).__name__}")
        name = klass.__name__.lower()
        old = KVStoreBase.kv_registry.get(name)
        if old is not None:
            warnings.warn(f"kvstore {klass.__module__}.{klass.__name__} replaces the registered "
                          f"{old.__module__}.{old.__name__}")
        KVStoreBase.kv_registry[name] = klass
        return klass

    def _abstract(self, what):
        raise NotImplementedError(f"{type(self).__name__}.{what} is not implemented")

    def broadcast(self, key, value, out, priority=0):
        self._abstract("broadcast")

    def pushpull(self, key, value, out=None, priority=0):
        self._abstract("pushpull")

    def set_optimizer(self, optimizer):
        self._abstract("set_optimizer")

    def is_capable(self, capability):
        self._abstract("is_capable")

    def save_optimizer_states(self, fname, dump_optimizer=False):
        self._abstract("save_optimizer_states")

    def load_optimizer_states(self, fname):
        self._abstract("load_optimizer_states")

    @property
    def type(self):
        self._abstract("type")

    @property
    def rank(self):
        self._abstract("rank")

    @property
    def num_workers(self):
        self._abstract("num_workers")


class KVStore(KVStoreBase):
    """A key-value store of arrays; see the module docstring."""
    _ONE_KEY_TYPE = False

    def is_capable(self, capability):
        """Every built-in store can run an optimizer (set_optimizer)."""
        if capability.lower() == self.OPTIMIZER:
            return True
        raise MXNetError(f"unknown kvstore capability {capability!r}")

    def __init__(self, name):
        self._type = name
        self._store = {}
        self._updater = None
        self._optimizer = None

    # ------------------------------------------------------------------ identity
    @property
    def type(self):
        return self._type

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1

    def __repr__(self):
        return f"<KVStore {self._type!r} rank {self.rank} of {self.num_workers}>"

    # ------------------------------------------------------------------ the two collectives
    def _reduce(self, arrays):
        """Sum each numpy array across workers, in place (one process: nothing to do)."""

    def _bcast(self, arrays):
        """Overwrite each numpy array with rank 0's, in place (one process: nothing to do)."""

    def _barrier(self):
        """Wait for every worker."""

    # ------------------------------------------------------------------ keys and values
    def _key_type(self, keys, what):
        """MXNet's SetKeyType: a store takes int keys or str keys, whichever it saw first.
        (Only the local store checks: tracegrad's MPI store has callers mixing them.)"""
        for k in keys:
            kind = str if isinstance(k, str) else int if isinstance(k, (int, np.integer)) \
                else None
            if kind is None:
                raise MXNetError(f"kvstore.{what}: keys must be ints or strs, got "
                                 f"{type(k).__name__}")
            if not self._ONE_KEY_TYPE:
                continue
            if getattr(self, "_kind", None) is None:
                self._kind = kind
            elif self._kind is not kind:
                raise MXNetError(f"kvstore.{what}: mixed key types are not allowed: this "
                                 f"store's keys are {self._kind.__name__}s, got {k!r}")

    def _pairs(self, key, value, what):
        keys, many = _as_list(key)
        self._key_type(keys, what)
        if not many:
            return [(keys[0], value)]
        values, _ = _as_list(value)
        if len(values) != len(keys):
            raise MXNetError(f"kvstore.{what}: {len(keys)} keys but {len(values)} values")
        return list(zip(keys, values))

    def _stored(self, k, what):
        try:
            return self._store[k]
        except KeyError:
            raise MXNetError(f"kvstore.{what}: key {k!r} has not been initialized "
                             f"(call init first)") from None

    def init(self, key, value):
        """Store the initial value of each key (in a distributed store, rank 0's value)."""
        pairs = self._pairs(key, value, "init")
        for k, v in pairs:
            if k in self._store:
                raise MXNetError(f"kvstore.init: duplicate init of key {k!r}")
        fresh = []
        for k, v in pairs:
            vals, _ = _as_list(v)
            arr = np.array(_buffer(vals[0], "init"), copy=True)
            self._store[k] = arr
            fresh.append(arr)
        self._bcast(fresh)

    def _merge(self, v, what):
        vals, _ = _as_list(v)
        bufs = [_buffer(x, what) for x in vals]
        total = np.array(bufs[0], copy=True)
        for b in bufs[1:]:
            if b.shape != total.shape:
                raise MXNetError(f"kvstore.{what}: values of one key differ in shape: "
                                 f"{total.shape} vs {b.shape}")
            total += b
        return total

    def push(self, key, value, priority=0):
        """Sum the values (of every device and worker) into each key's stored value."""
        pairs = self._pairs(key, value, "push")
        merged = [(k, self._merge(v, "push")) for k, v in pairs]
        for k, _ in merged:
            self._stored(k, "push")
        self._reduce([m for _, m in merged])
        for k, m in merged:
            stored = self._store[k]
            if m.shape != stored.shape:
                raise MXNetError(f"kvstore.push: key {k!r} holds shape {stored.shape}, "
                                 f"pushed {m.shape}")
            if self._updater is not None:
                self._updater(k, m, stored)
            else:
                np.copyto(stored, m, casting="unsafe")

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy each key's stored value into out (an NDArray or a list of them). A sparse out
        is left as it is unless ignore_sparse=False (MXNet: pull those with
        row_sparse_pull)."""
        from ..sparse import BaseSparseNDArray, storage_view
        if out is None:
            raise MXNetError("kvstore.pull: out is required")
        for k, o in self._pairs(key, out, "pull"):
            stored = self._stored(k, "pull")
            for x in _as_list(o)[0]:
                if not isinstance(x, BaseSparseNDArray):
                    _write_out(x, stored, "pull", k)
                elif not ignore_sparse:
                    if tuple(x.shape) != stored.shape:
                        raise MXNetError(f"kvstore.pull: key {k!r} holds shape "
                                         f"{stored.shape}, out has shape {tuple(x.shape)}")
                    x[:] = storage_view(stored.copy(), x.stype)

    def pushpull(self, key, value, out=None, priority=0):
        """push then pull. Without an optimizer this is an allreduce: the sum over devices and
        workers is written to out, or back into value when out is None."""
        if self._updater is not None:
            self.push(key, value, priority)
            self.pull(key, out if out is not None else value, priority)
            return
        pairs = self._pairs(key, value, "pushpull")
        outs = self._pairs(key, out if out is not None else value, "pushpull")
        merged = [self._merge(v, "pushpull") for _, v in pairs]
        self._reduce(merged)
        for (k, o), m in zip(outs, merged):
            if k in self._store:
                np.copyto(self._store[k], m, casting="unsafe")
            for x in _as_list(o)[0]:
                _write_out(x, m, "pushpull", k)

    def broadcast(self, key, value, out, priority=0):
        """init(key, value) (rank 0's value wins), then pull(key, out)."""
        self.init(key, value)
        self.pull(key, out, priority)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Pull only the rows `row_ids` of each key's value: out (a RowSparseNDArray, a list
        of them per key, or a list of such lists for several keys) holds those rows, the
        others zero. row_ids is laid out as out (one array, read flattened, per out; a single
        one serves every out)."""
        from ..sparse import RowSparseNDArray, retain, storage_view
        if out is None or row_ids is None:
            raise MXNetError("kvstore.row_sparse_pull: out and row_ids are required")
        if isinstance(row_ids, NDArray):
            row_ids = [row_ids]
        if not isinstance(row_ids, (list, tuple)):
            raise MXNetError(f"kvstore.row_sparse_pull: row_ids must be an NDArray or a list "
                             f"of them, got {type(row_ids).__name__}")
        outs = _flat(key, out)
        if len(row_ids) == 1 and isinstance(out, (list, tuple)):
            ids = [(k, row_ids[0]) for k, _ in outs]     # (MXNet: one pull, copied to all)
        else:
            ids = _flat(key, row_ids[0] if len(row_ids) == 1 else list(row_ids))
        if len(outs) != len(ids):
            raise MXNetError(f"kvstore.row_sparse_pull: the number of row_ids ({len(ids)}) "
                             f"doesn't match the number of values ({len(outs)})")
        self._key_type([k for k, _ in outs], "row_sparse_pull")
        for (k, x), (_, rows) in zip(outs, ids):
            if not isinstance(x, RowSparseNDArray):
                raise MXNetError(f"kvstore.row_sparse_pull: out must be RowSparseNDArrays, "
                                 f"got {type(x).__name__} for key {k!r}")
            if not isinstance(rows, NDArray) or getattr(rows, "stype", "default") != "default":
                raise MXNetError(f"kvstore.row_sparse_pull: row_ids must be dense NDArrays, "
                                 f"got {type(rows).__name__} for key {k!r}")
        for (k, x), (_, rows) in zip(outs, ids):
            stored = self._stored(k, "row_sparse_pull")
            # (MXNet takes the unique ids of any shape: a 2-d row_ids is read flattened)
            x[:] = retain(storage_view(stored, "row_sparse"), rows.reshape((-1,)))

    def set_gradient_compression(self, compression_params):
        raise MXNetError("kvstore.set_gradient_compression: gradient compression is not "
                         "supported (gradients are reduced at full precision)")

    # ------------------------------------------------------------------ optimizer
    def set_optimizer(self, optimizer):
        """Pushes then update the stored values with this optimizer (MXNet's server-side
        update; here every worker applies the same update to its copy)."""
        from .. import optimizer as opt
        optimizer = opt.create(optimizer) if isinstance(optimizer, str) else optimizer
        states = {}

        from ..array import wrap

        def make_state(key, weight):
            if optimizer.takes_ndarrays:
                return optimizer.create_state_multi_precision(key, wrap(weight))
            return optimizer.create_state(key, weight)

        def updater(key, grad, weight):
            if key not in states:
                states[key] = make_state(key, weight)
            if optimizer.takes_ndarrays:
                # (an optimizer the user wrote is called as MXNet calls it: with NDArrays
                # over the store's buffers, so `nd.sgd_update(..., out=weight)` works)
                optimizer.update_multi_precision(key, wrap(weight), wrap(grad), states[key])
            else:
                optimizer.update(key, weight, grad, states[key])
        self._make_state = make_state
        self._optimizer, self._updater = optimizer, updater
        self._states = states

    def _set_updater(self, updater):
        """updater(key, pushed, stored) runs at every push instead of the overwrite (MXNet's
        local store): `pushed` is the merged value and `stored` the key's value, both NDArrays
        over the store's buffers, so `stored += pushed * 2` updates the store in place."""
        from ..array import wrap

        def on_push(key, merged, stored):
            updater(key, wrap(merged), wrap(stored))
        self._optimizer, self._updater, self._make_state = None, on_push, None

    def save_optimizer_states(self, fname, dump_optimizer=False):
        from ..nd import save_arrays
        if self._updater is None:
            raise MXNetError("kvstore.save_optimizer_states: no optimizer is set")
        arrays = {}
        for k, state in self._states.items():
            for i, s in enumerate(state if isinstance(state, tuple) else (state,)):
                if s is not None:
                    arrays[f"{k}:{i}"] = s._data if isinstance(s, NDArray) else s
        save_arrays(fname, arrays)

    def load_optimizer_states(self, fname):
        from ..nd import load_arrays
        if self._updater is None:
            raise MXNetError("kvstore.load_optimizer_states: no optimizer is set")
        arrays = load_arrays(fname)
        for k, weight in self._store.items():
            make = getattr(self, "_make_state", None) or self._optimizer.create_state
            state = make(k, weight)
            for i, s in enumerate(state if isinstance(state, tuple) else (state,)):
                if s is not None and f"{k}:{i}" in arrays:
                    np.copyto(_buffer(s, "load_optimizer_states"), _buffer(
                        arrays[f"{k}:{i}"], "load_optimizer_states"))
            self._states[k] = state
