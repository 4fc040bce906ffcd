"""AdaDelta, Adamax, Nadam, Signum, Ftrl and LAMB (optimizer_more.py): each optimizer's update
against a float64 numpy statement of MXNet 1.9.1's formula written here, Trainer.step's one
native call against the per-parameter updates, and the captured training step against the
same run with capture off, with wd, rescale_grad, clip_gradient and an lr schedule."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, fused_update, gluon
from capture_steps import batches, same_params, small_net
from test_fused_update import _train as train_steps


class Halving(mx.lr_scheduler.LRScheduler):
    """lr = base_lr * 0.5 ** (num_update // 2): changes within the steps below."""

    def __call__(self, num_update):
        return self.base_lr * 0.5 ** (num_update // 2)


def _clip(g, c, truthy_only=False):
    if c is None or (truthy_only and not c) or c < 0:
        return g
    return np.clip(g, -c, c)


class Reference:
    """MXNet 1.9.1's update formulas (python/mxnet/optimizer/optimizer.py and the kernels of
    src/operator/optimizer_op-inl.h) in float64, one parameter index at a time."""

    def __init__(self, name, **kw):
        self.name, self.kw = name, kw
        self.count, self.state, self.m_schedule = {}, {}, 1.0

    def step(self, i, w, grad, lr, wd):
        """The new weight; `lr` is the (scheduled, multiplied) rate of this update."""
        k = self.kw
        t = self.count[i] = self.count.get(i, 0) + 1
        rescale, clip = k.get("rescale_grad", 1.0), k.get("clip_gradient")
        st = self.state.setdefault(i, [np.zeros_like(w) for _ in range(2)])
        if self.name == "adadelta":
            rho, eps = k.get("rho", 0.9), k.get("epsilon", 1e-5)
            g = _clip(grad * rescale, clip)
            st[0] = rho * st[0] + (1 - rho) * g * g
            d = np.sqrt(st[1] + eps) / np.sqrt(st[0] + eps) * g
            st[1] = rho * st[1] + (1 - rho) * d * d
            return w - (d + wd * w)
        if self.name == "adamax":
            b1, b2 = k.get("beta1", 0.9), k.get("beta2", 0.999)
            g = _clip(grad * rescale + wd * w, clip)
            st[0] = b1 * st[0] + (1 - b1) * g
            st[1] = np.maximum(b2 * st[1], np.abs(g))
            return w - lr / (1 - b1 ** t) * st[0] / st[1]
        if self.name == "nadam":
            b1, b2 = k.get("beta1", 0.9), k.get("beta2", 0.999)
            eps, decay = k.get("epsilon", 1e-8), k.get("schedule_decay", 0.004)
            g = _clip(grad * rescale + wd * w, clip)
            mu = b1 * (1 - 0.5 * 0.96 ** (t * decay))
            mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay))
            self.m_schedule *= mu
            st[0] = b1 * st[0] + (1 - b1) * g
            st[1] = b2 * st[1] + (1 - b2) * g * g
            m_bar = ((1 - mu) * g / (1 - self.m_schedule)
                     + mu_next * st[0] / (1 - self.m_schedule * mu_next))
            return w - lr * m_bar / (np.sqrt(st[1] / (1 - b2 ** t)) + eps)
        if self.name == "signum":
            mom, wd_lh = k.get("momentum", 0.9), k.get("wd_lh", 0.0)
            g = _clip(grad * rescale, clip, truthy_only=True)
            if mom == 0:
                return (1 - lr * wd) * w - lr * np.sign(g)
            st[0] = mom * st[0] - (1 - mom) * wd * w - (1 - mom) * g
            return (1 - lr * wd_lh) * w + lr * np.sign(st[0])
        if self.name == "ftrl":
            lamda1, beta = k.get("lamda1", 0.01), k.get("beta", 1)
            g = _clip(grad * rescale, clip, truthy_only=True)
            z, n = st
            z = st[0] = z + g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
            n = st[1] = n + g * g
            return ((np.sign(z) * lamda1 - z) / ((beta + np.sqrt(n)) / lr + wd)
                    * (np.abs(z) > lamda1))
        if self.name == "lamb":
            b1, b2, eps = k.get("beta1", 0.9), k.get("beta2", 0.999), k.get("epsilon", 1e-6)
            g = _clip(grad * rescale, clip, truthy_only=True)
            st[0] = b1 * st[0] + (1 - b1) * g
            st[1] = b2 * st[1] + (1 - b2) * g * g
            m, v = st
            if k.get("bias_correction", True):
                m, v = m / (1 - b1 ** t), v / (1 - b2 ** t)
            d = m / (np.sqrt(v) + eps) + wd * w
            r1, r2 = np.sqrt((w * w).sum()), np.sqrt((d * d).sum())
            if k.get("lower_bound"):
                r1 = max(r1, k["lower_bound"])
            if k.get("upper_bound"):
                r1 = min(r1, k["upper_bound"])
            ratio = r1 / r2 if r1 != 0 and r2 != 0 else 1.0
            return w - lr * ratio * d
        raise AssertionError(self.name)


COMMON = {"wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.3}
CASES = [
    ("adadelta", {}),
    ("adadelta", {"rho": 0.8, "epsilon": 1e-4, **COMMON}),
    ("adamax", {"learning_rate": 0.01, **COMMON}),
    ("adamax", {"learning_rate": 0.02, "beta1": 0.8, "beta2": 0.99}),
    ("nadam", {"learning_rate": 0.01, **COMMON}),
    ("nadam", {"learning_rate": 0.01, "schedule_decay": 0.1, "beta1": 0.8}),
    ("signum", {"learning_rate": 0.01, **COMMON, "wd_lh": 0.05}),
    ("signum", {"learning_rate": 0.01, "momentum": 0.0, **COMMON}),
    ("ftrl", {"learning_rate": 0.1, **COMMON}),
    ("ftrl", {"lamda1": 0.001, "beta": 0.5}),
    ("lamb", {"learning_rate": 0.01, **COMMON}),
    ("lamb", {"learning_rate": 0.01, "bias_correction": False, "lower_bound": 0.5,
              "upper_bound": 0.9, "wd": 0.1}),
]
IDS = [f"{n}{i}" for i, (n, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_update_is_mxnets_formula(name, kw):
    """Two parameters (Nadam's schedule product is shared), a schedule, lr_mult/wd_mult."""
    rs = np.random.RandomState(1)
    base_lr = kw.get("learning_rate", 0.01)
    opt = mx.optimizer.create(name, lr_scheduler=Halving(base_lr=base_lr), **kw)

    class Mult:
        lr_mult, wd_mult = 0.5, 2.0
    opt.param_dict = {1: Mult()}
    ref = Reference(name, **kw)
    ws = [rs.randn(3, 4), rs.randn(5)]
    ours = [w.copy() for w in ws]
    states = [opt.create_state(i, w) for i, w in enumerate(ours)]
    for step in range(6):
        for i in range(2):
            grad = rs.randn(*ws[i].shape)
            # MXNet counts the update, then reads the schedule at num_update
            lr = base_lr * 0.5 ** ((step + 1) // 2) * (0.5 if i else 1.0)
            wd = kw.get("wd", 0.0) * (2.0 if i else 1.0)
            ws[i] = ref.step(i, ws[i], grad, lr, wd)
            before = grad.copy()
            opt.update(i, ours[i], grad, states[i])
            # the numpy buffer is left alone (an NDArray given to AdaDelta's update is left
            # rescaled, as MXNet's: test_adadelta_rescales_grad_in_place.py)
            np.testing.assert_array_equal(grad, before)
            np.testing.assert_allclose(ours[i], ws[i], rtol=1e-12, atol=1e-14)
    assert opt.num_update == 6


def _train(fused, name, kw, steps=6, grad_req="write", dtype="float32"):
    """test_fused_update's training loop, with a halving schedule from the optimizer's lr."""
    kw = dict(kw, lr_scheduler=Halving(base_lr=kw.get("learning_rate", 0.01)))
    return train_steps(fused, name, kw, steps=steps, grad_req=grad_req, dtype=dtype)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_trainer_one_native_call_gives_the_per_parameter_updates(name, kw):
    assert fused_update.supports(mx.optimizer.create(name, **kw))
    for opts in ({}, {"grad_req": "add"}, {"dtype": "float64"}):
        fused, trainer, calls = _train(True, name, kw, **opts)
        eager, eager_trainer, _ = _train(False, name, kw, **opts)
        assert calls == [1] * len(calls)
        rtol = 1e-11 if opts.get("dtype") == "float64" else 3e-5
        for a, b in zip(fused, eager):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-7)
        for i, state in eager_trainer._states.items():
            got = trainer._states[i]
            for s, g in zip(state if isinstance(state, tuple) else (state,),
                            got if isinstance(got, tuple) else (got,)):
                if s is not None:
                    np.testing.assert_allclose(g, s, rtol=rtol, atol=1e-7)
        assert trainer.optimizer.num_update == eager_trainer.optimizer.num_update == 6


def _captured_run(on, name, kw, steps=10):
    """Parameters after `steps` usual steps (hybridized net, loss outside, backward,
    trainer.step) and per step (native calls, update fused into the step?)."""
    capture.set_enabled(on)
    net = small_net(True)
    kw = dict(kw, lr_scheduler=Halving(base_lr=kw.get("learning_rate", 0.01)))
    trainer = gluon.Trainer(net.collect_params(), name, kw)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    log = []
    for x, y in batches(steps):
        before = mx.stats()
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        now = mx.stats()
        log.append((now["native_calls"] - before["native_calls"],
                    now["fused_update_steps"] - before["fused_update_steps"]))
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], log


@pytest.mark.usefixtures("fresh_capture")
@pytest.mark.parametrize("name,kw", [c for c in CASES if c[1].get("wd") or c[0] == "ftrl"],
                         ids=[i for i, c in zip(IDS, CASES) if c[1].get("wd") or c[0] == "ftrl"])
def test_captured_step_fuses_the_update_and_matches_capture_off(name, kw):
    got, log = _captured_run(True, name, kw)
    assert "update fused in" in capture.explain()
    want, _ = _captured_run(False, name, kw)
    same_params(got, want)
    fused = [calls for calls, f in log if f]
    assert len(fused) >= 4, log
    assert fused == [1] * len(fused), log   # forward, loss, adjoint and update: one call
    assert log[-1] == (1, 1)
