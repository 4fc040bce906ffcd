"""gluon's own layers, called eagerly, compiled once a call signature has run long enough.

A layer that is not hybridized runs op by op: a few µs of Python per op forward, as much again
in its backward walk. Code that calls one in a loop whose graph never repeats as a whole (an
LSTMCell unrolled over a length drawn per batch, a tree, a search) pays that on every op, and
step capture, which compiles a step that repeats, never sees one. The layer's own call repeats
though: the same layer, argument types and modes, thousands of times.

Counting (Tier). A block's first call counts the ops it runs (through array's profile hook).
Each later call adds them up: two additions, until the block has run OPS_BUDGET ops over
MIN_CALLS calls. From then on each call is counted per signature (its arrays' shapes, dtypes
and whether they are recorded, its other arguments, recording and training mode), and a
signature that runs OPS_BUDGET / 4 more ops over MIN_CALLS calls is hot: its calls take the
path hybridize() gives (tracing/jit.hybrid_call: one native call forward, one for the
backward, guarded per signature). Other signatures go on eagerly, counted alike. Counts, not
times, decide, so a program switches at the same call in every run. The budget weighs what
compiling costs (~20 ms from the disk cache, ~0.1-0.3 s cold) against the Python per op it
saves: a one-op layer needs thousands of calls, an LSTMCell (18 ops) about 570.

Which blocks: gluon's own layers and losses (_LAYERS) of exactly those classes, whose
children are all such layers. Their forward is a pure function of inputs, parameters and
attributes, so compiled they compute what eager code computes (each is tested against eager
across the switch: tests/gluon/test_auto_compile.py). A user's subclass, a block with hooks
(its class is a hooked subclass), one the user set hybridize(active=False) on, one under
set_np or in a graph on several contexts stays eager; so do calls inside a trace, or while
step capture holds plans (it compiles the whole step). Counting starts over when the block
structure changes, and when an attribute of the block or one below it is set (eager code
reads attributes at every call: `dropout._rate = 0.1` takes effect at once); an attribute
object changed in place (a dict's item) is not seen. `auto_compile(False)` or
TRACEGRAD_AUTO_COMPILE=0 turns it off.
"""
import os
import threading

from .. import array as _array, log as _log
from ..array import NDArray
from ..base import ANY_TRACE
from ..runtime.tape import STATE
from ..stats import COUNTERS
from ..tracing import compiled as _compiled
from ..tracing.jit import ATTRIBUTE_VERSION, STRUCTURE_VERSION, _block_structure
from ..util import _NP
from . import contexts as _contexts

OPS_BUDGET = 8192       # ops run eagerly on one signature before its calls are compiled
MIN_CALLS = 16          # and at least this many calls of it
MAX_SIGNATURES = 64     # signatures counted per block (past that, counting starts over)
ENABLED = [os.environ.get("TRACEGRAD_AUTO_COMPILE", "1") != "0"]

_LAYERS = {
    "tracegrad.gluon.nn.activations": {"Activation", "ELU", "GELU", "LeakyReLU", "PReLU",
                                       "SELU", "Swish"},
    "tracegrad.gluon.nn.basic_layers": {"BatchNorm", "Dense", "Dropout", "Embedding",
                                        "Flatten", "HybridSequential", "LayerNorm"},
    "tracegrad.gluon.nn.conv_layers": {
        "AvgPool1D", "AvgPool2D", "AvgPool3D", "Conv1D", "Conv1DTranspose", "Conv2D",
        "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "GlobalAvgPool1D", "GlobalAvgPool2D",
        "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
        "MaxPool1D", "MaxPool2D", "MaxPool3D", "ReflectionPad2D"},
    "tracegrad.gluon.nn.norm_layers": {"GroupNorm", "InstanceNorm"},
    "tracegrad.gluon.rnn.rnn_cell": {"GRUCell", "LSTMCell", "RNNCell",
                                     "HybridSequentialRNNCell", "ResidualCell"},
    "tracegrad.gluon.rnn.rnn_layer": {"GRU", "LSTM", "RNN"},
    "tracegrad.gluon.loss": {"CosineEmbeddingLoss", "HingeLoss", "HuberLoss", "KLDivLoss",
                             "L1Loss", "L2Loss", "LogisticLoss", "PoissonNLLLoss",
                             "SigmoidBinaryCrossEntropyLoss", "SoftmaxCrossEntropyLoss",
                             "SquaredHingeLoss", "TripletLoss"},
}
_CLASSES: dict = {}     # class -> whether it is one of _LAYERS
_PLAIN_VALUES = (int, float, bool, str, type(None))


def auto_compile(on=True):
    """Turn the compilation of hot eager layer calls on or off (process-wide); returns the
    previous setting."""
    prev, ENABLED[0] = ENABLED[0], bool(on)
    return prev


class Tier:
    """A block's counts. `ops`: the ops one call runs (None until counted). Until the block
    as a whole has run OPS_BUDGET ops over MIN_CALLS calls (`spent`, `calls`), nothing else
    is kept; then (`warm`) each signature is counted in `counts` (calls, ops), and one that
    runs OPS_BUDGET / 4 more over MIN_CALLS calls joins `hot`, the signatures that run
    compiled. `version`: the block structure they were counted under; `eligible`: whether
    the block may compile at all. `snapshot`: the attribute objects of the block and those
    below it when the first signature turned hot, compared again whenever some block has set
    an attribute since `seen` (ATTRIBUTE_VERSION)."""
    __slots__ = ("ops", "spent", "calls", "warm", "counts", "hot", "version", "structure",
                 "eligible", "snapshot", "seen")

    def __init__(self, version, eligible):
        self.ops, self.spent, self.calls, self.warm = None, 0, 0, False
        self.counts, self.hot = {}, set()
        self.version, self.eligible, self.structure = version, eligible, None
        self.snapshot, self.seen = None, None


OFF = Tier(None, False)     # hybridize(active=False) was called on the block


def call(block, args, compiled_call):
    """The block's eager call, or `compiled_call(block, args)` for a hot signature. Until
    the block is warm a call costs a few attribute reads and two additions."""
    tier = block.__dict__.get("_tg_tier")
    if tier is None or tier.version != STRUCTURE_VERSION[0]:
        if tier is OFF:
            return block.forward(*args)
        tier = _current(block, tier)
    if not tier.eligible or not ENABLED[0] or ANY_TRACE[0] or _NP["array"] or \
            _compiled.DEFER_CALL is not None or _contexts.ACTIVE[0]:
        return block.forward(*args)
    if tier.warm:
        return _by_signature(tier, block, args, compiled_call)
    ops = tier.ops
    if ops is None:
        out, tier.ops = _counted(block, args)
        return out
    tier.spent += ops
    tier.calls += 1
    if tier.spent >= OPS_BUDGET and tier.calls >= MIN_CALLS:
        tier.warm = True
    return block.forward(*args)


def _current(block, tier):
    """The block's Tier after some block gained, lost or replaced a child or parameter: its
    counts stand when its own blocks and parameters are the ones they were counted with. A
    block not of a listed class gets an ineligible Tier without walking its blocks."""
    version = STRUCTURE_VERSION[0]
    if not _listed(type(block)):
        tier = block.__dict__["_tg_tier"] = Tier(version, False)
        return tier
    structure = _block_structure(block)
    if tier is None or tier.structure != structure:
        tier = block.__dict__["_tg_tier"] = Tier(version, _eligible(block))
        tier.structure = structure
    tier.version = version
    return tier


def _by_signature(tier, block, args, compiled_call):
    key = _signature(args)
    if key is None:
        return block.forward(*args)
    if key in tier.hot:
        if tier.seen != ATTRIBUTE_VERSION[0]:
            if not _unmoved(tier.snapshot):
                _drop(block)        # (eager code reads the new attributes: so will the
                return block.forward(*args)     # next compile)
            tier.seen = ATTRIBUTE_VERSION[0]
        return _run_compiled(block, args, compiled_call)
    seen = tier.counts.get(key)
    calls, ops = (seen or (0, 0))
    calls, ops = calls + 1, ops + tier.ops
    if calls >= MIN_CALLS and ops >= OPS_BUDGET // 4:
        tier.counts.pop(key, None)
        if not tier.hot:
            tier.snapshot, tier.seen = _snapshot(block), ATTRIBUTE_VERSION[0]
        tier.hot.add(key)
        COUNTERS["blocks_auto_compiled"] += 1
        _log.event("compiles", block.name or type(block).__name__.lower(),
                   f"is hot: {tier.calls} eager calls ran {tier.spent} ops, then {calls} "
                   f"of one signature {ops} more; its calls now run compiled, as if "
                   f"hybridized (auto_compile(False) keeps layers eager)")
        return _run_compiled(block, args, compiled_call)
    if seen is None and len(tier.counts) >= MAX_SIGNATURES:
        tier.counts.clear()
    tier.counts[key] = (calls, ops)
    return block.forward(*args)


def _run_compiled(block, args, compiled_call):
    """The compiled call, leaving no inference shortcut behind (tracing/serving.py: it
    answers before the attribute check above)."""
    out = compiled_call(block, args)
    d = block.__dict__
    if "_tg_serve" in d:
        del d["_tg_serve"]
    return out


# what a block's __dict__ holds that no forward reads: tracegrad's own state (the _tg_
# names), and the recurrent cells' step counters (they name begin_state arrays)
_OWN = frozenset({"_cached_args", "_counter", "_init_counter"})


def _own(key):
    return key in _OWN or key.startswith("_tg_")


def _snapshot(block):
    from .block import _tree    # (block.py imports this module)
    return [(b, [(k, v) for k, v in b.__dict__.items() if not _own(k)])
            for b in _tree(block)]


def _unmoved(snapshot) -> bool:
    """Whether every block of the snapshot holds the same attribute objects, by name."""
    for b, items in snapshot:
        d = b.__dict__
        n = 0
        for k, v in d.items():
            if _own(k):
                continue
            if n >= len(items) or items[n][0] != k or items[n][1] is not v:
                return False
            n += 1
        if n != len(items):
            return False
    return True


def _drop(block):
    """After an attribute change: what was compiled goes, and counting starts over."""
    d = block.__dict__
    for k in ("_tg_tier", "_tg_jit", "_tg_serve"):
        d.pop(k, None)


def _listed(cls) -> bool:
    """Whether `cls` is one of _LAYERS (not a subclass of one)."""
    ok = _CLASSES.get(cls)
    if ok is None:
        ok = _CLASSES[cls] = cls.__qualname__ in _LAYERS.get(cls.__module__, ())
    return ok


def _eligible(block) -> bool:
    """Whether the block and every block below it are gluon layers of _LAYERS, none of
    them hybridized or kept eager by hybridize(active=False)."""
    stack = [block]
    while stack:
        b = stack.pop()
        if not _listed(type(b)) or (b is not block and (getattr(b, "_active", False)
                                          or b.__dict__.get("_tg_tier") is OFF)):
            return False
        stack.extend(b._children.values())
    return True


def _signature(args):
    """A hashable key of the arguments (array shapes and dtypes, plain values, nested in lists
    and tuples) with the recording and training modes; None for anything else."""
    key = [STATE.recording, STATE.training]
    if not _flatten(args, key):
        return None
    return tuple(key)


def _flatten(items, key) -> bool:
    for a in items:
        t = type(a)
        if t is NDArray:
            d = a._data
            key.append(d.shape)
            key.append(d.dtype)
            key.append(a._value is not None)    # (recorded or a variable: a gradient path)
        elif t is list or t is tuple:
            key.append(len(a))
            if not _flatten(a, key):
                return False
        elif t in _PLAIN_VALUES:
            key.append(a)
        else:
            return False
    return True


class _Count(threading.local):
    depth = 0
    ops = 0


_COUNT = _Count()


def _counting_op(opdef, args, attrs, impl):
    """array.apply while a call's ops are counted: one more, then the op itself."""
    hooks = _array.HOOKS
    if hooks.profiling:     # (an op another hook runs: counted by it)
        return _array.apply(opdef, args, attrs, impl)
    _COUNT.ops += 1
    hooks.profiling = True
    try:
        return _array.apply(opdef, args, attrs, impl)
    finally:
        hooks.profiling = False


def _counted(block, args):
    """(the block's eager call, how many ops it ran, at least 1). While mx.profiler runs (it
    holds the hook) the call is not counted: it weighs as one op."""
    count = _COUNT
    if count.depth == 0:
        if _array._PROFILE is not None:
            return block.forward(*args), 1
        _array.set_profile_hook(_counting_op)
    start = count.ops
    count.depth += 1
    try:
        out = block.forward(*args)
    finally:
        count.depth -= 1
        if count.depth == 0 and _array._PROFILE is _counting_op:
            _array.set_profile_hook(None)   # (unless mx.profiler took the hook meanwhile)
    return out, max(count.ops - start, 1)
