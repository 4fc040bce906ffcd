"""A captured step in its steady state runs three one-piece functions (straight_line.py): the
plan's first op makes the step in its binder (`fast_first`, called by the block's captured
call), backward() of a held step is capture.backward's checks and the hold in one function
(`Fusion.fast_backward`), and a pure block with one replay is checked and replayed by one
function (block._replay_quick). Each is shown to be taken, to make what the general path
makes, and to hand every case it does not check itself to the general path: the steps then
give the parameters and losses that the same steps give with capture off."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.gluon import block as _block
from tracegrad.tracing import capture as _capture
from tracegrad.tracing import update_fusion as _fusion
from capture_steps import same_params

pytestmark = pytest.mark.usefixtures("fresh_capture")


def _model(hybridize=True, seed=0):
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(6, activation="relu", in_units=4), gluon.nn.Dense(2, in_units=6))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    return net


def _batch(i, rows=3):
    rs = np.random.RandomState(i)
    return nd.array(rs.randn(rows, 4)), nd.array(rs.randn(rows, 2))


def _run(on, steps=14, change=None, read=None, hybridize=True, opt="sgd"):
    """Parameters and losses after `steps` usual steps; `change(i, net, loss_fn, trainer)`
    runs before step i (it may return another loss), `read(i, out, loss)` after backward."""
    capture.set_enabled(on)
    try:
        net = _model(hybridize)
        loss_fn = gluon.loss.L2Loss()
        trainer = gluon.Trainer(net.collect_params(), opt, {"learning_rate": 0.05})
        losses = []
        for i in range(steps):
            if change is not None:
                loss_fn = change(i, net, loss_fn, trainer) or loss_fn
            x, y = _batch(i % 3)
            with autograd.record():
                out = net(x)
                loss = loss_fn(out, y)
            loss.backward()
            if read is not None:
                read(i, out, loss)
            del out
            trainer.step(x.shape[0])
            losses.append(loss.asnumpy())
        return [p.data().asnumpy() for p in net.collect_params().values()], losses
    finally:
        capture.set_enabled(True)


def _same(**kw):
    got, got_losses = _run(True, **kw)
    want, want_losses = _run(False, **kw)
    same_params(got, want)
    for g, w in zip(got_losses, want_losses):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def _steady(net, loss_fn, trainer, steps=8):
    x, y = _batch(0)
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(3)
    return x, y


def test_the_steady_step_runs_the_one_piece_functions(monkeypatch):
    net = _model()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    x, y = _steady(net, loss_fn, trainer)
    (plan,), = _capture._STATE.plans.values()
    assert "step = _NEW(_Step)" in plan.ops[0].fast_first.source
    assert "head._leaf" in plan.fusion.fast_backward.source
    quick = _block._REPLAYS[id(loss_fn)][7][0]
    assert "fast(R, args)" in quick.source
    general = []
    for module, name in ((_capture, "defer_call"), (_block, "_replay_or_learn"),
                         (_capture, "Step")):
        orig = getattr(module, name)

        def counted(*args, _orig=orig, _name=name, **kwargs):
            general.append(_name)
            return _orig(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    monkeypatch.setattr(_fusion.Fusion, "hold", lambda *a: general.append("hold"))
    block_names = dict(_block._CAPTURED_NAMES)
    before = mx.stats()["fused_update_steps"]
    for _ in range(3):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(3)
    assert mx.stats()["fused_update_steps"] == before + 3
    assert general == [], general
    assert block_names == _block._CAPTURED_NAMES


def test_the_first_op_binder_makes_the_step_the_general_path_makes():
    net = _model()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    x, y = _steady(net, loss_fn, trainer)
    (plan,), = _capture._STATE.plans.values()
    made = []
    for fresh in (True, False):
        pop = plan.ops[0]
        keep = pop.fast_first
        if not fresh:
            pop.fast_first = None        # (captured_call then takes defer_call's path)
        try:
            with autograd.record():
                out = net(x)
                step = _capture._STATE.step
                made.append(({k: list(v) if type(v) is list else v
                              for k, v in vars(step).items()}, out._leaf))
                loss = loss_fn(out, y)
            loss.backward()
            trainer.step(3)
        finally:
            pop.fast_first = keep
    (a, leaf_a), (b, leaf_b) = made
    assert leaf_a == leaf_b
    assert sorted(a) == sorted(b)
    for name in a:
        if name in ("leaf_data", "refs", "log"):
            continue
        assert a[name] is b[name] or a[name] == b[name], name
    assert [d is None for d in a["leaf_data"]] == [d is None for d in b["leaf_data"]]
    # (the same input array; the weights' arrays as the trainer left them: compared by type)
    assert any(d is x._data for d in a["leaf_data"]) and any(d is x._data for d in b["leaf_data"])
    assert [(d.shape, d.dtype) for d in a["leaf_data"] if d is not None] == \
        [(d.shape, d.dtype) for d in b["leaf_data"] if d is not None]
    assert [r is None for r in a["refs"]] == [r is None for r in b["refs"]]
    # (one call logged: its kind, entry, arguments and arrays; the parameter lists are equal)
    (la,), (lb,) = a["log"], b["log"]
    assert la[:3] == lb[:3] and len(la[3]) == len(lb[3]) and len(la[4]) == len(lb[4])
    # the class values of the fields a new step does not set are immutable
    for name in ("writes", "written", "n_assign", "held", "done", "lazy", "own", "aliases",
                 "extras"):
        assert name not in vars(_capture.Step(plan)), name
        assert hash(getattr(_capture.Step, name)) is not None


def test_a_hidden_value_kept_alive_goes_to_the_general_backward():
    """The net's output kept past backward(): the one-piece backward declines, the general
    one recompiles the plan to export it; each output read after training is the value the
    capture-off run computed at that step."""
    kept = []
    _same(read=lambda i, out, loss: kept.append(out) if i >= 9 else None)
    assert len(kept) == 10      # (both runs: capture on, then off)
    for got, want in zip(kept[:5], kept[5:]):
        np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6, atol=1e-7)


def test_grad_req_add_then_write_mid_training():
    def change(i, net, loss_fn, trainer):
        if i == 8:
            for p in net.collect_params().values():
                p.grad_req = "add"
        if i == 11:
            for p in net.collect_params().values():
                p.grad_req = "write"
    _same(change=change)


def test_a_loss_attribute_set_mid_training_replays_with_the_new_value():
    def change(i, net, loss_fn, trainer):
        if i == 9:
            loss_fn._weight = 3.0
    _same(change=change)


def test_a_replayed_layer_whose_parameter_is_replaced():
    """An eager (replayed) net: its Dense weight replaced mid-training; the one-piece replay
    sees the parameter's new array and declines."""
    def change(i, net, loss_fn, trainer):
        if i == 9:
            net[0].weight.set_data(nd.ones((6, 4)) * 0.05)
    _same(change=change, hybridize=False)


def test_training_mode_off_in_record_then_on():
    def run(on):
        capture.set_enabled(on)
        try:
            net = _model()
            net.add(gluon.nn.Dropout(0.5))
            loss_fn = gluon.loss.L2Loss()
            trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
            losses = []
            for i in range(14):
                x, y = _batch(i % 3)
                with autograd.record(train_mode=not 8 <= i < 11):
                    loss = loss_fn(net(x), y)
                loss.backward()
                trainer.step(3)
                if not 0 < i < 8 and not i >= 11:
                    losses.append(loss.asnumpy())
            return [p.data().asnumpy() for p in net.collect_params().values()], losses
        finally:
            capture.set_enabled(True)
    mx.random.seed(1)
    got = run(True)
    mx.random.seed(1)
    want = run(False)
    same_params(got[0], want[0])


def test_a_second_plan_on_the_same_first_op():
    """Two losses in turns (two plans start with the net's call): the first-op binder is used
    only when one plan starts there; both give the capture-off parameters."""
    losses = [gluon.loss.L2Loss(), gluon.loss.L1Loss()]
    _same(change=lambda i, net, loss_fn, trainer: losses[i % 2], steps=16)


def test_adam_steady_steps_with_reads():
    seen = []
    _same(opt="adam", read=lambda i, out, loss: seen.append(float(loss.mean().asscalar())))
    assert len(seen) == 28 and all(np.isfinite(seen))


def test_under_set_np_the_steady_step_makes_mx_np_outputs_itself(monkeypatch):
    """set_np (d2l's style): the net's and the loss's outputs are mx.np arrays made so by the
    steady step's own code (own_as_np is not called), and the steps give the capture-off
    parameters and losses."""
    from tracegrad import np as mnp, npx

    def run(on, spy=None):
        capture.set_enabled(on)
        try:
            mx.random.seed(0)
            net = gluon.nn.Dense(2, in_units=4)
            net.initialize(mx.init.Xavier())
            net.hybridize()
            loss_fn = gluon.loss.L2Loss()
            trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
            rs = np.random.RandomState(3)
            x = mnp.array(rs.randn(3, 4).astype(np.float32))
            y = mnp.array(rs.randn(3, 2).astype(np.float32))
            losses, kinds = [], []
            for i in range(12):
                if spy is not None and i == 10:
                    monkeypatch.setattr(_capture, "own_as_np", spy)
                with autograd.record():
                    out = net(x)
                    loss = loss_fn(out, y)
                kinds.append((type(out).__name__, type(loss).__name__))
                loss.backward()
                del out
                trainer.step(3)
                losses.append(loss.asnumpy())
                assert isinstance(loss, mnp.ndarray)
            return [p.data().asnumpy() for p in net.collect_params().values()], losses, kinds
        finally:
            capture.set_enabled(True)

    npx.set_np()
    try:
        calls = []
        got, got_losses, kinds = run(True, spy=lambda d: calls.append(d) or False)
        want, want_losses, _ = run(False)
    finally:
        npx.reset_np()
    assert calls == [] and kinds[-1] == ("NpDeferred", "NpDeferred"), (calls, kinds)
    same_params(got, want)
    for g, w in zip(got_losses, want_losses):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
