"""`nd.contrib` control flow with MXNet 1.x's names and semantics: `cond`, `while_loop`,
`foreach` (also `F.contrib.*` inside hybrid_forward, where F is nd).

They run the user's functions on NDArrays, so they record for autograd like any Python code,
and gradients flow through whichever branch / iterations ran. Under jit or hybridize the
branch taken by `cond` and each `while_loop` test are guards (see guards.py): every trip
count or branch seen is compiled natively, and `foreach` over a fixed length unrolls into
the traced graph, so a time loop compiles without a break.

MXNet leaves the padding rows of `while_loop`'s stacked outputs undefined; here they are
zeros, so compiled and eager code agree.

Under jit / hybridize a `while_loop` whose condition and body are plain array code becomes
one `while_loop` op (loops.py): one compiled variant for every trip count, gradients by
reverse replay. As in MXNet's hybridized (symbolic) form, its step outputs then exist even
when no step runs (all zeros). A body that reads concrete values, draws random numbers or
updates state runs as Python instead, with a guard per test.
"""
import sys as _sys

import numpy as np

from . import nd as _nd
from . import nested
from .array import HOOKS, NDArray, wrap
from .ir.autodiff import copy_ops
from .ir.function import Builder
from .tracing.branches import Cond, CondBody
from .tracing.loops import LoopBody, WhileLoop, keeps_python_state
from .runtime import tape

__all__ = ["cond", "while_loop", "foreach"]

from .contrib_ops import *  # noqa: E402,F401,F403  (boolean_mask, index_copy, ...)
from .contrib_ops import __all__ as _OPS  # noqa: E402
from .contrib_more import *  # noqa: E402,F401,F403  (transformer kernels, box_iou, ...)
from .contrib_more import __all__ as _MORE  # noqa: E402
from .contrib_deformable import *  # noqa: E402,F401,F403  (DeformableConvolution, ...)
from .contrib_deformable import __all__ as _DEFORMABLE  # noqa: E402
__all__ += _OPS + _MORE + _DEFORMABLE
from .contrib_adamw import *  # noqa: E402,F401,F403  (adamw_update, multi_adamw_update, ...)
from .contrib_adamw import __all__ as _ADAMW  # noqa: E402
__all__ += _ADAMW
from .nd_ctc import CTCLoss, ctc_loss  # noqa: E402,F401  (MXNet's _contrib_ aliases)
__all__ += ["CTCLoss", "ctc_loss"]
from .contrib_hawkes import hawkesll  # noqa: E402,F401
__all__ += ["hawkesll"]
from .contrib_quantize import dequantize, quantize  # noqa: E402,F401
__all__ += ["quantize", "dequantize"]
from .nd_psroi import PSROIPooling  # noqa: E402,F401
__all__ += ["PSROIPooling"]
from .nd_rroi import RROIAlign  # noqa: E402,F401
__all__ += ["RROIAlign"]
from .contrib_dgl import *  # noqa: E402,F401,F403  (edge_id, dgl_subgraph, samplers, ...)

# under jit, a foreach this long or shorter unrolls into the graph (fastest to run); a longer
# one is one loop op whose body compiles once (compile time independent of the length)
FOREACH_UNROLL = 8


def _flatten(obj, what):
    """Nested lists/tuples of NDArrays -> (flat list, format to regroup by); None: none."""
    if obj is None:
        return [], None
    return nested.flatten(obj, what, NDArray, "NDArray")


_regroup = nested.regroup


def _truth(x, what):
    if isinstance(x, NDArray):
        if x.size != 1:
            raise ValueError(f"{what} must be a scalar NDArray (one element), got shape "
                             f"{x.shape}")
        return bool(x.asscalar())
    return bool(x)


def cond(pred, then_func, else_func, name="cond"):
    """`then_func()` if the one-element `pred` is true, else `else_func()` (MXNet's
    contrib.cond): both take no arguments and return NDArrays or nested lists of them.

    Under jit / hybridize both branches are traced into one `cond` op (tracing/branches.py):
    their outputs must then have the same structure, shapes and dtypes."""
    if HOOKS.compiling and isinstance(pred, NDArray):
        if pred.size != 1:
            raise ValueError(f"cond: pred must be a scalar NDArray (one element), got shape "
                             f"{pred.shape}")
        res = _cond_op(pred, then_func, else_func)
        if res is not None:
            return res
    return then_func() if _truth(pred, "cond: pred") else else_func()


def while_loop(cond, func, loop_vars, max_iterations=None, name="while_loop"):
    """Run `func(*loop_vars) -> (step_output, new_loop_vars)` while `cond(*loop_vars)` holds,
    at most `max_iterations` times (MXNet's contrib.while_loop).

    Returns (outputs, states): each step output stacked along a new axis 0 of length
    max_iterations (rows after the last step are zeros), and the final loop variables (an
    NDArray when `loop_vars` was one). No step run: outputs is [].
    """
    if max_iterations is None:
        raise ValueError("while_loop: max_iterations should be specified")
    if isinstance(max_iterations, NDArray):
        max_iterations = max_iterations.asscalar()
    max_iterations = int(max_iterations)
    single = isinstance(loop_vars, NDArray)
    loop_vars = [loop_vars] if single else list(loop_vars)
    if not loop_vars:
        raise ValueError("while_loop: loop_vars should contain at least one element")
    if HOOKS.compiling and all(isinstance(v, NDArray) for v in loop_vars):  # (not nested)
        res = _while_loop_op(cond, func, loop_vars, max_iterations)
        if res is not None:
            return res[0], (res[1][0] if single else res[1])
    steps, outputs, fmt = 0, [], None
    while steps < max_iterations and _truth(cond(*loop_vars), "while_loop: cond's result"):
        step_output, new_vars = func(*loop_vars)
        new_vars = [] if new_vars is None else (
            [new_vars] if isinstance(new_vars, NDArray) else list(new_vars))
        if len(new_vars) != len(loop_vars):
            raise ValueError(f"while_loop: func returned {len(new_vars)} loop variables, "
                             f"expected {len(loop_vars)}")
        old_flat, old_fmt = _flatten(loop_vars, "while_loop loop_vars")
        new_flat, new_fmt = _flatten(new_vars, "while_loop: func's new loop_vars")
        if old_fmt != new_fmt:
            raise ValueError(f"while_loop: func returned loop variables nested as {new_fmt}, "
                             f"loop_vars are nested as {old_fmt}")
        for old, new in zip(old_flat, new_flat):
            if old.shape != new.shape or old.dtype != new.dtype:
                raise ValueError(f"while_loop: a loop variable changed from {old.type} to "
                                 f"{new.type} in step {steps}")
        flat, step_fmt = _flatten(step_output, "while_loop step output")
        if outputs and len(flat) != len(outputs[0]):
            raise ValueError("while_loop: number of elements in step_output should be the "
                             "same in each step")
        outputs.append(flat)
        fmt, loop_vars = step_fmt, new_vars
        steps += 1
    stacked = []
    for k, items in enumerate(zip(*outputs)):
        shapes = {x.shape for x in items}
        if len(shapes) != 1:
            raise ValueError(f"while_loop: the {k}-th step outputs have inconsistent shapes "
                             f"{[x.shape for x in items]}")
        rows = [_nd.expand_dims(x, axis=0) for x in items]
        if steps < max_iterations:
            rows.append(wrap(np.zeros((max_iterations - steps,) + items[0].shape,
                                      dtype=items[0].dtype)))   # (a step may be 0-size)
        stacked.append(_nd.concat(*rows, dim=0))
    if fmt is not None and stacked:
        stacked = _regroup(stacked, fmt)[0]
    return stacked, (loop_vars[0] if single else loop_vars)


def foreach(body, data, init_states, name="foreach"):
    """Run `body(data[i], states) -> (out, states)` for i along axis 0 of `data` (an NDArray
    or a list of them) and stack the outputs along axis 0 (MXNet's contrib.foreach).
    Returns (outputs, final states) with the structure body gave them."""
    flat_data, _ = _flatten(data, "foreach data")
    _flatten(init_states, "foreach init_states")
    if not flat_data:
        raise ValueError("foreach: data should hold at least one NDArray")
    single = isinstance(data, NDArray)
    n = flat_data[0].shape[0]
    if any(d.shape[:1] != (n,) for d in flat_data):
        raise ValueError(f"foreach: every data array needs the same length along axis 0, got "
                         f"{[d.shape for d in flat_data]}")
    if HOOKS.compiling and n > FOREACH_UNROLL:
        res = _foreach_op(body, data, flat_data, init_states, n, single)
        if res is not None:
            return res
    states, outputs, fmt = init_states, [], None
    for i in range(n):
        item = data[i] if single else [d[i] for d in data]
        out, states = body(item, states)
        flat, fmt = _flatten(out, "foreach output")
        outputs.append(flat)
    stacked = [_nd.stack(*items, axis=0) for items in zip(*outputs)]
    if fmt is None:
        return [], states
    return _regroup(stacked, fmt)[0], states


def _traced(fn, *args):
    """fn(*args) with concrete-value requests, random draws and state updates refused (they
    cannot be part of a region); raises _NotStructured then."""
    saved = (HOOKS.concretize, HOOKS.random_key, HOOKS.assign, HOOKS.scalar)
    HOOKS.concretize = HOOKS.random_key = HOOKS.assign = _refuse
    HOOKS.scalar = None
    try:
        return fn(*args)
    finally:
        HOOKS.concretize, HOOKS.random_key, HOOKS.assign, HOOKS.scalar = saved


def _describe(obj):
    """Shapes and dtypes of a (nested) output, as `float32[3]` / lists of them."""
    if isinstance(obj, NDArray):
        return f"{np.dtype(obj.dtype).name}{list(obj.shape)}"
    return "[" + ", ".join(_describe(x) for x in obj) + "]"


def _cond_op(pred, then_func, else_func):
    """Both branches traced into IR over what they read from outside, then one cond op on the
    tape; None when a branch cannot be a region (it runs as Python, with a guard)."""
    start = tape.leaf(np.zeros((), np.float32)).seq
    try:
        then_out = _traced(then_func)
        else_out = _traced(else_func)
    except _NotStructured:
        return None
    then_flat, fmt = _flatten(then_out, "cond: then_func's output")
    else_flat, else_fmt = _flatten(else_out, "cond: else_func's output")
    if not then_flat:
        return None
    if fmt != else_fmt or [(x.shape, x.dtype) for x in then_flat] != [
            (x.shape, x.dtype) for x in else_flat]:
        raise ValueError(
            f"cond: then_func and else_func must return the same structure, shapes and "
            f"dtypes; got {_describe(then_out)} (then) and {_describe(else_out)} (else)")
    captured, keep = [], []
    _region("cond_then", then_flat, [], captured, start)
    _region("cond_else", else_flat, [], captured, start)
    # both branches take every captured value, in one order
    then_fn = _region("cond_then", then_flat, [], captured, start, keep)
    else_fn = _region("cond_else", else_flat, [], captured, start, keep)
    body = CondBody(then_fn, else_fn, keep)
    res = _run_recorded(Cond, [pred], captured, body,
                        lambda _: tuple(str(o.type) for o in then_fn.outputs))
    return _regroup(res, fmt)[0]


def _run_recorded(opdef, arrays, captured, body, out_types):
    """Run a region op (cond, while_loop) now on `arrays` and the captured tape values, and
    record it: its results as NDArrays on the tape. `out_types(operands)` gives its attr."""
    operands = [a._value if tape.live(a._value) else a._constant_value()
                for a in arrays] + captured
    attrs = {"body": body.handle, "out_types": out_types(operands)}
    outs = opdef.impl(*[o.data for o in operands], **attrs)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    values = tape.record_multi(opdef, operands, attrs, outs, keep=body)
    res = []
    for o, v in zip(outs, values):
        r = wrap(o)
        r._value = v
        res.append(r)
    return res


class _NotStructured(Exception):
    """The loop body cannot be one op (see while_loop's docstring): run it as Python."""


def _refuse(*args):
    raise _NotStructured()


def _while_loop_op(cond, func, loop_vars, max_iterations):
    """Trace cond and func once into IR over fresh loop-variable inputs, then run the loop as
    one while_loop op on the tape; None when the body cannot be one op."""
    start = tape.leaf(np.zeros((), np.float32)).seq
    inner = []
    for v in loop_vars:
        t = wrap(v._data)
        t._value = tape.leaf(v._data)
        inner.append(t)
    inputs = [t._value for t in inner]
    saved = (HOOKS.concretize, HOOKS.random_key, HOOKS.assign, HOOKS.scalar)
    HOOKS.concretize = HOOKS.random_key = HOOKS.assign = _refuse
    HOOKS.scalar = None
    try:
        flag = cond(*inner)
        step_output, new_vars = func(*inner)
    except _NotStructured:
        return None
    finally:
        HOOKS.concretize, HOOKS.random_key, HOOKS.assign, HOOKS.scalar = saved
    new_vars = [] if new_vars is None else (
        [new_vars] if isinstance(new_vars, NDArray) else list(new_vars))
    flat, fmt = _flatten(step_output, "while_loop step output")
    if not isinstance(flag, NDArray) or flag.size != 1 or len(new_vars) != len(loop_vars) or any(
            not isinstance(n, NDArray) or n.shape != o.shape or n.dtype != o.dtype
            for n, o in zip(new_vars, loop_vars)):
        return None  # the Python loop says what is wrong
    captured, keep = [], []
    _region("while_cond", [flag], inputs, captured, start)
    body_fn = _region("while_body", flat + new_vars, inputs, captured, start, keep)
    # both functions take every captured value, in one order
    cond_fn = _region("while_cond", [flag], inputs, captured, start, keep)
    if keeps_python_state(body_fn) or keeps_python_state(cond_fn):
        return None
    body = LoopBody(cond_fn, body_fn, len(loop_vars), len(flat), max_iterations, keep=keep,
                    save_residuals=True)
    res = _run_recorded(WhileLoop, loop_vars, captured, body,
                        lambda ops: body.result_types([o.type for o in ops]))
    n_out, n_var = len(flat), len(loop_vars)
    stacked = res[:n_out]    # then the saved residuals (loops.LoopBody), the loop variables
    if fmt is not None and stacked:
        stacked = _regroup(stacked, fmt)[0]
    return stacked, res[body.n_outs:body.n_outs + n_var]


def _region(name, heads, inputs, captured, start, keep=None):
    """An IR Function of `heads` over the loop inputs, then the values it reads from outside
    the loop (created before `start`, or constants), appended to `captured`. What its ops
    need alive (a nested loop's body) is appended to `keep`."""
    head_values = [h._value if h._value is not None else tape.leaf(h._data) for h in heads]
    leaves, ops = tape.collect([v for v in head_values if v not in inputs], since=start,
                               inputs=inputs)
    captured += [v for v in leaves if v not in captured]
    if keep is not None:
        keep.extend(op.results[0].keep for op in ops
                    if op.results and op.results[0].keep is not None)
    b = Builder(name=name)
    env = {v: b.param(v.type, f"v{i}") for i, v in enumerate(inputs)}
    for i, v in enumerate(captured):
        env[v] = b.param(v.type, f"c{i}")
    copy_ops(b, ops, env)
    return b.ret(*[env[h] for h in head_values])


def _leaves_like(arrays):
    out = []
    for a in arrays:
        t = wrap(a._data)
        t._value = tape.leaf(a._data)
        out.append(t)
    return out


def _foreach_op(body, data, flat_data, init_states, n, single):
    """foreach as one op (loops.LoopBody with sequences and no condition); None when the body
    cannot be one op."""
    start = tape.leaf(np.zeros((), np.float32)).seq
    flat_states, state_fmt = _flatten(init_states, "foreach init_states")
    slices = _leaves_like([wrap(d._data[0]) for d in flat_data])
    inner_states = _leaves_like(flat_states)
    saved = (HOOKS.concretize, HOOKS.random_key, HOOKS.assign, HOOKS.scalar)
    HOOKS.concretize = HOOKS.random_key = HOOKS.assign = _refuse
    HOOKS.scalar = None
    try:
        states_arg = _regroup(inner_states, state_fmt)[0] if state_fmt is not None else None
        out, new_states = body(slices[0] if single else slices, states_arg)
    except _NotStructured:
        return None
    finally:
        HOOKS.concretize, HOOKS.random_key, HOOKS.assign, HOOKS.scalar = saved
    flat_out, out_fmt = _flatten(out, "foreach output")
    flat_new, _ = _flatten(new_states, "foreach states")
    if len(flat_new) != len(flat_states) or any(
            a.shape != b.shape or a.dtype != b.dtype for a, b in zip(flat_new, flat_states)):
        return None  # the Python loop says what is wrong
    inputs = [t._value for t in slices + inner_states]
    captured, keep = [], []
    body_fn = _region("foreach_body", flat_out + flat_new, inputs, captured, start, keep)
    if keeps_python_state(body_fn):
        return None
    lb = LoopBody(None, body_fn, len(flat_states), len(flat_out), n, n_seq=len(flat_data),
                  keep=keep, save_residuals=True)
    res = _run_recorded(WhileLoop, flat_data + flat_states, captured, lb,
                        lambda ops: lb.result_types([o.type for o in ops]))
    no, nv = len(flat_out), len(flat_states)
    stacked = _regroup(res[:no], out_fmt)[0] if out_fmt is not None else []
    at = lb.n_outs           # past the saved residuals (loops.LoopBody)
    final = _regroup(res[at:at + nv], state_fmt)[0] if state_fmt is not None else init_states
    return stacked, final


# `mx.contrib.nd.box_nms(...)` / `mx.contrib.ndarray.*`, as MXNet 1.x's mx.contrib package
# names its operator namespaces (mx.contrib.sym / symbol are set in tracegrad/__init__.py)
nd = ndarray = _sys.modules[__name__]

# `from mxnet.contrib import amp` / `mx.contrib.amp` / `import mxnet.contrib.amp`: MXNet's
# automatic mixed precision (tracegrad/contrib_amp; importing it wraps nothing until amp.init)
from . import contrib_amp as amp  # noqa: E402
_sys.modules[__name__ + ".amp"] = amp

# `from mxnet.contrib import text` / `mx.contrib.text.vocab` / `from mxnet.contrib.text import
# embedding`: MXNet's token indexing and embeddings (tracegrad/contrib_text; never downloads)
from . import contrib_text as text  # noqa: E402
_sys.modules[__name__ + ".text"] = text
for _name in ("utils", "vocab", "embedding"):
    _sys.modules[__name__ + ".text." + _name] = getattr(text, _name)
del _name

# `from mxnet.contrib.io import DataLoaderIter` (tracegrad/contrib_io.py)
from . import contrib_io as io  # noqa: E402
_sys.modules[__name__ + ".io"] = io

# `from mxnet.contrib import autograd`: the pre-1.0 autograd API (contrib_autograd.py)
from . import contrib_autograd as autograd  # noqa: E402
_sys.modules[__name__ + ".autograd"] = autograd
