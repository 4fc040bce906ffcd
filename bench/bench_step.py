"""The training step written the usual way, next to numpy by hand and the peers, in one run:

    with autograd.record():
        loss = loss_fn(net(x), y)      # the loss outside the (hybridized) net
    loss.backward()
    trainer.step(batch_size)

1. the tutorial's tiny regression: Dense(1) on a 1x2 input, L2 loss, SGD (also with the
   loss inside one hybridized block);
2. an MLP 784-256-256-10 (ReLU, softmax cross-entropy, SGD) at batch 64 and 512, with the time
   numpy by hand spends in its 8 matrix products alone (the floor for anything calling the
   same BLAS);
3. serving: a hybridized MLP 256-512-512-10 called outside record() at batch 1.

After the tiny and MLP tables, one line splits a hybridized captured step (timed one call at a
time) into its native call and the rest: the Python the step still costs.

tracegrad runs hybridized and eager, each with step capture (the default: forward, loss,
adjoint and the optimizer update in one native call once the step repeats) and without it
(inside `capture.paused()`); PyTorch eager and jax.jit each run in a process of their own when
importable, and so does the same step on mx.np arrays under set_np (d2l.ai's style; set_np is
process-wide). Every contender, in the main process or a peer's (remote.py), is timed in the
same interleaved rounds, each tracegrad step first warmed past what capture learns
(common.warmed: the plan and the update fused into it). Figures are medians; their ratios
to numpy by hand are medians of the per-round ratios, so a drift of this shared machine's
speed between rounds cancels.

    python bench/bench_step.py [--quick]
    OPENBLAS_NUM_THREADS=1 python bench/bench_step.py   # every contender on one thread

bench_gemm_calls.py times the MLP rows' 8 products one by one (compiled vs numpy, alone and in
place inside each step) and each step's time outside them.

With OPENBLAS_NUM_THREADS set (numpy's and tracegrad's BLAS), PyTorch uses that many threads
and the peers' processes are pinned to that many cores (JAX's CPU backend ignores its thread
flags): on a loaded machine, thread pools that spin while their threads wait for a core
distort the multi-threaded figures.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import compare, report, warmed  # noqa: E402
from peers import jax_mlp, mlp_data, torch_mlp  # noqa: E402

LR = 0.01


def ROUNDS(rounds):
    """(rounds, seconds per batch, settle) of the main process's interleaved timing. A batch
    is long enough that its steps run warm, as a training loop's do (a step right after
    another contender's runs ~0.4 ms slower at batch 64, numpy's as well as ours: cold
    caches). On the libraries' default threads, each batch starts a quarter second after the
    one before: the pools of the contender before it (OpenBLAS's threads spin ~0.1 s after a
    product) would otherwise take cores from it (common.compare's settle)."""
    return rounds, 0.05, 0.0 if os.environ.get("OPENBLAS_NUM_THREADS") else 0.25
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- numpy by hand
def tiny_numpy():
    x, y = np.array([[0.3, 0.5]], np.float32), np.array([[1.5]], np.float32)
    w, b = np.array([[0.1, -0.2]], np.float32), np.zeros((1,), np.float32)

    def step():
        diff = x @ w.T + b - y
        loss = 0.5 * np.mean(diff * diff, axis=1)
        w[...] -= LR * (diff.T @ x)
        b[...] -= LR * diff.sum(0)
        return loss
    return step


def mlp_numpy(batch):
    from bench_compiled import mlp_numpy as by_hand
    return by_hand(batch)


def mlp_gemms(batch):
    """Only the 8 matrix products of the MLP step by hand (3 forward, 2 for the activations'
    gradients, 3 for the weights'), on arrays of the same shapes: the floor of any step that
    calls the same BLAS (numpy's OpenBLAS, as tracegrad's compiled code does)."""
    rs = np.random.RandomState(1)
    w1, w2, w3 = [rs.uniform(-0.07, 0.07, s).astype(np.float32)
                  for s in [(256, 784), (256, 256), (10, 256)]]
    x, _ = mlp_data(batch)
    h1, h2 = rs.rand(batch, 256).astype(np.float32), rs.rand(batch, 256).astype(np.float32)
    p, g1, g2 = (rs.rand(batch, 10).astype(np.float32), rs.rand(batch, 256).astype(np.float32),
                 rs.rand(batch, 256).astype(np.float32))

    def step():
        return (x @ w1.T, h1 @ w2.T, h2 @ w3.T, p @ w3, g2 @ w2, g1.T @ x, g2.T @ h1, p.T @ h2)
    return step


def serving_params():
    rs = np.random.RandomState(2)
    return [rs.uniform(-0.07, 0.07, s).astype(np.float32) for s in
            [(512, 256), (512,), (512, 512), (512,), (10, 512), (10,)]]


def serving_numpy():
    w1, b1, w2, b2, w3, b3 = serving_params()
    x = np.random.RandomState(3).rand(1, 256).astype(np.float32)

    def step():
        h = np.maximum(x @ w1.T + b1, 0)
        h = np.maximum(h @ w2.T + b2, 0)
        return h @ w3.T + b3
    return step


# ---------------------------------------------------------------- tracegrad
def tiny_tracegrad(hybridize, array=None):
    """`array` makes the arrays (nd.array by default; mx.np.array under set_np)."""
    import tracegrad as mx
    from tracegrad import autograd, gluon, nd
    array = array or nd.array
    mx.random.seed(0)
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    x, y = array([[0.3, 0.5]]), array([[1.5]])

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(1)
    return warmed(step)


def tiny_one_block():
    """The tiny step with its loss inside one hybridized block (TinyWithLoss), then
    trainer.step: the other way users write it."""
    import tracegrad as mx
    from tracegrad import autograd, gluon, nd
    from bench_compiled import TinyWithLoss
    mx.random.seed(0)
    model = TinyWithLoss()
    model.initialize()
    model.hybridize()
    trainer = gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": LR})
    x, y = nd.array([[0.3, 0.5]]), nd.array([[1.5]])

    def step():
        with autograd.record():
            loss = model(x, y)
        loss.backward()
        trainer.step(1)
    return warmed(step)


def mlp_tracegrad(batch, hybridize, array=None):
    import tracegrad as mx
    from tracegrad import autograd, gluon, nd
    array = array or nd.array
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(256, activation="relu"),
            gluon.nn.Dense(10))
    net.initialize()
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    x, y = mlp_data(batch)
    x, y = array(x), array(y.astype(np.float32))

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(batch)
    return warmed(step)


def python_share(step, calls=400):
    """(median step, time inside its native call(s) in that step) in seconds, one call at a
    time: what a captured step spends outside native code (the timer adds ~0.3 us to it).
    Reads capture's internals: a bench's view, not an API. Starts half a second after the
    rounds: the peers' thread pools spin on for a while after their last batch (the tiny
    step read 17-19 us right after them, 11 us once they were idle)."""
    import time

    from tracegrad.tracing import capture
    time.sleep(0.5)
    for _ in range(10):
        step()
    inside = []
    wrapped = []
    for plans in capture._STATE.plans.values():
        for plan in plans:     # (the native entries of the plan's call and the fused one)
            natives = [plan.native] + ([plan.fusion.native] if plan.fusion is not None else [])
            for holder in natives:
                if holder is not None and hasattr(holder, "_entry"):
                    wrapped.append((holder, "_entry", holder._entry))
                    holder._entry = _timed(holder._entry, inside)
    try:
        steps = []
        for _ in range(calls):
            t = time.perf_counter()
            n = len(inside)
            step()
            steps.append((time.perf_counter() - t, sum(inside[n:])))
    finally:
        for holder, name, call in wrapped:
            setattr(holder, name, call)
    steps.sort()
    return steps[len(steps) // 2]


class _timed:
    def __init__(self, native, log):
        self.native, self.log = native, log

    def __call__(self, *args):
        import time
        t = time.perf_counter()
        try:
            return self.native(*args)
        finally:
            self.log.append(time.perf_counter() - t)


def paused(step):
    """The same step with capture off (the plans learned by the captured twin are kept)."""
    from tracegrad import capture

    def run():
        with capture.paused():
            step()
    return run


def serving_tracegrad():
    from tracegrad import gluon, nd
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(512, activation="relu", in_units=256),
            gluon.nn.Dense(512, activation="relu", in_units=512), gluon.nn.Dense(10, in_units=512))
    net.initialize()
    for p, v in zip(net.collect_params().values(), serving_params()):
        p.set_data(v)
    net.hybridize()
    x = nd.array(np.random.RandomState(3).rand(1, 256).astype(np.float32))
    return lambda: net(x)


# ---------------------------------------------------------------- peers (own process each)
def torch_cases():
    import torch
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", 0)) or os.cpu_count() or 1)

    def tiny():
        lin = torch.nn.Linear(2, 1)
        opt = torch.optim.SGD(lin.parameters(), lr=LR)
        x, y = torch.tensor([[0.3, 0.5]]), torch.tensor([[1.5]])

        def step():
            opt.zero_grad()
            (0.5 * ((lin(x) - y) ** 2).mean(1)).sum().backward()
            opt.step()
        return step

    def mlp(batch):
        return torch_mlp(batch, LR)

    def serving():
        net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                  torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                  torch.nn.Linear(512, 10))
        x = torch.from_numpy(np.random.RandomState(3).rand(1, 256).astype(np.float32))

        def step():
            with torch.no_grad():
                return net(x)
        return step
    return tiny, mlp, serving


def jax_cases():
    import jax
    import jax.numpy as jnp

    def tiny():
        x, y = jnp.array([[0.3, 0.5]]), jnp.array([[1.5]])

        @jax.jit
        def update(p):
            loss, g = jax.value_and_grad(
                lambda p: (0.5 * jnp.mean((x @ p[0].T + p[1] - y) ** 2, axis=1)).sum())(p)
            return [a - LR * b for a, b in zip(p, g)], loss
        state = [(jnp.array([[0.1, -0.2]]), jnp.zeros((1,)))]

        def step():
            state[0] = jax.block_until_ready(update(state[0]))[0]
        return step

    def mlp(batch):
        return jax_mlp(batch, LR)

    def serving():
        w1, b1, w2, b2, w3, b3 = [jnp.asarray(a) for a in serving_params()]
        x = jnp.asarray(np.random.RandomState(3).rand(1, 256).astype(np.float32))

        @jax.jit
        def f(x):
            h = jax.nn.relu(x @ w1.T + b1)
            h = jax.nn.relu(h @ w2.T + b2)
            return h @ w3.T + b3
        return lambda: jax.block_until_ready(f(x))
    return tiny, mlp, serving


def np_step(case, hybridize):
    """The same usual step written on mx.np arrays under set_np (as d2l.ai writes it); set_np
    is process-wide, so these run in a process of their own."""
    from tracegrad import np as mnp, npx
    npx.set_np()
    if case == "tiny":
        return tiny_tracegrad(hybridize, array=mnp.array)
    return mlp_tracegrad(int(case[3:]), hybridize, array=mnp.array)


def peer_step(name, case):
    """remote.serve's factory: peer `name`'s step for `case` (tiny, mlp64, mlp512, serving; for
    "np", the set_np steps, "_eager" for the net not hybridized). None: the peer has no such
    case. Runs in the peer's own process."""
    if name == "np":
        return None if case == "serving" else np_step(case.replace("_eager", ""),
                                                      not case.endswith("_eager"))
    tiny, mlp, serving = torch_cases() if name == "torch" else jax_cases()
    if case.startswith("mlp"):
        return mlp(int(case[3:]))
    return {"tiny": tiny, "serving": serving}[case]()


def _pin_to_thread_count():
    """With OPENBLAS_NUM_THREADS=n, a peer's process runs on n cores: jax 0.10's CPU backend
    ignores its thread flags (measured: 1.8 cores busy in a 512x784 @ 784x256 matmul loop)."""
    n = os.environ.get("OPENBLAS_NUM_THREADS")
    if n and n.isdigit() and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[:max(1, int(n))])


def start_peers():
    """[(row label prefix, remote.Peer)]: PyTorch eager, jax.jit and the set_np steps, each in
    a process of its own that times its batches in the main process's rounds."""
    from remote import Peer
    jax_env = {}
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        jax_env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1")
    return [Peer("bench_step", "peer_step", "np"),
            Peer("bench_step", "peer_step", "torch", preexec_fn=_pin_to_thread_count),
            Peer("bench_step", "peer_step", "jax", env=jax_env, preexec_fn=_pin_to_thread_count)]


def peer_rows(peers, case):
    """The peers' contenders for `case` (rows whose peer lacks it, or failed, are left out)."""
    np_peer, torch_peer, jax_peer = peers
    rows = [] if case == "serving" else [
        ("tracegrad mx.np (set_np) hybridized net, captured", np_peer.contender(case)),
        ("tracegrad mx.np (set_np) eager, captured", np_peer.contender(case + "_eager"))]
    rows += [("pytorch eager", torch_peer.contender(case)),
             ("jax.jit", jax_peer.contender(case))]
    return [(label, c) for label, c in rows if c is not None]


def _report_share(step, calls):
    total, native = python_share(step, calls)
    print(f"  (hybridized, captured, one call at a time: median step {total * 1e6:.1f} us, of "
          f"which native {native * 1e6:.1f} us, the rest {(total - native) * 1e6:.1f} us)")


def main(quick=False):
    rounds = 5 if quick else 11
    peers = start_peers()
    try:
        _main(rounds, peers)
    finally:
        for peer in peers:
            peer.close()


def _main(rounds, peers):
    import tracegrad as mx
    rows = compare([("numpy by hand", tiny_numpy()),
                    ("tracegrad hybridized net, captured", tiny_tracegrad(True)),
                    ("tracegrad eager, captured", tiny_tracegrad(False)),
                    ("tracegrad loss inside the hybridized block", tiny_one_block()),
                    ("tracegrad hybridized net, capture off", paused(tiny_tracegrad(True))),
                    ("tracegrad eager, capture off", paused(tiny_tracegrad(False)))]
                   + peer_rows(peers, "tiny"), *ROUNDS(rounds))
    report("tiny regression: usual step (forward, L2 loss outside, backward, trainer.step)",
           rows, baseline="numpy by hand")
    _report_share(tiny_tracegrad(True), calls=2000)
    for batch in (64, 512):
        rows = compare([("numpy by hand", mlp_numpy(batch)),
                        ("tracegrad hybridized net, captured", mlp_tracegrad(batch, True)),
                        ("tracegrad eager, captured", mlp_tracegrad(batch, False)),
                        ("tracegrad hybridized net, capture off",
                         paused(mlp_tracegrad(batch, True))),
                        ("tracegrad eager, capture off", paused(mlp_tracegrad(batch, False))),
                        ("its 8 GEMMs alone (the BLAS floor)", mlp_gemms(batch))]
                       + peer_rows(peers, f"mlp{batch}"), *ROUNDS(rounds))
        report(f"MLP 784-256-256-10: usual step, batch {batch}", rows, baseline="numpy by hand")
        _report_share(mlp_tracegrad(batch, True), calls=200 if batch < 256 else 40)
    rows = compare([("numpy by hand", serving_numpy()),
                    ("tracegrad hybridized", serving_tracegrad())]
                   + peer_rows(peers, "serving"), *ROUNDS(rounds))
    report("serving MLP 256-512-512-10, batch 1, outside record()", rows,
           baseline="numpy by hand")
    s = mx.stats()
    print(f"\ncaptured steps {s['captured_steps']} ({s['fused_update_steps']} with trainer.step's "
          f"update in the same native call), dropped captures {s['capture_drops']}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
