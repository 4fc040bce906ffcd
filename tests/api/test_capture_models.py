"""Step capture of the CNN and RNN training steps users write (scripts/fuzz_models.py finds
these): each captures and gives the parameters the same steps give with capture off."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd

pytestmark = pytest.mark.usefixtures("fresh_capture")


def _train(make, batch, on, steps=6, opt="sgd", params=None, loss_fn=None):
    """(parameters, losses, captured steps) after `steps` usual steps of make()'s net."""
    capture.set_enabled(on)
    net = make()
    loss_fn = loss_fn or gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), opt, params or {"learning_rate": 0.1})
    rs = np.random.RandomState(0)
    before = mx.stats()["captured_steps"]
    losses = []
    for _ in range(steps):
        x, y = batch(rs)
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        losses.append(loss.asnumpy())
    captured = mx.stats()["captured_steps"] - before
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], losses, captured


def _same(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=1e-6)


def _conv_net():
    mx.random.seed(1)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, padding=1, in_channels=2), gluon.nn.Flatten(),
            gluon.nn.Dense(3, in_units=100))
    net.initialize(mx.init.Xavier())
    return net


def _image_batch(rs):
    return (nd.array(rs.randn(4, 2, 5, 5).astype(np.float32)),
            nd.array(rs.randn(4, 3).astype(np.float32)))


def test_an_eager_conv_net_is_captured():
    # eager Conv2D calls matmul without attributes: the plan holds its defaults
    # (transpose_a/b False) and must still match it
    on, loss_on, captured = _train(_conv_net, _image_batch, True)
    off, loss_off, _ = _train(_conv_net, _image_batch, False)
    assert captured >= 2
    _same(on, off)
    _same(loss_on, loss_off)


class _LSTMHead(gluon.HybridBlock):
    """LSTM (states in, states out) -> last step -> Dense: the language-model step."""

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.name_scope():
            self.rnn = gluon.rnn.LSTM(5, input_size=4)
            self.out = gluon.nn.Dense(3, in_units=5)

    def hybrid_forward(self, F, x, h, c):
        y, (h, c) = self.rnn(x, [h, c])
        return self.out(F.squeeze(F.slice_axis(y, axis=0, begin=-1, end=None), axis=0)), h, c


def _bptt(on, hybridize, mix=False, steps=7):
    """Truncated BPTT: the states detached inside record() carried to the next batch."""
    capture.set_enabled(on)
    mx.random.seed(2)
    net = _LSTMHead()
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.L2Loss()
    rs = np.random.RandomState(0)
    states = net.rnn.begin_state(2)
    before = mx.stats()["captured_steps"]
    losses = []
    for _ in range(steps):
        x = nd.array(rs.randn(3, 2, 4).astype(np.float32))
        y = nd.array(rs.randn(2, 3).astype(np.float32))
        with autograd.record():
            out, h, c = net(x, *states)
            states = [h.detach(), c.detach()]
            loss = loss_fn(out, y)
            if mix:    # the detached copy next to the tracked value: no gradient through it
                loss = loss + (h * states[0]).sum()
        loss.backward()
        trainer.step(2)
        losses.append(loss.asnumpy())
    captured = mx.stats()["captured_steps"] - before
    capture.set_enabled(True)
    return ([p.data().asnumpy() for p in net.collect_params().values()]
            + [s.asnumpy() for s in states], losses, captured)


@pytest.mark.parametrize("hybridize", [True, False])
def test_states_detached_inside_record_are_captured(hybridize):
    on, loss_on, captured = _bptt(True, hybridize)
    off, loss_off, _ = _bptt(False, hybridize)
    if hybridize:   # (the eager layer computes final states the loss does not use: not yet)
        assert captured >= 3
    _same(on, off)
    _same(loss_on, loss_off)


def test_a_detached_alias_used_in_the_step_gets_no_gradient():
    on, loss_on, _ = _bptt(True, True, mix=True)
    off, loss_off, _ = _bptt(False, True, mix=True)
    _same(on, off)
    _same(loss_on, loss_off)


def _lstm_net():
    mx.random.seed(3)
    net = gluon.nn.Sequential()
    net.add(gluon.rnn.LSTM(5, num_layers=2, input_size=4), gluon.nn.Dense(3, in_units=10))   # (T, N*H) rows
    net.initialize(mx.init.Xavier())
    return net


def _sequence_batch(rs):
    return (nd.array(rs.randn(3, 2, 4).astype(np.float32)),
            nd.array(rs.randn(3, 3).astype(np.float32)))


def test_an_eager_lstm_whose_final_states_nobody_reads_is_captured():
    # the layer computes its final states (ops outside the loss's graph): they wait as extra
    # deferred ops instead of failing the plan's match every step
    on, loss_on, captured = _train(_lstm_net, _sequence_batch, True, steps=7)
    off, loss_off, _ = _train(_lstm_net, _sequence_batch, False, steps=7)
    assert captured >= 3
    _same(on, off)
    _same(loss_on, loss_off)


def _with_side_ops(on, mode, steps=14):
    """An accuracy-like side computation inside record(): dropped, read after the step, or
    (from step 10, `mode` 'joins') added into the loss."""
    capture.set_enabled(on)
    net = _conv_net()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.L2Loss()
    rs = np.random.RandomState(0)
    seen = []
    before = mx.stats()["captured_steps"]
    for i in range(steps):
        x, y = _image_batch(rs)
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
            side = nd.max(out.argmax(axis=1).reshape((-1,)))
            if mode == "joins" and i >= 10:
                loss = loss + side * 0.5 + (out * side).mean()
        if mode != "read":
            del side
        loss.backward()
        trainer.step(x.shape[0])
        if mode == "read":
            seen.append(side.asnumpy())
        seen.append(loss.asnumpy())
    captured = mx.stats()["captured_steps"] - before
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], seen, captured


@pytest.mark.parametrize("mode", ["dropped", "read", "joins"])
def test_ops_outside_the_loss_graph_give_what_eager_gives(mode):
    on, seen_on, captured = _with_side_ops(True, mode)
    off, seen_off, _ = _with_side_ops(False, mode)
    # (a side result alive at backward() runs after the call, on values the call exports)
    assert captured >= 3
    _same(on, off)
    _same(seen_on, seen_off)


def _carried_states(on, steps=8):
    """The word-LM loop: an eager LSTM whose final states are kept (alive at backward())
    and detached into the next batch."""
    capture.set_enabled(on)
    mx.random.seed(4)
    lstm, head = gluon.rnn.LSTM(5, input_size=4), gluon.nn.Dense(3, in_units=5, flatten=False)
    for block in (lstm, head):
        block.initialize(mx.init.Xavier())
    params = list(lstm.collect_params().values()) + list(head.collect_params().values())
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
    rs = np.random.RandomState(2)
    states = lstm.begin_state(batch_size=2)
    before, losses = mx.stats()["captured_steps"], []
    for _ in range(steps):
        x, y = nd.array(rs.randn(3, 2, 4)), nd.array(rs.randn(3, 2, 3))
        states = [s.detach() for s in states]
        with autograd.record():
            out, states = lstm(x, states)
            loss = gluon.loss.L2Loss()(head(out), y)
        loss.backward()
        trainer.step(2)
        losses.append(loss.asnumpy())
    captured = mx.stats()["captured_steps"] - before
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in params] + [s.asnumpy() for s in states], losses, \
        captured


def test_final_states_kept_for_the_next_batch_are_captured_and_exact():
    on, losses_on, captured = _carried_states(True)
    off, losses_off, _ = _carried_states(False)
    assert captured >= 3
    _same(on, off)
    _same(losses_on, losses_off)


def test_a_side_result_computed_after_the_call_has_eagers_freed_graph():
    """Through a side result computed after the call, a second backward fails as eagerly."""
    def attempt(on):
        capture.set_enabled(on)
        net = _conv_net()
        rs = np.random.RandomState(1)
        try:
            for _ in range(6):
                x, y = _image_batch(rs)
                with autograd.record():
                    out = net(x)
                    loss = gluon.loss.L2Loss()(out, y)
                    side = out.sum(axis=1)
                loss.backward()
            with autograd.record():
                again = (side * 2).sum()
            try:
                again.backward()
                return "ok", [p.grad().asnumpy() for p in net.collect_params().values()]
            except mx.MXNetError as e:
                return type(e).__name__, None
        finally:
            capture.set_enabled(True)
    got, want = attempt(True), attempt(False)
    assert got[0] == want[0]
    if got[1] is not None:
        _same(got[1], want[1])
