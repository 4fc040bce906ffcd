"""Recurrent layers RNN, LSTM and GRU (MXNet 1.x `gluon.rnn`), multi-layer and bidirectional.

Parameters are named and shaped as MXNet 1.9.1 names them (`l0_i2h_weight`, `r1_h2h_bias`, gate
rows in MXNet's order) and saved under MXNet's structural keys (`_unfused.0.i2h_weight`,
`_unfused.0.l_cell.i2h_weight` when bidirectional), so MXNet-trained `.params` files load.
MXNet runs its fused RNN operator; here the same arithmetic is written in nd primitives, as
cuDNN orders it: each layer's input projection for all T steps is one GEMM, then the time loop
calls one function, `_step` (the h2h GEMM and the gate update, tracegrad.recurrent), per step. So
the layer differentiates to any order, and hybridize() traces it (unrolled: T steps of one GEMM
and one fused gate loop; simplify turns the adjoint's per-step pieces into concats and its
per-step weight gradients into one GEMM).
"""
import numpy as np

from ... import nd, recurrent
from ...array import NDArray
from ...base import MXNetError
from ...runtime import tape
from ...runtime.tape import STATE
from ...numpy_api.ndarray import as_np
from ...util import is_np_array
from ..block import HybridBlock

__all__ = ["RNN", "LSTM", "GRU"]

# an array's tape value read from its slot: a step capture's pending result is not run by it
_tape_value_of = NDArray.__dict__["_value"].__get__



class _RNNLayer(HybridBlock):
    """The shared machinery of RNN, LSTM and GRU (see the module docstring)."""

    def __init__(self, hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                 i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                 h2h_bias_initializer, mode, dtype, use_sequence_length=False,
                 projection_size=None, h2r_weight_initializer=None, state_clip_min=None,
                 state_clip_max=None, state_clip_nan=False, **kwargs):
        super().__init__(**kwargs)
        if layout not in ("TNC", "NTC"):
            raise MXNetError(f"Invalid layout {layout}; must be one of ['TNC' or 'NTC']")
        if not 0 <= dropout < 1:
            raise MXNetError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        self._hidden_size, self._num_layers, self._mode = hidden_size, num_layers, mode
        self._layout, self._dropout, self._dir = layout, dropout, 2 if bidirectional else 1
        self._input_size, self._dtype = input_size, dtype
        self._use_sequence_length = use_sequence_length
        self._gates = recurrent.GATE_ROWS[mode]
        # an LSTM's projection (LSTMP: the output and first state have projection_size
        # features) and cell clipping, as MXNet's fused op takes them (recurrent.py)
        self._projection_size = recurrent.lstm_options(
            type(self).__name__, mode, hidden_size, projection_size, state_clip_min,
            state_clip_max)
        self._cell_clip = None if state_clip_min is None else (
            float(state_clip_min), float(state_clip_max), bool(state_clip_nan))
        ng, ni, nh = self._gates, input_size, hidden_size
        nr = self._projection_size or nh        # (what the next step and layer read)
        for i in range(num_layers):
            for j in "lr"[:self._dir]:
                self._register(f"{j}{i}_i2h_weight", (ng * nh, ni), i2h_weight_initializer)
                self._register(f"{j}{i}_h2h_weight", (ng * nh, nr), h2h_weight_initializer)
                if self._projection_size:
                    self._register(f"{j}{i}_h2r_weight", (nr, nh), h2r_weight_initializer)
                self._register(f"{j}{i}_i2h_bias", (ng * nh,), i2h_bias_initializer)
                self._register(f"{j}{i}_h2h_bias", (ng * nh,), h2h_bias_initializer)
            ni = nr * self._dir

    def _register(self, name, shape, init):
        p = self.params.get(name, shape=shape, init=init, allow_deferred_init=True,
                            dtype=self._dtype)
        setattr(self, name, p)

    def __repr__(self):
        shape = self.l0_i2h_weight.shape
        s = (f"{type(self).__name__}({shape[1] if shape[1] else None} -> "
             f"{shape[0] // self._gates}, {self._layout}")
        if self._projection_size:
            s += f", projection_size={self._projection_size}"
        if self._num_layers != 1:
            s += f", num_layers={self._num_layers}"
        if self._dropout != 0:
            s += f", dropout={self._dropout}"
        if self._dir == 2:
            s += ", bidirectional"
        return s + ")"

    def _unfuse(self):
        """The layer as MXNet's stack of cells (HybridSequentialRNNCell of LSTMCell, ...,
        BidirectionalCell, DropoutCell between layers) sharing this layer's parameters: the
        same numbers step by step, for unroll() and cell-level code."""
        from . import rnn_cell
        if self._projection_size or self._cell_clip is not None:
            raise MXNetError(f"{type(self).__name__}._unfuse: a projection or state clipping "
                             f"has no cell form")
        mode, nh = self._mode, self._hidden_size
        make = {"rnn_relu": lambda **kw: rnn_cell.RNNCell(nh, activation="relu", **kw),
                "rnn_tanh": lambda **kw: rnn_cell.RNNCell(nh, activation="tanh", **kw),
                "lstm": lambda **kw: rnn_cell.LSTMCell(nh, **kw),
                "gru": lambda **kw: rnn_cell.GRUCell(nh, **kw)}[mode]
        inits = {k: self.params.get(f"l0_{k}").init for k in (
            "i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")}
        stack = rnn_cell.HybridSequentialRNNCell(prefix=self.prefix, params=self.params)
        with stack.name_scope():
            ni = self._input_size
            for i in range(self._num_layers):
                kw = {"input_size": ni, **{f"{k}_initializer": v for k, v in inits.items()}}
                if self._dir == 2:
                    stack.add(rnn_cell.BidirectionalCell(make(prefix=f"l{i}_", **kw),
                                                         make(prefix=f"r{i}_", **kw)))
                else:
                    stack.add(make(prefix=f"l{i}_", **kw))
                if self._dropout > 0 and i != self._num_layers - 1:
                    stack.add(rnn_cell.DropoutCell(self._dropout))
                ni = nh * self._dir
        return stack

    def _collect_params_with_prefix(self, prefix=""):
        """MXNet's saved keys: `_unfused.<layer>.<gate>_<kind>`, with `<l|r>_cell.` inserted
        when bidirectional (the names of the cell stack MXNet used before its fused op)."""
        ret = {}
        for key, p in self._reg_params.items():
            d, rest = key[0], key[1:]
            layer, name = rest.split("_", 1)
            cell = f"{d}_cell." if self._dir == 2 else ""
            ret[f"{prefix}_unfused.{layer}.{cell}{name}"] = p
        return ret

    def state_info(self, batch_size=0):
        widths = [self._projection_size or self._hidden_size] + (
            [self._hidden_size] if self._mode == "lstm" else [])
        return [{"shape": (self._num_layers * self._dir, batch_size, w), "__layout__": "LNC",
                 "dtype": self._dtype} for w in widths]

    def begin_state(self, batch_size=0, func=nd.zeros, **kwargs):
        """Initial states (zeros by default): one (layers*directions, batch, hidden) array per
        state (two for LSTM: h and c); mx.np arrays under set_np, as MXNet converts them."""
        states = []
        for i, info in enumerate(self.state_info(batch_size)):
            info.update(kwargs)
            info.pop("__layout__", None)
            state = func(name=f"{self.prefix}h0_{i}", **info)
            states.append(as_np(state) if is_np_array() and isinstance(state, NDArray)
                          else state)
        return states

    def cast(self, dtype):
        super().cast(dtype)
        self._dtype = np.dtype(dtype).name

    def __call__(self, inputs, states=None, sequence_length=None):
        skip_states = states is None
        from ..symbolic_call import has_symbols
        if has_symbols([inputs]):      # MXNet: the RNN op, zero begin states of batch 0
            from ... import symbol
            if skip_states:
                states = self.begin_state(0, func=symbol.zeros)
            states = [states] if isinstance(states, symbol.Symbol) else list(states)
            args = [inputs] + states + ([sequence_length] if self._use_sequence_length else [])
            flat = super().__call__(*args)
            out, new_states = flat[0], [flat[i] for i in range(1, len(states) + 1)]
            return out if skip_states else (out, new_states)
        if not isinstance(inputs, NDArray) or inputs.ndim != 3:
            raise MXNetError(f"{self.name}: inputs must be a 3-d NDArray in layout "
                             f"{self._layout}, got {getattr(inputs, 'shape', inputs)!r}")
        batch = inputs.shape[self._layout.find("N")]
        if skip_states:
            states = self.begin_state(batch, dtype=inputs.dtype)
        if isinstance(states, NDArray):
            states = [states]
        states = list(states)
        infos = self.state_info(batch)
        if len(states) != len(infos):
            raise MXNetError(f"{self.name}: expected {len(infos)} state arrays, got "
                             f"{len(states)}")
        for state, info in zip(states, infos):
            if state.shape != info["shape"]:
                raise ValueError(f"{self.name}: Invalid recurrent state shape. Expecting "
                                 f"{info['shape']}, got {state.shape}.")
            if state.dtype != inputs.dtype:  # MXNet's RNN op takes one dtype throughout
                raise MXNetError(f"{self.name}: state of dtype {np.dtype(state.dtype).name} "
                                 f"does not match inputs of dtype "
                                 f"{np.dtype(inputs.dtype).name}")
        args = [inputs] + states
        if self._use_sequence_length:
            if sequence_length is None:
                raise MXNetError(f"{self.name}: use_sequence_length=True needs "
                                 f"sequence_length")
            args.append(sequence_length)
        flat = super().__call__(*args)
        if STATE.recording:  # one fused op in MXNet: freed together
            tape.share_fate(flat, _tape_value_of)
        out, new_states = flat[0], list(flat[1:])
        return out if skip_states else (out, new_states)

    def infer_shape(self, inputs, *args):
        for j in "lr"[:self._dir]:
            getattr(self, f"{j}0_i2h_weight").shape = (self._gates * self._hidden_size,
                                                       inputs.shape[2])

    def _step(self, F, i2h, states, h2h_weight, h2h_bias, h2r_weight=None):
        """One time step of one layer and direction, from the input's projection `i2h` (all
        steps' projections are one GEMM before the loop): (output, new states). The time loop
        is `for i2h in steps: out, states = _step(i2h, states)`, a foreach body."""
        return recurrent.step(F, self._mode, i2h, states, h2h_weight, h2h_bias, h2r_weight,
                              self._cell_clip)

    def forward(self, inputs, *rest):
        F = nd
        n_states = 2 if self._mode == "lstm" else 1
        states, length = list(rest[:n_states]), (rest[n_states] if self._use_sequence_length
                                                 else None)
        x = F.swapaxes(inputs, 0, 1) if self._layout == "NTC" else inputs
        if x.shape[2] != self.l0_i2h_weight.shape[1]:
            raise MXNetError(f"{self.name}: inputs have {x.shape[2]} features but the layer "
                             f"expects input_size={self.l0_i2h_weight.shape[1]}")
        params = {k: p._nd_data() for k, p in self._reg_params.items()}   # (nd, as F)

        names = ("i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias") + (
            ("h2r_weight",) if self._projection_size else ())

        def weights(layer, d):
            return tuple(params[f"{'lr'[d]}{layer}_{n}"] for n in names)
        out, final = recurrent.run_layers(F, self._step, x, states, weights, self._num_layers,
                                          self._dir, self._dropout, length)
        if self._layout == "NTC":
            out = F.swapaxes(out, 0, 1)
        return (out, *final)


class RNN(_RNNLayer):
    """Multi-layer Elman RNN with tanh or relu (default 'relu', as MXNet)."""

    def __init__(self, hidden_size, num_layers=1, activation="relu", layout="TNC", dropout=0,
                 bidirectional=False, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0,
                 dtype="float32", **kwargs):
        if activation not in ("relu", "tanh"):
            raise MXNetError(f"RNN: activation must be 'relu' or 'tanh', got {activation!r}")
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "rnn_" + activation, dtype, **kwargs)


class LSTM(_RNNLayer):
    """Multi-layer LSTM; states [h, c], each (layers*directions, batch, hidden). With
    projection_size P (LSTMP, as MXNet's): h and the output have P features, through each
    layer's h2r_weight (P, hidden); state_clip_min / max clip the cell state (cuDNN's)."""

    def __init__(self, hidden_size, num_layers=1, layout="TNC", dropout=0, bidirectional=False,
                 input_size=0, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 projection_size=None, h2r_weight_initializer=None, state_clip_min=None,
                 state_clip_max=None, state_clip_nan=False, dtype="float32", **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "lstm", dtype, projection_size=projection_size,
                         h2r_weight_initializer=h2r_weight_initializer,
                         state_clip_min=state_clip_min, state_clip_max=state_clip_max,
                         state_clip_nan=state_clip_nan, **kwargs)


class GRU(_RNNLayer):
    """Multi-layer GRU (cuDNN variant, as MXNet)."""

    def __init__(self, hidden_size, num_layers=1, layout="TNC", dropout=0, bidirectional=False,
                 input_size=0, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", dtype="float32",
                 **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "gru", dtype, **kwargs)
