"""One training epoch written as the tutorials write it, next to numpy by hand and the peers:

    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(X, Y), batch_size, shuffle=True)
    for x, y in loader:
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        loss.backward()
        trainer.step(x.shape[0])
        total += loss.mean().asscalar()     # the loss read every step
        metric.update(y, out)               # and the accuracy

bench_step.py times the step alone on fixed arrays; here the batches come from a shuffling
DataLoader over NDArrays (d2l's `load_array`), and every step's loss and accuracy are read, so
whatever the loop costs around the step is counted too. The model is bench_step's MLP
784-256-256-10 (ReLU, softmax cross-entropy, SGD), on 4,096 synthetic samples.

Contenders, each one epoch per call, timed in the same interleaved rounds:
- numpy by hand: a permutation, one gather per batch, the forward, backward and update, the
  loss's mean and the correct count;
- tracegrad, the net hybridized and not (step capture on, the default);
- PyTorch eager (TensorDataset + its DataLoader, `loss.item()`, the correct count) and jax.jit
  (a permutation, a numpy gather per batch, one jitted step returning the loss and the correct
  count, both read), each in a process of its own (remote.py).

    python bench/bench_epoch.py [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import compare, report  # noqa: E402
from peers import mlp_weights  # noqa: E402

SAMPLES = 4096
LR = 0.1


def dataset():
    rs = np.random.RandomState(0)
    return rs.rand(SAMPLES, 784).astype(np.float32), rs.randint(0, 10, SAMPLES)


def numpy_epoch(batch):
    w = mlp_weights()
    X, Y = dataset()

    def epoch():
        total, correct = 0.0, 0
        order = np.random.permutation(SAMPLES)
        for start in range(0, SAMPLES, batch):
            idx = order[start:start + batch]
            x, y = X[idx], Y[idx]
            n, rows = len(idx), np.arange(len(idx))
            w1, b1, w2, b2, w3, b3 = w
            h1 = x @ w1.T + b1
            a1 = np.maximum(h1, 0)
            h2 = a1 @ w2.T + b2
            a2 = np.maximum(h2, 0)
            o = a2 @ w3.T + b3
            shifted = o - o.max(1, keepdims=True)
            e = np.exp(shifted)
            s = e.sum(1, keepdims=True)
            total += float(np.mean(np.log(s[:, 0]) - shifted[rows, y]))
            correct += int((o.argmax(1) == y).sum())
            p = e / s
            p[rows, y] -= 1
            g2 = (p @ w3) * (h2 > 0)
            g1 = (g2 @ w2) * (h1 > 0)
            grads = [g1.T @ x, g1.sum(0), g2.T @ a1, g2.sum(0), p.T @ a2, p.sum(0)]
            for param, g in zip(w, grads):
                param -= (LR / n) * g
        return total, correct
    return epoch


def tracegrad_epoch(batch, hybridize):
    import tracegrad as mx
    from bench_compiled import mlp_net
    from tracegrad import autograd, gluon, nd
    mx.random.seed(0)
    net = mlp_net()
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    metric = mx.metric.Accuracy()
    X, Y = dataset()
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(nd.array(X), nd.array(Y)),
                                   batch_size=batch, shuffle=True)

    def epoch():
        total = 0.0
        metric.reset()
        for x, y in loader:
            with autograd.record():
                out = net(x)
                loss = loss_fn(out, y)
            loss.backward()
            trainer.step(x.shape[0])
            total += loss.mean().asscalar()
            metric.update(y, out)
        return total, metric.get()[1]
    epoch()
    epoch()
    return epoch


def torch_epoch(batch):
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    lossf = torch.nn.CrossEntropyLoss()
    X, Y = dataset()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)),
        batch_size=batch, shuffle=True)

    def epoch():
        total, correct = 0.0, 0
        for x, y in loader:
            opt.zero_grad()
            out = net(x)
            loss = lossf(out, y)
            loss.backward()
            opt.step()
            total += loss.item()
            correct += int((out.argmax(1) == y).sum())
        return total, correct
    return epoch


def jax_epoch(batch):
    import jax
    import jax.numpy as jnp
    params = [jnp.asarray(a) for a in mlp_weights()]
    X, Y = dataset()

    def loss(p, x, y):
        h = jax.nn.relu(x @ p[0].T + p[1])
        h = jax.nn.relu(h @ p[2].T + p[3])
        o = h @ p[4].T + p[5]
        logp = jax.nn.log_softmax(o)
        return -jnp.take_along_axis(logp, y[:, None], 1).mean(), o

    @jax.jit
    def step(p, x, y):
        (value, o), g = jax.value_and_grad(loss, has_aux=True)(p, x, y)
        return [a - LR * b for a, b in zip(p, g)], value, (o.argmax(1) == y).sum()
    state = [params]

    def epoch():
        total, correct = 0.0, 0
        order = np.random.permutation(SAMPLES)
        for start in range(0, SAMPLES, batch):
            idx = order[start:start + batch]
            state[0], value, right = step(state[0], X[idx], Y[idx])
            total += float(value)
            correct += int(right)
        return total, correct
    return epoch


def peer_epoch(name, case):
    """remote.serve's factory: peer `name`'s epoch for case "b<batch>"."""
    batch = int(case[1:])
    return torch_epoch(batch) if name == "torch" else jax_epoch(batch)


def main(quick=False):
    from remote import Peer, close_all, peer_rows
    peers = [("pytorch eager", Peer("bench_epoch", "peer_epoch", "torch")),
             ("jax.jit", Peer("bench_epoch", "peer_epoch", "jax"))]
    try:
        for batch in (64, 256):
            rows = compare([("numpy by hand", numpy_epoch(batch)),
                            ("tracegrad hybridized net", tracegrad_epoch(batch, True)),
                            ("tracegrad eager", tracegrad_epoch(batch, False))]
                           + peer_rows(peers, f"b{batch}"),
                           rounds=5 if quick else 9, min_time=0.15)
            report(f"one epoch of {SAMPLES} samples, batch {batch} ({SAMPLES // batch} steps): "
                   f"shuffling DataLoader, loss and accuracy read every step", rows,
                   baseline="numpy by hand")
    finally:
        close_all(peers)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
