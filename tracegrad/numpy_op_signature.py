"""`mxnet.numpy_op_signature._get_builtin_op`, as MXNet's tests import it: the mx.np / npx
function of a registered operator name ('_np_sum' is mx.np.sum, '_np_linalg_svd'
mx.np.linalg.svd, '_npx_relu' npx.relu); None for a name of neither family."""
from . import numpy_api as _mx_np, numpy_extension as _mx_npx

_SUBMODULES = {"_np_": ("random_", "linalg_"), "_npx_": ("image_", "random_")}


def _get_builtin_op(op_name):
    for prefix, root in (("_npx_", _mx_npx), ("_np_", _mx_np)):
        if op_name.startswith(prefix):
            break
    else:
        return None
    name, module = op_name[len(prefix):], root
    for sub in _SUBMODULES[prefix]:
        if name.startswith(sub):
            module = getattr(root, sub[:-1], None)
            if module is None:
                raise ValueError(f"_get_builtin_op: no submodule {sub[:-1]} in "
                                 f"{root.__name__}")
            name = name[len(sub):]
            break
    op = getattr(module, name, None)
    if op is None:
        raise ValueError(f"_get_builtin_op: no operator {name} in {module.__name__}")
    return op
