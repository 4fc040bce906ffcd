"""Checkpoints of models built from `mx.rnn` cells (MXNet 1.9.1's python/mxnet/rnn/rnn.py).

A fused cell keeps its weights packed in one parameter vector; the files hold them unpacked
(one array per gate and layer) so any cell type can load them. Saving runs each cell's
`unpack_weights` over the arg_params, loading runs `pack_weights` over what was read; the
files themselves are `mx.model.save_checkpoint`'s. `cells` is one cell (anything with those
methods, a SequentialRNNCell included) or a list of cells, applied in order.
"""
from ..base import MXNetError
from ..model import load_checkpoint, save_checkpoint

__all__ = ["save_rnn_checkpoint", "load_rnn_checkpoint", "do_rnn_checkpoint"]


def _cells(cells, method, who):
    """`cells` as a list, each checked to have `method`."""
    if hasattr(cells, method):
        return [cells]
    try:
        cells = list(cells)
    except TypeError:
        raise MXNetError(f"{who}: cells must be an RNN cell or a list of them (each with "
                         f"{method}), got {type(cells).__name__}") from None
    for cell in cells:
        if not hasattr(cell, method):
            raise MXNetError(f"{who}: {type(cell).__name__} in cells has no {method}; cells "
                             f"must be RNN cells")
    return cells


def save_rnn_checkpoint(cells, prefix, epoch, symbol, arg_params, aux_params):
    """Write prefix-symbol.json and prefix-%04d.params with the cells' weights unpacked."""
    for cell in _cells(cells, "unpack_weights", "save_rnn_checkpoint"):
        arg_params = cell.unpack_weights(arg_params)
    save_checkpoint(prefix, epoch, symbol, arg_params, aux_params)


def load_rnn_checkpoint(cells, prefix, epoch):
    """(symbol, arg_params, aux_params) of a checkpoint, the cells' weights packed again."""
    symbol, arg_params, aux_params = load_checkpoint(prefix, epoch)
    for cell in _cells(cells, "pack_weights", "load_rnn_checkpoint"):
        arg_params = cell.pack_weights(arg_params)
    return symbol, arg_params, aux_params


def do_rnn_checkpoint(cells, prefix, period=1):
    """An epoch_end_callback saving an RNN checkpoint every `period` epochs (as epoch + 1).
    The cells are checked now rather than at the end of the first epoch."""
    cells = _cells(cells, "unpack_weights", "do_rnn_checkpoint")
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            save_rnn_checkpoint(cells, prefix, iter_no + 1, sym, arg, aux)
    return _callback
