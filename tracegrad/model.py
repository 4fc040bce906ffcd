"""mx.model: checkpoints of symbolic models (MXNet 1.x's save_checkpoint / load_checkpoint)
and the BatchEndParam tuple callbacks receive.

A checkpoint is `prefix-symbol.json` (MXNet's JSON) and `prefix-%04d.params` (MXNet's binary
NDArray format, keys 'arg:name' and 'aux:name'), so files written here load in MXNet and the
other way round. Reading goes through the checked readers (symbol/json_format.py,
mxnet_format.py): nothing is unpickled, a bad file raises MXNetError.
"""
import logging
from collections import namedtuple

import numpy as np

from . import mxnet_format
from .array import NDArray
from .base import MXNetError

BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])


def save_params(fname, arg_params, aux_params):
    """A csr / row_sparse parameter (a Module's stype='row_sparse' weight) is written sparse,
    its listed rows, as MXNet's nd.save of the parameter dict writes it."""
    from .sparse import to_record
    keys, values = [], []
    for prefix, params in (("arg", arg_params or {}), ("aux", aux_params or {})):
        for k, v in params.items():
            keys.append(f"{prefix}:{k}")
            if getattr(v, "stype", "default") != "default":
                values.append(to_record(v))
            else:
                values.append(v.asnumpy() if isinstance(v, NDArray) else np.asarray(v))
    mxnet_format.write(fname, values, keys)


def load_params(fname):
    """(arg_params, aux_params) from a .params file MXNet or save_checkpoint wrote (a sparse
    record loads as its csr / row_sparse array, as MXNet's nd.load gives it)."""
    from .nd import array, load_arrays
    from .sparse import from_file
    arg, aux = {}, {}
    if mxnet_format.is_mxnet_file(fname):
        arrays, names = mxnet_format.read(fname, keep_sparse=True)
        if not names and arrays:
            load_arrays(fname)          # (its error: an unnamed list)
        items = zip(names, arrays)
    else:
        items = load_arrays(fname).items()
    for k, v in items:
        kind, sep, name = k.partition(":")
        if not sep or kind not in ("arg", "aux"):
            raise MXNetError(f"'{fname}': key {k!r} is not 'arg:<name>' or 'aux:<name>' (not "
                             f"a checkpoint's parameter file)")
        (arg if kind == "arg" else aux)[name] = from_file(v) \
            if type(v) is mxnet_format.SparseArray else array(v, dtype=v.dtype)
    return arg, aux


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write prefix-symbol.json (amp_cast nodes kept with remove_amp_cast=False, as a
    float16 model saved for deployment needs them) and prefix-%04d.params."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
    param_name = f"{prefix}-{epoch:04d}.params"
    save_params(param_name, arg_params, aux_params)
    logging.info('Saved checkpoint to "%s"', param_name)


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) of a checkpoint."""
    from .symbol import load
    symbol = load(f"{prefix}-symbol.json")
    arg, aux = load_params(f"{prefix}-{epoch:04d}.params")
    return symbol, arg, aux


__all__ = ["BatchEndParam", "save_checkpoint", "load_checkpoint", "load_params"]


from .model_feedforward import FeedForward  # noqa: E402,F401  (the deprecated 1.x model API)
