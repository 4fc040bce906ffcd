"""Trainer.step's fused update writes weights and states into their old buffers when nothing
else holds them (fused_update.py, donated outputs), and returns new buffers otherwise: the
parameters and states come out the same either way, and a buffer somebody holds keeps the
values it had."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, fused_update, gluon, nd

from test_fused_update import CASES


def _net(hybridize, seed=1):
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(6, activation="tanh", in_units=3), gluon.nn.Dense(2, in_units=6))
    net.initialize(mx.init.Xavier())
    list(net.collect_params().values())[0].lr_mult = 0.5
    if hybridize:
        net.hybridize()
    return net


def _train(opt, params, in_place=True, hybridize=False, steps=6, hold=None, monkeypatch=None):
    """Six steps; returns (parameters, states, in-place calls, written-back calls, held)."""
    if not in_place:
        monkeypatch.setattr(fused_update, "_unshared", lambda *a: False)
    net = _net(hybridize)
    trainer = gluon.Trainer(net.collect_params(), opt, dict(params))
    rs = np.random.RandomState(0)
    before = mx.stats()
    held = None
    for step in range(steps):
        x = nd.array(rs.randn(4, 3).astype(np.float32))
        y = nd.array(rs.randn(4, 2).astype(np.float32))
        with autograd.record():
            loss = gluon.loss.L2Loss()(net(x), y)
        loss.backward()
        if hold is not None and step == 2:
            held = hold(net, trainer)
        trainer.step(4)
    after = mx.stats()
    counts = {k: after[f"updates_{k}"] - before[f"updates_{k}"]
              for k in ("in_place", "written_back")}
    if not in_place:
        monkeypatch.undo()
    states = {i: tuple(np.copy(a) for a in (s if isinstance(s, tuple) else (s,)))
              for i, s in trainer._states.items() if s is not None}
    return [p.data().asnumpy() for p in net.collect_params().values()], states, counts, held


@pytest.mark.parametrize("opt,params", CASES)
def test_in_place_and_written_back_give_the_same_numbers(opt, params, monkeypatch):
    got, got_states, counts, _ = _train(opt, params)
    want, want_states, plain, _ = _train(opt, params, in_place=False, monkeypatch=monkeypatch)
    # (a step the capture fuses with the backward is neither: tracing/update_fusion.py)
    assert counts["in_place"] >= 4 and counts["written_back"] == 0
    assert plain["in_place"] == 0 and plain["written_back"] >= 4
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert got_states.keys() == want_states.keys()
    for i in got_states:
        for a, b in zip(got_states[i], want_states[i]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("opt,params", [CASES[2], CASES[7]])
def test_hybridized_steps_in_place(opt, params, monkeypatch):
    got, _, counts, _ = _train(opt, params, hybridize=True, steps=8)
    want, _, _, _ = _train(opt, params, hybridize=True, steps=8, in_place=False,
                           monkeypatch=monkeypatch)
    eager, _, _, _ = _train(opt, params, hybridize=False, steps=8)
    assert counts["in_place"] >= 1
    for a, b, c in zip(got, want, eager):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=2e-5, atol=1e-6)


def test_the_weight_buffer_is_updated_in_place():
    net = _net(False)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1})
    w = net[0].weight.data()
    x = nd.ones((2, 3))
    buffers = []
    for _ in range(4):
        with autograd.record():
            loss = net(x).sum()
        loss.backward()
        trainer.step(2)
        buffers.append((id(w._data), id(trainer._states[0][0])))
    assert len(set(buffers[1:])) == 1        # after the first step: the same buffers
    assert w._value.data is w._data          # the tape leaf reads the updated weight


def _hold_weight_view(net, trainer):
    data = net[0].weight.data()
    return np.asarray(data), data.asnumpy()   # (the buffer itself, its values)


def _hold_weight_slice(net, trainer):
    data = net[0].weight.data()
    return np.asarray(data)[1:], data.asnumpy()[1:]


def _hold_detached(net, trainer):
    data = net[0].weight.data()
    return data.detach(), data.asnumpy()


def _hold_state_tuple(net, trainer):
    state = trainer._states[0]
    return state, tuple(s.copy() for s in state)


@pytest.mark.parametrize("hold", [_hold_weight_view, _hold_weight_slice, _hold_detached,
                                  _hold_state_tuple])
def test_a_held_buffer_keeps_its_values(hold, monkeypatch):
    params = {"learning_rate": 0.1, "wd": 0.01}
    got, _, counts, (held, values) = _train("adam", params, hold=hold)
    want, _, _, _ = _train("adam", params, in_place=False, monkeypatch=monkeypatch)
    assert counts["written_back"] >= 1 and counts["in_place"] >= 1
    if isinstance(held, tuple):
        for h, v in zip(held, values):
            np.testing.assert_array_equal(h, v)
    else:
        np.testing.assert_array_equal(np.asarray(held), values)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_a_read_only_weight_is_written_back(monkeypatch):
    params = {"learning_rate": 0.1, "momentum": 0.9}

    def freeze(net, trainer):
        net[1].weight.data()._data.flags.writeable = False
    got, _, counts, _ = _train("sgd", params, hold=freeze)
    want, _, _, _ = _train("sgd", params, in_place=False, monkeypatch=monkeypatch)
    assert counts["written_back"] == 1 and counts["in_place"] >= 3
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_an_update_without_native_code_donates_by_copying(monkeypatch):
    from tracegrad.runtime import segments
    from tracegrad.runtime.donation import Donating
    params = {"learning_rate": 0.1}
    want, want_states, _, _ = _train("adam", params)
    # sqrt taken as an op without a native lowering: native segments around it, the
    # donated outputs copied into the weights and states after the call
    native_op = segments.native_op
    monkeypatch.setattr(segments, "native_op", lambda op: op.name != "sqrt" and native_op(op))
    monkeypatch.setattr(fused_update, "_CACHE", {})
    monkeypatch.setattr(fused_update, "_LAST", {})
    got, got_states, counts, _ = _train("adam", params)
    assert counts["in_place"] >= 4
    assert any(isinstance(f._in_place, Donating) for f in fused_update._CACHE.values())
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for i in got_states:
        for a, b in zip(got_states[i], want_states[i]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
