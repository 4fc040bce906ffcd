"""`mx.profiler`: MXNet 1.x's profiler API over tracegrad's execution.

    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename="profile.json")
    mx.profiler.set_state("run")
    ...                                   # train
    mx.profiler.set_state("stop")
    print(mx.profiler.dumps())            # per-operator table: count, total/min/max/avg ms
    mx.profiler.dump()                    # Chrome trace (chrome://tracing, Perfetto)

While it runs, it times every eager op (category "operator", named as MXNet names its
operators: `x + 1` is _plus_scalar, nd.zeros _zeros; a custom operator's ones are
'<op_type>::<name>' in "Custom Operator") and every native call of
compiled code (category "native", named after the compiled function: a hybridized block's
call, a captured training step, the fused optimizer update), plus the user's own Domain /
Task / Frame / Event / Counter / Marker objects. It hooks the eager op dispatcher
(array.set_profile_hook) and the compiled callables' entries (runtime/native.set_entry_wrapper)
only while running: stopped, it costs nothing. A deferred op of a captured step is timed as
the few microseconds of deferring it; its work shows in the step's native call.
"""
import atexit
import json
import os
import threading
import time
from contextlib import contextmanager

import numpy as _np

from . import array as _array
from .runtime import native as _native

__all__ = ["set_config", "profiler_set_config", "set_state", "profiler_set_state", "dump", "dump_profile",
           "dumps", "pause", "resume", "scope", "Domain", "Task", "Frame", "Event", "Counter",
           "Marker"]

_CONFIG_KEYS = {"filename", "profile_all", "profile_symbolic", "profile_imperative",
                "profile_memory", "profile_api", "contiguous_dump", "continuous_dump",
                "dump_period", "aggregate_stats", "profile_process"}
_CONFIG = {"filename": "profile.json", "aggregate_stats": False}   # (set_config: _DEFAULTS)
_LOCK = threading.Lock()
_EVENTS: list = []       # Chrome trace events, in order
_STATS: dict = {}        # (category, name) -> [count, total ns, min ns, max ns]
# "output": set by set_state('run'), cleared by a dump (unless continuous_dump keeps
# appending): MXNet's enable_output_, which its Profiler's destructor checks to write the
# trace file at exit when the program never called dump()
_STATE = {"running": False, "paused": False, "output": False, "appending": None}
_SCOPE = threading.local()
_PID = os.getpid()
_T0 = time.perf_counter_ns()
_now = time.perf_counter_ns


_DEFAULTS = {"filename": "profile.json", "aggregate_stats": False}


def set_config(**kwargs):
    """Profiler options (MXNet's names). Unknown options raise, naming them. As MXNet's
    SetConfig (src/profiler/profiler.cc), each call sets the whole configuration: an option
    left out takes its default (filename 'profile.json'), and the output file it names is
    removed, so a run's trace never mixes with an older file's."""
    unknown = sorted(set(kwargs) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(f"profiler.set_config: unknown option(s) {unknown}; known: "
                         f"{sorted(_CONFIG_KEYS)}")
    config = {**_DEFAULTS, **kwargs}
    config["filename"] = str(config["filename"])
    _STATE["appending"] = None      # (a continuous dump starts a new file)
    _CONFIG.clear()
    _CONFIG.update(config)
    if config["filename"]:
        try:
            os.unlink(config["filename"])
        except OSError:         # (none there, or a directory: MXNet's unlink ignores it too)
            pass


def set_state(state="stop", profile_process="worker"):
    """'run' starts recording, 'stop' stops it (the records stay until dump / dumps(reset))."""
    if state not in ("run", "stop"):
        raise ValueError(f"profiler.set_state: state must be 'run' or 'stop', got {state!r}")
    running = state == "run"
    if running == _STATE["running"]:
        return
    _STATE["running"], _STATE["paused"] = running, False
    if running:
        _STATE["output"] = True
    _install(running)


profiler_set_state = set_state


def profiler_set_config(mode="symbolic", filename="profile.json"):
    """The deprecated 1.x form: mode 'symbolic' or 'all'."""
    if mode not in ("symbolic", "all"):
        raise ValueError(f"profiler_set_config: mode must be 'symbolic' or 'all', got {mode!r}")
    set_config(profile_symbolic=True, profile_all=mode == "all", filename=filename)


def pause(profile_process="worker"):
    """Stop recording until resume() (the profiler stays in 'run')."""
    if _STATE["running"] and not _STATE["paused"]:
        _STATE["paused"] = True
        _install(False)


def resume(profile_process="worker"):
    if _STATE["running"] and _STATE["paused"]:
        _STATE["paused"] = False
        _install(True)


def _install(on):
    _array.set_profile_hook(_profiled_op if on else None)
    _native.set_entry_wrapper(_timed_entry if on else None)


def _recording():
    return _STATE["running"] and not _STATE["paused"]


def _record(category, name, start, end, args=None):
    prefix = getattr(_SCOPE, "name", "")
    name = prefix + name
    if category == "operator" and "::" in name:   # run by a custom operator's forward or
        category = "Custom Operator"               # backward: MXNet's IsSubOperatorOfCustom
    event = {"name": name, "cat": category, "ph": "X", "ts": (start - _T0) / 1e3,
             "dur": (end - start) / 1e3, "pid": _PID, "tid": threading.get_ident()}
    if args:
        event["args"] = args
    ns = end - start
    with _LOCK:
        _EVENTS.append(event)
        stat = _STATS.get((category, name))
        if stat is None:
            _STATS[(category, name)] = [1, ns, ns, ns]
        else:
            stat[0] += 1
            stat[1] += ns
            stat[2] = min(stat[2], ns)
            stat[3] = max(stat[3], ns)


_MXNET_NAMES = []    # [unary table, binary table] of symbol/from_ir, read at the first op


def _mxnet_name(opdef, args):
    """The name MXNet's profiler shows for an eager op: the operator MXNet's NDArray API runs
    for it (`x + 1` is _plus_scalar, `x + y` broadcast_add, `-x` negative); the IR op's own
    name where MXNet has no other (sqrt)."""
    if not _MXNET_NAMES:
        from .symbol.from_ir import _BINARY, _UNARY
        _MXNET_NAMES[:] = [_UNARY, _BINARY]
    unary, binary = _MXNET_NAMES
    name = opdef.name
    names = binary.get(name)
    if names is None or len(args) != 2:
        return unary.get(name, name)
    arrays = [isinstance(a, (_array.NDArray, _np.ndarray)) for a in args]
    return names[0] if all(arrays) else names[1] if arrays[0] else names[2]


def _profiled_op(opdef, args, attrs, impl):
    """array.apply while profiling: the op run (through apply again, unhooked) and timed."""
    hooks = _array.HOOKS
    hooks.profiling = True
    start = _now()
    try:
        return _array.apply(opdef, args, attrs, impl)
    finally:
        hooks.profiling = False
        _record("operator", _mxnet_name(opdef, args), start, _now())


def creation(name, fn, *args):
    """fn(*args) timed as MXNet's operator `name`: for nd's creation functions, which run no
    op (nd.zeros is MXNet's _zeros). They call it only while the profiler records ops, and
    it calls fn with the hooks marked busy, so fn runs its plain path."""
    hooks = _array.HOOKS
    hooks.profiling = True
    start = _now()
    try:
        return fn(*args)
    finally:
        hooks.profiling = False
        _record("operator", name, start, _now())


def _timed_entry(entry, name):
    """A compiled callable's native entry, timed."""
    label = f"native:@{name}"

    def timed(packed):
        start = _now()
        try:
            return entry(packed)
        finally:
            _record("native", label, start, _now())
    return timed


def dumps(reset=False, format="table", sort_by="total", ascending=False):
    """The aggregate statistics: per category, each name's count and total / min / max /
    average time in ms; format 'table' (text) or 'json'."""
    keys = {"total": 1, "avg": None, "min": 2, "max": 3, "count": 0}
    if sort_by not in keys:
        raise ValueError(f"profiler.dumps: sort_by must be one of {sorted(keys)}, got "
                         f"{sort_by!r}")
    if format not in ("table", "json"):
        raise ValueError(f"profiler.dumps: format must be 'table' or 'json', got {format!r}")
    with _LOCK:
        stats = {k: list(v) for k, v in _STATS.items()}
        if reset:       # (the aggregate only: the events wait for dump(), as in MXNet)
            _STATS.clear()
    by_category: dict = {}
    for (category, name), stat in stats.items():
        by_category.setdefault(category, []).append((name, stat))
    k = keys[sort_by]

    def order(item):
        stat = item[1]
        return stat[1] / stat[0] if k is None else stat[k]
    if format == "json":    # (MXNet's AggregateStats::DumpJson: its keys, sorted as asked;
        # no memory statistics are kept, so its Memory section is empty)
        return json.dumps({"Time": {category: {name: {
            "Count": s[0], "Total": s[1] / 1e6, "Min": s[2] / 1e6, "Max": s[3] / 1e6,
            "Avg": s[1] / s[0] / 1e6}
            for name, s in sorted(items, key=order, reverse=not ascending)}
            for category, items in by_category.items()}, "Memory": {},
            "Unit": {"Time": "ms", "Memory": "kB"}}, indent=2)
    lines = ["", "Profile Statistics:", "\tNote the difference in units for different entries."]
    for category in sorted(by_category):
        lines += ["", category, "=================",
                  f"{'Name':<40}{'Total Count':>12}{'Time (ms)':>14}{'Min Time (ms)':>16}"
                  f"{'Max Time (ms)':>16}{'Avg Time (ms)':>16}",
                  f"{'----':<40}{'-----------':>12}{'---------':>14}{'-------------':>16}"
                  f"{'-------------':>16}{'-------------':>16}"]
        for name, s in sorted(by_category[category], key=order, reverse=not ascending):
            lines.append(f"{name[:39]:<40}{s[0]:>12}{s[1] / 1e6:>14.4f}{s[2] / 1e6:>16.4f}"
                         f"{s[3] / 1e6:>16.4f}{s[1] / s[0] / 1e6:>16.4f}")
    return "\n".join(lines) + "\n"


_FOOTER = b'\n], "displayTimeUnit": "ms"}\n'


def dump(finished=True, profile_process="worker"):
    """Write the events recorded since the last dump as a Chrome trace to the configured
    filename. The events written are taken, as MXNet's DumpProfile dequeues them. With
    continuous_dump, dumps after the first append to the file (MXNet's continuous dump: the
    file grows with each dump) until a dump with finished=True; the file stays valid JSON."""
    with _LOCK:
        events = list(_EVENTS)
        _EVENTS.clear()
    filename = _CONFIG["filename"]
    body = json.dumps(events)[1:-1].encode()
    if _STATE.get("appending") != filename or not _append(filename, body):
        head = json.dumps({"name": "process_name", "ph": "M", "pid": _PID,
                           "args": {"name": "tracegrad"}})
        tmp = f"{filename}.tmp{os.getpid()}"     # written whole, then renamed over it
        with open(tmp, "wb") as f:
            f.write(b'{"traceEvents": [\n' + head.encode() + (b",\n" + body if body else b"")
                    + _FOOTER)
        os.replace(tmp, filename)
    continuous = bool(_CONFIG.get("continuous_dump")) and not finished
    _STATE["appending"] = filename if continuous else None
    _STATE["output"] = continuous


def _append(filename, body):
    """body (events, comma-separated) put before the footer of the trace file an earlier dump
    wrote; False when the file is not such a file any more."""
    try:
        with open(filename, "r+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < len(_FOOTER):
                return False
            f.seek(-len(_FOOTER), os.SEEK_END)
            if f.read() != _FOOTER:
                return False
            if body:
                f.seek(-len(_FOOTER), os.SEEK_END)
                f.write(b",\n" + body + _FOOTER)
        return True
    except OSError:
        return False


dump_profile = dump


@atexit.register
def _dump_at_exit():
    """MXNet writes the trace at exit when profiling ran and no dump() took the output
    (example/profiler's scripts only set_state('stop')); a file that cannot be written then
    is skipped quietly, as there is no caller left to tell."""
    if _STATE["output"]:
        try:
            dump()
        except OSError:
            pass


@contextmanager
def scope(name="<unk>:", append_mode=False):
    """Events recorded inside carry `name` as a prefix (nested scopes append with
    append_mode)."""
    prev = getattr(_SCOPE, "name", "")
    _SCOPE.name = prev + name if append_mode else name
    try:
        yield
    finally:
        _SCOPE.name = prev


class Domain:
    """A named group of the user's Tasks, Frames, Counters and Markers."""

    def __init__(self, name):
        self.name = name

    def __str__(self):
        return self.name

    def new_task(self, name):
        return Task(self, name)

    def new_frame(self, name):
        return Frame(self, name)

    def new_counter(self, name, value=None):
        return Counter(self, name, value)

    def new_marker(self, name):
        return Marker(self, name)


class _Span:
    """start() ... stop(): one timed event while the profiler records."""
    _category = None

    def __init__(self, domain, name):
        self.domain, self.name, self._start = domain, name, None

    def start(self):
        self._start = _now()

    def stop(self):
        if self._start is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r}: stop() without start()")
        start, self._start = self._start, None
        if _recording():
            category = str(self.domain) if self.domain is not None else self._category
            _record(category, self.name, start, _now())

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __str__(self):
        return self.name


class Task(_Span):
    """A span of work in a Domain."""


class Frame(_Span):
    """A span of work in a Domain, e.g. one iteration."""


class Event(_Span):
    """A span of work with no Domain (category "event")."""
    _category = "event"

    def __init__(self, name):
        super().__init__(None, name)


class Counter:
    """A value in a Domain, recorded on every change while the profiler records."""

    def __init__(self, domain, name, value=None):
        self.domain, self.name = domain, name
        self.value = 0 if value is None else value
        if value is not None:
            self._emit()

    def _emit(self):
        if _recording():
            with _LOCK:
                _EVENTS.append({"name": self.name, "cat": str(self.domain), "ph": "C",
                                "ts": (_now() - _T0) / 1e3, "pid": _PID,
                                "args": {self.name: self.value}})

    def set_value(self, value):
        self.value = value
        self._emit()

    def increment(self, delta=1):
        self.set_value(self.value + delta)

    def decrement(self, delta=1):
        self.set_value(self.value - delta)

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


class Marker:
    """An instant in a Domain ('global', 'process', 'thread' or 'task' scope)."""

    def __init__(self, domain, name):
        self.domain, self.name = domain, name

    def mark(self, scope="process"):
        if scope not in ("global", "process", "thread", "task"):
            raise ValueError(f"Marker.mark: scope must be 'global', 'process', 'thread' or "
                             f"'task', got {scope!r}")
        if _recording():
            with _LOCK:
                _EVENTS.append({"name": self.name, "cat": str(self.domain), "ph": "i",
                                "s": {"global": "g", "process": "p"}.get(scope, "t"),
                                "ts": (_now() - _T0) / 1e3, "pid": _PID,
                                "tid": threading.get_ident()})
