"""The inference fast path of a hybridized block: a call outside autograd.record() that would
reach the same compiled variant as the block's last such call goes straight to its native code.

The usual path (jit.JitFunction._call) builds the whole signature (argument structure, array
types of the arguments and parameters, which need gradients, recording, training mode), looks
it up and walks its guard tree. When that tree is a single compiled leaf (no guard on data, no
random keys, no state updates) whose native entry reads every argument and every parameter,
and nothing is recorded, the signature shrinks to what `ServingCall` checks:
  - recording off (no input needs a gradient) and the training mode the leaf was reached in;
  - the block structure (STRUCTURE_VERSION: children or parameters added, removed or replaced,
    re-hybridizing, which also drops the memo) and no trace running;
  - the arguments' count, each an NDArray;
  - every fed array's type: the native entry checks each input (ndarray type, rank, shape,
    dtype, byte order, layout) before it touches data and refuses the call otherwise
    (NativeFunction.try_call returns None); the usual path then runs and decides.
Parameters' arrays are read afresh on every call, so set_data, load_parameters, cast or a
reinitialization take effect as on the usual path. A refused call costs the usual path plus
about a microsecond; the memo then follows the signature the usual path reached.
"""
import weakref
from operator import itemgetter

from ..array import HOOKS, NDArray, wrap
from ..runtime.tape import STATE
from ..stats import COUNTERS as _COUNTERS
from .compiled import Feed, InferenceEntry
from .jit import _TRACING, STRUCTURE_VERSION, unflatten


class ServingCall:
    """One compiled leaf of a block's JitFunction as a direct native call (module docstring).
    Kept on the entry per (training mode, argument count); `version` is revalidated by every
    usual call that reaches the leaf."""
    __slots__ = ("jf", "tree", "entry", "native", "plist", "pick", "nargs", "shape0",
                 "n_out", "out_tree", "training", "version", "__weakref__")

    def __call__(self, args):
        """The block's outputs, or None: take the usual path."""
        if (STATE.recording or STATE.training != self.training or len(args) != self.nargs
                or STRUCTURE_VERSION[0] != self.version or HOOKS.tracing or _TRACING.depth):
            return None
        if self.nargs == 1:
            a = args[0]
            if type(a) is not NDArray or a._data.shape != self.shape0:  # (a cheap early miss)
                return None
            inputs = (a._data,)
        else:
            for a in args:
                if type(a) is not NDArray:
                    return None
            inputs = tuple([a._data for a in args])
        try:
            inputs += tuple([p._data._data for p in self.plist])
        except AttributeError:  # a parameter without data (deferred): the usual path says so
            return None
        if self.pick is not None:
            inputs = self.pick(inputs)
        outs = self.native.try_call(inputs)
        if outs is None:
            return None
        jf = self.jf
        counts = jf.counts
        counts["calls"] += 1
        counts["native"] += 1
        _COUNTERS["cache_hits"] += 1
        jf.last, jf.last_tree = self.entry, self.tree
        if self.out_tree == "A":
            return wrap(outs[0])
        return unflatten(self.out_tree, iter([wrap(o) for o in outs[:self.n_out]]))


def remember(block, jf, training, args):
    """After a usual call of `block` outside record() that ran native code: keep the direct
    call to the leaf it reached as block._tg_serve, when the leaf allows one (else drop it)."""
    memo = _serving_call(jf, training, args)
    if memo is None:
        block.__dict__.pop("_tg_serve", None)
        return
    memo.version = STRUCTURE_VERSION[0]
    block.__dict__["_tg_serve"] = memo


def _serving_call(jf, training, args):
    tree = jf.last_tree
    node = tree.root if tree is not None else None
    if node is None or node.guard is not None or node.entry is not jf.last:
        return None
    entry = node.entry
    # the entry keeps its memos weakly (a memo holds the entry: a reference cycle would keep a
    # dropped net's native code and scratch arena for the collector); the block holds the
    # current one (block._tg_serve), and a key that allows none is remembered as such
    memos = entry.__dict__.get("serving")
    if memos is None:
        memos = entry.__dict__["serving"] = (weakref.WeakValueDictionary(), set())
    key = (training, len(args))
    memo = memos[0].get(key)
    if memo is None and key not in memos[1]:  # (an entry is compiled for one signature)
        memo = _build(jf, tree, node, entry, training, args)
        if memo is None:
            memos[1].add(key)
        else:
            memos[0][key] = memo
    return memo


def _build(jf, tree, node, entry, training, args):
    plist = getattr(jf, "param_list", None)
    if (plist is None or type(entry) is not InferenceEntry or tree.keyed or node.n_keys
            or entry.updates or jf.extra_key is not None or not args
            or not all(type(a) is NDArray for a in args)
            or not all(p._nd_data() is p._data for p in plist)):
        return None
    nargs = len(args)
    slots = []
    for kind, ref in entry.feeds:
        if kind == Feed.ARG:
            slots.append(ref)
        elif kind == Feed.PARAM:
            slots.append(nargs + ref)
        else:
            return None
    # every argument and parameter must be fed: the native entry then checks all their types
    if set(slots) != set(range(nargs + len(plist))):
        return None
    memo = ServingCall()
    memo.jf, memo.tree, memo.entry, memo.native = jf, tree, entry, entry.native
    memo.plist, memo.nargs, memo.training = tuple(plist), nargs, training
    memo.shape0 = args[0]._data.shape
    memo.pick = (None if slots == list(range(nargs + len(plist))) else
                 itemgetter(*slots) if len(slots) > 1 else (lambda t, i=slots[0]: (t[i],)))
    memo.n_out, memo.out_tree = entry.n_out, node.out_tree
    return memo
