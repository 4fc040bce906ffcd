"""What a jitted function reads besides its arguments, and how a later call sees it changed.

Eager code reads its scope again at every call; compiled code reads what its trace saw. So the
trace walks the places fn's code can reach (`walk`) and jit watches them (`watched`): a call
where one changed traces again, and a trace that changed one (a side effect compiled code
would not repeat) runs eagerly. The walk follows, from the closure cells and globals fn's code
names:

- user functions reached (helpers; not tracegrad's, the standard library's or an installed
  package's), walked the same way, and their default arguments;
- objects and user modules: the attributes walked code names or has as string constants
  (`cfg.lr`, `getattr(cfg, "lr")`, a method's `self.k`), from the instance's own dict, or a
  plain value its class holds; all of an object's attributes when the code reads some by
  computed names (`getattr(cfg, name)`, `vars`);
- containers: a list's, a dict's, a set's or a deque's items, and a numpy array's values
  (up to MAX_ARRAY, unless the compiled code reads the array itself), are one place each
  (their *contents*: numbers, flags and strings by value, anything else by identity;
  `counter[0]`, `table[key]`, `float(scale)`), and the objects and containers in them are
  followed in turn; a dict's items under keys the code has as constants are places of their
  own too (an array stored there is an output: `cache["last"] = y`);
- a bound block's attributes and its children's (they are inlined in its trace).

NDArrays are not compared here: jit feeds the arrays a trace read at every call
(compiled.Held), and watches where they were read from by identity. A container larger than
MAX_ITEMS (a numpy array larger than MAX_ARRAY) is watched by identity and length only
(explain() lists it), and a walk stops after MAX_PLACES places. Python state that changes as
it is read (a random generator, an iterator) cannot be watched: `Places.stateful` names it,
and jit runs such a function eagerly. `argument_key` is the same watch for an object passed
as an argument: the attributes the code reads join the call's signature."""
import dis
import functools
import os
import random
import sysconfig
import types
import weakref
from collections import deque
from operator import is_ as _is

import numpy as np

from ..array import NDArray

MAX_PLACES = 512     # functions and places one walk visits at most
MAX_ITEMS = 256      # items of a container watched by content (and followed)
MAX_ARRAY = 4096     # values of a numpy array watched by content (a Python read of one)
MAX_DEPTH = 3        # objects and containers followed from a place of fn's own code

VALUE_TYPES = (bool, int, float, complex, str, np.number, np.bool_, type(None))

# wrappers whose function a trace inlines (jit.JitFunction registers itself): walked too
INLINED = []


class Same:
    """An item of a container's contents compared by identity (its own __eq__ never runs)."""
    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return type(other) is Same and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


class Contents(tuple):
    """A container's contents at one moment (see `_item`); equal to another snapshot when
    every item is the same."""
    __slots__ = ()


def _item(v):
    """One item of a snapshot: a number, flag or string by type and value (1, 1.0 and True
    trace differently), anything else by identity."""
    if isinstance(v, VALUE_TYPES):
        return (type(v), v)
    return Same(v)


def contents(c, exclude=frozenset()):
    """Container `c`'s contents now, as a Contents: a list's or deque's items, a dict's
    (key, item) pairs but those under `exclude` (keys the code has as constants: places of
    their own, where an array may be stored), a set's items, a numpy array's dtype, shape
    and bytes."""
    t = type(c)
    if t is list or t is deque:
        return Contents(map(_item, c))
    if t is dict:
        return Contents((_item(k), _item(v)) for k, v in c.items() if k not in exclude)
    if t is set:
        return Contents(sorted(map(_item, c), key=repr))
    return Contents((c.dtype.str, c.shape, c.tobytes()))    # (a numpy array)


class ContentsOf:
    """The getter of a container's contents place: `contents(c)` now, but the snapshot taken
    when walked (the watch's value: nothing to compare) while every item is still the same
    object, which is what most calls find (a check in C, not per item in Python)."""
    __slots__ = ("c", "exclude", "snapshot", "keys", "items")

    def __init__(self, c, exclude):
        self.c, self.exclude = c, exclude
        self.snapshot = contents(c, exclude)
        t = type(c)
        self.keys = tuple(c) if t is dict else None
        self.items = tuple(c.values()) if t is dict else tuple(c) if t is not np.ndarray \
            else None

    def __call__(self):
        c, items = self.c, self.items
        if items is not None and len(c) == len(items):
            if self.keys is None:
                if all(map(_is, c, items)):
                    return self.snapshot
            elif all(map(_is, c, self.keys)) and all(map(_is, c.values(), items)):
                return self.snapshot
        return contents(c, self.exclude)


def refill(c, saved, _value=None):
    """Put container `c`'s contents back to `saved` (a shallow copy): the scope as it was
    before a trace that changed it, for the eager run that follows."""
    t = type(c)
    if t is list or t is deque:
        c.clear()
        c.extend(saved)
    elif t is dict or t is set:
        c.clear()
        c.update(saved)
    elif t is np.ndarray:
        np.copyto(c, saved)


def _shallow(c):
    return c.copy() if type(c) in (list, dict, set, np.ndarray) else deque(c) \
        if type(c) is deque else None


def _watchable(c):
    """Whether container `c` is watched by its contents (else by identity and length)."""
    if type(c) is np.ndarray:
        return c.size <= MAX_ARRAY and c.dtype.kind in "biufc"
    return len(c) <= MAX_ITEMS


class _Walk:
    """One walk of fn's scope: the places found, and what is still to visit."""

    def __init__(self):
        self.out = []            # (name, getter, value, setter)
        self.attributes, self.keys, self.done = set(), set(), set()
        self.chains = set()      # attribute chains read from a name: ("np", "random", "rand")
        self.dynamic = False     # the code reads attributes by computed names (getattr)
        self.modules = []        # (name, module) of the places holding a module
        self.stateful = set()    # names of places holding state that changes as it is read
        self.functions = []      # (function, " (in helper)")
        self.objects = []        # (name, object, its dict, depth, items?)
        self.containers = []     # (name, container, depth)

    def first(self, key):
        """Whether `key` is met for the first time (then noted): a place two walked functions
        name (a module's global) is listed once."""
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def full(self):
        return len(self.done) >= MAX_PLACES

    def place(self, name, get, value, put, depth, prefix=None):
        """A place found; what its value leads to is named from `prefix` (default: name)."""
        self.out.append((name, get, value, put))
        if type(value) is types.ModuleType:     # (judged at the end of the walk, on every
            self.modules.append((name if prefix is None else prefix, value))   # chain read)
        else:
            state = _stateful(name if prefix is None else prefix, value, self.chains)
            if state is not None:
                self.stateful.add(state)
        if depth <= MAX_DEPTH:
            self.follow(value, name if prefix is None else prefix, depth)

    def follow(self, v, name, depth):
        """Queue what a place's value leads to. Nothing of the value's own code runs (no
        __getattr__): a value that resists is not followed."""
        if depth > MAX_DEPTH + 1:
            return
        try:
            t = type(v)
            if t is dict or t is list or t is deque or t is set or t is np.ndarray:
                if self.first((id(v), "contents")):
                    self.containers.append((name, v, depth))
                if t is dict:
                    self.objects.append((name, v, v, depth, True))
            elif t is tuple or t is frozenset:     # (immutable: their items are followed)
                if len(v) <= MAX_ITEMS and self.first((id(v), "contents")):
                    for i, x in enumerate(v):
                        self.follow(x, f"{name}[{i}]", depth + 1)
            elif any(isinstance(v, w) for w in INLINED):  # (inlined: its scope is read there)
                self.functions.append((v.fn, f" (in {name})"))
            elif isinstance(v, types.MethodType):
                if is_user_function(v.__func__):
                    self.functions.append((v.__func__, f" (in {name})"))
                    d = own_dict(v.__self__)
                    if d is not None:
                        self.objects.append((f"{name}.__self__", v.__self__, d, depth, False))
            elif isinstance(v, types.FunctionType):
                if is_user_function(v):
                    self.functions.append((v, f" (in {name})"))
            elif isinstance(v, types.ModuleType):
                if user_module(v):
                    self.objects.append((name, v, own_dict(v), depth, False))
            elif not isinstance(v, (type, NDArray)) and not isinstance(v, VALUE_TYPES):
                d = own_dict(v)
                if d is not None:
                    self.objects.append((name, v, d, depth, False))
        except Exception:  # noqa: BLE001 - a proxy object raising from isinstance: not followed
            return

    def code(self, f, where):
        """Walk function f's code: its closure cells, globals and default arguments."""
        code = getattr(f, "__code__", None)
        if code is None or code in self.done:
            return
        self.done.add(code)
        names, attrs, consts, chains = _names_read(code)
        self.attributes.update(attrs)
        self.keys.update(consts)
        self.chains.update(chains)
        if not self.dynamic and not _DYNAMIC_ACCESS.isdisjoint(names):
            self.dynamic = True     # (getattr(obj, name) of a computed name, vars(obj))
        for n, c in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
            if _filled(c) and self.first((id(c),)):
                self.place(n + where, _cell_getter(c), c.cell_contents, _cell_setter(c), 0, n)
        g = getattr(f, "__globals__", {})
        for n in names:
            if n in g and self.first((id(g), n)):
                self.place(n + where, functools.partial(g.__getitem__, n), g[n],
                           functools.partial(g.__setitem__, n), 0, n)
        for i, v in enumerate(getattr(f, "__defaults__", None) or ()):
            if self.first((id(f), "default", i)):     # (a mutable default's contents)
                self.follow(v, f"{getattr(f, '__name__', 'f')}'s default {i}{where}", 0)
        for k, v in (getattr(f, "__kwdefaults__", None) or {}).items():
            if self.first((id(f), "default", k)):
                self.follow(v, f"{getattr(f, '__name__', 'f')}'s default {k}{where}", 0)

    def members(self, prefix, obj, d, depth, items):
        """The attributes (or, of a dict, the items) walked code names of one object; when
        that code reads attributes by computed names (getattr, vars), all of an object's
        attributes: its attribute dict is watched like a dict (one place, its contents)."""
        if not items and self.dynamic and type(obj) is not types.ModuleType \
                and "_children" not in d and self.first((id(d), "contents")):
            self.containers.append((f"the attributes of {prefix}", d, depth))
        names = self.keys if items else self.attributes | self.keys
        for k in sorted(names.intersection(d), key=repr):
            if self.full() or not self.first((id(d), k)):
                continue
            name = f"{prefix}[{k!r}]" if items else f"{prefix}.{k}"
            self.place(name, functools.partial(d.__getitem__, k), d[k],
                       functools.partial(d.__setitem__, k), depth + 1)
        if items:
            return
        for k in sorted(self.attributes.difference(d)):
            if self.full() or not self.first((id(type(obj)), k)):
                continue
            found = _class_member(type(obj), k)
            if found is None:
                continue
            klass, v = found
            if isinstance(v, types.FunctionType):     # a method its code calls: walked too
                if is_user_function(v):
                    self.functions.append((v, f" (in {prefix}.{k})"))
            elif isinstance(v, VALUE_TYPES) or not hasattr(type(v), "__get__"):
                # a plain value of its class (`Config.lr`): read there while the instance has
                # none of its own
                self.place(f"{prefix}.{k}", functools.partial(_class_value, d, klass, k), v,
                           functools.partial(setattr, klass, k), depth + 1)

    def items(self, name, c, depth):
        """Follow the items of container `c` (objects and containers in it)."""
        if type(c) is np.ndarray or not _watchable(c) or depth >= MAX_DEPTH:
            return
        for k, x in (c.items() if type(c) is dict else enumerate(c)):
            if self.full():
                return
            self.follow(x, f"{name}[{k!r}]", depth + 1)

    def container_places(self):
        """One place per container met: its contents (see `contents`), or, past MAX_ITEMS,
        its identity and length."""
        for name, c, _ in self.containers:
            if not _watchable(c):
                get = functools.partial(_identity_and_length, c)
                self.out.append((f"the length of {name}", get, get(), _ignore))
                continue
            get = ContentsOf(c, frozenset(self.keys) if type(c) is dict else frozenset())
            self.out.append((f"the items of {name}", get, get.snapshot,
                             functools.partial(refill, c, _shallow(c))))


def walk(fn):
    """[(name, getter, value, setter)] for each place of fn's scope (see the module doc), as
    eager code would read it again. `getter` reads the place again (ValueError or KeyError
    once emptied); `setter` binds it as fn's own code would (a container's puts back the
    contents it had when walked)."""
    w = _Walk()
    while isinstance(fn, functools.partial):    # (its bound arguments: contents watched)
        for i, v in enumerate(fn.args):
            w.follow(v, f"{getattr(fn.func, '__name__', 'partial')}'s bound argument {i}", 0)
        for k, v in fn.keywords.items():
            w.follow(v, f"{getattr(fn.func, '__name__', 'partial')}'s bound argument {k}", 0)
        fn = fn.func
    owner = getattr(fn, "__self__", None)
    if not isinstance(fn, (types.FunctionType, types.MethodType)) and \
            own_dict(fn) is not None and "_children" not in own_dict(fn):
        # a callable object of the user's: its __call__, with the object as `self`
        call = _class_member(type(fn), "__call__")
        if call is not None and is_user_function(call[1]):
            owner, fn = fn, call[1]
    w.functions.append((fn, ""))
    d = own_dict(owner) if owner is not None else None
    if d is not None and "_children" in d:
        _block_tree(owner, w.out)
    elif d is not None:
        w.objects.append(("self", owner, d, 0, False))
    known, followed = [], 0
    while w.functions or w.objects or len(w.containers) > followed:
        while w.functions and not w.full():
            w.code(*w.functions.pop())
        w.functions = []
        known += w.objects
        w.objects = []
        for prefix, obj, d, depth, items in known:  # (again after each round: walked code
            w.members(prefix, obj, d, depth, items)  # names more)
        new, followed = w.containers[followed:], len(w.containers)
        for name, c, depth in new:
            w.items(name, c, depth)
    w.container_places()
    for raw, v in w.modules:
        state = _stateful(raw, v, w.chains)
        if state is not None:
            w.stateful.add(state)
    out = Places(w.out)
    out.stateful = sorted(w.stateful)
    out.names = None if w.dynamic else frozenset(w.attributes | w.keys)
    return out


class Places(list):
    """The places of a walk, and `stateful`: the names of those holding Python state that
    changes as it is read (a random generator, an iterator, the clock), which no watch sees:
    compiled code would repeat the value its trace read."""
    stateful = ()
    # the attribute names and string constants of the walked code (None: it reads attributes
    # by computed names too, so every attribute counts)
    names = frozenset()


_STATEFUL_MODULES = frozenset({"secrets", "uuid", "time"})
_DYNAMIC_ACCESS = frozenset({"getattr", "vars", "hasattr", "attrgetter"})
# what makes a seeded generator (deterministic given its seed), in random and numpy.random
_SEEDED = frozenset({"Random", "default_rng", "RandomState", "Generator", "SeedSequence",
                     "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64", "BitGenerator"})
_GENERATORS = (random.Random, np.random.RandomState, np.random.Generator)


def _stateful(name, v, chains):
    """`name` when place value `v` is Python state that changes as it is read (see Places),
    else None: the time module; the random and numpy.random modules, numpy's `.random`, when
    the code reads more of them than the constructors of a seeded generator
    (`np.random.default_rng(seed)` is the same at every call; `chains`: walk judges modules
    at its end, on every chain the walked code reads); a generator object or a function
    bound to one (`from random import random`); an iterator."""
    try:
        if isinstance(v, types.ModuleType):
            module = v.__name__
            if module in _STATEFUL_MODULES:
                return name
            if module in ("random", "numpy.random"):
                reads = [c[1:] for c in chains if c[0] == name]
                return name if not reads or any(r[0] not in _SEEDED for r in reads) else None
            if module == "numpy":
                reads = [c[2:] for c in chains if c[:2] == (name, "random")]
                return f"{name}.random" if any(not r or r[0] not in _SEEDED for r in reads) \
                    else None
            return None
        if isinstance(v, _GENERATORS) or isinstance(getattr(v, "__self__", None), _GENERATORS):
            return name
        if isinstance(v, types.GeneratorType) or (
                hasattr(type(v), "__next__") and not isinstance(v, (NDArray, np.ndarray))):
            return name
    except Exception:  # noqa: BLE001 - a proxy object raising from isinstance: not state
        return None
    return None


def _identity_and_length(c):
    return Contents((Same(c), c.size if type(c) is np.ndarray else len(c)))


def _ignore(_value):
    """The setter of a container too large to watch by content: nothing to put back."""


def _class_member(cls, name):
    """(the class defining `name`, what it holds there), found without running a descriptor;
    None."""
    for klass in cls.__mro__:
        d = klass.__dict__
        if name in d:
            v = d[name]
            return klass, getattr(v, "__func__", v) if isinstance(
                v, (staticmethod, classmethod)) else v
    return None


def _class_value(own, klass, name):
    """Attribute `name` as Python reads it: the instance's own (dict `own`), else its
    class's."""
    if name in own:
        return own[name]
    return klass.__dict__[name]


def argument_key(obj, names=None):
    """The part of a call's signature an object argument adds (jit.flatten): its attributes
    (those in `names`, the attribute names fn's code reads, when given), numbers, flags and
    strings by value, arrays and anything else by identity, the objects and containers in
    them one level down. None: not such an object (a class, a function, a module, a block:
    by identity or by its own hash). TypeError: too large to watch."""
    if not argument_key_of(obj):
        return None
    return _deep(own_dict(obj), [MAX_ITEMS], 3, names)


def argument_dicts(args):
    """The attribute dicts of the objects among a call's arguments (nested in its lists,
    tuples and dicts) whose attributes key the call (argument_key)."""
    out, stack = [], [args]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is list or t is tuple:
            stack.extend(v)
        elif t is dict:
            stack.extend(v.values())
        elif argument_key_of(v):
            out.append(own_dict(v))
    return out


def argument_key_of(obj):
    """Whether object `obj`, an argument, is keyed by its attributes (argument_key)."""
    if isinstance(obj, VALUE_TYPES) or isinstance(obj, (
            type, types.FunctionType, types.MethodType, types.ModuleType,
            types.BuiltinFunctionType, NDArray)) or any(isinstance(obj, w) for w in INLINED):
        return False
    d = own_dict(obj)
    return d is not None and "_children" not in d


def _deep(v, budget, depth, names=None):
    """`v` as a hashable snapshot: numbers, flags and strings by value, arrays by identity
    (SameArray), containers and user objects item by item down to `depth` (an attribute
    dict, `attributes`: only the names in `names`, when given), anything else by identity."""
    budget[0] -= 1
    if budget[0] < 0:
        raise TypeError(f"an argument object with more than {MAX_ITEMS} attributes and items "
                        f"to watch")
    if isinstance(v, VALUE_TYPES):
        return (type(v), v)
    if isinstance(v, NDArray):
        return SameArray(v)
    t = type(v)
    if depth > 0:
        if t is dict:
            items = v.items() if names is None else \
                [(k, x) for k, x in v.items() if k in names]
            return (dict, tuple((_item(k), _deep(x, budget, depth - 1)) for k, x in items))
        if t is list or t is tuple or t is deque:
            return (t, tuple(_deep(x, budget, depth - 1) for x in v))
        if t is np.ndarray and _watchable(v):
            return (t, Same(v), contents(v))
        if argument_key_of(v):      # (a user object: its attributes)
            return (t, Same(v), _deep(own_dict(v), budget, depth - 1, names))
    return Same(v)


class SameArray:
    """An array in a call's signature, by identity, without keeping it alive (a dead one
    matches nothing: its id may be reused)."""
    __slots__ = ("ref", "ident")

    def __init__(self, array):
        self.ref, self.ident = weakref.ref(array), id(array)

    def __eq__(self, other):
        if type(other) is not SameArray:
            return False
        a = self.ref()
        return a is not None and a is other.ref()

    def __hash__(self):
        return self.ident


def own_dict(v):
    """v's own attribute dict, read without running its __getattr__; None when it has none."""
    try:
        d = object.__getattribute__(v, "__dict__")
    except Exception:  # noqa: BLE001 - no instance dict (slots), or a descriptor that raises
        return None
    return d if type(d) is dict else None


def user_module(m):
    """Whether module `m` is the user's (its file is: _user_file), read from its own dict."""
    d = own_dict(m)
    path = d.get("__file__") if d is not None else None
    return type(path) is str and _user_file(path)


def is_user_function(f):
    return isinstance(f, types.FunctionType) and _user_file(f.__code__.co_filename)


@functools.lru_cache(maxsize=1024)
def _user_file(filename):
    """Whether code from `filename` is the user's: not tracegrad's, the standard library's or
    an installed package's (their globals are not watched)."""
    if filename.startswith("<frozen") or filename.startswith("<tracegrad"):
        return False
    if filename.startswith("<"):        # exec'd code, an interactive session's
        return True
    path = os.path.realpath(filename)
    return not path.startswith(_LIBRARY_DIRS)


_LIBRARY_DIRS = tuple(sorted({os.path.realpath(p) + os.sep for p in (
    *(sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) if p}))


def _block_tree(block, out):
    """A bound block's attributes and its children's, all of them (arrays a trace reads
    there are found by identity)."""
    blocks, seen = [("self", block)], set()
    while blocks:
        prefix, b = blocks.pop()
        d = getattr(b, "__dict__", None)
        if d is None or id(b) in seen:      # (a block shared by two parents: once)
            continue
        seen.add(id(b))
        for k, v in list(d.items()):
            out.append((f"{prefix}.{k}", functools.partial(d.__getitem__, k), v,
                        functools.partial(d.__setitem__, k)))
        blocks += [(f"{prefix}.{k}", c) for k, c in getattr(b, "_children", {}).items()]


def watched(fn, places, fed=frozenset()):
    """[(getter, value, name)]: the places of fn's scope (`places`, walk) that hold no array:
    Python numbers, flags and strings, compared by value, containers by their contents, and
    the rest (a function it calls, a numpy array it reads, an object, a module of the
    user's) by identity. A trace used them as they were, so a call where one changed traces
    again. Not an installed module (`nd`, `np`: nobody binds those names to another module),
    nor a hybridized block's: MXNet's cached graph keeps them too; nor the contents of a
    numpy array the compiled code reads itself (`fed`: ids of the buffers its trace fed as
    arrays: an in-place change is read there at the next call)."""
    if block_bound(fn):
        return []
    return [(get, v, name) for name, get, v, _ in places
            if not isinstance(v, NDArray) and not (
                isinstance(v, types.ModuleType) and not user_module(v))
            and not (fed and type(get) is ContentsOf and id(get.c) in fed)]


def block_bound(fn):
    """Whether fn is a block's (a Block, or a method bound to one): its numbers and
    attributes are fixed at its trace, as MXNet's cached graph fixes them."""
    owner = getattr(fn, "__self__", None)
    d = own_dict(fn if owner is None else owner)
    return d is not None and "_children" in d


def differs(now, value):
    """Whether `now`, which is not `value`, counts as another one: a number, flag or string
    by value (of its type), a container's contents item by item, anything else by
    identity."""
    if type(value) is Contents:
        return type(now) is not Contents or now != value
    return not isinstance(value, VALUE_TYPES) or type(now) is not type(value) or now != value


def now(get):
    """What the place `get` reads holds now (EMPTIED once emptied)."""
    try:
        return get()
    except (ValueError, KeyError):
        return EMPTIED


EMPTIED = object()


def changed(get, value):
    """Whether the place `get` reads no longer holds `value` (differs)."""
    current = now(get)
    return current is not value and differs(current, value)


@functools.lru_cache(maxsize=256)
def _names_read(code):
    """(global names `code` loads or stores, attribute names it loads or stores, its string
    constants: the dict keys and attribute names it may look up, the attribute chains it
    reads from a global or closure name: ("np", "random", "rand") for `np.random.rand`),
    with its nested functions' and comprehensions' (co_names alone mixes the first two)."""
    globals_, attributes, chains = set(), set(), set()
    keys = {c for c in code.co_consts if type(c) is str}
    chain = []
    for instruction in dis.get_instructions(code):
        op = instruction.opname
        if op in ("CACHE", "EXTENDED_ARG", "PRECALL"):
            continue
        if op in ("LOAD_ATTR", "LOAD_METHOD") and chain:
            chain.append(instruction.argval)
        else:
            if len(chain) > 1:
                chains.add(tuple(chain))
            chain = [instruction.argval] if op in (
                "LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLOSURE") else []
        if op in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL"):
            globals_.add(instruction.argval)
        elif op in ("LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR"):
            attributes.add(instruction.argval)
    if len(chain) > 1:
        chains.add(tuple(chain))
    for const in code.co_consts:
        if isinstance(const, type(code)):
            inner = _names_read(const)
            globals_.update(inner[0])
            attributes.update(inner[1])
            keys.update(inner[2])
            chains.update(inner[3])
    return (tuple(sorted(globals_)), tuple(sorted(attributes)), tuple(sorted(keys)),
            frozenset(chains))


def _cell_getter(cell):
    return lambda: cell.cell_contents


def _cell_setter(cell):
    def put(value):
        cell.cell_contents = value
    return put


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True
