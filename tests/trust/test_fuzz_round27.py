"""Round-27 differential fuzzing finds (scripts/fuzz_dtype_rows.py: every nd row re-run in
float64 / float16 / int / bool and with NaN / inf inputs, eager vs jit)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import autograd, nd


def test_traced_copy_of_a_bool_array_stays_bool():
    """x.copy() in a trace was x * 1, which makes a bool array int64: jit's copy (and
    cast_storage, which copies) changed dtype where eager's kept it."""
    data = np.array([[True, False, True], [False, False, True]])
    for fn in (lambda x: x.copy(), lambda x: nd.cast_storage(x, stype="default")):
        got = mx.jit(fn)(nd.array(data, dtype="bool"))
        want = fn(nd.array(data, dtype="bool"))
        assert got.dtype == want.dtype == np.bool_
        np.testing.assert_array_equal(got.asnumpy(), data)


def test_recorded_copy_still_carries_the_gradient():
    x = nd.array([1.0, -2.0, 3.0], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = (x.copy() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * np.array([1.0, -2.0, 3.0]))


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_l2_norm_of_integers_eager_and_jit_agree(dtype):
    """nd.norm of an int array: eager gave float64 (numpy's sqrt) and jit refused (the IR's
    sqrt takes floats). Both now give the operand's dtype, the root truncated (MXNet)."""
    data = np.array([[3, 4, 0], [1, 1, 1], [2, 2, 1]])
    ref = np.trunc(np.sqrt(np.sum(data.astype(np.float64) ** 2, axis=1)))
    fn = lambda a: nd.norm(a, axis=1)   # noqa: E731
    for got in (fn(nd.array(data, dtype=dtype)), mx.jit(fn)(nd.array(data, dtype=dtype))):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got.asnumpy(), ref.astype(dtype))
    whole = mx.jit(lambda a: nd.norm(a))(nd.array(data, dtype=dtype))
    assert whole.shape == (1,) and whole.asnumpy()[0] == int(np.sqrt(np.sum(data ** 2.0)))


def test_l2_norm_of_bools_is_float32_in_both_modes():
    data = np.array([[True, True, False], [True, True, True]])
    fn = lambda a: nd.norm(a, axis=1)   # noqa: E731
    for got in (fn(nd.array(data, dtype="bool")), mx.jit(fn)(nd.array(data, dtype="bool"))):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.asnumpy(), np.sqrt([2.0, 3.0]), rtol=1e-6)


POWERS = {"x ** y": lambda x, y: x ** y, "2 ** y": lambda x, y: 2 ** y,
          "nd.power": lambda x, y: nd.power(x, y),
          "broadcast_power": lambda x, y: nd.broadcast_power(x, y)}


@pytest.mark.parametrize("name", sorted(POWERS))
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_power_to_a_negative_exponent_raises_compiled_too(name, dtype):
    """Compiled code answered 0 for an int to a negative int power, where eager (numpy)
    raises: a first call with a valid exponent traced, the next with a negative one ran
    native and returned [0, 0]."""
    fn = POWERS[name]
    compiled = mx.jit(fn)
    x = nd.array([2, -3, 5], dtype=dtype)
    y = np.array([2, 3, 0])
    got = compiled(x, nd.array(y, dtype=dtype))
    want = np.power(x.asnumpy().astype(np.int64) if name != "2 ** y" else 2, y)
    np.testing.assert_array_equal(got.asnumpy(), want)
    assert got.dtype == np.dtype(dtype)
    bad = nd.array([2, -1, 1], dtype=dtype)
    for run in (compiled, fn):
        with pytest.raises(mx.base.MXNetError, match="negative integer powers"):
            run(x, bad).asnumpy()


def test_float_powers_of_integer_exponents_are_not_checked():
    x = nd.array([2.0, 4.0], dtype="float64")
    y = nd.array([-1, -2], dtype="int64")
    want = np.array([0.5, 1.0 / 16.0])
    np.testing.assert_allclose((x ** y).asnumpy(), want)
    np.testing.assert_allclose(mx.jit(lambda a, b: a ** b)(x, y).asnumpy(), want)


def test_integer_power_check_under_set_np_and_hybridize():
    from tracegrad import gluon

    class Pow(gluon.HybridBlock):
        def hybrid_forward(self, F, x, y):
            return x ** y

    blk = Pow()
    blk.hybridize()
    x = nd.array([3, 2], dtype="int64")
    np.testing.assert_array_equal(blk(x, nd.array([2, 1], dtype="int64")).asnumpy(), [9, 2])
    with pytest.raises(mx.base.MXNetError, match="negative integer powers"):
        blk(x, nd.array([1, -2], dtype="int64")).asnumpy()
    mx.npx.set_np()
    try:
        f = mx.jit(lambda a, b: mx.np.power(a, b))
        a = mx.np.array([2, 3], dtype="int64")
        np.testing.assert_array_equal(f(a, mx.np.array([3, 0], dtype="int64")).asnumpy(),
                                      [8, 1])
        with pytest.raises(mx.base.MXNetError, match="negative integer powers"):
            f(a, mx.np.array([-1, 0], dtype="int64")).asnumpy()
    finally:
        mx.npx.reset_np()


def test_eager_asks_the_type_rule_for_integer_operands():
    """Eager numpy computed what the rule refuses for integer / bool operands (an int matrix's
    inverse truncated to zeros, a bool cumsum saturated at True): eager now refuses them by
    name as jit does; integer ops the rules allow still answer."""
    a = nd.array(np.array([[2, 0], [0, 2]]), dtype="int64")
    b = nd.array(np.array([[1, 1, 1]]), dtype="bool")
    for call in (lambda: nd.linalg.inverse(a), lambda: nd.cumsum(b, axis=1)):
        for fn in (call, lambda call=call: mx.jit(lambda: call())()):
            with pytest.raises(mx.MXNetError, match="inverse|cumsum"):
                fn()
    x = nd.array([1, 2, 3], dtype="int32")
    np.testing.assert_array_equal((x * 2 + x).asnumpy(), [3, 6, 9])
    assert (x * 2).dtype == np.int32
    np.testing.assert_array_equal(nd.cumsum(x).asnumpy(), [1, 3, 6])
