"""A training step whose graph changes every batch, written the usual eager way, next to
numpy by hand and PyTorch eager (when importable), all on one core:

    an LSTMCell (input 32, hidden 64) unrolled in a Python loop over a sequence whose length
    is drawn per batch (8 to 64 steps), a Dense(4) classifier on the last state, softmax
    cross-entropy, SGD; batch 16.

Every contender runs the same list of lengths, so most batches bring a length (a graph
structure) not seen for a while: what MXNet's imperative autograd, PyTorch's and numpy by hand
pay nothing extra for. tracegrad's eager backward walks a structure that is not hot op by op,
each op's adjoint cached across structures (runtime/op_adjoints.py); a structure is derived
whole, optimized and compiled only once it repeats back to back (runtime/tape.Adjoint,
tape.repeats_close: among this many structures a repeat by chance does not count). The
LSTMCell's own call repeats, though: after a few hundred calls it runs compiled
(gluon/auto_compile.py); the row "auto compile off" is the step without that.
Figures are the mean step over the list (ms) after a warm-up list of other lengths (a short
training run: its mean step, in brackets, includes compiling); each tracegrad row and PyTorch
run in a fresh process. This machine is shared, so expect +-10-20%.

    python bench/bench_dynamic.py [--quick]
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

IN, HIDDEN, CLASSES, BATCH, LR = 32, 64, 4, 16, 0.05


def lengths(n, seed):
    return [int(t) for t in np.random.default_rng(seed).integers(8, 65, n)]


def batch(t, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((t, BATCH, IN)).astype(np.float32),
            rng.integers(0, CLASSES, BATCH))


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    u = lambda *s: rng.uniform(-0.1, 0.1, s).astype(np.float32)  # noqa: E731
    return {"wi": u(4 * HIDDEN, IN), "wh": u(4 * HIDDEN, HIDDEN),
            "bi": np.zeros(4 * HIDDEN, np.float32), "bh": np.zeros(4 * HIDDEN, np.float32),
            "wo": u(CLASSES, HIDDEN), "bo": np.zeros(CLASSES, np.float32)}


# ---------------------------------------------------------------- numpy by hand
def numpy_step():
    from numpy_lstm import cell_backward, cell_forward
    P, H = init_params(), HIDDEN

    def step(x, labels):
        h, c = np.zeros((BATCH, H), np.float32), np.zeros((BATCH, H), np.float32)
        cache = []
        for xt in x:
            h, c, entry = cell_forward(P, xt, h, c)
            cache.append(entry)
        logits = h @ P["wo"].T + P["bo"]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        d_logits = p
        d_logits[np.arange(BATCH), labels] -= 1
        d_logits /= BATCH
        grads = {"wo": d_logits.T @ h, "bo": d_logits.sum(0)}
        dh, dc = d_logits @ P["wo"], np.zeros((BATCH, H), np.float32)
        d_wi, d_wh, d_b = (np.zeros_like(P["wi"]), np.zeros_like(P["wh"]),
                           np.zeros_like(P["bi"]))
        for xt, entry in zip(x[::-1], cache[::-1]):
            dg, dc = cell_backward(dh, dc, entry)
            d_wi += dg.T @ xt
            d_wh += dg.T @ entry[5]
            d_b += dg.sum(0)
            dh = dg @ P["wh"]
        grads.update(wi=d_wi, wh=d_wh, bi=d_b, bh=d_b)
        for k, g in grads.items():
            P[k] -= LR * g
    return step


# ---------------------------------------------------------------- tracegrad, the usual way
def tracegrad_step():
    from tracegrad import autograd, gluon, nd
    P = init_params()
    cell = gluon.rnn.LSTMCell(HIDDEN, input_size=IN)
    head = gluon.nn.Dense(CLASSES, in_units=HIDDEN)
    cell.initialize()
    head.initialize()
    for attr, key in (("i2h_weight", "wi"), ("h2h_weight", "wh"), ("i2h_bias", "bi"),
                      ("h2h_bias", "bh")):
        getattr(cell, attr).set_data(P[key])
    head.weight.set_data(P["wo"])
    head.bias.set_data(P["bo"])
    params = cell.collect_params()
    params.update(head.collect_params())
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": LR})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def step(x, labels):
        x, y = nd.array(x), nd.array(labels.astype(np.float32))
        with autograd.record():
            state = cell.begin_state(BATCH)
            for t in range(x.shape[0]):
                out, state = cell(x[t], state)
            loss = loss_fn(head(out), y)
        loss.backward()
        trainer.step(BATCH)
    return step


# ---------------------------------------------------------------- PyTorch eager
def torch_step():
    import torch
    torch.set_num_threads(1)
    P = init_params()
    cell, head = torch.nn.LSTMCell(IN, HIDDEN), torch.nn.Linear(HIDDEN, CLASSES)
    with torch.no_grad():
        for t, key in ((cell.weight_ih, "wi"), (cell.weight_hh, "wh"), (cell.bias_ih, "bi"),
                       (cell.bias_hh, "bh"), (head.weight, "wo"), (head.bias, "bo")):
            t.copy_(torch.from_numpy(P[key]))
    opt = torch.optim.SGD(list(cell.parameters()) + list(head.parameters()), lr=LR)
    lossf = torch.nn.CrossEntropyLoss()

    def step(x, labels):
        x, y = torch.from_numpy(x), torch.from_numpy(labels)
        opt.zero_grad()
        h = c = torch.zeros(BATCH, HIDDEN)
        for xt in x:
            h, c = cell(xt, (h, c))
        lossf(head(h), y).backward()
        opt.step()
    return step


def tracegrad_step_no_auto_compile():
    """The same step with gluon's automatic compilation of hot layer calls off."""
    from tracegrad.gluon import auto_compile
    auto_compile.auto_compile(False)
    return tracegrad_step()


def run(make, n_warm, n_timed):
    """(mean seconds per step over the timed list of lengths after the warm-up list, mean
    seconds per step of the warm-up list)."""
    step = make()
    warm = [batch(t, 1000 + k) for k, t in enumerate(lengths(n_warm, 1))]
    t0 = time.perf_counter()
    for x, labels in warm:
        step(x, labels)
    warm_time = (time.perf_counter() - t0) / n_warm
    data = [batch(t, 2000 + k) for k, t in enumerate(lengths(n_timed, 2))]
    t0 = time.perf_counter()
    for x, labels in data:
        step(x, labels)
    return (time.perf_counter() - t0) / n_timed, warm_time


_CHILDREN = {"torch": torch_step, "tracegrad": tracegrad_step,
             "tracegrad_no_auto": tracegrad_step_no_auto_compile}


def _child(name, n_warm, n_timed):
    print(*run(_CHILDREN[name], n_warm, n_timed))


def _in_child(name, n_warm, n_timed):
    """run() in a fresh process (each contender starts with nothing compiled or loaded)."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            f"import bench_dynamic as b\nb._child({name!r}, {n_warm}, {n_timed})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode == 0 and len(r.stdout.split()) >= 2:
        return tuple(float(v) for v in r.stdout.split()[-2:])
    return None


def main(quick=False):
    # the warm-up list is a short training run: its mean step includes compiling the hot
    # layer calls (auto_compile.py), from the disk cache after the first run
    n_warm, n_timed = (30, 20) if quick else (60, 60)
    rows = [("numpy by hand", run(numpy_step, n_warm, n_timed))]
    for name, child in (("tracegrad eager (Gluon LSTMCell loop)", "tracegrad"),
                        ("tracegrad eager, auto compile off", "tracegrad_no_auto"),
                        ("pytorch eager (LSTMCell loop)", "torch")):
        result = _in_child(child, n_warm, n_timed)
        if result is not None:
            rows.append((name, result))
    base, warm_base = rows[0][1]
    print(f"== LSTMCell loop over a length drawn per batch (8-64 steps), batch {BATCH}, "
          f"hidden {HIDDEN}, SGD, one core: mean step over {n_timed} batches after "
          f"{n_warm} (the warm-up's mean step in brackets)")
    for name, (t, warm) in rows:
        print(f"  {name:42s} {t * 1e3:8.2f} ms   {t / base:5.2f}x numpy by hand   "
              f"(warm-up {warm * 1e3:7.2f} ms, {warm / warm_base:5.2f}x)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
