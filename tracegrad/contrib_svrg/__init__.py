"""`mxnet.contrib.svrg_optimization`: `from mxnet.contrib.svrg_optimization.svrg_module import
SVRGModule` (tracegrad/module/svrg_module.py)."""
from ..module import svrg_module
from ..module.svrg_module import SVRGModule

__all__ = ["SVRGModule", "svrg_module"]
