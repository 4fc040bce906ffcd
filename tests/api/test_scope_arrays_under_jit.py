"""Arrays a compiled function reads from its scope (closure, globals, a block attribute)
rather than through its arguments. Compiled code must use what the array is at the call,
as eager code does: its buffer, its variable (attached again, or attached after the trace),
the array a name is bound to now, and a value recorded before the call. Each case is checked
against the same code run eagerly and against a float64 reference."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, capture, gluon, nd
from tracegrad.tracing import jit as _jit

pytestmark = pytest.mark.usefixtures("fresh_capture")

RS = np.random.RandomState(7)
X64 = RS.rand(4, 3)
W64 = RS.rand(3, 2)


def _tanh_sum_grad_w(x, w):
    """d/dw sum(tanh(x @ w)) in float64."""
    return x.T @ (1 - np.tanh(x @ w) ** 2)


@pytest.mark.parametrize("compiled", [True, False])
def test_a_closure_variable_attached_again_before_every_step(compiled):
    x, w = nd.array(X64), nd.array(W64)
    f = mx.jit(lambda x: nd.sum(nd.tanh(nd.dot(x, w)))) if compiled else \
        (lambda x: nd.sum(nd.tanh(nd.dot(x, w))))
    for _ in range(4):
        w.attach_grad()
        with autograd.record():
            y = f(x)
        y.backward()
        np.testing.assert_allclose(w.grad.asnumpy(), _tanh_sum_grad_w(X64, W64), rtol=1e-5)
    if compiled:
        assert f.counts["traces"] == 1      # the variable is fed, not traced again


def test_a_closure_constant_made_a_variable_after_the_trace():
    x, w = nd.array(X64), nd.array(W64)
    f = mx.jit(lambda x: nd.sum(nd.tanh(nd.dot(x, w))))
    x.attach_grad()
    with autograd.record():
        f(x).backward()
    w.attach_grad()
    for _ in range(2):
        with autograd.record():
            y = f(x)
        y.backward()
        np.testing.assert_allclose(w.grad.asnumpy(), _tanh_sum_grad_w(X64, W64), rtol=1e-5)
    # and back: grad_req 'null' again delivers none, as eager
    w.attach_grad("null")
    with autograd.record():
        y = f(x)
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), (1 - np.tanh(X64 @ W64) ** 2) @ W64.T,
                               rtol=1e-5)


def test_the_gradient_of_a_closure_variable_against_finite_differences():
    w = nd.array(W64)
    w.attach_grad()
    x = nd.array(X64)
    f = mx.jit(lambda x: nd.sum(nd.tanh(nd.dot(x, w)) * nd.dot(x, w)))
    with autograd.record():
        y = f(x)
    y.backward()
    w.attach_grad()
    with autograd.record():
        y = f(x)
    y.backward()

    def value(w64):
        return np.sum(np.tanh(X64 @ w64) * (X64 @ w64))
    eps, numeric = 1e-6, np.zeros_like(W64)
    for i in np.ndindex(W64.shape):
        d = np.zeros_like(W64)
        d[i] = eps
        numeric[i] = (value(W64 + d) - value(W64 - d)) / (2 * eps)
    np.testing.assert_allclose(w.grad.asnumpy(), numeric, rtol=1e-4, atol=1e-5)


W_GLOBAL = None


def _global_loss(x, y):
    return nd.mean((nd.dot(x, W_GLOBAL) - y) ** 2)


def test_a_global_rebound_every_step_is_read_as_it_is_now():
    """The tutorial's manual SGD with the weight as a global: `W = W - lr * W.grad` binds the
    name to a new array at every step. The compiled code follows it, and after MAX_REBINDS
    retraces the function runs eagerly with a warning saying why."""
    global W_GLOBAL
    x, y = nd.array(X64), nd.array(X64 @ W64[:, :1] + 0.1)
    W_GLOBAL = nd.zeros((3, 1))
    f = mx.jit(_global_loss)
    w64 = np.zeros((3, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(_jit.MAX_REBINDS + 3):
            W_GLOBAL.attach_grad()
            with autograd.record():
                loss = f(x, y)
            loss.backward()
            r = X64 @ w64 - y.asnumpy()
            np.testing.assert_allclose(loss.asscalar(), np.mean(r ** 2), rtol=1e-5)
            np.testing.assert_allclose(W_GLOBAL.grad.asnumpy(), 2 * X64.T @ r / len(r),
                                       rtol=1e-4, atol=1e-6)
            W_GLOBAL = W_GLOBAL - 0.3 * W_GLOBAL.grad
            w64 = w64 - 0.3 * (2 * X64.T @ r / len(r))
    assert any("W_GLOBAL was bound to another array between calls" in str(w.message)
               for w in caught)
    assert f.counts["traces"] == _jit.MAX_REBINDS + 1
    assert f.counts["eager_fallbacks"] == 2


def test_a_closure_array_recomputed_under_record_every_step():
    """h is recorded before the call (from a variable and a Python number that changes): the
    compiled code reads h, it does not replay how h was computed."""
    x, w = nd.array([1., 2., 3.]), nd.array([0.5, 0.25, 2.])
    w.attach_grad()
    f = mx.jit(lambda x: nd.sum(x * h))
    for i in range(3):
        with autograd.record():
            h = w * 2 + i
            y = f(x)
        y.backward()
        assert y.asscalar() == pytest.approx(float(np.sum([1, 2, 3] * (np.array(
            [0.5, 0.25, 2.]) * 2 + i))), rel=1e-6)
        np.testing.assert_allclose(w.grad.asnumpy(), [2., 4., 6.])


def test_a_closure_array_recorded_once_and_read_by_many_calls():
    """h recorded before the calls, w then changed in place: eager reads h as it was computed;
    so does compiled code (it does not recompute h from w). One trace serves the calls."""
    w = nd.array([0.5, 0.25, 2.])
    w.attach_grad()
    x = nd.array([1., 2., 3.])
    with autograd.record():
        h = w * 2
    f = mx.jit(lambda x: nd.sum(x * h))
    first = f(x).asscalar()
    w[:] = 10        # outside record: in place; h keeps its values
    assert f(x).asscalar() == first == pytest.approx(1 + 1 + 12)
    with autograd.record():
        y = f(x)
    y.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), [2., 4., 6.])
    assert f.counts["traces"] <= 2


@pytest.mark.parametrize("container", ["list", "dict"])
def test_a_recorded_array_in_a_container(container):
    """An array recorded before the call that the function reaches through a container. A
    list's item is out of reach: compiled code could not read it again, so that signature
    runs eagerly (with a warning). A dict's item under a constant key (`box["h"]`) is a place
    of its scope: read again at every call, compiled. Every call gets eager's answer."""
    w = nd.array([0.5, 0.25, 2.])
    w.attach_grad()
    box = [None] if container == "list" else {}
    key = 0 if container == "list" else "h"
    f = mx.jit((lambda x: nd.sum(x * box[0])) if container == "list" else
               (lambda x: nd.sum(x * box["h"])))
    x = nd.array([1., 2., 3.])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            with autograd.record():
                box[key] = w * (i + 1)
                y = f(x)
            y.backward()
            assert y.asscalar() == pytest.approx(7.0 * (i + 1), rel=1e-6)
            np.testing.assert_allclose(w.grad.asnumpy(), [1. * (i + 1), 2. * (i + 1),
                                                          3. * (i + 1)])
    eager = any("recorded before the call" in str(w.message) for w in caught)
    assert eager == (container == "list")
    if container == "dict":
        assert f.counts["native"] >= 1


def test_a_closure_constant_written_while_recording():
    """A write while recording gives the array a new buffer (the recorded graph keeps the old
    one): the next compiled call reads the new one."""
    c = nd.array([1., 2., 3.])
    x = nd.array([1., 1., 1.])
    x.attach_grad()
    f = mx.jit(lambda x: nd.sum(x * c))
    with autograd.record():
        y = f(x)
    y.backward()
    for v in (5., 7.):
        with autograd.record():
            c[:] = v
            y = f(x)
        y.backward()
        assert y.asscalar() == pytest.approx(3 * v)
        np.testing.assert_allclose(x.grad.asnumpy(), [v] * 3)


class Scaled(gluon.HybridBlock):
    """A Dense layer scaled by an NDArray attribute (not a Parameter)."""

    def __init__(self):
        super().__init__()
        self.dense = gluon.nn.Dense(2, in_units=3)
        self.scale = nd.array([1.5, -0.5])

    def hybrid_forward(self, F, x):
        return self.dense(x) * self.scale


@pytest.mark.parametrize("capture_on", [True, False])
def test_a_block_attribute_rebound_attached_and_written(capture_on):
    capture.set_enabled(capture_on)
    try:
        mx.random.seed(1)
        net = Scaled()
        net.initialize()
        net.hybridize()
        x = nd.array(X64)
        weight, bias = (p.data().asnumpy().astype(np.float64)
                        for p in net.collect_params().values())

        def expect(scale):
            return (X64 @ weight.T + bias) * scale
        for _ in range(3):
            with autograd.record():
                out = net(x)
            out.backward()
            np.testing.assert_allclose(out.asnumpy(), expect([1.5, -0.5]), rtol=1e-5)
        net.scale = nd.array([2., 3.])              # rebound
        for _ in range(2):
            with autograd.record():
                out = net(x)
            out.backward()
            np.testing.assert_allclose(out.asnumpy(), expect([2., 3.]), rtol=1e-5)
        net.scale[:] = 4.                           # written in place
        np.testing.assert_allclose(net(x).asnumpy(), expect([4., 4.]), rtol=1e-5)
        net.scale.attach_grad()                     # made a variable after the traces
        for _ in range(2):
            with autograd.record():
                out = net(x)
            out.backward()
            np.testing.assert_allclose(net.scale.grad.asnumpy(),
                                       (X64 @ weight.T + bias).sum(axis=0), rtol=1e-5)
    finally:
        capture.set_enabled(True)


class Model:
    """A plain object holding the weight: the function reads `model.w`, which is no place
    jit watches (closure cell, global, own attribute) — only the array itself is."""


def test_a_weight_rebound_on_an_object_the_closure_holds():
    """`model.w = model.w - lr * grad` leaves the old array to die: the compiled code that
    read it is dropped rather than fed a dead array or a stale copy."""
    model = Model()
    model.w = nd.array(W64[:, :1])
    x, y = nd.array(X64), nd.array(X64 @ W64[:, 1:] - 0.2)
    f = mx.jit(lambda x, y: nd.mean((nd.dot(x, model.w) - y) ** 2))
    w64 = W64[:, :1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(6):
            model.w.attach_grad()
            with autograd.record():
                loss = f(x, y)
            loss.backward()
            r = X64 @ w64 - y.asnumpy()
            np.testing.assert_allclose(loss.asscalar(), np.mean(r ** 2), rtol=1e-5)
            np.testing.assert_allclose(model.w.grad.asnumpy(), 2 * X64.T @ r / len(r),
                                       rtol=1e-4, atol=1e-6)
            model.w = model.w - 0.3 * model.w.grad
            w64 = w64 - 0.3 * (2 * X64.T @ r / len(r))


def test_an_object_weight_updated_in_place_keeps_one_trace():
    model = Model()
    model.w = nd.array(W64[:, :1])
    x = nd.array(X64)
    f = mx.jit(lambda x: nd.sum(nd.dot(x, model.w)))
    for k in range(5):
        model.w[:] = k
        assert f(x).asscalar() == pytest.approx(k * X64.sum(), rel=1e-5)
    assert f.counts["traces"] == 1


def test_arrays_the_function_makes_itself_are_no_scope_arrays():
    """An array made inside the function (its own constant) dies after the trace: its feed
    reads the buffer the trace saw, and the calls that follow neither trace again nor run
    eagerly."""
    f = mx.jit(lambda x: x * nd.array([1., 2., 3.]) + nd.ones((3,)))
    x = nd.array([2., 2., 2.])
    x.attach_grad()
    for _ in range(4):
        with autograd.record():
            y = f(x)
        y.backward()
        np.testing.assert_allclose(y.asnumpy(), [3., 5., 7.])
        np.testing.assert_allclose(x.grad.asnumpy(), [1., 2., 3.])
    assert f.counts["traces"] == 1 and f.counts["eager_fallbacks"] == 0
    assert not f.held


LR_GLOBAL = 0.5


def test_python_numbers_and_flags_of_the_scope_are_watched():
    """A global or closure number or flag the function reads is fixed in its trace: when it
    changes, the next call traces again (here a learning rate decayed between calls, and a
    closure flag that picks a branch)."""
    global LR_GLOBAL
    LR_GLOBAL = 0.5
    square = True
    f = mx.jit(lambda w, g: w - LR_GLOBAL * (g * g if square else g))
    w, g = nd.array([1., 2.]), nd.array([3., 4.])
    for lr, sq in ((0.5, True), (0.25, True), (0.25, False), (0.1, False)):
        LR_GLOBAL, square = lr, sq
        want = np.array([1., 2.]) - lr * (np.array([9., 16.]) if sq else np.array([3., 4.]))
        np.testing.assert_allclose(f(w, g).asnumpy(), want, rtol=1e-6)
        np.testing.assert_allclose(f(w, g).asnumpy(), want, rtol=1e-6)
    assert f.counts["traces"] == 4


def test_a_number_changed_at_every_call_ends_in_eager_with_a_warning():
    scale = 1.0
    f = mx.jit(lambda x: x * scale)
    x = nd.array([1., 2.])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(8):
            scale = float(k)
            np.testing.assert_allclose(f(x).asnumpy(), [k, 2 * k])
    assert any("scale was bound to another value" in str(w.message) for w in caught)
    assert f.counts["traces"] == _jit.MAX_REBINDS + 1


def test_a_block_attribute_number_stays_fixed_as_in_mxnet():
    """hybridize() follows MXNet: a cached graph keeps the Python numbers it was built with."""
    class Scale(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.k = 2.0

        def hybrid_forward(self, F, x):
            return x * self.k
    blk = Scale()
    blk.hybridize()
    x = nd.array([1., 2.])
    np.testing.assert_allclose(blk(x).asnumpy(), [2., 4.])
    blk.k = 3.0
    np.testing.assert_allclose(blk(x).asnumpy(), [2., 4.])
    blk.hybridize()                     # (builds it again, as MXNet's _clear_cached_op)
    np.testing.assert_allclose(blk(x).asnumpy(), [3., 6.])


def test_explain_names_what_it_watches():
    rate = 0.5
    w = nd.array([1., 2.])
    f = mx.jit(lambda x: x * w * rate)
    f(nd.array([1., 1.]))
    text = f.explain()
    assert "scope watched (a change traces again): 1 array(s), rate=0.5" in text


@pytest.mark.parametrize("capture_on", [True, False])
@pytest.mark.parametrize("change", ["write", "rebind", "rebind_child", "attach"])
def test_the_usual_step_with_an_attribute_changed_mid_training(capture_on, change):
    """The usual step (hybridized net with an NDArray attribute, loss outside, Trainer), the
    attribute written in place, rebound (on the block, or on a child of the hybridized one)
    or made a variable half-way: the same parameters as eager. (The captured step binds a
    block's call without the JitFunction: the change must reach it too.)"""
    def run(hybrid):
        capture.set_enabled(capture_on)
        try:
            mx.random.seed(2)
            net = Scaled()
            if change == "rebind_child":     # (the block a child of the hybridized one)
                outer = gluon.nn.HybridSequential()
                outer.add(net)
            else:
                outer = net
            outer.initialize()
            if hybrid:
                outer.hybridize()
            loss_fn = gluon.loss.L2Loss()
            trainer = gluon.Trainer(outer.collect_params(), "sgd", {"learning_rate": 0.05})
            rs = np.random.RandomState(3)
            for i in range(16):
                if i == 8:
                    if change == "attach":
                        net.scale.attach_grad()
                    elif change == "write":
                        net.scale[:] = nd.array([0.25, 2.])
                    else:
                        net.scale = nd.array([0.25, 2.])
                x, y = nd.array(rs.randn(4, 3)), nd.array(rs.randn(4, 2))
                with autograd.record():
                    loss = loss_fn(outer(x), y)
                loss.backward()
                trainer.step(4)
            out = [p.data().asnumpy() for p in outer.collect_params().values()]
            if change == "attach":
                out.append(net.scale.grad.asnumpy())
            return out
        finally:
            capture.set_enabled(True)
    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_child_attribute_recorded_before_the_call_is_an_input():
    """A child block's attribute computed under record() before the parent's hybridized call:
    read as it is at each call, its gradient flowing into its own graph."""
    w = nd.array([0.5, -1.0])
    outer = gluon.nn.HybridSequential()
    net = Scaled()
    outer.add(net)
    outer.initialize()
    outer.hybridize()
    x = nd.array(X64)
    weight, bias = (p.data().asnumpy().astype(np.float64)
                    for p in outer.collect_params().values())
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # (no eager fallback: the attribute is reached)
        for k in range(3):
            w.attach_grad()
            with autograd.record():
                net.scale = w * (k + 1)
                y = outer(x).sum()
            y.backward()
            dense = X64 @ weight.T + bias
            assert y.asscalar() == pytest.approx((dense * w.asnumpy() * (k + 1)).sum(),
                                                 rel=1e-5)
            np.testing.assert_allclose(w.grad.asnumpy(), dense.sum(axis=0) * (k + 1),
                                       rtol=1e-5)


class Caching(gluon.HybridBlock):
    """Its forward rebinds its own attribute (a side effect in traced code), reading the one
    the previous call left."""

    def __init__(self):
        super().__init__()
        self.last = nd.array([1., 1.])

    def hybrid_forward(self, F, x):
        out = x * self.last
        self.last = x + 1
        return out


def test_a_forward_that_rebinds_its_own_attribute_matches_eager():
    eager, compiled = Caching(), Caching()
    compiled.hybridize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(6):
            x = nd.array([k, 2. * k])
            np.testing.assert_allclose(compiled(x).asnumpy(), eager(x).asnumpy())


def test_the_first_call_of_a_forward_that_rebinds_what_it_reads_sees_the_old_array():
    eager, compiled = Caching(), Caching()
    compiled.hybridize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(1, 5):
            x = nd.array([k, 2. * k])
            np.testing.assert_allclose(compiled(x).asnumpy(), eager(x).asnumpy())
            np.testing.assert_allclose(compiled.last.asnumpy(), eager.last.asnumpy())


class Storing(gluon.HybridBlock):
    """Keeps an array its forward computes, as MXNet's VAE example keeps `self.output`."""

    def __init__(self):
        super().__init__()
        self.output = None

    def hybrid_forward(self, F, x):
        y = F.tanh(x)
        self.output = y
        return y * 2


def test_an_attribute_only_written_by_the_forward_keeps_it_compiled():
    """MXNet's VAE example stores `self.output = y` in hybrid_forward (in MXNet a Symbol after
    hybridize): a name the forward writes but does not read leaves it compiled."""
    blk = Storing()
    blk.hybridize()
    x = nd.array([0.5, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            np.testing.assert_allclose(blk(x).asnumpy(), 2 * np.tanh([0.5, -1.0]), rtol=1e-6)
    jf = blk.__dict__["_tg_jit"]
    assert jf.counts["native"] == 3 and jf.counts["eager_fallbacks"] == 0


@pytest.mark.parametrize("hybridized", [True, False])
def test_an_array_the_forward_stores_is_each_calls_own(hybridized):
    """The array a forward leaves in `self.output` is that call's, recorded like eager's:
    a later op on it differentiates into the call's input (compiled: an output of the call,
    bound to the attribute after it)."""
    blk = Storing()
    if hybridized:
        blk.hybridize()
    w = nd.array([1., 2.])
    w.attach_grad()
    for v in ([0.5, -1.0], [2.0, 0.25], [-0.3, 0.7]):
        x = nd.array(v)
        x.attach_grad()
        with autograd.record():
            blk(x)
            z = (blk.output * w).sum()
        z.backward()
        np.testing.assert_allclose(blk.output.asnumpy(), np.tanh(v), rtol=1e-6)
        np.testing.assert_allclose(w.grad.asnumpy(), np.tanh(v), rtol=1e-6)
        np.testing.assert_allclose(x.grad.asnumpy(), [1., 2.] * (1 - np.tanh(v) ** 2),
                                   rtol=1e-5)
    if hybridized:
        assert blk.__dict__["_tg_jit"].counts["traces"] == 1


def test_a_parameter_array_the_forward_stores_keeps_its_variable():
    class Storing(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.dense = gluon.nn.Dense(2, in_units=2)

        def hybrid_forward(self, F, x):
            self.weight_seen = self.dense.weight.data()
            return self.dense(x).sum()
    blk = Storing()
    blk.initialize()
    blk.hybridize()
    x = nd.array([[0.5, -1.0]])
    for _ in range(2):
        with autograd.record():
            y = blk(x)
        y.backward()
        np.testing.assert_allclose(blk.dense.weight.grad().asnumpy(), [[0.5, -1.0]] * 2)
