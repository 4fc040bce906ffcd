"""tracegrad: the MXNet Gluon API on a typed SSA IR, one reverse-mode transform, and LLVM.

    import tracegrad as mx
    from tracegrad import nd, autograd, gluon
"""
import sys as _sys  # noqa: E402
import warnings as _warnings

# MXNet computes inf and NaN silently; numpy, which runs eager ops, warns about them. Only the
# floating-point warnings raised inside tracegrad are silenced (a user's own numpy still warns).
_warnings.filterwarnings("ignore", r"(divide by zero|invalid value|overflow|underflow) "
                         r"encountered", RuntimeWarning, r"tracegrad(\.|$)")
from . import autograd, base, context, gluon, initializer, ir, metric, nd, optimizer, random  # noqa: E402  (Gluon sits on nd/autograd)
from . import lr_scheduler
from . import io  # noqa: E402  (mx.io: MXNet 1.x's data iterators)
from . import profiler  # noqa: E402
from . import engine, operator, recordio, rtc, util  # noqa: E402
from .util import (is_np_array, is_np_shape, np_array, np_shape, set_np_shape,  # noqa: E402,F401
                   use_np, use_np_array, use_np_shape)   # (mx.np_shape etc., as MXNet's)
from .array import NDArray
from .base import MXNetError
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus
from .gradcheck import GradcheckError, gradcheck
from .tracing.jit import jit
from .tracing.trace import make_ir
from .stats import stats
from .gluon.auto_compile import auto_compile  # noqa: E402  (mx.auto_compile(False))
from . import kvstore  # noqa: E402  (after gluon: the Trainer reaches it lazily)
from .tracing import capture  # noqa: E402  (mx.capture.set_enabled)
from .tracing.capture import explain
from . import test_utils  # noqa: E402
from . import symbol  # noqa: E402  (mx.sym: MXNet 1.x's symbolic API)
from . import contrib  # noqa: E402  (mx.contrib.nd / .sym: the contrib operator namespaces)
contrib.sym = contrib.symbol = symbol.contrib
from . import callback, model, module  # noqa: E402  (mx.mod.Module, checkpoints)
from . import contrib_svrg  # noqa: E402  (mx.contrib.svrg_optimization: after module)
contrib.svrg_optimization = contrib_svrg
_sys.modules[contrib.__name__ + ".svrg_optimization"] = contrib_svrg
_sys.modules[contrib.__name__ + ".svrg_optimization.svrg_module"] = contrib_svrg.svrg_module
from . import attribute, name  # noqa: E402  (mx.name.Prefix, mx.AttrScope)
from .attribute import AttrScope  # noqa: E402
from . import numpy_api as np, numpy_extension as npx  # noqa: E402  (mx.np, mx.npx)
from . import numpy_dispatch_protocol  # noqa: E402,F401  (numpy's calls on mx.np arrays)
from . import image  # noqa: E402  (mx.image / mx.img: decoding through Pillow, crops)
from . import visualization  # noqa: E402  (mx.viz.print_summary / plot_network)
from . import rnn  # noqa: E402  (mx.rnn: legacy symbolic cells, BucketSentenceIter)
from . import monitor  # noqa: E402  (mx.mon.Monitor: executor statistics while training)

sym = symbol
mod = module
img = image
viz = visualization
mon = monitor
rnd = random   # MXNet: `from . import random as rnd`

kv = kvstore
from .tracebacks import install as _install_tracebacks

_install_tracebacks()

init = initializer

__version__ = "0.1.0"
ndarray = nd
# `import mxnet.ndarray as nd`, `from mxnet.ndarray import NDArray`, `mxnet.ndarray.contrib`
_sys.modules[__name__ + ".ndarray"] = _sys.modules[__name__ + ".ndarray.ndarray"] = nd
_sys.modules[__name__ + ".numpy"] = np      # `import mxnet.numpy as mnp`
numpy = np                                  # (and mx.numpy.array, as MXNet's attribute)
nd.npx = npx    # MXNet's mx.nd.npx: a 1.x hybrid_forward's F.npx outside set_np
for _sub in ("contrib", "random", "linalg", "image", "sparse"):
    if isinstance(getattr(nd, _sub, None), type(_sys)):
        _sys.modules[f"{__name__}.ndarray.{_sub}"] = getattr(nd, _sub)

__all__ = ["autograd", "base", "context", "ir", "nd", "ndarray", "random", "MXNetError",
           "Context", "cpu", "cpu_pinned", "gpu", "num_gpus", "make_ir", "NDArray",
           "__version__", "gluon", "init", "initializer", "metric", "optimizer", "lr_scheduler",
           "jit", "stats", "auto_compile", "kv", "kvstore", "capture", "explain", "gradcheck",
           "GradcheckError",
           "current_context", "test_utils", "io", "profiler", "engine", "util", "operator",
           "recordio", "sym", "symbol", "mod", "module", "model", "callback", "name",
           "attribute", "AttrScope", "np", "npx", "image", "img", "viz", "visualization",
           "rnn", "mon", "monitor"]
