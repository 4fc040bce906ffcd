"""`mx.gluon`: Parameters, Blocks, layers (nn), losses, the Trainer and data loading."""
from ..base import DeferredInitializationError
from . import data, loss, nn, rnn, utils
from .block import Block, HybridBlock
from .parameter import Constant, Parameter, ParameterDict
from .symbol_block import SymbolBlock
from .trainer import Trainer

__all__ = ["data", "loss", "nn", "rnn", "utils", "Block", "HybridBlock", "SymbolBlock",
           "Constant", "DeferredInitializationError", "Parameter", "ParameterDict", "Trainer"]
