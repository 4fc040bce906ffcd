"""`mxnet.contrib.svrg_optimization`: `from mxnet.contrib.svrg_optimization.svrg_module import
SVRGModule` (tracegrad/module/svrg_module.py) and `...svrg_optimizer import _SVRGOptimizer`."""
import sys as _sys

from ..module import svrg_module
from ..module.svrg_module import SVRGModule
from . import svrg_optimizer

# (importable under mxnet's dotted name, as tracegrad/__init__ does for svrg_module)
_sys.modules[__name__.rpartition(".")[0] + ".contrib.svrg_optimization.svrg_optimizer"] = \
    svrg_optimizer

__all__ = ["SVRGModule", "svrg_module", "svrg_optimizer"]
