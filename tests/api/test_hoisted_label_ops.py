"""The loss's label ops inside the fused step (capture.hoistable: EXACT and VIEW ops;
update_fusion.Fusion.hoisted):
sparse softmax cross-entropy reshapes its label into the index of its gather (pick) eagerly
every step; once the step and trainer.step's update are one native call, the replay of the loss
leaves that op to the call (the label becomes a parameter). Whatever the labels (NaN, infinities, negative, past the last
class, fractional) and whatever is read in between, the parameters, losses and gradients are
the ones the step run with capture off gives."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.tracing import capture as _capture
from capture_steps import same_params as _same, small_net as _net


pytestmark = pytest.mark.usefixtures("fresh_capture")

HOSTILE = [np.nan, np.inf, -np.inf, -1.0, 3.0, 2.7, 1e30, -0.5, 0.0, 2.0]


def _labels(rs, i, batch, hostile):
    y = rs.randint(0, 3, batch).astype(np.float32)
    if hostile:     # from step 6 on (the hoisted steps), labels no class fits
        y[: min(batch, 2 + i % 3)] = [HOSTILE[(i + k) % len(HOSTILE)]
                                      for k in range(min(batch, 2 + i % 3))]
    return y


def _run(on, hybridize, hostile=False, between=None, before=None, steps=14, batch=5,
         opt="sgd", optimizer_params=None, start=None):
    """Parameters after `steps` steps, per step (loss values, native calls, what `between`
    (after backward) and `before` (after the loss, before backward) returned); `start(i,
    loss_fn)` runs first in each step."""
    capture.set_enabled(on)
    net = _net(hybridize)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), opt,
                            optimizer_params or {"learning_rate": 0.1})
    rs = np.random.RandomState(7)
    log = []
    for i in range(steps):
        if start is not None:
            start(i, loss_fn)
        x = nd.array(rs.randn(batch, 5).astype(np.float32))
        y = nd.array(_labels(rs, i, batch, hostile and i >= 6).reshape(-1, 1))
        calls = mx.stats()["native_calls"]
        with autograd.record():
            loss = loss_fn(net(x), y)
        seen = before(i, loss, y) if before is not None else None
        loss.backward()
        got = between(i, net, loss) if between is not None else None
        trainer.step(batch)
        log.append((loss.asnumpy(), mx.stats()["native_calls"] - calls, seen, got))
    hoisted = [p.fusion.hoisted for ps in _capture._STATE.plans.values() for p in ps
               if p.fusion is not None]
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], log, hoisted


def _compare(got, want):
    params, log, _ = got
    params_off, log_off, _ = want
    _same(params, params_off)
    for (loss, _, seen, between), (loss_off, _, seen_off, between_off) in zip(log, log_off):
        np.testing.assert_allclose(loss, loss_off, rtol=2e-5, atol=1e-6)
        for a, b in ((seen, seen_off), (between, between_off)):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("hostile", [False, True])
def test_label_op_runs_inside_the_fused_call(hybridize, hostile):
    got = _run(True, hybridize, hostile)
    assert "1 eager label op(s) of its blocks computed inside that call" in capture.explain()
    _compare(got, _run(False, hybridize, hostile))
    _, log, hoisted = got
    assert hoisted and all(len(h) == 1 and h[0].eager[0][0].name == "reshape" for h in hoisted)
    assert [calls for _, calls, _, _ in log[-6:]] == [1] * 6, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_reading_gradients_and_loss_before_the_update(hybridize):
    """A gradient read between backward() and trainer.step() finishes the held step with the
    plan's own call, which needs the label op the replay left undone (computed then)."""
    def between(i, net, loss):
        return net[0].weight.grad().asnumpy() if i % 3 == 1 else None
    got = _run(True, hybridize, True, between=between)
    _compare(got, _run(False, hybridize, True, between=between))


@pytest.mark.parametrize("hybridize", [True, False])
def test_loss_read_before_backward_materializes_the_step(hybridize):
    """Reading the loss before backward() runs the step eagerly from its log: the replayed
    loss's label op is run then, on the labels it was given."""
    def before(i, loss, y):
        return loss.asnumpy() if i in (8, 11) else None
    got = _run(True, hybridize, True, before=before)
    _compare(got, _run(False, hybridize, True, before=before))


def test_labels_written_in_place_after_the_loss():
    """The loss's labels overwritten between the loss and backward(): the step is finished
    first (an in-place write), so the label op sees the labels the loss was given."""
    def before(i, loss, y):
        if i >= 8:
            y[:] = 2.0
    got = _run(True, True, before=before)
    _compare(got, _run(False, True, before=before))


def test_adam_and_a_batch_size_change_keep_hoisting_exact():
    def run(on):
        params, log, hoisted = _run(on, True, True, steps=10, opt="adam",
                                    optimizer_params={"learning_rate": 0.01})
        rest = _run(on, True, True, steps=10, batch=3)
        return params, rest[0], log, hoisted
    got, want = run(True), run(False)
    _same(got[0], want[0])
    _same(got[1], want[1])
    assert got[3]


def test_a_loss_learned_again_is_fused_again():
    """An attribute set on the loss block makes its replay be learned again; the fused call
    took the old replay's label, so it is learned again too, and later steps are one call."""
    def start(i, loss_fn):
        if i == 9:
            loss_fn.note = object()      # the block changed: its replay is stale
    got = _run(True, True, steps=20, start=start)
    _compare(got, _run(False, True, steps=20, start=start))
    assert [calls for _, calls, _, _ in got[1][-5:]] == [1] * 5, got[1]
