"""gluon.rnn layers vs a float64 numpy recurrence: eager, hybridized (second input), gradients.
Run from the repository root: PYTHONPATH=. python scripts/fuzz_rnn.py (prints mismatches, then a count).
"""
import os
import numpy as np
import tracegrad as mx
from tracegrad import autograd, gluon, nd

rng = np.random.default_rng(int(os.environ.get("FUZZ_SEED", 0)))  # (a new seed: FUZZ_SEED=n)
FAIL = []
sig = lambda z: 1 / (1 + np.exp(-z))


def cell(mode, x, h, c, wi, wh, bi, bh):
    gi, gh = x @ wi.T + bi, h @ wh.T + bh
    if mode == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c
    if mode == "gru":
        ri, zi, ni = np.split(gi, 3, -1); rh, zh, nh = np.split(gh, 3, -1)
        r, z = sig(ri + rh), sig(zi + zh)
        n = np.tanh(ni + r * nh)
        return (1 - z) * n + z * h, c
    return (np.tanh if mode == "rnn_tanh" else lambda v: np.maximum(v, 0))(gi + gh), c


def ref(mode, x, p, L, H, bi, h0=None):
    """x (T, N, C) TNC; p dict of params by suffix; returns out (T, N, H*dirs)."""
    T, N = x.shape[:2]
    inp = x
    for l in range(L):
        outs = []
        for d, tag in enumerate(["l", "r"][: 2 if bi else 1]):
            pre = f"{tag}{l}_"
            h = np.zeros((N, H)) if h0 is None else h0[l * (2 if bi else 1) + d]
            c = np.zeros((N, H))
            seq = range(T) if d == 0 else range(T - 1, -1, -1)
            o = np.zeros((T, N, H))
            for t in seq:
                h, c = cell(mode, inp[t], h, c, p[pre + "i2h_weight"], p[pre + "h2h_weight"], p[pre + "i2h_bias"], p[pre + "h2h_bias"])
                o[t] = h
            outs.append(o)
        inp = np.concatenate(outs, -1)
    return inp


def make(mode, H, L, bi, C, layout):
    kw = dict(num_layers=L, bidirectional=bi, input_size=C, layout=layout, dtype="float64")
    if mode == "lstm": return gluon.rnn.LSTM(H, **kw)
    if mode == "gru": return gluon.rnn.GRU(H, **kw)
    return gluon.rnn.RNN(H, activation=mode[4:], **kw)


def fd(f, x, c, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        a, b = x.copy(), x.copy(); a[idx] += eps; b[idx] -= eps
        g[idx] = (np.sum(f(a) * c) - np.sum(f(b) * c)) / (2 * eps)
    return g


def run(mode, T, N, C, H, L, bi, layout):
    net = make(mode, H, L, bi, C, layout)
    net.initialize(mx.init.Uniform(0.5))
    params = net.collect_params()
    for v in params.values():
        v.set_data(nd.array(rng.uniform(-.5, .5, v.shape), dtype="float64"))
    pd = {k.split("_", 1)[1]: v.data().asnumpy() for k, v in params.items()}
    tag = f"{mode} T{T} N{N} C{C} H{H} L{L} bi{bi} {layout}"
    for hyb in (False, True):
        if hyb:
            net.hybridize(); net(nd.array(rng.standard_normal((T + 1, N, C) if layout == "TNC" else (N, T + 1, C))))
        x = rng.standard_normal((T, N, C))
        xin = x if layout == "TNC" else x.transpose(1, 0, 2)
        xa = nd.array(xin, dtype="float64")
        want = ref(mode, x, pd, L, H, bi)
        if layout == "NTC": want = want.transpose(1, 0, 2)
        got = net(xa)
        if got.shape != want.shape or not np.allclose(got.asnumpy(), want, rtol=1e-6, atol=1e-8):
            FAIL.append((tag, hyb, "value", got.shape, want.shape)); continue
        if T * N * C > 40: continue
        c = rng.standard_normal(want.shape)
        xa.attach_grad()
        with autograd.record():
            l = (net(xa) * nd.array(c)).sum()
        l.backward()
        def f(z):
            zz = z if layout == "TNC" else z.transpose(1, 0, 2)
            o = ref(mode, zz, pd, L, H, bi)
            return o if layout == "TNC" else o.transpose(1, 0, 2)
        g = fd(f, xin, c)
        if not np.allclose(xa.grad.asnumpy(), g, rtol=1e-5, atol=1e-6):
            FAIL.append((tag, hyb, "dx", float(np.max(np.abs(xa.grad.asnumpy() - g)))))


if __name__ == "__main__":
    for t in range(14):
        mode = ["lstm", "gru", "rnn_tanh", "rnn_relu"][t % 4]
        args = (mode, int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                int(rng.integers(1, 3)), bool(rng.random() < .5), str(rng.choice(["TNC", "NTC"])))
        try:
            run(*args)
        except Exception as e:
            import traceback; traceback.print_exc()
            FAIL.append((args, "EXC", repr(e)[:300]))
    for f in FAIL: print(f)
    print(len(FAIL), "failures")
