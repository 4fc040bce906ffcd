"""Executor: a Symbol bound to arrays (MXNet's `bind` / `simple_bind`).

forward(is_train) evaluates the graph with nd ops, recording for autograd when training
(after EAGER_FORWARDS forwards, as one tracegrad.jit function: one compiled call);
backward(out_grads) differentiates the recorded outputs into the bound gradient arrays per
grad_req ('write', 'add', 'null'). Heads whose op is a loss layer (SoftmaxOutput, MakeLoss,
the regression outputs) get a head gradient of ones whatever out_grads says, as MXNet's loss
layers ignore it (unless SoftmaxOutput's out_grad=True); other heads take out_grads, or ones
when none is given.
"""
import itertools
import warnings
import weakref

import numpy as np

from .. import autograd, nd
from .. import random as _random
from ..array import NDArray, on_context, wrap
from ..base import MXNetError
from ..tracing import capture as _capture
from . import cse as _cse, monitor_backward as _mon_bwd, storage
from .ops import NONDIFF_INPUTS, canonical
from .inference import infer
from .symbol import evaluate

_REQS = ("write", "add", "null")
_SLOT_DATA = NDArray.__dict__["_data"]


class _Output(NDArray):
    """One of an executor's output arrays. As MXNet's, they exist from bind on and every
    forward writes into the same arrays (code keeps them, e.g. in a dict, across forwards):
    forward points each at its new result, whose value it takes when first read. Untracked:
    backward starts from the recorded results themselves. Outputs sharing memory
    (Executor.reshape's, as MXNet's) form a `_group`: reading one first writes every pending
    value of the group, in the order the forwards gave them."""
    __slots__ = ("_src", "_seq", "_group")

    def __init__(self, shape, dtype, buffer=None, group=None):
        super().__init__(np.zeros(shape, dtype) if buffer is None else buffer)
        if buffer is not None:
            _SLOT_DATA.__set__(self, buffer)   # (the view itself: NDArray made a copy)
        self._src, self._seq, self._group = None, 0, group

    def _take(self, result):
        """The value of `result` (an op result, maybe not computed yet) from now on."""
        own = _SLOT_DATA.__get__(self)
        if tuple(result.shape) != own.shape or np.dtype(result.dtype) != own.dtype:
            self._data = np.zeros(tuple(result.shape), np.dtype(result.dtype))
        self._src, self._seq = result, next(_TAKES)

    @property
    def _data(self):
        if self._group is not None:
            for out in sorted((o for o in self._group if o._src is not None),
                              key=lambda o: o._seq):
                out._flush()
        elif self._src is not None:
            self._flush()
        return _SLOT_DATA.__get__(self)

    def _flush(self):
        src, self._src = self._src, None
        np.copyto(_SLOT_DATA.__get__(self), src._data, casting="unsafe")

    @_data.setter
    def _data(self, v):
        self._src = None
        if getattr(self, "_group", None) is not None and v is not _SLOT_DATA.__get__(self):
            self._group.discard(self)   # (its own memory now)
            self._group = None
        _SLOT_DATA.__set__(self, v)

    def _share(self, shape):
        """A new output of `shape` over the start of this one's memory (in its group), or
        None when it does not fit."""
        own = self._data
        n = int(np.prod(shape))
        if n > own.size or not own.flags.c_contiguous:
            return None
        if self._group is None:
            self._group = weakref.WeakSet([self])
        out = _Output(shape, own.dtype, own.reshape(-1)[:n].reshape(shape), self._group)
        self._group.add(out)
        return out

    @property
    def shape(self):
        return _SLOT_DATA.__get__(self).shape

    @property
    def dtype(self):
        return _SLOT_DATA.__get__(self).dtype.type

    @property
    def size(self):
        return _SLOT_DATA.__get__(self).size

    @property
    def ndim(self):
        return _SLOT_DATA.__get__(self).ndim
_TAKES = itertools.count(1)   # (the order of the outputs' values: latest wins in a group)
EAGER_FORWARDS = 2   # forwards of an executor evaluated node by node before it compiles


def _as_list(sym, what, given, names):
    if given is None:
        return {}
    if isinstance(given, dict):     # (MXNet takes the symbol's names and ignores the rest)
        return {k: given[k] for k in names if k in given}
    given = list(given)
    if len(given) != len(names):
        raise MXNetError(f"bind: {what} has {len(given)} arrays, the symbol takes "
                         f"{len(names)} ({names})")
    return dict(zip(names, given))


# heads whose backward never reads its head gradient (BlockGrad's zeros; the proposal ops'
# backward declares no dependency on it): MXNet's executor then neither needs nor checks one
_NO_HEAD_GRAD = frozenset({"BlockGrad", "_contrib_Proposal", "_contrib_MultiProposal"})

# MXNet 1.9.1 ops registered without a gradient (no FGradient): binding a graph whose
# backward would have to pass one fails
_NO_GRADIENT = frozenset({"batch_take"})


def _check_differentiable(symbol, grad_req):
    """MXNet's bind error for a gradient asked through an op that has none: an op in
    _NO_GRADIENT that the outputs' gradient reaches, above an argument whose gradient is
    wanted."""
    for node in symbol._order():
        if node.op is None or canonical(node.op) not in _NO_GRADIENT:
            continue
        below = _gradient_reaches(symbol, [node], through_root=True)
        wanted = [k for k in below if grad_req.get(k, "null") != "null"]
        if wanted and id(node) in _gradient_reaches(symbol, nodes=True):
            raise MXNetError(f"Operator {node.op} (node '{node.name}') is non-differentiable "
                             f"because it didn't register FGradient attribute; the gradient "
                             f"of {wanted} would pass through it (bind with grad_req='null' "
                             f"for them, or put stop_gradient / BlockGrad above it)")


def _gradient_reaches(symbol, heads=None, through_root=False, nodes=False):
    """The names of the variables a gradient of the outputs (or of `heads`) reaches: through
    every op input but BlockGrad's (stop_gradient's) and the index, length and condition
    inputs (NONDIFF_INPUTS). With nodes=True: the ids of the nodes it reaches."""
    todo = [node for node, _ in symbol._outputs] if heads is None else list(heads)
    seen, reached = set(), set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.op is None:
            reached.add(node.name)
            continue
        op = canonical(node.op)
        if op == "BlockGrad" or (op in _NO_GRADIENT and not through_root):
            continue
        through_root = False
        blocked = NONDIFF_INPUTS.get(op, ())
        for k, (src, _) in enumerate(node.inputs):
            slot = node.input_names[k] if k < len(node.input_names) else None
            if slot not in blocked:
                todo.append(src)
    return seen if nodes else reached


def _read_as_index_only(symbol, name):
    """Whether argument `name` reaches the graph only as an index, a length or a condition
    (NONDIFF_INPUTS): its gradient is then 0, not a refusal."""
    reads = 0
    for node in symbol._order():
        for k, (src, _) in enumerate(node.inputs):
            if src.op is None and src.name == name:
                slot = node.input_names[k] if k < len(node.input_names) else None
                if slot not in NONDIFF_INPUTS.get(canonical(node.op), ()):
                    return False
                reads += 1
    return reads > 0


class Executor:
    """Runs one bound Symbol; `outputs`, `arg_dict`, `grad_dict`, `aux_dict` as in MXNet."""

    def __init__(self, symbol, arg_dict, grad_dict, grad_req, aux_dict):
        self._symbol = symbol
        self.arg_dict, self.grad_dict, self.aux_dict = arg_dict, grad_dict, aux_dict
        self._grad_req = grad_req
        self.arg_arrays = [arg_dict[k] for k in symbol.list_arguments()]
        self.grad_arrays = [grad_dict.get(k) for k in symbol.list_arguments()]
        self.aux_arrays = [aux_dict[k] for k in symbol.list_auxiliary_states()]
        self._outputs = None    # the _Output arrays (allocated when first asked for)
        self._heads = []        # the last forward's results (backward starts from them)
        self._recorded = False
        self._replay = None     # (is_train, random position) of the last recorded forward
        self._monitor_callback = None
        self._monitor_all = False
        self._mon_trail = None  # (the monitored forward's node arrays, for backward's)
        self._jit = None
        self._forwards = 0
        self._input_names = list(arg_dict) + [k for k in aux_dict if k not in arg_dict]
        self._cse = _cse.enabled()  # (MXNET_ELIMINATE_COMMON_EXPR when bound)
        stypes = storage.infer_stypes(symbol, {**aux_dict, **arg_dict})
        self._out_stypes = stypes if any(s != "default" for s in stypes) else None
        self._loss_heads = [node.op is not None and node.spec.head_loss
                            and not node.params.get("out_grad", False)
                            for node, _ in symbol._outputs]
        self._blocked_heads = [node.op is not None and canonical(node.op) in _NO_HEAD_GRAD
                               for node, _ in symbol._outputs]
        self._wants_grads = any(g is not None and grad_req.get(k, "write") != "null"
                                for k, g in grad_dict.items())
        if self._wants_grads:
            _check_differentiable(symbol, {k: grad_req.get(k, "write") for k, g in
                                           grad_dict.items() if g is not None})
        self._write_vars = []   # (the variables whose gradient backward overwrites)
        self._int_write_grads = []  # (integer arguments' gradients: 0, as MXNet writes them)
        for name, g in grad_dict.items():
            req = grad_req.get(name, "write")
            if g is None or req == "null":
                continue
            arr = arg_dict[name]
            if np.dtype(arr.dtype).kind in "iub" and _read_as_index_only(symbol, name):
                if req == "write":      # (nothing flows to an index or a length: 0, and
                    self._int_write_grads.append(g)     # 'add' adds nothing)
                continue
            cur = arr.grad
            if cur is not None and np.shares_memory(cur._data, g._data):
                continue   # (a Parameter's own buffer: already a variable writing into it)
            autograd.mark_variables([arr], [g], req)
            if req == "write":
                self._write_vars.append(arr._var)

    @property
    def _ctx(self):
        """The context the executor runs on (MXNet's attribute, which scripts read): its
        arrays'."""
        from ..context import current_context
        first = next(iter(self.arg_arrays + self.aux_arrays), None)
        return first.context if first is not None else current_context()

    # ------------------------------------------------------------------ construction
    @classmethod
    def bind(cls, symbol, args, args_grad=None, grad_req="write", aux_states=None):
        arg_names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        arg_dict = _as_list(symbol, "args", args, arg_names)
        missing = [k for k in arg_names if k not in arg_dict]
        if missing:
            raise MXNetError(f"bind: no array given for arguments {missing}")
        aux_dict = _as_list(symbol, "aux_states", aux_states, aux_names)
        missing = [k for k in aux_names if k not in aux_dict]
        if missing:
            raise MXNetError(f"bind: no array given for auxiliary states {missing}")
        for d in (arg_dict, aux_dict):
            for k, v in d.items():
                if not isinstance(v, NDArray):
                    raise MXNetError(f"bind: '{k}' must be an NDArray, got "
                                     f"{type(v).__name__}")
        reqs = cls._reqs(grad_req, arg_names)
        grads = _as_list(symbol, "args_grad", args_grad, arg_names)
        grads = {k: grads.get(k) for k in arg_names}
        if args_grad is None:
            reqs = {k: "null" for k in arg_names}
        for k, g in grads.items():
            if g is not None and tuple(g.shape) != tuple(arg_dict[k].shape):
                raise MXNetError(f"bind: gradient of '{k}' has shape {tuple(g.shape)}, the "
                                 f"argument {tuple(arg_dict[k].shape)}")
        return cls(symbol, arg_dict, grads, reqs, aux_dict)

    @classmethod
    def simple_bind(cls, symbol, grad_req="write", type_dict=None, shapes=None,
                    stype_dict=None, ctx=None, group2ctx=None):
        (arg_shapes, _, aux_shapes), _, var_types = infer(symbol, dict(shapes or {}),
                                                          dict(type_dict or {}))
        if arg_shapes is None:
            (partial, _, _), _, _ = infer(symbol, dict(shapes or {}), dict(type_dict or {}),
                                          partial=True)
            unknown = [k for k, s in zip(symbol.list_arguments(), partial)
                       if not s or not all(s)]
            raise MXNetError(f"simple_bind: cannot infer the shapes of {unknown} from "
                             f"{dict(shapes or {})}")
        arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
        # an argument declared sparse (var(stype=...), stype_dict) is bound to a sparse array
        declared = {n.name: storage.declared(n) for n in symbol._order() if n.op is None}
        declared.update(stype_dict or {})
        args = {k: nd.sparse.zeros(declared.get(k, "default"), s, dtype=var_types[k])
                for k, s in zip(arg_names, arg_shapes)}
        aux = {k: nd.zeros(s, dtype=var_types[k]) for k, s in zip(aux_names, aux_shapes)}
        reqs = cls._reqs(grad_req, arg_names)
        # (a gradient MXNet's backward makes row_sparse is bound as one: Embedding's sparse_grad)
        grad_stypes = storage.gradient_stypes(symbol)
        grads = {k: nd.sparse.zeros(grad_stypes.get(k, "default"), args[k].shape,
                                    dtype=args[k].dtype) if reqs[k] != "null" else None
                 for k in arg_names}
        # each array on ctx, or on group2ctx's context for its variable's ctx_group (an
        # AttrScope's), as MXNet's MXExecutorSimpleBindEx places them; a gradient with its
        # argument
        groups = {n.name: n.attrs.get("__ctx_group__") for n in symbol._order() if n.op is None}
        for arrays in (args, grads, aux):
            for k, arr in arrays.items():
                place = (group2ctx or {}).get(groups.get(k), ctx)
                if arr is not None and place is not None:
                    on_context(arr, place)
        return cls(symbol, args, grads, reqs, aux)

    @staticmethod
    def _reqs(grad_req, names):
        if isinstance(grad_req, str):
            reqs = {k: grad_req for k in names}
        elif isinstance(grad_req, dict):
            reqs = {k: grad_req.get(k, "null") for k in names}
        else:
            grad_req = list(grad_req)
            if len(grad_req) != len(names):
                raise MXNetError(f"bind: grad_req has {len(grad_req)} entries for "
                                 f"{len(names)} arguments")
            reqs = dict(zip(names, grad_req))
        for k, r in reqs.items():
            if r not in _REQS:
                raise MXNetError(f"bind: grad_req of '{k}' must be one of {_REQS}, got {r!r}")
        return reqs

    # ------------------------------------------------------------------ running
    def forward(self, is_train=False, **kwargs):
        """Copy kwargs into the bound arguments, then compute the outputs."""
        if kwargs:
            _capture.before_write()   # a pending captured step reads the old values first
        for k, v in kwargs.items():
            if k not in self.arg_dict:
                raise MXNetError(f"forward: unknown argument '{k}'")
            src = v._data if isinstance(v, NDArray) else np.asarray(v)
            dst = self.arg_dict[k]
            if tuple(src.shape) != tuple(dst.shape):
                raise MXNetError(f"forward: '{k}' has shape {tuple(src.shape)}, it was bound "
                                 f"with {tuple(dst.shape)}")
            np.copyto(dst._data, src, casting="unsafe")
        # an executor with gradient arrays records in inference mode too: MXNet's backward
        # may follow forward(is_train=False) (neural-style's loop), from those same values
        record = bool(is_train) or self._wants_grads
        seen = [] if self._monitor_callback is not None else None
        # (a recorded forward keeps its node arrays for backward's monitor entries)
        self._mon_trail = _mon_bwd._Trail() if seen is not None and record \
            and self._monitor_filter() is not False else None
        on_node = None if seen is None else self._monitor_collector(seen, self._mon_trail)
        run = self._compiled() if on_node is None else None
        self._replay = (bool(is_train), _random._position()) if record else None
        heads = self._run_graph(bool(is_train), record, run, on_node)
        self._heads = heads
        if self._out_stypes is not None:    # sparse outputs: the results shown in their types
            self._outputs = storage.shown_as(heads, self._out_stypes)
        else:
            if self._outputs is None or len(self._outputs) != len(heads):
                self._outputs = [_Output(tuple(h.shape), np.dtype(h.dtype)) for h in heads]
            for out, h in zip(self._outputs, heads):
                out._take(h)
        self._recorded = record
        if seen:
            # outside record(): what the callback computes (a Monitor's norms) is not part
            # of the graph backward differentiates
            with autograd.pause(train_mode=bool(is_train)):
                for name, arr in seen:
                    self._monitor_callback(name, arr)
        return self.outputs

    def _run_graph(self, is_train, record, run, on_node=None):
        """The graph's results on the bound arrays (recorded when `record`)."""
        values = dict(self.arg_dict)
        values.update(self.aux_dict)
        with autograd.record(train_mode=is_train) if record \
                else autograd.pause(train_mode=False):
            return evaluate(self._symbol, values, on_node) if run is None \
                else list(run(*[values[k] for k in self._input_names]))

    def _recompute(self):
        """The last forward's recorded results again, for a second backward of one forward
        (MXNet's executor keeps its graph, so backward may run any number of times; the
        first backward here frees the recorded graph, which keeps step capture). Recomputed
        only when asked: the same draws (random position of that forward), and the
        auxiliary states it updated (BatchNorm's running statistics) left as they are."""
        is_train, position = self._replay
        saved = [(a, a.asnumpy()) for a in self.aux_arrays]
        prev = _random._set_position(position)
        try:
            self._heads = self._run_graph(is_train, True, self._jit)
        finally:
            _random._set_position(prev)
            for a, v in saved:
                a[:] = v
        self._recorded = True

    @property
    def outputs(self):
        """The output arrays (before any forward: zeros of the inferred shapes)."""
        if self._outputs is None:
            shapes = {k: tuple(v.shape) for k, v in self.arg_dict.items()}
            types = {k: np.dtype(v.dtype) for k, v in self.arg_dict.items()}
            (_, out_shapes, _), _, _ = infer(self._symbol, shapes, types)
            out_types = self._symbol.infer_type(**types)[1]
            if out_shapes is None or out_types is None:
                return []
            self._outputs = [_Output(tuple(s), np.dtype(t))
                             for s, t in zip(out_shapes, out_types)]
        return self._outputs

    def _compiled(self):
        """The bound graph as one tracegrad.jit function of the arguments and auxiliary
        states (MXNet's executor runs the graph as one bound program): forward and adjoint
        are one compiled call. Only from the EAGER_FORWARDS + 1st forward on: an executor
        run once or twice (Symbol checks, a prediction) pays no compile. None: evaluate
        node by node (also while a monitor needs every node's arrays)."""
        fn = self._jit
        if fn is None:
            self._forwards += 1
            if self._forwards <= EAGER_FORWARDS:
                return None
            from ..tracing.jit import jit
            symbol, names = self._symbol, self._input_names

            def bound_graph(*arrays):
                return evaluate(symbol, dict(zip(names, arrays)))
            fn = self._jit = jit(bound_graph, name="executor")
            fn.quiet = True     # (the user asked for no compiling: no jit warnings)
        return fn

    def set_monitor_callback(self, callback, monitor_all=False):
        """callback(name, array) after each forward, for every operator node's outputs in
        MXNet's order and names (``fc1_output``, ``softmax_output``); with monitor_all also,
        before a node's outputs, its inputs: a variable input under its own name, then each
        input as ``<node>_<input>`` (``fc1_data``, ``fc1_weight``). As in MXNet, arguments
        that are not an operator's output are only reported with monitor_all (Monitor.toc
        adds them). backward then reports the nodes of MXNet's backward graph
        (``fc1_backward_output0``, ``sum_grad_output``: symbol/monitor_backward.py)."""
        if not callable(callback):
            raise MXNetError(f"set_monitor_callback: callback must be callable, got "
                             f"{type(callback).__name__}")
        self._monitor_callback = callback
        self._monitor_all = bool(monitor_all)

    def _monitor_filter(self):
        """Which names the callback keeps: a Monitor's pattern while it collects (False when
        it does not: its backward entries need not be computed), else None (all)."""
        from ..monitor import Monitor
        cb = self._monitor_callback
        mon = getattr(cb, "__self__", None)
        if not isinstance(mon, Monitor) or getattr(cb, "__func__", None) \
                is not Monitor.stat_helper:
            return None
        if not mon.activated:
            return False
        return lambda name: mon.re_prog.match(name) is not None

    def _monitor_collector(self, seen, trail=None):
        """The evaluate hook appending (name, array) pairs to `seen` (reported after the graph
        has run) and each node's arrays to `trail`."""
        monitor_all = self._monitor_all

        def on_node(node, inputs, outputs):
            if trail is not None:
                trail.add(node, inputs, outputs)
            if monitor_all:
                slots = () if canonical(node.op) in _mon_bwd.UNNAMED_INPUTS \
                    else node.input_names
                for i, ((child, _), arr) in enumerate(zip(node.inputs, inputs)):
                    if child.op is None:
                        seen.append((child.name, arr))
                    slot = slots[i] if i < len(slots) else f"input{i}"
                    seen.append((f"{node.name}_{slot}", arr))
            for out_name, arr in zip(node.visible_outputs(), outputs):
                seen.append((f"{node.name}_{out_name}", arr))
        return on_node

    def backward(self, out_grads=None, is_train=True):
        """Gradients of the outputs of the last forward into grad_dict (per grad_req: 'add'
        accumulates each backward's gradients, also several backward calls of one forward)."""
        if not self._recorded:
            if self._replay is None and self._wants_grads and not self._heads:
                # never run: MXNet's backward then reads whatever its buffers hold (code
                # relies on it for ops whose gradient needs no forward value, repeat / tile);
                # here the forward runs first, so every gradient is the true one
                self.forward(is_train=is_train)
            elif self._replay is None:
                raise MXNetError("backward: call forward first (an executor bound without "
                                 "gradient arrays has no backward unless forward had "
                                 "is_train=True)")
            else:
                self._recompute()
        if out_grads is not None and isinstance(out_grads, NDArray):
            out_grads = [out_grads]
        if out_grads is not None and len(out_grads) > len(self._heads):
            # (MXNet's executor reads the first ones and ignores the rest)
            warnings.warn(f"Executor.backward: {len(out_grads)} out_grads for "
                          f"{len(self._heads)} outputs; the last "
                          f"{len(out_grads) - len(self._heads)} are ignored", stacklevel=2)
            out_grads = list(out_grads)[:len(self._heads)]
        heads, grads = [], []
        for i, out in enumerate(self._heads):
            if not _capture.tracked(out) or self._blocked_heads[i]:   # (BlockGrad: no gradient)
                continue
            if out_grads is not None and i >= len(out_grads) and not self._loss_heads[i]:
                # (MXNet: a shorter list may leave out only the outputs that take no head
                # gradient, losses and BlockGrad)
                raise MXNetError(f"backward: output {i} ('{self._symbol.list_outputs()[i]}') "
                                 f"is not a loss, so it needs a head gradient; "
                                 f"{len(out_grads)} out_grads given for "
                                 f"{len(self._heads)} outputs")
            g = None if out_grads is None or self._loss_heads[i] else out_grads[i]
            if g is not None and not isinstance(g, NDArray):
                g = nd.array(g, dtype=out.dtype)
            heads.append(out)
            grads.append(g)
        self._recorded = False
        for var in self._write_vars:
            var.fresh = False
        if heads:   # (no head gradients given: None, the form step capture recognizes)
            autograd.backward(heads, grads if any(g is not None for g in grads) else None,
                              train_mode=is_train)
        # an argument no gradient reached (behind BlockGrad, index_array, argmax) gets 0, as
        # MXNet's graph backward writes zeros for it; a step capture still holding this
        # backward delivers later, and an argument it does not reach kept its 0 from the
        # backward it learned from
        if not _capture.pending():
            for var in self._write_vars:
                if not var.fresh:
                    var.grad[...] = 0
        for g in self._int_write_grads:
            g[...] = 0
        if self._mon_trail is not None and self._monitor_callback is not None:
            self._report_backward(out_grads, is_train)

    def _report_backward(self, out_grads, is_train):
        """The monitor callback on the nodes of MXNet's backward graph (monitor_backward)."""
        wanted = self._monitor_filter()
        if wanted is False:
            return
        heads = [None if self._loss_heads[i] or self._blocked_heads[i] or out_grads is None
                 or i >= len(out_grads) else out_grads[i]
                 for i in range(len(self._symbol._outputs))]
        heads = [g if g is None or isinstance(g, NDArray) else nd.array(g) for g in heads]
        found = _mon_bwd.entries(self, self._mon_trail, heads, bool(is_train),
                                 self._monitor_all, wanted)
        with autograd.pause(train_mode=bool(is_train)):
            for name, arr in found:
                self._monitor_callback(name, arr)

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        _capture.before_write()
        for d, src in ((self.arg_dict, arg_params), (self.aux_dict, aux_params or {})):
            for k, v in src.items():
                if k not in d:
                    if allow_extra_params:
                        continue
                    raise MXNetError(f"copy_params_from: Found name \"{k}\" that is not in "
                                     f"the arguments")
                v = v._data if isinstance(v, NDArray) else np.asarray(v)
                if tuple(v.shape) != tuple(d[k].shape):
                    raise MXNetError(f"copy_params_from: '{k}' has shape {tuple(v.shape)}, "
                                     f"expected {tuple(d[k].shape)}")
                np.copyto(d[k]._data, v, casting="unsafe")

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new Executor for new input shapes, as MXNet's: an array whose shape is unchanged
        is shared; a smaller one is a view of the start of the old one's memory (its values,
        and writes through either show in both); a larger one is new and needs
        allow_up_sizing. A shape change of an argument not named needs partial_shaping."""
        (arg_shapes, out_shapes, aux_shapes), _, _ = infer(
            self._symbol, {k: tuple(v) for k, v in kwargs.items()},
            {k: np.dtype(a.dtype) for k, a in self.arg_dict.items()})
        if arg_shapes is None:
            raise MXNetError(f"reshape: cannot infer every shape from {kwargs}")
        _capture.before_write()     # (views of the bound arrays: no step may be pending)

        def resized(name, old, shape):
            if tuple(old.shape) == tuple(shape):
                return old
            n = int(np.prod(shape))
            if n <= old.size:
                return wrap(old._data.reshape(-1)[:n].reshape(shape))
            if not allow_up_sizing:
                raise MXNetError(f"reshape: new shape of '{name}' {tuple(shape)} is larger than "
                                 f"the original {tuple(old.shape)}; making a big executor "
                                 f"first and then down sizing it is more efficient than the "
                                 f"reverse. To up size, pass allow_up_sizing=True")
            return nd.zeros(shape, dtype=old.dtype)
        names = self._symbol.list_arguments()
        args, grads = {}, {}
        for k, s in zip(names, arg_shapes):
            old = self.arg_dict[k]
            if tuple(old.shape) != tuple(s) and k not in kwargs and not partial_shaping:
                raise MXNetError(f"reshape: the shape of '{k}' changes from "
                                 f"{tuple(old.shape)} to {tuple(s)}; pass partial_shaping=True")
            args[k] = resized(k, old, s)
            g = self.grad_dict.get(k)
            grads[k] = None if g is None else resized(k, g, s)
        aux = {k: resized(k, self.aux_dict[k], s)
               for k, s in zip(self._symbol.list_auxiliary_states(), aux_shapes)}
        exe = Executor(self._symbol, args, grads, dict(self._grad_req), aux)
        if self._out_stypes is None and out_shapes is not None:
            # outputs no larger than the old ones share their memory, as MXNet's reshape
            # shares its memory pool: a forward of either shows in the other's
            shared = [old._share(tuple(s)) if isinstance(old, _Output) else None
                      for old, s in zip(self.outputs, out_shapes)]
            if len(shared) == len(out_shapes) and all(o is not None for o in shared):
                exe._outputs = shared
        if self._monitor_callback is not None:   # (MXNet moves the callback over too)
            exe.set_monitor_callback(self._monitor_callback, self._monitor_all)
        return exe

    def debug_str(self):
        """The bound graph as text, laid out as MXNet's, and the megabytes its bound arrays
        hold (symbol/debug_str.py)."""
        from .debug_str import executor_debug_str
        # (a gradient array counts only when backward computes it: an argument behind
        # BlockGrad / stop_gradient, or read only as an index, gets MXNet's zero gradient
        # without a backward pass of its own)
        reached = _gradient_reaches(self._symbol)
        grads = [g for k, g in zip(self._symbol.list_arguments(), self.grad_arrays)
                 if k in reached]
        return executor_debug_str(self._symbol, self.arg_arrays + grads
                                  + self.aux_arrays + list(self.outputs))

    def get_optimized_symbol(self):
        """The bound graph as MXNet's executor optimizes it: common subexpressions merged
        unless MXNET_ELIMINATE_COMMON_EXPR was 0 at bind (symbol/cse.py)."""
        if not self._cse:
            return self._symbol.copy()
        return _cse.eliminate_common_expr(self._symbol)

    @property
    def output_dict(self):
        return dict(zip(self._symbol.list_outputs(), self.outputs))
