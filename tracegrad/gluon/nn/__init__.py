"""`gluon.nn`: layers and containers."""
from ..block import Block, HybridBlock
from ..symbol_block import SymbolBlock
from .activations import ELU, GELU, SELU, Activation, LeakyReLU, PReLU, Swish
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

from .conv_layers import (  # noqa: F401
    AvgPool1D, AvgPool2D, AvgPool3D, Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
    Conv3DTranspose, GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D,
    GlobalMaxPool2D, GlobalMaxPool3D, MaxPool1D, MaxPool2D, MaxPool3D, ReflectionPad2D)
from .norm_layers import GroupNorm, InstanceNorm  # noqa: F401

__all__ = ["Activation", "LeakyReLU", "BatchNorm", "Dense", "Dropout", "Embedding", "Flatten",
           "HybridLambda", "HybridSequential", "LayerNorm", "Lambda", "Sequential", "Block",
           "HybridBlock", "SymbolBlock"]
__all__ += ["PReLU", "ELU", "SELU", "GELU", "Swish", "GroupNorm", "InstanceNorm",
            "ReflectionPad2D"] + [f"{kind}{d}D" for d in (1, 2, 3) for kind in (
                "Conv", "MaxPool", "AvgPool", "GlobalMaxPool", "GlobalAvgPool")] + [
                f"Conv{d}DTranspose" for d in (1, 2, 3)]
