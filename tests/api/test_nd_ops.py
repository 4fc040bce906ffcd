"""The nd operators added for MXNet 1.x breadth: each against a float64 numpy reference, its
gradient against central finite differences, and compiled (jit) against eager. Ops without a
native lowering (argsort, potrf, trsm) run between native segments when compiled."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError
from tracegrad.tracing.jit import jit

from compiled_checks import compiled_values, jit_grads_match

RNG = np.random.default_rng(11)

_erf_ref = np.vectorize(math.erf)   # float64 references without scipy (an optional extra)


def _erfinv_ref(y):
    """erf's inverse by Newton's method on math.erf, to float64 precision for |y| < 1."""
    x = np.zeros_like(np.asarray(y, np.float64))
    for _ in range(60):
        x = x - (_erf_ref(x) - y) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
    return x


def f64(a):
    return nd.array(a, dtype=np.float64)


def grad_fd(fn, inputs, eps=1e-6):
    """d sum(fn(*inputs) * w) / d inputs, by autograd and by central differences."""
    arrays = [f64(x) for x in inputs]
    out = fn(*arrays)
    w = RNG.standard_normal(out.shape)
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        loss = (fn(*arrays) * f64(w)).sum()
    loss.backward()
    analytic = [a.grad.asnumpy() for a in arrays]
    numeric = []
    for k, x in enumerate(inputs):
        g = np.zeros_like(x)
        for ix in np.ndindex(*x.shape):
            vals = []
            for s in (1, -1):
                moved = [y.copy() for y in inputs]
                moved[k][ix] += s * eps
                vals.append(float((fn(*[f64(y) for y in moved]).asnumpy() * w).sum()))
            g[ix] = (vals[0] - vals[1]) / (2 * eps)
        numeric.append(g)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-7)


def check_jit(fn, *inputs, rtol=1e-6):
    """jit(fn) == fn on these inputs made float32, and their gradients agree too."""
    inputs = [np.asarray(x, dtype=np.float32) for x in inputs]
    want = fn(*[nd.array(x) for x in inputs])
    np.testing.assert_allclose(compiled_values(fn, *inputs).asnumpy(), want.asnumpy(),
                               rtol=rtol, atol=1e-6)
    jit_grads_match(fn, *inputs, rtol=1e-4, atol=1e-5)


UNARY = {"tan": (np.tan, -1.2, 1.2), "arcsin": (np.arcsin, -0.9, 0.9),
         "arccos": (np.arccos, -0.9, 0.9), "arctan": (np.arctan, -3, 3),
         "sinh": (np.sinh, -3, 3), "cosh": (np.cosh, -3, 3), "arcsinh": (np.arcsinh, -3, 3),
         "arccosh": (np.arccosh, 1.1, 4), "arctanh": (np.arctanh, -0.9, 0.9),
         "erf": (_erf_ref, -3, 3), "erfinv": (_erfinv_ref, -0.9, 0.9),
         "degrees": (np.degrees, -3, 3), "radians": (np.radians, -3, 3)}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math(name):
    ref, lo, hi = UNARY[name]
    x = RNG.uniform(lo, hi, (3, 4))
    np.testing.assert_allclose(getattr(nd, name)(f64(x)).asnumpy(), ref(x), rtol=1e-12)
    np.testing.assert_allclose(getattr(f64(x), name)().asnumpy(), ref(x), rtol=1e-12)
    grad_fd(getattr(nd, name), [x])
    check_jit(getattr(nd, name), x.astype(np.float32), rtol=1e-5)


def test_sort_argsort_topk_values():
    x = RNG.permutation(24).reshape(4, 6).astype(np.float64)
    np.testing.assert_array_equal(nd.sort(f64(x)).asnumpy(), np.sort(x, axis=-1))
    np.testing.assert_array_equal(nd.sort(f64(x), axis=0, is_ascend=False).asnumpy(),
                                  -np.sort(-x, axis=0))
    idx = nd.argsort(f64(x), axis=1)
    assert idx.dtype == np.float32
    np.testing.assert_array_equal(idx.asnumpy(), np.argsort(x, axis=1))
    np.testing.assert_array_equal(nd.argsort(f64(x), axis=None).asnumpy(),
                                  np.argsort(x.ravel()))
    top = np.argsort(-x, axis=1)[:, :2]
    np.testing.assert_array_equal(nd.topk(f64(x), k=2).asnumpy(), top)
    vals, inds = nd.topk(f64(x), k=2, ret_typ="both")
    np.testing.assert_array_equal(vals.asnumpy(), np.take_along_axis(x, top, 1))
    np.testing.assert_array_equal(inds.asnumpy(), top)
    mask = nd.topk(f64(x), k=2, ret_typ="mask", is_ascend=True).asnumpy()
    want = np.zeros_like(x)
    np.put_along_axis(want, np.argsort(x, axis=1)[:, :2], 1.0, axis=1)
    np.testing.assert_array_equal(mask, want)
    assert nd.topk(f64(x), k=3, axis=None, ret_typ="value").asnumpy().tolist() == [23, 22, 21]
    with pytest.raises(mx.MXNetError, match="ret_typ"):
        nd.topk(f64(x), ret_typ="values")


def test_sort_and_topk_gradients_and_jit():
    x = RNG.permutation(12).reshape(3, 4) * 0.37 - 2.0
    grad_fd(lambda a: nd.sort(a, axis=1, is_ascend=False), [x])
    grad_fd(lambda a: nd.topk(a, k=2, ret_typ="value", axis=0), [x])
    check_jit(lambda a: nd.sort(a, axis=1), x.astype(np.float32))
    check_jit(lambda a: nd.topk(a, k=2, ret_typ="value") * 2.0, x.astype(np.float32))


def test_cumsum_prod_moments():
    x = RNG.uniform(-2, 2, (3, 4))
    np.testing.assert_allclose(nd.cumsum(f64(x), axis=1).asnumpy(), np.cumsum(x, 1))
    np.testing.assert_allclose(nd.cumsum(f64(x)).asnumpy(), np.cumsum(x))
    assert nd.cumsum(nd.array([1, 2], dtype="int32"), dtype="float64").dtype == np.float64
    np.testing.assert_allclose(nd.prod(f64(x), axis=0).asnumpy(), np.prod(x, 0))
    np.testing.assert_allclose(nd.prod(f64(x)).asnumpy(), [np.prod(x)])
    np.testing.assert_allclose(f64(x).prod(axis=1, keepdims=True).asnumpy(),
                               np.prod(x, 1, keepdims=True))
    mean, var = nd.moments(f64(x), axes=(1,))
    np.testing.assert_allclose(mean.asnumpy(), x.mean(1))
    np.testing.assert_allclose(var.asnumpy(), x.var(1))
    mean, var = nd.moments(f64(x), axes=(0,), keepdims=True)
    assert mean.shape == var.shape == (1, 4)
    grad_fd(lambda a: nd.cumsum(a, axis=0), [x])
    grad_fd(lambda a: nd.prod(a, axis=1), [x])
    grad_fd(lambda a: nd.moments(a, axes=(0,))[1], [x])
    z = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, -2.0, 0.5]])
    grad_fd(lambda a: nd.prod(a, axis=1), [z])  # exact at zeros
    check_jit(lambda a: nd.cumsum(a, axis=1), x.astype(np.float32))
    check_jit(lambda a: nd.prod(a, axis=0), x.astype(np.float32))


def test_gather_scatter_nd():
    data = RNG.uniform(-1, 1, (4, 3, 2))
    idx = np.array([[0, 3, 1, 3], [2, 0, 1, 2]])
    out = nd.gather_nd(f64(data), nd.array(idx))
    np.testing.assert_allclose(out.asnumpy(), data[idx[0], idx[1]])
    upd = RNG.uniform(-1, 1, (3, 2))
    pos = np.array([[0, 2, 1]])
    sc = nd.scatter_nd(f64(upd), nd.array(pos), shape=(4, 2)).asnumpy()
    want = np.zeros((4, 2))
    want[pos[0]] = upd
    np.testing.assert_allclose(sc, want)
    grad_fd(lambda a: nd.gather_nd(a, nd.array(idx)), [data])
    grad_fd(lambda a: nd.scatter_nd(a, nd.array(pos), shape=(4, 2)), [upd])
    check_jit(lambda a: nd.gather_nd(a, nd.array(idx)) * 3.0, data.astype(np.float32))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad(mode):
    x = RNG.uniform(-1, 1, (2, 3, 4, 5))
    width = (0, 0, 0, 0, 1, 2, 2, 1)
    got = nd.pad(f64(x), mode=mode, pad_width=width, constant_value=0.5).asnumpy()
    pairs = [(width[2 * i], width[2 * i + 1]) for i in range(4)]
    want = np.pad(x, pairs, mode=mode, **({"constant_values": 0.5} if mode == "constant"
                                          else {}))
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(nd.Pad(f64(x), mode=mode, pad_width=width,
                                      constant_value=0.5).asnumpy(), want)
    grad_fd(lambda a: nd.pad(a, mode=mode, pad_width=width), [x[:1, :1]])
    check_jit(lambda a: nd.pad(a, mode=mode, pad_width=width), x.astype(np.float32))
    with pytest.raises(mx.MXNetError, match="pad_width"):
        nd.pad(f64(x), pad_width=(1, 1))


def test_linalg():
    a = RNG.uniform(-1, 1, (2, 3, 4))
    b = RNG.uniform(-1, 1, (2, 4, 5))
    c = RNG.uniform(-1, 1, (2, 3, 5))
    np.testing.assert_allclose(nd.linalg.gemm2(f64(a), f64(b), alpha=2.0).asnumpy(),
                               2 * a @ b)
    np.testing.assert_allclose(
        nd.linalg.gemm(f64(a), f64(c), f64(b), transpose_a=True, alpha=0.5, beta=-1).asnumpy(),
        0.5 * np.swapaxes(a, 1, 2) @ c - b)
    np.testing.assert_allclose(nd.linalg.syrk(f64(a), alpha=3.0).asnumpy(),
                               3 * a @ np.swapaxes(a, 1, 2))
    np.testing.assert_allclose(nd.linalg.syrk(f64(a), transpose=True).asnumpy(),
                               np.swapaxes(a, 1, 2) @ a)
    m = RNG.uniform(-1, 1, (2, 3, 3))
    spd = m @ np.swapaxes(m, 1, 2) + 3 * np.eye(3)
    low = nd.linalg.potrf(f64(spd)).asnumpy()
    np.testing.assert_allclose(low, np.linalg.cholesky(spd), rtol=1e-12)
    rhs = RNG.uniform(-1, 1, (2, 3, 2))
    x = nd.linalg.trsm(f64(low), f64(rhs), alpha=2.0).asnumpy()
    np.testing.assert_allclose(low @ x, 2 * rhs, rtol=1e-10, atol=1e-12)
    x = nd.linalg.trsm(f64(low), f64(np.swapaxes(rhs, 1, 2)), rightside=True,
                       transpose=True).asnumpy()
    np.testing.assert_allclose(x @ np.swapaxes(low, 1, 2), np.swapaxes(rhs, 1, 2), atol=1e-12)
    np.testing.assert_allclose(nd.linalg.potri(f64(low)).asnumpy(), np.linalg.inv(spd),
                               rtol=1e-10)
    np.testing.assert_allclose(nd.linalg.trmm(f64(low), f64(rhs)).asnumpy(), low @ rhs)
    np.testing.assert_allclose(nd.linalg.sumlogdiag(f64(low)).asnumpy(),
                               np.log(np.diagonal(low, axis1=1, axis2=2)).sum(-1))
    grad_fd(lambda s: nd.linalg.potrf(s), [spd[0]])
    grad_fd(lambda t, r: nd.linalg.trsm(t, r, lower=True), [np.tril(spd[0]), rhs[0]])
    grad_fd(lambda p: nd.linalg.sumlogdiag(nd.linalg.potrf(p)), [spd[1]])
    check_jit(lambda s: nd.linalg.potrf(s) * 2.0, spd.astype(np.float32), rtol=1e-5)


def test_random_aliases():
    mx.random.seed(3)
    u = nd.uniform(low=-1, high=2, shape=(500,))
    mx.random.seed(3)
    u2 = nd.random.uniform(-1, 2, shape=(500,))
    np.testing.assert_array_equal(u.asnumpy(), u2.asnumpy())
    assert u.asnumpy().min() >= -1 and u.asnumpy().max() < 2
    n = nd.random_normal(loc=1.0, scale=2.0, shape=(4000,)).asnumpy()
    assert abs(n.mean() - 1.0) < 0.15 and abs(n.std() - 2.0) < 0.15
    assert nd.normal(shape=(2, 3), dtype="float64").dtype == np.float64
    assert nd.add_n(nd.ones(2), nd.ones(2), nd.ones(2)).asnumpy().tolist() == [3, 3]


def test_errors_name_the_op():
    with pytest.raises(mx.MXNetError, match="sort: axis 5"):
        nd.sort(nd.ones((2, 3)), axis=5)
    with pytest.raises(mx.MXNetError, match="potrf"):
        nd.linalg.potrf(nd.ones((2, 3)))
    with pytest.raises(mx.MXNetError, match="reflect"):
        nd.pad(nd.ones((1, 1, 2, 2)), mode="reflect", pad_width=(0, 0, 0, 0, 2, 2, 0, 0))


def test_random_exponential_shuffle_multinomial():
    mx.random.seed(0)
    e = nd.random.exponential(scale=2.0, shape=(20000,)).asnumpy()
    assert e.min() >= 0 and abs(e.mean() - 2.0) < 0.1
    x = nd.arange(10).reshape((5, 2))
    s = nd.random.shuffle(x).asnumpy()
    assert sorted(s[:, 0].tolist()) == [0, 2, 4, 6, 8] and (s[:, 1] == s[:, 0] + 1).all()
    probs = nd.array([[0.1, 0.0, 0.6, 0.3], [0.0, 1.0, 0.0, 0.0]])
    draws, logp = nd.random.multinomial(probs, shape=4000, get_prob=True)
    assert draws.shape == (2, 4000) and draws.dtype == np.int32
    counts = np.bincount(draws.asnumpy()[0], minlength=4) / 4000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.03)
    assert (draws.asnumpy()[1] == 1).all()
    np.testing.assert_allclose(logp.asnumpy()[0], np.log([0.1, 1.0, 0.6, 0.3])[
        draws.asnumpy()[0]], rtol=1e-6)
    one = nd.random.multinomial(nd.array([0.5, 0.5]))
    assert one.shape == (1,) and one.asnumpy()[0] in (0, 1)


def test_rint_follows_mxnet_halves_eager_and_compiled():
    # MXNet's documented example, then halves, large values and the specials
    x = np.array([-1.5, 1.5, -1.9, 1.9, 2.1, 2.5, -2.5, -0.5, 0.5, 0.0, 1e20, -7.0,
                  np.inf, -np.inf, np.nan], np.float32)
    low = np.floor(x.astype(np.float64))
    with np.errstate(invalid="ignore"):
        want = np.where(x - low <= 0.5, low, low + 1)
    want[-3:] = x[-3:]
    np.testing.assert_array_equal(want[:5], [-2.0, 1.0, -2.0, 2.0, 2.0])
    eager = nd.rint(nd.array(x)).asnumpy()
    np.testing.assert_array_equal(eager, want.astype(np.float32))
    np.testing.assert_array_equal(nd.array(x).rint().asnumpy(), eager)
    f = jit(lambda a: nd.rint(a))
    f(nd.array(x[::-1].copy()))
    np.testing.assert_array_equal(f(nd.array(x)).asnumpy(), eager)


@pytest.mark.parametrize("offset", [0, 1, -1, 2, -2])
def test_linalg_diagonals_with_offsets_match_numpy_eager_compiled_and_in_gradient(offset):
    rs = np.random.RandomState(3)
    a = rs.randn(2, 4, 4)
    v = rs.randn(2, 3)
    want_e = np.stack([np.diagonal(m, offset) for m in a])
    want_m = np.stack([np.diag(r, offset) for r in v])
    for fn in (lambda x: x, jit):
        ex = fn(lambda x: nd.linalg.extractdiag(x, offset=offset))
        mk = fn(lambda x: nd.linalg.makediag(x, offset=offset))
        np.testing.assert_array_equal(ex(nd.array(a, dtype="float64")).asnumpy(), want_e)
        np.testing.assert_array_equal(mk(nd.array(v, dtype="float64")).asnumpy(), want_m)
    # gradients: d/dA sum(W * makediag(A)) is W's diagonal, d/dA sum(w * extractdiag(A)) is
    # w on that diagonal
    w = rs.randn(*want_m.shape)
    x = nd.array(v, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = (nd.linalg.makediag(x, offset=offset) * nd.array(w, dtype="float64")).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(),
                               np.stack([np.diagonal(m, offset) for m in w]), rtol=1e-12)
    c = rs.randn(*want_e.shape)
    x = nd.array(a, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = (nd.linalg.extractdiag(x, offset=offset) * nd.array(c, dtype="float64")).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), np.stack([np.diag(r, offset) for r in c]),
                               rtol=1e-12)


def test_linalg_extractdiag_rejects_offsets_off_the_matrix():
    with pytest.raises(MXNetError, match="extractdiag.*offset 4"):
        nd.linalg.extractdiag(nd.ones((4, 4)), offset=4)
    with pytest.raises(MXNetError, match="extractdiag.*square"):
        nd.linalg.extractdiag(nd.ones((3, 4)))


_BINARY = ["add", "sub", "mul", "div", "pow", "mod", "maximum", "minimum"]


@pytest.mark.parametrize("name", _BINARY)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_eager_and_compiled_agree_on_the_dtype_beside_a_python_scalar(name, dtype):
    """An elementwise op on an array and a Python scalar gives, eagerly, the dtype and values
    the type rule (and so compiled code) gives: a bool array beside a float is float32 (numpy
    alone would say float64)."""
    from tracegrad.array import F
    op = getattr(F, name)
    x = nd.array(np.array([1, 0, 1, 1]).astype(dtype), dtype=dtype)
    for scalar in (2, 2.5, True):
        for flip in (False, True):
            def f(a):
                return op(scalar, a) if flip else op(a, scalar)
            try:
                eager = f(x)
            except (TypeError, ValueError, mx.MXNetError) as e:
                with pytest.raises(type(e)):
                    mx.jit(f)(x)
                continue
            compiled = mx.jit(f)(x)
            assert eager.dtype == compiled.dtype, (scalar, flip, eager.dtype, compiled.dtype)
            np.testing.assert_array_equal(eager.asnumpy(), compiled.asnumpy())


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "rint", "fix", "trunc", "softmax",
                                  "log_softmax", "reciprocal", "softsign", "degrees",
                                  "radians", "exp", "sigmoid", "abs", "sign"])
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_eager_and_compiled_agree_on_int_and_bool_arrays(name, dtype):
    """Eager ran numpy, which takes ints and bools wherever it can; compiled code follows the
    type rule. Each now gives what the other does: the same dtype and values, or both raise."""
    f = getattr(nd, name)
    x = nd.array(np.array([0, 1, 1, 0]).astype(dtype), dtype=dtype)
    try:
        eager = f(x)
    except (TypeError, ValueError, mx.MXNetError) as e:
        with pytest.raises(type(e)):
            mx.jit(lambda a: f(a))(x)
        return
    compiled = mx.jit(lambda a: f(a))(x)
    assert eager.dtype == compiled.dtype, (eager.dtype, compiled.dtype)
    np.testing.assert_allclose(eager.asnumpy().astype(float), compiled.asnumpy().astype(float),
                               rtol=1e-6)
