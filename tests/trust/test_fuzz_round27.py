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
