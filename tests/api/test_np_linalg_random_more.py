"""mx.np.linalg's factorisations and solves (svd, cholesky, solve, tensorinv, tensorsolve, pinv,
eig, eigvals, eigh, eigvalsh) against numpy in float64 with MXNet 1.9.1's conventions, their
gradients against finite differences, jit / hybridize against eager; mx.np.random's further
distributions and mx.npx.random: reproducible under a seed, shapes and dtypes, moments on fixed
seeds and large samples, and the gradients of the reparameterized samplers."""
import warnings

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, np, npx
from numeric import central_differences

R = onp.random.default_rng(11)


def f64(x):
    return np.array(x, dtype="float64")


def spd(*batch, n=4):
    m = R.standard_normal(batch + (n, n))
    return m @ onp.swapaxes(m, -1, -2) + n * onp.eye(n)


def sym_distinct(*batch, n=4):
    """Symmetric matrices with eigenvalues 1, 2.5, 4, ... (gaps for eigh's gradient)."""
    q, _ = onp.linalg.qr(R.standard_normal(batch + (n, n)))
    w = 1.0 + 1.5 * onp.arange(n)
    return (q * w[..., None, :]) @ onp.swapaxes(q, -1, -2)


def real_spectrum(*batch, n=3):
    """Non-symmetric matrices with real, distinct eigenvalues: V diag(w) V^-1."""
    v = R.standard_normal(batch + (n, n)) + 2 * onp.eye(n)
    w = onp.arange(1.0, n + 1.0) * onp.where(onp.arange(n) % 2, -1.0, 1.0)
    return (v * w[..., None, :]) @ onp.linalg.inv(v)


def close(got, want, tol=1e-10):
    onp.testing.assert_allclose(onp.asarray(got), want, rtol=tol, atol=tol)


# ---------------------------------------------------------------------- svd
def test_svd_returns_mxnets_ut_s_v_with_deterministic_signs():
    a = R.standard_normal((2, 3, 5))
    ut, s, v = np.linalg.svd(f64(a))
    assert all(isinstance(x, np.ndarray) for x in (ut, s, v))
    assert (ut.shape, s.shape, v.shape) == ((2, 3, 3), (2, 3), (2, 3, 5))
    ut, s, v = ut.asnumpy(), s.asnumpy(), v.asnumpy()
    close((ut * s[..., None, :]) @ v, a)                         # a = ut diag(s) v
    close(ut @ (s[..., None] * v), a)
    close(s, onp.linalg.svd(a, compute_uv=False))                 # descending, numpy's values
    close(onp.swapaxes(ut, -1, -2) @ ut, onp.broadcast_to(onp.eye(3), (2, 3, 3)))
    close(v @ onp.swapaxes(v, -1, -2), onp.broadcast_to(onp.eye(3), (2, 3, 3)))
    lead = onp.take_along_axis(v, onp.argmax(onp.abs(v), -1)[..., None], -1)
    assert (lead > 0).all()                # each row of v: largest-magnitude entry positive
    # MXNet's own example: arange(54).reshape(6, 9) (float32, rank 2)
    ut, s, v = np.linalg.svd(np.arange(54).reshape(6, 9))
    assert ut.dtype == onp.float32 and (ut.shape, s.shape, v.shape) == ((6, 6), (6,), (6, 9))
    onp.testing.assert_allclose(onp.dot(ut.asnumpy(), s.asnumpy()[:, None] * v.asnumpy()),
                                onp.arange(54.0).reshape(6, 9), atol=1e-3)
    assert np.linalg.svd(np.array([[1, 2], [3, 4]], dtype="int32"))[1].dtype == onp.float64


def test_svd_of_float32_square_and_its_errors():
    a = R.standard_normal((4, 4)).astype(onp.float32)
    ut, s, v = np.linalg.svd(np.array(a))
    assert ut.dtype == s.dtype == v.dtype == onp.float32
    onp.testing.assert_allclose((ut.asnumpy() * s.asnumpy()) @ v.asnumpy(), a, atol=1e-5)
    with pytest.raises(mx.MXNetError, match=r"svd: a must have shape \(\.\.\., M, N\) with "
                                            r"M <= N.*\(5, 3\)"):
        np.linalg.svd(np.ones((5, 3)))
    with pytest.raises(mx.MXNetError, match="svd"):
        np.linalg.svd(np.ones((3,)))
    with pytest.raises(mx.MXNetError, match="float16"):
        np.linalg.svd(np.ones((2, 2), dtype="float16"))


# ---------------------------------------------------------------------- cholesky / solve
def test_cholesky_is_lower_and_reconstructs_batched():
    a = spd(2, 3)
    low = np.linalg.cholesky(f64(a)).asnumpy()
    assert low.shape == (2, 3, 4, 4)
    assert (onp.triu(low, 1) == 0).all() and (onp.diagonal(low, 0, -2, -1) > 0).all()
    close(low @ onp.swapaxes(low, -1, -2), a)
    close(low, onp.linalg.cholesky(a))
    close(np.linalg.cholesky(np.array([[16.0, 4], [4, 10]])).asnumpy(), [[4, 0], [1, 3]], 1e-6)
    with pytest.raises(mx.MXNetError, match="cholesky: last 2 dimensions of the array must be "
                                            "square"):
        np.linalg.cholesky(np.ones((2, 3)))
    with pytest.raises(mx.MXNetError, match="not positive definite"):
        np.linalg.cholesky(f64([[1.0, 2.0], [2.0, 1.0]]))


def test_solve_vector_and_matrix_right_hand_sides():
    a = spd(2, n=3) + R.standard_normal((2, 3, 3))
    b_vec, b_mat = R.standard_normal((2, 3)), R.standard_normal((2, 3, 4))
    x = np.linalg.solve(f64(a), f64(b_vec))
    assert x.shape == (2, 3)
    close(onp.einsum("bij,bj->bi", a, x.asnumpy()), b_vec)
    close(x.asnumpy(), onp.linalg.solve(a, b_vec[..., None])[..., 0])
    x = np.linalg.solve(f64(a), f64(b_mat))
    assert x.shape == (2, 3, 4)
    close(a @ x.asnumpy(), b_mat)
    # MXNet's docstring example, and its result dtypes
    x = np.linalg.solve(np.array([[3, 1], [1, 2]]), np.array([9, 8]))
    assert x.dtype == onp.float32
    close(x.asnumpy(), [2.0, 3.0], 1e-6)
    assert np.linalg.solve(np.ones((2, 2)) + np.eye(2), f64([1.0, 2.0])).dtype == onp.float64
    ints = np.array([[2, 0], [0, 4]], dtype="int32")
    assert np.linalg.solve(ints, np.array([2, 4], dtype="int32")).dtype == onp.float64


def test_solve_refuses_bad_shapes():
    with pytest.raises(mx.MXNetError, match="solve: last 2 dimensions of the array must be "
                                            "square"):
        np.linalg.solve(np.ones((2, 3)), np.ones((2,)))
    with pytest.raises(mx.MXNetError, match=r"solve: a of shape \(2, 3, 3\) and b of shape "
                                            r"\(4, 3\) do not match"):
        np.linalg.solve(np.ones((2, 3, 3)), np.ones((4, 3)))      # mismatched batch
    with pytest.raises(mx.MXNetError, match="do not match"):
        np.linalg.solve(np.ones((3, 3)), np.ones((4, 2)))
    with pytest.raises(mx.MXNetError, match="b must have a.ndim - 1 or a.ndim dimensions"):
        np.linalg.solve(np.ones((3, 3)), np.ones((1, 3, 3)))
    with pytest.raises(mx.MXNetError, match="singular"):
        np.linalg.solve(np.zeros((2, 2)), np.ones((2,)))


# ---------------------------------------------------------------------- tensorinv / tensorsolve
def test_tensorinv_matches_numpy_and_inverts_under_tensordot():
    a = R.standard_normal((4, 6, 8, 3)) + onp.eye(24).reshape(4, 6, 8, 3) * 5
    inv = np.linalg.tensorinv(f64(a), ind=2)
    assert inv.shape == (8, 3, 4, 6)
    close(inv.asnumpy(), onp.linalg.tensorinv(a, ind=2))
    close(onp.tensordot(inv.asnumpy(), a, 2), onp.eye(24).reshape(8, 3, 8, 3))
    b = onp.eye(24).reshape(24, 8, 3)
    inv = np.linalg.tensorinv(f64(b), ind=1)
    assert inv.shape == (8, 3, 24)
    close(inv.asnumpy(), onp.linalg.tensorinv(b, ind=1))
    with pytest.raises(mx.MXNetError, match=r"tensorinv: a shape must be square.*\(4, 6, 8, 2\)"):
        np.linalg.tensorinv(np.ones((4, 6, 8, 2)))
    with pytest.raises(mx.MXNetError, match="ind must be a positive integer"):
        np.linalg.tensorinv(np.ones((2, 2)), ind=0)


def test_tensorsolve_matches_numpy_with_and_without_axes():
    a = R.standard_normal((6, 4, 2, 3, 4)) + onp.eye(24).reshape(6, 4, 2, 3, 4) * 4
    b = R.standard_normal((6, 4))
    x = np.linalg.tensorsolve(f64(a), f64(b))
    assert x.shape == (2, 3, 4)
    close(onp.tensordot(a, x.asnumpy(), axes=3), b)
    close(x.asnumpy(), onp.linalg.tensorsolve(a, b))
    a2 = R.standard_normal((2, 3, 2, 3)) + onp.eye(6).reshape(2, 3, 2, 3) * 3
    b2 = R.standard_normal((3, 2))
    x = np.linalg.tensorsolve(f64(a2), f64(b2), axes=(0,))
    close(x.asnumpy(), onp.linalg.tensorsolve(a2, b2, axes=(0,)))
    close(np.linalg.tensorsolve(f64(2.0), f64(3.0)).asnumpy(), 1.5)
    with pytest.raises(mx.MXNetError, match="tensorsolve: a .* must be square"):
        np.linalg.tensorsolve(np.ones((6, 4, 2, 3, 5)), np.ones((6, 4)))


# ---------------------------------------------------------------------- pinv
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (2, 4, 4), (2, 3, 6, 2)])
def test_pinv_matches_numpy(shape):
    a = R.standard_normal(shape)
    p = np.linalg.pinv(f64(a))
    assert p.shape == shape[:-2] + shape[:-3:-1]
    close(p.asnumpy(), onp.linalg.pinv(a), 1e-9)
    p = p.asnumpy()
    close(a @ p @ a, a, 1e-9)
    close(p @ a @ p, p, 1e-9)


def test_pinv_drops_small_singular_values_by_rcond():
    a = onp.outer([1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 2.0])              # rank 1
    close(np.linalg.pinv(f64(a)).asnumpy(), onp.linalg.pinv(a), 1e-12)
    d = onp.diag([1.0, 1e-3, 1e-8])
    assert onp.allclose(np.linalg.pinv(f64(d), rcond=1e-5).asnumpy(),
                        onp.diag([1.0, 1e3, 0.0]))
    rc = f64([1e-5, 1e-2])                         # rcond per matrix, broadcast on the batch
    got = np.linalg.pinv(f64(onp.stack([d, d])), rcond=rc).asnumpy()
    close(got[0], onp.diag([1.0, 1e3, 0.0]), 1e-9)
    close(got[1], onp.diag([1.0, 0.0, 0.0]), 1e-9)
    with pytest.raises(NotImplementedError, match="hermitian"):
        np.linalg.pinv(f64(d), hermitian=True)
    with pytest.raises(mx.MXNetError, match="rcond of shape"):
        np.linalg.pinv(f64(onp.stack([d, d])), rcond=f64([1e-5, 1e-2, 1.0]))


# ---------------------------------------------------------------------- eig / eigh
def test_eig_and_eigvals_of_real_spectra():
    a = real_spectrum(2, n=4)
    w = np.linalg.eigvals(f64(a))
    assert w.shape == (2, 4) and w.dtype == onp.float64
    close(onp.sort(w.asnumpy(), -1), onp.sort(onp.linalg.eigvals(a).real, -1), 1e-8)
    w, v = np.linalg.eig(f64(a))
    assert v.shape == (2, 4, 4)
    w, v = w.asnumpy(), v.asnumpy()
    close(a @ v, v * w[..., None, :], 1e-8)                # columns: a v_i = w_i v_i
    close(onp.linalg.norm(v, axis=-2), onp.ones((2, 4)))
    close(w, onp.linalg.eigvals(a).real, 1e-8)             # eig's w in eigvals' order
    assert np.linalg.eigvals(np.array([[-1.0, 0.0], [0.0, 1.0]])).dtype == onp.float32
    rotation = f64([[0.0, -1.0], [1.0, 0.0]])               # eigenvalues +-i
    with pytest.raises(mx.MXNetError, match="complex eigenvalues are unsupported"):
        np.linalg.eigvals(rotation)
    with pytest.raises(mx.MXNetError, match="eig: last 2 dimensions"):
        np.linalg.eig(np.ones((2, 3)))


def test_eig_has_no_gradient_as_in_mxnet():
    a = f64(real_spectrum(n=3))
    a.attach_grad()
    with autograd.record():
        w, v = np.linalg.eig(a)
        loss = w.sum() + v.sum() + np.linalg.eigvals(a).sum()
    loss.backward()
    assert (a.grad.asnumpy() == 0).all()


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_and_eigvalsh_read_one_triangle(uplo):
    s = sym_distinct(2, n=4)
    noisy = s + (onp.triu(R.standard_normal(s.shape), 1) if uplo == "L" else
                 onp.tril(R.standard_normal(s.shape), -1))       # the unread triangle
    w, v = np.linalg.eigh(f64(noisy), UPLO=uplo)
    wn, vn = onp.linalg.eigh(noisy, UPLO=uplo)
    close(w.asnumpy(), wn)
    close(np.linalg.eigvalsh(f64(noisy), UPLO=uplo).asnumpy(), wn)
    v = v.asnumpy()
    close(s @ v, v * w.asnumpy()[..., None, :])             # columns are the eigenvectors
    close(onp.abs(v), onp.abs(vn))
    lead = onp.take_along_axis(v, onp.argmax(onp.abs(v), -2)[..., None, :], -2)
    assert (lead > 0).all()                                 # MXNet's syevd signs


def test_eigh_refuses_bad_uplo_and_shapes():
    with pytest.raises(mx.MXNetError, match="UPLO argument must be 'L' or 'U'"):
        np.linalg.eigh(np.eye(2), UPLO="X")
    with pytest.raises(mx.MXNetError, match="eigvalsh: array must be at least two-dim"):
        np.linalg.eigvalsh(np.ones((3,)))


# ---------------------------------------------------------------------- gradients
def _grad_vs_fd(fn, arrays):
    """autograd's gradient of sum(W_k * out_k) over fn's outputs against central
    differences, all in float64."""
    first = fn(*[f64(a) for a in arrays])
    outs = first if isinstance(first, tuple) else (first,)
    weights = [R.standard_normal(o.shape) for o in outs]
    arrays = [onp.array(a, dtype=onp.float64) for a in arrays]
    xs = [f64(a) for a in arrays]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        got = fn(*xs)
        got = got if isinstance(got, tuple) else (got,)
        loss = sum((o * f64(w)).sum() for o, w in zip(got, weights))
    loss.backward()

    def value():          # (central_differences moves the entries of `arrays` in place)
        res = fn(*[f64(a) for a in arrays])
        res = res if isinstance(res, tuple) else (res,)
        return float(sum((r.asnumpy() * w).sum() for r, w in zip(res, weights)))
    want = central_differences(value, arrays)
    for x, w in zip(xs, want):
        assert onp.abs(w).max() > 1e-3           # a gradient that is there to get wrong
        onp.testing.assert_allclose(x.grad.asnumpy(), w, rtol=1e-6, atol=1e-6)


GRADIENT_CASES = {
    "svd": (np.linalg.svd, lambda: [R.standard_normal((2, 3, 5))]),
    "svd ut only": (lambda a: np.linalg.svd(a)[0], lambda: [R.standard_normal((3, 4))]),
    "svd s only": (lambda a: np.linalg.svd(a)[1], lambda: [R.standard_normal((3, 3))]),
    "svd v only": (lambda a: np.linalg.svd(a)[2], lambda: [R.standard_normal((2, 4))]),
    "cholesky": (np.linalg.cholesky, lambda: [spd(2)]),
    "solve vector": (np.linalg.solve, lambda: [spd(2, n=3), R.standard_normal((2, 3))]),
    "solve matrix": (np.linalg.solve, lambda: [spd(n=3) + R.standard_normal((3, 3)),
                                               R.standard_normal((3, 2))]),
    "tensorinv": (lambda a: np.linalg.tensorinv(a, ind=1),
                  lambda: [R.standard_normal((6, 2, 3)) + 3 * onp.eye(6).reshape(6, 2, 3)]),
    "tensorsolve": (np.linalg.tensorsolve,
                    lambda: [R.standard_normal((2, 3, 6)) + 3 * onp.eye(6).reshape(2, 3, 6),
                             R.standard_normal((2, 3))]),
    "pinv wide": (np.linalg.pinv, lambda: [R.standard_normal((3, 5))]),
    "pinv tall batched": (np.linalg.pinv, lambda: [R.standard_normal((2, 4, 3))]),
    "eigh L": (np.linalg.eigh, lambda: [sym_distinct(2) + onp.triu(R.standard_normal((4, 4)), 1)]),
    "eigh U": (lambda a: np.linalg.eigh(a, UPLO="U"), lambda: [sym_distinct(n=3)]),
    "eigvalsh": (np.linalg.eigvalsh, lambda: [R.standard_normal((2, 3, 3))]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_against_finite_differences(name):
    fn, make = GRADIENT_CASES[name]
    _grad_vs_fd(fn, make())


def test_eigh_gradient_reaches_only_the_triangle_read():
    a = f64(sym_distinct(n=3))
    a.attach_grad()
    with autograd.record():
        loss = (np.linalg.eigvalsh(a, UPLO="U") * f64([1.0, -2.0, 3.0])).sum()
    loss.backward()
    assert (onp.tril(a.grad.asnumpy(), -1) == 0).all() and onp.abs(a.grad.asnumpy()).max() > 0


def test_svd_second_order_gradient_against_finite_differences():
    a0, c, wv, w = (R.standard_normal(s) for s in ((3, 4), (3,), (3, 4), (3, 4)))

    def inner_grad(a_np, create):
        x = f64(a_np)
        x.attach_grad()
        with autograd.record():
            _, s, v = np.linalg.svd(x)
            y = (s * f64(c)).sum() + (v * f64(wv)).sum()
            g = autograd.grad(y, [x], create_graph=create)[0]
        return x, g
    x, g = inner_grad(a0, True)
    with autograd.record():
        z = (g * f64(w)).sum()
    z.backward()
    a = a0.copy()
    (want,) = central_differences(lambda: float((inner_grad(a, False)[1].asnumpy() * w).sum()),
                                  [a])
    onp.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------- jit / hybridize
JITTED = {
    "svd": (np.linalg.svd, lambda: [R.standard_normal((2, 3, 4))]),
    "eig": (np.linalg.eig, lambda: [real_spectrum(n=3)]),
    "eigvals": (np.linalg.eigvals, lambda: [real_spectrum(2, n=3)]),
    "eigh": (np.linalg.eigh, lambda: [sym_distinct(2)]),
    "pinv": (np.linalg.pinv, lambda: [R.standard_normal((4, 2))]),
    "tensorsolve": (np.linalg.tensorsolve, lambda: [spd(n=4).reshape(2, 2, 4), R.standard_normal(
        (2, 2))]),
}


@pytest.mark.parametrize("name", sorted(JITTED))
def test_jit_matches_eager_on_a_second_input(name):
    fn, make = JITTED[name]
    compiled = mx.jit(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a graph break would hide a frozen value
        compiled(*[f64(a) for a in make()])
        second = make()
        got = compiled(*[f64(a) for a in second])
    want = fn(*[f64(a) for a in second])
    got, want = (x if isinstance(x, tuple) else (x,) for x in (got, want))
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.shape == w.shape and g.dtype == w.dtype
        onp.testing.assert_allclose(g.asnumpy(), w.asnumpy(), rtol=1e-12, atol=1e-12)


class SolveNet(gluon.HybridBlock):
    """x = solve(a, b) plus the sum of log(diag(cholesky(a))) (= logdet(a) / 2)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def hybrid_forward(self, F, a, b):
        self.calls += 1
        low = F.np.linalg.cholesky(a)
        half_logdet = F.np.log(F.np.diagonal(low, axis1=-2, axis2=-1)).sum()
        return F.np.linalg.solve(a, b) + half_logdet


def test_hybridized_solve_cholesky_block_matches_eager_in_values_and_gradients():
    a_np, b_np = spd(2, n=3), R.standard_normal((2, 3, 2))
    results = []
    npx.set_np()
    try:
        for hybridize in (False, True):
            net = SolveNet()
            if hybridize:
                net.hybridize()
            for _ in range(3):
                a, b = f64(a_np), f64(b_np)
                a.attach_grad()
                b.attach_grad()
                with autograd.record():
                    y = net(a, b)
                    loss = (y * y).sum()
                loss.backward()
            assert isinstance(y, np.ndarray)
            results.append((net.calls, y.asnumpy(), a.grad.asnumpy(), b.grad.asnumpy()))
    finally:
        npx.reset_np()
    (calls_e, *eager), (calls_h, *hybrid) = results
    assert calls_e == 3 and calls_h == 1         # the hybridized block ran its compiled graph
    for e, h in zip(eager, hybrid):
        onp.testing.assert_allclose(h, e, rtol=1e-10, atol=1e-12)
    x = onp.linalg.solve(a_np, b_np) + onp.log(onp.diagonal(onp.linalg.cholesky(a_np), 0, -2,
                                                            -1)).sum()
    close(eager[0], x)
    # d loss / d b = a^-T dL/dx, with dL/dx = 2 y
    close(eager[2], onp.linalg.solve(onp.swapaxes(a_np, -1, -2), 2 * x))


# ---------------------------------------------------------------------- random: reproducible
DRAWS = {
    "logistic": lambda: np.random.logistic(1.0, 2.0, size=(3, 4)),
    "gumbel": lambda: np.random.gumbel(1.0, 2.0, size=(3, 4)),
    "laplace": lambda: np.random.laplace(1.0, 2.0, size=(3, 4)),
    "lognormal": lambda: np.random.lognormal(0.0, 0.5, size=(3, 4)),
    "exponential": lambda: np.random.exponential(2.0, size=(3, 4)),
    "rayleigh": lambda: np.random.rayleigh(2.0, size=(3, 4)),
    "weibull": lambda: np.random.weibull(2.0, size=(3, 4)),
    "pareto": lambda: np.random.pareto(3.0, size=(3, 4)),
    "power": lambda: np.random.power(3.0, size=(3, 4)),
    "gamma": lambda: np.random.gamma(2.0, 1.5, size=(3, 4)),
    "beta": lambda: np.random.beta(2.0, 3.0, size=(3, 4)),
    "chisquare": lambda: np.random.chisquare(3.0, size=(3, 4)),
    "f": lambda: np.random.f(3.0, 7.0, size=(3, 4)),
    "multivariate_normal": lambda: np.random.multivariate_normal(
        np.zeros(4), np.eye(4) * 2, size=3),
    "npx.bernoulli": lambda: npx.random.bernoulli(0.5, size=(3, 4)),
    "npx.normal_n": lambda: npx.random.normal_n(0.0, np.ones(4), batch_shape=3),
    "npx.uniform_n": lambda: npx.random.uniform_n(np.zeros(4), 1.0, batch_shape=(3,)),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_draws_repeat_under_a_seed_and_differ_otherwise(name):
    draw = DRAWS[name]
    seeders = (mx.random.seed, np.random.seed, npx.random.seed)
    seeders[0](5)
    first, second = draw().asnumpy(), draw().asnumpy()
    for seeder in seeders:
        seeder(5)
        onp.testing.assert_array_equal(draw().asnumpy(), first)
    assert first.shape == (3, 4) and first.dtype == onp.float32
    assert not onp.array_equal(first, second)
    seeders[0](6)
    assert not onp.array_equal(draw().asnumpy(), first)


@pytest.mark.parametrize("name", ["gumbel", "weibull", "gamma", "multivariate_normal",
                                  "npx.bernoulli", "f"])
def test_jit_draws_what_eager_draws_and_draws_afresh(name):
    draw = DRAWS[name]
    compiled = mx.jit(lambda x: draw() + x)
    x = np.zeros((3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mx.random.seed(3)
        compiled(x)
        mx.random.seed(4)
        got = compiled(x).asnumpy()
        again = compiled(x).asnumpy()
    mx.random.seed(4)
    onp.testing.assert_allclose(got, draw().asnumpy(), rtol=1e-6, atol=1e-6)
    assert not onp.array_equal(got, again)


# ---------------------------------------------------------------------- random: shapes
def test_sizes_dtypes_and_broadcasting_of_array_parameters():
    assert np.random.gumbel().shape == () and np.random.weibull(2.0).shape == ()
    assert np.random.logistic(size=5).shape == (5,)
    assert np.random.exponential(size=()).shape == ()
    scale = np.array([1.0, 2.0, 3.0])
    assert np.random.rayleigh(scale).shape == (3,)
    assert np.random.rayleigh(scale, size=(4, 3)).shape == (4, 3)
    assert np.random.laplace(np.zeros((2, 1)), scale).shape == (2, 3)
    assert np.random.gamma(np.ones((2, 1)), scale, size=(5, 2, 3)).shape == (5, 2, 3)
    assert np.random.beta([1.0, 2.0], 3.0).shape == (2,)           # lists are arrays
    assert np.random.chisquare(np.ones(3), size=()).shape == (3,)   # size=() is None, as MXNet
    assert np.random.laplace(size=2, dtype="float64").dtype == onp.float64
    assert np.random.gamma(2.0, size=2, dtype="float16").dtype == onp.float16
    assert np.random.weibull(np.array([2.0], dtype="float64"), size=3).dtype == onp.float64
    mvn = np.random.multivariate_normal(np.zeros((3, 2)), np.eye(2), size=(4,))
    assert mvn.shape == (4, 3, 2)                # size + broadcast(mean, cov[:-1])
    assert np.random.multivariate_normal(np.zeros(2), np.stack([np.eye(2)] * 5)).shape == (5, 2)
    assert npx.random.normal_n(np.zeros((2, 1)), np.ones(3), batch_shape=(4,)).shape == (4, 2, 3)
    assert npx.random.uniform_n(batch_shape=3).shape == (3,)
    with pytest.raises(mx.MXNetError, match=r"random.pareto: parameters of shapes \[\(3,\)\] "
                                            r"do not broadcast to size \(4, 2\)"):
        np.random.pareto(scale, size=(4, 2))
    with pytest.raises(mx.MXNetError, match="mean and cov must have the same length"):
        np.random.multivariate_normal(np.zeros(3), np.eye(2))
    with pytest.raises(mx.MXNetError, match="dtype must be floating"):
        np.random.laplace(size=2, dtype="int32")


def test_out_receives_the_draws():
    out = np.zeros((3, 2))
    mx.random.seed(9)
    got = np.random.gumbel(1.0, 2.0, out=out)
    assert got is out and out.shape == (3, 2)
    mx.random.seed(9)
    onp.testing.assert_array_equal(out.asnumpy(), np.random.gumbel(1.0, 2.0, size=(3, 2)))
    out64 = np.zeros((4,), dtype="float64")
    assert np.random.gamma(2.0, out=out64) is out64 and (out64.asnumpy() > 0).all()
    with pytest.raises(ValueError, match="out is float32"):
        np.random.exponential(size=(2,), out=np.zeros((3,)))


def test_invalid_parameters_raise_value_errors():
    for call in (lambda: np.random.gamma(1.0, 0.0), lambda: np.random.gamma(0.0, 1.0),
                 lambda: np.random.weibull(0.0), lambda: np.random.pareto(-1.0),
                 lambda: np.random.power(0.0), lambda: np.random.logistic(0.0, -1.0),
                 lambda: np.random.exponential(-2.0), lambda: np.random.beta(1.0, 0.0),
                 lambda: np.random.chisquare(0.0), lambda: np.random.f(1.0, -1.0),
                 lambda: npx.random.bernoulli(1.5)):
        with pytest.raises(ValueError, match="expect"):
            call()
    with pytest.raises(NotImplementedError, match="check_valid"):
        np.random.multivariate_normal(np.zeros(2), np.eye(2), check_valid="warn")
    with pytest.raises(ValueError, match="Either `prob` or `logit`"):
        npx.random.bernoulli(0.5, 0.0)


# ---------------------------------------------------------------------- random: moments
N = 200_000
_EULER = 0.5772156649015329


def _gamma_fn(x):
    from math import gamma
    return gamma(x)


MOMENTS = {   # name: (draw of N float64 samples, mean, variance)
    "logistic": (lambda: np.random.logistic(1.0, 2.0, size=N), 1.0, onp.pi ** 2 / 3 * 4),
    "gumbel": (lambda: np.random.gumbel(1.0, 2.0, size=N), 1.0 + 2 * _EULER,
               onp.pi ** 2 / 6 * 4),
    "laplace": (lambda: np.random.laplace(-1.0, 2.0, size=N, dtype="float64"), -1.0, 8.0),
    "lognormal": (lambda: np.random.lognormal(0.5, 0.5, size=N, dtype="float64"),
                  onp.exp(0.625), (onp.exp(0.25) - 1) * onp.exp(1.25)),
    "exponential": (lambda: np.random.exponential(2.0, size=N), 2.0, 4.0),
    "rayleigh": (lambda: np.random.rayleigh(2.0, size=N), 2.0 * onp.sqrt(onp.pi / 2),
                 (4 - onp.pi) / 2 * 4),
    "weibull": (lambda: np.random.weibull(2.0, size=N), _gamma_fn(1.5),
                _gamma_fn(2.0) - _gamma_fn(1.5) ** 2),
    "pareto": (lambda: np.random.pareto(10.0, size=N), 1 / 9, 10 / (81 * 8)),
    "power": (lambda: np.random.power(3.0, size=N), 0.75, 3 / (16 * 5)),
    "gamma": (lambda: np.random.gamma(2.5, 2.0, size=N, dtype="float64"), 5.0, 10.0),
    "gamma below 1": (lambda: np.random.gamma(0.5, 2.0, size=N, dtype="float64"), 1.0, 2.0),
    "beta": (lambda: np.random.beta(2.0, 3.0, size=N, dtype="float64"), 0.4, 0.04),
    "chisquare": (lambda: np.random.chisquare(3.0, size=N, dtype="float64"), 3.0, 6.0),
    "f": (lambda: np.random.f(5.0, 20.0, size=N), 20 / 18,
          2 * 400 * 23 / (5 * 18 ** 2 * 16)),
    "bernoulli": (lambda: npx.random.bernoulli(0.3, size=N), 0.3, 0.21),
    "bernoulli logit": (lambda: npx.random.bernoulli(logit=onp.log(0.3 / 0.7), size=N),
                        0.3, 0.21),
}


@pytest.mark.parametrize("name", sorted(MOMENTS))
def test_sample_mean_and_variance(name):
    """Fixed seed, N = 2e5 samples: the mean within 6 standard errors, the variance within
    5% (its standard error is under 1% for these tails)."""
    draw, mean, var = MOMENTS[name]
    mx.random.seed(sum(map(ord, name)))
    x = draw().asnumpy().astype(onp.float64)
    assert x.shape == (N,) and onp.isfinite(x).all()
    assert abs(x.mean() - mean) < 6 * onp.sqrt(var / N)
    assert abs(x.var() - var) < 0.05 * var


def test_array_parameters_give_each_column_its_distribution():
    mx.random.seed(21)
    scale = np.array([1.0, 10.0], dtype="float64")
    x = np.random.exponential(scale, size=(N, 2)).asnumpy()
    assert abs(x.mean(0) - [1.0, 10.0]).max() < 6 * 10.0 / onp.sqrt(N)
    shape = np.array([[1.0], [4.0]])
    g = np.random.gamma(shape, 0.5, size=(N // 10, 2, 3)).asnumpy().astype(onp.float64)
    means = g.mean(0)
    assert abs(means - [[0.5] * 3, [2.0] * 3]).max() < 6 * 1.0 / onp.sqrt(N // 10)
    p = npx.random.bernoulli(np.array([0.1, 0.9]), size=(N, 2)).asnumpy()
    assert abs(p.mean(0) - [0.1, 0.9]).max() < 6 * 0.3 / onp.sqrt(N)


def test_multivariate_normal_has_the_covariance_asked_for():
    """mean + L z with cov = L L^T (MXNet 1.9.1 drew L^T z, covariance L^T L)."""
    mx.random.seed(22)
    cov = onp.array([[2.0, 0.8, 0.1], [0.8, 1.0, -0.3], [0.1, -0.3, 0.5]])
    mean = onp.array([1.0, -1.0, 0.5])
    x = np.random.multivariate_normal(f64(mean), f64(cov), size=N).asnumpy()
    assert x.shape == (N, 3) and x.dtype == onp.float64
    assert abs(x.mean(0) - mean).max() < 6 * onp.sqrt(2.0 / N)
    onp.testing.assert_allclose(onp.cov(x.T), cov, atol=0.03)
    low = onp.linalg.cholesky(cov)
    assert abs((low.T @ low) - cov).max() > 0.3          # the 1.9.1 covariance would fail


# ---------------------------------------------------------------------- random: gradients
def _sample_grad(draw, params, seed=7):
    """d sum(W * draw(*params)) / d params by autograd, and by central differences of the
    same draws (the seed fixes the noise, so the sample is a smooth function of params)."""
    arrays = [onp.asarray(p, dtype=onp.float64) for p in params]
    xs = [f64(a) for a in arrays]
    for x in xs:
        x.attach_grad()
    mx.random.seed(seed)
    with autograd.record():
        y = draw(*xs)
        w = f64(R.standard_normal(y.shape))
        loss = (y * w).sum()
    loss.backward()
    w = w.asnumpy()

    def value():
        mx.random.seed(seed)
        return float((draw(*[f64(a) for a in arrays]).asnumpy() * w).sum())
    want = central_differences(value, arrays, eps=1e-6)
    return [x.grad.asnumpy() for x in xs], want, y.asnumpy(), w


REPARAMETERIZED = {
    "logistic": (lambda m, s: np.random.logistic(m, s, size=(50, 2)), [[0.5, -1.0], [1.0, 2.0]]),
    "gumbel": (lambda m, s: np.random.gumbel(m, s, size=(50, 2)), [[0.5, -1.0], [1.0, 2.0]]),
    "laplace": (lambda m, s: np.random.laplace(m, s, size=(50, 2)), [[0.5, -1.0], [1.0, 2.0]]),
    "lognormal": (lambda m, s: np.random.lognormal(m, s, size=(50, 2)), [[0.5, -1.0],
                                                                        [0.3, 0.5]]),
    "exponential": (lambda s: np.random.exponential(s, size=(50, 2)), [[1.0, 3.0]]),
    "rayleigh": (lambda s: np.random.rayleigh(s, size=(50, 2)), [[1.0, 3.0]]),
    "weibull": (lambda a: np.random.weibull(a, size=(50, 2)), [[1.5, 3.0]]),
    "pareto": (lambda a: np.random.pareto(a, size=(50, 2)), [[2.0, 5.0]]),
    "power": (lambda a: np.random.power(a, size=(50, 2)), [[0.5, 3.0]]),
    "multivariate_normal": (lambda m, c: np.random.multivariate_normal(m, c, size=20),
                            [[0.5, -1.0], [[2.0, 0.3], [0.3, 1.0]]]),
    "npx.normal_n": (lambda m, s: npx.random.normal_n(m, s, batch_shape=(50,)),
                     [[0.5, -1.0], [1.0, 2.0]]),
}


@pytest.mark.parametrize("name", sorted(REPARAMETERIZED))
def test_reparameterized_gradients_match_finite_differences(name):
    draw, params = REPARAMETERIZED[name]
    got, want, _, _ = _sample_grad(draw, params)
    for g, w in zip(got, want):
        assert onp.abs(w).max() > 1e-2
        onp.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_reparameterized_gradients_are_mxnets_closed_forms():
    """MXNet's backward kernels: d/dscale = the unit draw; weibull -log(E) x / a^2 with
    E = x^a; pareto -E (x + 1) / a^2 with E = a log(x + 1)."""
    (g_m, g_s), _, y, w = _sample_grad(lambda m, s: np.random.gumbel(m, s, size=(40, 2)),
                                       [[0.5, -1.0], [1.0, 2.0]])
    close(g_m, w.sum(0))
    close(g_s, (w * (y - [0.5, -1.0]) / [1.0, 2.0]).sum(0), 1e-8)
    a = onp.array([1.5, 3.0])
    (g_a,), _, y, w = _sample_grad(lambda a: np.random.weibull(a, size=(40, 2)), [a])
    close(g_a, (w * -onp.log(y ** a) * y / a ** 2).sum(0), 1e-8)
    (g_a,), _, y, w = _sample_grad(lambda a: np.random.pareto(a, size=(40, 2)), [a])
    e = a * onp.log1p(y)
    close(g_a, (w * -e * (y + 1) / a ** 2).sum(0), 1e-8)


@pytest.mark.parametrize("draw", [
    lambda k: np.random.gamma(k, 2.0, size=(20, 2)),
    lambda k: np.random.gamma(2.0, k, size=(20, 2)),
    lambda k: np.random.beta(k, k, size=(20, 2)),
    lambda k: np.random.chisquare(k, size=(20, 2)),
    lambda k: np.random.f(k, k, size=(20, 2)),
    lambda k: npx.random.bernoulli(k / 4.0, size=(20, 2)),
])
def test_gamma_family_and_bernoulli_pass_no_gradient_to_their_parameters(draw):
    """(as MXNet's gamma, beta, chisquare and bernoulli: zero gradients)"""
    k = f64([1.5, 2.5])
    k.attach_grad()
    with autograd.record():
        y = draw(k)
        loss = (y * f64(R.standard_normal((20, 2)))).sum() + (k * k).sum()
    loss.backward()
    close(k.grad.asnumpy(), [3.0, 5.0])        # only the explicit k * k term


def test_hybridized_block_draws_as_eager_under_a_seed():
    class Noisy(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.np.random.logistic(x, 2.0, size=(4, 3)) + F.np.random.gamma(2.0, size=3)

    x = np.array(R.standard_normal(3))
    npx.set_np()
    try:
        eager = Noisy()
        mx.random.seed(12)
        want = eager(x).asnumpy()
        net = Noisy()
        net.hybridize()
        mx.random.seed(1)
        net(x)
        mx.random.seed(12)
        got = net(x).asnumpy()
        again = net(x).asnumpy()
    finally:
        npx.reset_np()
    onp.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert not onp.array_equal(got, again)
