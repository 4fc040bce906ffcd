"""The sparse operators whose MXNet kernels compute a csr / row_sparse operand's stored
entries only, so the values differ from the dense computation wherever the other operand
makes an unstored 0 into something else (0 * nan, 0 * inf, 0 / 0):

- `_mul_scalar` / `_div_scalar` of a csr or row_sparse array (elemwise_binary_scalar_op.h
  BinaryScalarOp::ComputeEx maps the op over the stored data): csr * nan keeps the pattern,
  its stored values nan, the rest 0;
- elemwise_mul(csr, dense) / (dense, csr) (DnsCsrCsrOp) and elemwise_mul(row_sparse, dense) /
  (dense, row_sparse) (RspRspOp with a dense side): the sparse operand's entries / rows only;
- broadcast_mul / broadcast_div(csr, dense) (BinaryBroadcastComputeSparseEx): a scalar, row
  or column vector over the stored entries; a dense matrix of csr's shape is elemwise_mul
  for broadcast_mul and an error for broadcast_div (MXNet points to elemwise_div);
- dot(csr, dense | row_sparse), dot(csr.T, ...), dot(dense, csr) (dot-inl.h's csr kernels):
  a non-finite value of the other operand meets the stored entries only (`dot_operands`).

The result keeps the sparse operand's pattern (its stored entries listed even where the
product is 0, as MXNet copies the indices). Values are still computed by the dense nd ops,
so autograd and traces reach them: the other operand is replaced by 1 at the unstored
entries (x * 1 = x / 1 = 0 there), which keeps nan/inf out of the gradient too.
"""
import numpy as np

from .array import NDArray
from .base import MXNetError

DENSE = "default"


def _keep(a):
    """0/1 of the entries (csr) or rows (row_sparse) sparse array `a` lists, broadcastable to
    its shape: its nonzeros (nan and inf too) and the entries it was made with. Computed by
    nd ops, so a trace reads every call's values (nothing is guarded)."""
    from . import nd
    from .sparse import _dense
    m = nd.not_equal(_dense(a), 0)
    if a.stype == "row_sparse" and a.ndim > 1:
        m = nd.max(m, axis=tuple(range(1, a.ndim)), keepdims=True)
    if a._stored is not None:
        stored = a._stored.reshape(m.shape).astype(np.dtype(m.dtype))
        m = nd.maximum(m, nd.array(stored, dtype=m.dtype))
    return m


def _listing(a):
    """The result's `_stored`: `a`'s whole listing (MXNet copies the operand's indices), read
    from its values; inside a trace only the entries `a` was made with (no value is read)."""
    from .array import HOOKS
    if HOOKS.compiling:
        return None if a._stored is None else a._stored.copy()
    if a.stype == "csr":
        return a._mask().copy()
    rows = np.zeros(a.shape[0], bool)
    rows[a._rows()] = True
    return rows


def _check_broadcast(op, lhs, rhs):
    """BinaryBroadcastComputeSparseEx's checks for (csr, dense); True: rhs is a matrix of
    csr's shape (elementwise, not broadcast)."""
    if rhs.ndim > 2:
        raise MXNetError(f"{op}: input dense matrix should have less than or equal to 2 "
                         f"dimensions (csr {tuple(lhs.shape)} with dense "
                         f"{tuple(rhs.shape)})")
    matrix = rhs.ndim == 2 and rhs.shape[0] != 1 and rhs.shape[1] != 1
    if matrix and op == "broadcast_div":
        raise MXNetError(f"broadcast_div: Please use elemwise_div for division between csr "
                         f"and dense of the same shape (csr {tuple(lhs.shape)}, dense "
                         f"{tuple(rhs.shape)})")
    return matrix


def _zero_stays_zero(fn, scalar):
    with np.errstate(all="ignore"):
        return fn(np.float64(0), np.float64(scalar)) == 0


def compute(op, arrays, params):
    """MXNet's result of operator `op` on `arrays` (at least one sparse) when a sparse kernel
    computes only the stored entries and the dense values would differ; None: the dense
    computation (and sparse_storage's listing) is MXNet's."""
    from . import nd
    stypes = tuple(getattr(x, "stype", DENSE) for x in arrays)
    if op in ("_mul_scalar", "_MulScalar", "_div_scalar", "_DivScalar"):
        div = op in ("_div_scalar", "_DivScalar")
        a, scalar = arrays[0], params.get("scalar")
        if stypes[0] == DENSE or not np.issubdtype(np.dtype(a.dtype), np.floating) or \
                _zero_stays_zero(np.divide if div else np.multiply, scalar):
            return None
        return _stored_entries(nd.divide if div else nd.multiply, a,
                               float(np.float64(scalar)), True)
    if op in ("broadcast_mul", "broadcast_div") and stypes == ("csr", DENSE):
        lhs, rhs = arrays
        _check_broadcast(op, lhs, rhs)
        try:
            if np.broadcast_shapes(tuple(lhs.shape), tuple(rhs.shape)) != tuple(lhs.shape):
                return None     # (a result larger than the csr: nd's shape error / dense)
        except ValueError:
            return None
        return _stored_entries(nd.divide if op == "broadcast_div" else nd.multiply,
                               lhs, rhs, True)
    if op in ("elemwise_mul", "_mul", "_Mul") and len(arrays) == 2 and \
            set(stypes) in ({"csr", DENSE}, {"row_sparse", DENSE}):
        first = stypes[0] != DENSE
        sparse, dense = arrays if first else arrays[::-1]
        return _stored_entries(nd.multiply, sparse, dense, first)
    return None


def _stored_entries(fn, sparse, other, sparse_first):
    """fn(sparse, other) with `other` (an array or a number) replaced by 1 where `sparse`
    stores nothing; the result keeps `sparse`'s type and listing."""
    from . import nd
    from .sparse import _dense, _relabel, _CLASS
    x = _dense(sparse)
    ones = nd.ones_like(x)
    if isinstance(other, NDArray):
        other = _dense(other)
        if tuple(other.shape) != tuple(x.shape):
            other = nd.broadcast_to(other, tuple(x.shape))
    else:
        other = ones * other
    keep = _keep(sparse)
    if tuple(keep.shape) != tuple(x.shape):
        keep = nd.broadcast_to(keep, tuple(x.shape))
    full = other
    other = nd.where(keep, other, ones)
    out = fn(x, other) if sparse_first else fn(other, x)
    if isinstance(sparse_first, bool) and isinstance(full, NDArray):
        out = out + _unstored_slope(fn, x, full, keep)
    return _relabel(_dense(out), _CLASS[sparse.stype], _listing(sparse))


def _unstored_slope(fn, x, other, keep):
    """0 in value, but it makes the sparse operand's gradient at its unstored entries MXNet's
    (ograd * rhs for a product, ograd / rhs for a quotient: its _backward_mul / _backward_div
    are dense) instead of the ograd the 1 put there gives. A non-finite slope there is left
    out (it would make the value nan)."""
    from . import nd
    slope = other if fn is nd.multiply else nd.reciprocal(other)
    zero = nd.zeros_like(x)
    slope = nd.where(nd.abs(slope) < np.inf, slope - 1, zero)
    return nd.where(keep, zero, (x - nd.stop_gradient(x)) * slope)


def _dot_uses_sparse_kernel(ls, rs, ta, tb, want):
    """DotForwardInferStorageType's FComputeEx cases (cpu): csr.T or csr times a dense or
    row_sparse matrix, a dense matrix times csr."""
    want = None if want in (None, "None") else want
    if ls == "csr" and rs in (DENSE, "row_sparse") and not tb:
        return want in ((None, "row_sparse", DENSE) if ta else (None, DENSE))
    if ls == DENSE and rs == "csr" and not ta:
        return (want in (None, "csr") and not tb) or want == DENSE
    return False


def dot_operands(lhs, rhs, transpose_a, transpose_b, forward_stype):
    """MXNet's sparse dot multiplies the csr operand's stored entries only: a non-finite
    value of the other operand meets only them (dense code gives 0 * inf = nan elsewhere).
    None when the dense product is MXNet's (no non-finite value, or inside a trace); else
    (lhs, rhs, correction): the operands with those values replaced by 0 (the product is
    recorded) and the numpy array to add, their products with the stored entries."""
    from . import nd
    from .array import HOOKS
    from .sparse import _dense
    ls, rs = getattr(lhs, "stype", DENSE), getattr(rhs, "stype", DENSE)
    if HOOKS.compiling or lhs.ndim != 2 or rhs.ndim != 2 or \
            not _dot_uses_sparse_kernel(ls, rs, transpose_a, transpose_b, forward_stype):
        return None
    sparse_left = ls == "csr"
    other = rhs if sparse_left else lhs
    values = _dense(other).asnumpy()
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    csr = lhs if sparse_left else rhs
    stored, cvals = csr._mask(), csr._listed("dot's stored entries")
    if sparse_left:                      # out = S @ D, S (m x k) stored, D (k x n)
        S, SV = (stored.T, cvals.T) if transpose_a else (stored, cvals)
        D, B = (values.T, bad.T) if transpose_b else (values, bad)
        out = np.zeros((S.shape[0], D.shape[1]), np.result_type(cvals, values))
        for kk in np.flatnonzero(B.any(axis=1)):
            rows, cols = np.flatnonzero(S[:, kk]), np.flatnonzero(B[kk])
            with np.errstate(all="ignore"):
                out[np.ix_(rows, cols)] += SV[rows, kk][:, None] * D[kk, cols][None, :]
    else:                                # out = D @ S, D (m x k), S (k x n) stored
        D, B = (values.T, bad.T) if transpose_a else (values, bad)
        S, SV = (stored.T, cvals.T) if transpose_b else (stored, cvals)
        out = np.zeros((D.shape[0], S.shape[1]), np.result_type(cvals, values))
        for kk in np.flatnonzero(B.any(axis=0)):
            rows, cols = np.flatnonzero(B[:, kk]), np.flatnonzero(S[kk])
            with np.errstate(all="ignore"):
                out[np.ix_(rows, cols)] += D[rows, kk][:, None] * SV[kk, cols][None, :]
    x = _dense(other)
    finite = nd.where(nd.array(~bad, dtype=x.dtype), x, nd.zeros_like(x))
    if sparse_left:
        return lhs, finite, out
    return finite, rhs, out
