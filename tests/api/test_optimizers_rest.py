"""LARS, LBSGD (optimizer_large_batch.py), DCASGD, FTML, SGLD, Test, ccSGD (optimizer_rare.py),
Updater / get_updater (optimizer_updater.py) and the registry / lr_mult / wd_mult API of
MXNet 1.9.1's Optimizer: each update against a float64 numpy statement of MXNet's formula
written here, Trainer.step's one native call against the per-parameter updates, the captured
training step against capture off, the Updater's saved states, and bad hyperparameters."""
import io
import json
import math
import pickle

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import capture, fused_update, nd
from test_optimizers_more import Halving, _captured_run, _train
from capture_steps import same_params


def _clip(g, c, truthy_only=False):
    if c is None or (truthy_only and not c) or c < 0:
        return g
    return np.clip(g, -c, c)


class Reference:
    """MXNet 1.9.1's formulas in float64, one update at a time; `lr` and `wd` are the
    scheduled, multiplied numbers of this update, `momentum` LARS's corrected momentum."""

    def __init__(self, name, **kw):
        self.name, self.kw = name, kw
        self.count, self.state, self.cum = {}, {}, {}

    def step(self, i, w, grad, lr, wd, momentum=None, name=None, noise=None):
        k, n = self.kw, self.name
        t = self.count[i] = self.count.get(i, 0) + 1
        rescale, clip = k.get("rescale_grad", 1.0), k.get("clip_gradient")
        st = self.state.setdefault(i, [np.zeros_like(w) for _ in range(3)])
        if n == "lars":
            eta, eps = k.get("eta", 0.001), k.get("eps", 0)
            name = name if name is not None else str(i)
            if not name.endswith(("gamma", "beta", "bias")):
                w_norm, g_norm = np.sqrt((w * w).sum()), np.sqrt((grad * grad).sum())
                if w_norm > 0 and g_norm > 0:
                    lr = lr * eta * w_norm / (g_norm * rescale + wd * w_norm + eps)
            g = _clip(rescale * grad, clip, truthy_only=True)
            st[0] = momentum * st[0] - lr * wd * w - lr * g
            return w + st[0]
        if n in ("sgd", "ccsgd"):
            g = _clip(rescale * grad, clip)
            st[0] = k.get("momentum", 0.0) * st[0] - lr * (g + wd * w)
            return w + st[0]
        if n == "lbsgd":
            bs, strategy = k.get("batch_scale", 1), k.get("warmup_strategy", "linear")
            nup = self.count[i] + k.get("begin_epoch", 0) * k.get("updates_per_epoch", 32)
            self.cum[i] = self.cum.get(i, 0) + grad
            if nup % bs:
                return w
            g, self.cum[i] = self.cum[i] / bs, 0
            nwup = k.get("warmup_epochs", 5) * k.get("updates_per_epoch", 32)
            if strategy == "lars":
                w2, g2 = (w * w).sum(), (g * g).sum()
                mult = min(max(math.sqrt(w2 / (g2 + wd * w2 + 1e-18)), 0.01), 100)
            elif nup >= nwup:
                mult = bs
            elif strategy == "linear":
                mult = 1 + (bs - 1) * nup / nwup
            elif strategy == "power2":
                mult = 1 + (bs - 1) * nup ** 2 / nwup ** 2
            else:
                mult = 1 + (bs - 1) * math.sqrt(nup / nwup)
            lr = lr * mult
            g = _clip(rescale * g, clip, truthy_only=True)
            mom = k.get("momentum", 0.0)
            if mom:
                st[0] = mom * st[0] - lr * wd * w - lr * g
                return w + st[0]
            return (1 - lr * wd) * w - lr * g
        if n == "dcasgd":
            if t == 1:
                st[1] = w.copy()
            g = _clip(rescale * grad, clip)
            step = -lr * (g + wd * w + k.get("lamda", 0.04) * g * g * (w - st[1]))
            st[0] = k.get("momentum", 0.0) * st[0] + step
            st[1] = w.copy()
            return w + st[0]
        if n == "ftml":
            b1, b2, eps = k.get("beta1", 0.6), k.get("beta2", 0.999), k.get("epsilon", 1e-8)
            g = _clip(rescale * grad + wd * w, clip, truthy_only=True)
            d, v, z = st
            v = b2 * v + (1 - b2) * g * g
            d_t = (1 - b1 ** t) / lr * (np.sqrt(v / (1 - b2 ** t)) + eps)
            z = b1 * z + (1 - b1) * g - (d_t - b1 * d) * w
            self.state[i] = [d_t, v, z]
            return -z / d_t
        if n == "sgld":
            g = _clip(rescale * grad, clip)
            return w - lr / 2 * (g + wd * w) + noise
        if n == "test":
            return w + rescale * grad
        raise AssertionError(n)


COMMON = {"wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.3}
CASES = [
    ("lars", {"learning_rate": 0.1, "momentum": 0.9, "eta": 0.5, **COMMON}),
    ("lars", {"learning_rate": 0.1, "eta": 0.2, "eps": 1e-3, "wd": 0.1,
              "momentum_correction": False}),
    ("lbsgd", {"learning_rate": 0.1, "momentum": 0.9, "batch_scale": 2, "warmup_epochs": 1,
               "updates_per_epoch": 4, **COMMON}),
    ("lbsgd", {"learning_rate": 0.1, "warmup_strategy": "power2", "batch_scale": 3,
               "warmup_epochs": 2, "updates_per_epoch": 3, "wd": 0.05}),
    ("lbsgd", {"learning_rate": 0.1, "warmup_strategy": "sqrt", "batch_scale": 4,
               "warmup_epochs": 1, "updates_per_epoch": 8, "begin_epoch": 0, **COMMON}),
    ("lbsgd", {"learning_rate": 0.1, "warmup_strategy": "lars", "momentum": 0.5, **COMMON}),
    ("lbsgd", {"learning_rate": 0.1, "begin_epoch": 1, "updates_per_epoch": 2,
               "batch_scale": 3}),
    ("dcasgd", {"learning_rate": 0.1, "momentum": 0.9, "lamda": 0.5, **COMMON}),
    ("dcasgd", {"learning_rate": 0.1, "wd": 0.02}),
    ("ftml", {"learning_rate": 0.05, **COMMON}),
    ("ftml", {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.99, "epsilon": 1e-6}),
    ("sgld", {"learning_rate": 0.01, **COMMON}),
    ("test", {"rescale_grad": 0.5}),
    ("ccsgd", {"learning_rate": 0.1, "momentum": 0.9, **COMMON}),
]
IDS = [f"{n}{i}" for i, (n, _) in enumerate(CASES)]


def _lr(name, base, step, i):
    """The scheduled rate of update `step` of parameter i (of two, updated in order):
    MXNet counts the update before reading the schedule, except LBSGD, which reads it
    first; Test reads none."""
    if name == "lbsgd":
        num_update = step + (1 if i else 0)
    else:
        num_update = step + 1
    return base * 0.5 ** (num_update // 2)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_update_is_mxnets_formula(name, kw):
    """Two parameters, a schedule, lr_mult/wd_mult, 6 updates each, float64."""
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
    mx.random.seed(11)
    draws = []
    for step in range(6):
        for i in range(2):
            grad = rs.randn(*ws[i].shape)
            lr = _lr(name, base_lr, step, i) * (0.5 if i else 1.0)
            wd = kw.get("wd", 0.0) * (2.0 if i else 1.0)
            momentum = kw.get("momentum", 0.0)
            if name == "lars" and kw.get("momentum_correction", True) and step:
                # lr_t / lr_(t-1) of the global schedule, for every parameter of the step
                momentum *= _lr(name, base_lr, step, 0) / _lr(name, base_lr, step - 1, 0)
            draws.append((ws[i].shape, lr))
            before = grad.copy()
            opt.update(i, ours[i], grad, states[i])
            np.testing.assert_array_equal(grad, before)     # the gradient is left alone
            noise = None
            if name == "sgld":   # N(0, sqrt(lr)) of mx.random, drawn in the same order
                mx.random.seed(11)
                for shape, l in draws:
                    noise = mx.random.normal(0, math.sqrt(l), shape=shape,
                                             dtype="float64").asnumpy()
            ws[i] = ref.step(i, ws[i], grad, lr, wd, momentum=momentum, noise=noise)
            np.testing.assert_allclose(ours[i], ws[i], rtol=1e-12, atol=1e-14)
    assert opt.num_update == (0 if name == "test" else 6)


def test_lbsgd_warmup_multipliers_and_the_weight_held_between_fires():
    opt = mx.optimizer.create("lbsgd", batch_scale=8, warmup_epochs=2, updates_per_epoch=5)
    assert [opt._get_lbmult(n) for n in (0, 5, 10, 20)] == [1.0, 4.5, 8.0, 8.0]
    opt.warmup_strategy = "power2"
    assert opt._get_lbmult(5) == 1 + 7 * 25 / 100
    opt.warmup_strategy = "sqrt"
    assert opt._get_lbmult(5) == 1 + 7 * math.sqrt(0.5)
    opt = mx.optimizer.create("lbsgd", batch_scale=3, learning_rate=1.0)
    w, state = np.ones(4), None
    state = opt.create_state(0, w)
    for k in range(2):
        opt.update(0, w, np.full(4, 3.0), state)
        np.testing.assert_array_equal(w, np.ones(4))         # accumulating
    opt.update(0, w, np.full(4, 3.0), state)                 # fires: mean gradient 3
    mult = 1 + 2 * 3 / 160                                   # linear warmup at update 3
    np.testing.assert_allclose(w, 1 - mult * 3.0)
    np.testing.assert_array_equal(state[-1], 0)              # accumulation restarts


def test_lars_trust_ratio_skips_bias_gamma_beta_by_name():
    names = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma", 3: "bn_beta"}
    opt = mx.optimizer.create("lars", learning_rate=1.0, eta=0.5, param_idx2name=names)
    for i in names:
        w, g = np.full(4, 2.0), np.full(4, 1.0)
        opt.update(i, w, g, opt.create_state(i, w))
        lr = 0.5 * 4.0 / 2.0 if i == 0 else 1.0              # eta * ||w|| / ||g||
        np.testing.assert_allclose(w, 2.0 - lr)
    # LARS's set_wd_mult: only names ending in _weight keep weight decay (not _gamma)
    assert opt.wd_mult == {"fc_bias": 0.0, "bn_gamma": 0.0, "bn_beta": 0.0}


def _trainer_kw(name, kw):
    if name == "lars":  # the skipped layers too: names by param_idx2name
        kw = dict(kw, param_idx2name={0: "d0_weight", 1: "d0_bias", 2: "d1_weight",
                                      3: "d1_bias"})
    return kw


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_trainer_one_native_call_gives_the_per_parameter_updates(name, kw):
    assert fused_update.supports(mx.optimizer.create(name, **kw))
    kw = _trainer_kw(name, kw)
    # (SGLD's noise loops take seconds to compile: float32 only)
    for opts in ({}, {"dtype": "float64"})[:1 if name == "sgld" else 2]:
        fused, trainer, calls = _train(True, name, kw, **opts)
        eager, eager_trainer, _ = _train(False, name, kw, **opts)
        assert calls == [1] * len(calls)
        rtol = 1e-11 if opts.get("dtype") == "float64" else 3e-5
        for a, b in zip(fused, eager):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)
        for i, state in eager_trainer._states.items():
            got = trainer._states[i]
            for s, g in zip(state if isinstance(state, tuple) else (state,),
                            got if isinstance(got, tuple) else (got,)):
                if s is not None:
                    np.testing.assert_allclose(g, s, rtol=rtol, atol=1e-6)
        assert trainer.optimizer.num_update == eager_trainer.optimizer.num_update


@pytest.mark.parametrize("name,kw", [CASES[2], CASES[4], CASES[11]],
                         ids=["lbsgd", "lbsgd_sqrt", "sgld"])
def test_trainer_fused_with_accumulated_gradients(name, kw):
    """grad_req='add' (zeroed every second step), with an lr schedule."""
    fused, _, calls = _train(True, name, kw, grad_req="add")
    eager, _, _ = _train(False, name, kw, grad_req="add")
    assert calls == [1] * len(calls)
    for a, b in zip(fused, eager):
        np.testing.assert_allclose(a, b, rtol=3e-5, atol=1e-6)


def test_sgld_fused_noise_is_the_per_parameter_noise_and_has_sqrt_lr_spread():
    """lr 0.04 on zero gradients: the update is the noise alone, std sqrt(0.04) = 0.2."""
    def run(fused):
        mx.random.seed(5)
        net = mx.gluon.nn.Dense(400, in_units=50)
        net.initialize(mx.init.Zero())
        trainer = mx.gluon.Trainer(net.collect_params(), "sgld", {"learning_rate": 0.04})
        trainer._fused = fused
        with mx.autograd.record():
            loss = (net(nd.zeros((1, 50))) * 0).sum()
        loss.backward()
        trainer.step(1)
        return net.weight.data().asnumpy()
    fused, eager = run(True), run(False)
    np.testing.assert_allclose(fused, eager, rtol=1e-6, atol=1e-7)
    assert abs(fused.std() - 0.2) < 0.01 and abs(fused.mean()) < 0.01
    np.testing.assert_array_equal(run(True), fused)          # seeded: the same draws again


@pytest.mark.usefixtures("fresh_capture")
@pytest.mark.parametrize("name,kw", [CASES[0], CASES[2], CASES[5], CASES[7], CASES[9],
                                     CASES[11], CASES[12]],
                         ids=["lars", "lbsgd", "lbsgd_lars", "dcasgd", "ftml", "sgld", "test"])
def test_captured_step_fuses_the_update_and_matches_capture_off(name, kw):
    got, log = _captured_run(True, name, kw)
    assert "update fused in" in capture.explain()
    want, _ = _captured_run(False, name, kw)
    same_params(got, want, rtol=1e-4)
    fused = [calls for calls, f in log if f]
    assert len(fused) >= 4, log
    assert fused == [1] * len(fused), log   # forward, loss, adjoint and update: one call


# ------------------------------------------------------------------ registry, multipliers
def test_registry_create_and_register():
    assert type(mx.optimizer.Optimizer.create_optimizer("ccSGD")) is mx.optimizer.ccSGD
    assert issubclass(mx.optimizer.ccSGD, mx.optimizer.SGD)
    assert type(mx.optimizer.create("LARS")) is mx.optimizer.LARS
    with pytest.raises(ValueError, match="Cannot find optimizer nope"):
        mx.optimizer.create("nope")

    @mx.optimizer.Optimizer.register
    class MyRestOptimizer(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] = weight - grad
    assert "myrestoptimizer" in mx.optimizer.Optimizer.opt_registry
    assert type(mx.optimizer.Optimizer.create_optimizer("MyRestOptimizer")) is MyRestOptimizer
    with pytest.warns(UserWarning, match="overriding"):
        mx.optimizer.register(type("MyRestOptimizer", (mx.optimizer.Optimizer,), {}))
    del mx.optimizer.Optimizer.opt_registry["myrestoptimizer"]


def test_idx2name_gives_wd_mult_0_to_non_weights_and_set_lr_wd_mult():
    names = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma", 3: "bn_beta"}
    opt = mx.optimizer.create("sgd", learning_rate=0.1, wd=0.2, param_idx2name=names)
    assert [opt._get_wd(i) for i in range(4)] == [0.2, 0.0, 0.2, 0.0]
    opt.set_lr_mult({"fc_weight": 3.0, 3: 0.5})
    opt.set_wd_mult({"fc_bias": 0.5})
    assert [opt._get_lr(i) for i in range(4)] == pytest.approx([0.3, 0.1, 0.1, 0.05])
    assert [opt._get_wd(i) for i in range(4)] == pytest.approx([0.2, 0.1, 0.2, 0.0])

    class Param:
        lr_mult, wd_mult = 2.0, 4.0
    opt.param_dict = {0: Param()}            # a Gluon Parameter's own multipliers win
    assert (opt._get_lr(0), opt._get_wd(0)) == pytest.approx((0.2, 0.8))
    with pytest.raises(DeprecationWarning):
        opt.set_lr_scale({})
    assert opt._get_lrs([1, 3]) == pytest.approx([0.1, 0.05])
    opt._update_count([1, 3])                 # MXNet's aggregated form counts each
    assert opt._index_update_count == {1: 1, 3: 1} and opt.num_update == 1

    class Sym:
        def attr_dict(self):
            return {"fc_bias": {"__lr_mult__": "2", "__wd_mult__": "3"}}

        def list_arguments(self):
            return ["fc_weight", "fc_bias"]
    opt = mx.optimizer.create("sgd", learning_rate=0.1, wd=0.2, param_idx2name=names,
                              sym=Sym())
    assert (opt._get_lr(1), opt._get_wd(1)) == pytest.approx((0.2, 0.6))
    with pytest.raises(mx.MXNetError, match="param_idx2name should be a dict"):
        mx.optimizer.create("sgd", param_idx2name=[1, 2])


def test_fused_update_reads_lr_mult_set_by_name():
    """SGD's fused fast path must see set_lr_mult (the Updater's one-call path)."""
    def run(fused):
        opt = mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.5, wd=0.1,
                                  param_idx2name={0: "a_weight", 1: "a_bias"})
        opt.set_lr_mult({"a_bias": 3.0})
        upd = mx.optimizer.get_updater(opt)
        ws = [nd.ones((2, 3)), nd.ones((3,))]
        for _ in range(3):
            grads = [nd.full((2, 3), 0.5), nd.full((3,), 2.0)]
            if fused:
                upd([0, 1], grads, ws)
            else:
                for i in range(2):
                    upd(i, grads[i], ws[i])
        return [w.asnumpy() for w in ws]
    before = mx.stats()["native_calls"]
    got = run(True)
    assert mx.stats()["native_calls"] - before == 3
    want = run(False)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(want[1], 1 - 0.3 * 2.0 * (1 + 1.5 + 1.75), rtol=1e-6)


# ------------------------------------------------------------------ Updater
def test_updater_states_round_trip_without_pickle():
    opt = mx.optimizer.create("dcasgd", learning_rate=0.1, momentum=0.9,
                              lr_scheduler=mx.lr_scheduler.FactorScheduler(step=2, factor=0.5))
    upd = mx.optimizer.get_updater(opt)
    assert isinstance(upd, mx.optimizer.Updater)
    w = {0: nd.ones((2, 2)), "b": nd.ones((3,))}
    for _ in range(3):
        for k in w:
            upd(k, nd.full(w[k].shape, 0.3), w[k])
    blob = upd.get_states(dump_optimizer=True)
    assert blob[:2] == b"PK"                                # an .npz archive
    again = mx.optimizer.get_updater(mx.optimizer.create("sgd"))
    again.set_states(blob)
    assert type(again.optimizer) is mx.optimizer.DCASGD
    assert again.optimizer.num_update == 3 and again.optimizer.momentum == 0.9
    assert again.optimizer.learning_rate == opt.learning_rate
    w2 = {k: v.copy() for k, v in w.items()}
    for k in w:                               # the same next update from the restored states
        upd(k, nd.full(w[k].shape, 0.2), w[k])
        again(k, nd.full(w2[k].shape, 0.2), w2[k])
        np.testing.assert_array_equal(w[k].asnumpy(), w2[k].asnumpy())
    plain = mx.optimizer.get_updater(mx.optimizer.create("adam"))
    plain.set_states(mx.optimizer.get_updater(opt).get_states())   # no states, no optimizer
    assert plain.states == {} and type(plain.optimizer) is mx.optimizer.Adam


def test_updater_with_an_mxnet_style_optimizer_keeps_ndarray_states():
    class ByHand(mx.optimizer.Optimizer):
        def create_state(self, index, weight):
            return nd.zeros(weight.shape)

        def update(self, index, weight, grad, state):
            state[:] = state * 0.5 + grad
            weight[:] = weight - 0.1 * state
    upd = mx.optimizer.get_updater(ByHand())
    w = nd.ones((3,))
    upd([0], [nd.ones((3,))], [w])
    again = mx.optimizer.get_updater(ByHand())
    again.set_states(upd.get_states())
    assert isinstance(again.states[0], nd.NDArray)
    w2 = w.copy()
    upd(0, nd.ones((3,)), w)
    again(0, nd.ones((3,)), w2)
    np.testing.assert_allclose(w.asnumpy(), 1 - 0.1 - 0.1 * 1.5)
    np.testing.assert_array_equal(w2.asnumpy(), w.asnumpy())


def test_updater_refuses_pickle_and_garbage_and_changes_nothing():
    upd = mx.optimizer.get_updater(mx.optimizer.create("sgd", momentum=0.9))
    upd(0, nd.ones((2,)), nd.ones((2,)))
    states = dict(upd.states)
    with pytest.raises(mx.MXNetError, match="pickled.*never unpickles"):
        upd.set_states(pickle.dumps({0: np.zeros(2)}))
    good = upd.get_states()
    for bad in (b"", b"PK\x03\x04garbage", good[:len(good) // 2], 42):
        with pytest.raises(mx.MXNetError, match="set_states"):
            upd.set_states(bad)
    assert upd.states.keys() == states.keys()
    # a tampered description that would replace a method of the optimizer
    arrays = dict(np.load(io.BytesIO(upd.get_states(dump_optimizer=True)), allow_pickle=False))
    meta = json.loads(arrays["__updater__"].tobytes())
    meta["optimizer"]["settings"]["update"] = 1.0
    arrays["__updater__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(mx.MXNetError, match="would replace SGD.update"):
        upd.set_states(buf.getvalue())
    assert type(upd.optimizer.update).__name__ == "method"
    with pytest.raises(mx.MXNetError, match="cannot be saved without pickle"):
        opt = mx.optimizer.create("sgd", lr_scheduler=Halving(base_lr=0.1))
        mx.optimizer.get_updater(opt).get_states(dump_optimizer=True)
    with pytest.raises(mx.MXNetError, match="gradient shape"):
        upd(0, nd.ones((3,)), nd.ones((2,)))


# ------------------------------------------------------------------ bad hyperparameters
@pytest.mark.parametrize("name,kw,match", [
    ("lbsgd", {"warmup_strategy": "cosine"}, "warmup_strategy must be one of"),
    ("lbsgd", {"batch_scale": 0}, "batch_scale must be an integer >= 1"),
    ("lbsgd", {"batch_scale": 1.5}, "batch_scale must be an integer"),
    ("lbsgd", {"updates_per_epoch": "x"}, "updates_per_epoch must be a number"),
    ("lars", {"eta": -1.0}, "eta must be a number >= 0"),
    ("lars", {"eps": float("nan")}, "eps must be"),
    ("ftml", {"beta1": 1.0}, r"beta1 must be in \[0, 1\)"),
    ("ftml", {"beta2": -0.1}, r"beta2 must be in \[0, 1\)"),
    ("dcasgd", {"nonsense": 1}, "unknown arguments"),
])
def test_bad_hyperparameters_raise_clear_errors(name, kw, match):
    with pytest.raises(mx.MXNetError, match=match):
        mx.optimizer.create(name, **kw)


def test_sgld_negative_learning_rate_and_ftml_zero_rate_raise():
    w = np.ones(3)
    with pytest.raises(mx.MXNetError, match="SGLD: the learning rate.*>= 0"):
        mx.optimizer.create("sgld", learning_rate=-0.1).update(0, w, w.copy(), None)
    opt = mx.optimizer.create("ftml", learning_rate=0.0)
    with pytest.raises(mx.MXNetError, match="FTML: the learning rate.*is 0"):
        opt.update(0, w, w.copy(), opt.create_state(0, w))


@pytest.mark.parametrize("name,kw", [("adam", {"learning_rate": 0.01}), CASES[9]],
                         ids=["adam", "ftml"])
def test_trainer_states_resume_with_each_parameters_update_count(name, kw, tmp_path):
    """Bias corrections read each parameter's count: a resumed run equals an unbroken one."""
    def net_and_trainer(weights=None):
        net = mx.gluon.nn.Dense(2, in_units=3)
        net.initialize(mx.init.One())
        if weights is not None:
            for p, w in zip(net.collect_params().values(), weights):
                p.set_data(nd.array(w))
        return net, mx.gluon.Trainer(net.collect_params(), name, dict(kw))

    def steps(net, trainer, n, k0):
        for k in range(k0, k0 + n):
            with mx.autograd.record():
                loss = (net(nd.full((2, 3), 0.1 * k + 0.2)) ** 2).sum()
            loss.backward()
            trainer.step(2)
    net, trainer = net_and_trainer()
    steps(net, trainer, 5, 0)
    want = [p.data().asnumpy() for p in net.collect_params().values()]
    net, trainer = net_and_trainer()
    steps(net, trainer, 3, 0)
    trainer.save_states(str(tmp_path / "s"))
    net, trainer = net_and_trainer([p.data().asnumpy() for p in net.collect_params().values()])
    trainer.load_states(str(tmp_path / "s"))
    assert trainer.optimizer._index_update_count == {0: 3, 1: 3}
    steps(net, trainer, 2, 3)
    for a, b in zip((p.data().asnumpy() for p in net.collect_params().values()), want):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# ------------------------------------------------------------------ contrib.GroupAdaGrad
def _group_adagrad_reference(w, grads, lr, rescale, clip, eps):
    hist = np.zeros((w.shape[0], 1))
    for k, grad in enumerate(grads):
        g = _clip(rescale * grad, clip)
        hist = hist + (g * g).mean(axis=1, keepdims=True)
        w = w - lr(k) * g / np.sqrt(hist + eps)
    return w, hist


def test_group_adagrad_is_mxnets_formula():
    rs = np.random.RandomState(2)
    opt = mx.optimizer.create("groupadagrad", learning_rate=0.1, eps=1e-4, rescale_grad=0.5,
                              clip_gradient=0.4, lr_scheduler=Halving(base_lr=0.1))
    assert type(opt) is mx.optimizer.contrib.GroupAdaGrad
    w0, grads = rs.randn(4, 3), [rs.randn(4, 3) for _ in range(5)]
    w, state = w0.copy(), opt.create_state(0, w0)
    assert state.shape == (4, 1)
    for g in grads:
        opt.update(0, w, g, state)
    want, hist = _group_adagrad_reference(w0, grads, lambda k: 0.1 * 0.5 ** ((k + 1) // 2),
                                          0.5, 0.4, 1e-4)
    np.testing.assert_allclose(w, want, rtol=1e-12)
    np.testing.assert_allclose(state, hist, rtol=1e-12)
    with pytest.raises(mx.MXNetError, match="only 2-D weights"):
        opt.create_state(1, np.ones(3))
    opt = mx.optimizer.create("groupadagrad", wd=0.1)
    with pytest.raises(mx.MXNetError, match="weight decay is not supported"):
        opt.update(0, w, w.copy(), opt.create_state(0, w))


def _group_adagrad_run(fused=True, capture_on=None, steps=10):
    if capture_on is not None:
        capture.set_enabled(capture_on)
    mx.random.seed(0)
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(6, in_units=5, use_bias=False, activation="tanh"),
            mx.gluon.nn.Dense(3, in_units=6, use_bias=False))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = mx.gluon.Trainer(net.collect_params(), "groupadagrad",
                               {"learning_rate": 0.1, "clip_gradient": 0.5})
    trainer._fused = fused
    rs, log = np.random.RandomState(0), []
    for _ in range(steps):
        x = nd.array(rs.randn(4, 5).astype(np.float32))
        before = mx.stats()
        with mx.autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        mid = mx.stats()["native_calls"]
        trainer.step(4)
        now = mx.stats()
        log.append((now["native_calls"] - before["native_calls"],
                    now["fused_update_steps"] - before["fused_update_steps"],
                    now["native_calls"] - mid))
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], log


@pytest.mark.usefixtures("fresh_capture")
def test_group_adagrad_one_native_call_and_captured_step():
    fused, log = _group_adagrad_run(True, capture_on=False)
    assert [update for _, _, update in log] == [1] * len(log)   # Trainer.step: one call
    eager, _ = _group_adagrad_run(False, capture_on=False)
    same_params(fused, eager)
    captured, log = _group_adagrad_run(True, capture_on=True)
    assert "update fused in" in capture.explain()
    same_params(captured, eager, rtol=1e-4)
    fused = [calls for calls, f, _ in log if f]
    assert len(fused) >= 4 and fused == [1] * len(fused), log   # the whole step: one call
