"""Compiled variants of a traced function, and the two tape ops that glue them to autograd.

An InferenceEntry is one native call. A TrainingEntry compiles the forward extended with the
residuals its adjoint reads, and the adjoint; a call records ONE `compiled_call` op on the eager
tape, whose vjp rule emits ONE `compiled_adjoint` op, so backward() is one native call for the
whole graph and grad_req / head gradients are handled by the tape as usual. Higher-order
gradients through compiled code differentiate the adjoint IR inline instead.
"""
import weakref

import numpy as np

from .. import log
from ..array import wrap
from ..ir.autodiff import copy_ops, vjp
from ..ir.function import Builder, Function, Literal, Value
from ..ir.int_grads import IntegerGradientError
from ..ir.ops import INT_GRAD
from ..ir.passes import run_pipeline
from ..ir.types import FLOATS, parse_type
from ..random import next_key
from ..runtime import tape
from ..runtime.handles import OutCall, register, resolve
from ..runtime.segments import compile_callable, compile_callable_soon, not_native_reason
from ..stats import bump

PIPELINE = "fold,simplify,cse,dce"
# step capture (capture.py) offers to defer a training call: (entry, args, params, draw) ->
# outputs, or None to run it now
DEFER_CALL = None
# whether step capture learns repeated steps (capture.ENABLED, set by capture.py): a backward
# straight from a compiled call on the same variables as the last one then leaves the call's
# fused step (Prediction) alone, so that capture sees the step and makes it, trainer.step's
# update included, one native call
CAPTURE_LEARNS = False


def _compile(fn, fastmath=()):
    """Native code for `fn` (ir.Function): a callable `f(*arrays) -> list of arrays`.
    `fastmath`: the LLVM fast-math flags jit()/hybridize() asked for (codegen/fastmath.py).

    Ops with no native lowering (a custom Function's Python code) split the graph: the rest
    stays native and each such op runs in Python, counted as an eager fallback.
    """
    return compile_callable(fn, on_python_op=lambda op: _python_op(fn, op), fastmath=fastmath)


def _python_op(fn, op):
    """A Python op in compiled code: an eager fallback, unless the op drives native code
    itself (a while_loop runs its compiled body)."""
    if op is None or not getattr(op.opdef, "runs_native", False):
        bump("eager_fallbacks")
        if log.enabled("fallbacks"):
            log.fallback(fn.name, f"op {op.opdef.name if op is not None else '?'} runs in "
                                  f"Python: {_why_python(op)}")


def _why_python(op):
    if op is None:
        return "the function is interpreted"
    return not_native_reason(op) or "no native code"


class ArgSlot:
    """A state-update target that is the call's flat argument `index` (jit._trace)."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class Feed:
    """Where each parameter of a traced Function gets its data at call time. HELD: an array
    the code reached from its scope (a closure, a global, a block attribute), fed from that
    array (a Held); CONST and VAR: a buffer or a variable's tape leaf no array stands for."""
    ARG, PARAM, KEY, CONST, VAR, HELD = range(6)


class Held:
    """An array the traced code read from its scope, read again at every call: its buffer then,
    and its tape value then (a variable attached again, a constant since made a variable, a
    buffer a recorded write replaced). Its type and whether it needs a gradient are part of the
    jit signature (JitFunction.held), so a call reaching this feed has the traced type.

    A weak reference: compiled code does not keep the array alive. One that dies right after
    its trace was fn's own temporary (`temporary`: its buffer, `data`, is fed); one that dies
    later was rebound where it was held (JitFunction._moved drops the code before it is fed,
    and capture's binder declines it)."""
    __slots__ = ("ref", "data", "temporary")

    def __init__(self, array):
        self.ref = weakref.ref(array)   # (one weak reference per array: a stable key)
        self.data = array._data
        self.temporary = False

    @property
    def array(self):
        return self.ref()

    def _alive(self):
        a = self.ref()
        if a is None and not self.temporary:   # (JitFunction._moved runs before any feed)
            raise RuntimeError("tracegrad: compiled code would read an array rebound since "
                               "its trace")
        return a

    def buffer(self):
        a = self._alive()
        return self.data if a is None else a._data

    def operand(self):
        a = self._alive()
        if a is None:
            return tape.leaf(self.data)
        v = a._value
        return v if v is not None and v.data is not None else a._constant_value()


def held_state(a, recording):
    """What a held array contributes to a jit signature: its dtype and shape, and whether a
    gradient reaches it (the rule arguments follow)."""
    d = a._data
    need = False
    if recording:
        v = a._value
        need = v is not None and v.data is not None and (v.producer is not None or (
            v.var is not None and v.var.grad_req != "null"))
    return d.dtype, d.shape, need


class Entry:
    """One compiled variant: a traced Function plus how to feed it and its native code."""

    def __init__(self, tr, feeds, params, keys, fastmath=()):
        self.fastmath = fastmath
        self.traced, self.feeds, self.single = tr.function, feeds, tr.single
        self.n_out = len(tr.outputs)
        self.stages = {"traced": tr.function}
        # the trace drew these keys; the first run reuses them, so it draws what eager would
        self.pending_keys = list(keys)
        ids = {id(p): i for i, p in enumerate(params)}
        # (an array viewing a parameter's buffer is that parameter: set_np hands hybrid_forward
        # mx.np views of the parameters, and the update goes to the parameter's buffer of the
        # call, as eager writes it)
        buffers = {id(p._data): i for i, p in enumerate(params)}
        self.updates = [(Feed.ARG, t.index) if type(t) is ArgSlot else
                        (Feed.PARAM, ids[id(t)]) if id(t) in ids else
                        (Feed.PARAM, buffers[id(t._data)]) if id(t._data) in buffers else
                        (Feed.CONST, t) for t in tr.updates]
        # the common feeds (arguments and parameters only) take a short path (a flag, not a
        # bound method kept on the instance: that would be a reference cycle, and the native
        # code and its scratch arena would wait for the collector once the net is dropped)
        self.arg_only = all(kind == Feed.ARG for kind, _ in feeds)
        self.arg_refs = tuple(ref for _, ref in feeds) if self.arg_only else None
        self.plain = self.arg_only or all(kind in (Feed.ARG, Feed.PARAM) for kind, _ in feeds)

    def operands(self, args, params, arrays):
        """The tape values standing for the traced function's parameters in this call."""
        if self.plain:
            out = []
            for kind, ref in self.feeds:
                array = args[ref] if kind == Feed.ARG else params[ref]
                v = array._value
                out.append(v if v is not None and v.data is not None else
                           array._constant_value())
            return out
        return [self.operand(i, args, params, a) for i, a in enumerate(arrays)]

    def arrays(self, args, params, draw=None):
        if self.plain:
            if self.arg_only:
                return [args[i]._data for i in self.arg_refs]
            return [(args[ref] if kind == Feed.ARG else params[ref])._data
                    for kind, ref in self.feeds]
        out = []
        for kind, ref in self.feeds:
            if kind == Feed.ARG:
                out.append(args[ref]._data)
            elif kind == Feed.PARAM:
                out.append(params[ref]._data)
            elif kind == Feed.KEY:  # draw: the call's keys by trace order (guards.KeyDraw)
                out.append(draw(ref) if draw is not None else self.pending_keys.pop(0)
                           if self.pending_keys else next_key()._data)
            elif kind == Feed.CONST:
                out.append(ref)
            elif kind == Feed.HELD:
                out.append(ref.buffer())
            else:
                out.append(ref.data)
        return out

    def operand(self, i, args, params, data):
        """The tape value standing for parameter i of the traced function in this call."""
        kind, ref = self.feeds[i]
        if kind == Feed.ARG or kind == Feed.PARAM:
            array = args[ref] if kind == Feed.ARG else params[ref]
            v = array._value
            return v if v is not None and v.data is not None else array._constant_value()
        if kind == Feed.HELD:
            return ref.operand()
        return ref if kind == Feed.VAR else tape.leaf(data)

    def write_updates(self, outs, args, params):
        """Write the state updates (outputs after the user's) into their arrays in place: this
        call's argument or parameter, or the array the code reached from its scope."""
        for k, (kind, ref) in enumerate(self.updates):
            target = params[ref] if kind == Feed.PARAM else args[ref] if kind == Feed.ARG \
                else ref
            np.copyto(target._data, outs[self.n_out + k], casting="unsafe")

    def finish(self, outs):
        res = [wrap(o) for o in outs[:self.n_out]]
        return res[0] if self.single else res


class InferenceEntry(Entry):
    def __init__(self, tr, feeds, params, keys, fastmath=()):
        super().__init__(tr, feeds, params, keys, fastmath)
        self.optimized = run_pipeline(tr.function, PIPELINE)
        self.stages["optimized"] = self.optimized
        self.native = _compile(self.optimized, self.fastmath)

    def __call__(self, args, params, draw=None):
        outs = self.native(*self.arrays(args, params, draw))
        if self.updates:
            self.write_updates(outs, args, params)
        return self.finish(outs)

    def fused_mode(self):
        return False

    def segment_fn(self, fused):
        """The Function a call runs natively, for a chain (guards.Chain)."""
        return self.optimized

    def finish_chain(self, args, params, outs, fused):
        """A chain ran segment_fn natively: the call's results."""
        if self.updates:
            self.write_updates(outs, args, params)
        return self.finish(outs)


class TrainingEntry(Entry):
    """Forward emitting residuals + adjoint, both native, glued to the tape by two ops."""

    def __init__(self, tr, feeds, params, keys, wrt, fastmath=()):
        super().__init__(tr, feeds, params, keys, fastmath)
        fn = tr.function
        self.wrt = wrt
        self.wrt_mask = tuple(i in wrt for i in range(len(fn.params)))
        residuals = []
        differentiable = Function(fn.name, fn.params, fn.ops, fn.outputs[:self.n_out])
        self.refusing = {}
        try:
            adjoint = vjp(differentiable, wrt, residuals=residuals)
        except IntegerGradientError:    # (an integer output eager would refuse: left out)
            differentiable, self.refusing = _without_refused_outputs(differentiable, wrt)
            residuals = []
            adjoint = vjp(differentiable, wrt, residuals=residuals)
        adjoint = run_pipeline(adjoint, PIPELINE)
        index = {p: i for i, p in enumerate(fn.params)}
        # residuals that are parameters are fed from the operands; the rest become outputs
        # after the user's outputs and the state updates
        extra = [r for r in residuals if r not in index]
        position = {r: len(fn.outputs) + k for k, r in enumerate(extra)}
        self.res_src = [("param", index[r]) if r in index else ("out", position[r])
                        for r in residuals]
        train_fn = Function(fn.name + "_train", fn.params, fn.ops, list(fn.outputs) + extra)
        self.forward_fn = run_pipeline(train_fn, PIPELINE)
        self.adjoint = adjoint
        self.stages.update(optimized=self.forward_fn, adjoint=adjoint)
        compile_callable_soon(adjoint, self.fastmath)   # (on another core, meanwhile)
        self.native = _compile(self.forward_fn, self.fastmath)
        self.native_adjoint = _compile(adjoint, self.fastmath)
        # the handle tape ops name this entry by (runtime/handles.py): released with it
        self.id = register(self)
        self.result_types = [v.type for v in self.forward_fn.outputs]
        self.out_types = tuple(str(t) for t in self.result_types)
        self.grad_types = tuple(str(fn.params[i].type) for i in wrt)
        self.call_attrs = tape.canonical(CompiledCall, {"entry": self.id,
                                                        "out_types": self.out_types})
        # a fused step returns the user's outputs and state updates but no residuals: its
        # record lists fewer results, and its vjp recomputes the residuals (CompiledCall.vjp)
        self.n_visible = len(fn.outputs)
        self.step_attrs = tape.canonical(CompiledCall, {
            "entry": self.id, "out_types": self.out_types[:self.n_visible]})
        self.visible_types = self.result_types[:self.n_visible]
        # the fused step (see Prediction): built once backward has come straight from this
        # call's single output twice in a row; not used again after a miss until the next
        # two such backward passes
        self.direct, self.fused, self.pending = 0, None, None
        self.fused_fn = None
        self.capture_declined = False   # capture will not learn a step of this call alone
        self.capture_last = None        # the leaves the last direct backward differentiated

    def __call__(self, args, params, draw=None):
        if DEFER_CALL is not None:
            deferred = DEFER_CALL(self, args, params, draw)
            if deferred is not None:
                return deferred
        return self.run(args, params, self.arrays(args, params, draw))

    def run(self, args, params, arrays):
        """The call on its input arrays (random keys already drawn into them)."""
        prediction = self._predict()
        if prediction is None:
            outs = self.native(*arrays)
            attrs, types = self.call_attrs, self.result_types
        else:
            outs = self.fused(*arrays)
            prediction.grads = outs[self.n_visible:]
            outs = outs[:self.n_visible]
            attrs, types = self.step_attrs, self.visible_types
        return self._record(args, params, arrays, outs, prediction, attrs, types)

    def fused_mode(self):
        """Whether the next call computes its gradients too (what _predict will decide)."""
        pending = self.pending
        if pending is not None and pending.grads is not None:
            return False
        return self.direct >= 2 and self.n_out == 1

    def segment_fn(self, fused):
        """The Function the next call runs natively (fused step or forward), for a chain."""
        if not fused:
            return self.forward_fn
        if self.fused_fn is None:
            self.fused_fn = fused_step(self)
        return self.fused_fn

    def finish_chain(self, args, params, outs, fused):
        """A chain (guards.Chain) ran this entry's segment_fn(fused) natively: record it."""
        prediction = self._predict()
        if (prediction is not None) != fused:  # will_fuse said otherwise: run it again
            return self.run(args, params, self.arrays(args, params))
        if prediction is not None:
            prediction.grads = outs[self.n_visible:]
            outs = outs[:self.n_visible]
            return self._record(args, params, None, outs, prediction, self.step_attrs,
                                self.visible_types)
        return self._record(args, params, None, outs, None, self.call_attrs, self.result_types)

    def _record(self, args, params, arrays, outs, prediction, attrs, types):
        if self.updates:
            self.write_updates(outs, args, params)
        values = tape.record_multi(CompiledCall, self.operands(args, params, arrays),
                                   attrs, outs, True, keep=prediction or self, types=types)
        if self.n_out == 1:
            r = wrap(outs[0])
            r._value = values[0]
            return r if self.single else [r]
        res = [wrap(o) for o in outs[:self.n_out]]
        for r, v in zip(res, values):
            r._value = v
        return res[0] if self.single else res

    def _predict(self):
        """A Prediction when this call should also compute its gradients (fused step)."""
        pending, self.pending = self.pending, None
        if pending is not None and pending.grads is not None:  # the last one was not used
            self.direct = 0  # (the compiled step is kept: recompiling it costs a plan)
        if self.direct < 2 or self.n_out != 1:
            return None
        if self.fused is None:
            self.fused = _compile(self.segment_fn(True), self.fastmath)
        self.pending = Prediction(self)
        return self.pending

    def saw_backward(self, direct):
        """backward() started at this call's output (direct) or went through it otherwise."""
        self.direct = self.direct + 1 if direct else 0


class Prediction:
    """Gradients a fused step computed ahead of backward(): the forward and the adjoint (for a
    head gradient of ones) in one native call. backward() straight from the call's output takes
    them (direct_backward). The step writes no residuals (only the outputs and the gradients
    leave it), so any other backward first runs the forward again on the call's operands (its
    inputs, alive on the tape) and then the ordinary adjoint: the rare miss pays one forward,
    the common hit moves no residual bytes. Kept as the tape value's `keep`, so the entry
    stays alive too."""
    __slots__ = ("entry", "grads")

    def __init__(self, entry):
        self.entry, self.grads = entry, None


def fused_step(e):
    """The user's outputs and state updates, then the adjoint's gradients for a cotangent of
    ones, as one Function (so fusion and LLVM see forward and backward together). Residuals
    are values inside it, not outputs: the step reads its inputs once and writes only those."""
    b = Builder(name=e.forward_fn.name + "_step")
    env = {p: b.param(p.type, p.name_hint) for p in e.forward_fn.params}
    copy_ops(b, e.forward_fn.ops, env)
    outs = [o if isinstance(o, Literal) else env[o] for o in e.forward_fn.outputs]
    saved = [env[e.forward_fn.params[i]] if kind == "param" else outs[i]
             for kind, i in e.res_src]
    ones = [b.constant(value=1.0, shape=o.type.shape, dtype=o.type.dtype)
            for o in e.forward_fn.outputs[:e.n_out]]
    adj = dict(zip(e.adjoint.params, saved + ones))
    copy_ops(b, e.adjoint.ops, adj)
    grads = [o if isinstance(o, Literal) else adj[o] for o in e.adjoint.outputs]
    return run_pipeline(b.ret(*outs[:e.n_visible], *grads), PIPELINE)


def direct_backward(head, retain_graph):
    """backward() of one recorded head with the implicit head gradient: when the head is the
    single output of a compiled call whose operands are all graph inputs, deliver the gradients
    its fused step already computed. Returns False when the ordinary path must run."""
    op = head.producer
    if op is None or op.opdef is not CompiledCall or head.index != 0:
        return False
    if head.data is None:
        raise tape.GraphFreedError(tape._FREED)
    prediction = head.keep
    # the prediction names its entry; the handle look-up is for calls without one
    e = prediction.entry if type(prediction) is Prediction else resolve(op.attrs["entry"],
                                                                          "compiled_call")
    operands = op.operands
    for o in operands:
        if o.producer is not None:  # more graph behind the call
            e.saw_backward(False)
            return False
    if CAPTURE_LEARNS and not retain_graph and not e.capture_declined and \
            _same_variables_again(e, operands):
        return False    # (the ordinary path, where step capture learns the step)
    if type(prediction) is not Prediction or prediction.grads is None:
        e.saw_backward(True)
        return False
    # grad_req may have changed since the call; one array passed twice needs the ordinary sum
    if len(operands) == 1:
        if (tape.wants_grad(operands[0]),) != e.wrt_mask:
            return False
    elif (tuple([tape.wants_grad(o) for o in operands]) != e.wrt_mask
          or len(set(operands)) != len(operands)):
        return False
    grads, prediction.grads = prediction.grads, None
    e.direct += 1  # saw_backward(True)
    for k, i in enumerate(e.wrt):
        g, grads[k] = grads[k], None  # hand over the only reference (Variable.receive)
        operands[i].var.receive(g)
    if not retain_graph:
        for r in op.results:  # tape.free([op])
            r.data = None
        op.results = ()
    return True


def _same_variables_again(e, operands):
    """Whether this backward from e's call differentiates the very leaves the last one did (a
    training loop on its parameters: a step capture can learn). One on new leaves each time
    (x.attach_grad() per step) never repeats for capture: the fused step stays its path."""
    wrt = [operands[i] for i in e.wrt]
    last = e.capture_last
    if last is not None and len(last) == len(wrt) and all(r() is o for r, o in zip(last, wrt)):
        return True
    e.capture_last = [weakref.ref(o) for o in wrt]
    return False


def _without_refused_outputs(fn, wrt):
    """(fn, {output: error}): an integer output whose gradient eager would refuse (it comes
    from the inputs through an op with no integer rule, int_grads.py) is left out of the
    adjoint (a zero stands for it there); CompiledCall.vjp raises the error if a gradient
    ever reaches it, as eager raises when its backward does. Every other integer output
    passes its gradient in its dtype, as eager's do (MXNet's _backward_cast...). Asked
    only when the adjoint of every output was refused."""
    refusing = {}
    for k, v in enumerate(fn.outputs):
        if isinstance(v, Value) and v.type.dtype not in FLOATS:
            try:
                vjp(Function(fn.name, fn.params, fn.ops, [v]), wrt)
            except IntegerGradientError as e:
                refusing[k] = str(e)
    b = Builder(Function(fn.name, fn.params, list(fn.ops), []))
    outputs = [b.constant(value=0, shape=v.type.shape, dtype=v.type.dtype) if k in refusing
               else v for k, v in enumerate(fn.outputs)]
    return Function(fn.name, fn.params, b.fn.ops, outputs), refusing


class CompiledCall(OutCall):
    """A compiled training forward on the tape: results are outputs, state updates, then
    residuals; a fused step's record (out_types shorter than the entry's) has no residuals.
    Its integer outputs carry gradients as eager's values do (INT_GRAD; the compiled adjoint
    runs the inner ops' integer rules, or raises for an output eager would refuse)."""
    name = "compiled_call"
    attr_names = frozenset({"entry", "out_types"})
    handle_attr = "entry"
    traits = frozenset({INT_GRAD})

    def infer(*types, entry, out_types):
        return tuple(parse_type(t) for t in out_types)

    def impl(*xs, entry, out_types):
        return tuple(resolve(entry, "compiled_call").native(*xs)[:len(out_types)])

    def vjp(b, g, out, *xs, entry, out_types):
        e = resolve(entry, "compiled_call")
        g, out = (g, out) if isinstance(g, tuple) else ((g,), (out,))
        for k, why in e.refusing.items():
            if g[k] is not None:
                raise IntegerGradientError(why)
        if any(c is not None for c in g[e.n_out:]):  # residuals differentiated: higher order
            return _inline_vjp(b, e.forward_fn, e.wrt, g, xs)
        if len(out_types) < len(e.out_types):  # a fused step's record: recompute residuals
            out = b.compiled_call(*xs, entry=entry, out_types=e.out_types)
            out = out if isinstance(out, tuple) else (out,)
        saved = [xs[i] if kind == "param" else out[i] for kind, i in e.res_src]
        cots = [c if c is not None else _zeros(b, o.type) for c, o in zip(g[:e.n_out], out)]
        grads = b.compiled_adjoint(*saved, *cots, entry=entry, grad_types=e.grad_types)
        grads = grads if isinstance(grads, tuple) else (grads,)
        result = [None] * len(xs)
        for i, gr in zip(e.wrt, grads):
            result[i] = gr
        return tuple(result)


CompiledCall.direct_backward = staticmethod(direct_backward)  # autograd.backward asks the op


class CompiledAdjoint(OutCall):
    """The compiled adjoint of a compiled_call: one native call computes every gradient."""
    name = "compiled_adjoint"
    attr_names = frozenset({"entry", "grad_types"})
    handle_attr = "entry"
    traits = frozenset({INT_GRAD})      # (an integer variable's gradient: its adjoint's rules)

    def infer(*types, entry, grad_types):
        ts = tuple(parse_type(t) for t in grad_types)
        return ts if len(ts) != 1 else ts[0]

    def impl(*xs, entry, grad_types):
        outs = resolve(entry, "compiled_adjoint").native_adjoint(*xs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def vjp(b, g, out, *xs, entry, grad_types):
        adj = resolve(entry, "compiled_adjoint").adjoint
        gs = g if isinstance(g, tuple) else (g,)
        return _inline_vjp(b, adj, list(range(len(adj.params))), gs, xs)


def _zeros(b, t):
    return b.constant(value=0.0, shape=t.shape, dtype=t.dtype)


def _inline_vjp(b, fn, wrt, gs, xs):
    """Emit vjp(fn) inline into b (recomputing fn's forward from xs): the differentiable path
    for higher-order gradients through compiled code."""
    adj = vjp(fn, wrt, recompute=True)
    cots = [c if c is not None else _zeros(b, o.type) for c, o in zip(gs, fn.outputs)]
    env = dict(zip(adj.params, list(xs) + cots))
    copy_ops(b, adj.ops, env)
    result = [None] * len(xs)
    for i, o in zip(wrt, adj.outputs):
        result[i] = env.get(o, o)
    return tuple(result)


class EagerEntry:
    """A signature whose trace met data-dependent control flow: it runs eagerly."""

    def __init__(self, fn):
        self.fn, self.stages = fn, {}

    def __call__(self, args, params):
        bump("eager_fallbacks")
        return self.fn(*args)
