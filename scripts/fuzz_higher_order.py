"""Differential fuzz of 2nd- and 3rd-order gradients (Hessian-vector products and beyond).

Each program is a random smooth expression f(x0[, x1[, x2]]) of small arrays (rank 0-3, at
most 24 elements, broadcasting between inputs) built from differentiable nd ops: elementwise
unary and scalar ops, broadcasting binary ops, reductions, softmax / log_softmax, norm, dot /
batch_dot / linalg.gemm2, FullyConnected, L2Normalization and shape ops. Every op's
operands are checked (in numpy, at the base point) to be far from the op's singularities and
kinks, so finite differences are reliable. With random weights c, u, w (float32-representable,
as are the inputs):

    F0 = sum(f(x) * c)             order 1: grad F0     vs central differences of numpy f
    F1 = sum_i sum(grad_i F0 * u_i) order 2: grad F1 = H u vs mixed central differences of
                                                        numpy f (Richardson-extrapolated)
    F2 = sum_i sum(grad_i F1 * w_i) order 3 (a subset): grad F2 vs central differences of
                                                        the (checked) eager float64 H u along w

F1 and F2 are built with autograd.grad(create_graph=True, retain_graph=True) under record()
(F0 spelled nd.sum(y * c), (y * c).sum() or head_grads=c); the last level is taken by
backward() (x.grad) or autograd.grad. Each mode is checked:

    eager     float64, 4 calls (the tape's cold op-by-op adjoint, then its hot derived one;
              10 calls for a quarter of the programs: past the native eager adjoint's switch)
    hybrid    a hybridized gluon.HybridBlock (random static_alloc / static_shape), 3 calls:
              trace, compiled, compiled at a nearby point (vs eager there)
    jit       tracegrad.jit of the same function, 3 calls like hybrid
    hybrid-param  (some programs) the block with x0 a Parameter, differentiated by its data()
    float32   each mode again in float32 (2 calls each), vs the float64 eager results

Compiled modes must agree with eager tightly (rtol 1e-8) and every mode with the finite
differences. An MXNetError saying an op has no (higher) derivative counts as a refusal (per op,
not a failure); any other exception is a failure.

Run from the repository root:

    PYTHONPATH=. python -u scripts/fuzz_higher_order.py SEED COUNT      # one line per failure
    PYTHONPATH=. python -u scripts/fuzz_higher_order.py SEED COUNT --only K   # program K, verbose
    ... --exclude rpow_scalar,gemm2    # ops not to generate (to look past a known bug)

The last line is `N of COUNT programs failed`. `--only K` prints program K as a standalone
script (inputs, weights and the failing checks). Program K of a seed is the same whatever
COUNT and --only are (each has its own generator), but --exclude changes it.
"""
import math
import re
import sys
import traceback
import warnings
from collections import Counter

import numpy as np
from scipy import special

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.base import MXNetError

MAX_SIZE = 24           # elements of any value
MAX_ABS = 30.0          # |value| of any intermediate
F64_MODES_TOL = 1e-8    # compiled vs eager, float64
FD_TOL = (1e-4, 2e-4, 1e-3)         # rtol vs finite differences per order (1, 2, 3)
F32_TOL = (2e-3, 3e-3, 1e-2)        # rtol of float32 vs float64 per order
FD_ATOL, F32_ATOL = 1e-6, 1e-5
EXCLUDE = set()         # ops not to generate (--exclude)
SKIPPED = Counter()     # checks left out, by reason
REFUSAL = re.compile(r"no (second|higher|\w+ )?\s*derivative|not (twice )?differentiable|"
                     r"higher[- ]order|second[- ]order|create_graph", re.I)


# ------------------------------------------------------------------ domains (s: margin scale)
def anywhere(*_):
    return True


def positive(m):
    return lambda a, s: a.min() >= m * s


def away_from_zero(m):
    return lambda a, s: np.abs(a).min() >= m * s


def within(m):
    return lambda a, s: np.abs(a).max() <= m / s


def log1p_domain(a, s):
    return (a + 1).min() >= 0.4 * s


# ------------------------------------------------------------------ the op pool
SELU = (1.0507009873554804934193349852946, 1.6732632423543772848170429916717)

# name, template ({0}: operand), numpy reference, domain of the operand
UNARY = [
    ("exp", "F.exp({0})", np.exp, within(2.5)),
    ("log", "F.log({0})", np.log, positive(0.2)),
    ("sin", "F.sin({0})", np.sin, anywhere),
    ("cos", "F.cos({0})", np.cos, anywhere),
    ("tanh", "F.tanh({0})", np.tanh, anywhere),
    ("sigmoid", "F.sigmoid({0})", special.expit, anywhere),
    ("sqrt", "F.sqrt({0})", np.sqrt, positive(0.2)),
    ("square", "F.square({0})", np.square, within(5)),
    ("reciprocal", "F.reciprocal({0})", np.reciprocal, away_from_zero(0.3)),
    ("erf", "F.erf({0})", special.erf, anywhere),
    ("softrelu", "F.Activation({0}, act_type='softrelu')", lambda a: np.logaddexp(0, a),
     anywhere),
    ("log1p", "F.log1p({0})", np.log1p, log1p_domain),
    ("expm1", "F.expm1({0})", np.expm1, within(2.5)),
    ("arctan", "F.arctan({0})", np.arctan, anywhere),
    ("sinh", "F.sinh({0})", np.sinh, within(2.5)),
    ("cosh", "F.cosh({0})", np.cosh, within(2.5)),
    ("cbrt", "F.cbrt({0})", np.cbrt, positive(0.2)),
    ("rsqrt", "F.rsqrt({0})", lambda a: 1 / np.sqrt(a), positive(0.2)),
    ("relu", "F.relu({0})", lambda a: np.maximum(a, 0), away_from_zero(0.05)),
    ("abs", "F.abs({0})", np.abs, away_from_zero(0.05)),
    ("negative", "F.negative({0})", np.negative, anywhere),
    ("arcsinh", "F.arcsinh({0})", np.arcsinh, anywhere),
    ("arctanh", "F.arctanh({0})", np.arctanh, within(0.7)),
    ("arcsin", "F.arcsin({0})", np.arcsin, within(0.7)),
    ("arccos", "F.arccos({0})", np.arccos, within(0.7)),
    ("tan", "F.tan({0})", np.tan, within(1.0)),
    ("log2", "F.log2({0})", np.log2, positive(0.2)),
    ("log10", "F.log10({0})", np.log10, positive(0.2)),
    ("gammaln", "F.gammaln({0})", special.gammaln, positive(0.3)),
    ("degrees", "F.degrees({0})", np.degrees, within(3)),
    ("act_tanh", "F.Activation({0}, act_type='tanh')", np.tanh, anywhere),
    ("act_sigmoid", "F.Activation({0}, act_type='sigmoid')", special.expit, anywhere),
    ("softsign", "F.Activation({0}, act_type='softsign')", lambda a: a / (1 + np.abs(a)),
     away_from_zero(0.05)),
    ("gelu", "F.LeakyReLU({0}, act_type='gelu')",
     lambda a: 0.5 * a * (1 + special.erf(a / math.sqrt(2))), anywhere),
    ("elu", "F.LeakyReLU({0}, act_type='elu', slope=0.3)",
     lambda a: np.where(a > 0, a, 0.3 * np.expm1(a)), away_from_zero(0.05)),
    ("selu", "F.LeakyReLU({0}, act_type='selu')",
     lambda a: SELU[0] * np.where(a > 0, a, SELU[1] * np.expm1(a)), away_from_zero(0.05)),
    ("erfinv", "F.erfinv({0})", special.erfinv, within(0.7)),
    ("gamma", "F.gamma({0})", special.gamma, lambda a, s: positive(0.3)(a, s) and
     within(4)(a, s)),
    ("smooth_l1", "F.smooth_l1({0}, scalar=1.0)",
     lambda a: np.where(np.abs(a) < 1, 0.5 * a * a, np.abs(a) - 0.5),
     lambda a, s: np.abs(np.abs(a) - 1).min() >= 0.05 * s),
    ("clip", "F.clip({0}, -1.0, 1.0)", lambda a: np.clip(a, -1.0, 1.0),
     lambda a, s: np.abs(np.abs(a) - 1).min() >= 0.05 * s),
]
UNARY = {u[0]: u for u in UNARY}

# name, template ({0}, {p}), reference(a, p), domain(a, s, p), choices of p
SCALAR = [
    ("pow_scalar", "({0} ** {p})", lambda a, p: a ** p,
     lambda a, s, p: (positive(0.2)(a, s) if p != int(p) else
                      away_from_zero(0.3)(a, s) if p < 0 else within(4)(a, s)),
     [2, 3, 0.5, 1.5, 2.5, -1, -0.5, -2, 1.3, 0.7, -0.3]),
    ("power_scalar", "F.power({0}, {p})", lambda a, p: a ** p,
     lambda a, s, p: positive(0.2)(a, s), [0.5, 1.5, 2.0, -1.5]),
    ("rpow_scalar", "({p} ** {0})", lambda a, p: p ** a, lambda a, s, p: within(3)(a, s),
     [0.5, 2.0, 3.0, 1.7]),
    ("mul_scalar", "({0} * {p})", lambda a, p: a * p, anywhere, [0.5, -1.5, 2.0, 0.1]),
    ("add_scalar", "({0} + {p})", lambda a, p: a + p, anywhere, [0.5, -1.0, 2.0]),
    ("rsub_scalar", "({p} - {0})", lambda a, p: p - a, anywhere, [1.0, -0.5]),
    ("div_scalar", "({0} / {p})", lambda a, p: a / p, anywhere, [2.0, -3.0]),
    ("rdiv_scalar", "({p} / {0})", lambda a, p: p / a,
     lambda a, s, p: away_from_zero(0.3)(a, s), [1.0, -2.0]),
]
SCALAR = {u[0]: u for u in SCALAR}


def _sep(a, b, s):
    return np.abs(a - b).min() >= 0.05 * s


# name, same-shape template, broadcasting template, reference, domain(a, b, s)
BINARY = [
    ("add", "({0} + {1})", "F.broadcast_add({0}, {1})", np.add, anywhere),
    ("sub", "({0} - {1})", "F.broadcast_sub({0}, {1})", np.subtract, anywhere),
    ("mul", "({0} * {1})", "F.broadcast_mul({0}, {1})", np.multiply, anywhere),
    ("div", "({0} / {1})", "F.broadcast_div({0}, {1})", np.divide,
     lambda a, b, s: away_from_zero(0.3)(b, s)),
    ("power", "F.power({0}, {1})", "F.broadcast_power({0}, {1})", np.power,
     lambda a, b, s: positive(0.2)(a, s) and within(3)(b, s)),
    ("maximum", "F.maximum({0}, {1})", "F.broadcast_maximum({0}, {1})", np.maximum, _sep),
    ("minimum", "F.minimum({0}, {1})", "F.broadcast_minimum({0}, {1})", np.minimum, _sep),
    ("hypot", "F.hypot({0}, {1})", "F.broadcast_hypot({0}, {1})", np.hypot,
     lambda a, b, s: (np.abs(a) + np.abs(b)).min() >= 0.3 * s),
]
BINARY = {b[0]: b for b in BINARY}


def as_mx(out):
    """MXNet 1.x (legacy) shapes: a reduction or dot to a scalar gives shape (1,)."""
    out = np.asarray(out, dtype=np.float64)
    return out.reshape(1) if out.ndim == 0 else out


def _gap(a, axis, s, take_max):
    """Whether the extremum along `axis` is separated from the runner-up by >= 0.05."""
    if axis is None:
        b = a.reshape(-1)
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        b = np.moveaxis(a, axes, range(-len(axes), 0))
        b = b.reshape(b.shape[:a.ndim - len(axes)] + (-1,))
    if b.shape[-1] < 2:
        return True
    b = np.sort(b, axis=-1)
    d = b[..., -1] - b[..., -2] if take_max else b[..., 1] - b[..., 0]
    return d.min() >= 0.05 * s


def reduce_ref(name, a, axis, keepdims, ord_=2):
    if name == "norm":
        if ord_ == 1:
            return as_mx(np.sum(np.abs(a), axis=axis, keepdims=keepdims))
        return as_mx(np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)))
    fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}[name]
    return as_mx(fn(a, axis=axis, keepdims=keepdims))


def reduce_ok(name, a, axis, keepdims, s, ord_=2):
    if name in ("max", "min"):
        return _gap(a, axis, s, name == "max")
    if name == "prod":
        return away_from_zero(0.2)(a, s)
    if name == "norm":
        if ord_ == 1:
            return away_from_zero(0.05)(a, s)
        return reduce_ref("norm", a, axis, keepdims).min() >= 0.3 * s
    return True


def softmax_ref(a, axis, t, log):
    z = a / (t or 1.0)
    z = z - z.max(axis=axis, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return z - lse if log else np.exp(z - lse)


def swap_last(a, flag):
    return np.swapaxes(a, -1, -2) if flag else a


def dot_ref(a, b, ta, tb):
    a, b = swap_last(a, ta), swap_last(b, tb)
    return as_mx(np.tensordot(a, b, axes=([a.ndim - 1], [0])))


# ------------------------------------------------------------------ a step: op + operands
class Step:
    """One op of a program: `name`, operand node indices `args`, attributes `p`."""

    def __init__(self, name, args, **p):
        self.name, self.args, self.p = name, tuple(args), p

    def source(self, names):
        n, p, a = self.name, self.p, [names[i] for i in self.args]
        if n in UNARY:
            return UNARY[n][1].format(*a)
        if n in SCALAR:
            return SCALAR[n][1].format(*a, p=p["p"])
        if n in BINARY:
            return BINARY[n][1 if p["same"] else 2].format(*a)
        if n in ("sum", "mean", "max", "min", "prod", "norm"):
            kw = "" if p["axis"] is None else f", axis={p['axis']!r}"
            kw += ", keepdims=True" if p["keepdims"] else ""
            kw += ", ord=1" if p.get("ord") == 1 else ""
            return f"F.{n}({a[0]}{kw})"
        if n in ("softmax", "log_softmax"):
            t = "" if p["t"] is None else f", temperature={p['t']}"
            return f"F.{n}({a[0]}, axis={p['axis']}{t})"
        if n in ("dot", "batch_dot", "gemm2"):
            kw = ", transpose_a=True" if p["ta"] else ""
            kw += ", transpose_b=True" if p["tb"] else ""
            kw += f", alpha={p['alpha']}" if n == "gemm2" else ""
            fn = "linalg.gemm2" if n == "gemm2" else n
            return f"F.{fn}({a[0]}, {a[1]}{kw})"
        if n == "fc":
            flat = "" if p["flatten"] else ", flatten=False"
            return (f"F.FullyConnected({a[0]}, {a[1]}, num_hidden={p['hidden']}, "
                    f"no_bias=True{flat})")
        if n == "l2norm":
            return f"F.L2Normalization({a[0]}, mode='instance')"
        if n == "reshape":
            return f"F.reshape({a[0]}, shape={p['shape']!r})"
        if n == "transpose":
            return (f"F.transpose({a[0]})" if p["axes"] is None
                    else f"F.transpose({a[0]}, axes={p['axes']!r})")
        if n == "expand_dims":
            return f"F.expand_dims({a[0]}, axis={p['axis']})"
        if n == "slice_axis":
            return (f"F.slice_axis({a[0]}, axis={p['axis']}, begin={p['begin']}, "
                    f"end={p['end']})")
        if n == "concat":
            return f"F.concat({a[0]}, {a[1]}, dim={p['axis']})"
        if n == "stack":
            return f"F.stack({a[0]}, {a[1]}, axis={p['axis']})"
        if n == "flip":
            return f"F.flip({a[0]}, axis={p['axis']})"
        if n == "swapaxes":
            return f"F.swapaxes({a[0]}, dim1={p['d1']}, dim2={p['d2']})"
        if n == "broadcast_to":
            return f"F.broadcast_to({a[0]}, shape={p['shape']!r})"
        if n == "tile":
            return f"F.tile({a[0]}, reps={p['reps']!r})"
        raise KeyError(n)

    def ref(self, vals):
        n, p = self.name, self.p
        if n in UNARY:
            return UNARY[n][2](vals[0])
        if n in SCALAR:
            return SCALAR[n][2](vals[0], p["p"])
        if n in BINARY:
            return BINARY[n][3](vals[0], vals[1])
        if n in ("sum", "mean", "max", "min", "prod", "norm"):
            return reduce_ref(n, vals[0], p["axis"], p["keepdims"], p.get("ord", 2))
        if n in ("softmax", "log_softmax"):
            return softmax_ref(vals[0], p["axis"], p["t"], n == "log_softmax")
        if n == "dot":
            return dot_ref(vals[0], vals[1], p["ta"], p["tb"])
        if n in ("batch_dot", "gemm2"):
            out = np.matmul(swap_last(vals[0], p["ta"]), swap_last(vals[1], p["tb"]))
            return out * p["alpha"] if n == "gemm2" else out
        a = vals[0]
        if n == "fc":
            x = a.reshape(a.shape[0], -1) if p["flatten"] else a
            return x @ vals[1].T
        if n == "l2norm":
            sq = np.sum(a * a, axis=tuple(range(1, a.ndim)), keepdims=True)
            return a / np.sqrt(sq + 1e-10)
        if n == "reshape":
            return a.reshape(p["shape"])
        if n == "transpose":
            return np.transpose(a, p["axes"])
        if n == "expand_dims":
            return np.expand_dims(a, p["axis"])
        if n == "slice_axis":
            idx = [slice(None)] * a.ndim
            idx[p["axis"]] = slice(p["begin"], p["end"])
            return a[tuple(idx)]
        if n == "concat":
            return np.concatenate(vals, axis=p["axis"])
        if n == "stack":
            return np.stack(vals, axis=p["axis"])
        if n == "flip":
            return np.flip(a, p["axis"])
        if n == "swapaxes":
            return np.swapaxes(a, p["d1"], p["d2"])
        if n == "broadcast_to":
            return np.broadcast_to(a, p["shape"]).copy()
        if n == "tile":
            return np.tile(a, p["reps"])
        raise KeyError(n)

    def ok(self, vals, s):
        """Whether the operands are far enough from the op's singularities (margin scale s)."""
        n, p = self.name, self.p
        if n in UNARY:
            return UNARY[n][3](vals[0], s)
        if n in SCALAR:
            return SCALAR[n][3](vals[0], s, p["p"])
        if n in BINARY:
            return BINARY[n][4](vals[0], vals[1], s)
        if n in ("sum", "mean", "max", "min", "prod", "norm"):
            return reduce_ok(n, vals[0], p["axis"], p["keepdims"], s, p.get("ord", 2))
        if n == "l2norm":
            a = vals[0]
            return np.sqrt(np.sum(a * a, axis=tuple(range(1, a.ndim)))).min() >= 0.3 * s
        return True


# ------------------------------------------------------------------ programs
class Program:
    def __init__(self, inputs, steps):
        self.inputs, self.steps = inputs, steps
        n = len(inputs)
        self.names = [f"x{i}" for i in range(n)] + [f"v{i + n}" for i in range(len(steps))]
        self.lines = [f"{self.names[n + k]} = {st.source(self.names)}"
                      for k, st in enumerate(steps)]
        args = ", ".join(self.names[:n])
        src = f"def f(F, {args}):\n" + "".join(f"    {ln}\n" for ln in self.lines)
        src += f"    return {self.names[-1]}\n"
        self.src = src
        space = {}
        exec(compile(src, "<program>", "exec"), space)    # noqa: S102 - our own source
        self.fn = space["f"]

    def oneline(self):
        shapes = " ".join(f"x{i}:{x.shape}" for i, x in enumerate(self.inputs))
        return f"{shapes} | " + "; ".join(self.lines) + f"; return {self.names[-1]}"

    def ref(self, xs, s=None):
        """f(xs) in float64 numpy; with margin scale s, None if some op's operands are too
        close to a singularity."""
        vals = list(xs)
        for st in self.steps:
            args = [vals[i] for i in st.args]
            if s is not None and not st.ok(args, s):
                return None
            vals.append(np.asarray(st.ref(args), dtype=np.float64))
        return vals[-1]

    def used_ops(self):
        return sorted({st.name for st in self.steps})


def f32_exact(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def random_shape(rng):
    rank = int(rng.choice([0, 1, 1, 2, 2, 2, 3, 3]))
    while True:
        shape = tuple(int(d) for d in rng.integers(1, 5, size=rank))
        if math.prod(shape) <= MAX_SIZE:
            return shape


def related_shape(rng, shape):
    """A shape that broadcasts with `shape`: some dims set to 1, maybe leading dims dropped."""
    r = rng.random()
    if r < 0.45 or not shape:
        return shape
    if r < 0.8:
        out = [1 if rng.random() < 0.5 else d for d in shape]
        drop = int(rng.integers(0, len(shape) + 1)) if rng.random() < 0.4 else 0
        return tuple(out[drop:])
    return random_shape(rng)


def random_input(rng, shape):
    if rng.random() < 0.5:
        a = rng.uniform(0.5, 2.0, size=shape)
    else:
        a = rng.uniform(-1.5, 1.5, size=shape)
    return f32_exact(a)


def bcast_shape(a, b):
    try:
        shape = np.broadcast_shapes(a, b)
    except ValueError:
        return None
    return shape if math.prod(shape) <= MAX_SIZE else None


def shuffled(rng, n):
    return [int(i) for i in rng.permutation(n)]


def pick_operand(rng, vals, used, pred=lambda v: True):
    """A node for pred, preferring unused and recent ones; None if none fits."""
    cands = [i for i, v in enumerate(vals) if pred(v)]
    if not cands:
        return None
    w = np.array([(4.0 if not used[i] else 1.0) * (1 + i / len(vals)) for i in cands])
    return int(rng.choice(cands, p=w / w.sum()))


def gen_step(rng, vals, used):
    """A random Step on the nodes `vals` (numpy values), or None."""
    kind = rng.choice(["unary", "scalar", "binary", "reduce", "softmax", "linalg", "shape",
                       "layer"], p=[0.29, 0.10, 0.23, 0.11, 0.05, 0.08, 0.11, 0.03])
    if kind == "unary":
        return Step(str(rng.choice(list(UNARY))), [pick_operand(rng, vals, used)])
    if kind == "scalar":
        name = str(rng.choice(list(SCALAR)))
        return Step(name, [pick_operand(rng, vals, used)], p=rng.choice(SCALAR[name][4]).item())
    if kind == "binary":
        i = pick_operand(rng, vals, used)
        j = pick_operand(rng, vals, used,
                         lambda v: bcast_shape(vals[i].shape, v.shape) is not None)
        if j is None:
            return None
        if rng.random() < 0.5:
            i, j = j, i
        return Step(str(rng.choice(list(BINARY))), [i, j], same=vals[i].shape == vals[j].shape)
    if kind == "reduce":
        i = pick_operand(rng, vals, used, lambda v: v.ndim >= 1)
        if i is None:
            return None
        nd_ = vals[i].ndim
        name = str(rng.choice(["sum", "mean", "max", "min", "prod", "norm"],
                              p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.15]))
        r = rng.random()
        axis = (None if r < 0.25 else int(rng.integers(-nd_, nd_)) if r < 0.85 or nd_ < 2
                else tuple(sorted(int(a) for a in rng.choice(nd_, 2, replace=False))))
        if name == "norm" and isinstance(axis, tuple):
            axis = None if nd_ != 2 else axis
        p = dict(axis=axis, keepdims=bool(rng.random() < 0.4))
        if name == "norm" and rng.random() < 0.3:
            p["ord"] = 1
        return Step(name, [i], **p)
    if kind == "softmax":
        i = pick_operand(rng, vals, used, lambda v: v.ndim >= 1)
        if i is None:
            return None
        t = [None, None, 0.5, 2.0][int(rng.integers(4))]
        return Step(str(rng.choice(["softmax", "log_softmax"])), [i],
                    axis=int(rng.integers(-vals[i].ndim, vals[i].ndim)), t=t)
    if kind == "linalg":
        return gen_linalg(rng, vals, used)
    if kind == "layer":
        return gen_layer(rng, vals, used)
    return gen_shape(rng, vals, used)


def gen_linalg(rng, vals, used):
    name = str(rng.choice(["dot", "batch_dot", "gemm2"]))
    ranks = {"dot": (1, 2, 3), "batch_dot": (3,), "gemm2": (2, 3)}[name]
    i = pick_operand(rng, vals, used, lambda v: v.ndim in ranks)
    if i is None:
        return None
    a = vals[i]
    ta = a.ndim >= 2 and (name != "dot" or a.ndim == 2) and bool(rng.random() < 0.3)
    k = a.shape[-2] if ta else a.shape[-1]
    for j in shuffled(rng, len(vals)):
        b = vals[j]
        if b.ndim not in ranks or (name != "dot" and b.shape[:-2] != a.shape[:-2]):
            continue
        if name != "dot" and b.ndim != a.ndim:
            continue
        for tb in ([False, True] if b.ndim >= 2 and (name != "dot" or b.ndim == 2)
                   else [False]):
            kb = (b.shape[-1] if tb else b.shape[-2 if name != "dot" else 0]) if b.ndim >= 2 \
                else b.shape[0]
            if kb != k:
                continue
            step = Step(name, [i, j], ta=ta, tb=tb, alpha=float(rng.choice([1.0, 0.5, -2.0])))
            out = step.ref([a, b])
            if out.size <= MAX_SIZE:
                return step
    return None


def gen_layer(rng, vals, used):
    """FullyConnected (no bias; weight any node of a fitting shape) or L2Normalization."""
    if rng.random() < 0.3:
        i = pick_operand(rng, vals, used, lambda v: v.ndim >= 2)
        return None if i is None else Step("l2norm", [i])
    flatten = bool(rng.random() < 0.5)
    i = pick_operand(rng, vals, used, lambda v: v.ndim >= (2 if flatten else 1))
    if i is None:
        return None
    a = vals[i]
    k = a[0].size if flatten else a.shape[-1]
    for j in shuffled(rng, len(vals)):
        b = vals[j]
        if b.ndim == 2 and b.shape[1] == k and a.size // k * b.shape[0] <= MAX_SIZE:
            return Step("fc", [i, j], flatten=flatten, hidden=b.shape[0])
    return None


def gen_shape(rng, vals, used):
    name = str(rng.choice(["reshape", "transpose", "expand_dims", "slice_axis", "concat",
                           "stack", "flip", "swapaxes", "broadcast_to", "tile"]))
    need = {"transpose": 2, "swapaxes": 2, "slice_axis": 1, "concat": 1, "flip": 1,
            "broadcast_to": 1, "tile": 1}.get(name, 0)
    i = pick_operand(rng, vals, used, lambda v: v.ndim >= need)
    if i is None:
        return None
    a = vals[i]
    r = a.ndim
    if name == "reshape":
        if a.size > 1 and rng.random() < 0.8:
            dims, left = [], a.size
            for d in (2, 3, 2, 4):
                if left % d == 0 and rng.random() < 0.6:
                    dims.append(d)
                    left //= d
            dims.append(left)
            shape = tuple(int(d) for d in rng.permutation(dims))
        else:
            shape = (a.size,) if rng.random() < 0.5 else (1, a.size)
        if len(shape) > 1 and rng.random() < 0.3:
            shape = tuple(-1 if k == 0 else d for k, d in enumerate(shape))
        return Step(name, [i], shape=shape) if len(shape) <= 3 else None
    if name == "transpose":
        axes = None if rng.random() < 0.3 else tuple(int(x) for x in rng.permutation(r))
        return Step(name, [i], axes=axes)
    if name == "expand_dims":
        return Step(name, [i], axis=int(rng.integers(-r - 1, r + 1))) if r <= 2 else None
    if name == "slice_axis":
        axis = int(rng.integers(0, r))
        n = a.shape[axis]
        begin = int(rng.integers(0, n))
        end = int(rng.integers(begin + 1, n + 1))
        return Step(name, [i], axis=axis, begin=begin, end=None if end == n else end)
    if name in ("flip", "swapaxes"):
        axis = int(rng.integers(0, r))
        if name == "flip":
            return Step(name, [i], axis=axis)
        return Step(name, [i], d1=axis, d2=int(rng.integers(0, r)))
    if name == "broadcast_to":
        shape = tuple(int(rng.integers(1, 4)) if d == 1 else d for d in a.shape)
        return Step(name, [i], shape=shape) if math.prod(shape) <= MAX_SIZE else None
    if name == "tile":
        reps = tuple(int(rng.integers(1, 3)) for _ in range(r))
        return Step(name, [i], reps=reps) if a.size * math.prod(reps) <= MAX_SIZE else None
    # concat, stack: a partner of the same rank (and shape, but on the axis for concat)
    axis = int(rng.integers(0, r + (name == "stack")))
    for j in shuffled(rng, len(vals)):
        b = vals[j]
        if name == "stack" and b.shape == a.shape and 2 * a.size <= MAX_SIZE:
            return Step(name, [i, j], axis=axis)
        if name == "concat" and b.ndim == r and a.size + b.size <= MAX_SIZE and all(
                x == y for k, (x, y) in enumerate(zip(a.shape, b.shape)) if k != axis):
            return Step(name, [i, j], axis=axis)
    return None


def gen_program(rng):
    n_in = int(rng.choice([1, 2, 2, 3]))
    first = random_shape(rng)
    shapes = [first] + [related_shape(rng, first) for _ in range(n_in - 1)]
    inputs = [random_input(rng, s) for s in shapes]
    vals, used, steps = list(inputs), [False] * n_in, []
    n_steps = int(rng.integers(2, 10))
    for _ in range(200):
        if len(steps) >= n_steps:
            break
        step = gen_step(rng, vals, used)
        if step is None or None in step.args or step.name in EXCLUDE:
            continue
        args = [vals[i] for i in step.args]
        if not step.ok(args, 1.0):
            continue
        with np.errstate(all="ignore"):
            out = np.asarray(step.ref(args), dtype=np.float64)
        if not 0 < out.size <= MAX_SIZE or not np.all(np.isfinite(out)) \
                or np.abs(out).max() > MAX_ABS:
            continue
        steps.append(step)
        vals.append(out)
        used.append(False)
        for i in step.args:
            used[i] = True
    # fold what nothing consumed (inputs included) into the result: sum() then broadcast
    last = len(vals) - 1
    for i in range(last):
        if not used[i] and rng.random() < 0.85:
            k = len(vals)
            steps.append(Step("sum", [i], axis=None, keepdims=False))
            vals.append(as_mx(vals[i].sum()))
            steps.append(Step("add", [last, k], same=vals[last].shape == (1,)))
            vals.append(vals[last] + vals[k])
            last = len(vals) - 1
    if not steps or np.abs(vals[-1]).max() > 4 * MAX_ABS:
        return None
    return Program(inputs, steps)


# ------------------------------------------------------------------ finite differences
def unit_moves(xs):
    for i, x in enumerate(xs):
        for idx in np.ndindex(x.shape):
            yield i, idx


def moved(xs, steps):
    """xs + sum of (h, direction) moves; a direction is a list of arrays or (i, idx)."""
    out = [x.copy() for x in xs]
    for h, d in steps:
        if isinstance(d, tuple):
            out[d[0]][d[1]] += h
        else:
            for o, t in zip(out, d):
                o += h * t
    return out


def fd_order1(prog, xs, c, h):
    f0 = lambda pts: float(np.sum(prog.ref(pts) * c))
    g = [np.zeros_like(x) for x in xs]
    for i, idx in unit_moves(xs):
        g[i][idx] = (f0(moved(xs, [(h, (i, idx))])) - f0(moved(xs, [(-h, (i, idx))]))) / (2 * h)
    return g


def fd_order2(prog, xs, c, u, h):
    """(H u) by mixed central differences of F0 along e_k and u."""
    f0 = lambda pts: float(np.sum(prog.ref(pts) * c))
    g = [np.zeros_like(x) for x in xs]
    for i, idx in unit_moves(xs):
        tot = 0.0
        for sa in (1, -1):
            for sb in (1, -1):
                tot += sa * sb * f0(moved(xs, [(sa * h, (i, idx)), (sb * h, u)]))
        g[i][idx] = tot / (4 * h * h)
    return g


def richardson(fn, h):
    """fn(h) extrapolated with fn(h/2) (a central difference: error h^2), and the spread
    between the two (how reliable the difference is)."""
    a, b = fn(h), fn(h / 2)
    best = [(4 * y - x) / 3 for x, y in zip(a, b)]
    spread = max((float(np.abs(x - y).max()) for x, y in zip(a, b) if x.size), default=0.0)
    return best, spread


# ------------------------------------------------------------------ running tracegrad
def variables(xs, dtype):
    out = [nd.array(x, dtype=dtype) for x in xs]
    for x in out:
        x.attach_grad()
    return out


def weighted_sum(arrs, weights, dtype, spell):
    total = None
    for a, w in zip(arrs, weights):
        w = nd.array(w, dtype=dtype)
        term = (a * w).sum() if spell == 1 else nd.sum(a * w)
        total = term if total is None else total + term
    return total


def run_once(call, xs, dtype, W, order, spell, final, param=None):
    """y, order-1 gradient (plain backward), and with create_graph: the order-1 gradients
    (g1c), H u (g2) and, for order 3, grad F2 (g3). Numpy results by key. With `param` (a
    gluon Parameter) xs[0] is its value and `call` takes the other inputs."""
    def inputs():
        if param is None:
            v = variables(xs, dtype)
            return v, v
        param.set_data(nd.array(xs[0], dtype=dtype))
        param.zero_grad()
        args = variables(xs[1:], dtype)
        return [param.data()] + args, args

    res = {}
    c = nd.array(W["c"], dtype=dtype)
    v, args = inputs()
    with autograd.record():
        y = call(*args)
        f0 = weighted_sum([y], [W["c"]], dtype, spell)
    if spell == 2:      # (y * c).sum() as y with head gradient c
        y.backward(c)
    else:
        f0.backward()
    res["y"] = [y.asnumpy()]
    res["g1"] = [x.grad.asnumpy() for x in v]
    v, args = inputs()
    with autograd.record():
        y = call(*args)
        if spell == 2:
            gs = autograd.grad(heads=y, variables=v, head_grads=c, create_graph=True,
                               retain_graph=True)
        else:
            f0 = weighted_sum([y], [W["c"]], dtype, spell)
            gs = autograd.grad(heads=f0, variables=v, create_graph=True, retain_graph=True)
        f1 = weighted_sum(gs, W["u"], dtype, not spell)
        last = f1
        if order == 3:
            hs = autograd.grad(heads=f1, variables=v, create_graph=True, retain_graph=True)
            last = weighted_sum(hs, W["w"], dtype, spell)
    res["g1c"] = [g.asnumpy() for g in gs]
    key = "g3" if order == 3 else "g2"
    if order == 3:
        res["g2"] = [h.asnumpy() for h in hs]
    if final == "backward":
        if param is not None:   # (x0's grad would keep order 1's where x0 is not reached)
            param.zero_grad()
        last.backward()
        res[key] = [x.grad.asnumpy() for x in v]
    else:
        res[key] = [g.asnumpy() for g in autograd.grad(last, v)]
    return res


def hvp_eager(prog, xs, W):
    """Eager float64 H u at xs (for the order-3 reference)."""
    v = variables(xs, "float64")
    with autograd.record():
        f0 = weighted_sum([prog.fn(nd, *v)], [W["c"]], "float64", True)
        gs = autograd.grad(f0, v, create_graph=True, retain_graph=True)
        f1 = weighted_sum(gs, W["u"], "float64", True)
    return [g.asnumpy() for g in autograd.grad(f1, v)]


class Block(gluon.HybridBlock):
    def __init__(self, fn):
        super().__init__()
        self.program_fn = fn

    def hybrid_forward(self, F, *xs):
        return self.program_fn(F, *xs)


class ParamBlock(gluon.HybridBlock):
    """The program with x0 a Parameter of the block (w0) and the other inputs arguments."""

    def __init__(self, fn, shape, dtype):
        super().__init__()
        self.program_fn = fn
        with self.name_scope():
            self.w0 = self.params.get("w0", shape=shape, dtype=dtype, init=mx.init.Zero())

    def hybrid_forward(self, F, *xs, w0):
        return self.program_fn(F, w0, *xs)


def param_block(fn, x0, dtype, flags):
    block = ParamBlock(fn, x0.shape, dtype)
    block.initialize()
    block.hybridize(**flags)
    return block, block.w0


# ------------------------------------------------------------------ comparing
ORDER = {"y": 0, "g1": 1, "g1c": 1, "g2": 2, "g3": 3}


def magnitude(arrays):
    return max((float(np.abs(w).max()) for w in arrays if w.size), default=0.0)


def mismatch(got, want, rtol, atol, scale=None):
    """None, or where the first element of the list `got` differs from `want` (tolerance
    relative to each element and to a tenth of `scale`, by default the largest |want|)."""
    scale = magnitude(want) if scale is None else scale
    for i, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != w.shape:
            return f"[{i}] shape {g.shape} != {w.shape}"
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(g - w) <= rtol * (np.abs(w) + 0.1 * scale) + atol)
        if bad.any():
            k = tuple(int(j) for j in np.argwhere(bad)[0])
            return (f"[{i}]{list(k)} got {g[k]:.9g} want {w[k]:.9g} "
                    f"({int(bad.sum())}/{bad.size} bad)")
    return None


def classify(e):
    """('refused', op) for a documented refusal of a higher derivative, else ('error', text)."""
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, MXNetError) and REFUSAL.search(str(e)):
        m = re.search(r"(?:op(?:erator)?|for) '?([A-Za-z_][\w.]*)'?", str(e))
        return "refused", m.group(1) if m else str(e)[:60]
    return "error", text.splitlines()[0][:300]


class Checker:
    """Runs every mode of one program, collecting problems (strings) and refusals (ops)."""

    def __init__(self, prog, rng, verbose=False):
        self.prog, self.rng, self.verbose = prog, rng, verbose
        self.problems, self.refusals = [], []
        xs = prog.inputs
        self.order = 3 if rng.random() < 0.4 else 2
        y = prog.ref(xs)
        self.W = {"c": f32_exact(rng.standard_normal(y.shape)),
                  "u": [f32_exact(rng.standard_normal(x.shape)) for x in xs],
                  "w": [f32_exact(rng.standard_normal(x.shape)) for x in xs]}
        self.spell = int(rng.integers(3))     # F0 as nd.sum(y * c), (y * c).sum(), head_grads
        # 10 calls: past the eager adjoint's switch to native code (tape.NATIVE_AFTER = 8)
        self.eager_calls = 10 if rng.random() < 0.25 else 4
        self.param = len(xs) >= 2 and xs[0].ndim >= 1 and bool(rng.random() < 0.5)
        self.final = str(rng.choice(["backward", "grad"]))
        self.flags = dict(static_alloc=bool(rng.random() < 0.5),
                          static_shape=bool(rng.random() < 0.5))
        x2 = [f32_exact(x + 1e-3 * rng.standard_normal(x.shape)) for x in xs]
        self.x2 = x2 if prog.ref(x2, s=0.5) is not None else None
        SKIPPED["third compiled call at x2 (too near a singularity)"] += self.x2 is None

    def note(self, what, msg):
        self.problems.append(f"{what}: {msg}")

    def attempt(self, what, fn, *args):
        try:
            return fn(*args)
        except Exception as e:      # noqa: BLE001 - everything is reported
            kind, info = classify(e)
            if kind == "refused":
                self.refusals.append(info)
            else:
                self.note(what, info)
                if self.verbose:
                    traceback.print_exc()
            return None

    def compare(self, what, got, want, tols, atol, keys=("y", "g1", "g1c", "g2", "g3"),
                overall=False):
        """`overall`: tolerances relative to the largest value of any order (float32, whose
        rounding follows the magnitude of the terms, not of their sum)."""
        scale = None
        if overall:
            scale = max(magnitude(want[k]) for k in ORDER if want.get(k) is not None)
        for k in keys:
            if k in got and k in want and want[k] is not None:
                rtol = tols if isinstance(tols, float) else tols[max(ORDER[k], 1) - 1]
                msg = mismatch(got[k], want[k], rtol, atol, scale)
                if msg:
                    self.note(f"{what} {k}", msg)

    def reference(self):
        """The float64 truth: numpy f, finite-difference orders 1 and 2 (None where the
        differences are not reliable)."""
        p, xs, W = self.prog, self.prog.inputs, self.W
        ref = {"y": [p.ref(xs)]}
        g1, spread = richardson(lambda h: fd_order1(p, xs, W["c"], h), 1e-5)
        scale = max(float(np.abs(g).max()) for g in g1)
        ref["g1"] = ref["g1c"] = g1 if spread <= 1e-3 * (1 + scale) else None
        SKIPPED["order 1 (unreliable differences)"] += ref["g1"] is None
        g2, spread = richardson(lambda h: fd_order2(p, xs, W["c"], W["u"], h), 4e-4)
        scale = max(float(np.abs(g).max()) for g in g2)
        ref["g2"] = g2 if spread <= 1e-2 * (1 + scale) else None
        SKIPPED["order 2 (unreliable differences)"] += ref["g2"] is None
        return ref

    def order3_reference(self):
        """grad F2 by central differences of eager H u along w (Richardson)."""
        p, xs, W = self.prog, self.prog.inputs, self.W

        def diff(h):
            hp = hvp_eager(p, moved(xs, [(h, W["w"])]), W)
            hm = hvp_eager(p, moved(xs, [(-h, W["w"])]), W)
            return [(a - b) / (2 * h) for a, b in zip(hp, hm)]
        g3, spread = richardson(diff, 1e-4)
        scale = max(float(np.abs(g).max()) for g in g3)
        SKIPPED["order 3 (unreliable differences)"] += spread > 1e-2 * (1 + scale)
        return g3 if spread <= 1e-2 * (1 + scale) else None

    def run(self):
        p, xs, W, order = self.prog, self.prog.inputs, self.W, self.order
        truth = self.reference()
        eager = lambda *v: p.fn(nd, *v)
        base = None
        for call in range(self.eager_calls):
            what = f"eager f64 call{call + 1}"
            got = self.attempt(what, run_once, eager, xs, "float64", W, order, self.spell,
                               self.final)
            if got is None:
                return
            if base is None:
                base = got
                if order == 3:
                    truth["g3"] = self.attempt("order-3 reference", self.order3_reference)
            self.compare(what + " vs FD", got, truth, FD_TOL, FD_ATOL)
            self.compare(what + " vs call1", got, base, F64_MODES_TOL, 1e-12)
        at_x2 = None
        if self.x2 is not None:
            at_x2 = self.attempt("eager f64 at x2", run_once, eager, self.x2, "float64", W,
                                 order, self.spell, self.final)
        block = Block(p.fn)
        block.hybridize(**self.flags)
        compiled = {"hybrid": (block, None), "jit": (mx.jit(eager), None)}
        if self.param:
            compiled["hybrid-param"] = param_block(p.fn, xs[0], "float64", self.flags)
        for mode, (fn, param) in compiled.items():
            for call in range(3):
                what = f"{mode} f64 call{call + 1}"
                pts, want = (xs, base) if call < 2 or at_x2 is None else (self.x2, at_x2)
                got = self.attempt(what, run_once, fn, pts, "float64", W, order, self.spell,
                                   self.final, param)
                if got is None:
                    break
                self.compare(what + " vs eager", got, want, F64_MODES_TOL, 1e-12)
                if pts is xs:
                    self.compare(what + " vs FD", got, truth, FD_TOL, FD_ATOL)
        if self.param:
            compiled["hybrid-param"] = param_block(p.fn, xs[0], "float32", self.flags)
        for mode, (fn, param) in [("eager", (eager, None))] + list(compiled.items()):
            for call in range(2):
                what = f"{mode} f32 call{call + 1}"
                got = self.attempt(what, run_once, fn, xs, "float32", W, order, self.spell,
                                   self.final, param)
                if got is None:
                    break
                bad = [k for k, v in got.items() if v[0].dtype != np.float32]
                if bad:
                    self.note(what, f"dtype of {bad} is not float32")
                self.compare(what + " vs eager f64", got, base, F32_TOL, F32_ATOL,
                             overall=True)


# ------------------------------------------------------------------ main
def describe(chk):
    spell = ["nd.sum", ".sum()", "head_grads"][chk.spell]
    return (f"order={chk.order} final={chk.final} spell={spell}"
            f" hybridize={chk.flags} eager_calls={chk.eager_calls}"
            f"{' x0=param' if chk.param else ''}")


def standalone(prog, chk):
    """A script reproducing program K (eager, float64, order 2)."""
    np.set_printoptions(precision=17, floatmode="unique")
    lines = ["import numpy as np", "import tracegrad as mx", "from tracegrad import nd, autograd",
             "", prog.src]
    for i, x in enumerate(prog.inputs):
        lines.append(f"x{i} = nd.array(np.array({x.tolist()!r}), dtype='float64')")
    lines.append(f"c = nd.array(np.array({chk.W['c'].tolist()!r}), dtype='float64')")
    for i, u in enumerate(chk.W["u"]):
        lines.append(f"u{i} = nd.array(np.array({u.tolist()!r}), dtype='float64')")
    xs = ", ".join(f"x{i}" for i in range(len(prog.inputs)))
    lines += [f"for x in [{xs}]:", "    x.attach_grad()", "with autograd.record():",
              f"    y = f(nd, {xs})",
              f"    gs = autograd.grad((y * c).sum(), [{xs}], create_graph=True, "
              "retain_graph=True)",
              "    z = " + " + ".join(f"(gs[{i}] * u{i}).sum()"
                                      for i in range(len(prog.inputs))),
              "z.backward()", f"print([x.grad.asnumpy() for x in [{xs}]])"]
    return "\n".join(lines)


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    seed, count = int(argv[1]), int(argv[2])
    only = int(argv[argv.index("--only") + 1]) if "--only" in argv else None
    if "--exclude" in argv:
        for name in argv[argv.index("--exclude") + 1].split(","):
            EXCLUDE.add(name)
            for table in (UNARY, SCALAR, BINARY):
                table.pop(name, None)
    warnings.simplefilter("ignore")
    failed, refused, generated = 0, Counter(), 0
    programs = [only] if only is not None else range(count)
    for k in programs:
        rng = np.random.default_rng([seed, k])
        prog = None
        while prog is None:
            prog = gen_program(rng)
        generated += 1
        chk = Checker(prog, rng, verbose=only is not None)
        try:
            chk.run()
        except Exception as e:      # noqa: BLE001 - a fuzzer bug, but keep going
            chk.note("fuzzer", f"{type(e).__name__}: {e}")
            if only is not None:
                traceback.print_exc()
        refused.update(set(chk.refusals))
        if only is not None:
            print(describe(chk))
            print(standalone(prog, chk))
            for msg in chk.problems:
                print("  ", msg)
        if chk.problems:
            failed += 1
            shown = "; ".join(chk.problems[:3])
            more = f" (+{len(chk.problems) - 3} more)" if len(chk.problems) > 3 else ""
            print(f"FAIL seed={seed} prog={k} [{describe(chk)}] {shown}{more} || "
                  f"{prog.oneline()}", flush=True)
    if refused:
        print("refused (programs per op): " + ", ".join(f"{op}: {n}" for op, n in
                                                        refused.most_common()))
    if any(SKIPPED.values()):
        print("skipped checks: " + ", ".join(f"{k}: {n}" for k, n in SKIPPED.items() if n))
    print(f"{failed} of {generated} programs failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
