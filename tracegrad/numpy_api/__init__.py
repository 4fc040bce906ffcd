"""`mx.np`: MXNet's numpy-compatible interface (MXNet 1.6+, as `from mxnet import np`).

Arrays are `mx.np.ndarray`, a subclass of `mx.nd.NDArray` over the same buffers, autograd
tape and compiler; functions are composites of the registered ops (see functions.py)."""
from . import _internal, linalg, random  # noqa: F401
from .functions import *  # noqa: F401,F403
from .functions_more import *  # noqa: F401,F403
from .functions import (abs, all, any, max, min, round, sum)  # noqa: F401  (shadow builtins)
from .ndarray import ndarray  # noqa: F401

# MXNet's numpy/utils.py names (numpy 2 dropped np.bool / NINF / NaN ...: the values here)
import numpy as _onp  # noqa: E402
bool = _onp.bool_     # noqa: A001  (mx.np.bool, as MXNet's)
PZERO, NZERO, PINF, NINF = 0.0, -0.0, float("inf"), float("-inf")
NAN = NaN = float("nan")
finfo = _onp.finfo

from . import functions as _functions, functions_more as _functions_more

__all__ = ["ndarray", "linalg", "random", "bool", "PZERO", "NZERO", "PINF", "NINF", "NAN",
           "NaN", "finfo"] + [
    n for n in dir(_functions) if not n.startswith("_") and n not in (
        "builtins", "math", "onp", "nd", "F", "NDArray", "MXNetError", "on_context", "wrap",
        "dtype_name", "as_np", "binary", "cast", "check_dtype", "compare", "from_python",
        "promote", "METHODS")] + list(_functions_more.__all__)

# numpy's own functions where mx.np has none (MXNet's fallback.py; its own ones win)
from . import fallback, fallback_linalg  # noqa: E402
for _name in fallback.__all__:
    if _name not in globals():
        globals()[_name] = getattr(fallback, _name)
        __all__.append(_name)
for _name in fallback_linalg.__all__:
    if not hasattr(linalg, _name):
        setattr(linalg, _name, getattr(fallback_linalg, _name))
