"""mx.lr_scheduler: each schedule against its closed form (MXNet 1.x docs), warm-up, and the
wiring into optimizers and the Trainer (num_update counts from 1 at the first step)."""
import math

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, gluon
from tracegrad.lr_scheduler import (CosineScheduler, FactorScheduler, MultiFactorScheduler,
                                    PolyScheduler)


def test_factor_scheduler_closed_form_and_floor():
    s = FactorScheduler(step=3, factor=0.5, base_lr=1.0, stop_factor_lr=0.1)
    got = [s(t) for t in range(1, 16)]
    want = [max(1.0 * 0.5 ** ((t - 1) // 3), 0.1) for t in range(1, 16)]
    np.testing.assert_allclose(got, want)


def test_factor_scheduler_resumed_count_skips_steps():
    s = FactorScheduler(step=10, factor=0.9, base_lr=0.2)
    assert s(35) == pytest.approx(0.2 * 0.9 ** 3)


def test_multifactor_scheduler():
    s = MultiFactorScheduler(step=[2, 5, 7], factor=0.1, base_lr=1.0)
    got = [s(t) for t in range(1, 10)]
    want = [1.0 * 0.1 ** sum(t > k for k in (2, 5, 7)) for t in range(1, 10)]
    np.testing.assert_allclose(got, want)


def test_poly_and_cosine_with_linear_warmup():
    p = PolyScheduler(max_update=20, base_lr=0.5, pwr=2, final_lr=0.1, warmup_steps=4,
                      warmup_begin_lr=0.1)
    c = CosineScheduler(max_update=20, base_lr=0.5, final_lr=0.1, warmup_steps=4,
                        warmup_begin_lr=0.1)
    for t in range(0, 26):
        if t < 4:
            w = 0.1 + (0.5 - 0.1) * t / 4
            assert p(t) == pytest.approx(w) and c(t) == pytest.approx(w)
            continue
        u = (min(t, 20) - 4) / 16
        assert p(t) == pytest.approx(0.1 + 0.4 * (1 - u) ** 2)
        assert c(t) == pytest.approx(0.1 + 0.4 * (1 + math.cos(math.pi * u)) / 2)


def test_constant_warmup_and_bad_arguments():
    s = FactorScheduler(step=5, base_lr=1.0, warmup_steps=3, warmup_begin_lr=0.2,
                        warmup_mode="constant")
    assert [s(t) for t in range(4)] == [0.2, 0.2, 0.2, 1.0]
    with pytest.raises(ValueError, match="warmup_mode"):
        FactorScheduler(step=5, warmup_mode="cubic")
    with pytest.raises(ValueError, match="increasing"):
        MultiFactorScheduler(step=[3, 2])
    with pytest.raises(ValueError, match="factor"):
        FactorScheduler(step=2, factor=1.5)
    with pytest.raises(ValueError, match="max_update"):
        PolyScheduler(max_update=0)


def test_optimizer_learning_rate_overrides_scheduler_base_lr(capsys):
    s = FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    opt = mx.optimizer.create("sgd", learning_rate=0.4, lr_scheduler=s)
    assert s.base_lr == 0.4 and "overwritten" in capsys.readouterr().out
    s2 = FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    opt2 = mx.optimizer.SGD(lr_scheduler=s2)  # no learning_rate: the scheduler's base_lr stands
    assert opt2.learning_rate == 1.0 and opt.learning_rate == 0.4
    with pytest.raises(UserWarning):
        opt.set_learning_rate(0.1)


def test_trainer_steps_follow_the_schedule():
    """w -= lr_t * g with g = 1: the weight's decrements are exactly the scheduled rates."""
    p = gluon.Parameter("w", shape=(1,), init=mx.init.Zero())
    p.initialize()
    sched = MultiFactorScheduler(step=[2, 3], factor=0.5)
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0, "lr_scheduler": sched})
    values = []
    for _ in range(5):
        with autograd.record():
            loss = p.data().sum()
        loss.backward()
        trainer.step(1)
        values.append(float(p.data().asscalar()))
    steps = -np.diff([0.0] + values)
    np.testing.assert_allclose(steps, [1.0, 1.0, 0.5, 0.25, 0.25])
    assert trainer.learning_rate == 0.25


def test_begin_num_update_offsets_the_count():
    sched = FactorScheduler(step=10, factor=0.1, base_lr=1.0)
    opt = mx.optimizer.SGD(learning_rate=1.0, lr_scheduler=sched, begin_num_update=10)
    w, g = np.zeros(1, np.float32), np.ones(1, np.float32)
    opt.update(0, w, g, None)  # count 11 > 10: decayed once
    np.testing.assert_allclose(w, [-0.1])
    assert opt.num_update == 11


def test_schedulers_log_mxnets_lines(caplog):
    """Training logs are read for these lines (MXNet 1.9.1 lr_scheduler.py): each change,
    and FactorScheduler's floor once reached."""
    import logging
    from tracegrad import lr_scheduler
    with caplog.at_level(logging.INFO):
        multi = lr_scheduler.MultiFactorScheduler(step=[2], factor=0.5, base_lr=1.0)
        multi(3)
        factor = lr_scheduler.FactorScheduler(step=1, factor=0.1, stop_factor_lr=0.05,
                                              base_lr=1.0)
        factor(2)
        factor(3)
    assert [r.getMessage() for r in caplog.records] == [
        "Update[3]: Change learning rate to 5.00000e-01",
        "Update[2]: Change learning rate to 1.00000e-01",
        "Update[3]: now learning rate arrived at 5.00000e-02, will not change in the future"]
