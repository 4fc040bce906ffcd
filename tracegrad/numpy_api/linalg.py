"""`mx.np.linalg`: norm as composites of registered ops; the rest over tracegrad.linalg and
the LAPACK primitives (potrf, inverse, syevd, gesvd, geev: ir/ops/lapack*.py).

The factorisations keep MXNet 1.9.1's conventions: svd returns (ut, s, v) with a = ut diag(s)
v for M <= N, eigh / eigvalsh read one triangle (UPLO), eig / eigvals refuse complex results.
svd, cholesky, solve, tensorinv, tensorsolve, pinv, eigh and eigvalsh differentiate (svd with
MXNet's gesvd_backward, the rest as compositions; MXNet 1.9.1 registers zero gradients for
pinv, eigh and eigvalsh, these are the true ones); eig and eigvals have none (zeros, as MXNet's).
float32 stays float32, float16 is refused and other dtypes compute in float64, as MXNet's numpy
linalg operators type their results."""
import numpy as onp

from ..array import F
from ..base import MXNetError
from .functions import _arr, _axes, _float, sqrt, sum
from .ndarray import _F32, _F64, as_np, dtype_of

__all__ = ["norm", "svd", "cholesky", "inv", "det", "slogdet", "solve", "tensorinv",
           "tensorsolve", "pinv", "eigvals", "eig", "eigvalsh", "eigh"]


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (ord None/2, 1, inf, -inf, 0 or any p) over one axis, the Frobenius norm
    over two (ord None or 'fro'); axis None with ord None: the 2-norm of all elements."""
    x = _float(_arr("linalg.norm", x))
    if isinstance(ord, str) and ord in ("inf", "-inf"):   # MXNet's spellings of +-inf
        ord = float(ord)
    if axis is None and ord is not None and x.ndim > 2:
        raise MXNetError(f"linalg.norm: improper number of dimensions to norm ({x.ndim}) for "
                         f"ord={ord!r}")
    axes = _axes("linalg.norm", axis, x.ndim)
    if ord is None or ord == "fro" and len(axes) == 2:
        return sqrt(sum(as_np(F.mul(x, x)), axis=axes, keepdims=keepdims))
    if len(axes) == 2:    # (rows and columns in the order given: _axes sorts them)
        if axis is not None:
            axes = tuple(int(a) % x.ndim for a in axis)
        return _matrix_norm(x, ord, axes, bool(keepdims))
    if len(axes) != 1:
        if axis is None and x.ndim == 1:
            axes = (0,)
        else:
            raise MXNetError(f"linalg.norm: ord={ord!r} over axes {axes}: improper number of "
                             f"axes")
    a = F.abs(x)
    kd = bool(keepdims)
    if ord == onp.inf:
        return as_np(F.max(a, axes=axes, keepdims=kd))
    if ord == -onp.inf:
        return as_np(F.min(a, axes=axes, keepdims=kd))
    if ord == 0:
        return as_np(F.sum(F.cast(F.ne(x, 0), dtype=x.type.dtype), axes=axes, keepdims=kd))
    if ord == 1:
        return as_np(F.sum(a, axes=axes, keepdims=kd))
    if ord == 2:
        return sqrt(sum(as_np(F.mul(x, x)), axis=axes, keepdims=kd))
    if isinstance(ord, str):
        raise MXNetError(f"linalg.norm: invalid norm order {ord!r} for vectors")
    p = float(ord)
    return as_np(F.pow(F.sum(F.pow(a, p), axes=axes, keepdims=kd), 1.0 / p))


def _matrix_norm(x, ord, axes, keepdims):
    """The matrix norms over axes (row, col): 1 / -1 the largest / smallest column sum of
    |x|, inf / -inf (or MXNet's 'inf' / '-inf') the row sums', 2 / -2 the largest / smallest
    singular value, 'nuc' their sum."""
    row, col = axes
    ord = {"inf": onp.inf, "-inf": -onp.inf}.get(ord, ord) if isinstance(ord, str) else ord
    if ord in (1, -1, onp.inf, -onp.inf):
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        sums = F.sum(F.abs(x), axes=(summed,), keepdims=True)
        pick = F.max if ord > 0 else F.min
        out = pick(sums, axes=(other,), keepdims=True)
    elif ord in (2, -2, "nuc"):
        rest = [i for i in range(x.ndim) if i not in axes]
        m = F.transpose(x, perm=tuple(rest) + (row, col))
        if m.shape[-2] > m.shape[-1]:       # (gesvd wants M <= N: the transpose's values)
            m = _swap(m)
        values = F.gesvd_l(m)
        reduce = F.sum if ord == "nuc" else F.max if ord == 2 else F.min
        out = reduce(values, axes=(values.ndim - 1,), keepdims=False)
        for ax in sorted(axes):            # (back in place: size-1 axes where keepdims)
            out = F.expand_dims(out, axis=ax)
    else:
        raise MXNetError(f"linalg.norm: invalid norm order {ord!r} for matrices")
    return as_np(out if keepdims else F.reshape(out, shape=tuple(
        d for i, d in enumerate(x.shape) if i not in axes)))


def inv(a):
    from .. import nd
    return as_np(nd.linalg.inverse(_float(_arr("linalg.inv", a))))


def _batch(x, a):
    """A per-matrix result shaped a.shape[:-2], numpy's (nd.linalg gives a 2-d a's as (1,))."""
    return as_np(F.reshape(x, shape=tuple(a.shape[:-2])))


def det(a):
    from .. import nd
    a = _float(_arr("linalg.det", a))
    _square("det", a)
    return _batch(nd.linalg.det(a), a)


def slogdet(a):
    from .. import nd
    a = _float(_arr("linalg.slogdet", a))
    _square("slogdet", a)
    sign, logabs = nd.linalg.slogdet(a)
    return _batch(sign, a), _batch(logabs, a)


# ---------------------------------------------------------------------- MXNet's np.linalg
def _operand(fname, x):
    """x as a float32 or float64 operand: MXNet's numpy linalg keeps float32, refuses float16
    and computes every other dtype in float64."""
    x = _arr(f"linalg.{fname}", x)
    dt = dtype_of(x)
    if dt == onp.float16:
        raise MXNetError(f"linalg.{fname}: array type float16 is unsupported in linalg")
    return x if dt in (_F32, _F64) else F.cast(x, dtype="f64")


def _pair(fname, a, b):
    """a and b in one dtype: float32 when both are float32, else float64 (MXNet's solve)."""
    a, b = _operand(fname, a), _operand(fname, b)
    if dtype_of(a) == dtype_of(b):
        return a, b
    return F.cast(a, dtype="f64"), F.cast(b, dtype="f64")


def _square(fname, a):
    if a.ndim < 2:
        raise MXNetError(f"linalg.{fname}: array must be at least two-dimensional, got shape "
                         f"{a.shape}")
    if a.shape[-1] != a.shape[-2]:
        raise MXNetError(f"linalg.{fname}: last 2 dimensions of the array must be square, got "
                         f"shape {a.shape}")


def _swap(x):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return F.transpose(x, perm=perm)


def svd(a):
    """(ut, s, v) with a = ut @ diag(s) @ v for a of shape (..., M, N), M <= N (MXNet's
    convention, not numpy's (u, s, vh) of any shape): ut (..., M, M), s (..., M) descending,
    v (..., M, N) with orthonormal rows, each row's largest-magnitude entry positive."""
    a = _operand("svd", a)
    if a.ndim < 2 or a.shape[-2] > a.shape[-1]:
        raise MXNetError(f"linalg.svd: a must have shape (..., M, N) with M <= N (the second "
                         f"to last dimension at most the last; svd the transpose otherwise), "
                         f"got {a.shape}")
    return as_np(F.gesvd_ut(a)), as_np(F.gesvd_l(a)), as_np(F.gesvd_v(a))


def cholesky(a):
    """The lower-triangular L with a = L @ L.T of each symmetric positive-definite matrix
    (MXNet's potrf, whose gradient is the symmetric one)."""
    a = _operand("cholesky", a)
    _square("cholesky", a)
    return as_np(F.potrf(a))


def solve(a, b):
    """x with a @ x = b: b (..., M) is one right-hand side per matrix when b.ndim == a.ndim - 1,
    (..., M, K) K of them when b.ndim == a.ndim; batch axes must equal a's (no broadcasting, as
    MXNet). Through a's inverse, whose vjp is MXNet's solve_backward."""
    a, b = _pair("solve", a, b)
    _square("solve", a)
    m = a.shape[-1]
    vector = b.ndim == a.ndim - 1
    if not vector and b.ndim != a.ndim:
        raise MXNetError(f"linalg.solve: b must have a.ndim - 1 or a.ndim dimensions, got a of "
                         f"shape {a.shape} and b of shape {b.shape}")
    if b.shape[:a.ndim - 2] != a.shape[:-2] or (b.shape[-1] if vector else b.shape[-2]) != m:
        raise MXNetError(f"linalg.solve: a of shape {a.shape} and b of shape {b.shape} do not "
                         f"match (b must be {a.shape[:-1]} or {a.shape[:-1]} + (K,))")
    inv_a = F.inverse(a)
    if vector:
        return as_np(F.reshape(F.matmul(inv_a, F.expand_dims(b, axis=b.ndim)), shape=b.shape))
    return as_np(F.matmul(inv_a, b))


def _prod(shape):
    return int(onp.prod(shape, dtype=onp.int64)) if shape else 1


def tensorinv(a, ind=2):
    """The inverse of a under tensordot over `ind` axes: a reshaped to a square matrix
    (prod(a.shape[:ind]) rows), inverted, shaped a.shape[ind:] + a.shape[:ind]."""
    a = _operand("tensorinv", a)
    ind = int(ind)
    if a.ndim == 0:
        raise MXNetError("linalg.tensorinv: can not invert a 0-d array")
    if ind <= 0:
        raise MXNetError(f"linalg.tensorinv: ind must be a positive integer, got {ind}")
    front, back = (a.shape[:ind], a.shape[ind:]) if ind < a.ndim else (a.shape, ())
    n = _prod(front)
    if n != _prod(back) or (ind < a.ndim and n == 0):
        raise MXNetError(f"linalg.tensorinv: a shape must be square, i.e. prod(a.shape[:ind]) "
                         f"== prod(a.shape[ind:]); got shape {a.shape} with ind={ind}")
    out_shape = back + front
    inv_a = F.inverse(F.reshape(a, shape=(n, n)))
    return as_np(F.reshape(inv_a, shape=out_shape))


def tensorsolve(a, b, axes=None):
    """x with tensordot(a, x, axes=x.ndim) = b: a's axes `axes` moved to its end, then a
    reshaped to a square matrix of b.size rows; x has a's trailing (moved) shape."""
    a, b = _pair("tensorsolve", a, b)
    if a.ndim == 0 or b.ndim == 0:
        if a.size != 1 or b.size != 1:
            raise MXNetError(f"linalg.tensorsolve: a's and b's dimensions don't match ({a.shape}"
                             f" and {b.shape})")
        out_shape = b.shape if a.ndim == 0 and b.ndim == 0 else a.shape
        return as_np(F.reshape(F.div(F.reshape(b, shape=()), F.reshape(a, shape=())),
                               shape=out_shape))
    if axes is not None:
        moved = [int(x) for x in ((axes,) if isinstance(axes, (int, onp.integer)) else axes)]
        moved = [x + a.ndim if x < 0 else x for x in moved]
        if any(not 0 <= x < a.ndim for x in moved) or len(set(moved)) != len(moved):
            raise MXNetError(f"linalg.tensorsolve: invalid axes {axes} for a of dimension "
                             f"{a.ndim}")
        perm = tuple(x for x in range(a.ndim) if x not in moved) + tuple(moved)
        a = F.transpose(a, perm=perm)
    lead = b.ndim if a.ndim > b.ndim else b.ndim - a.ndim
    out_shape = tuple(a.shape[lead:])
    n = _prod(out_shape)
    if _prod(a.shape[:lead]) != n or n != b.size:
        raise MXNetError(f"linalg.tensorsolve: a (axes moved: {a.shape}) must be square, i.e. "
                         f"prod(a.shape[:b.ndim]) == prod(a.shape[b.ndim:]) == b.size, for b "
                         f"of shape {b.shape}")
    x = F.matmul(F.inverse(F.reshape(a, shape=(n, n))), F.reshape(b, shape=(n, 1)))
    return as_np(F.reshape(x, shape=out_shape))


def pinv(a, rcond=1e-15, hermitian=False):
    """The Moore-Penrose pseudo-inverse (..., N, M) of a (..., M, N) from its SVD, singular
    values at most rcond * the largest one dropped; rcond may be an array broadcasting against
    the batch axes. Differentiable through svd where a's rank is constant (MXNet 1.9.1 gives
    zero gradients here)."""
    if hermitian:
        raise NotImplementedError("hermitian is not supported yet...")
    a = _operand("pinv", a)
    if a.ndim < 2:
        raise MXNetError(f"linalg.pinv: array must be at least two-dimensional, got shape "
                         f"{a.shape}")
    m, n = a.shape[-2], a.shape[-1]
    batch = a.shape[:-2]
    wide = m <= n
    src = a if wide else _swap(a)
    if min(m, n) == 0:
        return as_np(F.mul(_swap(a), 0.0))
    ut, s, v = F.gesvd_ut(src), F.gesvd_l(src), F.gesvd_v(src)
    dt = dtype_of(a)
    if isinstance(rcond, (int, float, onp.floating, onp.integer)):
        cutoff = F.mul(F.max(s, axes=(s.ndim - 1,), keepdims=True), float(rcond))
    else:
        r = _arr("linalg.pinv", rcond)
        if dtype_of(r).kind != "f":
            raise MXNetError(f"linalg.pinv: rcond type should be float32 or float64, got "
                             f"{dtype_of(r)}")
        try:
            if onp.broadcast_shapes(r.shape, batch) != batch:
                raise ValueError
        except ValueError:
            raise MXNetError(f"linalg.pinv: rcond of shape {r.shape} does not broadcast "
                             f"against the batch shape {batch} of a") from None
        r = F.cast(F.stop_gradient(r), dtype="f64" if dt == _F64 else "f32")
        smax = F.max(s, axes=(s.ndim - 1,), keepdims=True)
        cutoff = F.mul(smax, F.expand_dims(r, axis=r.ndim))
    large = F.gt(s, F.stop_gradient(cutoff))
    s_inv = F.where(large, F.div(1.0, F.where(large, s, 1.0)), 0.0)
    if wide:   # a = ut diag(s) v: a+ = v^T diag(1/s) ut^T
        scaled = F.mul(v, F.expand_dims(s_inv, axis=s_inv.ndim))
        return as_np(F.matmul(scaled, ut, transpose_a=True, transpose_b=True))
    # a^T = ut diag(s) v: a+ = ut diag(1/s) v
    return as_np(F.matmul(F.mul(ut, F.expand_dims(s_inv, axis=s_inv.ndim - 1)), v))


def eigvals(a):
    """The eigenvalues (..., M) of general real square matrices, unordered; complex ones are
    refused (MXNet's geev-based eigvals). No gradient, as MXNet's."""
    a = _operand("eigvals", a)
    _square("eigvals", a)
    return as_np(F.geev_values(a))


def eig(a):
    """(w, v): eigenvalues and unit right eigenvectors (columns: a @ v[..., i] = w[i] v[..., i])
    of general real square matrices; complex ones are refused. No gradient, as MXNet's."""
    a = _operand("eig", a)
    _square("eig", a)
    return as_np(F.geev_values(a, vectors=True)), as_np(F.geev_vectors(a))


def _symmetric(fname, a, uplo):
    """The symmetric matrices a's lower (UPLO 'L') or upper ('U') triangle describes: MXNet's
    eigh / eigvalsh read that triangle only, so only it receives gradient."""
    a = _operand(fname, a)
    _square(fname, a)
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U"):
        raise MXNetError(f"linalg.{fname}: UPLO argument must be 'L' or 'U', got {uplo!r}")
    n = a.shape[-1]
    rows, cols = F.iota(shape=(n, n), axis=0), F.iota(shape=(n, n), axis=1)
    keep = F.ge(rows, cols) if uplo.upper() == "L" else F.le(rows, cols)
    return F.where(keep, a, _swap(a))


def eigvalsh(a, UPLO="L"):
    """The eigenvalues (..., M), ascending, of the symmetric matrices a's UPLO triangle holds
    (MXNet's syevd; its gradient U^T diag(dw) U)."""
    return as_np(F.syevd_values(_symmetric("eigvalsh", a, UPLO)))


def eigh(a, UPLO="L"):
    """(w, v) of the symmetric matrices a's UPLO triangle holds: w ascending, v's columns the
    unit eigenvectors, each with its largest-magnitude entry positive (MXNet's syevd signs).
    Gradients are syevd's (defined for distinct eigenvalues)."""
    sym = _symmetric("eigh", a, UPLO)
    return as_np(F.syevd_values(sym)), as_np(_swap(F.syevd_vectors(sym)))
