"""Guards: the compiled variants of one input signature, as a tree of native segments joined
by the concrete values Python asked for while the function was traced.

A trace that meets `bool(x < 0.75)` or `x.asscalar()` records a guard (the IR value Python
read, and what it read) and goes on with that value. The traced path becomes a chain of
segments: segment d computes guard d (plus the values later segments reuse), the last one the
outputs. Paths share the segments up to the guard where they part, so a call runs segment 0
natively, reads its guard, follows the child compiled for that outcome, and so on; an outcome
with no child yet is traced (the trace is the eager run) and grafted on. Code of a branch whose
guard did not match never runs. Each segment is its own compiled entry, so under autograd it
is one `compiled_call` on the tape and gradients flow through whichever segments ran.

Values are matched between paths structurally (an interned key of op, attributes and operand
keys, down to where each input is fed from), so a later path reuses the values an earlier
segment exports and recomputes the rest.
"""
import hashlib
import os

import numpy as np

from .. import log
from . import compiled as _compiled
from .compiled import Feed, InferenceEntry, TrainingEntry, held_state
from ..ir.autodiff import copy_ops
from ..ir.function import Builder, Literal, Value
from ..random import next_key
from ..runtime.handles import OutCall

EAGER = "eager"     # a child slot whose outcome runs eagerly (see GuardTree.run)


class Guard:
    """One concrete-value request met while tracing: what was asked (`why`), the user's
    file:line (`where`), and whether the outcome is a truth value or the data itself."""
    __slots__ = ("why", "where", "kind", "expr")

    def __init__(self, why, where):
        self.why, self.where = why, where
        self.kind = "bool" if why == "bool()" else "value"
        self.expr = "?"


def outcome_of(kind, data):
    """The cache key of what Python read: a truth value, or the exact bytes of the data."""
    if kind == "bool":
        return bool(data.reshape(-1)[0])
    return (data.dtype.str, data.shape, data.tobytes())


def show_outcome(kind, o):
    if kind == "bool" or o == EAGER:
        return str(o)
    dtype, shape, raw = o
    arr = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
    return repr(arr.reshape(-1)[0].item()) if arr.size == 1 else np.array2string(arr)


class KeyDraw:
    """The random keys of one call, drawn in trace order as segments ask for them."""
    __slots__ = ("keys", "pending")

    def __init__(self, pending):
        self.keys, self.pending = [], pending

    def __call__(self, i):
        keys = self.keys
        while len(keys) <= i:
            keys.append(self.pending.pop(0) if self.pending else next_key()._data)
        return keys[i]


# a path from a guard node to a leaf taken this often becomes one native call (0: never)
CHAIN_AFTER = int(os.environ.get("TRACEGRAD_GUARD_CHAINS", "3"))
MAX_CHAINS = 8  # chains per node


class Chain:
    """A path from a guard node down to a leaf as ONE native call (codegen/chain.py): each
    guard segment runs, its value is checked against the outcome this path was compiled for,
    and only when it matches does the next segment run; a mismatch returns at once, so no
    code past a guard that did not match runs. The leaf's segment is the one its entry would
    run (forward, or the fused forward+gradient step). A guard segment that exports values
    (read by later segments) hands them over inside the call; afterwards each such segment is
    recorded on the tape (finish_chain) as its own call would have been."""
    __slots__ = ("nodes", "outcomes", "leaf", "native", "feeds", "leaf_at", "parts",
                 "exports")
    # a JitFunction runs one call at a time (its lock), so a chain's scratch guard values are
    # read before any other call can overwrite them

    @staticmethod
    def build(steps, leaf, fused, fastmath):
        """A Chain for `steps` [(guard node, outcome, len(ext) before it)] then `leaf`, or
        False when some segment cannot be chained (a guard read straight from an input, random
        keys or constants fed, an op without native code)."""
        from ..codegen.chain import Check, compile_chain
        from ..runtime.native import NativeChain
        entries = [n.entry for n, _, _ in steps]
        if any(e is None for e in entries) or not hasattr(leaf.entry, "segment_fn") or \
                leaf.n_keys:
            return False
        fns = [e.optimized if n.direct else e.segment_fn(False)
               for (n, _, _), e in zip(steps, entries)] + [leaf.entry.segment_fn(fused)]
        exports = not all(n.direct for n, _, _ in steps)
        start = steps[0][2]
        position = {}            # ext position of an export -> its chain output index
        parts = []               # per guard segment: (output base, user outputs, direct)
        base, ext_len = 0, start
        for (n, _, before), e, fn in zip(steps, entries, fns):
            if before != ext_len:
                return False
            if not n.direct:
                for j in range(e.n_out):
                    position[ext_len + j] = base + j
                ext_len += e.n_out
            parts.append((base, e.n_out, n.direct))
            base += len(fn.outputs)
        feeds, bindings, types = [], [], []
        for e, fn in zip(entries + [leaf.entry], fns):
            if not all(kind in (Feed.ARG, Feed.PARAM) for kind, _ in e.feeds):
                return False
            binding = []
            for (kind, ref), p in zip(e.feeds, fn.params):
                if kind == Feed.ARG and ref >= start:  # an export of an earlier segment
                    if ref not in position:
                        return False
                    binding.append(("out", position[ref]))
                    continue
                if (kind, ref) not in feeds:
                    feeds.append((kind, ref))
                    types.append(p.type)
                binding.append(("in", feeds.index((kind, ref))))
            bindings.append(binding)
        n_in = len(feeds)
        bindings = [[i if where == "in" else n_in + i for where, i in binding]
                    for binding in bindings]
        # a guard segment's output 0 is its value
        checks = [Check(0, n.guard.kind, o if n.guard.kind == "bool" else o[2])
                  for n, o, _ in steps] + [None]
        try:
            module = compile_chain(fns, bindings, checks, types, fastmath)
        except Exception as e:  # noqa: BLE001 - a chain is an optimisation: the path still runs
            log.fallback("guard chain", f"not chained ({type(e).__name__}: {e}); the "
                                        f"segments run one native call each")
            return False
        if module is None:
            return False
        chain = Chain()
        chain.nodes = [n for n, _, _ in steps]
        chain.outcomes = [o for _, o, _ in steps]
        # without exports the guard values (one output per guard segment) are read at once:
        # scratch buffers, and the fresh outputs are the leaf's
        scratch = 0 if exports else len(entries)
        chain.leaf, chain.native = leaf, NativeChain(module, scratch=scratch)
        chain.feeds, chain.exports, chain.parts = feeds, exports, parts
        chain.leaf_at = base - scratch
        return chain

    def run(self, ext, params):
        """None: an input failed its native type guard (take the ordinary path); (None,
        outputs): every check passed; (k, outputs): check k failed (see guard_value)."""
        feeds = self.feeds
        if len(feeds) == 1 and feeds[0][0] == Feed.ARG:  # one argument: no comprehension
            rc, outs = self.native(ext[feeds[0][1]]._data)
        else:
            rc, outs = self.native(*[(ext[ref] if kind == Feed.ARG else params[ref])._data
                                     for kind, ref in feeds])
        if rc is None:
            return None
        if rc == 0:
            return None, outs
        return rc - self.native.check_failed, outs

    def finish_segments(self, stop, outs, ext, params, visited):
        """Record guard segments 0..stop-1 that export values, as their own calls would
        have (ext gets their outputs), noting each in `visited`."""
        for k in range(stop):
            node = self.nodes[k]
            before = len(ext)
            base, n_out, direct = self.parts[k]
            if not direct:   # all the segment's outputs: its record holds the residuals too
                end = self.parts[k + 1][0] if k + 1 < len(self.parts) else self.leaf_at
                ext.extend(node.entry.finish_chain(ext, params, outs[base:end], False))
            visited.append((node, self.outcomes[k], before))

    def guard_value(self, k, outs):
        return outs[self.parts[k][0]] if self.exports else outs[k]


class Path:
    """One traced path: the ir.Function P (params fed by `feeds`; outputs: the user's, the
    state updates, then one value per guard), the guards with their outcomes, and how the
    user's outputs nest (`out_tree`)."""

    def __init__(self, fn, feeds, n_out, updates, guards, out_tree, n_args, keep=(), n_keys=0,
                 closure_args=(), unreachable=0):
        self.fn, self.feeds, self.n_out, self.updates = fn, feeds, n_out, updates
        self.n_keys = n_keys    # random draws the traced code made (used by ops or not)
        self.keep = list(keep)  # what the path's ops name (custom Functions): kept alive
        self.guards, self.out_tree, self.n_args = guards, out_tree, n_args
        self.closure_args = closure_args    # arguments also read from elsewhere (trace.py)
        self.unreachable = unreachable      # arrays recorded before the call, found nowhere


class Node:
    """A segment: `entry` computes the guard value and the exports (None: the guard reads an
    input directly, `src`); `children` maps outcomes to the next node. A leaf has no guard and
    its entry returns the user's outputs."""
    __slots__ = ("guard", "gid", "entry", "src", "out_ids", "children", "out_tree", "warned",
                 "depth", "diff", "n_keys", "direct", "probe", "read", "last_leaf", "reach",
                 "chains")

    def __init__(self, guard, depth):
        self.guard, self.depth, self.children, self.warned = guard, depth, {}, False
        self.entry = self.src = self.out_tree = None
        self.gid, self.out_ids, self.diff, self.n_keys = None, [], [], 0
        self.direct = False
        self.probe = None   # (ext, params, draw) -> outcome: how run() reads this guard
        self.read = None    # guard value array -> outcome
        # chains (see Chain): the leaf the last call through this node reached, how often
        # each leaf was reached from here, and the chains built: (leaf, fused) -> Chain/False
        self.last_leaf, self.reach, self.chains = None, {}, {}


def _reader(kind, t, seen):
    """outcome_of specialised to guard values of IR type `t` (fixed per node): a size-1 truth
    value is bool(data); a value keys on its bytes after a precomputed dtype/shape prefix.
    `seen` is the outcome the trace read: the prefix must agree with it, or the generic
    outcome_of is used."""
    if kind == "bool":
        if t.size == 1:
            return bool
        return lambda data: bool(data.reshape(-1)[0])
    dtype, shape = np.dtype(t.np_dtype).str, t.shape
    if seen[0] != dtype or seen[1] != shape:
        return lambda data: outcome_of(kind, data)
    return lambda data: (dtype, shape, data.tobytes())


def _make_probe(node, t, seen):
    """node.probe: evaluate the guard of `node` for one call and return its outcome."""
    read = node.read = _reader(node.guard.kind, t, seen)
    if node.entry is None:  # the guard reads an input or a carried value directly
        kind, ref = node.src
        if kind == Feed.ARG:
            return lambda ext, params, draw: read(ext[ref]._data)
        return lambda ext, params, draw: read(_feed_data(kind, ref, params, draw))
    entry = node.entry
    if node.direct:  # the guard alone, needed by nothing later: no NDArrays
        native = entry.native
        refs = entry.arg_refs
        if refs is not None and len(refs) == 1:
            i = refs[0]
            return lambda ext, params, draw: read(native(ext[i]._data)[0])
        arrays = entry.arrays
        return lambda ext, params, draw: read(native(*arrays(ext, params, draw))[0])

    def probe(ext, params, draw):
        outs = entry(ext, params, draw)
        ext.extend(outs)
        return read(outs[0]._data)
    return probe


class SegmentTrace:
    """What compiled.Entry reads from a trace, for one segment."""
    __slots__ = ("function", "outputs", "single", "updates")

    def __init__(self, function, n_out, updates):
        self.function, self.outputs, self.single = function, [None] * n_out, False
        self.updates = updates


def _slice(targets, stop):
    """The ops needed to compute `targets` from the values in `stop` (any order)."""
    ops, seen, stack = [], set(), [t for t in targets if isinstance(t, Value)]
    while stack:
        v = stack.pop()
        if v in seen or v in stop:
            continue
        seen.add(v)
        op = v.producer
        if op is None:
            continue
        if op not in ops:
            ops.append(op)
        for r in op.results:
            seen.add(r)
        stack.extend(o for o in op.operands if isinstance(o, Value))
    return ops


def expression(v, names, depth=0):
    """A short inline rendering of how a guard value is computed: `cast(lt(x, 0.75))`."""
    if isinstance(v, Literal):
        return v.text()
    op = v.producer
    if op is None:
        return names.get(v, v.name_hint or "?")
    if depth > 4:
        return "…"
    args = ", ".join(expression(o, names, depth + 1) for o in op.operands)
    return f"{op.opdef.name}({args})"


class GuardTree:
    """The variants of one input signature (see module docstring)."""

    def __init__(self, needs, recording, fastmath=()):
        self.needs, self.recording, self.root, self.intern = needs, recording, None, {}
        self.fastmath = fastmath  # LLVM fast-math flags every segment compiles with
        self.buffers = {}       # id -> (constant buffer, its key), see _ids
        self.keyed = False      # whether any path draws random keys (run() then tracks them)
        self.segments = 0       # compiled segments (native entries) built
        self.pending_keys = []
        self.paths = 0
        self.eager = None       # why every call of this signature runs eagerly (jit sets it)
        self.constants = []     # (name, shape) of arrays read from the closure at trace time

    def chains(self):
        """How many chains (paths run as one native call) the tree has built."""
        count, stack = 0, [self.root]
        while stack:
            n = stack.pop()
            if n is None or n is EAGER or n.guard is None:
                continue
            count += sum(1 for c in n.chains.values() if c)
            stack.extend(n.children.values())
        return count

    # ------------------------------------------------------------------ calling
    def run(self, ext, params):
        """Follow the tree for this call: (result list, leaf) at a leaf, or (None, (node,
        outcome)) where no compiled child exists (node None: nothing traced yet)."""
        node = self.root
        if node is None:
            return None, (None, None)
        draw = None
        if self.keyed:  # some path draws random keys
            draw = KeyDraw(self.pending_keys)
            self.pending_keys = []
        elif CHAIN_AFTER:
            return self._run_chained(node, ext, params)
        while True:
            probe = node.probe
            if probe is None:  # a leaf
                out = node.entry(ext, params, draw)
                if node.n_keys:  # draws the traced code made but no op kept: eager made them
                    draw(node.n_keys - 1)
                return out, node
            o = probe(ext, params, draw)
            child = node.children.get(o)
            if child is None or child is EAGER:
                return None, (node, o)
            node = child

    def _run_chained(self, node, ext, params):
        """run() through chains: from each node, the chain to the leaf the last call through
        it reached (one native call), else node by node; a chain's failed check continues
        at the child for the outcome its guard saw."""
        visited = []     # (node, outcome, len(ext) before it) walked so far
        while True:
            probe = node.probe
            if probe is None:  # a leaf
                if not visited:  # no guard on the way (a tree without guards)
                    return node.entry(ext, params, None), node
                fused = node.entry.fused_mode()  # what this call runs (asked before it runs)
                out = node.entry(ext, params, None)
                self._reached(visited, node, fused)
                return out, node
            leaf = node.last_leaf
            if leaf is not None:
                fused = leaf.entry.fused_mode()
                chain = node.chains.get((leaf, fused))
                defer = _compiled.DEFER_CALL
                # step capture is offered every training call as in Entry.__call__: with
                # exporting segments (training calls of their own) the path runs node by node
                if chain and not (chain.exports and defer is not None):
                    got = chain.run(ext, params)
                    if got is not None:
                        k, outs = got
                        if k is None:  # every check passed
                            if chain.exports:
                                chain.finish_segments(len(chain.nodes), outs, ext, params,
                                                      visited)
                                data = outs[chain.leaf_at:]
                            else:
                                data = outs
                            entry, out = leaf.entry, None
                            if defer is not None and entry.__class__ is TrainingEntry:
                                out = defer(entry, ext, params, None)
                            if out is None:
                                out = entry.finish_chain(ext, params, data, fused)
                            if visited:
                                self._reached(visited, leaf, fused)
                            return out, leaf
                        chain.finish_segments(k + 1, outs, ext, params, visited)
                        node = chain.nodes[k]
                        o = node.read(chain.guard_value(k, outs))
                        visited[-1] = (node, o, visited[-1][2])
                        child = node.children.get(o)
                        if child is None or child is EAGER:
                            return None, (node, o)
                        node = child
                        continue
            before = len(ext)
            o = probe(ext, params, None)
            visited.append((node, o, before))
            child = node.children.get(o)
            if child is None or child is EAGER:
                return None, (node, o)
            node = child

    def _reached(self, visited, leaf, fused):
        """A call walked `visited` to `leaf` (running its fused step or not): remember it,
        and chain a path taken often."""
        for i, (n, _, _) in enumerate(visited):
            n.last_leaf = leaf
            count = n.reach[leaf] = n.reach.get(leaf, 0) + 1
            if count >= CHAIN_AFTER:
                if (leaf, fused) not in n.chains and len(n.chains) < MAX_CHAINS:
                    n.chains[(leaf, fused)] = Chain.build(visited[i:], leaf, fused,
                                                          self.fastmath)

    # ------------------------------------------------------------------ growing
    def _ids(self, path):
        """Structural ids of P's values (equal ids compute equal values)."""
        intern, ids = self.intern, {}
        for p, (kind, ref) in zip(path.fn.params, path.feeds):
            if kind == Feed.CONST:
                # a buffer seen before keeps its key (a closure array updated in place);
                # constants made afresh by every trace match by content
                known = self.buffers.get(id(ref))
                key = known[1] if known is not None and known[0] is ref else _feed_key(kind, ref)
                self.buffers[id(ref)] = (ref, key)
            else:
                key = _feed_key(kind, ref)
            ids[p] = intern.setdefault(("feed", kind, key), len(intern))
        for op in path.fn.ops:
            try:
                attrs = tuple(op.attrs.items())
                hash(attrs)
            except TypeError:
                attrs = repr(sorted(op.attrs.items()))
            if issubclass(op.opdef, OutCall):  # a handle is new per trace: key its contents
                attrs = (repr([kv for kv in op.attrs.items() if kv[0] != op.opdef.handle_attr]),
                         op.opdef.structure_key(op.attrs))
            operands = tuple(ids[o] if isinstance(o, Value) else o.key() for o in op.operands)
            for i, r in enumerate(op.results):
                ids[r] = intern.setdefault((op.opdef.name, attrs, operands, i), len(intern))
        return ids

    def add(self, path, params):
        """Graft a traced path onto the tree. False when it contradicts the tree (the code
        took another route for the same outcomes: not deterministic), so nothing is added."""
        fn = path.fn
        self.keyed = self.keyed or path.n_keys > 0
        ids = self._ids(path)
        by_id = {}
        for v in list(fn.params) + [r for op in fn.ops for r in op.results]:
            by_id.setdefault(ids[v], v)
        n_user = path.n_out + len(path.updates)
        heads, gvals = fn.outputs[:n_user], fn.outputs[n_user:]
        names = {p: p.name_hint for p in fn.params}
        have, diff = {}, []          # P value -> ext position; per carried slot: differentiable
        node, parent, outcome = self.root, None, None
        depth = 0
        for depth, ((guard, o), gv) in enumerate(zip(path.guards, gvals)):
            if node is None or node is EAGER:
                node = Node(guard, depth)
                guard.expr = expression(gv, names)
                self._build(node, path, params, ids, [gv], list(gvals[depth + 1:]) + heads,
                            have, diff, seen=o)
                self._attach(parent, outcome, node)
            elif node.guard is None or node.gid != ids[gv]:
                return False
            for k, i in enumerate(node.out_ids):
                v = by_id.get(i)
                if v is not None and v not in have:
                    have[v] = path.n_args + len(diff) + k
            diff = diff + node.diff
            parent, outcome = node, o
            node = node.children.get(o)
        if node is not None and node is not EAGER:
            return node.guard is None
        leaf = Node(None, len(path.guards))
        leaf.out_tree, leaf.n_keys = path.out_tree, path.n_keys
        self._build(leaf, path, params, ids, heads, [], have, diff, path.n_out, path.updates)
        self._attach(parent, outcome, leaf)
        self.paths += 1
        return True

    def _attach(self, parent, outcome, node):
        if parent is None:
            self.root = node
        else:
            parent.children[outcome] = node

    def _build(self, node, path, params, ids, targets, later, have, diff, n_out=None,
               updates=(), seen=None):
        """Compile the segment computing `targets` from the inputs and carried values."""
        fn, feeds, n_args = path.fn, path.feeds, path.n_args
        param_index = {p: i for i, p in enumerate(fn.params)}
        stop = set(fn.params) | set(have)
        ops = _slice(targets, stop)
        order = {op: i for i, op in enumerate(fn.ops)}
        ops.sort(key=order.__getitem__)
        defined = {r for op in ops for r in op.results}
        exports, used = [], set()
        if later and ops:
            used = set(t for t in later if t in defined)
            for op in _slice(later, stop | defined):
                used.update(o for o in op.operands if o in defined)
            exports = [r for op in ops for r in op.results if r in used and r not in targets]
        outputs = list(targets) + exports
        node.gid = ids[targets[0]] if node.guard is not None else None
        if node.guard is not None and not ops:  # the guard reads an input or a carried value
            g = targets[0]
            node.src = (Feed.ARG, have[g]) if g in have else feeds[param_index[g]]
            node.out_ids, node.diff = [], []
            node.probe = _make_probe(node, g.type, seen)
            return
        b = Builder(name=_name(fn.name, node))
        env, seg_feeds, wrt = {}, [], []
        for op in ops:
            for o in op.operands:
                if isinstance(o, Value) and o not in env and o not in defined:
                    _add_param(b, o, env, seg_feeds, wrt, have, diff, feeds, param_index,
                               n_args, self.needs, self.recording)
        for t in targets:
            if isinstance(t, Value) and t not in env and t not in defined:
                _add_param(b, t, env, seg_feeds, wrt, have, diff, feeds, param_index, n_args,
                           self.needs, self.recording)
        copy_ops(b, ops, env)
        seg = b.ret(*[env[o] if isinstance(o, Value) else o for o in outputs])
        if node.guard is None:
            tr = SegmentTrace(seg, n_out, list(updates))
            train = bool(wrt)
        else:
            tr = SegmentTrace(seg, len(outputs), [])
            # the guard's own value needs a gradient only when later code computes with it
            train = bool(wrt) and (len(outputs) > 1 or targets[0] in used)
        node.entry = (TrainingEntry(tr, seg_feeds, params, [], wrt, self.fastmath) if train
                      else InferenceEntry(tr, seg_feeds, params, [], self.fastmath))
        self.segments += 1
        node.entry.keep = path.keep
        node.out_ids = [ids[o] for o in outputs]
        node.diff = [train] * len(outputs)
        if node.guard is not None and not train and len(outputs) == 1 and targets[0] not in used:
            node.direct, node.out_ids, node.diff = True, [], []  # run() reads the guard only
        if node.guard is not None:
            node.probe = _make_probe(node, targets[0].type, seen)


def _name(base, node):
    return f"{base}_leaf{node.depth}" if node.guard is None else f"{base}_guard{node.depth}"


def _add_param(b, v, env, seg_feeds, wrt, have, diff, feeds, param_index, n_args, needs,
               recording):
    env[v] = b.param(v.type, v.name_hint)
    i = len(seg_feeds)
    if v in have:
        pos = have[v]
        seg_feeds.append((Feed.ARG, pos))
        if diff[pos - n_args]:
            wrt.append(i)
        return
    kind, ref = feeds[param_index[v]]
    seg_feeds.append((kind, ref))
    if _needs(kind, ref, needs, n_args, recording):
        wrt.append(i)


def _needs(kind, ref, needs, n_args, recording):
    if kind == Feed.ARG:
        return needs[ref]
    if kind == Feed.PARAM:
        return needs[n_args + ref]
    if kind == Feed.VAR:
        return recording and ref.var.grad_req != "null"
    if kind == Feed.HELD:
        a = ref.array
        return a is not None and held_state(a, recording)[2]
    return False


def _feed_key(kind, ref):
    if kind in (Feed.ARG, Feed.PARAM, Feed.KEY):
        return ref
    if kind == Feed.CONST:
        return (ref.dtype.str, ref.shape, hashlib.sha1(np.ascontiguousarray(ref)).digest())
    if kind == Feed.HELD:   # (the array's one weak reference: the same for every trace)
        return ("held", id(ref.ref))
    return id(ref.var)


def _feed_data(kind, ref, params, draw):
    if kind == Feed.PARAM:
        return params[ref]._data
    if kind == Feed.KEY:
        return draw(ref)
    if kind == Feed.CONST:
        return ref
    if kind == Feed.HELD:
        return ref.buffer()
    return ref.data
