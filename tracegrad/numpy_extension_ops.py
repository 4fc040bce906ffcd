"""More of MXNet 1.9.1's `_npx_*` operators for `mx.npx`: cast, constraint_check, gather_nd,
nonzero, reshape_like, rnn, shape_array, slice, smooth_l1.

Each is the legacy nd operator of the same meaning run on nd views of the mx.np inputs and
handed back as mx.np arrays, so it records, differentiates and compiles as the nd op does.
Argument names and defaults are those of the operators MXNet registers (the npx functions
MXNet 1.9.1 generates from them). nonzero reads values (its output shape depends on them),
so it runs eagerly and is a guard inside a trace, as np.nonzero is."""
import numpy as onp

from . import nd
from .array import F, NDArray, wrap
from .base import ANY_TRACE, MXNetError, MXNetValueError
from .index_checks import check_value_range
from .tracing import capture as _capture
from .numpy_api.ndarray import as_nd, as_np, dtype_of, ndarray
from .recurrent import RNN as _RNN

__all__ = ["cast", "constraint_check", "gather_nd", "nonzero", "reshape_like", "rnn",
           "shape_array", "slice", "smooth_l1"]


def _array(who, x, name="data"):
    """An nd view of an mx.np (or nd) array input, or a TypeError naming the function."""
    if not isinstance(x, NDArray):
        raise TypeError(f"npx.{who}: {name} must be an mx.np.ndarray, got {type(x).__name__}")
    return as_nd(x)


def cast(data, dtype):
    """data in `dtype` (MXNet's Cast; the gradient is cast back to data's dtype)."""
    if dtype is None:
        raise MXNetError("npx.cast: Required parameter dtype is not presented")
    try:
        dt = onp.dtype(dtype)
    except TypeError:
        raise MXNetError(f"npx.cast: {dtype!r} is not a dtype") from None
    return as_np(nd.cast(_array("cast", data), dt))


def constraint_check(input, msg="Constraint violated."):
    """A 0-d bool True when every element of the bool `input` is true; otherwise an MXNetError
    carrying `msg`. The check is an op of the graph (multiply a value by the result to keep
    it there under hybridize / jit, as MXNet asks), so it also fires in compiled code."""
    x = _array("constraint_check", input, "input")
    if dtype_of(x) != onp.bool_:
        raise MXNetError(f"npx.constraint_check: input must be a bool array, got "
                         f"{dtype_of(x).name}")
    if x.size == 0:     # nothing to check: True (a min over no elements has no identity)
        return as_np(wrap(onp.array(True)))
    if not ANY_TRACE[0] and not _capture.pending():    # eager: MXNet's ValueError, at once
        values = x.asnumpy()
        if not values.all():
            raise MXNetValueError(f"npx.constraint_check: {msg} ({int((~values).sum())} of "
                                  f"{x.size} elements of the bool{list(x.shape)} input are "
                                  f"false)")
    b = F.cast(x, dtype="i32")
    b = check_value_range("npx.constraint_check", "every element of input", b, 1, 1, msg,
                          kind="value")
    if b.ndim:
        b = F.min(b, axes=tuple(range(b.ndim)), keepdims=False)
    return as_np(F.cast(b, dtype="bool"))


def gather_nd(data, indices):
    """out[i...] = data[indices[0, i...], ..., indices[M-1, i...]] (MXNet's gather_nd; an
    index outside its axis raises)."""
    idx = indices if isinstance(indices, NDArray) else ndarray(onp.asarray(indices,
                                                                           onp.int64))
    return as_np(nd.gather_nd(_array("gather_nd", data), _array("gather_nd", idx, "indices")))


_NONZERO_MAX_NDIM = 5    # MXNet's kernel handles up to 5 axes


def nonzero(x):
    """The int64 (N, x.ndim) coordinates of x's N non-zero elements in row-major order (a 0-d
    x gives (1, 1) [[0]] or (0, 1), as MXNet's kernel does). Not differentiable."""
    a = _array("nonzero", x, "x")
    if a.ndim > _NONZERO_MAX_NDIM:
        raise MXNetError(f"npx.nonzero: ndim of input cannot larger than {_NONZERO_MAX_NDIM}, "
                         f"got shape {tuple(a.shape)}")
    a._concretize("npx.nonzero()")
    v = a.asnumpy()
    if v.ndim == 0:
        out = onp.zeros((1 if v else 0, 1), onp.int64)
    else:
        out = onp.argwhere(v).astype(onp.int64).reshape(-1, v.ndim)
    return ndarray(out, dtype=onp.int64)


def reshape_like(lhs, rhs, lhs_begin=None, lhs_end=None, rhs_begin=None, rhs_end=None):
    """lhs reshaped to rhs's shape, or only lhs's axes [lhs_begin, lhs_end) replaced by rhs's
    axes [rhs_begin, rhs_end)."""
    return as_np(nd.reshape_like(_array("reshape_like", lhs, "lhs"),
                                 _array("reshape_like", rhs, "rhs"), lhs_begin=lhs_begin,
                                 lhs_end=lhs_end, rhs_begin=rhs_begin, rhs_end=rhs_end))


def rnn(data=None, parameters=None, state=None, state_cell=None, sequence_length=None,
        state_size=None, num_layers=None, bidirectional=False, mode=None, p=0.0,
        state_outputs=False, projection_size=None, lstm_state_clip_min=None,
        lstm_state_clip_max=None, lstm_state_clip_nan=False, use_sequence_length=False):
    """MXNet's fused RNN operator (nd.RNN) on mx.np arrays: data (T, N, C), the flat
    `parameters`, state (L*D, N, H) and, for an LSTM, state_cell. mode, state_size and
    num_layers are required as in MXNet. Returns out, or [out, hy(, cy)] with
    state_outputs."""
    for name, value in (("mode", mode), ("state_size", state_size),
                        ("num_layers", num_layers)):
        if value is None:
            raise MXNetError(f"npx.rnn: Required parameter {name} is not presented")
    for name, value in (("data", data), ("parameters", parameters), ("state", state)):
        if value is None:
            raise MXNetError(f"npx.rnn: the input {name} is required")
    if use_sequence_length and sequence_length is None:
        raise MXNetError("npx.rnn: use_sequence_length=True needs sequence_length")
    cell = None if state_cell is None else _array("rnn", state_cell, "state_cell")
    length = None if sequence_length is None else _array("rnn", sequence_length,
                                                         "sequence_length")
    out = _RNN(_array("rnn", data), _array("rnn", parameters, "parameters"),
               _array("rnn", state, "state"), state_cell=cell, sequence_length=length,
               state_size=state_size, num_layers=num_layers, bidirectional=bidirectional,
               mode=mode, p=p, state_outputs=state_outputs, projection_size=projection_size,
               lstm_state_clip_min=lstm_state_clip_min,
               lstm_state_clip_max=lstm_state_clip_max,
               lstm_state_clip_nan=lstm_state_clip_nan,
               use_sequence_length=use_sequence_length)
    return as_np(list(out) if isinstance(out, (list, tuple)) else out)


def shape_array(data):
    """data's shape as a 1-d int64 array."""
    return as_np(nd.shape_array(_array("shape_array", data)))


def slice(data, begin, end, step=()):
    """data[begin[0]:end[0]:step[0], ...] over the leading len(begin) axes (None entries: the
    whole axis in that direction), a new array as MXNet's slice makes."""
    begin, end = tuple(begin), tuple(end)
    step = tuple(step) if step is not None else ()
    if len(begin) != len(end) or (step and len(step) != len(begin)):
        raise MXNetError(f"npx.slice: begin {begin}, end {end} and step {step} must have the "
                         f"same length")
    a = _array("slice", data)
    if len(begin) > a.ndim:
        raise MXNetError(f"npx.slice: {len(begin)} axes sliced on data of shape "
                         f"{tuple(a.shape)}")
    if any(s == 0 for s in step):
        raise MXNetError(f"npx.slice: slice step cannot be zero, got step {step}")
    for b, e in zip(begin, end):
        for v in (b, e):
            if v is not None and not isinstance(v, (int, onp.integer)):
                raise MXNetError(f"npx.slice: begin / end entries must be ints or None, got "
                                 f"{v!r}")
    return as_np(nd.slice(a, begin, end, step or None))


def smooth_l1(data, scalar=1.0):
    """0.5 (scalar x)^2 where |x| < 1 / scalar^2, else |x| - 0.5 / scalar^2 (Fast R-CNN's box
    loss, elementwise)."""
    return as_np(nd.smooth_l1(_array("smooth_l1", data), scalar=scalar))
