"""NumPy's dispatch protocols on mx.np arrays (MXNet 1.9's numpy_dispatch_protocol): numpy's
functions and ufuncs run mx.np's implementation (listed ones: recorded for autograd), others
numpy's on the data with mx.np results; and the mx.np fixes MXNet's interoperability test
found (matrix norms, integer clip bounds, empty tensordot, stacks of an array's rows)."""
import numpy as onp
import pytest

import tracegrad as mx
from tracegrad import autograd, np
from tracegrad.base import MXNetError
from tracegrad.numpy_dispatch_protocol import (_NUMPY_ARRAY_FUNCTION_LIST,
                                               _NUMPY_ARRAY_UFUNC_LIST,
                                               with_array_function_protocol)


def test_listed_functions_and_ufuncs_run_mx_np_and_record():
    assert "linalg.norm" in _NUMPY_ARRAY_FUNCTION_LIST and "add" in _NUMPY_ARRAY_UFUNC_LIST
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    x.attach_grad()
    with autograd.record():
        y = onp.sum(onp.exp(x) * onp.ones((2, 2), dtype=onp.float32))   # numpy's calls
    assert isinstance(y, np.ndarray)
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), onp.exp([[1, 2], [3, 4]]), rtol=1e-6)
    both = onp.concatenate([x, x])
    assert isinstance(both, np.ndarray) and both.shape == (4, 2)
    assert isinstance(onp.ones(2) + np.ones(2), np.ndarray)          # numpy on the left too
    assert onp.shape(x) == (2, 2) and onp.may_share_memory(x, x)
    with pytest.raises(TypeError):          # a listed function given a numpy array as well
        onp.concatenate([x, onp.ones((1, 2))])


def test_other_functions_fall_back_to_numpy_on_the_data():
    x = np.array([[3.0, 1.0], [2.0, 5.0]])
    med = onp.median(x, axis=1)
    assert isinstance(med, np.ndarray)
    onp.testing.assert_allclose(med.asnumpy(), [2.0, 3.5])
    vals, idx = onp.unique(np.array([3, 1, 3]), return_index=True)
    assert isinstance(vals, np.ndarray) and list(idx.asnumpy()) == [1, 0]
    assert onp.ndim(x) == 2                                           # a scalar stays one
    x.attach_grad()
    with autograd.record():
        with pytest.raises(ValueError, match="Falling back to NumPy operator median"):
            onp.median(x)


def test_protocol_decorator_reports_failures_as_runtime_errors():
    @with_array_function_protocol
    def broken():
        raise KeyError("inside")
    with pytest.raises(RuntimeError, match="Running function broken with NumPy array "
                                           "function protocol failed"):
        broken()


def test_matrix_norms_over_two_axes():
    a = onp.random.RandomState(0).rand(2, 3, 4)
    x = np.array(a, dtype="float64")
    for ord in (1, -1, onp.inf, -onp.inf, 2, -2, "nuc", "fro", None):
        for axis in ((1, 2), (2, 0)):
            for keepdims in (False, True):
                got = np.linalg.norm(x, ord, axis, keepdims).asnumpy()
                onp.testing.assert_allclose(got, onp.linalg.norm(a, ord, axis, keepdims),
                                            rtol=1e-10)
    m = onp.array([[1.0, 3.0], [5.0, 7.0]])
    assert float(np.linalg.norm(np.array(m), "inf")) == 12.0            # MXNet's spelling
    onp.testing.assert_allclose(float(np.linalg.norm(np.array(m), 2)),
                                onp.linalg.norm(m, 2), rtol=1e-6)
    with pytest.raises(MXNetError, match="invalid norm order 3 for matrices"):
        np.linalg.norm(np.array(m), 3)


def test_clip_tensordot_stacks_split_and_quantile_as_numpy():
    u8 = np.array(onp.array([0, 50, 200], dtype=onp.uint8))
    got = np.clip(u8, -120, 100)                   # a bound past uint8's range clips nothing
    assert got.dtype == onp.uint8 and list(got.asnumpy()) == [0, 50, 100]
    assert list(np.clip(u8, 10, 1000).asnumpy()) == [10, 50, 200]
    assert np.tensordot(np.ones((3, 0)), np.ones((0, 4)), 1).asnumpy().tolist() == \
        onp.zeros((3, 4)).tolist()
    assert np.tensordot(np.ones((2, 3)), np.ones((3, 0)), 1).shape == (2, 0)
    rows = onp.arange(6.0).reshape(2, 3)
    onp.testing.assert_array_equal(np.dstack(np.array(rows)).asnumpy(), onp.dstack(rows))
    onp.testing.assert_array_equal(np.vstack(np.array(rows)).asnumpy(), onp.vstack(rows))
    with pytest.raises(ValueError, match="equal division"):           # MXNet's ValueErrors
        np.split(np.arange(10), 3)
    with pytest.raises(ValueError, match="vsplit: only works on arrays of 2 or more"):
        np.vsplit(np.array([1, 2, 3, 4]), 2)
    q = np.quantile(np.arange(5.0), 0.3, method="lower")     # (numpy 2's name)
    assert float(q) == float(np.quantile(np.arange(5.0), 0.3, interpolation="lower")) == 1.0


def test_fallback_functions_are_numpys_with_mx_np_results():
    """MXNet's mx.np.fallback / fallback_linalg: numpy's own code on the data; mx.np's own
    implementations keep their names (np.size is mx.np's)."""
    assert "cov" in np.fallback.__all__ and "alltrue" not in np.fallback.__all__  # numpy 2
    x = np.array([-2.1, -1.0, 4.3], dtype="float64")
    c = np.cov(x)
    assert isinstance(c, np.ndarray) and c.shape == ()          # a 0-d result stays 0-d
    onp.testing.assert_allclose(float(c), 11.71)
    q, r = np.linalg.qr(np.array([[1.0, 2.0], [3.0, 4.0]]))    # (numpy 2: a named tuple)
    assert isinstance(q, np.ndarray) and isinstance(r, np.ndarray)
    onp.testing.assert_allclose((q.asnumpy() @ r.asnumpy()), [[1, 2], [3, 4]], atol=1e-6)
    assert np.size is not onp.size and np.allclose(x, x)
    assert isinstance(np.argwhere(x > 0), np.ndarray)
