"""`mx.nd.linalg`: MXNet 1.x's batched linear algebra on the last two axes.

gemm/gemm2/syrk/trmm/sumlogdiag/extractdiag/makediag/potri are composites of matmul, iota
masks, potrf and trsm, so everything here differentiates to any order (potrf and trsm are
primitives, ir/ops/lapack.py).
"""
from .array import F
from .base import MXNetError


def _check_axis(name, axis):
    if axis not in (-2,):
        raise MXNetError(f"linalg.{name}: only axis=-2 (matrices in the last two axes) is "
                         f"supported, got axis={axis}")


def gemm2(A, B, transpose_a=False, transpose_b=False, alpha=1.0, axis=-2, **kwargs):
    """alpha * op(A) op(B)."""
    _check_axis("gemm2", axis)
    out = F.matmul(A, B, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))
    return out if alpha == 1.0 else F.mul(out, float(alpha))


def gemm(A, B, C, transpose_a=False, transpose_b=False, alpha=1.0, beta=1.0, axis=-2,
         **kwargs):
    """alpha * op(A) op(B) + beta * C."""
    _check_axis("gemm", axis)
    return F.add(gemm2(A, B, transpose_a, transpose_b, alpha), F.mul(C, float(beta)))


def syrk(A, transpose=False, alpha=1.0, **kwargs):
    """alpha * A A^T (alpha * A^T A with transpose=True)."""
    out = F.matmul(A, A, transpose_a=bool(transpose), transpose_b=not transpose)
    return out if alpha == 1.0 else F.mul(out, float(alpha))


def _swap_last(x):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return F.transpose(x, perm=perm)


def potrf(A, lower=True, **kwargs):
    """The Cholesky factor of a symmetric positive definite A: L with A = L L^T (lower), or
    U = L^T with A = U^T U (lower=False)."""
    low = F.potrf(A)
    return low if lower else _swap_last(low)


def trsm(A, B, transpose=False, rightside=False, lower=True, alpha=1.0, **kwargs):
    """Solve op(A) X = alpha B (X op(A) = alpha B with rightside) for triangular A."""
    return F.trsm(A, B, transpose=bool(transpose), rightside=bool(rightside),
                  lower=bool(lower), alpha=float(alpha))


def _triangle(A, lower):
    n = A.shape[-1]
    rows, cols = F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1)
    return F.where(F.ge(rows, cols) if lower else F.le(rows, cols), A, 0.0)


def trmm(A, B, transpose=False, rightside=False, lower=True, alpha=1.0, **kwargs):
    """alpha * op(A) B (alpha * B op(A) with rightside) for triangular A."""
    t = _triangle(A, lower)
    out = F.matmul(B, t, transpose_b=bool(transpose)) if rightside else \
        F.matmul(t, B, transpose_a=bool(transpose))
    return out if alpha == 1.0 else F.mul(out, float(alpha))


def potri(A, lower=True, **kwargs):
    """(L L^T)^-1 from a Cholesky factor L (of U^T U from U with lower=False)."""
    n = A.shape[-1]
    eye = F.cast(F.eq(F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1)),
                 dtype=A.type.dtype)
    eye = F.broadcast_to(eye, shape=A.shape)
    low = A if lower else _swap_last(A)
    inv = F.trsm(low, eye, transpose=False, rightside=False, lower=True, alpha=1.0)
    return F.matmul(inv, inv, transpose_a=True)


def extractdiag(A, offset=0, **kwargs):
    """The diagonal of each matrix (offset 0 only)."""
    if offset:
        raise MXNetError("linalg.extractdiag: only offset=0 is supported")
    n = A.shape[-1]
    eye = F.eq(F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1))
    return F.sum(F.where(eye, A, 0.0), axes=(A.ndim - 1,))


def makediag(A, offset=0, **kwargs):
    """Square matrices with A's last axis on the diagonal (offset 0 only)."""
    if offset:
        raise MXNetError("linalg.makediag: only offset=0 is supported")
    n = A.shape[-1]
    eye = F.eq(F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1))
    col = F.expand_dims(A, axis=A.ndim)
    return F.where(eye, F.broadcast_to(col, shape=A.shape + (n,)), 0.0)


def sumlogdiag(A, **kwargs):
    """sum(log(diag(A))) per matrix (the log-determinant of a Cholesky factor's square)."""
    d = extractdiag(A)
    out = F.sum(F.log(d), axes=(d.ndim - 1,))
    return F.reshape(out, shape=(1,)) if out.ndim == 0 else out  # MXNet 1.x: no 0-d arrays
