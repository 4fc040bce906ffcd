"""`gluon.nn`: layers and containers."""
from .activations import Activation, LeakyReLU
from .basic_layers import (BatchNorm, Dense, Dropout, Embedding, Flatten, HybridLambda,
                           HybridSequential, LayerNorm, Lambda, Sequential)
from ..block import Block, HybridBlock

__all__ = ["Activation", "LeakyReLU", "BatchNorm", "Dense", "Dropout", "Embedding", "Flatten",
           "HybridLambda", "HybridSequential", "LayerNorm", "Lambda", "Sequential", "Block",
           "HybridBlock"]
