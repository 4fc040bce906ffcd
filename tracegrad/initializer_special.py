"""Initializers with structure, as MXNet 1.9.1 defines them: Orthogonal, Bilinear (upsampling
deconvolution kernels), LSTMBias (forget-gate bias) and Mixed (by parameter-name pattern).
Reached as mx.init.<Name>; registered for create('orthogonal') etc."""
import re

import numpy as np

from . import random
from .base import MXNetError
from .initializer import Initializer, _fill, register


@register
class Orthogonal(Initializer):
    """scale times an orthonormal matrix from the SVD of a (rows, prod(rest)) random draw
    (rand_type 'uniform' in [-1, 1] or 'normal'): Saxe et al., arXiv:1312.6120."""

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale, self.rand_type = scale, rand_type

    def _init_weight(self, name, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            tmp = random.uniform(-1.0, 1.0, shape=(nout, nin)).asnumpy()
        elif self.rand_type == "normal":
            tmp = random.normal(0.0, 1.0, shape=(nout, nin)).asnumpy()
        else:
            raise MXNetError(f"Orthogonal: rand_type must be 'uniform' or 'normal', got "
                             f"{self.rand_type!r}")
        u, _, v = np.linalg.svd(tmp.astype(np.float64), full_matrices=False)
        res = u if u.shape == tmp.shape else v
        _fill(arr, self.scale * res.reshape(arr.shape))


@register
class Bilinear(Initializer):
    """Bilinear-upsampling kernels for (.., .., kh, kw) deconvolution weights."""

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) != 4:
            raise MXNetError(f"Bilinear initializer needs a 4-d weight, got {name!r} of "
                             f"shape {shape}")
        f = np.ceil(shape[3] / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        x = np.arange(shape[3])
        y = np.arange(shape[2])
        kernel = np.outer(1 - np.abs(y / f - c), 1 - np.abs(x / f - c)).astype(np.float32)
        _fill(arr, np.broadcast_to(kernel, shape))


@register
class LSTMBias(Initializer):
    """Zeros except the forget gate (the second of an LSTM's 4 gates), set to forget_bias."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        values = np.zeros(arr.shape)
        num_hidden = int(arr.shape[0] / 4)
        values[num_hidden:2 * num_hidden] = self.forget_bias
        _fill(arr, values)


class Mixed(Initializer):
    """The first initializer whose pattern re.match-es the parameter name initializes it."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise ValueError(f"Mixed: {len(patterns)} patterns for {len(initializers)} "
                             f"initializers")
        super().__init__()
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def _pick(self, name):
        for prog, init in self.map:
            if prog.match(str(name)):
                return init
        raise ValueError(f"Parameter name {name} did not match any pattern. Consider adding "
                         f"a \".*\" pattern at the end with a default Initializer.")

    def __call__(self, name, arr):
        self._pick(name)(name, arr)

    def _init_weight(self, name, arr):
        """What a Gluon Parameter calls: the matching initializer's own fill."""
        from .initializer import create
        create(self._pick(name))._init_weight(name, arr)


@register
class FusedRNN(Initializer):
    """A FusedRNNCell's flat `parameters` vector initialized piece by piece: each gate's
    weight by `init` (else the initializer the module was given), biases zero, an LSTM's
    forget-gate bias `forget_bias`, as MXNet's FusedRNN initializer does through the cell's
    unpack_weights / pack_weights."""

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False,
                 forget_bias=1.0):
        from .initializer import create
        if isinstance(init, str):
            init = create(init)
        super().__init__(init=init.dumps() if init is not None else None,
                         num_hidden=num_hidden, num_layers=num_layers, mode=mode,
                         bidirectional=bidirectional, forget_bias=forget_bias)
        self._init = init
        self._num_hidden, self._num_layers = num_hidden, num_layers
        self._mode, self._bidirectional = mode, bidirectional
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        from .initializer import InitDesc
        from .rnn.rnn_cell import FusedRNNCell
        cell = FusedRNNCell(self._num_hidden, self._num_layers, self._mode,
                            self._bidirectional, forget_bias=self._forget_bias, prefix="")
        pieces = cell.unpack_weights({"parameters": arr})
        fallback = getattr(desc, "global_init", None)
        for name, piece in pieces.items():
            if self._mode == "lstm" and name.endswith("_f_bias"):
                _fill(piece, self._forget_bias)
            elif name.endswith("bias"):
                _fill(piece, 0.0)
            elif self._init is not None:
                self._init(InitDesc(name), piece)
            elif fallback is not None:
                fallback(InitDesc(name, global_init=fallback), piece)
            else:
                raise MXNetError(f"FusedRNN: no initializer for '{name}' (give init= or "
                                 f"initialize through a module with an initializer)")
        _fill(arr, cell.pack_weights(pieces)["parameters"])
