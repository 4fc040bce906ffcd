"""Compiled (hybridized / jit) tracegrad next to eager tracegrad, numpy by hand, and PyTorch /
JAX when they are installed, all in one run:

1. the tutorial's tiny regression (Dense(1) on a 1x2 input, L2 loss): forward + backward;
   hybridized as two blocks (net, loss) and as one block holding both;
2. an MLP 784-256-256-10 training step (ReLU, softmax cross-entropy, SGD) at batch 64 and 512;
3. the first call of that hybridized step: cold (empty disk cache) and warm (from the disk
   cache), each in a fresh process.

    python bench/bench_compiled.py [--quick]

Every contender is timed in the same interleaved rounds (bench/common.compare), so drift on
this shared machine hits them alike: PyTorch and JAX each run in a process of their own (their
thread pools would slow everything else in this one) that times its batch when the round
reaches it (bench/remote.py). Figures are medians; ratios are medians of per-round ratios.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import compare, report, warmed  # noqa: E402
from peers import jax_mlp, mlp_data, mlp_weights, torch_mlp  # noqa: E402

import tracegrad as mx  # noqa: E402
from tracegrad import autograd, gluon, nd  # noqa: E402

LR = 0.01


# ---------------------------------------------------------------- tiny regression
def tiny_numpy():
    x, y = np.array([[0.3, 0.5]], np.float32), np.array([[1.5]], np.float32)
    w, b = np.array([[0.1, -0.2]], np.float32), np.zeros((1,), np.float32)

    def step():
        diff = x @ w.T + b - y
        loss = 0.5 * np.mean(diff * diff, axis=1)
        return loss, diff.T @ x, diff.sum(0)
    return step


def tiny_gluon(hybridize):
    mx.random.seed(0)
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    loss_fn = gluon.loss.L2Loss()
    if hybridize:
        net.hybridize()
        loss_fn.hybridize()
    x, y = nd.array([[0.3, 0.5]]), nd.array([[1.5]])

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        return loss
    return warmed(step)    # (past what capture and the jit learn: steady state)


class TinyWithLoss(gluon.HybridBlock):
    """Dense(1) and its L2 loss in one block: hybridize compiles the whole step."""

    def __init__(self):
        super().__init__()
        self.net, self.loss = gluon.nn.Dense(1, in_units=2), gluon.loss.L2Loss()

    def forward(self, x, y):
        return self.loss(self.net(x), y)


def tiny_gluon_one_block():
    mx.random.seed(0)
    model = TinyWithLoss()
    model.initialize()
    model.hybridize()
    x, y = nd.array([[0.3, 0.5]]), nd.array([[1.5]])

    def step():
        with autograd.record():
            loss = model(x, y)
        loss.backward()
        return loss
    return warmed(step)    # (past what capture and the jit learn: steady state)


def tiny_jit():
    x, y = nd.array([[0.3, 0.5]]), nd.array([[1.5]])
    w, b = nd.array([[0.1, -0.2]]), nd.zeros((1,))
    w.attach_grad()
    b.attach_grad()
    f = mx.jit(lambda x, w, b, y: 0.5 * nd.mean(
        nd.square(nd.dot(x, w, transpose_b=True) + b - y), axis=1))

    def step():
        with autograd.record():
            loss = f(x, w, b, y)
        loss.backward()
        return loss
    return warmed(step)    # (past what capture and the jit learn: steady state)


# ---------------------------------------------------------------- MLP
def mlp_numpy(batch):
    w = mlp_weights()
    x, y = mlp_data(batch)
    rows = np.arange(batch)

    def step():
        w1, b1, w2, b2, w3, b3 = w
        h1 = x @ w1.T + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2.T + b2
        a2 = np.maximum(h2, 0)
        o = a2 @ w3.T + b3
        e = np.exp(o - o.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        p[rows, y] -= 1
        g2 = (p @ w3) * (h2 > 0)
        g1 = (g2 @ w2) * (h1 > 0)
        grads = [g1.T @ x, g1.sum(0), g2.T @ a1, g2.sum(0), p.T @ a2, p.sum(0)]
        for param, g in zip(w, grads):
            param -= (LR / batch) * g
    return step


def mlp_net():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(256, activation="relu"),
            gluon.nn.Dense(10))
    net.initialize()
    return net


class MLPLoss(gluon.HybridBlock):
    """The net and its loss in one block, so hybridize compiles the whole step's graph."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()

    def forward(self, x, y):
        return self.loss(self.net(x), y)


def mlp_tracegrad(batch, hybridize, one_block=True, warm=True):
    """The Gluon step; with one_block=False the net is hybridized and the loss is applied
    outside it, eagerly (the usual MXNet idiom). `warm`: returned after the warm-up calls
    (common.warmed), not fresh."""
    mx.random.seed(0)
    net = mlp_net()
    model = MLPLoss(net) if one_block else net
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if hybridize:
        model.hybridize()
    trainer = gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": LR})
    x, y = mlp_data(batch)
    x, y = nd.array(x), nd.array(y.astype(np.float32))

    def step():
        with autograd.record():
            loss = model(x, y) if one_block else loss_fn(model(x), y)
        loss.backward()
        trainer.step(batch)
    return warmed(step) if warm else step


# ---------------------------------------------------------------- optional frameworks
def torch_steps():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)

    def tiny():
        lin = torch.nn.Linear(2, 1)
        x, y = torch.tensor([[0.3, 0.5]]), torch.tensor([[1.5]])

        def step():
            lin.zero_grad()
            loss = 0.5 * ((lin(x) - y) ** 2).mean(1)
            loss.backward()
        return step

    def mlp(batch):
        return torch_mlp(batch, LR)
    return tiny, mlp


def jax_steps():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def tiny():
        x, y = jnp.array([[0.3, 0.5]]), jnp.array([[1.5]])
        params = (jnp.array([[0.1, -0.2]]), jnp.zeros((1,)))
        g = jax.jit(jax.value_and_grad(
            lambda p: (0.5 * jnp.mean((x @ p[0].T + p[1] - y) ** 2, axis=1)).sum()))
        return lambda: jax.block_until_ready(g(params))

    def mlp(batch):
        return jax_mlp(batch, LR)
    return tiny, mlp


# ---------------------------------------------------------------- first call
FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
import tracegrad as mx
from tracegrad import autograd, nd
import bench_compiled as b
step = b.mlp_tracegrad({batch}, True, warm=False)
t1 = time.perf_counter()
step()
t2 = time.perf_counter()
print(t2 - t1, mx.stats()["compiles"], mx.stats()["disk_cache_hits"])
"""


def first_call(batch=64):
    """[cold, warm] runs, each a fresh process. Python's bytecode cache is allowed (as in any
    installed package) and primed by a throwaway run, so what is timed is tracegrad's work."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = []
    with tempfile.TemporaryDirectory() as prime, tempfile.TemporaryDirectory() as cache:
        for directory in (prime, cache, cache):
            r = subprocess.run([sys.executable, "-c", FIRST_CALL.format(batch=batch)],
                               env=dict(env, TRACEGRAD_CACHE_DIR=directory),
                               cwd=os.path.dirname(__file__), capture_output=True, text=True,
                               check=True)
            out.append(r.stdout.split())
    return out[1:]


def peer_step(name, case):
    """remote.serve's factory, run in the peer's own process (importing PyTorch or JAX starts
    thread pools that would slow everything else here): its step for `case` (tiny, mlp64,
    mlp512), or None without the library."""
    steps = torch_steps() if name == "torch" else jax_steps()
    if steps is None:
        return None
    tiny, mlp = steps
    return tiny() if case == "tiny" else mlp(int(case[3:]))


def main(quick=False):
    rounds = 5 if quick else 15
    from remote import Peer, close_all
    peers = [("pytorch eager", Peer("bench_compiled", "peer_step", "torch")),
             ("jax.jit(grad)", Peer("bench_compiled", "peer_step", "jax"))]
    try:
        _compare(rounds, peers)
    finally:
        close_all(peers)


def _compare(rounds, peers):
    from remote import peer_rows
    rows = compare([("numpy by hand", tiny_numpy()),
                    ("tracegrad eager (Gluon)", tiny_gluon(False)),
                    ("tracegrad hybridized (net, loss)", tiny_gluon(True)),
                    ("tracegrad hybridized (one block)", tiny_gluon_one_block()),
                    ("tracegrad.jit (nd function)", tiny_jit())]
                   + peer_rows(peers, "tiny"), rounds)
    report("tiny regression forward+backward", rows, baseline="numpy by hand")
    for batch in (64, 512):
        rows = compare([("numpy by hand", mlp_numpy(batch)),
                        ("tracegrad eager (Gluon)", mlp_tracegrad(batch, False)),
                        ("tracegrad hybridized (Gluon)", mlp_tracegrad(batch, True)),
                        ("tracegrad hybridized net, eager loss",
                         mlp_tracegrad(batch, True, one_block=False))]
                       + peer_rows(peers, f"mlp{batch}"), rounds)
        report(f"MLP 784-256-256-10 training step, batch {batch}", rows,
               baseline="numpy by hand")
    (cold, c_compiles, _), (warm, w_compiles, w_hits) = first_call()
    print("\n== first call of the hybridized MLP step (fresh process each)")
    print(f"  cold (empty disk cache)   {float(cold):.3f} s   compiles={c_compiles}")
    print(f"  warm (from disk cache)    {float(warm):.3f} s   compiles={w_compiles} "
          f"disk_cache_hits={w_hits}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
