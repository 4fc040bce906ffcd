"""The usual training step on deeper and deeper narrow MLPs (Dense(16, relu) x depth-1, then
Dense(1); batch 2; L2 loss; SGD and Adam): the arithmetic is tiny, so the figures are what
a step costs per parameter outside the arithmetic — the Python of the captured step, the
fused update's per-parameter numbers and checks — next to PyTorch eager (zero_grad, forward,
backward, optimizer.step) in its own process timed in the same rounds (bench/remote.py), same
depths and optimizers.

    python bench/bench_step_depth.py [--quick]

tracegrad runs hybridized with step capture (the default; warmed past what capture learns)
and inside capture.paused() (the eager step with trainer.step's fused update).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import compare, fmt, warmed  # noqa: E402

DEPTHS = (1, 4, 12, 24)
SETTINGS = {"sgd": {"learning_rate": 0.01}, "adam": {"learning_rate": 0.001}}


def tracegrad_step(depth, optimizer):
    import tracegrad as mx
    from tracegrad import autograd, gluon, nd
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    for _ in range(depth - 1):
        net.add(gluon.nn.Dense(16, activation="relu"))
    net.add(gluon.nn.Dense(1))
    net.initialize()
    net.hybridize()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), optimizer, SETTINGS[optimizer])
    x = nd.array(np.random.RandomState(0).rand(2, 16).astype(np.float32))
    y = nd.array([[0.5], [1.5]])

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(2)
    return warmed(step)


def paused(step):
    from tracegrad import capture

    def run():
        with capture.paused():
            step()
    return run


def torch_step(depth, optimizer):
    import torch
    torch.manual_seed(0)
    layers = []
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(16, 16), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(16, 1))
    net = torch.nn.Sequential(*layers)
    make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = make(net.parameters(), lr=SETTINGS[optimizer]["learning_rate"])
    x = torch.rand(2, 16)
    y = torch.tensor([[0.5], [1.5]])

    def step():
        opt.zero_grad()
        (0.5 * (net(x) - y) ** 2).mean().backward()
        opt.step()
    return step


def peer_step(name, case):
    """remote.serve's factory, run in PyTorch's own process (one thread): its step for case
    "optimizer:depth", or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    optimizer, depth = case.split(":")
    return torch_step(int(depth), optimizer)


def main(quick=False):
    from remote import Peer, close_all, peer_rows
    rounds = 5 if quick else 15
    peers = [("torch", Peer("bench_step_depth", "peer_step", "torch"))]
    try:
        for optimizer in SETTINGS:
            print(f"\n== narrow MLP, batch 2, {optimizer}: one usual step by depth "
                  f"(parameters = 2 x depth)")
            print(f"  {'depth':>5s} {'captured':>12s} {'paused':>12s} {'pytorch eager':>14s}")
            for depth in DEPTHS:
                step = tracegrad_step(depth, optimizer)
                rows = dict(compare([("captured", step), ("paused", paused(step))]
                                    + peer_rows(peers, f"{optimizer}:{depth}"), rounds=rounds))
                torch_t = rows.get("torch")
                print(f"  {depth:5d} {fmt(rows['captured']):>12s} {fmt(rows['paused']):>12s} "
                      f"{fmt(torch_t) if torch_t else '-':>14s}")
    finally:
        close_all(peers)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
