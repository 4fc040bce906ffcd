"""mx.rnn: MXNet 1.x's legacy symbolic RNN API: cells that unroll into Symbols
(rnn_cell.py), bucketed sentence data (io.py) and checkpoints of unpacked weights
(checkpoint.py). With mx.mod.BucketingModule it runs MXNet's lstm_bucketing example."""
from .rnn_cell import (BaseConvRNNCell, BaseRNNCell, BidirectionalCell, ConvGRUCell,
                       ConvLSTMCell, ConvRNNCell, DropoutCell, FusedRNNCell, GRUCell,
                       LSTMCell, ModifierCell, RNNCell, RNNParams, ResidualCell,
                       SequentialRNNCell, ZoneoutCell, rnn_unroll)
from .io import BucketSentenceIter, encode_sentences
from .checkpoint import do_rnn_checkpoint, load_rnn_checkpoint, save_rnn_checkpoint

__all__ = ["BaseConvRNNCell", "BaseRNNCell", "BidirectionalCell", "ConvGRUCell",
           "ConvLSTMCell", "ConvRNNCell", "DropoutCell", "FusedRNNCell", "GRUCell",
           "LSTMCell", "ModifierCell", "RNNCell", "RNNParams", "ResidualCell",
           "SequentialRNNCell", "ZoneoutCell", "BucketSentenceIter", "encode_sentences",
           "do_rnn_checkpoint", "load_rnn_checkpoint", "save_rnn_checkpoint", "rnn_unroll"]
