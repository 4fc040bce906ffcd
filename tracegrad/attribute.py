"""mx.AttrScope: string attributes attached to every symbol created inside the scope
(`with mx.AttrScope(ctx_group='dev1'):`), as MXNet 1.x's attribute.AttrScope."""
import threading


class _Current(threading.local):
    value = None


class _AttrScopeClass(type):
    """`AttrScope.current`: MXNet's (deprecated) class property, this thread's scope; code
    may also set it."""

    @property
    def current(cls):
        cur = AttrScope._current.value
        if cur is None:
            cur = AttrScope._current.value = AttrScope()
        return cur

    @current.setter
    def current(cls, scope):
        AttrScope._current.value = scope


class AttrScope(metaclass=_AttrScopeClass):
    """Scoped attributes; inner scopes add to (and override) the outer ones."""
    _current = _Current()

    def __init__(self, **kwargs):
        for value in kwargs.values():
            if not isinstance(value, str):
                raise ValueError("Attributes need to be string")
        self._attr = kwargs
        self._old_scope = None

    def get(self, attr):
        """The scope's attributes updated with `attr` (the caller's own win)."""
        if not self._attr:
            return dict(attr) if attr else {}
        ret = dict(self._attr)
        if attr:
            ret.update(attr)
        return ret

    def __enter__(self):
        self._old_scope = AttrScope._current.value
        merged = dict(self._old_scope._attr) if self._old_scope is not None else {}
        merged.update(self._attr)
        self._attr = merged
        AttrScope._current.value = self
        return self

    def __exit__(self, *exc):
        AttrScope._current.value = self._old_scope
        return False
