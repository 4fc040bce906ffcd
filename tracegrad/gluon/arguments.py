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
        if any(_holds_array(a, NDArray) for a in args):
            raise BlockInputError("In HybridBlock, we do not support mixed NDArrays and "
                                  "Symbols types for the input. Please check the type of the "
                                  "args.")
        return True     # MXNet's symbolic call: the caller builds the Symbol (symbolic_call.py)
    if len(args) < low or (high is not None and len(args) > high):
        want = f"{low}" if high == low else (f"{low} to {high}" if high is not None
                                             else f"at least {low}")
        raise MXNetError(f"called with {len(args)} input(s), but it takes {want} "
                         f"({', '.join(names) or 'none'})")
    if not block._active and any(_holds_array(a, NDArray) for a in args):
        return      # MXNet's un-hybridized call passes whatever else it is given through
    if block._active and _called_by_program():
        _check_hybridized_call(block, args, low, high, names)
    for i, a in enumerate(args):
        if not _acceptable(a, NDArray) or (i == 0 and names and not _arrays(a, NDArray) and not
                                            (a is None and _arrays(list(args[1:]), NDArray))):
            label = names[i] if i < len(names) else f"#{i}"
            raise BlockInputError(f"input {label!r} must be an NDArray, got {_kind(a)}")


def _called_by_program():
    """Whether a block's call is the program's own, not one inside another block's trace
    (where MXNet calls it on Symbols and caches nothing for it)."""
    from ..array import HOOKS
    from ..base import ANY_TRACE
    from .block import _SCOPE
    return not (ANY_TRACE[0] and (_SCOPE.in_hybrid_call or HOOKS.tracing))


def _format(a, block, label):
    """MXNet's _flatten format of input `label` of a hybridized block: 0 an NDArray, -1 None,
    a list of formats for a list or tuple; anything else is MXNet's ValueError (naming the
    input, then in MXNet's words)."""
    if isinstance(a, NDArray):
        return 0
    if a is None:
        return -1
    if isinstance(a, (list, tuple)):
        return [_format(x, block, label) for x in a]
    raise BlockInputError(f"input {label!r} must be an NDArray, got {_kind(a)}: when "
                          f"hybridized, the input of HybridBlock {block.name} must be "
                          f"(nested) list of Symbol or NDArray")


def _leaves(a):
    if isinstance(a, (list, tuple)):
        for x in a:
            yield from _leaves(x)
    elif isinstance(a, NDArray):
        yield a


def _device(ctx):
    """A context's device, pinned and shared CPU memory counting as the CPU's."""
    kind = ctx.device_type
    return ("cpu" if kind in ("cpu_pinned", "cpu_shared") else kind, ctx.device_id)


_OWN_CALL: dict = {}    # block class -> whether it defines its own __call__


def _calls_itself(cls):
    """Whether a HybridBlock class has its own __call__ that passes HybridBlock.__call__ its
    inputs in its own layout (a recurrent cell's flattened states, ZoneoutCell's previous
    output, None at first): the structure is its own business, not the program's."""
    hit = _OWN_CALL.get(cls)
    if hit is None:
        from .block import Block, HybridBlock
        hit = _OWN_CALL[cls] = any("__call__" in k.__dict__ for k in cls.__mro__
                                   if k not in (HybridBlock, Block, object))
    return hit


def _check_hybridized_call(block, args, low, high, names):
    """MXNet's checks of a hybridized block's call (_flatten, _call_cached_op, forward), made
    where the checked fast path is not taken: inputs are (nested lists of) NDArrays and None,
    on one context, structured as at the block's first call since hybridize() (None where
    there was None; trailing None for defaulted inputs may come and go). The fast path's
    arity is narrowed to that first call's input count when it was plain NDArrays, so any
    other call comes here; after a first call with None or lists every call does."""
    fmt = [_format(a, block, names[i] if i < len(names) else f"#{i}")
           for i, a in enumerate(args)]
    contexts = {a.context for a in _leaves(args)}
    if len(contexts) > 1 and len({_device(c) for c in contexts}) > 1:
        raise BlockInputError(f"Find multiple contexts in the input of {block.name}: after "
                              f"hybridize, a HybridBlock only supports one input context. "
                              f"Found {sorted(map(str, contexts))}")
    if _calls_itself(type(block)):
        return      # (its own __call__ gives the arrays: a recurrent cell's state, flattened)
    stored = block.__dict__.get("_tg_in_format")
    if stored is None or stored[0] != STRUCTURE_VERSION[0]:
        block.__dict__["_tg_in_format"] = stored = (STRUCTURE_VERSION[0], fmt)
    held = stored[1]
    if fmt != held:
        n = min(len(fmt), len(held))
        longer = fmt if len(fmt) > len(held) else held
        if len(fmt) == len(held) or fmt[:n] != held[:n] or any(f != -1 for f in longer[n:]):
            raise BlockInputError(f"The argument structure of HybridBlock {block.name} does "
                                  f"not match the cached version. Stored format = {held}, "
                                  f"input format = {fmt}")
    if all(f == 0 for f in held):    # (the fast path: this many NDArrays, nothing else)
        block.__dict__["_tg_arity"] = (STRUCTURE_VERSION[0], (len(held), len(held), names))
    else:
        block.__dict__.pop("_tg_arity", None)
