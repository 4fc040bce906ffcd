"""Convolution and pooling layers (MXNet 1.9.1 gluon.nn.conv_layers): Conv1D/2D/3D, their
Transpose versions, Max/Avg/GlobalMax/GlobalAvg pooling in 1-3 D, and ReflectionPad2D.

Parameter names (`weight`, `bias`) and shapes are MXNet's, so MXNet .params files load:
convolution weight (channels, in_channels / groups, *kernel) (channel-last layouts:
(channels, *kernel, in_channels / groups)), transposed convolution weight
(in_channels, channels / groups, *kernel), bias (channels,).
"""
import numpy as np

from ...base import MXNetError
from ..block import HybridBlock
from .activations import Activation


def _expand(value, n, what, layer):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise MXNetError(f"{layer}: {what} {value} needs {n} entries")
    return value


_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


class _Conv(HybridBlock):
    """Shared by every (transposed) convolution: the op is nd.Convolution or nd.Deconvolution
    with MXNet's keyword arguments; the weight's input channels are inferred on first call."""

    def __init__(self, channels, kernel_size, strides, padding, dilation, groups, layout,
                 in_channels=0, activation=None, use_bias=True, weight_initializer=None,
                 bias_initializer="zeros", op_name="Convolution", adj=None, **kwargs):
        super().__init__(**kwargs)
        d = len(kernel_size)
        name = type(self).__name__
        if layout not in _LAYOUTS[d]:
            raise MXNetError(f"{name}: layout {layout!r} is not one of {_LAYOUTS[d]}")
        self._channels, self._in_channels, self._groups = channels, in_channels, groups
        self._op_name, self._layout = op_name, layout
        self._kwargs = {"kernel": tuple(kernel_size),
                        "stride": _expand(strides, d, "strides", name),
                        "dilate": _expand(dilation, d, "dilation", name),
                        "pad": _expand(padding, d, "padding", name),
                        "num_filter": channels, "num_group": groups, "no_bias": not use_bias,
                        "layout": layout}
        if adj is not None:
            self._kwargs["adj"] = _expand(adj, d, "output_padding", name)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=self._weight_shape(in_channels),
                                          init=weight_initializer, allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def _alias(self):
        return "conv"

    def _weight_shape(self, in_channels):
        kernel = self._kwargs["kernel"]
        if self._op_name == "Deconvolution":
            shape = (in_channels, self._channels // self._groups)
        else:
            shape = (self._channels, in_channels // self._groups)
        if self._layout[1] == "C":
            return shape + kernel
        return shape[:1] + kernel + shape[1:]

    def infer_shape(self, x, *args):
        self.weight.shape = self._weight_shape(x.shape[self._layout.index("C")])

    def hybrid_forward(self, F, x, weight, bias=None):
        channels = x.shape[self._layout.index("C")] if x.ndim == len(self._layout) else None
        expected = self.weight.shape[0] if self._op_name == "Deconvolution" else \
            self.weight.shape[1 if self._layout[1] == "C" else -1] * self._groups
        if x.ndim != len(self._layout) or channels != expected:
            raise MXNetError(f"{type(self).__name__}: input of shape {x.shape} does not match "
                             f"layout {self._layout} with {expected} input channels")
        op = getattr(F, self._op_name)
        out = op(x, weight, bias, **self._kwargs) if bias is not None else \
            op(x, weight, **self._kwargs)
        return self.act(out) if self.act is not None else out

    def __repr__(self):
        """MXNet's: padding, dilation, groups only when not their defaults, `bias=False`
        without a bias, the activation last; the mapping is weight.shape[1] -> shape[0]
        (so a transposed convolution shows `channels -> in_channels`, as MXNet's does)."""
        k, n = self._kwargs, len(self._kwargs["kernel"])
        shape = self.weight.shape
        s = (f"{type(self).__name__}({shape[1] or None} -> {shape[0]}, "
             f"kernel_size={k['kernel']}, stride={k['stride']}")
        if k["pad"] != (0,) * n:
            s += f", padding={k['pad']}"
        if k["dilate"] != (1,) * n:
            s += f", dilation={k['dilate']}"
        if k["num_group"] != 1:
            s += f", groups={k['num_group']}"
        if self.bias is None:
            s += ", bias=False"
        if self.act is not None:
            s += f", {self.act}"
        return s + ")"


def _conv_class(name, d, layout, transpose):
    def __init__(self, channels, kernel_size, strides=1, padding=0, *rest, **kwargs):
        # positional order after padding: (output_padding,) dilation, groups, layout, ...
        names = (["output_padding"] if transpose else []) + [
            "dilation", "groups", "layout", "activation", "use_bias", "weight_initializer",
            "bias_initializer", "in_channels"]
        kwargs.update(zip(names, rest))
        kernel = _expand(kernel_size, d, "kernel_size", name)
        adj = kwargs.pop("output_padding", 0) if transpose else None
        _Conv.__init__(self, channels, kernel, strides, padding, kwargs.pop("dilation", 1),
                       kwargs.pop("groups", 1), kwargs.pop("layout", layout),
                       op_name="Deconvolution" if transpose else "Convolution", adj=adj,
                       **kwargs)
    doc = (f"{d}-D {'transposed ' if transpose else ''}convolution, MXNet's gluon.nn.{name}: "
           f"{name}(channels, kernel_size, strides=1, padding=0, "
           f"{'output_padding=0, ' if transpose else ''}dilation=1, groups=1, "
           f"layout='{layout}', activation=None, use_bias=True, weight_initializer=None, "
           f"bias_initializer='zeros', in_channels=0)")
    return type(name, (_Conv,), {"__init__": __init__, "__doc__": doc})


Conv1D = _conv_class("Conv1D", 1, "NCW", False)
Conv2D = _conv_class("Conv2D", 2, "NCHW", False)
Conv3D = _conv_class("Conv3D", 3, "NCDHW", False)
Conv1DTranspose = _conv_class("Conv1DTranspose", 1, "NCW", True)
Conv2DTranspose = _conv_class("Conv2DTranspose", 2, "NCHW", True)
Conv3DTranspose = _conv_class("Conv3DTranspose", 3, "NCDHW", True)


class _Pooling(HybridBlock):
    """nd.Pooling with MXNet's keyword arguments; ceil_mode selects the 'full' convention."""

    def __init__(self, pool_size, strides, padding, ceil_mode, global_pool, pool_type, layout,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        d = len(pool_size)
        strides = pool_size if strides is None else strides
        self._kwargs = {"kernel": tuple(pool_size),
                        "stride": _expand(strides, d, "strides", type(self).__name__),
                        "pad": _expand(padding, d, "padding", type(self).__name__),
                        "global_pool": global_pool, "pool_type": pool_type, "layout": layout,
                        "pooling_convention": "full" if ceil_mode else "valid"}
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def _alias(self):
        return "pool"

    def hybrid_forward(self, F, x):
        return F.Pooling(x, **self._kwargs)

    def __repr__(self):
        k = self._kwargs
        return (f"{type(self).__name__}(size={k['kernel']}, stride={k['stride']}, "
                f"padding={k['pad']}, ceil_mode={k['pooling_convention'] == 'full'}, "
                f"global_pool={k['global_pool']}, pool_type={k['pool_type']}, "
                f"layout={k['layout']})")


def _pool_class(name, d, layout, pool_type):
    has_count = pool_type == "avg"

    def __init__(self, pool_size=(2,) * d if d > 1 else 2, strides=None, padding=0, *rest,
                 **kwargs):
        names = ["layout", "ceil_mode"] if pool_type == "max" else ["ceil_mode", "layout",
                                                                     "count_include_pad"]
        kwargs.update(zip(names, rest))
        extra = {"count_include_pad": kwargs.pop("count_include_pad", True)} if has_count else {}
        _Pooling.__init__(self, _expand(pool_size, d, "pool_size", name), strides, padding,
                          kwargs.pop("ceil_mode", False), False, pool_type,
                          kwargs.pop("layout", layout), **extra, **kwargs)
    doc = f"{d}-D {pool_type} pooling, MXNet's gluon.nn.{name}."
    return type(name, (_Pooling,), {"__init__": __init__, "__doc__": doc})


def _global_pool_class(name, d, layout, pool_type):
    def __init__(self, layout=layout, **kwargs):
        _Pooling.__init__(self, (1,) * d, None, 0, True, True, pool_type, layout, **kwargs)
    doc = f"Global {d}-D {pool_type} pooling (output keeps the spatial axes as size 1)."
    return type(name, (_Pooling,), {"__init__": __init__, "__doc__": doc})


MaxPool1D = _pool_class("MaxPool1D", 1, "NCW", "max")
MaxPool2D = _pool_class("MaxPool2D", 2, "NCHW", "max")
MaxPool3D = _pool_class("MaxPool3D", 3, "NCDHW", "max")
AvgPool1D = _pool_class("AvgPool1D", 1, "NCW", "avg")
AvgPool2D = _pool_class("AvgPool2D", 2, "NCHW", "avg")
AvgPool3D = _pool_class("AvgPool3D", 3, "NCDHW", "avg")
GlobalMaxPool1D = _global_pool_class("GlobalMaxPool1D", 1, "NCW", "max")
GlobalMaxPool2D = _global_pool_class("GlobalMaxPool2D", 2, "NCHW", "max")
GlobalMaxPool3D = _global_pool_class("GlobalMaxPool3D", 3, "NCDHW", "max")
GlobalAvgPool1D = _global_pool_class("GlobalAvgPool1D", 1, "NCW", "avg")
GlobalAvgPool2D = _global_pool_class("GlobalAvgPool2D", 2, "NCHW", "avg")
GlobalAvgPool3D = _global_pool_class("GlobalAvgPool3D", 3, "NCDHW", "avg")


class ReflectionPad2D(HybridBlock):
    """Pads the last two axes of (N, C, H, W) by reflection (the edge is not repeated).
    padding: an int, or MXNet's 8-tuple pad_width (only the last four entries may be set)."""

    def __init__(self, padding=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, (int, np.integer)):
            padding = (0, 0, 0, 0, padding, padding, padding, padding)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 8 or any(padding[:4]) or min(padding) < 0:
            raise MXNetError(f"ReflectionPad2D: padding {padding} must be an int or 8 entries "
                             f"with the first four 0")
        self._padding = padding

    def hybrid_forward(self, F, x):
        if x.ndim != 4:
            raise MXNetError(f"ReflectionPad2D: input of shape {x.shape} must be 4-d")
        for axis, (lo, hi) in ((2, self._padding[4:6]), (3, self._padding[6:8])):
            n = x.shape[axis]
            if lo >= n or hi >= n:
                raise MXNetError(f"ReflectionPad2D: padding ({lo}, {hi}) must be smaller than "
                                 f"the axis size {n} of input {x.shape}")
            if lo or hi:
                index = np.concatenate([np.arange(lo, 0, -1), np.arange(n),
                                        np.arange(n - 2, n - 2 - hi, -1)]).astype(np.int64)
                x = F.take(x, F.array(index, dtype=np.int64), axis=axis)
        return x

    def __repr__(self):
        return f"ReflectionPad2D(padding={self._padding})"
