"""`mx.nd.linalg`: MXNet 1.x's batched linear algebra on the last two axes.

gemm/gemm2/syrk/trmm/sumlogdiag/extractdiag/makediag/extracttrian/maketrian/potri/det/slogdet
are composites of matmul, iota masks, take, potrf, trsm and the LU-based logabsdet / detsign,
so everything here differentiates to any order (potrf, trsm, inverse, logabsdet, detsign and
syevd's and gelqf's two halves are primitives, ir/ops/lapack.py).
"""
import math

import numpy as np

from .array import F
from .base import MXNetError
from .ir.types import dtype_name
from .op_kwargs import redo as _redo


def gemm2(A, B, transpose_a=False, transpose_b=False, alpha=1.0, axis=-2, **kwargs):
    """alpha * op(A) op(B); `axis` is the matrices' row axis (their columns the last axis,
    every other axis a batch one, as MXNet's)."""
    if kwargs:
        return _redo(gemm2, locals())
    axis = _row_axis("gemm2", axis, A, B)
    A, B = _rows_second_last(A, axis), _rows_second_last(B, axis)
    out = F.matmul(A, B, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))
    out = out if alpha == 1.0 else F.mul(out, float(alpha))
    return _rows_back(out, axis)


def gemm(A, B, C, transpose_a=False, transpose_b=False, alpha=1.0, beta=1.0, axis=-2,
         **kwargs):
    """alpha * op(A) op(B) + beta * C (`axis`: the matrices' row axis, as gemm2's)."""
    if kwargs:
        return _redo(gemm, locals())
    _row_axis("gemm", axis, A, B, C)
    return F.add(gemm2(A, B, transpose_a, transpose_b, alpha, axis), F.mul(C, float(beta)))


def _row_axis(name, axis, *arrays):
    """`axis` as a non-negative row axis of the operands (all of one rank), before the last
    (the columns')."""
    ndim = arrays[0].ndim
    if any(a.ndim != ndim for a in arrays) or ndim < 2:
        raise MXNetError(f"linalg.{name}: operands of shapes "
                         f"{[tuple(a.shape) for a in arrays]} must be of one rank, at least 2")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
            not -ndim <= axis < ndim - 1:
        raise MXNetError(f"linalg.{name}: axis={axis!r} must be a row axis before the last "
                         f"of the {ndim}-d operands (-{ndim} .. {ndim - 2})")
    return int(axis) % ndim


def _rows_second_last(x, axis):
    if axis == x.ndim - 2:
        return x
    perm = tuple(k for k in range(x.ndim - 1) if k != axis) + (axis, x.ndim - 1)
    return F.transpose(x, perm=perm)


def _rows_back(x, axis):
    if axis == x.ndim - 2:
        return x
    perm = list(range(x.ndim - 2))
    perm.insert(axis, x.ndim - 2)
    return F.transpose(x, perm=tuple(perm) + (x.ndim - 1,))


def syrk(A, transpose=False, alpha=1.0, **kwargs):
    """alpha * A A^T (alpha * A^T A with transpose=True)."""
    if kwargs:
        return _redo(syrk, locals())
    out = F.matmul(A, A, transpose_a=bool(transpose), transpose_b=not transpose)
    return out if alpha == 1.0 else F.mul(out, float(alpha))


def _swap_last(x):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return F.transpose(x, perm=perm)


def potrf(A, lower=True, **kwargs):
    """The Cholesky factor of a symmetric positive definite A: L with A = L L^T (lower), or
    U = L^T with A = U^T U (lower=False)."""
    if kwargs:
        return _redo(potrf, locals())
    low = F.potrf(A)
    return low if lower else _swap_last(low)


def trsm(A, B, transpose=False, rightside=False, lower=True, alpha=1.0, **kwargs):
    """Solve op(A) X = alpha B (X op(A) = alpha B with rightside) for triangular A."""
    if kwargs:
        return _redo(trsm, locals())
    return F.trsm(A, B, transpose=bool(transpose), rightside=bool(rightside),
                  lower=bool(lower), alpha=float(alpha))


def _triangle(A, lower):
    n = A.shape[-1]
    rows, cols = F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1)
    return F.where(F.ge(rows, cols) if lower else F.le(rows, cols), A, 0.0)


def trmm(A, B, transpose=False, rightside=False, lower=True, alpha=1.0, **kwargs):
    """alpha * op(A) B (alpha * B op(A) with rightside) for triangular A."""
    if kwargs:
        return _redo(trmm, locals())
    t = _triangle(A, lower)
    out = F.matmul(B, t, transpose_b=bool(transpose)) if rightside else \
        F.matmul(t, B, transpose_a=bool(transpose))
    return out if alpha == 1.0 else F.mul(out, float(alpha))


def potri(A, lower=True, **kwargs):
    """(L L^T)^-1 from a Cholesky factor L (of U^T U from U with lower=False)."""
    if kwargs:
        return _redo(potri, locals())
    n = A.shape[-1]
    eye = F.cast(F.eq(F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1)),
                 dtype=A.type.dtype)
    eye = F.broadcast_to(eye, shape=A.shape)
    low = A if lower else _swap_last(A)
    inv = F.trsm(low, eye, transpose=False, rightside=False, lower=True, alpha=1.0)
    return F.matmul(inv, inv, transpose_a=True)


def _diagonal_mask(n, offset):
    """n x n booleans: True where the column is the row plus `offset`."""
    return F.eq(F.add(F.iota(shape=(n, n), axis=0), offset), F.iota(shape=(n, n), axis=1))


def _square_offset(who, A, offset):
    """(n, offset) of A's n x n matrices, an offset diagonal of which an extraction reads."""
    n, k = A.shape[-1], int(offset)
    if A.ndim < 2 or A.shape[-2] != n or abs(k) >= n:
        raise MXNetError(f"linalg.{who}: needs square matrices and |offset| < {n}, got "
                         f"shape {A.shape} and offset {k}")
    return n, k


def extractdiag(A, offset=0, **kwargs):
    """The `offset`-th diagonal of each square matrix (above the main one when positive)."""
    if kwargs:
        return _redo(extractdiag, locals())
    n, k = _square_offset("extractdiag", A, offset)
    rows = F.sum(F.where(_diagonal_mask(n, k), A, 0.0), axes=(A.ndim - 1,))
    if k == 0:
        return rows
    lo, hi = max(0, -k), n - max(0, k)
    return F.slice(rows, begin=(0,) * (rows.ndim - 1) + (lo,), end=rows.shape[:-1] + (hi,),
                   step=(1,) * rows.ndim)


def makediag(A, offset=0, **kwargs):
    """Square matrices with A's last axis on their `offset`-th diagonal (size m + |offset|)."""
    if kwargs:
        return _redo(makediag, locals())
    k = int(offset)
    m = A.shape[-1]
    n = m + abs(k)
    values = A
    if k:
        pad = F.constant(value=0.0, shape=A.shape[:-1] + (abs(k),), dtype=dtype_name(A.dtype))
        values = F.concat(A, pad, axis=A.ndim - 1)
    # the value of entry (i, i + k) is A[i] above the main diagonal, A[i + k] below it
    spread = F.expand_dims(values, axis=A.ndim if k >= 0 else A.ndim - 1)
    return F.where(_diagonal_mask(n, k), F.broadcast_to(spread, shape=A.shape[:-1] + (n, n)),
                   0.0)


def _trian_positions(n, offset, lower):
    """Flat positions in an n x n matrix of the triangle's entries, in MXNet's CopyTrian order:
    the lower one (offset < 0, or 0 with lower) row by row, the upper one column by column
    (its kernel reads it in transposed coordinates)."""
    k = abs(offset)
    upper = offset > 0 or (offset == 0 and not lower)
    pos = []
    for r in range(k, n):                  # the row of the (transposed) lower triangle
        for c in range(r - k + 1):
            pos.append(c * n + r if upper else r * n + c)
    return np.array(pos, np.int64)


def extracttrian(A, offset=0, lower=True, **kwargs):
    """The triangle of each square matrix (the lower one for offset < 0 or 0 with lower, the
    upper one otherwise; |offset| diagonals away from the main one) as a vector of
    m (m + 1) / 2 entries, m = n - |offset|, in MXNet's order (_trian_positions)."""
    if kwargs:
        return _redo(extracttrian, locals())
    n, k = _square_offset("extracttrian", A, offset)
    from .nd import array
    flat = F.reshape(A, shape=A.shape[:-2] + (n * n,))
    return F.take(flat, array(_trian_positions(n, k, bool(lower)), dtype=np.int64),
                  axis=A.ndim - 2)


def maketrian(A, offset=0, lower=True, **kwargs):
    """Square matrices of size m + |offset| holding A's last axis (m (m + 1) / 2 entries) in
    the triangle extracttrian reads, zeros elsewhere."""
    if kwargs:
        return _redo(maketrian, locals())
    t, k = A.shape[-1], int(offset)
    m = int(math.floor(0.5 + (math.sqrt(8 * t + 1) - 1.0) * 0.5))
    if A.ndim < 1 or m * (m + 1) // 2 != t:
        raise MXNetError(f"linalg.maketrian: the last axis of shape {A.shape} holds no "
                         f"triangle (m (m + 1) / 2 entries)")
    n = m + abs(k)
    source = np.zeros(n * n, np.int64)          # the entry each matrix position reads
    inside = np.zeros(n * n, np.bool_)
    pos = _trian_positions(n, k, bool(lower))
    source[pos], inside[pos] = np.arange(len(pos)), True
    from .nd import array
    picked = F.take(A, array(source, dtype=np.int64), axis=A.ndim - 1)
    out = F.where(array(inside, dtype=np.bool_), picked, 0.0)
    return F.reshape(out, shape=A.shape[:-1] + (n, n))


def sumlogdiag(A, **kwargs):
    """sum(log(diag(A))) per matrix (the log-determinant of a Cholesky factor's square)."""
    if kwargs:
        return _redo(sumlogdiag, locals())
    d = extractdiag(A)
    out = F.sum(F.log(d), axes=(d.ndim - 1,))
    return F.reshape(out, shape=(1,)) if out.ndim == 0 else out  # MXNet 1.x: no 0-d arrays


def _per_matrix(x):
    """MXNet 1.x gives one value per matrix, and shape (1,) (no 0-d arrays) for one matrix."""
    return F.reshape(x, shape=(1,)) if x.ndim == 0 else x


def inverse(A, **kwargs):
    """A^-1 per square matrix in the last two axes; a singular matrix raises (as MXNet)."""
    if kwargs:
        return _redo(inverse, locals())
    return F.inverse(A)


def det(A, **kwargs):
    """det(A) per matrix, as MXNet computes it: sign(det) * exp(log|det|) from an LU
    factorisation; 0 for a singular matrix, whose gradient is 0 (MXNet backpropagates none)."""
    if kwargs:
        return _redo(det, locals())
    return _per_matrix(F.mul(F.detsign(A), F.exp(F.logabsdet(A))))


def slogdet(A, **kwargs):
    """(sign(det A), log|det A|) per matrix: (0, -inf) for a singular one. Only log|det| has a
    gradient, A^-T, and it is 0 for a singular matrix (as MXNet)."""
    if kwargs:
        return _redo(slogdet, locals())
    return _per_matrix(F.detsign(A)), _per_matrix(F.logabsdet(A))


def syevd(A, **kwargs):
    """(U, L): the symmetric eigendecomposition U A = diag(L) U of each matrix, the
    eigenvectors as U's rows (each row's largest entry positive), L ascending. Gradients
    are MXNet's, defined for distinct eigenvalues."""
    if kwargs:
        return _redo(syevd, locals())
    return F.syevd_vectors(A), F.syevd_values(A)


def gelqf(A, **kwargs):
    """(Q, L): the LQ factorization A = L Q of each (x, y) matrix, x <= y: Q (x, y) with
    orthonormal rows, L (x, x) lower triangular with LAPACK's signs (MXNet's). Gradients are
    MXNet's gelqf_backward, defined for full-rank A."""
    if kwargs:
        return _redo(gelqf, locals())
    if A.ndim < 2 or A.shape[-2] > A.shape[-1]:
        raise MXNetError(f"linalg.gelqf: A must have shape (..., x, y) with x <= y (the last "
                         f"dimension >= the second to last), got {tuple(A.shape)}")
    if np.dtype(A.dtype) not in (np.float32, np.float64):
        raise MXNetError(f"linalg.gelqf: supports float32 and float64 only, got {A.dtype}")
    return F.gelqf_q(A), F.gelqf_l(A)
