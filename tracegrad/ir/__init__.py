"""The public IR API: types, values, functions, the Builder, the op registry, text form,
verifier and reverse-mode autodiff. Knows nothing of LLVM, NDArray or Gluon."""
from . import ops
from .autodiff import vjp
from .function import Builder, Function, Literal, Operation, Value
from .ops import REGISTRY
from .printer import print_function
from .types import TensorType, broadcast_shapes, parse_type, promote, type_of

__all__ = ["Builder", "Function", "Literal", "Operation", "Value", "TensorType", "REGISTRY",
           "broadcast_shapes", "parse_type", "promote", "type_of", "print_function", "vjp",
           "ops", "parse", "verify", "to_dot", "to_networkx", "ParseError", "VerifyError",
           "composites", "passes"]


def __getattr__(name):
    # parser/verifier/composites/passes are loaded on first use: eager start-up does not pay
    import importlib
    if name in ("parse", "ParseError"):
        return getattr(importlib.import_module(".parser", __name__), name)
    if name in ("verify", "VerifyError"):
        return getattr(importlib.import_module(".verifier", __name__), name)
    if name in ("to_dot", "to_networkx"):
        return getattr(importlib.import_module(".graph", __name__), name)
    if name in ("composites", "passes"):
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
