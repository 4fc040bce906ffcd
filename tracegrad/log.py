"""Compile-time events through Python's `logging`, logger "tracegrad".

    TRACEGRAD_LOG=compiles,recompiles,guards,fallbacks python train.py   (or TRACEGRAD_LOG=all)

One line per event, with the time, the compiled function's (or block's) name and the reason:

    12:00:01.234 tracegrad compiles: dense first call, f32[64,8] (traced and compiled in 0.21 s)
    12:00:01.301 tracegrad guards: dense input 0: f32[32,8], compiled for f32[64,8]
    12:00:01.420 tracegrad recompiles: dense variant 2, f32[32,8] (traced and compiled in 0.12 s)
    12:00:01.500 tracegrad fallbacks: f needs a concrete value (asscalar) at train.py:12: ...

With TRACEGRAD_LOG unset nothing is configured; a program may still attach its own handler to
logging.getLogger("tracegrad") and set its level to INFO to receive every event. This module
imports nothing from tracegrad, so any layer may call it.
"""
import logging
import os
import sys
import time

LOGGER = logging.getLogger("tracegrad")
EVENTS = ("compiles", "recompiles", "guards", "fallbacks")
_enabled = set()


def configure(spec=None):
    """Enable the events named in spec (comma-separated, 'all'), default $TRACEGRAD_LOG."""
    spec = os.environ.get("TRACEGRAD_LOG", "") if spec is None else spec
    names = {s.strip() for s in spec.split(",") if s.strip()}
    if "all" in names:
        names = set(EVENTS)
    unknown = names - set(EVENTS)
    if unknown:
        raise ValueError(f"TRACEGRAD_LOG: unknown event(s) {sorted(unknown)}; known: "
                         f"{', '.join(EVENTS)}, all")
    _enabled.clear()
    _enabled.update(names)
    ours = [h for h in LOGGER.handlers if getattr(h, "_tracegrad", False)]
    if not names:
        for h in ours:
            LOGGER.removeHandler(h)
        if ours:
            LOGGER.setLevel(logging.NOTSET)
    elif not ours:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(name)s %(message)s",
                                               "%H:%M:%S"))
        handler._tracegrad = True
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)


def enabled(event):
    """Switched on by TRACEGRAD_LOG, or a handler of the program's own listens at INFO."""
    return event in _enabled or LOGGER.isEnabledFor(logging.INFO) and any(
        not getattr(h, "_tracegrad", False) for h in LOGGER.handlers)


def event(kind, name, reason):
    """Log one event of `kind` (one of EVENTS) about compiled function `name`."""
    if enabled(kind):
        LOGGER.info("%s: %s %s", kind, name, reason, extra={"event": kind, "fn": name})


def now():
    return time.perf_counter()


def describe(key):
    """A jit signature key as text: 'f32[64,8], f32[8,4] (training)'."""
    types, training = key[1], key[4]
    return ", ".join(_part(p) for p in types) + (" (training)" if training else "")


def _part(p):
    import numpy as np
    dtype, shape = p
    short = {"float32": "f32", "float64": "f64", "float16": "f16", "int32": "i32",
             "int64": "i64", "bool": "bool"}.get(np.dtype(dtype).name, np.dtype(dtype).name)
    return f"{short}[{','.join(map(str, shape))}]"


def guard_miss(name, key, cache):
    """A call whose signature no compiled variant of `name` matches (cache: the variants)."""
    if cache and enabled("guards"):
        event("guards", name, _difference(key, list(cache)[-1]))


def _difference(key, old):
    """What differs between two signature keys (jit.JitFunction._signature's layout)."""
    structure, types, needs, recording, training, extra = key
    if structure != old[0]:
        return "argument structure changed (tuples, lists, keywords or static values)"
    if len(types) != len(old[1]):
        return f"{len(types)} inputs, compiled for {len(old[1])}"
    for i, (p, o) in enumerate(zip(types, old[1])):
        if p != o:
            return f"input {i}: {_part(p)}, compiled for {_part(o)}"
    if training != old[4]:
        return f"training={training}, compiled for training={old[4]}"
    if recording != old[3]:
        return f"recording={recording}, compiled for recording={old[3]}"
    for i, (n, o) in enumerate(zip(needs, old[2])):
        if n != o:
            return f"input {i} {'needs' if n else 'does not need'} a gradient, compiled " \
                   f"for {'needing' if o else 'not needing'} one"
    return "block structure changed" if extra != old[5] else "signature changed"


def compiled(name, what, variants, t0):
    """A new variant (signature or guard outcome) was traced and compiled; `variants` counts
    the function's compiled paths including this one."""
    first = variants <= 1
    kind = "compiles" if first else "recompiles"
    if enabled(kind):
        took = time.perf_counter() - t0
        head = "first call" if first else f"variant {variants}"
        event(kind, name, f"{head}, {what} (traced and compiled in {took:.3g} s)")


def guard_outcome(name, reason):
    """A guard saw an outcome no compiled branch was built for."""
    event("guards", name, reason)


def fallback(name, reason):
    """Code that runs eagerly (or in Python) instead of natively, and why."""
    event("fallbacks", name, reason)


configure()
