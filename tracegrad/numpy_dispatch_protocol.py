"""`mx.numpy_dispatch_protocol` (MXNet 1.9): which official numpy functions and ufuncs run
mx.np's implementation when called on mx.np arrays (numpy_api/dispatch.py has the protocol
itself; any other numpy function runs numpy's on the data), and the decorators MXNet's tests
put on functions that rely on the protocols."""
import functools

from .numpy_api import dispatch as _dispatch

__all__ = ["with_array_function_protocol", "with_array_ufunc_protocol"]

# numpy functions (NEP 18) and ufuncs (NEP 13) mx.np implements for numpy's calls, by
# MXNet's list; numpy 2 has no round_ / product / sometrue, and mx.np lacks diagflat,
# atleast_1d/2d/3d and roll: those take the fallback, numpy's own
_NUMPY_ARRAY_FUNCTION_LIST = """
    all any argmin argmax around round argsort sort append broadcast_arrays broadcast_to clip
    concatenate copy cumsum diag diagonal dot expand_dims fix flip flipud fliplr inner insert
    max amax mean min amin nonzero ones_like prod ravel repeat reshape split array_split hsplit
    vsplit dsplit squeeze stack std sum swapaxes take tensordot tile transpose unique
    unravel_index diag_indices_from delete var vdot vstack column_stack hstack dstack
    zeros_like linalg.norm linalg.cholesky linalg.inv linalg.solve linalg.tensorinv
    linalg.tensorsolve linalg.pinv linalg.eigvals linalg.eig linalg.eigvalsh linalg.eigh shape
    trace tril meshgrid outer einsum polyval shares_memory may_share_memory quantile
    percentile diff ediff1d resize where full_like bincount empty_like nan_to_num isnan
    isfinite isposinf isneginf isinf pad""".split()
_NUMPY_ARRAY_UFUNC_LIST = """
    abs fabs add arctan2 copysign degrees hypot lcm ldexp subtract multiply true_divide
    negative power mod matmul absolute rint sign exp log log2 log10 expm1 sqrt square cbrt
    reciprocal invert bitwise_not remainder sin cos tan sinh cosh tanh arcsin arccos arctan
    arcsinh arccosh arctanh maximum minimum ceil trunc floor bitwise_and bitwise_xor
    bitwise_or logical_not equal not_equal less less_equal greater greater_equal""".split()

_dispatch.register(_NUMPY_ARRAY_FUNCTION_LIST, _NUMPY_ARRAY_UFUNC_LIST)


def _reraised(func, protocol):
    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - MXNet's decorators report any failure so
            raise RuntimeError(f"Running function {func.__name__} with NumPy array {protocol} "
                               f"protocol failed with exception {e}") from e
    return run


def with_array_function_protocol(func):
    """Runs func; a failure is a RuntimeError naming it and the array function protocol."""
    return _reraised(func, "function")


def with_array_ufunc_protocol(func):
    """Runs func; a failure is a RuntimeError naming it and the array ufunc protocol."""
    return _reraised(func, "ufunc")
