"""Gluon activation / norm layers: eager, hybridized (second input) and gradients vs numpy f64.
Run from the repository root: PYTHONPATH=. python scripts/fuzz_layers.py (prints mismatches, then a count).
"""
import os
import sys
import numpy as np
import scipy.special as sps
import tracegrad as mx
from tracegrad import autograd, gluon, nd

rng = np.random.default_rng(int(os.environ.get("FUZZ_SEED", 0)))  # (a new seed: FUZZ_SEED=n)
FAIL = []


def gn_ref(x, g, b, groups, eps):
    N, C = x.shape[:2]
    xr = x.reshape(N, groups, -1)
    y = (xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + eps)
    y = y * g.reshape(1, -1, 1) + b.reshape(1, -1, 1)  # MXNet 1.x: one gamma/beta per group
    return y.reshape(x.shape)


def in_ref(x, g, b, eps):
    ax = tuple(range(2, x.ndim))
    y = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)
    sh = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return y * g.reshape(sh) + b.reshape(sh)


def ln_ref(x, g, b, axis, eps):
    y = (x - x.mean(axis, keepdims=True)) / np.sqrt(x.var(axis, keepdims=True) + eps)
    sh = [1] * x.ndim; sh[axis] = x.shape[axis]
    return y * g.reshape(sh) + b.reshape(sh)


def selu(x):
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))


CASES = [
    ("LeakyReLU", lambda: gluon.nn.LeakyReLU(0.1), lambda x, p: np.where(x > 0, x, 0.1 * x), (3, 4)),
    ("PReLU", lambda: gluon.nn.PReLU(in_channels=3), lambda x, p: np.where(x > 0, x, p[0].reshape(1, -1, 1) * x), (2, 3, 4)),
    ("ELU", lambda: gluon.nn.ELU(0.7), lambda x, p: np.where(x > 0, x, 0.7 * np.expm1(x)), (3, 4)),
    ("SELU", lambda: gluon.nn.SELU(), lambda x, p: selu(x), (3, 4)),
    ("GELU", lambda: gluon.nn.GELU(), lambda x, p: 0.5 * x * (1 + sps.erf(x / np.sqrt(2))), (3, 4)),
    ("Swish", lambda: gluon.nn.Swish(1.5), lambda x, p: x * sps.expit(1.5 * x), (3, 4)),
    ("GroupNorm", lambda: gluon.nn.GroupNorm(num_groups=2), lambda x, p: gn_ref(x, p[0], p[1], 2, 1e-5), (2, 4, 3)),
    ("GroupNorm1", lambda: gluon.nn.GroupNorm(num_groups=1), lambda x, p: gn_ref(x, p[0], p[1], 1, 1e-5), (1, 2, 2, 3)),
    ("InstanceNorm", lambda: gluon.nn.InstanceNorm(in_channels=3), lambda x, p: in_ref(x, p[0], p[1], 1e-5), (2, 3, 5)),
    ("InstanceNorm2d", lambda: gluon.nn.InstanceNorm(in_channels=2), lambda x, p: in_ref(x, p[0], p[1], 1e-5), (2, 2, 3, 2)),
    ("LayerNorm", lambda: gluon.nn.LayerNorm(in_channels=4), lambda x, p: ln_ref(x, p[0], p[1], -1, 1e-5), (3, 4)),
    ("LayerNorm_ax1", lambda: gluon.nn.LayerNorm(axis=1, in_channels=3), lambda x, p: ln_ref(x, p[0], p[1], 1, 1e-5), (2, 3, 4)),
    ("BatchNormEval", lambda: gluon.nn.BatchNorm(in_channels=3), lambda x, p: (x - p[2].reshape(1, -1, 1)) / np.sqrt(p[3].reshape(1, -1, 1) + 1e-5) * p[0].reshape(1, -1, 1) + p[1].reshape(1, -1, 1), (2, 3, 4)),
]


def fd(fn, x, c, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy(); xp[idx] += eps; xm[idx] -= eps
        g[idx] = (np.sum(fn(xp) * c) - np.sum(fn(xm) * c)) / (2 * eps)
    return g


def run_case(name, make, ref, shape, dtype):
    mx.random.seed(1)
    blk = make(); blk.initialize()
    x0 = nd.array(rng.standard_normal(shape), dtype=dtype); blk(x0)
    blk.cast(dtype)
    params = list(blk.collect_params().values())
    for p in params:  # non-trivial parameter values
        if p.shape and "running_var" not in p.name:
            p.set_data(nd.array(rng.uniform(0.5, 1.5, p.shape), dtype=dtype))
        elif p.shape:
            p.set_data(nd.array(rng.uniform(0.5, 1.5, p.shape), dtype=dtype))
    pv = [p.data().asnumpy().astype(np.float64) for p in params]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    for hyb in (False, True):
        if hyb:
            blk.hybridize()
            blk(nd.array(rng.standard_normal(shape), dtype=dtype))
        x = rng.standard_normal(shape)
        xa = nd.array(x, dtype=dtype)
        out = blk(xa)
        want = ref(xa.asnumpy().astype(np.float64), pv)
        if out.dtype != np.dtype(dtype):
            FAIL.append((name, dtype, hyb, "dtype", out.dtype))
        if not np.allclose(out.asnumpy(), want, **tol):
            FAIL.append((name, dtype, hyb, "value", float(np.max(np.abs(out.asnumpy() - want)))))
            continue
        if dtype == "float64":
            c = rng.standard_normal(want.shape)
            xa.attach_grad()
            with autograd.record(train_mode=False):
                L = (blk(xa) * nd.array(c)).sum()
            L.backward()
            g = fd(lambda z: ref(z, pv), x, c)
            if not np.allclose(xa.grad.asnumpy(), g, rtol=1e-4, atol=1e-5):
                FAIL.append((name, dtype, hyb, "dx", float(np.max(np.abs(xa.grad.asnumpy() - g)))))
            for k, p in enumerate(params):
                if p.grad_req == "null":
                    continue
                def f(v, k=k):
                    q = list(pv); q[k] = v; return ref(x, q)
                gp = fd(f, pv[k], c)
                if not np.allclose(p.grad().asnumpy(), gp, rtol=1e-4, atol=1e-5):
                    FAIL.append((name, dtype, hyb, "dparam", p.name, float(np.max(np.abs(p.grad().asnumpy() - gp)))))


if __name__ == "__main__":
    for name, make, ref, shape in CASES:
        for dtype in ("float64", "float32"):
            try:
                run_case(name, make, ref, shape, dtype)
            except Exception as e:
                import traceback; traceback.print_exc()
                FAIL.append((name, dtype, "EXC", repr(e)[:300]))
    for f in FAIL: print(f)
    print(len(FAIL), "failures")
