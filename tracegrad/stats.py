"""Counters a user can read: `tracegrad.stats()` -> traces, compiles, cache hits, disk cache
hits, eager fallbacks, native calls, training steps captured whole and captures dropped
(capture.explain() says why), captured steps whose optimizer update ran in the same native
call and held steps finished without it (tracing/update_fusion.py: those write in place),
trainer.step updates made by their own call that wrote the weights in place or into new
buffers (fused_update.py), eager backward passes walked op by op and eager adjoints derived
whole (a graph structure is walked until it repeats back to back: runtime/tape.Adjoint),
eager adjoints compiled (the step at which an eager backward switches from the numpy
interpreter to native code, see runtime/tape.HotAdjoint), calls of
compiled functions and hybridized blocks run eagerly because an input is sparse (compiled
code is dense-only: tracing/jit.py `_sparse_call`), eager layer calls compiled because their
signature ran hot (gluon/auto_compile.py), values a trace recorded without computing that
were computed after all because something read them (tracing/lazy_values.py) and the
planned peak memory (bytes) of the latest compiled graph; `stats(reset=True)` returns them and
starts over."""
COUNTERS = {"traces": 0, "compiles": 0, "cache_hits": 0, "disk_cache_hits": 0,
            "eager_fallbacks": 0, "native_calls": 0, "captured_steps": 0, "capture_drops": 0,
            "fused_update_steps": 0, "update_fusion_misses": 0,
            "updates_in_place": 0, "updates_written_back": 0,
            "eager_backward_walks": 0, "eager_adjoints_derived": 0,
            "eager_adjoints_compiled": 0, "sparse_eager_calls": 0, "blocks_auto_compiled": 0,
            "trace_values_computed": 0,
            "planned_peak_bytes": 0}   # arena + outputs of the latest compiled graph


def bump(name, n=1):
    COUNTERS[name] += n


def stats(reset=False) -> dict:
    """A snapshot of the counters (merged with the backend's own, when it has any)."""
    snap = dict(COUNTERS)
    backend = _backend_counters()
    for k, v in backend.items():
        if k in snap:
            snap[k] += v
    if reset:
        for k in COUNTERS:
            COUNTERS[k] = 0
        for k in backend:
            backend[k] = 0
    return snap


def _backend_counters() -> dict:
    try:
        from .codegen.cache import COUNTERS as backend
    except ImportError:
        return {}
    return backend
