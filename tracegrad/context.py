"""Devices. tracegrad computes on the CPU; `mx.cpu()` and `ctx=` arguments are accepted so
MXNet code runs unchanged; `mx.gpu()` is a context, and placing an array on it says clearly
that there is no GPU."""
import threading
import warnings
import weakref



class _ContextClass(type):
    """Context's class: `Context.default_ctx`, MXNet 1.x's deprecated class attribute (its
    own tests still pass it as ctx=)."""

    @property
    def default_ctx(cls):
        warnings.warn("Context.default_ctx has been deprecated. Please use "
                      "Context.current_context() instead.", DeprecationWarning, stacklevel=2)
        return current_context()

    @default_ctx.setter
    def default_ctx(cls, ctx):
        warnings.warn("Context.default_ctx has been deprecated. Please use "
                      "test_utils.set_default_context instead.", DeprecationWarning,
                      stacklevel=2)
        set_current_context(ctx)


class Context(metaclass=_ContextClass):
    """A device: only 'cpu' exists here. `with ctx:` makes it this thread's default context
    inside the block, as MXNet's."""
    __slots__ = ("device_type", "device_id")
    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {v: k for k, v in devtype2str.items()}

    def __init__(self, device_type="cpu", device_id=0):
        if isinstance(device_type, Context):
            device_type, device_id = device_type.device_type, device_type.device_id
        self.device_type, self.device_id = device_type, device_id

    @property
    def device_typeid(self):
        """MXNet's device type code (devtype2str's key)."""
        return Context.devstr2type[self.device_type]

    def __str__(self):
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __eq__(self, other):
        return isinstance(other, Context) and (self.device_type, self.device_id) == (
            other.device_type, other.device_id)

    def __hash__(self):
        return hash((self.device_type, self.device_id))

    def __enter__(self):
        _CURRENT.outer = (_CURRENT.ctx, getattr(_CURRENT, "outer", None))
        _CURRENT.ctx = self
        return self

    def __exit__(self, *exc):
        # (the thread's own stack: cpu() is one shared object, entered by many threads)
        _CURRENT.ctx, _CURRENT.outer = _CURRENT.outer
        return False

    @staticmethod
    def current_context():
        return current_context()


_CPU = Context("cpu", 0)


def cpu(device_id=0):
    return _CPU if device_id == 0 else Context("cpu", device_id)


def cpu_pinned(device_id=0):
    return cpu(device_id)


def gpu(device_id=0):
    """A GPU context, as MXNet gives one without a GPU (a default argument such as
    `ctx=mx.gpu(0)` is common); placing an array on it raises, as there is no GPU."""
    return Context("gpu", device_id)


def num_gpus():
    return 0


class _Current(threading.local):
    ctx = _CPU


_CURRENT = _Current()


def current_context():
    """This thread's default context (cpu(0) unless set_current_context changed it)."""
    return _CURRENT.ctx


def set_current_context(ctx):
    """Make ctx this thread's default context (test_utils.set_default_context)."""
    if not isinstance(ctx, Context):
        raise TypeError(f"set_current_context: expected a Context such as mx.cpu(), got "
                        f"{ctx!r}")
    _CURRENT.ctx = ctx


# Arrays and Parameter copies alive on a context other than cpu(0) (array.on_context,
# gluon/contexts.py). While there are none, Blocks skip looking for their call's context.
PLACED = [0]


def _unplace():
    PLACED[0] -= 1


def count_placed(obj):
    """Count `obj` in PLACED while it is alive."""
    PLACED[0] += 1
    weakref.finalize(obj, _unplace)
