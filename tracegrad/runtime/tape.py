"""The eager tape: recorded ops are ir.Operations whose result Values carry their numpy data.

There is no separate tape list: a recorded value points to its producer, the producer to its
operands, so the graph of a head is found by walking back from it, and it is freed when nobody
holds the head. `backward` extracts that graph as an ir.Function (reusing the recorded objects),
builds its adjoint with ir.vjp once per graph structure (cached), and interprets it. A float
scalar of an elementwise op is an input of that adjoint, not structure (`lifts_literal`).
"""
import itertools
import os
import sys
import threading
import warnings
import weakref
from collections import OrderedDict, deque

import numpy as np

from ..base import LOCATING, op_error, op_location
from ..ir.autodiff import vjp
from ..ir.function import Function, Literal, Operation, Value, canonical_attrs, literal_dtype
from ..ir.ops import ELEMENTWISE
from ..ir.passes import run_pipeline
from ..ir.int_grads import IntegerGradientError
from ..ir.types import DTYPES, FLOATS, type_of
from ..stats import COUNTERS as _STATS
from . import background
from .buffers import pool_refs
from .interpret import Program
from .op_adjoints import ColdPlan, zeros as op_zeros


class State(threading.local):
    """Per-thread autograd flags (MXNet's recording / training state is thread-local)."""
    recording = False
    training = False


STATE = State()
_seq = itertools.count()


class Variable:
    """Gradient storage of an array marked with attach_grad / mark_variables. `fresh` turns
    True whenever backward delivers a gradient (Trainer clears it to spot stale ones);
    `grad_stype` is the storage type the gradient is shown in (None: dense; sparse.py);
    a row_sparse one has `rows`, the rows Embedding looked up (sparse_rows.py)."""
    __slots__ = ("grad", "grad_req", "fresh", "grad_stype", "rows")

    def __init__(self, grad, grad_req="write", grad_stype=None):
        self.grad, self.grad_req, self.fresh = grad, grad_req, False
        self.grad_stype = grad_stype
        self.rows = None
        if grad_stype == "row_sparse":
            from ..sparse_rows import new_marks
            self.rows = new_marks(grad)

    def receive(self, g):
        """Take the gradient backward computed (None: no path reached this variable).

        'add' accumulates; 'write' overwrites. A fresh result nobody else holds replaces the
        buffer instead of being copied into it, when nobody else holds the buffer either
        (the refcounts say so; an output pool's reference does not count, it reuses the array
        only once nobody else holds it): PyTorch's AccumulateGrad steals gradients the same way."""
        self.fresh = True
        if self.grad_req == "add":
            if g is not None:
                self.grad += g
        elif g is None:
            self.grad[...] = 0
        else:
            grad = self.grad
            if (type(g) is np.ndarray and g.base is None and g.dtype == grad.dtype
                    and g.shape == grad.shape
                    and sys.getrefcount(g) <= _STEALABLE + pool_refs(g)
                    and sys.getrefcount(grad) <= 3 + pool_refs(grad)):  # + this local
                flags = g.flags
                if flags.c_contiguous and flags.writeable:
                    self.grad = g
                    return
            np.copyto(grad, g, casting="unsafe")


# references to a gradient array inside Variable.receive when nothing but the caller holds it:
# the caller's local, the argument, getrefcount's own (autograd.backward takes it out of its list)
_STEALABLE = 3


class TapeValue(Value):
    """A recorded value: its data at record time, the Variable if it is one, a creation order,
    and `keep`: an object the op needs alive while the graph lives (a custom Function)."""
    __slots__ = ("data", "var", "seq", "keep")

    def __init__(self, type, producer, data, var=None):
        self.type, self.producer, self.index, self.name_hint = type, producer, 0, None
        self.data, self.var, self.seq, self.keep = data, var, next(_seq), None


class Pending:
    """The `data` of a value a trace recorded without computing it (tracing/lazy_values.py):
    what eager apply would have run on its producer's operands, `impl` with `attrs` and the
    Python `scalars` the user passed where the op holds Literals, and the result's `dtype`
    and `shape` (its type rule's: `record` takes it as it takes an array). Not None, so the
    graph counts as live; MATERIALIZE[0](value) computes it. It names no value: `release`
    counts a graph's references. `own`: the result gets its own buffer, not a view of an
    operand's (nd's _own_buffer asked, as MXNet's operators return new arrays)."""
    __slots__ = ("impl", "scalars", "attrs", "dtype", "shape", "own")

    def __init__(self, impl, scalars, attrs, t):
        self.impl, self.scalars, self.attrs = impl, scalars, attrs
        self.dtype, self.shape, self.own = t.np_dtype, t.shape, False


MATERIALIZE = [None]    # (value) -> its data: installed by tracing/lazy_values.py


def live(v) -> bool:
    """Whether an array's tape value `v` still stands in a graph: not None, and not freed by a
    backward without retain_graph. MXNet clears a freed graph's autograd entries, so an array
    computed in it (an RNN's carried state) is a constant input to any op recorded later."""
    return v is not None and v.data is not None


class OwnedLeaf(TapeValue):
    """A graph input that an NDArray made for itself (attach_grad, its constant value):
    `owner` (a weak reference) lets a trace that captured it feed the compiled code from that
    array at every call, whatever variable or buffer the array has by then."""
    __slots__ = ("owner",)


def leaf(data, var=None, owner=None) -> TapeValue:
    """A graph input: a variable (var given) or an untracked array captured by a recorded op;
    `owner`: the NDArray it stands for, when one does."""
    if owner is None:
        return TapeValue(type_of(data), None, data, var)
    v = OwnedLeaf(type_of(data), None, data, var)
    v.owner = weakref.ref(owner)
    return v


def record(opdef, operands, attrs, out) -> TapeValue:
    """Append one op to the tape. `operands` are TapeValues, Python / numpy scalars (typed
    beside the other operands, NEP 50's weak scalars) or 0-d arrays (typed by their dtype)."""
    ops = []
    for o in operands:
        if not isinstance(o, Value):    # (a 0-d array is a constant of its own dtype)
            o = Literal(o.item(), type_of(o).dtype) if type(o) is np.ndarray else \
                Literal(o, literal_dtype(o, operands))
        ops.append(o)
    if attrs or opdef.defaults:
        attrs = canonical(opdef, attrs)
    op = Operation.__new__(Operation)
    op.opdef, op.operands, op.attrs = opdef, tuple(ops), attrs
    op.loc = None
    if LOCATING.on:
        op.loc = op_location()
        _check_type_rule(opdef, op.operands, attrs)
    result = TapeValue(type_of(out), op, out)
    op.results = (result,)
    return result


def _check_type_rule(opdef, operands, attrs):
    """A traced op must pass its type rule where the user wrote it: eager numpy may accept
    operands the rule refuses (bool indices, a slice past the axis), and the trace would
    otherwise fail later, when the function is built, without naming the user's line."""
    try:
        opdef.infer(*[o.type for o in operands], **attrs)
    except (TypeError, ValueError) as e:
        raise op_error(opdef.name, [o.type for o in operands], attrs, e) from None


def record_multi(opdef, operands, attrs, outs, is_canonical=False, keep=None,
                 types=None) -> tuple:
    """Append one multi-result op (a custom Function, a compiled call) to the tape; `types`
    may give the results' types when the caller knows them."""
    op = Operation.__new__(Operation)
    op.opdef, op.operands = opdef, tuple(operands)
    op.loc = op_location() if LOCATING.on else None
    op.attrs = attrs if is_canonical else canonical(opdef, attrs)
    if types is None:
        types = [type_of(o) for o in outs]
    op.results = tuple([TapeValue(t, op, o) for t, o in zip(types, outs)])
    for i, r in enumerate(op.results):
        r.index, r.keep = i, keep
    return op.results


_ADJOINTS: "OrderedDict[tuple, Adjoint]" = OrderedDict()
_ADJOINT_CACHE_SIZE = 512
_CANONICAL: dict = {}
_ATTR_TOKEN: dict = {}      # id(canonical attrs dict) -> small int, for cheap structure keys
_TOKENS = itertools.count(1)
_MEMO_LIMIT = 1 << 16


def canonical(opdef, attrs):
    """canonical_attrs, memoized: a training loop passes the same attributes every step.

    Each memoized dict also gets a token that stands for it in graph-structure keys. The memo
    holds the dicts, so their ids are never reused while a token names them; when it is
    cleared, the tokens and the adjoint cache keyed by them are cleared with it.
    """
    try:
        key = (opdef, tuple(attrs.items()))
        hit = _CANONICAL.get(key)
    except TypeError:  # an unhashable (list) attribute value
        return canonical_attrs(opdef, attrs)
    if hit is None:
        if len(_CANONICAL) >= _MEMO_LIMIT:
            _CANONICAL.clear()
            _ATTR_TOKEN.clear()
            _ADJOINTS.clear()
        hit = _CANONICAL[key] = canonical_attrs(opdef, attrs)
        _ATTR_TOKEN[id(hit)] = next(_TOKENS)
    return hit


def collect(heads, since=None, inputs=()):
    """The recorded graph behind `heads`: (leaves in creation order, ops in a topological
    order). Creation order makes a trace's inputs follow the program: random keys are drawn
    in the order eager code drew them. With `since` (a `mark()`), a value recorded before it
    is an input too: a trace (or a loop body) holds the ops its function ran, not how the
    arrays it read from elsewhere were computed. `inputs`: values that are neither leaves nor
    walked through (a loop body's own inputs)."""
    if since is None and not inputs:
        _, values, ops, _, _, _ = _walk(heads, frozenset())
        return sorted((v for v in values if v.producer is None), key=_creation), ops
    since = -1 if since is None else since
    seen, leaves, ops = set(inputs), [], []
    stack = [(h, False) for h in reversed(heads)]
    while stack:
        v, ready = stack.pop()
        if v in seen:
            continue
        p = v.producer
        if p is None or v.seq < since:
            seen.add(v)
            leaves.append(v)
        elif not ready:
            stack.append((v, True))
            stack.extend((o, False) for o in reversed(p.operands)
                         if type(o) is not Literal and o not in seen)
        else:
            if v.data is None:
                raise GraphFreedError(_FREED)
            seen.update(p.results)
            ops.append(p)
    return sorted(leaves, key=_creation), ops


def mark() -> int:
    """A point in recording order: values recorded after it have a larger `seq`."""
    return next(_seq)


def _creation(v):
    return v.seq


class GraphFreedError(RuntimeError):
    pass


_FREED = ("backward through a graph that a previous backward already freed; pass "
          "retain_graph=True to the first backward (or autograd.grad) to keep it")


def wants_grad(leaf) -> bool:
    """Whether backward delivers a gradient to this graph input: a variable whose grad_req is
    not 'null' (MXNet gives an integer or bool one its gradient in its dtype)."""
    var = leaf.var
    return var is not None and var.grad_req != "null"


def _walk(heads, wrt_set):
    """One postorder walk over the graph of `heads`: its values in a canonical order, its ops,
    the variable leaves, a hashable key of its structure (equal keys share one adjoint), and
    the lifted literals (`_lifted_key`) in walk order: their values are the adjoint's inputs.

    wrt_set None selects variables whose grad_req is not 'null'. Runs on every backward, so
    its loop keeps what it calls in locals.
    """
    index, values, ops, variables, sig, lits = {}, [], [], [], [], []
    stack = [(h, False) for h in reversed(heads)]
    push, pop, add_value, add_sig = stack.append, stack.pop, values.append, sig.append
    literal, tokens = Literal, _ATTR_TOKEN
    while stack:
        v, ready = pop()
        if v in index:
            continue
        p = v.producer
        if p is None:
            wants = (v in wrt_set) if wrt_set is not None else wants_grad(v)
            if wants:
                variables.append(v)
            index[v] = len(values)
            add_value(v)
            add_sig((v.type, wants))
        elif not ready:
            push((v, True))
            for o in reversed(p.operands):
                if type(o) is not literal and o not in index:
                    push((o, False))
        else:
            d = v.data
            if d is None:
                raise GraphFreedError(_FREED)
            if type(d) is Pending:   # (a trace's value, not computed yet: backward reads it)
                MATERIALIZE[0](v)
            attrs = p.attrs
            token = tokens.get(id(attrs)) if attrs else 0
            refs = [index[o] if type(o) is not literal else _lifted_key(o, p.opdef, lits)
                    for o in p.operands]
            add_sig((p.opdef, token or tuple(attrs.items()), tuple(refs)))
            for r in p.results:
                index[r] = len(values)
                add_value(r)
            ops.append(p)
    add_sig(tuple([index[h] for h in heads]))
    return index, values, ops, variables, tuple(sig), lits


_LIFTS: dict = {}   # opdef -> whether its float literal operands are lifted


def lifts_literal(opdef, lit) -> bool:
    """Whether literal operand `lit` of an `opdef` op is an input, not structure: a float
    scalar of an elementwise op (`loss + beta * kl` with beta annealed, `x * (1 / n)`).
    Keyed by value, every new scalar would derive, optimize and compile the adjoint (or a
    captured step) anew, every step. Integers and the operands of other ops stay structure."""
    lifts = _LIFTS.get(opdef)
    if lifts is None:
        lifts = _LIFTS[opdef] = ELEMENTWISE in opdef.traits
    return lifts and lit.type.dtype in FLOATS


def _lifted_key(lit, opdef, lits):
    """A literal operand's part of the structure key: its dtype if it is lifted (its value
    then goes to `lits`), else the literal itself."""
    if lifts_literal(opdef, lit):
        lits.append(lit)
        return lit.type.dtype
    return lit.key()


def _lift_literals(ops, lits):
    """The ops with every lifted literal (by identity, as _walk listed them) replaced by a
    0-d parameter of its type: (new ops, the parameters in `lits` order, recorded result ->
    its copy, copy -> recorded result). An op is copied when it reads a lifted literal or a
    copied result; the others are the recorded objects."""
    param = {id(lit): Value(lit.type, None, 0, "scalar") for lit in lits}
    env, new_ops = {}, []
    for op in ops:
        operands = op.operands
        if not any(id(o) in param for o in operands if type(o) is Literal) and \
                not any(o in env for o in operands if type(o) is not Literal):
            new_ops.append(op)
            continue
        operands = tuple(param[id(o)] if type(o) is Literal and id(o) in param else
                         env.get(o, o) if type(o) is not Literal else o for o in operands)
        copy = Operation.__new__(Operation)
        copy.opdef, copy.operands, copy.attrs, copy.loc = op.opdef, operands, op.attrs, op.loc
        copy.results = tuple(Value(r.type, copy, i) for i, r in enumerate(op.results))
        env.update(zip(op.results, copy.results))
        new_ops.append(copy)
    back = {n: o for o, n in env.items()}
    return new_ops, [param[id(lit)] for lit in lits], env, back


# a structure's adjoint is derived and optimized (and may then be compiled) once it has been seen
# this many times within SPARSE times as many backward passes: one that recurs rarely (a
# sequence length drawn per batch among dozens) is walked op by op, and costs no passes, no
# compile
HOT_AFTER = 3
SPARSE = 8
_CLOCK = itertools.count(1)     # backward passes (of every thread: a heuristic's clock)
# ... and only if the passes between its repeats are no more varied than its repetition: a
# program whose graph changes every batch (a length drawn among dozens) brings some structure
# back 3 times in 24 passes by chance every few dozen passes, and each such coincidence paid
# an optimization and a compile (step capture's: seconds for an unrolled LSTM) that the next
# batches never used (repeats_close)
RECENT = 128                    # passes remembered
_RECENT: deque = deque(maxlen=RECENT)   # the structures (Adjoints) of the latest passes


def repeats_close(span, repeats):
    """Whether a structure's latest `repeats` backward passes, spread over the latest `span`
    passes, make it a repeating one (to be optimized here, or learned by step capture): they
    lie within SPARSE times as many passes, and the other structures among them are no more
    than the gaps between its repeats (structures in turns, or one step with an occasional
    other pass, not one of dozens that came back by chance). Only the passes since its first
    counted repeat are looked at, not what ran before (earlier tests of a suite)."""
    if span > SPARSE * repeats:
        return False
    if repeats < 2:
        return True
    recent = _RECENT         # (shared by threads: a heuristic, a race only moves a threshold)
    n = len(recent)
    try:
        distinct = len(set(itertools.islice(recent, max(0, n - span), n)))
    except RuntimeError:     # (another thread's pass changed the deque meanwhile: not now)
        return False
    return (distinct - 1) * (repeats - 1) <= span - 1


class Adjoint:
    """The adjoint of one graph structure. One object per structure for its whole life:
    observers (step capture) key on its identity.

    Until the structure is hot (its latest HOT_AFTER backward passes close together:
    repeats_close) its backward walks the graph op by op (`cold`: op_adjoints.ColdPlan, each
    op's adjoint cached across structures): a structure seen once costs what its ops' rules
    cost to run, not a whole adjoint derived for it (vjp's IR, then the optimizing passes:
    fold, simplify, cse, about 80% of that, seven times an LSTM's forward when the sequence
    length changes every step). Once hot, its whole adjoint is derived and optimized
    (`program`: where its residuals come from, run_backward, and where each wrt leaf's
    gradient is among its outputs), and may then be compiled (HotAdjoint). The walk and the
    derived program compute the same gradients bitwise; the optimized one rounds alike up
    to the last bits (as the switch to native code). create_graph derives the program at
    once (it records its ops)."""
    __slots__ = ("program", "residual_ids", "positions", "optimized", "times", "cold", "runs")

    def __init__(self, now):
        self.program = self.residual_ids = self.positions = None    # derive()
        self.cold = None                   # the op-by-op walk, made on its first use
        self.optimized = False
        self.runs = 0                      # walks so far (counted towards NATIVE_AFTER)
        self.times = [now]                 # its latest backward passes (_CLOCK)

    def sighted(self, now):
        """One more backward of this structure: whether it is now hot (its latest HOT_AFTER
        passes are close: repeats_close)."""
        times = self.times
        times.append(now)
        del times[:-HOT_AFTER]
        return len(times) == HOT_AFTER and repeats_close(now - times[0] + 1, HOT_AFTER)

    def derive(self, heads, values, index, ops, lits, wrt_leaves):
        """vjp's adjoint of this instance of the structure, interpreted (never compiled
        before optimize)."""
        leaves = [v for v in values if v.producer is None]
        position = {v: i for i, v in enumerate(leaves)}
        reachable = [v for v in wrt_leaves if v in position]
        residuals = []
        fn_ops, fn_heads, scalars, back = ops, heads, [], {}
        if lits:
            fn_ops, scalars, env, back = _lift_literals(ops, lits)
            fn_heads = [env.get(h, h) for h in heads]
        adj = vjp(Function("backward", leaves + scalars, fn_ops, fn_heads),
                  [position[v] for v in reachable], residuals=residuals)
        # a residual is a graph value (its index) or lifted literal k (len(values) + k: the
        # literals follow the values in run_backward's argument sources)
        lifted = {p: len(values) + k for k, p in enumerate(scalars)}
        self.residual_ids = tuple(lifted[v] if v in lifted else index[back.get(v, v)]
                                  for v in residuals)
        self.positions = tuple(reachable.index(v) if v in position else -1
                               for v in wrt_leaves)
        program = HotAdjoint(adj)
        program.may_compile = False        # (vjp's program is never compiled: see optimize)
        program.runs = self.runs
        self.program = program
        _STATS["eager_adjoints_derived"] += 1

    def optimize(self):
        old = self.program
        self.optimized = True
        new = HotAdjoint(run_pipeline(old.fn, "fold,simplify,cse,dce"))
        new.runs = old.runs
        self.program = new


def adjoint_for(heads, wrt_leaves=None, whole=False):
    """(Adjoint, graph values, their index, wrt leaves, ops, lifted literals) for `heads`; its
    program derived if it is hot or `whole` (create_graph) asks for it.

    wrt_leaves None means every variable leaf whose grad_req is not 'null'.
    """
    index, values, ops, variables, sig, lits = _walk(
        heads, None if wrt_leaves is None else set(wrt_leaves))
    if wrt_leaves is None:
        wrt_leaves = variables
    key = (sig, tuple(index.get(v, -1) for v in wrt_leaves))
    hit = _ADJOINTS.get(key)
    now = next(_CLOCK)
    if hit is None:
        hit = _ADJOINTS[key] = Adjoint(now)
        if len(_ADJOINTS) > _ADJOINT_CACHE_SIZE:
            _ADJOINTS.popitem(last=False)
        _RECENT.append(hit)
        hot = NATIVE_AFTER == 1         # (every adjoint compiled at its first run: tests)
    else:
        _RECENT.append(hit)
        hot = not hit.optimized and hit.sighted(now)
    if hit.program is None and (hot or whole):
        hit.derive(heads, values, index, ops, lits, wrt_leaves)
    if hot:
        hit.optimize()
    return hit, values, index, wrt_leaves, ops, lits


def _lit_array(lit):
    return scalar_array(lit.value, lit.type.dtype)


_SCALARS: dict = {}     # (value, dtype) -> its read-only 0-d array


def scalar_array(value, dtype):
    """A lifted literal's value as a 0-d input of compiled code (shared and read-only: the
    code only reads its inputs). `value` as Literal keeps it (a Python float for floats).
    Zeros and NaNs are not shared: -0.0 == 0.0 as keys, and a NaN never equals one."""
    if not value or value != value:
        a = np.asarray(value, DTYPES[dtype])
        a.flags.writeable = False
        return a
    key = (value, dtype)
    a = _SCALARS.get(key)
    if a is None:
        if len(_SCALARS) > 1024:
            _SCALARS.clear()
        a = _SCALARS[key] = np.asarray(value, DTYPES[dtype])
        a.flags.writeable = False
    return a


# an adjoint interpreted this many times is compiled to native code (0: never)
NATIVE_AFTER = int(os.environ.get("TRACEGRAD_EAGER_NATIVE_AFTER", "8"))


class HotAdjoint:
    """A cached adjoint: interpreted op by op at first; once a training loop has shown it is
    hot (NATIVE_AFTER runs) it is compiled, and later backward passes make one native call
    (native segments around Python ops). create_graph always interprets, so it records.

    The switch is a policy, not an accident: native code rounds differently from numpy (other
    summation orders, inline transcendentals), so gradients from the NATIVE_AFTER-th step on
    may differ from the earlier ones in the last bits (about 1e-7 relative in float32); each
    mode is itself deterministic. stats()['eager_adjoints_compiled'] counts the switches, and
    TRACEGRAD_EAGER_NATIVE_AFTER=0 keeps every step interpreted and bitwise identical."""
    __slots__ = ("program", "runs", "native", "may_compile")

    def __init__(self, fn):
        self.program, self.runs, self.native = Program(fn), 0, None
        self.may_compile = True

    @property
    def fn(self):
        return self.program.fn

    def __call__(self, args, apply=None):
        if apply is not None:
            return self.program(args, apply)
        if self.native is None:
            self.runs += 1
            if self.runs < NATIVE_AFTER or not NATIVE_AFTER or not self.may_compile or \
                    background.busy():
                return self.program(args)
            self.native = self._compile()
        if self.native is False:
            return self.program(args)
        return self.native(*args)

    def _compile(self):
        """Native code, or False when no op would run natively (all Python ops, e.g. the
        compiled_adjoint of a hybridized block: the interpreter is already the cheapest)."""
        from .segments import compile_callable, native_op
        fn = self.program.fn
        if not any(native_op(op) for op in fn.ops):
            return False
        try:
            native = compile_callable(fn)
        except Exception as e:  # noqa: BLE001 - an optimization: the interpreter computes it
            warnings.warn(f"tracegrad: compiling the eager adjoint {fn.name} failed "
                          f"({type(e).__name__}: {e}); it stays interpreted", RuntimeWarning,
                          stacklevel=2)
            return False
        from ..codegen import COUNTERS
        COUNTERS["eager_adjoints_compiled"] += 1
        return native


_ONES: dict = {}


def _ones(t):
    """The implicit head gradient: a shared read-only array of ones per type."""
    ones = _ONES.get(t)
    if ones is None:
        if len(_ONES) > 256:
            _ONES.clear()
        ones = _ONES[t] = np.ones(t.shape, dtype=t.np_dtype)
        ones.flags.writeable = False
    return ones


# called by each backward() (not autograd.grad) with the adjoint it uses, before the graph is
# freed: (adjoint, heads, values, ops, wrt_leaves, head_grads, retain_graph). Step capture.
OBSERVER = None


def run_backward(heads, head_grads, wrt_leaves=None, retain_graph=False, apply=None, wrap=None):
    """Gradients of `heads` (summed, scaled by `head_grads`) for each wrt leaf.

    Returns (wrt_leaves, grads). Grads are numpy arrays, or — when `apply`/`wrap` are given
    (create_graph) — whatever `apply` builds from operands made by `wrap(value or array)`.
    A leaf the heads do not depend on gets None.
    """
    observe = OBSERVER if wrt_leaves is None and apply is None else None
    try:
        hit, values, index, wrt_leaves, ops, lits = adjoint_for(heads, wrt_leaves,
                                                                apply is not None)
    except IntegerGradientError as e:
        raise _user_error(e) from None
    if observe is not None:
        observe(hit, heads, values, ops, wrt_leaves, head_grads, retain_graph)
    program, residual_ids, positions = hit.program, hit.residual_ids, hit.positions
    cots = [g if g is not None else _ones(h.type) for h, g in zip(heads, head_grads)]
    if program is None:      # not hot yet: op by op
        try:
            grads = _walk_backward(hit, heads, values, index, ops, lits, wrt_leaves, cots)
        except IntegerGradientError as e:
            raise _user_error(e) from None
        if not retain_graph:
            free(ops)
        return wrt_leaves, grads
    if not lits:
        if apply is None:
            args = [values[i].data for i in residual_ids] + cots
        else:
            args = [wrap(values[i]) for i in residual_ids] + [wrap(c) for c in cots]
    else:     # residual len(values) + k: lifted literal k (a constant to create_graph)
        n = len(values)
        args = [(values[i].data if apply is None else wrap(values[i])) if i < n else
                _lit_array(lits[i - n]) if apply is None else wrap(_lit_array(lits[i - n]))
                for i in residual_ids] + (cots if apply is None else [wrap(c) for c in cots])
    grads = program(args, apply)
    if not retain_graph:
        free(ops)
    return wrt_leaves, [grads[p] if p >= 0 else None for p in positions]


def _user_error(e):
    """An ir error of backward as the MXNetError users catch, with their backward line."""
    from ..base import MXNetError
    return MXNetError(str(e))


def _walk_backward(hit, heads, values, index, ops, lits, wrt_leaves, cots):
    """run_backward's gradients from the structure's op-by-op walk (op_adjoints.ColdPlan)."""
    cold = hit.cold
    if cold is None:
        cold = hit.cold = ColdPlan(ops, index, len(values), heads, wrt_leaves, lifts_literal,
                                   _attrs_key)
    hit.runs += 1
    _STATS["eager_backward_walks"] += 1
    ct = cold.run(values, [_lit_array(lit) for lit in lits], cots)
    grads = []
    for leaf in wrt_leaves:
        i = index.get(leaf)
        if i is None or leaf.producer is not None:
            grads.append(None)
        else:
            c = ct[i]
            grads.append(c if c is not None else op_zeros(leaf.type))
    return grads


def _attrs_key(attrs):
    """An op's attributes in a structure key (as _walk keys them)."""
    return _ATTR_TOKEN.get(id(attrs)) or tuple(attrs.items())


class _Fates(threading.local):
    """Per thread (a thread frees only its own graphs): groups of weak references to the tape
    values of arrays computed as one fused op in MXNet (share_fate); a member still pending in
    a step capture is referred to by its array."""
    groups: list

    def __init__(self):
        self.groups = []


_FATES = _Fates()


def share_fate(arrays, value_of):
    """Make recorded arrays one fused op's outputs as far as freeing goes: MXNet computes an
    RNN layer's output and final states in one op, so a backward through any of them frees
    them all, and the states are constants for the next batch's graph. tracegrad's layer is
    many ops, and the states a side branch that a backward of the output never reaches.
    `value_of(array)` reads an array's tape value without side effects (a step capture's
    pending result has none yet: its array is kept until the next free, which reads it then;
    the output is often dropped before backward, so a weak reference would lose it)."""
    groups = _FATES.groups
    if len(groups) >= 64:
        groups[:] = [g for g in groups if any(r() is not None for r, _ in g[0])][-32:]
    refs = []
    for a in arrays:
        v = value_of(a)
        refs.append((weakref.ref(v), False) if type(v) is TapeValue else (_Held(a), True))
    groups.append((refs, value_of))


class _Held:
    """A strong reference with weakref's call interface (share_fate's pending arrays)."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __call__(self):
        return self.array


def _free_fates():
    """After a free: every group with a freed member has all its members freed."""
    groups, kept = _FATES.groups, []
    for group in groups:
        refs, value_of = group
        values = []
        for ref, is_array in refs:
            v = ref()
            if v is not None and is_array:
                v = value_of(v)
            if type(v) is TapeValue and v.producer is not None:
                values.append(v)
        if any(v.data is None for v in values):
            for v in values:
                v.data = None
        elif values:
            kept.append(group)
    groups[:] = kept


def free_fates():
    """A backward freed values without `free` (a captured step's native call hands over freed
    values): apply the shared fates (share_fate) now."""
    if _FATES.groups:
        _free_fates()


def release(ops, keep):
    """A trace's recorded ops once its Function is made from them: every result's data but
    `keep`'s (its heads, which callers read) dropped, and the op -> result links cut, as
    `free` does. Otherwise the recorded graph waits in reference cycles for the collector,
    holding every intermediate the trace computed (a conv's im2col matrix: hundreds of MB).

    Only when the graph is the trace's own: a result something else holds (an array of the
    user's graph that a read materialized while the trace ran, step capture's deferred
    values) leaves the whole graph as it is. A result is held only by its op's `results`,
    by the operands of the ops that use it, and here (the refcounts say so)."""
    keep = set(keep)
    uses = _use_counts(ops)
    for op in ops:
        for r in op.results:
            # its op's results, the loop, getrefcount's argument; its users' operands and
            # `uses`' key when used
            n = uses.get(r)
            if r not in keep and sys.getrefcount(r) > (3 if n is None else 4 + n):
                return False
    r = None
    uses.clear()
    # a value a trace left pending (tracing/lazy_values.py) is computed from its operands
    # when read: those keep their data (a pending one has none to drop)
    for op in ops:
        if op.results and type(op.results[0].data) is Pending:
            keep.update(o for o in op.operands if type(o) is not Literal)
    for op in ops:
        for r in op.results:
            if r not in keep:
                r.data = None
        op.results = ()
    return True


def _use_counts(ops):
    """{value: how many operand slots of `ops` name it} (a function of its own: a loop
    variable left in release's frame would hold one value more than its graph does)."""
    uses = {}
    for op in ops:
        for o in op.operands:
            uses[o] = uses.get(o, 0) + 1
    return uses


def free(ops):
    """Drop what a backward without retain_graph leaves behind: the recorded data, and the
    op -> result links, which would otherwise keep every op and value in a reference cycle
    for the garbage collector (the values keep their producer, so a second backward still
    finds the graph and says it was freed; an op recorded later takes such a value's array
    as a constant, see `live`). The operands go too: an op off the loss's path that used a
    freed value (BatchNorm's running statistics, a metric computed under record()) is a
    cycle with its own result, and through them would keep every ancestor's array, back to
    the inputs, until a collection."""
    for op in ops:
        for r in op.results:
            r.data = None
        op.results = ()
        op.operands = ()
    if _FATES.groups:
        _free_fates()
