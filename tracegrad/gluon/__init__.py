"""`mx.gluon`: Parameters, Blocks, layers (nn), losses, the Trainer and data loading."""
from ..base import DeferredInitializationError
from . import data, loss, nn, utils
from . import contrib, model_zoo  # noqa: E402  (model_zoo builds on nn and contrib)
from .block import Block, HybridBlock
from .parameter import Constant, Parameter, ParameterDict
from .symbol_block import SymbolBlock
from .trainer import Trainer

__all__ = ["data", "loss", "nn", "utils", "contrib", "model_zoo", "Block", "HybridBlock",
           "SymbolBlock", "Constant", "DeferredInitializationError", "Parameter", "ParameterDict",
           "Trainer"]
