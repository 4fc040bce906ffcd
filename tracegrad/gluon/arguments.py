"""Checking what a HybridBlock is called with, before it runs or is traced: a wrong count or
kind of input is reported against the block's own signature, instead of surfacing as an
AttributeError from deep inside hybrid_forward or a compiled function's guard."""
import inspect
import numbers

import numpy as np

from ..array import NDArray
from ..base import MXNetError
from ..tracing.jit import STRUCTURE_VERSION


class BlockInputError(MXNetError, ValueError):
    """A block given no array where MXNet's HybridBlock.forward raises ValueError (no NDArray
    and no Symbol among the inputs); code catching either type still catches it."""

_ARITY: dict = {}  # block class -> (min, max or None, input names)


def _arity(block):
    cls = type(block)
    own = frozenset(block._reg_params)  # a Dense without bias takes `bias` as no parameter
    hit = _ARITY.get((cls, own))
    if hit is not None:
        return hit
    legacy = cls.forward is _base_forward()
    fn = cls.hybrid_forward if legacy else cls.forward
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]  # self
    except (TypeError, ValueError):
        hit = (0, None, ())
    else:
        if legacy:
            params = params[1:]  # F
        names, low, high = [], 0, 0
        for p in params:
            if p.kind is p.VAR_POSITIONAL:
                high = None
            elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and (
                    not legacy or p.name not in own):
                names.append(p.name)
                if high is not None:
                    high += 1
                if p.default is p.empty:
                    low += 1
        hit = (low, high, tuple(names))
    _ARITY[cls, own] = hit
    return hit


def _base_forward():
    from .block import HybridBlock
    return HybridBlock.forward


def _kind(a):
    if isinstance(a, np.ndarray):
        return f"numpy.ndarray {a.dtype}{list(a.shape)}"
    return f"{type(a).__name__} {a!r}"[:80]


def _acceptable(a, NDArray):
    if a is None or isinstance(a, (NDArray, numbers.Number, np.generic)):
        return True
    if isinstance(a, (list, tuple)):
        return all(_acceptable(x, NDArray) for x in a)
    return False


def _arrays(a, NDArray):
    """An NDArray, or a non-empty (nested) list/tuple of them."""
    if isinstance(a, (list, tuple)):
        return bool(a) and all(_arrays(x, NDArray) for x in a)
    return isinstance(a, NDArray)


def _holds_array(a, NDArray):
    """An NDArray, or a (nested) list/tuple with one in it."""
    if isinstance(a, (list, tuple)):
        return any(_holds_array(x, NDArray) for x in a)
    return isinstance(a, NDArray)


def check_inputs(block, args):
    """True when `args` hold mx.sym Symbols (the block is to build its graph); otherwise
    raise MXNetError (the block names itself on the way out) when `args` cannot be its
    inputs: NDArrays (or nested lists/tuples of them), with None and Python numbers as static
    arguments; the first input must be an NDArray (MXNet's rule). A block that is not
    hybridized takes anything else beside an NDArray (MXNet's HybridBlock.forward only looks
    for one: a Parameter, a string, a dict reach hybrid_forward as given).

    The hot path (every training step): the block's arity is kept on the block while its
    structure (STRUCTURE_VERSION) stands, and arguments that are all NDArrays need no more."""
    memo = block.__dict__.get("_tg_arity")
    if memo is not None and memo[0] == STRUCTURE_VERSION[0]:
        low, high, names = memo[1]
        n = len(args)
        if low <= n and (high is None or n <= high):
            for a in args:
                if not isinstance(a, NDArray):
                    break
            else:
                return
    else:
        block.__dict__["_tg_arity"] = (STRUCTURE_VERSION[0], _arity(block))
    low, high, names = _arity(block)
    from .symbolic_call import has_symbols
    if has_symbols(args):
        return True     # MXNet's symbolic call: the caller builds the Symbol (symbolic_call.py)
    if len(args) < low or (high is not None and len(args) > high):
        want = f"{low}" if high == low else (f"{low} to {high}" if high is not None
                                             else f"at least {low}")
        raise MXNetError(f"called with {len(args)} input(s), but it takes {want} "
                         f"({', '.join(names) or 'none'})")
    if not block._active and any(_holds_array(a, NDArray) for a in args):
        return      # MXNet's un-hybridized call passes whatever else it is given through
    for i, a in enumerate(args):
        if not _acceptable(a, NDArray) or (i == 0 and names and not _arrays(a, NDArray) and not
                                            (a is None and _arrays(list(args[1:]), NDArray))):
            label = names[i] if i < len(names) else f"#{i}"
            raise BlockInputError(f"input {label!r} must be an NDArray, got {_kind(a)}")
