"""Random programs of nd ops for differential testing (hypothesis strategies and runners).

A Program is inputs (shape, dtype, values) plus steps `(op, operand indices, static args)`,
each appending one value. Shapes are drawn around one base shape so operands broadcast; 0-d,
zero-size and long (reduction) axes occur; values include NaN, inf, -0.0, huge and tiny ones
when `special` is drawn. Ops that jump (floor, sign, mod, comparisons) only ever read
program inputs, so an ulp of difference upstream can never flip them between two runs.

Runners: `run_eager` (nd on NDArrays), `run_reference` (numpy in float64, written
independently of tracegrad's impls), `run_pipelines` (the traced IR after each pass pipeline,
interpreted), `run_jit` (tracegrad.jit, native), plus gradients. `Program.source()` prints a
self-contained pytest function that replays a failure.
"""
import math

import numpy as np
from hypothesis import strategies as st

import tracegrad as mx
from tracegrad import autograd, nd

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -1e30, 1e-30, 3e38, 1e-42]
PIPELINES = ["", "fold", "simplify", "cse", "dce", "fold,simplify,cse,dce",
             "simplify,fold,dce", "cse,cse,dce,fold"]


def _ref_mean(x, axis, keepdims):
    with np.errstate(all="ignore"):
        return np.mean(x, axis=axis, keepdims=keepdims)


def _softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def _sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(
        -np.abs(x))))


# op -> (arity, nd form, numpy float64 reference, smooth, reads inputs only)
UNARY = {
    "exp": (lambda x: nd.exp(x), np.exp),
    "tanh": (lambda x: nd.tanh(x), np.tanh),
    "sigmoid": (lambda x: nd.sigmoid(x), _sigmoid),
    "sin": (lambda x: nd.sin(x), np.sin),
    "cos": (lambda x: nd.cos(x), np.cos),
    "neg": (lambda x: -x, np.negative),
    "square": (lambda x: nd.square(x), np.square),
    "log_abs1": (lambda x: nd.log(nd.abs(x) + 1.0), lambda x: np.log(np.abs(x) + 1.0)),
    "sqrt_abs": (lambda x: nd.sqrt(nd.abs(x) + 0.5), lambda x: np.sqrt(np.abs(x) + 0.5)),
    "softsign": (lambda x: nd.softsign(x), lambda x: x / (1 + np.abs(x))),
    "relu": (lambda x: nd.relu(x), lambda x: np.maximum(x, 0)),
    "abs": (lambda x: nd.abs(x), np.abs),
    "scale": (lambda x: x * 0.5 - 0.25, lambda x: x * 0.5 - 0.25),
    "rdiv": (lambda x: 1.0 / (nd.abs(x) + 1.0), lambda x: 1.0 / (np.abs(x) + 1.0)),
    "log1p_sq": (lambda x: nd.log1p(x * x), lambda x: np.log1p(x * x)),
}
KINKED = {"relu", "abs"}   # smooth away from 0; gradients checked only without special values
BINARY = {
    "add": (lambda x, y: x + y, np.add),
    "sub": (lambda x, y: x - y, np.subtract),
    "mul": (lambda x, y: x * y, np.multiply),
    "div_safe": (lambda x, y: x / (nd.abs(y) + 1.0), lambda x, y: x / (np.abs(y) + 1.0)),
    "maximum": (lambda x, y: nd.maximum(x, y), np.maximum),
    "minimum": (lambda x, y: nd.minimum(x, y), np.minimum),
}
DISCRETE = {  # read program inputs only
    "floor": (lambda x: nd.floor(x), np.floor),
    "sign": (lambda x: nd.sign(x), np.sign),
    "mod": (lambda x: x % 1.5, lambda x: np.mod(x, 1.5)),
    "gt_where": (lambda x, y: nd.where(x > y, x, y * 2.0),
                 lambda x, y: np.where(x > y, x, y * 2.0)),
}
def _dense(F, x, units, seed):
    """A Dense layer (x W^T + b) with fixed weights drawn from `seed`."""
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.5, size=(units, x.shape[-1]))
    b = rng.normal(scale=0.5, size=(units,))
    if F == 1:
        return x @ w.T + b
    dt = x.dtype
    return nd.FullyConnected(x, nd.array(w, dtype=dt), nd.array(b, dtype=dt), num_hidden=units)


def _branch(F, x):
    """Python control flow on data: a graph break under jit (runs eagerly, with a warning)."""
    total = float(np.sum(x)) if F == 1 else float(nd.sum(x).asscalar())
    return x * 2.0 + 1.0 if total > 0 else -x


REDUCE = {
    "sum": (nd.sum, np.sum),
    "mean": (nd.mean, _ref_mean),
    "max": (nd.max, np.max),
    "min": (nd.min, np.min),
}


class Program:
    def __init__(self, inputs, steps, dtype):
        self.inputs, self.steps, self.dtype = inputs, steps, dtype

    @property
    def smooth(self):
        return not any(s[0] in DISCRETE or s[0] in ("max", "min", "maximum", "minimum",
                                                     "branch")
                       or s[0] in KINKED for s in self.steps)

    def special(self):
        return any(not np.all(np.isfinite(v)) or np.any(np.abs(v) > 1e6) for v in self.inputs)

    def near_kinks(self):
        """Inputs within 1e-6 of 0, where abs/relu kinks make finite differences meaningless."""
        return any(np.any(np.abs(v) < 1e-6) for v in self.inputs)

    def source(self, checks="") -> str:
        """A pytest function replaying this program (eager vs jit vs numpy reference);
        `checks`: check_program's keyword arguments as text (", compiled=True")."""
        lines = ["def test_difftest_repro():",
                 "    import numpy as np",
                 "    import sys; sys.path.insert(0, 'tests/fuzz')",
                 "    from programs import Program, check_program",
                 "    nan, inf = np.nan, np.inf",
                 "    inputs = ["]
        for v in self.inputs:
            lines.append(f"        np.array({_literal(v)}, dtype=np.{v.dtype}).reshape("
                         f"{v.shape!r}),")
        lines.append("    ]")
        lines.append(f"    steps = {self.steps!r}")
        lines.append(f"    check_program(Program(inputs, steps, {self.dtype!r}){checks})")
        return "\n".join(lines)

    def __repr__(self):
        return self.source()


def _literal(v):
    return repr([float(x) for x in v.reshape(-1)])


# ------------------------------------------------------------------ strategies


@st.composite
def shapes(draw):
    kind = draw(st.sampled_from(["small", "small", "small", "scalar", "empty", "long"]))
    if kind == "scalar":
        return ()
    if kind == "empty":
        base = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
        base[draw(st.integers(0, len(base) - 1))] = 0
        return tuple(base)
    if kind == "long":
        return (draw(st.sampled_from([1000, 4099])),) + tuple(
            draw(st.lists(st.integers(1, 2), max_size=1)))
    return tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))


def _operand_shape(draw, base):
    lead = draw(st.integers(0, len(base)))
    return tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in base[lead:])


@st.composite
def programs(draw, max_steps=6, special_values=True, exclude=()):
    dtype = draw(st.sampled_from(["float32", "float32", "float64"]))
    base = draw(shapes())
    special = special_values and draw(st.integers(0, 4)) == 0
    n_inputs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    inputs = []
    for i in range(n_inputs):
        shape = base if i == 0 else _operand_shape(draw, base)
        v = rng.uniform(-3, 3, shape)
        if special and v.size:
            mask = rng.random(shape) < 0.3
            v = np.where(mask, rng.choice(SPECIAL, shape), v)
        inputs.append(np.asarray(v, dtype=dtype))
    steps, shapes_of = [], [x.shape for x in inputs]
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["u", "u", "b", "b", "d", "r", "l", "c"]))
        n = len(shapes_of)
        if kind == "u":
            op = draw(st.sampled_from(sorted(set(UNARY) - set(exclude))))
            a = draw(st.integers(0, n - 1))
            steps.append((op, (a,), ()))
            shapes_of.append(shapes_of[a])
        elif kind == "l":  # a Dense layer on a 2-d value
            cands = [i for i in range(n) if len(shapes_of[i]) == 2 and shapes_of[i][1] > 0]
            if not cands:
                continue
            a = draw(st.sampled_from(cands))
            units = draw(st.integers(1, 5))
            steps.append(("dense", (a,), (units, draw(st.integers(0, 999)))))
            shapes_of.append((shapes_of[a][0], units))
        elif kind == "c":  # branch on an input's data
            a = draw(st.integers(0, n_inputs - 1))
            steps.append(("branch", (a,), ()))
            shapes_of.append(shapes_of[a])
        elif kind in ("b", "d"):
            pool = range(n) if kind == "b" else range(n_inputs)
            a, b = draw(st.sampled_from(list(pool))), draw(st.sampled_from(list(pool)))
            try:
                out = np.broadcast_shapes(shapes_of[a], shapes_of[b])
            except ValueError:
                continue
            if kind == "b":
                op = draw(st.sampled_from(sorted(BINARY)))
                steps.append((op, (a, b), ()))
            else:
                op = draw(st.sampled_from(sorted(DISCRETE)))
                if op == "gt_where":
                    steps.append((op, (a, b), ()))
                else:
                    steps.append((op, (a,), ()))
                    out = shapes_of[a]
            shapes_of.append(out)
        else:
            a = draw(st.integers(0, n - 1))
            shape = shapes_of[a]
            op = draw(st.sampled_from(sorted(REDUCE)))
            if op in ("max", "min") and 0 in shape:
                continue
            axis = None if not shape or draw(st.booleans()) else draw(
                st.integers(-len(shape), len(shape) - 1))
            if op in ("max", "min") and axis is not None and shape[axis] == 0:
                continue
            keep = draw(st.booleans())
            steps.append((op, (a,), (axis, keep)))
            out = np.sum(np.zeros(shape), axis=axis, keepdims=keep).shape or (1,)
            shapes_of.append(out)
    if not steps:
        steps.append(("scale", (0,), ()))
    return Program(inputs, steps, dtype)


# ------------------------------------------------------------------ runners


def _apply(step, vals, F):
    op, args, static = step
    xs = [vals[i] for i in args]
    if op in UNARY:
        return UNARY[op][F](*xs)
    if op in BINARY:
        return BINARY[op][F](*xs)
    if op in DISCRETE:
        return DISCRETE[op][F](*xs)
    if op == "dense":
        return _dense(F, xs[0], *static)
    if op == "branch":
        return _branch(F, xs[0])
    axis, keep = static
    out = REDUCE[op][F](xs[0], axis=axis, keepdims=keep)
    if F == 1:  # numpy: MXNet's full reductions have shape (1,)
        out = np.asarray(out)
        if out.ndim == 0:
            out = out.reshape(1)
    return out


def program_fn(prog):
    """The program as a Python function of NDArrays, returning its last value."""
    def fn(*xs):
        vals = list(xs)
        for step in prog.steps:
            vals.append(_apply(step, vals, 0))
        return vals[-1]
    return fn


def run_eager(prog, inputs=None):
    xs = [nd.array(x, dtype=x.dtype) for x in (inputs or prog.inputs)]
    return program_fn(prog)(*xs).asnumpy()


def run_reference(prog, ranges=None):
    """The float64 numpy answer; `ranges` (a list) receives each value's largest magnitude."""
    vals = [x.astype(np.float64) for x in prog.inputs]
    with np.errstate(all="ignore"):
        for step in prog.steps:
            vals.append(np.asarray(_apply(step, vals, 1), dtype=np.float64))
            if ranges is not None and vals[-1].size:
                ranges.append(float(np.nanmax(np.abs(vals[-1]), initial=0.0)))
    return vals[-1]


def run_pipelines(prog):
    """{pipeline: output} of the traced IR after each pipeline, interpreted (numpy)."""
    from tracegrad.ir.passes import run_pipeline
    from tracegrad.ir.verifier import verify
    from tracegrad.runtime.interpret import interpret
    from tracegrad.tracing.trace import trace
    xs = [nd.array(x, dtype=x.dtype) for x in prog.inputs]
    tr = trace(program_fn(prog), xs)
    fn = tr.function
    args = list(prog.inputs) + [leaf.data for leaf in tr.captured]  # + constants (weights)
    outs = {}
    for spec in PIPELINES:
        opt = run_pipeline(fn, spec) if spec else fn
        verify(opt)
        if [p.type for p in opt.params] != [p.type for p in fn.params]:
            raise AssertionError(f"pipeline {spec!r} changed the parameter list")
        outs[spec or "none"] = np.asarray(interpret(opt, args)[0])
    return outs


def run_jit(prog, second=None, aliased=False):
    """The jitted program's output on prog.inputs (and on `second`). With `aliased`, a call
    passing one array as two inputs of the same type comes first: the code traced on it must
    serve the call with distinct arrays right (trace.py's stand-ins)."""
    f = mx.jit(program_fn(prog))
    xs = [nd.array(x, dtype=x.dtype) for x in prog.inputs]
    pair = _same_type_pair(prog.inputs) if aliased else None
    if pair is not None:
        i, j = pair
        f(*[xs[i] if k == j else x for k, x in enumerate(xs)])
    first = f(*xs).asnumpy()
    if second is None:
        return first
    return first, f(*[nd.array(x, dtype=x.dtype) for x in second]).asnumpy()


def _same_type_pair(inputs):
    """Two positions whose inputs have one shape and dtype, or None."""
    seen = {}
    for k, x in enumerate(inputs):
        i = seen.setdefault((x.shape, x.dtype), k)
        if i != k:
            return i, k
    return None


def gradients(prog, fn, inputs=None, create_graph=False, seed=0):
    """d/dx of sum(out * c) for a fixed random c (and, with create_graph, of the gradient's
    projection: a second derivative)."""
    rng = np.random.default_rng(seed)
    xs = [nd.array(x, dtype=x.dtype) for x in (inputs or prog.inputs)]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        out = fn(*xs)
        c = nd.array(rng.standard_normal(out.shape), dtype=out.dtype)
        total = nd.sum(out * c)
        if create_graph:
            gs = autograd.grad(total, xs, create_graph=True)
            total = None
            for g in gs:
                u = nd.array(rng.standard_normal(g.shape), dtype=g.dtype)
                term = nd.sum(g * u)
                total = term if total is None else total + term
    return [g.asnumpy() for g in autograd.grad(total, xs)]


def directional_fd(prog, eps=1e-6, seed=0):
    """(reverse-mode <grad, t>, finite-difference derivative along t), float64."""
    rng = np.random.default_rng(seed)
    base = [x.astype(np.float64) for x in prog.inputs]
    p64 = Program(base, prog.steps, "float64")
    grads = gradients(p64, program_fn(p64), base, seed=seed + 1)
    c = np.random.default_rng(seed + 1).standard_normal(run_reference(p64).shape)
    ts = [rng.standard_normal(x.shape) for x in base]

    def value(sign):
        moved = [x + sign * eps * t for x, t in zip(base, ts)]
        return float(np.sum(run_eager(p64, moved) * c))
    fd = (value(1.0) - value(-1.0)) / (2 * eps)
    return float(sum(np.sum(g * t) for g, t in zip(grads, ts))), fd


# ------------------------------------------------------------------ checks


def tolerance(prog):
    return (2e-4, 1e-5) if prog.dtype == "float32" else (1e-9, 1e-12)


def assert_close(got, want, rtol, atol, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape} != {want.shape}")
    scale = np.maximum(np.abs(want), 1.0)
    with np.errstate(invalid="ignore"):
        bad = ~((got == want) | (np.isnan(got) & np.isnan(want))
                | (np.abs(got - want) <= atol * scale + rtol * np.abs(want)))
    if np.any(bad):
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: at {i} got {got[i]!r}, want {want[i]!r} "
                             f"({int(bad.sum())} of {bad.size} elements differ)")


def check_program(prog, compiled=False, grads=True, aliased=False):
    """Every check this program qualifies for; raises AssertionError naming the first that
    fails (the caller prints prog.source()). `aliased`: run_jit's aliased call first."""
    rtol, atol = tolerance(prog)
    eager = run_eager(prog)
    ranges = []
    ref = run_reference(prog, ranges)
    # the same program in float64 must be numpy's float64 answer (semantics, tightly) ...
    wide = run_eager(prog, [x.astype(np.float64) for x in prog.inputs])
    assert_close(wide, ref, 1e-9, 1e-12, "eager in float64 vs float64 numpy")
    if not prog.special() and prog.dtype == "float32" and max(ranges, default=0) < 1e30:
        # ... and float32 rounding stays small where values stay far from float32's range
        assert_close(eager, ref, 1e-2, 1e-4, "eager in float32 vs float64 numpy")
    for spec, out in run_pipelines(prog).items():
        assert_close(out, eager, rtol, atol, f"IR after pipeline {spec!r} vs eager")
    if compiled:
        second = [np.flip(x).copy() if x.ndim else x * 0.5 for x in prog.inputs]
        first, again = run_jit(prog, second, aliased)
        assert_close(first, eager, rtol, atol, "jit vs eager")
        assert_close(again, run_eager(prog, second), rtol, atol, "jit (second call) vs eager")
    if grads and prog.smooth and not prog.special() and not prog.near_kinks():
        g_eager = gradients(prog, program_fn(prog))
        if compiled:
            g_jit = gradients(prog, mx.jit(program_fn(prog)))
            for k, (a, b) in enumerate(zip(g_jit, g_eager)):
                assert_close(a, b, rtol * 10, atol * 10, f"jit gradient {k} vs eager")
            h_eager = gradients(prog, program_fn(prog), create_graph=True)
            h_jit = gradients(prog, mx.jit(program_fn(prog)), create_graph=True)
            for k, (a, b) in enumerate(zip(h_jit, h_eager)):
                assert_close(a, b, rtol * 10, atol * 10, f"second derivative {k}: jit vs eager")
        total = sum(x.size for x in prog.inputs)
        if 0 < total <= 20000:
            want, fd = directional_fd(prog)
            if math.isfinite(want) and math.isfinite(fd):
                scale = max(1.0, abs(fd))
                if abs(want - fd) > 1e-4 * scale:
                    raise AssertionError(f"gradient vs finite differences: {want!r} by reverse "
                                         f"mode, {fd!r} by central differences")
