"""Differential fuzz of Convolution / Deconvolution / Pooling against loop references.
Run from the repository root: PYTHONPATH=. python scripts/fuzz_conv.py (prints mismatches, then a count).
"""
import itertools, math, sys
import numpy as np
sys.path.insert(0, "scripts")
import fuzz_new_ops as H
from fuzz_new_ops import check, FAIL, rng
from tracegrad import nd


def conv_ref(x, w, b, stride, dilate, pad, groups):
    d = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dilate[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(d)]
    N, C = x.shape[:2]; O = w.shape[0]; cg = C // groups; og = O // groups
    out = np.zeros((N, O) + tuple(out_sp))
    for pos in np.ndindex(*out_sp):
        for kk in np.ndindex(*k):
            idx = tuple(pos[i] * stride[i] + kk[i] * dilate[i] for i in range(d))
            patch = xp[(slice(None), slice(None)) + idx]  # N, C
            for g in range(groups):
                out[(slice(None), slice(g * og, (g + 1) * og)) + pos] += \
                    patch[:, g * cg:(g + 1) * cg] @ w[(slice(g * og, (g + 1) * og), slice(None)) + kk].T
    if b is not None:
        out += b.reshape((1, -1) + (1,) * d)
    return out


def deconv_ref(x, w, stride, dilate, pad, adj, groups):
    d = x.ndim - 2
    N, C = x.shape[:2]; k = w.shape[2:]; fg = w.shape[1]; cg = C // groups
    full = [stride[i] * (x.shape[2 + i] - 1) + dilate[i] * (k[i] - 1) + 1 + adj[i] for i in range(d)]
    out = np.zeros((N, fg * groups) + tuple(full))
    for pos in np.ndindex(*x.shape[2:]):
        for kk in np.ndindex(*k):
            o = tuple(pos[i] * stride[i] + kk[i] * dilate[i] for i in range(d))
            for g in range(groups):
                out[(slice(None), slice(g * fg, (g + 1) * fg)) + o] += \
                    x[(slice(None), slice(g * cg, (g + 1) * cg)) + pos] @ w[(slice(g * cg, (g + 1) * cg), slice(None)) + kk]
    sl = tuple(slice(pad[i], full[i] - pad[i]) for i in range(d))
    return out[(slice(None), slice(None)) + sl]


def pool_ref(x, kernel, stride, pad, ptype, conv, include):
    d = x.ndim - 2
    sp = x.shape[2:]
    if conv == "valid":
        out_sp = [(sp[i] + 2 * pad[i] - kernel[i]) // stride[i] + 1 for i in range(d)]
    else:
        out_sp = [int(math.ceil((sp[i] + 2 * pad[i] - kernel[i]) / stride[i])) + 1 for i in range(d)]
    out = np.zeros(x.shape[:2] + tuple(out_sp))
    for pos in np.ndindex(*out_sp):
        lo = [pos[i] * stride[i] - pad[i] for i in range(d)]
        hi = [min(lo[i] + kernel[i], sp[i] + pad[i]) for i in range(d)]
        size = math.prod(hi[i] - lo[i] for i in range(d))
        clo = [max(l, 0) for l in lo]; chi = [min(h, sp[i]) for i, h in enumerate(hi)]
        win = x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in zip(clo, chi))]
        win = win.reshape(win.shape[:2] + (-1,))
        if win.shape[-1] == 0:   # a 'full' window past the input: MXNet gives 0 / the lowest
            v = np.finfo(x.dtype).min if ptype == "max" else 0.0
        elif ptype == "max":
            v = win.max(-1)
        elif ptype == "sum":
            v = win.sum(-1)
        else:
            v = win.sum(-1) / (size if include else win.shape[-1])
        out[(slice(None), slice(None)) + pos] = v
    return out


def _empty_full_window(sp, kernel, stride, pad):
    """Whether 'full' pooling has a window lying wholly past the input."""
    for n, k, s, p in zip(sp, kernel, stride, pad):
        out = int(math.ceil((n + 2 * p - k) / s)) + 1
        if (out - 1) * s - p >= n:
            return True
    return False


def tup(d, lo, hi):
    return tuple(int(rng.integers(lo, hi + 1)) for _ in range(d))


def main():
    for t in range(int(sys.argv[1]) if len(sys.argv) > 1 else 12):
        d = int(rng.integers(1, 4))
        g = int(rng.choice([1, 1, 2]))
        k, s, dl, p = tup(d, 1, 3), tup(d, 1, 3), tup(d, 1, 2), tup(d, 0, 2)
        sp = tuple(max(k[i] * dl[i] - 2 * p[i], 1) + int(rng.integers(0, 3)) for i in range(d))
        if d == 3: sp = tuple(min(v, 4) for v in sp); k = tuple(min(v, 2) for v in k)
        sp = tuple(max(v, (k[i] - 1) * dl[i] + 1 - 2 * p[i]) for i, v in enumerate(sp))
        N, C, O = int(rng.integers(1, 3)), 2 * g, 2 * g if rng.random() < .5 else g
        xs = (N, C) + sp; ws = (O, C // g) + k
        kw = dict(kernel=k, stride=s, dilate=dl, pad=p, num_filter=O, num_group=g)
        nb = rng.random() < .5
        name = f"conv d{d} g{g} x{xs} w{ws} k{k} s{s} dl{dl} p{p}"
        if nb:
            check(name, lambda x, w, kw=kw: nd.Convolution(x, w, no_bias=True, **kw),
                  lambda x, w, s=s, dl=dl, p=p, g=g: conv_ref(x, w, None, s, dl, p, g),
                  lambda: [rng.standard_normal(xs), rng.standard_normal(ws)], n=1, rtol=1e-6)
        else:
            check(name + " bias", lambda x, w, b, kw=kw: nd.Convolution(x, w, b, **kw),
                  lambda x, w, b, s=s, dl=dl, p=p, g=g: conv_ref(x, w, b, s, dl, p, g),
                  lambda: [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(O)], n=1, rtol=1e-6)
        # deconvolution
        p2 = tuple(min(p[i], (k[i] - 1) * dl[i] // 2) for i in range(d))
        adj = tuple(int(rng.integers(0, s[i])) for i in range(d))
        dxs = (N, C) + tuple(max(1, v - 1) for v in sp); dws = (C, O // g) + k
        kw = dict(kernel=k, stride=s, dilate=dl, pad=p2, adj=adj, num_filter=O, num_group=g)
        check(f"deconv d{d} g{g} x{dxs} w{dws} k{k} s{s} dl{dl} p{p2} adj{adj}",
              lambda x, w, kw=kw: nd.Deconvolution(x, w, **kw),
              lambda x, w, s=s, dl=dl, p=p2, adj=adj, g=g: deconv_ref(x, w, s, dl, p, adj, g),
              lambda: [rng.standard_normal(dxs), rng.standard_normal(dws)], n=1, rtol=1e-6)
        # pooling
        pk = tup(d, 1, 3); ps = tup(d, 1, 3); pp = tuple(min(int(rng.integers(0, 2)), v // 2) for v in pk)
        psp = tuple(max(v, pk[i]) for i, v in enumerate(sp))
        for ptype in ("max", "avg", "sum"):
            conv = str(rng.choice(["valid", "full"]))
            if ptype == "max" and conv == "full" and _empty_full_window(psp, pk, ps, pp):
                # its value is the dtype's lowest (MXNet): exact in tests/api/test_conv.py,
                # but no finite difference or f32/f64 comparison can run through it
                conv = "valid"
            inc = bool(rng.random() < .5)
            check(f"pool {ptype} {conv} inc{inc} x{(N, C) + psp} k{pk} s{ps} p{pp}",
                  lambda x, pk=pk, ps=ps, pp=pp, ptype=ptype, conv=conv, inc=inc: nd.Pooling(x, kernel=pk, stride=ps, pad=pp, pool_type=ptype, pooling_convention=conv, count_include_pad=inc),
                  lambda x, pk=pk, ps=ps, pp=pp, ptype=ptype, conv=conv, inc=inc: pool_ref(x, pk, ps, pp, ptype, conv, inc),
                  lambda: [rng.standard_normal((N, C) + psp)], n=1, rtol=1e-6)
    for f in FAIL: print(f)
    print(len(FAIL), "failures")


if __name__ == "__main__":
    main()
