"""CNN benchmarks (issue 10), one core each (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)):

1. a LeNet-5 training step on 64x1x28x28 (conv 6@5x5 pad 2, relu, max-pool 2, conv 16@5x5,
   relu, max-pool 2, dense 120-84-10, softmax cross-entropy, SGD), written the usual way:
   hybridized net, loss applied outside it, trainer.step; next to the same step in numpy by
   hand (im2col + GEMM), tracegrad eager and PyTorch eager;
2. ResNet-18 (model zoo resnet18_v1, CIFAR stem) inference at batch 1 on 3x32x32: hybridized
   against eager and PyTorch eager; the hybridized output is checked against eager.

    python bench/bench_cnn.py [--quick] [--train-check] [--compile-time]

--train-check also trains the full ResNet-18 three SGD steps eagerly and hybridized and checks
that the losses agree (tests/api/test_model_zoo.py runs a smaller version of it in CI).
--compile-time measures the first hybridized ResNet-18 training step (batch 2, cold disk cache,
in a fresh process: trace, adjoint, LLVM) next to a warm step, in CPU and wall seconds.

PyTorch runs in a process of its own when importable, timed in the same interleaved rounds
(bench/remote.py). Figures are medians of those rounds (bench/common.compare), the tracegrad
training step first warmed past what step capture learns (common.warmed); this machine is
shared, so ratios move between runs.
"""
import os
import subprocess
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core each, as the issue measures

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import compare, report, warmed  # noqa: E402

import tracegrad as mx  # noqa: E402
from tracegrad import autograd, gluon, nd  # noqa: E402
from tracegrad.gluon.model_zoo import vision  # noqa: E402

LR, BATCH = 0.01, 64


def lenet_data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32),
            rng.integers(0, 10, BATCH).astype(np.int64))


# ---------------------------------------------------------------- numpy by hand
def _im2col(x, k, pad):
    """(N, C, H, W) -> (C*k*k, N*OH*OW) windows, and the output size."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = x.shape
    oh, ow = h - k + 1, w - k + 1
    s = x.strides
    view = np.lib.stride_tricks.as_strided(x, (c, k, k, n, oh, ow),
                                           (s[1], s[2], s[3], s[0], s[2], s[3]))
    return view.reshape(c * k * k, n * oh * ow), (n, oh, ow)


def _col2im(cols, shape, k, pad):
    n, c, h, w = shape
    hp, wp = h + 2 * pad, w + 2 * pad
    oh, ow = hp - k + 1, wp - k + 1
    out = np.zeros((n, c, hp, wp), np.float32)
    cols = cols.reshape(c, k, k, n, oh, ow)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + oh, j:j + ow] += cols[:, i, j].transpose(1, 0, 2, 3)
    return out[:, :, pad:pad + h, pad:pad + w]


def _conv(x, w, b, pad):
    cols, (n, oh, ow) = _im2col(x, w.shape[2], pad)
    out = (w.reshape(w.shape[0], -1) @ cols + b[:, None]).reshape(w.shape[0], n, oh, ow)
    return out.transpose(1, 0, 2, 3), cols


def _conv_back(g, cols, x_shape, w, pad):
    gm = g.transpose(1, 0, 2, 3).reshape(w.shape[0], -1)
    gw = (gm @ cols.T).reshape(w.shape)
    gx = _col2im(w.reshape(w.shape[0], -1).T @ gm, x_shape, w.shape[2], pad)
    return gx, gw, gm.sum(1)


def _pool(x):
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = win.max(axis=(3, 5))
    return out, win == out[:, :, :, None, :, None]


def _pool_back(g, mask):
    return (mask * g[:, :, :, None, :, None]).reshape(mask.shape[0], mask.shape[1],
                                                      mask.shape[2] * 2, mask.shape[4] * 2)


def lenet_numpy():
    x, y = lenet_data()
    rng = np.random.default_rng(1)
    shapes = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
              (10, 84), (10,)]
    p = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]

    def step():
        c1, cols1 = _conv(x, p[0], p[1], 2)
        r1 = np.maximum(c1, 0)
        p1, m1 = _pool(r1)
        c2, cols2 = _conv(p1, p[2], p[3], 0)
        r2 = np.maximum(c2, 0)
        p2, m2 = _pool(r2)
        f = p2.reshape(BATCH, -1)
        h1 = np.maximum(f @ p[4].T + p[5], 0)
        h2 = np.maximum(h1 @ p[6].T + p[7], 0)
        z = h2 @ p[8].T + p[9]
        e = np.exp(z - z.max(1, keepdims=True))
        prob = e / e.sum(1, keepdims=True)
        gz = prob
        gz[np.arange(BATCH), y] -= 1.0
        grads = [None] * 10
        grads[8], grads[9] = gz.T @ h2, gz.sum(0)
        gh2 = (gz @ p[8]) * (h2 > 0)
        grads[6], grads[7] = gh2.T @ h1, gh2.sum(0)
        gh1 = (gh2 @ p[6]) * (h1 > 0)
        grads[4], grads[5] = gh1.T @ f, gh1.sum(0)
        gp2 = (gh1 @ p[4]).reshape(p2.shape)
        gc2 = _pool_back(gp2, m2) * (c2 > 0)
        gp1, grads[2], grads[3] = _conv_back(gc2, cols2, p1.shape, p[2], 0)
        gc1 = _pool_back(gp1, m1) * (c1 > 0)
        _, grads[0], grads[1] = _conv_back(gc1, cols1, x.shape, p[0], 2)
        for param, g in zip(p, grads):
            param -= (LR / BATCH) * g
    return step


# ---------------------------------------------------------------- tracegrad
def lenet_net():
    nn = gluon.nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, 5, padding=2, activation="relu"), nn.MaxPool2D(2, 2),
            nn.Conv2D(16, 5, activation="relu"), nn.MaxPool2D(2, 2),
            nn.Dense(120, activation="relu"), nn.Dense(84, activation="relu"), nn.Dense(10))
    return net


def lenet_tracegrad(hybridize):
    x, y = lenet_data()
    x, y = nd.array(x), nd.array(y.astype(np.float32))
    mx.random.seed(0)
    net = lenet_net()
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(BATCH)
        return loss
    return warmed(step)


def resnet_tracegrad(hybridize):
    mx.random.seed(0)
    net = vision.resnet18_v1(classes=10, thumbnail=True)
    net.initialize(mx.init.Xavier())
    x = nd.array(np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32))
    net(x)  # deferred initialization draws the weights now, from this seed
    if hybridize:
        net.hybridize()
    return net, x, lambda: net(x).wait_to_read()


# ---------------------------------------------------------------- PyTorch (own process)
def torch_steps():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    tnn = torch.nn

    def lenet():
        net = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                             tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                             tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                             tnn.Linear(84, 10))
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        x, y = lenet_data()
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        lossf = tnn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = lossf(net(x), y)
            loss.backward()
            opt.step()
        return step

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = tnn.Sequential(
                tnn.Conv2d(cin, cout, 3, stride, 1, bias=False), tnn.BatchNorm2d(cout),
                tnn.ReLU(), tnn.Conv2d(cout, cout, 3, 1, 1, bias=False), tnn.BatchNorm2d(cout))
            self.down = None if cin == cout else tnn.Sequential(
                tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            return torch.relu(self.body(x) + (x if self.down is None else self.down(x)))

    def resnet18():
        layers = [tnn.Conv2d(3, 64, 3, 1, 1, bias=False)]
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            layers += [Block(cin, cout, 1 if i == 0 else 2), Block(cout, cout, 1)]
            cin = cout
        net = tnn.Sequential(*layers, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(),
                             tnn.Linear(512, 10)).eval()
        x = torch.randn(1, 3, 32, 32)

        def infer():
            with torch.no_grad():
                net(x)
        return infer
    return lenet, resnet18


def peer_step(name, case):
    """remote.serve's factory, run in PyTorch's own process: its step for `case` (lenet,
    resnet18), or None without PyTorch."""
    steps = torch_steps()
    if steps is None:
        return None
    lenet, resnet18 = steps
    return {"lenet": lenet, "resnet18": resnet18}[case]()


def main(quick=False):
    from remote import Peer, close_all
    peers = [("pytorch eager", Peer("bench_cnn", "peer_step", "torch"))]
    try:
        _compare(5 if quick else 11, peers)
    finally:
        close_all(peers)


def _compare(rounds, peers):
    from remote import peer_rows
    rows = compare([("numpy by hand", lenet_numpy()),
                    ("tracegrad eager", lenet_tracegrad(False)),
                    ("tracegrad hybridized (net), loss outside", lenet_tracegrad(True))]
                   + peer_rows(peers, "lenet"), rounds)
    report(f"LeNet-5 training step, batch {BATCH}x1x28x28, SGD", rows, baseline="numpy by hand")

    eager_net, x, eager = resnet_tracegrad(False)
    hybrid_net, _, hybrid = resnet_tracegrad(True)
    want = eager_net(x).asnumpy()
    np.testing.assert_allclose(hybrid_net(x).asnumpy(), want, rtol=1e-4, atol=1e-5)
    torch_rows = peer_rows(peers, "resnet18")
    rows = compare([("tracegrad eager", eager), ("tracegrad hybridized", hybrid)] + torch_rows,
                   rounds)
    report("ResNet-18 (CIFAR stem) inference, batch 1, 3x32x32", rows,
           baseline="pytorch eager" if torch_rows else None)


def resnet18_train_check(steps=3):
    """Full ResNet-18 (CIFAR stem), batch 4 of 3x32x32: eager and hybridized losses agree."""
    import time
    rng = np.random.default_rng(3)
    x = nd.array(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    y = nd.array(np.array([0, 1, 2, 3], dtype=np.float32))
    runs = {}
    for hybridize in (False, True):
        mx.random.seed(0)
        net = vision.resnet18_v1(classes=4, thumbnail=True)
        net.initialize(mx.init.Xavier())
        if hybridize:
            net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        t0, losses = time.perf_counter(), []
        for _ in range(steps):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(4)
            losses.append(float(loss.mean().asscalar()))
        runs[hybridize] = losses
        print(f"  {'hybridized' if hybridize else 'eager':10s} losses {losses} "
              f"({time.perf_counter() - t0:.1f} s with compiling)")
    np.testing.assert_allclose(runs[True], runs[False], rtol=1e-3)
    assert runs[False][-1] < runs[False][0]
    print("  ResNet-18 training: eager and hybridized agree")


def _first_step_child():
    """In a fresh process with TRACEGRAD_CACHE=0: the first hybridized ResNet-18 training
    step (compiles forward, backward and the update) and then a warm one."""
    import time
    rng = np.random.default_rng(3)
    x = nd.array(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    y = nd.array(np.array([0, 1], dtype=np.float32))
    net = vision.resnet18_v1(classes=10, thumbnail=True)
    net.initialize(mx.init.Zero())
    net(x)
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for name in ("first", "warm", "warm"):
        t0, c0 = time.perf_counter(), time.process_time()
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(2)
        loss.wait_to_read()
        print(name, time.process_time() - c0, time.perf_counter() - t0)


def compile_time():
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            f"import bench_cnn as b\nb._first_step_child()\n")
    env = dict(os.environ, TRACEGRAD_CACHE="0")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(r.stderr)
        return
    rows = [line.split() for line in r.stdout.splitlines()]
    print("\n== ResNet-18 (CIFAR stem) hybridized training step, batch 2x3x32x32, cold cache")
    for name, cpu, wall in rows[:2]:
        print(f"  {name:6s} step  {float(cpu):6.2f} s CPU  {float(wall):6.2f} s wall")


if __name__ == "__main__":
    if "--compile-time" in sys.argv:
        compile_time()
        sys.exit(0)
    main(quick="--quick" in sys.argv)
    if "--train-check" in sys.argv:
        resnet18_train_check()
