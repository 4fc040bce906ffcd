"""`while_loop` / `foreach` as one op in compiled code: its condition and body are IR Functions
(regions), and codegen lowers the op to a native loop calling them (codegen/control.py), so a
compiled graph holding a loop is still one native call.

nd.contrib.while_loop and a long nd.contrib.foreach emit it while jit / hybridize traces
(contrib.py), so a loop whose trip count depends on data is one variant, not one per trip
count. One op covers every loop of the family, described by its LoopBody:

- a condition (while_loop) or none (the trip count is the sequences' length, or `counted`:
  an i64 operand, clamped to max_iterations);
- `n_seq` sequences the body reads one row (axis 0) of per step, in order or `reverse`d;
- loop variables, and captured arrays the body reads unchanged.

Operands: [count], sequences, loop variables, captured. Results: the stacked step outputs
(rows past the trip count are zeros), the final loop variables, the loop variables at the
start of every step (stacked the same way: what the adjoint needs), and the trip count.

The adjoint of a loop is itself a loop of this family: counted by the forward's trip count,
running the other way, its sequences the saved loop variables, the forward sequences and the
output cotangents, its state the loop variables' cotangents and the captured arrays' gradient
sums, its body the body's own adjoint (IR), simplified as a captured step's graph is. A
captured weight whose per-step gradient is a product a_t^T c_t is not summed in the state: the
factors' stacked rows give it as one product after the loop (`_outer_products`). Differentiating it again is the same rule, so
gradients of any order go through compiled loops. The op calls out of the graph
(runtime/handles.OutCall): its LoopBody is named by a handle, and the LoopBody holds what the
regions name (nested loops, its adjoint), so one live handle keeps all of it.
"""
import numpy as np

from ..ir.autodiff import copy_ops, vjp
from ..ir.function import Builder, Function, Literal, Value
from ..ir.printer import print_function
from ..ir.ops import LOOP
from ..ir.passes import run_pipeline
from ..ir.types import FLOATS, parse_type
from ..runtime.handles import OutCall, register, resolve
from ..runtime.interpret import Program
from ..runtime.segments import compile_callable


def keeps_python_state(fn) -> bool:
    """Whether `fn` (or a region it runs) calls Python code that keeps state from its forward
    for its backward (a custom autograd.Function): traced once into a loop body, one instance
    would serve every step, and its backward would see the last step's saved arrays. Such a
    loop runs as Python instead (a fresh Function per step)."""
    for op in fn.ops:
        if getattr(op.opdef, "keeps_state", False):
            return True
        regions = getattr(op.opdef, "regions", None)
        if regions is not None and any(keeps_python_state(r) for r in regions(op.attrs)):
            return True
    return False


ADJOINT_PIPELINE = "fold,simplify,cse,dce"   # (capture.PIPELINE's passes)

# body ops a loop runs in the numpy interpreter before its regions are compiled (~0.1 s of
# interpreting against ~0.5 s of codegen per region)
COMPILE_AFTER = 20000


class _Interpreted:
    """A region run by the numpy interpreter, called as a compiled one is."""
    __slots__ = ("program",)

    def __init__(self, fn):
        self.program = Program(fn)

    def __call__(self, *args):
        return self.program(args)


def _interpreted(fn):
    return None if fn is None else _Interpreted(fn)


def _stacked_type(t, rows):
    return f"{t.dtype}[{','.join(map(str, (rows,) + tuple(t.shape)))}]"


class LoopBody:
    """cond_fn(vars, captured) -> (flag,) (or None) and body_fn(rows, vars, captured) ->
    (step outputs, new vars): one loop of the family (module docstring). `keep`: objects the
    regions name (nested loop bodies) that must live as long as this one."""

    def __init__(self, cond_fn, body_fn, n_vars, n_outs, max_iterations, n_seq=0,
                 reverse=False, counted=False, keep=(), save_residuals=False):
        self.cond_fn, self.body_fn = cond_fn, body_fn
        self.n_vars, self.n_outs, self.max_iterations = n_vars, n_outs, int(max_iterations)
        self.n_seq, self.reverse, self.counted = n_seq, bool(reverse), bool(counted)
        self.keep = list(keep)
        self._cond = self._body = self._adjoint = None
        self._interpreted_ops = 0       # body ops run by the interpreter so far (run)
        self.n_residuals, self._residual_adjoint = 0, None
        if save_residuals:
            try:
                self._save_residuals()
            except (NotImplementedError, TypeError, ValueError, AttributeError):
                pass    # a body with no adjoint yet: differentiating it says why, as before
        self.handle = register(self)

    def _save_residuals(self):
        """Make the body also output (stacked) the forward values its adjoint reads, so the
        adjoint loop reads them instead of recomputing the body (as a compiled forward saves
        its residuals). The extra step outputs come after the user's (n_residuals of them)."""
        body = self.body_fn
        wrt = [i for i, p in enumerate(body.params) if p.type.dtype in FLOATS]
        saved = []
        adj = vjp(body, wrt, residuals=saved)
        index = {p: i for i, p in enumerate(body.params)}
        extra = [v for v in saved if v not in index]
        at = {v: self.n_outs + k for k, v in enumerate(extra)}
        self.body_fn = Function(body.name, body.params, body.ops,
                                list(body.outputs[:self.n_outs]) + extra +
                                list(body.outputs[self.n_outs:]))
        self._residual_adjoint = (adj, [("param", index[v]) if v in index else ("out", at[v])
                                        for v in saved])
        self.n_residuals = len(extra)
        self.n_outs += len(extra)

    # ------------------------------------------------------------ what codegen reads
    def regions(self):
        """The IR Functions the loop runs (codegen compiles them into the graph's module)."""
        return [f for f in (self.cond_fn, self.body_fn) if f is not None]

    def region_text(self) -> str:
        """The regions as text (codegen keys compiled objects on it: a handle number alone
        means nothing across processes)."""
        return "\n".join(print_function(f) for f in self.regions())

    def structure_key(self):
        """Equal for loops traced from the same code (guards.py matches values by it)."""
        return (self.region_text(), self.max_iterations, self.n_seq, self.reverse,
                self.counted)

    def result_types(self, operand_types):
        """Types of the op's results, from its operand types."""
        c, ns, nv = int(self.counted), self.n_seq, self.n_vars
        var_types = operand_types[c + ns:c + ns + nv]
        rows = self.max_iterations
        outs = [_stacked_type(o.type, rows) for o in self.body_fn.outputs[:self.n_outs]]
        return tuple(outs + [str(t) for t in var_types] +
                     [_stacked_type(t, rows) for t in var_types] + ["i64[]"])

    # ------------------------------------------------------------ Python driver
    def run(self, xs):
        """The loop with Python stepping: the path for the interpreter (eager loops and their
        adjoints) and for regions codegen cannot lower (a custom Function's code). The regions
        run in the numpy interpreter until they have run COMPILE_AFTER ops, then compiled
        (about as long as compiling them takes): a loop run a few times, as the adjoints of
        higher-order gradients are, never waits for codegen."""
        if self._body is None:
            if self._interpreted_ops < COMPILE_AFTER:
                self._body, self._cond = _interpreted(self.body_fn), _interpreted(self.cond_fn)
            else:
                self._body = compile_callable(self.body_fn)
                if self.cond_fn is not None:
                    self._cond = compile_callable(self.cond_fn)
        interpreting = type(self._body) is _Interpreted
        c, ns, nv, limit = int(self.counted), self.n_seq, self.n_vars, self.max_iterations
        if c:
            limit = max(0, min(limit, int(np.asarray(xs[0]))))
        seqs = list(xs[c:c + ns])
        vars_ = [np.asarray(v) for v in xs[c + ns:c + ns + nv]]
        caps = list(xs[c + ns + nv:])
        rows = self.max_iterations
        outs_t = [self.body_fn.outputs[k].type for k in range(self.n_outs)]
        stacked = [np.zeros((rows,) + t.shape, t.np_dtype) for t in outs_t]
        history = [np.zeros((rows,) + v.shape, v.dtype) for v in vars_]
        steps = 0
        while steps < limit and (self._cond is None or bool(
                np.asarray(self._cond(*vars_, *caps)[0]).reshape(-1)[0])):
            r = limit - 1 - steps if self.reverse else steps
            for h, v in zip(history, vars_):
                h[r] = v
            res = self._body(*[s[r] for s in seqs], *vars_, *caps)
            for st, o in zip(stacked, res[:self.n_outs]):
                st[r] = o
            vars_ = [np.array(v, dtype=h.dtype) for v, h in zip(res[self.n_outs:], history)]
            steps += 1
        if interpreting:
            self._interpreted_ops += steps * len(self.body_fn.ops)
            if self._interpreted_ops >= COMPILE_AFTER:
                self._body = self._cond = None      # compiled at the next run
        return stacked, vars_, history, steps

    # ------------------------------------------------------------ the adjoint loop
    def adjoint(self, operand_types, with_history_cotangents, residual_cotangents):
        """The LoopBody of this loop's adjoint (cached per variant; kept alive by self). It
        reads the saved residuals unless they are differentiated themselves (higher order):
        then it recomputes the body, whose adjoint takes every output's cotangent."""
        use_saved = self._residual_adjoint is not None and not residual_cotangents
        key = (tuple(str(t) for t in operand_types), with_history_cotangents, use_saved)
        if self._adjoint is None:
            self._adjoint = {}
        if key not in self._adjoint:
            self._adjoint[key] = self._build_adjoint(with_history_cotangents, use_saved)
        return self._adjoint[key]

    def _build_adjoint(self, with_hist, use_saved):
        """(LoopBody, (fs, fv, fc, fo, hoisted)): the float sequences, variables and captured
        arrays differentiated, the outputs with cotangents, and the captured arrays whose
        gradient is summed after the loop (`_outer_products`) instead of in its state."""
        body = self.body_fn
        wrt = [i for i, p in enumerate(body.params) if p.type.dtype in FLOATS]
        adj = self._residual_adjoint[0] if use_saved else vjp(body, wrt, recompute=True)
        hoist = self._adjoint_body(with_hist, use_saved, adj, None)
        return self._adjoint_body(with_hist, use_saved, adj, hoist)

    def _adjoint_body(self, with_hist, use_saved, adj, hoist):
        """Build the adjoint loop. `hoist` None: only find which captured arrays' per-step
        gradients are outer products (returns their indices); else build with those summed
        after the loop."""
        ns, nv, no = self.n_seq, self.n_vars, self.n_outs
        body = self.body_fn
        seq_p, var_p, cap_p = (body.params[:ns], body.params[ns:ns + nv],
                               body.params[ns + nv:])
        floats = lambda ps: [i for i, p in enumerate(ps) if p.type.dtype in FLOATS]  # noqa
        fs, fv, fc = floats(seq_p), floats(var_p), floats(cap_p)
        n_user = no - self.n_residuals if use_saved else no   # outputs with cotangents
        fo = [k for k in range(n_user) if body.outputs[k].type.dtype in FLOATS]
        wrt = [i for i, p in enumerate(body.params) if p.type.dtype in FLOATS]
        b = Builder(name=f"{body.name}_adjoint")
        # sequences: saved vars, forward sequences, output cotangents, [history cotangents],
        # [saved residuals]
        hist = [b.param(p.type, f"h{i}") for i, p in enumerate(var_p)]
        rows = [b.param(p.type, f"s{i}") for i, p in enumerate(seq_p)]
        g_out = {k: b.param(body.outputs[k].type, f"go{k}") for k in fo}
        g_hist = {i: b.param(var_p[i].type, f"gh{i}") for i in fv} if with_hist else {}
        res = ([b.param(body.outputs[k].type, f"r{k}") for k in range(n_user, no)]
               if use_saved else [])
        sequences = hist + rows + list(g_out.values()) + list(g_hist.values()) + res
        # state: var cotangents, captured gradient sums; then the captured arrays
        summed = [k for k in fc if not hoist or k not in hoist]
        g_var = {i: b.param(var_p[i].type, f"gv{i}") for i in fv}
        g_acc = {k: b.param(cap_p[k].type, f"gc{k}") for k in summed}
        caps = [b.param(p.type, f"c{k}") for k, p in enumerate(cap_p)]

        def zeros(t):
            return b.constant(value=0.0, shape=t.shape, dtype=t.dtype)
        params = rows + hist + caps
        if use_saved:       # (adj: the body's adjoint, built once for both passes)
            sources = self._residual_adjoint[1]
            saved = [params[i] if kind == "param" else res[i - n_user] for kind, i in sources]
            user_outs = range(n_user)
        else:
            saved, user_outs = params, range(no)
        cots = [g_out[k] if k in g_out else zeros(body.outputs[k].type) for k in user_outs]
        cots += [g_var[i] if i in g_var else zeros(var_p[i].type) for i in range(nv)]
        env = dict(zip(adj.params, saved + cots))
        copy_ops(b, adj.ops, env)
        grad = {w: (env[o] if not isinstance(o, Literal) else o)
                for w, o in zip(wrt, adj.outputs)}
        found = _outer_products({k: grad[ns + nv + k] for k in fc}, sequences)
        if hoist is None:
            return set(found)
        outs = [grad[i] for i in fs]
        hoisted = []
        for k in hoist:
            a, c = found[k]         # (this build's values: the same ops as the first's)
            # where each factor's rows are after the loop: an operand of the adjoint loop (a
            # sequence), or one of its stacked step outputs (added when not one already)
            srcs = []
            for v in (a, c):
                at = [j for j, q in enumerate(sequences) if q is v]
                if at:
                    srcs.append(("seq", at[0]))
                    continue
                if not any(v is o for o in outs):
                    outs.append(v)
                srcs.append(("out", next(j for j, o in enumerate(outs) if o is v)))
            hoisted.append((k, *srcs))
        new_g_var = []
        for i in fv:
            g = grad[ns + i]
            new_g_var.append(b.add(g, g_hist[i]) if i in g_hist else g)
        new_acc = [b.add(g_acc[k], grad[ns + nv + k]) for k in summed]
        # simplified as a captured step's graph is (the gate gradients' slice_scatters of an
        # LSTM summed into one concat); dce drops a hoisted gradient's per-step product
        fn = run_pipeline(b.ret(*outs, *new_g_var, *new_acc), ADJOINT_PIPELINE)
        n_seq = len(sequences)
        return LoopBody(None, fn, len(fv) + len(summed), len(outs), self.max_iterations,
                        n_seq=n_seq, reverse=not self.reverse, counted=True,
                        keep=self.keep), (fs, fv, summed, fo, hoisted)


def _outer_products(grads, sequences):
    """{k: (a, c)} for the captured arrays whose per-step gradient is a_t^T c_t (a weight's
    gradient through a matmul or FullyConnected: the batch is contracted). Summed over the
    steps that is one matmul of the stacked rows, A^T C, after the loop: one large product
    instead of a small one per step plus an add of the whole gradient into the loop state
    (an LSTM's h2h weight: a third of its backward loop). Each factor is a per-step value: a
    sequence row, or a value the step computes. At least one must be computed: a step
    output's rows past the trip count are zeros, so steps that did not run add nothing
    (a sequence's rows there hold data)."""
    found = {}
    for k, g in grads.items():
        op = getattr(g, "producer", None)
        if op is None or op.opdef.name != "matmul" or not op.attrs.get("transpose_a") \
                or op.attrs.get("transpose_b"):
            continue
        a, c = op.operands
        if any(not isinstance(v, Value) or v.type.ndim != 2 for v in (a, c)):
            continue
        kinds = ["seq" if any(v is q for q in sequences) else
                 "param" if v.producer is None else "step"
                 for v in (a, c)]
        if "param" in kinds or "step" not in kinds:
            continue
        found[k] = (a, c)
    return found


def _rows(b, stacked):
    """A stacked (steps, rows, cols) array as (steps * rows, cols)."""
    t = stacked.type
    return b.reshape(stacked, shape=(t.shape[0] * t.shape[1], t.shape[2]))


class WhileLoop(OutCall):
    """One loop of the family (module docstring): results are the stacked step outputs, the
    final loop variables, the loop variables at the start of every step, and the trip count."""
    name = "while_loop"
    attr_names = frozenset({"body", "out_types"})
    handle_attr = "body"
    runs_native = True
    traits = frozenset({LOOP})

    def infer(*types, body, out_types):
        return tuple(parse_type(t) for t in out_types)

    def impl(*xs, body, out_types):
        stacked, final, history, steps = resolve(body, "while_loop").run(xs)
        return tuple(stacked + final + history + [np.array(steps, dtype=np.int64)])

    def vjp(b, g, out, *xs, body, out_types):
        lb = resolve(body, "while_loop")
        c, ns, nv, no = int(lb.counted), lb.n_seq, lb.n_vars, lb.n_outs
        g = g if isinstance(g, tuple) else (g,)
        seqs, caps = xs[c:c + ns], xs[c + ns + nv:]
        history, steps = out[no + nv:no + 2 * nv], out[no + 2 * nv]
        with_hist = any(x is not None for x in g[no + nv:no + 2 * nv])
        res_cots = any(x is not None for x in g[no - lb.n_residuals:no])
        adj, (fs, fv, fc, fo, hoisted) = lb.adjoint([x.type for x in xs], with_hist,
                                                    res_cots)
        saved = list(out[no - lb.n_residuals:no]) if not res_cots else []

        def cot(k):
            return g[k] if g[k] is not None else b.constant(
                value=0.0, shape=out[k].type.shape, dtype=out[k].type.dtype)
        operands = [steps] + list(history) + list(seqs) + [cot(k) for k in fo]
        operands += [cot(no + nv + i) for i in fv] if with_hist else []
        operands += saved
        operands += [cot(no + i) for i in fv]
        operands += [b.constant(value=0.0, shape=caps[k].type.shape, dtype=caps[k].type.dtype)
                     for k in fc]
        operands += list(caps)
        res = b.while_loop(*operands, body=adj.handle,
                           out_types=adj.result_types([o.type for o in operands]))
        res = res if isinstance(res, tuple) else (res,)
        grads = [None] * len(xs)
        for j, i in enumerate(fs):
            grads[c + i] = res[j]
        n_out = adj.n_outs      # (the adjoint's step outputs: fs's, then hoisted factors)
        for j, i in enumerate(fv):
            grads[c + ns + i] = res[n_out + j]
        for j, k in enumerate(fc):
            grads[c + ns + nv + k] = res[n_out + len(fv) + j]
        for k, *factors in hoisted:     # sum_t a_t^T c_t as one product of the stacked rows
            a, c_ = (_rows(b, operands[1 + i] if kind == "seq" else res[i])
                     for kind, i in factors)
            grads[c + ns + nv + k] = b.matmul(a, c_, transpose_a=True)
        return tuple(grads)

    @classmethod
    def regions(cls, attrs):
        """The IR Functions the op runs (codegen lowers them into the graph's module)."""
        return resolve(attrs["body"], cls.name).regions()

    @classmethod
    def region_key(cls, attrs):
        """What the op runs, as text (part of the compiled object's cache key)."""
        lb = resolve(attrs["body"], cls.name)
        return (f"loop {lb.max_iterations} {lb.n_seq} {lb.reverse} {lb.counted}\n"
                + lb.region_text())

    @classmethod
    def loop_body(cls, attrs):
        """The LoopBody codegen lowers (codegen/control.py reads its fields and regions)."""
        return resolve(attrs["body"], cls.name)
