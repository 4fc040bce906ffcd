"""Forward hooks (`Block.register_forward_pre_hook` / `register_forward_hook`) and
`Block.summary`, as in MXNet 1.x.

A block with hooks gets a subclass of its own class whose `__call__` runs them around the
call: `pre(block, inputs)` before, `hook(block, inputs, outputs)` after. Blocks without hooks
keep their class, so the call path of every other block is unchanged. The subclass is not one
of gluon's pure layers (block.py `_PURE_LAYERS`), and adding or removing a hook bumps the
structure version: a captured step's block replay, which runs no Python of the blocks it
replays, is not used for a block with hooks or for its parents, so every hook runs on every
call. (Inside a hybridized parent, children run only while the parent is traced, as in MXNet
where the cached graph calls no Python.)
"""
import itertools
from collections import OrderedDict

from ..base import MXNetError
from ..tracing.jit import STRUCTURE_VERSION

class SummaryError(MXNetError, AssertionError):
    """summary() of a hybridized block: MXNet asserts, so its programs catch AssertionError."""


_HOOKED_CLASSES: dict = {}     # block class -> its hooked subclass
_KEYS = itertools.count()


class HookHandle:
    """What registering a hook returns: `detach()` (or leaving a `with` block) removes it."""

    def __init__(self, block, table, key):
        self._block, self._table, self._key = block, table, key

    def detach(self):
        if self._table.pop(self._key, None) is not None:
            _refresh(self._block)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()
        return False


def _hooked_class(cls):
    sub = _HOOKED_CLASSES.get(cls)
    if sub is None:
        def __call__(self, *args):
            for pre in list(self._forward_pre_hooks.values()):
                pre(self, args)
            out = cls.__call__(self, *args)
            for hook in list(self._forward_hooks.values()):
                hook(self, args, out)
            return out
        sub = _HOOKED_CLASSES[cls] = type(cls.__name__, (cls,), {
            "__call__": __call__, "__module__": __name__, "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__})
        sub._tg_plain_class = cls
    return sub


def _tables(block):
    d = block.__dict__
    if "_forward_hooks" not in d:
        object.__setattr__(block, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(block, "_forward_hooks", OrderedDict())
    return d["_forward_pre_hooks"], d["_forward_hooks"]


def _refresh(block):
    """The block's class: hooked while it has hooks, its own otherwise."""
    pre, post = _tables(block)
    plain = getattr(type(block), "_tg_plain_class", type(block))
    block.__class__ = _hooked_class(plain) if pre or post else plain
    STRUCTURE_VERSION[0] += 1


def register(block, hook, pre):
    if not callable(hook):
        raise TypeError(f"{block.name}: a forward hook must be callable, got "
                        f"{type(hook).__name__}")
    table = _tables(block)[0 if pre else 1]
    key = next(_KEYS)
    table[key] = hook
    _refresh(block)
    return HookHandle(block, table, key)


def _shape_str(x):
    if isinstance(x, (list, tuple)):
        return ", ".join(_shape_str(v) for v in x)
    return str(tuple(x.shape)) if hasattr(x, "shape") else str(x)


def summary(block, *inputs):
    """Print each block's output shape and parameter count, in the order the calls
    finish (MXNet's table), and the totals."""
    stack = [block]
    while stack:        # (MXNet asserts it of every block the summary hooks)
        b = stack.pop()
        if getattr(b, "_active", False):
            raise SummaryError(f"{b.name}: summary() needs blocks that are not hybridized; "
                               f"call it before hybridize()")
        stack.extend(b._children.values())
    rows = OrderedDict([("Input", (_shape_str(list(inputs)), 0, 0, 0))])
    seen = set()

    def record(b, _, out):
        n_params = trainable = shared = 0
        for p in b._reg_params.values():
            size = p.data().size
            n_params += size
            trainable += size if p.grad_req != "null" else 0
            shared += size if id(p) in seen else 0
            seen.add(id(p))
        rows[f"{type(b).__name__}-{len(rows)}"] = (_shape_str(out), n_params, trainable, shared)
    handles = []
    try:
        block.apply(lambda b: handles.append(register(b, record, pre=False)))
        block(*inputs)
    finally:
        for h in handles:
            h.detach()
    line = "{:>20}  {:>42} {:>15}"
    print("-" * 80)
    print(line.format("Layer (type)", "Output Shape", "Param #"))
    print("=" * 80)
    for name, (shape, n_params, _, _) in rows.items():
        print(line.format(name, shape, n_params))
    total = sum(r[1] for r in rows.values())
    trainable = sum(r[2] for r in rows.values())
    shared = sum(r[3] for r in rows.values())
    print("=" * 80)
    print("Parameters in forward computation graph, duplicate included")
    print(f"   Total params: {total}")
    print(f"   Trainable params: {trainable}")
    print(f"   Non-trainable params: {total - trainable}")
    print(f"Shared params in forward computation graph: {shared}")
    print(f"Unique parameters in model: {total - shared}")
    print("-" * 80)
