"""Train a small MLP with Gluon on a synthetic two-spirals problem, hybridized.

    python examples/mlp.py
"""
import numpy as np

import tracegrad as mx
from tracegrad import autograd, gluon, nd
from tracegrad.gluon import nn


def spirals(n, rng):
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    label = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    angle = t + np.pi * label
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1) + rng.normal(0, 0.02, (n, 2))
    return x.astype(np.float32), label.astype(np.float32)


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    x, y = spirals(2048, rng)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(64, activation="relu"), nn.Dense(64, activation="relu"),
                nn.Dense(2))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    batch = 128
    for epoch in range(15):
        order = rng.permutation(len(x))
        metric, acc = mx.metric.Loss(), mx.metric.Accuracy()
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            data, label = nd.array(x[idx]), nd.array(y[idx])
            with autograd.record():
                out = net(data)
                loss = loss_fn(out, label)
            loss.backward()
            trainer.step(len(idx))
            metric.update(None, loss)
            acc.update(label, out)
        print(f"epoch {epoch:2d}  loss {metric.get()[1]:.4f}  accuracy {acc.get()[1]:.3f}")


if __name__ == "__main__":
    main()
