"""Step capture of mx.np programs (set_np, as d2l.ai writes them): the usual step on mx.np arrays
is captured like the nd one (one native call with the update fused in), every array the user
sees is an mx.np.ndarray holding what eager gives, and each variation falls back exactly."""
from contextlib import nullcontext

import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, np, npx
from tracegrad.tracing.capture import NpDeferred
from capture_steps import batches, same_params, small_net

pytestmark = pytest.mark.usefixtures("fresh_capture")


def _batches(n, seed=0, sizes=None):
    return batches(n, seed=seed, sizes=sizes, array=np.array, label_dtype=onp.int32)


def _train(hybridize, opt="sgd", steps=20, on=True, body=None, sizes=None, loss_fn=None,
           batchnorm=False, dropout=False):
    """Parameters after `steps` steps, and per step (native calls, captured?)."""
    net = small_net(hybridize, dropout=dropout, batchnorm=batchnorm)
    loss_fn = loss_fn or gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), opt, {"learning_rate": 0.1})
    log = []
    mx.random.seed(7)
    with (capture.paused() if not on else nullcontext()):
        for i, (x, y) in enumerate(_batches(steps, sizes=sizes)):
            before = mx.stats()
            if body is None:
                with autograd.record():
                    loss = loss_fn(net(x), y)
                loss.backward()
            else:
                loss = body(i, net, loss_fn, x, y)
            trainer.step(x.shape[0])
            after = mx.stats()
            log.append((after["native_calls"] - before["native_calls"],
                        after["captured_steps"] - before["captured_steps"]))
            assert isinstance(loss, np.ndarray) and type(loss) is not NpDeferred
    return [p.data().asnumpy() for p in net.collect_params().values()], log


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_np_usual_step_is_captured_and_matches_capture_off(np_mode, hybridize, opt):
    got, log = _train(hybridize, opt)
    want, off_log = _train(hybridize, opt, on=False)
    same_params(got, want)
    assert all(c == 0 for _, c in off_log)
    captured = [calls for calls, c in log if c]
    assert len(captured) >= 14, log
    assert log[-1] == (1, 1), log       # forward, loss, adjoint and the update: one call


def test_np_step_values_are_np_arrays_known_before_they_run(np_mode):
    net = small_net(True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for x, y in _batches(8):
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        pending = type(loss) is NpDeferred
        # shape, dtype and len answer from the plan's types, without running the step
        assert loss.shape == (4,) and loss.dtype == onp.dtype("float32") and len(out) == 4
        assert out.ndim == 2 and out.size == 12
        loss.backward()
        trainer.step(4)
    assert pending                  # (the last step was deferred)
    assert type(loss) is np.ndarray and type(out) is np.ndarray
    assert loss.dtype == onp.dtype("float32")
    # their values are eager's: the net's output and the loss of it
    p = out.asnumpy()
    logp = p - onp.log(onp.exp(p - p.max(1, keepdims=True)).sum(1, keepdims=True)) - \
        p.max(1, keepdims=True)
    want = -logp[onp.arange(4), y.asnumpy().astype(int)]
    onp.testing.assert_allclose(loss.asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_np_reading_the_loss_metric_and_print_in_the_loop(np_mode, capsys):
    metric = mx.metric.Accuracy()
    seen = []

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        loss.backward()
        seen.append(float(loss.mean()))
        metric.update(y, out)
        if i % 5 == 0:
            print(loss)
        return loss
    got, log = _train(True, body=body)
    seen_on, acc_on = list(seen), metric.get()[1]
    seen.clear()
    metric.reset()
    want, _ = _train(True, body=body, on=False)
    same_params(got, want)
    onp.testing.assert_allclose(seen_on, seen, rtol=1e-5)
    assert acc_on == metric.get()[1]
    assert sum(c for _, c in log) >= 10, log
    lines = capsys.readouterr().out.split("\n")
    printed = [[float(v) for v in line.strip("[] ").split()] for line in lines if line]
    assert len(printed) == 8      # (steps 0, 5, 10, 15 of each run)
    onp.testing.assert_allclose(printed[:4], printed[4:], rtol=1e-5)


def test_np_d2l_epoch_reads_after_the_step(np_mode):
    """d2l's train_epoch_ch3: the loss sum and the accuracy of y_hat read after
    trainer.step (y_hat is alive at backward: the plan exports it)."""
    def accuracy(y_hat, y):
        return float((y_hat.argmax(axis=1).astype(y.dtype) == y).sum())

    totals = []

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            y_hat = net(x)
            loss = loss_fn(y_hat, y)
        loss.backward()
        body.last = (loss, y_hat, y)
        return loss

    def run(on):
        totals.clear()

        def step(i, net, loss_fn, x, y):
            if i:
                loss, y_hat, yy = body.last
                totals.append((float(loss.sum()), accuracy(y_hat, yy)))
            return body(i, net, loss_fn, x, y)
        return _train(False, body=step, on=on)
    got, log = run(True)
    totals_on = list(totals)
    want, _ = run(False)
    same_params(got, want)
    onp.testing.assert_allclose(onp.array(totals_on), onp.array(totals), rtol=1e-5)
    assert sum(c for _, c in log) >= 10, log


def test_np_batchnorm_dropout_eager_and_hybridized_match_capture_off(np_mode):
    """BatchNorm's running statistics are written through mx.np views of its parameters
    (hybrid_forward's, or the compiled call's update targets): captured all the same."""
    for hybridize in (True, False):
        got, log = _train(hybridize, batchnorm=True, dropout=True, steps=12)
        want, _ = _train(hybridize, batchnorm=True, dropout=True, steps=12, on=False)
        same_params(got, want)      # (running statistics included)
        assert sum(c for _, c in log) >= 6, log


def test_np_running_statistics_read_mid_step(np_mode):
    """A running mean read between the forward and backward() of a captured step is the
    updated one (the pending write runs the step first)."""
    def body(i, net, loss_fn, x, y):
        with autograd.record():
            loss = loss_fn(net(x), y)
        if i % 4 == 3:
            body.seen.append(net[1].running_mean.data().asnumpy().copy())
        loss.backward()
        return loss
    body.seen = []
    got, log = _train(False, batchnorm=True, body=body, steps=16)
    seen_on = body.seen
    body.seen = []
    want, _ = _train(False, batchnorm=True, body=body, steps=16, on=False)
    same_params(got, want)
    onp.testing.assert_allclose(onp.array(seen_on), onp.array(body.seen), rtol=1e-5, atol=1e-7)
    assert sum(c for _, c in log) >= 6, log


def test_np_variations_fall_back_exactly(np_mode):
    """A batch size change, a loss switch and a regularizer term mid-training."""
    l2 = gluon.loss.L2Loss()

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            out = net(x)
            if i >= 14:
                loss = l2(out, npx.one_hot(y, 3))
            else:
                loss = loss_fn(out, y)
            if 9 <= i < 12:
                loss = loss + 0.01 * (net[0].weight.data() ** 2).sum()
        loss.backward()
        return loss
    sizes = [4] * 6 + [6] * 3 + [4] * 11
    got, log = _train(True, body=body, sizes=sizes)
    want, _ = _train(True, body=body, sizes=sizes, on=False)
    same_params(got, want)
    assert sum(c for _, c in log) >= 4, log


def test_np_linear_regression_from_scratch(np_mode):
    """d2l 3.2: attach_grad'ed weights, a hand-written model and loss, an in-place update."""
    rs = onp.random.RandomState(1)
    true_w, true_b = onp.array([2.0, -3.4], onp.float32), 4.2
    X = rs.normal(0, 1, (64, 2)).astype(onp.float32)
    Y = (X @ true_w + true_b + rs.normal(0, 0.01, 64)).astype(onp.float32).reshape(-1, 1)

    def run(on):
        w = np.array(onp.full((2, 1), 0.01, onp.float32))
        b = np.zeros(1)
        w.attach_grad()
        b.attach_grad()
        losses = []
        with (capture.paused() if not on else nullcontext()):
            for epoch in range(3):
                for i in range(0, 64, 8):
                    x, y = np.array(X[i:i + 8]), np.array(Y[i:i + 8])
                    with autograd.record():
                        y_hat = np.dot(x, w) + b
                        l = (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
                    l.backward()
                    for param in (w, b):
                        param[:] = param - 0.3 * param.grad / 8
                    losses.append(float(l.mean()))
        return w.asnumpy(), b.asnumpy(), losses
    got, want = run(True), run(False)
    for a, c in zip(got, want):
        onp.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    assert abs(got[0][0, 0] - 2.0) < 0.5


def test_np_wrong_input_after_capture_raises_at_the_call(np_mode):
    net = small_net(True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for x, y in _batches(8):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(4)
    before = [p.data().asnumpy().copy() for p in net.collect_params().values()]
    with pytest.raises(mx.base.MXNetError):
        with autograd.record():
            loss_fn(net(np.ones((4, 7))), y)
    # nothing was updated, and the next good step is right again
    for p, b in zip(net.collect_params().values(), before):
        onp.testing.assert_array_equal(p.data().asnumpy(), b)
    x, y = next(_batches(1, seed=5))
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    out = net(x).asnumpy()
    assert onp.isfinite(out).all() and loss.shape == (4,)


class _RNNModel(gluon.HybridBlock):
    """d2l's RNNModel: an rnn layer, then Dense on every step's output."""

    def __init__(self, mode):
        super().__init__()
        cls = {"lstm": gluon.rnn.LSTM, "gru": gluon.rnn.GRU, "rnn": gluon.rnn.RNN}[mode]
        self.rnn = cls(6)
        self.dense = gluon.nn.Dense(4)

    def hybrid_forward(self, F, x, *state):
        y, state = self.rnn(x, list(state)) if state else (self.rnn(x), [])
        return (self.dense(y.reshape(-1, y.shape[-1])), *state) if state else \
            self.dense(y.reshape(-1, y.shape[-1]))


@pytest.mark.parametrize("mode,carry", [("lstm", True), ("gru", False)])
def test_np_rnn_steps_match_capture_off(np_mode, mode, carry):
    """d2l's train_epoch_ch8 on the concise RNN: the states of one batch, detached, start
    the next (or are dropped); grad clipping through the mx.np gradients."""
    rs = onp.random.RandomState(0)
    data = [(np.array(rs.randn(5, 3, 4).astype(onp.float32)),
             np.array(rs.randint(0, 4, 15).astype(onp.int32))) for _ in range(14)]

    def run(on):
        mx.random.seed(2)
        net = _RNNModel(mode)
        net.initialize(mx.init.Xavier())
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
        losses, n = [], 0
        with (capture.paused() if not on else nullcontext()):
            state = None
            for x, y in data:
                if state is None or not carry:
                    state = net.rnn.begin_state(batch_size=3)
                else:
                    state = [s.detach() for s in state]
                with autograd.record():
                    out = net(x, *state)
                    y_hat, state = out[0], list(out[1:])
                    loss = loss_fn(y_hat, y).mean()
                loss.backward()
                grads = [p.grad() for p in net.collect_params().values()]
                gluon.utils.clip_global_norm(grads, 1.0)
                trainer.step(1)
                losses.append(float(loss))
                n = mx.stats()["captured_steps"]
        return [p.data().asnumpy() for p in net.collect_params().values()], losses, n
    got, losses_on, captured = run(True)
    want, losses_off, _ = run(False)
    same_params(got, want)
    onp.testing.assert_allclose(losses_on, losses_off, rtol=1e-5)
    assert captured > 0


def test_np_functions_take_a_pending_value_as_an_np_array(np_mode):
    """np.array / np.asarray of a value still pending in a captured step are mx.np arrays
    of its value (not nd ones refused), and read it at that moment."""
    net = small_net(True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    pending = []
    for x, y in _batches(8):
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        pending.append(type(out) is NpDeferred)
        same = np.asarray(out)
        copy = np.array(out)
        loss.backward()
        trainer.step(4)
        assert type(copy) is np.ndarray and same is out
        onp.testing.assert_array_equal(copy.asnumpy(), out.asnumpy())
    assert any(pending), pending      # (each read drops that capture: the plan then retires)


@pytest.mark.parametrize("hybridize", [True, False])
def test_np_step_binds_the_np_arrays_themselves(np_mode, hybridize):
    """The net's and the loss's pending outputs are the values' own mx.np arrays (no nd twin
    and alias made, watched and filled per step), and they hold eager's values after it,
    whether the output is kept (a metric) or not."""
    net = small_net(hybridize)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for i, (x, y) in enumerate(_batches(16)):
        keep = i >= 8           # (then the plan exports the output: learned anew)
        with autograd.record():
            if keep:
                out = net(x)
                loss = loss_fn(out, y)
            else:
                loss = loss_fn(net(x), y)
        step = capture._STATE.step
        if i in (6, 7, 14, 15):
            assert type(loss) is NpDeferred and step is not None and not step.aliases
        loss.backward()
        trainer.step(x.shape[0])
        assert type(loss) is np.ndarray
        if keep:
            assert type(out) is np.ndarray
            p = out.asnumpy().astype(onp.float64)
            logp = p - p.max(1, keepdims=True)
            logp -= onp.log(onp.exp(logp).sum(1, keepdims=True))
            onp.testing.assert_allclose(
                loss.asnumpy(), -logp[onp.arange(len(p)), y.asnumpy().astype(int)],
                rtol=1e-5, atol=1e-6)
