"""mx.contrib.autograd: MXNet's pre-1.0 autograd API, still shipped in 1.9.1, on tracegrad's
autograd. One switch turns training and recording on together (set_is_training,
train_section, test_section); mark_variables / backward / compute_gradient are autograd's;
grad_and_loss(func) and grad(func) wrap a function to return the gradients of its arguments
(all, or those `argnum` picks), computed in a train section."""
import functools

from . import autograd as _autograd
from .array import NDArray
from .base import MXNetError

__all__ = ["set_is_training", "train_section", "test_section", "mark_variables", "backward",
           "compute_gradient", "grad_and_loss", "grad"]


def set_is_training(is_train):
    """Training mode and recording both on (or off); returns the previous training mode."""
    prev = _autograd.set_training(bool(is_train))
    _autograd.set_recording(bool(is_train))
    return prev


def train_section():
    """`with train_section():` records in training mode, and restores both after."""
    return _autograd._scope(True, True)


def test_section():
    """`with test_section():` neither records nor trains, and restores both after."""
    return _autograd._scope(False, False)


def mark_variables(variables, gradients, grad_reqs="write"):
    return _autograd.mark_variables(variables, gradients, grad_reqs)


def backward(outputs, out_grads=None, retain_graph=False):
    return _autograd.backward(outputs, out_grads, retain_graph)


def compute_gradient(outputs):
    """Deprecated in MXNet: backward(outputs)."""
    return backward(outputs)


def grad_and_loss(func, argnum=None):
    """A function returning (gradients of the chosen arguments, func's outputs)."""
    @functools.wraps(func)
    def wrapped(*args):
        variables = args
        if argnum is not None:
            picks = argnum if isinstance(argnum, list) else [argnum]
            variables = [args[i] for i in picks]
        for x in variables:
            if not isinstance(x, NDArray):
                raise MXNetError(f"contrib.autograd: the arguments to differentiate must be "
                                 f"NDArrays, got {type(x).__name__}")
        grads = [x.zeros_like() for x in variables]
        mark_variables(variables, grads)
        with train_section():
            outputs = func(*args)
        compute_gradient([outputs] if isinstance(outputs, NDArray) else outputs)
        return grads, outputs
    return wrapped


def grad(func, argnum=None):
    """A function returning the gradients of the chosen arguments of func."""
    with_loss = grad_and_loss(func, argnum)

    @functools.wraps(func)
    def wrapped(*args):
        return with_loss(*args)[0]
    return wrapped
