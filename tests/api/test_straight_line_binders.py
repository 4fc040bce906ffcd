"""capture's straight-line binders (tracing/straight_line.py): a captured step binds a
hybridized block's call and replays a loss with generated code; that code must accept
exactly what the general binders accept. These steps change what the generated checks look
at — one array passed as two arguments, then two arrays; another shape or dtype; a tracked
array where an untracked one was; a parameter replaced — and compare every step with the
same step run with capture off."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.gluon import block as _block
from tracegrad.tracing import capture as _capture

pytestmark = pytest.mark.usefixtures("fresh_capture")


class TwoInputs(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.dense = gluon.nn.Dense(3, in_units=4)

    def hybrid_forward(self, F, a, b):
        return self.dense(a) * F.sigmoid(self.dense(b))


def _arrays(seed, shape=(2, 4), dtype="float32"):
    rs = np.random.RandomState(seed)
    return nd.array(rs.randn(*shape), dtype=dtype)


def _model():
    """TwoInputs, hybridized, with an L2 loss and SGD (seeded: the same each time)."""
    mx.random.seed(0)
    net = TwoInputs()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    return net, gluon.loss.L2Loss(), gluon.Trainer(net.collect_params(), "sgd",
                                                   {"learning_rate": 0.1})


def _run(on, feeds):
    """Parameters and losses after one usual step per item of `feeds` (step -> (a, b, y,
    sample weight or None))."""
    capture.set_enabled(on)
    try:
        net, loss_fn, trainer = _model()
        losses = []
        for i in range(len(feeds)):
            a, b, y, w = feeds[i]
            with autograd.record():
                out = net(a, b)
                loss = loss_fn(out, y) if w is None else loss_fn(out, y, w)
            loss.backward()
            trainer.step(a.shape[0])
            losses.append(loss.asnumpy())
        return [p.data().asnumpy() for p in net.collect_params().values()], losses
    finally:
        capture.set_enabled(True)


def _same(feeds):
    got, got_losses = _run(True, feeds)
    want, want_losses = _run(False, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    for g, w in zip(got_losses, want_losses):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_one_array_as_two_arguments_then_two_arrays():
    x, x2, y = _arrays(0), _arrays(1), _arrays(2, (2, 3))
    same = [(x, x, y, None)] * 8
    _same(same + [(x, x2, y, None)] * 3 + same[:3] + [(x2, x, y, None)] * 2)


def test_the_label_as_its_own_sample_weight_then_another_weight():
    """(A replay learned with one array as label and weight attributed both uses to the
    weight: a later step with another weight computed (w - out)^2 w. Found by this test.)"""
    x, x2 = _arrays(0), _arrays(1)
    y, w = _arrays(2, (2, 3)), _arrays(3, (2, 3))
    _same([(x, x2, y, y)] * 8 + [(x, x2, y, w)] * 3 + [(x, x2, y, y)] * 3)


@pytest.mark.parametrize("hybridize", [True, False])
@pytest.mark.parametrize("array", ["nd", "np"])
def test_one_array_as_two_loss_arguments_then_two(hybridize, array):
    """The same through a Dense net, eager or hybridized, with nd or mx.np (set_np) arrays:
    an mx.np array passed twice reaches the replay as two views of one buffer."""
    from tracegrad import npx
    if array == "np":
        npx.set_np()
    try:
        make = mx.np.array if array == "np" else nd.array
        rs = np.random.RandomState(0)
        x = make(rs.randn(2, 4).astype(np.float32))
        y, w = make(rs.randn(2, 3).astype(np.float32)), make(rs.rand(2, 3).astype(np.float32))
        results = []
        for on in (True, False):
            capture.set_enabled(on)
            mx.random.seed(0)
            net = gluon.nn.Dense(3, in_units=4)
            net.initialize(mx.init.Xavier())
            if hybridize:
                net.hybridize()
            loss_fn = gluon.loss.L2Loss()
            trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
            losses = []
            for i in range(14):
                weight = w if 8 <= i < 11 else y
                with autograd.record():
                    loss = loss_fn(net(x), y, weight)
                loss.backward()
                trainer.step(2)
                losses.append(loss.asnumpy())
            results.append((losses, net.weight.data().asnumpy()))
        capture.set_enabled(True)
        (got, got_w), (want, want_w) = results
        for g, v in zip(got, want):
            np.testing.assert_allclose(g, v, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got_w, want_w, rtol=1e-6, atol=1e-7)
    finally:
        capture.set_enabled(True)
        if array == "np":
            npx.reset_np()


def test_another_shape_dtype_or_a_tracked_argument():
    x, x2, y = _arrays(0), _arrays(1), _arrays(2, (2, 3))
    tracked = _arrays(4)
    tracked.attach_grad()
    feeds = [(x, x2, y, None)] * 7
    feeds += [(_arrays(5, (3, 4)), _arrays(6, (3, 4)), _arrays(7, (3, 3)), None)] * 2
    feeds += [(x, x2, y, None)] * 2
    feeds += [(x.astype("float64"), x2.astype("float64"), y.astype("float64"), None)] * 2
    feeds += [(tracked, x2, y, None)] * 2 + [(x, x2, y, None)] * 3
    _same(feeds)


def test_the_plain_steps_are_bound_by_generated_code():
    """(Else the tests above would check only the general binders.)"""
    x, x2, y = _arrays(0), _arrays(1), _arrays(2, (2, 3))
    net, loss_fn, trainer = _model()
    for _ in range(8):
        with autograd.record():
            loss = loss_fn(net(x, x2), y)
        loss.backward()
        trainer.step(2)
    assert mx.stats()["fused_update_steps"] > 0
    calls = [pop.fast_call for plans in _capture._STATE.plans.values() for plan in plans
             for pop in plan.ops if pop.entry is not None]
    assert calls and all(callable(c) for c in calls), calls
    replays = [r for rep in _block._REPLAYS.values() for r in rep[1]]
    assert replays and all(callable(r.fast) for r in replays), replays
    assert "bound is not None and bound is not d" in calls[0].source


def test_a_parameter_replaced_between_steps():
    x, x2, y = _arrays(0), _arrays(1), _arrays(2, (2, 3))
    for on in (True, False):
        capture.set_enabled(on)
        net, loss_fn, trainer = _model()
        for i in range(12):
            if i == 7:
                net.dense.weight.set_data(nd.ones((3, 4)) * 0.1)
            with autograd.record():
                loss = loss_fn(net(x, x2), y)
            loss.backward()
            trainer.step(2)
        if on:
            got = [p.data().asnumpy() for p in net.collect_params().values()]
        else:
            want = [p.data().asnumpy() for p in net.collect_params().values()]
    capture.set_enabled(True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
