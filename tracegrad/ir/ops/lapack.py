"""Dense factorisations and solves (MXNet's linalg.potrf, trsm, inverse, the LU-based
log|det| and sign(det) of det / slogdet, syevd's and gelqf's halves), batched over leading
axes. Their vjps are written in trsm, inverse, matmul and masks, so they differentiate again.
"""
import numpy as np

from ..types import FLOATS, TensorType, promote
from . import NONDIFF, VALUE_ERRORS, OpDef, fail
from .checks import SHAPES_ONLY


def _check_square(opname, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        fail(opname, f"expects square matrices in the last two axes, got {a}")
    if a.dtype not in FLOATS:
        fail(opname, f"expects floating point, got {a}")


def _mt(x):
    return np.swapaxes(x, -1, -2)


def _triangle_mask(b, like, lower):
    """A bool mask of the lower (or upper) triangle, diagonal included, for `like`'s shape."""
    n = like.shape[-1]
    rows = b.iota(shape=(n, n), axis=0)
    cols = b.iota(shape=(n, n), axis=1)
    return b.ge(rows, cols) if lower else b.le(rows, cols)


def _keep_triangle(b, x, lower):
    return b.where(_triangle_mask(b, x, lower), x, 0)


def _mT(b, x):
    perm = tuple(range(len(x.shape) - 2)) + (len(x.shape) - 1, len(x.shape) - 2)
    return b.transpose(x, perm=perm)


def _value_error(message, shape, dtype):
    """A matrix the op cannot take raises ValueError(message), except while mx.sym's shape
    inference runs ops on zeros for their result shapes (checks.SHAPES_ONLY): zeros are no
    one's values, so the result is zeros of the op's shape."""
    if SHAPES_ONLY.on:
        return np.zeros(shape, dtype)
    raise ValueError(message)


class Potrf(OpDef):
    """Lower Cholesky factor L of a symmetric positive definite A (A = L L^T). The operand is
    symmetrised ((A + A^T) / 2) first, so the gradient is the symmetric one MXNet returns and
    agrees with finite differences in every direction."""
    name = "potrf"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_square("potrf", a)
        return a

    def impl(a):
        try:
            return np.linalg.cholesky((a + _mt(a)) / 2).astype(a.dtype, copy=False)
        except np.linalg.LinAlgError:
            return _value_error("potrf: the matrix is not positive definite", a.shape, a.dtype)

    def vjp(b, g, out, a):
        # Murray (2016): S = L^-T Phi(L^T G) L^-1 with Phi = lower triangle, halved diagonal;
        # the gradient w.r.t. the symmetrised operand is (S + S^T) / 2, and so w.r.t. A.
        n = a.shape[-1]
        phi = b.matmul(out, g, transpose_a=True)
        eye = b.eq(b.iota(shape=(n, n), axis=0), b.iota(shape=(n, n), axis=1))
        phi = b.where(_triangle_mask(b, phi, True), phi, 0)
        phi = b.where(eye, b.mul(phi, 0.5), phi)
        left = b.trsm(out, phi, transpose=True, rightside=False, lower=True, alpha=1.0)
        s = b.trsm(out, left, transpose=False, rightside=True, lower=True, alpha=1.0)
        return (b.mul(b.add(s, _mT(b, s)), 0.5),)


class Trsm(OpDef):
    """X with op(A) X = alpha B (X op(A) = alpha B with rightside), op(A) = A or A^T, A
    triangular: only its lower (or upper) triangle is read."""
    name = "trsm"
    traits = frozenset({VALUE_ERRORS})
    defaults = {"transpose": False, "rightside": False, "lower": True, "alpha": 1.0}

    def infer(a, bm, *, transpose=False, rightside=False, lower=True, alpha=1.0):
        _check_square("trsm", a)
        if bm.ndim != a.ndim or bm.shape[:-2] != a.shape[:-2]:
            fail("trsm", f"B {bm} must have A's batch axes {a}")
        n = a.shape[-1]
        if (bm.shape[-1] if rightside else bm.shape[-2]) != n:
            fail("trsm", f"A {a} does not fit B {bm} (rightside={rightside})")
        if bm.dtype not in FLOATS:
            fail("trsm", f"expects floating point, got {bm}")
        return TensorType(promote(a.dtype, bm.dtype), bm.shape)

    def impl(a, bm, *, transpose=False, rightside=False, lower=True, alpha=1.0):
        t = np.tril(a) if lower else np.triu(a)
        op = _mt(t) if transpose else t
        dtype = np.result_type(a.dtype, bm.dtype)
        m, rhs = (op, alpha * bm) if not rightside else (_mt(op), alpha * _mt(bm))
        try:
            if np.isfinite(t).all() or np.float16 in (m.dtype, rhs.dtype):
                x = np.linalg.solve(m, rhs)     # (float16: refused by numpy, as by MXNet)
            else:
                x = _substitute(m, rhs, lower=(lower != transpose) != rightside)
        except np.linalg.LinAlgError:
            return _value_error("trsm: the triangular matrix is singular", bm.shape, dtype)
        return (x if not rightside else _mt(x)).astype(dtype, copy=False)

    def vjp(b, g, out, a, bm, *, transpose=False, rightside=False, lower=True, alpha=1.0):
        # left: Y = op(A)^-T G, dB = alpha Y, d op(A) = -Y X^T; right: Y = G op(A)^-T,
        # dB = alpha Y, d op(A) = -X^T Y. Then undo op() and keep A's triangle.
        y = b.trsm(a, g, transpose=not transpose, rightside=rightside, lower=lower, alpha=1.0)
        if not rightside:
            d_op = b.neg(b.matmul(y, out, transpose_b=True))
        else:
            d_op = b.neg(b.matmul(out, y, transpose_a=True))
        d_a = _mT(b, d_op) if transpose else d_op
        return _keep_triangle(b, d_a, lower), b.mul(y, alpha)


def _substitute(m, rhs, lower):
    """Y with M Y = rhs for triangular M (lower or upper), by substitution: no pivoting, so
    a matrix holding inf or NaN gives inf / NaN as the forward's solve and its adjoint's
    (with M^T) alike; np.linalg.solve's pivoting LU may instead find an exact zero pivot in
    one of the two and call a matrix singular whose diagonal has no zero. A zero on the
    diagonal is singular (LinAlgError, as solve's)."""
    n = m.shape[-1]
    diag = np.diagonal(m, axis1=-2, axis2=-1)
    if (diag == 0).any():
        raise np.linalg.LinAlgError("Singular matrix")
    y = np.zeros(np.broadcast_shapes(m.shape[:-2], rhs.shape[:-2]) + rhs.shape[-2:],
                 np.result_type(m, rhs))
    with np.errstate(all="ignore"):
        for i in (range(n) if lower else range(n - 1, -1, -1)):
            done = slice(0, i) if lower else slice(i + 1, n)
            acc = rhs[..., i, :] - np.einsum("...k,...km->...m", m[..., i, done],
                                             y[..., done, :])
            y[..., i, :] = acc / diag[..., i, None]
    return y


class Inverse(OpDef):
    """A^-1 of each square matrix. A singular matrix raises, as MXNet's getrf check does."""
    name = "inverse"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_square("inverse", a)
        return a

    def impl(a):
        try:
            return np.linalg.inv(a).astype(a.dtype, copy=False)
        except np.linalg.LinAlgError:
            return _value_error("inverse: the input matrix is singular (not invertible)",
                                a.shape, a.dtype)

    def vjp(b, g, out, a):
        # B = A^-1: dA = -B^T G B^T
        return (b.neg(b.matmul(out, b.matmul(g, out, transpose_b=True), transpose_a=True)),)


def _det_type(opname, a):
    _check_square(opname, a)
    return TensorType(a.dtype, a.shape[:-2])


def _slogdet(a):
    if a.shape[-1] == 0:  # LAPACK is not called for empty matrices: det = 1
        return np.ones(a.shape[:-2], a.dtype), np.zeros(a.shape[:-2], a.dtype)
    sign, logabs = np.linalg.slogdet(a)
    return sign.astype(a.dtype, copy=False), logabs.astype(a.dtype, copy=False)


class LogAbsDet(OpDef):
    """log|det A| per matrix, from an LU factorisation with partial pivoting (MXNet's slogdet);
    -inf for a singular matrix. Its gradient A^-T is zero where det A = 0, as in MXNet."""
    name = "logabsdet"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        return _det_type("logabsdet", a)

    def impl(a):
        return _slogdet(a)[1]

    def vjp(b, g, out, a):
        n, batch = a.shape[-1], tuple(a.shape[:-2])
        full = batch + (n, n)
        singular = b.broadcast_to(b.reshape(b.eq(b.detsign(a), 0.0), shape=batch + (1, 1)),
                                  shape=full)
        eye = b.broadcast_to(b.eq(b.iota(shape=(n, n), axis=0), b.iota(shape=(n, n), axis=1)),
                             shape=full)
        # invert the identity in place of a singular matrix: its gradient is masked to 0
        invertible = b.where(singular, b.cast(eye, dtype=a.dtype), a)
        grad = b.mul(b.reshape(g, shape=batch + (1, 1)), _mT(b, b.inverse(invertible)))
        return (b.where(singular, 0.0, grad),)


class DetSign(OpDef):
    """sign(det A) per matrix: -1, 0 (singular) or 1 (MXNet's slogdet sign; no gradient)."""
    name = "detsign"
    traits = frozenset({VALUE_ERRORS, NONDIFF})

    def infer(a):
        return _det_type("detsign", a)

    def impl(a):
        return _slogdet(a)[0]


def _eigh(a):
    """MXNet's syevd of the symmetrised operand ((A + A^T) / 2, as potrf's: A itself for the
    symmetric matrices syevd is defined on, and the gradient is then the symmetric one MXNet
    returns, agreeing with finite differences): eigenvalues ascending, eigenvectors as the
    rows of U, each row's sign set so its first entry of largest magnitude is positive.
    Computed in float64 and rounded once."""
    if a.shape[-1] == 0:
        return np.zeros(a.shape, a.dtype), np.zeros(a.shape[:-1], a.dtype)
    wide = a.astype(np.float64)
    values, vectors = np.linalg.eigh((wide + _mt(wide)) / 2)
    u = _mt(vectors)
    lead = np.take_along_axis(u, np.argmax(np.abs(u), axis=-1)[..., None], axis=-1)
    u = np.where(lead < 0, -u, u)
    return u.astype(a.dtype, copy=False), values.astype(a.dtype, copy=False)


class SyevdVectors(OpDef):
    """U of MXNet's (U, L) = syevd(A): the orthonormal eigenvectors of symmetric A as rows,
    U A = diag(L) U. Its vjp is MXNet's syevd_backward with
    dL = 0: U^T Y U, Y symmetric with Y_ij = (X_ij - X_ji) / (2 max(L_i - L_j, eps)) below
    the diagonal (X = dU U^T, eps 1e-30 / 1e-100) and 0 on it."""
    name = "syevd_vectors"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_square("syevd", a)
        return a

    def impl(a):
        return _eigh(a)[0]

    def vjp(b, g, out, a):
        n = a.shape[-1]
        eps = 1e-100 if a.dtype == "f64" else 1e-30
        x = b.matmul(g, out, transpose_b=True)
        anti = b.sub(x, _mT(b, x))
        values = b.syevd_values(a)
        nd_ = len(a.shape)
        gap = b.sub(b.expand_dims(values, axis=nd_ - 1), b.expand_dims(values, axis=nd_ - 2))
        rows, cols = b.iota(shape=(n, n), axis=0), b.iota(shape=(n, n), axis=1)
        below = b.div(anti, b.mul(b.maximum(gap, eps), 2.0))
        above = b.div(b.neg(anti), b.mul(b.maximum(b.neg(gap), eps), 2.0))
        y = b.where(b.gt(rows, cols), below, b.where(b.lt(rows, cols), above, 0.0))
        return (b.matmul(out, b.matmul(y, out), transpose_a=True),)


class SyevdValues(OpDef):
    """L of MXNet's (U, L) = syevd(A): the eigenvalues, ascending. Its vjp (MXNet's
    syevd_backward with dU = 0) is U^T diag(dL) U."""
    name = "syevd_values"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_square("syevd", a)
        return TensorType(a.dtype, a.shape[:-1])

    def impl(a):
        return _eigh(a)[1]

    def vjp(b, g, out, a):
        u = b.syevd_vectors(a)
        scaled = b.mul(u, b.expand_dims(g, axis=len(a.shape) - 1))
        return (b.matmul(scaled, u, transpose_a=True),)


def _check_lq(a):
    if a.ndim < 2 or a.shape[-2] > a.shape[-1]:
        fail("gelqf", f"expects matrices (x, y) with x <= y in the last two axes (A = L Q, "
                      f"Q with orthonormal rows), got {a}")
    if a.dtype not in ("f32", "f64"):
        fail("gelqf", f"supports float32 and float64 only (as MXNet), got {a}")


def _lq(a):
    """MXNet's gelqf (LAPACK gelqf + orglq): A = L Q with Q's rows orthonormal and L lower
    triangular, L's diagonal signs LAPACK's Householder ones. LQ of A is QR of A^T with the
    same reflectors, so numpy's QR of A^T (geqrf + orgqr) in float64 gives both, rounded once."""
    m, n = a.shape[-2], a.shape[-1]
    if a.ndim < 2 or m > n:
        raise ValueError(f"gelqf: expects matrices (x, y) with x <= y, got shape {a.shape}")
    if m == 0:
        return np.zeros(a.shape, a.dtype), np.zeros(a.shape[:-1] + (0,), a.dtype)
    q, r = np.linalg.qr(_mt(a.astype(np.float64)), mode="reduced")
    return _mt(q).astype(a.dtype, copy=False), _mt(r).astype(a.dtype, copy=False)


def _gelqf_vjp(b, g_q, g_l, q, low):
    """MXNet's gelqf_backward: dA = L^-T (dQ + copyLTU(M) Q), M = L^T dL - dQ Q^T, where
    copyLTU mirrors M's lower triangle onto its upper one. dQ or dL may be None (zero)."""
    n = low.shape[-1]
    m = None
    if g_l is not None:
        m = b.matmul(low, g_l, transpose_a=True)
    if g_q is not None:
        m_q = b.neg(b.matmul(g_q, q, transpose_b=True))
        m = m_q if m is None else b.add(m, m_q)
    rows, cols = b.iota(shape=(n, n), axis=0), b.iota(shape=(n, n), axis=1)
    sym = b.where(b.ge(rows, cols), m, _mT(b, m))
    y = b.matmul(sym, q)
    if g_q is not None:
        y = b.add(y, g_q)
    return b.trsm(low, y, transpose=True, rightside=False, lower=True, alpha=1.0)


class GelqfQ(OpDef):
    """Q of MXNet's (Q, L) = gelqf(A): A's shape, orthonormal rows. Its vjp is gelqf_backward
    with dL = 0."""
    name = "gelqf_q"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_lq(a)
        return a

    def impl(a):
        return _lq(a)[0]

    def vjp(b, g, out, a):
        return (_gelqf_vjp(b, g, None, out, b.gelqf_l(a)),)


class GelqfL(OpDef):
    """L of MXNet's (Q, L) = gelqf(A): (..., x, x), lower triangular. Its vjp is
    gelqf_backward with dQ = 0 (dL's upper triangle does not reach dA)."""
    name = "gelqf_l"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_lq(a)
        return TensorType(a.dtype, a.shape[:-1] + (a.shape[-2],))

    def impl(a):
        return _lq(a)[1]

    def vjp(b, g, out, a):
        return (_gelqf_vjp(b, None, g, b.gelqf_q(a), out),)
