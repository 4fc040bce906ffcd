"""Random test matrices for linear-algebra ops (MXNet's test_utils generators): eigenvalue
tests need matrices whose eigenvalues are real and well separated, and solvers need
well-conditioned ones; a plain random matrix is neither."""
import numpy as np


def new_orthonormal_matrix_2d(n):
    """A random n x n orthonormal matrix (the Q of a random symmetric matrix's QR)."""
    x = np.random.randn(n, n)
    return np.linalg.qr(x.T @ x)[0]


def new_matrix_with_real_eigvals_2d(n):
    """A random n x n matrix with real eigenvalues in [-10, 10]: Q^-1 D Q with D diagonal
    and Q a reflection times a diagonal, redrawn until its 2-norm condition number is < 3."""
    while True:
        v = np.random.uniform(-1.0, 1.0, (n, 1))
        v /= np.linalg.norm(v)
        q = (np.eye(n) - 2 * v @ v.T) @ np.diag(np.random.uniform(-1.0, 1.0, n))
        if np.linalg.cond(q, 2) < 3:
            break
    return np.linalg.inv(q) @ np.diag(np.random.uniform(-10.0, 10.0, n)) @ q


def new_sym_matrix_with_real_eigvals_2d(n):
    """A random symmetric n x n matrix with eigenvalues in [-10, 10]: Q^T D Q."""
    q = new_orthonormal_matrix_2d(n)
    return q.T @ np.diag(np.random.uniform(-10.0, 10.0, n)) @ q


def _batched(make, shape):
    batch = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return np.array([make(shape[-1]) for _ in range(batch)]).reshape(shape)


def new_matrix_with_real_eigvals_nd(shape):
    """A batch of new_matrix_with_real_eigvals_2d, shape (..., n, n)."""
    return _batched(new_matrix_with_real_eigvals_2d, shape)


def new_sym_matrix_with_real_eigvals_nd(shape):
    """A batch of new_sym_matrix_with_real_eigvals_2d, shape (..., n, n)."""
    return _batched(new_sym_matrix_with_real_eigvals_2d, shape)
