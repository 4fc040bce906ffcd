"""Block and HybridBlock: children, name prefixes, parameters, save/load, hybridize, export.

Children and Parameters register themselves by attribute assignment, in order. A HybridBlock
runs its 1.x `hybrid_forward(F, x, **params)` with F = tracegrad.nd (or a 2.x `forward(x)`);
both are plain NDArray code, so they record for autograd and trace into IR. A hybridized top
block hands its call to tracegrad.jit.hybrid_call. SymbolBlock (export / imports) lives in
symbol_block.py.
"""
import contextlib
import re
import sys
import threading
import warnings
import weakref
from collections import OrderedDict

from .. import array as _array, initializer, nd
from ..array import NDArray
from ..base import ANY_TRACE, LOCATING, MXNetError, tracing_somewhere
from ..runtime.interpret import generated as _generated
from ..runtime.tape import STATE as _STATE
from ..stats import COUNTERS as _COUNTERS
from ..tracing import capture as _capture, compiled as _compiled, jit as _tracing_jit
from ..tracing.jit import ATTRIBUTE_VERSION, STRUCTURE_VERSION
from ..nd import load_arrays, save_arrays
from . import auto_compile as _auto_compile, contexts as _contexts, hooks as _hooks
from . import model_files as _model_files, op_hooks as _op_hooks
from .arguments import check_inputs
from .symbolic_call import symbolic_call
from .symbolic_shapes import infer_net_shapes_symbolically
from .parameter import Parameter, ParameterDict, load_into
from ..numpy_api.gluon import F_NP as _NP_F, check_one_kind as _np_one_kind
from ..numpy_api.gluon import np_inputs as _np_inputs, np_outputs as _np_outputs
from .. import util as _util
from ..util import _NP


class _Scope(threading.local):
    """The Block whose name_scope() is open, and whether a hybrid call is running."""
    block = None
    in_hybrid_call = False
    compiling = None      # the hybridized block whose compiled call is running (its forward
    # is what that call runs: HybridBlock.forward must not dispatch to it again)


_SCOPE = _Scope()
# STRUCTURE_VERSION is bumped whenever any block gains, loses or replaces a child or a
# parameter: compiled blocks re-check what they were built from only when it moved
# ATTRIBUTE_VERSION is bumped by every attribute a block sets or deletes: a replayed pure
# block (_replay_or_learn) re-checks its attributes only when it moved


class _Children(OrderedDict):
    """A block's children; every change bumps STRUCTURE_VERSION."""

    def __setitem__(self, key, value):
        STRUCTURE_VERSION[0] += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        STRUCTURE_VERSION[0] += 1
        super().__delitem__(key)

    def pop(self, *args):
        STRUCTURE_VERSION[0] += 1
        return super().pop(*args)

    def popitem(self, last=True):
        STRUCTURE_VERSION[0] += 1
        return super().popitem(last)

    def clear(self):
        STRUCTURE_VERSION[0] += 1
        super().clear()


def _next_name(counters, hint):
    count = counters.get(hint, 0)
    counters[hint] = count + 1
    return f"{hint}{count}_"


def _create_prefix(prefix, params, hint):
    """MXNet naming: dense0_ globally, parent_dense0_ inside a parent's name_scope()."""
    parent = _SCOPE.block
    if parent is None:
        if prefix is None:
            # MXNet counts top-level blocks in mx.name's current NameManager: a fresh
            # `with mx.name.NameManager():` restarts at dense0_, a Prefix prepends its own
            from ..name import current
            prefix = current().get(None, hint) + "_"
    else:
        if prefix is None:
            prefix = _next_name(parent._scope_counters, hint)
        if params is None:   # MXNet: a child's parameters follow its parent's ParameterDict
            # (the prefix and the dict it shares), so a parent built with params=other's
            # gets children that share other's children's parameters
            own = parent._params
            return parent.prefix + prefix, ParameterDict(own.prefix + prefix, own._shared)
        prefix = parent.prefix + prefix
    shared = None if params is None else (params if isinstance(params, ParameterDict)
                                          else None)
    return prefix, ParameterDict(shared.prefix if shared else prefix, shared)



def _holds_unregistered(value, children, depth=0):
    """Whether a list, tuple or dict attribute holds a Block whose id is not in `children`
    (a module function: a recursive closure would be a reference cycle per block made)."""
    if isinstance(value, Block):
        return id(value) not in children
    if depth < 8 and isinstance(value, (list, tuple)):
        return any(_holds_unregistered(v, children, depth + 1) for v in value)
    if depth < 8 and isinstance(value, dict):
        return any(_holds_unregistered(v, children, depth + 1) for v in value.values())
    return False

class Block:
    """Base of all layers and models: override forward(self, x, ...)."""

    def __init__(self, prefix=None, params=None):
        object.__setattr__(self, "_children", _Children())
        object.__setattr__(self, "_reg_params", OrderedDict())
        self._empty_prefix = prefix == ""  # MXNet: its name_scope() keeps the parent's
        self._prefix, self._params = _create_prefix(prefix, params, self._alias())
        self._name = self._prefix[:-1] if self._prefix.endswith("_") else self._prefix
        self._scope_counters = {}

    def _alias(self):
        return type(self).__name__.lower()

    @property
    def prefix(self):
        return self._prefix

    @property
    def name(self):
        return self._name

    @property
    def params(self):
        """This block's own ParameterDict (not its children's: see collect_params)."""
        return self._params

    def name_scope(self):
        """Children created inside get this block's prefix (`model_dense0_`). A block made
        with prefix='' opens no scope of its own: its children count in the parent's scope,
        as in MXNet (so two such siblings never both hold a `dense0`)."""
        return _BlockScope(self)

    def __setattr__(self, name, value):
        existing = self.__dict__.get(name)
        if isinstance(existing, (Block, Parameter)) and not isinstance(value, type(existing)):
            raise TypeError(f"Changing attribute type for {name} from {type(existing)} to "
                            f"{type(value)} is not allowed.")    # (MXNet's rule)
        if isinstance(value, (Block, Parameter)) and "_children" not in self.__dict__:
            raise MXNetError(f"{type(self).__name__}: call super().__init__() before assigning "
                             f"child blocks or parameters")
        ATTRIBUTE_VERSION[0] += 1
        if isinstance(value, (Block, Parameter)):
            STRUCTURE_VERSION[0] += 1
        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            if value.name in self._params and self._params[value.name] is not value:
                raise MXNetError(f"{self.name}: a different Parameter named '{value.name}' is "
                                 f"already registered")
            if not value.name.startswith(self._prefix) and value._data is None \
                    and self._params._params.get(value.name) is not value:  # (not shared)
                value.name = self._prefix + value.name  # 2.x style attribute parameters
            self._reg_params[name] = value
            self._params._add(value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        ATTRIBUTE_VERSION[0] += 1
        object.__delattr__(self, name)

    def register_child(self, block, name=None):
        """Add a child block (attribute assignment does this); name defaults to its index."""
        self._children[name if name is not None else str(len(self._children))] = block

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for key, child in self._children.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({key}): {body}")
        return "\n".join(lines) + "\n)" if self._children else f"{type(self).__name__}()"

    # ------------------------------------------------------------------ parameters
    def collect_params(self, select=None) -> ParameterDict:
        """This block's and its descendants' parameters; `select` is a regex on full names
        ('.*weight|.*bias')."""
        stack = [self]
        while stack:     # (this block's and every registered descendant's attributes)
            block = stack.pop()
            block._warn_unregistered_containers()
            stack.extend(block._children.values())
        ret = ParameterDict(self._params.prefix)
        pattern = re.compile(select) if select else None
        for p in self._all_params():
            if pattern is None or pattern.match(p.name):
                ret._add(p)
        return ret

    def _warn_unregistered_containers(self):
        """MXNet's warning for a list, tuple or dict attribute holding Blocks this block never
        registered: their parameters are not collected, trained or saved."""
        children = {id(c) for c in self._children.values()}
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple, dict)) and not name.startswith("__") and \
                    name != "_children" and _holds_unregistered(value, children):
                warnings.warn(f'"{name}" is an unregistered container with Blocks: the Blocks '
                              f"in a list, tuple or dict are not registered (their parameters "
                              f"are not collected, trained or saved). Register them with "
                              f"register_child(), or hold them in nn.Sequential / "
                              f"nn.HybridSequential.", stacklevel=3)

    def _all_params(self):
        seen = set()
        stack = [self]
        out = []
        while stack:
            block = stack.pop(0)
            for p in block._params.values():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
            stack[:0] = list(block._children.values())
        return out

    def _collect_params_with_prefix(self, prefix=""):
        """Structural names ('0.weight', 'encoder.bias'): the keys of save_parameters."""
        ret = {prefix + key: p for key, p in self._reg_params.items()}
        for p in self._params.values():  # 1.x params.get() parameters never assigned
            if all(q is not p for q in self._reg_params.values()):
                ret[prefix + p.name[len(self._prefix):]] = p
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name + "."))
        return ret

    def initialize(self, init=initializer.Uniform(), ctx=None, verbose=False,
                   force_reinit=False):
        """Initialize all parameters (deferred for those whose shape the first input gives)."""
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def zero_grad(self):
        self.collect_params().zero_grad()

    def cast(self, dtype):
        """Cast every parameter to dtype (e.g. 'float64' for finite-difference checks): each
        child's own cast first (a layer may override it, as MXNet's BatchNorm does), then this
        block's parameters."""
        for child in self._children.values():
            child.cast(dtype)
        for p in self._params.values():
            p.cast(dtype)

    def apply(self, fn):
        for child in self._children.values():
            child.apply(fn)
        fn(self)
        return self

    def register_forward_pre_hook(self, hook):
        """hook(block, inputs) before every call; returns a handle whose detach() removes it
        (gluon/hooks.py)."""
        return _hooks.register(self, hook, pre=True)

    def register_forward_hook(self, hook):
        """hook(block, inputs, outputs) after every call; returns a handle (detach())."""
        return _hooks.register(self, hook, pre=False)

    def summary(self, *inputs):
        """Print every block's output shape and parameter count for one call on `inputs`
        (before hybridize(), as in MXNet)."""
        _hooks.summary(self, *inputs)

    def save(self, prefix):
        """MXNet 1.9's model files: <prefix>-model.json (the block tree: names, children's
        keys, hybridized) and <prefix>-model.params (gluon/model_files.py)."""
        _model_files.save(self, prefix)

    def load(self, prefix):
        """Block.save's files into this block, built the same way: names, children's keys
        and parameters restored, hybridized blocks hybridized; all or nothing."""
        _model_files.load(self, prefix)

    def save_parameters(self, filename, deduplicate=False):
        """Save parameters under structural names to an .npz file (never pickle); with a
        sparse parameter (stype='row_sparse'), MXNet's format (nd.save_arrays)."""
        params = self._collect_params_with_prefix()
        if deduplicate:
            seen, unique = set(), {}
            for k, p in params.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    unique[k] = p
            params = unique
        save_arrays(filename, {k: p._reduce() for k, p in params.items()},
                    {k: p._stype for k, p in params.items()})

    def load_parameters(self, filename, ctx=None, allow_missing=False, ignore_extra=False,
                        cast_dtype=False, dtype_source="current"):
        """Load save_parameters' file; errors name missing, extra and mis-shaped parameters."""
        arrays = load_arrays(filename)
        params = self._collect_params_with_prefix()
        if arrays and not any("." in k for k in arrays) and set(arrays) != set(params):
            # a file of full names: collect_params().save()'s, or save_params()' with the
            # block's prefix stripped (MXNet restores it)
            params = dict(self.collect_params().items())
            if not all(k in params for k in arrays) and all(
                    self._prefix + k in params for k in arrays):
                arrays = {self._prefix + k: v for k, v in arrays.items()}
        load_into(params, arrays, allow_missing, ignore_extra, filename, ctx, cast_dtype,
                  dtype_source)

    def save_params(self, filename):
        """[Deprecated] MXNet 1.x's older format: collect_params() names minus this block's
        prefix (load_parameters / load_params read it back)."""
        warnings.warn("save_params is deprecated. Please use save_parameters. Note that if "
                      "you want load from SymbolBlock later, please use export instead.",
                      stacklevel=2)
        self.collect_params().save(filename, strip_prefix=self._prefix)

    def load_params(self, filename, ctx=None, allow_missing=False, ignore_extra=False):
        """[Deprecated] load_parameters."""
        warnings.warn("load_params is deprecated. Please use load_parameters.", stacklevel=2)
        self.load_parameters(filename, ctx, allow_missing, ignore_extra)

    # ------------------------------------------------------------------ calling
    def hybridize(self, active=True, **kwargs):
        """Hybridize every HybridBlock below (a plain Block itself stays eager)."""
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def _call_np(self, *args):
        """__call__ while set_np is on: the outputs as mx.np arrays (numpy_api/gluon.py; a
        captured step's pending output becomes one in place, or was made one by the steady
        step's code: _captured_call, _replay_quick)."""
        out = self._call_nd(*args)
        t = type(out)
        if t is _capture.NpDeferred or (t is _capture.Deferred and _getrefcount(out) == 2
                                        and _capture.own_as_np(out)):
            return out
        return _np_outputs(out)

    def _call_nd(self, *args):
        try:
            if _contexts.ACTIVE[0]:     # arrays on several contexts: read this call's copies
                return _contexts.call_on_context(args, lambda: self.forward(*args))
            return self.forward(*args)
        except MXNetError as e:
            raise _named_error(self, e) from None

    __call__ = _call_nd     # (_call_np while set_np is on: _use_np_calls)

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")


class _BlockScope:
    """What Block.name_scope() enters (MXNet's class of that name, which scripts reach for):
    blocks made inside are `block`'s children (its prefix and ParameterDict), and symbols
    named inside take its prefix (mx.name.Prefix). create() names a new block in this
    thread's current scope. A block made with prefix='' opens no scope of its own."""

    def __init__(self, block):
        self._block = block
        self._old = self._names = None

    @staticmethod
    def create(prefix, params, hint):
        """(prefix, ParameterDict) of a new block made now (in this thread's scope)."""
        return _create_prefix(prefix, params, hint)

    def __enter__(self):
        if self._block._empty_prefix:
            return self
        from ..name import Prefix
        self._old, _SCOPE.block = _SCOPE.block, self._block
        self._names = Prefix(self._block.prefix)
        self._names.__enter__()
        return self

    def __exit__(self, *exc):
        if self._names is not None:
            self._names.__exit__(*exc)
            _SCOPE.block, self._old, self._names = self._old, None, None
        return False


def _named_error(block, e):
    """Prefix an error with the innermost block that raised it (once)."""
    if getattr(e, "_block_named", False):
        return e
    name = block.name or type(block).__name__.lower()
    new = type(e)(f"{name} ({type(block).__name__}): {e}")
    new._block_named = True
    return new


class HybridBlock(Block):
    """A block whose forward is pure NDArray code, so hybridize() can trace and compile it.

    1.x style: override hybrid_forward(self, F, x, *args, **params), where params are this
    block's own parameters by attribute name. 2.x style: override forward(self, x, *args).
    Layers whose parameter shapes depend on the input define infer_shape(self, x, *args).
    """

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        self._active = False
        self._flags = {}
        self._cached_args = None

    def hybridize(self, active=True, static_alloc=False, static_shape=False, **flags):
        """Compile this block's forward (and, under autograd.record(), its backward) to native
        code on the next call. Calling it again drops what was compiled."""
        self.__dict__.pop("_tg_jit", None)
        self.__dict__.pop("_tg_serve", None)
        self.__dict__.pop("_tg_step", None)     # (_captured_call: its JitFunction is gone)
        # (the input structure a hybridized call keeps, and the argument check's memo)
        self.__dict__.pop("_tg_in_format", None)
        self.__dict__.pop("_tg_arity", None)
        # (hybridize(active=False): the user keeps it eager, auto_compile.py leaves it so)
        self.__dict__["_tg_tier"] = None if active else _auto_compile.OFF
        self._active = bool(active)
        self._flags = dict(static_alloc=static_alloc, static_shape=static_shape, **flags)
        super().hybridize(active, static_alloc=static_alloc, static_shape=static_shape, **flags)

    def ir(self, stage="optimized"):
        """The ir.Function of `stage` ('traced', 'optimized', 'adjoint') of the latest compile."""
        return self._compiled("ir").ir(stage)

    def llvm_ir(self) -> str:
        """The LLVM IR text of the latest compiled forward."""
        return self._compiled("llvm_ir").llvm_ir()

    def explain(self) -> str:
        """What hybridize() compiled: variants, guards (file:line, expression, outcomes seen),
        why the last call traced, counts of traces, native calls and eager fallbacks."""
        return self._compiled("explain").explain()

    def _compiled(self, what):
        jf = self.__dict__.get("_tg_jit")
        if jf is None:
            raise MXNetError(f"{self.name}.{what}(): nothing compiled yet; call hybridize() and "
                             f"run the block once first")
        return jf

    def infer_shape(self, *args):
        """Set unknown parameter shapes from the inputs (layers with deferred shapes override;
        otherwise MXNet's way: hybrid_forward's graph on mx.sym infers them)."""
        from .symbolic_shapes import infer_shapes_symbolically
        if infer_shapes_symbolically(self, args):
            return
        pending = [p.name for p in self._reg_params.values() if p._data is None]
        raise MXNetError(f"cannot infer the shapes of {pending} from inputs of shapes "
                         f"{[getattr(a, 'shape', None) for a in args]}; give their full shapes "
                         f"or define {type(self).__name__}.infer_shape(self, x, ...)")

    def _deferred_infer(self, args):
        params = [p for p in self._reg_params.values() if p._data is None and p._deferred_init]
        if params:
            self.infer_shape(*args)
            for p in params:
                p._finish_deferred_init()

    def _call_nd(self, *args):
        if _contexts.ACTIVE[0]:     # arrays on several contexts: the parameter copies of this
            # call's (the capture shortcuts below bind parameters by their first copy: not taken)
            return _contexts.call_on_context(args, lambda: self._located_call(args))
        if _compiled.DEFER_CALL is not None:     # step capture holds plans (tracing/capture.py)
            captured = self.__dict__.get("_tg_step")
            if captured is not None:     # (_captured_call's code for this block)
                out = captured(self, args)
                if out is not None:
                    return out
            elif not self._active and not (ANY_TRACE[0] and LOCATING.on):
                rep = _REPLAYS.get(id(self))
                if rep is not None and rep[4] == STRUCTURE_VERSION[0] and rep[0]() is self:
                    # (learned under this block structure: the block is pure)
                    quick = rep[7][0]   # (_replay_quick: the usual checks and one replay)
                    if quick is not None:
                        out = quick(self, args)
                        if out is not None:
                            return out
                    return _replay_or_learn(self, args, rep)
                pure = _PURE_BLOCKS.get(id(self))
                if pure is None or pure[0] != STRUCTURE_VERSION[0] or pure[2]() is not self:
                    pure = _PURE_BLOCKS[id(self)] = (STRUCTURE_VERSION[0], _pure(self),
                                                      weakref.ref(self))
                    if len(_PURE_BLOCKS) > 1024:
                        _PURE_BLOCKS.clear()
                if pure[1]:
                    return _replay_or_learn(self, args, rep)
        return self._located_call(args)

    __call__ = _call_nd     # (Block._call_np while set_np is on: _use_np_calls)

    def _located_call(self, args):
        if ANY_TRACE[0] and LOCATING.on:  # a trace: ops recorded below carry this block's path
            LOCATING.blocks.append(self)
            try:
                return self._call(args)
            finally:
                LOCATING.blocks.pop()
        return self._call(args)

    def _call(self, args):
        try:
            serve = self.__dict__.get("_tg_serve")  # inference fast path (tracing/serving.py)
            if serve is not None and not _SCOPE.in_hybrid_call and not _contexts.ACTIVE[0]:
                out = serve(args)
                if out is not None:
                    self.__dict__["_cached_args"] = args
                    if _compiled.DEFER_CALL is not None:
                        self.__dict__.pop("_tg_step", None)  # as _remember_captured_call does
                    return out
            if check_inputs(self, args):       # Symbols in: the graph out (symbolic_call.py)
                return symbolic_call(self, args)
            for p in self._reg_params.values():
                if p._data is None:
                    self._deferred_infer(args)
                    break
            if self._active and not (ANY_TRACE[0] and (_SCOPE.in_hybrid_call
                                                       or _array.HOOKS.tracing)):
                # (export traces with these; inside another block's trace this call is
                # inlined: as in MXNet, it caches no graph, nor the trace's own arrays)
                hook = self.__dict__.get("_op_hook")
                if hook is not None:        # (register_op_hook: the graph node by node)
                    return _op_hooks.call(self, args, hook)
                if "_tg_jit" not in self.__dict__:  # (a first call: MXNet's CachedOp infers
                    # every deferred shape from the graph, and runs compiled)
                    infer_net_shapes_symbolically(self, args)
                return _compiled_call(self, args)
            # (an eager call of gluon's own layers: compiled once its signature is hot)
            return _auto_compile.call(self, args, _compiled_call)
        except MXNetError as e:
            raise _named_error(self, e) from None

    def forward(self, x, *args):
        """1.x dispatch: hybrid_forward(nd, x, *args, **own parameters' data). Called
        directly on a hybridized block (`net.forward(x)`, as MXNet's AMP example does) it
        runs the compiled call, as MXNet's forward runs the cached graph."""
        if self._active and self._called_directly(x):
            return self._call((x,) + args)
        params = {k: p._nd_data() for k, p in self._reg_params.items()}
        if _NP["array"]:     # set_np: hybrid_forward sees mx.np arrays, and F.np / F.npx
            x, args, views = _np_inputs(x, args, params)
            if _compiled.DEFER_CALL is not None:   # step capture: a state update written
                # through a parameter's view (BatchNorm's running statistics) waits on the
                # parameter's own array
                return _np_one_kind(_capture.with_view_owners(
                    views, params, lambda: self.hybrid_forward(_NP_F, x, *args, **views)))
            return _np_one_kind(self.hybrid_forward(_NP_F, x, *args, **views))
        return self.hybrid_forward(nd, x, *args, **params)

    def _called_directly(self, x):
        """Whether this hybridized block's forward was called by the program itself on an
        NDArray, not by its own compiled call, a trace or a Symbol call (then forward runs
        the compiled call, as MXNet's HybridBlock.forward runs the cached graph)."""
        return isinstance(x, NDArray) and _SCOPE.compiling is not self \
            and not _SCOPE.in_hybrid_call and not _array.HOOKS.tracing

    def hybrid_forward(self, F, x, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement hybrid_forward(self, "
                                  f"F, x, ...) or forward(self, x, ...)")

    def register_op_hook(self, callback, monitor_all=False):
        """callback(node_name, op_name, array) for every operator node's output (with
        monitor_all, its inputs too) while this block, or any block under it, runs
        hybridized, as MXNet's cached graph reports them (gluon/op_hooks.py)."""
        _op_hooks.register(self, callback, monitor_all)

    def export(self, path, epoch=0, remove_amp_cast=True):
        """Write path-symbol.json (the forward as tracegrad IR text) and path-%04d.params."""
        from .symbol_block import export
        return export(self, path, epoch, remove_amp_cast=remove_amp_cast)


@contextlib.contextmanager
def inside_hybrid_call():
    """Children run their plain forward while a block is being traced (export, jit)."""
    with tracing_somewhere():
        prev, _SCOPE.in_hybrid_call = _SCOPE.in_hybrid_call, True
        try:
            yield
        finally:
            _SCOPE.in_hybrid_call = prev


# ---------------------------------------------------------------- block replay (capture.py)
# gluon's own layers and losses whose forward is a pure function of (inputs, parameters,
# configuration): a call in a captured step can be replayed from what capture learned
_PURE_LAYERS = {
    "tracegrad.gluon.nn.basic_layers": {"Dense", "HybridSequential", "Flatten", "Embedding"},
    "tracegrad.gluon.nn.activations": {"Activation", "LeakyReLU", "ELU", "SELU", "GELU",
                                        "Swish", "PReLU"},
    "tracegrad.gluon.loss": {"L2Loss", "L1Loss", "SoftmaxCrossEntropyLoss",
                             "SigmoidBinaryCrossEntropyLoss", "HuberLoss"},
}
_PURE_CLASSES: dict = {}
# id(block) -> (structure version, _pure(block), weakref): a child hybridized later makes a
# stale True harmless (its call is not an op the replay learned, so learning fails)
_PURE_BLOCKS: dict = {}
_REPLAYS: dict = {}     # id(block) -> (weakref to it, [BlockReplay], snapshot, parameters,
#                             structure version, training, [ATTRIBUTE_VERSION last compared],
#                             [its _replay_quick code, or None])


def _pure(block):
    """Whether the block and everything below it are such layers (none hybridized)."""
    cls = type(block)
    pure = _PURE_CLASSES.get(cls)
    if pure is None:
        pure = _PURE_CLASSES[cls] = cls.__qualname__ in _PURE_LAYERS.get(cls.__module__, ())
    if not pure:
        return False
    for child in block._children.values():
        if child._active or not isinstance(child, HybridBlock) or not _pure(child):
            return False
    return True


def _tree(block):
    out, stack = [], [block]
    while stack:
        b = stack.pop()
        out.append(b)
        stack.extend(b._children.values())
    return out


_UNBUILT = _capture._UNBUILT     # (a replay's straight-line code before its first use)


def _replay_or_learn(block, args, rep):
    """A pure block's call while capture holds plans: replayed from what was learned when
    nothing it depends on moved (its and its children's attributes, by identity; parameter
    data objects; block structure; training mode), else run normally and learned. A block
    called at several points of a step (shared weights) keeps one replay per point. `rep`:
    its _REPLAYS entry as the caller found it (None, or another block's: looked at here)."""
    if not _STATE.recording:      # (nothing is deferred outside record())
        return block._call(args)
    valid = False
    if rep is not None and rep[0]() is block:
        _, replays, snapshot, params, version, training, seen, _ = rep
        if version == STRUCTURE_VERSION[0] and training == _STATE.training and (
                seen[0] == ATTRIBUTE_VERSION[0] or _attributes_unmoved(snapshot, block, seen)):
            for p, data in params:
                if p._data is not data:
                    break
            else:
                valid = True
                for replay in replays:
                    fast = replay.fast      # (its straight-line code, once built; else or
                    #                          when it declines, capture.replay decides)
                    out = fast(replay, args) if fast is not None and fast is not _UNBUILT \
                        else None
                    if out is not None and len(replays) == 1 and rep[7][0] is None:
                        rep[7][0] = _replay_quick(rep)
                    if out is None:
                        out = _capture.replay(replay, args)
                    if out is not None:
                        return out
    if _NP["array"] and _capture._has_np(args):    # set_np: learned on the nd arrays the
        nd = _capture.nd_args(args)                # mx.np ones view (replay converts itself)
        if nd is not None:
            args = nd
    rec = _capture.learn_begin()
    if rec is None:
        return block._call(args)
    try:
        out = block._call(args)
    except BaseException:
        _capture.learn_end(rec, (), None, ())
        raise
    blocks = _tree(block)
    params = [(p, p._data) for b in blocks for p in b._reg_params.values()]
    replay = _capture.learn_end(rec, args, out, [d for _, d in params if d is not None])
    if replay is None:
        return out
    if valid:   # nothing moved since the other points were learned: one more point
        replays = [r for r in rep[1] if r.plan is not replay.plan or r.k0 != replay.k0]
        rep[1][:] = (replays + [replay])[-8:]
        rep[7][0] = None
        return out
    if len(_REPLAYS) >= 256:
        _REPLAYS.clear()
    # the entry holds the block's children and parameters, not the block: it goes with it
    key = id(block)
    _REPLAYS[key] = (weakref.ref(block, lambda _, k=key: _REPLAYS.pop(k, None)), [replay],
                     [(None if b is block else b, tuple(b.__dict__.values())) for b in blocks],
                     params, STRUCTURE_VERSION[0], _STATE.training, [ATTRIBUTE_VERSION[0]],
                     [None])
    return out


def _replay_quick(rep):
    """`quick(block, args)`: _replay_or_learn's checks of an entry with one replay, then the
    replay's straight-line code, in one function (None: nothing done, _replay_or_learn
    decides). The caller has checked the weak reference and the structure version. Held by
    the entry, which holds the replay and the parameters already."""
    _, replays, _, params, _, training, seen, _ = rep
    consts = {"R": replays[0], "SEEN": seen}

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    lines = ["    state = _STATE",
             f"    if not state.recording or state.training != {bool(training)} or "
             "SEEN[0] != ATTRIBUTE_VERSION[0]: return None"]
    for p, data in params:
        lines.append(f"    if {const(p)}._data is not {const(data)}: return None")
    lines.append("    fast = R.fast")
    lines.append("    if fast is None or fast is _UNBUILT: return None")
    lines.append("    out = fast(R, args)")
    # (under set_np, the replay's new value as mx.np in place, as _call_np makes it)
    lines.append("    if out is not None and NP_ON['array']: out.__class__ = NpDeferred")
    lines.append("    return out")
    return _generated("replay_quick", "def replay_quick(block, args):\n", lines,
                      {"_STATE": _STATE, "ATTRIBUTE_VERSION": ATTRIBUTE_VERSION,
                       "_UNBUILT": _UNBUILT, "NP_ON": _NP,
                       "NpDeferred": _capture.NpDeferred, **consts})


def _attributes_unmoved(snapshot, block, seen):
    """Whether every block of the snapshot holds the attribute objects it held (some block
    set an attribute since they were last compared); `seen` then takes the version."""
    for b, values in snapshot:
        if not _same_objects((b or block).__dict__.values(), values):
            return False
    seen[0] = ATTRIBUTE_VERSION[0]
    return True


def _same_objects(now, then):
    """Whether `now` holds exactly the objects of the tuple `then`, in order (a loop: faster
    than map(is_) for a block's few attributes)."""
    if len(now) != len(then):
        return False
    for have, had in zip(now, then):
        if have is not had:
            return False
    return True


def _remember_captured_call(block, args, out):
    """After a hybridized call step capture deferred: remember how the JitFunction got there
    (its guard-free, key-free variant for this signature), so the next step's call of this
    block can go straight to capture (`_captured_call`)."""
    block.__dict__.pop("_tg_step", None)
    first = out[0] if isinstance(out, (list, tuple)) and out else out
    if type(first) is not _capture.Deferred or _array.HOOKS.tracing:
        return
    jf = block.__dict__.get("_tg_jit")
    tree = getattr(jf, "last_tree", None)
    node = getattr(tree, "root", None)
    if (node is None or getattr(node, "guard", 1) is not None or getattr(tree, "keyed", True)
            or getattr(node, "n_keys", 1) or getattr(node, "entry", None) is not jf.last
            or not isinstance(jf.last, _compiled.TrainingEntry)):
        return
    if not all(type(a) in _CAPTURED_ARGS for a in args):
        return
    # (made once per variant and kept by the JitFunction: a block called with two shapes
    # in one step goes back and forth between two remembered calls)
    key = (node.entry.id, node.out_tree, STRUCTURE_VERSION[0], _STATE.training, len(args))
    codes = jf.captured_calls
    try:
        code, kept = codes.get(key), True
    except TypeError:       # (an output structure holding an unhashable constant)
        code, kept = None, False
    if code is None:
        code = _captured_call(jf, node.entry, *key[1:])
        if kept:
            if len(codes) >= 16:
                codes.clear()
            codes[key] = code
    block.__dict__["_tg_step"] = code


_getrefcount = sys.getrefcount

# the argument types of a call _captured_call takes (mx.np's: bound as they are by the
# straight-line binders, as the nd arrays they view by the general ones)
_CAPTURED_ARGS = frozenset((NDArray, _capture.Deferred, _capture.NpArray, _capture.NpDeferred))
# what _captured_call's code reads
_CAPTURED_NAMES = {"STRUCTURE_VERSION": STRUCTURE_VERSION, "_STATE": _STATE,
                   "_CAPTURE": _capture._STATE,     # (capture's per-thread state)
                   "NP_ON": _NP, "NpDeferred": _capture.NpDeferred,
                   "ANY_TRACE": ANY_TRACE, "LOCATING": LOCATING, "_SCOPE": _SCOPE,
                   "HOOKS": _array.HOOKS, "_CAPTURED_ARGS": _CAPTURED_ARGS,
                   "DEFER_CALL": _capture.defer_call, "_COUNTERS": _COUNTERS,
                   "UNFLATTEN": _tracing_jit.unflatten}


def _captured_call(jf, entry, out_tree, version, training, nargs):
    """`call(block, args)`: a hybridized block's call in a captured step, without the
    JitFunction: valid while the call would reach the same compiled variant, which holds when
    the block structure, the training mode and the arguments' count and kinds (arrays only)
    are the ones remembered and capture.defer_call accepts the operands (it pins their types:
    the plan's deferred values, the same variables, constants of the same shape and dtype).
    None: take the usual path. Straight-line code for this memo: the parameters are the
    JitFunction's (fixed for its life), the output's structure is known. The code holds the
    JitFunction and its entry, as the memo did: hybridize() drops both, and hybrid_call makes
    another only after a structure change, which `version` sees."""
    consts = {}

    def const(value):
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    lines = [f"    if len(args) != {nargs} or STRUCTURE_VERSION[0] != {version}: return None",
             "    state = _STATE",
             f"    if not state.recording or state.training != {bool(training)}: return None",
             "    if ANY_TRACE[0] and (LOCATING.on or _SCOPE.in_hybrid_call or "
             "HOOKS.tracing): return None",
             f"    jf = {const(jf)}",
             # an attribute array rebound: jf drops its code
             "    if jf.held and jf._moved() is not None: return None"]
    for i in range(nargs):
        lines.append(f"    if type(args[{i}]) not in _CAPTURED_ARGS: return None")
    names = [f"d{k}" for k in range(len(jf.param_list))]
    for name, p in zip(names, jf.param_list):     # (jf.params(), without its checks)
        lines.append(f"    {name} = {const(p)}._data")
        # (the usual path names an uninitialized parameter)
        lines.append(f"    if {name} is None: return None")
    entry_name = const(entry)
    params = f"[{', '.join(names)}]"
    if out_tree == "A":
        # a step's first op: the plan's binder makes the step too (defer_call's first-op path
        # for a thread with one plan starting here, without its general steps)
        lines.append("    out = None")
        lines.append("    cap = _CAPTURE")
        lines.append("    if cap.step is None and not cap.broken:")
        lines.append(f"        plans = cap.plans.get({entry.id})")
        lines.append("        if plans is not None and len(plans) == 1:")
        lines.append("            plan = plans[0]")
        lines.append("            first = plan.ops[0].fast_first")
        lines.append("            if first is not None:")
        lines.append(f"                out = first(cap, plan, {entry_name}, args, {params}, "
                     f"{bool(training)})")
        # (under set_np, the new step's own value as mx.np in place, as _call_np makes it)
        lines.append("                if out is not None and NP_ON['array']: "
                     "out.__class__ = NpDeferred")
        lines.append("    if out is None:")
        indent = "        "
    else:
        indent = "    "
    # (declined when the pending step's next op is another call: the JitFunction picks)
    lines.append(f"{indent}out = DEFER_CALL({entry_name}, args, {params}, None, True)")
    lines.append(f"{indent}if out is None: return None")
    lines.append("    counts = jf.counts")
    lines.append("    counts['calls'] += 1")
    lines.append("    counts['native'] += 1")
    lines.append("    _COUNTERS['cache_hits'] += 1")
    lines.append(f"    jf.last = {entry_name}")
    lines.append("    block.__dict__['_cached_args'] = args")
    if out_tree == "A" and entry.single:        # one array out (defer_call gives it bare)
        lines.append("    return out")
    elif out_tree == "A":
        lines.append("    return out[0] if type(out) is list else out")
    else:
        lines.append(f"    return UNFLATTEN({const(out_tree)}, "
                     "iter(out if type(out) is list else [out]))")
    return _generated("captured_call", "def captured_call(block, args):\n", lines,
                      {**_CAPTURED_NAMES, **consts})


def _compiled_call(block, args):
    """A hybridized block's call (or a hot eager layer's: auto_compile.py) through its
    JitFunction; remembered for captured steps."""
    block.__dict__["_cached_args"] = args
    prev, _SCOPE.compiling = _SCOPE.compiling, block
    try:
        out = _hybrid_call(block, *args)
    finally:
        _SCOPE.compiling = prev
    if _compiled.DEFER_CALL is not None:
        _remember_captured_call(block, args, out)
    return out


def _hybrid_call(block, *args):
    """Compiled execution; a hybridized child called while its parent is traced is inlined
    into the parent's graph by tracegrad.jit itself."""
    return _tracing_jit.hybrid_call(block, *args)


def _use_np_calls(array):
    """set_np's switch: Blocks return mx.np arrays (a wrapper around the call) while it is on;
    off, the call is the plain one, with no per-call test."""
    for cls in (Block, HybridBlock):
        cls.__call__ = cls._call_np if array else cls._call_nd


_util.on_np_switch(_use_np_calls)
