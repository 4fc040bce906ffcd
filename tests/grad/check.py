"""check_grads: the gradient oracle, after JAX's public_test_util.check_grads, on IR functions.

For f = `fn` at `args` (float64), with a random tangent t and a random output cotangent c:
1. VJP:  J^T c comes from the adjoint built by `vjp(fn, recompute=True)`, run by the interpreter.
2. JVP:  J t is the JVP the VJP implies. The adjoint is linear in c, so differentiating it with
   respect to c (a second `vjp`, cotangent t) gives (J^T)^T t = J t without a forward-mode rule.
3. Finite differences: (f(x + eps t) - f(x - eps t)) / 2 eps must equal that J t elementwise,
   and the dot-product test <J t, c> = <t, J^T c> must hold both with the finite-difference J t
   (checks the VJP directly) and with the implied J t (checks the linear ops' vjps transpose
   each other, to rounding error).
4. order > 1: the adjoint is itself an IR function of (x, c), so check_grads recurses on it,
   which checks the derivative of the derivative (JAX's recursion on f_vjp).
Non-float parameters (indices, masks) are passed through unchanged and never perturbed.
"""
import numpy as np

from tracegrad.ir import vjp
from tracegrad.ir.types import FLOATS, type_of
from tracegrad.runtime.interpret import interpret

EPS = 1e-4
RTOL = 1e-5


def check_grads(fn, args, order=2, eps=EPS, rtol=RTOL, atol=None, seed=0):
    """Assert fn's reverse-mode derivatives up to `order` agree with finite differences."""
    args = [np.asarray(a) for a in args]
    for p, a in zip(fn.params, args):
        if type_of(a) != p.type:
            raise TypeError(f"check_grads: argument {type_of(a)} does not match {p.type}")
        if p.type.dtype == "f32":
            raise TypeError("check_grads: finite differences need f64 parameters, got f32")
    for o in fn.outputs:
        if o.type.dtype not in FLOATS:
            raise TypeError(f"check_grads: output {o.type} is not floating point")
    atol = rtol if atol is None else atol
    rng = np.random.default_rng(seed)
    _check_first_order(fn, args, eps, rtol, atol, rng)
    if order > 1:
        adj = vjp(fn, recompute=True)
        cots = [rng.standard_normal(o.type.shape) for o in fn.outputs]
        check_grads(adj, args + cots, order - 1, eps, rtol, atol, seed + 1)


def _check_first_order(fn, args, eps, rtol, atol, rng):
    wrt = [i for i, p in enumerate(fn.params) if p.type.dtype in FLOATS]
    tangent = {i: rng.standard_normal(args[i].shape) for i in wrt}
    cots = [rng.standard_normal(o.type.shape) for o in fn.outputs]
    vjp_out = _vjp(fn, wrt, args, cots)
    jvp_implied = _implied_jvp(fn, wrt, args, cots, [tangent[i] for i in wrt])
    jvp_fd = _numerical_jvp(fn, args, tangent, eps)

    for k, (implied, fd) in enumerate(zip(jvp_implied, jvp_fd)):
        scale = max(1.0, float(np.max(np.abs(fd), initial=0.0)))
        np.testing.assert_allclose(implied, fd, rtol=rtol, atol=atol * scale,
                                   err_msg=f"JVP of output {k} of @{fn.name} vs finite differences")
    t_dot_vjp = sum(_dot(tangent[i], g) for i, g in zip(wrt, vjp_out))
    fd_dot_c = sum(_dot(fd, c) for fd, c in zip(jvp_fd, cots))
    implied_dot_c = sum(_dot(j, c) for j, c in zip(jvp_implied, cots))
    scale = max(1.0, abs(fd_dot_c))
    assert abs(t_dot_vjp - fd_dot_c) <= rtol * scale + atol * scale, (
        f"VJP dot test of @{fn.name}: <t, J^T c> = {t_dot_vjp}, <J t, c> by FD = {fd_dot_c}")
    assert abs(t_dot_vjp - implied_dot_c) <= 1e-9 * max(1.0, abs(implied_dot_c)), (
        f"transpose test of @{fn.name}: <t, J^T c> = {t_dot_vjp}, <J t, c> = {implied_dot_c}")


def _vjp(fn, wrt, args, cots):
    """J^T c for each wrt parameter, from the self-contained adjoint."""
    adj = vjp(fn, wrt, recompute=True)
    return [np.asarray(g) for g in interpret(adj, args + cots)]


def _implied_jvp(fn, wrt, args, cots, tangents):
    """J t: the vjp of the adjoint with respect to its cotangent parameters, cotangent t."""
    adj = vjp(fn, wrt, recompute=True)
    cot_index = list(range(len(fn.params), len(fn.params) + len(fn.outputs)))
    transposed = vjp(adj, cot_index, recompute=True)
    return [np.asarray(j) for j in interpret(transposed, args + cots + tangents)]


def _numerical_jvp(fn, args, tangent, eps):
    """Central differences of every output along the tangent direction, in float64."""
    def shifted(sign):
        moved = [a + sign * eps * tangent[i] if i in tangent else a for i, a in enumerate(args)]
        return [np.asarray(o, dtype=np.float64) for o in interpret(fn, moved)]
    plus, minus = shifted(1.0), shifted(-1.0)
    return [(p - m) / (2 * eps) for p, m in zip(plus, minus)]


def _dot(a, b):
    return float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))
