"""The fast paths of a captured step (block.py, capture.py, trainer.py, fused_update.py): a
hybridized block's call straight to capture, the replay of gluon's pure layers and losses, and
Trainer.step through a bound fused update. Each is shown to be taken, and every change that
must make it fall back (batch size, loss and its configuration, regularizer, grad_req, reading
the loss, metric, print, set_data, learning rate, training mode, structure) gives the
parameters the same steps give with capture off."""
import functools

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.gluon import block as _block
from capture_steps import StepCounts, same_params as _same, small_net


# each test starts and ends with no plan, capture on (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_capture")


def _net(hybridize):
    return small_net(hybridize, seed=5)


def _data(i, batch=4):
    rs = np.random.RandomState(i)
    return (nd.array(rs.randn(batch, 5).astype(np.float32)),
            nd.array(rs.randint(0, 3, batch).astype(np.float32)))


def _run(hybridize, on, steps=16, change=None, loss_fn=None, opt="sgd", params=None,
         read=None):
    """Parameters after `steps` usual steps; `change(i, net, loss_fn, trainer)` runs before
    step i and may return a new loss_fn; `read(i, loss, out)` after backward. Also returns
    per step (native calls, captured?)."""
    capture.set_enabled(on)
    net = _net(hybridize)
    loss_fn = loss_fn or gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), opt, params or {"learning_rate": 0.1})
    log = []
    for i in range(steps):
        if change is not None:
            loss_fn = change(i, net, loss_fn, trainer) or loss_fn
        x, y = _data(i, batch=getattr(loss_fn, "batch", 4))
        before = mx.stats()
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        loss.backward()
        if read is not None:
            read(i, loss, out)
        trainer.step(x.shape[0])
        after = mx.stats()
        log.append((after["native_calls"] - before["native_calls"],
                    after["captured_steps"] - before["captured_steps"]))
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], log


def _both(hybridize, **kw):
    got, log = _run(hybridize, True, **kw)
    want, _ = _run(hybridize, False, **kw)
    _same(got, want)
    return log


class _Count:
    """Counts calls of a class's hybrid_forward (the class stays gluon's own)."""

    def __init__(self, monkeypatch, cls):
        self.n = 0
        orig = cls.hybrid_forward

        @functools.wraps(orig)
        def counted(block, *args, **kwargs):
            self.n += 1
            return orig(block, *args, **kwargs)
        monkeypatch.setattr(cls, "hybrid_forward", counted)


@pytest.mark.parametrize("hybridize", [True, False])
def test_captured_steps_skip_the_blocks_python_and_make_one_native_call(monkeypatch,
                                                                         hybridize):
    losses = _Count(monkeypatch, gluon.loss.SoftmaxCrossEntropyLoss)
    dense = _Count(monkeypatch, gluon.nn.Dense)
    counts = []

    def read(i, loss, out):
        counts.append((losses.n, dense.n))
    log = _both(hybridize, read=read)
    captured = [i for i, (_, c) in enumerate(log) if c]
    assert len(captured) >= 10, log
    # the step and the fused update: two calls, then one once the plan learned the update
    assert [log[i][0] for i in captured] == [2, 2] + [1] * (len(captured) - 2), log
    # the last captured steps ran neither the loss's nor the layers' Python
    last = captured[-4:]
    assert counts[last[-1]] == counts[last[0] - 1], counts
    # (with capture off every step runs them: the counter went on counting)
    assert losses.n >= 16 + counts[last[-1]][0]


def test_hybridized_call_goes_straight_to_capture(monkeypatch):
    from tracegrad.tracing import jit as _jit
    calls = []
    orig = _jit.JitFunction._call

    def spy(self, args, kwargs):
        calls.append(1)
        return orig(self, args, kwargs)
    monkeypatch.setattr(_jit.JitFunction, "_call", spy)
    per_step = []

    def read(i, loss, out):
        per_step.append(len(calls))
    log = _run(True, True, read=read)[1]
    captured = [i for i, (_, c) in enumerate(log) if c]
    assert len(captured) >= 10
    assert per_step[captured[-1]] == per_step[captured[-5]], per_step


class _Scaled(gluon.HybridBlock):
    """A Dense layer times a Python number: hybridize bakes the number into the compiled
    function, as MXNet's cached graph does; unhybridized, the forward reads it anew."""

    def __init__(self):
        super().__init__()
        self.dense = gluon.nn.Dense(3, in_units=5)
        self.scale = 1.0

    def forward(self, x):
        return self.dense(x) * self.scale


def _train_hybridized(make_net, on, step_loss, opt="sgd", params=None, steps=20, before=None):
    """Parameters after `steps` steps of `make_net()`'s block (initialized, hybridized;
    `step_loss(i, net)` -> (step i's loss, its batch size) under record(); `before(i, net)`
    runs before step i), and per step (native calls, captured steps)."""
    capture.set_enabled(on)
    mx.random.seed(5)
    net = make_net()
    net.initialize()
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), opt, params or {"learning_rate": 0.1})
    log = StepCounts()
    for i in range(steps):
        if before is not None:
            before(i, net)
        with log.step():
            with autograd.record():
                loss, batch = step_loss(i, net)
            loss.backward()
            trainer.step(batch)
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], log


def _loss_on_data(loss_fn):
    """step_loss for _train_hybridized: `loss_fn(net(x), y)` on batch i of _data."""
    def step_loss(i, net):
        x, y = _data(i)
        return loss_fn(net(x), y), x.shape[0]
    return step_loss


def test_hybridize_off_and_on_again_mid_training():
    """hybridize() drops the block's compiled function and its captured-call memo: the
    steps after it run the block's new form (eager, reading the attribute set after it;
    then compiled again), exactly as with capture off."""
    def before(i, net):
        if i == 8:
            net.hybridize(False)
            net.scale = 0.5
        if i == 14:
            net.hybridize()
    step_loss = _loss_on_data(gluon.loss.SoftmaxCrossEntropyLoss())
    got, log = _train_hybridized(_Scaled, True, step_loss, steps=26, before=before)
    want, _ = _train_hybridized(_Scaled, False, step_loss, steps=26, before=before)
    _same(got, want)
    assert sum(c for _, c in log[:8]) >= 4 and log[-1][1] == 1, log


class _TwoHeads(gluon.HybridBlock):
    """A hybridized block with two outputs (a tuple): its captured call returns the
    structure the block does."""

    def __init__(self):
        super().__init__()
        self.body = gluon.nn.Dense(4, in_units=5, activation="tanh")
        self.a, self.b = gluon.nn.Dense(3, in_units=4), gluon.nn.Dense(1, in_units=4)

    def forward(self, x):
        h = self.body(x)
        return self.a(h), self.b(h)


def test_a_block_with_two_outputs_goes_straight_to_capture_and_is_exact():
    ce, l2 = gluon.loss.SoftmaxCrossEntropyLoss(), gluon.loss.L2Loss()

    def loss(out, y):
        assert isinstance(out, tuple) and len(out) == 2
        return ce(out[0], y) + l2(out[1], y.reshape((-1, 1)))
    adam = {"learning_rate": 0.01}
    got, log = _train_hybridized(_TwoHeads, True, _loss_on_data(loss), "adam", adam)
    want, _ = _train_hybridized(_TwoHeads, False, _loss_on_data(loss), "adam", adam)
    _same(got, want)
    assert sum(c for _, c in log[-8:]) == 8, log


def test_a_block_called_with_two_shapes_in_one_step_is_captured_and_exact(monkeypatch):
    """One hybridized net on a batch of 6 and a batch of 3 in every step: two variants.
    The remembered call of the one may meet the other's turn; it declines (the JitFunction
    picks the variant) instead of breaking the pending step, so the step is captured. The
    remembered calls are made once per variant, not at every step."""
    made = []
    real = _block._captured_call

    def counted(*args):
        made.append(args[1].id)
        return real(*args)
    monkeypatch.setattr(_block, "_captured_call", counted)

    def make_net():
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(8, activation="relu", in_units=5), gluon.nn.Dense(1, in_units=8))
        return net

    def step_loss(i, net):
        rs = np.random.RandomState(i)
        xa, xb = (nd.array(rs.randn(n, 5).astype(np.float32)) for n in (6, 3))
        return net(xa).mean() + 0.5 * (net(xb) ** 2).mean(), 1
    got, log = _train_hybridized(make_net, True, step_loss, steps=24)
    want, _ = _train_hybridized(make_net, False, step_loss, steps=24)
    _same(got, want)
    assert log[-8:] == [(1, 1)] * 8, log
    assert len(made) == len(set(made)) == 2, made


def test_batch_size_change_falls_back_and_is_captured_again():
    class Batch(gluon.loss.SoftmaxCrossEntropyLoss):
        pass

    def change(i, net, loss_fn, trainer):
        if i == 9:
            loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
            loss_fn.batch = 6           # a new batch size from step 9 on
            return loss_fn
    for hybridize in (True, False):
        log = _both(hybridize, change=change, steps=20)
        assert sum(c for _, c in log[:9]) >= 5 and sum(c for _, c in log[14:]) >= 5, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_loss_switch_and_loss_configuration_change(hybridize):
    def change(i, net, loss_fn, trainer):
        if i == 6:
            l2 = gluon.loss.L2Loss()
            return lambda out, y: l2(out, nd.one_hot(y, 3))
        if i == 7:
            return gluon.loss.SoftmaxCrossEntropyLoss()
        if i == 11:
            loss_fn._weight = 3.0               # the replayed loss's configuration moved
    log = _both(hybridize, change=change, steps=20)
    assert sum(c for _, c in log[12:]) >= 3, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_regularizer_term_added_mid_training(hybridize):
    state = {"reg": False}

    def make_loss():
        base = gluon.loss.SoftmaxCrossEntropyLoss()

        class WithReg:
            batch = 4

            def __call__(self, out, y):
                loss = base(out, y)
                if state["reg"]:
                    loss = loss + 0.01 * (out * out).sum()
                return loss
        return WithReg()

    def change(i, net, loss_fn, trainer):
        state["reg"] = i >= 8
    for on in (True, False):
        state["reg"] = False
    got, log = _run(hybridize, True, change=change, loss_fn=make_loss(), steps=18)
    state["reg"] = False
    want, _ = _run(hybridize, False, change=change, loss_fn=make_loss(), steps=18)
    _same(got, want)
    assert sum(c for _, c in log[12:]) >= 3, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_grad_req_add_set_data_and_learning_rate_changes(hybridize):
    def change(i, net, loss_fn, trainer):
        params = list(net.collect_params().values())
        if i == 5:
            trainer.set_learning_rate(0.03)
        if i == 7:
            params[0].set_data(params[0].data().asnumpy() * 0.5)
        if i == 9:
            net.collect_params().setattr("grad_req", "add")
            net.collect_params().zero_grad()
        if i == 12:
            net.collect_params().setattr("grad_req", "write")
        if i == 13:
            params[1].grad_req = "null"         # freeze one parameter
    log = _both(hybridize, change=change, steps=20)
    assert sum(c for _, c in log[15:]) >= 2, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_reading_the_loss_metric_and_print_after_backward(hybridize, capsys):
    metric = mx.metric.Accuracy()
    seen = []

    def read(i, loss, out):
        seen.append(float(loss.mean().asscalar()))
        metric.update(_data(i)[1], out)
        if i % 4 == 0:
            print(loss)
    got, log = _run(hybridize, True, read=read)
    ref, acc = list(seen), metric.get()[1]
    seen.clear()
    metric.reset()
    want, _ = _run(hybridize, False, read=read)
    _same(got, want)
    np.testing.assert_allclose(ref, seen, rtol=1e-5)
    assert acc == metric.get()[1]
    assert sum(c for _, c in log) >= 8, log
    assert "NDArray" in capsys.readouterr().out


def test_training_mode_and_structure_changes_fall_back():
    def change(i, net, loss_fn, trainer):
        if i == 6:
            net.add(gluon.nn.Activation("tanh"))     # a new child: new structure
        if i == 10:
            net.hybridize()                          # hybridize again drops what was compiled
    for hybridize in (True, False):
        log = _both(hybridize, change=change, steps=18)
        assert sum(c for _, c in log[14:]) >= 2, log

    # predict mode inside record: the compiled variant differs (training is in its key)
    capture.set_enabled(True)
    net = _net(True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    outs = []
    for i in range(8):
        x, y = _data(i)
        with autograd.record(train_mode=i < 5):
            loss = loss_fn(net(x), y)
        loss.backward()
        outs.append(net[0].weight.grad().asnumpy())
    capture.set_enabled(False)
    net2 = _net(True)
    for i in range(8):
        x, y = _data(i)
        with autograd.record(train_mode=i < 5):
            loss = loss_fn(net2(x), y)
        loss.backward()
        np.testing.assert_allclose(outs[i], net2[0].weight.grad().asnumpy(), rtol=1e-5,
                                   atol=1e-7)


def test_a_replayed_block_checks_its_inputs_and_reports_errors():
    net = _net(False)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for i in range(8):
        x, y = _data(i)
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
    assert _block._REPLAYS, "nothing learned"
    with pytest.raises(mx.base.MXNetError, match="in_units|features|expects"):
        with autograd.record():
            net(nd.ones((4, 7)))
    with pytest.raises(mx.base.MXNetError, match="sparse label"):
        with autograd.record():
            loss_fn(net(_data(0)[0]), nd.ones((5,)))


def test_trainer_binding_matches_per_parameter_updates_and_still_finds_stale_gradients():
    def train(fused, opt, params):
        capture.set_enabled(False)
        net = _net(True)
        trainer = gluon.Trainer(net.collect_params(), opt, params)
        trainer._fused = fused
        plist = list(net.collect_params().values())
        loss_fn = gluon.loss.L2Loss()
        for i in range(14):
            if i == 4:
                trainer.set_learning_rate(0.02)
            if i == 6:
                trainer.optimizer.wd = 0.01
            if i == 8 and hasattr(trainer.optimizer, "momentum"):
                trainer.optimizer.momentum = 0.5
            if i == 10:
                plist[2].lr_mult = 0.1
            x, _ = _data(i, batch=3 + i % 2)
            with autograd.record():
                loss = loss_fn(net(x), nd.ones((x.shape[0], 3)))
            loss.backward()
            trainer.step(x.shape[0])
        return [p.data().asnumpy() for p in plist], trainer
    for opt, params in [("sgd", {"learning_rate": 0.1}),
                        ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
                        ("adam", {"learning_rate": 0.01})]:
        got, trainer = train(True, opt, params)
        want, _ = train(False, opt, params)
        _same(got, want)
        assert trainer._bound is not None, "the bound update was never used"
    # a parameter backward did not reach is stale: the bound path still says so
    net = _net(True)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(3):
        with autograd.record():
            loss = net(_data(0)[0]).sum()
        loss.backward()
        trainer.step(4)
    assert trainer._bound is not None
    with autograd.record():
        loss = net[0](_data(0)[0]).sum()         # only the first layer
    loss.backward()
    with pytest.raises(UserWarning, match="stale|not been updated"):
        trainer.step(4)


def test_what_replay_remembers_goes_with_the_block():
    import gc
    import weakref
    net = _net(False)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for i in range(8):
        x, y = _data(i)
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(4)
    assert id(net) in _block._REPLAYS and id(loss_fn) in _block._REPLAYS
    ref, key = weakref.ref(net), id(net)
    capture._reset_for_tests()      # the plans hold parameters' tape values, not the block
    del net, trainer, loss, x, y
    gc.collect()
    assert ref() is None
    assert key not in _block._REPLAYS


def test_a_layer_called_twice_per_step_is_replayed_at_both_points(monkeypatch):
    dense = _Count(monkeypatch, gluon.nn.Dense)

    def train(on):
        capture.set_enabled(on)
        mx.random.seed(2)
        shared = gluon.nn.Dense(5, activation="tanh", in_units=5)
        head = gluon.nn.Dense(3, in_units=5)
        shared.initialize()
        head.initialize()
        params = shared.collect_params()
        params.update(head.collect_params())
        trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        counts = []
        for i in range(14):
            x, y = _data(i)
            with autograd.record():
                loss = loss_fn(head(shared(shared(x))), y)    # the same weights twice
            loss.backward()
            trainer.step(4)
            counts.append(dense.n)
        capture.set_enabled(True)
        return [p.data().asnumpy() for p in params.values()], counts
    got, counts = train(True)
    want, _ = train(False)
    _same(got, want)
    assert counts[-1] == counts[-5], counts      # the last steps ran no Dense Python


def test_a_replayed_block_whose_input_is_a_variable_delivers_its_gradient():
    def train(on):
        capture.set_enabled(on)
        net = _net(False)
        loss_fn = gluon.loss.L2Loss()
        grads = []
        x = _data(0)[0]
        x.attach_grad()                 # the same variable every step
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        for i in range(10):
            with autograd.record():
                loss = loss_fn(net(x), nd.ones((4, 3)))
            loss.backward()
            trainer.step(4)
            grads.append(x.grad.asnumpy())
        capture.set_enabled(True)
        return grads, mx.stats()["captured_steps"]
    before = mx.stats()["captured_steps"]
    got, after = train(True)
    assert after - before >= 4
    want, _ = train(False)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


def test_a_replayed_block_compares_its_attributes_only_after_some_block_set_one(monkeypatch):
    """Block.__setattr__/__delattr__ bump ATTRIBUTE_VERSION: while it stands, a replay skips
    comparing the blocks' attributes; after any block set one, each replayed block compares
    once (and finds itself unchanged when another block moved), and a changed or deleted
    attribute of the loss makes its replay fall back."""
    calls = []
    real = _block._same_objects
    monkeypatch.setattr(_block, "_same_objects", lambda now, then: calls.append(1) or
                        real(now, then))
    other = gluon.nn.Dense(2)
    seen = {"on": True}

    def change(i, net, loss_fn, trainer):
        if i == 8:
            calls.clear()
        if i == 11 and seen["on"]:
            assert not calls            # steps 8-10: the version stood, nothing compared
        if i == 11:
            other.some_setting = 1      # another block's attribute: compared once, unchanged
        if i == 12 and seen["on"]:
            seen["compares"] = len(calls)
            assert seen["compares"] >= 1       # (one per replayed block: layers and loss)
        if i == 13 and seen["on"]:
            assert len(calls) == seen["compares"]
        if i == 14:
            loss_fn._batch_axis = 1     # the loss's own: its replay is not taken
        if i == 15:
            loss_fn._batch_axis = 0
        if i == 16:
            del loss_fn._batch_axis     # (the loss then fails as it would eagerly: put back)
            loss_fn._batch_axis = 0
    got, log = _run(False, True, change=change, steps=20)
    seen["on"] = False
    want, _ = _run(False, False, change=change, steps=20)
    _same(got, want)
    assert all(c == 1 for _, c in log[17:]), log
