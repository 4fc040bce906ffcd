"""amp.init's operator wrappers, installed over tracegrad's nd and sym functions as MXNet 1.9.1
installs its own: an op of the low-precision list gets its float inputs cast to float16
(amp_cast), one of the float32 lists to float32, a widest-type op brings float16 inputs up to
float32 when another input is float32 (on Symbols: one amp_multicast node), and the loss
output ops (SoftmaxOutput, ...) take the dynamic loss scale as grad_scale.

Where the wrappers go. The functions are replaced by name where MXNet code finds them:
`mx.nd.<op>` (also Gluon's `F.<op>`, F being the nd module, eagerly and in a hybridize trace,
which runs the same functions), `mx.nd.contrib / linalg / sparse / image / random.<op>`,
the NDArray methods that are those functions (`x.softmax()`: MXNet's fluent methods reach the
wrapped functions too), `mx.sym.<op>` (Gluon's F when a block is called on Symbols),
`mx.sym.contrib / linalg / sparse / _internal.<op>`. Gluon's recurrent layers (LSTM, GRU,
RNN) are MXNet's fused RNN operator computed by recurrent.run_layers: that function gets the
RNN entry's cast. A custom block's deferred parameter shapes are inferred from its graph on
Symbols without casts (gluon/symbolic_shapes.py: the shape rules do not see through them).
Nothing is installed before init; `uninstall` puts every original back.

Who gets cast. MXNet's operators are C++ kernels: only Python calls reach its wrappers. Many
tracegrad operators are written in other nd operators, so a wrapper casts only when called
from outside tracegrad's own operator code (user code, Gluon, mx.rnn's cells); called by an
operator's implementation (nd.RNN's gate arithmetic, a Symbol being evaluated, mx.np) it
passes the arguments as they are, and that operator computes in the dtypes it was given, as
MXNet's kernel would.
"""
import functools
import inspect
import logging
import sys
import threading

import numpy as np

from ..array import HOOKS, NDArray
from ..nd_amp import amp_cast as _nd_amp_cast

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)
_AMP_FLOATS = (F16, F32)
# tracegrad packages whose calls are the user's side of MXNet's Python/C++ line
_USER_LEVEL = ("tracegrad.gluon.", "tracegrad.rnn.")
_ABSENT = object()
# the prefixes of MXNet's op names and the namespace each is a function of (nd and sym)
_PREFIXES = (("_contrib_", "contrib"), ("_linalg_", "linalg"), ("_sparse_", "sparse"),
             ("_image_", "image"))


class _State:
    """Whether the wrappers are live (for every thread), and what they replaced."""

    def __init__(self):
        self.active = False
        self.patches = []   # (holder, name, old value or _ABSENT, is a table entry)


_STATE = _State()
# per thread: wrappers pass calls through while a Gluon block's shapes are inferred from its
# graph on Symbols (casts keep shapes, and the symbolic shape rules cannot see through them)
_SUSPENDED = threading.local()


def _live():
    return _STATE.active and not getattr(_SUSPENDED, "depth", 0)


def _called_by_user(depth):
    """Whether the code `depth` frames above the calling wrapper is the user's side: code
    outside tracegrad, or Gluon's / mx.rnn's layers (module docstring). A wrapper stacked
    on another (the loss scaling over SoftmaxOutput's float32 cast) is looked through."""
    frame = sys._getframe(depth + 1)
    name = frame.f_globals.get("__name__", "")
    while name == __name__:
        frame = frame.f_back
        name = frame.f_globals.get("__name__", "")
    return not name.startswith("tracegrad.") or name.startswith(_USER_LEVEL)


def _like(wrapper, f):
    """wrapper with f's name, module, docstring and signature (__wrapped__): the symbolic
    API reads an nd function's signature to learn the operator's inputs."""
    return functools.update_wrapper(wrapper, f)


def _cast_array(x, dtype):
    """x cast to `dtype` when it is a dense float16/float32 NDArray of the other AMP type;
    anything else (other dtypes, sparse arrays, numbers) unchanged."""
    if isinstance(x, NDArray) and x.stype == "default":
        src = np.dtype(x.dtype)
        if src != dtype and src in _AMP_FLOATS:
            return _nd_amp_cast(x, dtype=dtype.name)
    return x


def _condition_holds(cond, kwargs):
    """A conditional-FP32 entry (name, attribute, values) applies: the attribute was passed
    by keyword with one of the values (MXNet reads keywords only)."""
    return cond is None or (cond[1] in kwargs and kwargs[cond[1]] in cond[2])


# ------------------------------------------------------------------ the wrappers
def nd_precision(f, dtype, cond=None, depth=1):
    """nd: f computing in `dtype` (its float array arguments cast; `out=` left alone)."""
    def amp_wrapper(*args, **kwargs):
        if _live() and _condition_holds(cond, kwargs) and _called_by_user(depth):
            args = [_cast_array(a, dtype) for a in args]
            kwargs = {k: v if k == "out" else _cast_array(v, dtype) for k, v in kwargs.items()}
        return f(*args, **kwargs)
    return _like(amp_wrapper, f)


def sym_precision(f, dtype, cond, cast_symbol):
    """sym: the node f records, each input but auxiliary states read through an amp_cast
    to `dtype` (the weight and bias variables it created included, as MXNet's)."""
    from ..symbol.symbol import Symbol

    def amp_wrapper(*args, **kwargs):
        out = f(*args, **kwargs)
        if _live() and isinstance(out, Symbol) and _condition_holds(cond, kwargs) \
                and _called_by_user(1):
            node = out._outputs[0][0]
            if node.op is not None and all(n is node for n, _ in out._outputs):
                names, aux = node.input_names, node.spec.aux
                node.inputs = [e if i < len(names) and names[i] in aux else
                               cast_symbol(e, dtype) for i, e in enumerate(node.inputs)]
        return out
    return _like(amp_wrapper, f)


def widest(f, multicast, depth=1):
    """nd or sym: f on inputs of one float type. Arrays: float16 ones become float32 when
    some input is float32. Symbols: every array input read through one amp_multicast."""
    from ..symbol.symbol import Symbol

    def amp_wrapper(*args, **kwargs):
        if _live() and _called_by_user(depth):
            args = list(args)
            slots = [(args, i) for i, a in enumerate(args) if isinstance(a, (Symbol, NDArray))]
            slots += [(kwargs, k) for k, v in kwargs.items()
                      if k != "out" and isinstance(v, (Symbol, NDArray))]
            values = [box[k] for box, k in slots]
            if any(isinstance(v, Symbol) for v in values):
                cast = multicast(*values, num_outputs=len(values))
                for j, (box, k) in enumerate(slots):
                    box[k] = cast[j]
            elif any(isinstance(v, NDArray) and np.dtype(v.dtype) == F32 for v in values):
                for box, k in slots:
                    box[k] = _cast_array(box[k], F32)
        return f(*args, **kwargs)
    return _like(amp_wrapper, f)


def nd_loss_scaling(f, scaler, depth=1):
    """nd: a loss output op whose backward is scaled by the current loss scale (grad_scale
    times loss_scale). In a hybridize trace the scale would be frozen into the compiled
    graph: there it only warns, as MXNet's symbolic (hybridized) form does."""
    def amp_wrapper(*args, **kwargs):
        if _live() and _called_by_user(depth):
            if HOOKS.compiling:
                _warn_no_scaling(f)
            else:
                kwargs["grad_scale"] = kwargs.get("grad_scale", 1.0) * scaler.loss_scale
        return f(*args, **kwargs)
    return _like(amp_wrapper, f)


def sym_loss_warning(f):
    """sym: a loss output op, which cannot follow a dynamic loss scale in a graph."""
    def amp_wrapper(*args, **kwargs):
        if _live() and _called_by_user(1):
            _warn_no_scaling(f)
        return f(*args, **kwargs)
    return _like(amp_wrapper, f)


def _warn_no_scaling(f):
    logging.warning("%s does not support dynamic loss scaling in symbolic and hybridized "
                    "execution.", f.__name__)


def rnn_layers(f, dtype):
    """recurrent.run_layers as Gluon's recurrent layers call it: the input, begin states
    and every weight cast to `dtype` first (MXNet casts its fused RNN op's inputs)."""
    def amp_wrapper(F, step_fn, x, states, weights, *rest, **kwargs):
        if _live() and _called_by_user(1):
            x = _cast_array(x, dtype)
            states = [_cast_array(s, dtype) for s in states]
            weights = _cast_weights(weights, dtype)
        return f(F, step_fn, x, states, weights, *rest, **kwargs)
    return _like(amp_wrapper, f)


def without_casts(f):
    """f run with the wrappers passing through (in this thread)."""
    def amp_wrapper(*args, **kwargs):
        _SUSPENDED.depth = getattr(_SUSPENDED, "depth", 0) + 1
        try:
            return f(*args, **kwargs)
        finally:
            _SUSPENDED.depth -= 1
    return _like(amp_wrapper, f)


def _cast_weights(weights, dtype):
    return lambda layer, d: tuple(_cast_array(w, dtype) for w in weights(layer, d))


# ------------------------------------------------------------------ finding and replacing
def nd_place(nd, name):
    """(namespace, attribute) where MXNet op `name` is an nd function, or None: MXNet's
    internal ops (_plus, _random_*) are no nd functions here."""
    for prefix, sub in _PREFIXES:
        if name.startswith(prefix):
            return getattr(nd, sub, None), name[len(prefix):]
    if name.startswith("_random_") and name.endswith("_like"):
        return nd.random, name[len("_random_"):]
    return None if name.startswith("_") else (nd, name)


def sym_place(sym, name):
    """(namespace, attribute) where MXNet op `name` is an mx.sym function."""
    for prefix, sub in _PREFIXES:
        if name.startswith(prefix):
            return getattr(sym, sub, None), name[len(prefix):]
    if name.startswith("_random_") and name.endswith("_like"):
        return sym.random, name[len("_random_"):]
    return (sym._internal, name) if name.startswith("_") else (sym, name)


def lookup(place):
    """The operator function at (namespace, attribute), or None when there is none."""
    if place is None or place[0] is None:
        return None
    try:
        f = getattr(*place)
    except AttributeError:
        return None
    if not callable(f) or inspect.isclass(f) or inspect.ismodule(f):
        return None
    return f


def patch(holder, name, new):
    """Set holder.name (a module or namespace attribute) to `new`, remembering what was
    there (nothing, when a namespace's __getattr__ made it)."""
    _STATE.patches.append((holder, name, holder.__dict__.get(name, _ABSENT), False))
    setattr(holder, name, new)


def patch_item(table, key, new):
    """table[key] = new (nd's table of NDArray methods), remembering the old entry."""
    _STATE.patches.append((table, key, table.get(key, _ABSENT), True))
    table[key] = new


def activate():
    _STATE.active = True


def uninstall():
    """Every patched attribute and table entry back as it was, newest first; wrappers still
    referenced somewhere (an op spec cached meanwhile) pass their calls straight through."""
    _STATE.active = False
    while _STATE.patches:
        holder, name, old, is_item = _STATE.patches.pop()
        if is_item:
            if old is _ABSENT:
                holder.pop(name, None)
            else:
                holder[name] = old
        elif old is _ABSENT:
            holder.__dict__.pop(name, None)
        else:
            setattr(holder, name, old)


# ------------------------------------------------------------------ amp.init's installation
def install(dtype, target_ops, fp32_ops, conditional_ops, widest_ops, loss_ops, scaler,
            refuse):
    """Wrap every operator of the lists that tracegrad has, in sym then nd (MXNet's order;
    per namespace the low-precision, float32, conditional and widest lists), then the loss
    outputs over those. `refuse(names)` sees the listed names found in neither namespace
    before anything is replaced (it raises to stop the installation)."""
    from .. import nd, recurrent, symbol
    from ..gluon import symbolic_shapes
    from .symbol_nodes import multicast_spec
    from ..symbol.symbol import Symbol
    multicast_spec()
    sym_cast, sym_multicast = symbol.amp_cast, symbol.amp_multicast

    def cast_symbol(entry, to):
        return sym_cast(Symbol([entry]), dtype=to.name)._outputs[0]

    def precision(is_sym, to, cond=None):
        if is_sym:
            return lambda f, depth: sym_precision(f, to, cond, cast_symbol)
        return lambda f, depth: nd_precision(f, to, cond, depth)

    def widened(f, depth):
        return widest(f, sym_multicast, depth)

    plan, found = [], set()
    for module, place_of in ((symbol, sym_place), (nd, nd_place)):
        is_sym = module is symbol
        jobs = [(n, precision(is_sym, dtype)) for n in target_ops]
        jobs += [(n, precision(is_sym, F32)) for n in fp32_ops]
        jobs += [(c[0], precision(is_sym, F32, c)) for c in conditional_ops]
        jobs += [(n, widened) for n in widest_ops]
        for name, make in jobs:
            place = place_of(module, name)
            f = lookup(place)
            if f is not None:
                found.add(name)
                plan.append((place, f, make))
    refuse([n for n in list(target_ops) + list(fp32_ops) + [c[0] for c in conditional_ops]
            if n not in found])
    for place, f, make in plan:
        _install_one(nd, place, f, make)
    for module in (nd, symbol):
        for name in loss_ops:
            f = lookup((module, name))
            if f is not None:
                _install_one(nd, (module, name), f, (
                    (lambda f, depth: nd_loss_scaling(f, scaler, depth)) if module is nd
                    else (lambda f, depth: sym_loss_warning(f))))
    rnn_dtype = dtype if "RNN" in target_ops else F32 if "RNN" in fp32_ops else None
    if rnn_dtype is not None:
        patch(recurrent, "run_layers", rnn_layers(recurrent.run_layers, rnn_dtype))
    patch(symbolic_shapes, "infer_shapes_symbolically",
          without_casts(symbolic_shapes.infer_shapes_symbolically))
    activate()


def _install_one(nd, place, f, make):
    """One wrapper in place of f; for an nd function that is also an NDArray method, the
    method too (x.name(...) calls the table's entry as a bound method: no frame between)."""
    holder, name = place
    wrapper = make(f, 1)
    patch(holder, name, wrapper)
    if holder is nd and nd._METHODS.get(name) is f:
        patch_item(nd._METHODS, name, wrapper)
