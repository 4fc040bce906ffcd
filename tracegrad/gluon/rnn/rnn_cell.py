"""Recurrent cells (MXNet 1.x `gluon.rnn`): one time step each, `unroll` for a sequence.

A cell is called `cell(inputs, states) -> (output, new_states)`. Hybrid cells pass their states
to HybridBlock.__call__ as separate arrays (a list is not an array argument), so a hybridized
cell compiles like any block. The step arithmetic (`rnn_step`, `lstm_step`, `gru_step`) is
plain nd code shared with the fused layers in rnn_layer.py; it differentiates to any order and
its gate arithmetic fuses into one loop beside the two matrix products.
"""
from ... import nd
from ...array import NDArray
from ...recurrent import gru_gates, lstm_gates, rnn_gates
from ...base import MXNetError
from ..block import Block, HybridBlock

__all__ = ["RecurrentCell", "HybridRecurrentCell", "RNNCell", "LSTMCell", "GRUCell",
           "SequentialRNNCell", "HybridSequentialRNNCell", "DropoutCell", "ModifierCell",
           "ZoneoutCell", "ResidualCell", "BidirectionalCell"]


# ------------------------------------------------------------------ the step arithmetic
def _step_with(gates, n_gates):
    def step(F, x, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias, hidden, **kw):
        i2h = F.FullyConnected(x, i2h_weight, i2h_bias, num_hidden=n_gates * hidden)
        h2h = F.FullyConnected(states[0], h2h_weight, h2h_bias, num_hidden=n_gates * hidden)
        return gates(F, i2h, h2h, states, **kw)
    step.__name__ = gates.__name__.replace("_gates", "_step")
    step.__doc__ = f"One step from the input: both projections, then {gates.__name__}."
    return step


rnn_step, lstm_step, gru_step = (_step_with(rnn_gates, 1), _step_with(lstm_gates, 4),
                                 _step_with(gru_gates, 3))


# ------------------------------------------------------------------ sequences
def _family(inputs):
    """(F, whether inputs is one array): mx.sym when the sequence is Symbols (unroll builds the
    unrolled graph, as MXNet's does for Module code), nd otherwise."""
    from ...symbol.symbol import Symbol
    first = inputs if isinstance(inputs, (NDArray, Symbol)) or not len(inputs) else inputs[0]
    if isinstance(first, Symbol):
        from ... import symbol
        return symbol, isinstance(inputs, Symbol)
    return nd, isinstance(inputs, NDArray)


def _as_steps(F, length, inputs, layout):
    """A sequence as a list of `length` (N, C) steps, its time axis and its batch size (0 for
    Symbols: the graph's shapes give it)."""
    axis = layout.find("T")
    if F is not nd and isinstance(inputs, F.Symbol):
        return _split_steps(F, inputs, length, axis), axis, 0
    if isinstance(inputs, NDArray):
        if inputs.ndim < 3:   # (N, T, C) or, for the convolutional cells, (N, T, C, H, W)
            raise MXNetError(f"unroll: inputs must be at least 3-d in layout {layout}, got "
                             f"shape {inputs.shape}")
        if inputs.shape[axis] != length:
            raise MXNetError(f"unroll: length {length} differs from the {inputs.shape[axis]} "
                             f"steps of inputs {inputs.shape} (layout {layout})")
        return _split_steps(nd, inputs, length, axis), axis, inputs.shape[layout.find("N")]
    steps = list(inputs)
    if len(steps) != length:
        raise MXNetError(f"unroll: length {length} but {len(steps)} input steps")
    return steps, axis, (steps[0].shape[0] if F is nd else 0)


def _merge(F, steps, axis, merge_outputs, was_array):
    if merge_outputs is None:
        merge_outputs = was_array
    return F.stack(*steps, axis=axis) if merge_outputs else steps


def _split_steps(F, seq, length, axis=0):
    """One array (or Symbol) of `length` steps along `axis` as the list of its steps."""
    out = F.split(seq, num_outputs=length, axis=axis, squeeze_axis=True)
    return [out] if length == 1 else [out[t] for t in range(length)]


def _mask_steps(F, steps, valid_length, length):
    """Zero the steps at t >= valid_length[n]."""
    masked = F.SequenceMask(F.stack(*steps, axis=0), sequence_length=valid_length,
                            use_sequence_length=True, axis=0)
    return _split_steps(F, masked, length)


def _reverse_steps(F, steps, valid_length):
    if valid_length is None:
        return list(reversed(steps))
    rev = F.SequenceReverse(F.stack(*steps, axis=0), sequence_length=valid_length,
                            use_sequence_length=True)
    return _split_steps(F, rev, len(steps))


def _zeros_for(F, steps):
    """begin_state's func and keywords for a sequence: nd zeros in the steps' dtype, or
    Symbol zeros whose batch (0) the graph gives."""
    return dict(func=F.zeros, dtype=steps[0].dtype) if F is nd else dict(func=F.zeros)


# ------------------------------------------------------------------ base classes
class RecurrentCell(Block):
    """A recurrent cell: `cell(inputs, states)` is one step; `unroll` runs a sequence."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._modified = False
        self.reset()

    def reset(self):
        """Forget the step counters (and ZoneoutCell's previous output) before a sequence.
        The counters only name states; each call advances them in __dict__, not as an
        attribute change, which would make whatever compares block attributes compare
        them again (gluon/auto_compile.py, block replays)."""
        self._init_counter = -1
        self._counter = -1
        for cell in self._children.values():
            if isinstance(cell, RecurrentCell):
                cell.reset()

    def state_info(self, batch_size=0):
        """One dict per state: its shape (and '__layout__')."""
        raise NotImplementedError(f"{type(self).__name__}.state_info")

    def begin_state(self, batch_size=0, func=nd.zeros, **kwargs):
        """The initial states, made by func(shape=..., **kwargs) (zeros by default)."""
        if self._modified:
            raise MXNetError(f"{self.name}: after applying a modifier cell (e.g. ZoneoutCell) "
                             f"the base cell cannot be called directly; call the modifier cell")
        states = []
        for info in self.state_info(batch_size):
            self.__dict__["_init_counter"] += 1
            info = dict(info or {}, **kwargs)
            info.pop("__layout__", None)
            states.append(func(name=f"{self._prefix}begin_state_{self._init_counter}", **info))
        return states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        """Run `length` steps. inputs: one array in `layout` or a list of (N, C) steps.
        Returns (outputs, states); outputs are stacked on the time axis when merge_outputs
        (default: when inputs was one array). With valid_length, steps past each sequence's
        length are zero and the states are those of its last valid step."""
        self.reset()
        F, was_array = _family(inputs)
        steps, axis, batch = _as_steps(F, length, inputs, layout)
        states = self.begin_state(batch, **_zeros_for(F, steps)) if begin_state is None \
            else list(begin_state)
        outputs, history = [], []
        for x in steps:
            out, states = self(x, states)
            outputs.append(out)
            if valid_length is not None:
                history.append(states)
        if valid_length is not None:
            states = [F.SequenceLast(F.stack(*s, axis=0), sequence_length=valid_length,
                                     use_sequence_length=True, axis=0)
                      for s in zip(*history)]
            outputs = _mask_steps(F, outputs, valid_length, length)
        return _merge(F, outputs, axis, merge_outputs, was_array), states

    def __call__(self, inputs, states):
        self.__dict__["_counter"] += 1     # (see reset)
        return super().__call__(inputs, states)

    def forward(self, inputs, states):
        raise NotImplementedError(f"{type(self).__name__}.forward(inputs, states)")


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A cell whose step is pure nd code: override hybrid_forward(F, inputs, states, **params).

    The states travel to HybridBlock.__call__ as separate arrays, so hybridize() compiles it."""

    def __call__(self, inputs, states):
        self.__dict__["_counter"] += 1     # (see reset)
        states = [states] if isinstance(states, NDArray) else list(states)
        flat = HybridBlock.__call__(self, inputs, *states)
        return flat[0], list(flat[1:])

    def forward(self, inputs, *states):
        params = {k: p._nd_data() for k, p in self._reg_params.items()}   # (nd, as F)
        out, new_states = self.hybrid_forward(nd, inputs, list(states), **params)
        return (out, *new_states)

    def _symbolic_forward(self, F, inputs, *states, **params):
        """The step on Symbols (gluon/symbolic_call.py): hybrid_forward with F = mx.sym, or
        for a cell made of cells (a stack, a modifier) its forward, whose cells do so."""
        if type(self).hybrid_forward is HybridBlock.hybrid_forward:
            return self.forward(inputs, *states)
        # named as MXNet's cells name them: the step's output `t<k>_out`, another state (an
        # LSTM's cell) `t<k>_state`, k counting the cell's calls since reset
        out, new_states = self.hybrid_forward(F, inputs, list(states), **params)
        prefix = f"t{self._counter}_"
        named = F.identity(out, name=prefix + "out")
        return (named, *[named if s is out else F.identity(s, name=prefix + "state")
                         for s in new_states])


class _GatedCell(HybridRecurrentCell):
    """RNNCell / LSTMCell / GRUCell: i2h and h2h weights and biases, `gates` rows each."""
    _gates = 1

    def __init__(self, hidden_size, i2h_weight_initializer, h2h_weight_initializer,
                 i2h_bias_initializer, h2h_bias_initializer, input_size, prefix, params):
        super().__init__(prefix=prefix, params=params)
        self._hidden_size, self._input_size = hidden_size, input_size
        rows = self._gates * hidden_size
        get = self.params.get
        self.i2h_weight = get("i2h_weight", shape=(rows, input_size),
                              init=i2h_weight_initializer, allow_deferred_init=True)
        self.h2h_weight = get("h2h_weight", shape=(rows, hidden_size),
                              init=h2h_weight_initializer, allow_deferred_init=True)
        self.i2h_bias = get("i2h_bias", shape=(rows,), init=i2h_bias_initializer,
                            allow_deferred_init=True)
        self.h2h_bias = get("h2h_bias", shape=(rows,), init=h2h_bias_initializer,
                            allow_deferred_init=True)

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def infer_shape(self, inputs, *states):
        self.i2h_weight.shape = (self._gates * self._hidden_size, inputs.shape[-1])

    def __repr__(self):
        shape = self.i2h_weight.shape
        return (f"{type(self).__name__}({shape[1] if shape[1] else None} -> "
                f"{shape[0] // self._gates})")


    def _check(self, inputs, states, i2h_weight):
        if not isinstance(inputs, NDArray):
            return          # (Symbols: the graph's shape inference checks)
        if inputs.ndim != 2 or inputs.shape[1] != i2h_weight.shape[1]:
            raise MXNetError(f"{type(self).__name__}: a step's input must be (batch, "
                             f"{i2h_weight.shape[1]}), got {inputs.shape}")
        want = [tuple(i["shape"]) for i in self.state_info(inputs.shape[0])]
        got = [tuple(s.shape) for s in states]
        if want != got:
            raise MXNetError(f"{type(self).__name__}: states must have shapes {want}, got "
                             f"{got}")


class RNNCell(_GatedCell):
    """Elman cell: h' = activation(x W_i2h^T + b_i2h + h W_h2h^T + b_h2h)."""

    def __init__(self, hidden_size, activation="tanh", i2h_weight_initializer=None,
                 h2h_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", input_size=0, prefix=None, params=None):
        super().__init__(hidden_size, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, input_size, prefix, params)
        self._activation = activation

    def _alias(self):
        return "rnn"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        self._check(inputs, states, i2h_weight)
        return rnn_step(F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias,
                        self._hidden_size, activation=self._activation)


class _TwoActivationCell(_GatedCell):
    """LSTMCell / GRUCell: MXNet's shared signature, with a gate (recurrent) activation."""

    def __init__(self, hidden_size, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0,
                 prefix=None, params=None, activation="tanh", recurrent_activation="sigmoid"):
        super().__init__(hidden_size, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, input_size, prefix, params)
        self._activation, self._recurrent_activation = activation, recurrent_activation


class LSTMCell(_TwoActivationCell):
    """LSTM cell; states [h, c]; gate rows input, forget, cell candidate, output."""
    _gates = 4

    def _alias(self):
        return "lstm"

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"},
                {"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        self._check(inputs, states, i2h_weight)
        return lstm_step(F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias,
                         self._hidden_size, activation=self._activation,
                         recurrent_activation=self._recurrent_activation)


class GRUCell(_TwoActivationCell):
    """GRU cell (cuDNN variant, as MXNet); gate rows reset, update, new."""
    _gates = 3

    def _alias(self):
        return "gru"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        self._check(inputs, states, i2h_weight)
        return gru_step(F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias,
                        self._hidden_size, activation=self._activation,
                        recurrent_activation=self._recurrent_activation)


# ------------------------------------------------------------------ containers
class _StackMixin:
    """add / len / indexing and the stacked step shared by the sequential cells."""

    def add(self, cell):
        self.register_child(cell)

    def __len__(self):
        return len(self._children)

    def __getitem__(self, i):
        return list(self._children.values())[i]

    def state_info(self, batch_size=0):
        return [info for c in self._children.values() for info in c.state_info(batch_size)]

    def begin_state(self, batch_size=0, **kwargs):
        if self._modified:
            raise MXNetError(f"{self.name}: call the modifier cell wrapping it instead")
        return [s for c in self._children.values()
                for s in c.begin_state(batch_size=batch_size, **kwargs)]

    def _step(self, inputs, states):
        next_states, p = [], 0
        for cell in self._children.values():
            if isinstance(cell, BidirectionalCell):
                raise MXNetError("a SequentialRNNCell holding a BidirectionalCell cannot be "
                                 "stepped; use unroll")
            n = len(cell.state_info())
            inputs, st = cell(inputs, states[p:p + n])
            next_states.extend(st)
            p += n
        return inputs, next_states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        """Each child unrolls the whole sequence in turn (so bidirectional layers work)."""
        self.reset()
        F, _ = _family(inputs)
        steps, _, batch = _as_steps(F, length, inputs, layout)
        if begin_state is None:
            begin_state = self.begin_state(batch_size=batch, **_zeros_for(F, steps))
        states, p, cells = [], 0, list(self._children.values())
        for i, cell in enumerate(cells):
            n = len(cell.state_info())
            inputs, st = cell.unroll(length, inputs, begin_state[p:p + n], layout,
                                     merge_outputs=None if i < len(cells) - 1
                                     else merge_outputs, valid_length=valid_length)
            states.extend(st)
            p += n
        return inputs, states


class SequentialRNNCell(_StackMixin, RecurrentCell):
    """Cells stacked: each step feeds the previous cell's output to the next."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)

    def forward(self, inputs, states):
        return self._step(inputs, list(states))


class HybridSequentialRNNCell(_StackMixin, HybridRecurrentCell):
    """SequentialRNNCell of hybrid cells; hybridize() compiles a step."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)

    def forward(self, inputs, *states):
        out, st = self._step(inputs, list(states))
        return (out, *st)


class DropoutCell(HybridRecurrentCell):
    """Dropout on the inputs while training; no states."""

    def __init__(self, rate, axes=(), prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        if not 0.0 <= rate <= 1.0:
            raise MXNetError(f"DropoutCell: rate must be in [0, 1], got {rate}")
        self._rate, self._axes = rate, tuple(axes)

    def _alias(self):
        return "dropout"

    def state_info(self, batch_size=0):
        return []

    def hybrid_forward(self, F, inputs, states):
        if self._rate > 0:
            inputs = F.Dropout(inputs, p=self._rate, axes=self._axes)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        """One dropout over the whole sequence when it is one array."""
        self.reset()
        F, was_array = _family(inputs)
        if was_array and merge_outputs is not False:
            out = F.Dropout(inputs, p=self._rate, axes=self._axes) if self._rate > 0 \
                else inputs
            return out, []
        return super().unroll(length, inputs, begin_state, layout, merge_outputs, valid_length)


class ModifierCell(HybridRecurrentCell):
    """Wraps a base cell (a child named 'base_cell') and changes what its step does."""

    def __init__(self, base_cell):
        if base_cell._modified:
            raise MXNetError(f"cell {base_cell.name} is already modified; one cell can only "
                             f"be modified once")
        base_cell._modified = True
        super().__init__(prefix=base_cell.prefix + self._alias(), params=None)
        self.base_cell = base_cell

    @property
    def params(self):
        return self.base_cell.params

    def state_info(self, batch_size=0):
        return self.base_cell.state_info(batch_size)

    def begin_state(self, batch_size=0, func=nd.zeros, **kwargs):
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(batch_size=batch_size, func=func, **kwargs)
        finally:
            self.base_cell._modified = True


class ZoneoutCell(ModifierCell):
    """Zoneout: while training, each output / state unit keeps its previous value with
    probability zoneout_outputs / zoneout_states (a dropout mask chooses)."""

    def __init__(self, base_cell, zoneout_outputs=0.0, zoneout_states=0.0):
        if isinstance(base_cell, BidirectionalCell):
            raise MXNetError("BidirectionalCell doesn't support zoneout since it doesn't "
                             "support step; apply ZoneoutCell to its cells instead")
        if isinstance(base_cell, SequentialRNNCell):
            raise MXNetError("SequentialRNNCell doesn't support zoneout; apply ZoneoutCell "
                             "to each of its cells instead")
        super().__init__(base_cell)
        self.zoneout_outputs, self.zoneout_states = zoneout_outputs, zoneout_states
        self._prev_output = None

    def reset(self):
        super().reset()
        self._prev_output = None

    def __call__(self, inputs, states):
        # the previous output is an argument, not a constant captured by a compiled step
        self.__dict__["_counter"] += 1     # (see reset)
        states = [states] if isinstance(states, NDArray) else list(states)
        flat = HybridBlock.__call__(self, inputs, self._prev_output, *states)
        self._prev_output = flat[0]
        return flat[0], list(flat[1:])

    def forward(self, inputs, prev_output, *states):
        F, _ = _family([inputs])
        out, new_states = self.base_cell(inputs, list(states))
        if prev_output is None:
            prev_output = F.zeros_like(out)

        def zoneout(p, new, old):
            if p == 0.0:
                return new
            return F.where(F.Dropout(F.ones_like(new), p=p), new, old)
        out = zoneout(self.zoneout_outputs, out, prev_output)
        new_states = [zoneout(self.zoneout_states, n, o) for n, o in zip(new_states, states)]
        return (out, *new_states)


class ResidualCell(ModifierCell):
    """Adds the step's input to the base cell's output."""

    def forward(self, inputs, *states):
        out, new_states = self.base_cell(inputs, list(states))
        return (out + inputs, *new_states)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs, begin_state, layout,
                                                    merge_outputs, valid_length)
        finally:
            self.base_cell._modified = True
        F, was_array = _family(inputs)
        merge = was_array if merge_outputs is None else merge_outputs
        steps, axis, _ = _as_steps(F, length, inputs, layout)
        if merge:
            residual = inputs if was_array else F.stack(*steps, axis=axis)
            if not _family(outputs)[1]:
                outputs = F.stack(*outputs, axis=axis)
            outputs = outputs + residual
        else:
            if _family(outputs)[1]:
                outputs = _as_steps(F, length, outputs, layout)[0]
            outputs = [o + x for o, x in zip(outputs, steps)]
        if valid_length is not None:
            masked = _mask_steps(F, outputs if not merge else
                                 _as_steps(F, length, outputs, layout)[0], valid_length,
                                 length)
            outputs = F.stack(*masked, axis=axis) if merge else masked
        return outputs, states


class BidirectionalCell(HybridRecurrentCell):
    """Runs l_cell forward and r_cell backward in time; outputs concatenated on the feature
    axis. It has no single step: use unroll."""

    def __init__(self, l_cell, r_cell, output_prefix="bi_"):
        super().__init__(prefix="", params=None)
        self.register_child(l_cell, "l_cell")
        self.register_child(r_cell, "r_cell")
        self._output_prefix = output_prefix

    def __call__(self, inputs, states):
        raise NotImplementedError("Bidirectional cannot be stepped. Please use unroll")

    def state_info(self, batch_size=0):
        return [i for c in self._children.values() for i in c.state_info(batch_size)]

    def begin_state(self, batch_size=0, **kwargs):
        if self._modified:
            raise MXNetError(f"{self.name}: call the modifier cell wrapping it instead")
        return [s for c in self._children.values()
                for s in c.begin_state(batch_size=batch_size, **kwargs)]

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        self.reset()
        F, was_array = _family(inputs)
        steps, axis, batch = _as_steps(F, length, inputs, layout)
        if begin_state is None:
            begin_state = self.begin_state(batch_size=batch, **_zeros_for(F, steps))
        l_cell, r_cell = self._children.values()
        n_l = len(l_cell.state_info(batch))
        l_out, l_states = l_cell.unroll(length, steps, begin_state[:n_l], layout,
                                        merge_outputs=False, valid_length=valid_length)
        r_out, r_states = r_cell.unroll(length, _reverse_steps(F, steps, valid_length),
                                        begin_state[n_l:], layout, merge_outputs=False,
                                        valid_length=valid_length)
        r_out = _reverse_steps(F, r_out, valid_length)
        # (MXNet names each step's output <output_prefix>t<k> in a graph)
        names = [{} if F is nd else {"name": f"{self._output_prefix}t{t}"}
                 for t in range(length)]
        outputs = [F.concat(lo, ro, dim=1, **kw) for lo, ro, kw in zip(l_out, r_out, names)]
        if valid_length is not None:
            outputs = _mask_steps(F, outputs, valid_length, length)
        return _merge(F, outputs, axis, merge_outputs, was_array), l_states + r_states
