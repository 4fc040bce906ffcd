"""Every primitive's impl against a reference computed here, and infer against impl.

References are written independently of the impls: per-element Python `math` for elementwise
ops, explicit index loops or einsum for layout and reduction ops. infer must agree exactly
with the type of what impl returns (an np.ndarray, also for 0-d results) for f32 and f64,
broadcasting, size-1 and zero-size dims. Random ops are checked against Philox's published
known-answer vectors and for their statistics.
"""
import itertools
import math

import numpy as np
import pytest

from tracegrad.ir.ops import RANDOM, REGISTRY
from tracegrad.ir.ops.random import _FEW, philox, philox_block, philox_ints
from tracegrad.ir.types import TensorType, type_of

from linalg_refs import householder_lq

RNG = np.random.default_rng(3)


def F(*shape, lo=-2.0, hi=2.0):
    """A float operand generator (dtype chosen per test)."""
    return lambda dt: RNG.uniform(lo, hi, shape).astype(dt)


def P(*shape):
    return F(*shape, lo=0.2, hi=3.0)


def I(*shape, high):  # noqa: E743
    return lambda dt: RNG.integers(0, high, shape).astype(np.int64)


def B(*shape):
    return lambda dt: RNG.random(shape) < 0.5


def per_element(fn):
    """Reference from a Python scalar function applied element by element in float64."""
    def ref(*xs, **attrs):
        xs = np.broadcast_arrays(*[np.asarray(x) for x in xs])
        out = [fn(*(x.item() for x in vals)) for vals in zip(*(x.reshape(-1) for x in xs))]
        return np.array(out).reshape(xs[0].shape)
    return ref


def loops(shape, fn):
    """Reference filled one index at a time."""
    out = np.zeros(shape)
    for ix in np.ndindex(*shape):
        out[ix] = fn(ix)
    return out


def sum_ref(x, axes, keepdims=False):
    keep = [i for i in range(x.ndim) if i not in axes]
    letters = "abcdefgh"[:x.ndim]
    out = np.einsum(f"{letters}->{''.join(letters[i] for i in keep)}", x.astype(np.float64))
    return out.reshape([1 if i in axes else d for i, d in enumerate(x.shape)]) if keepdims else out


def extremum_ref(pick):
    def ref(x, axes, keepdims=False):
        moved = np.moveaxis(x, axes, range(x.ndim - len(axes), x.ndim))
        flat = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
        out = np.sort(flat, axis=-1)[..., pick]
        return out.reshape([1 if i in axes else d for i, d in enumerate(x.shape)]) if keepdims \
            else out
    return ref


def take_ref(x, idx, axis):
    idx = np.clip(idx, 0, x.shape[axis] - 1)
    shape = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    k = idx.ndim
    return loops(shape, lambda ix: x[ix[:axis] + (idx[ix[axis:axis + k]],) + ix[axis + k:]])


def scatter_ref(x, idx, axis, size):
    out = np.zeros(x.shape[:axis] + (size,) + x.shape[axis + idx.ndim:])
    for ix in np.ndindex(*x.shape):
        j = min(max(int(idx[ix[axis:axis + idx.ndim]]), 0), size - 1)
        out[ix[:axis] + (j,) + ix[axis + idx.ndim:]] += x[ix]
    return out


def matmul_ref(x, y, transpose_a=False, transpose_b=False):
    a = "...ji" if transpose_a else "...ij"
    b = "...kj" if transpose_b else "...jk"
    return np.einsum(f"{a},{b}->...ik", x.astype(np.float64), y.astype(np.float64))


def sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def sign(v):
    return float((v > 0) - (v < 0))


SLICE = {"begin": (1, 0), "end": (5, 6), "step": (2, 3)}
UNARY = {"neg": (F, lambda v: -v), "exp": (F, math.exp), "log": (P, math.log),
         "tanh": (F, math.tanh), "sigmoid": (F, sigmoid), "relu": (F, lambda v: max(v, 0.0)),
         "sqrt": (P, math.sqrt), "abs": (F, abs), "sign": (F, sign), "sin": (F, math.sin),
         "cos": (F, math.cos), "log1p": (P, math.log1p), "expm1": (F, math.expm1),
         "floor": (F, math.floor), "stop_gradient": (F, lambda v: v),
         "log2": (P, math.log2), "log10": (P, math.log10),
         "cbrt": (F, lambda v: math.copysign(abs(v) ** (1 / 3), v)),
         "rcbrt": (F, lambda v: 1 / math.copysign(abs(v) ** (1 / 3), v)),
         "rsqrt": (P, lambda v: 1 / math.sqrt(v)),
         "logical_not": (F, lambda v: not v)}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
          "mod": lambda a, b: a - math.floor(a / b) * b, "maximum": max, "minimum": min,
          "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
          "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}
# name -> (operand generators, attrs, reference(*arrays, **attrs))
CASES = {n: ([gen(3, 4)], {}, per_element(f)) for n, (gen, f) in UNARY.items()}
CASES.update({n: ([P(3, 1), F(4)], {}, per_element(f)) for n, f in BINARY.items()})
CASES.update({
    "where": ([B(3, 1), F(4), F(3, 4)], {}, per_element(lambda c, a, b: a if c else b)),
    "cast": ([F(2, 3)], {"dtype": "i32"}, per_element(int)),
    "constant": ([], {"value": 1.5, "shape": (2, 3), "dtype": "f32"},
                 lambda **a: loops(a["shape"], lambda ix: 1.5)),
    "sum": ([F(2, 3, 4)], {"axes": (0, 2)}, sum_ref),
    "max": ([F(2, 3, 4)], {"axes": (1,), "keepdims": True}, extremum_ref(-1)),
    "min": ([F(2, 3, 4)], {"axes": (0, 2)}, extremum_ref(0)),
    "argmax": ([F(3, 5)], {"axis": 1},
               lambda x, axis: loops((3,), lambda ix: list(x[ix]).index(max(x[ix])))),
    "broadcast_to": ([F(3, 1)], {"shape": (2, 3, 4)},
                     lambda x, shape: loops(shape, lambda ix: x[ix[1], 0])),
    "reshape": ([F(2, 6)], {"shape": (3, 4)},
                lambda x, shape: loops(shape, lambda ix: x.flat[ix[0] * 4 + ix[1]])),
    "transpose": ([F(2, 3, 4)], {"perm": (2, 0, 1)},
                  lambda x, perm: loops((4, 2, 3), lambda ix: x[ix[1], ix[2], ix[0]])),
    "expand_dims": ([F(2, 3)], {"axis": 1},
                    lambda x, axis: loops((2, 1, 3), lambda ix: x[ix[0], ix[2]])),
    "slice": ([F(5, 6)], SLICE,
              lambda x, **s: loops((2, 2), lambda ix: x[1 + 2 * ix[0], 3 * ix[1]])),
    "slice_scatter": ([F(2, 2)], {"shape": (5, 6), **SLICE}, lambda x, **s: loops(
        (5, 6), lambda ix: x[(ix[0] - 1) // 2, ix[1] // 3] if ix[0] % 2 and ix[1] % 3 == 0
        else 0.0)),
    "concat": ([F(2, 1), F(2, 3)], {"axis": 1},
               lambda x, y, axis: loops((2, 4), lambda ix: x[ix] if ix[1] < 1
                                        else y[ix[0], ix[1] - 1])),
    "take": ([F(5, 3), I(2, 4, high=7)], {"axis": 0}, take_ref),
    "scatter_add": ([F(2, 6, 4), I(6, high=4)], {"axis": 1, "size": 3}, scatter_ref),
    "one_hot": ([I(2, 3, high=5)], {"depth": 4},
                lambda i, depth: loops((2, 3, 4), lambda ix: float(i[ix[:2]] == ix[2]))),
    "iota": ([], {"shape": (2, 3), "axis": 1}, lambda **a: loops((2, 3), lambda ix: ix[1])),
    "matmul": ([F(2, 1, 4, 3), F(5, 2, 4)], {"transpose_a": True, "transpose_b": True},
               matmul_ref),
})


def erfinv_ref(y):
    """Bisection on math.erf: the inverse to double precision, independent of any fit."""
    if abs(y) >= 1:
        return math.copysign(math.inf, y) if abs(y) == 1 else math.nan
    lo, hi = -7.0, 7.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid) < y else (lo, mid)
    return (lo + hi) / 2


UNIT = F(3, 4, lo=-0.9, hi=0.9)
CASES.update({
    "tan": ([UNIT], {}, per_element(math.tan)), "arcsin": ([UNIT], {}, per_element(math.asin)),
    "arccos": ([UNIT], {}, per_element(math.acos)), "arctan": ([F(3, 4, lo=-9, hi=9)], {},
                                                               per_element(math.atan)),
    "sinh": ([F(3, 4)], {}, per_element(math.sinh)), "cosh": ([F(3, 4)], {},
                                                              per_element(math.cosh)),
    "arcsinh": ([F(3, 4)], {}, per_element(math.asinh)),
    "arccosh": ([F(3, 4, lo=1.0, hi=5.0)], {}, per_element(math.acosh)),
    "arctanh": ([UNIT], {}, per_element(math.atanh)),
    "erf": ([F(3, 4, lo=-3, hi=3)], {}, per_element(math.erf)),
    "erfinv": ([UNIT], {}, per_element(erfinv_ref)),
})


def argsort_ref(x, axis, is_ascend=True):
    """Per row, positions ordered by (key, position): a stable sort written out."""
    def order(row):
        key = (lambda i: (row[i], i)) if is_ascend else (lambda i: (-row[i], i))
        return sorted(range(len(row)), key=key)
    moved = np.moveaxis(x, axis, -1)
    out = np.array([order(list(r)) for r in moved.reshape(-1, moved.shape[-1])])
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def cumsum_ref(x, axis, reverse=False):
    n = x.shape[axis]
    def at(ix):
        rng = range(ix[axis], n) if reverse else range(0, ix[axis] + 1)
        return sum(float(x[ix[:axis] + (j,) + ix[axis + 1:]]) for j in rng)
    return loops(x.shape, at)


def prod_ref(x, axes, keepdims=False):
    kept = [i for i in range(x.ndim) if i not in axes]
    shape = tuple(x.shape[i] for i in kept)
    def at(ix):
        p = 1.0
        for full in np.ndindex(*x.shape):
            if all(full[i] == ix[k] for k, i in enumerate(kept)):
                p *= float(x[full])
        return p
    out = loops(shape, at)
    return out.reshape([1 if i in axes else d for i, d in enumerate(x.shape)]) if keepdims \
        else out


def gather_nd_ref(data, idx):
    m = idx.shape[0]
    shape = idx.shape[1:] + data.shape[m:]
    k = idx.ndim - 1
    return loops(shape, lambda ix: data[tuple(int(idx[(j,) + ix[:k]]) for j in range(m))
                                        + ix[k:]])


def scatter_nd_ref(x, idx, shape):
    out = np.zeros(shape)
    k = idx.ndim - 1
    for ix in np.ndindex(*x.shape):
        pos = tuple(int(idx[(j,) + ix[:k]]) for j in range(idx.shape[0]))
        out[pos + ix[k:]] += x[ix]
    return out


def pad_source(i, d, lo, mode):
    """The input position padded position i reads along an axis of size d (None: constant)."""
    j = i - lo
    if 0 <= j < d:
        return j
    if mode == "constant":
        return None
    if mode == "edge":
        return min(max(j, 0), d - 1)
    return -j if j < 0 else 2 * (d - 1) - j  # reflect, pads smaller than d


def pad_ref(x, pad_width, mode="constant", constant_value=0.0):
    los = pad_width[::2]
    shape = tuple(d + pad_width[2 * i] + pad_width[2 * i + 1] for i, d in enumerate(x.shape))
    def at(ix):
        src = [pad_source(i, d, lo, mode) for i, d, lo in zip(ix, x.shape, los)]
        return constant_value if None in src else x[tuple(src)]
    return loops(shape, at)


def pad_adjoint_ref(g, pad_width, shape, mode="constant"):
    out = np.zeros(shape)
    for ix in np.ndindex(*g.shape):
        src = [pad_source(i, d, lo, mode) for i, d, lo in zip(ix, shape, pad_width[::2])]
        if None not in src:
            out[tuple(src)] += g[ix]
    return out


def cholesky_ref(a):
    """Cholesky-Banachiewicz, row by row, of the symmetrised operand."""
    a = (a.astype(np.float64) + a.T) / 2
    n = a.shape[0]
    low = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            s = sum(low[i, k] * low[j, k] for k in range(j))
            low[i, j] = math.sqrt(a[i, i] - s) if i == j else (a[i, j] - s) / low[j, j]
    return low


def trsm_ref(a, bm, transpose=False, rightside=False, lower=True, alpha=1.0):
    """Forward/back substitution on op(A) X = alpha B, one column at a time."""
    t = np.tril(a) if lower else np.triu(a)
    t = (t.T if transpose else t).astype(np.float64)
    rhs = alpha * (bm.T if rightside else bm).astype(np.float64)
    if rightside:  # X op(A) = B  <=>  op(A)^T X^T = B^T
        t = t.T
    n = t.shape[0]
    x = np.zeros_like(rhs)
    down = np.allclose(t, np.tril(t))
    order = range(n) if down else range(n - 1, -1, -1)
    for i in order:
        x[i] = (rhs[i] - t[i] @ x) / t[i, i]
    return x.T if rightside else x


def SPD(dt):  # noqa: N802  (a generator, like F and P)
    m = RNG.uniform(-1, 1, (3, 3))
    return (m @ m.T + 3 * np.eye(3)).astype(dt)


def TRI(dt):  # noqa: N802
    return (RNG.uniform(-0.5, 0.5, (3, 3)) + 3 * np.eye(3)).astype(dt)



def GEN(dt):  # noqa: N802  (a well-conditioned 2 x 3 x 3 batch, the second of det < 0)
    m = RNG.uniform(-1, 1, (2, 3, 3)) + 3 * np.eye(3)
    m[1] = m[1][[1, 0, 2]]
    return m.astype(dt)


def lu_ref(a):
    """Gaussian elimination with partial pivoting, one matrix at a time, in float64:
    (sign of det, log|det|, inverse by Gauss-Jordan on [A | I])."""
    n = a.shape[-1]
    signs, logs, invs = [], [], []
    for m in a.reshape(-1, n, n).astype(np.float64):
        aug = np.concatenate([m, np.eye(n)], axis=1)
        sign, logabs = 1.0, 0.0
        for k in range(n):
            p = k + int(np.argmax(np.abs(aug[k:, k])))
            if p != k:
                aug[[k, p]] = aug[[p, k]]
                sign = -sign
            sign *= np.sign(aug[k, k])
            logabs += math.log(abs(aug[k, k]))
            aug[k] /= aug[k, k]
            for i in range(n):
                if i != k:
                    aug[i] -= aug[i, k] * aug[k]
        signs.append(sign)
        logs.append(logabs)
        invs.append(aug[:, n:])
    batch = a.shape[:-2]
    return (np.reshape(signs, batch), np.reshape(logs, batch),
            np.reshape(invs, a.shape))


def SYM(dt):  # noqa: N802  (a 2 x 3 x 3 batch of symmetric matrices, distinct eigenvalues)
    m = RNG.uniform(-1, 1, (2, 3, 3)) + np.diag([0.0, 2.0, 4.0])
    return (m + np.swapaxes(m, -1, -2)).astype(dt)


def jacobi_ref(a):
    """Cyclic Jacobi rotations in float64 until the off-diagonal vanishes, one matrix at a
    time: (U, ascending eigenvalues), U's rows the eigenvectors, each row's first largest
    entry made positive (MXNet's syevd sign rule)."""
    n = a.shape[-1]
    us, ls = [], []
    for m in a.reshape(-1, n, n).astype(np.float64):
        m, v = (m + m.T) / 2, np.eye(n)
        for _ in range(50):
            if np.sum(np.tril(m, -1) ** 2) < 1e-30:
                break
            for p in range(n):
                for q in range(p + 1, n):
                    if m[p, q] == 0:
                        continue
                    theta = (m[q, q] - m[p, p]) / (2 * m[p, q])
                    t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta ** 2 + 1))
                    c = 1 / math.sqrt(t * t + 1)
                    r = np.eye(n)
                    r[p, p] = r[q, q] = c
                    r[p, q], r[q, p] = c * t, -c * t
                    m, v = r.T @ m @ r, v @ r
        order = np.argsort(np.diag(m))
        u = v[:, order].T
        for row in u:
            k = int(np.argmax(np.abs(row)))
            row *= -1.0 if row[k] < 0 else 1.0
        us.append(u)
        ls.append(np.diag(m)[order])
    return np.reshape(us, a.shape), np.reshape(ls, a.shape[:-1])


def WIDE(dt):  # noqa: N802  (a 2 x 3 x 4 batch of full-rank matrices, x <= y)
    return (RNG.uniform(-1, 1, (2, 3, 4)) + 2.0 * np.eye(3, 4)).astype(dt)


def svd_ref(a):
    """gesvd from jacobi_ref of A A^T: UT's columns the eigenvectors, L the square roots of
    the eigenvalues (descending), V = diag(1/L) UT^T A; each row of V signed so that its first
    largest entry is positive, UT's matching column with it (MXNet's GesvdVecSign)."""
    a = a.astype(np.float64)
    u, lam = jacobi_ref(a @ np.swapaxes(a, -1, -2))
    u, lam = u[..., ::-1, :], lam[..., ::-1]
    low = np.sqrt(lam)
    v = (u @ a) / low[..., None]
    lead = np.take_along_axis(v, np.argmax(np.abs(v), axis=-1)[..., None], axis=-1)
    sign = np.where(lead < 0, -1.0, 1.0)
    return np.swapaxes(u * sign, -1, -2), low, v * sign


def UPPER(dt):  # noqa: N802  (a 2 x 3 x 3 batch of upper triangular matrices)
    return (np.triu(RNG.uniform(-1, 1, (2, 3, 3))) + np.diag([2.0, -1.0, 0.5])).astype(dt)


def triangular_eig_ref(a):
    """Eigenpairs of upper triangular matrices by back substitution: the diagonal, in order,
    and unit eigenvectors (columns) whose own entry is positive, as LAPACK's geev gives them
    for a triangular matrix."""
    n = a.shape[-1]
    vecs = []
    for m in a.reshape(-1, n, n).astype(np.float64):
        v = np.zeros((n, n))
        for k in range(n):
            x = np.zeros(n)
            x[k] = 1.0
            for j in range(k - 1, -1, -1):
                x[j] = -(m[j, j + 1:k + 1] @ x[j + 1:k + 1]) / (m[j, j] - m[k, k])
            v[:, k] = x / np.linalg.norm(x)
        vecs.append(v)
    return np.diagonal(a, axis1=-2, axis2=-1).astype(np.float64), np.reshape(vecs, a.shape)


CASES.update({
    "gesvd_ut": ([WIDE], {}, lambda a: svd_ref(a)[0]),
    "gesvd_l": ([WIDE], {}, lambda a: svd_ref(a)[1]),
    "gesvd_v": ([WIDE], {}, lambda a: svd_ref(a)[2]),
    "geev_values": ([UPPER], {}, lambda a: triangular_eig_ref(a)[0]),
    "geev_vectors": ([UPPER], {}, lambda a: triangular_eig_ref(a)[1]),
    "gelqf_q": ([WIDE], {}, lambda a: householder_lq(a)[0]),
    "gelqf_l": ([WIDE], {}, lambda a: householder_lq(a)[1]),
    "syevd_vectors": ([SYM], {}, lambda a: jacobi_ref(a)[0]),
    "syevd_values": ([SYM], {}, lambda a: jacobi_ref(a)[1]),
    "inverse": ([GEN], {}, lambda a: lu_ref(a)[2]),
    "logabsdet": ([GEN], {}, lambda a: lu_ref(a)[1]),
    "detsign": ([GEN], {}, lambda a: lu_ref(a)[0]),
    "argsort": ([lambda dt: RNG.integers(0, 3, (3, 5)).astype(dt)], {"axis": 1,
                                                                     "is_ascend": False},
                argsort_ref),
    "take_along_axis": ([F(3, 4), I(3, 2, high=4)], {"axis": 1}, lambda x, i, axis: loops(
        (3, 2), lambda ix: x[ix[0], i[ix]])),
    "pick": ([F(3, 4), I(3, high=4)], {"axis": 1}, lambda x, i, axis: loops(
        (3,), lambda ix: x[ix[0], i[ix]])),
    "scatter_add_along_axis": ([F(3, 2), I(3, 2, high=4)], {"axis": 1, "size": 4},
                               lambda x, i, axis, size: loops((3, 4), lambda ix: sum(
                                   x[ix[0], k] for k in range(2) if i[ix[0], k] == ix[1]))),
    "cumsum": ([F(3, 4)], {"axis": 1, "reverse": True}, cumsum_ref),
    "prod": ([F(2, 3, 2)], {"axes": (0, 2)}, prod_ref),
    "gather_nd": ([F(4, 3, 2), I(2, 5, high=3)], {}, gather_nd_ref),
    "scatter_nd_add": ([F(5, 2), I(2, 5, high=3)], {"shape": (3, 3, 2)}, scatter_nd_ref),
    "check_index": ([F(3, 4)], {"of": "t", "what": "x", "why": "w", "lo": (-2, -3, -2),
                                "hi": (2, 2, 3), "truncate": True}, lambda x, **attrs: x),
    "pad": ([F(2, 3, 4)], {"pad_width": (0, 0, 1, 2, 2, 1), "mode": "reflect"}, pad_ref),
    "pad_adjoint": ([F(2, 6, 7)], {"pad_width": (0, 0, 1, 2, 2, 1), "shape": (2, 3, 4),
                                   "mode": "edge"}, pad_adjoint_ref),
    "potrf": ([SPD], {}, cholesky_ref),
    "trsm": ([TRI, F(2, 3)], {"rightside": True, "transpose": True, "lower": False,
                              "alpha": 0.5}, trsm_ref),
})
WINDOW = {"kernel": (2, 3), "stride": (2, 1), "dilate": (1, 2), "pad_lo": (1, 0),
          "pad_hi": (2, -1)}


def im2col_ref(x, kernel, stride, dilate, pad_lo, pad_hi, pad_value=0.0):
    """out[c, ki, kj, n, oi, oj] = x[n, c, oi*s + ki*d - lo, ...] or pad_value outside x."""
    out = [(n + lo + hi - d * (k - 1) - 1) // s + 1 for n, k, s, d, lo, hi in
           zip(x.shape[2:], kernel, stride, dilate, pad_lo, pad_hi)]

    def at(ix):
        c, k, n, o = ix[0], ix[1:3], ix[3], ix[4:]
        pos = [oo * s + kk * d - lo for oo, kk, s, d, lo in zip(o, k, stride, dilate, pad_lo)]
        inside = all(0 <= p < m for p, m in zip(pos, x.shape[2:]))
        return x[n, c, pos[0], pos[1]] if inside else pad_value
    return loops((x.shape[1],) + tuple(kernel) + (x.shape[0],) + tuple(out), at)


def col2im_ref(x, shape, kernel, stride, dilate, pad_lo, pad_hi):
    """Every window element added back to the position it was read from (if inside)."""
    out = np.zeros(shape)
    for ix in np.ndindex(*x.shape):
        c, k, n, o = ix[0], ix[1:3], ix[3], ix[4:]
        pos = [oo * s + kk * d - lo for oo, kk, s, d, lo in zip(o, k, stride, dilate, pad_lo)]
        if all(0 <= p < m for p, m in zip(pos, shape[2:])):
            out[n, c, pos[0], pos[1]] += x[ix]
    return out


CASES.update({
    "im2col": ([F(2, 3, 6, 7)], {**WINDOW, "pad_value": -1.5}, im2col_ref),
    "col2im": ([F(3, 2, 3, 2, 4, 2)], {**WINDOW, "shape": (2, 3, 6, 7)}, col2im_ref),
})
PRIMITIVES = sorted(n for n, op in REGISTRY.items()
                    if op.__module__.startswith("tracegrad.ir.ops") and not op.has(RANDOM))


def test_every_primitive_has_a_reference():
    assert sorted(CASES) == PRIMITIVES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_impl_matches_reference_and_infer(name, dtype):
    op = REGISTRY[name]
    gens, attrs, ref = CASES[name]
    arrays = [g(dtype) for g in gens]
    if name == "constant":
        attrs = {**attrs, "dtype": {np.float32: "f32", np.float64: "f64"}[dtype]}
    out = op.impl(*arrays, **attrs)
    assert type(out) is np.ndarray
    assert type_of(out) == op.infer(*(type_of(a) for a in arrays), **attrs)
    want = ref(*arrays, **attrs)
    assert out.shape == np.shape(want)
    tol = 1e-6 if out.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out.astype(np.float64), want, rtol=tol, atol=tol)


# ---------------------------------------------------------------- infer == type of impl

ODD_SHAPES = [(), (1,), (0, 3), (2, 1, 3), (4, 0)]
PAIRS = [((0, 3), (1, 3)), ((2, 1), (1, 0)), ((), (3,)), ((1,), ()), ((2, 1, 3), (4, 1)),
         ((1, 1), (1, 1))]
ARGS = {"sum": [{"axes": (0,)}, {"axes": ()}], "max": [{"axes": (), "keepdims": True}],
        "min": [{"axes": ()}], "broadcast_to": None, "reshape": None, "transpose": None,
        "expand_dims": None, "slice": None}


def _sample(shape, dtype):
    return RNG.uniform(0.5, 2.0, shape).astype(dtype)


def _check_types(name, arrays, attrs):
    op = REGISTRY[name]
    out = op.impl(*arrays, **attrs)
    assert type(out) is np.ndarray, f"{name} returned {type(out).__name__}"
    assert type_of(out) == op.infer(*(type_of(a) for a in arrays), **attrs), (name, attrs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infer_agrees_with_impl_on_odd_shapes(dtype):
    for name in UNARY:
        for shape in ODD_SHAPES:
            _check_types(name, [_sample(shape, dtype)], {})
    for name, (sa, sb) in itertools.product(BINARY, PAIRS):
        _check_types(name, [_sample(sa, dtype), _sample(sb, np.float64)], {})
        _check_types(name, [_sample(sa, dtype), np.asarray(_sample((), dtype))], {})
    for shape in ODD_SHAPES:
        x = _sample(shape, dtype)
        everything = tuple(range(len(shape)))
        _check_types("sum", [x], {"axes": everything})
        _check_types("sum", [x], {"axes": everything, "keepdims": True})
        _check_types("cast", [x], {"dtype": "i64"})
        _check_types("where", [x > 1, x, np.float64(1.0)], {})
        _check_types("broadcast_to", [x], {"shape": (2,) + shape})
        _check_types("reshape", [x], {"shape": (x.size, 1)})
        _check_types("transpose", [x], {"perm": tuple(reversed(everything))})
        _check_types("expand_dims", [x], {"axis": 0})
        _check_types("slice", [x], {"begin": (0,) * x.ndim, "end": shape, "step": (1,) * x.ndim})
        if x.size:
            _check_types("max", [x], {"axes": everything})
    _check_types("matmul", [_sample((0, 3), dtype), _sample((2, 3, 1), dtype)],
                 {"transpose_b": False})
    _check_types("matmul", [_sample((1, 4), dtype), _sample((4, 0), np.float64)], {})
    _check_types("take", [_sample((3, 0), dtype), np.zeros((2, 2), np.int64)], {"axis": 0})
    _check_types("take", [_sample((3,), dtype), np.float32(2.7)], {"axis": 0})
    _check_types("concat", [_sample((0, 2), dtype), _sample((3, 2), dtype)], {"axis": 0})


def test_integer_and_bool_rules():
    """Ints keep their width (sum of i32 stays i32), int div floors, compare gives bool."""
    i = np.array([[-7, 3], [5, 9]], dtype=np.int32)
    _check_types("sum", [i], {"axes": (0, 1)})
    assert REGISTRY["sum"].impl(i, axes=(0, 1)) == 10
    np.testing.assert_array_equal(REGISTRY["div"].impl(i, np.int32(2)), [[-4, 1], [2, 4]])
    _check_types("div", [i, np.int32(2)], {})
    _check_types("add", [i, np.asarray(1.5)], {})
    _check_types("logical_not", [i], {})
    _check_types("add", [i > 0, i < 5], {})
    _check_types("mul", [i > 0, i < 5], {})
    _check_types("maximum", [i > 0, i], {})


# ---------------------------------------------------------------- errors name the op

T = TensorType
BAD = [
    ("add", [T("f32", (3,)), T("f32", (4,))], {}, "do not broadcast"),
    ("sub", [T("bool", (3,)), T("bool", (3,))], {}, "bool"),
    ("div", [T("bool", (3,)), T("bool", ())], {}, "bool"),
    ("neg", [T("bool", (3,))], {}, "bool"),
    ("exp", [T("i32", (3,))], {}, "i32"),
    ("log", [T("i64", (3,))], {}, "i64"),
    ("where", [T("f32", (3,)), T("f32", (3,)), T("f32", (3,))], {}, "bool"),
    ("where", [T("bool", (2,)), T("f32", (3,)), T("f32", (3,))], {}, "broadcast"),
    ("cast", [T("f32", (3,))], {"dtype": "i16"}, "i16"),
    ("sum", [T("f32", (3, 4))], {"axes": (2,)}, "axes"),
    ("sum", [T("f32", (3, 4))], {"axes": (1, 0)}, "sorted"),
    ("sum", [T("bool", (3,))], {"axes": (0,)}, "bool"),
    ("max", [T("f32", (0, 4))], {"axes": (0,)}, "zero-size"),
    ("argmax", [T("f32", (3,))], {"axis": 1}, "out of range"),
    ("broadcast_to", [T("f32", (3,))], {"shape": (4,)}, "cannot broadcast"),
    ("reshape", [T("f32", (3, 4))], {"shape": (5,)}, "12 elements"),
    ("transpose", [T("f32", (3, 4))], {"perm": (0, 0)}, "permutation"),
    ("expand_dims", [T("f32", (3,))], {"axis": 3}, "out of range"),
    ("slice", [T("f32", (3,))], {"begin": (0,), "end": (4,), "step": (1,)}, "out of range"),
    ("slice", [T("f32", (3,))], {"begin": (0,), "end": (3,), "step": (0,)}, "out of range"),
    ("slice_scatter", [T("f32", (2,))], {"shape": (5,), "begin": (0,), "end": (5,),
                                         "step": (1,)}, "does not fit"),
    ("concat", [T("f32", (2, 3)), T("f64", (2, 3))], {"axis": 0}, "differ"),
    ("concat", [T("f32", (2, 3)), T("f32", (3, 3))], {"axis": 1}, "differ"),
    ("one_hot", [T("i64", (2,))], {"depth": -1}, "depth >= 0"),
    ("take", [T("f32", (3,)), T("i64", (2,))], {"axis": 1}, "out of range"),
    ("scatter_add", [T("f32", (2, 3)), T("i64", (2,))], {"axis": 1, "size": 4}, "do not match"),
    ("matmul", [T("f32", (3, 4)), T("f32", (3, 4))], {}, "inner dimensions"),
    ("matmul", [T("f32", (4,)), T("f32", (4, 2))], {}, "at least 2-d"),
    ("matmul", [T("i32", (2, 2)), T("f32", (2, 2))], {}, "floating point"),
    ("matmul", [T("f32", (2, 3, 4)), T("f32", (3, 4, 2))], {}, "batch"),
    ("reshape", [T("f32", (3, 4))], {"shape": (-1, 4)}, "cannot reshape"),
    ("iota", [], {"shape": (2, 3), "axis": 0, "dtype": "i16"}, "invalid"),
    ("one_hot", [T("i64", (3,))], {"depth": 4, "dtype": "u16"}, "dtype"),
    ("im2col", [T("f32", (2, 3, 1, 4))], {**WINDOW, "pad_hi": (0, 0)}, "exceeds"),
    ("im2col", [T("f32", (3, 4, 4))], WINDOW, "spatial"),
    ("im2col", [T("f32", (2, 3, 5, 5))], {**WINDOW, "stride": (0, 1)}, "must be >= 1"),
    ("im2col", [T("f32", (2, 1, 5))], {**WINDOW, "kernel": (2,)}, "one entry per"),
    ("im2col", [T("i32", (2, 3, 5, 5))], WINDOW, "floating"),
    ("col2im", [T("f32", (3, 2, 3, 2, 4, 4))], {**WINDOW, "shape": (2, 3, 6, 7)}, "window array"),
    ("random_uniform", [T("i32", (2,))], {"shape": (3,)}, "key"),
    ("bernoulli", [T("i64", (2,))], {"shape": (3,), "p": 0.5, "dtype": "i32"}, "floating"),
]


@pytest.mark.parametrize("name,types,attrs,needle", BAD, ids=[f"{b[0]}-{i}"
                                                             for i, b in enumerate(BAD)])
def test_bad_inputs_raise_type_error_naming_the_op(name, types, attrs, needle):
    with pytest.raises(TypeError) as info:
        REGISTRY[name].infer(*types, **attrs)
    message = str(info.value)
    assert message.startswith(f"{name}: "), message
    assert needle in message, message


# ---------------------------------------------------------------- random

KAT = [  # Random123 kat_vectors, philox4x32 10: counter[4], key[2] -> output[4]
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,want", KAT)
def test_philox_known_answers(counter, key, want):
    words = philox_block(*(np.array([c], dtype=np.uint64) for c in counter), *key)
    assert tuple(int(w[0]) for w in words) == want


def test_philox_element_counter_layout():
    """Element i of a draw uses counter (i_lo, i_hi, ctr_lo, ctr_hi) and key (seed_lo, seed_hi)."""
    seed, ctr = 0x299F31D0A4093822, 0x0370734413198A2E
    words = philox(seed, ctr, 3)
    for i in range(3):
        one = philox_block(*(np.array([c], dtype=np.uint64) for c in
                             (i, 0, ctr & 0xFFFFFFFF, ctr >> 32)), seed & 0xFFFFFFFF, seed >> 32)
        assert [int(w[i]) for w in words] == [int(w[0]) for w in one]


@pytest.mark.parametrize("counter,key,want", KAT)
def test_philox_on_python_ints_known_answers(counter, key, want):
    assert philox_ints(*counter, *key) == want


def test_a_draw_of_a_few_elements_equals_the_array_rounds():
    """philox computes draws of up to _FEW elements on Python ints: the same words, for seeds
    and counters with their high words set."""
    rs = np.random.RandomState(3)
    for _ in range(40):
        seed, ctr = (int(v) for v in rs.randint(0, 2 ** 63, 2, dtype=np.int64))
        seed, ctr = seed | int(rs.randint(0, 2)) << 63, ctr | int(rs.randint(0, 2)) << 63
        n = int(rs.randint(1, _FEW + 1))
        idx = np.arange(n, dtype=np.uint64)
        want = philox_block(idx, np.zeros(n, np.uint64), np.full(n, ctr & 0xFFFFFFFF, np.uint64),
                            np.full(n, ctr >> 32, np.uint64), seed & 0xFFFFFFFF, seed >> 32)
        got = philox(seed, ctr, n)
        for g, w in zip(got, want):
            assert g.dtype == np.uint64 and np.array_equal(g, w)


def test_uniform_statistics_and_determinism():
    key = np.array([42, 7], dtype=np.int64)
    op = REGISTRY["random_uniform"]
    u = op.impl(key, shape=(300, 300), dtype="f64", low=-1.0, high=3.0)
    assert type_of(u) == op.infer(type_of(key), shape=(300, 300), dtype="f64")
    assert u.min() >= -1.0 and u.max() < 3.0
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.var() - 16 / 12) < 0.02
    hist = np.histogram(u, bins=8, range=(-1, 3))[0] / u.size
    assert np.all(np.abs(hist - 1 / 8) < 0.005)
    np.testing.assert_array_equal(u, op.impl(key, shape=(300, 300), dtype="f64", low=-1.0,
                                             high=3.0))
    other = op.impl(np.array([42, 8], dtype=np.int64), shape=(300, 300), dtype="f64")
    assert not np.array_equal(other, (u + 1) / 4)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_bernoulli_fraction(p):
    op = REGISTRY["bernoulli"]
    m = op.impl(np.array([3, 1], dtype=np.int64), shape=(300, 300), p=p, dtype="f32")
    assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    assert abs(m.mean() - p) <= 0.01


def test_normal_statistics():
    op = REGISTRY["random_normal"]
    z = op.impl(np.array([5, 0], dtype=np.int64), shape=(200, 200), dtype="f32", loc=1.0,
                scale=2.0)
    assert z.dtype == np.float32 and np.all(np.isfinite(z))
    assert abs(z.mean() - 1.0) < 0.03 and abs(z.std() - 2.0) < 0.03


def test_where_python_scalar_takes_the_array_dtype():
    """A Python scalar branch of where is weak (numpy's NEP 50 rule, which a trace's Literal
    follows): where(c, f32 x, 0.0) is f32 eagerly too; it was f64, so eager and compiled
    results had different dtypes."""
    import tracegrad as mx
    from tracegrad.array import F
    from tracegrad.nd import array
    where = REGISTRY["where"]
    c = np.array([True, False, True])
    for x, scalar in ((np.ones(3, np.float32), 0.0), (np.ones(3, np.float32), 2),
                      (np.ones(3, np.int32), 0.5), (np.ones(3, np.int64), 3)):
        want = np.result_type(x, scalar)
        assert where.impl(c, x, scalar).dtype == want
        assert where.impl(c, scalar, x).dtype == want
        np.testing.assert_array_equal(where.impl(c, scalar, x), np.where(c, scalar, x))
        traced = mx.jit(lambda cond, a: F.where(cond, a, scalar))(array(c, dtype=np.bool_),
                                                                   array(x, dtype=x.dtype))
        assert traced.dtype == want
