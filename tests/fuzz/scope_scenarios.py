"""Random scenarios for arrays a compiled function reads from its scope, not its arguments.

A scenario is a small program of x, two scope arrays c1, c2 and a scope number k, called
several times. The scope is a closure's variables, a hybridized block's attributes, an
object's attributes (`holder.c1`, the holder in the closure), a dict's items
(`table["c1"]`), a list's items (`box[0]`), the attributes of an object held in a list
(`holders[0].c1`) or passed as an argument (`f(x, holder)`), or a closure helper function the
program calls to read them. Before each call one event changes the scope the way user
code does: a write in place (outside or inside record()), attach_grad with each grad_req,
binding the name to a new array (of the same shape or a broadcast one; an object's old array
is kept alive elsewhere), recomputing it under record() from the other one, a new value of k,
or nothing. The program also binds its last intermediate array in that scope (`self.stored =
v`, through a function it calls). The same seeded scenario runs eagerly and compiled; every
call's output and stored array and every gradient (x's, and c1's and c2's while they are
variables) must agree. (A hybridized block's numbers are fixed at its trace, as in MXNet: its
k never changes.)

tests/fuzz/test_scope_fuzz.py runs a few seeds in CI; `python scripts/fuzz_scope.py` runs many.
"""
import types
import warnings

import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd

SHAPE = (2, 3)

# (name, fn of three arrays) — elementwise, so any of the three may be any operand
OPS = [
    ("mul", lambda a, b: a * b),
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("tanh_mul", lambda a, b: nd.tanh(a) * b),
    ("sigmoid_add", lambda a, b: nd.sigmoid(a + b)),
    ("square", lambda a, b: a * a + b),
    ("max", lambda a, b: nd.maximum(a, b)),
]

EVENTS = ["none", "write", "write_recording", "attach_write", "attach_add", "attach_null",
          "rebind", "rebind_attached", "rebind_broadcast", "recompute", "number"]
WHERES = ["closure", "block", "object", "helper", "dict", "list", "nested", "argument"]


class Scenario:
    """The random choices of one scenario: its program and its events (data come from the
    seed, so the eager and compiled runs see the same arrays)."""

    def __init__(self, seed, calls=6):
        rs = np.random.RandomState(seed)
        self.seed = seed
        n = rs.randint(1, 5)
        # each step: op index, and which of the values so far (0 x, 1 c1, 2 c2, 3.. results)
        self.steps = []
        for k in range(n):
            avail = 3 + k
            self.steps.append((rs.randint(len(OPS)), rs.randint(avail), rs.randint(avail)))
        # the scope arrays must be read: the last step's operands are forced to include them
        self.steps.append((0, 1, 2))
        self.steps.append((1, 3 + n, 0))
        self.events = [(EVENTS[rs.randint(len(EVENTS))], rs.randint(2), rs.randint(1 << 30),
                        bool(rs.randint(2))) for _ in range(calls)]
        self.where = WHERES[rs.randint(len(WHERES))]
        if self.where == "block":
            self.events = [e if e[0] != "number" else ("none",) + e[1:] for e in self.events]

    def describe(self):
        ops = ", ".join(f"{OPS[o][0]}(v{a}, v{b})" for o, a, b in self.steps)
        ev = ", ".join(f"{e}(c{w + 1}){' recorded' if rec else ''}"
                       for e, w, _, rec in self.events)
        return (f"seed {self.seed} ({self.where}): "
                f"{ops}; events: {ev}")


def program(steps, x, c1, c2, k=1.0, keep=None):
    values = [x, c1, c2]
    for o, a, b in steps:
        values.append(OPS[o][1](values[a], values[b]))
    if keep is not None:        # (the caller binds it in its scope: `self.stored = v`)
        keep(values[-1])
    return nd.sum(values[-1] * values[-1]) * k


def _data(seed, k):
    return np.random.RandomState(seed + k).uniform(-1, 1, SHAPE).astype(np.float32)


class Attributes(gluon.HybridBlock):
    """The scope arrays as a hybridized block's attributes."""

    def __init__(self, steps, c1, c2):
        super().__init__()
        self.steps, self.c1, self.c2, self.stored = steps, c1, c2, None

    def hybrid_forward(self, F, x):
        return program(self.steps, x, self.c1, self.c2, keep=self._keep)

    def _keep(self, v):
        self.stored = v


def run(scn, compiled):
    """Every call's (output, the array it stored, x.grad, c1.grad or None, c2.grad or None),
    as float64 arrays."""
    x = nd.array(_data(scn.seed, 0))
    scope = {"c1": nd.array(_data(scn.seed, 1)), "c2": nd.array(_data(scn.seed, 2)), "k": 1.5}
    kept = []       # old arrays an object's rebinding leaves alive elsewhere
    if scn.where == "block":
        blk = Attributes(scn.steps, scope["c1"], scope["c2"])
        if compiled:
            blk.hybridize()
        f = blk

        def get(name):
            return getattr(blk, name)

        def put(name, value):
            setattr(blk, name, value)
    elif scn.where == "object":
        holder = types.SimpleNamespace(stored=None, **scope)

        def keep(v):
            holder.stored = v

        def body(x):
            return program(scn.steps, x, holder.c1, holder.c2, holder.k, keep)

        def get(name):
            return getattr(holder, name)

        def put(name, value):
            kept.append(getattr(holder, name))
            setattr(holder, name, value)
        f = mx.jit(body) if compiled else body
    elif scn.where in ("list", "nested", "argument"):
        holder = types.SimpleNamespace(stored=None, **scope)
        box = [scope["c1"], scope["c2"], scope["k"]]
        holders = [holder]
        slot = {"c1": 0, "c2": 1, "k": 2}

        def keep(v):       # (an attribute: an output compiled calls bind there too)
            holder.stored = v

        def body(x, h=None):
            if scn.where == "list":
                return program(scn.steps, x, box[0], box[1], box[2], keep)
            h = holders[0] if h is None else h
            return program(scn.steps, x, h.c1, h.c2, h.k, keep)

        def get(name):
            return box[slot[name]] if scn.where == "list" and name in slot else \
                getattr(holder, name)

        def put(name, value):
            kept.append(get(name))
            if scn.where == "list":
                box[slot[name]] = value
            else:
                setattr(holder, name, value)
        g = mx.jit(body) if compiled else body
        f = (lambda x: g(x, holder)) if scn.where == "argument" else g
    elif scn.where == "dict":
        table = dict(scope, stored=None)

        def keep(v):
            table["stored"] = v

        def body(x):
            return program(scn.steps, x, table["c1"], table["c2"], table["k"], keep)

        def get(name):
            return table[name]

        def put(name, value):
            kept.append(table[name])
            table[name] = value
        f = mx.jit(body) if compiled else body
    else:
        c1, c2, k, stored = scope["c1"], scope["c2"], scope["k"], None

        def read():
            return c1, c2, k

        def keep(v):
            nonlocal stored
            stored = v

        if scn.where == "helper":
            def body(x):
                a, b, kk = read()
                return program(scn.steps, x, a, b, kk, keep)
        else:
            def body(x):
                return program(scn.steps, x, c1, c2, k, keep)

        def get(name):
            return {"c1": c1, "c2": c2, "k": k, "stored": stored}[name]

        def put(name, value):
            nonlocal c1, c2, k
            if name == "c1":
                c1 = value
            elif name == "c2":
                c2 = value
            else:
                k = value
        f = mx.jit(body) if compiled else body
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # (a scenario may make jit run eagerly, saying so)
        for k, (event, which, seed, recorded) in enumerate(scn.events):
            name, other = ("c1", "c2") if which == 0 else ("c2", "c1")
            value = np.random.RandomState(seed).uniform(-1, 1, SHAPE).astype(np.float32)
            x.attach_grad()
            tracked = _apply(event, name, other, value, get, put, x, f, recorded)
            if tracked is None:
                continue
            out, grads = tracked
            results.append([out, get("stored").asnumpy().astype(np.float64)] + grads)
    return results


def _apply(event, name, other, value, get, put, x, f, recorded):
    """Make the event's change, then one call (recorded and differentiated when `recorded`
    or the event needs record()); the call's results."""
    def grads():
        return [x.grad.asnumpy().astype(np.float64)] + [
            get(c).grad.asnumpy().astype(np.float64)
            if get(c)._var is not None and get(c)._var.grad_req != "null" else None
            for c in ("c1", "c2")]
    value_like = value[:get(name).shape[0]]     # (the array may have the broadcast shape)
    if event == "number":
        put("k", float(value.flat[0]) + 2.0)
    elif event == "write":
        get(name)[:] = nd.array(value_like)
    elif event.startswith("attach_"):
        get(name).attach_grad(event[len("attach_"):])
    elif event == "rebind":
        put(name, nd.array(value))
    elif event == "rebind_attached":
        put(name, nd.array(value))
        get(name).attach_grad()
    elif event == "rebind_broadcast":      # another shape (broadcast by the program's ops)
        put(name, nd.array(value[:1]))
    if event in ("write_recording", "recompute"):
        with autograd.record():
            if event == "write_recording":
                target = get(name)
                if target._value is not None:   # (a recorded array cannot be written there)
                    return None
                target[:] = nd.array(value_like)
            else:
                put(name, get(other) * 0.5 + nd.array(value))
            y = f(x)
        y.backward()
        return y.asnumpy().astype(np.float64), grads()
    if not recorded:
        return f(x).asnumpy().astype(np.float64), []
    with autograd.record():
        y = f(x)
    y.backward()
    return y.asnumpy().astype(np.float64), grads()


def check(seed, calls=6):
    """Raise AssertionError (naming the scenario) when compiled and eager disagree."""
    scn = Scenario(seed, calls)
    eager, compiled = run(scn, False), run(scn, True)
    assert len(eager) == len(compiled), scn.describe()
    for k, (e, c) in enumerate(zip(eager, compiled)):
        for j, (a, b) in enumerate(zip(e, c)):
            what = ["output", "stored", "x.grad", "c1.grad", "c2.grad"][j]
            if a is None or b is None:
                assert a is None and b is None, f"{scn.describe()}\ncall {k}: {what} {a} {b}"
                continue
            if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
                raise AssertionError(f"{scn.describe()}\ncall {k}: {what} differs: eager "
                                     f"{a.ravel()[:6]} compiled {b.ravel()[:6]}")
