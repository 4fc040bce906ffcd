"""LAPACK primitives beyond lapack.py, for `mx.np.linalg`: MXNet's gesvd (svd's three outputs,
one op each as gelqf's halves are, with MXNet's gesvd_backward as their vjps) and the general
eigenproblem (eig / eigvals, which MXNet does not differentiate: NONDIFF)."""
import numpy as np

from . import NONDIFF, VALUE_ERRORS, OpDef, fail
from ..types import FLOATS, TensorType


def _mt(x):
    return np.swapaxes(x, -1, -2)


def _bT(b, x):
    n = len(x.shape)
    return b.transpose(x, perm=tuple(range(n - 2)) + (n - 1, n - 2))


# ---------------------------------------------------------------------- gesvd
def _check_wide(opname, a):
    if a.ndim < 2 or a.shape[-2] > a.shape[-1]:
        fail(opname, f"expects matrices (M, N) with M <= N in the last two axes, got {a}")
    if a.dtype not in ("f32", "f64"):
        fail(opname, f"supports float32 and float64 only (as MXNet), got {a}")


def _gesvd(a):
    """(UT, L, V) with A = UT diag(L) V, L descending, as MXNet's gesvd: computed in float64
    and rounded once; each row of V (and the matching column of UT) signed so that the row's
    first entry of largest magnitude is positive (MXNet's GesvdVecSign)."""
    m, n = a.shape[-2], a.shape[-1]
    if m > n:
        raise ValueError(f"gesvd: expects M <= N, got shape {a.shape}")
    if a.size == 0:
        return (np.zeros(a.shape[:-1] + (m,), a.dtype), np.zeros(a.shape[:-1], a.dtype),
                np.zeros(a.shape, a.dtype))
    try:
        ut, l, v = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    except np.linalg.LinAlgError:
        raise ValueError("gesvd: the SVD did not converge") from None
    lead = np.take_along_axis(v, np.argmax(np.abs(v), axis=-1)[..., None], axis=-1)
    sign = np.where(lead < 0, -1.0, 1.0)            # (..., M, 1), one per row of V
    v = v * sign
    ut = ut * _mt(sign)
    return ut.astype(a.dtype), l.astype(a.dtype), v.astype(a.dtype)


def _gesvd_vjp(b, a, g_ut, g_l, g_v, ut, l, v):
    """MXNet's gesvd_backward (arXiv 1710.08717): dA = UT (diag(1/L) dV + X V), where X's
    off-diagonal entries are X_ij = E_ij L_j with E_ij = (Z_ij - Z_ji) / (L_i - L_j) /
    (L_i + L_j) (i < j, mirrored), Z = diag(1/L) dV V^T diag(L) + dUT^T UT, and X_ii =
    dL_i - (diag(1/L) dV V^T)_ii. Divisors are clamped at eps (1e-30 / 1e-100) as MXNet's.
    Any cotangent may be None (zero); the result is linear in them."""
    nd, m = len(a.shape), a.shape[-2]
    eps = 1e-100 if a.dtype == "f64" else 1e-30
    rows, cols = b.iota(shape=(m, m), axis=0), b.iota(shape=(m, m), axis=1)
    eye, upper = b.eq(rows, cols), b.lt(rows, cols)
    l_i, l_j = b.expand_dims(l, axis=nd - 1), b.expand_dims(l, axis=nd - 2)
    z = scaled = diag = None
    if g_v is not None:
        scaled = b.mul(g_v, b.expand_dims(b.div(1.0, b.maximum(l, eps)), axis=nd - 1))
        p = b.matmul(scaled, v, transpose_b=True)
        diag = b.neg(p)
        z = b.mul(p, l_j)
    if g_ut is not None:
        q = b.matmul(g_ut, ut, transpose_a=True)
        z = q if z is None else b.add(z, q)
    if g_l is not None:
        dl = b.expand_dims(g_l, axis=nd - 2)
        diag = dl if diag is None else b.add(diag, dl)
    x = None
    if z is not None:
        anti = b.sub(z, _bT(b, z))
        pair = b.where(upper, anti, b.neg(anti))          # Z_ij - Z_ji taken with i < j
        gap = b.sub(l_i, l_j)
        gap = b.where(upper, gap, b.neg(gap))
        e = b.div(b.div(pair, b.maximum(gap, eps)), b.maximum(b.add(l_i, l_j), eps))
        x = b.where(eye, 0.0, b.mul(e, l_j))
    if diag is not None:
        d = b.where(eye, diag, 0.0)
        x = d if x is None else b.add(x, d)
    inner = None if x is None else b.matmul(x, v)
    if scaled is not None:
        inner = scaled if inner is None else b.add(inner, scaled)
    return b.matmul(ut, inner)


class GesvdUT(OpDef):
    """UT of MXNet's (UT, L, V) = svd(A), A (..., M, N) with M <= N: (..., M, M) orthogonal,
    its columns the left singular vectors. vjp: gesvd_backward with dL = dV = 0."""
    name = "gesvd_ut"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_wide("gesvd", a)
        return TensorType(a.dtype, a.shape[:-1] + (a.shape[-2],))

    def impl(a):
        return _gesvd(a)[0]

    def vjp(b, g, out, a):
        return (_gesvd_vjp(b, a, g, None, None, out, b.gesvd_l(a), b.gesvd_v(a)),)


class GesvdL(OpDef):
    """L of MXNet's (UT, L, V) = svd(A): the singular values (..., M), descending. vjp:
    UT diag(dL) V."""
    name = "gesvd_l"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_wide("gesvd", a)
        return TensorType(a.dtype, a.shape[:-1])

    def impl(a):
        return _gesvd(a)[1]

    def vjp(b, g, out, a):
        return (_gesvd_vjp(b, a, None, g, None, b.gesvd_ut(a), out, b.gesvd_v(a)),)


class GesvdV(OpDef):
    """V of MXNet's (UT, L, V) = svd(A): (..., M, N), orthonormal rows (the right singular
    vectors). vjp: gesvd_backward with dUT = dL = 0."""
    name = "gesvd_v"
    traits = frozenset({VALUE_ERRORS})

    def infer(a):
        _check_wide("gesvd", a)
        return a

    def impl(a):
        return _gesvd(a)[2]

    def vjp(b, g, out, a):
        return (_gesvd_vjp(b, a, None, None, g, b.gesvd_ut(a), b.gesvd_l(a), out),)


# ---------------------------------------------------------------------- geev
def _check_square(opname, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        fail(opname, f"expects square matrices in the last two axes, got {a}")
    if a.dtype not in FLOATS:
        fail(opname, f"expects floating point, got {a}")


def _geev(a, vectors):
    """numpy's (LAPACK geev's) eigenvalues / right eigenvectors in float64, rounded once;
    complex eigenvalues are refused, as MXNet refuses them (|imag| > 1e-15)."""
    n = a.shape[-1]
    if a.size == 0:
        return np.zeros(a.shape[:-1], a.dtype), np.zeros(a.shape, a.dtype)
    try:
        w, v = np.linalg.eig(a.astype(np.float64)) if vectors else \
            (np.linalg.eigvals(a.astype(np.float64)), None)
    except np.linalg.LinAlgError:
        raise ValueError("geev: the QR algorithm failed to compute all the eigenvalues") \
            from None
    if np.iscomplexobj(w):
        if np.any(np.abs(w.imag) > 1e-15):
            raise ValueError(f"geev: complex eigenvalues are unsupported (as MXNet's "
                             f"linalg.eig / eigvals), got some of {n}x{n} matrices")
        w = w.real
        v = None if v is None else v.real
    return w.astype(a.dtype), (None if v is None else v.astype(a.dtype))


class GeevValues(OpDef):
    """The eigenvalues of general square real matrices (MXNet's eigvals / eig's w), unordered
    as LAPACK returns them; with `vectors`, from the same geev call as geev_vectors' (so in
    their order). NONDIFF: MXNet registers no gradient for eig / eigvals."""
    name = "geev_values"
    traits = frozenset({VALUE_ERRORS, NONDIFF})
    defaults = {"vectors": False}

    def infer(a, *, vectors=False):
        _check_square("geev", a)
        return TensorType(a.dtype, a.shape[:-1])

    def impl(a, *, vectors=False):
        return _geev(a, bool(vectors))[0]


class GeevVectors(OpDef):
    """The unit right eigenvectors (as columns, v[..., :, i] for w[..., i]) of general square
    real matrices (MXNet's eig's v). NONDIFF, as MXNet's eig."""
    name = "geev_vectors"
    traits = frozenset({VALUE_ERRORS, NONDIFF})

    def infer(a):
        _check_square("geev", a)
        return a

    def impl(a):
        return _geev(a, True)[1]
