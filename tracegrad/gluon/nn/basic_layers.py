"""Containers and basic layers: Sequential, HybridSequential, Dense, Dropout, BatchNorm,
LayerNorm, Embedding, Flatten, Lambda, HybridLambda. All compute through nd / composites."""
import math
import warnings

import numpy as np

from ... import nd
from ...array import F as _ops
from ...array import assign_state
from ...base import MXNetError
from ...ir.types import dtype_name
from ...nd_shape import _axis as _check_axis
from ...runtime.tape import STATE
from .. import functional
from ..block import Block, HybridBlock
from .norm_layers import affine_params


class _SequentialMixin:
    """add / len / indexing shared by Sequential and HybridSequential."""

    def add(self, *blocks):
        """Append blocks, in order."""
        for block in blocks:
            self.register_child(block)

    def __len__(self):
        return len(self._children)

    def __getitem__(self, key):
        layers = list(self._children.values())[key]
        if not isinstance(key, slice):
            return layers
        net = type(self)(prefix=self._prefix)
        with net.name_scope():
            net.add(*layers)
        return net

    def _run(self, x, args):
        for block in self._children.values():
            x = block(x, *args)
            args = ()
            if isinstance(x, (tuple, list)):
                x, args = x[0], tuple(x[1:])
        return x if not args else (x,) + args


class Sequential(_SequentialMixin, Block):
    """Runs children in order: net.add(nn.Dense(64), nn.Dense(10))."""

    def forward(self, x, *args):
        return self._run(x, args)

    def hybridize(self, active=True, **kwargs):
        if self._children and all(isinstance(c, HybridBlock) for c in self._children.values()):
            warnings.warn(f"All children of this Sequential layer '{self.prefix}' are "
                          f"HybridBlocks. Consider using HybridSequential for the best "
                          f"performance.", stacklevel=2)
        super().hybridize(active, **kwargs)


class HybridSequential(_SequentialMixin, HybridBlock):
    """Sequential of HybridBlocks; hybridize() compiles the whole chain."""

    def forward(self, x, *args):
        if self._active and self._called_directly(x):   # net.forward(x) once hybridized
            return self._call((x,) + args)
        return self._run(x, args)


class Dense(HybridBlock):
    """y = activation(x W^T + b). in_units=0 infers the input size at the first forward; with
    flatten=True inputs are reshaped to (batch, -1), else W applies to the last axis."""

    def __init__(self, units, activation=None, use_bias=True, flatten=True, dtype="float32",
                 weight_initializer=None, bias_initializer="zeros", in_units=0, **kwargs):
        super().__init__(**kwargs)
        self._units, self._in_units, self._flatten = units, in_units, flatten
        self._act_type = activation
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(units, in_units), dtype=dtype,
                                          init=weight_initializer, allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(units,), dtype=dtype,
                                        init=bias_initializer, allow_deferred_init=True) \
                if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def infer_shape(self, x, *args):
        n = math.prod(x.shape[1:]) if self._flatten else x.shape[-1]
        self.weight.shape = (self._units, n)

    def hybrid_forward(self, F, x, weight, bias=None):
        if x.ndim < 1:      # (a 1-d input is a batch of one feature each, as in MXNet)
            raise MXNetError(f"Dense: input of shape {x.shape} must have a batch axis "
                             f"(at least 1-d)")
        n = math.prod(x.shape[1:]) if self._flatten else x.shape[-1]
        if weight.shape[1] != n:
            raise MXNetError(
                f"Dense: input of shape {x.shape} ({dtype_name(np.dtype(x.dtype))}) has {n} "
                f"features{' after flattening' if self._flatten else ' on its last axis'}, but "
                f"the weight {weight.shape} expects in_units={weight.shape[1]}")
        out = F.FullyConnected(x, weight, bias, no_bias=bias is None, num_hidden=self._units,
                               flatten=self._flatten)
        return self.act(out) if self.act is not None else out

    def __repr__(self):
        shape = self.weight.shape
        return (f"Dense({shape[1] if shape[1] else None} -> {shape[0]}, "
                f"{self.act if self.act is not None else 'linear'})")   # MXNet: Activation(relu)


class Dropout(HybridBlock):
    """Zeroes inputs with probability `rate` while training (scaling the rest by 1/(1-rate)),
    sharing the mask along `axes`; the identity in inference."""

    def __init__(self, rate, axes=(), **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:     # (rate 1: NaN while training, as MXNet's kernel)
            raise MXNetError(f"Dropout: rate must be in [0, 1], got {rate}")
        self._rate, self._axes = rate, tuple(axes)

    def hybrid_forward(self, F, x):
        return F.Dropout(x, p=self._rate, axes=self._axes)

    def __repr__(self):
        return f"Dropout(p = {self._rate}, axes={self._axes})"


class BatchNorm(HybridBlock):
    """Batch normalization over all axes but `axis`. Training (autograd.is_training() and not
    use_global_stats) uses batch statistics and updates the running ones outside the graph:
    running = momentum * running + (1 - momentum) * batch (biased variance, as MXNet)."""

    def __init__(self, axis=1, momentum=0.9, epsilon=1e-5, center=True, scale=True,
                 use_global_stats=False, beta_initializer="zeros", gamma_initializer="ones",
                 running_mean_initializer="zeros", running_variance_initializer="ones",
                 in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self._axis, self._momentum, self._eps = axis, momentum, epsilon
        self._use_global_stats = use_global_stats
        get = self.params.get
        with self.name_scope():
            self.gamma = get("gamma", grad_req="write" if scale else "null",
                             shape=(in_channels,), init=gamma_initializer,
                             allow_deferred_init=True, differentiable=scale)
            self.beta = get("beta", grad_req="write" if center else "null",
                            shape=(in_channels,), init=beta_initializer,
                            allow_deferred_init=True, differentiable=center)
            self.running_mean = get("running_mean", grad_req="null", shape=(in_channels,),
                                    init=running_mean_initializer, allow_deferred_init=True,
                                    differentiable=False)
            self.running_var = get("running_var", grad_req="null", shape=(in_channels,),
                                   init=running_variance_initializer, allow_deferred_init=True,
                                   differentiable=False)
        for p in (self.gamma, self.beta, self.running_mean, self.running_var):
            p.half_dtype = np.float32   # MXNet's BatchNorm.cast: float16 keeps them float32

    def infer_shape(self, x, *args):
        channels = x.shape[_check_axis("BatchNorm", self._axis, x.ndim, shape=x.shape)]
        for p in (self.gamma, self.beta, self.running_mean, self.running_var):
            p.shape = (channels,)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        axis = _check_axis("BatchNorm", self._axis, x.ndim, shape=x.shape)
        if x.shape[axis] != gamma.shape[0]:
            raise MXNetError(f"BatchNorm: input of shape {x.shape} has {x.shape[axis]} "
                             f"channels on axis {axis}, expected {gamma.shape[0]}")
        half = np.dtype(x.dtype) == np.float16 and np.dtype(gamma.dtype) == np.float32
        if half:   # MXNet: float16 data with float32 parameters, computed in float32
            x = _ops.cast(x, dtype="f32")
        if not STATE.training or self._use_global_stats:
            out = functional.batch_norm(_ops, x, gamma, beta, running_mean, running_var,
                                        axis, self._eps)
        else:
            out, mean, var = functional.batch_norm_train(_ops, x, gamma, beta, axis, self._eps)
            self._update_running(running_mean, running_var, mean, var)
        return _ops.cast(out, dtype="f16") if half else out

    def _update_running(self, running_mean, running_var, mean, var):
        """running = m * running + (1 - m) * batch, written in place and off the graph; in a
        hybridized block the new values are outputs of the compiled call, written back after
        every call (array.assign_state)."""
        m = self._momentum
        for running, batch in ((running_mean, mean), (running_var, var)):
            new = _ops.add(_ops.mul(running, m), _ops.mul(_ops.stop_gradient(batch), 1.0 - m))
            assign_state(running, _ops.cast(new, dtype=dtype_name(running.dtype)))

    def __repr__(self):
        return (f"BatchNorm(axis={self._axis}, eps={self._eps}, momentum={self._momentum}, "
                f"in_channels={self.gamma.shape[0] or None})")


class LayerNorm(HybridBlock):
    """Normalizes each sample over `axis` (default the last), then gamma * x + beta."""

    def __init__(self, axis=-1, epsilon=1e-5, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self._axis, self._eps = axis, epsilon
        affine_params(self, in_channels, center, scale, beta_initializer, gamma_initializer)

    def infer_shape(self, x, *args):
        axis = _check_axis("LayerNorm", self._axis, x.ndim, shape=x.shape)
        self.gamma.shape = self.beta.shape = (x.shape[axis],)

    def hybrid_forward(self, F, x, gamma, beta):
        axis = _check_axis("LayerNorm", self._axis, x.ndim, shape=x.shape)
        if x.shape[axis] != gamma.shape[0]:
            raise MXNetError(f"LayerNorm: input of shape {x.shape} has {x.shape[axis]} "
                             f"features on axis {axis}, expected {gamma.shape[0]}")
        return functional.layer_norm(_ops, x, gamma, beta, axis, self._eps)


class Embedding(HybridBlock):
    """Rows of a (input_dim, output_dim) weight picked by integer (or float) indices."""

    def __init__(self, input_dim, output_dim, dtype="float32", weight_initializer=None,
                 sparse_grad=False, **kwargs):
        super().__init__(**kwargs)
        self._input_dim, self._output_dim = input_dim, output_dim
        self._sparse_grad = sparse_grad
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(input_dim, output_dim), dtype=dtype,
                                          init=weight_initializer,
                                          grad_stype="row_sparse" if sparse_grad else "default")

    def hybrid_forward(self, F, x, weight):
        return F.Embedding(x, weight, input_dim=self._input_dim, output_dim=self._output_dim,
                           sparse_grad=self._sparse_grad)

    def __repr__(self):
        return f"Embedding({self._input_dim} -> {self._output_dim})"


class Flatten(HybridBlock):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def hybrid_forward(self, F, x):
        return F.flatten(x)


def _resolve(function, who):
    if isinstance(function, str):
        fn = getattr(nd, function, None)
        if fn is None:
            raise MXNetError(f"{who}: function {function!r} is not an operator in tracegrad.nd")
        return fn
    if not callable(function):
        raise MXNetError(f"{who}: expected a function or the name of an nd operator, got "
                         f"{function!r}")
    return function


class Lambda(Block):
    """Wraps a function of NDArrays (or the name of an nd operator) as a Block."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        self._func = _resolve(function, "Lambda")

    def forward(self, *args):
        return self._func(*args)


class HybridLambda(HybridBlock):
    """Wraps function(F, x, ...) (or the name of an nd operator) as a HybridBlock."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            op = _resolve(function, "HybridLambda")
            self._func = lambda F, *args: op(*args)
        else:
            self._func = _resolve(function, "HybridLambda")

    def hybrid_forward(self, F, x, *args):
        return self._func(F, x, *args)


from .activations import Activation  # noqa: E402  (Dense builds one)
