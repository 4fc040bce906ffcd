"""Random training loops for step capture: the usual step (net, loss outside it, backward,
trainer.step) repeated, with user-level changes between steps drawn at random — a learning
rate set, a multiplier or grad_req changed, weights written or set, another batch size,
another loss, a regularizer term, the loss read, a metric updated, the net hybridized again,
two forward calls in one step, zero_grad, the parameters saved and loaded back or
initialized again, a new Trainer, a block's array attribute written or rebound; one loop in
three on mx.np arrays under set_np (d2l's style). The same seeded loop runs with capture on
and off; every step's loss and every parameter after it must agree. (tests/trust/test_capture_differential.py varies the model instead: convolutions,
BatchNorm, Dropout, losses and optimizers over an unchanged loop.)

tests/fuzz/test_step_fuzz.py runs a few seeds in CI; `python scripts/fuzz_steps.py` runs many.
"""
import os
import tempfile

import numpy as np

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd, npx

OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.05}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-3}),
    ("nag", {"learning_rate": 0.05, "momentum": 0.9}),
    ("adam", {"learning_rate": 0.01}),
    ("rmsprop", {"learning_rate": 0.01}),
    ("adagrad", {"learning_rate": 0.05, "wd": 1e-3}),
    # wd, clip_gradient, rescale_grad and schedules on every optimizer kind ("sched": a fresh
    # FactorScheduler per Trainer: a scheduler is stateful, the two runs must not share one)
    ("nag", {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-3, "rescale_grad": 0.5}),
    ("adam", {"learning_rate": 0.01, "wd": 1e-2, "clip_gradient": 0.05, "sched": True}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "clip_gradient": 0.5,
                 "rescale_grad": 2.0}),
    ("adagrad", {"learning_rate": 0.05, "clip_gradient": 0.1, "sched": True}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "rescale_grad": 0.25, "sched": True}),
]


def _trainer(net, name, kw):
    kw = dict(kw)
    if kw.pop("sched", False):
        kw["lr_scheduler"] = mx.lr_scheduler.FactorScheduler(step=3, factor=0.8,
                                                             base_lr=kw["learning_rate"])
    return gluon.Trainer(net.collect_params(), name, kw)

EVENTS = ["set_lr", "lr_mult", "wd_mult", "freeze", "unfreeze",
          "accumulate", "write_weight", "set_data", "batch_size", "switch_loss", "regularize",
          "read_loss", "metric", "rehybridize", "two_calls", "zero_grad", "reload", "reinit",
          "new_trainer", "scale_write", "scale_rebind", "anneal", "term_weight"]

LOSSES = ["l2", "l1", "softmax_ce", "huber"]


class Loop:
    """The random choices of one loop (the data come from the seed)."""

    def __init__(self, seed, steps=24):
        rs = np.random.RandomState(seed)
        self.seed = seed
        self.optimizer = OPTIMIZERS[rs.randint(len(OPTIMIZERS))]
        self.hybridize = bool(rs.randint(3))        # 2 in 3 hybridized
        # a change before one step in four: the steps between repeat, so capture learns them
        self.events = [(EVENTS[rs.randint(len(EVENTS))] if rs.rand() < 0.25 else "none",
                        rs.randint(1 << 30)) for _ in range(steps)]
        self.np = rs.randint(3) == 0                # 1 in 3 on mx.np arrays, under set_np

    def describe(self):
        name, kw = self.optimizer
        return (f"seed {self.seed}: {name} {kw}, {'hybridized' if self.hybridize else 'eager'}"
                f"{', mx.np' if self.np else ''}; events: "
                f"{', '.join(e for e, _ in self.events)}")


class Scale(gluon.HybridBlock):
    """Multiplies by an NDArray attribute (not a Parameter) that the loop writes or rebinds."""

    def __init__(self, units):
        super().__init__()
        self.scale = nd.array(np.linspace(0.5, 1.5, units))

    def hybrid_forward(self, F, x):
        return x * self.scale


def _loss(kind):
    return {"l2": gluon.loss.L2Loss(), "l1": gluon.loss.L1Loss(),
            "softmax_ce": gluon.loss.SoftmaxCrossEntropyLoss(),
            "huber": gluon.loss.HuberLoss()}[kind]


def run(loop, capture_on):
    """[(step's loss as read, parameters after the step)] for every step."""
    capture.set_enabled(capture_on)
    if loop.np:
        npx.set_np()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _run(loop, tmp)
    finally:
        capture.set_enabled(True)
        if loop.np:
            npx.reset_np()


def _run(loop, tmp):
    mx.random.seed(loop.seed % 1000)
    net = gluon.nn.HybridSequential()
    scale = Scale(6)
    net.add(gluon.nn.Dense(6, activation="tanh", in_units=4), scale,
            gluon.nn.Dense(3, in_units=6))
    net.initialize(mx.init.Xavier())
    if loop.hybridize:
        net.hybridize()
    params = list(net.collect_params().values())
    name, kw = loop.optimizer
    trainer = _trainer(net, name, kw)
    loss_kind, batch, regularize = "l2", 5, False
    annealing, term_weight = False, None    # loss terms weighted by Python scalars
    metric = mx.metric.Accuracy()
    array = (lambda v: mx.np.array(np.asarray(v, np.float32))) if loop.np else nd.array
    rs = np.random.RandomState(loop.seed)
    out_log = []
    for event, seed in loop.events:
        ev = np.random.RandomState(seed)
        p = params[ev.randint(len(params))]
        accumulate = False
        if event == "set_lr":
            lr = float(ev.choice([0.001, 0.02, 0.1]))
            schedule = trainer._optimizer.lr_scheduler
            if schedule is not None:    # (set_learning_rate warns: change it there)
                schedule.base_lr = lr
            else:
                trainer.set_learning_rate(lr)
        elif event == "lr_mult":
            p.lr_mult = float(ev.choice([0.0, 0.5, 2.0]))
        elif event == "wd_mult":
            p.wd_mult = float(ev.choice([0.0, 3.0]))
        elif event == "freeze":     # (one parameter stays trainable: backward needs a graph)
            if sum(q.grad_req != "null" for q in params if q is not p) > 0:
                p.grad_req = "null"
        elif event == "unfreeze":
            for q in params:
                if q.grad_req == "null":
                    q.grad_req = "write"
        elif event == "accumulate":
            accumulate = True
        elif event == "write_weight":
            p.data()[:] = array(ev.uniform(-0.5, 0.5, p.shape))
        elif event == "set_data":
            p.set_data(array(ev.uniform(-0.5, 0.5, p.shape)))
        elif event == "batch_size":
            batch = int(ev.choice([1, 3, 5, 8]))
        elif event == "switch_loss":
            loss_kind = LOSSES[ev.randint(len(LOSSES))]
        elif event == "regularize":
            regularize = not regularize
        elif event == "anneal":      # from now on a weight that changes every step
            annealing = not annealing
        elif event == "term_weight":    # a fixed weight until the next such event
            term_weight = [0.0, -0.0, 1, True, np.float32(0.3), 2.5, 1e-30, None][
                ev.randint(8)]
        elif event == "rehybridize" and loop.hybridize:
            net.hybridize()
        elif event == "reload":            # the parameters through a file and back
            path = os.path.join(tmp, "net.params")
            net.save_parameters(path)
            for q in params:
                q.data()[:] = 0
            net.load_parameters(path)
        elif event == "reinit":
            mx.random.seed(seed % 1000)
            net.initialize(mx.init.Xavier(), force_reinit=True)
        elif event == "new_trainer":        # (its optimizer's state starts again)
            trainer = _trainer(net, name, kw)
        elif event == "scale_write":
            scale.scale[:] = nd.array(ev.uniform(0.5, 1.5, 6))
        elif event == "scale_rebind":
            scale.scale = nd.array(ev.uniform(0.5, 1.5, 6))
        elif event == "zero_grad":
            for q in params:
                if q.grad_req != "null":
                    q.zero_grad()
        loss_fn = _loss(loss_kind)
        rounds = 2 if accumulate else 1
        if accumulate:
            for q in params:
                if q.grad_req != "null":
                    q.grad_req = "add"
                    q.zero_grad()
        read, losses = [], []
        for _ in range(rounds):
            x = array(rs.uniform(-1, 1, (batch, 4)))
            labels = rs.randint(0, 3, batch)
            y = array(labels.astype(np.float32)) if loss_kind == "softmax_ce" else \
                array(np.eye(3)[labels])
            with autograd.record():
                out = net(x)
                if event == "two_calls":
                    out = out + 0.5 * net(x * 0.5)
                loss = loss_fn(out, y)
                if regularize:
                    loss = loss + 0.01 * (params[0].data() ** 2).sum()
                if annealing:
                    loss = loss + (0.3 / (len(out_log) + 1)) * (out * out).mean(axis=1)
                if term_weight is not None:
                    loss = loss + term_weight * out.mean(axis=1)
                if event == "read_loss":
                    read.append(loss.asnumpy().copy())
            loss.backward()
            if event == "metric":
                metric.update([array(labels.astype(np.float32))], [out])
            losses.append(loss)
        if any(q.grad_req != "null" for q in params):
            trainer.step(batch * rounds, ignore_stale_grad=True)
        read += [v.asnumpy().copy() for v in losses]   # (after the step: the fused update)
        if accumulate:
            for q in params:
                if q.grad_req == "add":
                    q.grad_req = "write"
        out_log.append((read, [q.data().asnumpy().copy() for q in params],
                        metric.get()[1] if event == "metric" else None))
    return out_log


def check(seed, steps=24):
    """Raise AssertionError (naming the loop and the step) when capture on and off differ."""
    loop = Loop(seed, steps)
    on, off = run(loop, True), run(loop, False)
    for k, ((r1, p1, m1), (r2, p2, m2)) in enumerate(zip(on, off)):
        where = f"{loop.describe()}\nstep {k} ({loop.events[k][0]})"
        assert len(r1) == len(r2), where
        for a, b in zip(r1, r2):
            if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
                raise AssertionError(f"{where}: loss differs: {a} vs {b}")
        for j, (a, b) in enumerate(zip(p1, p2)):
            if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
                raise AssertionError(f"{where}: parameter {j} differs by "
                                     f"{np.abs(a - b).max():.3g}")
        assert m1 == m2, f"{where}: metric {m1} vs {m2}"
