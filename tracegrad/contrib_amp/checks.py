"""The checks of AMP's arguments shared by init and the conversions: the target dtype and the
user's operator lists."""
import numpy as np

from ..base import MXNetError


def low_precision_dtype(target_dtype, where):
    """'float16' for a float16 spelling; MXNetError naming the alternative for bfloat16
    (tracegrad has no bfloat16 arrays) and for anything else."""
    try:
        name = target_dtype if isinstance(target_dtype, str) else np.dtype(target_dtype).name
    except TypeError:
        name = str(target_dtype)
    if name == "float16":
        return "float16"
    if "bfloat16" in name or "bfloat16" in str(target_dtype):
        raise MXNetError(f"{where}: target_dtype 'bfloat16' is not supported: tracegrad has no "
                         f"bfloat16 arrays; use target_dtype='float16'")
    raise MXNetError(f"{where}: target_dtype must be 'float16' (MXNet also takes 'bfloat16', "
                     f"which tracegrad does not have), got {target_dtype!r}")


def op_names(value, what, where):
    """A user's list of operator (or node) names: a list of strings."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(n, str) for n in value):
        raise MXNetError(f"{where}: {what} must be a list of names (strings), got {value!r}")
    return list(value)


def conditional_ops(value, where):
    """A user's conditional FP32 list: (op name, attribute name, list of values) entries."""
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(e, (list, tuple)) and len(e) == 3 and isinstance(e[0], str) and
        isinstance(e[1], str) and isinstance(e[2], (list, tuple)) for e in value)
    if not ok:
        raise MXNetError(f"{where}: conditional_fp32_ops must be a list of (operator name, "
                         f"attribute name, list of attribute values), got {value!r}")
    return [(e[0], e[1], list(e[2])) for e in value]
