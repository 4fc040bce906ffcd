"""Differential fuzz of new nd ops: eager vs numpy f64, jit (2nd call), grads vs FD.
Run from the repository root: PYTHONPATH=. python scripts/fuzz_new_ops.py (prints mismatches, then a count).
"""
import os
import sys, traceback
import numpy as np
import tracegrad as mx
from tracegrad import nd, autograd

rng = np.random.default_rng(int(os.environ.get("FUZZ_SEED", 0)))  # (a new seed: FUZZ_SEED=n)
FAIL = []

def fd_grad(ref, xs, c, wrt, eps=1e-6):
    g = []
    for i in wrt:
        x = xs[i]; gi = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp = [a.copy() for a in xs]; xm = [a.copy() for a in xs]
            xp[i][idx] += eps; xm[i][idx] -= eps
            gi[idx] = (np.sum(ref(*xp) * c) - np.sum(ref(*xm) * c)) / (2 * eps)
        g.append(gi)
    return g

def nda(a, noncontig=False):
    return nd.array(a, dtype=a.dtype)

def check(name, fn, ref, gen, grad=True, rtol=1e-5, atol=1e-6, f32=True, n=3, wrt=None):
    for trial in range(n):
        try:
            xs1, xs2 = gen(), gen()
            # eager f64
            want = ref(*[np.asarray(a, np.float64) if a.dtype.kind == 'f' else a for a in xs2])
            got = fn(*[nda(a) for a in xs2]).asnumpy()
            if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
                FAIL.append((name, trial, "eager", [a.shape for a in xs2], np.nanmax(np.abs(got - want)) if got.shape == want.shape else (got.shape, want.shape)))
                continue
            f = mx.jit(fn)
            f(*[nda(a) for a in xs1])
            gj = f(*[nda(a) for a in xs2]).asnumpy()
            if gj.shape != want.shape or not np.allclose(gj, want, rtol=rtol, atol=atol, equal_nan=True):
                FAIL.append((name, trial, "jit2", [a.shape for a in xs2], f.counts if hasattr(f,'counts') else None))
                continue
            if f32:
                x32 = [a.astype(np.float32) if a.dtype.kind == 'f' else a for a in xs2]
                g32 = fn(*[nda(a) for a in x32])
                if g32.dtype != np.float32 and any(a.dtype == np.float32 for a in x32):
                    FAIL.append((name, trial, "f32 dtype", g32.dtype))
                w32 = ref(*[a.astype(np.float64) if a.dtype.kind=='f' else a for a in x32])
                if not np.allclose(g32.asnumpy(), w32, rtol=1e-3, atol=1e-4, equal_nan=True):
                    FAIL.append((name, trial, "f32", [a.shape for a in x32]))
                gj32 = mx.jit(fn)
                gj32(*[nda(a) for a in x32]); 
                if not np.allclose(gj32(*[nda(a) for a in x32]).asnumpy(), w32, rtol=1e-3, atol=1e-4, equal_nan=True):
                    FAIL.append((name, trial, "jit f32", [a.shape for a in x32]))
            if grad and want.size and all(np.isfinite(want).ravel()):
                wrt = wrt if wrt is not None else [i for i, a in enumerate(xs2) if a.dtype.kind == 'f']
                c = rng.standard_normal(want.shape)
                fdg = fd_grad(ref, xs2, c, wrt)
                for mode in ("eager", "jit"):
                    arrs = [nda(a) for a in xs2]
                    for i in wrt: arrs[i].attach_grad()
                    g = mx.jit(fn) if mode == "jit" else fn
                    if mode == "jit":
                        warm = [nda(a) for a in xs1]
                        for i in wrt: warm[i].attach_grad()
                        with autograd.record():
                            y = g(*warm)
                            L0 = (y * nd.array(rng.standard_normal(y.shape))).sum()
                        L0.backward()
                    with autograd.record():
                        y = g(*arrs)
                        L = (y * nd.array(c)).sum()
                    L.backward()
                    for k, i in enumerate(wrt):
                        ga = arrs[i].grad.asnumpy()
                        if not np.allclose(ga, fdg[k], rtol=1e-4, atol=1e-5):
                            FAIL.append((name, trial, "grad-" + mode, i, [a.shape for a in xs2], float(np.max(np.abs(ga - fdg[k])))))
        except Exception as e:
            FAIL.append((name, trial, "EXC", type(e).__name__, str(e)[:200]))

def shape(maxd=3, lo=1, hi=4, allow0=False):
    d = rng.integers(1, maxd + 1)
    return tuple(int(rng.integers(0 if allow0 and rng.random() < .2 else lo, hi)) for _ in range(d))

def U(lo, hi, shp=None):
    s = shp or shape()
    return lambda: rng.uniform(lo, hi, s)

import scipy.special as sps
def fixed(gen_shape, *rngs):
    s = gen_shape
    return lambda: [rng.uniform(lo, hi, s) for lo, hi in rngs]

if __name__ == "__main__":
    which = sys.argv[1:] 
    tests = []
    def T(name, *a, **k):
        if not which or any(w in name for w in which):
            tests.append((name, a, k))
    for opn, lo, hi, npf in [("tan", -1.2, 1.2, np.tan), ("arcsin", -.9, .9, np.arcsin), ("arccos", -.9, .9, np.arccos),
                             ("arctan", -3, 3, np.arctan), ("sinh", -3, 3, np.sinh), ("cosh", -3, 3, np.cosh),
                             ("arcsinh", -3, 3, np.arcsinh), ("arccosh", 1.1, 4, np.arccosh), ("arctanh", -.9, .9, np.arctanh),
                             ("erf", -3, 3, sps.erf), ("erfinv", -.95, .95, sps.erfinv), ("degrees", -3, 3, np.degrees),
                             ("radians", -3, 3, np.radians), ("cbrt", 0.1, 3, np.cbrt), ("trunc", -3, 3, np.trunc),
                             ("gamma", 0.5, 4, sps.gamma), ("gammaln", 0.5, 4, sps.gammaln),
                             ("log1p", -.5, 3, np.log1p), ("expm1", -2, 2, np.expm1), ("rcbrt", .2, 3, lambda x: 1/np.cbrt(x)),
                             ("rsqrt", .2, 3, lambda x: 1/np.sqrt(x)), ("reciprocal", .2, 3, lambda x: 1/x), ("fix", -3, 3, np.fix),
                             ("rint", -3, 3, np.rint), ("ceil", -3, 3, np.ceil), ("floor", -3, 3, np.floor), ("sign", -3, 3, np.sign),
                             ("log2", .1, 3, np.log2), ("log10", .1, 3, np.log10), ("softsign", -3, 3, lambda x: x/(1+abs(x))),
                             ("hard_sigmoid", -4, 4, lambda x: np.clip(.2*x+.5, 0, 1)), ("smooth_l1", -3, 3, lambda x: np.where(abs(x)<1, .5*x*x, abs(x)-.5))]:
        if not hasattr(nd, opn): print("missing", opn); continue
        s = shape(allow0=True)
        T(opn, lambda x, opn=opn: getattr(nd, opn)(x), npf, (lambda s=s, lo=lo, hi=hi: [rng.uniform(lo, hi, s)]),
          grad=opn not in ("trunc", "fix", "rint", "ceil", "floor", "sign"))
    # reductions
    for ax in [None, 0, -1, (0, 1)]:
        s = (3, 4, 2)
        # (a full reduction is shape (1,) in MXNet 1.x, () in numpy)
        T(f"prod{ax}", lambda x, ax=ax: nd.prod(x, axis=ax), lambda x, ax=ax: np.atleast_1d(np.prod(x, axis=ax)), lambda s=s: [rng.uniform(.5, 1.5, s)])
        T(f"prod_zero{ax}", lambda x, ax=ax: nd.prod(x, axis=ax), lambda x, ax=ax: np.atleast_1d(np.prod(x, axis=ax)), lambda s=s: [np.where(rng.random(s) < .3, 0, rng.uniform(.5, 1.5, s))])
        T(f"cumsum{ax}", lambda x, ax=ax: nd.cumsum(x, axis=ax) if not isinstance(ax, tuple) else nd.cumsum(x, axis=1), lambda x, ax=ax: np.cumsum(x, axis=ax if not isinstance(ax, tuple) else 1), lambda s=s: [rng.standard_normal(s)])
        T(f"sort{ax}", lambda x, ax=ax: nd.sort(x, axis=ax if not isinstance(ax, tuple) else 1), lambda x, ax=ax: np.sort(x, axis=ax if not isinstance(ax, tuple) else 1), lambda s=s: [rng.standard_normal(s)])
        T(f"sortdesc{ax}", lambda x, ax=ax: nd.sort(x, axis=ax if not isinstance(ax, tuple) else 1, is_ascend=False), lambda x, ax=ax: -np.sort(-x, axis=ax if not isinstance(ax, tuple) else 1), lambda s=s: [rng.standard_normal(s)])
    T("argsort", lambda x: nd.argsort(x, axis=1), lambda x: np.argsort(x, axis=1, kind="stable").astype(np.float32), lambda: [rng.standard_normal((3, 5))], grad=False)
    T("argsort_desc", lambda x: nd.argsort(x, axis=0, is_ascend=False), lambda x: np.argsort(-x, axis=0, kind="stable").astype(np.float32), lambda: [rng.standard_normal((4, 3))], grad=False)
    T("topk_val", lambda x: nd.topk(x, axis=-1, k=2, ret_typ="value"), lambda x: -np.sort(-x, axis=-1)[..., :2], lambda: [rng.standard_normal((3, 5))])
    T("topk_idx", lambda x: nd.topk(x, axis=0, k=3), lambda x: np.argsort(-x, axis=0, kind="stable")[:3].astype(np.float32), lambda: [rng.standard_normal((5, 3))], grad=False)
    T("topk_asc_mask", lambda x: nd.topk(x, axis=1, k=2, ret_typ="mask", is_ascend=True), lambda x: (np.argsort(np.argsort(x, axis=1, kind='stable'), axis=1, kind='stable') < 2).astype(np.float64), lambda: [rng.standard_normal((3, 5))], grad=False)
    T("moments_mean", lambda x: nd.moments(x, axes=(0, 2))[0], lambda x: x.mean(axis=(0, 2)), lambda: [rng.standard_normal((3, 4, 2))])
    T("moments_var", lambda x: nd.moments(x, axes=(1,), keepdims=True)[1], lambda x: x.var(axis=(1,), keepdims=True), lambda: [rng.standard_normal((3, 4, 2))])
    T("pad_const", lambda x: nd.pad(x, mode="constant", pad_width=(0, 0, 0, 0, 1, 2, 0, 3), constant_value=1.5), lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 3)), constant_values=1.5), lambda: [rng.standard_normal((2, 1, 3, 2))])
    T("pad_edge", lambda x: nd.pad(x, mode="edge", pad_width=(0, 0, 0, 0, 2, 1, 1, 3)), lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 3)), mode="edge"), lambda: [rng.standard_normal((2, 1, 3, 2))])
    T("pad_reflect", lambda x: nd.pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 2, 1, 1, 1)), lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 1)), mode="reflect"), lambda: [rng.standard_normal((2, 2, 3, 3))])
    T("pad_reflect5d", lambda x: nd.pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 2, 0, 1, 2)), lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0), (1, 2)), mode="reflect"), lambda: [rng.standard_normal((1, 2, 3, 3, 4))])
    # gather/scatter
    T("gather_nd", lambda x, i: nd.gather_nd(x, i), lambda x, i: x[tuple(i.astype(int))], lambda: [rng.standard_normal((4, 3, 2)), rng.integers(0, 3, (2, 5)).astype(np.int32)])
    T("gather_nd_neg", lambda x, i: nd.gather_nd(x, i), lambda x, i: x[tuple(i.astype(int))], lambda: [rng.standard_normal((4, 3, 2)), rng.integers(-3, 0, (2, 5)).astype(np.int32)])
    def scat_ref(d, i, shape=(4, 3)):
        o = np.zeros(shape); 
        for k in range(d.shape[0]): o[tuple(i[:, k])] = d[k]
        return o
    def unique_pairs(n=5):   # (MXNet leaves duplicate indices undefined)
        flat = rng.permutation(12)[:n]
        return np.stack([flat // 3, flat % 3]).astype(np.int32)
    T("scatter_nd", lambda d, i: nd.scatter_nd(d, i, shape=(4, 3)), scat_ref, lambda: [rng.standard_normal((5,)), unique_pairs()], grad=False)
    # linalg
    def spd(n): a = rng.standard_normal((n, n)); return a @ a.T + n * np.eye(n)
    T("potrf", lambda a: nd.linalg.potrf(a), lambda a: np.linalg.cholesky(a), lambda: [spd(3)], grad=False)
    T("sumlogdiag", lambda a: nd.linalg.sumlogdiag(a), lambda a: np.atleast_1d(np.sum(np.log(np.abs(np.diagonal(a, axis1=-2, axis2=-1))), -1)), lambda: [spd(3)])
    T("gemm2", lambda a, b: nd.linalg.gemm2(a, b, transpose_b=True, alpha=2.0), lambda a, b: 2 * a @ np.swapaxes(b, -1, -2), lambda: [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))])
    T("gemm", lambda a, b, c: nd.linalg.gemm(a, b, c, transpose_a=True, alpha=.5, beta=2.), lambda a, b, c: .5 * a.T @ b + 2 * c, lambda: [rng.standard_normal((4, 3)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))])
    T("syrk", lambda a: nd.linalg.syrk(a, transpose=True, alpha=1.5), lambda a: 1.5 * a.T @ a, lambda: [rng.standard_normal((4, 3))])
    def tri(n): return np.tril(rng.standard_normal((n, n))) + 3 * np.eye(n)
    T("trsm", lambda a, b: nd.linalg.trsm(a, b, alpha=1.5), lambda a, b: 1.5 * np.linalg.solve(np.tril(a), b), lambda: [tri(3), rng.standard_normal((3, 2))])
    T("trsm_t_right", lambda a, b: nd.linalg.trsm(a, b, transpose=True, rightside=True), lambda a, b: b @ np.linalg.inv(np.tril(a).T), lambda: [tri(3), rng.standard_normal((2, 3))])
    T("trmm", lambda a, b: nd.linalg.trmm(a, b, lower=False), lambda a, b: np.triu(a) @ b, lambda: [tri(3).T, rng.standard_normal((3, 2))])
    T("potri", lambda a: nd.linalg.potri(a), lambda a: np.linalg.inv(np.tril(a) @ np.tril(a).T), lambda: [tri(3)])
    T("extractdiag", lambda a: nd.linalg.extractdiag(a, offset=1), lambda a: np.diagonal(a, 1, -2, -1), lambda: [rng.standard_normal((2, 3, 3))])
    T("extractdiag_neg", lambda a: nd.linalg.extractdiag(a, offset=-2), lambda a: np.diagonal(a, -2, -2, -1), lambda: [rng.standard_normal((4, 4))])
    T("makediag", lambda a: nd.linalg.makediag(a, offset=-1), lambda a: np.stack([np.diag(r, -1) for r in a.reshape(-1, a.shape[-1])]).reshape(a.shape[:-1] + (a.shape[-1] + 1,) * 2), lambda: [rng.standard_normal((2, 3))])
    # sequence
    def sm_ref(x, L, axis=0, value=-1.0):
        x = x.copy()
        for b in range(x.shape[1 - axis]):
            if axis == 0: x[int(L[b]):, b] = value
            else: x[b, int(L[b]):] = value
        return x
    T("SequenceMask", lambda x, L: nd.SequenceMask(x, L, use_sequence_length=True, value=-1.0), sm_ref, lambda: [rng.standard_normal((5, 3, 2)), rng.integers(1, 6, 3).astype(np.float64)], f32=False, wrt=[0])
    T("SequenceMask1", lambda x, L: nd.SequenceMask(x, L, use_sequence_length=True, value=-1.0, axis=1), lambda x, L: sm_ref(x, L, 1), lambda: [rng.standard_normal((3, 5, 2)), rng.integers(0, 6, 3).astype(np.float64)], f32=False, wrt=[0])
    def sl_ref(x, L, axis=0):
        return np.stack([x[int(L[b]) - 1, b] if axis == 0 else x[b, int(L[b]) - 1] for b in range(len(L))])
    T("SequenceLast", lambda x, L: nd.SequenceLast(x, L, use_sequence_length=True), sl_ref, lambda: [rng.standard_normal((5, 3, 2)), rng.integers(1, 6, 3).astype(np.float64)], f32=False, wrt=[0])
    T("SequenceLast1", lambda x, L: nd.SequenceLast(x, L, use_sequence_length=True, axis=1), lambda x, L: sl_ref(x, L, 1), lambda: [rng.standard_normal((3, 5, 2)), rng.integers(1, 6, 3).astype(np.float64)], f32=False, wrt=[0])
    def sr_ref(x, L):
        x = x.copy()
        for b in range(x.shape[1]): x[:int(L[b]), b] = x[:int(L[b]), b][::-1].copy()
        return x
    T("SequenceReverse", lambda x, L: nd.SequenceReverse(x, L, use_sequence_length=True), sr_ref, lambda: [rng.standard_normal((5, 3, 2)), rng.integers(1, 6, 3).astype(np.float64)], f32=False, wrt=[0])
    T("SequenceReverse_nolen", lambda x: nd.SequenceReverse(x), lambda x: x[::-1], lambda: [rng.standard_normal((4, 2, 3))])
    T("SequenceLast_nolen", lambda x: nd.SequenceLast(x), lambda x: x[-1], lambda: [rng.standard_normal((4, 2, 3))])
    for t in tests:
        check(t[0], *t[1], **t[2])
    for f in FAIL: print(f)
    print(len(tests), "tests", len(FAIL), "failures")
