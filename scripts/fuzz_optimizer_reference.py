"""Optimizers through gluon.Trainer (eager or captured, hybridized or not, lr_mult / wd_mult,
a FactorScheduler, batch sizes) against MXNet 1.9.1's update formulas written out in float64
numpy: the other optimizer fuzzers compare tracegrad with itself (fused vs update(), capture
on vs off), which a formula wrong in both would pass.

    PYTHONPATH=. python scripts/fuzz_optimizer_reference.py [seed]   (prints mismatches)
"""
import contextlib
import sys
import warnings

import numpy as np
import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.tracing import capture
warnings.simplefilter("ignore")

def clip(g, c):
    return g if c is None else np.clip(g, -c, c)

def ref_step(name, kw, w, g, st, t, lr):
    rg, c, wd = kw.get("rescale_grad", 1.0), kw.get("clip_gradient"), kw.get("wd", 0.0)
    if name == "sgd":
        m = kw.get("momentum", 0.0)
        gg = clip(rg * g, c) + wd * w
        if m:
            st["mom"] = m * st.get("mom", 0 * w) - lr * gg
            return w + st["mom"]
        return w - lr * gg
    if name == "nag":
        m = kw.get("momentum", 0.0)
        cg = clip(rg * g, c)      # MXNet 1.9.1's nag_mom_update kernel (in place)
        mm = m * st.get("mom", 0 * w)
        new = w - mm + (m + 1) * (mm - lr * (cg + wd * w))
        st["mom"] = mm - lr * (cg + wd * new)
        return new
    if name == "adam":
        b1, b2, eps = kw.get("beta1", 0.9), kw.get("beta2", 0.999), kw.get("epsilon", 1e-8)
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        gg = clip(rg * g + wd * w, c)
        st["m"] = b1 * st.get("m", 0 * w) + (1 - b1) * gg
        st["v"] = b2 * st.get("v", 0 * w) + (1 - b2) * gg * gg
        return w - lr_t * st["m"] / (np.sqrt(st["v"]) + eps)
    if name == "rmsprop":
        g1, g2, eps = kw.get("gamma1", 0.9), kw.get("gamma2", 0.9), kw.get("epsilon", 1e-8)
        gg = clip(rg * g + wd * w, c)
        st["n"] = (1 - g1) * gg * gg + g1 * st.get("n", 0 * w)
        if kw.get("centered"):
            st["g"] = (1 - g1) * gg + g1 * st.get("g", 0 * w)
            st["d"] = g2 * st.get("d", 0 * w) - lr * gg / np.sqrt(st["n"] - st["g"] ** 2 + eps)
            w = w + st["d"]
        else:
            w = w - lr * gg / np.sqrt(st["n"] + eps)
        cw = kw.get("clip_weights")
        return w if cw is None else np.clip(w, -cw, cw)
    if name == "adagrad":
        eps = kw.get("epsilon", 1e-7)
        gg = clip(rg * g, c)
        st["h"] = st.get("h", 0 * w) + gg * gg
        return w - lr * (gg / np.sqrt(st["h"] + eps) + wd * w)
    if name == "adadelta":
        rho, eps = kw.get("rho", 0.9), kw.get("epsilon", 1e-5)
        gg = clip(rg * g, c)
        st["ag"] = rho * st.get("ag", 0 * w) + (1 - rho) * gg * gg
        d = np.sqrt(st.get("ad", 0 * w) + eps) / np.sqrt(st["ag"] + eps) * gg
        st["ad"] = rho * st.get("ad", 0 * w) + (1 - rho) * d * d
        return w - (d + wd * w)
    if name == "adamax":
        b1, b2 = kw.get("beta1", 0.9), kw.get("beta2", 0.999)
        gg = clip(rg * g + wd * w, c)
        st["m"] = b1 * st.get("m", 0 * w) + (1 - b1) * gg
        st["u"] = np.maximum(b2 * st.get("u", 0 * w), np.abs(gg))
        return w - lr / (1 - b1 ** t) * st["m"] / st["u"]
    if name == "nadam":
        b1, b2, eps, sd = 0.9, 0.999, 1e-8, 0.004
        gg = clip(rg * g + wd * w, c)
        mt = b1 * (1 - 0.5 * 0.96 ** (t * sd))
        mt1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
        st["ms"] = st.get("ms", 1.0) * mt
        msn = st["ms"] * mt1
        st["m"] = b1 * st.get("m", 0 * w) + (1 - b1) * gg
        st["v"] = b2 * st.get("v", 0 * w) + (1 - b2) * gg * gg
        bar = (1 - mt) * gg / (1 - st["ms"]) + mt1 * st["m"] / (1 - msn)
        return w - lr * bar / (np.sqrt(st["v"] / (1 - b2 ** t)) + eps)
    if name == "signum":
        m, wdl = kw.get("momentum", 0.9), kw.get("wd_lh", 0.0)
        st["mom"] = m * st.get("mom", 0 * w) - (1 - m) * (wd * w + clip(rg * g, c))
        return (1 - lr * wdl) * w + lr * np.sign(st["mom"])
    raise KeyError(name)

OPTS = [("sgd", {"learning_rate": 0.1}),
        ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.3}),
        ("nag", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.3}),
        ("adam", {"learning_rate": 0.05, "wd": 0.02, "clip_gradient": 0.2}),
        ("adam", {"learning_rate": 0.05}),
        ("rmsprop", {"learning_rate": 0.05, "wd": 0.01, "clip_gradient": 0.3}),
        ("rmsprop", {"learning_rate": 0.05, "centered": True, "clip_weights": 0.8, "wd": 0.01}),
        ("adagrad", {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0.2}),
        ("adadelta", {"learning_rate": 1.0, "wd": 0.01, "clip_gradient": 0.5}),
        ("adamax", {"learning_rate": 0.02, "wd": 0.01, "clip_gradient": 0.5}),
        ("nadam", {"learning_rate": 0.02, "wd": 0.01, "clip_gradient": 0.5}),
        ("signum", {"learning_rate": 0.02, "wd": 0.01, "wd_lh": 0.01, "clip_gradient": 0.5})]

def run(name, kw, cap, hyb, sched, bs, lr_mult, wd_mult, seed):
    rs = np.random.RandomState(seed)
    w0 = rs.randn(3, 4)
    net = gluon.nn.Dense(3, in_units=4, use_bias=False, dtype="float64")
    net.initialize()
    net.weight.set_data(nd.array(w0, dtype="float64"))
    net.weight.lr_mult, net.weight.wd_mult = lr_mult, wd_mult
    if hyb: net.hybridize()
    okw = dict(kw, rescale_grad=1.0)
    if sched:
        okw["lr_scheduler"] = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5,
                                                              base_lr=kw["learning_rate"])
    tr = gluon.Trainer(net.collect_params(), name, okw)
    w, st = w0.copy(), {}
    ctx = contextlib.nullcontext() if cap else capture.paused()
    worst = 0
    with ctx:
        for t in range(1, 9):
            x = rs.randn(bs, 4); y = rs.randn(bs, 3)
            with autograd.record():
                d = net(nd.array(x, dtype="float64")) - nd.array(y, dtype="float64")
                l = (d ** 2).sum()
            l.backward()
            tr.step(bs)
            g = 2 * (x @ w.T - y).T @ x        # dl/dW
            lr = kw["learning_rate"] * (0.5 ** ((t - 1) // 2) if sched else 1.0)
            # (FactorScheduler: lr drops once num_update passes each multiple of step)
            rk = dict(kw, rescale_grad=1.0 / bs, wd=kw.get("wd", 0.0) * wd_mult)
            w = ref_step(name, rk, w, g, st, t, lr * lr_mult)
            got = net.weight.data().asnumpy()
            worst = max(worst, np.max(np.abs(got - w)) / (np.max(np.abs(w)) + 1e-12))
    return worst

seed0 = int(sys.argv[1]) if len(sys.argv) > 1 else 0
rs = np.random.RandomState(seed0)
bad = 0
for name, kw in OPTS:
    for trial in range(6):
        cap, hyb, sched = bool(rs.randint(2)), bool(rs.randint(2)), bool(rs.randint(2))
        bs, lm = int(rs.choice([1, 4])), float(rs.choice([1.0, 0.5]))
        wm = float(rs.choice([1.0, 2.0]))
        try:
            e = run(name, kw, cap, hyb, sched, bs, lm, wm, trial)
        except Exception as ex:
            print("EXC", name, kw, repr(ex)[:200])
            bad += 1
            continue
        if e > 1e-9:
            bad += 1
            print("BAD", name, kw, dict(cap=cap, hyb=hyb, sched=sched, bs=bs, lr_mult=lm,
                                        wd_mult=wm), f"{e:.2e}")
print(f"{len(OPTS) * 6} runs of 8 steps, {bad} mismatch(es) (seed {seed0})")
