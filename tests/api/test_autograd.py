"""Public autograd behaviour, MXNet 1.x semantics, and the tutorial's examples."""
import math
import threading

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def _grad_of(fn, x0):
    x = nd.array(x0)
    x.attach_grad()
    with autograd.record():
        y = fn(x)
    y.backward()
    return x.grad.asnumpy()


# ---------------------------------------------------------------- the tutorial
def test_tutorial_two_x_squared():
    x = mx.nd.array([1, 2, 3])
    x.attach_grad()
    with autograd.record():
        y = 2 * x ** 2
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [4, 8, 12])
    assert str(x.grad) == "\n[ 4.  8. 12.]\n<NDArray 3 @cpu(0)>"


def test_tutorial_head_gradient_192():
    x = mx.nd.array([2, ])
    x.attach_grad()
    with autograd.record():
        y = x ** 3
    y_np = y.asnumpy()
    dzdy = mx.nd.array(2 * y_np)
    y.backward(dzdy)
    assert x.grad.asscalar() == 192


def _tutorial_f(x):
    y = x
    if x < 0.75:
        num_loops = math.floor(1 / (1 - x.asscalar()))
        for _ in range(num_loops):
            y = y * x
    else:
        y = y * 0
    return y


def test_tutorial_control_flow_segments():
    xs = mx.nd.arange(0.0, 1.0, step=0.1)
    grads = []
    for x in xs:
        assert x.shape == (1,)
        x.attach_grad()
        with autograd.record():
            y = _tutorial_f(x)
        y.backward()
        grads.append(x.grad.asscalar())
    for x, g in zip(xs.asnumpy(), grads):
        x = float(x)
        if x < 0.5:
            want = 2 * x
        elif x < 2 / 3:
            want = 3 * x ** 2
        elif x < 0.75:
            want = 4 * x ** 3
        else:
            want = 0.0
        assert g == pytest.approx(want, rel=1e-5, abs=1e-6), x
    assert grads[6] == pytest.approx(1.08, rel=1e-5)


def test_tutorial_dropout_and_training_mode():
    data = mx.nd.ones(shape=(3, 3))
    out = mx.nd.Dropout(data, p=0.5)
    assert not autograd.is_training()
    np.testing.assert_array_equal(out.asnumpy(), np.ones((3, 3)))
    mx.random.seed(1)
    with autograd.record():
        assert autograd.is_training() and autograd.is_recording()
        out = mx.nd.Dropout(mx.nd.ones((300, 300)), p=0.5)
    vals = set(np.unique(out.asnumpy()).tolist())
    assert vals == {0.0, 2.0}
    assert abs((out.asnumpy() == 0).mean() - 0.5) < 0.01
    with autograd.record(train_mode=False):
        np.testing.assert_array_equal(mx.nd.Dropout(data, p=0.5).asnumpy(), np.ones((3, 3)))


# ---------------------------------------------------------------- semantics
def test_non_scalar_head_sums_implicitly_and_head_grads_scale():
    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    x.attach_grad()
    with autograd.record():
        y = x * x
    y.backward(nd.array([[1.0, 0.5], [2.0, 0.0]]))
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * x.asnumpy() * [[1, 0.5], [2, 0]])
    np.testing.assert_allclose(_grad_of(lambda x: nd.exp(x), [0.0, 1.0]), np.exp([0.0, 1.0]),
                               rtol=1e-6)


def test_grad_req_write_add_null():
    x = nd.array([1.0, 2.0])
    x.attach_grad(grad_req="add")
    for _ in range(2):
        with autograd.record():
            y = 3 * x
        y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [6, 6])
    x.attach_grad(grad_req="write")
    for _ in range(2):
        with autograd.record():
            y = 3 * x
        y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [3, 3])
    w = nd.array([1.0])
    w.attach_grad(grad_req="null")
    with autograd.record():
        y = x * w
    y.backward()
    assert w.grad is not None and w.grad.asscalar() == 0
    with pytest.raises(ValueError, match="grad_req"):
        x.attach_grad(grad_req="bogus")


def test_second_backward_needs_retain_graph():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = nd.sum(nd.exp(x))
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(mx.MXNetError, match="retain_graph"):
        y.backward()


def test_backward_of_unrecorded_raises():
    x = nd.array([1.0])
    x.attach_grad()
    y = x * 2
    with pytest.raises(mx.MXNetError, match="record"):
        y.backward()


def test_inplace_write_to_recorded_array_raises():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * 2
        with pytest.raises(mx.MXNetError, match="in-place"):
            y[0] = 5
        with pytest.raises(mx.MXNetError, match="in-place"):
            y += 1


def test_recording_state_is_thread_local():
    seen = {}

    def worker():
        seen["rec"] = autograd.is_recording()
    with autograd.record():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert autograd.is_recording()
    assert seen["rec"] is False


def test_pause_train_predict_mode_and_setters():
    with autograd.record():
        with autograd.pause():
            assert not autograd.is_recording() and not autograd.is_training()
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
    with autograd.train_mode():
        assert autograd.is_training() and not autograd.is_recording()
    prev = autograd.set_recording(True)
    assert prev is False and autograd.is_recording()
    autograd.set_recording(False)
    assert autograd.set_training(True) is False
    autograd.set_training(False)


def test_record_scopes_nest_and_restore_on_errors():
    """record() (a scope class), pause(), MXNet's _RecordingStateScope: each restores the
    state it found, also when the block raises."""
    with autograd.record(train_mode=False):
        assert autograd.is_recording() and not autograd.is_training()
        with autograd._RecordingStateScope(None, True):
            assert autograd.is_recording() and autograd.is_training()
            with pytest.raises(ValueError):
                with autograd.pause():
                    assert not autograd.is_recording()
                    raise ValueError
            assert autograd.is_recording() and autograd.is_training()
        with autograd.record():
            assert autograd.is_training()
        assert autograd.is_recording() and not autograd.is_training()
    assert not autograd.is_recording() and not autograd.is_training()


def test_autograd_grad_and_higher_order():
    x = nd.array([0.5, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x ** 3
        (dy,) = autograd.grad(y, [x], create_graph=True)
        (d2y,) = autograd.grad(dy, [x], create_graph=True)
    np.testing.assert_allclose(dy.asnumpy(), 3 * x.asnumpy() ** 2, rtol=1e-6)
    np.testing.assert_allclose(d2y.asnumpy(), 6 * x.asnumpy(), rtol=1e-6)
    d2y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), [6.0, 6.0], rtol=1e-6)


def test_higher_order_of_transcendentals():
    x = nd.array([0.3, -0.7], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.tanh(x) * nd.sin(x)
        (g,) = autograd.grad(y, [x], create_graph=True)
    g.backward()
    t, s, c = np.tanh(x.asnumpy()), np.sin(x.asnumpy()), np.cos(x.asnumpy())
    d1t, d2t = 1 - t ** 2, -2 * t * (1 - t ** 2)
    want = d2t * s + 2 * d1t * c - t * s
    np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-10)


def test_gradient_of_a_linear_op_stays_in_the_graph():
    """A linear op's gradient is a constant; taken with create_graph it is still recorded
    (MXNet records every op of such a backward), so a second grad gives zeros, and the
    product with a function of x differentiates through x only."""
    x = nd.array([1.0, -2.0, 3.0], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.radians(x) * 2 + 1
        (g,) = autograd.grad(y, [x], head_grads=nd.array([1.0, 2.0, 3.0], dtype="float64"),
                             create_graph=True, retain_graph=True)
        (g2,) = autograd.grad(g, [x], create_graph=True, retain_graph=True)
        z = (g * x * x).sum()
    np.testing.assert_allclose(g.asnumpy(), np.pi / 90 * np.array([1, 2, 3]), rtol=1e-12)
    np.testing.assert_array_equal(g2.asnumpy(), [0, 0, 0])
    z.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * g.asnumpy() * x.asnumpy(), rtol=1e-12)


def test_second_order_of_arcsinh_against_finite_differences():
    """d2/dx2 arcsinh(x) = -x / (1 + x^2)^(3/2). (MXNet 1.9.1's arcsinh second derivative has
    the opposite sign, and its test_higher_order_grad expects that: not followed.)"""
    x0 = np.array([-1.5, -0.2, 0.4, 2.0])
    x = nd.array(x0, dtype="float64")
    x.attach_grad()
    with autograd.record():
        (g,) = autograd.grad(nd.arcsinh(x), [x], create_graph=True)
    g.backward()
    h = 1e-5
    fd = (1 / np.sqrt(1 + (x0 + h) ** 2) - 1 / np.sqrt(1 + (x0 - h) ** 2)) / (2 * h)
    np.testing.assert_allclose(x.grad.asnumpy(), fd, rtol=1e-7)
    np.testing.assert_allclose(x.grad.asnumpy(), -x0 / (1 + x0 ** 2) ** 1.5, rtol=1e-12)


def test_grad_does_not_touch_dot_grad_and_unused_variable_is_zero():
    x, z = nd.array([1.0, 2.0]), nd.array([3.0])
    x.attach_grad()
    z.attach_grad()
    with autograd.record():
        y = nd.sum(x * x)
    gx, gz = autograd.grad(y, [x, z])
    np.testing.assert_array_equal(gx.asnumpy(), [2, 4])
    np.testing.assert_array_equal(gz.asnumpy(), [0])
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])


def test_mark_variables():
    x = nd.array([1.0, 2.0])
    g = nd.zeros((2,))
    autograd.mark_variables([x], [g])
    with autograd.record():
        y = x * x
    autograd.backward([y])
    np.testing.assert_array_equal(g.asnumpy(), [2, 4])


def test_cached_adjoint_is_reused_with_fresh_values():
    for scale in (1.0, 2.0, 3.0):
        x = nd.array([scale, 2 * scale])
        x.attach_grad()
        with autograd.record():
            y = nd.sum(nd.log(x) * x)
        y.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), np.log(x.asnumpy()) + 1, rtol=1e-6)


def test_broadcast_gradients_are_summed_back():
    a = nd.ones((3, 1))
    b = nd.ones((1, 4)) * 2
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = a * b
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(b.grad.asnumpy(), np.full((1, 4), 3.0))


def test_custom_function():
    class Sigmoid(autograd.Function):
        def forward(self, x):
            y = 1 / (1 + nd.exp(-x))
            self.save_for_backward(y)
            return y

        def backward(self, dy):
            (y,) = self.saved_tensors
            return dy * y * (1 - y)

    x = nd.array([-1.0, 0.0, 2.0])
    x.attach_grad()
    f = Sigmoid()
    with autograd.record():
        y = f(x) * 2
    y.backward()
    s = 1 / (1 + np.exp(-x.asnumpy()))
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * s * (1 - s), rtol=1e-6)


def test_detach_and_stop_gradient_block_the_gradient():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * x.detach() + nd.stop_gradient(x * 5)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 2])


def test_gradient_buffers_stay_valid_when_results_are_handed_over():
    """backward may hand its fresh result to a variable instead of copying; anything a user
    still holds (an old .grad, a head gradient) must keep seeing correct values."""
    x = nd.array(np.ones((50, 40), np.float32))
    x.attach_grad()
    held = x.grad
    for scale in (2.0, 3.0):
        with autograd.record():
            y = nd.exp(x) * scale
        y.backward()
        np.testing.assert_allclose(held.asnumpy(), scale * np.e, rtol=1e-6)
        np.testing.assert_allclose(x.grad.asnumpy(), scale * np.e, rtol=1e-6)
    z = nd.ones((30, 30))
    z.attach_grad()
    head = nd.full((30, 30), 5.0)
    with autograd.record():
        w = z * 1.0
    w.backward(head)
    z.grad[:] = 0
    assert head.asnumpy().min() == 5.0
    with autograd.record():
        w = nd.relu(z)
    w.backward()
    np.testing.assert_array_equal(z.grad.asnumpy(), 1.0)


def test_hot_adjoints_compile_and_keep_giving_the_same_gradients():
    """After NATIVE_AFTER identical backward passes the cached adjoint runs as native code;
    gradients before and after must agree (and with a custom Function in the graph too)."""
    from tracegrad.runtime import tape

    class Square(autograd.Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, dy):
            (x,) = self.saved_tensors
            return 2 * x * dy

    rs = np.random.RandomState(0)
    w = nd.array(rs.randn(6, 5).astype(np.float32))
    w.attach_grad()
    grads = []
    square = Square()
    for i in range(tape.NATIVE_AFTER + 3):
        x = nd.array(rs.randn(4, 6).astype(np.float32))
        with autograd.record():
            h = nd.tanh(nd.dot(x, w))
            y = nd.sum(nd.log_softmax(square(h)))
        y.backward()
        xs, ws = x.asnumpy(), w.asnumpy()
        h_np = np.tanh(xs @ ws)
        s = h_np ** 2
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dy = 1 - p * s.shape[1]
        want = xs.T @ (dy * 2 * h_np * (1 - h_np ** 2))
        np.testing.assert_allclose(w.grad.asnumpy(), want, rtol=2e-4, atol=1e-5)
        grads.append(i)
    hot = [a.program for a in tape._ADJOINTS.values() if a.program is not None
           and a.program.native not in (None, False) and "custom_grad" in str(a.program.fn)]
    assert hot, "the repeated adjoint was never compiled"


def test_custom_function_instances_live_only_as_long_as_their_graph():
    import gc

    class Twice(autograd.Function):
        def forward(self, x):
            return x * 2

        def backward(self, dy):
            return dy * 2

    import weakref
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    fn = Twice()
    alive = weakref.ref(fn)
    with autograd.record():
        y = fn(x)
    del fn
    gc.collect()
    assert alive() is not None  # the graph keeps it for backward
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2, 2])
    del y
    gc.collect()
    assert alive() is None
