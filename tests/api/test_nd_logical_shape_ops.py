"""nd's logical ops, hypot, arctan2, identity, gamma/gammaln, diag, slice_like and
depth_to_space/space_to_depth (MXNet 1.9.1 semantics): values and dtypes against float64 numpy
references, compiled (mx.jit) against eager, gradients against finite differences (the
tests/grad/check.py oracle, to second order), and bad input raising an error naming the op."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd
from tracegrad.base import MXNetError

from arrays import keep_dtype as array
from compiled_checks import grads_ok, jit_grads_match


RNG = np.random.default_rng(5)


def jit_matches(fn, *inputs, exact=False):
    """mx.jit(fn) gives eager fn's values, NaN where eager has NaN and the same signs (zeros
    included); `exact`: bit for bit (ops without transcendentals), else to a few ulps (the
    compiled arctan or log may differ from numpy's in the last place)."""
    want = fn(*[array(x) for x in inputs]).asnumpy()
    compiled = mx.jit(fn)
    for _ in range(2):   # the tracing call, then the compiled one
        got = compiled(*[array(x) for x in inputs]).asnumpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        rtol = 1e-14 if got.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    if got.dtype.kind == "f":
        assert np.array_equal(np.signbit(got), np.signbit(want)), (got, want)
    return got


# ------------------------------------------------------------------ logical
LOGICAL = {"logical_and": np.logical_and, "logical_or": np.logical_or,
           "logical_xor": np.logical_xor}


@pytest.mark.parametrize("name", sorted(LOGICAL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_logical_binary_values_dtype_broadcast(name, dtype):
    a = np.array([[-2, 0, 1.5], [0, 0, 3], [np.nan, 7, 0]])
    b = np.array([[1], [0], [2]])
    a, b = a.astype(dtype) if dtype != np.int32 else np.nan_to_num(a).astype(dtype), \
        b.astype(dtype)
    ref = LOGICAL[name](a, b).astype(dtype)
    for fn in (getattr(nd, name), getattr(nd, "broadcast_" + name)):
        out = fn(array(a), array(b))
        assert out.dtype == dtype and out.shape == (3, 3)
        np.testing.assert_array_equal(out.asnumpy(), ref)
    jit_matches(lambda x, y: getattr(nd, name)(x, y), a, b, exact=True)


@pytest.mark.parametrize("name", sorted(LOGICAL))
def test_logical_with_scalars(name):
    a = np.array([-2.0, 0.0, 0.5], np.float32)
    for s in (0, 1, 0.5, -3.0):
        np.testing.assert_array_equal(getattr(nd, name)(array(a), s).asnumpy(),
                                      LOGICAL[name](a, s).astype(np.float32))
        np.testing.assert_array_equal(getattr(nd, name)(s, array(a)).asnumpy(),
                                      LOGICAL[name](s, a).astype(np.float32))
    # MXNet reads the scalar in the array's dtype: 0.5 beside an int array is 0
    ints = np.array([0, 2], np.int32)
    np.testing.assert_array_equal(getattr(nd, name)(array(ints), 0.5).asnumpy(),
                                  LOGICAL[name](ints, 0).astype(np.int32))
    assert getattr(nd, name)(2, 0) == int(LOGICAL[name](2, 0))


def test_logical_not_and_no_gradient():
    a = np.array([[-1.0, 0.0], [np.nan, 2.0]], np.float32)
    out = nd.logical_not(array(a))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.asnumpy(), np.logical_not(a).astype(np.float32))
    np.testing.assert_array_equal(nd.logical_not(array(np.array([0, 3], np.int64))).asnumpy(),
                                  np.array([1, 0], np.int64))
    jit_matches(lambda x: nd.logical_not(x), a, exact=True)
    x, y = array(np.array([1.0, 0.0, -2.0], np.float32)), array(np.array([3.0, 4.0, 0.0],
                                                                        np.float32))
    x.attach_grad()
    y.attach_grad()
    with autograd.record():
        z = nd.logical_or(x, y) * x + nd.logical_and(x, y) + nd.logical_not(y)
    z.backward()   # the logical ops pass no gradient: d/dx is logical_or's value only
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 1, 1])
    np.testing.assert_array_equal(y.grad.asnumpy(), [0, 0, 0])


# ------------------------------------------------------------------ hypot
def test_hypot_values_broadcast_and_extremes():
    x = RNG.standard_normal((3, 1)) * 10
    y = RNG.standard_normal((1, 4)) * 10
    for fn in (nd.hypot, nd.broadcast_hypot):
        out = fn(array(x), array(y))
        assert out.dtype == np.float64 and out.shape == (3, 4)
        np.testing.assert_allclose(out.asnumpy(), np.hypot(x, y), rtol=1e-15)
    big = np.array([1e30, -3e38, 1e-30, 1e-45, 0.0, -0.0, 3.0, np.inf, np.nan, -np.inf],
                   np.float32)
    other = np.array([1e30, 1e38, 1e-30, 1e-45, 0.0, 0.0, -4.0, np.nan, np.inf, 1.0],
                     np.float32)
    out = nd.hypot(array(big), array(other))
    assert out.dtype == np.float32
    ref = np.hypot(big.astype(np.float64), other.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(out.asnumpy(), ref, rtol=2e-7)   # inf beside NaN is inf
    jit_matches(lambda a, b: nd.hypot(a, b), big, other)
    # ints compute in float32, as nd.sqrt does; a Python number broadcasts
    np.testing.assert_array_equal(nd.hypot(array(np.array([3, 5], np.int32)), 4).asnumpy(),
                                  np.array([5, np.hypot(5, 4)], np.float32))


def test_compiled_gradients_match_eager():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    y = RNG.standard_normal((1, 4)).astype(np.float32)
    jit_grads_match(lambda a, b: nd.hypot(a, b), x, y)
    jit_grads_match(lambda a, b: nd.arctan2(a, b), x, y)
    both_sides = np.concatenate([np.abs(x) + 0.3, -np.abs(x) - 0.1])  # no integers
    jit_grads_match(lambda a: nd.gammaln(a) + nd.gamma(a), both_sides)
    jit_grads_match(lambda a: nd.diag(a, k=1) * 3, x)
    jit_grads_match(lambda a: nd.diag(nd.diag(a, k=-1)), x)
    jit_grads_match(lambda a: nd.slice_like(a, nd.zeros((2, 2)), axes=(0, 1)), x)
    jit_grads_match(lambda a: nd.depth_to_space(nd.space_to_depth(a, 2), 2) * a,
                    RNG.standard_normal((1, 2, 4, 2)).astype(np.float32))
    jit_grads_match(lambda a, b: nd.identity(a) * nd.logical_xor(a, b), x, y)


def test_hybridized_block_matches_eager():
    class Net(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x, y):
            z = F.depth_to_space(F.space_to_depth(x, 2), 2)
            return (F.hypot(z, y) + F.arctan2(y, z) + F.logical_and(z, y)
                    + F.slice_like(F.gammaln(F.abs(z) + 1), x) + F.identity(x))

    x = RNG.standard_normal((2, 4, 4, 6)).astype(np.float32)
    y = RNG.standard_normal((1, 1, 1, 6)).astype(np.float32)
    net = Net()
    want = net(array(x), array(y)).asnumpy()
    net.hybridize()
    for _ in range(2):
        got = net(array(x), array(y)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_binary_shape_errors_name_the_op():
    a, b = array(np.zeros((2, 3), np.float32)), array(np.zeros((4,), np.float32))
    for name in ("logical_and", "broadcast_logical_or", "logical_xor", "hypot", "arctan2"):
        with pytest.raises(MXNetError, match=name.replace("broadcast_", "")):
            getattr(nd, name)(a, b)


def test_compiled_odd_inverse_functions_keep_negative_zero():
    # arctan2's sign of zero rests on arctan(-0.0) = -0.0, compiled as eagerly
    x = np.array([-0.0, 0.0, -1e-30, 0.5, -0.5], np.float32)
    for name in ("arctan", "arcsin", "sinh", "arcsinh", "arctanh"):
        got = jit_matches(lambda a, name=name: getattr(nd, name)(a), x)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(x))


def test_hypot_gradients():
    x, y = RNG.standard_normal((2, 3)), RNG.standard_normal((1, 3))
    grads_ok(lambda a, b: nd.hypot(a, b), x, y)
    grads_ok(lambda a, b: nd.hypot(a, b), x * 1e200, y * 1e200, order=1,  # no overflow
             eps=1e196)
    # at the origin: 0 with MXNet's gradient x / hypot = 0 / 0 (NaN); elsewhere x / hypot,
    # a zero leg included
    a = array(np.array([0.0, 3.0, 0.0], np.float32))
    b = array(np.array([0.0, -4.0, 2.0], np.float32))
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        h = nd.hypot(a, b)
    h.backward()
    np.testing.assert_array_equal(h.asnumpy(), [0, 5, 2])
    np.testing.assert_allclose(a.grad.asnumpy(), [np.nan, 0.6, 0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.asnumpy(), [np.nan, -0.8, 1], rtol=1e-6)
    # 1e30 in float32: the gradient is x / hypot, not 0 or NaN from an overflowing square
    a = array(np.array([3e30], np.float32))
    a.attach_grad()
    with autograd.record():
        nd.hypot(a, array(np.array([4e30], np.float32))).backward()
    np.testing.assert_allclose(a.grad.asnumpy(), [0.6], rtol=1e-6)


# ------------------------------------------------------------------ arctan2
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -1e-30, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_arctan2_special_values_match_numpy(dtype):
    y, x = (a.astype(dtype) for a in np.meshgrid(SPECIAL, SPECIAL, indexing="ij"))
    out = nd.arctan2(array(y), array(x))
    assert out.dtype == dtype
    got = out.asnumpy()
    ref = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    ulp = 0 if dtype == np.float64 else 2e-7
    np.testing.assert_allclose(got, ref.astype(dtype), rtol=ulp, atol=0)
    # quadrants: the sign of every zero result and of every angle follows numpy
    assert np.array_equal(np.signbit(got), np.signbit(ref)), (y, x, got)
    jit_matches(lambda a, b: nd.arctan2(a, b), y, x)


def test_arctan2_all_quadrants_and_broadcast():
    ang = np.linspace(-np.pi, np.pi, 41)
    r = np.exp(RNG.uniform(-20, 20, ang.shape))
    y, x = r * np.sin(ang), r * np.cos(ang)
    np.testing.assert_allclose(nd.arctan2(array(y), array(x)).asnumpy(),
                               np.arctan2(y, x), rtol=1e-15, atol=1e-15)
    out = nd.arctan2(array(np.array([[1.0], [-1.0]], np.float32)),
                     array(np.array([-2.0, 0.0, 2.0], np.float32)))
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.asnumpy(), np.arctan2([[1.0], [-1.0]], [-2.0, 0.0, 2.0]),
                               rtol=1e-6)


def test_arctan2_gradients():
    y = RNG.standard_normal((3, 4)) * 3
    x = RNG.standard_normal((3, 4)) * 3
    grads_ok(lambda a, b: nd.arctan2(a, b), y, x)
    # (dy, dx) = (x, -y) / (x² + y²), checked directly on both branches and all quadrants
    ys = array(np.array([1.0, 5.0, -2.0, 0.0, 0.0, 3.0], np.float64))
    xs = array(np.array([4.0, -1.0, -2.0, -3.0, 2.0, 0.0], np.float64))
    ys.attach_grad()
    xs.attach_grad()
    with autograd.record():
        nd.arctan2(ys, xs).backward()
    yv, xv = ys.asnumpy(), xs.asnumpy()
    np.testing.assert_allclose(ys.grad.asnumpy(), xv / (xv ** 2 + yv ** 2), rtol=1e-14)
    np.testing.assert_allclose(xs.grad.asnumpy(), -yv / (xv ** 2 + yv ** 2), rtol=1e-14)


# ------------------------------------------------------------------ identity
def test_identity_copies_and_passes_gradient():
    a = array(np.array([[1.0, -0.0], [np.inf, 2.0]], np.float32))
    b = nd.identity(a)
    assert b.dtype == np.float32 and b is not a
    np.testing.assert_array_equal(b.asnumpy(), a.asnumpy())
    assert np.signbit(b.asnumpy()[0, 1])
    b[:] = 7           # a new buffer: writing the copy leaves the source alone
    assert a.asnumpy()[0, 0] == 1.0
    np.testing.assert_array_equal(nd.identity(array(np.array([2, 3], np.int64))).asnumpy(),
                                  [2, 3])
    grads_ok(lambda x: nd.identity(x) * x, RNG.standard_normal(4))
    jit_matches(lambda x: nd.identity(x) * 2, np.arange(4, dtype=np.float32))


# ------------------------------------------------------------------ gamma, gammaln
def _lgamma_ref(v):
    return np.array([math.nan if math.isnan(t) else math.inf if math.isinf(t) or (
        t <= 0 and t == math.floor(t)) else math.lgamma(t) for t in v.ravel()]).reshape(v.shape)


def _gamma_ref(v):
    def one(t):
        if math.isnan(t) or t == -math.inf or (t < 0 and t == math.floor(t)):
            return math.nan
        if t == 0:
            return math.copysign(math.inf, t)
        try:
            return math.gamma(t)
        except OverflowError:
            return math.inf
    return np.array([one(t) for t in v.ravel()]).reshape(v.shape)


GAMMA_POINTS = np.array([1e-8, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.7, 10.0, 33.3, 171.5, 1e5,
                         1e300, -0.5, -1.5, -2.5, -0.1, -3.999, -10.3, -170.5, 0.0, -0.0,
                         -1.0, -2.0, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 5e-13), (np.float32, 1e-6)])
def test_gamma_gammaln_values(dtype, rtol):
    with np.errstate(over="ignore"):
        pts = GAMMA_POINTS.astype(dtype)   # 1e300 is inf in float32
    wide = pts.astype(np.float64)
    for fn, ref in ((nd.gammaln, _lgamma_ref), (nd.gamma, _gamma_ref)):
        out = fn(array(pts))
        assert out.dtype == dtype
        want = ref(wide)
        with np.errstate(over="ignore"):
            want = want.astype(dtype)
        got = out.asnumpy()
        # near the roots of lgamma (1, 2) the error is absolute: a few float64 ulps of 1
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-15)
        assert np.array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))
    jit_matches(lambda x: nd.concat(nd.gammaln(x), nd.gamma(x), dim=0), pts)   # one compile
    ints = nd.gammaln(array(np.array([1, 5], np.int32)))
    assert ints.dtype == np.float32
    np.testing.assert_allclose(ints.asnumpy(), [0.0, math.log(24)], atol=1e-6)


def test_gamma_gammaln_gradients():
    for x in (np.array([0.3, 0.7, 1.0, 2.2, 6.5, 25.0]),
              np.array([-0.3, -1.6, -2.5, -5.2, 0.2, 0.45])):
        grads_ok(lambda a: nd.gammaln(a), x, rtol=1e-5)
        grads_ok(lambda a: nd.gamma(a), x, rtol=1e-5)
    # d/dx lgamma(1) = -(Euler's gamma); d/dx gamma(2) = 1 - Euler's gamma
    euler = 0.5772156649015329
    for fn, x0, want in ((nd.gammaln, 1.0, -euler), (nd.gamma, 2.0, 1 - euler),
                         (nd.gammaln, 0.5, -euler - 2 * math.log(2))):
        a = array(np.array([x0], np.float32))
        a.attach_grad()
        with autograd.record():
            fn(a).backward()
        np.testing.assert_allclose(a.grad.asnumpy(), [want], rtol=1e-6)


# ------------------------------------------------------------------ diag
@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_diag_of_a_vector_builds_a_matrix(k):
    v = np.array([1.5, -2.0, np.inf], np.float32)
    out = nd.diag(array(v), k=k)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.asnumpy(), np.diag(v, k))   # zeros beside inf
    np.testing.assert_array_equal(nd.diag(array(np.array([4, 5], np.int32)), k).asnumpy(),
                                  np.diag(np.array([4, 5], np.int32), k))
    jit_matches(lambda x: nd.diag(x, k=k), v, exact=True)
    grads_ok(lambda x: nd.diag(x, k=k) * nd.diag(x, k=k), RNG.standard_normal(3))


@pytest.mark.parametrize("shape,k,axis1,axis2", [
    ((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((3, 4), -2, 0, 1), ((3, 4), 4, 0, 1),
    ((2, 3, 4), 1, 2, 0), ((2, 3, 4, 5), -1, 1, 3), ((2, 3, 4, 5), 2, -1, -3),
    ((4, 3), -3, 1, 0)])
def test_diag_of_an_array_takes_diagonals(shape, k, axis1, axis2):
    x = RNG.standard_normal(shape)
    out = nd.diag(array(x), k=k, axis1=axis1, axis2=axis2)
    ref = np.diagonal(x, k, axis1, axis2)
    assert out.shape == ref.shape and out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), ref)
    if axis1 == 0 and axis2 == 1:
        np.testing.assert_array_equal(array(x).diag(k).asnumpy(), ref)   # NDArray method
    if ref.size:
        jit_matches(lambda a: nd.diag(a, k=k, axis1=axis1, axis2=axis2), x.astype(np.float32),
                    exact=True)
        grads_ok(lambda a: nd.diag(a, k=k, axis1=axis1, axis2=axis2) ** 2, x)


def test_diag_errors_name_the_op():
    x = array(np.zeros((2, 3), np.float32))
    for kwargs in ({"k": 4}, {"k": -3}, {"axis1": 2}, {"axis2": -3}, {"axis1": 1, "axis2": 1},
                   {"axis1": -1, "axis2": 1}):
        with pytest.raises(MXNetError, match="diag"):
            nd.diag(x, **kwargs)
    with pytest.raises(MXNetError, match="diag"):
        nd.diag(array(np.float32(1.0)))
    assert nd.diag(x, k=3).shape == (0,)    # an empty diagonal exists (MXNet: size 0)


# ------------------------------------------------------------------ slice_like
def test_slice_like_values_axes_and_gradient():
    x = RNG.standard_normal((4, 5, 6))
    like = np.zeros((2, 3, 4, 7))
    out = nd.slice_like(array(x), array(like), axes=(0, -2))
    np.testing.assert_array_equal(out.asnumpy(), x[:2, :3])  # -2 is data's axis 1
    np.testing.assert_array_equal(nd.slice_like(array(x), array(np.zeros((3, 5, 1)))).asnumpy(),
                                  x[:3, :, :1])
    np.testing.assert_array_equal(array(x).slice_like(array(like), axes=(1,)).asnumpy(),
                                  x[:, :3])
    same = nd.slice_like(array(x), array(np.zeros((4, 5, 6))))
    np.testing.assert_array_equal(same.asnumpy(), x)
    jit_matches(lambda a, b: nd.slice_like(a, b, axes=(0, 2)), x.astype(np.float32),
                like.astype(np.float32), exact=True)
    grads_ok(lambda a: nd.slice_like(a, nd.zeros((3, 2, 6)), axes=(0, 1)) ** 2, x)
    a, b = array(x), array(like)
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        nd.slice_like(a, b, axes=(0,)).sum().backward()
    np.testing.assert_array_equal(a.grad.asnumpy()[:2], 1)
    np.testing.assert_array_equal(a.grad.asnumpy()[2:], 0)
    np.testing.assert_array_equal(b.grad.asnumpy(), 0)    # shape_like gets no gradient


def test_slice_like_errors_name_the_op():
    x = array(np.zeros((2, 3), np.float32))
    for like, axes in (((2, 3, 1), ()), ((3, 3), ()), ((2, 4), (1,)), ((2, 3), (2,)),
                       ((2, 3), (-3,)), ((2,), (1,))):
        with pytest.raises(MXNetError, match="slice_like"):
            nd.slice_like(x, array(np.zeros(like, np.float32)), axes=axes)


# ------------------------------------------------------------------ depth/space
def _depth_to_space_ref(x, b):
    n, c, h, w = x.shape
    t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return t.reshape(n, c // (b * b), h * b, w * b)


def _space_to_depth_ref(x, b):
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return t.reshape(n, c * b * b, h // b, w // b)


def test_depth_to_space_matches_mxnet_example_and_inverts():
    x = np.arange(24, dtype=np.float32).reshape(1, 4, 2, 3)
    want = [[[[0, 6, 1, 7, 2, 8], [12, 18, 13, 19, 14, 20], [3, 9, 4, 10, 5, 11],
              [15, 21, 16, 22, 17, 23]]]]   # MXNet's documented example
    np.testing.assert_array_equal(nd.depth_to_space(array(x), 2).asnumpy(), want)
    np.testing.assert_array_equal(nd.space_to_depth(array(np.array(want, np.float32)),
                                                    2).asnumpy(), x)
    y = RNG.standard_normal((2, 18, 2, 3))
    np.testing.assert_array_equal(array(y).depth_to_space(3).asnumpy(),
                                  _depth_to_space_ref(y, 3))
    z = RNG.standard_normal((2, 3, 4, 6))
    np.testing.assert_array_equal(array(z).space_to_depth(block_size=2).asnumpy(),
                                  _space_to_depth_ref(z, 2))
    back = nd.depth_to_space(nd.space_to_depth(array(z), 2), 2)
    np.testing.assert_array_equal(back.asnumpy(), z)
    jit_matches(lambda a: nd.depth_to_space(a, 3), y.astype(np.float32), exact=True)
    jit_matches(lambda a: nd.space_to_depth(a, 2), z.astype(np.float32), exact=True)
    grads_ok(lambda a: nd.depth_to_space(a, 2) ** 2, RNG.standard_normal((1, 8, 2, 1)))
    grads_ok(lambda a: nd.space_to_depth(a, 2) ** 2, RNG.standard_normal((1, 2, 2, 4)))


def test_depth_space_errors_name_the_op():
    x = array(np.zeros((1, 4, 2, 3), np.float32))
    for call in (lambda: nd.depth_to_space(x, 0), lambda: nd.depth_to_space(x, 3),
                 lambda: nd.depth_to_space(array(np.zeros((4, 2, 3), np.float32)), 2),
                 lambda: nd.depth_to_space(array(np.zeros((1, 0, 2, 2), np.float32)), 1)):
        with pytest.raises(MXNetError, match="depth_to_space"):
            call()
    for call in (lambda: nd.space_to_depth(x, 2), lambda: nd.space_to_depth(x, -1),
                 lambda: nd.space_to_depth(array(np.zeros((2, 2), np.float32)), 1)):
        with pytest.raises(MXNetError, match="space_to_depth"):
            call()


def test_all_names_exist_on_nd():
    for name in ("logical_and", "logical_or", "logical_xor", "logical_not",
                 "broadcast_logical_and", "broadcast_logical_or", "broadcast_logical_xor",
                 "hypot", "broadcast_hypot", "arctan2", "identity", "diag", "slice_like",
                 "space_to_depth", "depth_to_space", "gamma", "gammaln"):
        assert callable(getattr(nd, name)), name
