"""`mx.gluon`: Parameters, Blocks, layers (nn), losses and the Trainer."""
from ..base import DeferredInitializationError
from . import loss, nn, utils
from .block import Block, HybridBlock
from .parameter import Constant, Parameter, ParameterDict
from .symbol_block import SymbolBlock
from .trainer import Trainer

__all__ = ["loss", "nn", "utils", "Block", "HybridBlock", "SymbolBlock", "Constant",
           "DeferredInitializationError", "Parameter", "ParameterDict", "Trainer"]
