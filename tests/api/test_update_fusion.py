"""The captured step and trainer.step's update as one native call (tracing/update_fusion.py):
every optimizer gives the parameters the step run with capture off gives, and every way of
looking at a gradient, the loss or a weight between backward() and trainer.step() sees what
eager would have shown."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.codegen.index_errors import INDEX_ERROR
from capture_steps import batches as _batches, same_params as _same, small_net as _net


# each test starts and ends with no plan, capture on (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_capture")


class HalvingSchedule(mx.lr_scheduler.LRScheduler):
    def __call__(self, num_update):
        return self.base_lr * 0.5 ** (num_update // 3)


OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.05}),
    ("nag", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}),
    ("adam", {"learning_rate": 0.01, "wd": 0.01, "clip_gradient": 0.5, "beta1": 0.8}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "clip_gradient": 0.5}),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.1}),
    ("sgd", {"learning_rate": 0.2, "rescale_grad": 2.0, "momentum": 0.5,
             "lr_scheduler": "halving"}),
]


def _run(on, hybridize=True, opt="sgd", params=None, steps=12, between=None, after=None,
         sizes=None, trainers=None):
    """Parameters after `steps` usual steps, what `between` (called after backward, before
    trainer.step) and `after` returned, and per step (native calls, fused update?)."""
    capture.set_enabled(on)
    net = _net(hybridize)
    params = dict(params or {"learning_rate": 0.1})
    if params.get("lr_scheduler") == "halving":
        params["lr_scheduler"] = HalvingSchedule(base_lr=params["learning_rate"])
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if trainers is None:
        trainers = [gluon.Trainer(net.collect_params(), opt, params)]
    else:
        trainers = trainers(net)
    seen, log = [], []
    for i, (x, y) in enumerate(_batches(steps, sizes=sizes)):
        before = mx.stats()
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        loss.backward()
        if between is not None:
            seen.append(between(i, net, loss, out))
        for t in trainers:
            t.step(x.shape[0])
        if after is not None:
            seen.append(after(i, net, loss, out))
        now = mx.stats()
        log.append((now["native_calls"] - before["native_calls"],
                    now["fused_update_steps"] - before["fused_update_steps"]))
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], seen, log


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("opt,params", OPTIMIZERS)
def test_every_optimizer_fused_into_the_step_matches_capture_off(hybridize, opt, params):
    got, _, log = _run(True, hybridize, opt, params)
    assert "update fused in" in capture.explain()
    want, _, _ = _run(False, hybridize, opt, params)
    _same(got, want)
    fused = [calls for calls, f in log if f]
    assert len(fused) >= 5, log
    assert fused == [1] * len(fused), log     # forward, loss, adjoint and update: one call
    assert log[-1] == (1, 1)


def test_batch_size_changes_rescale_every_step():
    sizes = [4] * 6 + [6] * 4 + [3] * 9
    got, _, log = _run(True, sizes=sizes, steps=len(sizes),
                       params={"learning_rate": 0.1, "momentum": 0.9})
    want, _, _ = _run(False, sizes=sizes, steps=len(sizes),
                      params={"learning_rate": 0.1, "momentum": 0.9})
    _same(got, want)
    assert log[-1] == (1, 1), log


def test_gradients_loss_and_weights_read_between_backward_and_step():
    def between(i, net, loss, out):
        if i % 3 == 0:
            return [p.grad().asnumpy().copy() for p in net.collect_params().values()]
        if i % 3 == 1:
            return loss.asnumpy().copy()
        return [p.data().asnumpy().copy() for p in net.collect_params().values()]

    def after(i, net, loss, out):
        return loss.asnumpy().sum(), out.asnumpy().copy()
    got, seen, log = _run(True, between=between, after=after, steps=16)
    want, seen_off, _ = _run(False, between=between, after=after, steps=16)
    _same(got, want)
    for a, b in zip(seen, seen_off):
        if isinstance(a, tuple):
            np.testing.assert_allclose(a[0], b[0], rtol=2e-5)
            np.testing.assert_allclose(a[1], b[1], rtol=2e-5, atol=1e-6)
        else:
            _same(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b])
    assert mx.stats()["update_fusion_misses"] >= 0


def test_a_gradient_buffer_held_across_steps_is_never_stale():
    """An NDArray of p.grad() kept from before the loop reads the buffer without passing
    through its Variable: the step must not wait for trainer.step."""
    held = {}

    def between(i, net, loss, out):
        if not held:
            held["g"] = net[0].weight.grad()
        return held["g"].asnumpy().copy()
    got, seen, _ = _run(True, between=between, steps=14)
    held.clear()
    want, seen_off, _ = _run(False, between=between, steps=14)
    _same(got, want)
    _same(seen, seen_off)


def test_writes_and_grad_req_changes_between_backward_and_step():
    def between(i, net, loss, out):
        w = net[1].weight
        if i == 8:
            w.set_data(w.data() * 0.5)
        if i == 10:
            w.data()[:] = w.data() + 0.01
        if i == 12:
            gluon.utils.clip_global_norm(
                [p.grad() for p in net.collect_params().values()], 0.1)
        return None
    got, _, log = _run(True, between=between, steps=16)
    want, _, _ = _run(False, between=between, steps=16)
    _same(got, want)
    assert log[-1] == (1, 1), log


def test_grad_req_add_and_two_trainers_are_exact():
    def two(net):
        return [gluon.Trainer(net[0].collect_params(), "sgd", {"learning_rate": 0.1}),
                gluon.Trainer(net[1].collect_params(), "adam", {"learning_rate": 0.01})]
    got, _, log = _run(True, trainers=two, steps=14)
    want, _, _ = _run(False, trainers=two, steps=14)
    _same(got, want)

    def after(i, net, loss, out):
        if i == 7:      # from now on this weight's gradients add up (and never get zeroed)
            net[0].weight.grad_req = "add"
            net[0].weight.zero_grad()
        return None
    got, _, log = _run(True, after=after, steps=14)
    want, _, _ = _run(False, after=after, steps=14)
    _same(got, want)
    assert log[7] == (1, 1) and log[-1] == (2, 0), log   # 'add' is not fused: two calls


def test_a_weight_frozen_mid_training_is_exact():
    """grad_req 'null' on a fused step's weight: its gradient is no longer the plan's (the
    hold's check), so the step materializes and is learned again without it."""
    def after(i, net, loss, out):
        if i == 10:
            net[0].weight.grad_req = "null"
        if i == 16:
            net[0].weight.grad_req = "write"
        return None
    got, _, log = _run(True, after=after, steps=26)
    want, _, _ = _run(False, after=after, steps=26)
    _same(got, want)
    assert log[9] == (1, 1), log      # fused before the freeze
    assert (2, 0) in log[11:17], log  # the frozen step captured (its update not fused yet)
    assert log[-1] == (1, 1), log     # and fused again after it


def _tiny_fused(on):
    """The tutorial's tiny step (Dense(1), L2 loss, SGD), warmed until its update is fused;
    with capture off, the same step and no fusion."""
    capture.set_enabled(on)
    mx.random.seed(7)
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    net.hybridize()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    x, y = nd.array([[0.3, 0.5]]), nd.array([[1.5]])

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(1)
        return loss
    for _ in range(12):
        step()
    fusions = [p.fusion for plans in capture._STATE.plans.values() for p in plans
               if p.fusion is not None]
    assert len(fusions) == (1 if on else 0)
    return net, step, (fusions[0] if on else None)


def _weights(net):
    return [p.data().asnumpy().copy() for p in net.collect_params().values()]


def test_a_short_fused_call_that_refuses_makes_the_two_calls_instead():
    """Trainer.step makes a short fused call itself (straight_line.fused_update_run, the GIL
    held): when the call's guards refuse its arguments (nothing ran), the plan's own call and
    the usual update make the step, with the same numbers."""
    net, step, fusion = _tiny_fused(True)
    native = fusion.native
    assert native._held        # (the call the run makes itself)
    entry, refused = native._entry, []

    def refuse_once(packed):
        if not refused:
            refused.append(True)
            return 1            # a guard failed: nothing was written
        return entry(packed)
    native._entry = refuse_once
    try:
        before = mx.stats()
        losses = [step().asscalar() for _ in range(4)]
        after = mx.stats()
    finally:
        native._entry = entry
    got = _weights(net)
    assert refused and after["fused_update_steps"] - before["fused_update_steps"] == 3
    off_net, off_step, _ = _tiny_fused(False)
    want = [off_step().asscalar() for _ in range(4)]
    capture.set_enabled(True)
    np.testing.assert_allclose(losses, want, rtol=1e-6)
    _same(got, _weights(off_net))


def test_a_short_fused_call_that_fails_raises_and_changes_nothing():
    """A fused call stopped by an error (an index out of range: nothing written) raises it
    from trainer.step, leaves the weights as they were, and the next steps train as usual."""
    net, step, fusion = _tiny_fused(True)
    native = fusion.native
    entry, failed = native._entry, []

    def fail_once(packed):
        if not failed:
            failed.append(True)
            return INDEX_ERROR  # (a site the module does not have: the generic message)
        return entry(packed)
    before = _weights(net)
    native._entry = fail_once
    try:
        with pytest.raises(mx.MXNetError, match="out of range"):
            step()
    finally:
        native._entry = entry
    _same(_weights(net), before)
    for _ in range(6):
        step()
    got = _weights(net)
    off_net, off_step, _ = _tiny_fused(False)
    for _ in range(6):
        off_step()
    capture.set_enabled(True)
    _same(got, _weights(off_net))
    assert mx.stats()["fused_update_steps"] > 0


def _held_step():
    """An L2 step fused with its update, then one more step's backward(): held."""
    net = _net(True)
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    x, y = nd.ones((2, 5)), nd.zeros((2, 3))
    for _ in range(8):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(2)
    assert mx.stats()["fused_update_steps"] > 0
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    assert capture._STATE.step is not None and capture._STATE.step.held is not None
    return net, loss_fn, trainer, x, y, loss


def test_second_backward_and_new_record_scope_while_held():
    net, loss_fn, trainer, x, y, loss = _held_step()
    with pytest.raises(mx.base.MXNetError):
        loss.backward()          # the graph is freed, as eager says
    grads = [p.grad().asnumpy().copy() for p in net.collect_params().values()]
    # the same gradients eager computes for these weights
    capture.set_enabled(False)
    with autograd.record():
        loss2 = loss_fn(net(x), y)
    loss2.backward()
    _same(grads, [p.grad().asnumpy() for p in net.collect_params().values()], rtol=1e-6)
    capture.set_enabled(True)
    # a new record() scope between backward and step: the step is finished first
    for _ in range(6):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        with autograd.record():
            extra = net(x).sum()
        trainer.step(2)
    assert extra.shape == (1,)


def test_a_gradient_read_from_another_thread_while_held_gets_the_step_s_gradient():
    """Another thread's read finishes the held step there; the owner's trainer.step then
    updates as usual, with the same gradients."""
    import threading
    net, loss_fn, trainer, x, y, _ = _held_step()
    seen = []
    t = threading.Thread(target=lambda: seen.append(net[0].weight.grad().asnumpy().copy()))
    t.start()
    t.join()
    params = list(net.collect_params().values())
    weights = [p.data().asnumpy().copy() for p in params]
    grads = [p.grad().asnumpy().copy() for p in params]
    np.testing.assert_array_equal(seen[0], grads[0])
    trainer.step(2)                         # the usual update: the step was finished
    for p, w, g in zip(params, weights, grads):
        np.testing.assert_allclose(p.data().asnumpy(), w - 0.1 / 2 * g, rtol=1e-6, atol=1e-7)
    # those gradients are eager's for those weights
    capture.set_enabled(False)
    twin = _net(True)
    for p, w in zip(twin.collect_params().values(), weights):
        p.set_data(nd.array(w))
    with autograd.record():
        loss = loss_fn(twin(x), y)
    loss.backward()
    _same(grads, [p.grad().asnumpy() for p in twin.collect_params().values()], rtol=1e-6)


@pytest.mark.parametrize("hybridize", [True, False])
def test_two_identical_nets_trained_in_turns_are_both_captured_and_exact(hybridize):
    """Same structure, same compiled code: each net's step finds its own plan."""
    def train(on):
        capture.set_enabled(on)
        nets = [_net(hybridize, seed=s) for s in (1, 2)]
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        trainers = [gluon.Trainer(n.collect_params(), "sgd", {"learning_rate": 0.1,
                                                                "momentum": 0.5})
                    for n in nets]
        log = []
        for i, (x, y) in enumerate(_batches(16)):
            for net, trainer in zip(nets, trainers):
                before = mx.stats()
                with autograd.record():
                    loss = loss_fn(net(x), y)
                loss.backward()
                trainer.step(x.shape[0])
                now = mx.stats()
                log.append((now["native_calls"] - before["native_calls"],
                            now["fused_update_steps"] - before["fused_update_steps"]))
        capture.set_enabled(True)
        return [p.data().asnumpy() for n in nets for p in n.collect_params().values()], log
    got, log = train(True)
    want, _ = train(False)
    _same(got, want)
    assert log[-4:] == [(1, 1)] * 4, log


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_actions_between_backward_and_step_match_capture_off(seed):
    """Each step does one action between backward() and trainer.step(), chosen at random:
    every mix of held and finished steps ends with capture off's parameters and readings."""
    # eight plain steps (the fusion is learned), then a random action per step (6..11: none)
    actions = np.concatenate([np.full(8, 11), np.random.RandomState(seed).randint(0, 12, 24)])

    def between(i, net, loss, out):
        a, p = actions[i], list(net.collect_params().values())
        if a == 0:
            return p[i % len(p)].grad().asnumpy().copy()
        if a == 1:
            return float(loss.mean().asscalar())
        if a == 2:
            return out.asnumpy().copy()
        if a == 3:
            p[0].set_data(p[0].data() * 0.99)
        if a == 4:
            net.collect_params().zero_grad()
        if a == 5:
            with autograd.record():
                net(nd.ones((1, 5)))
        return None

    def after(i, net, loss, out):
        return float(loss.sum().asscalar()) if actions[i] % 2 else None
    params = {"learning_rate": 0.05, "momentum": 0.9, "wd": 0.01}
    got, seen, log = _run(True, between=between, after=after, steps=32, params=params)
    want, seen_off, _ = _run(False, between=between, after=after, steps=32, params=params)
    _same(got, want)
    for a, b in zip(seen, seen_off):
        if a is None:
            assert b is None
        else:
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert sum(f for _, f in log) >= 2, log      # some steps were still fused


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("opt,params", [OPTIMIZERS[1], OPTIMIZERS[3]])
def test_fused_step_writes_weights_states_and_gradients_in_place(hybridize, opt, params):
    """Once fused, the one call writes the new weights, optimizer states and gradients into
    the buffers they already had (donated outputs), as MXNet's update kernels do."""
    def buffers(i, net, loss, out):
        ps = list(net.collect_params().values())
        return tuple(id(p.data()._data) for p in ps) + tuple(id(p.grad()._data) for p in ps)
    got, seen, log = _run(True, hybridize, opt, params, after=buffers)
    assert [f for _, f in log[-5:]] == [1] * 5, log
    assert len(set(seen[-5:])) == 1, "the fused steps allocated new weights or gradients"
    want, _, _ = _run(False, hybridize, opt, params)
    _same(got, want)


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("hold", ["detach", "numpy view", "state", "adam state"])
def test_a_buffer_the_user_holds_keeps_its_old_values(hybridize, hold):
    """A weight buffer (or optimizer state) somebody else references cannot be written in
    place: that step's step and update are two calls and the update writes new buffers, so
    what the user holds keeps the values it had, exactly as with capture off; the new
    buffers are nobody else's, so the next steps are fused again."""
    kept = {}

    def between(i, net, loss, out):
        if i == 7:
            if hold == "detach":
                kept["a"] = net[0].weight.data().detach()
            elif hold == "numpy view":
                kept["a"] = net[0].weight.data()._data[1:3]
        return None

    def after(i, net, loss, out):
        if i == 7 and hold == "state":
            trainer_states = [s for s in _STATES if s]
            kept["a"] = trainer_states[-1][0]
        elif i == 7 and hold == "adam state":    # (a state tuple's array: the variances)
            trainer_states = [s for s in _STATES if s]
            kept["a"] = trainer_states[-1][1][1]
        return kept["a"].asnumpy() if hasattr(kept.get("a"), "asnumpy") else \
            np.array(kept["a"]) if "a" in kept else None

    def trainers(net):
        t = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01}) \
            if hold == "adam state" else \
            gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
        _STATES.append(t._states)
        return [t]
    got, seen, log = _run(True, hybridize, steps=12, between=between, after=after,
                          trainers=trainers)
    ref = [s for s in seen if s is not None]
    kept.clear()
    want, seen_off, _ = _run(False, hybridize, steps=12, between=between, after=after,
                             trainers=trainers)
    _same(got, want)
    for a, b in zip(ref, [s for s in seen_off if s is not None]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert all(np.array_equal(a, ref[0]) for a in ref), "a held buffer was written in place"
    first = 8 if "state" in hold else 7     # (the state is taken after trainer.step)
    assert [calls for calls, _ in log[first:]] == [2] + [1] * (11 - first), log


_STATES: list = []


@pytest.mark.parametrize("hybridize", [True, False])
def test_gradients_land_in_their_own_buffers_whatever_the_trainers_order(hybridize):
    """The Trainer lists the parameters in another order than the step computes their
    gradients, and they all have the same shapes: each gradient still goes to its own
    parameter (and each update uses it), as with capture off."""
    def run(on):
        capture.set_enabled(on)
        mx.random.seed(4)
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(4, activation="tanh", in_units=4, use_bias=False),
                gluon.nn.Dense(4, in_units=4, use_bias=False))
        net.initialize(mx.init.Xavier())
        if hybridize:
            net.hybridize()
        params = list(net.collect_params().values())
        trainer = gluon.Trainer(params[::-1], "sgd", {"learning_rate": 0.1, "momentum": 0.5})
        loss_fn = gluon.loss.L2Loss()
        rs = np.random.RandomState(1)
        fused = 0
        for _ in range(10):
            x = nd.array(rs.randn(3, 4).astype(np.float32))
            y = nd.array(rs.randn(3, 4).astype(np.float32))
            before = mx.stats()["fused_update_steps"]
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(3)
            fused += mx.stats()["fused_update_steps"] - before
        grads = [p.grad().asnumpy() for p in params]
        capture.set_enabled(True)
        return [p.data().asnumpy() for p in params], grads, fused
    (params, grads, fused), (params_off, grads_off, _) = run(True), run(False)
    assert fused >= 4
    _same(params, params_off)
    _same(grads, grads_off)
