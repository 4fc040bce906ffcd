"""Step capture of eager (not hybridized) training steps with ops beside the loss graph: an
RNN layer given its final states, detached inside record(), as the next batch's begin_state
(the word-LM loop), cells stepped by hand or unrolled, a value the step computes twice, and
the output read for a metric (after backward(), or an accuracy inside record()). Each step
is captured (mx.stats()) and gives the parameters, losses and carried states capture off
gives."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd

pytestmark = pytest.mark.usefixtures("fresh_capture")

STEPS = 25


def _same(a, b, rtol=1e-5):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-6)


def _run(on, body, step, read_every=4):
    """(parameters + carried states, loss reads, captured steps) after STEPS steps with
    Adam of `step(body, x, states) -> (output, detached final states)` and a Dense head."""
    capture.set_enabled(on)
    try:
        mx.random.seed(4)
        head = gluon.nn.Dense(3, in_units=5, flatten=False)
        for block in (body, head):
            block.initialize(mx.init.Xavier())
        params = list(body.collect_params().values()) + list(head.collect_params().values())
        trainer = gluon.Trainer(params, "adam", {"learning_rate": 0.01})
        rs = np.random.RandomState(2)
        states = body.begin_state(batch_size=2)
        before, reads = mx.stats()["captured_steps"], []
        for i in range(STEPS):
            x, y = nd.array(rs.randn(3, 2, 4)), nd.array(rs.randn(3, 2, 3))
            with autograd.record():
                out, states = step(body, x, states)
                loss = gluon.loss.L2Loss()(head(out), y)
            loss.backward()
            trainer.step(2)
            if i % read_every == 0:
                reads.append(loss.mean().asscalar())
        captured = mx.stats()["captured_steps"] - before
        return [p.data().asnumpy() for p in params] + [s.asnumpy() for s in states], \
            reads, captured
    finally:
        capture.set_enabled(True)


def _layer_step(body, x, states):
    """The word-LM step: the layer given begin_state, its final states detached in record()."""
    out, states = body(x, states)
    return out, [s.detach() for s in states]


@pytest.mark.parametrize("layer", [gluon.rnn.LSTM, gluon.rnn.GRU])
def test_an_eager_rnn_layer_given_its_detached_states_is_captured(layer):
    on, reads_on, captured = _run(True, layer(5, input_size=4, num_layers=2), _layer_step)
    off, reads_off, captured_off = _run(False, layer(5, input_size=4, num_layers=2),
                                        _layer_step)
    assert captured_off == 0
    # (learned after 3 steps; one more step recompiles the plan to export the final states)
    assert captured >= STEPS - 5
    _same(on, off)
    _same(reads_on, reads_off)


def _cell_step(body, x, states):
    outs = []
    for t in range(x.shape[0]):
        o, states = body(x[t], states)
        outs.append(o)
    return nd.stack(*outs, axis=0), [s.detach() for s in states]


def _unroll_step(body, x, states):
    out, states = body.unroll(x.shape[0], x, states, layout="TNC", merge_outputs=True)
    return out, [s.detach() for s in states]


@pytest.mark.parametrize("step", [_cell_step, _unroll_step])
def test_an_eager_cell_stepped_by_hand_or_unrolled_is_captured(step):
    on, reads_on, captured = _run(True, gluon.rnn.LSTMCell(5, input_size=4), step)
    off, reads_off, _ = _run(False, gluon.rnn.LSTMCell(5, input_size=4), step)
    assert captured >= STEPS - 5
    _same(on, off)
    _same(reads_on, reads_off)


class _CellNet(gluon.Block):
    """An LSTMCell unrolled, then a GRUCell stepped by hand from zeros_like(a slice of the
    unrolled outputs): that slice is the same op on the same value as the GRU's first input,
    made twice in the step."""

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.name_scope():
            self.lstm = gluon.rnn.LSTMCell(4, input_size=3)
            self.gru = gluon.rnn.GRUCell(4, input_size=4)
            self.out = gluon.nn.Dense(2, in_units=4)

    def forward(self, x):
        T = x.shape[1]
        outs, _ = self.lstm.unroll(T, x, layout="NTC", merge_outputs=True)
        h = nd.zeros_like(nd.slice_axis(outs, axis=1, begin=0, end=1).reshape((0, -1)))
        for t in range(T):
            h, _ = self.gru(nd.slice_axis(outs, axis=1, begin=t, end=t + 1).reshape((0, -1)),
                            [h])
        return self.out(h)


def _cellnet_run(on, steps=STEPS):
    capture.set_enabled(on)
    try:
        mx.random.seed(7)
        net = _CellNet()
        net.initialize(mx.init.Xavier())
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "momentum": 0.9})
        rs = np.random.RandomState(3)
        before, reads = mx.stats()["captured_steps"], []
        for i in range(steps):
            x, y = nd.array(rs.randn(4, 3, 3)), nd.array(rs.randn(4, 2))
            with autograd.record():
                loss = gluon.loss.L2Loss()(net(x), y)
            loss.backward()
            trainer.step(4)
            if i % 3 == 0:
                reads.append(loss.mean().asscalar())
        captured = mx.stats()["captured_steps"] - before
        return [p.data().asnumpy() for p in net.collect_params().values()], reads, captured
    finally:
        capture.set_enabled(True)


def test_a_value_computed_twice_in_the_step_binds_as_the_plans_value():
    on, reads_on, captured = _cellnet_run(True)
    off, reads_off, _ = _cellnet_run(False)
    assert captured >= STEPS - 5
    _same(on, off)
    _same(reads_on, reads_off)


def _detach_then_read(on, layers, steps=12):
    """A detached final state used in record() (scaled into the next begin_state) and, every
    third step, the output read before backward(): that step runs eagerly and its detached
    states are still the values eager gives."""
    capture.set_enabled(on)
    try:
        mx.random.seed(5)
        lstm = gluon.rnn.LSTM(5, input_size=4, num_layers=layers)
        head = gluon.nn.Dense(3, in_units=5, flatten=False)
        for block in (lstm, head):
            block.initialize(mx.init.Xavier())
        params = list(lstm.collect_params().values()) + list(head.collect_params().values())
        trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
        rs = np.random.RandomState(6)
        states, seen = lstm.begin_state(batch_size=2), []
        for i in range(steps):
            x, y = nd.array(rs.randn(3, 2, 4)), nd.array(rs.randn(3, 2, 3))
            with autograd.record():
                out, states = lstm(x, states)
                states = [s.detach() * 0.5 for s in states]
                if i % 3 == 2:
                    seen.append(out.asnumpy())
                loss = gluon.loss.L2Loss()(head(out), y)
            loss.backward()
            trainer.step(2)
            seen += [s.asnumpy() for s in states]
        return [p.data().asnumpy() for p in params] + seen, mx.stats()["captured_steps"]
    finally:
        capture.set_enabled(True)


@pytest.mark.parametrize("layers", [1, 2])     # (final states: plan values, or extras)
def test_detached_states_used_in_record_give_eagers_values_captured_or_not(layers):
    on, captured = _detach_then_read(True, layers)
    off, _ = _detach_then_read(False, layers)
    assert captured >= 4     # (of the 12 steps: every third reads before backward)
    _same(on, off)


def _metric_run(on, read):
    """An eager MLP whose output is read after backward(), before trainer.step or after it,
    or whose accuracy against the label is computed inside record() and read after the step."""
    capture.set_enabled(on)
    try:
        mx.random.seed(4)
        net = gluon.nn.Sequential()
        net.add(gluon.nn.Dense(8, activation="relu", in_units=5), gluon.nn.Dense(3, in_units=8))
        net.initialize(mx.init.Xavier())
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "momentum": 0.9})
        loss_fn, metric = gluon.loss.SoftmaxCrossEntropyLoss(), mx.metric.Accuracy()
        rs = np.random.RandomState(2)
        before, reads = mx.stats()["captured_steps"], []
        for i in range(STEPS):
            x, y = nd.array(rs.randn(4, 5)), nd.array(rs.randint(0, 3, 4))
            with autograd.record():
                out = net(x)
                loss = loss_fn(out, y)
                if read == "inside":
                    acc = (nd.argmax(out, axis=1) == y).mean() * 100
            loss.backward()
            if read == "before":
                reads.append(out.asnumpy())
            trainer.step(4)
            if read == "after":
                reads.append(out.asnumpy())
            if read == "inside":
                reads.append(acc.asnumpy())
            else:
                metric.update([y], [out])
        captured = mx.stats()["captured_steps"] - before
        return [p.data().asnumpy() for p in net.collect_params().values()] + reads, \
            metric.get()[1], captured, capture.explain()
    finally:
        capture.set_enabled(True)


@pytest.mark.parametrize("read", ["after", "before", "inside"])
def test_an_eager_nets_output_read_for_a_metric_is_captured(read):
    on, acc_on, captured, text = _metric_run(True, read)
    off, acc_off, _, _ = _metric_run(False, read)
    assert captured >= STEPS - 5
    _same(on, off)
    np.testing.assert_equal(acc_on, acc_off)     # (nan == nan: no metric updated)
    if read == "before":     # (the read before trainer.step says why the update is not fused)
        assert "data was read (test_capture_rnn_states.py" in text


class _Classifier(gluon.HybridBlock):
    """Embedding -> LSTM that makes its own zero begin state -> last step -> Dense."""

    def __init__(self):
        super().__init__()
        self.embed = gluon.nn.Embedding(11, 4)
        self.rnn = gluon.rnn.LSTM(5, layout="NTC")
        self.out = gluon.nn.Dense(3, flatten=True)

    def hybrid_forward(self, F, x):
        y = self.rnn(self.embed(x))
        return self.out(F.squeeze(F.slice_axis(y, axis=1, begin=-1, end=None), axis=1))


def test_hybridized_rnn_that_makes_its_begin_state_compiles_over_batch_sizes(recwarn):
    """The layer's own zeros (one shape per batch size) are the trace's constants, not arrays
    read from the program's scope: a hybridized call inlines the layer, which keeps no trace
    array alive (it kept them as its cached call arguments, so a change of batch size looked
    like a replaced array and the net ran eagerly, with a warning, after four)."""
    sizes = [5, 3, 5, 5, 3, 5, 5, 5, 3, 5]

    def run(on):
        capture.set_enabled(on)
        try:
            mx.random.seed(7)
            net = _Classifier()
            net.initialize(mx.init.Xavier())
            net.hybridize()
            trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
            rs = np.random.RandomState(3)
            losses = []
            for b in sizes:
                x, y = nd.array(rs.randint(0, 11, (b, 3))), nd.array(rs.randint(0, 3, b))
                with autograd.record():
                    loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
                loss.backward()
                trainer.step(b)
                losses.append(loss.asnumpy())
            return net, losses, [p.data().asnumpy() for p in net.collect_params().values()]
        finally:
            capture.set_enabled(True)

    before = mx.stats()
    net, losses, params = run(True)
    after = mx.stats()
    jf = net.__dict__["_tg_jit"]
    assert jf.scope_eager is None and jf.counts["eager_fallbacks"] == 0, jf.first_reason
    assert not [w for w in recwarn if "tracegrad.jit" in str(w.message)]
    assert after["captured_steps"] - before["captured_steps"] >= 3
    _, ref_losses, ref_params = run(False)
    for a, b in zip(losses + params, ref_losses + ref_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
