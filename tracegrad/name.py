"""mx.name: how symbols are named (MXNet 1.x's NameManager and Prefix).

`mx.sym.FullyConnected(x, num_hidden=8)` is named by the current NameManager: the op's
lower-case name and a counter (`fullyconnected0`); inside `with mx.name.Prefix('stage1_'):`
every op node's name, given or automatic, gets the prefix (variables are named as written).
"""
import threading


class _Current(threading.local):
    value = None


class _NameManagerClass(type):
    """`NameManager.current`: MXNet's (deprecated) class property, this thread's manager;
    code may also set it."""

    @property
    def current(cls):
        return current()

    @current.setter
    def current(cls, manager):
        NameManager._current.value = manager


class NameManager(metaclass=_NameManagerClass):
    """Names nodes hint0, hint1, ...; `with NameManager():` gives a fresh set of counters."""
    _current = _Current()

    def __init__(self):
        self._counter = {}
        self._old_manager = None

    def get(self, name, hint):
        """`name` if given, else the hint followed by its counter."""
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return f"{hint}{n}"

    def __enter__(self):
        self._old_manager = NameManager._current.value
        NameManager._current.value = self
        return self

    def __exit__(self, *exc):
        NameManager._current.value = self._old_manager
        return False


class Prefix(NameManager):
    """Every name it gives starts with `prefix`."""

    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


def current():
    """This thread's NameManager."""
    cur = NameManager._current.value
    if cur is None:
        cur = NameManager._current.value = NameManager()
    return cur
