"""`while_loop` (and a long `foreach`) as one op in compiled code: its condition and body are
IR Functions, compiled natively once, and the op runs them until the condition fails (at most
max_iterations times; foreach: once per slice of its sequences).

nd.contrib.while_loop emits it while jit / hybridize traces (contrib.py), so a loop whose trip
count depends on data is one variant, not one per trip count. Its results are the stacked step
outputs (zero-padded to max_iterations), the final loop variables, and two residuals for the
adjoint: the loop variables at the start of every step, and the trip count. The adjoint op
`while_loop_grad` replays the steps in reverse through the body's own adjoint (IR, compiled
natively), so gradients reach the initial loop variables and every array the body closes over.
Both ops call out of the graph (runtime/handles.OutCall): their LoopBody is named by a handle.
"""
import numpy as np

from ..ir.autodiff import vjp
from ..ir.types import FLOATS, parse_type
from ..runtime.handles import OutCall, register, resolve
from ..runtime.segments import compile_callable


class LoopBody:
    """cond_fn(vars, captured) -> (flag,) and body_fn(slices, vars, captured) -> (outs, new
    vars), with their native code and the body's adjoint, built on first use. `n_seq` inputs
    are sequences the body reads one slice (along axis 0) of per step: foreach has them and no
    condition (cond_fn None, the trip count is their length); while_loop has no sequences."""

    def __init__(self, cond_fn, body_fn, n_vars, n_outs, max_iterations, n_seq=0):
        self.cond_fn, self.body_fn = cond_fn, body_fn
        self.n_vars, self.n_outs, self.max_iterations = n_vars, n_outs, max_iterations
        self.n_seq = n_seq
        self._cond = self._body = self._adjoint = None
        self.wrt = [i for i, p in enumerate(body_fn.params) if p.type.dtype in FLOATS]
        self.handle = register(self)

    def structure_key(self):
        """Equal for bodies traced from the same code (guards.py matches values by it)."""
        return (str(self.cond_fn), str(self.body_fn), self.max_iterations, self.n_seq)

    def run(self, xs):
        if self._body is None:
            self._body = compile_callable(self.body_fn)
            if self.cond_fn is not None:
                self._cond = compile_callable(self.cond_fn)
        ns, nv, limit = self.n_seq, self.n_vars, self.max_iterations
        seqs, vars_, caps = list(xs[:ns]), list(xs[ns:ns + nv]), list(xs[ns + nv:])
        outs_t = [self.body_fn.outputs[k].type for k in range(self.n_outs)]
        stacked = [np.zeros((limit,) + t.shape, t.np_dtype) for t in outs_t]
        history = [np.zeros((limit,) + np.shape(v), np.asarray(v).dtype) for v in vars_]
        cond, steps = self._cond, 0
        while steps < limit and (cond is None or bool(
                np.asarray(cond(*vars_, *caps)[0]).reshape(-1)[0])):
            for h, v in zip(history, vars_):
                h[steps] = v
            res = self._body(*[s[steps] for s in seqs], *vars_, *caps)
            for st, o in zip(stacked, res[:self.n_outs]):
                st[steps] = o
            vars_ = [np.asarray(v) for v in res[self.n_outs:]]
            steps += 1
        return stacked, vars_, history, steps

    def backward(self, history, steps, seqs, caps, g_outs, g_vars):
        """Gradients for the sequences, the initial loop variables and the captured arrays."""
        if self._adjoint is None:
            self._adjoint = compile_callable(vjp(self.body_fn, self.wrt, recompute=True))
        ns, nv = self.n_seq, self.n_vars
        g_vars = [np.array(g, copy=True) for g in g_vars]
        g_seqs = [np.zeros(s.shape, s.dtype) for s in seqs]
        g_caps = [np.zeros(c.shape, c.dtype) for c in caps]
        position = {p: k for k, p in enumerate(self.wrt)}
        for t in range(steps - 1, -1, -1):
            state = [h[t] for h in history]
            cots = [g[t] for g in g_outs] + g_vars
            grads = self._adjoint(*[s[t] for s in seqs], *state, *caps, *cots)
            for k in range(ns):
                if k in position:
                    g_seqs[k][t] = grads[position[k]]
            g_vars = [np.asarray(grads[position[ns + i]]) if ns + i in position
                      else np.zeros_like(g) for i, g in enumerate(g_vars)]
            for k in range(len(caps)):
                if ns + nv + k in position:
                    g_caps[k] = g_caps[k] + grads[position[ns + nv + k]]
        return g_seqs, g_vars, g_caps


class WhileLoop(OutCall):
    """Run a LoopBody: results are the stacked step outputs, the final loop variables, then
    the per-step loop variables and the trip count (residuals for the adjoint)."""
    name = "while_loop"
    attr_names = frozenset({"body", "out_types"})
    handle_attr = "body"
    runs_native = True

    def infer(*types, body, out_types):
        return tuple(parse_type(t) for t in out_types)

    def impl(*xs, body, out_types):
        stacked, final, history, steps = resolve(body, "while_loop").run(xs)
        return tuple(stacked + final + history + [np.array(steps, dtype=np.int64)])

    def vjp(b, g, out, *xs, body, out_types):
        lb = resolve(body, "while_loop")
        ns, nv, no = lb.n_seq, lb.n_vars, lb.n_outs
        g = g if isinstance(g, tuple) else (g,)
        history = list(out[no + nv:no + 2 * nv])
        steps = out[no + 2 * nv]
        cots = [c if c is not None else b.constant(value=0.0, shape=o.type.shape,
                                                   dtype=o.type.dtype)
                for c, o in zip(g[:no + nv], out[:no + nv])]
        grad_types = tuple(str(x.type) for x in xs)
        operands = list(xs[:ns]) + list(xs[ns + nv:])  # sequences, then captured arrays
        grads = b.while_loop_grad(*history, steps, *operands, *cots, body=body,
                                  grad_types=grad_types)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return tuple(gr if x.type.dtype in FLOATS else None for gr, x in zip(grads, xs))


class WhileLoopGrad(OutCall):
    """The adjoint of while_loop: the steps replayed in reverse through the body's adjoint."""
    name = "while_loop_grad"
    attr_names = frozenset({"body", "grad_types"})
    handle_attr = "body"
    runs_native = True

    def infer(*types, body, grad_types):
        ts = tuple(parse_type(t) for t in grad_types)
        return ts if len(ts) != 1 else ts[0]

    def impl(*xs, body, grad_types):
        lb = resolve(body, "while_loop_grad")
        ns, nv, no = lb.n_seq, lb.n_vars, lb.n_outs
        history, steps = list(xs[:nv]), int(np.asarray(xs[nv]))
        n_rest = len(grad_types) - nv          # sequences and captured arrays
        rest = list(xs[nv + 1:nv + 1 + n_rest])
        cots = xs[nv + 1 + n_rest:]
        g_seqs, g_vars, g_caps = lb.backward(history, steps, rest[:ns], rest[ns:],
                                             list(cots[:no]), list(cots[no:]))
        outs = [np.asarray(g, dtype=parse_type(t).np_dtype)
                for g, t in zip(g_seqs + g_vars + g_caps, grad_types)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def vjp(b, g, out, *xs, body, grad_types):
        raise NotImplementedError(
            "while_loop_grad: higher-order gradients through a compiled while_loop are not "
            "supported; differentiate the eager loop (outside jit/hybridize) instead")
