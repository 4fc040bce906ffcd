"""`mx.optimizer.get_updater` / `Updater`: an optimizer as the callable updater(index, grad,
weight) that MXNet's KVStore and Module call, keeping one state per index.

States are saved without pickle (tracegrad never unpickles): get_states() returns the bytes of
an .npz archive (the project's array format) holding every state array and a JSON description
of the states' layout and, with dump_optimizer=True, of the optimizer (its registered name,
its plain settings and counters, and a built-in lr_scheduler's). set_states() reads those
bytes as untrusted input and refuses pickled states (what MXNet's get_states returns) with a
clear error. Loading is all or nothing: nothing changes unless every part reads.
"""
import inspect
import io
import json
import numbers

import numpy as np

from . import fused_update
from .array import NDArray, wrap
from .base import MXNetError
from .optimizer import MasterState, Optimizer, _REGISTRY, rescale_in_place

FORMAT = "tracegrad-updater-states/1"
_META = "__updater__"


class Updater:
    """updater(index, grad, weight): create the index's state on first use, then update
    (a list of indices: the built-in optimizers update them in one native call)."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise MXNetError(f"Updater: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}
        self.aggregate_updates = optimizer.aggregate_num > 0

    def __call__(self, index, grad, weight):
        from .tracing import capture
        if isinstance(index, (list, tuple)):
            indices, grads, weights = list(index), list(grad), list(weight)
            if not len(indices) == len(grads) == len(weights):
                raise MXNetError(f"Updater: {len(indices)} indices, {len(grads)} gradients "
                                 f"and {len(weights)} weights")
        else:
            indices, grads, weights = [index], [grad], [weight]
        for i, w, g in zip(indices, weights, grads):
            if not isinstance(w, NDArray) or not isinstance(g, NDArray):
                raise MXNetError(f"Updater: index {i!r} needs an NDArray weight and gradient, "
                                 f"got {type(w).__name__} and {type(g).__name__}")
            if w.shape != g.shape:
                raise MXNetError(f"Updater: index {i!r} has weight shape {w.shape} but "
                                 f"gradient shape {g.shape}")
        indices = [i.decode() if isinstance(i, bytes) else i for i in indices]
        opt = self.optimizer
        capture.before_write()      # a pending step reads the weights before they change
        for i, w in zip(indices, weights):
            if i not in self.states:
                self.states[i] = (opt.create_state_multi_precision(i, w) if opt.takes_ndarrays
                                  else opt.create_state(i, w._data))
            self.states_synced[i] = True
        if len(indices) > 1 and not opt.takes_ndarrays and len(set(indices)) == len(indices) \
                and fused_update.supports(opt) and fused_update.apply(
                    opt, [(i, w, g._data) for i, w, g in zip(indices, weights, grads)],
                    self.states):
            if opt.rescales_grad_in_place:     # (as MXNet's update() leaves them)
                rescale_in_place(opt, grads, weights)
            return
        for i, w, g in zip(indices, weights, grads):
            if opt.takes_ndarrays:
                opt.update_multi_precision(i, w, g, self.states[i])
            else:
                opt.update(i, w._data, g._data, self.states[i])
                if opt.rescales_grad_in_place:
                    rescale_in_place(opt, [g], [w])

    def sync_state_context(self, state, context):
        """The state itself: tracegrad has one device."""
        return state

    def set_states(self, states):
        """Restore what get_states() returned (bytes of an .npz archive); pickled states (from
        MXNet) are refused."""
        meta, arrays = _read(states)
        optimizer = _optimizer_from(meta["optimizer"], self.optimizer) \
            if meta.get("optimizer") is not None else None
        if (optimizer or self.optimizer).takes_ndarrays:   # its update() works on NDArrays
            arrays = {k: wrap(v) for k, v in arrays.items()}
        loaded = {}
        for entry in meta["states"]:
            state = _rebuild(entry["parts"], entry["tuple"], arrays)
            if "master" in entry:
                state = _master_of(entry["master"], state)
            loaded[_key(entry["key"])] = state
        self.states = loaded
        self.states_synced = dict.fromkeys(loaded, False)
        if optimizer is not None:
            self.optimizer = optimizer
            self.aggregate_updates = optimizer.aggregate_num > 0

    def get_states(self, dump_optimizer=False):
        """The states (and with dump_optimizer the optimizer's settings and counters) as the
        bytes of an .npz archive."""
        arrays, entries = {}, []
        for n, (key, state) in enumerate(self.states.items()):
            master = None
            if type(state) is MasterState:   # (saved flat, master copy first; its layout noted)
                master = {"last": state.master_last,
                          "inner": "none" if state.inner is None else "tuple" if isinstance(
                              state.inner, (tuple, list)) else "array"}
                state = state.flat()
            is_tuple = isinstance(state, (tuple, list))
            parts = list(state) if is_tuple else [state]
            kinds = []
            for k, s in enumerate(parts):
                if s is None:
                    kinds.append(None)
                    continue
                a = s.asnumpy() if isinstance(s, NDArray) else s
                if not isinstance(a, np.ndarray):
                    raise MXNetError(f"Updater.get_states: the state of index {key!r} holds a "
                                     f"{type(s).__name__}; only arrays and None are saved")
                arrays[f"s{n}_{k}"] = a
                kinds.append(f"s{n}_{k}")
            entries.append({"key": _key_json(key), "tuple": is_tuple, "parts": kinds,
                            **({"master": master} if master is not None else {})})
        meta = {"format": FORMAT, "states": entries,
                "optimizer": _optimizer_json(self.optimizer) if dump_optimizer else None}
        arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()


def get_updater(optimizer):
    """The Updater of `optimizer` (MXNet's closure for the kvstore)."""
    return Updater(optimizer)


# ------------------------------------------------------------------ the saved form
def _key_json(key):
    if isinstance(key, bool) or not isinstance(key, (numbers.Integral, str)):
        raise MXNetError(f"Updater.get_states: index {key!r} is neither an int nor a str")
    return ["int", int(key)] if isinstance(key, numbers.Integral) else ["str", key]


def _key(entry):
    if isinstance(entry, list) and len(entry) == 2:
        kind, value = entry
        if kind == "int" and type(value) is int:
            return value
        if kind == "str" and type(value) is str:
            return value
    raise MXNetError(f"Updater.set_states: bad state index {str(entry)[:80]}")


def _master_of(layout, flat):
    """A float16 weight's MasterState from get_states' flat (master, *state arrays)."""
    if not isinstance(layout, dict) or not isinstance(layout.get("last"), bool) or \
            layout.get("inner") not in ("none", "array", "tuple") or \
            not isinstance(flat, tuple) or not flat or flat[0] is None:
        raise MXNetError("Updater.set_states: bad multi-precision state layout")
    rest = flat[1:]
    kind = layout["inner"]
    if (kind == "none" and rest) or (kind == "array" and len(rest) != 1):
        raise MXNetError("Updater.set_states: bad multi-precision state layout")
    inner = None if kind == "none" else rest[0] if kind == "array" else tuple(rest)
    return MasterState(flat[0], inner, layout["last"])


def _rebuild(parts, is_tuple, arrays):
    if not isinstance(parts, list) or not isinstance(is_tuple, bool) or \
            (not is_tuple and len(parts) != 1):
        raise MXNetError("Updater.set_states: bad state layout")
    out = []
    for name in parts:
        if name is None:
            out.append(None)
        elif type(name) is str and name in arrays and name != _META:
            out.append(arrays[name])
        else:
            raise MXNetError(f"Updater.set_states: state array {str(name)[:80]!r} is missing")
    return tuple(out) if is_tuple else out[0]


def _read(data):
    """(meta, arrays) from get_states' bytes, checked; MXNetError on anything else."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MXNetError(f"Updater.set_states: expected the bytes get_states returned, got "
                         f"{type(data).__name__}")
    data = bytes(data)
    if not data.startswith(b"PK") and (data[:1] == b"\x80" or data.endswith(b".")):
        raise MXNetError("Updater.set_states: these are pickled states (MXNet's format); "
                         "tracegrad never unpickles. Save them with tracegrad's "
                         "Updater.get_states(), which writes an .npz archive")
    from .untrusted import FileFormatError, parse_json, read_npz_bytes
    try:
        arrays = read_npz_bytes(data, "updater states")
    except FileFormatError as e:
        raise MXNetError(f"Updater.set_states: {e}") from None
    raw = arrays.get(_META)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise MXNetError("Updater.set_states: the archive has no updater description")
    try:
        meta = parse_json(raw.tobytes().decode("utf-8"), "updater states")
    except (FileFormatError, UnicodeDecodeError):
        raise MXNetError("Updater.set_states: the updater description is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or \
            not isinstance(meta.get("states"), list):
        raise MXNetError(f"Updater.set_states: not a {FORMAT} archive")
    for entry in meta["states"]:
        if not isinstance(entry, dict) or set(entry) - {"master"} != {"key", "tuple", "parts"}:
            raise MXNetError("Updater.set_states: bad state entry")
    return meta, arrays


_PLAIN = (bool, int, float, str, type(None))


def _plain(v):
    """Whether v is a setting JSON keeps exactly: a number, a string, None, or a flat dict /
    list of them (lr_mult, idx2name, update counts)."""
    if isinstance(v, float) and not np.isfinite(v):
        return False
    if type(v) in _PLAIN:
        return True
    if type(v) in (list, tuple):
        return all(type(x) in _PLAIN for x in v)
    if type(v) is dict:
        return all(type(k) in (int, str) and type(x) in _PLAIN for k, x in v.items())
    return False


def _settings(obj, skip):
    out = {}
    for name, v in vars(obj).items():
        if name in skip:
            continue
        if not _plain(v):
            raise MXNetError(f"Updater.get_states(dump_optimizer=True): "
                             f"{type(obj).__name__}.{name} ({type(v).__name__}) cannot be "
                             f"saved without pickle")
        if type(v) is dict:
            v = {"dict": [[_key_json(k), x] for k, x in v.items()]}
        elif type(v) is tuple:
            v = {"tuple": list(v)}
        out[name] = v
    return out


def _optimizer_json(optimizer):
    from . import lr_scheduler as schedulers
    cls = type(optimizer)
    name = cls.__name__.lower()
    if _REGISTRY.get(name) is not cls:
        raise MXNetError(f"Updater.get_states(dump_optimizer=True): {cls.__name__} is not a "
                         f"registered optimizer")
    sched = optimizer.lr_scheduler
    sched_json = None
    if sched is not None:
        scls = type(sched)
        if getattr(schedulers, scls.__name__, None) is not scls:
            raise MXNetError(f"Updater.get_states(dump_optimizer=True): the lr_scheduler "
                             f"{scls.__name__} is not one of mx.lr_scheduler's and cannot be "
                             f"saved without pickle")
        sched_json = {"class": scls.__name__, "settings": _settings(sched, ())}
    skip = {"param_dict", "lr_scheduler", "sym_info", "_fused_last", "_saved"}
    return {"name": name, "settings": _settings(optimizer, skip), "lr_scheduler": sched_json}


def _from_json(v):
    if isinstance(v, dict) and set(v) == {"dict"} and isinstance(v["dict"], list):
        out = {}
        for item in v["dict"]:
            if not (isinstance(item, list) and len(item) == 2 and type(item[1]) in _PLAIN):
                raise MXNetError("Updater.set_states: bad optimizer setting")
            out[_key(item[0])] = item[1]
        return out
    if isinstance(v, dict) and set(v) == {"tuple"} and isinstance(v["tuple"], list):
        return tuple(v["tuple"])
    if not _plain(v):
        raise MXNetError("Updater.set_states: bad optimizer setting")
    return v


def _restore(obj, settings):
    if not isinstance(settings, dict):
        raise MXNetError("Updater.set_states: bad optimizer settings")
    for name, v in settings.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise MXNetError(f"Updater.set_states: bad setting name {str(name)[:80]!r}")
        found = inspect.getattr_static(type(obj), name, None)
        if callable(found) or isinstance(found, (property, staticmethod, classmethod)):
            raise MXNetError(f"Updater.set_states: setting {name!r} would replace "
                             f"{type(obj).__name__}.{name}")
        setattr(obj, name, _from_json(v))


def _optimizer_from(spec, current):
    """A new optimizer of the saved class with the saved settings (the current one's
    param_dict: a Trainer's Parameters are not saved)."""
    from . import lr_scheduler as schedulers
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise MXNetError("Updater.set_states: bad optimizer description")
    cls = _REGISTRY.get(spec["name"])
    if cls is None:
        raise MXNetError(f"Updater.set_states: unknown optimizer {spec['name']!r}")
    optimizer = cls.__new__(cls)
    _restore(optimizer, spec.get("settings"))
    optimizer.param_dict = current.param_dict
    optimizer.sym_info = ()
    optimizer.lr_scheduler = None
    sched = spec.get("lr_scheduler")
    if sched is not None:
        scls = getattr(schedulers, str(sched.get("class")), None) \
            if isinstance(sched, dict) else None
        if not (isinstance(scls, type) and scls.__module__ == schedulers.__name__):
            raise MXNetError("Updater.set_states: bad lr_scheduler description")
        optimizer.lr_scheduler = scls.__new__(scls)
        _restore(optimizer.lr_scheduler, sched.get("settings"))
    return optimizer
