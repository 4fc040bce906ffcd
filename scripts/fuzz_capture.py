"""Step capture vs capture off: random training loops must give the same parameters and the
same values read along the way. A script, not CI: it compiles many plans.

    PYTHONPATH=. python scripts/fuzz_capture.py [SEED] [CASES]

Prints each mismatch (its configuration, the differing parameters, capture.explain()), then
the count. The models: an MLP or a small CNN (BatchNorm, Dropout, activations at random), a
block with two heads the loss adds, Embedding + Flatten + Dense, Dense + LayerNorm; losses
with class labels, one-hot targets and sample weights; seven optimizer setups; batch-size
changes and reads of the loss or the net output inside the loop.
"""
import sys

import numpy as np

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd

OPTS = [("sgd", {"learning_rate": 0.1}), ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-3}),
        ("adam", {"learning_rate": 0.01}), ("rmsprop", {"learning_rate": 0.01}),
        ("adagrad", {"learning_rate": 0.1}), ("nag", {"learning_rate": 0.05, "momentum": 0.9}),
        ("adam", {"learning_rate": 0.01, "clip_gradient": 0.1, "wd": 0.01})]
KINDS = ("sequential", "two_heads", "embedding", "layernorm")
# (loss, how it reads the label y of class indices)
LOSSES = [
    lambda out, y: gluon.loss.SoftmaxCrossEntropyLoss()(out, y),
    lambda out, y: gluon.loss.L2Loss()(out, nd.one_hot(y, 3)),
    lambda out, y: gluon.loss.L1Loss()(out, nd.one_hot(y, 3)),
    lambda out, y: gluon.loss.HuberLoss()(out, nd.one_hot(y, 3), nd.ones((y.shape[0], 1)) * 0.5),
    lambda out, y: gluon.loss.SigmoidBinaryCrossEntropyLoss()(out, nd.one_hot(y, 3)),
]


class TwoHeads(gluon.HybridBlock):
    """Two outputs: the step's loss reads their sum."""

    def __init__(self):
        super().__init__()
        self.body = gluon.nn.Dense(8, activation="tanh", in_units=5)
        self.a, self.b = gluon.nn.Dense(3, in_units=8), gluon.nn.Dense(1, in_units=8)

    def forward(self, x):
        h = self.body(x)
        return self.a(h), self.b(h)


def build(cfg):
    mx.random.seed(cfg["seed"])
    kind = cfg["kind"]
    if kind == "two_heads":
        net = TwoHeads()
    else:
        net = gluon.nn.HybridSequential()
    if kind == "embedding":
        net.add(gluon.nn.Embedding(10, 4), gluon.nn.Flatten(), gluon.nn.Dense(8, in_units=12))
    elif kind == "layernorm":
        net.add(gluon.nn.Dense(8, in_units=5), gluon.nn.LayerNorm(in_channels=8))
    elif kind == "two_heads":
        pass
    elif cfg["conv"]:
        net.add(gluon.nn.Conv2D(4, 3, padding=1, in_channels=2, use_bias=not cfg["bn"]))
        if cfg["bn"]:
            net.add(gluon.nn.BatchNorm(in_channels=4))
        net.add(gluon.nn.Activation("relu"), gluon.nn.MaxPool2D(2), gluon.nn.Flatten())
        net.add(gluon.nn.Dense(8, in_units=16))
    else:
        net.add(gluon.nn.Dense(8, activation=cfg["act"], in_units=5, use_bias=not cfg["bn"]))
        if cfg["bn"]:
            net.add(gluon.nn.BatchNorm(in_channels=8))
    if kind != "two_heads":
        if cfg["drop"]:
            net.add(gluon.nn.Dropout(0.3))
        # (a bias right before BatchNorm has a ~0 gradient that Adam amplifies to lr-sized noise)
        net.add(gluon.nn.Dense(3, in_units=8))
    net.initialize(mx.init.Xavier())
    if cfg["hyb"]:
        net.hybridize()
    return net


def run(cfg, capture_on):
    capture._reset_for_tests()
    capture.set_enabled(capture_on)
    net = build(cfg)
    opt, kw = OPTS[cfg["opt"]]
    tr = gluon.Trainer(net.collect_params(), opt, dict(kw))
    loss_fn = LOSSES[cfg["loss"]]
    rs = np.random.RandomState(cfg["seed"])
    reads = []
    for i in range(cfg["steps"]):
        b = cfg["sizes"][i]
        if cfg["kind"] == "embedding":
            x = nd.array(rs.randint(0, 10, (b, 3)).astype(np.float32))
        else:
            shape = (b, 2, 4, 4) if cfg["conv"] and cfg["kind"] == "sequential" else (b, 5)
            x = nd.array(rs.randn(*shape).astype(np.float32))
        y = nd.array(rs.randint(0, 3, b).astype(np.float32))
        with autograd.record():
            out = net(x)
            if cfg["kind"] == "two_heads":
                out = out[0] + out[1]
            loss = loss_fn(out, y)
        loss.backward()
        if cfg["read"][i] == 1:
            reads.append(loss.asnumpy().copy())
        elif cfg["read"][i] == 2:
            reads.append(out.asnumpy().copy())
        tr.step(b)
        if cfg["read"][i] == 3:
            reads.append(loss.mean().asscalar())
    params = {i: v.data().asnumpy().copy() for i, v in enumerate(net.collect_params().values())}
    info = capture.explain() if capture_on else ""
    capture.set_enabled(True)
    return params, reads, info


def random_cfg(rs, steps=10):
    sizes = [4] * steps
    if rs.rand() < .5:
        for i in rs.choice(steps, 2, replace=False):
            sizes[i] = int(rs.choice([1, 3, 6]))
    return dict(seed=int(rs.randint(1000)), kind=str(rs.choice(KINDS, p=[.55, .15, .15, .15])),
                conv=bool(rs.rand() < .3), bn=bool(rs.rand() < .4),
                drop=bool(rs.rand() < .4), hyb=bool(rs.rand() < .5), act=str(rs.choice(["relu", "tanh", "sigmoid"])),
                opt=int(rs.randint(len(OPTS))), loss=int(rs.randint(len(LOSSES))), steps=steps, sizes=sizes,
                read=[int(rs.choice([0, 0, 0, 1, 2, 3])) for _ in range(steps)])


def compare(cfg):
    a, ra, info = run(cfg, True)
    b, rb, _ = run(cfg, False)
    bad = []
    for k in a:
        if not np.allclose(a[k], b[k], rtol=1e-5, atol=1e-6):
            bad.append((k, float(np.max(np.abs(a[k] - b[k])))))
    for i, (u, v) in enumerate(zip(ra, rb)):
        if not np.allclose(u, v, rtol=1e-5, atol=1e-6):
            bad.append(("read", i))
    return bad, info


if __name__ == "__main__":
    rs = np.random.RandomState(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    nbad = 0
    for t in range(n):
        cfg = random_cfg(rs)
        try:
            bad, info = compare(cfg)
        except Exception as e:
            import traceback; traceback.print_exc()
            bad, info = [("EXC", repr(e)[:300])], ""
        if bad:
            nbad += 1
            print("MISMATCH", cfg, bad[:4])
            print(info)
    print(nbad, "of", n, "mismatched")
