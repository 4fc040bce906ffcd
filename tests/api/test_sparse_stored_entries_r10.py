"""Sparse operators whose MXNet kernels compute only the stored entries (sparse_kernels.py):
non-finite values in the other operand (or the scalar) at unstored entries tell them apart
from the dense computation. References: float64 numpy over the stored pattern."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad.base import MXNetError

nd = mx.nd
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (0 * inf in references)

# csr (3, 4): stored (0,0)=1, (0,2)=2, (1,1)=0 (an explicit zero), (2,3)=-3
DATA, INDICES, INDPTR = [1.0, 2.0, 0.0, -3.0], [0, 2, 1, 3], [0, 2, 3, 4]
MASK = np.zeros((3, 4), bool)
MASK[[0, 0, 1, 2], [0, 2, 1, 3]] = True


def csr():
    return nd.sparse.csr_matrix((np.array(DATA, np.float32), INDICES, INDPTR), shape=(3, 4))


def dense_values():
    v = np.zeros((3, 4))
    v[MASK] = DATA
    return v


def expect(values, mask=MASK):
    with np.errstate(all="ignore"):
        return np.where(mask, values, 0.0)


def check_csr(out, want):
    assert out.stype == "csr"
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6, atol=1e-7, equal_nan=True)
    # the pattern is the operand's: every stored entry listed, even where the result is 0
    assert out.indptr.asnumpy().tolist() == INDPTR
    assert out.indices.asnumpy().tolist() == INDICES


@pytest.mark.parametrize("scalar", [np.nan, np.inf, -np.inf])
def test_csr_times_non_finite_scalar(scalar):
    a = dense_values()
    with np.errstate(all="ignore"):
        want = expect(a * scalar)
    check_csr(csr() * scalar, want)
    check_csr(nd.sparse.multiply(csr(), scalar), want)
    check_csr(nd.multiply(csr(), scalar), want)
    check_csr(scalar * csr(), want)


@pytest.mark.parametrize("scalar", [0.0, np.nan])
def test_csr_divided_by_zero_or_nan(scalar):
    with np.errstate(all="ignore"):
        want = expect(dense_values() / scalar)
    check_csr(csr() / scalar, want)
    check_csr(nd.divide(csr(), scalar), want)


def test_finite_scalar_unchanged():
    check_csr(csr() * 2.5, dense_values() * 2.5)
    check_csr(csr() / 4, dense_values() / 4)


def test_elemwise_mul_csr_dense_both_orders():
    d = np.full((3, 4), np.inf)
    d[0, 0], d[0, 2] = 2.0, np.nan
    want = expect(dense_values() * d)
    check_csr(nd.elemwise_mul(csr(), nd.array(d)), want)
    check_csr(nd.elemwise_mul(nd.array(d), csr()), want)
    check_csr(csr() * nd.array(d), want)               # sparse.multiply, one shape
    check_csr(nd.sparse.elemwise_mul(csr(), nd.array(d)), want)


def test_broadcast_mul_csr_row_and_column_vectors():
    row = np.array([np.inf, np.nan, 2.0, -1.0])
    col = np.array([[0.5], [np.inf], [np.nan]])
    check_csr(nd.broadcast_mul(csr(), nd.array(row)), expect(dense_values() * row))
    check_csr(nd.broadcast_mul(csr(), nd.array(col)), expect(dense_values() * col))
    check_csr(nd.broadcast_mul(csr(), nd.array([[np.inf]])), expect(dense_values() * np.inf))
    check_csr(csr() * nd.array(col), expect(dense_values() * col))   # shapes differ: broadcast


def test_broadcast_div_csr_by_vectors_with_zeros():
    row = np.array([0.0, 0.0, 4.0, 0.0])
    col = np.array([[2.0], [0.0], [np.inf]])
    with np.errstate(all="ignore"):
        check_csr(nd.broadcast_div(csr(), nd.array(row)), expect(dense_values() / row))
        check_csr(nd.broadcast_div(csr(), nd.array(col)), expect(dense_values() / col))


def test_broadcast_mul_csr_same_shape_dense_is_elemwise():
    d = np.full((3, 4), np.nan)
    d[0, 0] = 3.0
    check_csr(nd.broadcast_mul(csr(), nd.array(d)), expect(dense_values() * d))


def test_broadcast_div_csr_same_shape_dense_raises_like_mxnet():
    # BinaryBroadcastComputeSparseEx: "Please use elemwise_div for division between csr and
    # dense of the same shape"
    with pytest.raises(MXNetError, match="Please use elemwise_div"):
        nd.broadcast_div(csr(), nd.ones((3, 4)))
    with pytest.raises(MXNetError, match="elemwise_div"):
        nd.divide(csr(), nd.ones((3, 4)))
    # csr / dense of one shape is sparse.divide: elemwise_div, a dense result
    out = csr() / nd.array(np.full((3, 4), 2.0))
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), dense_values() / 2.0)


def test_broadcast_csr_with_3d_dense_raises():
    with pytest.raises(MXNetError, match="less than or equal to 2 dimensions"):
        nd.broadcast_mul(csr(), nd.ones((1, 3, 4)))


def rsp():
    return nd.sparse.row_sparse_array((np.array([[1.0, -2.0], [0.0, 0.0]], np.float32),
                                       [1, 3]), shape=(4, 2))


RSP_ROWS = np.array([False, True, False, True])


def rsp_values():
    v = np.zeros((4, 2))
    v[1] = [1.0, -2.0]
    return v


def check_rsp(out, want):
    assert out.stype == "row_sparse"
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert out.indices.asnumpy().tolist() == [1, 3]


def test_row_sparse_times_dense_with_non_finite_rows():
    d = np.full((4, 2), np.nan)
    d[1] = [3.0, np.inf]
    want = expect(rsp_values() * d, RSP_ROWS[:, None])
    check_rsp(nd.elemwise_mul(rsp(), nd.array(d)), want)
    check_rsp(nd.elemwise_mul(nd.array(d), rsp()), want)
    check_rsp(rsp() * nd.array(d), want)


@pytest.mark.parametrize("scalar", [np.nan, np.inf])
def test_row_sparse_scalar_ops(scalar):
    with np.errstate(all="ignore"):
        check_rsp(rsp() * scalar, expect(rsp_values() * scalar, RSP_ROWS[:, None]))
        check_rsp(rsp() / 0.0, expect(rsp_values() / 0.0, RSP_ROWS[:, None]))


def test_gradient_stays_finite_and_stored_only():
    """d sum(elemwise_mul(csr, w)) / dw is csr's values at its stored entries, 0 elsewhere."""
    w = nd.array(np.full((3, 4), 7.0))
    w.attach_grad()
    with mx.autograd.record():
        y = nd.elemwise_mul(csr(), w)
        loss = y.sum()
    loss.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), dense_values(), atol=0)
    np.testing.assert_allclose(loss.asnumpy(), [(dense_values() * 7.0).sum()])


def test_jitted_stored_entries_read_every_calls_values():
    """The pattern is computed by nd ops: a jitted function gives each call's own result."""
    f = mx.jit(lambda a, w: nd.elemwise_mul(a.tostype("csr"), w).tostype("default") +
               (a.tostype("csr") * np.inf).tostype("default"))
    for seed in (4, 5):
        rs = np.random.RandomState(seed)
        a = rs.rand(3, 4) * (rs.rand(3, 4) > 0.5)
        w = np.where(rs.rand(3, 4) > 0.5, np.inf, rs.rand(3, 4))
        with np.errstate(all="ignore"):
            want = expect(a * w, a != 0) + expect(a * np.inf, a != 0)
        got = f(nd.array(a, dtype=np.float32), nd.array(w, dtype=np.float32)).asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


# ------------------------------------------------------------------ dot (dot-inl.h sparse kernels)
def _stored_product(S, SV, D, sparse_left):
    """sum over the csr's stored entries only (float64): S @ D or D @ S."""
    out = np.zeros((S.shape[0], D.shape[1]) if sparse_left else (D.shape[0], S.shape[1]))
    with np.errstate(all="ignore"):
        for i, k in zip(*np.nonzero(S)):
            if sparse_left:
                out[i] += SV[i, k] * D[k]
            else:
                out[:, k] += D[:, i] * SV[i, k]
    return out


def _sparse_dense_pair(rs):
    mask = rs.rand(4, 5) > 0.6
    values = np.where(mask, rs.rand(4, 5) + 0.5, 0.0)
    a = nd.sparse.csr_matrix(values, dtype=np.float32)
    return a, mask, values.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("kind", ["csr.dns", "csr.T.dns", "dns.csr", "dns.csr.T", "csr.rsp"])
def test_sparse_dot_with_non_finite_dense_operand(kind):
    rs = np.random.RandomState(7)
    a, S, SV = _sparse_dense_pair(rs)
    if kind == "csr.dns":
        d = rs.rand(5, 3)
        d[1, 0], d[3, 2] = np.inf, np.nan
        got = nd.sparse.dot(a, nd.array(d, dtype=np.float32))
        want = _stored_product(S, SV, d, True)
    elif kind == "csr.rsp":
        d = np.zeros((5, 3))
        d[[1, 3]] = [[np.inf, 1.0, 2.0], [0.5, np.nan, -1.0]]
        rsp = nd.sparse.row_sparse_array((d[[1, 3]].astype(np.float32), [1, 3]), shape=(5, 3))
        got = nd.sparse.dot(a, rsp)
        want = _stored_product(S, SV, d, True)
    elif kind == "csr.T.dns":
        d = rs.rand(4, 3)
        d[0, 1], d[2, 2] = -np.inf, np.nan
        got = nd.sparse.dot(a, nd.array(d, dtype=np.float32), transpose_a=True)
        assert got.stype == "row_sparse"
        want = _stored_product(S.T, SV.T, d, True)
    elif kind == "dns.csr":
        d = rs.rand(2, 4)
        d[0, 1], d[1, 3] = np.inf, np.nan
        got = nd.sparse.dot(nd.array(d, dtype=np.float32), a)
        assert got.stype == "csr"
        want = _stored_product(S, SV, d, False)
    else:       # dense output hint: MXNet's dot(dns, csr.T) kernel
        d = rs.rand(2, 5)
        d[1, 4] = np.inf
        got = nd.sparse.dot(nd.array(d, dtype=np.float32), a, transpose_b=True,
                            forward_stype="default")
        want = _stored_product(S.T, SV.T, d, False)
    assert not np.isnan(want).all()
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.array_equal(np.isnan(got.asnumpy()), np.isnan(want))


def test_sparse_dot_gradient_of_the_finite_dense_values():
    """d sum(dot(csr, w)) / dw: csr's column sums at w's finite entries (0 where w is inf:
    those values never reach a finite result)."""
    rs = np.random.RandomState(8)
    a, S, SV = _sparse_dense_pair(rs)
    w0 = rs.rand(5, 2)
    w0[2, 1] = np.inf
    w = nd.array(w0, dtype=np.float32)
    w.attach_grad()
    with mx.autograd.record():
        y = nd.sparse.dot(a, w)
    y.backward()
    want = np.repeat(SV.sum(0)[:, None], 2, axis=1)
    want[2, 1] = 0.0
    np.testing.assert_allclose(w.grad.asnumpy(), want, rtol=1e-6)
    np.testing.assert_allclose(y.asnumpy(), _stored_product(S, SV, w0, True), rtol=1e-5,
                               equal_nan=True)


def test_sparse_sparse_results_list_what_mxnets_kernels_store():
    """RspRspOp (and add_n's ElementwiseSumRspImpl) store every row either operand stores,
    even where the result is 0; CsrCsrOp stores the nonzero results only."""
    a = nd.sparse.row_sparse_array((np.float32([[1, 2]]), [1]), shape=(4, 2))
    b = nd.sparse.row_sparse_array((np.float32([[0, 0], [-1, -2]]), [1, 3]), shape=(4, 2))
    for out, want in ((a * b, [[0, 0], [0, 0], [0, 0], [0, 0]]),
                      (a + b, [[0, 0], [1, 2], [0, 0], [-1, -2]]),
                      (nd.add_n(a, b), [[0, 0], [1, 2], [0, 0], [-1, -2]]),
                      (nd.elemwise_sub(a, a), np.zeros((4, 2)))):
        assert out.stype == "row_sparse"
        np.testing.assert_array_equal(out.asnumpy(), want)
    assert (a * b).indices.asnumpy().tolist() == [1, 3]
    assert nd.elemwise_sub(a, a).indices.asnumpy().tolist() == [1]
    c = nd.sparse.csr_matrix((np.float32([1, 0]), [0, 1], [0, 2]), shape=(1, 2))
    assert c.indices.asnumpy().tolist() == [0, 1]            # the explicit zero is stored
    for out in (c + c, c * c):
        assert out.stype == "csr" and out.indices.asnumpy().tolist() == [0]
