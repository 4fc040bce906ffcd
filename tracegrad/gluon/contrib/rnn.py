"""`gluon.contrib.rnn`: LSTMPCell and VariationalDropoutCell, as in MXNet 1.9.1.

LSTMPCell is the LSTM with a projected recurrent state (Sak et al. 2014): the gates read
r = h W_hr^T (projection_size units) instead of h, and r is the output and the first state.

VariationalDropoutCell drops the same units at every step of a sequence: one mask each for the
inputs, the first state and the outputs, drawn at the first step and kept until reset()
(unroll resets). The masks are drawn eagerly and reach the step as arguments, so a
hybridized cell compiles one step that reads them, as ZoneoutCell does with its previous
output. Without state dropout, unroll drops inputs and outputs of the whole sequence with
one mask along the time axis and unrolls the base cell.
"""
import sys as _sys

from ... import nd
from ...base import MXNetError
from ...recurrent import lstm_gates
from ..block import HybridBlock
from ..rnn.rnn_cell import (BidirectionalCell, HybridRecurrentCell, ModifierCell,
                            SequentialRNNCell, _as_steps, _family, _mask_steps, _split_steps,
                            _zeros_for)

from .conv_rnn import *  # noqa: E402,F401,F403  (the Conv*RNN/LSTM/GRUCell family)
from .conv_rnn import __all__ as _conv_all

__all__ = ["LSTMPCell", "VariationalDropoutCell", "dynamic_unroll"] + _conv_all


class LSTMPCell(HybridRecurrentCell):
    """LSTM with a projection: states [r (batch, projection_size), c (batch, hidden_size)];
    the output is r."""

    def __init__(self, hidden_size, projection_size, i2h_weight_initializer=None,
                 h2h_weight_initializer=None, h2r_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0,
                 prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._hidden_size, self._input_size = hidden_size, input_size
        self._projection_size = projection_size
        get = self.params.get
        self.i2h_weight = get("i2h_weight", shape=(4 * hidden_size, input_size),
                              init=i2h_weight_initializer, allow_deferred_init=True)
        self.h2h_weight = get("h2h_weight", shape=(4 * hidden_size, projection_size),
                              init=h2h_weight_initializer, allow_deferred_init=True)
        self.h2r_weight = get("h2r_weight", shape=(projection_size, hidden_size),
                              init=h2r_weight_initializer, allow_deferred_init=True)
        self.i2h_bias = get("i2h_bias", shape=(4 * hidden_size,), init=i2h_bias_initializer,
                            allow_deferred_init=True)
        self.h2h_bias = get("h2h_bias", shape=(4 * hidden_size,), init=h2h_bias_initializer,
                            allow_deferred_init=True)

    def _alias(self):
        return "lstmp"

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._projection_size), "__layout__": "NC"},
                {"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def infer_shape(self, inputs, *states):
        self.i2h_weight.shape = (4 * self._hidden_size, inputs.shape[-1])

    def __repr__(self):
        shape = self.i2h_weight.shape
        return (f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]} -> "
                f"{self.h2r_weight.shape[0]})")

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, h2r_weight, i2h_bias,
                       h2h_bias):
        if isinstance(inputs, nd.NDArray):  # (Symbols: the graph's shape inference checks)
            want = [tuple(i["shape"]) for i in self.state_info(inputs.shape[0])]
            if inputs.ndim != 2 or [tuple(s.shape) for s in states] != want:
                raise MXNetError(f"LSTMPCell: a step takes inputs (batch, "
                                 f"{i2h_weight.shape[1]}) and states of shapes {want}, got "
                                 f"{inputs.shape} and {[tuple(s.shape) for s in states]}")
        i2h = F.FullyConnected(inputs, i2h_weight, i2h_bias, num_hidden=4 * self._hidden_size)
        h2h = F.FullyConnected(states[0], h2h_weight, h2h_bias,
                               num_hidden=4 * self._hidden_size)
        hidden, (_, next_c) = lstm_gates(F, i2h, h2h, states)
        next_r = F.FullyConnected(hidden, h2r_weight, num_hidden=self._projection_size,
                                  no_bias=True)
        return next_r, [next_r, next_c]


class VariationalDropoutCell(ModifierCell):
    """The base cell with one dropout mask per sequence for its inputs, its first state and
    its outputs (module docstring)."""

    def __init__(self, base_cell, drop_inputs=0.0, drop_states=0.0, drop_outputs=0.0):
        if drop_states and isinstance(base_cell, BidirectionalCell):
            raise MXNetError("BidirectionalCell doesn't support variational state dropout; "
                             "add VariationalDropoutCell to the cells underneath instead")
        if drop_states and isinstance(base_cell, SequentialRNNCell) and getattr(
                base_cell, "_bidirectional", False):
            raise MXNetError("Bidirectional SequentialRNNCell doesn't support variational "
                             "state dropout; add VariationalDropoutCell to the cells "
                             "underneath instead")
        super().__init__(base_cell)
        self.drop_inputs, self.drop_states, self.drop_outputs = \
            drop_inputs, drop_states, drop_outputs
        self._masks = None

    def _alias(self):
        return "vardrop"

    def reset(self):
        super().reset()
        self._masks = None

    def __repr__(self):
        return (f"{type(self).__name__}(p_out = {self.drop_outputs}, "
                f"p_state = {self.drop_states})")

    @staticmethod
    def _mask(p, like):
        """A dropout mask shaped like `like` (a Symbol's is a Dropout node of the graph, drawn
        when it runs in training mode, as MXNet's)."""
        F = _family(like)[0]
        return F.Dropout(F.ones_like(like), p=p) if p else None

    def __call__(self, inputs, states):
        self._counter += 1
        states = [states] if not isinstance(states, (list, tuple)) else list(states)
        if self._masks is None:       # drawn at the first step, kept until reset()
            self._masks = [self._mask(self.drop_inputs, inputs),
                           self._mask(self.drop_states, states[0]), None]
        masks = self._masks
        flat = HybridBlock.__call__(self, inputs, masks[0], masks[1], *states)
        out, new_states = flat[0], list(flat[1:])
        if self.drop_outputs:
            if masks[2] is None:
                masks[2] = self._mask(self.drop_outputs, out)
            out = out * masks[2]
        return out, new_states

    def forward(self, inputs, input_mask, state_mask, *states):
        states = list(states)
        if state_mask is not None:     # (h, always the first state)
            states[0] = states[0] * state_mask
        if input_mask is not None:
            inputs = inputs * input_mask
        out, new_states = self.base_cell(inputs, states)
        return (out, *new_states)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        if self.drop_states:
            return super().unroll(length, inputs, begin_state, layout, merge_outputs,
                                  valid_length)
        self.reset()
        F, was_array = _family(inputs)
        axis = layout.find("T")
        if not was_array:
            inputs = F.stack(*_as_steps(F, length, inputs, layout)[0], axis=axis)
        if begin_state is None:       # (the base cell is modified: the states come from here)
            batch = inputs.shape[layout.find("N")] if F is nd else 0   # (0: the graph's)
            begin_state = self.begin_state(batch, **_zeros_for(F, [inputs]))
        if self.drop_inputs:
            inputs = F.Dropout(inputs, p=self.drop_inputs, axes=(axis,))
        outputs, states = self.base_cell.unroll(length, inputs, begin_state, layout,
                                                merge_outputs=True, valid_length=valid_length)
        if self.drop_outputs:
            outputs = F.Dropout(outputs, p=self.drop_outputs, axes=(axis,))
        if valid_length is not None:
            steps = _split_steps(F, outputs, length, axis)
            outputs = F.stack(*_mask_steps(F, steps, valid_length, length), axis=axis)
        if merge_outputs is None:
            merge_outputs = was_array
        if not merge_outputs:
            outputs = _split_steps(F, outputs, length, axis)
        return outputs, states


def dynamic_unroll(cell, inputs, begin_state, drop_inputs=0, drop_outputs=0, layout="TNC",
                   valid_length=None):
    """Run `cell` over the time axis of `inputs` with contrib.foreach (MXNet's
    gluon.contrib.rnn.rnn_cell.dynamic_unroll): one loop whatever the length, compiled as one
    loop op under hybridize(). Returns (outputs in `layout`, final states). With valid_length,
    a sequence's states stop changing after its last step and its later outputs are 0;
    dropout of inputs / outputs uses one mask for every step."""
    F = _family(inputs)[0]
    axis = layout.find("T")
    if axis < 0:
        raise MXNetError(f"dynamic_unroll: layout {layout!r} has no time axis T")
    swap = list(range(len(layout)))
    swap[0], swap[axis] = axis, 0
    if axis:
        inputs = F.transpose(inputs, axes=swap)       # time-major for the loop
    if drop_inputs:
        inputs = F.Dropout(inputs, p=drop_inputs, axes=(0,))
    states = list(begin_state) if isinstance(begin_state, (list, tuple)) else [begin_state]
    if valid_length is None:
        def step(x, current):
            return cell(x, current)
    else:
        states.append(F.zeros((1,)))      # the step number rides along as a state

        def step(x, current):
            out, new = cell(x, current[:-1])
            new = list(new)
            live = F.broadcast_greater(valid_length, current[-1])
            for k, old in enumerate(current[:-1]):
                new[k] = F.where(live, new[k], old)
            return out, new + [current[-1] + 1]
    outputs, states = F.contrib.foreach(step, inputs, states)
    if drop_outputs:
        outputs = F.Dropout(outputs, p=drop_outputs, axes=(0,))
    if valid_length is not None:
        outputs = F.SequenceMask(outputs, sequence_length=valid_length,
                                 use_sequence_length=True, axis=0)
        states = states[:-1]
    if axis:
        outputs = F.transpose(outputs, axes=swap)
    return outputs, states


# MXNet's module paths: gluon.contrib.rnn.rnn_cell and .conv_rnn_cell
rnn_cell = _sys.modules[__name__]
_sys.modules[__name__ + ".rnn_cell"] = rnn_cell
from . import conv_rnn as conv_rnn_cell  # noqa: E402
_sys.modules[__name__ + ".conv_rnn_cell"] = conv_rnn_cell
