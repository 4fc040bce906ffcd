"""`mx.autograd`: recording scopes, backward / grad, and custom differentiable Functions.

Gradients come from one place: runtime.tape builds the adjoint of the recorded graph with
ir.vjp and interprets it. With create_graph=True the adjoint runs through the recording
dispatcher, so the gradients are themselves recorded and can be differentiated again.
"""

import numpy as np

from .array import HOOKS, NDArray, SideEffect, apply, wrap
from .base import ANY_TRACE, MXNetError
from .ir.function import Literal
from .ir.types import parse_type
from .runtime import tape
from .runtime.handles import OutCall, register, resolve
from .runtime.tape import STATE
from .sparse_rows import _MARKS as _ROW_MARKS, reset as _reset_row_marks

_GRAD_REQS = ("write", "add", "null")



class _CaptureHooks:
    """Step capture (tracing/capture.py, above this module) installs itself here, so that a
    pending captured step is run before a new record() scope or taken over by backward()."""
    state = type("_NoStep", (), {"step": None})()   # per-thread; .step is the pending step
    materialize = backward = None


CAPTURE = _CaptureHooks()

def _check_grad_req(grad_req):
    if grad_req not in _GRAD_REQS:
        raise ValueError(f"grad_req must be one of {_GRAD_REQS}, got {grad_req!r}")


def set_recording(is_recording: bool) -> bool:
    """Set the recording state; returns the previous one."""
    prev, STATE.recording = STATE.recording, bool(is_recording)
    return prev


def set_training(train_mode: bool) -> bool:
    """Set the training state (Dropout, BatchNorm); returns the previous one."""
    prev, STATE.training = STATE.training, bool(train_mode)
    return prev


def is_recording() -> bool:
    return STATE.recording


def is_training() -> bool:
    return STATE.training


class _scope:
    """Set recording/training (None keeps it) for a `with` block; restores on exit. A plain
    class rather than @contextmanager: every training step enters one, so it must be cheap."""
    __slots__ = ("recording", "training", "prev")
    new_graph = False       # (record()'s scopes begin a new graph: a trace's do not)

    def __init__(self, recording, training):
        self.recording, self.training = recording, training

    def __enter__(self):
        if self.recording:
            return record.__enter__(self)   # (its checks)
        state = STATE       # (each read of it is a thread-local one: read once each)
        self.prev = (state.recording, state.training)
        if self.recording is not None:
            state.recording = False
        if self.training is not None:
            state.training = self.training
        return self

    def __exit__(self, *exc):
        STATE.recording, STATE.training = self.prev
        return False


_RecordingStateScope = _scope     # (MXNet's name for it: (is_record, train_mode), None keeps)


class record(_scope):
    """Record the ops run in this scope for a later backward(), in training mode by default.

        with autograd.record():
            y = net(x)
        y.backward()

    (A class, not a function returning a _scope: every training step enters one.)"""
    __slots__ = ()
    new_graph = True

    def __init__(self, train_mode=True):
        self.recording, self.training = True, train_mode

    def __enter__(self):
        state = STATE
        recording = state.recording
        self.prev = (recording, state.training)
        if ANY_TRACE[0] and not HOOKS.call_recorded:
            # a jitted function recording its own graph in a call outside record(): the
            # compiled call would return untracked outputs (eager's are recorded)
            raise SideEffect("autograd.record() in a call made outside record()")
        if not recording:
            if CAPTURE.state.step is not None:
                CAPTURE.materialize("a new record() scope began while a step was pending")
            if _ROW_MARKS and self.new_graph and not HOOKS.tracing:
                # a new graph: the rows Embedding(sparse_grad=True) looks up (sparse_rows.py)
                _reset_row_marks()
        state.recording = True
        if self.training is not None:
            state.training = self.training
        return self


def pause(train_mode=False):
    """Stop recording inside a record() scope (e.g. for metrics), inference mode by default."""
    return _scope(False, train_mode)


def train_mode():
    """Training-mode behaviour (Dropout active) without changing recording."""
    return _scope(None, True)


def predict_mode():
    """Inference-mode behaviour without changing recording."""
    return _scope(None, False)


def mark_variables(variables, gradients, grad_reqs="write"):
    """Make arrays variables whose gradients are written into the given buffers."""
    if isinstance(variables, NDArray):
        variables, gradients = [variables], [gradients]
    if isinstance(grad_reqs, str):
        grad_reqs = [grad_reqs] * len(variables)
    for var, g, req in zip(variables, gradients, grad_reqs):
        _check_grad_req(req)
        var._var = tape.Variable(g._data, req)
        var._value = tape.leaf(var._data, var._var, var)


def _heads(heads, head_grads):
    if isinstance(heads, NDArray):
        heads = [heads]
    if head_grads is None:
        values = [h._value for h in heads]
        if None not in values:  # the common case: recorded heads, implicit ones
            return values, [None] * len(heads)
        head_grads = [None] * len(heads)
    elif isinstance(head_grads, NDArray):
        head_grads = [head_grads]
    if len(head_grads) != len(heads):
        raise MXNetError(f"backward: {len(heads)} heads but {len(head_grads)} head gradients")
    values, grads = [], []
    for h, g in zip(heads, head_grads):
        if h._value is None:
            raise MXNetError(
                "cannot differentiate with respect to an array that is not in a recorded graph: "
                "compute it inside `with autograd.record():` from arrays with attach_grad()")
        if g is not None:
            g = g._data if isinstance(g, NDArray) else np.asarray(g)
            if g.shape != h.shape:
                raise MXNetError(f"backward: head gradient shape {g.shape} does not match head "
                                 f"shape {h.shape}")
            g = g.astype(h._data.dtype, copy=False)
        values.append(h._value)
        grads.append(g)
    return values, grads


def _run(heads, head_grads, wrt, retain_graph, create_graph, train_mode):
    values, grads = _heads(heads, head_grads)
    kwargs = {}
    if create_graph:
        kwargs = dict(apply=_recording_apply, wrap=_as_operand)
    with _scope(True if create_graph else False, train_mode):
        try:
            return tape.run_backward(values, grads, wrt, retain_graph, **kwargs)
        except tape.GraphFreedError as e:
            raise MXNetError(str(e)) from None


def _recording_apply(opdef, args, attrs):
    return apply(opdef, args, attrs)


def _as_operand(v):
    if isinstance(v, np.ndarray):
        return wrap(v)
    res = wrap(v.data)
    res._value = v
    return res


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):
    """Accumulate gradients of heads into the variables' .grad buffers (per grad_req)."""
    if HOOKS.compiling:     # (inside a jit trace: compiled code would not write .grad again)
        raise SideEffect("backward()")
    step = CAPTURE.state.step
    if step is not None and CAPTURE.backward(step, heads, head_grads, retain_graph, train_mode):
        return
    if isinstance(heads, NDArray):
        heads = [heads]
    if head_grads is None and len(heads) == 1 and isinstance(heads[0], NDArray):
        # an op may hand over gradients it already computed (compiled.CompiledCall's fused
        # step); found on the op, so autograd imports nothing above it. It runs no op, so
        # the recording / training state need not change around it.
        v = heads[0]._value
        op = v.producer if v is not None else None
        direct = getattr(op.opdef, "direct_backward", None) if op is not None else None
        if direct is not None:
            try:
                if direct(v, retain_graph):
                    return
            except tape.GraphFreedError as e:
                raise MXNetError(str(e)) from None
    values, grads = _heads(heads, head_grads)
    state = STATE
    prev = state.recording, state.training
    state.recording, state.training = False, train_mode
    try:
        leaves, grads = tape.run_backward(values, grads, None, retain_graph)
    except tape.GraphFreedError as e:
        raise MXNetError(str(e)) from None
    finally:
        state.recording, state.training = prev
    for i, leaf in enumerate(leaves):
        g, grads[i] = grads[i], None  # hand over the only reference (see Variable.receive)
        leaf.var.receive(g)


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False,
         train_mode=True):
    """Gradients of heads w.r.t. variables, returned (not written to .grad).

    With create_graph=True the results are recorded, so they can be differentiated again
    (d²/dx² of x³ is 6x).
    """
    single = isinstance(variables, NDArray)
    variables = [variables] if single else list(variables)
    for v in variables:
        if v._value is None or v._value.producer is not None:
            raise MXNetError("autograd.grad: every variable must be marked with attach_grad() "
                             "before recording")
    if retain_graph is None:
        retain_graph = create_graph
    leaves, grads = _run(heads, head_grads, [v._value for v in variables], retain_graph,
                         create_graph, train_mode)
    out = []
    for v, g in zip(variables, grads):
        if g is None:
            g = wrap(np.zeros_like(v._data))
        elif not isinstance(g, NDArray):
            g = wrap(np.asarray(g, v._data.dtype))
        if create_graph and g._value is None:
            # a gradient that depends on no variable (a linear op's: a constant) is still in
            # the graph, as MXNet records every op of a recorded backward: differentiated
            # again, it gives zeros
            g._value = tape.leaf(g._data, None, g)
        out.append(g)
    return out


def get_symbol(x):
    """The recorded computation graph of x as a Symbol (symbol/from_tape.py)."""
    from .symbol.from_tape import tape_symbol
    return tape_symbol(x)


# ------------------------------------------------------------------ custom Functions
# a Function instance lives as long as the recorded graph that calls it (TapeValue.keep);
# ops name it by a handle (runtime/handles.py)


class CustomFunction(OutCall):
    """A user's autograd.Function call on the tape: runs its Python forward; vjp -> backward."""
    name = "custom"
    attr_names = frozenset({"fn", "out_types"})
    handle_attr = "fn"
    keeps_state = True   # backward reads what forward saved (tracing/loops.keeps_python_state)

    def infer(*types, fn, out_types):
        return tuple(parse_type(t) for t in out_types)

    def impl(*xs, fn, out_types):
        outs = resolve(fn, "custom")._forward_raw(xs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def vjp(b, g, out, *xs, fn, out_types):
        gs = g if isinstance(g, tuple) else (g,)
        in_types = tuple(str(x.type) for x in xs)
        filled = [c if c is not None else b.constant(value=0.0, shape=parse_type(t).shape,
                                                     dtype=parse_type(t).dtype)
                  for c, t in zip(gs, out_types)]
        # the forward's inputs are operands too (unused by impl): backward reads them through
        # saved tensors, so a higher derivative depends on them and must reach CustomGrad.vjp
        inputs = [x for x in xs if not isinstance(x, Literal)]
        res = b.custom_grad(*filled, *inputs, fn=fn, in_types=in_types)
        res = res if isinstance(res, tuple) else (res,)
        return tuple(r if not isinstance(x, Literal) else None for r, x in zip(res, xs))


class CustomGrad(OutCall):
    """The backward of a custom Function call: operands are the output cotangents, then the
    forward's inputs. Its Python code has no derivative, so differentiating it again (a second
    derivative through the Function) is an error, never a silent zero."""
    name = "custom_grad"
    attr_names = frozenset({"fn", "in_types"})
    handle_attr = "fn"

    def infer(*types, fn, in_types):
        return tuple(parse_type(t) for t in in_types)

    def impl(*operands, fn, in_types):
        function = resolve(fn, "custom_grad")
        grads = function._backward_raw(operands[:function._n_outputs])
        return grads[0] if len(grads) == 1 else tuple(grads)

    def vjp(b, g, out, *operands, fn, in_types):
        name = type(resolve(fn, "custom_grad")).__name__
        raise MXNetError(f"{name}.backward is Python code with no derivative: higher-order "
                         f"gradients through a custom autograd.Function are not supported "
                         f"(write it as a function of nd ops to differentiate it again)")


class Function:
    """A custom differentiable op: subclass with forward(*inputs) and backward(*output_grads).

    forward runs un-recorded on NDArrays; backward returns one gradient per input. Use
    save_for_backward(*arrays) in forward and self.saved_tensors in backward.
    """

    def __init__(self):
        self._saved = ()

    def save_for_backward(self, *args):
        self._saved = args

    @property
    def saved_tensors(self):
        return self._saved

    _n_outputs = 1

    def _forward_raw(self, xs):
        with pause():
            outs = self.forward(*[wrap(x) for x in xs])
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        self._n_outputs = len(outs)
        return [o._data for o in outs]

    def _backward_raw(self, gs):
        with pause():
            grads = self.backward(*[wrap(np.asarray(g)) for g in gs])
        grads = grads if isinstance(grads, (tuple, list)) else (grads,)
        return [np.asarray(g._data if isinstance(g, NDArray) else g) for g in grads]

    def __call__(self, *inputs):
        outs = self._forward_raw([x._data for x in inputs])
        tracked = STATE.recording and any(x._value is not None for x in inputs)
        if not tracked:
            res = [wrap(o) for o in outs]
        else:
            key = self.__dict__.get("_handle")
            if key is None:
                key = self.__dict__["_handle"] = register(self)
            attrs = {"fn": key, "out_types": tuple(f"{_tname(o)}" for o in outs)}
            operands = [x._value if tape.live(x._value) else x._constant_value()
                        for x in inputs]
            res = [wrap(o) for o in outs]
            values = tape.record_multi(CustomFunction, operands, attrs, outs, keep=self)
            for r, v in zip(res, values):
                r._value = v
        return res[0] if len(res) == 1 else tuple(res)


def _tname(a):
    from .ir.types import type_of
    return str(type_of(a))
