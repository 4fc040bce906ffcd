"""Differential tests of the ops and layers merged in the last round, the way a hostile tester
would: every op against a float64 numpy reference, eagerly and through `mx.jit` on a SECOND
input after a first call (a stale value is the worst bug), with non-contiguous second inputs,
float32 and float64, size-1 and zero-size axes; gradients against central finite differences
of the numpy reference, eagerly and compiled. Plus the defects this found (numpy scalars and
Python-scalar `where` branches widened f32 to f64 eagerly only; int inputs of erf & co. gave
int garbage eagerly and an error compiled; window geometry MXNet refuses was accepted)."""
import math
import zlib

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.array import F
from tracegrad.base import MXNetError

try:
    from scipy import special as _sps
except ImportError:  # the reference then uses math per element
    _sps = None


def _erf(x):
    return _sps.erf(x) if _sps else np.vectorize(math.erf)(x)


class Case:
    def __init__(self, name, fn, ref, gen, grad=True, f32=True, wrt=None, rtol=1e-6):
        self.name, self.fn, self.ref, self.gen = name, fn, ref, gen
        self.grad, self.f32, self.wrt, self.rtol = grad, f32, wrt, rtol

    def __repr__(self):
        return self.name


def _nd(a, noncontig=False):
    """An NDArray of a; noncontig makes its buffer a transposed (non-C-contiguous) view."""
    if noncontig and a.ndim >= 2 and a.shape[-1] > 1 and a.shape[-2] > 1:
        from tracegrad.array import wrap   # (nd.swapaxes returns a new array, as in MXNet)
        t = np.ascontiguousarray(np.swapaxes(a, -1, -2)).astype(a.dtype)
        out = wrap(np.swapaxes(t, -1, -2))
        assert not out._data.flags["C_CONTIGUOUS"]
        return out
    return nd.array(a, dtype=a.dtype)


def _fd_grads(ref, xs, cot, wrt, eps=1e-6):
    grads = []
    for i in wrt:
        g = np.zeros_like(xs[i])
        for idx in np.ndindex(xs[i].shape):
            hi, lo = list(xs), list(xs)
            hi[i], lo[i] = xs[i].copy(), xs[i].copy()
            hi[i][idx] += eps
            lo[i][idx] -= eps
            g[idx] = (np.sum(ref(*hi) * cot) - np.sum(ref(*lo) * cot)) / (2 * eps)
        grads.append(g)
    return grads


def _close(got, want, rtol, atol, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _u(lo, hi, *shape):
    return lambda r: [r.uniform(lo, hi, shape)]


def _spd(r, n):
    a = r.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


def _tril(r, n):
    return np.tril(r.standard_normal((n, n))) + 3 * np.eye(n)


def _unary(name, ref, lo, hi, shape=(3, 4), grad=True):
    return Case(name + str(shape), lambda x: getattr(nd, name)(x), ref, _u(lo, hi, *shape), grad)


def _seq_mask_ref(x, lengths, axis=0, value=-1.0):
    out = x.copy()
    for b, n in enumerate(lengths.astype(int)):
        if axis == 0:
            out[n:, b] = value
        else:
            out[b, n:] = value
    return out


def _seq_last_ref(x, lengths, axis=0):
    return np.stack([x[int(n) - 1, b] if axis == 0 else x[b, int(n) - 1]
                     for b, n in enumerate(lengths)])


def _seq_reverse_ref(x, lengths):
    out = x.copy()
    for b, n in enumerate(lengths.astype(int)):
        out[:n, b] = x[:n, b][::-1]
    return out


def _lengths(t, b):
    return lambda r: r.integers(1, t + 1, b).astype(np.float64)


CASES = [
    _unary("tan", np.tan, -1.2, 1.2), _unary("arcsin", np.arcsin, -.9, .9, (5,)),
    _unary("arccos", np.arccos, -.9, .9, (2, 1, 3)), _unary("arctan", np.arctan, -4, 4),
    _unary("sinh", np.sinh, -3, 3, (1, 1)), _unary("cosh", np.cosh, -3, 3),
    _unary("arcsinh", np.arcsinh, -3, 3), _unary("arccosh", np.arccosh, 1.1, 4),
    _unary("arctanh", np.arctanh, -.9, .9), _unary("erf", _erf, -3, 3),
    _unary("degrees", np.degrees, -3, 3), _unary("radians", np.radians, -9, 9),
    _unary("cbrt", np.cbrt, .1, 3), _unary("trunc", np.trunc, -3, 3, grad=False),
    _unary("tan", np.tan, -1, 1, (0, 3)), _unary("erf", _erf, -1, 1, (2, 0)),
    _unary("log2", np.log2, .1, 3), _unary("log10", np.log10, .1, 3),
    Case("smooth_l1", lambda x: nd.smooth_l1(x, scalar=2.0),
         lambda x: np.where(np.abs(x) < .25, 2 * x * x, np.abs(x) - .125), _u(-2, 2, 3, 4)),
    Case("hard_sigmoid", lambda x: nd.hard_sigmoid(x),
         lambda x: np.clip(.2 * x + .5, 0, 1), _u(-4, 4, 3, 4)),
    Case("prod_axis1", lambda x: nd.prod(x, axis=1), lambda x: np.prod(x, axis=1),
         _u(.5, 1.5, 3, 4, 2)),
    Case("prod_with_zeros", lambda x: nd.prod(x, axis=(0, 2), keepdims=True),
         lambda x: np.prod(x, axis=(0, 2), keepdims=True),
         lambda r: [np.where(r.random((3, 4, 2)) < .3, 0.0, r.uniform(.5, 1.5, (3, 4, 2)))]),
    Case("prod_exclude", lambda x: nd.prod(x, axis=1, exclude=True),
         lambda x: np.prod(x, axis=(0, 2)), _u(.5, 1.5, 2, 3, 2)),
    Case("cumsum_axis0", lambda x: nd.cumsum(x, axis=0), lambda x: np.cumsum(x, axis=0),
         _u(-1, 1, 4, 3)),
    Case("cumsum_flat", lambda x: nd.cumsum(x), lambda x: np.cumsum(x), _u(-1, 1, 2, 3)),
    Case("sort_axis0", lambda x: nd.sort(x, axis=0), lambda x: np.sort(x, axis=0),
         _u(-1, 1, 4, 3)),
    Case("sort_desc", lambda x: nd.sort(x, is_ascend=False), lambda x: -np.sort(-x, axis=-1),
         _u(-1, 1, 3, 5)),
    Case("argsort", lambda x: nd.argsort(x, axis=1),
         lambda x: np.argsort(x, axis=1, kind="stable").astype(np.float64), _u(-1, 1, 3, 5),
         grad=False),
    Case("topk_value", lambda x: nd.topk(x, k=2, ret_typ="value"),
         lambda x: -np.sort(-x, axis=-1)[..., :2], _u(-1, 1, 3, 5)),
    Case("topk_indices_axis0", lambda x: nd.topk(x, axis=0, k=3),
         lambda x: np.argsort(-x, axis=0, kind="stable")[:3].astype(np.float64),
         _u(-1, 1, 5, 3), grad=False),
    Case("moments_mean", lambda x: nd.moments(x, axes=(0, 2))[0],
         lambda x: x.mean(axis=(0, 2)), _u(-1, 1, 3, 4, 2)),
    Case("moments_var", lambda x: nd.moments(x, axes=(1,), keepdims=True)[1],
         lambda x: x.var(axis=1, keepdims=True), _u(-1, 1, 3, 4, 2)),
    Case("pad_constant", lambda x: nd.pad(x, pad_width=(0, 0, 0, 0, 1, 2, 0, 3),
                                          constant_value=1.5),
         lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 3)), constant_values=1.5),
         _u(-1, 1, 2, 1, 3, 2)),
    Case("pad_edge", lambda x: nd.pad(x, mode="edge", pad_width=(0, 0, 0, 0, 2, 1, 1, 3)),
         lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 3)), mode="edge"),
         _u(-1, 1, 2, 1, 3, 2)),
    Case("pad_reflect_5d", lambda x: nd.pad(x, mode="reflect",
                                            pad_width=(0, 0, 0, 0, 1, 1, 2, 0, 1, 2)),
         lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0), (1, 2)), mode="reflect"),
         _u(-1, 1, 1, 2, 3, 3, 4)),
    Case("gather_nd", lambda x, i: nd.gather_nd(x, i), lambda x, i: x[tuple(i)],
         lambda r: [r.standard_normal((4, 3, 2)), r.integers(-3, 3, (2, 5)).astype(np.int32)]),
    Case("linalg_gemm2", lambda a, b: nd.linalg.gemm2(a, b, transpose_b=True, alpha=2.0),
         lambda a, b: 2 * a @ np.swapaxes(b, -1, -2),
         lambda r: [r.standard_normal((2, 3, 4)), r.standard_normal((2, 5, 4))]),
    Case("linalg_gemm", lambda a, b, c: nd.linalg.gemm(a, b, c, transpose_a=True, alpha=.5,
                                                       beta=2.0),
         lambda a, b, c: .5 * a.T @ b + 2 * c,
         lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 5)),
                    r.standard_normal((3, 5))]),
    Case("linalg_syrk", lambda a: nd.linalg.syrk(a, transpose=True, alpha=1.5),
         lambda a: 1.5 * a.T @ a, lambda r: [r.standard_normal((4, 3))]),
    Case("linalg_potrf", lambda a: nd.linalg.potrf(a), np.linalg.cholesky,
         lambda r: [_spd(r, 3)], grad=False),
    Case("linalg_sumlogdiag", lambda a: nd.linalg.sumlogdiag(a),
         lambda a: np.sum(np.log(np.diagonal(a, axis1=-2, axis2=-1)), -1),
         lambda r: [np.stack([_spd(r, 3), _spd(r, 3)])]),
    Case("linalg_trsm", lambda a, b: nd.linalg.trsm(a, b, alpha=1.5),
         lambda a, b: 1.5 * np.linalg.solve(np.tril(a), b),
         lambda r: [_tril(r, 3), r.standard_normal((3, 2))]),
    Case("linalg_trsm_right_t", lambda a, b: nd.linalg.trsm(a, b, transpose=True,
                                                             rightside=True),
         lambda a, b: b @ np.linalg.inv(np.tril(a).T),
         lambda r: [_tril(r, 3), r.standard_normal((2, 3))]),
    Case("linalg_trmm_upper", lambda a, b: nd.linalg.trmm(a, b, lower=False),
         lambda a, b: np.triu(a) @ b, lambda r: [_tril(r, 3).T, r.standard_normal((3, 2))]),
    Case("linalg_potri", lambda a: nd.linalg.potri(a),
         lambda a: np.linalg.inv(np.tril(a) @ np.tril(a).T), lambda r: [_tril(r, 3)]),
    Case("SequenceMask", lambda x, n: nd.SequenceMask(x, n, use_sequence_length=True,
                                                      value=-1.0),
         _seq_mask_ref, lambda r: [r.standard_normal((5, 3, 2)), _lengths(5, 3)(r)],
         f32=False, wrt=[0]),
    Case("SequenceMask_axis1", lambda x, n: nd.SequenceMask(x, n, use_sequence_length=True,
                                                            value=-1.0, axis=1),
         lambda x, n: _seq_mask_ref(x, n, 1),
         lambda r: [r.standard_normal((3, 5, 2)), _lengths(5, 3)(r)], f32=False, wrt=[0]),
    Case("SequenceLast", lambda x, n: nd.SequenceLast(x, n, use_sequence_length=True),
         _seq_last_ref, lambda r: [r.standard_normal((5, 3, 2)), _lengths(5, 3)(r)],
         f32=False, wrt=[0]),
    Case("SequenceLast_axis1", lambda x, n: nd.SequenceLast(x, n, use_sequence_length=True,
                                                            axis=1),
         lambda x, n: _seq_last_ref(x, n, 1),
         lambda r: [r.standard_normal((3, 5, 2)), _lengths(5, 3)(r)], f32=False, wrt=[0]),
    Case("SequenceReverse", lambda x, n: nd.SequenceReverse(x, n, use_sequence_length=True),
         _seq_reverse_ref, lambda r: [r.standard_normal((5, 3, 2)), _lengths(5, 3)(r)],
         f32=False, wrt=[0]),
    Case("SequenceReverse_all", lambda x: nd.SequenceReverse(x), lambda x: x[::-1],
         _u(-1, 1, 4, 1, 3)),
]


@pytest.mark.parametrize("op_case", CASES, ids=repr)
def test_op_matches_numpy_eagerly_compiled_and_in_gradient(op_case):
    case = op_case
    r = np.random.default_rng(zlib.crc32(case.name.encode()))
    first, second = case.gen(r), case.gen(r)
    want = case.ref(*second)
    _close(case.fn(*[_nd(a) for a in second]).asnumpy(), want, case.rtol, 1e-9, "eager f64")
    f = mx.jit(case.fn)
    f(*[_nd(a) for a in first])
    got = f(*[_nd(a, noncontig=True) for a in second])
    _close(got.asnumpy(), want, case.rtol, 1e-9, "jit f64, second (non-contiguous) input")
    if case.f32:
        x32 = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in second]
        want32 = case.ref(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in x32])
        e32 = case.fn(*[_nd(a) for a in x32])
        assert e32.dtype == np.float32, f"eager f32 input gave {e32.dtype}"
        _close(e32.asnumpy(), want32, 1e-4, 1e-5, "eager f32")
        g32 = mx.jit(case.fn)
        g32(*[_nd(a.astype(np.float32) if a.dtype.kind == "f" else a) for a in first])
        j32 = g32(*[_nd(a) for a in x32])
        assert j32.dtype == np.float32
        _close(j32.asnumpy(), want32, 1e-4, 1e-5, "jit f32, second input")
    if not case.grad or not want.size:
        return
    wrt = case.wrt if case.wrt is not None else [
        i for i, a in enumerate(second) if a.dtype.kind == "f"]
    cot = r.standard_normal(want.shape)
    fd = _fd_grads(case.ref, second, cot, wrt)
    for compiled in (False, True):
        g = mx.jit(case.fn) if compiled else case.fn
        if compiled:  # a first recorded call, then the one checked
            warm = [_nd(a) for a in first]
            for i in wrt:
                warm[i].attach_grad()
            with autograd.record():
                y = g(*warm)
            y.backward()
        xs = [_nd(a) for a in second]
        for i in wrt:
            xs[i].attach_grad()
        with autograd.record():
            loss = (g(*xs) * nd.array(cot)).sum()
        loss.backward()
        for i, want_g in zip(wrt, fd):
            _close(xs[i].grad.asnumpy(), want_g, 1e-5, 1e-6,
                   f"{'jit' if compiled else 'eager'} gradient of input {i}")


# ------------------------------------------------------------------ convolution family
def _conv_ref(x, w, stride, dilate, pad, groups):
    d = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dilate[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(d)]
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    out = np.zeros((x.shape[0], w.shape[0]) + tuple(out_sp))
    for pos in np.ndindex(*out_sp):
        for kk in np.ndindex(*k):
            idx = tuple(pos[i] * stride[i] + kk[i] * dilate[i] for i in range(d))
            patch = xp[(slice(None), slice(None)) + idx]
            for g in range(groups):
                out[(slice(None), slice(g * og, (g + 1) * og)) + pos] += \
                    patch[:, g * cg:(g + 1) * cg] @ w[(slice(g * og, (g + 1) * og),
                                                       slice(None)) + kk].T
    return out


def _deconv_ref(x, w, stride, dilate, pad, adj, groups):
    d = x.ndim - 2
    k, fg, cg = w.shape[2:], w.shape[1], x.shape[1] // groups
    full = [stride[i] * (x.shape[2 + i] - 1) + dilate[i] * (k[i] - 1) + 1 + adj[i]
            for i in range(d)]
    out = np.zeros((x.shape[0], fg * groups) + tuple(full))
    for pos in np.ndindex(*x.shape[2:]):
        for kk in np.ndindex(*k):
            o = tuple(pos[i] * stride[i] + kk[i] * dilate[i] for i in range(d))
            for g in range(groups):
                out[(slice(None), slice(g * fg, (g + 1) * fg)) + o] += \
                    x[(slice(None), slice(g * cg, (g + 1) * cg)) + pos] @ \
                    w[(slice(g * cg, (g + 1) * cg), slice(None)) + kk]
    return out[(slice(None), slice(None)) +
               tuple(slice(pad[i], full[i] - pad[i]) for i in range(d))]


def _pool_ref(x, kernel, stride, pad, kind, convention, include_pad):
    d = x.ndim - 2
    sp = x.shape[2:]
    rnd = (lambda v: v // 1) if convention == "valid" else math.ceil
    out_sp = [int(rnd((sp[i] + 2 * pad[i] - kernel[i]) / stride[i])) + 1 for i in range(d)]
    out = np.zeros(x.shape[:2] + tuple(out_sp))
    for pos in np.ndindex(*out_sp):
        lo = [pos[i] * stride[i] - pad[i] for i in range(d)]
        hi = [min(lo[i] + kernel[i], sp[i] + pad[i]) for i in range(d)]
        win = x[(slice(None), slice(None)) +
                tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, sp))]
        win = win.reshape(win.shape[:2] + (-1,))
        if kind == "max":
            v = win.max(-1)
        elif kind == "sum":
            v = win.sum(-1)
        else:
            v = win.sum(-1) / (math.prod(b - a for a, b in zip(lo, hi)) if include_pad
                               else win.shape[-1])
        out[(slice(None), slice(None)) + pos] = v
    return out


CONV_CASES = [  # (data shape, num_filter, kernel, stride, dilate, pad, groups)
    ((2, 2, 7), 3, (3,), (2,), (1,), (1,), 1),
    ((1, 4, 5, 4), 4, (3, 2), (1, 2), (2, 1), (2, 0), 2),
    ((2, 3, 4, 4), 2, (1, 1), (1, 1), (1, 1), (0, 0), 1),
    ((1, 2, 3, 3, 2), 2, (2, 2, 1), (1, 2, 1), (1, 1, 1), (1, 0, 1), 2),
    ((1, 1, 1, 1), 2, (1, 1), (1, 1), (1, 1), (0, 0), 1),
]


def _check_layerlike(fn, ref, xs, first, rtol=1e-6):
    """Eager and jit (second call, non-contiguous input) against ref; input gradients vs FD."""
    want = ref(*xs)
    _close(fn(*[_nd(a) for a in xs]).asnumpy(), want, rtol, 1e-9, "eager")
    f = mx.jit(fn)
    f(*[_nd(a) for a in first])
    _close(f(*[_nd(a, noncontig=True) for a in xs]).asnumpy(), want, rtol, 1e-9, "jit second")
    cot = np.random.default_rng(1).standard_normal(want.shape)
    fd = _fd_grads(ref, xs, cot, range(len(xs)))
    arrs = [_nd(a) for a in xs]
    for a in arrs:
        a.attach_grad()
    with autograd.record():
        loss = (f(*arrs) * nd.array(cot)).sum()
    loss.backward()
    for a, g in zip(arrs, fd):
        _close(a.grad.asnumpy(), g, 1e-5, 1e-6, "jit gradient")


@pytest.mark.parametrize("shape,nf,k,s,dl,p,g", CONV_CASES)
def test_convolution_and_deconvolution_match_loop_references(shape, nf, k, s, dl, p, g):
    r = np.random.default_rng(len(shape) * 7 + nf)
    w_shape = (nf, shape[1] // g) + k

    def conv(x, w):
        return nd.Convolution(x, w, kernel=k, stride=s, dilate=dl, pad=p, num_filter=nf,
                              num_group=g, no_bias=True)

    _check_layerlike(conv, lambda x, w: _conv_ref(x, w, s, dl, p, g),
                     [r.standard_normal(shape), r.standard_normal(w_shape)],
                     [r.standard_normal(shape), r.standard_normal(w_shape)])
    adj = tuple(min(1, v - 1) for v in s)
    dp = tuple(min(v, (kk - 1) * d // 2) for v, kk, d in zip(p, k, dl))
    dw_shape = (shape[1], nf // g) + k

    def deconv(x, w):
        return nd.Deconvolution(x, w, kernel=k, stride=s, dilate=dl, pad=dp, adj=adj,
                                num_filter=nf // g * g, num_group=g)

    _check_layerlike(deconv, lambda x, w: _deconv_ref(x, w, s, dl, dp, adj, g),
                     [r.standard_normal(shape), r.standard_normal(dw_shape)],
                     [r.standard_normal(shape), r.standard_normal(dw_shape)])


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
@pytest.mark.parametrize("convention,include", [("valid", True), ("full", False),
                                                ("full", True)])
def test_pooling_matches_loop_reference(kind, convention, include):
    r = np.random.default_rng(3)
    for shape, k, s, p in [((1, 2, 5, 4), (3, 2), (2, 2), (1, 1)), ((1, 1, 4, 3, 4), (2, 2, 2),
                                                                      (2, 1, 2), (1, 0, 1))]:
        def pool(x):
            return nd.Pooling(x, kernel=k, stride=s, pad=p, pool_type=kind,
                              pooling_convention=convention, count_include_pad=include)
        _check_layerlike(pool, lambda x: _pool_ref(x, k, s, p, kind, convention, include),
                         [r.standard_normal(shape)], [r.standard_normal(shape)])


# ------------------------------------------------------------------ layers, hybridized
def _group_norm_ref(x, gamma, beta, groups, eps):
    xr = x.reshape(x.shape[0], groups, -1)
    y = (xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + eps)
    return (y * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)).reshape(x.shape)


LAYERS = [
    ("PReLU", lambda: gluon.nn.PReLU(in_channels=3), (2, 3, 4),
     lambda x, p: np.where(x > 0, x, p[0].reshape(1, -1, 1) * x)),
    ("ELU", lambda: gluon.nn.ELU(0.7), (3, 4), lambda x, p: np.where(x > 0, x, .7 * np.expm1(x))),
    ("SELU", lambda: gluon.nn.SELU(), (3, 4),
     lambda x, p: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    ("GELU", lambda: gluon.nn.GELU(), (3, 4), lambda x, p: .5 * x * (1 + _erf(x / np.sqrt(2)))),
    ("Swish", lambda: gluon.nn.Swish(1.5), (3, 4), lambda x, p: x / (1 + np.exp(-1.5 * x))),
    ("GroupNorm", lambda: gluon.nn.GroupNorm(num_groups=2), (2, 4, 3),
     lambda x, p: _group_norm_ref(x, p[0], p[1], 2, 1e-5)),
    ("InstanceNorm", lambda: gluon.nn.InstanceNorm(in_channels=2, scale=True), (2, 2, 3, 2),
     lambda x, p: _group_norm_ref(x, np.repeat(p[0], 1), p[1], 2, 1e-5)),
    ("LayerNorm_axis1", lambda: gluon.nn.LayerNorm(axis=1, in_channels=3), (2, 3, 4),
     lambda x, p: ((x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5))
     * p[0].reshape(1, -1, 1) + p[1].reshape(1, -1, 1)),
]


@pytest.mark.parametrize("name,make,shape,ref", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_hybridized_matches_numpy_values_and_gradients(name, make, shape, ref):
    r = np.random.default_rng(5)
    blk = make()
    blk.initialize()
    blk(nd.array(r.standard_normal(shape)))
    blk.cast("float64")
    params = list(blk.collect_params().values())
    for p in params:
        p.set_data(nd.array(r.uniform(.5, 1.5, p.shape), dtype="float64"))
    pv = [p.data().asnumpy() for p in params]
    for hybrid in (False, True):
        if hybrid:
            blk.hybridize()
            blk(nd.array(r.standard_normal(shape), dtype="float64"))
        x = r.standard_normal(shape)
        xa = _nd(x, noncontig=hybrid)
        _close(blk(xa).asnumpy(), ref(x, pv), 1e-6, 1e-9, f"{name} hybridized={hybrid}")
        xg = nd.array(x, dtype="float64")
        xg.attach_grad()
        cot = r.standard_normal(x.shape)
        with autograd.record():
            loss = (blk(xg) * nd.array(cot)).sum()
        loss.backward()
        _close(xg.grad.asnumpy(), _fd_grads(lambda z: ref(z, pv), [x], cot, [0])[0], 1e-5,
               1e-6, f"{name} input gradient, hybridized={hybrid}")
        for k, p in enumerate(params):
            if p.grad_req == "null":
                continue
            want = _fd_grads(lambda v, k=k: ref(x, pv[:k] + [v] + pv[k + 1:]), [pv[k]], cot,
                             [0])[0]
            _close(p.grad().asnumpy(), want, 1e-5, 1e-6, f"{name} gradient of {p.name}")


def test_lstm_layer_hybridized_matches_numpy_recurrence():
    r = np.random.default_rng(7)
    layer = gluon.rnn.LSTM(3, num_layers=1, bidirectional=True, input_size=2, dtype="float64")
    layer.initialize()
    for p in layer.collect_params().values():
        p.set_data(nd.array(r.uniform(-.5, .5, p.shape), dtype="float64"))
    pv = {k.split("_", 1)[1]: v.data().asnumpy() for k, v in layer.collect_params().items()}

    def ref(x):
        outs = []
        for tag, order in (("l0_", range(x.shape[0])), ("r0_", range(x.shape[0] - 1, -1, -1))):
            h = c = np.zeros((x.shape[1], 3))
            o = np.zeros(x.shape[:2] + (3,))
            for t in order:
                z = x[t] @ pv[tag + "i2h_weight"].T + pv[tag + "i2h_bias"] + \
                    h @ pv[tag + "h2h_weight"].T + pv[tag + "h2h_bias"]
                i, f, g, u = np.split(z, 4, -1)
                c = c / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
                h = np.tanh(c) / (1 + np.exp(-u))
                o[t] = h
            outs.append(o)
        return np.concatenate(outs, -1)

    for hybrid in (False, True):
        if hybrid:
            layer.hybridize()
            layer(nd.array(r.standard_normal((4, 2, 2)), dtype="float64"))
        x = r.standard_normal((3, 2, 2))
        xa = nd.array(x, dtype="float64")
        xa.attach_grad()
        cot = r.standard_normal((3, 2, 6))
        with autograd.record():
            out = layer(xa)
            loss = (out * nd.array(cot)).sum()
        loss.backward()
        _close(out.asnumpy(), ref(x), 1e-7, 1e-9, f"LSTM hybridized={hybrid}")
        _close(xa.grad.asnumpy(), _fd_grads(ref, [x], cot, [0])[0], 1e-5, 1e-6, "LSTM dx")


# ------------------------------------------------------------------ special values
def test_elementwise_special_values_agree_eager_compiled_and_numpy():
    vals = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-30, 0.5, 30.0, -30.0,
                     800.0, -800.0, 1e300])
    refs = {"arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "arcsinh": np.arcsinh,
            "arccosh": np.arccosh, "arctanh": np.arctanh, "erf": _erf, "cbrt": np.cbrt,
            "trunc": np.trunc, "arcsin": np.arcsin, "arccos": np.arccos}
    for name, ref in refs.items():
        for dt in ("float64", "float32"):
            v = vals.astype(dt)
            with np.errstate(all="ignore"):
                want = ref(v.astype(np.float64)).astype(dt)
                eager = getattr(nd, name)(nd.array(v, dtype=dt)).asnumpy()
                f = mx.jit(lambda x, name=name: getattr(nd, name)(x))
                f(nd.array(np.ones(len(v)), dtype=dt))
                compiled = f(nd.array(v, dtype=dt)).asnumpy()
            tol = 1e-12 if dt == "float64" else 1e-5
            for what, got in (("eager", eager), ("jit", compiled)):
                np.testing.assert_allclose(got, want, rtol=tol, atol=0, equal_nan=True,
                                           err_msg=f"{name} {dt} {what}")


# ------------------------------------------------------------------ defects found here
def test_numpy_scalars_are_weak_eagerly_as_in_a_trace():
    x = nd.array([1.0, 2.0], dtype="float32")
    for fn in (lambda x: x * np.float64(2.0), lambda x: np.float64(1.0) - x,
               lambda x: x + np.int64(1), lambda x: nd.maximum(x, np.float64(1.5)),
               lambda x: x / np.float64(3.0), nd.log2, nd.log10,
               lambda x: nd.linalg.trmm(x.reshape((1, 2)) * nd.ones((2, 1)), nd.ones((2, 2)))):
        eager, compiled = fn(x), mx.jit(fn)(x)
        assert eager.dtype == np.float32 and compiled.dtype == np.float32
        np.testing.assert_allclose(eager.asnumpy(), compiled.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(nd.log2(x).asnumpy(), [0.0, 1.0], atol=1e-7)


def test_where_with_a_python_scalar_branch_keeps_the_array_dtype():
    x = nd.array([1.0, -2.0], dtype="float32")
    out = F.where(F.gt(x, 0.0), x, 0.0)
    assert out.dtype == np.float32 and out.asnumpy().tolist() == [1.0, 0.0]
    big = nd.array(np.arange(-5000.0, 5000.0), dtype="float32")  # the branch-free path
    out = F.where(F.gt(big, 0.0), 0.0, big)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.asnumpy(), np.minimum(big.asnumpy(), 0.0))


def test_float_only_math_of_int_arrays_computes_in_float32_eagerly_and_compiled():
    i = nd.array([1, 2], dtype="int32")
    for name, ref in (("erf", _erf), ("arctan", np.arctan), ("arccosh", np.arccosh),
                      ("sinh", np.sinh)):
        eager, compiled = getattr(nd, name)(i), mx.jit(getattr(nd, name))(i)
        assert eager.dtype == np.float32 and compiled.dtype == np.float32, name
        np.testing.assert_allclose(eager.asnumpy(), ref(np.array([1.0, 2.0])), rtol=1e-6)
        np.testing.assert_allclose(compiled.asnumpy(), eager.asnumpy(), rtol=1e-6)


BAD_GEOMETRY = [
    (lambda x, w: nd.Deconvolution(x, w, kernel=(3, 3), adj=(-1, 0), num_filter=3),
     "Deconvolution: adj"),
    (lambda x, w: nd.Deconvolution(x, w, kernel=(3, 3), stride=(2, 2), adj=(2, 0),
                                   num_filter=3), "Deconvolution: adj"),
    (lambda x, w: nd.Deconvolution(x, w, kernel=(3, 3), pad=(-1, 0), num_filter=3),
     "Deconvolution: .*pad \\(-1, 0\\)"),
    (lambda x, w: nd.Convolution(x, w[:, :2], kernel=(3, 3), stride=(0, 1), num_filter=2,
                                 no_bias=True), "Convolution: .*stride \\(0, 1\\)"),
    (lambda x, w: nd.Pooling(x, kernel=(2, 2), stride=(0, 1)), "Pooling: .*stride \\(0, 1\\)"),
    (lambda x, w: nd.Pooling(x, kernel=(0, 2)), "Pooling: .*kernel \\(0, 2\\)"),
    (lambda x, w: nd.Pooling(x, kernel=(2, 2), pad=(-1, 0)), "Pooling: .*pad \\(-1, 0\\)"),
    (lambda x, w: nd.UpSampling(x, scale=0, sample_type="nearest"), "UpSampling: scale"),
    (lambda x, w: nd.prod(x, axis=4), "prod: axis 4 .*\\(1, 2, 5, 5\\)"),
    (lambda x, w: nd.sum(x, axis=-5), "sum: axis -5 .*\\(1, 2, 5, 5\\)"),
    (lambda x, w: nd.moments(x, axes=(7,)), "moments: axis 7"),
]


@pytest.mark.parametrize("call,message", BAD_GEOMETRY)
def test_geometry_mxnet_refuses_raises_naming_the_op(call, message):
    x, w = nd.ones((1, 2, 5, 5)), nd.ones((2, 3, 3, 3))
    with pytest.raises(MXNetError, match=message):
        call(x, w)


HOSTILE = [  # each must raise MXNetError naming the op (never crash or return garbage)
    (lambda: nd.Convolution(nd.ones((1, 2, 5, 5)), nd.ones((3, 2, 7, 7)), kernel=(7, 7),
                            num_filter=3, no_bias=True), "im2col|Convolution"),
    (lambda: nd.Convolution(nd.ones((1, 2, 5, 5)), nd.ones((3, 3, 3, 3)), kernel=(3, 3),
                            num_filter=3, no_bias=True), "Convolution"),
    (lambda: nd.Convolution(nd.ones((1, 2, 5, 5), dtype="int32"), nd.ones((3, 2, 3, 3)),
                            kernel=(3, 3), num_filter=3, no_bias=True), "im2col"),
    (lambda: nd.Convolution(nd.ones((2, 5, 5)), nd.ones((3, 2, 3, 3)), kernel=(3, 3),
                            num_filter=3), "Convolution"),
    (lambda: nd.Pooling(nd.ones((1, 2, 5, 5)), kernel=(2,)), "Pooling"),
    (lambda: nd.col2im(nd.ones((1, 8, 15)), output_size=(5, 5), kernel=(2, 2)), "reshape"),
    (lambda: nd.SequenceMask(nd.ones((3, 2, 3)), nd.array([1, 1, 1]),
                             use_sequence_length=True), "SequenceMask"),
    (lambda: nd.topk(nd.ones((2, 3)), k=5), "topk"),
    (lambda: nd.cumsum(nd.ones((2, 3)), axis=2), "cumsum"),
    (lambda: nd.pad(nd.ones((1, 2, 5, 5)), mode="reflect", pad_width=(0, 0, 0, 0, 5, 5, 1, 1)),
     "pad"),
    (lambda: nd.linalg.potrf(nd.array([[1.0, 2.0], [2.0, 1.0]])), "potrf"),
    (lambda: nd.linalg.trsm(nd.ones((2, 2)), nd.ones((3, 2))), "trsm"),
    (lambda: nd.GroupNorm(nd.ones((1, 2, 5, 5)), nd.ones((3,)), nd.ones((3,)), num_groups=3),
     "GroupNorm"),
]


@pytest.mark.parametrize("call,message", HOSTILE)
def test_hostile_inputs_raise_clear_errors(call, message):
    with pytest.raises(MXNetError, match=message):
        call().asnumpy()


def test_split_data_refuses_more_slices_than_samples_as_mxnet():
    from tracegrad.gluon import utils
    with pytest.raises(ValueError, match="Too many slices.*num_slice=3"):
        utils.split_data(nd.ones((2, 2)), 3, even_split=False)
    with pytest.raises(ValueError, match="Too many slices"):
        utils.split_data(nd.ones((2, 2)), 0)
    assert [a.shape for a in utils.split_data(nd.ones((5, 2)), 2, even_split=False)] == \
        [(3, 2), (2, 2)]


def test_kvstore_pull_into_a_wrong_shape_raises_instead_of_broadcasting():
    kv = mx.kv.create("local")
    kv.init(0, nd.ones((3,)))
    out = nd.zeros((2, 3))  # numpy's copyto would broadcast (3,) into it silently
    with pytest.raises(MXNetError, match="kvstore.pull: key 0 holds shape \\(3,\\)"):
        kv.pull(0, out=out)
    with pytest.raises(MXNetError, match="kvstore.pushpull"):
        kv.pushpull(0, nd.ones((3,)), out=out)
    good = nd.zeros((3,))
    kv.pull(0, out=good)
    assert good.asnumpy().tolist() == [1.0, 1.0, 1.0]


def _f64(a):
    return nd.array(a, dtype="float64")


SECOND_ORDER = {
    "erfinv": (nd.erfinv, (3,), (-.8, .8)),
    "prod": (lambda x: nd.prod(x, axis=1), (2, 3), (.5, 1.5)),
    "conv_of_square": (lambda x: nd.Convolution(
        x * x, _f64(np.linspace(-1, 1, 16).reshape(2, 2, 2, 2)), kernel=(2, 2), num_filter=2,
        no_bias=True), (1, 2, 3, 3), (-1, 1)),
    "avg_pool_of_square": (lambda x: nd.Pooling(x * x, kernel=(2, 2), pool_type="avg",
                                                pad=(1, 1)), (1, 1, 3, 3), (-1, 1)),
    "group_norm": (lambda x: nd.GroupNorm(x, _f64([1.5]), _f64([0.0])), (1, 2, 3), (-1, 1)),
    "potrf": (lambda x: nd.linalg.potrf(nd.linalg.syrk(x) + _f64(3 * np.eye(3))), (3, 3),
              (-1, 1)),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivative_matches_finite_differences_of_the_first(name):
    fn, shape, (lo, hi) = SECOND_ORDER[name]
    r = np.random.default_rng(zlib.crc32(name.encode()))
    x0 = r.uniform(lo, hi, shape)
    cot = _f64(r.standard_normal(fn(_f64(x0)).shape))
    v = r.standard_normal(shape)

    def first(xv):
        x = _f64(xv)
        x.attach_grad()
        with autograd.record():
            g = autograd.grad((fn(x) * cot).sum(), [x], create_graph=True)[0]
            s = (g * _f64(v)).sum()
        return g, s, x

    _, s, x = first(x0)
    s.backward()
    fd = np.zeros(shape)
    for idx in np.ndindex(shape):
        hi_, lo_ = x0.copy(), x0.copy()
        hi_[idx] += 1e-6
        lo_[idx] -= 1e-6
        fd[idx] = (np.sum(first(hi_)[0].asnumpy() * v) -
                   np.sum(first(lo_)[0].asnumpy() * v)) / 2e-6
    _close(x.grad.asnumpy(), fd, 1e-4, 1e-5, f"{name}: d<grad, v>/dx")
