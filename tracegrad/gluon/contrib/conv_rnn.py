"""`gluon.contrib.rnn`'s convolutional cells (MXNet 1.9.1 conv_rnn_cell.py): Conv{1,2,3}D
{RNN,LSTM,GRU}Cell, the Elman / LSTM / GRU updates with both projections convolutions.

The input to hidden convolution uses the given kernel, pad and dilation (stride 1); the hidden
to hidden one pads d * (k - 1) // 2 so the state keeps its size, which is why its kernel must
be odd. `input_shape` is one step's shape without the batch axis (C, H, W for NCHW), so the
weights' shapes and the state's shape are known from the start; the state has
`hidden_channels` channels and the input convolution's output size.
"""
from ...array import NDArray
from ...base import MXNetError
from ...recurrent import gru_gates, lstm_gates, rnn_gates
from ..rnn.rnn_cell import HybridRecurrentCell

__all__ = [f"Conv{d}D{kind}Cell" for d in (1, 2, 3) for kind in ("RNN", "LSTM", "GRU")]


def _spec(value, dims, what, cls):
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(int(v) for v in value)
    if len(value) != dims:
        raise MXNetError(f"{cls}: for {dims}D convolution {what} must be an int or {dims} "
                         f"numbers, got {value}")
    return value


class _BaseConvRNNCell(HybridRecurrentCell):
    _num_gates = 1

    def __init__(self, input_shape, hidden_channels, i2h_kernel, h2h_kernel, i2h_pad,
                 i2h_dilate, h2h_dilate, i2h_weight_initializer, h2h_weight_initializer,
                 i2h_bias_initializer, h2h_bias_initializer, dims, conv_layout, activation,
                 prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        cls = type(self).__name__
        self._hidden_channels, self._activation = hidden_channels, activation
        self._input_shape, self._conv_layout = tuple(input_shape), conv_layout
        if len(self._input_shape) != dims + 1 or len(conv_layout) != dims + 2:
            raise MXNetError(f"{cls}: input_shape {input_shape} must be one step's shape "
                             f"without the batch axis ({dims + 1} numbers) in layout "
                             f"{conv_layout}")
        self._i2h_kernel = _spec(i2h_kernel, dims, "i2h_kernel", cls)
        self._i2h_pad = _spec(i2h_pad, dims, "i2h_pad", cls)
        self._i2h_dilate = _spec(i2h_dilate, dims, "i2h_dilate", cls)
        self._h2h_kernel = _spec(h2h_kernel, dims, "h2h_kernel", cls)
        self._h2h_dilate = _spec(h2h_dilate, dims, "h2h_dilate", cls)
        if any(k % 2 == 0 for k in self._h2h_kernel):
            raise MXNetError(f"{cls}: h2h_kernel must be odd (the state keeps its size), got "
                             f"{self._h2h_kernel}")
        self._stride = (1,) * dims
        self._h2h_pad = tuple(d * (k - 1) // 2 for d, k in zip(self._h2h_dilate,
                                                                self._h2h_kernel))
        self._channel_axis = conv_layout.find("C")
        channels_first = self._channel_axis == 1
        in_channels = self._input_shape[self._channel_axis - 1]
        spatial = self._input_shape[1:] if channels_first else self._input_shape[:-1]
        out_size = tuple((x + 2 * p - d * (k - 1) - 1) + 1 if x else 0 for x, k, p, d in
                         zip(spatial, self._i2h_kernel, self._i2h_pad, self._i2h_dilate))
        total = hidden_channels * self._num_gates
        if channels_first:
            i2h_shape = (total, in_channels) + self._i2h_kernel
            h2h_shape = (total, hidden_channels) + self._h2h_kernel
            self._state_shape = (hidden_channels,) + out_size
        else:
            i2h_shape = (total,) + self._i2h_kernel + (in_channels,)
            h2h_shape = (total,) + self._h2h_kernel + (hidden_channels,)
            self._state_shape = out_size + (hidden_channels,)
        get = self.params.get
        self.i2h_weight = get("i2h_weight", shape=i2h_shape, init=i2h_weight_initializer,
                              allow_deferred_init=True)
        self.h2h_weight = get("h2h_weight", shape=h2h_shape, init=h2h_weight_initializer,
                              allow_deferred_init=True)
        self.i2h_bias = get("i2h_bias", shape=(total,), init=i2h_bias_initializer,
                            allow_deferred_init=True)
        self.h2h_bias = get("h2h_bias", shape=(total,), init=h2h_bias_initializer,
                            allow_deferred_init=True)

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size,) + self._state_shape, "__layout__": self._conv_layout}]

    def __repr__(self):
        return (f"{type(self).__name__}({self._input_shape} -> {self._hidden_channels}, "
                f"i2h_kernel={self._i2h_kernel}, h2h_kernel={self._h2h_kernel})")

    def infer_shape(self, inputs, *states):
        """An input_shape given with 0 channels (MXNet's (0, 7)) takes them from the first
        input: the input convolution's weight, then the shape every later step checks."""
        channels = inputs.shape[self._channel_axis]
        shape = list(self.i2h_weight.shape)
        shape[1 if self._channel_axis == 1 else -1] = channels
        self.i2h_weight.shape = tuple(shape)
        given = list(self._input_shape)
        given[self._channel_axis - 1] = channels
        self._input_shape = tuple(given)

    def _projections(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        if isinstance(inputs, NDArray):     # (Symbols: the graph's shape inference checks)
            want = [tuple(i["shape"]) for i in self.state_info(inputs.shape[0])]
            if tuple(inputs.shape[1:]) != self._input_shape or \
                    [tuple(s.shape) for s in states] != want:
                raise MXNetError(f"{type(self).__name__}: a step takes inputs (batch, "
                                 f"*{self._input_shape}) and states of shapes {want}, got "
                                 f"{tuple(inputs.shape)} and "
                                 f"{[tuple(s.shape) for s in states]}")
        filters = self._hidden_channels * self._num_gates
        i2h = F.Convolution(inputs, i2h_weight, i2h_bias, kernel=self._i2h_kernel,
                            stride=self._stride, pad=self._i2h_pad, dilate=self._i2h_dilate,
                            num_filter=filters, layout=self._conv_layout)
        h2h = F.Convolution(states[0], h2h_weight, h2h_bias, kernel=self._h2h_kernel,
                            stride=self._stride, pad=self._h2h_pad, dilate=self._h2h_dilate,
                            num_filter=filters, layout=self._conv_layout)
        return i2h, h2h


class _ConvRNNCell(_BaseConvRNNCell):
    """h' = activation(conv(x) + conv(h))."""

    def _alias(self):
        return "conv_rnn"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        i2h, h2h = self._projections(F, inputs, states, i2h_weight, h2h_weight, i2h_bias,
                                     h2h_bias)
        return rnn_gates(F, i2h, h2h, states, activation=self._activation)


class _ConvLSTMCell(_BaseConvRNNCell):
    """ConvLSTM (Shi et al. 2015) without peepholes; states [h, c]; gates input, forget, cell
    candidate, output along the channel axis."""
    _num_gates = 4

    def _alias(self):
        return "conv_lstm"

    def state_info(self, batch_size=0):
        return super().state_info(batch_size) * 2

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        i2h, h2h = self._projections(F, inputs, states, i2h_weight, h2h_weight, i2h_bias,
                                     h2h_bias)
        return lstm_gates(F, i2h, h2h, states, activation=self._activation,
                          axis=self._channel_axis)


class _ConvGRUCell(_BaseConvRNNCell):
    """Convolutional GRU; gates reset, update, new along the channel axis (the reset gate
    multiplies the hidden projection, as MXNet's)."""
    _num_gates = 3

    def _alias(self):
        return "conv_gru"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        i2h, h2h = self._projections(F, inputs, states, i2h_weight, h2h_weight, i2h_bias,
                                     h2h_bias)
        return gru_gates(F, i2h, h2h, states, activation=self._activation,
                         axis=self._channel_axis)


_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def _make(kind_base, dims, name, doc):
    def __init__(self, input_shape, hidden_channels, i2h_kernel, h2h_kernel,
                 i2h_pad=(0,) * dims, i2h_dilate=(1,) * dims, h2h_dilate=(1,) * dims,
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 conv_layout=_LAYOUTS[dims], activation="tanh", prefix=None, params=None):
        kind_base.__init__(self, input_shape, hidden_channels, i2h_kernel, h2h_kernel,
                           i2h_pad, i2h_dilate, h2h_dilate, i2h_weight_initializer,
                           h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                           dims, conv_layout, activation, prefix=prefix, params=params)
    return type(name, (kind_base,), {"__init__": __init__, "__doc__": doc,
                                     "__module__": __name__})


for _dims in (1, 2, 3):
    for _kind, _base in (("RNN", _ConvRNNCell), ("LSTM", _ConvLSTMCell),
                         ("GRU", _ConvGRUCell)):
        _name = f"Conv{_dims}D{_kind}Cell"
        globals()[_name] = _make(_base, _dims, _name,
                                 f"{_dims}D convolutional {_kind} cell (module docstring); "
                                 f"input_shape is one step's ({_LAYOUTS[_dims][1:]}) shape.")
