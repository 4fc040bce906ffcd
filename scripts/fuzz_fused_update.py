"""The one-call fused optimizer update vs each optimizer's own update(): random hyper-parameters,
lr/wd multipliers, frozen parameters, stale gradients, schedules; parameters must agree.
Run from the repository root: PYTHONPATH=. python scripts/fuzz_fused_update.py (prints mismatches, then a count).
"""
import sys
import numpy as np
import tracegrad as mx
from tracegrad import autograd, fused_update, gluon, nd

OPTS = {
    "sgd": lambda r: dict(momentum=float(r.choice([0.0, 0.9])), lazy_update=bool(r.rand() < .5)),
    "nag": lambda r: dict(momentum=float(r.choice([0.0, 0.9]))),
    "adam": lambda r: dict(beta1=0.9, beta2=float(r.choice([0.999, 0.9])), epsilon=float(r.choice([1e-8, 1e-3]))),
    "rmsprop": lambda r: dict(gamma1=0.9, centered=bool(r.rand() < .5), clip_weights=float(r.choice([0, 0.5])) or None),
    "adagrad": lambda r: dict(eps=float(r.choice([1e-7, 1e-3]))),
}


def run(seed, fused):
    r = np.random.RandomState(seed)
    name = list(OPTS)[seed % len(OPTS)]
    kw = OPTS[name](r)
    kw = {k: v for k, v in kw.items() if v is not None}
    kw.update(learning_rate=float(r.choice([0.01, 0.1])), wd=float(r.choice([0, 1e-2])),
              clip_gradient=float(r.choice([-1, 0.05])) if r.rand() < .5 else None,
              rescale_grad=float(r.choice([1.0, 0.5])))
    kw = {k: v for k, v in kw.items() if v is not None}
    if r.rand() < .4:
        kw["lr_scheduler"] = mx.lr_scheduler.FactorScheduler(step=2, factor=0.7)
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(4, in_units=3, activation="tanh"), gluon.nn.Dense(2, in_units=4))
    net.initialize(mx.init.Xavier())
    params = list(net.collect_params().values())
    params[0].lr_mult = float(r.choice([1.0, 0.5]))
    params[1].wd_mult = float(r.choice([1.0, 0.0, 2.0]))
    if r.rand() < .3:
        params[3].grad_req = "null"
    orig = fused_update.supports
    if not fused:
        fused_update.supports = lambda opt: False
    try:
        tr = gluon.Trainer(net.collect_params(), name, dict(kw))
        L = gluon.loss.L2Loss()
        for i in range(6):
            x = nd.array(r.randn(4, 3).astype(np.float32))
            y = nd.array(r.randn(4, 2).astype(np.float32))
            with autograd.record():
                l = L(net(x), y)
            l.backward()
            tr.step(int(r.choice([4, 2])))
    finally:
        fused_update.supports = orig
    return [p.data().asnumpy() for p in params], (name, kw)


if __name__ == "__main__":
    bad = 0
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    for seed in range(n):
        try:
            a, cfg = run(seed, True)
            b, _ = run(seed, False)
        except Exception as e:
            print("EXC", seed, repr(e)[:300]); bad += 1; continue
        diffs = [float(np.max(np.abs(u - v))) for u, v in zip(a, b)]
        if max(diffs) > 1e-5:
            bad += 1
            print("MISMATCH", seed, cfg, diffs)
    print(bad, "of", n, "differ")
