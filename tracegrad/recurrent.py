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


def lstm_gates(F, i2h, h2h, states, activation="tanh", recurrent_activation="sigmoid", axis=1):
    """LSTM update from the projections; the 4*hidden rows (along `axis`, the channels) are
    input, forget, cell candidate, output gates (MXNet's order)."""
    i, f, g, o = F.split(i2h + h2h, num_outputs=4, axis=axis)
    in_gate = _act(F, i, recurrent_activation)
    forget_gate = _act(F, f, recurrent_activation)
    in_transform = _act(F, g, activation)
    out_gate = _act(F, o, recurrent_activation)
    next_c = forget_gate * states[1] + in_gate * in_transform
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


def step(F, mode, i2h, states, h2h_weight, h2h_bias):
    """One time step from the input's projection i2h (N, G*H): the h2h GEMM and the gate
    update. Returns (output, new states): the body of a foreach over time."""
    gates, kw = _GATE_FNS[mode]
    h2h = F.FullyConnected(states[0], h2h_weight, h2h_bias, num_hidden=h2h_weight.shape[0])
    return gates(F, i2h, h2h, states, **kw)


def run_direction(F, step_fn, x, states, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                  reverse=False, length=None):
    """The time loop of one layer and direction over x (T, N, C): (outputs (T, N, H), final
    states). The input projection of all T steps is one GEMM; then step_fn per step. With
    `length`, steps past a sequence's end keep its state and output zeros, and the reverse
    direction starts at each sequence's end."""
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
                lambda i2h, st: step_fn(F, i2h, st, h2h_weight, h2h_bias), data, list(states))
            return (F.flip(seq, axis=0) if reverse else seq), states
        index = F.reshape(F.arange(T, dtype=np.dtype(length.dtype)), (T, 1))

        def masked_step(rows, st):
            out, new = step_fn(F, rows[0], st, h2h_weight, h2h_bias)
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
        out, new = step_fn(F, steps[t], states, h2h_weight, h2h_bias)
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
    (i2h_weight, i2h_bias, h2h_weight, h2h_bias). Dropout (training only) between layers.
    Returns (output (T, N, D*H), final states each (L*D, N, H))."""
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


def RNN(data, parameters, state, state_cell=None, sequence_length=None, state_size=None,
        num_layers=1, bidirectional=False, mode="lstm", p=0.0, state_outputs=False,
        projection_size=None, lstm_state_clip_min=None, lstm_state_clip_max=None,
        lstm_state_clip_nan=False, use_sequence_length=False, **kwargs):
    """MXNet's fused RNN operator: data (T, N, C), the flat `parameters` vector, state
    (L*D, N, H) and for LSTM state_cell. Returns the output (T, N, D*H), and with
    state_outputs the final states too ([out, hy] or [out, hy, cy])."""
    if kwargs:
        return _redo(RNN, locals())
    from . import nd as F
    if mode not in GATE_ROWS:
        raise MXNetError(f"RNN: mode must be one of {sorted(GATE_ROWS)}, got {mode!r}")
    if projection_size or lstm_state_clip_min is not None or lstm_state_clip_max is not None:
        raise MXNetError("RNN: projection_size and LSTM state clipping are not supported")
    if data.ndim != 3:
        raise MXNetError(f"RNN: data must be (seq_len, batch, input_size), got {data.shape}")
    if state_size is None:
        raise MXNetError("RNN: state_size is required")
    G, H, D, L = GATE_ROWS[mode], int(state_size), 2 if bidirectional else 1, int(num_layers)
    T, N, C = data.shape
    states = [state] + ([state_cell] if mode == "lstm" else [])
    if mode == "lstm" and state_cell is None:
        raise MXNetError("RNN: mode 'lstm' needs state_cell")
    for s in states:
        if s.shape != (L * D, N, H):
            raise MXNetError(f"RNN: states must be {(L * D, N, H)}, got {s.shape}")
    shapes = []  # (layer, d, name) -> shape, in the packing order: weights, then biases
    for kind in ("weight", "bias"):
        for layer in range(L):
            for d in range(D):
                ni = C if layer == 0 else H * D
                for g, cols in (("i2h", ni), ("h2h", H)):
                    shapes.append(((layer, d, f"{g}_{kind}"),
                                   (G * H, cols) if kind == "weight" else (G * H,)))
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

    def weights(layer, d):
        return tuple(table[(layer, d, k)] for k in ("i2h_weight", "i2h_bias", "h2h_weight",
                                                     "h2h_bias"))

    def step_fn(F_, i2h, st, h2h_weight, h2h_bias):
        return step(F_, mode, i2h, st, h2h_weight, h2h_bias)
    length = sequence_length if use_sequence_length else None
    out, final = run_layers(F, step_fn, data, states, weights, L, D, p, length)
    return [out] + final if state_outputs else out
