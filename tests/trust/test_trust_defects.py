"""Issue 11's defects, each as the test that would have caught it: ops that went around the
dispatcher (mod, randint, in-place writes), dtype corners (bool sums, bool exp, empty means)."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def jit_twice(fn, first, second):
    """fn compiled, called on `first` then `second`: the second result, against eager."""
    f = mx.jit(fn)
    f(*first)
    got = f(*second)
    want = fn(*second)
    return got, want


def test_mod_is_traced_not_frozen():
    got, want = jit_twice(lambda x: x % 3.0, [nd.array([4.0, 5.0])], [nd.array([7.5, 8.5])])
    np.testing.assert_allclose(got.asnumpy(), [1.5, 2.5])
    np.testing.assert_allclose(want.asnumpy(), [1.5, 2.5])


def test_rmod_and_negative_operands_follow_numpy():
    x = nd.array([-7.5, 7.5, 2.0])
    np.testing.assert_array_equal((x % -3.0).asnumpy(), np.mod(x.asnumpy(), -3.0))
    np.testing.assert_array_equal((10.0 % x).asnumpy(), np.mod(10.0, x.asnumpy()))
    got, _ = jit_twice(lambda x: 10.0 % x, [nd.array([1.0, 1.0, 1.0])], [x])
    np.testing.assert_allclose(got.asnumpy(), np.mod(10.0, x.asnumpy()), rtol=1e-6)
    i = nd.array([-7, 7, 5], dtype="int32")
    np.testing.assert_array_equal((i % 3).asnumpy(), [2, 1, 2])
    np.testing.assert_array_equal(nd.modulo(i, nd.array([0, -3, 2], dtype="int32")).asnumpy(),
                                  [0, -2, 1])


def test_mod_in_eager_autograd_records():
    x = nd.array([4.0, 5.0])
    x.attach_grad()
    with autograd.record():
        y = (x % 3) * x
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), [5.0, 7.0])  # (x % 3) + x
    d = nd.array([3.0, 2.0])
    d.attach_grad()
    with autograd.record():
        z = nd.array([7.0, 7.0]) % d
    z.backward()
    np.testing.assert_allclose(d.grad.asnumpy(), [-2.0, -3.0])  # -floor(7 / d)


def test_randint_in_jit_draws_fresh_numbers():
    f = mx.jit(lambda x: x + nd.random.randint(0, 1 << 30, shape=(4,)).astype("float64"))
    x = nd.zeros(4, dtype="float64")
    a, b = f(x).asnumpy(), f(x).asnumpy()
    assert not np.array_equal(a, b)
    assert np.all(a == np.floor(a)) and a.min() >= 0 and a.max() < 1 << 30


def test_randint_same_seed_same_draws_eager_and_jit():
    mx.random.seed(5)
    eager = nd.random.randint(-3, 9, shape=(50,))
    f = mx.jit(lambda x: x + nd.random.randint(-3, 9, shape=(50,)))
    mx.random.seed(5)
    compiled = f(nd.zeros(50, dtype="int32"))
    assert eager.dtype == np.int32 and compiled.dtype == np.int32
    np.testing.assert_array_equal(eager.asnumpy(), compiled.asnumpy())
    assert eager.asnumpy().min() >= -3 and eager.asnumpy().max() < 9


def _accumulate(x):
    y = nd.zeros(2)
    y += x
    y *= 2
    y -= 1
    y /= 2
    return y


def test_inplace_arithmetic_inside_jit_is_traced():
    got, want = jit_twice(_accumulate, [nd.array([1.0, 2.0])], [nd.array([3.0, 4.0])])
    np.testing.assert_allclose(got.asnumpy(), [2.5, 3.5])
    np.testing.assert_allclose(want.asnumpy(), [2.5, 3.5])


def _fill(x):
    y = nd.zeros((2, 3))
    y[:] = 1
    y[0, 1:] = x[1:]
    y[1] = x * 10
    y[:, 0] = x[0]
    return y * 2


def test_setitem_inside_jit_is_traced():
    a = nd.array([1.0, 2.0, 3.0])
    b = nd.array([4.0, 5.0, 6.0])
    got, want = jit_twice(_fill, [a], [b])
    np.testing.assert_allclose(want.asnumpy(), [[8, 10, 12], [8, 100, 120]])
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy())


def test_setitem_and_inplace_differentiate():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = nd.zeros(3)
        with pytest.raises(mx.base.MXNetError, match="Inplace operations"):
            y[1:] = x[:2] * x[:2]   # a partial write reads y: MXNet's RecordOp refuses it
        y[:] = x * x                # a whole-array write (MXNet's copyto) is recorded
        z = nd.ones(3)
        with pytest.raises(mx.base.MXNetError, match="Inplace operations"):
            z += x                  # reads z too: refused, as MXNet does
        z = z + x
        with pytest.raises(mx.base.MXNetError, match="in-place"):
            y += x              # y is now part of the graph: refused, as MXNet does
        out = y * z
    out.backward()
    np.testing.assert_allclose(out.asnumpy(), [2.0, 12.0, 36.0])
    # out = x^2 (1 + x)
    np.testing.assert_allclose(x.grad.asnumpy(), [5.0, 16.0, 33.0])


def test_setitem_gradient_compiled_matches_eager():
    """Eagerly MXNet refuses a partial write of recorded values into an array (it reads the
    target); inside a jit trace the array is rebound to the write's result instead."""
    def f(x):
        y = nd.ones(3) * 1.0
        y[1:] = x[:2] * x[:2]
        return nd.sum(y * x)
    x = nd.array([1.0, 2.0, 3.0])
    v = x.copy()
    v.attach_grad()
    with pytest.raises(mx.base.MXNetError, match="Inplace operations"):
        with autograd.record():
            f(v)
    grads = []
    for fn in (mx.jit(f), mx.jit(f)):
        v = x.copy()
        v.attach_grad()
        with autograd.record():
            out = fn(v)
        out.backward()
        grads.append(v.grad.asnumpy())
    np.testing.assert_allclose(grads[0], [1 + 2 * 1 * 2, 1 + 2 * 2 * 3, 4.0], rtol=1e-6)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


def test_inplace_on_a_jit_input_is_refused_clearly():
    def f(x):
        x += 1
        return x
    with pytest.raises(mx.base.MXNetError, match="in-place add"):
        mx.jit(f)(nd.ones(2))


def test_eager_inplace_does_not_corrupt_a_recorded_constant():
    w = nd.array([2.0, 3.0])
    w.attach_grad()
    c = nd.array([5.0, 7.0])
    with autograd.record():
        z = w * c
        c += 100  # c's old value is a residual of w's gradient
    z.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), [5.0, 7.0])
    np.testing.assert_allclose(c.asnumpy(), [105.0, 107.0])


def test_sum_of_bool_counts():
    m = nd.array([1, 0, 1], dtype=bool)
    assert nd.sum(m).asscalar() == 2 and nd.sum(m).dtype == np.int64
    assert mx.jit(lambda m: nd.sum(m))(m).asscalar() == 2
    np.testing.assert_allclose(nd.mean(m).asnumpy(), [2 / 3], rtol=1e-6)


def test_transcendentals_of_bool_and_int_are_float32_eager_and_compiled():
    for x in (nd.array([1, 0], dtype=bool), nd.array([1, 2], dtype="int32")):
        for fn in (nd.exp, nd.log1p, nd.sqrt, nd.sigmoid, nd.tanh):
            eager = fn(x)
            compiled = mx.jit(lambda v, fn=fn: fn(v))(x)
            assert eager.dtype == np.float32 and compiled.dtype == np.float32
            np.testing.assert_allclose(compiled.asnumpy(), eager.asnumpy(), rtol=1e-6)


def test_an_op_numpy_would_widen_to_float16_raises_naming_the_op():
    from tracegrad.array import F
    with pytest.raises(mx.base.MXNetError, match=r"exp\(bool\[2\]\).*f32/f64"):
        F.exp(nd.array([True, False], dtype=bool))


@pytest.mark.parametrize("shape,axis", [((0,), None), ((0, 3), 0), ((2, 0), 1)])
def test_mean_of_nothing_is_nan(shape, axis):
    x = nd.array(np.zeros(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.mean(np.zeros(shape), axis=axis)
    for got in (nd.mean(x, axis=axis), mx.jit(lambda v: nd.mean(v, axis=axis))(x)):
        assert np.isnan(got.asnumpy()).all() and got.asnumpy().size == max(np.size(want), 1)


def test_integer_variable_gradient_is_a_clear_error():
    """MXNet 1.9.1 differentiates an integer array in its dtype (_backward_power_scalar: 4x);
    an op whose integer gradient means nothing (integer division) is refused by name."""
    x = nd.array([1, 2], dtype="int32")
    x.attach_grad()
    with autograd.record():
        y = 2 * x ** 2
    y.backward()
    assert x.grad.dtype == np.int32
    np.testing.assert_array_equal(x.grad.asnumpy(), [4, 8])
    with autograd.record():
        y = x / 2
    with pytest.raises(mx.base.MXNetError, match=r"'div'\(i32\[2\].*no integer gradient"):
        y.backward()
    # compiled code gives the same integer gradient; division is refused there too
    f = mx.jit(lambda v: 2 * v ** 2)
    with autograd.record():
        y = f(x)
    y.backward()
    assert x.grad.dtype == np.int32
    np.testing.assert_array_equal(x.grad.asnumpy(), [4, 8])
    g = mx.jit(lambda v: v / 2)
    with autograd.record():
        y = g(x)
    with pytest.raises(mx.base.MXNetError, match=r"'div'\(i32\[2\].*no integer gradient"):
        y.backward()
    # a bool array's gradient is bool, nonzero is True (4x at 1 and 0), compiled or not
    for fn in (lambda v: 2 * v ** 2, f):
        b = nd.array([1, 0], dtype="bool")
        b.attach_grad()
        with autograd.record():
            y = fn(b)
        y.backward()
        assert b.grad.dtype == np.bool_
        np.testing.assert_array_equal(b.grad.asnumpy(), [True, False])


def test_integer_array_not_marked_is_fine():
    w = nd.array([1.0, 2.0])
    w.attach_grad()
    idx = nd.array([1, 0], dtype="int32")
    idx.attach_grad(grad_req="null")
    with autograd.record():
        y = nd.take(w, idx) * 3
    y.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), [3.0, 3.0])


def test_zero_d_input_two_outputs_backward_from_the_second():
    f = mx.jit(lambda x: (x * 2, x * 3))
    x = nd.NDArray(np.float32(2.0))
    x.attach_grad()
    for _ in range(4):  # past the fused-step warm-up
        with autograd.record():
            a, b = f(x)
        b.backward()
        assert x.grad.shape == () and float(x.grad.asnumpy()) == 3.0
        with autograd.record():
            a, b = f(x)
        a.backward()
        assert float(x.grad.asnumpy()) == 2.0


def test_hybridized_block_wrong_inputs_are_named():
    net = mx.gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    x = nd.ones((1, 3))
    with pytest.raises(mx.base.MXNetError, match=r"\(Dense\): input 'x' must be an NDArray, "
                                                 r"got str 'hello'"):
        net("hello")
    with pytest.raises(mx.base.MXNetError, match=r"called with 2 input\(s\), but it takes 1"):
        net(x, x)
    with pytest.raises(mx.base.MXNetError, match=r"called with 0 input"):
        net()
    with pytest.raises(mx.base.MXNetError, match="numpy.ndarray"):
        net(np.ones((1, 3)))
    assert net(x).shape == (1, 2)  # and it still works
    for hybridized in (True, False):    # MXNet's HybridBlock.forward raises ValueError here
        net.hybridize(hybridized)
        with pytest.raises(ValueError, match="must be an NDArray, got int 3"):
            net(3)


def test_sequential_takes_its_first_childs_inputs():
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(2, in_units=3))
    net.initialize()
    net.hybridize()
    with pytest.raises(mx.base.MXNetError, match="must be an NDArray"):
        net([1, 2, 3])


def test_inplace_inside_an_exported_block_is_traced(tmp_path):
    class Acc(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            y = x * 2
            y += 1
            y[0] = 0
            return y
    net = Acc()
    net.hybridize()
    x = nd.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(net(x).asnumpy(), [0.0, 5.0, 7.0])
    sym, params = net.export(str(tmp_path / "acc"))
    block = mx.gluon.SymbolBlock.imports(sym, ["data"], params)
    np.testing.assert_allclose(block(nd.array([4.0, 5.0, 6.0])).asnumpy(), [0.0, 11.0, 13.0])


def test_argument_check_follows_each_blocks_own_parameters():
    """A Dense without bias seen first must not make a later Dense accept its bias as an input
    (the arity cache is per class and parameter set)."""
    plain = mx.gluon.nn.Dense(2, in_units=3, use_bias=False)
    plain.initialize()
    plain.hybridize()
    x = nd.ones((1, 3))
    plain(x)
    net = mx.gluon.nn.Dense(2, in_units=3)
    net.initialize()
    net.hybridize()
    with pytest.raises(mx.base.MXNetError, match=r"called with 2 input\(s\), but it takes 1"):
        net(x, x)


def test_state_update_of_a_jit_argument_goes_to_that_calls_argument():
    """assign_state on an argument (e.g. nd.BatchNorm's moving statistics passed in) writes
    into the array of the call that passed it, never into the first call's array."""
    from tracegrad.array import F, assign_state

    def step(x, s):
        assign_state(s, F.add(s, x))
        return x * 2
    compiled = mx.jit(step)
    first, second = nd.zeros((2,)), nd.zeros((2,))
    compiled(nd.ones((2,)), first)
    compiled(nd.full((2,), 5.0), second)
    np.testing.assert_array_equal(first.asnumpy(), [1, 1])
    np.testing.assert_array_equal(second.asnumpy(), [5, 5])
    x = nd.array([[1.0, 2.0], [3.0, 5.0]])
    gamma, beta = nd.ones(2), nd.zeros(2)
    stats = [(nd.zeros(2), nd.ones(2)) for _ in range(2)]
    bn = mx.jit(lambda x, g, b, m, v: nd.BatchNorm(x, g, b, m, v, momentum=0.5))
    with mx.autograd.record():  # training mode: the moving statistics update
        for m, v in stats:
            bn(x, gamma, beta, m, v)
    for m, v in stats:  # each pair updated once, from zeros/ones
        np.testing.assert_allclose(m.asnumpy(), [1.0, 1.75], rtol=1e-6)
