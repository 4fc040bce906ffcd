"""Step capture (capture.py): the step written the usual way — net (hybridized or not), loss
outside it, backward, trainer.step — runs as one native call for forward + loss + adjoint and
the update (update_fusion.py), and gives the parameters the same step run with capture off gives."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from capture_steps import batches as _batches, same_params as _same, small_net as _net


# each test starts and ends with no plan, capture on (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_capture")


def _train(hybridize, opt="sgd", steps=20, on=True, body=None, dropout=False, sizes=None,
           loss_fn=None, params=None, make=None):
    """Parameters after `steps` usual steps, and per step (native calls, captured?)."""
    capture.set_enabled(on)
    net = (make or _net)(hybridize, dropout)
    loss_fn = loss_fn or gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), opt, params or {"learning_rate": 0.1})
    log = []
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
    capture.set_enabled(True)
    return [p.data().asnumpy() for p in net.collect_params().values()], log




@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_usual_step_is_captured_and_matches_capture_off(hybridize, opt):
    got, log = _train(hybridize, opt)
    want, off_log = _train(hybridize, opt, on=False)
    _same(got, want)
    assert all(c == 0 for _, c in off_log)
    captured = [calls for calls, c in log if c]
    assert len(captured) >= 14, log
    # two captured steps with the step and the update as two calls, then both in one
    assert captured == [2, 2] + [1] * (len(captured) - 2), log
    assert log[-1] == (1, 1)


def test_reading_loss_metric_and_print_in_the_loop(capsys):
    metric = mx.metric.Accuracy()
    seen = []

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            out = net(x)
            loss = loss_fn(out, y)
        loss.backward()
        seen.append(loss.mean().asscalar())
        metric.update(y, out)
        if i % 5 == 0:
            print(loss)
        return loss
    got, log = _train(True, body=body)
    ref_seen, ref_metric = list(seen), metric.get()[1]
    seen.clear()
    metric.reset()
    want, _ = _train(True, on=False, body=body)
    _same(got, want)
    np.testing.assert_allclose(ref_seen, seen, rtol=1e-5)
    assert ref_metric == metric.get()[1]
    assert sum(c for _, c in log) >= 12     # the net output is exported after one drop
    assert "NDArray" in capsys.readouterr().out


def test_reading_the_loss_before_backward_runs_the_step_eagerly():
    def body(i, net, loss_fn, x, y):
        with autograd.record():
            loss = loss_fn(net(x), y)
            if i >= 10:
                float(loss.sum().asscalar())      # read before backward, inside record
        loss.backward()
        return loss
    got, log = _train(False, body=body)
    want, _ = _train(False, on=False, body=body)
    _same(got, want)
    assert sum(c for _, c in log[:10]) >= 5 and sum(c for _, c in log[11:]) == 0
    # (the sum is outside the plan's graph: it waits, and reading it runs the step)
    assert "a deferred array's data was read" in capture.explain()


@pytest.mark.parametrize("hybridize", [True, False])
def test_a_loss_written_with_nd_functions_is_captured(hybridize):
    """A hand-written loss outside the net (log_softmax, exp, log, a comparison) is captured
    like a Gluon loss: nd's dtype checks read the deferred arrays' types, never their data
    (which ran the step so far eagerly and dropped every capture)."""
    def body(i, net, loss_fn, x, y):
        with autograd.record():
            out = net(x)
            logp = nd.log_softmax(out)
            picked = nd.pick(logp, y)
            confident = nd.greater(nd.exp(picked), 0.5)      # 0/1 in the output's dtype
            unsure = (nd.exp(picked) < 0.2).astype("float32", copy=False)
            loss = -picked + 0.1 * nd.log(1.0 + nd.exp(-out)).sum(axis=1) + 0.01 * confident \
                + 0.02 * unsure + 0.1 * nd.zeros_like(picked)
        loss.backward()
        return loss
    got, log = _train(hybridize, body=body)
    want, _ = _train(hybridize, on=False, body=body)
    _same(got, want)
    captured = [calls for calls, c in log if c]
    assert len(captured) >= 14 and captured[-1] == 1, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_slices_of_the_output_are_captured_and_own_their_memory(hybridize):
    """Slicing a deferred output (`out[:, 1:]`, nd.slice_axis) no longer runs the step so far
    eagerly; and when a step IS run eagerly (the slice read before backward), the slice is a
    copy, as MXNet's ops give: writing into it leaves the output alone."""
    seen = []

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            out = net(x)
            head = nd.slice_axis(out, axis=1, begin=0, end=2)
            tail = out[:, 1:]
            loss = loss_fn(out, y) + 0.1 * (head * head).sum(axis=1) - 0.05 * tail.sum(axis=1)
            if i == 15:                          # read before backward: the step runs eagerly
                before = out.asnumpy().copy()
        loss.backward()
        if i == 15:                              # then the slices are written
            tail[:] = 7.0
            head[:] = -7.0
            seen.append(np.array_equal(out.asnumpy(), before))
        return loss
    got, log = _train(hybridize, body=body)
    want, _ = _train(hybridize, on=False, body=body)
    _same(got, want)
    assert seen == [True, True]                # (the capture-on run, then the capture-off one)
    captured = [calls for calls, c in log if c]
    assert len(captured) >= 10 and captured[-1] == 1, log


@pytest.mark.parametrize("hybridize", [True, False])
def test_batch_size_change_loss_switch_regularizer_and_dropout(hybridize):
    """Each change falls back to eager at once and is captured again after a few steps;
    the hybridized run changes batch size and adds a regularizer, the eager run switches
    the loss; both have Dropout (random keys drawn as eager draws them)."""
    sizes = [4] * 5 + [6] * 7

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            out = net(x)
            if hybridize or i < 6:
                loss = loss_fn(out, y)
            else:
                loss = gluon.loss.L2Loss()(out, nd.one_hot(y, 3))
            if hybridize and i >= 5:    # a regularizer term joins the loss
                loss = loss + 0.01 * (net[0].weight.data() ** 2).sum()
        loss.backward()
        return loss
    got, log = _train(hybridize, body=body, sizes=sizes, dropout=True, steps=12)
    want, _ = _train(hybridize, on=False, body=body, sizes=sizes, dropout=True, steps=12)
    _same(got, want)
    assert sum(c for _, c in log[:5]) >= 1 and sum(c for _, c in log[5:]) >= 2, log


def test_grad_req_add_over_two_batches():
    def body(i, net, loss_fn, x, y):
        for xs, ys in ((x[:2], y[:2]), (x[2:], y[2:])):
            with autograd.record():
                loss = loss_fn(net(xs), ys)
            loss.backward()
        return loss

    def run(on):
        capture.set_enabled(on)
        net = _net(True)
        net.collect_params().setattr("grad_req", "add")
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        for x, y in _batches(12):
            body(0, net, loss_fn, x, y)
            trainer.step(4)
            for p in net.collect_params().values():
                p.zero_grad()
        capture.set_enabled(True)
        return [p.data().asnumpy() for p in net.collect_params().values()]
    before = mx.stats()["captured_steps"]
    got = run(True)
    assert mx.stats()["captured_steps"] - before >= 8
    _same(got, run(False))


def test_writes_errors_and_freed_graphs_behave_as_eager():
    net = _net(False)
    loss_fn = gluon.loss.L2Loss()
    x, y = nd.ones((4, 5)), nd.zeros((4, 3))
    for _ in range(5):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
    assert mx.stats()["captured_steps"] > 0
    w = net[0].weight
    # an in-place write to the input between forward and backward: the forward saw old data
    with autograd.record():
        loss = loss_fn(net(x), y)
    x[:] = 2.0
    loss.backward()
    capture.set_enabled(False)
    x2 = nd.ones((4, 5))
    with autograd.record():
        ref = loss_fn(net(x2), y)
    ref.backward()
    np.testing.assert_allclose(loss.asnumpy(), ref.asnumpy(), rtol=1e-6)
    want_grad = w.grad().asnumpy()
    capture.set_enabled(True)
    # a second backward of a captured loss says the graph was freed, as eager does
    x[:] = 1.0
    for _ in range(4):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
    np.testing.assert_allclose(w.grad().asnumpy(), want_grad, rtol=1e-5)
    with pytest.raises(mx.MXNetError, match="retain_graph"):
        loss.backward()
    # set_data between forward and backward: the forward used the old weights
    old = w.data().asnumpy()
    with autograd.record():
        loss = loss_fn(net(x), y)
    w.set_data(nd.zeros(w.shape))
    loss.backward()
    w.set_data(nd.array(old))
    with autograd.record():
        ref = loss_fn(net(x), y)
    np.testing.assert_allclose(loss.asnumpy(), ref.asnumpy(), rtol=1e-6)
    # a bad label shape is reported at the user's line, not deferred
    with pytest.raises(mx.MXNetError, match="label"):
        with autograd.record():
            loss_fn(net(x), nd.zeros((4, 7)))


def test_stats_and_explain_report_captures_and_drops():
    _train(True, steps=8)
    text = mx.explain()
    assert "captured steps:" in text and "plan:" in text
    assert ("native calls in the last captured step: 1 (forward, loss, adjoint and the "
            "optimizer update)") in text
    assert mx.stats()["captured_steps"] > 0


def test_hybridized_loss_after_a_hybridized_net_is_captured():
    """The loss block compiled too: its call reads the net's deferred output."""
    def make():
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        loss_fn.hybridize()
        return loss_fn
    got, log = _train(True, "adam", steps=12, loss_fn=make())
    want, _ = _train(True, "adam", steps=12, loss_fn=make(), on=False)
    _same(got, want)
    assert log[-4:] == [(1, 1)] * 4, log


def test_code_that_never_repeats_installs_no_hook():
    from tracegrad import array
    before = mx.stats()["captured_steps"]
    x = nd.ones((3,))
    x.attach_grad()
    for k in range(6):   # a different graph every time
        with autograd.record():
            y = x
            for _ in range(k + 1):
                y = y * 2
        y.backward()
    assert array._DEFER is None and mx.stats()["captured_steps"] == before


def test_a_step_abandoned_by_an_exception_is_not_continued():
    net = _net(True)
    loss_fn = gluon.loss.L2Loss()
    x, y = nd.ones((4, 5)), nd.zeros((4, 3))
    for _ in range(5):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
    with pytest.raises(RuntimeError):
        with autograd.record():
            out = net(x)
            raise RuntimeError("user code failed mid-step")
    assert capture._STATE.step is not None      # the net call was deferred
    x2 = nd.full((4, 5), 2.0)
    with autograd.record():
        loss = loss_fn(net(x2), y)
    loss.backward()
    g = net[0].weight.grad().asnumpy().copy()
    capture.set_enabled(False)
    with autograd.record():
        ref = loss_fn(net(x2), y)
    ref.backward()
    np.testing.assert_allclose(g, net[0].weight.grad().asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(out.asnumpy(), net(x).asnumpy(), rtol=1e-6)


def test_grad_head_gradients_and_retain_graph_run_the_step_eagerly():
    net = _net(True)
    lf = gluon.loss.L2Loss()
    x, y = nd.ones((2, 5)), nd.zeros((2, 3))
    w = net[0].weight

    def ref(kind):
        capture.set_enabled(False)
        with autograd.record():
            loss = lf(net(x), y)
        out = _finish(kind, loss)
        capture.set_enabled(True)
        return out

    def _finish(kind, loss):
        if kind == "grad":
            return autograd.grad(loss, [w.data()])[0].asnumpy()
        if kind == "head":
            loss.backward(nd.array([2.0, 3.0]))
        else:
            loss.backward(retain_graph=True)
            loss.backward()
        return w.grad().asnumpy().copy()

    for kind in ("grad", "head", "retain"):
        w.grad_req = "add" if kind == "retain" else "write"
        for _ in range(5):
            with autograd.record():
                loss = lf(net(x), y)
            loss.backward()
        w.zero_grad()
        with autograd.record():
            loss = lf(net(x), y)
        assert capture._STATE.step is not None, kind
        got = _finish(kind, loss)
        w.zero_grad()
        np.testing.assert_allclose(got, ref(kind), rtol=1e-6, err_msg=kind)
        w.zero_grad()


def test_paused_runs_without_capture_and_keeps_the_plans():
    net = _net(True)
    lf = gluon.loss.L2Loss()
    x, y = nd.ones((2, 5)), nd.zeros((2, 3))

    def step():
        with autograd.record():
            loss = lf(net(x), y)
        loss.backward()
    for _ in range(4):
        step()
    before = mx.stats()["captured_steps"]
    with capture.paused():
        step()
        step()
    assert mx.stats()["captured_steps"] == before
    step()
    assert mx.stats()["captured_steps"] == before + 1


def _bn_net(hybridize, dropout=False):
    return _net(hybridize, dropout, batchnorm=True)


def _running(net):
    bn = net[1]
    return [bn.running_mean.data().asnumpy().copy(), bn.running_var.data().asnumpy().copy()]


@pytest.mark.parametrize("hybridize", [True, False])
def test_batchnorm_step_is_captured_with_its_running_statistics(hybridize):
    """The running-statistics update is part of the captured step's one native call; the
    statistics after every step, and every parameter after 20, equal capture off's."""
    seen = []

    def body(i, net, loss_fn, x, y):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        seen.append(_running(net))
        return loss
    got, log = _train(hybridize, body=body, make=_bn_net, dropout=True)
    got_seen, seen[:] = list(seen), []
    want, off_log = _train(hybridize, body=body, make=_bn_net, dropout=True, on=False)
    assert all(c == 0 for _, c in off_log)
    _same(got, want)      # weights, biases, gamma, beta, running_mean, running_var
    for a, b in zip(got_seen, seen):
        _same(a, b)
    assert not np.allclose(seen[0][0], seen[-1][0])     # the statistics did move
    captured = [calls for calls, c in log if c]
    assert len(captured) >= 14, log
    assert captured == [2] * len(captured), log
    assert log[-1] == (2, 1), log


@pytest.mark.parametrize("hybridize", [True, False])
def test_running_statistics_read_before_backward_are_the_updated_ones(hybridize):
    """Reading a running statistic the pending step writes runs the step first (so the read
    sees eager's value); steps after that are captured again."""
    def run(on):
        capture.set_enabled(on)
        net = _bn_net(hybridize)
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        reads, log = [], []
        for i, (x, y) in enumerate(_batches(12)):
            before = mx.stats()["captured_steps"]
            with autograd.record():
                loss = loss_fn(net(x), y)
            if i in (6, 7):
                reads.append(net[1].running_mean.data().asnumpy().copy())
            if i == 8:    # an op on it (outside record) between forward and backward
                reads.append((net[1].running_var.data() * 2).asnumpy())
            loss.backward()
            trainer.step(4)
            log.append(mx.stats()["captured_steps"] - before)
        capture.set_enabled(True)
        return reads, [p.data().asnumpy() for p in net.collect_params().values()], log
    got_reads, got, log = run(True)
    want_reads, want, _ = run(False)
    _same(got_reads, want_reads)
    _same(got, want)
    assert log[6:9] == [0, 0, 0] and sum(log[3:6]) >= 1 and sum(log[9:]) >= 2, log


def test_batchnorm_momentum_change_and_a_second_call_fall_back_to_eager():
    """A state update that differs from the captured one (new momentum), and a block that
    reads its statistics again after updating them in one step (BatchNorm applied twice),
    each run eagerly with eager's numbers."""
    def body(i, net, loss_fn, x, y):
        if i == 8:
            net[1]._momentum = 0.5
        with autograd.record():
            h = net(x)
            if i >= 14:
                h = h + net[3](net[2](net[1](net[0](x))))
            loss = loss_fn(h, y)
        loss.backward()
        return loss
    got, log = _train(False, body=body, make=_bn_net)
    want, _ = _train(False, body=body, make=_bn_net, on=False)
    _same(got, want)
    assert log[8][1] == 0 and sum(c for _, c in log[:8]) >= 3, log
    assert "op 'mul' read an array a pending state update writes" in capture.explain()


def test_legacy_nd_batchnorm_moving_statistics_under_capture():
    """nd.BatchNorm updates the moving statistics passed to it (assign_state on arguments):
    captured, they equal capture off's after every step."""
    def run(on):
        capture._reset_for_tests()
        capture.set_enabled(on)
        rs = np.random.RandomState(0)
        w = nd.array(rs.randn(5, 4).astype(np.float32))
        g, b = nd.ones((4,)), nd.zeros((4,))
        for p in (w, g, b):
            p.attach_grad()
        mm, mv = nd.zeros((4,)), nd.ones((4,))
        seen, before = [], mx.stats()["captured_steps"]
        for _ in range(12):
            x = nd.array(rs.randn(6, 5).astype(np.float32))
            with autograd.record():
                y = nd.BatchNorm(nd.dot(x, w), g, b, mm, mv, fix_gamma=False)
                loss = (y * y).sum()
            loss.backward()
            for p in (w, g, b):
                p[:] = p - 0.01 * p.grad
            seen.append([mm.asnumpy().copy(), mv.asnumpy().copy(), w.asnumpy().copy()])
        capture.set_enabled(True)
        return seen, mx.stats()["captured_steps"] - before
    got, n_on = run(True)
    want, n_off = run(False)
    for a, b in zip(got, want):
        _same(a, b)
    assert n_on >= 6 and n_off == 0
