"""What Gluon does with mx.np arrays under set_np: a Block's outputs become mx.np arrays, and
hybrid_forward receives its input and parameters as mx.np arrays (views: the same buffers,
graph values and gradient variables, so the block's machinery is unchanged)."""
from ..array import NDArray
from .ndarray import _view, ndarray, as_np


def np_outputs(out):
    if isinstance(out, NDArray) or isinstance(out, (tuple, list)):
        return as_np(out)
    return out


def check_one_kind(out):
    """MXNet refuses a hybrid_forward whose outputs mix classic NDArrays with mx.np arrays (its
    graph groups symbols of one kind only); returns `out`. For HybridBlock.forward's set_np
    branch, which runs eager and while tracing, so both raise."""
    if isinstance(out, NDArray):     # (one output: one kind)
        return out
    flat, todo = [], [out]
    while todo:     # (nested lists and tuples too, as MXNet flattens them)
        o = todo.pop()
        if isinstance(o, (tuple, list)):
            todo.extend(o)
        elif isinstance(o, NDArray):
            flat.append(o)
    kinds = {isinstance(o, ndarray) for o in flat}
    if len(kinds) > 1:
        raise TypeError(f"hybrid_forward returned both classic NDArrays and mx.np arrays "
                        f"({[type(o).__name__ for o in flat]}); convert them to one kind "
                        f"(as_np_ndarray() or as_nd_ndarray()) before returning them")
    return out


def np_inputs(x, args, params):
    def conv(a):
        return _view(ndarray, a) if isinstance(a, NDArray) and type(a) is not ndarray else a
    return conv(x), tuple(conv(a) for a in args), {k: conv(v) for k, v in params.items()}


class _FWithNumpy:
    """hybrid_forward's F under set_np: mx.nd's functions, plus F.np and F.npx (MXNet's F
    module has both; tracegrad's nd keeps `np` for numpy itself, so this stands in)."""

    def __getattr__(self, name):
        from .. import nd
        if name == "np":
            from .. import numpy_api
            return numpy_api
        if name == "npx":
            from .. import numpy_extension
            return numpy_extension
        return getattr(nd, name)


F_NP = _FWithNumpy()
