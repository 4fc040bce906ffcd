"""`gluon.nn`: layers and containers."""
from ..block import Block, HybridBlock
from ..symbol_block import SymbolBlock
from .activations import Activation, LeakyReLU
from .basic_layers import (
                           BatchNorm,
                           Dense,
                           Dropout,
                           Embedding,
                           Flatten,
                           HybridLambda,
                           HybridSequential,
                           Lambda,
                           LayerNorm,
                           Sequential,
)

__all__ = ["Activation", "LeakyReLU", "BatchNorm", "Dense", "Dropout", "Embedding", "Flatten",
           "HybridLambda", "HybridSequential", "LayerNorm", "Lambda", "Sequential", "Block",
           "HybridBlock", "SymbolBlock"]
