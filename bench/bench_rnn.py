"""LSTM language-model training step, written the usual way, next to numpy by hand and
PyTorch eager (when importable), all on one core:

    vocab 2000, embedding 128, one LSTM layer of 256, 35 steps, batch 32,
    softmax cross-entropy, gradients clipped to global norm 0.25, SGD.

    python bench/bench_rnn.py [--quick] [--no-hybrid]

tracegrad runs the Gluon code eagerly and hybridized (the net compiled; its 35 time steps are
one native loop op whose body compiles once, forward and backward one native call each). Both are timed
after 10 warm-up steps, past their one-time compiles (eager compiles a backward it has run 8
times), whose cost is printed. Every contender is timed in the same interleaved rounds;
PyTorch runs in a process of its own that times its step when the round reaches it
(bench/remote.py). Figures are medians; this machine is shared, so expect +-10-20% between
runs.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import compare, report, warmed  # noqa: E402

from tracegrad import autograd, gluon, nd  # noqa: E402
from tracegrad.gluon import nn, rnn  # noqa: E402

VOCAB, EMB, HIDDEN, T, BATCH = 2000, 128, 256, 35, 32
LR, CLIP = 1.0, 0.25
WARMUP = 10  # a training loop runs thousands of steps: time it past the one-time compiles


def data(seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, (T + 1, BATCH))
    return tokens[:-1], tokens[1:]


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    u = lambda *s: rng.uniform(-0.1, 0.1, s).astype(np.float32)  # noqa: E731
    return {"emb": u(VOCAB, EMB), "wi": u(4 * HIDDEN, EMB), "wh": u(4 * HIDDEN, HIDDEN),
            "bi": np.zeros(4 * HIDDEN, np.float32), "bh": np.zeros(4 * HIDDEN, np.float32),
            "wo": u(VOCAB, HIDDEN), "bo": np.zeros(VOCAB, np.float32)}


# ---------------------------------------------------------------- numpy by hand
def numpy_step():
    P = init_params()
    x_tok, y_tok = data()
    H = HIDDEN
    from numpy_lstm import cell_backward, cell_forward

    def step():
        x = P["emb"][x_tok]                                    # (T, N, E)
        h, c = np.zeros((BATCH, H), np.float32), np.zeros((BATCH, H), np.float32)
        cache, hs = [], []
        for t in range(T):
            h, c, entry = cell_forward(P, x[t], h, c)
            cache.append(entry)
            hs.append(h)
        hs = np.stack(hs)                                      # (T, N, H)
        logits = hs.reshape(-1, H) @ P["wo"].T + P["bo"]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        labels = y_tok.reshape(-1)
        loss = -np.log(p[np.arange(labels.size), labels]).mean()
        d_logits = p
        d_logits[np.arange(labels.size), labels] -= 1
        d_logits /= labels.size
        grads = {"wo": d_logits.T @ hs.reshape(-1, H), "bo": d_logits.sum(0)}
        d_hs = (d_logits @ P["wo"]).reshape(T, BATCH, H)
        d_wi, d_wh = np.zeros_like(P["wi"]), np.zeros_like(P["wh"])
        d_b = np.zeros_like(P["bi"])
        d_x = np.empty_like(x)
        dh_next, dc_next = np.zeros((BATCH, H), np.float32), np.zeros((BATCH, H), np.float32)
        for t in reversed(range(T)):
            dg, dc_next = cell_backward(d_hs[t] + dh_next, dc_next, cache[t])
            d_wi += dg.T @ x[t]
            d_wh += dg.T @ cache[t][5]
            d_b += dg.sum(0)
            d_x[t] = dg @ P["wi"]
            dh_next = dg @ P["wh"]
        d_emb = np.zeros_like(P["emb"])
        np.add.at(d_emb, x_tok.reshape(-1), d_x.reshape(-1, EMB))
        grads.update(emb=d_emb, wi=d_wi, wh=d_wh, bi=d_b, bh=d_b)
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        scale = min(1.0, CLIP / (norm + 1e-8))
        for k, g in grads.items():
            P[k] -= LR * scale * g
        return loss
    return step


# ---------------------------------------------------------------- tracegrad, the usual way
class RNNModel(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.encoder = nn.Embedding(VOCAB, EMB)
            self.rnn = rnn.LSTM(HIDDEN, input_size=EMB)
            self.decoder = nn.Dense(VOCAB, flatten=False, in_units=HIDDEN)

    def hybrid_forward(self, F, x):
        return self.decoder(self.rnn(self.encoder(x)))


def _clip_global_norm(arrays, max_norm):
    clip = getattr(gluon.utils, "clip_global_norm", None)
    if clip is not None:
        return clip(arrays, max_norm)
    norm = nd.sqrt(sum((a * a).sum() for a in arrays))  # by hand
    scale = min(1.0, max_norm / (float(norm.asscalar()) + 1e-8))
    for a in arrays:
        a *= scale
    return norm


def tracegrad_step(hybridize):
    P = init_params()
    net = RNNModel()
    net.initialize()
    net.encoder.weight.set_data(P["emb"])
    for attr, key in (("l0_i2h_weight", "wi"), ("l0_h2h_weight", "wh"), ("l0_i2h_bias", "bi"),
                      ("l0_h2h_bias", "bh")):
        getattr(net.rnn, attr).set_data(P[key])
    net.decoder.weight.set_data(P["wo"])
    net.decoder.bias.set_data(P["bo"])
    if hybridize:
        net.hybridize()
    params = [p for p in net.collect_params().values() if p.grad_req != "null"]
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x_tok, y_tok = data()
    x, y = nd.array(x_tok), nd.array(y_tok.reshape(-1))

    def step():
        with autograd.record():  # as MXNet's word-language-model example writes it
            loss = loss_fn(net(x).reshape((-3, -1)), y)
        loss.backward()
        _clip_global_norm([p.grad() for p in params], CLIP * T * BATCH)
        trainer.step(T * BATCH)
        return loss
    # (the gradients are read before trainer.step: the update is never fused in, so a few
    # steps learn all step capture will)
    return warmed(step, 8)


# ---------------------------------------------------------------- PyTorch eager
def torch_step():
    import torch
    torch.set_num_threads(1)
    P = init_params()

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Embedding(VOCAB, EMB)
            self.rnn = torch.nn.LSTM(EMB, HIDDEN)
            self.decoder = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            return self.decoder(self.rnn(self.encoder(x))[0])
    model = Model()
    with torch.no_grad():
        model.encoder.weight.copy_(torch.from_numpy(P["emb"]))
        model.rnn.weight_ih_l0.copy_(torch.from_numpy(P["wi"]))
        model.rnn.weight_hh_l0.copy_(torch.from_numpy(P["wh"]))
        model.decoder.weight.copy_(torch.from_numpy(P["wo"]))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x_tok, y_tok = data()
    x, y = torch.from_numpy(x_tok), torch.from_numpy(y_tok).reshape(-1)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = lossf(model(x).reshape(-1, VOCAB), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        return loss
    return step


def peer_step(name, case):
    """remote.serve's factory, run in PyTorch's own process: its LM step (None without it)."""
    try:
        return torch_step()
    except ImportError:
        return None


def main(quick=False, hybrid=True):
    from remote import Peer, close_all
    peers = [("pytorch eager (fused LSTM)", Peer("bench_rnn", "peer_step", "torch"))]
    try:
        _compare(3 if quick else 7, hybrid, peers)
    finally:
        close_all(peers)


def _compare(rounds, hybrid, peers):
    from remote import peer_rows
    contenders = [("numpy by hand", numpy_step())]
    for label, hybridize in (("eager", False), ("hybridized", True))[:2 if hybrid else 1]:
        step = tracegrad_step(hybridize)
        warm = []
        for _ in range(WARMUP):
            t0 = time.perf_counter()
            step()
            warm.append(time.perf_counter() - t0)
        what = (f"the traced step, its {T} time steps one loop op" if hybridize
                else "the eager adjoint, at its 8th run")
        print(f"tracegrad {label}: slowest of {WARMUP} warm-up steps {max(warm):.1f} s "
              f"(one-time compile: {what})")
        contenders.append((f"tracegrad {label} (Gluon)", step))
    rows = compare(contenders + peer_rows(peers, "lm"), rounds=rounds, min_time=0.2)
    report(f"LSTM LM training step (vocab {VOCAB}, emb {EMB}, LSTM {HIDDEN}, {T} steps, "
           f"batch {BATCH}, clip, SGD), one core", rows, baseline="numpy by hand")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv, hybrid="--no-hybrid" not in sys.argv)
