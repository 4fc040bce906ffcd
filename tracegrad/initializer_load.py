"""`mx.init.Load` (MXNet 1.9.1): initialize parameters from saved arrays, a dict of name ->
NDArray or a file nd.save / save_parameters wrote (read by nd.load: never unpickled), with
'arg:' / 'aux:' prefixes dropped; names not found go to `default_init`."""
import logging

import numpy as np

from .base import MXNetError
from .initializer import Initializer, _fill, as_ndarray, create


class Load(Initializer):
    """Fill each parameter with the loaded array of its name (shapes must match), or with
    default_init when the name is not there (an error without one)."""

    def __init__(self, param, default_init=None, verbose=False):
        super().__init__()
        if isinstance(param, str):
            from .nd import load
            param = load(param)
        if not isinstance(param, dict):
            raise MXNetError(f"Load: param must be a dict of name -> NDArray or a file of "
                             f"named arrays, got {type(param).__name__}")
        self.param = {}
        for name, arr in param.items():
            key = name[4:] if name.startswith(("arg:", "aux:")) else name
            self.param[key] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, desc, arr):
        self._load(desc, as_ndarray(arr), None)

    def _init_weight(self, name, arr):
        self._load(name, arr, None)

    def for_parameter(self, own_init):
        """What fills a parameter whose own init is `own_init` when this Load is the global
        initializer: the loaded array when its name is there (MXNet's Load ignores own
        inits), else own_init if it has one, else default_init."""
        return _LoadFor(self, own_init)

    def _load(self, desc, arr, own_init):
        name = str(desc)
        if name in self.param:
            value = self.param[name]
            shape = tuple(value.shape)
            if tuple(arr.shape) != shape:
                raise MXNetError(f"Load: parameter {name} cannot be initialized from loading: "
                                 f"shape mismatch, target {tuple(arr.shape)} vs loaded {shape}")
            _fill(arr, value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value))
            if self.verbose:
                logging.info("Initialized %s by loading", name)
            return
        if self.default_init is None:
            raise MXNetError(f"Load: cannot initialize {name}: not found in loaded param and "
                             f"no default Initializer is provided")
        if own_init is not None:   # the default initializer honours a parameter's own init
            create(own_init)._init_weight(name, arr)
        else:
            self.default_init(desc, arr)
        if self.verbose:
            logging.info("Initialized %s by default", name)


class _LoadFor(Initializer):
    """Load for one parameter with its own init (see Load.for_parameter)."""

    def __init__(self, load, own_init):
        super().__init__()
        self.load, self.own_init = load, own_init

    def _init_weight(self, name, arr):
        self.load._load(name, arr, self.own_init)
