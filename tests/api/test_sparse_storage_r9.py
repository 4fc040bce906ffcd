"""The storage type of results of ops on sparse arrays is MXNet 1.9.1's (its operators'
FInferStorageType, sparse_storage.py's table), whichever way the op is called: mx.nd.f, the
array method, mx.nd.sparse.f, Python's operators, or an executor of mx.sym with stype'd
variables; the values are always the dense computation's."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

RNG = np.random.default_rng(19)


def values(shape=(4, 5), lo=-0.9, hi=0.9):
    """Rows 1 and 3 all zero, a few zeros elsewhere: sparse in both storage types."""
    v = RNG.uniform(lo, hi, shape)
    v[1] = 0
    v[3] = 0
    v[0, 2] = 0
    return v.astype(np.float32)


def sparse(stype, v=None):
    return nd.array(values() if v is None else v).tostype(stype)


STYPES = ["csr", "row_sparse"]
# MXNet's _WITH_RSP_CSR unary operators (f(0) = 0): csr -> csr, row_sparse -> row_sparse
KEEP_UNARY = ["abs", "negative", "sign", "round", "rint", "ceil", "floor", "trunc", "fix",
              "square", "sqrt", "cbrt", "relu", "sin", "tan", "arcsin", "arctan", "sinh",
              "tanh", "arcsinh", "arctanh", "degrees", "radians", "log1p", "expm1",
              "zeros_like", "stop_gradient", "BlockGrad", "identity"]
# f(0) != 0 (or no sparse kernel): always dense in MXNet
DENSE_UNARY = ["exp", "cos", "arccos", "cosh", "sigmoid", "reciprocal", "rsqrt", "log",
               "ones_like", "softsign", "erf", "gamma"]
NONNEG = {"sqrt", "cbrt", "log", "rsqrt", "gamma", "arccos"}


def _input(name, stype):
    v = values()
    if name in NONNEG:
        v = np.abs(v)
    return v, sparse(stype, v)


def _close(got, want):
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6, atol=1e-7,
                                   equal_nan=True)


@pytest.mark.parametrize("stype", STYPES)
@pytest.mark.parametrize("name", KEEP_UNARY)
def test_zero_preserving_unary_keeps_the_storage_type(name, stype):
    v, x = _input(name, stype)
    out = getattr(nd, name)(x)
    assert out.stype == stype and type(out) is type(x), name
    _close(out, getattr(nd, name)(nd.array(v)))
    assert getattr(nd, name)(nd.array(v)).stype == "default"
    if name in nd._METHODS:                             # x.abs(), x.sqrt(), ...
        assert getattr(x, name)().stype == stype
    assert getattr(nd.sparse, name)(x).stype == stype


@pytest.mark.parametrize("stype", STYPES)
@pytest.mark.parametrize("name", DENSE_UNARY)
def test_ops_not_zero_at_zero_stay_dense(name, stype):
    v, x = _input(name, stype)
    with np.errstate(divide="ignore"):       # (log 0, 1 / 0)
        out = getattr(nd, name)(x)
        assert out.stype == "default" and type(out) is nd.NDArray
        _close(out, getattr(nd, name)(nd.array(v)))
        if name in nd._METHODS:
            assert getattr(x, name)().stype == "default"
        assert getattr(nd.sparse, name)(x).stype == "default"


def test_a_listed_explicit_zero_stays_listed():
    x = nd.sparse.csr_matrix(([0.0, 4.0], [1, 2], [0, 1, 2]), shape=(2, 3))
    assert x.data.shape == (2,)
    for out in (nd.sqrt(x), x.abs(), -x, x * 3):
        assert out.stype == "csr"
        np.testing.assert_array_equal(out.indices.asnumpy(), [1, 2])
    # csr + csr is CsrCsrOp, which stores the nonzero results only
    np.testing.assert_array_equal(nd.elemwise_add(x, x).indices.asnumpy(), [2])
    np.testing.assert_array_equal(nd.sqrt(x).data.asnumpy(), [0.0, 2.0])
    assert nd.zeros_like(x).data.shape == (0,)


@pytest.mark.parametrize("stype", STYPES)
def test_elemwise_binary_storage(stype):
    v, w = values(), values()
    x, y, d = sparse(stype, v), sparse(stype, w), nd.array(w)
    other = "row_sparse" if stype == "csr" else "csr"
    cases = [
        (nd.elemwise_add, x, y, stype, v + w), (nd.elemwise_sub, x, y, stype, v - w),
        (nd.elemwise_mul, x, y, stype, v * w), (nd.elemwise_div, x, d + 2, "default",
                                                v / (w + 2)),
        (nd.elemwise_add, x, d, "default", v + w), (nd.elemwise_add, d, x, "default", w + v),
        (nd.elemwise_sub, x, d, "default", v - w),
        # elemwise_mul prefers the sparse type: (dense, sparse) and (sparse, dense) keep it
        (nd.elemwise_mul, x, d, stype, v * w), (nd.elemwise_mul, d, x, stype, w * v),
        (nd.elemwise_add, x, sparse(other, w), "default", v + w),
        (nd.elemwise_mul, x, sparse(other, w), "default", v * w),
    ]
    for fn, a, b, want_stype, want in cases:
        out = fn(a, b)
        assert out.stype == want_stype, (fn.__name__, a.stype, b.stype)
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6)
    # nd.sparse's names and Python's operators: same-shape arrays go through elemwise_*
    assert nd.sparse.elemwise_add(x, y).stype == stype
    assert nd.sparse.add(x, y).stype == stype and (x + y).stype == stype
    assert nd.sparse.subtract(x, y).stype == stype and (x - y).stype == stype
    assert nd.sparse.multiply(x, d).stype == stype and (x * d).stype == stype
    assert nd.sparse.divide(x, d + 2).stype == "default"
    assert (x + d).stype == "default" and (d + x).stype == "default"
    assert (d * x).stype == "default"        # NDArray.__mul__: broadcast_mul(dense, sparse)
    np.testing.assert_allclose((x * d).asnumpy(), v * w, rtol=1e-6)


@pytest.mark.parametrize("stype", STYPES)
def test_scalar_ops_keep_or_lose_the_storage_type(stype):
    v = values()
    x = sparse(stype, v)
    cases = [
        (x * 2.5, stype, v * 2.5), (2.5 * x, stype, v * 2.5), (x / 4, stype, v / 4),
        (nd.multiply(x, 3), stype, v * 3), (nd.multiply(3, x), stype, v * 3),
        (nd.divide(x, 2), stype, v / 2), (nd.sparse.divide(x, 2), stype, v / 2),
        (-x, stype, -v), (x + 0, stype, v), (0 + x, stype, v), (x - 0.0, stype, v),
        (nd.add(x, 0), stype, v),
        # a nonzero number, or the number on the left of - and /, makes it dense
        (x + 1, "default", v + 1), (1 + x, "default", v + 1), (x - 1, "default", v - 1),
        (1 - x, "default", 1 - v), (nd.subtract(0, x), "default", -v),
    ]
    for out, want_stype, want in cases:
        assert out.stype == want_stype
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6)
    with np.errstate(divide="ignore"):
        assert (1 / x).stype == "default"


def test_clip_slice_add_n_dot_and_broadcast_mul():
    v = values()
    c, r = sparse("csr", v), sparse("row_sparse", v)
    for x in (c, r):
        assert nd.clip(x, -0.5, 0.5).stype == x.stype       # the range holds 0
        assert x.clip(-0.5, 0.5).stype == x.stype
        assert nd.clip(x, 0.1, 0.5).stype == "default"      # 0 is clipped to 0.1
        np.testing.assert_allclose(nd.clip(x, 0.1, 0.5).asnumpy(), np.clip(v, 0.1, 0.5))
        np.testing.assert_allclose(nd.clip(x, -0.5, 0.5).asnumpy(), np.clip(v, -0.5, 0.5))
    s = nd.slice(c, begin=(1, 0), end=(4, 3))
    assert s.stype == "csr"
    np.testing.assert_array_equal(s.asnumpy(), v[1:4, 0:3])
    # MXNet's trivial_step: no step, or a single step of 1; any other tuple is dense
    assert nd.slice(c, begin=(0,), end=(2,), step=(1,)).stype == "csr"
    for step in ((2, 1), (1, 1)):
        out = nd.slice(c, begin=(0, 0), end=(4, 5), step=step)
        assert out.stype == "default"
        np.testing.assert_array_equal(out.asnumpy(), v[::step[0], ::step[1]])
    assert nd.slice(r, begin=(1,), end=(3,)).stype == "default"
    assert nd.add_n(r, r, r).stype == "row_sparse"
    assert nd.add_n(c, c).stype == "default" and nd.add_n(r, nd.array(v)).stype == "default"
    np.testing.assert_allclose(nd.add_n(r, r, r).asnumpy(), 3 * v, rtol=1e-6)
    d = nd.array(RNG.uniform(-1, 1, (4, 2)).astype(np.float32))
    assert nd.dot(c, d, transpose_a=True).stype == "row_sparse"
    assert nd.sparse.dot(c, d, transpose_a=True).stype == "row_sparse"
    e = nd.array(RNG.uniform(-1, 1, (3, 4)).astype(np.float32))
    assert nd.dot(e, c).stype == "csr"
    np.testing.assert_allclose(nd.dot(e, c).asnumpy(), e.asnumpy() @ v, rtol=1e-5)
    assert nd.dot(c, nd.ones((5, 2))).stype == "default"
    col = nd.array(RNG.uniform(1, 2, (4, 1)).astype(np.float32))
    for fn, ref in ((nd.broadcast_mul, v * col.asnumpy()), (nd.broadcast_div,
                                                              v / col.asnumpy())):
        out = fn(c, col)
        assert out.stype == "csr"
        np.testing.assert_allclose(out.asnumpy(), ref, rtol=1e-6)
        with np.errstate(divide="ignore"):
            assert fn(col.broadcast_to((4, 5)), c).stype == "default"


def test_keyword_and_out_forms():
    x = sparse("csr")
    assert nd.abs(data=x).stype == "csr"
    target = nd.zeros(x.shape)
    got = nd.abs(x, out=target)
    assert got is target and got.stype == "default"
    np.testing.assert_allclose(target.asnumpy(), np.abs(x.asnumpy()))


def test_autograd_reaches_the_values_through_a_kept_storage_type():
    v = values()
    x = nd.array(v)
    x.attach_grad()
    with mx.autograd.record():
        s = nd.square(x.tostype("csr"))
        y = nd.elemwise_mul(s, nd.array(v)) * 2.0
    assert s.stype == "csr" and y.stype == "csr"
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 4 * v * v, rtol=1e-5)   # d(2 v x^2)


SYMBOL_CASES = [
    (lambda x: mx.sym.abs(x), lambda x: nd.abs(x)),
    (lambda x: mx.sym.negative(x), lambda x: nd.negative(x)),
    (lambda x: mx.sym.sqrt(mx.sym.abs(x)), lambda x: nd.sqrt(nd.abs(x))),
    (lambda x: mx.sym.tanh(x), lambda x: nd.tanh(x)),
    (lambda x: mx.sym.exp(x), lambda x: nd.exp(x)),
    (lambda x: mx.sym.cos(x), lambda x: nd.cos(x)),
    (lambda x: x * 2, lambda x: x * 2),
    (lambda x: x / 2, lambda x: x / 2),
    (lambda x: x + 0, lambda x: x + 0),
    (lambda x: x + 1, lambda x: x + 1),
    (lambda x: -x, lambda x: -x),
    (lambda x: mx.sym.elemwise_add(x, x), lambda x: nd.elemwise_add(x, x)),
    (lambda x: mx.sym.elemwise_mul(x, x), lambda x: nd.elemwise_mul(x, x)),
    (lambda x: mx.sym.elemwise_div(x, mx.sym.ones_like(x)),
     lambda x: nd.elemwise_div(x, nd.ones_like(x))),
    (lambda x: mx.sym.zeros_like(x), lambda x: nd.zeros_like(x)),
    (lambda x: mx.sym.clip(x, -0.5, 0.5), lambda x: nd.clip(x, -0.5, 0.5)),
    (lambda x: mx.sym.clip(x, 0.1, 0.5), lambda x: nd.clip(x, 0.1, 0.5)),
    (lambda x: mx.sym.relu(x) * 3, lambda x: nd.relu(x) * 3),
    (lambda x: mx.sym.BlockGrad(x), lambda x: nd.BlockGrad(x)),
]


@pytest.mark.parametrize("stype", STYPES)
def test_symbol_executors_agree_with_nd(stype):
    v = values()
    for make_sym, make_nd in SYMBOL_CASES:
        want = make_nd(sparse(stype, v))
        # the bound array's storage type and the declared one give the same output type
        for var, arg in ((mx.sym.var("x"), sparse(stype, v)),
                         (mx.sym.var("x", stype=stype), nd.array(v))):
            ex = make_sym(var).bind(mx.cpu(), {"x": arg})
            got = ex.forward()[0]
            assert got.stype == want.stype, (make_sym(var).list_outputs(), stype)
            np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6)
