"""Recurrent arithmetic shared by `nd.RNN` (MXNet's fused operator) and `gluon.rnn`: the gate
updates, one time step, the time loop of one layer and direction, and stacked (bidirectional)
layers. Written in nd operators passed in as F, so it records, differentiates to any order and
traces for hybridize; it sits below gluon, which reuses it.

Gate rows follow MXNet: LSTM input, forget, cell candidate, output; GRU reset, update, new (the
cuDNN variant: the reset gate multiplies h W_hn^T + b_hn). nd.RNN's flat parameter vector holds
every weight, then every bias, each for layer 0..L-1, direction l then r, i2h then h2h.
"""
import numpy as np

from .array import HOOKS
from .base import MXNetError
from .op_kwargs import redo as _redo

GATE_ROWS = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def _act(F, x, name):
    """An activation by MXNet name ('tanh', 'relu', ...) or a callable such as a Block."""
    if callable(name):
        return name(x)
    return F.Activation(x, act_type=name)


def rnn_gates(F, i2h, h2h, states, activation="tanh"):
    """Elman update from the two projections: h' = act(i2h + h2h)."""
    out = _act(F, i2h + h2h, activation)
    return out, [out]


def lstm_gates(F, i2h, h2h, states, activation="tanh", recurrent_activation="sigmoid", axis=1,
               cell_clip=None):
    """LSTM update from the projections; the 4*hidden rows (along `axis`, the channels) are
    input, forget, cell candidate, output gates (MXNet's order). cell_clip (lo, hi, nan):
    the new cell state is clipped to [lo, hi] before the output reads it (cuDNN's cell
    clipping, MXNet's lstm_state_clip_*); with nan, a NaN cell becomes lo instead of
    propagating."""
    i, f, g, o = F.split(i2h + h2h, num_outputs=4, axis=axis)
    in_gate = _act(F, i, recurrent_activation)
    forget_gate = _act(F, f, recurrent_activation)
    in_transform = _act(F, g, activation)
    out_gate = _act(F, o, recurrent_activation)
    next_c = forget_gate * states[1] + in_gate * in_transform
    if cell_clip is not None:
        lo, hi, nan = cell_clip
        if nan:
            next_c = F.where(next_c == next_c, next_c, F.full_like(next_c, lo))
        next_c = F.clip(next_c, lo, hi)
    next_h = out_gate * _act(F, next_c, activation)
    return next_h, [next_h, next_c]


def gru_gates(F, i2h, h2h, states, activation="tanh", recurrent_activation="sigmoid", axis=1):
    """GRU update as cuDNN and MXNet compute it (the reset gate multiplies h W_hn^T + b_hn);
    the 3*hidden rows (along `axis`) are reset, update, new."""
    prev = states[0]
    i2h_r, i2h_z, i2h_n = F.split(i2h, num_outputs=3, axis=axis)
    h2h_r, h2h_z, h2h_n = F.split(h2h, num_outputs=3, axis=axis)
    reset_gate = _act(F, i2h_r + h2h_r, recurrent_activation)
    update_gate = _act(F, i2h_z + h2h_z, recurrent_activation)
    candidate = _act(F, i2h_n + reset_gate * h2h_n, activation)
    next_h = (1 - update_gate) * candidate + update_gate * prev
    return next_h, [next_h]


_GATE_FNS = {"rnn_relu": (rnn_gates, {"activation": "relu"}),
             "rnn_tanh": (rnn_gates, {"activation": "tanh"}),
             "lstm": (lstm_gates, {}), "gru": (gru_gates, {})}


def step(F, mode, i2h, states, h2h_weight, h2h_bias, h2r_weight=None, cell_clip=None):
    """One time step from the input's projection i2h (N, G*H): the h2h GEMM and the gate
    update. Returns (output, new states): the body of a foreach over time. An LSTM with
    h2r_weight (P, H) is MXNet's LSTMP: the output and first state are r = h h2r_weight^T
    (N, P), which the next step's h2h GEMM reads; cell_clip: lstm_gates."""
    gates, kw = _GATE_FNS[mode]
    h2h = F.FullyConnected(states[0], h2h_weight, h2h_bias, num_hidden=h2h_weight.shape[0])
    if cell_clip is not None:
        kw = dict(kw, cell_clip=cell_clip)
    out, new = gates(F, i2h, h2h, states, **kw)
    if h2r_weight is None:
        return out, new
    r = F.FullyConnected(out, h2r_weight, num_hidden=h2r_weight.shape[0], no_bias=True)
    return r, [r] + new[1:]


def run_direction(F, step_fn, x, states, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                  *h2r, reverse=False, length=None):
    """The time loop of one layer and direction over x (T, N, C): (outputs (T, N, H), final
    states). The input projection of all T steps is one GEMM; then step_fn per step (given
    h2h_weight, h2h_bias and, for a projected LSTM, the h2r weight). With `length`, steps
    past a sequence's end keep its state and output zeros, and the reverse direction starts
    at each sequence's end."""
    T, N = x.shape[0], x.shape[1]
    if length is not None and reverse:
        x = F.SequenceReverse(x, sequence_length=length, use_sequence_length=True)
    rows = i2h_weight.shape[0]
    proj = F.FullyConnected(F.reshape(x, (T * N, x.shape[2])), i2h_weight, i2h_bias,
                            num_hidden=rows)
    proj = F.reshape(proj, (T, N, rows))
    if T > 1 and HOOKS.compiling:
        # compiled: one loop op whose body (the step) compiles once, however long the sequence
        # (contrib.foreach; short sequences unroll there). With lengths, the step index is a
        # sequence of the loop too, and the mask below is part of the body
        if length is None:
            data = F.flip(proj, axis=0) if reverse else proj
            seq, states = F.contrib.foreach(
                lambda i2h, st: step_fn(F, i2h, st, h2h_weight, h2h_bias, *h2r), data,
                list(states))
            return (F.flip(seq, axis=0) if reverse else seq), states
        index = F.reshape(F.arange(T, dtype=np.dtype(length.dtype)), (T, 1))

        def masked_step(rows, st):
            out, new = step_fn(F, rows[0], st, h2h_weight, h2h_bias, *h2r)
            keep = F.reshape(F.lesser(rows[1], length), (N, 1))
            new = [F.where(keep, n, s) for n, s in zip(new, st)]
            return F.where(keep, out, F.zeros_like(out)), new
        seq, states = F.contrib.foreach(masked_step, [proj, index], list(states))
        if reverse:
            seq = F.SequenceReverse(seq, sequence_length=length, use_sequence_length=True)
        return seq, states
    steps = F.split(proj, num_outputs=T, axis=0, squeeze_axis=True) if T > 1 else [
        F.reshape(proj, (N, rows))]
    order = range(T - 1, -1, -1) if reverse and length is None else range(T)
    outs = [None] * T
    for t in order:
        out, new = step_fn(F, steps[t], states, h2h_weight, h2h_bias, *h2r)
        if length is not None:
            keep = F.reshape(F.lesser(F.full((1,), t, dtype=np.dtype(length.dtype)), length),
                             (N, 1))
            new = [F.where(keep, n, s) for n, s in zip(new, states)]
            out = F.where(keep, out, F.zeros_like(out))
        outs[t], states = out, new
    seq = F.stack(*outs, axis=0)
    if length is not None and reverse:
        seq = F.SequenceReverse(seq, sequence_length=length, use_sequence_length=True)
    return seq, states


def run_layers(F, step_fn, x, states, weights, num_layers, directions, dropout=0.0,
               length=None):
    """Stacked layers over x (T, N, C). states: arrays (L*D, N, H); weights(layer, d) gives
    (i2h_weight, i2h_bias, h2h_weight, h2h_bias[, h2r_weight]). Dropout (training only)
    between layers. Returns (output (T, N, D*H), final states each (L*D, N, H)); with h2r
    weights (LSTMP) the output and first state have P features instead of H."""
    final = [[] for _ in states]
    for layer in range(num_layers):
        outputs = []
        for d in range(directions):
            idx = layer * directions + d
            begin = [F.reshape(F.slice_axis(s, 0, idx, idx + 1), s.shape[1:]) for s in states]
            seq, last = run_direction(F, step_fn, x, begin, *weights(layer, d),
                                      reverse=d == 1, length=length)
            outputs.append(seq)
            for f, s in zip(final, last):
                f.append(s)
        x = outputs[0] if directions == 1 else F.concat(*outputs, dim=2)
        if dropout > 0 and layer != num_layers - 1:
            x = F.Dropout(x, p=dropout)
    return x, [F.stack(*f, axis=0) for f in final]


def lstm_options(who, mode, hidden, projection_size, clip_min, clip_max):
    """The projection size (None without one), after MXNet's checks of the LSTM-only options:
    a projection no larger than the state, both clip bounds or neither, min <= max."""
    if projection_size is not None and not projection_size:
        projection_size = None
    if projection_size is not None:
        if mode != "lstm":
            raise MXNetError(f"{who}: projection is only supported for LSTM, got mode {mode!r}")
        if not 0 < int(projection_size) <= hidden:
            raise MXNetError(f"{who}: projection_size must be in [1, state size {hidden}], got "
                             f"{projection_size}")
        projection_size = int(projection_size)
    if clip_min is not None or clip_max is not None:
        if mode != "lstm":
            raise MXNetError(f"{who}: state clipping is only supported for LSTM")
        if clip_min is None or clip_max is None:
            raise MXNetError(f"{who}: lstm_state_clip_min and lstm_state_clip_max must be "
                             f"specified together")
        if not clip_max >= clip_min:
            raise MXNetError(f"{who}: lstm_state_clip_max ({clip_max}) must be greater or "
                             f"equal to lstm_state_clip_min ({clip_min})")
    return projection_size


def RNN(data, parameters, state, state_cell=None, sequence_length=None, state_size=None,
        num_layers=1, bidirectional=False, mode="lstm", p=0.0, state_outputs=False,
        projection_size=None, lstm_state_clip_min=None, lstm_state_clip_max=None,
        lstm_state_clip_nan=False, use_sequence_length=False, **kwargs):
    """MXNet's fused RNN operator: data (T, N, C), the flat `parameters` vector, state
    (L*D, N, H) and for LSTM state_cell. Returns the output (T, N, D*H), and with
    state_outputs the final states too ([out, hy] or [out, hy, cy]). An LSTM with
    projection_size P (LSTMP) has state and output of P features, and its parameters hold
    each layer's h2r weight (P, H) after its h2h weight; lstm_state_clip_* clip the cell
    state (cuDNN's semantics; MXNet's CPU operator trains neither)."""
    if kwargs:
        return _redo(RNN, locals())
    from . import nd as F
    if mode not in GATE_ROWS:
        raise MXNetError(f"RNN: mode must be one of {sorted(GATE_ROWS)}, got {mode!r}")
    if data.ndim != 3:
        raise MXNetError(f"RNN: data must be (seq_len, batch, input_size), got {data.shape}")
    if state_size is None:
        raise MXNetError("RNN: state_size is required")
    G, H, D, L = GATE_ROWS[mode], int(state_size), 2 if bidirectional else 1, int(num_layers)
    P = lstm_options("RNN", mode, H, projection_size, lstm_state_clip_min,
                     lstm_state_clip_max)
    clip = None if lstm_state_clip_min is None else (
        float(lstm_state_clip_min), float(lstm_state_clip_max), bool(lstm_state_clip_nan))
    R = P or H       # features of the output and the first state
    T, N, C = data.shape
    states = [state] + ([state_cell] if mode == "lstm" else [])
    if mode == "lstm" and state_cell is None:
        raise MXNetError("RNN: mode 'lstm' needs state_cell")
    for s, width in zip(states, (R, H)):
        if s.shape != (L * D, N, width):
            raise MXNetError(f"RNN: states must be {(L * D, N, width)}, got {s.shape}")
    shapes = []  # (layer, d, name) -> shape, in the packing order: weights, then biases
    for kind in ("weight", "bias"):
        for layer in range(L):
            for d in range(D):
                ni = C if layer == 0 else R * D
                for g, cols in (("i2h", ni), ("h2h", R)):
                    shapes.append(((layer, d, f"{g}_{kind}"),
                                   (G * H, cols) if kind == "weight" else (G * H,)))
                if P and kind == "weight":      # (gluon packs h2r after h2h, weights only)
                    shapes.append(((layer, d, "h2r_weight"), (P, H)))
    total = sum(int(np.prod(s)) for _, s in shapes)
    if parameters.shape != (total,):
        raise MXNetError(f"RNN: mode {mode!r} with {L} layer(s), {D} direction(s), input size "
                         f"{C} and state_size {H} needs parameters of shape ({total},), got "
                         f"{parameters.shape}")
    table, at = {}, 0
    for key, shape in shapes:
        n = int(np.prod(shape))
        table[key] = F.reshape(F.slice_axis(parameters, 0, at, at + n), shape)
        at += n

    names = ("i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias") + (("h2r_weight",) if P
                                                                      else ())

    def weights(layer, d):
        return tuple(table[(layer, d, k)] for k in names)

    def step_fn(F_, i2h, st, h2h_weight, h2h_bias, h2r_weight=None):
        return step(F_, mode, i2h, st, h2h_weight, h2h_bias, h2r_weight, clip)
    length = sequence_length if use_sequence_length else None
    out, final = run_layers(F, step_fn, data, states, weights, L, D, p, length)
    return [out] + final if state_outputs else out
