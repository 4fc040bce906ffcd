"""`gluon.contrib.cnn`: DeformableConvolution and ModulatedDeformableConvolution, as MXNet 1.9.1
names and builds them. An ordinary convolution of the input (`offset_weight`, `offset_bias`,
zeros at first, so the layer starts as a plain convolution) gives each output position its
sampling offsets (and, modulated, its mask: sigmoid times 2); nd.contrib's operators then
convolve with `deformable_conv_weight` / `deformable_conv_bias`. The input channels are taken
from the first input when in_channels is 0."""
from ...base import MXNetError
from ..block import HybridBlock
from ..nn.activations import Activation

__all__ = ["DeformableConvolution", "ModulatedDeformableConvolution"]


def _pair(value, what):
    value = (value,) * 2 if isinstance(value, int) else tuple(value)
    if len(value) != 2:
        raise MXNetError(f"{what} must be an int or 2 numbers (2-D only), got {value}")
    return value


class DeformableConvolution(HybridBlock):
    """2-D deformable convolution (Dai et al. 2017): offsets from a convolution of the input,
    num_deformable_group offset fields per tap."""

    def __init__(self, channels, kernel_size=(1, 1), strides=(1, 1), padding=(0, 0),
                 dilation=(1, 1), groups=1, num_deformable_group=1, layout="NCHW",
                 use_bias=True, in_channels=0, activation=None, weight_initializer=None,
                 bias_initializer="zeros", offset_weight_initializer="zeros",
                 offset_bias_initializer="zeros", offset_use_bias=True, op_name=None,
                 adj=None, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        if layout != "NCHW":
            raise MXNetError(f"{type(self).__name__}: only layout NCHW is supported, got "
                             f"{layout!r}")
        kernel = _pair(kernel_size, "kernel_size")
        common = dict(kernel=kernel, stride=_pair(strides, "strides"),
                      dilate=_pair(dilation, "dilation"), pad=_pair(padding, "padding"),
                      num_group=groups, layout=layout)
        taps = kernel[0] * kernel[1] * num_deformable_group
        self._offset_split = 2 * taps
        self._kwargs_offset = dict(common, num_filter=self._offset_channels(taps),
                                   no_bias=not offset_use_bias)
        self._kwargs_deformable_conv = dict(common, num_filter=channels,
                                            num_deformable_group=num_deformable_group,
                                            no_bias=not use_bias)
        self._groups, self._channels = groups, channels
        with self.name_scope():
            get = self.params.get
            rows_in = in_channels // groups if in_channels else 0
            self._register_offset(get, rows_in, kernel, offset_weight_initializer,
                                  offset_bias_initializer, offset_use_bias)
            self.deformable_conv_weight = get(
                "deformable_conv_weight", shape=(channels, rows_in) + kernel,
                init=weight_initializer, allow_deferred_init=True)
            self.deformable_conv_bias = get(
                "deformable_conv_bias", shape=(channels,), init=bias_initializer,
                allow_deferred_init=True) if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def _offset_channels(self, taps):
        return 2 * taps

    def _register_offset(self, get, rows_in, kernel, w_init, b_init, use_bias):
        self.offset_weight = get("offset_weight",
                                 shape=(self._kwargs_offset["num_filter"], rows_in) + kernel,
                                 init=w_init, allow_deferred_init=True)
        self.offset_bias = get("offset_bias", shape=(self._kwargs_offset["num_filter"],),
                               init=b_init, allow_deferred_init=True) if use_bias else None

    def infer_shape(self, x, *args):
        rows_in = x.shape[1] // self._groups
        for p in (self.offset_weight, self.deformable_conv_weight):
            p.shape = (p.shape[0], rows_in) + tuple(p.shape[2:])

    def _alias(self):
        return "deformable_conv"

    def _offsets(self, F, x, offset_weight, offset_bias):
        if offset_bias is None:
            return F.Convolution(x, offset_weight, **self._kwargs_offset)
        return F.Convolution(x, offset_weight, offset_bias, **self._kwargs_offset)

    def _deform(self, F, x, offset, weight, bias):
        return F.contrib.DeformableConvolution(x, offset, weight, bias,
                                               **self._kwargs_deformable_conv)

    def hybrid_forward(self, F, x, offset_weight, deformable_conv_weight, offset_bias=None,
                       deformable_conv_bias=None):
        offset = self._offsets(F, x, offset_weight, offset_bias)
        out = self._deform(F, x, offset, deformable_conv_weight, deformable_conv_bias)
        return self.act(out) if self.act is not None else out

    def __repr__(self):
        k = self._kwargs_deformable_conv
        shape = self.deformable_conv_weight.shape
        s = (f"{type(self).__name__}({shape[1] * self._groups if shape[1] else None} -> "
             f"{shape[0]}, kernel_size={k['kernel']}, stride={k['stride']}")
        if k["pad"] != (0, 0):
            s += f", padding={k['pad']}"
        if k["dilate"] != (1, 1):
            s += f", dilation={k['dilate']}"
        if k["num_group"] != 1:
            s += f", groups={k['num_group']}"
        if self.deformable_conv_bias is None:
            s += ", bias=False"
        if self.act is not None:
            s += f", {self.act}"
        return s + ")"


class ModulatedDeformableConvolution(DeformableConvolution):
    """Deformable ConvNets v2 (Zhu et al. 2019): the offset convolution also gives each tap a
    mask, 2 * sigmoid, that scales what it samples."""

    def _offset_channels(self, taps):
        return 3 * taps

    def _register_offset(self, get, rows_in, kernel, w_init, b_init, use_bias):
        # (MXNet registers the modulated layer's offset parameters after its weights; the
        # order is what collect_params and saved files list)
        self._offset_args = (rows_in, kernel, w_init, b_init, use_bias)

    def __init__(self, channels, *args, **kwargs):
        super().__init__(channels, *args, **kwargs)
        rows_in, kernel, w_init, b_init, use_bias = self._offset_args
        with self.name_scope():
            DeformableConvolution._register_offset(self, self.params.get, rows_in, kernel,
                                                   w_init, b_init, use_bias)

    def _alias(self):
        return "modulated_deformable_conv"

    def _deform(self, F, x, offset, weight, bias):
        moves = F.slice_axis(offset, axis=1, begin=0, end=self._offset_split)
        mask = F.sigmoid(F.slice_axis(offset, axis=1, begin=self._offset_split, end=None)) * 2
        return F.contrib.ModulatedDeformableConvolution(x, moves, mask, weight, bias,
                                                        **self._kwargs_deformable_conv)
