"""Random scenarios for the Python values a jitted function reads, not its arrays.

A scenario is a random nested configuration: lists, tuples, dicts and objects of numbers
(ints and floats), held in a global, in a closure, or passed as an argument. The function
reads a few of its numbers by the paths a program would use: `cfg[1]["k0"]`, `cfg.a0[2]`,
dict keys and attribute names that the function computes (`getattr(c, name)`). Before each
call one of the numbers changes (a list item or dict item set, an attribute set, a tuple
replaced in its parent), a container grows (an item appended, a key or an attribute added),
or nothing changes. The same calls run eagerly and jitted; every
output must agree (tracing/scope.py watches the contents, so a change traces again).

tests/fuzz/test_value_fuzz.py runs a few seeds in CI; `python scripts/fuzz_values.py` runs
many.
"""
import random
import types
import warnings

import numpy as np

import tracegrad as mx
from tracegrad import nd

VALUES = [1.0, 2.0, -1.5, 3, 0.5, -0.25, 7]
WHERES = ["global", "closure", "argument"]
CONFIG = {}     # the global a "global" scenario's function reads


def _build(r, depth=0):
    kind = r.randrange(1, 4) if depth == 0 else r.randrange(5 if depth < 2 else 1)  # (the
    #  top: a list, a dict or an object, so that every number has a parent to change it in)
    if kind == 0:
        return r.choice(VALUES)
    if kind == 1:
        return [_build(r, depth + 1) for _ in range(r.randrange(1, 4))]
    if kind == 2:
        return {f"k{i}": _build(r, depth + 1) for i in range(r.randrange(1, 4))}
    if kind == 3:
        return types.SimpleNamespace(**{f"a{i}": _build(r, depth + 1)
                                        for i in range(r.randrange(1, 3))})
    return tuple(_build(r, depth + 1) for _ in range(r.randrange(1, 3)))


def _paths(v, path=()):
    """The paths to every number: tuples of ("i", index) / ("k", key) / ("a", name)."""
    if isinstance(v, (int, float)):
        yield path
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            yield from _paths(x, path + (("i", i),))
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, path + (("k", k),))
    else:
        for k, x in vars(v).items():
            yield from _paths(x, path + (("a", k),))


def _read(v, path):
    for kind, k in path:
        v = getattr(v, k) if kind == "a" else v[k]
    return v


def _write(root, path, value):
    """Set the number at `path`, rebuilding the outermost tuple on the way (in its parent)."""
    *outer, (kind, k) = path
    parent, holder = root, None
    for i, (pk, pv) in enumerate(outer):
        child = getattr(parent, pv) if pk == "a" else parent[pv]
        if isinstance(child, tuple) and holder is None:
            holder = (parent, pk, pv, i)
        parent = child
    if holder is None:
        if kind == "a":
            setattr(parent, k, value)
        else:
            parent[k] = value
        return
    owner, pk, pv, i = holder        # rebuild the tuple with the new number inside
    old = getattr(owner, pv) if pk == "a" else owner[pv]
    rebuilt = _replace(old, path[i + 1:], value)
    if pk == "a":
        setattr(owner, pv, rebuilt)
    else:
        owner[pv] = rebuilt


def _replace(v, path, value):
    """`v` with the number at `path` set: a tuple rebuilt, anything else changed in place."""
    if not path:
        return value
    (_, k), rest = path[0], path[1:]
    if isinstance(v, tuple):
        items = list(v)
        items[k] = _replace(items[k], rest, value)
        return tuple(items)
    _write(v, path, value)
    return v


def _grow(v, r):
    """Append a number to a list of the configuration, or add a key to a dict or an
    attribute to an object."""
    for _ in range(4):
        if isinstance(v, list):
            v.append(r.choice(VALUES))
            return
        if isinstance(v, dict):
            v[f"new{len(v)}"] = r.choice(VALUES)
            return
        if isinstance(v, types.SimpleNamespace):
            setattr(v, f"new{len(vars(v))}", r.choice(VALUES))
            return
        if isinstance(v, tuple) and v:
            v = v[0]


def run(seed, compiled, calls=6):
    """Every call's output (the same seed makes the same configuration and changes)."""
    r = random.Random(seed)
    cfg = _build(r)
    paths = list(_paths(cfg))
    used = [r.choice(paths) for _ in range(3)] if paths else []
    where = WHERES[r.randrange(len(WHERES))]
    CONFIG["cfg"] = cfg

    def read(c):
        out = nd.array([0.5, -1.0])
        for path in used:
            out = out * _read(c, path) + 1.0
        return out

    if where == "global":
        def body(x):
            return x * read(CONFIG["cfg"])
    elif where == "closure":
        def body(x):
            return x * read(cfg)
    else:
        def body(x, c):
            return x * read(c)
    f = mx.jit(body) if compiled else body
    x = nd.array([2.0, 3.0])
    outs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # (a value changed at every call: eager, saying so)
        for call in range(calls):
            event = r.random() if call else 1.0
            if event < 0.7 and paths:
                _write(cfg, r.choice(paths), r.choice(VALUES))
            elif event < 0.85:      # (contents grow; the numbers read stay where they were)
                _grow(cfg, r)
            y = f(x, cfg) if where == "argument" else f(x)
            outs.append(y.asnumpy())
    return where, outs


def check(seed, calls=6):
    """Raise AssertionError (naming the scenario) when jitted and eager calls disagree."""
    where, eager = run(seed, False, calls)
    _, compiled = run(seed, True, calls)
    for k, (e, c) in enumerate(zip(eager, compiled)):
        if not np.allclose(e, c, rtol=1e-6):
            raise AssertionError(f"seed {seed} ({where}): call {k}: eager {e} jitted {c}")
