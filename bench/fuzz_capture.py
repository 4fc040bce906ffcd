"""Step capture against capture off on a spread of models, losses and optimizers (a script, not
CI: it compiles many plans). Prints the largest parameter difference and captured steps per case.

    python bench/fuzz_capture.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tracegrad as mx  # noqa: E402
from tracegrad import autograd, capture, gluon, nd  # noqa: E402


class TwoHeads(gluon.HybridBlock):
    """Two outputs: the step's loss reads both."""

    def __init__(self):
        super().__init__()
        self.body = gluon.nn.Dense(8, activation="tanh", in_units=5)
        self.a, self.b = gluon.nn.Dense(3, in_units=8), gluon.nn.Dense(1, in_units=8)

    def forward(self, x):
        h = self.body(x)
        return self.a(h), self.b(h)


def build(kind):
    mx.random.seed(4)
    if kind == "two_heads":
        net = TwoHeads()
    elif kind == "embedding":
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Embedding(10, 4), gluon.nn.Flatten(), gluon.nn.Dense(3, in_units=12))
    elif kind == "layernorm":
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(8, in_units=5), gluon.nn.LayerNorm(in_channels=8),
                gluon.nn.Dense(3, in_units=8))
    else:
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(8, activation="sigmoid", in_units=5), gluon.nn.Dropout(0.2),
                gluon.nn.Dense(3, in_units=8))
    net.initialize(mx.init.Xavier())
    return net


def data(kind, rs):
    if kind == "embedding":
        return nd.array(rs.randint(0, 10, (4, 3)).astype(np.float32))
    return nd.array(rs.randn(4, 5).astype(np.float32))


LOSSES = {
    "softmax_ce": lambda out, y: gluon.loss.SoftmaxCrossEntropyLoss()(out, y),
    "l1": lambda out, y: gluon.loss.L1Loss()(out, nd.one_hot(y, 3)),
    "huber_weighted": lambda out, y: gluon.loss.HuberLoss()(out, nd.one_hot(y, 3),
                                                            nd.ones((4, 1)) * 0.5),
    "sigmoid_bce": lambda out, y: gluon.loss.SigmoidBinaryCrossEntropyLoss()(
        out, nd.one_hot(y, 3)),
}


def train(on, kind, loss_name, opt, hybridize, steps=10):
    capture.set_enabled(on)
    net = build(kind)
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), opt, {"learning_rate": 0.05, "wd": 0.001})
    rs = np.random.RandomState(0)
    before = mx.stats()["captured_steps"]
    for _ in range(steps):
        x = data(kind, rs)
        y = nd.array(rs.randint(0, 3, 4).astype(np.float32))
        with autograd.record():
            out = net(x)
            if kind == "two_heads":
                out = out[0] + out[1]
            loss = LOSSES[loss_name](out, y)
        loss.backward()
        trainer.step(4)
    captured = mx.stats()["captured_steps"] - before
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], captured


def main():
    worst = 0.0
    for kind in ("mlp", "two_heads", "embedding", "layernorm"):
        for loss_name in LOSSES:
            for opt in ("sgd", "adam", "rmsprop"):
                for hybridize in (True, False):
                    got, captured = train(True, kind, loss_name, opt, hybridize)
                    want, _ = train(False, kind, loss_name, opt, hybridize)
                    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
                    worst = max(worst, diff)
                    print(f"{kind:10s} {loss_name:15s} {opt:8s} hybridized={hybridize!s:5s} "
                          f"max|diff|={diff:.2e} captured={captured}", flush=True)
    print(f"worst difference {worst:.2e}")
    return worst < 1e-4


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
