"""Regressions from fuzzing round 30 (seeds 3000+): fuzz_dtype_rows seed 3001 found compiled
max / min over an axis of bools wrong, SoftmaxOutput / SoftmaxActivation answering integer
data eagerly (in float64) while jit raised an error naming `exp`; argmin of unsigned or
minimum-valued integers answered the index of a wrong element (argmax of a wrapped -x)."""
import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd


def _eager_and_jit(f, *xs):
    j = mx.jit(f)
    j(*xs)      # (the second call runs the compiled code)
    return f(*xs).asnumpy(), j(*xs).asnumpy()


@pytest.mark.parametrize("name", ["max", "min", "max_axis", "min_axis"])
def test_bool_extremum_over_an_axis_compiled(name):
    a = np.array([[0, 1, 0, 1], [0, 1, 1, 0], [0, 1, 0, 0]], dtype=bool)
    f = getattr(nd, name)
    for axis in (0, 1):
        want = (np.max if name.startswith("max") else np.min)(a, axis=axis)
        e, j = _eager_and_jit(lambda x, axis=axis: f(x, axis=axis), nd.array(a, dtype=bool))
        np.testing.assert_array_equal(e, want)
        np.testing.assert_array_equal(j, want)


@pytest.mark.parametrize("op", [
    lambda x: nd.SoftmaxOutput(x, nd.array([0, 3], dtype="float32")),
    lambda x: nd.Softmax(x, nd.array([0, 3], dtype="float32")),
    lambda x: nd.SoftmaxActivation(x),
    lambda x: nd.SoftmaxActivation(x, mode="channel")])
def test_legacy_softmax_heads_refuse_integer_data(op):
    x = nd.array(np.array([[1, 2, 0, -3], [0, 1, 2, 3]]), dtype="int32")
    for g in (op, mx.jit(op)):
        with pytest.raises(mx.MXNetError, match="Softmax.*only support floating point types"):
            g(x)
    assert op(x.astype("float32")).dtype == np.float32


@pytest.mark.parametrize("dtype,values", [
    ("uint8", [3, 0, 1, 2]), ("int8", [3, -128, 1, -128]), ("int32", [3, -2 ** 31, 1, -2]),
    ("int64", [3, -2 ** 63, 1, -2]), ("bool", [1, 0, 1, 0]), ("float32", [3, -1, 1, -1])])
def test_argmin_of_integers_does_not_wrap(dtype, values):
    a = np.array(values, dtype=dtype)
    x = nd.array(a, dtype=dtype)
    e, j = _eager_and_jit(lambda x: nd.argmin(x, axis=0), x)
    assert e[0] == j[0] == np.argmin(a)
    e, j = _eager_and_jit(lambda x: mx.np.argmin(x.as_np_ndarray()), x)
    assert int(e) == int(j) == np.argmin(a)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # (inf * 0 in matmuls)
def test_trsm_with_an_inf_off_the_diagonal_differentiates():
    """(fuzz_dtype_rows seed 3002) The forward answered (inf / NaN) but its adjoint's solve
    with A^T raised 'the triangular matrix is singular': numpy's pivoting LU met an exact zero
    pivot in one orientation only. A diagonal without zeros is never singular."""
    a = np.triu(np.full((1, 3, 3), 0.5, np.float32)) + np.eye(3, dtype=np.float32)
    a[0, 0, 1] = np.inf
    b = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    kw = dict(rightside=True, transpose=True, lower=False)
    f = lambda a, b: nd.linalg_trsm(a, b, **kw)    # noqa: E731
    for g in (f, mx.jit(f)):
        x, y = nd.array(a), nd.array(b)
        x.attach_grad()
        y.attach_grad()
        with mx.autograd.record():
            s = nd.sum(g(x, y) ** 2)
        s.backward()
        assert x.grad.shape == a.shape and y.grad.shape == b.shape
    a[0, 1, 1] = 0.0
    for g in (f, mx.jit(f)):
        with pytest.raises(mx.MXNetError, match="singular"):
            g(nd.array(a), nd.array(b))
    with pytest.raises(mx.MXNetError, match="float16"):  # (refused, inf or not, as MXNet)
        f(nd.array(a, dtype="float16"), nd.array(b, dtype="float16"))
