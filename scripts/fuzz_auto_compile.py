"""Differential fuzz of gluon/auto_compile.py: random models of gluon's own layers trained
eagerly, twice from the same parameters and seed, once with hot layer calls compiled (a tiny
budget, so most calls run compiled) and once kept eager. Each step may change the batch size,
the training mode, a layer's attribute (Dropout rate, Activation type, LeakyReLU slope), a
parameter's data, or read outputs outside record(). Every step's outputs, input gradients
and, at the end, every parameter (running statistics included) must agree.

    python scripts/fuzz_auto_compile.py [SEED] [MODELS]     (prints mismatches, then a count)
"""
import sys

import numpy as np

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.gluon import auto_compile as ac, nn, rnn

RTOL, ATOL = 3e-5, 3e-6


def dense_model(rs):
    net = nn.HybridSequential()
    width = int(rs.integers(3, 9))
    for _ in range(int(rs.integers(1, 4))):
        net.add(nn.Dense(width, activation=str(rs.choice(["relu", "tanh", "sigmoid"]))))
        kind = rs.integers(0, 4)
        if kind == 0:
            net.add(nn.Dropout(float(rs.choice([0.2, 0.5]))))
        elif kind == 1:
            net.add(nn.BatchNorm())
        elif kind == 2:
            net.add(nn.LeakyReLU(float(rs.uniform(0.01, 0.3))))
    net.add(nn.Dense(int(rs.integers(1, 4))))
    features = int(rs.integers(2, 6))
    return net, lambda n: (n, features)


def conv_model(rs):
    net = nn.HybridSequential()
    c = int(rs.integers(1, 3))
    net.add(nn.Conv2D(int(rs.integers(2, 5)), 3, padding=1), nn.BatchNorm(),
            nn.Activation(str(rs.choice(["relu", "tanh"]))))
    net.add(nn.MaxPool2D(2) if rs.integers(0, 2) else nn.AvgPool2D(2))
    net.add(nn.Flatten(), nn.Dense(3))
    return net, lambda n: (n, c, 6, 6)


MODELS = [dense_model, conv_model]


def run(seed, auto):
    """Outputs, input gradients and final parameters of one training run."""
    rs = np.random.default_rng(seed)
    ac.ENABLED[0] = auto
    make = MODELS[int(rs.integers(0, len(MODELS)))]
    mx.random.seed(seed)
    net, shape_of = make(rs)
    net.initialize(mx.init.Xavier())
    use_cell = bool(rs.integers(0, 2))
    cell = rnn.LSTMCell(4) if use_cell else None
    if cell is not None:
        cell.initialize(mx.init.Xavier())
    batch = int(rs.integers(2, 5))
    x_shape = shape_of(batch)
    with autograd.record():     # (deferred shapes settle before the twin runs diverge)
        net(nd.ones(x_shape))
    params = list(net.collect_params().values())
    if cell is not None:
        params += list(cell.collect_params().values())
    trainer = gluon.Trainer([p for p in params if p.grad_req != "null"], "sgd",
                            {"learning_rate": 0.05})
    mx.random.seed(seed + 1)
    record = []
    for step in range(int(rs.integers(12, 30))):
        event = rs.integers(0, 12)
        if event == 0:
            batch = int(rs.integers(2, 5))
            x_shape = shape_of(batch)
        elif event == 1:
            for b in net._children.values():
                if isinstance(b, nn.Dropout):
                    b._rate = float(rs.choice([0.0, 0.3]))
                elif isinstance(b, nn.Activation):
                    b._act_type = str(rs.choice(["relu", "tanh", "softrelu"]))
        elif event == 2:
            p = params[int(rs.integers(0, len(params)))]
            p.set_data(p.data() * 0.9)
        x = nd.array(rs.standard_normal(x_shape).astype(np.float32))
        if event == 3:          # inference outside record()
            record.append(("predict", net(x).asnumpy()))
            continue
        train = event != 4
        x.attach_grad()
        with autograd.record(train_mode=train):
            out = net(x)
            if cell is not None:
                state = cell.begin_state(batch)
                inp = out.reshape((batch, -1))
                for _ in range(int(rs.integers(1, 4))):
                    out, state = cell(inp, state)
            loss = (out * out).mean()
        loss.backward()
        trainer.step(batch)
        record.append(("step", out.asnumpy(), x.grad.asnumpy()))
    record.append(("params", [p.data().asnumpy() for p in params]))
    compiled = sum(1 for b in [net, cell] + list(net._children.values())
                   if b is not None and "_tg_jit" in b.__dict__)
    return record, compiled


def compare(a, b):
    for k, (ra, rb) in enumerate(zip(a, b)):
        for x, y in zip(ra[1:], rb[1:]):
            xs = x if isinstance(x, list) else [x]
            ys = y if isinstance(y, list) else [y]
            for u, v in zip(xs, ys):
                if u.shape != v.shape or not np.allclose(u, v, rtol=RTOL, atol=ATOL):
                    return f"entry {k} ({ra[0]}): max diff {np.max(np.abs(u - v)):.3g}"
    return None


def main(seed=0, models=20):
    prev = capture.set_enabled(False)       # (capture would take the repeated step whole)
    budget, calls = ac.OPS_BUDGET, ac.MIN_CALLS
    ac.OPS_BUDGET, ac.MIN_CALLS = 8, 2
    failures, compiled_total = 0, 0
    try:
        for s in range(seed, seed + models):
            want, _ = run(s, auto=False)
            got, compiled = run(s, auto=True)
            compiled_total += compiled
            why = compare(got, want)
            if why is not None:
                failures += 1
                print(f"seed {s}: {why}")
    finally:
        ac.OPS_BUDGET, ac.MIN_CALLS, ac.ENABLED[0] = budget, calls, True
        capture.set_enabled(prev)
    print(f"{failures} of {models} models differ ({compiled_total} blocks ran compiled)")
    return failures


if __name__ == "__main__":
    sys.exit(1 if main(*(int(a) for a in sys.argv[1:3])) else 0)
